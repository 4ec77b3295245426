//! Helpers shared by the integration tests: starting sims and a raw HTTP/1.1 client that shows exactly
//! what the server sends (status, headers, chunked framing, watch lines).
#![allow(dead_code)]

pub mod http;

use std::time::Duration;

use berth_sim::Sim;
use serde_json::{Value, json};

#[allow(unused_imports)]
pub use http::{Raw, WatchStream};

/// A bare API server: no scheduler, controllers or kubelets.
pub async fn api_only() -> Sim {
    Sim::builder()
        .api_only()
        .nodes(2)
        .bookmark_interval(Duration::from_secs(1))
        .start()
        .await
        .unwrap()
}

pub fn pvc(name: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": name},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    })
}

pub fn pvc_labelled(name: &str, app: &str) -> Value {
    let mut p = pvc(name);
    p["metadata"]["labels"] = json!({"app": app});
    p
}

pub fn hostpath_pv(name: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": name},
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "capacity": {"storage": "1Gi"},
            "hostPath": {"path": format!("/tmp/{name}")},
        },
    })
}

pub fn statefulset(name: &str, replicas: i64) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "serviceName": name,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "c", "image": "busybox:1.36"}]},
            },
        },
    })
}

pub const PVCS: &str = "/api/v1/namespaces/default/persistentvolumeclaims";
pub const PVS: &str = "/api/v1/persistentvolumes";

/// POSTs `object` to `collection` and returns the created object (asserting 201).
pub async fn create(sim: &Sim, collection: &str, object: &Value) -> Value {
    let r = Raw::post(sim, collection, object).await;
    assert_eq!(r.status, 201, "create in {collection} failed: {}", r.text());
    r.json()
}

pub fn rv(object: &Value) -> u64 {
    object["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}
