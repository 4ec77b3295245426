//! The binder's writes as actions: `bind()`, `unbindVolume`, and PV phase / claim status updates (binder-spec 2.5,
//! 2.6), each producing complete desired objects and only when something changes.
use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    ObjectReference, PersistentVolume, PersistentVolumeClaim, PersistentVolumeClaimStatus,
    PersistentVolumeStatus,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity as K8sQuantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::actions::{
    Action, ClaimKey, Error, Event, EventType, Reason, Write, WritePurpose, claim_reference,
    volume_reference,
};
use super::matching::is_volume_bound_to_claim;
use crate::k8s::annotations::{BIND_COMPLETED, BOUND_BY_CONTROLLER, PRE_RESIZE_CAPACITY, YES};
use crate::k8s::quantity::parse_k8s_quantity;

const STORAGE: &str = "storage";

/// PV phases the binder writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VolumePhase {
    Available,
    Bound,
    Released,
    Failed,
}

impl VolumePhase {
    pub fn as_str(self) -> &'static str {
        match self {
            VolumePhase::Available => "Available",
            VolumePhase::Bound => "Bound",
            VolumePhase::Released => "Released",
            VolumePhase::Failed => "Failed",
        }
    }
}

/// Claim phases the binder writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimPhase {
    Pending,
    Bound,
    Lost,
}

impl ClaimPhase {
    pub fn as_str(self) -> &'static str {
        match self {
            ClaimPhase::Pending => "Pending",
            ClaimPhase::Bound => "Bound",
            ClaimPhase::Lost => "Lost",
        }
    }
}

/// `bind()`: up to four writes in upstream's order — PV claimRef, PV phase Bound, claim volumeName and
/// annotations, claim status Bound — each only when it changes something. The PV goes first because its
/// claimRef, written with the observed resourceVersion, is the lock: of two binders racing for one PV only one
/// gets past step 1. A trailing [`Action::Fail`] appears when the PV has no capacity to copy into the claim.
pub fn bind(volume: &PersistentVolume, claim: &PersistentVolumeClaim) -> Vec<Action> {
    let mut actions = Vec::new();
    let volume = match volume_bound_to_claim(volume, claim) {
        Some(updated) => {
            actions.push(Action::UpdateVolume(Write::new(
                updated.clone(),
                WritePurpose::BindVolume,
            )));
            updated
        }
        None => volume.clone(),
    };
    let volume = match volume_with_phase(&volume, VolumePhase::Bound, "") {
        Some(updated) => {
            actions.push(Action::UpdateVolumeStatus(Write::new(
                updated.clone(),
                WritePurpose::VolumePhase,
            )));
            updated
        }
        None => volume,
    };
    let claim = match claim_bound_to_volume(claim, &volume) {
        Some(updated) => {
            actions.push(Action::UpdateClaim(Write::new(
                updated.clone(),
                WritePurpose::BindClaim,
            )));
            updated
        }
        None => claim.clone(),
    };
    actions.extend(set_claim_status(&claim, ClaimPhase::Bound, Some(&volume)));
    actions
}

/// `unbindVolume`: a PV the binder bound loses its claimRef and `bound-by-controller`; a PV a user pre-bound only
/// loses `claimRef.uid` and stays reserved for that claim name. Always writes, then sets phase Available.
pub fn unbind_volume(volume: &PersistentVolume) -> Vec<Action> {
    let mut unbound = volume.clone();
    if has_annotation(&volume.metadata, BOUND_BY_CONTROLLER) {
        if let Some(spec) = unbound.spec.as_mut() {
            spec.claim_ref = None;
        }
        remove_annotation(&mut unbound.metadata, BOUND_BY_CONTROLLER);
    } else if let Some(reference) = unbound
        .spec
        .as_mut()
        .and_then(|spec| spec.claim_ref.as_mut())
    {
        reference.uid = None;
    }
    let mut actions = vec![Action::UpdateVolume(Write::new(
        unbound.clone(),
        WritePurpose::UnbindVolume,
    ))];
    actions.extend(set_volume_phase(&unbound, VolumePhase::Available));
    actions
}

/// upstream `updateVolumePhase(volume, phase, "")`: a status write only when the phase differs.
pub fn set_volume_phase(volume: &PersistentVolume, phase: VolumePhase) -> Vec<Action> {
    volume_with_phase(volume, phase, "")
        .map(|updated| Action::UpdateVolumeStatus(Write::new(updated, WritePurpose::VolumePhase)))
        .into_iter()
        .collect()
}

/// upstream `updateVolumePhaseWithEvent`: on a phase change only, write the phase with `message` as status message,
/// then emit the event. So these events fire once, not on every resync.
pub fn set_volume_phase_with_event(
    volume: &PersistentVolume,
    phase: VolumePhase,
    event_type: EventType,
    reason: Reason,
    message: &str,
) -> Vec<Action> {
    match volume_with_phase(volume, phase, message) {
        Some(updated) => vec![
            Action::UpdateVolumeStatus(Write::new(updated, WritePurpose::VolumePhase)),
            Action::Event(Event::new(
                volume_reference(volume),
                event_type,
                reason,
                message.to_string(),
            )),
        ],
        None => Vec::new(),
    }
}

/// upstream `updateClaimStatus`: a status write only when something changes, or a [`Action::Fail`].
pub fn set_claim_status(
    claim: &PersistentVolumeClaim,
    phase: ClaimPhase,
    volume: Option<&PersistentVolume>,
) -> Vec<Action> {
    match claim_with_status(claim, phase, volume) {
        Ok(Some(updated)) => vec![Action::UpdateClaimStatus(Write::new(
            updated,
            WritePurpose::ClaimStatus,
        ))],
        Ok(None) => Vec::new(),
        Err(error) => vec![Action::Fail(error)],
    }
}

/// upstream `updateClaimStatusWithEvent` without a volume: on a phase change only, write the status (clearing
/// accessModes and capacity) and then emit the event.
pub fn set_claim_phase_with_event(
    claim: &PersistentVolumeClaim,
    phase: ClaimPhase,
    event_type: EventType,
    reason: Reason,
    message: &str,
) -> Vec<Action> {
    if claim_phase(claim) == Some(phase.as_str()) {
        return Vec::new();
    }
    let mut actions = set_claim_status(claim, phase, None);
    actions.push(Action::Event(Event::new(
        claim_reference(claim),
        event_type,
        reason,
        message.to_string(),
    )));
    actions
}

/// upstream `GetBindVolumeToClaim`: the PV pointing at the claim with a full reference, plus
/// `bound-by-controller` when the PV was not already pre-bound to this claim. None when nothing changes.
fn volume_bound_to_claim(
    volume: &PersistentVolume,
    claim: &PersistentVolumeClaim,
) -> Option<PersistentVolume> {
    let chosen_by_binder = !is_volume_bound_to_claim(volume, claim);
    let points_elsewhere = claim_ref(volume).is_none_or(|reference| {
        reference.name.as_deref().unwrap_or("") != claim.metadata.name.as_deref().unwrap_or("")
            || reference.namespace.as_deref().unwrap_or("")
                != claim.metadata.namespace.as_deref().unwrap_or("")
            || reference.uid.as_deref().unwrap_or("") != claim_uid(claim)
    });
    let mark = chosen_by_binder && !has_annotation(&volume.metadata, BOUND_BY_CONTROLLER);
    if !points_elsewhere && !mark {
        return None;
    }
    let mut updated = volume.clone();
    if points_elsewhere {
        updated.spec.get_or_insert_with(Default::default).claim_ref = Some(claim_reference(claim));
    }
    if mark {
        set_annotation(&mut updated.metadata, BOUND_BY_CONTROLLER, YES);
    }
    Some(updated)
}

/// upstream `bindClaimToVolume`: volumeName (+ `bound-by-controller` when the binder sets it) and
/// `bind-completed`. None when nothing changes.
fn claim_bound_to_volume(
    claim: &PersistentVolumeClaim,
    volume: &PersistentVolume,
) -> Option<PersistentVolumeClaim> {
    let name = volume.metadata.name.as_deref().unwrap_or("");
    let set_volume_name = volume_name(claim) != name;
    let mark_completed = !has_annotation(&claim.metadata, BIND_COMPLETED);
    if !set_volume_name && !mark_completed {
        return None;
    }
    let mut updated = claim.clone();
    if set_volume_name {
        updated
            .spec
            .get_or_insert_with(Default::default)
            .volume_name = Some(name.to_string());
        if !has_annotation(&updated.metadata, BOUND_BY_CONTROLLER) {
            set_annotation(&mut updated.metadata, BOUND_BY_CONTROLLER, YES);
        }
    }
    if mark_completed {
        set_annotation(&mut updated.metadata, BIND_COMPLETED, YES);
    }
    Some(updated)
}

/// The PV with a new phase and status message ("" clears it); None when the phase is already set (the message
/// alone never causes a write, as upstream).
pub(super) fn volume_with_phase(
    volume: &PersistentVolume,
    phase: VolumePhase,
    message: &str,
) -> Option<PersistentVolume> {
    if volume_phase(volume) == Some(phase.as_str()) {
        return None;
    }
    let mut updated = volume.clone();
    let status = updated
        .status
        .get_or_insert_with(PersistentVolumeStatus::default);
    status.phase = Some(phase.as_str().to_string());
    status.message = (!message.is_empty()).then(|| message.to_string());
    Some(updated)
}

/// upstream `updateClaimStatus`: the claim with the new status, None when nothing changes.
///
/// Without a volume, accessModes and capacity are cleared. With one, accessModes follow the PV on every call,
/// but capacity only when the phase changes: afterwards a difference is deliberate (filesystem smaller than the
/// block device after an expansion). `pre-resize-capacity` on the PV wins over its capacity.
fn claim_with_status(
    claim: &PersistentVolumeClaim,
    phase: ClaimPhase,
    volume: Option<&PersistentVolume>,
) -> Result<Option<PersistentVolumeClaim>, Error> {
    let phase_changes = claim_phase(claim) != Some(phase.as_str());
    let mut updated = claim.clone();
    let status = updated
        .status
        .get_or_insert_with(PersistentVolumeClaimStatus::default);
    let mut dirty = phase_changes;
    status.phase = Some(phase.as_str().to_string());
    match volume {
        None => {
            dirty |= status.access_modes.take().is_some();
            dirty |= status.capacity.take().is_some();
        }
        Some(volume) => {
            let volume_modes = volume
                .spec
                .as_ref()
                .and_then(|spec| spec.access_modes.clone());
            if status.access_modes != volume_modes {
                status.access_modes = volume_modes;
                dirty = true;
            }
            if phase_changes {
                dirty |= copy_capacity(status, volume, claim)?;
            }
        }
    }
    Ok(dirty.then_some(updated))
}

// Returns whether the claim's status capacity changed.
fn copy_capacity(
    status: &mut PersistentVolumeClaimStatus,
    volume: &PersistentVolume,
    claim: &PersistentVolumeClaim,
) -> Result<bool, Error> {
    let volume_capacity = volume.spec.as_ref().and_then(|spec| spec.capacity.as_ref());
    let Some(volume_storage) = volume_capacity.and_then(|capacity| capacity.get(STORAGE)) else {
        return Err(Error::SetClaimCapacity {
            claim: ClaimKey::of(claim),
            volume: volume.metadata.name.clone().unwrap_or_default(),
        });
    };
    if let Some(pre_resize) = annotation(&volume.metadata, PRE_RESIZE_CAPACITY) {
        let pre_resize = K8sQuantity(pre_resize.to_string());
        // An unparsable annotation falls back to the PV capacity, as upstream does.
        let value = match parse_k8s_quantity(&pre_resize) {
            Ok(_) => pre_resize,
            Err(_) => volume_storage.clone(),
        };
        status
            .capacity
            .get_or_insert_with(BTreeMap::new)
            .insert(STORAGE.to_string(), value);
        return Ok(true);
    }
    let claim_storage = status
        .capacity
        .as_ref()
        .and_then(|capacity| capacity.get(STORAGE));
    if claim_storage.is_some_and(|current| same_quantity(current, volume_storage)) {
        return Ok(false);
    }
    status.capacity = volume_capacity.cloned();
    Ok(true)
}

// Quantities compare by value ("1Gi" == "1024Mi"); unparsable ones by their text.
fn same_quantity(a: &K8sQuantity, b: &K8sQuantity) -> bool {
    match (parse_k8s_quantity(a), parse_k8s_quantity(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => a.0 == b.0,
    }
}

/// `status.phase` of a PV.
pub fn volume_phase(volume: &PersistentVolume) -> Option<&str> {
    volume
        .status
        .as_ref()
        .and_then(|status| status.phase.as_deref())
}

/// `status.phase` of a claim.
pub fn claim_phase(claim: &PersistentVolumeClaim) -> Option<&str> {
    claim
        .status
        .as_ref()
        .and_then(|status| status.phase.as_deref())
}

/// `spec.claimRef` of a PV.
pub fn claim_ref(volume: &PersistentVolume) -> Option<&ObjectReference> {
    volume
        .spec
        .as_ref()
        .and_then(|spec| spec.claim_ref.as_ref())
}

/// `spec.volumeName` of a claim ("" when unset).
pub fn volume_name(claim: &PersistentVolumeClaim) -> &str {
    claim
        .spec
        .as_ref()
        .and_then(|spec| spec.volume_name.as_deref())
        .unwrap_or("")
}

/// `metadata.uid` of a claim ("" when unset).
pub fn claim_uid(claim: &PersistentVolumeClaim) -> &str {
    claim.metadata.uid.as_deref().unwrap_or("")
}

/// The value of an annotation, if the key is present.
pub fn annotation<'a>(meta: &'a ObjectMeta, key: &str) -> Option<&'a str> {
    meta.annotations.as_ref()?.get(key).map(String::as_str)
}

/// Whether the annotation key is present (any value, like upstream's `HasAnnotation`).
pub fn has_annotation(meta: &ObjectMeta, key: &str) -> bool {
    annotation(meta, key).is_some()
}

pub(super) fn set_annotation(meta: &mut ObjectMeta, key: &str, value: &str) {
    meta.annotations
        .get_or_insert_with(BTreeMap::new)
        .insert(key.to_string(), value.to_string());
}

// Upstream drops an emptied annotation map entirely.
fn remove_annotation(meta: &mut ObjectMeta, key: &str) {
    if let Some(annotations) = meta.annotations.as_mut() {
        annotations.remove(key);
        if annotations.is_empty() {
            meta.annotations = None;
        }
    }
}

#[cfg(test)]
mod tests;
