//! Field selectors (`metadata.name=x,spec.nodeName!=n`) with the per-type allow-lists of the real server.

use serde_json::Value;

use super::{Error, Result};
use crate::catalog::ResourceType;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldRequirement {
    pub key: String,
    pub value: String,
    pub negated: bool,
}

/// A parsed field selector; the empty selector matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSelector {
    pub requirements: Vec<FieldRequirement>,
}

impl FieldSelector {
    /// Parses `fieldSelector=` text and checks every key against the type's selectable fields.
    pub fn parse(text: &str, rt: &ResourceType) -> Result<FieldSelector> {
        let mut requirements = Vec::new();
        for term in split_unescaped(text, ',') {
            if term.trim().is_empty() {
                continue;
            }
            let fail = || Error::ParseFieldSelector {
                selector: text.to_string(),
                term: term.clone(),
            };
            let (key, value, negated) = if let Some((k, v)) = split_once_unescaped(&term, "!=") {
                (k, v, true)
            } else if let Some((k, v)) = split_once_unescaped(&term, "==") {
                (k, v, false)
            } else if let Some((k, v)) = split_once_unescaped(&term, "=") {
                (k, v, false)
            } else {
                return Err(fail());
            };
            let key = key.trim().to_string();
            if !rt.supports_field(&key) {
                return Err(Error::UnsupportedField { key });
            }
            requirements.push(FieldRequirement {
                key,
                value: unescape(&value),
                negated,
            });
        }
        Ok(FieldSelector { requirements })
    }

    /// A selector on `metadata.name` only (watching a single object).
    pub fn name(name: &str) -> FieldSelector {
        FieldSelector {
            requirements: vec![FieldRequirement {
                key: "metadata.name".into(),
                value: name.to_string(),
                negated: false,
            }],
        }
    }

    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    pub fn matches(&self, object: &Value) -> bool {
        self.requirements
            .iter()
            .all(|r| (field_value(object, &r.key) == r.value) != r.negated)
    }
}

/// The value of a selectable field on a stored object (missing fields read as their Go zero value).
pub fn field_value(object: &Value, key: &str) -> String {
    let text = |pointer: &str| object.pointer(pointer).map(scalar_text).unwrap_or_default();
    let boolean = |pointer: &str| {
        object
            .pointer(pointer)
            .and_then(Value::as_bool)
            .unwrap_or(false)
            .to_string()
    };
    match key {
        "metadata.name" | "name" => text("/metadata/name"),
        "metadata.namespace" => text("/metadata/namespace"),
        "spec.hostNetwork" => boolean("/spec/hostNetwork"),
        "spec.unschedulable" => boolean("/spec/unschedulable"),
        "source" => text("/source/component"),
        // events.k8s.io names for the same stored (core/v1) fields
        "reportingController" => text("/reportingComponent"),
        other => {
            let core = other
                .strip_prefix("regarding.")
                .map(|rest| format!("involvedObject.{rest}"));
            let path = core.as_deref().unwrap_or(other);
            text(&format!("/{}", path.replace('.', "/")))
        }
    }
}

fn scalar_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Splits on `sep` unless escaped with a backslash.
fn split_unescaped(text: &str, sep: char) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut escaped = false;
    for c in text.chars() {
        match (escaped, c) {
            (true, _) => {
                cur.push('\\');
                cur.push(c);
                escaped = false;
            }
            (false, '\\') => escaped = true,
            (false, c) if c == sep => out.push(std::mem::take(&mut cur)),
            (false, c) => cur.push(c),
        }
    }
    out.push(cur);
    out
}

fn split_once_unescaped(term: &str, op: &str) -> Option<(String, String)> {
    let bytes = term.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' {
            i += 2;
            continue;
        }
        if term[i..].starts_with(op) {
            return Some((term[..i].to_string(), term[i + op.len()..].to_string()));
        }
        i += 1;
    }
    None
}

fn unescape(value: &str) -> String {
    let mut out = String::new();
    let mut escaped = false;
    for c in value.chars() {
        if escaped {
            out.push(c);
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog;
    use serde_json::json;

    #[test]
    fn rejects_unsupported_keys() {
        let pvc = catalog::find("", "v1", "persistentvolumeclaims").unwrap();
        let err = FieldSelector::parse("spec.volumeName=x", pvc).unwrap_err();
        assert_eq!(
            err.to_string(),
            "field label not supported: spec.volumeName"
        );
        assert!(FieldSelector::parse("metadata.name=p1,metadata.namespace==ns", pvc).is_ok());
    }

    #[test]
    fn matches_pod_fields() {
        let pods = catalog::find("", "v1", "pods").unwrap();
        let sel = FieldSelector::parse(
            "spec.nodeName=node-a,status.phase!=Failed,spec.hostNetwork=false",
            pods,
        )
        .unwrap();
        assert!(sel.matches(&json!({"spec":{"nodeName":"node-a"},"status":{"phase":"Running"}})));
        assert!(!sel.matches(&json!({"spec":{"nodeName":"node-b"}})));
    }

    #[test]
    fn event_names_map_to_stored_fields() {
        let ev = catalog::find("events.k8s.io", "v1", "events").unwrap();
        let sel = FieldSelector::parse(
            "regarding.name=pv1,involvedObject.kind=PersistentVolume",
            ev,
        )
        .unwrap();
        assert!(sel.matches(&json!({"involvedObject":{"name":"pv1","kind":"PersistentVolume"}})));
    }

    #[test]
    fn escaped_values() {
        let cm = catalog::find("", "v1", "configmaps").unwrap();
        let sel = FieldSelector::parse(r"metadata.name=a\,b", cm).unwrap();
        assert_eq!(sel.requirements[0].value, "a,b");
    }
}
