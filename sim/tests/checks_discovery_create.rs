//! Emulator-spec section 8, checks 1–11: discovery, transport, create and identity.

mod common;

use common::*;
use serde_json::json;

#[tokio::test]
async fn check_01_version_has_all_string_fields() {
    let sim = api_only().await;
    let r = Raw::get(&sim, "/version?timeout=5s").await;
    assert_eq!(r.status, 200);
    let v = r.json();
    for key in [
        "major",
        "minor",
        "gitVersion",
        "gitCommit",
        "gitTreeState",
        "buildDate",
        "goVersion",
        "compiler",
        "platform",
    ] {
        assert!(v[key].is_string(), "{key} missing or not a string in {v}");
    }
    let minor: u32 = v["minor"].as_str().unwrap().parse().unwrap();
    assert!((27..=33).contains(&minor));
    let info = sim.client().apiserver_version().await.unwrap();
    assert_eq!(info.git_version, "v1.33.1");
}

#[tokio::test]
async fn check_02_resource_lists_carry_pvcs_status_and_scale() {
    let sim = api_only().await;
    let core = Raw::get(&sim, "/api/v1").await.json();
    let resources = core["resources"].as_array().unwrap();
    let pvc = resources
        .iter()
        .find(|r| r["name"] == "persistentvolumeclaims")
        .unwrap();
    assert_eq!(pvc["namespaced"], true);
    assert!(
        pvc["shortNames"]
            .as_array()
            .unwrap()
            .contains(&json!("pvc"))
    );
    assert!(pvc["verbs"].as_array().unwrap().contains(&json!("watch")));
    assert!(
        resources
            .iter()
            .any(|r| r["name"] == "persistentvolumeclaims/status")
    );
    let apps = Raw::get(&sim, "/apis/apps/v1").await.json();
    let scale = apps["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "statefulsets/scale")
        .unwrap();
    assert_eq!(
        (
            scale["group"].as_str(),
            scale["version"].as_str(),
            scale["kind"].as_str()
        ),
        (Some("autoscaling"), Some("v1"), Some("Scale"))
    );
}

#[tokio::test]
async fn check_03_list_with_leading_ampersand_query() {
    let sim = api_only().await;
    let r = Raw::get(&sim, &format!("{PVCS}?&limit=500")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["kind"], "PersistentVolumeClaimList");
    assert_eq!(r.json()["items"], json!([]));
}

#[tokio::test]
async fn check_04_protobuf_first_accept_gets_json() {
    let sim = api_only().await;
    let r = Raw::get_with(
        &sim,
        &format!("{PVCS}?&limit=500"),
        &[(
            "Accept",
            "application/vnd.kubernetes.protobuf,application/json",
        )],
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    let only_protobuf = Raw::get_with(
        &sim,
        PVCS,
        &[("Accept", "application/vnd.kubernetes.protobuf")],
    )
    .await;
    assert_eq!(only_protobuf.status, 406);
}

#[tokio::test]
async fn check_05_openapi_v3_index_and_patch_field_validation() {
    let sim = api_only().await;
    let index = Raw::get(&sim, "/openapi/v3").await;
    assert_eq!(index.status, 200);
    let paths = &index.json()["paths"];
    assert!(paths["api/v1"].is_object() && paths["apis/apps/v1"].is_object());
    let url = paths["api/v1"]["serverRelativeURL"]
        .as_str()
        .unwrap()
        .to_string();
    let doc = Raw::get(&sim, &url).await.json();
    let patch =
        &doc["paths"]["/api/v1/namespaces/{namespace}/persistentvolumeclaims/{name}"]["patch"];
    assert_eq!(
        patch["x-kubernetes-group-version-kind"],
        json!({"group": "", "version": "v1", "kind": "PersistentVolumeClaim"})
    );
    assert!(
        patch["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "fieldValidation" && p["in"] == "query")
    );
    // the kubectl half of this check (apply sends fieldValidation=Strict, no /openapi/v2) is in kubectl.rs
}

#[tokio::test]
async fn check_06_create_pvc_assigns_identity_defaults_and_protection() {
    let sim = api_only().await;
    let r = Raw::post(&sim, PVCS, &pvc("data")).await;
    assert_eq!(r.status, 201);
    let p = r.json();
    let uid = p["metadata"]["uid"].as_str().unwrap();
    assert!(uuid::Uuid::parse_str(uid).is_ok(), "uid {uid}");
    let created = p["metadata"]["creationTimestamp"].as_str().unwrap();
    assert!(
        created.ends_with('Z') && !created.contains('.'),
        "creationTimestamp {created}"
    );
    assert!(
        p["metadata"]["resourceVersion"]
            .as_str()
            .unwrap()
            .parse::<u64>()
            .is_ok()
    );
    assert_eq!(
        p["metadata"]["finalizers"],
        json!(["kubernetes.io/pvc-protection"])
    );
    assert_eq!(p["spec"]["volumeMode"], "Filesystem");
    assert_eq!(p["status"]["phase"], "Pending");
}

#[tokio::test]
async fn check_07_create_existing_name_is_already_exists() {
    let sim = api_only().await;
    create(&sim, PVCS, &pvc("data")).await;
    let r = Raw::post(&sim, PVCS, &pvc("data")).await;
    assert_eq!(r.status, 409);
    let s = r.json();
    assert_eq!(s["reason"], "AlreadyExists");
    assert_eq!(s["details"]["kind"], "persistentvolumeclaims");
    assert_eq!(
        s["message"],
        "persistentvolumeclaims \"data\" already exists"
    );
}

#[tokio::test]
async fn check_08_generate_name_appends_five_safe_characters() {
    let sim = api_only().await;
    let mut body = pvc("");
    body["metadata"] = json!({"generateName": "data-"});
    let name = create(&sim, PVCS, &body).await["metadata"]["name"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(name.len(), 10);
    assert!(name.starts_with("data-"));
    assert!(
        name[5..]
            .chars()
            .all(|c| "bcdfghjklmnpqrstvwxz2456789".contains(c)),
        "{name}"
    );
}

#[tokio::test]
async fn check_09_create_in_missing_namespace_is_not_found() {
    let sim = api_only().await;
    let r = Raw::post(
        &sim,
        "/api/v1/namespaces/nope/persistentvolumeclaims",
        &pvc("data"),
    )
    .await;
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["reason"], "NotFound");
    assert_eq!(r.json()["message"], "namespaces \"nope\" not found");
}

#[tokio::test]
async fn check_10_create_with_resource_version_is_rejected() {
    let sim = api_only().await;
    let mut body = pvc("data");
    body["metadata"]["resourceVersion"] = json!("5");
    let r = Raw::post(&sim, PVCS, &body).await;
    assert!((400..500).contains(&r.status), "status {}", r.status);
}

#[tokio::test]
async fn check_11_local_pv_needs_node_affinity_and_storage_class_defaults() {
    let sim = api_only().await;
    let pv = json!({"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": "local-1"},
        "spec": {"accessModes": ["ReadWriteOnce"], "capacity": {"storage": "1Gi"}, "local": {"path": "/mnt/x"}}});
    let r = Raw::post(&sim, PVS, &pv).await;
    assert_eq!(r.status, 422);
    let s = r.json();
    assert_eq!(s["reason"], "Invalid");
    let cause = &s["details"]["causes"][0];
    assert_eq!(cause["field"], "spec.nodeAffinity");
    assert!(
        cause["message"]
            .as_str()
            .unwrap()
            .contains("Local volume requires node affinity")
    );
    let sc = json!({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": "fast"}, "provisioner": "berth.io/hostpath"});
    let created = create(&sim, "/apis/storage.k8s.io/v1/storageclasses", &sc).await;
    assert_eq!(created["volumeBindingMode"], "Immediate");
    assert_eq!(created["reclaimPolicy"], "Delete");
}
