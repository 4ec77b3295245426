//! What the pod workers of one kubelet share: the API client, the node's configuration and identity, the host
//! layout containers see, and the node's pod IP pool.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use k8s_openapi::api::core::v1::{Node, PersistentVolume, PersistentVolumeClaim, Pod};
use kube::api::Api;
use kube::runtime::reflector::{ObjectRef, Store};

use super::KubeletConfig;
use super::network::{IpPool, fallback_node_ip};
use super::sandbox::HostLayout;
use super::volumes::{NodeIdentity, Snapshot, claim_names};
use super::worker::error_chain;

/// Shared by all pod workers of one kubelet.
pub struct NodeContext {
    pub client: kube::Client,
    pub config: KubeletConfig,
    /// This node's Node object (a store filtered to it).
    pub nodes: Store<Node>,
    pub host: HostLayout,
    pub ips: Mutex<IpPool>,
}

impl NodeContext {
    fn node(&self) -> Option<Arc<Node>> {
        self.nodes.get(&ObjectRef::new(&self.config.node_name))
    }

    /// The node's name and labels, for PV node affinity.
    pub fn node_identity(&self) -> NodeIdentity {
        let labels = self
            .node()
            .and_then(|n| n.metadata.labels.clone())
            .unwrap_or_default();
        NodeIdentity {
            name: self.config.node_name.clone(),
            labels,
        }
    }

    /// The node's `InternalIP`, or a stable fake one.
    pub fn host_ip(&self) -> String {
        let addresses = self
            .node()
            .and_then(|n| n.status.as_ref().and_then(|s| s.addresses.clone()));
        addresses
            .unwrap_or_default()
            .into_iter()
            .find(|a| a.type_ == "InternalIP")
            .map(|a| a.address)
            .unwrap_or_else(|| fallback_node_ip(&self.config.node_name))
    }

    pub fn pool(&self) -> MutexGuard<'_, IpPool> {
        // The pool holds no invariant a panicking holder could break half-way.
        self.ips.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Reads the claims `pod` uses and the volumes they are bound to, live from the API as the real kubelet's
    /// volume manager does (no cluster-wide cache of claims and volumes per node).
    ///
    /// # Errors
    /// A message when a read fails for another reason than the object being absent.
    pub async fn volume_snapshot(&self, pod: &Pod) -> Result<Snapshot, String> {
        let namespace = pod.metadata.namespace.as_deref().unwrap_or("default");
        let claims: Api<PersistentVolumeClaim> = Api::namespaced(self.client.clone(), namespace);
        let volumes: Api<PersistentVolume> = Api::all(self.client.clone());
        let mut snapshot = Snapshot::default();
        for name in claim_names(pod) {
            let claim = claims
                .get_opt(&name)
                .await
                .map_err(|e| format!("get claim {name:?}: {}", error_chain(&e)))?;
            let Some(claim) = claim else { continue };
            let volume_name = claim
                .spec
                .as_ref()
                .and_then(|s| s.volume_name.clone())
                .unwrap_or_default();
            snapshot.add_claim(claim);
            if volume_name.is_empty() {
                continue;
            }
            let volume = volumes
                .get_opt(&volume_name)
                .await
                .map_err(|e| format!("get volume {volume_name:?}: {}", error_chain(&e)))?;
            if let Some(volume) = volume {
                snapshot.add_volume(volume);
            }
        }
        Ok(snapshot)
    }
}
