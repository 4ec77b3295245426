//! Alternative views of stored objects: `events.k8s.io/v1` Events are stored as core/v1 Events.

use serde_json::{Map, Value};

use crate::catalog::{ResourceType, View};

/// (core/v1 field, events.k8s.io/v1 field)
const EVENT_FIELDS: &[(&str, &str)] = &[
    ("involvedObject", "regarding"),
    ("message", "note"),
    ("reportingComponent", "reportingController"),
    ("source", "deprecatedSource"),
    ("firstTimestamp", "deprecatedFirstTimestamp"),
    ("lastTimestamp", "deprecatedLastTimestamp"),
    ("count", "deprecatedCount"),
];

/// The stored object as clients of `rt` see it (apiVersion and kind set to the type's).
pub fn to_view(rt: &ResourceType, stored: &Value) -> Value {
    let mut out = match rt.view {
        View::Plain => stored.clone(),
        View::EventsV1 => rename(stored, |core| {
            EVENT_FIELDS
                .iter()
                .find(|(c, _)| *c == core)
                .map(|(_, v)| *v)
        }),
    };
    set_type(rt, &mut out);
    out
}

/// An incoming object of type `rt` in its stored form.
pub fn from_view(rt: &ResourceType, incoming: Value) -> Value {
    let mut out = match rt.view {
        View::Plain => incoming,
        View::EventsV1 => rename(&incoming, |v1| {
            EVENT_FIELDS.iter().find(|(_, v)| *v == v1).map(|(c, _)| *c)
        }),
    };
    if let Some(storage_rt) = crate::catalog::for_storage(rt.storage) {
        set_type(storage_rt, &mut out);
    }
    out
}

fn set_type(rt: &ResourceType, object: &mut Value) {
    if let Some(map) = object.as_object_mut() {
        map.insert("apiVersion".into(), Value::String(rt.api_version()));
        map.insert("kind".into(), Value::String(rt.kind.to_string()));
    }
}

fn rename(object: &Value, map_key: impl Fn(&str) -> Option<&'static str>) -> Value {
    let Some(fields) = object.as_object() else {
        return object.clone();
    };
    let mut out = Map::new();
    for (k, v) in fields {
        let key = map_key(k).map(str::to_string).unwrap_or_else(|| k.clone());
        out.insert(key, v.clone());
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog;
    use serde_json::json;

    #[test]
    fn events_round_trip() {
        let v1 = catalog::find("events.k8s.io", "v1", "events").unwrap();
        let posted = json!({"apiVersion":"events.k8s.io/v1","kind":"Event","metadata":{"name":"e"},
            "regarding":{"kind":"PersistentVolume","name":"pv1"},"note":"hello","reportingController":"x.io/c"});
        let stored = from_view(v1, posted.clone());
        assert_eq!(stored["apiVersion"], "v1");
        assert_eq!(stored["message"], "hello");
        assert_eq!(stored["involvedObject"]["name"], "pv1");
        assert_eq!(to_view(v1, &stored), posted);
    }
}
