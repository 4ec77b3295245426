//! The VolumeBinding plugin: which claims a pod waits for, which nodes its claims allow, and whether an
//! in-flight binding (pre-bound PVs, claims sent to provisioning) has completed.
//!
//! Mirrors upstream `volumebinding/binder.go` (`GetPodVolumeClaims`, `FindPodVolumes`,
//! `checkBindings`) and `FindMatchingVolume` from `component-helpers/storage/volume`.

use std::collections::BTreeSet;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Node, PersistentVolume, PersistentVolumeClaim, Pod};
use k8s_openapi::api::storage::v1::StorageClass;

use super::quantity::Quantity;
use super::selectors;
use super::snapshot::{
    ANN_SELECTED_NODE, ClaimKey, Snapshot, annotation, claim_class, claim_request,
    claim_volume_name, is_bound_to_claim, is_fully_bound, labels_of, name_of, volume_capacity,
    volume_class, volume_fits_node,
};

pub(super) const REASON_NODE_CONFLICT: &str = "node(s) had volume node affinity conflict";
pub(super) const REASON_BIND_CONFLICT: &str =
    "node(s) didn't find available persistent volumes to bind";
pub(super) const REASON_PV_NOT_EXIST: &str =
    "node(s) unavailable due to one or more pvc(s) bound to non-existent pv(s)";
pub(super) const REASON_NOT_ENOUGH_SPACE: &str = "node(s) did not have enough free storage";
pub(super) const UNBOUND_IMMEDIATE: &str = "pod has unbound immediate PersistentVolumeClaims";
const NO_PROVISIONER: &str = "kubernetes.io/no-provisioner";

/// Result of the plugin's PreFilter for one pod.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum PodClaims {
    /// The pod uses no claims; the plugin is skipped.
    NoClaims,
    /// Claims the binder has finished, and claims of WaitForFirstConsumer classes the scheduler handles,
    /// each in pod volume order.
    Claims {
        bound: Vec<Arc<PersistentVolumeClaim>>,
        delayed: Vec<Arc<PersistentVolumeClaim>>,
    },
    /// No node can help until a claim changes (missing, being deleted, unbound immediate claims).
    Unresolvable(String),
    /// The configuration is broken (e.g. a class without volumeBindingMode).
    Error(String),
}

/// Upstream `podHasPVCs` + `GetPodVolumeClaims`.
pub(super) fn classify_claims(pod: &Pod, snapshot: &Snapshot) -> PodClaims {
    let namespace = pod.metadata.namespace.as_deref().unwrap_or_default();
    let pod_name = name_of(&pod.metadata);
    let mut claims = Vec::new();
    for volume in pod.spec.iter().flat_map(|s| s.volumes.iter().flatten()) {
        let (claim_name, ephemeral) = match (&volume.persistent_volume_claim, &volume.ephemeral) {
            (Some(source), _) => (source.claim_name.clone(), false),
            (None, Some(_)) => (format!("{pod_name}-{}", volume.name), true),
            (None, None) => continue,
        };
        let Some(claim) = snapshot.claims.get(&ClaimKey::new(namespace, &claim_name)) else {
            return PodClaims::Unresolvable(if ephemeral {
                format!(
                    "waiting for ephemeral volume controller to create the persistentvolumeclaim \"{claim_name}\""
                )
            } else {
                format!("persistentvolumeclaim \"{claim_name}\" not found")
            });
        };
        if claim.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Lost") {
            return PodClaims::Unresolvable(format!(
                "persistentvolumeclaim \"{claim_name}\" bound to non-existent persistentvolume \"{}\"",
                claim_volume_name(claim)
            ));
        }
        if claim.metadata.deletion_timestamp.is_some() {
            return PodClaims::Unresolvable(format!(
                "persistentvolumeclaim \"{claim_name}\" is being deleted"
            ));
        }
        if ephemeral && !is_controlled_by(claim, pod) {
            return PodClaims::Unresolvable(format!(
                "PVC {namespace}/{claim_name} was not created for pod {namespace}/{pod_name} (pod is not owner)"
            ));
        }
        claims.push(claim.clone());
    }
    if claims.is_empty() {
        return PodClaims::NoClaims;
    }
    let (mut bound, mut delayed, mut immediate) = (Vec::new(), Vec::new(), 0);
    for claim in claims {
        match (is_fully_bound(&claim), delay_binding(&claim, snapshot)) {
            (true, _) => bound.push(claim),
            (false, Err(message)) => return PodClaims::Error(message),
            // a claim pre-bound by name waits for the binder like an immediate one
            (false, Ok(true)) if claim_volume_name(&claim).is_empty() => delayed.push(claim),
            (false, Ok(_)) => immediate += 1,
        }
    }
    if immediate > 0 {
        return PodClaims::Unresolvable(UNBOUND_IMMEDIATE.to_owned());
    }
    PodClaims::Claims { bound, delayed }
}

fn is_controlled_by(claim: &PersistentVolumeClaim, pod: &Pod) -> bool {
    claim
        .metadata
        .owner_references
        .iter()
        .flatten()
        .any(|owner| {
            owner.controller == Some(true)
                && Some(owner.uid.as_str()) == pod.metadata.uid.as_deref()
        })
}

/// Upstream `IsDelayBindingMode`: no class or an unknown class binds immediately.
fn delay_binding(claim: &PersistentVolumeClaim, snapshot: &Snapshot) -> Result<bool, String> {
    let class_name = claim_class(claim);
    if class_name.is_empty() {
        return Ok(false);
    }
    match snapshot
        .classes
        .get(class_name)
        .map(|c| c.volume_binding_mode.as_deref())
    {
        None => Ok(false),
        Some(None) => Err(format!(
            "VolumeBindingMode not set for StorageClass \"{class_name}\""
        )),
        Some(Some(mode)) => Ok(mode == "WaitForFirstConsumer"),
    }
}

/// A PV the scheduler will pre-bind to a claim (writing `spec.claimRef`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct StaticBinding {
    pub volume: String,
    pub claim: ClaimKey,
}

/// What has to happen to the pod's unbound claims for it to run on one node.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct VolumePlan {
    pub static_bindings: Vec<StaticBinding>,
    /// Claims that get `volume.kubernetes.io/selected-node` for dynamic provisioning.
    pub provisions: Vec<ClaimKey>,
}

impl VolumePlan {
    pub fn is_empty(&self) -> bool {
        self.static_bindings.is_empty() && self.provisions.is_empty()
    }
}

/// The plugin's Filter verdict for one node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum NodeVolumes {
    Fits(VolumePlan),
    Rejected(Vec<&'static str>),
    Error(String),
}

/// Upstream `FindPodVolumes`: checks bound claims' PV affinity, then finds static matches or
/// provisioning for the delayed claims. Reasons come in upstream's order.
pub(super) fn find_pod_volumes(
    bound: &[Arc<PersistentVolumeClaim>],
    delayed: &[Arc<PersistentVolumeClaim>],
    node: &Node,
    snapshot: &Snapshot,
) -> NodeVolumes {
    let mut verdict = Verdict::default();
    for claim in bound {
        match snapshot.volumes.get(claim_volume_name(claim)) {
            None => {
                verdict.volumes_found = false;
                break;
            }
            Some(volume) if !volume_fits_node(volume, node) => {
                verdict.bound_satisfied = false;
                break;
            }
            Some(_) => {}
        }
    }
    let mut plan = VolumePlan::default();
    if !delayed.is_empty() {
        let node_name = name_of(&node.metadata);
        let (mut to_match, mut to_provision) = (Vec::new(), Vec::new());
        for claim in delayed {
            match annotation(&claim.metadata, ANN_SELECTED_NODE) {
                // selected for another node: fast path out
                Some(selected) if selected != node_name => {
                    verdict.unbound_satisfied = false;
                    return verdict.into_result(plan);
                }
                Some(_) => to_provision.push(claim.clone()),
                None => to_match.push(claim.clone()),
            }
        }
        if !to_match.is_empty() {
            let (all_matched, bindings, unmatched) =
                find_matching_volumes(to_match, node, snapshot);
            verdict.unbound_satisfied = all_matched;
            plan.static_bindings = bindings;
            to_provision.extend(unmatched);
        }
        if !to_provision.is_empty() {
            match check_provisioning(&to_provision, node, snapshot) {
                Err(message) => return NodeVolumes::Error(message),
                Ok(Provisioning::Possible(claims)) => {
                    verdict.unbound_satisfied = true;
                    plan.provisions = claims;
                }
                Ok(Provisioning::Unsupported) => verdict.unbound_satisfied = false,
                // upstream reports only the storage shortage here
                Ok(Provisioning::NoCapacity) => {
                    verdict.unbound_satisfied = true;
                    verdict.enough_storage = false;
                }
            }
        }
    }
    verdict.into_result(plan)
}

/// The four flags upstream turns into reasons.
struct Verdict {
    bound_satisfied: bool,
    unbound_satisfied: bool,
    volumes_found: bool,
    enough_storage: bool,
}

impl Default for Verdict {
    fn default() -> Self {
        Self {
            bound_satisfied: true,
            unbound_satisfied: true,
            volumes_found: true,
            enough_storage: true,
        }
    }
}

impl Verdict {
    fn into_result(self, plan: VolumePlan) -> NodeVolumes {
        let reasons: Vec<&'static str> = [
            (self.bound_satisfied, REASON_NODE_CONFLICT),
            (self.unbound_satisfied, REASON_BIND_CONFLICT),
            (self.volumes_found, REASON_PV_NOT_EXIST),
            (self.enough_storage, REASON_NOT_ENOUGH_SPACE),
        ]
        .into_iter()
        .filter_map(|(ok, reason)| (!ok).then_some(reason))
        .collect();
        if reasons.is_empty() {
            NodeVolumes::Fits(plan)
        } else {
            NodeVolumes::Rejected(reasons)
        }
    }
}

/// Upstream `findMatchingVolumes`: smallest requests first, each PV used at most once.
fn find_matching_volumes(
    mut claims: Vec<Arc<PersistentVolumeClaim>>,
    node: &Node,
    snapshot: &Snapshot,
) -> (bool, Vec<StaticBinding>, Vec<Arc<PersistentVolumeClaim>>) {
    claims.sort_by_key(|claim| claim_request(claim).unwrap_or(Quantity::ZERO));
    let mut chosen = BTreeSet::new();
    let (mut bindings, mut unmatched) = (Vec::new(), Vec::new());
    for claim in claims {
        let class = claim_class(&claim);
        let candidates = snapshot
            .volumes
            .values()
            .filter(|v| volume_class(v) == class);
        match find_matching_volume(&claim, candidates, node, &chosen) {
            Some(volume) => {
                let volume = name_of(&volume.metadata).to_owned();
                chosen.insert(volume.clone());
                bindings.push(StaticBinding {
                    volume,
                    claim: ClaimKey::of(&claim),
                });
            }
            None => unmatched.push(claim),
        }
    }
    (unmatched.is_empty(), bindings, unmatched)
}

/// Upstream `FindMatchingVolume` on the scheduler path (a node is given, binding is delayed).
/// Candidates arrive in name order, so ties between equal sizes go to the first name.
pub(super) fn find_matching_volume<'v>(
    claim: &PersistentVolumeClaim,
    candidates: impl Iterator<Item = &'v Arc<PersistentVolume>>,
    node: &Node,
    excluded: &BTreeSet<String>,
) -> Option<&'v Arc<PersistentVolume>> {
    let request = claim_request(claim).unwrap_or(Quantity::ZERO);
    let claim_spec = claim.spec.clone().unwrap_or_default();
    let mut smallest: Option<(&Arc<PersistentVolume>, Quantity)> = None;
    for volume in candidates {
        let spec = volume.spec.clone().unwrap_or_default();
        let claimed_by_other = spec.claim_ref.is_some() && !is_bound_to_claim(volume, claim);
        let capacity = volume_capacity(volume);
        if excluded.contains(name_of(&volume.metadata))
            || claimed_by_other
            || capacity < request
            || spec.volume_mode.as_deref().unwrap_or("Filesystem")
                != claim_spec.volume_mode.as_deref().unwrap_or("Filesystem")
            || spec
                .volume_attributes_class_name
                .as_deref()
                .unwrap_or_default()
                != claim_spec
                    .volume_attributes_class_name
                    .as_deref()
                    .unwrap_or_default()
            || volume.metadata.deletion_timestamp.is_some()
        {
            continue;
        }
        let fits_node = volume_fits_node(volume, node);
        if is_bound_to_claim(volume, claim) {
            // a PV pre-bound to this claim wins, or rules the node out
            return fits_node.then_some(volume);
        }
        let phase = volume.status.as_ref().and_then(|s| s.phase.as_deref());
        let selected = claim_spec
            .selector
            .as_ref()
            .is_none_or(|s| selectors::label_selector_matches(s, &labels_of(&volume.metadata)));
        let modes = spec.access_modes.unwrap_or_default();
        let modes_ok = claim_spec
            .access_modes
            .iter()
            .flatten()
            .all(|m| modes.contains(m));
        if phase != Some("Available")
            || !selected
            || volume_class(volume) != claim_class(claim)
            || !fits_node
            || !modes_ok
        {
            continue;
        }
        if smallest.as_ref().is_none_or(|(_, best)| capacity < *best) {
            smallest = Some((volume, capacity));
        }
    }
    smallest.map(|(volume, _)| volume)
}

enum Provisioning {
    Possible(Vec<ClaimKey>),
    /// The class cannot provision (no provisioner, or the node is outside allowedTopologies).
    Unsupported,
    /// CSIStorageCapacity says the node has no room.
    NoCapacity,
}

/// Upstream `checkVolumeProvisions`.
fn check_provisioning(
    claims: &[Arc<PersistentVolumeClaim>],
    node: &Node,
    snapshot: &Snapshot,
) -> Result<Provisioning, String> {
    let mut provisions = Vec::new();
    for claim in claims {
        let class_name = claim_class(claim);
        if class_name.is_empty() {
            return Err(format!("no class for claim \"{}\"", ClaimKey::of(claim)));
        }
        let Some(class) = snapshot.classes.get(class_name) else {
            return Err(format!("failed to find storage class \"{class_name}\""));
        };
        if class.provisioner.is_empty() || class.provisioner == NO_PROVISIONER {
            return Ok(Provisioning::Unsupported);
        }
        let topologies = class.allowed_topologies.as_deref().unwrap_or_default();
        if !selectors::topology_terms_match(topologies, &labels_of(&node.metadata)) {
            return Ok(Provisioning::Unsupported);
        }
        if !has_enough_capacity(claim, class, node, snapshot) {
            return Ok(Provisioning::NoCapacity);
        }
        provisions.push(ClaimKey::of(claim));
    }
    Ok(Provisioning::Possible(provisions))
}

/// Upstream `hasEnoughCapacity`: only for CSI drivers that opt in with `storageCapacity: true`.
fn has_enough_capacity(
    claim: &PersistentVolumeClaim,
    class: &StorageClass,
    node: &Node,
    snapshot: &Snapshot,
) -> bool {
    let Some(request) = claim_request(claim) else {
        return true;
    };
    let opted_in = snapshot
        .drivers
        .get(&class.provisioner)
        .and_then(|d| d.spec.storage_capacity)
        .unwrap_or(false);
    if !opted_in {
        return true;
    }
    let node_labels = labels_of(&node.metadata);
    let class_name = name_of(&class.metadata);
    snapshot.capacities.iter().any(|capacity| {
        // maximumVolumeSize is the more precise limit when present
        let limit = capacity
            .maximum_volume_size
            .as_ref()
            .or(capacity.capacity.as_ref());
        let sufficient = limit
            .and_then(|q| Quantity::parse(&q.0))
            .is_some_and(|l| l.value() >= request.value());
        let reachable = capacity
            .node_topology
            .as_ref()
            .is_some_and(|t| selectors::label_selector_matches(t, &node_labels));
        capacity.storage_class_name == class_name && sufficient && reachable
    })
}

/// Progress of an in-flight binding (upstream `checkBindings`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum BindingProgress {
    /// Every claim of the plan is fully bound, on PVs that fit the node.
    Complete,
    Waiting,
    /// The attempt must be abandoned and the pod rescheduled.
    Failed(String),
}

pub(super) fn check_bindings(
    pod_exists: bool,
    node_name: &str,
    plan: &VolumePlan,
    snapshot: &Snapshot,
) -> BindingProgress {
    let Some(node) = snapshot.node(node_name) else {
        return BindingProgress::Failed(format!(
            "failed to get node \"{node_name}\": node \"{node_name}\" not found"
        ));
    };
    if !pod_exists {
        return BindingProgress::Failed("pod does not exist any more".to_owned());
    }
    let mut waiting = false;
    for binding in &plan.static_bindings {
        let (Some(volume), Some(claim)) = (
            snapshot.volumes.get(&binding.volume),
            snapshot.claims.get(&binding.claim),
        ) else {
            return BindingProgress::Failed(format!(
                "failed to check binding: pv \"{}\" or pvc \"{}\" not found",
                binding.volume, binding.claim
            ));
        };
        if !volume_fits_node(volume, node) {
            return affinity_failure(&binding.volume, node_name);
        }
        let claim_ref_uid = volume
            .spec
            .as_ref()
            .and_then(|s| s.claim_ref.as_ref())
            .and_then(|r| r.uid.as_deref());
        if claim_ref_uid.unwrap_or_default().is_empty() {
            return BindingProgress::Failed(format!(
                "ClaimRef got reset for pv \"{}\"",
                binding.volume
            ));
        }
        waiting |= !is_fully_bound(claim);
    }
    for key in &plan.provisions {
        let Some(claim) = snapshot.claims.get(key) else {
            return BindingProgress::Failed(format!(
                "failed to check provisioning pvc: pvc \"{key}\" not found"
            ));
        };
        if annotation(&claim.metadata, ANN_SELECTED_NODE) != Some(node_name) {
            // the provisioner's way of asking for another node
            return BindingProgress::Failed(format!(
                "provisioning failed for PVC \"{}\"",
                key.name
            ));
        }
        let volume_name = claim_volume_name(claim);
        if !volume_name.is_empty() {
            match snapshot.volumes.get(volume_name) {
                // possibly not seen yet; check again later
                None => {
                    waiting = true;
                    continue;
                }
                Some(volume) if !volume_fits_node(volume, node) => {
                    return affinity_failure(volume_name, node_name);
                }
                Some(_) => {}
            }
        }
        waiting |= !is_fully_bound(claim);
    }
    if waiting {
        BindingProgress::Waiting
    } else {
        BindingProgress::Complete
    }
}

fn affinity_failure(volume: &str, node: &str) -> BindingProgress {
    BindingProgress::Failed(format!(
        "pv \"{volume}\" node affinity doesn't match node \"{node}\": no matching NodeSelectorTerms"
    ))
}

#[cfg(test)]
#[path = "volumes_tests.rs"]
mod tests;
