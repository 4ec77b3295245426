//! Emulator-spec section 8, checks 35–40 (deletion, finalizers, grace periods, GC, protection) and
//! 43–44 (events, leases).

mod common;

use std::time::Duration;

use berth_sim::Sim;
use common::*;
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(10);
const PODS: &str = "/api/v1/namespaces/default/pods";
const STS: &str = "/apis/apps/v1/namespaces/default/statefulsets";

fn pod(name: &str, node: Option<&str>, claim: Option<&str>) -> Value {
    let mut p = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
        "spec": {"containers": [{"name": "c", "image": "busybox:1.36", "command": ["sleep", "3600"]}]}});
    if let Some(n) = node {
        p["spec"]["nodeName"] = json!(n);
    }
    if let Some(c) = claim {
        p["spec"]["volumes"] = json!([{"name": "data", "persistentVolumeClaim": {"claimName": c}}]);
    }
    p
}

/// A sim with the deletion machinery (GC, protection, namespace controllers) and kubelets, but no
/// scheduler or StatefulSet controller.
async fn with_controllers() -> Sim {
    Sim::builder()
        .nodes(2)
        .scheduler(false)
        .statefulset_controller(false)
        .start()
        .await
        .unwrap()
}

async fn wait_gone(sim: &Sim, path: &str) -> bool {
    for _ in 0..200 {
        if Raw::get(sim, path).await.status == 404 {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

#[tokio::test]
async fn check_35_pvc_in_use_by_a_scheduled_pod_waits_for_the_pod() {
    let sim = with_controllers().await;
    create(&sim, PVCS, &pvc("data")).await;
    create(&sim, PODS, &pod("user", Some("node-1"), Some("data"))).await;
    create(&sim, PODS, &pod("waiting", None, Some("data"))).await;
    let mut w = WatchStream::open(
        &sim,
        &format!(
            "{PVCS}?watch=true&resourceVersion={}",
            sim.resource_version()
        ),
        &[],
    )
    .await;
    let r = Raw::delete(&sim, &format!("{PVCS}/data"), &json!({})).await;
    assert_eq!(r.status, 200);
    assert!(r.json()["metadata"]["deletionTimestamp"].is_string());
    assert_eq!(Raw::get(&sim, &format!("{PVCS}/data")).await.status, 200);
    assert_eq!(w.next_change(WAIT).await["type"], "MODIFIED");
    assert_eq!(
        Raw::delete(&sim, &format!("{PODS}/user"), &json!({}))
            .await
            .status,
        200
    );
    assert!(
        wait_gone(&sim, &format!("{PODS}/user")).await,
        "the kubelet did not finish the pod"
    );
    loop {
        let e = w.next_change(Duration::from_secs(20)).await;
        if e["type"] == "DELETED" {
            break;
        }
    }
    assert_eq!(Raw::get(&sim, &format!("{PVCS}/data")).await.status, 404);
}

#[tokio::test]
async fn check_36_bound_pv_stays_until_released() {
    let sim = with_controllers().await;
    let pv = create(&sim, PVS, &hostpath_pv("pv-1")).await;
    assert_eq!(
        pv["metadata"]["finalizers"],
        json!(["kubernetes.io/pv-protection"])
    );
    let mut status = Raw::get(&sim, &format!("{PVS}/pv-1")).await.json();
    status["status"] = json!({"phase": "Bound"});
    assert_eq!(
        Raw::put(&sim, &format!("{PVS}/pv-1/status"), &status)
            .await
            .status,
        200
    );
    let r = Raw::delete(&sim, &format!("{PVS}/pv-1"), &json!({})).await;
    assert_eq!(r.status, 200);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let still = Raw::get(&sim, &format!("{PVS}/pv-1")).await;
    assert_eq!(still.status, 200, "a Bound PV must stay");
    let mut released = still.json();
    released["status"]["phase"] = json!("Released");
    assert_eq!(
        Raw::put(&sim, &format!("{PVS}/pv-1/status"), &released)
            .await
            .status,
        200
    );
    assert!(
        wait_gone(&sim, &format!("{PVS}/pv-1")).await,
        "the released PV was not removed"
    );
}

#[tokio::test]
async fn check_37_no_new_finalizers_while_deleting() {
    let sim = api_only().await;
    let cms = "/api/v1/namespaces/default/configmaps";
    create(&sim, cms, &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "finalizers": ["a.io/f"]}})).await;
    assert_eq!(
        Raw::delete(&sim, &format!("{cms}/c"), &json!({}))
            .await
            .status,
        200
    );
    let r = Raw::patch(
        &sim,
        &format!("{cms}/c"),
        "application/merge-patch+json",
        &json!({"metadata": {"finalizers": ["a.io/f", "b.io/f"]}}),
    )
    .await;
    assert_eq!(r.status, 422);
    assert!(
        r.json()["message"]
            .as_str()
            .unwrap()
            .contains("no new finalizers can be added"),
        "{}",
        r.text()
    );
}

#[tokio::test]
async fn check_38_pod_deletion_grace_periods() {
    let sim = api_only().await;
    create(&sim, PODS, &pod("scheduled", Some("node-1"), None)).await;
    create(&sim, PODS, &pod("unscheduled", None, None)).await;
    let before = chrono::Utc::now();
    let r = Raw::delete(&sim, &format!("{PODS}/scheduled"), &json!({})).await;
    assert_eq!(r.status, 200);
    let p = r.json();
    assert_eq!(p["metadata"]["deletionGracePeriodSeconds"], 30);
    let when =
        chrono::DateTime::parse_from_rfc3339(p["metadata"]["deletionTimestamp"].as_str().unwrap())
            .unwrap();
    let offset = (when.with_timezone(&chrono::Utc) - before).num_seconds();
    assert!(
        (28..=31).contains(&offset),
        "deletionTimestamp is {offset}s ahead"
    );
    let r = Raw::delete(&sim, &format!("{PODS}/unscheduled"), &json!({})).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        Raw::get(&sim, &format!("{PODS}/unscheduled")).await.status,
        404
    );
}

#[tokio::test]
async fn check_39_delete_precondition_on_uid() {
    let sim = api_only().await;
    create(&sim, PVCS, &pvc("data")).await;
    let r = Raw::delete(
        &sim,
        &format!("{PVCS}/data"),
        &json!({"preconditions": {"uid": "wrong"}}),
    )
    .await;
    assert_eq!(r.status, 409);
    assert_eq!(r.json()["reason"], "Conflict");
    assert!(
        r.json()["message"]
            .as_str()
            .unwrap()
            .contains("Precondition failed: UID")
    );
}

async fn claims_of(sim: &Sim) -> Vec<Value> {
    Raw::get(sim, PVCS).await.json()["items"]
        .as_array()
        .unwrap()
        .clone()
}

async fn statefulset_with_claims(sim: &Sim, name: &str, when_deleted: &str) {
    let mut sts = statefulset(name, 2);
    sts["spec"]["podManagementPolicy"] = json!("Parallel");
    sts["spec"]["persistentVolumeClaimRetentionPolicy"] =
        json!({"whenDeleted": when_deleted, "whenScaled": "Retain"});
    sts["spec"]["volumeClaimTemplates"] = json!([{"metadata": {"name": "data"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}]);
    create(sim, STS, &sts).await;
}

#[tokio::test]
async fn check_40_statefulset_deletion_and_delete_response_shapes() {
    let sim = Sim::builder()
        .nodes(2)
        .scheduler(false)
        .kubelets(false)
        .start()
        .await
        .unwrap();
    statefulset_with_claims(&sim, "keep", "Retain").await;
    statefulset_with_claims(&sim, "drop", "Delete").await;
    let mut ready = false;
    for _ in 0..100 {
        let pods = Raw::get(&sim, PODS).await.json()["items"]
            .as_array()
            .unwrap()
            .len();
        if pods == 4 && claims_of(&sim).await.len() == 4 {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        ready,
        "the StatefulSet controller did not create 4 pods and 4 claims"
    );
    let r = Raw::delete(
        &sim,
        &format!("{STS}/keep"),
        &json!({"propagationPolicy": "Background"}),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["kind"], "Status");
    assert_eq!(
        Raw::delete(
            &sim,
            &format!("{STS}/drop"),
            &json!({"propagationPolicy": "Background"})
        )
        .await
        .status,
        200
    );
    let mut settled = false;
    for _ in 0..200 {
        let pods = Raw::get(&sim, PODS).await.json()["items"]
            .as_array()
            .unwrap()
            .len();
        let names: Vec<String> = claims_of(&sim)
            .await
            .iter()
            .map(|c| c["metadata"]["name"].as_str().unwrap().to_string())
            .collect();
        if pods == 0 && names == vec!["data-keep-0", "data-keep-1"] {
            settled = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        settled,
        "pods should be gone, Delete claims gone and Retain claims kept"
    );
    for claim in claims_of(&sim).await {
        assert!(
            claim["metadata"].get("ownerReferences").is_none(),
            "retained claim has ownerReferences: {claim}"
        );
    }
    let sc = json!({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": "s"}, "provisioner": "x.io/p"});
    create(&sim, "/apis/storage.k8s.io/v1/storageclasses", &sc).await;
    let r = Raw::delete(&sim, "/apis/storage.k8s.io/v1/storageclasses/s", &json!({})).await;
    assert_eq!(r.json()["kind"], "Status");
    assert_eq!(r.json()["status"], "Success");
    let r = Raw::delete(&sim, &format!("{PVCS}/data-keep-0"), &json!({})).await;
    assert_eq!(r.json()["kind"], "PersistentVolumeClaim");
}

#[tokio::test]
async fn check_43_events_are_served_through_both_apis() {
    let sim = api_only().await;
    let event = |ns: &str| {
        json!({
            "apiVersion": "events.k8s.io/v1", "kind": "Event",
            "metadata": {"name": "pv-1.17a0", "namespace": ns},
            "eventTime": "2025-01-01T00:00:00.000000Z",
            "action": "Provisioning", "reason": "Provisioned", "note": "volume provisioned", "type": "Normal",
            "reportingController": "berth.io/provisioner", "reportingInstance": "berth-0",
            "regarding": {"apiVersion": "v1", "kind": "PersistentVolume", "name": "pv-1"},
        })
    };
    let r = Raw::post(
        &sim,
        "/apis/events.k8s.io/v1/namespaces/default/events",
        &event("default"),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let core = Raw::get(
        &sim,
        "/api/v1/namespaces/default/events?fieldSelector=involvedObject.name%3Dpv-1",
    )
    .await
    .json();
    assert_eq!(core["items"].as_array().unwrap().len(), 1);
    assert_eq!(core["items"][0]["message"], "volume provisioned");
    assert_eq!(core["items"][0]["apiVersion"], "v1");
    create(
        &sim,
        "/api/v1/namespaces",
        &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "foo"}}),
    )
    .await;
    let r = Raw::post(
        &sim,
        "/apis/events.k8s.io/v1/namespaces/foo/events",
        &event("foo"),
    )
    .await;
    assert_eq!(r.status, 422);
    assert!(
        r.json()["message"]
            .as_str()
            .unwrap()
            .contains("does not match event.namespace"),
        "{}",
        r.text()
    );
}

#[tokio::test]
async fn check_44_racing_lease_acquisitions_one_wins() {
    let sim = api_only().await;
    let leases = "/apis/coordination.k8s.io/v1/namespaces/default/leases";
    create(&sim, leases, &json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "leader"}, "spec": {}})).await;
    let seen = Raw::get(&sim, &format!("{leases}/leader")).await.json();
    let take = |holder: &str| {
        let mut l = seen.clone();
        l["spec"]["holderIdentity"] = json!(holder);
        l
    };
    let path = format!("{leases}/leader");
    let (body_a, body_b) = (take("a"), take("b"));
    let (a, b) = tokio::join!(
        Raw::put(&sim, &path, &body_a),
        Raw::put(&sim, &path, &body_b)
    );
    let mut codes = vec![a.status, b.status];
    codes.sort();
    assert_eq!(codes, vec![200, 409]);
}
