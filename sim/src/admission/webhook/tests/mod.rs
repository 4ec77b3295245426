//! Webhook dispatch against a real in-process TLS webhook server: shared fixtures.

mod calls;
mod selection;

use std::sync::Arc;

use serde_json::{Value, json};

use super::test_server::{Answer, TestWebhook, response_to};
use crate::admission::testing::{MemoryLookup, request};
use crate::admission::{AdmissionConfig, AdmissionError, AdmissionRequest, Operation, admit};

const ADD_CLASS: &str = r#"[{"op":"add","path":"/spec/storageClassName","value":"berth-local"}]"#;

fn add_class_patch() -> Value {
    serde_json::from_str(ADD_CLASS).unwrap()
}

fn lookup() -> MemoryLookup {
    let lookup = MemoryLookup::default();
    lookup.put(
        "",
        "namespaces",
        json!({"metadata": {"name": "ns", "labels": {"team": "a"}}}),
    );
    lookup.put("", "namespaces", json!({"metadata": {"name": "other"}}));
    lookup
}

/// A webhook entry for CREATE persistentvolumeclaims at `url`, merged with `extra`.
fn webhook(name: &str, url: &str, ca_bundle: &str, extra: Value) -> Value {
    let mut webhook = json!({
        "name": name,
        "clientConfig": {"url": url, "caBundle": ca_bundle},
        "rules": [{"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"], "resources": ["persistentvolumeclaims"]}],
        "sideEffects": "None",
        "admissionReviewVersions": ["v1"],
    });
    if let (Some(target), Some(extra)) = (webhook.as_object_mut(), extra.as_object()) {
        target.extend(extra.clone());
    }
    webhook
}

fn register(lookup: &MemoryLookup, configuration: &str, webhooks: Vec<Value>) {
    lookup.put(
        "admissionregistration.k8s.io",
        "mutatingwebhookconfigurations",
        json!({"apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingWebhookConfiguration",
               "metadata": {"name": configuration}, "webhooks": webhooks}),
    );
}

fn claim() -> Value {
    json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
           "metadata": {"name": "data", "namespace": "ns", "labels": {"app": "db"}},
           "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}})
}

fn create_claim() -> AdmissionRequest<'static> {
    request(
        Operation::Create,
        "",
        "persistentvolumeclaims",
        Some("ns"),
        "data",
    )
}

async fn admit_claim(lookup: &MemoryLookup) -> Result<Value, AdmissionError> {
    admit(
        &AdmissionConfig::default(),
        lookup,
        &create_claim(),
        claim(),
        None,
    )
    .await
}

/// A webhook that answers every review with `answer(review)`.
async fn serving(answer: impl Fn(&Value) -> Answer + Send + Sync + 'static) -> TestWebhook {
    TestWebhook::start(Arc::new(answer)).await
}

/// A webhook that denies everything: being called at all makes the admission fail.
async fn denying() -> TestWebhook {
    serving(|review| {
        Answer::json(response_to(
            review,
            json!({"allowed": false, "status": {"message": "called"}}),
        ))
    })
    .await
}
