//! Tests of the kubelet volume preconditions and node affinity matching.

use serde_json::json;

use super::*;

type Objects = Snapshot;

trait Fixture {
    fn with_claim(self, value: serde_json::Value) -> Self;
    fn with_volume(self, value: serde_json::Value) -> Self;
}

impl Fixture for Snapshot {
    fn with_claim(mut self, value: serde_json::Value) -> Self {
        self.add_claim(serde_json::from_value(value).unwrap());
        self
    }
    fn with_volume(mut self, value: serde_json::Value) -> Self {
        self.add_volume(serde_json::from_value(value).unwrap());
        self
    }
}

fn node() -> NodeIdentity {
    NodeIdentity {
        name: "node-1".into(),
        labels: [("kubernetes.io/hostname".to_string(), "node-1".to_string())].into(),
    }
}

fn pod(volumes: serde_json::Value) -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": "web-0", "namespace": "ns"},
        "spec": {"nodeName": "node-1", "containers": [{"name": "c"}], "volumes": volumes}
    }))
    .unwrap()
}

fn bound_claim(name: &str, uid: &str, volume: &str) -> serde_json::Value {
    json!({
        "metadata": {"name": name, "namespace": "ns", "uid": uid},
        "spec": {"volumeName": volume},
        "status": {"phase": "Bound"}
    })
}

fn local_pv(name: &str, claim_uid: &str, hostname: &str) -> serde_json::Value {
    json!({
        "metadata": {"name": name},
        "spec": {
            "local": {"path": "/mnt/disks/vol1"},
            "claimRef": {"namespace": "ns", "name": "data-web-0", "uid": claim_uid},
            "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
                {"key": "kubernetes.io/hostname", "operator": "In", "values": [hostname]}
            ]}]}}
        }
    })
}

fn claim_volume() -> serde_json::Value {
    json!([{"name": "data", "persistentVolumeClaim": {"claimName": "data-web-0"}}])
}

fn blocked(objects: Objects) -> String {
    resolve(&pod(claim_volume()), &node(), &objects)
        .unwrap_err()
        .message
}

#[test]
fn bound_local_claim_on_its_node_resolves_to_the_pv_path() {
    let objects = Objects::default()
        .with_claim(bound_claim("data-web-0", "u1", "pv1"))
        .with_volume(local_pv("pv1", "u1", "node-1"));
    let volumes = resolve(&pod(claim_volume()), &node(), &objects).unwrap();
    assert_eq!(
        volumes,
        [PodVolume {
            name: "data".into(),
            backing: Backing::Local {
                pv: "pv1".into(),
                path: "/mnt/disks/vol1".into(),
                block: false
            }
        }]
    );
}

#[test]
fn missing_claim_blocks() {
    assert_eq!(
        blocked(Objects::default()),
        "Unable to attach or mount volumes: unmounted volumes=[data]: persistentvolumeclaim \"data-web-0\" \
         not found"
    );
}

#[test]
fn deleting_claim_blocks() {
    let mut claim = bound_claim("data-web-0", "u1", "pv1");
    claim["metadata"]["deletionTimestamp"] = json!("2025-01-01T00:00:00Z");
    let message = blocked(
        Objects::default()
            .with_claim(claim)
            .with_volume(local_pv("pv1", "u1", "node-1")),
    );
    assert!(
        message.ends_with("can't start pod because PVC ns/data-web-0 is being deleted"),
        "{message}"
    );
}

#[test]
fn pending_claim_blocks_with_the_kubelet_wording() {
    let claim = json!({"metadata": {"name": "data-web-0", "namespace": "ns", "uid": "u1"}, "spec": {},
                       "status": {"phase": "Pending"}});
    let message = blocked(Objects::default().with_claim(claim));
    assert!(
        message.ends_with(
            "PVC ns/data-web-0 has non-bound phase (\"Pending\") or empty pvc.Spec.VolumeName (\"\")"
        ),
        "{message}"
    );
}

#[test]
fn bound_claim_without_volume_name_blocks() {
    let claim = json!({"metadata": {"name": "data-web-0", "namespace": "ns", "uid": "u1"}, "spec": {},
                       "status": {"phase": "Bound"}});
    assert!(blocked(Objects::default().with_claim(claim)).contains("non-bound phase (\"Bound\")"));
}

#[test]
fn missing_pv_blocks() {
    let message = blocked(Objects::default().with_claim(bound_claim("data-web-0", "u1", "pv1")));
    assert!(
        message.ends_with("persistentvolume \"pv1\" not found"),
        "{message}"
    );
}

#[test]
fn pv_bound_to_another_claim_uid_blocks() {
    let objects = Objects::default()
        .with_claim(bound_claim("data-web-0", "u1", "pv1"))
        .with_volume(local_pv("pv1", "other", "node-1"));
    assert!(blocked(objects).ends_with(
        "found PV object \"pv1\" but its pv.Spec.ClaimRef.UID (\"other\") does not point to claim.UID (\"u1\")"
    ));
}

#[test]
fn pv_pinned_to_another_node_blocks() {
    let objects = Objects::default()
        .with_claim(bound_claim("data-web-0", "u1", "pv1"))
        .with_volume(local_pv("pv1", "u1", "node-2"));
    assert!(blocked(objects).contains("volume node affinity conflict"));
}

#[test]
fn unsupported_pv_type_blocks() {
    let pv = json!({"metadata": {"name": "pv1"}, "spec": {"nfs": {"server": "s", "path": "/x"},
                    "claimRef": {"uid": "u1"}}});
    let objects = Objects::default()
        .with_claim(bound_claim("data-web-0", "u1", "pv1"))
        .with_volume(pv);
    assert!(blocked(objects).contains("only local and hostPath"));
}

#[test]
fn hostpath_pv_block_mode_and_ephemeral_claims_resolve() {
    let pv = json!({"metadata": {"name": "pv1"}, "spec": {"hostPath": {"path": "/srv/x", "type": "Directory"},
                    "claimRef": {"uid": "u1"}}});
    let mut block_pv = local_pv("pv2", "u2", "node-1");
    block_pv["spec"]["volumeMode"] = json!("Block");
    let objects = Objects::default()
        .with_claim(bound_claim("data-web-0", "u1", "pv1"))
        .with_claim(bound_claim("web-0-scratch", "u2", "pv2"))
        .with_volume(pv)
        .with_volume(block_pv);
    let pod = pod(json!([
        {"name": "data", "persistentVolumeClaim": {"claimName": "data-web-0"}},
        {"name": "scratch", "ephemeral": {"volumeClaimTemplate": {"spec": {}}}}
    ]));
    let volumes = resolve(&pod, &node(), &objects).unwrap();
    assert_eq!(
        volumes[0].backing,
        Backing::HostPath {
            path: "/srv/x".into(),
            kind: "Directory".into()
        }
    );
    assert_eq!(
        volumes[1].backing,
        Backing::Local {
            pv: "pv2".into(),
            path: "/mnt/disks/vol1".into(),
            block: true
        }
    );
}

#[test]
fn inline_volumes_resolve_without_api_objects() {
    let pod = pod(json!([
        {"name": "h", "hostPath": {"path": "/var/x"}},
        {"name": "e", "emptyDir": {}},
        {"name": "c", "configMap": {"name": "cm"}},
        {"name": "t", "projected": {"sources": []}}
    ]));
    let backings: Vec<Backing> = resolve(&pod, &node(), &Objects::default())
        .unwrap()
        .into_iter()
        .map(|v| v.backing)
        .collect();
    assert_eq!(
        backings,
        [
            Backing::HostPath {
                path: "/var/x".into(),
                kind: String::new()
            },
            Backing::EmptyDir,
            Backing::Placeholder { kind: "configmap" },
            Backing::Placeholder { kind: "projected" },
        ]
    );
}

#[test]
fn every_blocked_volume_is_named_and_the_first_reason_given() {
    let pod = pod(json!([
        {"name": "a", "persistentVolumeClaim": {"claimName": "x"}},
        {"name": "ok", "emptyDir": {}},
        {"name": "b", "nfs": {"server": "s", "path": "/"}}
    ]));
    assert_eq!(
        resolve(&pod, &node(), &Objects::default())
            .unwrap_err()
            .message,
        "Unable to attach or mount volumes: unmounted volumes=[a b]: persistentvolumeclaim \"x\" not found"
    );
}

#[test]
fn node_selector_operators() {
    let node = NodeIdentity {
        name: "node-1".into(),
        labels: [
            ("zone".to_string(), "a".to_string()),
            ("rank".to_string(), "5".to_string()),
        ]
        .into(),
    };
    let term = |expressions: serde_json::Value, fields: serde_json::Value| -> NodeSelectorTerm {
        serde_json::from_value(json!({"matchExpressions": expressions, "matchFields": fields}))
            .unwrap()
    };
    let expr = |key: &str, op: &str, values: &[&str]| json!([{"key": key, "operator": op, "values": values}]);
    let cases = [
        (expr("zone", "In", &["a", "b"]), true),
        (expr("zone", "In", &["b"]), false),
        (expr("zone", "NotIn", &["b"]), true),
        (expr("missing", "NotIn", &["b"]), true),
        (expr("zone", "Exists", &[]), true),
        (expr("missing", "Exists", &[]), false),
        (expr("missing", "DoesNotExist", &[]), true),
        (expr("rank", "Gt", &["4"]), true),
        (expr("rank", "Gt", &["5"]), false),
        (expr("rank", "Lt", &["6"]), true),
        (expr("zone", "Lt", &["6"]), false),
        (expr("zone", "Bogus", &["a"]), false),
    ];
    for (expressions, expected) in cases {
        assert_eq!(
            term_matches(&term(expressions.clone(), json!([])), &node),
            expected,
            "{expressions}"
        );
    }
    assert!(term_matches(
        &term(json!([]), expr("metadata.name", "In", &["node-1"])),
        &node
    ));
    assert!(!term_matches(
        &term(json!([]), expr("metadata.name", "In", &["node-2"])),
        &node
    ));
    assert!(
        !term_matches(&term(json!([]), json!([])), &node),
        "an empty term matches nothing"
    );
}

#[test]
fn claim_names_cover_direct_and_ephemeral_claims() {
    let pod = pod(json!([
        {"name": "data", "persistentVolumeClaim": {"claimName": "data-web-0"}},
        {"name": "scratch", "ephemeral": {"volumeClaimTemplate": {"spec": {}}}},
        {"name": "tmp", "emptyDir": {}}
    ]));
    assert_eq!(claim_names(&pod), ["data-web-0", "web-0-scratch"]);
}
