//! Object builders for the scheduler's unit tests.

use std::sync::Arc;

use k8s_openapi::api::core::v1::{Node, PersistentVolume, PersistentVolumeClaim, Pod};
use k8s_openapi::api::storage::v1::{CSIDriver, CSIStorageCapacity, StorageClass};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_json::json;

use super::snapshot::{ANN_BIND_COMPLETED, ClaimKey, Snapshot};

fn from_json<T: serde::de::DeserializeOwned>(value: serde_json::Value) -> T {
    serde_json::from_value(value).unwrap()
}

/// A Ready node labelled with its hostname.
pub fn node(name: &str) -> Node {
    from_json(json!({
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
        "status": {"conditions": [{"type": "Ready", "status": "True"}]}
    }))
}

/// An unbound claim in `default` with uid `uid-<name>`, 1Gi, ReadWriteOnce.
pub fn claim(name: &str, class: &str) -> PersistentVolumeClaim {
    from_json(json!({
        "metadata": {"name": name, "namespace": "default", "uid": format!("uid-{name}"), "resourceVersion": "10"},
        "spec": {
            "storageClassName": class,
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": "1Gi"}}
        },
        "status": {"phase": "Pending"}
    }))
}

pub fn sized(mut claim: PersistentVolumeClaim, size: &str) -> PersistentVolumeClaim {
    let spec = claim.spec.get_or_insert_default();
    let requests = spec
        .resources
        .get_or_insert_default()
        .requests
        .get_or_insert_default();
    requests.insert(
        "storage".into(),
        k8s_openapi::apimachinery::pkg::api::resource::Quantity(size.into()),
    );
    claim
}

/// A claim bound by the binder to `volume`.
pub fn bound_claim(name: &str, class: &str, volume: &str) -> PersistentVolumeClaim {
    let mut c = claim(name, class);
    set_volume_name(&mut c, volume);
    annotate(&mut c.metadata, ANN_BIND_COMPLETED, "yes");
    c.status.get_or_insert_default().phase = Some("Bound".into());
    c
}

/// An Available volume with ReadWriteOnce and no node affinity.
pub fn volume(name: &str, class: &str, size: &str) -> PersistentVolume {
    from_json(json!({
        "metadata": {"name": name, "resourceVersion": "5"},
        "spec": {
            "storageClassName": class,
            "accessModes": ["ReadWriteOnce"],
            "capacity": {"storage": size},
            "hostPath": {"path": format!("/vols/{name}")}
        },
        "status": {"phase": "Available"}
    }))
}

/// Pins a volume to one node with `kubernetes.io/hostname In [node]`.
pub fn pinned(mut volume: PersistentVolume, node: &str) -> PersistentVolume {
    volume.spec.get_or_insert_default().node_affinity = Some(from_json(json!({
        "required": {"nodeSelectorTerms": [{"matchExpressions": [
            {"key": "kubernetes.io/hostname", "operator": "In", "values": [node]}
        ]}]}
    })));
    volume
}

pub fn set_volume_name(claim: &mut PersistentVolumeClaim, volume: &str) {
    claim.spec.get_or_insert_default().volume_name = Some(volume.into());
}

pub fn set_claim_ref(
    volume: &mut PersistentVolume,
    namespace: &str,
    name: &str,
    uid: Option<&str>,
) {
    volume.spec.get_or_insert_default().claim_ref = Some(from_json(json!({
        "kind": "PersistentVolumeClaim", "apiVersion": "v1",
        "namespace": namespace, "name": name, "uid": uid
    })));
}

pub fn annotate(meta: &mut ObjectMeta, key: &str, value: &str) {
    meta.annotations
        .get_or_insert_default()
        .insert(key.into(), value.into());
}

/// A class; `mode` is the volumeBindingMode.
pub fn class(name: &str, mode: &str, provisioner: &str) -> StorageClass {
    from_json(json!({
        "metadata": {"name": name},
        "provisioner": provisioner,
        "volumeBindingMode": mode
    }))
}

pub fn driver(name: &str, storage_capacity: bool) -> CSIDriver {
    from_json(json!({"metadata": {"name": name}, "spec": {"storageCapacity": storage_capacity}}))
}

pub fn capacity(name: &str, class: &str, node: &str, size: &str) -> CSIStorageCapacity {
    from_json(json!({
        "metadata": {"name": name, "namespace": "kube-system"},
        "storageClassName": class,
        "capacity": size,
        "nodeTopology": {"matchLabels": {"kubernetes.io/hostname": node}}
    }))
}

/// A pending pod of the default scheduler in `default`, uid `uid-<name>`, one volume per claim name.
pub fn pod(name: &str, claims: &[&str]) -> Pod {
    let volumes: Vec<_> = claims
        .iter()
        .map(|c| json!({"name": format!("vol-{c}"), "persistentVolumeClaim": {"claimName": c}}))
        .collect();
    from_json(json!({
        "metadata": {"name": name, "namespace": "default", "uid": format!("uid-{name}"), "resourceVersion": "7",
                     "creationTimestamp": "2025-01-01T00:00:00Z"},
        "spec": {"schedulerName": "default-scheduler", "containers": [{"name": "c", "image": "i"}], "volumes": volumes},
        "status": {"phase": "Pending"}
    }))
}

/// A pod already running on `node`.
pub fn running_on(name: &str, node: &str) -> Pod {
    let mut p = pod(name, &[]);
    p.spec.get_or_insert_default().node_name = Some(node.into());
    p.status.get_or_insert_default().phase = Some("Running".into());
    p
}

/// Builds a snapshot; nodes are sorted by name as the executor does.
#[derive(Default)]
pub struct SnapshotBuilder {
    snapshot: Snapshot,
}

impl SnapshotBuilder {
    pub fn nodes(mut self, names: &[&str]) -> Self {
        for name in names {
            self.snapshot.nodes.push(Arc::new(node(name)));
        }
        self
    }

    pub fn node(mut self, node: Node) -> Self {
        self.snapshot.nodes.push(Arc::new(node));
        self
    }

    pub fn pod(mut self, pod: Pod) -> Self {
        self.snapshot.pods.push(Arc::new(pod));
        self
    }

    pub fn claim(mut self, claim: PersistentVolumeClaim) -> Self {
        self.snapshot
            .claims
            .insert(ClaimKey::of(&claim), Arc::new(claim));
        self
    }

    pub fn volume(mut self, volume: PersistentVolume) -> Self {
        let name = volume.metadata.name.clone().unwrap_or_default();
        self.snapshot.volumes.insert(name, Arc::new(volume));
        self
    }

    pub fn class(mut self, class: StorageClass) -> Self {
        let name = class.metadata.name.clone().unwrap_or_default();
        self.snapshot.classes.insert(name, Arc::new(class));
        self
    }

    /// The usual classes: `wffc` (WaitForFirstConsumer, provisioner `berth.io/host`), `immediate`, and
    /// `static` (WaitForFirstConsumer, `kubernetes.io/no-provisioner`).
    pub fn standard_classes(self) -> Self {
        self.class(class("wffc", "WaitForFirstConsumer", "berth.io/host"))
            .class(class("immediate", "Immediate", "berth.io/host"))
            .class(class(
                "static",
                "WaitForFirstConsumer",
                "kubernetes.io/no-provisioner",
            ))
    }

    pub fn driver(mut self, driver: CSIDriver) -> Self {
        let name = driver.metadata.name.clone().unwrap_or_default();
        self.snapshot.drivers.insert(name, Arc::new(driver));
        self
    }

    pub fn capacity(mut self, capacity: CSIStorageCapacity) -> Self {
        self.snapshot.capacities.push(Arc::new(capacity));
        self
    }

    pub fn build(mut self) -> Snapshot {
        self.snapshot
            .nodes
            .sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
        self.snapshot
    }
}

pub fn snapshot() -> SnapshotBuilder {
    SnapshotBuilder::default()
}
