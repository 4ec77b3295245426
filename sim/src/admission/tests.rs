//! Tests of the whole chain (plugin order and interplay) without webhooks.

use serde_json::json;

use super::testing::{MemoryLookup, request};
use super::*;

fn lookup() -> MemoryLookup {
    let lookup = MemoryLookup::default();
    lookup.put(
        "",
        "namespaces",
        json!({"metadata": {"name": "ns"}, "status": {"phase": "Active"}}),
    );
    lookup.put(
        "storage.k8s.io",
        "storageclasses",
        json!({"metadata": {"name": "fast", "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}}}),
    );
    lookup
}

fn claim() -> Value {
    json!({"metadata": {"name": "data", "namespace": "ns"}, "spec": {"resources": {"requests": {"storage": "1Gi"}}}})
}

#[tokio::test]
async fn create_gets_protection_and_default_class_only_when_enabled() {
    let req = request(
        Operation::Create,
        "",
        "persistentvolumeclaims",
        Some("ns"),
        "data",
    );
    let off = admit(&AdmissionConfig::default(), &lookup(), &req, claim(), None)
        .await
        .expect("admitted");
    assert_eq!(
        off["metadata"]["finalizers"],
        json!(["kubernetes.io/pvc-protection"])
    );
    assert_eq!(off["spec"].get("storageClassName"), None);

    let cfg = AdmissionConfig {
        builtin_default_storage_class: true,
        ..Default::default()
    };
    let on = admit(&cfg, &lookup(), &req, claim(), None)
        .await
        .expect("admitted");
    assert_eq!(on["spec"]["storageClassName"], "fast");
    assert_eq!(
        on["metadata"]["finalizers"],
        json!(["kubernetes.io/pvc-protection"])
    );
}

#[tokio::test]
async fn namespace_lifecycle_runs_first() {
    let cfg = AdmissionConfig {
        builtin_default_storage_class: true,
        ..Default::default()
    };
    let req = request(
        Operation::Create,
        "",
        "persistentvolumeclaims",
        Some("nope"),
        "data",
    );
    let err = admit(&cfg, &lookup(), &req, claim(), None)
        .await
        .expect_err("missing namespace");
    assert_eq!((err.http_status(), err.reason()), (404, "NotFound"));
    assert_eq!(
        err.status(),
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
               "message": "namespaces \"nope\" not found", "reason": "NotFound",
               "details": {"name": "nope", "kind": "namespaces"}, "code": 404})
    );
}

#[tokio::test]
async fn resize_in_admit_spares_unbound_claims_but_validate_does_not() {
    let cfg = AdmissionConfig::default();
    let req = request(
        Operation::Update,
        "",
        "persistentvolumeclaims",
        Some("ns"),
        "data",
    );
    let mut old = claim();
    old["status"] = json!({"phase": "Pending"});
    let mut grown = old.clone();
    grown["spec"]["resources"]["requests"]["storage"] = json!("2Gi");
    let admitted = admit(&cfg, &lookup(), &req, grown.clone(), Some(&old))
        .await
        .expect("left to validation");
    assert_eq!(admitted, grown);
    let err = validate(&cfg, &lookup(), &req, &grown, Some(&old))
        .await
        .expect_err("not bound");
    assert_eq!(
        err.message(),
        "persistentvolumeclaims \"data\" is forbidden: Only bound persistent volume claims can be expanded"
    );

    old["status"] = json!({"phase": "Bound"});
    let err = admit(&cfg, &lookup(), &req, grown.clone(), Some(&old))
        .await
        .expect_err("class-less claim");
    assert_eq!((err.http_status(), err.reason()), (403, "Forbidden"));
    let err = validate(&cfg, &lookup(), &req, &grown, Some(&old))
        .await
        .expect_err("class-less claim");
    assert_eq!(
        err,
        AdmissionError::ExpandClaim {
            name: "data".into(),
            rejection: ResizeRejection::ClassForbidsExpansion
        }
    );
}

#[tokio::test]
async fn delete_returns_the_object_unchanged() {
    let cfg = AdmissionConfig::default();
    let req = request(
        Operation::Delete,
        "",
        "persistentvolumeclaims",
        Some("ns"),
        "data",
    );
    let stored = claim();
    assert_eq!(
        admit(&cfg, &lookup(), &req, stored.clone(), None).await,
        Ok(stored)
    );
}
