//! Claim sync as a pure decision: an observed claim and the cached world in, the binder's actions out
//! (binder-spec 2.2 unbound claims, 2.3 bound claims, 3 provisioning hand-off, 5.3 retroactive default class).
use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim};
use k8s_openapi::api::storage::v1::StorageClass;

use super::actions::{
    Action, ClaimKey, Error, Event, EventType, Reason, Write, WritePurpose, claim_reference,
};
use super::binding::{
    ClaimPhase, bind, claim_ref, claim_uid, has_annotation, set_claim_phase_with_event,
    set_claim_status, volume_name,
};
use super::explain::{explain, summarize};
use super::matching::{MatchOptions, check_volume_satisfies_claim, is_volume_bound_to_claim};
use super::world::World;
use crate::k8s::annotations::{BIND_COMPLETED, BOUND_BY_CONTROLLER, SELECTED_NODE};
use crate::k8s::class::{claim_class, claim_has_class, default_class};

mod provision;

/// Switches of the claim decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncOptions {
    /// Hand claims with a class to a provisioner (upstream `--enable-dynamic-provisioning`, default on). Off: the
    /// provisioning branch does nothing at all, not even the Pending status write (binder-spec 3.1).
    pub enable_dynamic_provisioning: bool,
    /// Give class-less claims the cluster default class when no class-less PV fits (binder-spec 5.3, default on).
    pub retroactive_default_class: bool,
    /// Attach the matcher's summary of why no PV fits to the `FailedBinding` event's `detail` (default on).
    pub explain_pending: bool,
}

impl Default for SyncOptions {
    fn default() -> Self {
        SyncOptions {
            enable_dynamic_provisioning: true,
            retroactive_default_class: true,
            explain_pending: true,
        }
    }
}

/// Decides what the binder does with `claim` (upstream `syncClaim` minus CSI-migration annotations, which Berth
/// has no in-tree plugins for).
///
/// # Guarantees
/// Pure; the result follows the executor contract of [`actions`](super::actions). Writes appear only when they
/// change something, so executing the result and syncing the written objects again yields no writes (events such
/// as `ExternalProvisioning` or `FailedBinding` repeat on every sync, as upstream's do).
pub fn sync_claim(
    claim: &PersistentVolumeClaim,
    world: &impl World,
    options: &SyncOptions,
) -> Vec<Action> {
    match classify(claim, world) {
        ClaimState::ChooseVolume => choose_volume(claim, world, options),
        // The named PV may simply not be in the cache yet; wait for the next sync, without an event.
        ClaimState::NamedVolumeMissing => set_claim_status(claim, ClaimPhase::Pending, None),
        // The user named a free PV: it must fit, but its phase, the selector and the binding mode do not matter.
        ClaimState::NamedVolumeFree(volume) => match check_volume_satisfies_claim(volume, claim) {
            Ok(()) => bind(volume, claim),
            Err(mismatch) => {
                let message = format!(
                    "Cannot bind to requested volume \"{}\": {mismatch}",
                    name_of(volume)
                );
                let mut actions = vec![claim_event(
                    claim,
                    EventType::Warning,
                    Reason::VolumeMismatch,
                    message,
                )];
                actions.extend(set_claim_status(claim, ClaimPhase::Pending, None));
                actions
            }
        },
        // Both sides point at each other (or the PV does, without uid): finish the binding with no checks at all.
        ClaimState::NamedVolumeOurs(volume) => bind(volume, claim),
        ClaimState::NamedVolumeTaken {
            volume,
            bound_by_binder,
        } => named_volume_taken(claim, volume, bound_by_binder),
        ClaimState::LostReference => set_claim_phase_with_event(
            claim,
            ClaimPhase::Lost,
            EventType::Warning,
            Reason::ClaimLost,
            "Bound claim has lost reference to PersistentVolume. Data on the volume is lost!",
        ),
        ClaimState::LostVolume => set_claim_phase_with_event(
            claim,
            ClaimPhase::Lost,
            EventType::Warning,
            Reason::ClaimLost,
            "Bound claim has lost its PersistentVolume. Data on the volume is lost!",
        ),
        // Normally a no-op; repairs phases, and re-binds a PV whose claimRef vanished (the binder cannot tell
        // "unbound" from "the watch has not delivered the bound PV yet"). This is also how Lost becomes Bound.
        ClaimState::Rebind(volume) => bind(volume, claim),
        ClaimState::Misbound => set_claim_phase_with_event(
            claim,
            ClaimPhase::Lost,
            EventType::Warning,
            Reason::ClaimMisbound,
            "Two claims are bound to the same volume, this one is bound incorrectly",
        ),
    }
}

/// Berth's one-line answer to "why is this claim pending": the matcher's summary of why each cached PV does not
/// fit, e.g. "3 PVs too small (largest 2Gi < 5Gi)". Independent of upstream's event messages.
pub fn explain_pending(claim: &PersistentVolumeClaim, world: &impl World) -> String {
    // An unreadable binding mode makes the sync fail anyway; explain as if the class were Immediate.
    let delay_binding = provision::delay_binding(claim, world).unwrap_or(false);
    let options = MatchOptions {
        delay_binding,
        node: None,
    };
    summarize(&explain(
        claim,
        world.volumes().iter().map(|volume| volume.as_ref()),
        &options,
    ))
}

/// The claim reduced to what decides its sync: bind-completed × volumeName × what the named PV says.
enum ClaimState<'a> {
    /// Never bound, no volumeName: the binder picks a PV, waits, or provisions (2.2 A).
    ChooseVolume,
    /// Never bound, names a PV the cache does not have (2.2 B1).
    NamedVolumeMissing,
    /// Never bound, names a PV without claimRef (2.2 B2).
    NamedVolumeFree(&'a PersistentVolume),
    /// Never bound, names a PV whose claimRef is this claim (uid empty or equal) (2.2 B3).
    NamedVolumeOurs(&'a PersistentVolume),
    /// Never bound, names a PV claimed by another claim (2.2 B4).
    NamedVolumeTaken {
        volume: &'a PersistentVolume,
        bound_by_binder: bool,
    },
    /// Bound before, volumeName now empty (2.3 step 1).
    LostReference,
    /// Bound before, the named PV is gone (2.3 step 2).
    LostVolume,
    /// Bound before, the PV has no claimRef or one with this claim's uid (2.3 steps 3-4).
    Rebind(&'a PersistentVolume),
    /// Bound before, the PV's claimRef carries another uid (2.3 step 5).
    Misbound,
}

fn classify<'a>(claim: &PersistentVolumeClaim, world: &'a impl World) -> ClaimState<'a> {
    let bound_before = has_annotation(&claim.metadata, BIND_COMPLETED);
    let named = volume_name(claim);
    let volume = match named {
        "" => None,
        name => world.volumes().get(name).map(|volume| volume.as_ref()),
    };
    match (bound_before, named.is_empty(), volume) {
        (false, true, _) => ClaimState::ChooseVolume,
        (false, false, None) => ClaimState::NamedVolumeMissing,
        (false, false, Some(volume)) => match claim_ref(volume) {
            None => ClaimState::NamedVolumeFree(volume),
            Some(_) if is_volume_bound_to_claim(volume, claim) => {
                ClaimState::NamedVolumeOurs(volume)
            }
            Some(_) => ClaimState::NamedVolumeTaken {
                volume,
                bound_by_binder: has_annotation(&claim.metadata, BOUND_BY_CONTROLLER),
            },
        },
        (true, true, _) => ClaimState::LostReference,
        (true, false, None) => ClaimState::LostVolume,
        // Only the uid is compared here, not namespace/name (upstream does the same).
        (true, false, Some(volume)) => match claim_ref(volume) {
            None => ClaimState::Rebind(volume),
            Some(reference) if reference.uid.as_deref().unwrap_or("") == claim_uid(claim) => {
                ClaimState::Rebind(volume)
            }
            Some(_) => ClaimState::Misbound,
        },
    }
}

/// What happens to an unbound claim without volumeName, in upstream's order of checks.
enum Unnamed<'a> {
    /// A PV fits (or is pre-bound to the claim).
    Bind(&'a PersistentVolume),
    /// Nothing fits and the claim has no class: give it the default class; the update re-drives the sync.
    AssignDefaultClass(&'a StorageClass),
    /// WaitForFirstConsumer and the scheduler has not picked a node yet.
    WaitForConsumer,
    /// The claim has a class: hand it to the provisioner.
    Provision,
    /// No class, nothing fits: wait for a matching PV.
    NoClass,
}

fn decide_unnamed<'a>(
    claim: &PersistentVolumeClaim,
    world: &'a impl World,
    options: &SyncOptions,
) -> Result<Unnamed<'a>, Error> {
    let delay_binding = provision::delay_binding(claim, world)?;
    let match_options = MatchOptions {
        delay_binding,
        node: None,
    };
    let found = world
        .volumes()
        .find_best_volume(claim, &match_options)
        .map_err(|source| Error::FindVolume {
            claim: ClaimKey::of(claim),
            source: std::sync::Arc::new(source),
        })?;
    // Only now may a class-less claim get the default class: it first had its chance at class-less PVs.
    let default = (options.retroactive_default_class && !claim_has_class(claim))
        .then(|| default_class(world.storage_classes()))
        .flatten();
    let waiting = delay_binding && !has_annotation(&claim.metadata, SELECTED_NODE);
    Ok(match (found, default) {
        (Some(volume), _) => Unnamed::Bind(volume),
        (None, Some(class)) => Unnamed::AssignDefaultClass(class),
        (None, None) if waiting => Unnamed::WaitForConsumer,
        (None, None) if !claim_class(claim).is_empty() => Unnamed::Provision,
        (None, None) => Unnamed::NoClass,
    })
}

fn choose_volume(
    claim: &PersistentVolumeClaim,
    world: &impl World,
    options: &SyncOptions,
) -> Vec<Action> {
    match decide_unnamed(claim, world, options) {
        Err(error) => vec![Action::Fail(error)],
        Ok(Unnamed::Bind(volume)) => bind(volume, claim),
        Ok(Unnamed::AssignDefaultClass(class)) => {
            let mut updated = claim.clone();
            updated
                .spec
                .get_or_insert_with(Default::default)
                .storage_class_name = class.metadata.name.clone();
            vec![Action::UpdateClaim(Write::new(
                updated,
                WritePurpose::AssignDefaultClass,
            ))]
        }
        Ok(Unnamed::WaitForConsumer) => {
            let mut actions = vec![provision::wait_for_consumer_event(claim, world)];
            actions.extend(set_claim_status(claim, ClaimPhase::Pending, None));
            actions
        }
        // No status write in this branch: upstream returns right after starting the provisioning operation.
        Ok(Unnamed::Provision) => provision::provision(claim, world, options),
        Ok(Unnamed::NoClass) => {
            let message =
                "no persistent volumes available for this claim and no storage class is set";
            let mut event = Event::new(
                claim_reference(claim),
                EventType::Normal,
                Reason::FailedBinding,
                message.to_string(),
            );
            event.detail = options
                .explain_pending
                .then(|| explain_pending(claim, world));
            let mut actions = vec![Action::Event(event)];
            actions.extend(set_claim_status(claim, ClaimPhase::Pending, None));
            actions
        }
    }
}

/// The claim names a PV another claim holds: say so every sync; wait Pending, or fail when the claim says the
/// binder itself bound it (someone removed bind-completed: refuse to guess).
fn named_volume_taken(
    claim: &PersistentVolumeClaim,
    volume: &PersistentVolume,
    bound_by_binder: bool,
) -> Vec<Action> {
    let message = format!(
        "volume \"{}\" already bound to a different claim.",
        name_of(volume)
    );
    let event = claim_event(claim, EventType::Warning, Reason::FailedBinding, message);
    let rest = match (bound_by_binder, claim_ref(volume)) {
        (true, Some(reference)) => vec![Action::Fail(Error::BindClaim {
            claim: ClaimKey::of(claim),
            volume: volume_name(claim).to_string(),
            other: ClaimKey::new(
                reference.namespace.as_deref().unwrap_or(""),
                reference.name.as_deref().unwrap_or(""),
            ),
        })],
        _ => set_claim_status(claim, ClaimPhase::Pending, None),
    };
    std::iter::once(event).chain(rest).collect()
}

fn claim_event(
    claim: &PersistentVolumeClaim,
    event_type: EventType,
    reason: Reason,
    message: String,
) -> Action {
    Action::Event(Event::new(
        claim_reference(claim),
        event_type,
        reason,
        message,
    ))
}

fn name_of(volume: &PersistentVolume) -> &str {
    volume.metadata.name.as_deref().unwrap_or("")
}

#[cfg(test)]
mod tests;
