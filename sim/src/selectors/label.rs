//! Label selectors (`app=a,tier!=db,env in (x,y),!legacy`).

use serde_json::Value;

use super::{Error, Result};

/// The operator of one label requirement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LabelOp {
    Equals(String),
    NotEquals(String),
    In(Vec<String>),
    NotIn(Vec<String>),
    Exists,
    DoesNotExist,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelRequirement {
    pub key: String,
    pub op: LabelOp,
}

/// A parsed label selector; the empty selector matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelSelector {
    pub requirements: Vec<LabelRequirement>,
}

impl LabelSelector {
    /// Parses the text form used in `labelSelector=`.
    pub fn parse(text: &str) -> Result<LabelSelector> {
        let mut requirements = Vec::new();
        for term in split_terms(text) {
            let term = term.trim();
            if term.is_empty() {
                if text.trim().is_empty() {
                    continue;
                }
                return Err(Error::ParseLabelSelector {
                    detail: format!("empty requirement in {text:?}"),
                });
            }
            requirements.push(parse_requirement(term)?);
        }
        Ok(LabelSelector { requirements })
    }

    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// Whether an object's `metadata.labels` satisfy every requirement.
    pub fn matches(&self, object: &Value) -> bool {
        let labels = object
            .pointer("/metadata/labels")
            .and_then(Value::as_object);
        let get = |key: &str| labels.and_then(|l| l.get(key)).and_then(Value::as_str);
        self.requirements.iter().all(|r| match &r.op {
            LabelOp::Equals(v) => get(&r.key) == Some(v.as_str()),
            LabelOp::NotEquals(v) => get(&r.key) != Some(v.as_str()),
            LabelOp::In(vs) => get(&r.key).is_some_and(|x| vs.iter().any(|v| v == x)),
            LabelOp::NotIn(vs) => get(&r.key).is_none_or(|x| !vs.iter().any(|v| v == x)),
            LabelOp::Exists => get(&r.key).is_some(),
            LabelOp::DoesNotExist => get(&r.key).is_none(),
        })
    }

    /// Builds a selector from a `metav1.LabelSelector` JSON object (`matchLabels` / `matchExpressions`).
    pub fn from_label_selector_object(selector: &Value) -> LabelSelector {
        let mut requirements = Vec::new();
        if let Some(labels) = selector.get("matchLabels").and_then(Value::as_object) {
            for (k, v) in labels {
                requirements.push(LabelRequirement {
                    key: k.clone(),
                    op: LabelOp::Equals(v.as_str().unwrap_or_default().to_string()),
                });
            }
        }
        if let Some(exprs) = selector.get("matchExpressions").and_then(Value::as_array) {
            for e in exprs {
                let key = e
                    .get("key")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                let values: Vec<String> = e
                    .get("values")
                    .and_then(Value::as_array)
                    .map(|vs| {
                        vs.iter()
                            .filter_map(Value::as_str)
                            .map(str::to_string)
                            .collect()
                    })
                    .unwrap_or_default();
                let op = match e
                    .get("operator")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                {
                    "In" => LabelOp::In(values),
                    "NotIn" => LabelOp::NotIn(values),
                    "Exists" => LabelOp::Exists,
                    _ => LabelOp::DoesNotExist,
                };
                requirements.push(LabelRequirement { key, op });
            }
        }
        LabelSelector { requirements }
    }
}

/// The text form of a `metav1.LabelSelector` JSON object, as `Scale.status.selector` shows it.
pub fn label_selector_text(selector: &Value) -> String {
    let sel = LabelSelector::from_label_selector_object(selector);
    let mut parts: Vec<String> = sel
        .requirements
        .iter()
        .map(|r| match &r.op {
            LabelOp::Equals(v) => format!("{}={v}", r.key),
            LabelOp::NotEquals(v) => format!("{}!={v}", r.key),
            LabelOp::In(vs) => format!("{} in ({})", r.key, sorted(vs).join(",")),
            LabelOp::NotIn(vs) => format!("{} notin ({})", r.key, sorted(vs).join(",")),
            LabelOp::Exists => r.key.clone(),
            LabelOp::DoesNotExist => format!("!{}", r.key),
        })
        .collect();
    parts.sort();
    parts.join(",")
}

fn sorted(values: &[String]) -> Vec<String> {
    let mut v = values.to_vec();
    v.sort();
    v
}

/// Splits on commas that are not inside a parenthesised value set.
fn split_terms(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&text[start..]);
    out
}

fn parse_requirement(term: &str) -> Result<LabelRequirement> {
    let fail = || Error::ParseLabelSelector {
        detail: format!("invalid requirement {term:?}"),
    };
    if let Some(key) = term.strip_prefix('!') {
        let key = key.trim();
        check_key(key, term)?;
        return Ok(LabelRequirement {
            key: key.to_string(),
            op: LabelOp::DoesNotExist,
        });
    }
    let (op_pos, op_len, kind) = find_operator(term).ok_or_else(fail)?;
    let key = term[..op_pos].trim();
    let rest = term[op_pos + op_len..].trim();
    check_key(key, term)?;
    let op = match kind {
        OpKind::Eq => LabelOp::Equals(check_value(rest, term)?),
        OpKind::NotEq => LabelOp::NotEquals(check_value(rest, term)?),
        OpKind::In | OpKind::NotIn => {
            let inner = rest
                .strip_prefix('(')
                .and_then(|r| r.strip_suffix(')'))
                .ok_or_else(fail)?;
            let values = inner
                .split(',')
                .map(|v| check_value(v.trim(), term))
                .collect::<Result<Vec<String>>>()?;
            if matches!(kind, OpKind::In) {
                LabelOp::In(values)
            } else {
                LabelOp::NotIn(values)
            }
        }
        OpKind::Exists => LabelOp::Exists,
    };
    Ok(LabelRequirement {
        key: key.to_string(),
        op,
    })
}

enum OpKind {
    Eq,
    NotEq,
    In,
    NotIn,
    Exists,
}

fn find_operator(term: &str) -> Option<(usize, usize, OpKind)> {
    if let Some(p) = term.find("!=") {
        return Some((p, 2, OpKind::NotEq));
    }
    if let Some(p) = term.find("==") {
        return Some((p, 2, OpKind::Eq));
    }
    if let Some(p) = term.find('=') {
        return Some((p, 1, OpKind::Eq));
    }
    let words: Vec<&str> = term.split_whitespace().collect();
    match words.as_slice() {
        [key] => Some((key.len(), 0, OpKind::Exists)),
        [_, op, ..] if *op == "in" || *op == "notin" => {
            let pos = term.find(&format!(" {op}"))?;
            let kind = if *op == "in" {
                OpKind::In
            } else {
                OpKind::NotIn
            };
            Some((pos, op.len() + 1, kind))
        }
        _ => None,
    }
}

/// Label keys: an optional DNS-subdomain prefix and a name of alphanumerics, `-`, `_`, `.`.
fn check_key(key: &str, term: &str) -> Result<()> {
    let name = key.rsplit('/').next().unwrap_or(key);
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && key.matches('/').count() <= 1;
    if ok {
        Ok(())
    } else {
        Err(Error::ParseLabelSelector {
            detail: format!("invalid label key {key:?} in {term:?}"),
        })
    }
}

fn check_value(value: &str, term: &str) -> Result<String> {
    let ok = value.len() <= 63
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(value.to_string())
    } else {
        Err(Error::ParseLabelSelector {
            detail: format!("invalid label value {value:?} in {term:?}"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(labels: Value) -> Value {
        json!({"metadata": {"labels": labels}})
    }

    #[test]
    fn parses_and_matches_all_operators() {
        let sel = LabelSelector::parse("app=a, tier!=db,env in (x, y),zone notin (z),team,!legacy")
            .unwrap();
        assert_eq!(sel.requirements.len(), 6);
        assert!(sel.matches(&obj(json!({"app":"a","env":"x","team":"t"}))));
        assert!(!sel.matches(&obj(json!({"app":"a","env":"x","team":"t","legacy":"1"}))));
        assert!(!sel.matches(&obj(json!({"app":"a","env":"q","team":"t"}))));
        assert!(!sel.matches(&obj(json!({"app":"a","env":"x","team":"t","tier":"db"}))));
        assert!(!sel.matches(&obj(json!({"app":"a","env":"x","team":"t","zone":"z"}))));
    }

    #[test]
    fn double_equals_and_empty() {
        assert!(LabelSelector::parse("").unwrap().is_empty());
        let sel = LabelSelector::parse("app==a").unwrap();
        assert!(sel.matches(&obj(json!({"app":"a"}))));
        assert!(!sel.matches(&json!({"metadata":{}})));
    }

    #[test]
    fn rejects_garbage() {
        assert!(LabelSelector::parse("app in a").is_err());
        assert!(LabelSelector::parse("a b c").is_err());
        assert!(LabelSelector::parse("app=a,,b=c").is_err());
        assert!(LabelSelector::parse("app=(x)").is_err());
    }

    #[test]
    fn renders_selector_objects() {
        let s = json!({"matchLabels":{"app":"web"},"matchExpressions":[{"key":"tier","operator":"In","values":["b","a"]}]});
        assert_eq!(label_selector_text(&s), "app=web,tier in (a,b)");
    }
}
