//! Tests of strategic merge patch: merge keys per kind and path, directives, nulls, errors.

use serde_json::{Value, json};

use super::{PatchError, strategic_merge};

struct Case {
    name: &'static str,
    kind: &'static str,
    current: Value,
    patch: Value,
    want: Value,
}

fn pod(spec: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": spec})
}

fn check(cases: Vec<Case>) {
    for case in cases {
        let got = strategic_merge(case.kind, &case.current, &case.patch)
            .unwrap_or_else(|e| panic!("{}: unexpected error {e}", case.name));
        assert_eq!(got, case.want, "{}", case.name);
    }
}

#[test]
fn metadata_lists_merge_for_every_kind() {
    check(vec![
        Case {
            name: "a patch listing one finalizer adds it in front",
            kind: "PersistentVolumeClaim",
            current: json!({"metadata": {"finalizers": ["a.io/f"]}}),
            patch: json!({"metadata": {"finalizers": ["b.io/f"]}}),
            want: json!({"metadata": {"finalizers": ["b.io/f", "a.io/f"]}}),
        },
        Case {
            name: "finalizers are deduplicated",
            kind: "ConfigMap",
            current: json!({"metadata": {"finalizers": ["a.io/f"]}}),
            patch: json!({"metadata": {"finalizers": ["a.io/f"]}}),
            want: json!({"metadata": {"finalizers": ["a.io/f"]}}),
        },
        Case {
            name: "custom kinds still merge finalizers",
            kind: "Widget",
            current: json!({"metadata": {"finalizers": ["a.io/f"]}, "spec": {"list": [1, 2]}}),
            patch: json!({"metadata": {"finalizers": ["b.io/f"]}, "spec": {"list": [3]}}),
            want: json!({"metadata": {"finalizers": ["b.io/f", "a.io/f"]}, "spec": {"list": [3]}}),
        },
        Case {
            name: "kubectl removes a finalizer with deleteFromPrimitiveList and setElementOrder",
            kind: "PersistentVolumeClaim",
            current: json!({"metadata": {"finalizers": ["a.io/f", "b.io/f", "c.io/f"]}}),
            patch: json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["b.io/f"],
                                       "$setElementOrder/finalizers": ["c.io/f", "a.io/f"]}}),
            want: json!({"metadata": {"finalizers": ["c.io/f", "a.io/f"]}}),
        },
        Case {
            name: "ownerReferences merge by uid",
            kind: "PersistentVolumeClaim",
            current: json!({"metadata": {"ownerReferences": [
                {"uid": "1", "kind": "StatefulSet", "name": "web", "controller": true},
                {"uid": "2", "kind": "Pod", "name": "web-0"}]}}),
            patch: json!({"metadata": {"ownerReferences": [
                {"uid": "2", "blockOwnerDeletion": true},
                {"uid": "3", "kind": "Node", "name": "n"}]}}),
            want: json!({"metadata": {"ownerReferences": [
                {"uid": "1", "kind": "StatefulSet", "name": "web", "controller": true},
                {"uid": "2", "kind": "Pod", "name": "web-0", "blockOwnerDeletion": true},
                {"uid": "3", "kind": "Node", "name": "n"}]}}),
        },
        Case {
            name: "labels merge and null deletes",
            kind: "Pod",
            current: json!({"metadata": {"labels": {"a": "1", "b": "2"}}}),
            patch: json!({"metadata": {"labels": {"b": null, "c": "3", "missing": null}}}),
            want: json!({"metadata": {"labels": {"a": "1", "c": "3"}}}),
        },
    ]);
}

#[test]
fn pod_spec_lists_merge_by_their_keys() {
    let containers = json!([
        {"name": "app", "image": "app:1",
         "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
         "ports": [{"containerPort": 80, "protocol": "TCP"}],
         "volumeMounts": [{"name": "data", "mountPath": "/data"}]},
        {"name": "sidecar", "image": "side:1"}
    ]);
    check(vec![
        Case {
            name: "container image changes in place, patch items keep patch order",
            kind: "Pod",
            current: pod(json!({"containers": containers})),
            patch: json!({"spec": {"containers": [{"name": "app", "image": "app:2"},
                                                  {"name": "new", "image": "new:1"}]}}),
            want: pod(json!({"containers": [
                {"name": "app", "image": "app:2",
                 "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                 "ports": [{"containerPort": 80, "protocol": "TCP"}],
                 "volumeMounts": [{"name": "data", "mountPath": "/data"}]},
                {"name": "new", "image": "new:1"},
                {"name": "sidecar", "image": "side:1"}]})),
        },
        Case {
            name: "env by name, ports by containerPort, volumeMounts by mountPath",
            kind: "Pod",
            current: pod(json!({"containers": containers})),
            patch: json!({"spec": {"containers": [{"name": "app",
                "env": [{"name": "B", "value": "changed"}],
                "ports": [{"containerPort": 80, "name": "http"}],
                "volumeMounts": [{"mountPath": "/data", "readOnly": true}]}]}}),
            want: pod(json!({"containers": [
                {"name": "app", "image": "app:1",
                 "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "changed"}],
                 "ports": [{"containerPort": 80, "protocol": "TCP", "name": "http"}],
                 "volumeMounts": [{"name": "data", "mountPath": "/data", "readOnly": true}]},
                {"name": "sidecar", "image": "side:1"}]})),
        },
        Case {
            name: "volumes by name with retainKeys switching the source",
            kind: "Pod",
            current: pod(
                json!({"volumes": [{"name": "v", "emptyDir": {}}, {"name": "w", "emptyDir": {}}]}),
            ),
            patch: json!({"spec": {"volumes": [{"name": "v", "$retainKeys": ["hostPath", "name"],
                                                "hostPath": {"path": "/x"}}]}}),
            want: pod(
                json!({"volumes": [{"name": "v", "hostPath": {"path": "/x"}},
                                         {"name": "w", "emptyDir": {}}]}),
            ),
        },
        Case {
            name: "tolerations are replaced, imagePullSecrets merge",
            kind: "Pod",
            current: pod(json!({"tolerations": [{"key": "a"}, {"key": "b"}],
                                "imagePullSecrets": [{"name": "one"}]})),
            patch: json!({"spec": {"tolerations": [{"key": "c", "value": null}],
                                   "imagePullSecrets": [{"name": "two"}]}}),
            want: pod(json!({"tolerations": [{"key": "c"}],
                             "imagePullSecrets": [{"name": "two"}, {"name": "one"}]})),
        },
        Case {
            name: "statefulset template merges, volumeClaimTemplates are replaced",
            kind: "StatefulSet",
            current: json!({"spec": {"replicas": 1,
                "template": {"spec": {"containers": [{"name": "app", "image": "a:1"}, {"name": "b", "image": "b:1"}]}},
                "volumeClaimTemplates": [{"metadata": {"name": "data"}}, {"metadata": {"name": "logs"}}]}}),
            patch: json!({"spec": {"replicas": 3,
                "template": {"spec": {"containers": [{"name": "app", "image": "a:2"}]}},
                "volumeClaimTemplates": [{"metadata": {"name": "data2"}}]}}),
            want: json!({"spec": {"replicas": 3,
                "template": {"spec": {"containers": [{"name": "app", "image": "a:2"}, {"name": "b", "image": "b:1"}]}},
                "volumeClaimTemplates": [{"metadata": {"name": "data2"}}]}}),
        },
    ]);
}

#[test]
fn status_and_volume_lists() {
    let conditions =
        json!([{"type": "Ready", "status": "False"}, {"type": "PodScheduled", "status": "True"}]);
    let patched =
        json!([{"type": "Ready", "status": "True"}, {"type": "PodScheduled", "status": "True"}]);
    check(vec![
        Case {
            name: "pod conditions by type",
            kind: "Pod",
            current: json!({"status": {"conditions": conditions}}),
            patch: json!({"status": {"conditions": [{"type": "Ready", "status": "True"}]}}),
            want: json!({"status": {"conditions": patched}}),
        },
        Case {
            name: "pvc conditions by type, accessModes replaced",
            kind: "PersistentVolumeClaim",
            current: json!({"spec": {"accessModes": ["ReadWriteOnce", "ReadOnlyMany"]},
                            "status": {"conditions": [{"type": "Resizing", "status": "True"}]}}),
            patch: json!({"spec": {"accessModes": ["ReadWriteOncePod"]},
                          "status": {"conditions": [{"type": "FileSystemResizePending", "status": "True"}]}}),
            want: json!({"spec": {"accessModes": ["ReadWriteOncePod"]},
                         "status": {"conditions": [{"type": "FileSystemResizePending", "status": "True"},
                                                   {"type": "Resizing", "status": "True"}]}}),
        },
        Case {
            name: "node conditions and addresses by type",
            kind: "Node",
            current: json!({"status": {"addresses": [{"type": "InternalIP", "address": "10.0.0.1"},
                                                     {"type": "Hostname", "address": "n"}],
                                       "conditions": [{"type": "Ready", "status": "True"}]}}),
            patch: json!({"status": {"addresses": [{"type": "InternalIP", "address": "10.0.0.2"}],
                                     "conditions": [{"type": "Ready", "status": "False"}]}}),
            want: json!({"status": {"addresses": [{"type": "InternalIP", "address": "10.0.0.2"},
                                                  {"type": "Hostname", "address": "n"}],
                                    "conditions": [{"type": "Ready", "status": "False"}]}}),
        },
        Case {
            name: "pv mountOptions and nodeSelectorTerms are replaced",
            kind: "PersistentVolume",
            current: json!({"spec": {"mountOptions": ["a", "b"], "nodeAffinity": {"required":
                {"nodeSelectorTerms": [{"matchExpressions": [{"key": "k", "operator": "In", "values": ["1"]}]}]}}}}),
            patch: json!({"spec": {"mountOptions": ["c"], "nodeAffinity": {"required":
                {"nodeSelectorTerms": [{"matchFields": []}]}}}}),
            want: json!({"spec": {"mountOptions": ["c"], "nodeAffinity": {"required":
                {"nodeSelectorTerms": [{"matchFields": []}]}}}}),
        },
    ]);
}

#[test]
fn directives() {
    let two = json!([{"name": "a", "image": "a:1"}, {"name": "b", "image": "b:1"}]);
    check(vec![
        Case {
            name: "$patch: replace on a map",
            kind: "Pod",
            current: json!({"metadata": {"labels": {"a": "1", "b": "2"}}}),
            patch: json!({"metadata": {"labels": {"$patch": "replace", "c": "3"}}}),
            want: json!({"metadata": {"labels": {"c": "3"}}}),
        },
        Case {
            name: "$patch: delete on a map empties it",
            kind: "Pod",
            current: json!({"metadata": {"labels": {"a": "1"}}}),
            patch: json!({"metadata": {"labels": {"$patch": "delete"}}}),
            want: json!({"metadata": {"labels": {}}}),
        },
        Case {
            name: "$patch: delete removes a keyed item",
            kind: "Pod",
            current: pod(json!({"containers": two})),
            patch: json!({"spec": {"containers": [{"name": "a", "$patch": "delete"}]}}),
            want: pod(json!({"containers": [{"name": "b", "image": "b:1"}]})),
        },
        Case {
            name: "$patch: replace element replaces the whole keyed list",
            kind: "Pod",
            current: pod(json!({"containers": two})),
            patch: json!({"spec": {"containers": [{"name": "c", "image": "c:1"}, {"$patch": "replace"}]}}),
            want: pod(json!({"containers": [{"name": "c", "image": "c:1"}]})),
        },
        Case {
            name: "$setElementOrder orders patched and server items",
            kind: "Pod",
            current: pod(json!({"containers": two})),
            patch: json!({"spec": {"$setElementOrder/containers": [{"name": "b"}, {"name": "a"}],
                                   "containers": [{"name": "a", "image": "a:2"}]}}),
            want: pod(
                json!({"containers": [{"name": "b", "image": "b:1"}, {"name": "a", "image": "a:2"}]}),
            ),
        },
        Case {
            name: "$setElementOrder alone only reorders",
            kind: "Pod",
            current: pod(json!({"containers": two})),
            patch: json!({"spec": {"$setElementOrder/containers": [{"name": "b"}, {"name": "a"}]}}),
            want: pod(
                json!({"containers": [{"name": "b", "image": "b:1"}, {"name": "a", "image": "a:1"}]}),
            ),
        },
        Case {
            name: "$setElementOrder names the merge key of a list the table does not know",
            kind: "Pod",
            current: pod(
                json!({"readinessGates": [{"conditionType": "x", "n": 1}, {"conditionType": "y"}]}),
            ),
            patch: json!({"spec": {"$setElementOrder/readinessGates": [{"conditionType": "x"}, {"conditionType": "y"}],
                                   "readinessGates": [{"conditionType": "x", "n": 2}]}}),
            want: pod(
                json!({"readinessGates": [{"conditionType": "x", "n": 2}, {"conditionType": "y"}]}),
            ),
        },
        Case {
            name: "directives inside a new field are resolved, nulls dropped",
            kind: "Pod",
            current: pod(json!({})),
            patch: json!({"spec": {"containers": [{"name": "a", "image": null},
                                                  {"name": "gone", "$patch": "delete"}],
                                   "$setElementOrder/volumes": [{"name": "v"}],
                                   "volumes": [{"name": "v", "$retainKeys": ["name", "emptyDir"], "emptyDir": {}}]}}),
            want: pod(
                json!({"containers": [{"name": "a"}], "volumes": [{"name": "v", "emptyDir": {}}]}),
            ),
        },
        Case {
            name: "top-level $patch: replace",
            kind: "ConfigMap",
            current: json!({"data": {"a": "1"}, "metadata": {"name": "c"}}),
            patch: json!({"$patch": "replace", "data": {"b": "2"}}),
            want: json!({"data": {"b": "2"}}),
        },
    ]);
}

#[test]
fn kubectl_client_side_apply_patch() {
    let current = json!({
        "apiVersion": "apps/v1", "kind": "StatefulSet",
        "metadata": {"name": "web", "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "old"},
                     "labels": {"app": "web", "tier": "x"}},
        "spec": {"replicas": 1, "template": {"spec": {"containers": [
            {"name": "app", "image": "nginx:1", "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]}]}}}
    });
    let patch = json!({
        "metadata": {"annotations": {"kubectl.kubernetes.io/last-applied-configuration": "new"},
                     "labels": {"tier": null}},
        "spec": {"replicas": 2, "template": {"spec": {
            "$setElementOrder/containers": [{"name": "app"}],
            "containers": [{"$setElementOrder/env": [{"name": "B"}], "image": "nginx:2", "name": "app",
                            "env": [{"$patch": "delete", "name": "A"}]}]}}}
    });
    let got = strategic_merge("StatefulSet", &current, &patch).unwrap();
    assert_eq!(
        got,
        json!({
            "apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": {"name": "web", "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "new"},
                         "labels": {"app": "web"}},
            "spec": {"replicas": 2, "template": {"spec": {"containers": [
                {"name": "app", "image": "nginx:2", "env": [{"name": "B", "value": "2"}]}]}}}
        })
    );
}

#[test]
fn errors_carry_the_right_status() {
    let current = pod(json!({"containers": [{"name": "a"}], "tolerations": []}));
    let cases: &[(&str, Value, u16)] = &[
        ("patch must be an object", json!(["x"]), 400),
        (
            "keyed item without merge key",
            json!({"spec": {"containers": [{"image": "x"}]}}),
            422,
        ),
        (
            "unknown $patch in a map",
            json!({"spec": {"$patch": "sideways"}}),
            422,
        ),
        (
            "$patch: merge in a list",
            json!({"spec": {"containers": [{"$patch": "merge", "name": "a"}]}}),
            422,
        ),
        (
            "retainKeys must list patched fields",
            json!({"spec": {"volumes": [{"name": "v", "$retainKeys": ["name"], "hostPath": {}}]}}),
            400,
        ),
        (
            "setElementOrder must be a list",
            json!({"spec": {"$setElementOrder/containers": "a"}}),
            400,
        ),
        (
            "setElementOrder must agree with the patch order",
            json!({"spec": {"$setElementOrder/containers": [{"name": "b"}],
                            "containers": [{"name": "a", "image": "x"}]}}),
            422,
        ),
        (
            "lists of lists",
            json!({"metadata": {"finalizers": [["x"]]}}),
            422,
        ),
        (
            "mixed item types",
            json!({"metadata": {"finalizers": ["x", {"a": 1}]}}),
            422,
        ),
    ];
    for (name, patch, status) in cases {
        match strategic_merge("Pod", &current, patch) {
            Err(e) => assert_eq!(e.http_status(), *status, "{name}: {e}"),
            Ok(v) => panic!("{name}: expected an error, got {v}"),
        }
    }
    assert!(matches!(
        strategic_merge("Pod", &current, &json!([])),
        Err(PatchError::Malformed { .. })
    ));
}

#[test]
fn retain_keys_switches_a_deployment_strategy() {
    let current = json!({"spec": {"strategy": {"type": "RollingUpdate",
                                               "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}}});
    let patch = json!({"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate", "rollingUpdate": null}}});
    assert_eq!(
        strategic_merge("Deployment", &current, &patch).unwrap(),
        json!({"spec": {"strategy": {"type": "Recreate"}}})
    );
}
