//! Built-in DefaultStorageClass: gives class-less new claims the cluster's default StorageClass.

use chrono::{DateTime, FixedOffset};
use serde_json::{Value, json};

use super::{AdmissionLookup, AdmissionRequest, Operation};

pub(crate) const DEFAULT_CLASS_ANNOTATION: &str = "storageclass.kubernetes.io/is-default-class";
pub(crate) const BETA_DEFAULT_CLASS_ANNOTATION: &str =
    "storageclass.beta.kubernetes.io/is-default-class";
pub(crate) const BETA_CLAIM_CLASS_ANNOTATION: &str = "volume.beta.kubernetes.io/storage-class";

/// True when the plugin applies at all: CREATE of the claim itself (no subresource).
fn applies(req: &AdmissionRequest<'_>) -> bool {
    req.operation == Operation::Create
        && req.group.is_empty()
        && req.resource == "persistentvolumeclaims"
        && req.subresource.is_empty()
}

/// A claim "has a class" if `spec.storageClassName` is present (even "") or the beta annotation key exists.
pub(crate) fn claim_has_class(claim: &Value) -> bool {
    let spec_class = claim
        .pointer("/spec/storageClassName")
        .is_some_and(|c| !c.is_null());
    let beta_annotation = claim
        .pointer("/metadata/annotations")
        .and_then(Value::as_object)
        .is_some_and(|a| a.contains_key(BETA_CLAIM_CLASS_ANNOTATION));
    spec_class || beta_annotation
}

/// A class is a default when either annotation is exactly "true".
fn is_default_class(class: &Value) -> bool {
    [DEFAULT_CLASS_ANNOTATION, BETA_DEFAULT_CLASS_ANNOTATION]
        .iter()
        .any(|key| {
            class
                .pointer("/metadata/annotations")
                .and_then(|a| a.get(*key))
                .and_then(Value::as_str)
                == Some("true")
        })
}

fn creation_time(class: &Value) -> Option<DateTime<FixedOffset>> {
    let stamp = class
        .pointer("/metadata/creationTimestamp")
        .and_then(Value::as_str)?;
    DateTime::parse_from_rfc3339(stamp).ok()
}

/// The default class name: newest creationTimestamp first, ties by name ascending; None without defaults.
pub(crate) fn default_class_name(classes: &[Value]) -> Option<String> {
    let mut defaults: Vec<(Option<DateTime<FixedOffset>>, &str)> = classes
        .iter()
        .filter(|class| is_default_class(class))
        .filter_map(|class| {
            Some((
                creation_time(class),
                class.pointer("/metadata/name")?.as_str()?,
            ))
        })
        .collect();
    // Newest first: reverse order on time; missing timestamps sort as oldest.
    defaults.sort_by(|(time_a, name_a), (time_b, name_b)| {
        time_b.cmp(time_a).then_with(|| name_a.cmp(name_b))
    });
    defaults.first().map(|(_, name)| (*name).to_string())
}

/// Sets `spec.storageClassName` on a class-less new claim when a default class exists.
pub(crate) fn admit(lookup: &dyn AdmissionLookup, req: &AdmissionRequest<'_>, claim: &mut Value) {
    if !applies(req) || claim_has_class(claim) {
        return;
    }
    let classes = lookup.list("storage.k8s.io", "storageclasses");
    let Some(class) = default_class_name(&classes) else {
        return;
    };
    let Some(fields) = claim.as_object_mut() else {
        return;
    };
    let spec = fields.entry("spec").or_insert_with(|| json!({}));
    if let Some(spec) = spec.as_object_mut() {
        spec.insert("storageClassName".into(), Value::String(class));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admission::testing::{MemoryLookup, request};

    fn class(name: &str, created: &str, annotations: Value) -> Value {
        json!({"metadata": {"name": name, "creationTimestamp": created, "annotations": annotations}})
    }

    fn lookup(classes: Vec<Value>) -> MemoryLookup {
        let lookup = MemoryLookup::default();
        for c in classes {
            lookup.put("storage.k8s.io", "storageclasses", c);
        }
        lookup
    }

    fn create_pvc() -> AdmissionRequest<'static> {
        request(
            Operation::Create,
            "",
            "persistentvolumeclaims",
            Some("ns"),
            "data",
        )
    }

    #[test]
    fn newest_default_wins_and_ties_go_to_the_smallest_name() {
        let classes = vec![
            class(
                "old",
                "2026-01-01T00:00:00Z",
                json!({DEFAULT_CLASS_ANNOTATION: "true"}),
            ),
            class(
                "zeta",
                "2026-01-02T00:00:00Z",
                json!({DEFAULT_CLASS_ANNOTATION: "true"}),
            ),
            class(
                "beta",
                "2026-01-02T00:00:00Z",
                json!({BETA_DEFAULT_CLASS_ANNOTATION: "true"}),
            ),
            class(
                "newest-not-default",
                "2026-01-03T00:00:00Z",
                json!({DEFAULT_CLASS_ANNOTATION: "True"}),
            ),
        ];
        assert_eq!(default_class_name(&classes), Some("beta".into()));
        assert_eq!(default_class_name(&classes[..1]), Some("old".into()));
        assert_eq!(default_class_name(&classes[3..]), None);
    }

    #[test]
    fn class_less_claim_gets_the_default() {
        let lookup = lookup(vec![class(
            "fast",
            "2026-01-01T00:00:00Z",
            json!({DEFAULT_CLASS_ANNOTATION: "true"}),
        )]);
        let mut claim =
            json!({"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"]}});
        admit(&lookup, &create_pvc(), &mut claim);
        assert_eq!(
            claim,
            json!({"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "fast"}})
        );
    }

    #[test]
    fn explicit_empty_class_null_and_beta_annotation_are_respected() {
        let lookup = lookup(vec![class(
            "fast",
            "2026-01-01T00:00:00Z",
            json!({DEFAULT_CLASS_ANNOTATION: "true"}),
        )]);
        let mut empty = json!({"spec": {"storageClassName": ""}});
        admit(&lookup, &create_pvc(), &mut empty);
        assert_eq!(empty, json!({"spec": {"storageClassName": ""}}));

        let mut beta =
            json!({"metadata": {"annotations": {BETA_CLAIM_CLASS_ANNOTATION: ""}}, "spec": {}});
        let before = beta.clone();
        admit(&lookup, &create_pvc(), &mut beta);
        assert_eq!(beta, before);

        let mut null_class = json!({"spec": {"storageClassName": null}});
        admit(&lookup, &create_pvc(), &mut null_class);
        assert_eq!(null_class, json!({"spec": {"storageClassName": "fast"}}));
    }

    #[test]
    fn only_claim_creates_are_mutated() {
        let lookup = lookup(vec![class(
            "fast",
            "2026-01-01T00:00:00Z",
            json!({DEFAULT_CLASS_ANNOTATION: "true"}),
        )]);
        let update = request(
            Operation::Update,
            "",
            "persistentvolumeclaims",
            Some("ns"),
            "data",
        );
        let mut status = create_pvc();
        status.subresource = "status";
        let pv = request(Operation::Create, "", "persistentvolumes", None, "pv");
        for req in [update, status, pv] {
            let mut claim = json!({"spec": {}});
            admit(&lookup, &req, &mut claim);
            assert_eq!(claim, json!({"spec": {}}), "{req:?}");
        }
    }

    #[test]
    fn no_default_leaves_the_claim_alone() {
        let lookup = lookup(vec![class("plain", "2026-01-01T00:00:00Z", json!({}))]);
        let mut claim = json!({"spec": {}});
        admit(&lookup, &create_pvc(), &mut claim);
        assert_eq!(claim, json!({"spec": {}}));
    }
}
