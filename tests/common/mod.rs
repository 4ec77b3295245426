//! Shared harness of Berth's integration tests: a berth-sim cluster, object helpers, and bounded waits.
#![allow(dead_code)] // each test crate uses a different subset

use std::fmt::Debug;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Event, PersistentVolume, PersistentVolumeClaim};
use kube::api::{Api, ListParams, PostParams};
use kube::{Client, Resource};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// How long a test waits for the cluster to converge before failing with the last observed state. A bound on
/// failure, not a performance assertion.
pub const CONVERGE: Duration = Duration::from_secs(30);

/// A typed object from JSON (panics with the JSON on a mistake in the test itself).
pub fn object<K: DeserializeOwned>(value: serde_json::Value) -> K {
    match serde_json::from_value(value.clone()) {
        Ok(object) => object,
        Err(error) => panic!("bad test object {value}: {error}"),
    }
}

pub async fn create<K>(api: &Api<K>, value: serde_json::Value) -> K
where
    K: Resource + Clone + DeserializeOwned + Serialize + Debug,
{
    let object: K = object(value);
    match api.create(&PostParams::default(), &object).await {
        Ok(created) => created,
        Err(error) => panic!("create {object:?}: {error}"),
    }
}

/// Polls `name` until `done` holds, or panics after [`CONVERGE`] with `what` and the last observed object.
pub async fn wait_for<K, F>(api: &Api<K>, name: &str, what: &str, done: F) -> K
where
    K: Resource + Clone + DeserializeOwned + Debug,
    F: Fn(&K) -> bool,
{
    let deadline = tokio::time::Instant::now() + CONVERGE;
    loop {
        let last = match api.get_opt(name).await {
            Ok(Some(object)) if done(&object) => return object,
            Ok(observed) => format!("{observed:#?}"),
            Err(error) => format!("error: {error}"),
        };
        if tokio::time::Instant::now() > deadline {
            panic!("timed out waiting for {name}: {what}; last observed: {last}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Polls `check` until it returns Some, or panics after [`CONVERGE`] with `what`.
pub async fn eventually<T, F, Fut>(what: &str, check: F) -> T
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + CONVERGE;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("timed out waiting for: {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub fn claim_phase(claim: &PersistentVolumeClaim) -> &str {
    claim
        .status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("")
}

pub fn volume_phase(volume: &PersistentVolume) -> &str {
    volume
        .status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("")
}

pub fn volume_name(claim: &PersistentVolumeClaim) -> &str {
    claim
        .spec
        .as_ref()
        .and_then(|s| s.volume_name.as_deref())
        .unwrap_or("")
}

pub fn annotation<'a, K: Resource>(object: &'a K, key: &str) -> Option<&'a str> {
    object
        .meta()
        .annotations
        .as_ref()?
        .get(key)
        .map(String::as_str)
}

/// `(reason, message)` of every event about the object named `name` in `namespace` (core/v1 view, which also
/// shows events written through events.k8s.io/v1).
pub async fn events_about(client: &Client, namespace: &str, name: &str) -> Vec<(String, String)> {
    let api: Api<Event> = Api::namespaced(client.clone(), namespace);
    let params = ListParams::default().fields(&format!("involvedObject.name={name}"));
    match api.list(&params).await {
        Ok(list) => list
            .items
            .into_iter()
            .map(|event| {
                (
                    event.reason.unwrap_or_default(),
                    event.message.unwrap_or_default(),
                )
            })
            .collect(),
        Err(error) => panic!("list events about {namespace}/{name}: {error}"),
    }
}

/// Waits until an event with `reason` about `name` exists and returns its message.
pub async fn wait_for_event(client: &Client, namespace: &str, name: &str, reason: &str) -> String {
    eventually(
        &format!("event {reason} about {namespace}/{name}"),
        || async {
            events_about(client, namespace, name)
                .await
                .into_iter()
                .find(|(r, _)| r == reason)
                .map(|(_, message)| message)
        },
    )
    .await
}

pub fn pv_json(name: &str, size: &str, class: &str, modes: &[&str]) -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "v1", "kind": "PersistentVolume",
        "metadata": {"name": name},
        "spec": {
            "capacity": {"storage": size},
            "accessModes": modes,
            "storageClassName": class,
            "persistentVolumeReclaimPolicy": "Retain",
            "hostPath": {"path": format!("/tmp/{name}")}
        }
    })
}

pub fn claim_json(
    namespace: &str,
    name: &str,
    size: &str,
    class: Option<&str>,
) -> serde_json::Value {
    let mut claim = serde_json::json!({
        "apiVersion": "v1", "kind": "PersistentVolumeClaim",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}}
    });
    if let Some(class) = class {
        claim["spec"]["storageClassName"] = class.into();
    }
    claim
}

pub fn class_json(name: &str, provisioner: &str, mode: &str, reclaim: &str) -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
        "metadata": {"name": name},
        "provisioner": provisioner,
        "volumeBindingMode": mode,
        "reclaimPolicy": reclaim
    })
}
