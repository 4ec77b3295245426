//! Test helpers: an in-memory [`AdmissionLookup`] and request builders.

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde_json::Value;

use super::{AdmissionLookup, AdmissionRequest, Operation};

/// Objects of one resource keyed by (namespace, name).
type Objects = BTreeMap<(String, String), Value>;

/// Objects keyed by (group, resource).
#[derive(Default)]
pub(crate) struct MemoryLookup {
    objects: Mutex<BTreeMap<(String, String), Objects>>,
}

impl MemoryLookup {
    /// Stores (or replaces) an object, keyed by its metadata.namespace/name.
    pub(crate) fn put(&self, group: &str, resource: &str, object: Value) {
        let namespace = object
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let name = object
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let mut objects = self.objects.lock().unwrap();
        objects
            .entry((group.into(), resource.into()))
            .or_default()
            .insert((namespace, name), object);
    }
}

impl AdmissionLookup for MemoryLookup {
    fn list(&self, group: &str, resource: &str) -> Vec<Value> {
        let objects = self.objects.lock().unwrap();
        objects
            .get(&(group.into(), resource.into()))
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default()
    }

    fn get(
        &self,
        group: &str,
        resource: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Option<Value> {
        let objects = self.objects.lock().unwrap();
        let key = (namespace.unwrap_or("").to_string(), name.to_string());
        objects
            .get(&(group.into(), resource.into()))
            .and_then(|m| m.get(&key))
            .cloned()
    }
}

/// The kind served for the few resources the tests use.
fn kind_of(resource: &str) -> &'static str {
    match resource {
        "persistentvolumeclaims" => "PersistentVolumeClaim",
        "persistentvolumes" => "PersistentVolume",
        "namespaces" => "Namespace",
        "pods" => "Pod",
        "storageclasses" => "StorageClass",
        "configmaps" => "ConfigMap",
        "statefulsets" => "StatefulSet",
        _ => "Unknown",
    }
}

/// A main-resource request with version v1.
pub(crate) fn request<'a>(
    operation: Operation,
    group: &'a str,
    resource: &'a str,
    namespace: Option<&'a str>,
    name: &'a str,
) -> AdmissionRequest<'a> {
    AdmissionRequest {
        operation,
        group,
        version: "v1",
        resource,
        subresource: "",
        kind: kind_of(resource),
        namespace,
        name,
        dry_run: false,
        user_agent: "kubectl/v1.33.1",
        uid: "request-uid".into(),
    }
}
