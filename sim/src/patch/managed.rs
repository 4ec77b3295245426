//! `metadata.managedFields` entries: decoding, manager identity, upstream ordering and encoding.

use serde_json::{Map, Value, json};

use super::fieldset::FieldSet;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Operation {
    Apply,
    Update,
}

impl Operation {
    fn as_str(self) -> &'static str {
        match self {
            Operation::Apply => "Apply",
            Operation::Update => "Update",
        }
    }
}

/// One managedFields entry with its field set decoded.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Entry {
    pub(crate) manager: String,
    pub(crate) operation: Operation,
    pub(crate) api_version: String,
    pub(crate) time: Option<String>,
    pub(crate) subresource: String,
    pub(crate) set: FieldSet,
}

impl Entry {
    /// Whether two entries stand for the same manager: appliers are one manager across API versions,
    /// updaters are distinct per API version.
    pub(crate) fn same_manager(&self, other: &Entry) -> bool {
        self.manager == other.manager
            && self.operation == other.operation
            && self.subresource == other.subresource
            && (self.operation == Operation::Apply || self.api_version == other.api_version)
    }

    /// How conflict messages name this manager, e.g. `"kubectl-client-side-apply" using v1`.
    pub(crate) fn display_name(&self) -> String {
        let mut name = format!("{:?}", self.manager);
        if !self.subresource.is_empty() {
            name.push_str(&format!(" with subresource {:?}", self.subresource));
        }
        if self.operation == Operation::Update {
            name.push_str(&format!(" using {}", self.api_version));
        }
        name
    }

    fn decode(value: &Value) -> Option<Entry> {
        let object = value.as_object()?;
        let text = |key: &str| object.get(key).and_then(Value::as_str).map(str::to_string);
        let operation = match object.get("operation").and_then(Value::as_str)? {
            "Apply" => Operation::Apply,
            "Update" => Operation::Update,
            _ => return None,
        };
        if let Some(fields_type) = object.get("fieldsType")
            && fields_type != "FieldsV1"
        {
            return None;
        }
        let set = match object.get("fieldsV1") {
            None => FieldSet::default(),
            Some(fields) => FieldSet::from_fields_v1(fields)?,
        };
        Some(Entry {
            manager: text("manager").unwrap_or_default(),
            operation,
            api_version: text("apiVersion").unwrap_or_default(),
            time: text("time"),
            subresource: text("subresource").unwrap_or_default(),
            set,
        })
    }

    fn encode(&self) -> Value {
        let mut object = Map::new();
        object.insert("manager".into(), json!(self.manager));
        object.insert("operation".into(), json!(self.operation.as_str()));
        object.insert("apiVersion".into(), json!(self.api_version));
        if let Some(time) = &self.time {
            object.insert("time".into(), json!(time));
        }
        object.insert("fieldsType".into(), json!("FieldsV1"));
        object.insert("fieldsV1".into(), self.set.to_fields_v1());
        if !self.subresource.is_empty() {
            object.insert("subresource".into(), json!(self.subresource));
        }
        Value::Object(object)
    }
}

/// What an object's `metadata.managedFields` says, classified.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Recorded {
    /// No managedFields at all (or an empty list).
    Absent,
    /// A list with a single empty entry: the documented request to strip managedFields.
    ResetRequested,
    /// Entries that could not be decoded.
    Malformed,
    Entries(Vec<Entry>),
}

pub(crate) fn read(object: &Value) -> Recorded {
    match object.pointer("/metadata/managedFields") {
        None | Some(Value::Null) => Recorded::Absent,
        Some(Value::Array(items)) if items.is_empty() => Recorded::Absent,
        Some(Value::Array(items))
            if items.len() == 1 && items[0].as_object().is_some_and(Map::is_empty) =>
        {
            Recorded::ResetRequested
        }
        Some(Value::Array(items)) => items
            .iter()
            .map(Entry::decode)
            .collect::<Option<Vec<_>>>()
            .map_or(Recorded::Malformed, Recorded::Entries),
        Some(_) => Recorded::Malformed,
    }
}

/// Stores `entries` into `object.metadata.managedFields` in upstream order, dropping empty ones; removes the
/// member entirely when nothing is left.
pub(crate) fn write(object: &mut Value, mut entries: Vec<Entry>) {
    entries.retain(|entry| !entry.set.is_empty());
    entries.sort_by(|a, b| {
        (
            a.operation,
            &a.time,
            &a.manager,
            &a.api_version,
            &a.subresource,
        )
            .cmp(&(
                b.operation,
                &b.time,
                &b.manager,
                &b.api_version,
                &b.subresource,
            ))
    });
    if entries.is_empty() {
        strip(object);
        return;
    }
    let Some(object) = object.as_object_mut() else {
        return;
    };
    let metadata = object
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    if let Some(metadata) = metadata.as_object_mut() {
        let encoded = entries.iter().map(Entry::encode).collect();
        metadata.insert("managedFields".into(), Value::Array(encoded));
    }
}

/// Removes `metadata.managedFields` from an object (used on copies that are compared or merged).
pub(crate) fn strip(object: &mut Value) {
    if let Some(metadata) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        metadata.remove("managedFields");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_classifies_managed_fields() {
        let entry = json!({"manager": "m", "operation": "Update", "apiVersion": "v1",
                           "fieldsType": "FieldsV1", "fieldsV1": {"f:data": {"f:a": {}}}});
        assert_eq!(read(&json!({"metadata": {}})), Recorded::Absent);
        assert_eq!(
            read(&json!({"metadata": {"managedFields": []}})),
            Recorded::Absent
        );
        assert_eq!(
            read(&json!({"metadata": {"managedFields": [{}]}})),
            Recorded::ResetRequested
        );
        assert_eq!(
            read(&json!({"metadata": {"managedFields": [{"operation": "Nope"}]}})),
            Recorded::Malformed
        );
        match read(&json!({"metadata": {"managedFields": [entry.clone()]}})) {
            Recorded::Entries(entries) => {
                assert_eq!(entries.len(), 1);
                assert_eq!(entries[0].display_name(), "\"m\" using v1");
                let mut object = json!({"metadata": {}});
                write(&mut object, entries);
                assert_eq!(object["metadata"]["managedFields"], json!([entry]));
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn display_names_match_upstream() {
        let entry = |operation, subresource: &str| Entry {
            manager: "kubelet".into(),
            operation,
            api_version: "v1".into(),
            time: None,
            subresource: subresource.into(),
            set: FieldSet::default(),
        };
        assert_eq!(entry(Operation::Apply, "").display_name(), "\"kubelet\"");
        assert_eq!(
            entry(Operation::Update, "status").display_name(),
            "\"kubelet\" with subresource \"status\" using v1"
        );
    }
}
