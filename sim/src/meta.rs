//! Small accessors for `metadata` fields of JSON objects, and the normalisation applied before storing.

use serde_json::{Map, Value};

pub fn str_at<'a>(object: &'a Value, pointer: &str) -> Option<&'a str> {
    object.pointer(pointer).and_then(Value::as_str)
}

pub fn name(object: &Value) -> &str {
    str_at(object, "/metadata/name").unwrap_or_default()
}

pub fn namespace(object: &Value) -> &str {
    str_at(object, "/metadata/namespace").unwrap_or_default()
}

pub fn uid(object: &Value) -> &str {
    str_at(object, "/metadata/uid").unwrap_or_default()
}

pub fn resource_version(object: &Value) -> &str {
    str_at(object, "/metadata/resourceVersion").unwrap_or_default()
}

/// The stored resourceVersion as a number (0 when absent or malformed).
pub fn resource_version_number(object: &Value) -> u64 {
    resource_version(object).parse().unwrap_or(0)
}

pub fn deletion_timestamp(object: &Value) -> Option<&str> {
    str_at(object, "/metadata/deletionTimestamp")
}

pub fn finalizers(object: &Value) -> Vec<String> {
    object
        .pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// The value as a JSON object map, replacing anything else with an empty object.
pub fn as_map(value: &mut Value) -> &mut Map<String, Value> {
    if !value.is_object() {
        *value = Value::Object(Map::new());
    }
    match value {
        Value::Object(map) => map,
        // the branch above made it an object
        _ => unreachable!("value was just made an object"),
    }
}

/// The `metadata` map, created if missing (and replacing a non-object).
pub fn metadata_mut(object: &mut Value) -> &mut Map<String, Value> {
    as_map(
        as_map(object)
            .entry("metadata")
            .or_insert_with(|| Value::Object(Map::new())),
    )
}

pub fn set_meta(object: &mut Value, key: &str, value: Value) {
    metadata_mut(object).insert(key.to_string(), value);
}

pub fn remove_meta(object: &mut Value, key: &str) -> Option<Value> {
    metadata_mut(object).remove(key)
}

pub fn set_resource_version(object: &mut Value, rv: u64) {
    set_meta(object, "resourceVersion", Value::String(rv.to_string()));
}

/// Sets a top-level field of an object (no-op on non-objects).
pub fn set_field(object: &mut Value, key: &str, value: Value) {
    if let Some(map) = object.as_object_mut() {
        map.insert(key.to_string(), value);
    }
}

/// Drops `null` members everywhere and empty collections in `metadata`, as Go's omitempty serialisation
/// does. Clients rely on this: kube-rs's finalizer helper tests `/metadata/finalizers` against null.
pub fn normalize(object: &mut Value) {
    drop_nulls(object);
    if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.retain(|_, v| match v {
            Value::Array(a) => !a.is_empty(),
            Value::Object(o) => !o.is_empty(),
            Value::String(s) => !s.is_empty(),
            _ => true,
        });
    }
}

fn drop_nulls(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|_, v| !v.is_null());
            for v in map.values_mut() {
                drop_nulls(v);
            }
        }
        Value::Array(items) => {
            for v in items {
                drop_nulls(v);
            }
        }
        _ => {}
    }
}

/// RFC 3339 with seconds precision, as `metav1.Time` serialises.
pub fn now_rfc3339() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// RFC 3339 with microseconds, as `metav1.MicroTime` serialises.
pub fn now_micro() -> String {
    chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.6fZ")
        .to_string()
}

/// Whether two stored objects are the same once `managedFields` timestamps are ignored (the real server
/// treats a write that only moves those timestamps as a no-op).
pub fn same_ignoring_managed_times(a: &Value, b: &Value) -> bool {
    if a == b {
        return true;
    }
    let strip = |v: &Value| {
        let mut v = v.clone();
        if let Some(entries) = v
            .pointer_mut("/metadata/managedFields")
            .and_then(Value::as_array_mut)
        {
            for e in entries {
                if let Some(m) = e.as_object_mut() {
                    m.remove("time");
                }
            }
        }
        v
    };
    strip(a) == strip(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn normalize_drops_empty_metadata_collections_and_nulls() {
        let mut o = json!({"metadata":{"name":"a","finalizers":[],"labels":{},"annotations":null},
                           "spec":{"x":null,"y":[]}});
        normalize(&mut o);
        assert_eq!(o, json!({"metadata":{"name":"a"},"spec":{"y":[]}}));
    }

    #[test]
    fn managed_field_times_do_not_count() {
        let a = json!({"metadata":{"managedFields":[{"manager":"m","time":"1"}]}});
        let b = json!({"metadata":{"managedFields":[{"manager":"m","time":"2"}]}});
        assert!(same_ignoring_managed_times(&a, &b));
        let c = json!({"metadata":{"managedFields":[{"manager":"n","time":"2"}]}});
        assert!(!same_ignoring_managed_times(&a, &c));
    }
}
