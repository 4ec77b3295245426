//! Volume sync as a pure decision: an observed PV and the cached world in, the binder's actions out
//! (binder-spec 2.4 volume sync, 2.6 unbinding, 2.7 reclaim).
//!
//! # The live claim lookup
//! Before releasing a PV whose claim is not in the cache, or whose cached claim has another uid, upstream asks the
//! API server (binder-spec 2.4 step 3, edge case 8): the claim may just not have reached the cache yet, e.g. for a
//! PV an external provisioner or the scheduler bound. A pure decision cannot ask, so [`sync_volume`] returns the
//! single action [`Action::LookUpClaimLive`]; the executor GETs the claim and calls `sync_volume` again with
//! [`LiveClaim::Found`] or [`LiveClaim::NotFound`]. The second call never asks again.
use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim};

use super::actions::{
    Action, ClaimKey, Event, EventType, Reason, Write, WritePurpose, claim_reference,
    volume_reference,
};
use super::binding::{
    VolumePhase, annotation, claim_ref, claim_uid, has_annotation, set_volume_phase,
    set_volume_phase_with_event, unbind_volume, volume_name, volume_phase, volume_with_phase,
};
use super::matching::{claim_volume_mode, volume_volume_mode};
use super::world::{World, is_pod_terminated};
use crate::k8s::annotations::{MIGRATED_TO, PROVISIONED_BY};

// Upstream's name prefix of in-tree plugins; Berth has none, so a PV they provisioned has no deleter here.
const IN_TREE_PREFIX: &str = "kubernetes.io/";

/// The API server's answer to [`Action::LookUpClaimLive`].
#[derive(Debug, Clone, Copy)]
pub enum LiveClaim<'a> {
    /// No live lookup made yet (the first call).
    NotFetched,
    /// The claim as the API server returned it.
    Found(&'a PersistentVolumeClaim),
    /// The API server said 404.
    NotFound,
}

/// Decides what the binder does with `volume` (upstream `syncVolume` minus CSI-migration annotations and the
/// in-tree deletion finalizer, which Berth has no in-tree plugins for).
///
/// # Guarantees
/// Pure. Returns either `[Action::LookUpClaimLive]` alone (only when `live` is `NotFetched`) or the full decision.
/// Phase-change events (`VolumeFailedRecycle` warning, `VolumeFailedDelete`, `VolumeUnknownReclaimPolicy`) come
/// once; `VolumeMismatch` and the recycle-blocked event repeat on every sync, as upstream's do.
pub fn sync_volume(
    volume: &PersistentVolume,
    world: &impl World,
    live: LiveClaim<'_>,
) -> Vec<Action> {
    match classify(volume, world, live) {
        // Unused, or reserved for a claim that has not bound yet (user pre-binding): Available.
        VolumeState::Unclaimed | VolumeState::Reserved => {
            set_volume_phase(volume, VolumePhase::Available)
        }
        VolumeState::NeedsLiveClaim(key) => vec![Action::LookUpClaimLive(key)],
        VolumeState::ClaimGone => release_and_reclaim(volume, world),
        VolumeState::ClaimUnbound(claim)
            if claim_volume_mode(claim) != volume_volume_mode(volume) =>
        {
            // The claim's matching will never return this PV; say why on both objects, every sync.
            let claim_name = claim.metadata.name.as_deref().unwrap_or("");
            let volume_name = volume.metadata.name.as_deref().unwrap_or("");
            vec![
                Action::Event(Event::new(
                    volume_reference(volume),
                    EventType::Warning,
                    Reason::VolumeMismatch,
                    format!(
                        "Cannot bind PersistentVolume to requested PersistentVolumeClaim \"{claim_name}\" due to \
                         incompatible volumeMode."
                    ),
                )),
                Action::Event(Event::new(
                    claim_reference(claim),
                    EventType::Warning,
                    Reason::VolumeMismatch,
                    format!(
                        "Cannot bind PersistentVolume \"{volume_name}\" to requested PersistentVolumeClaim due to \
                         incompatible volumeMode."
                    ),
                )),
            ]
        }
        // Half-bound (PV side only, e.g. freshly provisioned): the claim sync finishes it; ask for it now.
        // The PV phase stays as it is until bind() sets Bound.
        VolumeState::ClaimUnbound(claim) => vec![Action::EnqueueClaim(ClaimKey::of(claim))],
        VolumeState::BoundHere => set_volume_phase(volume, VolumePhase::Bound),
        // The claim chose another PV. A PV provisioned for it and meant to be deleted goes away.
        VolumeState::BoundElsewhere if provisioned_for_deletion(volume) => {
            release_and_reclaim(volume, world)
        }
        // Otherwise undo the binding: fully if the binder made it, only the uid if a user pre-bound the PV.
        VolumeState::BoundElsewhere => unbind_volume(volume),
    }
}

/// The PV reduced to what decides its sync: claimRef × what the claim it names says.
enum VolumeState<'a> {
    /// No claimRef (2.4 step 1).
    Unclaimed,
    /// claimRef without uid (2.4 step 2).
    Reserved,
    /// The cache cannot tell whether the claim exists (2.4 step 3).
    NeedsLiveClaim(ClaimKey),
    /// The claim with the claimRef's uid is gone (2.4 step 4).
    ClaimGone,
    /// The claim exists and has no volumeName yet (2.4 step 5).
    ClaimUnbound(&'a PersistentVolumeClaim),
    /// The claim names this PV (2.4 step 6).
    BoundHere,
    /// The claim names another PV (2.4 step 7).
    BoundElsewhere,
}

/// Where the claim a PV points at was found.
enum ClaimLookup<'a> {
    Cached(&'a PersistentVolumeClaim),
    NotCached,
    Live(&'a PersistentVolumeClaim),
    ConfirmedMissing,
}

fn classify<'a>(
    volume: &PersistentVolume,
    world: &'a impl World,
    live: LiveClaim<'a>,
) -> VolumeState<'a> {
    let Some(reference) = claim_ref(volume) else {
        return VolumeState::Unclaimed;
    };
    let uid = reference.uid.as_deref().unwrap_or("");
    if uid.is_empty() {
        return VolumeState::Reserved;
    }
    let key = ClaimKey::new(
        reference.namespace.as_deref().unwrap_or(""),
        reference.name.as_deref().unwrap_or(""),
    );
    let lookup = match live {
        LiveClaim::NotFetched => world
            .claim(&key.namespace, &key.name)
            .map_or(ClaimLookup::NotCached, ClaimLookup::Cached),
        LiveClaim::Found(claim) => ClaimLookup::Live(claim),
        LiveClaim::NotFound => ClaimLookup::ConfirmedMissing,
    };
    // Released and Failed PVs already went through the "is it really gone" check.
    let released = matches!(volume_phase(volume), Some("Released" | "Failed"));
    match lookup {
        ClaimLookup::Cached(claim) | ClaimLookup::Live(claim) if claim_uid(claim) == uid => {
            match volume_name(claim) {
                "" => VolumeState::ClaimUnbound(claim),
                name if Some(name) == volume.metadata.name.as_deref() => VolumeState::BoundHere,
                _ => VolumeState::BoundElsewhere,
            }
        }
        // A cached claim with another uid may be stale (the claimRef newer than the cache): ask the API server.
        ClaimLookup::Cached(_) => VolumeState::NeedsLiveClaim(key),
        ClaimLookup::NotCached if !released => VolumeState::NeedsLiveClaim(key),
        // Deleted, and possibly recreated with the same name: the claim this PV was bound to is gone.
        ClaimLookup::NotCached | ClaimLookup::Live(_) | ClaimLookup::ConfirmedMissing => {
            VolumeState::ClaimGone
        }
    }
}

fn provisioned_for_deletion(volume: &PersistentVolume) -> bool {
    has_annotation(&volume.metadata, PROVISIONED_BY) && reclaim_policy(volume) == "Delete"
}

fn reclaim_policy(volume: &PersistentVolume) -> &str {
    volume
        .spec
        .as_ref()
        .and_then(|spec| spec.persistent_volume_reclaim_policy.as_deref())
        .unwrap_or("")
}

/// Released (unless already Released or Failed, so a failure stays visible), then the reclaim policy.
fn release_and_reclaim(volume: &PersistentVolume, world: &impl World) -> Vec<Action> {
    let released = match volume_phase(volume) {
        Some("Released" | "Failed") => None,
        _ => volume_with_phase(volume, VolumePhase::Released, ""),
    };
    match released {
        Some(released) => {
            let mut actions = vec![Action::UpdateVolumeStatus(Write::new(
                released.clone(),
                WritePurpose::VolumePhase,
            ))];
            actions.extend(reclaim(&released, world));
            actions
        }
        None => reclaim(volume, world),
    }
}

/// What the reclaim policy of a released PV asks for.
enum Reclaim {
    /// Retain, a migrated PV, or a deleter outside the binder (Berth's agent): nothing to do here.
    Nothing,
    /// Recycle while pods still use the old claim name: wait (event every sync).
    RecycleBlocked(Vec<String>),
    /// Recycle: Berth has no recycler plugin.
    NoRecycler,
    /// Delete without an external deleter: Berth has no in-tree deleter.
    NoDeleter(String),
    /// Anything else.
    UnknownPolicy,
}

fn classify_reclaim(volume: &PersistentVolume, world: &impl World) -> Reclaim {
    if annotation(&volume.metadata, MIGRATED_TO).is_some_and(|to| !to.is_empty()) {
        return Reclaim::Nothing;
    }
    match reclaim_policy(volume) {
        "Retain" => Reclaim::Nothing,
        "Recycle" => match pods_blocking_recycle(volume, world) {
            pods if pods.is_empty() => Reclaim::NoRecycler,
            pods => Reclaim::RecycleBlocked(pods),
        },
        "Delete" => deleter(volume),
        _ => Reclaim::UnknownPolicy,
    }
}

/// upstream `findDeletablePlugin` with no in-tree plugins and `HonorPVReclaimPolicy` on.
fn deleter(volume: &PersistentVolume) -> Reclaim {
    let provisioned_by =
        annotation(&volume.metadata, PROVISIONED_BY).filter(|name| !name.is_empty());
    let csi = volume.spec.as_ref().is_some_and(|spec| spec.csi.is_some());
    match provisioned_by {
        Some(name) if name.starts_with(IN_TREE_PREFIX) => {
            Reclaim::NoDeleter(format!("no volume plugin matched name: {name}"))
        }
        // The provisioner deletes its own volumes; the PV stays Released until it does.
        Some(_) => Reclaim::Nothing,
        None if csi || has_annotation(&volume.metadata, MIGRATED_TO) => Reclaim::Nothing,
        None => Reclaim::NoDeleter(format!(
            "error getting deleter volume plugin for volume \"{}\": no volume plugin matched",
            volume.metadata.name.as_deref().unwrap_or("")
        )),
    }
}

/// upstream `isVolumeUsed` as the recycler checks it: non-terminated pods that still reference the old claim
/// name, unless a claim of that name is cached (then it is a new claim using another PV). "namespace/name", sorted.
fn pods_blocking_recycle(volume: &PersistentVolume, world: &impl World) -> Vec<String> {
    let Some(reference) = claim_ref(volume) else {
        return Vec::new();
    };
    let namespace = reference.namespace.as_deref().unwrap_or("");
    let name = reference.name.as_deref().unwrap_or("");
    if world.claim(namespace, name).is_some() {
        return Vec::new();
    }
    let mut pods: Vec<String> = world
        .pods_using_claim(namespace, name)
        .filter(|pod| !is_pod_terminated(pod))
        .map(|pod| {
            format!(
                "{}/{}",
                pod.metadata.namespace.as_deref().unwrap_or(""),
                pod.metadata.name.as_deref().unwrap_or("")
            )
        })
        .collect();
    pods.sort_unstable();
    pods.dedup();
    pods
}

/// upstream `reclaimVolume`, for a PV already Released (or Failed).
fn reclaim(volume: &PersistentVolume, world: &impl World) -> Vec<Action> {
    match classify_reclaim(volume, world) {
        Reclaim::Nothing => Vec::new(),
        Reclaim::RecycleBlocked(pods) => vec![Action::Event(Event::new(
            volume_reference(volume),
            EventType::Normal,
            Reason::VolumeFailedRecycle,
            format!("Volume is used by pods: {}", pods.join(",")),
        ))],
        Reclaim::NoRecycler => set_volume_phase_with_event(
            volume,
            VolumePhase::Failed,
            EventType::Warning,
            Reason::VolumeFailedRecycle,
            "No recycler plugin found for the volume!",
        ),
        Reclaim::NoDeleter(message) => set_volume_phase_with_event(
            volume,
            VolumePhase::Failed,
            EventType::Warning,
            Reason::VolumeFailedDelete,
            &message,
        ),
        Reclaim::UnknownPolicy => set_volume_phase_with_event(
            volume,
            VolumePhase::Failed,
            EventType::Warning,
            Reason::VolumeUnknownReclaimPolicy,
            "Volume has unrecognized PersistentVolumeReclaimPolicy",
        ),
    }
}

#[cfg(test)]
mod tests;
