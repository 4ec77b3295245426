//! Sets of field paths (what a manager owns) and their `FieldsV1` encoding (`f:`, `k:`, `v:`, `i:`, `.`).

use std::collections::BTreeMap;
use std::fmt;

use serde_json::{Map, Value};

/// One step of a field path. Keys and values hold canonical compact JSON so that paths are totally ordered.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum PathElement {
    /// An object member: `f:<name>`.
    Field(String),
    /// A keyed list item: `k:{"name":"app"}` (the JSON object of its key fields, keys sorted).
    Key(String),
    /// A set list item: `v:"value"`.
    Value(String),
    /// A list item by position (only ever decoded, never produced): `i:<n>`.
    Index(usize),
}

impl PathElement {
    pub(crate) fn field(name: &str) -> PathElement {
        PathElement::Field(name.to_string())
    }

    /// A keyed list item from its key fields; BTreeMap order makes the JSON canonical.
    pub(crate) fn key(fields: &BTreeMap<String, Value>) -> PathElement {
        let object: Map<String, Value> =
            fields.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        PathElement::Key(Value::Object(object).to_string())
    }

    pub(crate) fn value(value: &Value) -> PathElement {
        PathElement::Value(value.to_string())
    }

    fn encode(&self) -> String {
        match self {
            PathElement::Field(name) => format!("f:{name}"),
            PathElement::Key(json) => format!("k:{json}"),
            PathElement::Value(json) => format!("v:{json}"),
            PathElement::Index(index) => format!("i:{index}"),
        }
    }

    fn decode(text: &str) -> Option<PathElement> {
        let (prefix, rest) = text.split_at_checked(2)?;
        match prefix {
            "f:" => Some(PathElement::Field(rest.to_string())),
            "k:" => match serde_json::from_str::<Value>(rest).ok()? {
                Value::Object(object) => {
                    let sorted: BTreeMap<String, Value> = object.into_iter().collect();
                    Some(PathElement::key(&sorted))
                }
                _ => None,
            },
            "v:" => serde_json::from_str::<Value>(rest)
                .ok()
                .map(|v| PathElement::value(&v)),
            "i:" => rest.parse().ok().map(PathElement::Index),
            _ => None,
        }
    }
}

impl fmt::Display for PathElement {
    /// Upstream path notation: `.spec`, `[name="app"]`, `[="a.io/f"]`, `[0]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathElement::Field(name) => write!(f, ".{name}"),
            PathElement::Key(json) => {
                let parts: Vec<String> = match serde_json::from_str::<Value>(json) {
                    Ok(Value::Object(object)) => {
                        object.iter().map(|(k, v)| format!("{k}={v}")).collect()
                    }
                    _ => vec![json.clone()],
                };
                write!(f, "[{}]", parts.join(","))
            }
            PathElement::Value(json) => write!(f, "[={json}]"),
            PathElement::Index(index) => write!(f, "[{index}]"),
        }
    }
}

pub(crate) type Path = Vec<PathElement>;

/// Renders a whole path the way conflict messages print it.
pub(crate) fn path_string(path: &[PathElement]) -> String {
    path.iter().map(ToString::to_string).collect()
}

/// Field names along a path, list items skipped: the form the schema tables use.
pub(crate) fn field_names(path: &[PathElement]) -> Vec<&str> {
    path.iter()
        .filter_map(|element| match element {
            PathElement::Field(name) => Some(name.as_str()),
            PathElement::Key(_) | PathElement::Value(_) | PathElement::Index(_) => None,
        })
        .collect()
}

/// A set of paths stored as a tree; a node is a member when the path ending there is in the set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct FieldSet {
    children: BTreeMap<PathElement, Node>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Node {
    member: bool,
    below: FieldSet,
}

impl Node {
    fn is_empty(&self) -> bool {
        !self.member && self.below.is_empty()
    }
}

impl FieldSet {
    pub(crate) fn is_empty(&self) -> bool {
        self.children.values().all(Node::is_empty)
    }

    pub(crate) fn insert(&mut self, path: &[PathElement]) {
        let Some((first, rest)) = path.split_first() else {
            return;
        };
        let node = self.children.entry(first.clone()).or_default();
        if rest.is_empty() {
            node.member = true;
        } else {
            node.below.insert(rest);
        }
    }

    /// Whether `path` itself is a member.
    #[cfg(test)]
    pub(crate) fn contains(&self, path: &[PathElement]) -> bool {
        match path.split_first() {
            None => false,
            Some((first, rest)) => self.children.get(first).is_some_and(|node| {
                if rest.is_empty() {
                    node.member
                } else {
                    node.below.contains(rest)
                }
            }),
        }
    }

    /// Whether `path` or anything below it is a member.
    pub(crate) fn covers(&self, path: &[PathElement]) -> bool {
        match path.split_first() {
            None => !self.is_empty(),
            Some((first, rest)) => self
                .children
                .get(first)
                .is_some_and(|node| (rest.is_empty() && node.member) || node.below.covers(rest)),
        }
    }

    pub(crate) fn union(&self, other: &FieldSet) -> FieldSet {
        let mut out = self.clone();
        for (element, node) in &other.children {
            let mine = out.children.entry(element.clone()).or_default();
            mine.member |= node.member;
            mine.below = mine.below.union(&node.below);
        }
        out
    }

    pub(crate) fn intersection(&self, other: &FieldSet) -> FieldSet {
        let mut out = FieldSet::default();
        for (element, node) in &self.children {
            if let Some(theirs) = other.children.get(element) {
                let both = Node {
                    member: node.member && theirs.member,
                    below: node.below.intersection(&theirs.below),
                };
                if !both.is_empty() {
                    out.children.insert(element.clone(), both);
                }
            }
        }
        out
    }

    pub(crate) fn difference(&self, other: &FieldSet) -> FieldSet {
        let mut out = FieldSet::default();
        for (element, node) in &self.children {
            let remaining = match other.children.get(element) {
                None => node.clone(),
                Some(theirs) => Node {
                    member: node.member && !theirs.member,
                    below: node.below.difference(&theirs.below),
                },
            };
            if !remaining.is_empty() {
                out.children.insert(element.clone(), remaining);
            }
        }
        out
    }

    /// Every member path, in order.
    pub(crate) fn paths(&self) -> Vec<Path> {
        let mut out = Vec::new();
        self.collect_paths(&mut Vec::new(), &mut out);
        out
    }

    fn collect_paths(&self, prefix: &mut Path, out: &mut Vec<Path>) {
        for (element, node) in &self.children {
            prefix.push(element.clone());
            if node.member {
                out.push(prefix.clone());
            }
            node.below.collect_paths(prefix, out);
            prefix.pop();
        }
    }

    /// The `fieldsV1` JSON object.
    pub(crate) fn to_fields_v1(&self) -> Value {
        let mut object = Map::new();
        for (element, node) in &self.children {
            if node.is_empty() {
                continue;
            }
            let mut child = match node.below.to_fields_v1() {
                Value::Object(inner) => inner,
                _ => Map::new(),
            };
            if node.member && !child.is_empty() {
                child.insert(".".to_string(), Value::Object(Map::new()));
            }
            object.insert(element.encode(), Value::Object(child));
        }
        Value::Object(object)
    }

    /// Parses a `fieldsV1` object; `None` when it is not well formed.
    pub(crate) fn from_fields_v1(value: &Value) -> Option<FieldSet> {
        let object = value.as_object()?;
        let mut set = FieldSet::default();
        for (key, child) in object {
            if key == "." {
                continue;
            }
            let element = PathElement::decode(key)?;
            let inner = child.as_object()?;
            let below = FieldSet::from_fields_v1(child)?;
            // A leaf (`{}`) or a node carrying "." is itself a member.
            let member = inner.is_empty() || inner.contains_key(".");
            set.children.insert(element, Node { member, below });
        }
        Some(set)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn f(name: &str) -> PathElement {
        PathElement::field(name)
    }

    #[test]
    fn fields_v1_round_trip_marks_members_with_dot() {
        let encoded = json!({
            "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
            "f:spec": {
                "f:replicas": {},
                "f:containers": {"k:{\"name\":\"app\"}": {".": {}, "f:image": {}}},
                "f:finalizers": {"v:\"a.io/f\"": {}}
            }
        });
        let set = FieldSet::from_fields_v1(&encoded).unwrap();
        assert!(set.contains(&[f("metadata"), f("labels")]));
        assert!(set.contains(&[f("metadata"), f("labels"), f("app")]));
        assert!(!set.contains(&[f("metadata")]));
        assert!(set.contains(&[f("spec"), f("replicas")]));
        let key = PathElement::Key("{\"name\":\"app\"}".to_string());
        assert!(set.contains(&[f("spec"), f("containers"), key.clone()]));
        assert!(set.covers(&[f("spec"), f("containers")]));
        assert!(!set.contains(&[f("spec"), f("containers")]));
        assert_eq!(set.to_fields_v1(), encoded);
        assert_eq!(set.paths().len(), 6);
    }

    #[test]
    fn malformed_fields_v1_is_rejected() {
        for bad in [
            json!({"x:foo": {}}),
            json!({"f:a": 1}),
            json!({"k:notjson": {}}),
            json!([]),
        ] {
            assert_eq!(FieldSet::from_fields_v1(&bad), None, "{bad}");
        }
    }

    #[test]
    fn set_algebra() {
        let mut a = FieldSet::default();
        a.insert(&[f("spec"), f("replicas")]);
        a.insert(&[f("spec"), f("paused")]);
        let mut b = FieldSet::default();
        b.insert(&[f("spec"), f("replicas")]);
        b.insert(&[f("data"), f("x")]);
        assert_eq!(
            a.intersection(&b).paths(),
            vec![vec![f("spec"), f("replicas")]]
        );
        assert_eq!(a.difference(&b).paths(), vec![vec![f("spec"), f("paused")]]);
        assert_eq!(a.union(&b).paths().len(), 3);
        assert!(a.difference(&a).is_empty());
    }

    #[test]
    fn paths_print_like_upstream() {
        let mut key = BTreeMap::new();
        key.insert("containerPort".to_string(), json!(80));
        key.insert("protocol".to_string(), json!("TCP"));
        let path = vec![
            f("spec"),
            f("containers"),
            PathElement::Key("{\"name\":\"app\"}".to_string()),
            f("ports"),
            PathElement::key(&key),
        ];
        assert_eq!(
            path_string(&path),
            ".spec.containers[name=\"app\"].ports[containerPort=80,protocol=\"TCP\"]"
        );
        let finalizer = [
            f("metadata"),
            f("finalizers"),
            PathElement::value(&json!("a.io/f")),
        ];
        assert_eq!(path_string(&finalizer), ".metadata.finalizers[=\"a.io/f\"]");
    }
}
