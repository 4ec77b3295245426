//! The objects a fresh cluster starts with: the initial namespaces and the simulated Nodes.

use serde_json::{Value, json};

/// Namespaces every cluster has.
pub const INITIAL_NAMESPACES: &[&str] =
    &["default", "kube-system", "kube-public", "kube-node-lease"];

pub fn namespace(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
}

/// Name of the `index`-th simulated node (1-based).
pub fn node_name(index: usize) -> String {
    format!("node-{index}")
}

/// A Ready node as a kubelet would register it.
pub fn node(index: usize) -> Value {
    let name = node_name(index);
    let now = crate::meta::now_rfc3339();
    let condition = |kind: &str, status: &str, reason: &str, message: &str| {
        json!({"type": kind, "status": status, "reason": reason, "message": message,
               "lastHeartbeatTime": now, "lastTransitionTime": now})
    };
    let resources =
        json!({"cpu": "4", "memory": "16Gi", "pods": "110", "ephemeral-storage": "100Gi"});
    json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "beta.kubernetes.io/os": "linux",
                "beta.kubernetes.io/arch": "amd64",
            },
        },
        "spec": {},
        "status": {
            "capacity": resources,
            "allocatable": resources,
            "conditions": [
                condition("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
                condition("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
                condition("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
                condition("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
            ],
            "addresses": [
                {"type": "InternalIP", "address": format!("10.0.0.{}", index.min(250) + 1)},
                {"type": "Hostname", "address": name},
            ],
            "nodeInfo": {
                "kubeletVersion": crate::server::GIT_VERSION,
                "kubeProxyVersion": crate::server::GIT_VERSION,
                "operatingSystem": "linux",
                "architecture": "amd64",
                "containerRuntimeVersion": "berth-sim://1.0",
                "kernelVersion": "6.0.0",
                "osImage": "berth-sim",
                "machineID": format!("{index:032x}"),
                "systemUUID": format!("00000000-0000-0000-0000-{index:012x}"),
                "bootID": format!("00000000-0000-0000-0001-{index:012x}"),
            },
        },
    })
}
