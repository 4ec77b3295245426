//! Emulator-spec section 8, checks 12–23: updates, optimistic concurrency, immutability, subresources,
//! and the four patch types.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{Value, json};

const MERGE: &str = "application/merge-patch+json";
const JSON_PATCH: &str = "application/json-patch+json";
const STRATEGIC: &str = "application/strategic-merge-patch+json";
const APPLY: &str = "application/apply-patch+yaml";
const LEASES: &str = "/apis/coordination.k8s.io/v1/namespaces/default/leases";
const STS: &str = "/apis/apps/v1/namespaces/default/statefulsets";
const SCS: &str = "/apis/storage.k8s.io/v1/storageclasses";
const CMS: &str = "/api/v1/namespaces/default/configmaps";

fn item(collection: &str, name: &str) -> String {
    format!("{collection}/{name}")
}

/// Sets a PVC's status through `/status` (as the binder would).
async fn set_claim_status(sim: &berth_sim::Sim, name: &str, status: Value) -> Value {
    let mut current = Raw::get(sim, &item(PVCS, name)).await.json();
    current["status"] = status;
    let r = Raw::put(sim, &format!("{}/status", item(PVCS, name)), &current).await;
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
}

#[tokio::test]
async fn check_12_put_with_stale_resource_version_conflicts() {
    let sim = api_only().await;
    let created = create(&sim, PVCS, &pvc("data")).await;
    let mut first = created.clone();
    first["metadata"]["labels"] = json!({"a": "1"});
    assert_eq!(
        Raw::put(&sim, &item(PVCS, "data"), &first).await.status,
        200
    );
    let mut stale = created;
    stale["metadata"]["labels"] = json!({"a": "2"});
    let r = Raw::put(&sim, &item(PVCS, "data"), &stale).await;
    assert_eq!(r.status, 409);
    assert_eq!(r.json()["reason"], "Conflict");
    assert!(
        r.json()["message"]
            .as_str()
            .unwrap()
            .contains("the object has been modified")
    );
}

#[tokio::test]
async fn check_13_unconditional_put_lease_rules_and_no_op_patch() {
    let sim = api_only().await;
    let mut p = create(&sim, PVCS, &pvc("data")).await;
    p["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("resourceVersion");
    p["metadata"]["labels"] = json!({"x": "y"});
    assert_eq!(Raw::put(&sim, &item(PVCS, "data"), &p).await.status, 200);

    let lease = json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "l1"}, "spec": {"holderIdentity": "a"}});
    create(&sim, LEASES, &lease).await;
    let r = Raw::put(&sim, &item(LEASES, "l1"), &lease).await;
    assert_eq!(r.status, 422);
    assert!(
        r.json()["message"]
            .as_str()
            .unwrap()
            .contains("must be specified for an update"),
        "{}",
        r.text()
    );
    let mut fresh = lease.clone();
    fresh["metadata"]["name"] = json!("l2");
    assert_eq!(
        Raw::put(&sim, &item(LEASES, "l2"), &fresh).await.status,
        201
    );

    let before = Raw::get(&sim, &item(PVCS, "data")).await.json();
    let mut watch = WatchStream::open(
        &sim,
        &format!("{PVCS}?watch=true&resourceVersion={}", rv(&before)),
        &[],
    )
    .await;
    let r = Raw::patch(
        &sim,
        &item(PVCS, "data"),
        MERGE,
        &json!({"metadata": {"labels": {"x": "y"}}}),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(rv(&r.json()), rv(&before));
    assert_eq!(
        watch.next_line(Duration::from_millis(500)).await,
        None,
        "a no-op write produced an event"
    );
}

#[tokio::test]
async fn check_14_pvc_access_modes_are_immutable() {
    let sim = api_only().await;
    let mut p = create(&sim, PVCS, &pvc("data")).await;
    p["spec"]["accessModes"] = json!(["ReadWriteMany"]);
    let r = Raw::put(&sim, &item(PVCS, "data"), &p).await;
    assert_eq!(r.status, 422);
    let s = r.json();
    assert_eq!(s["details"]["causes"][0]["field"], "spec");
    assert_eq!(s["details"]["causes"][0]["reason"], "FieldValueForbidden");
    assert!(
        s["message"]
            .as_str()
            .unwrap()
            .contains("spec is immutable after creation")
    );
}

#[tokio::test]
async fn check_15_volume_name_may_be_set_once() {
    let sim = api_only().await;
    let mut p = create(&sim, PVCS, &pvc("data")).await;
    p["spec"]["volumeName"] = json!("pv-1");
    let r = Raw::put(&sim, &item(PVCS, "data"), &p).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let mut again = r.json();
    again["spec"]["volumeName"] = json!("pv-2");
    assert_eq!(
        Raw::put(&sim, &item(PVCS, "data"), &again).await.status,
        422
    );
}

#[tokio::test]
async fn check_16_storage_requests_follow_the_expansion_rules() {
    let sim = api_only().await;
    let grow = |p: &Value, size: &str| {
        let mut p = p.clone();
        p["spec"]["resources"]["requests"]["storage"] = json!(size);
        p
    };
    let mut body = pvc("data");
    body["spec"]["storageClassName"] = json!("fixed");
    let pending = create(&sim, PVCS, &body).await;
    let r = Raw::put(&sim, &item(PVCS, "data"), &grow(&pending, "2Gi")).await;
    assert_eq!(r.status, 422);
    assert!(
        r.json()["message"]
            .as_str()
            .unwrap()
            .contains("spec is immutable")
    );

    create(&sim, SCS, &json!({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": "fixed"}, "provisioner": "x.io/p"})).await;
    let bound = set_claim_status(
        &sim,
        "data",
        json!({"phase": "Bound", "capacity": {"storage": "1Gi"}}),
    )
    .await;
    let r = Raw::put(&sim, &item(PVCS, "data"), &grow(&bound, "2Gi")).await;
    assert_eq!(r.status, 403, "{}", r.text());
    assert!(
        r.json()["message"]
            .as_str()
            .unwrap()
            .contains("only dynamically provisioned pvc can be resized")
    );

    let mut sc = Raw::get(&sim, &item(SCS, "fixed")).await.json();
    sc["allowVolumeExpansion"] = json!(true);
    assert_eq!(Raw::put(&sim, &item(SCS, "fixed"), &sc).await.status, 200);
    let bound = Raw::get(&sim, &item(PVCS, "data")).await.json();
    let r = Raw::put(&sim, &item(PVCS, "data"), &grow(&bound, "2Gi")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = Raw::put(&sim, &item(PVCS, "data"), &grow(&r.json(), "512Mi")).await;
    assert_eq!(r.status, 422);
    assert!(
        r.json()["message"]
            .as_str()
            .unwrap()
            .contains("less than status.capacity"),
        "{}",
        r.text()
    );
}

#[tokio::test]
async fn check_17_spec_and_status_are_written_separately() {
    let sim = api_only().await;
    let mut p = create(&sim, PVCS, &pvc("data")).await;
    p["status"] = json!({"phase": "Bound"});
    let r = Raw::put(&sim, &item(PVCS, "data"), &p).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["status"], json!({"phase": "Pending"}));
    let mut s = r.json();
    s["spec"]["resources"]["requests"]["storage"] = json!("5Gi");
    s["status"] = json!({"phase": "Bound"});
    let r = Raw::put(&sim, &format!("{}/status", item(PVCS, "data")), &s).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["spec"]["resources"]["requests"]["storage"], "1Gi");
    assert_eq!(r.json()["status"]["phase"], "Bound");
}

#[tokio::test]
async fn check_18_generation_and_scale_subresource() {
    let sim = api_only().await;
    let created = create(&sim, STS, &statefulset("web", 1)).await;
    assert_eq!(created["metadata"]["generation"], 1);
    let r = Raw::patch(
        &sim,
        &item(STS, "web"),
        MERGE,
        &json!({"spec": {"replicas": 2}}),
    )
    .await;
    assert_eq!(r.json()["metadata"]["generation"], 2);
    let r = Raw::patch(
        &sim,
        &format!("{}/status", item(STS, "web")),
        MERGE,
        &json!({"status": {"replicas": 2}}),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["metadata"]["generation"], 2);
    let r = Raw::patch(
        &sim,
        &format!("{}/scale", item(STS, "web")),
        MERGE,
        &json!({"spec": {"replicas": 5}}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["kind"], "Scale");
    assert_eq!(r.json()["spec"]["replicas"], 5);
    let sts = Raw::get(&sim, &item(STS, "web")).await.json();
    assert_eq!(sts["spec"]["replicas"], 5);
    assert_eq!(sts["metadata"]["generation"], 3);
    let scale = Raw::get(&sim, &format!("{}/scale", item(STS, "web")))
        .await
        .json();
    assert_eq!(scale["status"]["selector"], "app=web");
    assert_eq!(scale["status"]["replicas"], 2);
}

#[tokio::test]
async fn check_19_json_patch_test_of_missing_finalizers_against_null() {
    let sim = api_only().await;
    // a ConfigMap: no protection plugin adds finalizers to it
    create(
        &sim,
        CMS,
        &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}),
    )
    .await;
    let ops = json!([{"op": "test", "path": "/metadata/finalizers", "value": null},
                     {"op": "add", "path": "/metadata/finalizers", "value": ["x.io/f"]}]);
    let r = Raw::patch(&sim, &item(CMS, "c"), JSON_PATCH, &ops).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["metadata"]["finalizers"], json!(["x.io/f"]));
    assert_eq!(
        Raw::patch(&sim, &item(CMS, "c"), JSON_PATCH, &ops)
            .await
            .status,
        422
    );
}

#[tokio::test]
async fn check_20_merge_patch_with_stale_resource_version_conflicts() {
    let sim = api_only().await;
    let created = create(&sim, PVCS, &pvc("data")).await;
    Raw::patch(
        &sim,
        &item(PVCS, "data"),
        MERGE,
        &json!({"metadata": {"labels": {"a": "1"}}}),
    )
    .await;
    let stale = json!({"metadata": {"resourceVersion": created["metadata"]["resourceVersion"], "labels": {"a": "2"}}});
    let r = Raw::patch(&sim, &item(PVCS, "data"), MERGE, &stale).await;
    assert_eq!(r.status, 409);
    assert_eq!(r.json()["reason"], "Conflict");
}

#[tokio::test]
async fn check_21_strategic_merge_adds_finalizers_merge_replaces() {
    let sim = api_only().await;
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "finalizers": ["a.io/f"]}});
    create(&sim, CMS, &cm).await;
    let body = json!({"metadata": {"finalizers": ["b.io/f"]}});
    let r = Raw::patch(&sim, &item(CMS, "c"), STRATEGIC, &body).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let mut finalizers: Vec<String> =
        serde_json::from_value(r.json()["metadata"]["finalizers"].clone()).unwrap();
    finalizers.sort();
    assert_eq!(finalizers, vec!["a.io/f", "b.io/f"]);
    let r = Raw::patch(&sim, &item(CMS, "c"), MERGE, &body).await;
    assert_eq!(r.json()["metadata"]["finalizers"], json!(["b.io/f"]));
}

#[tokio::test]
async fn check_22_server_side_apply_managers_conflicts_and_force() {
    let sim = api_only().await;
    let cm = |v: &str| json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "applied"}, "data": {"k": v}});
    let path = item(CMS, "applied");
    let r = Raw::patch(&sim, &path, APPLY, &cm("1")).await;
    assert_eq!(r.status, 422, "apply without fieldManager: {}", r.text());
    let r = Raw::patch(&sim, &format!("{path}?fieldManager=alice"), APPLY, &cm("1")).await;
    assert_eq!(r.status, 201, "{}", r.text());
    let r = Raw::patch(&sim, &format!("{path}?fieldManager=bob"), APPLY, &cm("2")).await;
    assert_eq!(r.status, 409, "{}", r.text());
    let causes = r.json()["details"]["causes"].clone();
    assert!(
        causes
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["reason"] == "FieldManagerConflict"),
        "{causes}"
    );
    let r = Raw::patch(
        &sim,
        &format!("{path}?fieldManager=bob&force=true"),
        APPLY,
        &cm("2"),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["data"]["k"], "2");
}

#[tokio::test]
async fn check_23_patch_with_unknown_content_type_is_415() {
    let sim = api_only().await;
    create(&sim, PVCS, &pvc("data")).await;
    let r = Raw::send(
        &sim,
        "PATCH",
        &item(PVCS, "data"),
        &[("Content-Type", "text/plain")],
        Some(b"{}"),
    )
    .await;
    assert_eq!(r.status, 415);
    assert_eq!(r.json()["reason"], "UnsupportedMediaType");
}
