//! Upstream's per-PV filters in their exact order, shared by the linear oracle, the index and `explain`.
use std::cmp::Ordering;

use k8s_openapi::api::core::v1::{Node, PersistentVolume, PersistentVolumeClaim};

use super::access_modes::AccessModeSet;
use super::{MatchError, claim_volume_mode, volume_volume_mode};
use crate::binder::explain::Rejection;
use crate::k8s::class::{claim_class, volume_class};
use crate::k8s::quantity::{Quantity, QuantityError, parse_k8s_quantity};
use crate::k8s::selector::{LabelSelectorMatcher, NO_LABELS, node_selector_matches};

/// The resource key of storage in requests and capacities.
const STORAGE: &str = "storage";
/// The only phase in which an unbound PV may be chosen.
const AVAILABLE: &str = "Available";

/// What matching needs from a claim, read once, as upstream `FindMatchingVolume` reads it before any PV.
#[derive(Debug)]
pub(crate) struct ClaimQuery<'c> {
    pub namespace: &'c str,
    pub name: &'c str,
    pub uid: &'c str,
    pub modes: AccessModeSet,
    pub request: Quantity,
    pub class: &'c str,
    pub volume_mode: &'c str,
    pub selector: Option<LabelSelectorMatcher>,
}

impl<'c> ClaimQuery<'c> {
    /// # Errors
    /// In upstream's order: a VolumeAttributesClass on the claim (the feature is disabled, as in upstream's
    /// default), an unreadable storage request, an invalid label selector.
    pub fn new(claim: &'c PersistentVolumeClaim) -> Result<Self, MatchError> {
        let key = claim_key(claim);
        let spec = claim.spec.as_ref();
        if !claim_attributes_class(claim).is_empty() {
            return Err(MatchError::VolumeAttributesClass { claim: key });
        }
        let request = match claim_storage(claim) {
            Ok(request) => request,
            Err(problem) => {
                return Err(MatchError::ParseRequest {
                    claim: key,
                    problem,
                });
            }
        };
        let selector = match spec
            .and_then(|s| s.selector.as_ref())
            .map(LabelSelectorMatcher::parse)
        {
            None => None,
            Some(Ok(selector)) => Some(selector),
            Some(Err(problem)) => {
                return Err(MatchError::ParseSelector {
                    claim: key,
                    problem,
                });
            }
        };
        Ok(Self {
            namespace: claim.metadata.namespace.as_deref().unwrap_or_default(),
            name: claim.metadata.name.as_deref().unwrap_or_default(),
            uid: claim.metadata.uid.as_deref().unwrap_or_default(),
            modes: claim_modes(claim),
            request,
            class: claim_class(claim),
            volume_mode: claim_volume_mode(claim),
            selector,
        })
    }
}

/// What matching needs from a PV. The index computes the capacity once per PV; the oracle per call.
#[derive(Debug, Clone)]
pub(crate) struct VolumeFacts<'v> {
    pub volume: &'v PersistentVolume,
    pub name: &'v str,
    pub modes: AccessModeSet,
    pub capacity: Result<Quantity, QuantityError>,
}

impl<'v> VolumeFacts<'v> {
    pub fn new(volume: &'v PersistentVolume) -> Self {
        Self::with_capacity(volume, volume_storage(volume))
    }

    pub fn with_capacity(
        volume: &'v PersistentVolume,
        capacity: Result<Quantity, QuantityError>,
    ) -> Self {
        Self {
            volume,
            name: volume.metadata.name.as_deref().unwrap_or_default(),
            modes: volume_modes(volume),
            capacity,
        }
    }

    /// Upstream's "smallest wins" order, with the name as Berth's deterministic tie-break.
    pub fn cmp_size_then_name(&self, other: &Self) -> Ordering {
        match (&self.capacity, &other.capacity) {
            (Ok(a), Ok(b)) => a.cmp(b),
            (a, b) => a.is_err().cmp(&b.is_err()),
        }
        .then_with(|| self.name.cmp(other.name))
    }
}

/// The outcome of upstream's filter chain for one PV (the access-mode grouping is decided before it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Judgement {
    Rejected(Rejection),
    /// Pre-bound to the claim by claimRef: upstream returns it at once. In the scheduler path a pre-bound
    /// PV that does not fit the node ends the search with no match at all.
    PreBound {
        fits_node: bool,
    },
    /// An ordinary candidate: the smallest one wins.
    Candidate,
}

/// Applies upstream `FindMatchingVolume`'s filters to one PV, in upstream's order.
///
/// With `node` (the scheduler path) the PV list upstream scans is the claim's class only, so the class is
/// checked first for every PV; delayed binding does not apply; node affinity and access modes are checked.
pub(crate) fn judge(
    claim: &ClaimQuery<'_>,
    facts: &VolumeFacts<'_>,
    node: Option<&Node>,
    delay_binding: bool,
) -> Judgement {
    let volume = facts.volume;
    let reject = Judgement::Rejected;
    let volume_class = volume_class(volume);
    if node.is_some() && volume_class != claim.class {
        return reject(class_mismatch(volume_class, claim));
    }
    let claim_ref = volume
        .spec
        .as_ref()
        .and_then(|spec| spec.claim_ref.as_ref());
    if let Some(claim_ref) = claim_ref {
        let namespace = claim_ref.namespace.as_deref().unwrap_or_default();
        let name = claim_ref.name.as_deref().unwrap_or_default();
        let uid = claim_ref.uid.as_deref().unwrap_or_default();
        if !ref_names_claim(namespace, name, uid, claim.namespace, claim.name, claim.uid) {
            return reject(Rejection::ClaimedByOther {
                namespace: namespace.to_owned(),
                name: name.to_owned(),
                earlier_incarnation: namespace == claim.namespace && name == claim.name,
            });
        }
    }
    let capacity = match &facts.capacity {
        Ok(capacity) => *capacity,
        Err(problem) => {
            return reject(Rejection::InvalidCapacity {
                reason: problem.to_string(),
            });
        }
    };
    if capacity < claim.request {
        return reject(Rejection::TooSmall {
            have: capacity,
            need: claim.request,
        });
    }
    let volume_mode = volume_volume_mode(volume);
    if volume_mode != claim.volume_mode {
        return reject(Rejection::VolumeMode {
            have: volume_mode.to_owned(),
            need: claim.volume_mode.to_owned(),
        });
    }
    // The VolumeAttributesClass feature is disabled (upstream's default): a PV that sets one never binds.
    let attributes_class = volume_attributes_class(volume);
    if !attributes_class.is_empty() {
        return reject(Rejection::VolumeAttributesClass {
            name: attributes_class.to_owned(),
        });
    }
    if volume.metadata.deletion_timestamp.is_some() {
        return reject(Rejection::BeingDeleted);
    }
    let fits_node = node.is_none_or(|node| node_affinity_allows(volume, node));
    if claim_ref.is_some() {
        return Judgement::PreBound { fits_node };
    }
    if node.is_none() && delay_binding {
        return reject(Rejection::DelayBinding);
    }
    let phase = volume
        .status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or_default();
    if phase != AVAILABLE {
        return reject(Rejection::NotAvailable {
            phase: phase.to_owned(),
        });
    }
    if let Some(selector) = &claim.selector {
        let labels = volume.metadata.labels.as_ref().unwrap_or(&NO_LABELS);
        if let Some(failed) = selector.first_mismatch(labels) {
            return reject(Rejection::Selector {
                reason: format!("labels do not satisfy {:?}", failed.to_string()),
            });
        }
    }
    if volume_class != claim.class {
        return reject(class_mismatch(volume_class, claim));
    }
    if !fits_node {
        return reject(Rejection::NodeAffinity);
    }
    if node.is_some() && !facts.modes.contains_all(&claim.modes) {
        return reject(Rejection::AccessModes {
            have: facts.modes,
            need: claim.modes,
        });
    }
    Judgement::Candidate
}

fn class_mismatch(volume_class: &str, claim: &ClaimQuery<'_>) -> Rejection {
    Rejection::ClassMismatch {
        volume_class: volume_class.to_owned(),
        claim_class: claim.class.to_owned(),
    }
}

/// Upstream `IsVolumeBoundToClaim` on the parts: same namespace and name, claimRef uid empty or equal.
pub(crate) fn ref_names_claim(
    ref_namespace: &str,
    ref_name: &str,
    ref_uid: &str,
    namespace: &str,
    name: &str,
    uid: &str,
) -> bool {
    ref_namespace == namespace && ref_name == name && (ref_uid.is_empty() || ref_uid == uid)
}

/// Upstream `CheckNodeAffinity`: no required affinity fits every node; an unreadable one fits none.
///
/// Upstream evaluates it against a node built from the labels alone, so `matchFields` on `metadata.name`
/// are never evaluated; we pass an empty name to do the same.
pub(crate) fn node_affinity_allows(volume: &PersistentVolume, node: &Node) -> bool {
    let required = volume
        .spec
        .as_ref()
        .and_then(|spec| spec.node_affinity.as_ref())
        .and_then(|affinity| affinity.required.as_ref());
    let labels = node.metadata.labels.as_ref().unwrap_or(&NO_LABELS);
    required.is_none_or(|selector| node_selector_matches(selector, labels, "") == Ok(true))
}

/// "namespace/name", upstream's claim key in messages.
pub(crate) fn claim_key(claim: &PersistentVolumeClaim) -> String {
    let namespace = claim.metadata.namespace.as_deref().unwrap_or_default();
    let name = claim.metadata.name.as_deref().unwrap_or_default();
    format!("{namespace}/{name}")
}

/// The modes a claim asks for; an unknown mode makes the claim unmatchable.
pub fn claim_modes(claim: &PersistentVolumeClaim) -> AccessModeSet {
    AccessModeSet::from_strs(
        claim
            .spec
            .as_ref()
            .and_then(|s| s.access_modes.as_deref())
            .unwrap_or_default(),
    )
}

/// The modes a PV offers, as upstream's index key reads them (unknown spellings dropped).
pub fn volume_modes(volume: &PersistentVolume) -> AccessModeSet {
    AccessModeSet::from_strs(
        volume
            .spec
            .as_ref()
            .and_then(|s| s.access_modes.as_deref())
            .unwrap_or_default(),
    )
    .known_only()
}

pub(crate) fn claim_attributes_class(claim: &PersistentVolumeClaim) -> &str {
    claim
        .spec
        .as_ref()
        .and_then(|s| s.volume_attributes_class_name.as_deref())
        .unwrap_or_default()
}

pub(crate) fn volume_attributes_class(volume: &PersistentVolume) -> &str {
    volume
        .spec
        .as_ref()
        .and_then(|s| s.volume_attributes_class_name.as_deref())
        .unwrap_or_default()
}

/// A PV's `spec.capacity["storage"]`; missing reads as zero, like upstream's zero Quantity.
pub(crate) fn volume_storage(volume: &PersistentVolume) -> Result<Quantity, QuantityError> {
    storage_quantity(volume.spec.as_ref().and_then(|s| s.capacity.as_ref()))
}

fn storage_quantity(
    resources: Option<
        &std::collections::BTreeMap<
            String,
            k8s_openapi::apimachinery::pkg::api::resource::Quantity,
        >,
    >,
) -> Result<Quantity, QuantityError> {
    resources
        .and_then(|resources| resources.get(STORAGE))
        .map_or(Ok(Quantity::zero()), parse_k8s_quantity)
}

pub(crate) fn claim_storage(claim: &PersistentVolumeClaim) -> Result<Quantity, QuantityError> {
    storage_quantity(
        claim
            .spec
            .as_ref()
            .and_then(|s| s.resources.as_ref()?.requests.as_ref()),
    )
}
