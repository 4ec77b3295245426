//! The scheduler's view of the cluster at one instant, plus the object helpers its plugins share.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Node, PersistentVolume, PersistentVolumeClaim, Pod};
use k8s_openapi::api::storage::v1::{CSIDriver, CSIStorageCapacity, StorageClass};

use super::quantity::Quantity;
use super::selectors::{self, Labels};

pub(super) const ANN_SELECTED_NODE: &str = "volume.kubernetes.io/selected-node";
pub(super) const ANN_BIND_COMPLETED: &str = "pv.kubernetes.io/bind-completed";
pub(super) const ANN_BOUND_BY_CONTROLLER: &str = "pv.kubernetes.io/bound-by-controller";
const ANN_BETA_STORAGE_CLASS: &str = "volume.beta.kubernetes.io/storage-class";

/// Namespace and name of a claim.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(super) struct ClaimKey {
    pub namespace: String,
    pub name: String,
}

impl ClaimKey {
    pub fn new(namespace: &str, name: &str) -> Self {
        Self {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        }
    }

    pub fn of(claim: &PersistentVolumeClaim) -> Self {
        Self::new(
            claim.metadata.namespace.as_deref().unwrap_or_default(),
            claim.metadata.name.as_deref().unwrap_or_default(),
        )
    }
}

/// `ns/name`, as upstream's `getPVCName` prints claims.
impl fmt::Display for ClaimKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// Everything a scheduling decision reads. Objects are shared with the reflector stores; decisions
/// that assume writes (pre-bound PVs, selected nodes) replace entries with modified copies.
#[derive(Clone, Debug, Default)]
pub(super) struct Snapshot {
    /// Sorted by name (the tie-break order of node choice).
    pub nodes: Vec<Arc<Node>>,
    pub pods: Vec<Arc<Pod>>,
    pub claims: BTreeMap<ClaimKey, Arc<PersistentVolumeClaim>>,
    pub volumes: BTreeMap<String, Arc<PersistentVolume>>,
    pub classes: BTreeMap<String, Arc<StorageClass>>,
    pub drivers: BTreeMap<String, Arc<CSIDriver>>,
    pub capacities: Vec<Arc<CSIStorageCapacity>>,
}

impl Snapshot {
    pub fn node(&self, name: &str) -> Option<&Arc<Node>> {
        self.nodes
            .iter()
            .find(|node| node.metadata.name.as_deref() == Some(name))
    }
}

pub(super) fn name_of(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> &str {
    meta.name.as_deref().unwrap_or_default()
}

pub(super) fn annotation<'a>(
    meta: &'a k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    key: &str,
) -> Option<&'a str> {
    meta.annotations.as_ref()?.get(key).map(String::as_str)
}

pub(super) fn labels_of(
    meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
) -> Labels {
    meta.labels.clone().unwrap_or_default()
}

/// Upstream `GetPersistentVolumeClaimClass`: the beta annotation wins when present (even empty).
pub(super) fn claim_class(claim: &PersistentVolumeClaim) -> &str {
    annotation(&claim.metadata, ANN_BETA_STORAGE_CLASS)
        .or_else(|| claim.spec.as_ref()?.storage_class_name.as_deref())
        .unwrap_or_default()
}

/// Upstream `GetPersistentVolumeClass`.
pub(super) fn volume_class(volume: &PersistentVolume) -> &str {
    annotation(&volume.metadata, ANN_BETA_STORAGE_CLASS)
        .or_else(|| volume.spec.as_ref()?.storage_class_name.as_deref())
        .unwrap_or_default()
}

pub(super) fn claim_volume_name(claim: &PersistentVolumeClaim) -> &str {
    claim
        .spec
        .as_ref()
        .and_then(|s| s.volume_name.as_deref())
        .unwrap_or_default()
}

/// Upstream `isPVCFullyBound`: the binder has finished both halves of the bind.
pub(super) fn is_fully_bound(claim: &PersistentVolumeClaim) -> bool {
    !claim_volume_name(claim).is_empty()
        && annotation(&claim.metadata, ANN_BIND_COMPLETED).is_some()
}

pub(super) fn claim_request(claim: &PersistentVolumeClaim) -> Option<Quantity> {
    let requests = claim.spec.as_ref()?.resources.as_ref()?.requests.as_ref()?;
    Some(Quantity::parse_or_zero(
        requests.get("storage").map(|q| q.0.as_str()),
    ))
}

pub(super) fn volume_capacity(volume: &PersistentVolume) -> Quantity {
    let capacity = volume.spec.as_ref().and_then(|s| s.capacity.as_ref());
    Quantity::parse_or_zero(
        capacity
            .and_then(|c| c.get("storage"))
            .map(|q| q.0.as_str()),
    )
}

/// Upstream `IsVolumeBoundToClaim`: the claimRef names the claim, and its uid is empty or the claim's.
pub(super) fn is_bound_to_claim(volume: &PersistentVolume, claim: &PersistentVolumeClaim) -> bool {
    let Some(claim_ref) = volume.spec.as_ref().and_then(|s| s.claim_ref.as_ref()) else {
        return false;
    };
    let uid = claim_ref.uid.as_deref().unwrap_or_default();
    claim_ref.name == claim.metadata.name
        && claim_ref.namespace == claim.metadata.namespace
        && (uid.is_empty() || Some(uid) == claim.metadata.uid.as_deref())
}

/// Upstream `CheckNodeAffinity`: a PV without required node affinity fits every node. Like upstream,
/// only the node's labels are consulted.
pub(super) fn volume_fits_node(volume: &PersistentVolume, node: &Node) -> bool {
    let required = volume
        .spec
        .as_ref()
        .and_then(|s| s.node_affinity.as_ref())
        .and_then(|a| a.required.as_ref());
    match required {
        None => true,
        Some(selector) => {
            selectors::node_selector_matches(selector, &labels_of(&node.metadata), "")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;
    use super::*;

    #[test]
    fn class_prefers_beta_annotation() {
        let mut c = claim("data", "gold");
        assert_eq!(claim_class(&c), "gold");
        c.metadata.annotations = Some([(ANN_BETA_STORAGE_CLASS.to_owned(), String::new())].into());
        assert_eq!(claim_class(&c), "");
        let mut v = volume("pv", "gold", "1Gi");
        assert_eq!(volume_class(&v), "gold");
        v.metadata.annotations =
            Some([(ANN_BETA_STORAGE_CLASS.to_owned(), "silver".to_owned())].into());
        assert_eq!(volume_class(&v), "silver");
    }

    #[test]
    fn fully_bound_needs_volume_name_and_annotation() {
        let mut c = claim("data", "gold");
        assert!(!is_fully_bound(&c));
        set_volume_name(&mut c, "pv-1");
        assert!(!is_fully_bound(&c));
        annotate(&mut c.metadata, ANN_BIND_COMPLETED, "yes");
        assert!(is_fully_bound(&c));
    }

    #[test]
    fn bound_to_claim_checks_uid_only_when_set() {
        let c = claim("data", "gold");
        let mut v = volume("pv", "gold", "1Gi");
        assert!(!is_bound_to_claim(&v, &c));
        set_claim_ref(&mut v, "default", "data", None);
        assert!(is_bound_to_claim(&v, &c));
        set_claim_ref(&mut v, "default", "data", Some("uid-data"));
        assert!(is_bound_to_claim(&v, &c));
        set_claim_ref(&mut v, "default", "data", Some("other"));
        assert!(!is_bound_to_claim(&v, &c));
        set_claim_ref(&mut v, "other-ns", "data", None);
        assert!(!is_bound_to_claim(&v, &c));
    }

    #[test]
    fn volume_affinity() {
        let v = pinned(volume("pv", "gold", "1Gi"), "node-1");
        assert!(volume_fits_node(&v, &node("node-1")));
        assert!(!volume_fits_node(&v, &node("node-2")));
        assert!(volume_fits_node(
            &volume("pv", "gold", "1Gi"),
            &node("node-2")
        ));
    }
}
