//! Tests of server-side apply against other writers: updaters, kubectl's flows, subresources, list order.

use serde_json::{Value, json};

use super::apply_tests::{apply, cm, conflict_causes, owners};
use super::{ApplyOptions, ConflictCause, record_update, server_side_apply_at};

#[test]
fn updaters_conflict_and_their_names_carry_the_api_version() {
    let mut sts = json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "web"},
                         "spec": {"replicas": 1, "serviceName": "web"}});
    record_update(
        "StatefulSet",
        None,
        &mut sts,
        "kubectl-client-side-apply",
        "",
        "t0",
    );
    let applied = json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "web"},
                         "spec": {"replicas": 3, "serviceName": "web"}});
    let error = apply("StatefulSet", Some(&sts), &applied, "ops", false).unwrap_err();
    assert_eq!(
        error.message(),
        "Apply failed with 1 conflict: conflict with \"kubectl-client-side-apply\" using apps/v1: .spec.replicas"
    );
}

#[test]
fn several_conflicts_are_grouped_by_manager() {
    let mut object = cm(json!({"a": "1", "b": "1", "c": "1"}));
    record_update("ConfigMap", None, &mut object, "zed", "", "t0");
    let old = object.clone();
    object["data"]["c"] = json!("2");
    record_update("ConfigMap", Some(&old), &mut object, "amy", "", "t1");
    let error = apply(
        "ConfigMap",
        Some(&object),
        &cm(json!({"a": "9", "b": "9", "c": "9"})),
        "m",
        false,
    )
    .unwrap_err();
    assert_eq!(
        error.message(),
        "Apply failed with 3 conflicts: conflicts with \"amy\" using v1:\n- .data.c\nconflicts with \"zed\" using v1:\n- .data.a\n- .data.b"
    );
}

#[test]
fn kubectl_scale_then_server_side_apply_conflicts_on_replicas() {
    let manifest = json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "web"},
                          "spec": {"replicas": 1, "template": {"spec": {"containers": [{"name": "app", "image": "v1"}]}}}});
    let mut created = manifest.clone();
    created["metadata"]["annotations"] =
        json!({"kubectl.kubernetes.io/last-applied-configuration": format!("{manifest}\n")});
    record_update(
        "StatefulSet",
        None,
        &mut created,
        "kubectl-client-side-apply",
        "",
        "t0",
    );

    // Same manifest, new image: the live object still matches last-applied, so kubectl migrates freely
    // and keeps the annotation in sync.
    let mut upgraded = manifest.clone();
    upgraded["spec"]["template"]["spec"]["containers"][0]["image"] = json!("v2");
    let migrated = apply("StatefulSet", Some(&created), &upgraded, "kubectl", false).unwrap();
    assert_eq!(
        migrated["spec"]["template"]["spec"]["containers"][0]["image"],
        json!("v2")
    );
    let annotation =
        migrated["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]
            .as_str()
            .unwrap();
    assert_eq!(serde_json::from_str::<Value>(annotation).unwrap(), upgraded);
    // Another manager name gets no such allowance.
    let causes = conflict_causes(apply(
        "StatefulSet",
        Some(&created),
        &upgraded,
        "ops",
        false,
    ));
    assert_eq!(
        causes[0].field,
        ".spec.template.spec.containers[name=\"app\"].image"
    );

    let mut scaled = created.clone();
    scaled["spec"]["replicas"] = json!(3);
    record_update(
        "StatefulSet",
        Some(&created),
        &mut scaled,
        "kubectl-scale",
        "scale",
        "t1",
    );
    let causes = conflict_causes(apply(
        "StatefulSet",
        Some(&scaled),
        &manifest,
        "kubectl",
        false,
    ));
    assert_eq!(
        causes,
        vec![ConflictCause {
            manager: "\"kubectl-scale\" with subresource \"scale\" using apps/v1".into(),
            field: ".spec.replicas".into()
        }]
    );
}

#[test]
fn status_is_ignored_on_the_main_resource_and_spec_on_status() {
    let pvc = json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "p"},
                     "spec": {"accessModes": ["ReadWriteOnce"]}, "status": {"phase": "Pending"}});
    let applied = json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "p"},
                         "spec": {"volumeName": "pv"}, "status": {"phase": "Bound"}});
    let main = apply(
        "PersistentVolumeClaim",
        Some(&pvc),
        &applied,
        "binder",
        false,
    )
    .unwrap();
    assert_eq!(main["status"], json!({"phase": "Pending"}));
    assert_eq!(
        main["spec"],
        json!({"accessModes": ["ReadWriteOnce"], "volumeName": "pv"})
    );

    let opts = ApplyOptions {
        field_manager: "binder",
        force: false,
    };
    let status = server_side_apply_at(
        "PersistentVolumeClaim",
        Some(&pvc),
        &applied,
        &opts,
        "status",
        "t",
    )
    .unwrap();
    assert_eq!(status["spec"], json!({"accessModes": ["ReadWriteOnce"]}));
    assert_eq!(status["status"], json!({"phase": "Bound"}));
    assert_eq!(
        status["metadata"]["managedFields"][0]["subresource"],
        json!("status")
    );
    assert_eq!(
        status["metadata"]["managedFields"][0]["fieldsV1"],
        json!({"f:status": {"f:phase": {}}})
    );
}

#[test]
fn objects_without_managed_fields_are_adopted_then_guarded_by_before_first_apply() {
    let legacy = cm(json!({"key": "1", "other": "x"}));
    let adopted = apply(
        "ConfigMap",
        Some(&legacy),
        &cm(json!({"key": "2"})),
        "m",
        false,
    )
    .unwrap();
    assert_eq!(adopted["data"], json!({"key": "2", "other": "x"}));
    assert_eq!(
        owners(&adopted),
        vec![
            json!(["m", "Apply", {"f:data": {"f:key": {}}}]),
            json!(["before-first-apply", "Update", {"f:data": {".": {}, "f:other": {}}}]),
        ]
    );
    let causes = conflict_causes(apply(
        "ConfigMap",
        Some(&adopted),
        &cm(json!({"key": "2", "other": "y"})),
        "m",
        false,
    ));
    assert_eq!(
        causes,
        vec![ConflictCause {
            manager: "\"before-first-apply\" using v1".into(),
            field: ".data.other".into()
        }]
    );
}

#[test]
fn status_conditions_are_shared_by_type_between_an_updater_and_an_applier() {
    let old = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {},
                     "status": {"phase": "Pending"}});
    let mut pod = old.clone();
    pod["status"]["conditions"] = json!([{"type": "Ready", "status": "False"}]);
    record_update("Pod", Some(&old), &mut pod, "kubelet", "status", "t0");

    let applied = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                         "status": {"conditions": [{"type": "example.io/Custom", "status": "True"}]}});
    let opts = ApplyOptions {
        field_manager: "controller",
        force: false,
    };
    let updated = server_side_apply_at("Pod", Some(&pod), &applied, &opts, "status", "t1").unwrap();
    assert_eq!(
        updated["status"]["conditions"],
        json!([{"type": "Ready", "status": "False"}, {"type": "example.io/Custom", "status": "True"}])
    );
    assert_eq!(
        owners(&updated),
        vec![
            json!(["controller", "Apply", {"f:status": {"f:conditions": {
                "k:{\"type\":\"example.io/Custom\"}": {".": {}, "f:status": {}, "f:type": {}}}}}]),
            json!(["kubelet", "Update", {"f:status": {"f:conditions": {
                ".": {}, "k:{\"type\":\"Ready\"}": {".": {}, "f:status": {}, "f:type": {}}}}}]),
        ]
    );
    // Taking over the kubelet's condition is a conflict naming the status subresource.
    let takeover = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                          "status": {"conditions": [{"type": "Ready", "status": "True"}]}});
    let causes = conflict_causes(server_side_apply_at(
        "Pod",
        Some(&updated),
        &takeover,
        &opts,
        "status",
        "t2",
    ));
    assert_eq!(
        causes,
        vec![ConflictCause {
            manager: "\"kubelet\" with subresource \"status\" using v1".into(),
            field: ".status.conditions[type=\"Ready\"].status".into()
        }]
    );
}

#[test]
fn label_updates_move_single_labels() {
    let mut created = cm(json!({"a": "1"}));
    created["metadata"]["labels"] = json!({"app": "x"});
    record_update("ConfigMap", None, &mut created, "kubectl-create", "", "t0");
    let mut labelled = created.clone();
    labelled["metadata"]["labels"]["env"] = json!("prod");
    labelled["metadata"]["labels"]["app"] = json!("y");
    record_update(
        "ConfigMap",
        Some(&created),
        &mut labelled,
        "kubectl-label",
        "",
        "t1",
    );
    assert_eq!(
        owners(&labelled),
        vec![
            json!(["kubectl-create", "Update", {"f:data": {".": {}, "f:a": {}}, "f:metadata": {"f:labels": {}}}]),
            json!(["kubectl-label", "Update", {"f:metadata": {"f:labels": {"f:app": {}, "f:env": {}}}}]),
        ]
    );
}

#[test]
fn applied_list_items_land_before_the_next_shared_item() {
    let with = |finalizers: Value| json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "finalizers": finalizers}});
    let cases: &[(Value, Value, Value)] = &[
        (json!(["x", "y"]), json!(["z", "y"]), json!(["x", "z", "y"])),
        (json!(["x", "y"]), json!(["y", "x"]), json!(["y", "x"])),
        (json!(["x"]), json!(["a", "b"]), json!(["x", "a", "b"])),
        (
            json!(["x", "y", "w"]),
            json!(["w", "n", "x"]),
            json!(["y", "w", "n", "x"]),
        ),
    ];
    for (live, applied, want) in cases {
        let first = apply("ConfigMap", None, &with(live.clone()), "a", false).unwrap();
        let second = apply(
            "ConfigMap",
            Some(&first),
            &with(applied.clone()),
            "b",
            false,
        )
        .unwrap();
        assert_eq!(
            &second["metadata"]["finalizers"], want,
            "{live} + {applied}"
        );
    }
}
