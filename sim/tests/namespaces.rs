//! Namespace lifecycle: Terminating on delete, content removed by the namespace controller, creation
//! into a terminating namespace forbidden, initial namespaces protected.

mod common;

use std::time::Duration;

use berth_sim::Sim;
use common::*;
use serde_json::json;

#[tokio::test]
async fn deleting_a_namespace_removes_its_content_then_itself() {
    let sim = Sim::builder()
        .nodes(1)
        .scheduler(false)
        .statefulset_controller(false)
        .kubelets(false)
        .start()
        .await
        .unwrap();
    create(
        &sim,
        "/api/v1/namespaces",
        &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}}),
    )
    .await;
    let cms = "/api/v1/namespaces/team/configmaps";
    create(
        &sim,
        cms,
        &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}),
    )
    .await;
    create(
        &sim,
        "/api/v1/namespaces/team/persistentvolumeclaims",
        &pvc("data"),
    )
    .await;

    let r = Raw::delete(&sim, "/api/v1/namespaces/team", &json!({})).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["status"]["phase"], "Terminating");
    assert!(r.json()["metadata"]["deletionTimestamp"].is_string());
    let refused = Raw::post(
        &sim,
        cms,
        &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "late"}}),
    )
    .await;
    assert_eq!(refused.status, 403, "{}", refused.text());

    let mut gone = false;
    for _ in 0..200 {
        if Raw::get(&sim, "/api/v1/namespaces/team").await.status == 404 {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(gone, "the namespace was never removed");
    let left = Raw::get(&sim, "/api/v1/configmaps").await.json();
    assert!(
        left["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["metadata"]["namespace"] != "team")
    );
}

#[tokio::test]
async fn initial_namespaces_cannot_be_deleted() {
    let sim = api_only().await;
    for ns in ["default", "kube-system", "kube-public"] {
        let r = Raw::delete(&sim, &format!("/api/v1/namespaces/{ns}"), &json!({})).await;
        assert_eq!(r.status, 403, "{ns}: {}", r.text());
    }
}
