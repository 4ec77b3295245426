//! Registry behaviour without HTTP: dry runs, finalizer-driven deletion, no-op writes.

use std::sync::Arc;

use serde_json::{Value, json};

use super::*;
use crate::patch::PatchType;
use crate::store::StoreConfig;

fn registry() -> Registry {
    Registry::new(
        Arc::new(Store::new(StoreConfig::default())),
        AdmissionConfig::default(),
    )
}

fn opts() -> WriteOptions {
    WriteOptions {
        user_agent: "unit-test/1".into(),
        ..WriteOptions::default()
    }
}

fn configmaps() -> &'static ResourceType {
    catalog::find("", "v1", "configmaps").unwrap()
}

async fn with_default_namespace() -> Registry {
    let r = registry();
    let ns = catalog::find("", "v1", "namespaces").unwrap();
    r.create(ns, "", json!({"metadata": {"name": "default"}}), &opts())
        .await
        .unwrap();
    r
}

fn cm(name: &str, finalizers: &[&str]) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "finalizers": finalizers}, "data": {"a": "1"}})
}

#[tokio::test]
async fn dry_run_create_does_not_persist() {
    let r = with_default_namespace().await;
    let dry = WriteOptions {
        dry_run: true,
        ..opts()
    };
    let rv = r.store().current_rv();
    let w = r
        .create(configmaps(), "default", cm("c", &[]), &dry)
        .await
        .unwrap();
    assert_eq!(w.object["metadata"]["name"], "c");
    assert_eq!(r.store().current_rv(), rv);
    assert!(r.store().get("configmaps", "default", "c").is_none());
}

#[tokio::test]
async fn removing_the_last_finalizer_of_a_deleting_object_deletes_it() {
    let r = with_default_namespace().await;
    r.create(configmaps(), "default", cm("c", &["a.io/f"]), &opts())
        .await
        .unwrap();
    let outcome = r
        .delete(
            configmaps(),
            "default",
            "c",
            &DeleteOptions::default(),
            &opts(),
        )
        .await
        .unwrap();
    let DeleteOutcome::Object { object, .. } = outcome else {
        panic!("pending deletion returns the object")
    };
    assert!(object["metadata"]["deletionTimestamp"].is_string());
    assert_eq!(object["metadata"]["deletionGracePeriodSeconds"], 0);
    let request = PatchRequest {
        patch_type: PatchType::Json,
        body: br#"[{"op":"remove","path":"/metadata/finalizers/0"}]"#.to_vec(),
        force: false,
    };
    r.patch(configmaps(), None, "default", "c", &request, &opts())
        .await
        .unwrap();
    assert!(r.store().get("configmaps", "default", "c").is_none());
}

#[tokio::test]
async fn unchanged_merge_patch_keeps_the_resource_version() {
    let r = with_default_namespace().await;
    let created = r
        .create(configmaps(), "default", cm("c", &[]), &opts())
        .await
        .unwrap();
    let request = PatchRequest {
        patch_type: PatchType::Merge,
        body: br#"{"data":{"a":"1"}}"#.to_vec(),
        force: false,
    };
    let patched = r
        .patch(configmaps(), None, "default", "c", &request, &opts())
        .await
        .unwrap();
    assert_eq!(
        patched.object["metadata"]["resourceVersion"],
        created.object["metadata"]["resourceVersion"]
    );
}

#[tokio::test]
async fn field_manager_defaults_to_the_user_agent_product() {
    let o = WriteOptions {
        user_agent: "kubectl-label/v1.33.1 (linux/amd64)".into(),
        ..WriteOptions::default()
    };
    assert_eq!(o.manager(), "kubectl-label");
    let explicit = WriteOptions {
        field_manager: Some("berth".into()),
        ..o
    };
    assert_eq!(explicit.manager(), "berth");
}
