//! `persistentVolumeClaimRetentionPolicy` through claim ownerReferences, exactly as upstream
//! (`isClaimOwnerUpToDate`, `updateClaimOwnerRefForSetAndPod`, `hasStaleOwnerRef`): the garbage
//! collector, not this controller, deletes the claims.

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

use super::identity::controller_ref;

/// What happens to the claims of a deleted set / of pods removed by scale-down.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Policy {
    pub delete_when_deleted: bool,
    pub delete_when_scaled: bool,
}

impl Policy {
    /// Missing or unknown values read as Retain (upstream treats unknown policies as Retain).
    pub fn of(set: &StatefulSet) -> Self {
        let policy = set
            .spec
            .as_ref()
            .and_then(|s| s.persistent_volume_claim_retention_policy.clone())
            .unwrap_or_default();
        Self {
            delete_when_deleted: policy.when_deleted.as_deref() == Some("Delete"),
            delete_when_scaled: policy.when_scaled.as_deref() == Some("Delete"),
        }
    }

    fn retains_all(self) -> bool {
        !self.delete_when_deleted && !self.delete_when_scaled
    }
}

/// An owner as upstream's `matchesRef` sees it: kind, API group, name and uid (the uid of a pod not
/// created yet is empty).
struct Owner<'a> {
    kind: &'static str,
    group: &'static str,
    name: &'a str,
    uid: &'a str,
}

impl<'a> Owner<'a> {
    fn set(set: &'a StatefulSet) -> Self {
        Owner {
            kind: "StatefulSet",
            group: "apps",
            name: meta_name(&set.metadata),
            uid: meta_uid(&set.metadata),
        }
    }

    fn pod(pod: &'a Pod) -> Self {
        Owner {
            kind: "Pod",
            group: "",
            name: meta_name(&pod.metadata),
            uid: meta_uid(&pod.metadata),
        }
    }

    /// Same kind, group and name (the uid may differ).
    fn matches(&self, reference: &OwnerReference) -> bool {
        let group = reference
            .api_version
            .rsplit_once('/')
            .map_or("", |(group, _)| group);
        reference.name == self.name && reference.kind == self.kind && group == self.group
    }

    /// Upstream `hasOwnerRef`: compared by uid only.
    fn owns(&self, claim: &PersistentVolumeClaim) -> bool {
        !self.uid.is_empty() && references(claim).iter().any(|r| r.uid == self.uid)
    }

    /// Upstream `hasStaleOwnerRef`: the first reference naming this owner carries another uid.
    fn has_stale_ref(&self, claim: &PersistentVolumeClaim) -> bool {
        references(claim)
            .iter()
            .find(|r| self.matches(r))
            .is_some_and(|r| r.uid != self.uid)
    }
}

fn meta_name(meta: &ObjectMeta) -> &str {
    meta.name.as_deref().unwrap_or_default()
}

fn meta_uid(meta: &ObjectMeta) -> &str {
    meta.uid.as_deref().unwrap_or_default()
}

fn references(claim: &PersistentVolumeClaim) -> &[OwnerReference] {
    claim
        .metadata
        .owner_references
        .as_deref()
        .unwrap_or_default()
}

/// Upstream `PodClaimIsStale`: with whenScaled=Delete, a claim still owned by an earlier pod of the same
/// name blocks the new pod until the garbage collector removes it.
pub(super) fn claim_is_stale(set: &StatefulSet, pod: &Pod, claim: &PersistentVolumeClaim) -> bool {
    Policy::of(set).delete_when_scaled && Owner::pod(pod).has_stale_ref(claim)
}

/// Upstream `hasUnexpectedController`: another controller (or a stale set/pod reference) owns the claim.
pub(super) fn has_unexpected_controller(
    set: &StatefulSet,
    pod: &Pod,
    claim: &PersistentVolumeClaim,
) -> bool {
    if Policy::of(set).retains_all() {
        return false;
    }
    let (set_owner, pod_owner) = (Owner::set(set), Owner::pod(pod));
    references(claim).iter().any(|reference| {
        if set_owner.matches(reference) {
            reference.uid != set_owner.uid
        } else if pod_owner.matches(reference) {
            reference.uid != pod_owner.uid
        } else {
            reference.controller == Some(true)
        }
    })
}

/// Upstream `isClaimOwnerUpToDate`. `scaled_down` tells whether the pod's ordinal is outside the range.
pub(super) fn claim_owner_up_to_date(
    set: &StatefulSet,
    pod: &Pod,
    claim: &PersistentVolumeClaim,
    scaled_down: bool,
) -> bool {
    let (set_owner, pod_owner) = (Owner::set(set), Owner::pod(pod));
    if set_owner.has_stale_ref(claim) || pod_owner.has_stale_ref(claim) {
        return false;
    }
    if has_unexpected_controller(set, pod, claim) {
        // clean up our own refs, but never add ours on top of another controller
        return !(set_owner.owns(claim) || pod_owner.owns(claim));
    }
    let non_controller = references(claim).iter().any(|r| {
        (r.uid == set_owner.uid || (!pod_owner.uid.is_empty() && r.uid == pod_owner.uid))
            && r.controller != Some(true)
    });
    if non_controller {
        return false;
    }
    let (by_set, by_pod) = (set_owner.owns(claim), pod_owner.owns(claim));
    match Policy::of(set) {
        Policy {
            delete_when_deleted: false,
            delete_when_scaled: false,
        } => !by_set && !by_pod,
        Policy {
            delete_when_deleted: true,
            delete_when_scaled: false,
        } => by_set && !by_pod,
        Policy {
            delete_when_deleted: false,
            delete_when_scaled: true,
        } => !by_set && scaled_down == by_pod,
        Policy {
            delete_when_deleted: true,
            delete_when_scaled: true,
        } => scaled_down != by_set && scaled_down == by_pod,
    }
}

/// Upstream `updateClaimOwnerRefForSetAndPod`: the claim's ownerReferences after scrubbing ours and adding
/// what the policy asks for.
pub(super) fn updated_owner_refs(
    set: &StatefulSet,
    pod: &Pod,
    claim: &PersistentVolumeClaim,
    scaled_down: bool,
) -> Vec<OwnerReference> {
    let (set_owner, pod_owner) = (Owner::set(set), Owner::pod(pod));
    let unexpected = has_unexpected_controller(set, pod, claim);
    let mut refs: Vec<OwnerReference> = references(claim)
        .iter()
        .filter(|r| !set_owner.matches(r) && !pod_owner.matches(r))
        .cloned()
        .collect();
    if unexpected {
        return refs;
    }
    let policy = Policy::of(set);
    if policy.delete_when_deleted && !(policy.delete_when_scaled && scaled_down) {
        add_controller_ref(&mut refs, controller_ref(set));
    }
    if policy.delete_when_scaled && scaled_down {
        add_controller_ref(&mut refs, pod_controller_ref(pod));
    }
    refs
}

fn add_controller_ref(refs: &mut Vec<OwnerReference>, owner: OwnerReference) {
    match refs.iter_mut().find(|r| r.uid == owner.uid) {
        Some(existing) => existing.controller = Some(true),
        None => refs.push(owner),
    }
}

fn pod_controller_ref(pod: &Pod) -> OwnerReference {
    OwnerReference {
        api_version: "v1".to_owned(),
        kind: "Pod".to_owned(),
        name: meta_name(&pod.metadata).to_owned(),
        uid: meta_uid(&pod.metadata).to_owned(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

#[cfg(test)]
#[path = "retention_tests.rs"]
mod tests;
