//! managedFields bookkeeping for ordinary writes (create, update, non-apply patches): operation "Update".

use serde_json::{Map, Value};

use super::fieldset::FieldSet;
use super::managed::{self, Entry, Operation, Recorded};
use super::walk::{Diff, Walker};

/// Upstream keeps at most this many "Update" entries; older ones are folded into one.
const MAX_UPDATE_ENTRIES: usize = 10;

/// Manager name of the entry that absorbs the oldest updaters beyond the cap.
const ANCIENT_CHANGES: &str = "ancient-changes";

/// Current time formatted like Kubernetes timestamps (RFC 3339, seconds, `Z`).
pub(crate) fn now_rfc3339() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Records in `new.metadata.managedFields` that `manager` (operation "Update", on `subresource` "" or "status")
/// now owns the fields that differ between `old` (None on create) and `new`, taking them away from other
/// managers; fields that disappeared are dropped from every entry. `now` is an RFC 3339 timestamp.
///
/// On main-resource writes the client may send managedFields itself: valid non-empty ones replace the
/// recorded ones, `[{}]` strips them, anything else keeps what `old` had (as the upstream server does).
pub fn record_update(
    kind: &str,
    old: Option<&Value>,
    new: &mut Value,
    manager: &str,
    subresource: &str,
    now: &str,
) {
    let base = match (subresource, managed::read(new)) {
        ("", Recorded::ResetRequested) => {
            managed::strip(new);
            return;
        }
        ("", Recorded::Entries(entries)) => entries,
        _ => match old.map(managed::read) {
            Some(Recorded::Entries(entries)) => entries,
            _ => Vec::new(),
        },
    };
    let api_version = new
        .get("apiVersion")
        .or_else(|| old.and_then(|o| o.get("apiVersion")))
        .and_then(Value::as_str)
        .unwrap_or("v1")
        .to_string();

    let mut before = old.cloned().unwrap_or_else(|| Value::Object(Map::new()));
    managed::strip(&mut before);
    let mut after = new.clone();
    managed::strip(&mut after);
    let walker = Walker { kind, subresource };
    let mut diff = Diff::default();
    walker.diff(&mut Vec::new(), Some(&before), Some(&after), &mut diff);

    let updater = Entry {
        manager: manager.to_string(),
        operation: Operation::Update,
        api_version,
        time: Some(now.to_string()),
        subresource: subresource.to_string(),
        set: diff.changed(),
    };
    let entries = apply_diff(base, &diff, updater);
    managed::write(new, cap_updaters(entries));
}

/// Moves the changed fields to `updater` (merging with its earlier entry) and drops removed fields everywhere.
fn apply_diff(mut entries: Vec<Entry>, diff: &Diff, mut updater: Entry) -> Vec<Entry> {
    let changed = &updater.set;
    for entry in &mut entries {
        entry.set = entry.set.difference(changed).difference(&diff.removed);
    }
    if changed.is_empty() {
        return entries;
    }
    match entries
        .iter_mut()
        .find(|entry| entry.same_manager(&updater))
    {
        Some(previous) => {
            previous.set = previous.set.union(changed);
            previous.time = updater.time.take();
        }
        None => entries.push(updater),
    }
    entries
}

/// Folds the oldest "Update" entries into one "ancient-changes" entry so at most ten remain.
fn cap_updaters(mut entries: Vec<Entry>) -> Vec<Entry> {
    entries.retain(|entry| !entry.set.is_empty());
    let updaters = entries
        .iter()
        .filter(|entry| entry.operation == Operation::Update)
        .count();
    if updaters <= MAX_UPDATE_ENTRIES {
        return entries;
    }
    let (mut old_updates, mut kept): (Vec<Entry>, Vec<Entry>) = entries
        .into_iter()
        .partition(|entry| entry.operation == Operation::Update);
    old_updates.sort_by(|a, b| a.time.cmp(&b.time));
    let folded: Vec<Entry> = old_updates
        .drain(..=updaters - MAX_UPDATE_ENTRIES)
        .collect();
    let newest = folded.last().cloned();
    if let Some(newest) = newest {
        let set = folded
            .iter()
            .fold(FieldSet::default(), |set, entry| set.union(&entry.set));
        kept.push(Entry {
            manager: ANCIENT_CHANGES.to_string(),
            operation: Operation::Update,
            api_version: newest.api_version,
            time: newest.time,
            subresource: String::new(),
            set,
        });
    }
    kept.extend(old_updates);
    kept
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn managers(object: &Value) -> Vec<String> {
        object["metadata"]["managedFields"]
            .as_array()
            .map(|entries| {
                entries
                    .iter()
                    .map(|e| e["manager"].as_str().unwrap_or_default().to_string())
                    .collect()
            })
            .unwrap_or_default()
    }

    #[test]
    fn create_records_every_field_for_the_creator() {
        let mut pvc = json!({
            "apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": "data", "namespace": "default", "uid": "u", "resourceVersion": "5",
                         "labels": {"app": "db"}, "finalizers": ["kubernetes.io/pvc-protection"]},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
            "status": {"phase": "Pending"}
        });
        record_update(
            "PersistentVolumeClaim",
            None,
            &mut pvc,
            "kubectl-client-side-apply",
            "",
            "2025-01-01T00:00:00Z",
        );
        assert_eq!(
            pvc["metadata"]["managedFields"],
            json!([{
                "manager": "kubectl-client-side-apply", "operation": "Update", "apiVersion": "v1",
                "time": "2025-01-01T00:00:00Z", "fieldsType": "FieldsV1",
                "fieldsV1": {
                    "f:metadata": {"f:labels": {".": {}, "f:app": {}},
                                   "f:finalizers": {".": {}, "v:\"kubernetes.io/pvc-protection\"": {}}},
                    "f:spec": {"f:accessModes": {},
                               "f:resources": {"f:requests": {".": {}, "f:storage": {}}}}
                }
            }])
        );
    }

    #[test]
    fn a_second_updater_takes_changed_fields_and_removed_fields_are_forgotten() {
        let mut v1 = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"},
                            "data": {"a": "1", "b": "2"}});
        record_update("ConfigMap", None, &mut v1, "creator", "", "t1");
        let mut v2 = v1.clone();
        v2["data"] = json!({"a": "changed"});
        record_update("ConfigMap", Some(&v1), &mut v2, "editor", "", "t2");
        let fields: Vec<Value> = v2["metadata"]["managedFields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| json!([e["manager"], e["fieldsV1"]]))
            .collect();
        assert_eq!(
            fields,
            vec![
                json!(["creator", {"f:data": {}}]),
                json!(["editor", {"f:data": {"f:a": {}}}]),
            ]
        );
    }

    #[test]
    fn no_change_keeps_managed_fields_untouched() {
        let mut v1 = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"},
                            "data": {"a": "1"}});
        record_update("ConfigMap", None, &mut v1, "creator", "", "t1");
        let mut v2 = v1.clone();
        record_update("ConfigMap", Some(&v1), &mut v2, "other", "", "t2");
        assert_eq!(v2, v1);
    }

    #[test]
    fn main_resource_writes_never_own_status_and_status_writes_never_own_spec() {
        let old = json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "p"},
                         "spec": {"volumeName": ""}, "status": {"phase": "Pending"}});
        let mut new = old.clone();
        new["status"]["phase"] = json!("Bound");
        new["spec"]["volumeName"] = json!("pv-1");
        let mut main = new.clone();
        record_update(
            "PersistentVolumeClaim",
            Some(&old),
            &mut main,
            "binder",
            "",
            "t",
        );
        assert_eq!(
            main["metadata"]["managedFields"][0]["fieldsV1"],
            json!({"f:spec": {"f:volumeName": {}}})
        );
        record_update(
            "PersistentVolumeClaim",
            Some(&old),
            &mut new,
            "binder",
            "status",
            "t",
        );
        assert_eq!(
            new["metadata"]["managedFields"][0]["fieldsV1"],
            json!({"f:status": {"f:phase": {}}})
        );
        assert_eq!(
            new["metadata"]["managedFields"][0]["subresource"],
            json!("status")
        );
    }

    #[test]
    fn client_supplied_managed_fields_replace_or_reset() {
        let mut v1 = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"},
                            "data": {"a": "1"}});
        record_update("ConfigMap", None, &mut v1, "creator", "", "t1");
        let mut reset = v1.clone();
        reset["metadata"]["managedFields"] = json!([{}]);
        record_update("ConfigMap", Some(&v1), &mut reset, "editor", "", "t2");
        assert_eq!(reset["metadata"].get("managedFields"), None);

        let mut garbage = v1.clone();
        garbage["metadata"]["managedFields"] = json!([{"operation": "Bogus"}]);
        garbage["data"]["b"] = json!("2");
        record_update("ConfigMap", Some(&v1), &mut garbage, "editor", "", "t2");
        assert_eq!(managers(&garbage), vec!["creator", "editor"]);
    }

    #[test]
    fn more_than_ten_updaters_fold_the_oldest_into_ancient_changes() {
        let mut object = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"},
                                "data": {}});
        for i in 0..12 {
            let old = object.clone();
            object["data"][format!("k{i}")] = json!("v");
            record_update(
                "ConfigMap",
                Some(&old),
                &mut object,
                &format!("m{i:02}"),
                "",
                &format!("t{i:02}"),
            );
        }
        let names = managers(&object);
        assert_eq!(names.len(), 10);
        assert_eq!(names[0], "ancient-changes");
        assert_eq!(
            object["metadata"]["managedFields"][0]["fieldsV1"],
            json!({"f:data": {"f:k0": {}, "f:k1": {}, "f:k2": {}}})
        );
    }
}
