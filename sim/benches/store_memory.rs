//! Memory per stored object: resident set growth of a berth-sim store holding 100,000 claims and 100,000 PVs
//! shaped like the ones Berth's tests create (watch history at its default limit included).
//!
//! Run: `cargo bench -p berth-sim --bench store_memory`. Prints one line per kind and the total.
use berth_sim::store::{Store, StoreConfig};
use serde_json::json;

const OBJECTS: usize = 100_000;

/// Resident set size in bytes, from /proc/self/statm (pages × 4 KiB).
fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

fn claim(i: usize) -> serde_json::Value {
    json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
        "metadata": {"name": format!("data-web-{i}"), "namespace": "default", "uid": format!("3f2a9c1e-0000-4000-8000-{i:012}"),
            "annotations": {"pv.kubernetes.io/bind-completed": "yes", "pv.kubernetes.io/bound-by-controller": "yes",
                "volume.kubernetes.io/storage-provisioner": "hostpath.berth.dev", "volume.kubernetes.io/selected-node": "node-1"},
            "finalizers": ["kubernetes.io/pvc-protection"], "labels": {"app": "web"}},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}},
            "storageClassName": "hostpath", "volumeMode": "Filesystem", "volumeName": format!("pvc-{i:012}")},
        "status": {"phase": "Bound", "accessModes": ["ReadWriteOnce"], "capacity": {"storage": "1Gi"}}})
}

fn volume(i: usize) -> serde_json::Value {
    json!({"apiVersion": "v1", "kind": "PersistentVolume",
        "metadata": {"name": format!("pvc-{i:012}"), "uid": format!("7b1d2e3f-0000-4000-8000-{i:012}"),
            "annotations": {"pv.kubernetes.io/provisioned-by": "hostpath.berth.dev"},
            "finalizers": ["kubernetes.io/pv-protection", "external-provisioner.volume.kubernetes.io/finalizer"]},
        "spec": {"accessModes": ["ReadWriteOnce"], "capacity": {"storage": "1Gi"}, "storageClassName": "hostpath",
            "persistentVolumeReclaimPolicy": "Delete", "volumeMode": "Filesystem",
            "local": {"path": format!("/var/lib/berth/hostpath/pvc-{i:012}")},
            "claimRef": {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "namespace": "default",
                "name": format!("data-web-{i}"), "uid": format!("3f2a9c1e-0000-4000-8000-{i:012}")},
            "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
                {"key": "kubernetes.io/hostname", "operator": "In", "values": ["node-1"]}]}]}}},
        "status": {"phase": "Bound"}})
}

fn main() {
    let store = Store::new(StoreConfig::default());
    let start = resident_bytes();
    for i in 0..OBJECTS {
        if let Err(error) = store.create("persistentvolumeclaims", claim(i)) {
            eprintln!("create claim {i}: {error:?}");
            std::process::exit(1);
        }
    }
    let after_claims = resident_bytes();
    for i in 0..OBJECTS {
        if let Err(error) = store.create("persistentvolumes", volume(i)) {
            eprintln!("create volume {i}: {error:?}");
            std::process::exit(1);
        }
    }
    let after_volumes = resident_bytes();
    let per = |bytes: u64| bytes as f64 / OBJECTS as f64;
    println!(
        "berth-sim store, {OBJECTS} objects per kind (resident set growth, watch history included):"
    );
    println!(
        "  claims:  {:>8.0} bytes/object",
        per(after_claims.saturating_sub(start))
    );
    println!(
        "  volumes: {:>8.0} bytes/object",
        per(after_volumes.saturating_sub(after_claims))
    );
    println!(
        "  total:   {:>8.1} MiB for {} objects",
        (after_volumes.saturating_sub(start)) as f64 / 1048576.0,
        2 * OBJECTS
    );
}
