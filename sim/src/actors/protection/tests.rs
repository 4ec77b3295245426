//! Tests of the pvc-/pv-protection decisions.

use serde_json::{Value, json};

use super::*;

fn claim(deleting: bool, finalizers: &[&str]) -> PersistentVolumeClaim {
    let mut meta =
        json!({"name": "data", "namespace": "ns", "uid": "c1", "finalizers": finalizers});
    if deleting {
        meta["deletionTimestamp"] = json!("2025-01-01T00:00:00Z");
    }
    serde_json::from_value(json!({"metadata": meta, "spec": {}})).unwrap()
}

fn pod(namespace: &str, node: Option<&str>, volumes: Value) -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": "web-0", "namespace": namespace, "uid": "p1"},
        "spec": {"nodeName": node, "containers": [], "volumes": volumes}
    }))
    .unwrap()
}

fn uses_data() -> Value {
    json!([{"name": "v", "persistentVolumeClaim": {"claimName": "data"}}])
}

fn pv(deleting: bool, finalizers: &[&str], phase: &str) -> PersistentVolume {
    let mut meta = json!({"name": "pv1", "finalizers": finalizers});
    if deleting {
        meta["deletionTimestamp"] = json!("2025-01-01T00:00:00Z");
    }
    serde_json::from_value(json!({"metadata": meta, "spec": {}, "status": {"phase": phase}}))
        .unwrap()
}

#[test]
fn claim_decisions() {
    use FinalizerAction::*;
    let scheduled = pod("ns", Some("node-1"), uses_data());
    let unscheduled = pod("ns", None, uses_data());
    let elsewhere = pod("other", Some("node-1"), uses_data());
    let unrelated = pod(
        "ns",
        Some("node-1"),
        json!([{"name": "v", "persistentVolumeClaim": {"claimName": "x"}}]),
    );
    let cases: Vec<(
        &str,
        PersistentVolumeClaim,
        Vec<&Pod>,
        bool,
        FinalizerAction,
    )> = vec![
        (
            "live with finalizer",
            claim(false, &[PVC_PROTECTION]),
            vec![],
            true,
            Keep,
        ),
        (
            "live without finalizer",
            claim(false, &[]),
            vec![],
            true,
            Add,
        ),
        (
            "live without finalizer, adding off",
            claim(false, &[]),
            vec![],
            false,
            Keep,
        ),
        (
            "deleting without finalizer",
            claim(true, &["other"]),
            vec![],
            true,
            Keep,
        ),
        (
            "deleting, unused",
            claim(true, &[PVC_PROTECTION]),
            vec![&unrelated],
            true,
            Remove,
        ),
        (
            "deleting, used by scheduled pod",
            claim(true, &[PVC_PROTECTION]),
            vec![&scheduled],
            true,
            Keep,
        ),
        (
            "deleting, unscheduled pod does not block",
            claim(true, &[PVC_PROTECTION]),
            vec![&unscheduled],
            true,
            Remove,
        ),
        (
            "deleting, other namespace does not block",
            claim(true, &[PVC_PROTECTION]),
            vec![&elsewhere],
            true,
            Remove,
        ),
    ];
    for (name, claim, pods, add_missing, expected) in cases {
        assert_eq!(decide_claim(&claim, pods, add_missing), expected, "{name}");
    }
}

#[test]
fn finished_pods_still_hold_their_claims() {
    let mut done = pod("ns", Some("node-1"), uses_data());
    done.status = serde_json::from_value(json!({"phase": "Succeeded"})).unwrap();
    assert_eq!(
        decide_claim(&claim(true, &[PVC_PROTECTION]), [&done], true),
        FinalizerAction::Keep
    );
}

#[test]
fn ephemeral_claims_are_used_only_by_their_owning_live_pod() {
    let mut ephemeral_claim = claim(true, &[PVC_PROTECTION]);
    ephemeral_claim.metadata.name = Some("web-0-scratch".into());
    let volumes = json!([{"name": "scratch", "ephemeral": {"volumeClaimTemplate": {"spec": {}}}}]);
    let owner = pod("ns", Some("node-1"), volumes);
    assert!(
        !pod_uses_claim(&owner, &ephemeral_claim),
        "not owned by the pod"
    );
    ephemeral_claim.metadata.owner_references = Some(vec![
        serde_json::from_value(
            json!({"apiVersion": "v1", "kind": "Pod", "name": "web-0", "uid": "p1"}),
        )
        .unwrap(),
    ]);
    assert!(pod_uses_claim(&owner, &ephemeral_claim));
    let mut shut_down = owner.clone();
    shut_down.metadata.deletion_timestamp = claim(true, &[]).metadata.deletion_timestamp;
    shut_down.metadata.deletion_grace_period_seconds = Some(0);
    assert!(
        !pod_uses_claim(&shut_down, &ephemeral_claim),
        "a shut-down pod releases its ephemeral claim"
    );
    shut_down.metadata.deletion_grace_period_seconds = Some(30);
    assert!(
        pod_uses_claim(&shut_down, &ephemeral_claim),
        "a terminating pod still uses it"
    );
}

#[test]
fn volume_decisions() {
    use FinalizerAction::*;
    let cases = [
        (
            "live with finalizer",
            pv(false, &[PV_PROTECTION], "Bound"),
            true,
            Keep,
        ),
        (
            "live without finalizer",
            pv(false, &[], "Available"),
            true,
            Add,
        ),
        (
            "live without finalizer, adding off",
            pv(false, &[], "Available"),
            false,
            Keep,
        ),
        (
            "deleting bound",
            pv(true, &[PV_PROTECTION], "Bound"),
            true,
            Keep,
        ),
        (
            "deleting released",
            pv(true, &[PV_PROTECTION], "Released"),
            true,
            Remove,
        ),
        (
            "deleting available",
            pv(true, &[PV_PROTECTION], "Available"),
            true,
            Remove,
        ),
        (
            "deleting failed",
            pv(true, &[PV_PROTECTION], "Failed"),
            true,
            Remove,
        ),
        (
            "deleting without finalizer",
            pv(true, &["other"], "Released"),
            true,
            Keep,
        ),
    ];
    for (name, pv, add_missing, expected) in cases {
        assert_eq!(decide_volume(&pv, add_missing), expected, "{name}");
    }
}

#[test]
fn claims_of_a_pod() {
    let pod = pod(
        "ns",
        Some("n"),
        json!([
            {"name": "a", "persistentVolumeClaim": {"claimName": "data"}},
            {"name": "scratch", "ephemeral": {"volumeClaimTemplate": {"spec": {}}}},
            {"name": "tmp", "emptyDir": {}}
        ]),
    );
    assert_eq!(
        claims_of(&pod),
        [
            ("ns".to_string(), "data".to_string()),
            ("ns".to_string(), "web-0-scratch".to_string())
        ]
    );
}

#[test]
fn finalizer_lists_after_actions() {
    let claim = claim(false, &["a.io/x", PVC_PROTECTION]);
    assert_eq!(
        finalizers_after(&claim, PVC_PROTECTION, FinalizerAction::Keep),
        None
    );
    assert_eq!(
        finalizers_after(&claim, PVC_PROTECTION, FinalizerAction::Remove),
        Some(vec!["a.io/x".to_string()])
    );
    let bare = pv(false, &[], "Available");
    assert_eq!(
        finalizers_after(&bare, PV_PROTECTION, FinalizerAction::Add),
        Some(vec![PV_PROTECTION.to_string()])
    );
}
