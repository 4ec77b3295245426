//! Tests of server-side apply: create, update, pruning, conflicts, force, shared ownership, kubectl flows.

use serde_json::{Value, json};

use super::{ApplyOptions, ConflictCause, PatchError, server_side_apply_at};

pub(super) fn apply(
    kind: &str,
    current: Option<&Value>,
    applied: &Value,
    manager: &str,
    force: bool,
) -> Result<Value, PatchError> {
    let opts = ApplyOptions {
        field_manager: manager,
        force,
    };
    server_side_apply_at(kind, current, applied, &opts, "", "2025-01-01T00:00:00Z")
}

pub(super) fn cm(data: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "default"}, "data": data})
}

/// A ConfigMap configuration that applies no data at all.
pub(super) fn cm_without_data() -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "default"}})
}

/// `[manager, operation, fieldsV1]` of every managedFields entry.
pub(super) fn owners(object: &Value) -> Vec<Value> {
    object["metadata"]["managedFields"]
        .as_array()
        .map(|entries| {
            entries
                .iter()
                .map(|e| json!([e["manager"], e["operation"], e["fieldsV1"]]))
                .collect()
        })
        .unwrap_or_default()
}

pub(super) fn without_managed_fields(object: &Value) -> Value {
    let mut copy = object.clone();
    if let Some(metadata) = copy["metadata"].as_object_mut() {
        metadata.remove("managedFields");
    }
    copy
}

pub(super) fn conflict_causes(result: Result<Value, PatchError>) -> Vec<ConflictCause> {
    match result {
        Err(PatchError::Conflict { causes }) => causes,
        other => panic!("expected a conflict, got {other:?}"),
    }
}

#[test]
fn apply_creates_the_object_with_an_apply_entry() {
    let applied = cm(json!({"a": "1"}));
    let created = apply("ConfigMap", None, &applied, "kubectl", false).unwrap();
    assert_eq!(without_managed_fields(&created), applied);
    assert_eq!(
        created["metadata"]["managedFields"],
        json!([{"manager": "kubectl", "operation": "Apply", "apiVersion": "v1",
                "time": "2025-01-01T00:00:00Z", "fieldsType": "FieldsV1",
                "fieldsV1": {"f:data": {"f:a": {}}}}])
    );
}

#[test]
fn keyed_lists_sets_and_atomic_values_in_the_applied_set() {
    let sts = json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "web", "labels": {"app": "web"},
        "finalizers": ["a.io/f"]},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"spec": {"containers": [{"name": "app", "image": "nginx",
                                                       "ports": [{"containerPort": 80}]}]}},
                 "volumeClaimTemplates": [{"metadata": {"name": "data"}}]}});
    let created = apply("StatefulSet", None, &sts, "mgr", false).unwrap();
    assert_eq!(
        owners(&created),
        vec![json!(["mgr", "Apply", {
            "f:metadata": {"f:labels": {"f:app": {}}, "f:finalizers": {"v:\"a.io/f\"": {}}},
            "f:spec": {
                "f:replicas": {}, "f:selector": {}, "f:volumeClaimTemplates": {},
                "f:template": {"f:spec": {"f:containers": {"k:{\"name\":\"app\"}": {
                    ".": {}, "f:name": {}, "f:image": {},
                    "f:ports": {"k:{\"containerPort\":80,\"protocol\":\"TCP\"}": {".": {}, "f:containerPort": {}}}
                }}}}
            }
        }])]
    );
}

#[test]
fn reapplying_changes_values_and_prunes_what_is_no_longer_applied() {
    let first = apply(
        "ConfigMap",
        None,
        &cm(json!({"a": "1", "b": "2"})),
        "m",
        false,
    )
    .unwrap();
    let second = apply(
        "ConfigMap",
        Some(&first),
        &cm(json!({"a": "changed"})),
        "m",
        false,
    )
    .unwrap();
    assert_eq!(second["data"], json!({"a": "changed"}));
    assert_eq!(
        owners(&second),
        vec![json!(["m", "Apply", {"f:data": {"f:a": {}}}])]
    );
    let third = apply("ConfigMap", Some(&second), &cm_without_data(), "m", false).unwrap();
    assert_eq!(third.get("data"), None, "data emptied by pruning goes away");
    assert_eq!(third["metadata"].get("managedFields"), None);
}

#[test]
fn pruning_keeps_fields_another_manager_owns_and_drops_keyed_items() {
    let pod = |containers: Value| json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": containers}});
    let a = apply(
        "Pod",
        None,
        &pod(json!([{"name": "x", "image": "x"}, {"name": "y", "image": "y"}])),
        "a",
        false,
    )
    .unwrap();
    let b = apply(
        "Pod",
        Some(&a),
        &pod(json!([{"name": "y", "image": "y"}])),
        "b",
        false,
    )
    .unwrap();
    let a_again = apply(
        "Pod",
        Some(&b),
        &pod(json!([{"name": "z", "image": "z"}])),
        "a",
        false,
    )
    .unwrap();
    assert_eq!(
        a_again["spec"]["containers"],
        json!([{"name": "y", "image": "y"}, {"name": "z", "image": "z"}]),
        "x pruned, y kept because b applies it too"
    );
}

#[test]
fn conflicting_value_without_force_is_a_409_with_upstream_causes() {
    let first = apply(
        "ConfigMap",
        None,
        &cm(json!({"key": "1", "other": "x"})),
        "alice",
        false,
    )
    .unwrap();
    let result = apply(
        "ConfigMap",
        Some(&first),
        &cm(json!({"key": "2"})),
        "bob",
        false,
    );
    let error = result.clone().unwrap_err();
    assert_eq!(error.http_status(), 409);
    assert_eq!(error.reason(), "Conflict");
    assert_eq!(
        error.message(),
        "Apply failed with 1 conflict: conflict with \"alice\": .data.key"
    );
    assert_eq!(
        error.status_causes(),
        vec![
            json!({"reason": "FieldManagerConflict", "message": "conflict with \"alice\"", "field": ".data.key"})
        ]
    );
    assert_eq!(
        error.to_status()["details"]["causes"][0]["field"],
        json!(".data.key")
    );
    assert_eq!(conflict_causes(result).len(), 1);
}

#[test]
fn force_takes_ownership() {
    let first = apply(
        "ConfigMap",
        None,
        &cm(json!({"key": "1", "other": "x"})),
        "alice",
        false,
    )
    .unwrap();
    let forced = apply(
        "ConfigMap",
        Some(&first),
        &cm(json!({"key": "2"})),
        "bob",
        true,
    )
    .unwrap();
    assert_eq!(forced["data"], json!({"key": "2", "other": "x"}));
    assert_eq!(
        owners(&forced),
        vec![
            json!(["alice", "Apply", {"f:data": {"f:other": {}}}]),
            json!(["bob", "Apply", {"f:data": {"f:key": {}}}]),
        ]
    );
    // alice applying her old config again now conflicts with bob.
    let causes = conflict_causes(apply(
        "ConfigMap",
        Some(&forced),
        &cm(json!({"key": "1", "other": "x"})),
        "alice",
        false,
    ));
    assert_eq!(
        causes,
        vec![ConflictCause {
            manager: "\"bob\"".into(),
            field: ".data.key".into()
        }]
    );
}

#[test]
fn same_value_is_shared_without_conflict_and_survives_one_owner_leaving() {
    let first = apply("ConfigMap", None, &cm(json!({"key": "1"})), "alice", false).unwrap();
    let shared = apply(
        "ConfigMap",
        Some(&first),
        &cm(json!({"key": "1"})),
        "bob",
        false,
    )
    .unwrap();
    assert_eq!(
        owners(&shared),
        vec![
            json!(["alice", "Apply", {"f:data": {"f:key": {}}}]),
            json!(["bob", "Apply", {"f:data": {"f:key": {}}}]),
        ]
    );
    let alice_left = apply(
        "ConfigMap",
        Some(&shared),
        &cm_without_data(),
        "alice",
        false,
    )
    .unwrap();
    assert_eq!(alice_left["data"], json!({"key": "1"}));
    assert_eq!(
        owners(&alice_left),
        vec![json!(["bob", "Apply", {"f:data": {"f:key": {}}}])]
    );
}

#[test]
fn finalizers_apply_as_a_set_per_manager() {
    let with = |finalizers: Value| json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "finalizers": finalizers}});
    let a = apply("ConfigMap", None, &with(json!(["a.io/f"])), "a", false).unwrap();
    let b = apply("ConfigMap", Some(&a), &with(json!(["b.io/f"])), "b", false).unwrap();
    assert_eq!(b["metadata"]["finalizers"], json!(["a.io/f", "b.io/f"]));
    let a_done = apply("ConfigMap", Some(&b), &with(json!([])), "a", false).unwrap();
    assert_eq!(a_done["metadata"]["finalizers"], json!(["b.io/f"]));
}

#[test]
fn unchanged_reapply_keeps_the_timestamp() {
    let opts = ApplyOptions {
        field_manager: "m",
        force: false,
    };
    let first =
        server_side_apply_at("ConfigMap", None, &cm(json!({"a": "1"})), &opts, "", "t1").unwrap();
    let again = server_side_apply_at(
        "ConfigMap",
        Some(&first),
        &cm(json!({"a": "1"})),
        &opts,
        "",
        "t2",
    )
    .unwrap();
    assert_eq!(again, first);
    let changed = server_side_apply_at(
        "ConfigMap",
        Some(&first),
        &cm(json!({"a": "2"})),
        &opts,
        "",
        "t3",
    )
    .unwrap();
    assert_eq!(changed["metadata"]["managedFields"][0]["time"], json!("t3"));
}

#[test]
fn malformed_apply_bodies() {
    let existing = apply("ConfigMap", None, &cm(json!({"a": "1"})), "m", false).unwrap();
    let cases: &[(&str, Value, u16)] = &[
        ("not an object", json!("x"), 400),
        (
            "no kind",
            json!({"apiVersion": "v1", "metadata": {"name": "c"}}),
            400,
        ),
        (
            "wrong kind",
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "c"}}),
            400,
        ),
        (
            "wrong version",
            json!({"apiVersion": "v2", "kind": "ConfigMap", "metadata": {"name": "c"}}),
            400,
        ),
        (
            "managedFields present",
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "managedFields": []}}),
            400,
        ),
        (
            "owner reference without uid",
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "ownerReferences": [{"name": "x"}]}}),
            422,
        ),
    ];
    for (name, body, status) in cases {
        match apply("ConfigMap", Some(&existing), body, "m", false) {
            Err(e) => assert_eq!(e.http_status(), *status, "{name}: {e}"),
            Ok(v) => panic!("{name}: expected an error, got {v}"),
        }
    }
}
