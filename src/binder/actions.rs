//! What a binder decision asks the controller to do: API writes, events, queue pokes; and the executor contract.
//!
//! [`claim_sync`](super::claim_sync) and [`volume_sync`](super::volume_sync) return a `Vec<Action>`. Executing it
//! needs no further decision; the executor follows these rules:
//!
//! 1. Run the actions in order.
//! 2. `UpdateVolume` / `UpdateClaim`: PUT the object (`replace`); `UpdateVolumeStatus` / `UpdateClaimStatus`: PUT it
//!    to the `status` subresource (`replace_status`). Each write carries the complete desired object; its
//!    `metadata.resourceVersion` is the one the decision observed, which makes the write conflict if someone else
//!    changed the object meanwhile. When an earlier action of the same list already wrote the same object (same
//!    kind and name) successfully, send the resourceVersion that write returned instead: `bind()` writes the PV twice
//!    and the claim twice in one list. Put every object a write returns into the controller's cache, so that the
//!    older copies the watch delivers later are recognised as stale (binder-spec 2.8).
//! 3. A failed write ends the list: emit its `on_failure` event (message = prefix + the API error) if it has one,
//!    and report the sync as failed. Nothing is retried right away; the next watch event or resync retries
//!    (binder-spec edge case 6). A crash between two writes is fine for the same reason: every decision starts
//!    from what is stored, and `bind()` writes the PV first so a half-written binding is finished, or undone by
//!    volume sync, on the next pass.
//! 4. `Event`: record it; emitting never fails the sync.
//! 5. `EnqueueClaim`: add the claim key to the claim queue.
//! 6. `LookUpClaimLive`: always the only action of its list. GET the claim from the API server and run
//!    [`sync_volume`](super::volume_sync::sync_volume) again with the answer (`LiveClaim::Found` or
//!    `LiveClaim::NotFound`; any other error fails the sync). The second run never asks again.
//! 7. `Fail`: stop and report the sync as failed with that error.
use std::fmt;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{ObjectReference, PersistentVolume, PersistentVolumeClaim};

use super::matching::MatchError;

/// Namespace and name of a claim; the claim queue key (`Display` gives upstream's "namespace/name").
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClaimKey {
    pub namespace: String,
    pub name: String,
}

impl ClaimKey {
    pub fn new(namespace: &str, name: &str) -> Self {
        ClaimKey {
            namespace: namespace.to_string(),
            name: name.to_string(),
        }
    }

    /// The key of a claim object (empty strings for missing metadata).
    pub fn of(claim: &PersistentVolumeClaim) -> Self {
        ClaimKey::new(
            claim.metadata.namespace.as_deref().unwrap_or(""),
            claim.metadata.name.as_deref().unwrap_or(""),
        )
    }
}

impl fmt::Display for ClaimKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// One step for the executor; see the module documentation for how each kind is executed.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// PUT the PV (metadata and spec).
    UpdateVolume(Write<PersistentVolume>),
    /// PUT the PV's status subresource.
    UpdateVolumeStatus(Write<PersistentVolume>),
    /// PUT the claim (metadata and spec).
    UpdateClaim(Write<PersistentVolumeClaim>),
    /// PUT the claim's status subresource.
    UpdateClaimStatus(Write<PersistentVolumeClaim>),
    /// Record a Kubernetes event.
    Event(Event),
    /// Sync this claim soon (upstream adds the key to the claim queue).
    EnqueueClaim(ClaimKey),
    /// The volume decision needs the API server's current copy of this claim; see rule 6.
    LookUpClaimLive(ClaimKey),
    /// The sync fails here; the next resync tries again.
    Fail(Error),
}

impl Action {
    /// Whether the action writes to the API server (the thing idempotence is about).
    pub fn is_write(&self) -> bool {
        matches!(
            self,
            Action::UpdateVolume(_)
                | Action::UpdateVolumeStatus(_)
                | Action::UpdateClaim(_)
                | Action::UpdateClaimStatus(_)
        )
    }
}

/// A complete desired object to PUT, why, and what to report if the PUT fails.
#[derive(Debug, Clone, PartialEq)]
pub struct Write<T> {
    pub object: Box<T>,
    pub purpose: WritePurpose,
    /// Event to emit when this write fails (upstream does this for exactly one write: the provisioner annotation).
    pub on_failure: Option<FailureEvent>,
}

impl<T> Write<T> {
    pub fn new(object: T, purpose: WritePurpose) -> Self {
        Write {
            object: Box::new(object),
            purpose,
            on_failure: None,
        }
    }
}

/// Why an object is written; a static label for logs and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WritePurpose {
    /// `bind()` step 1: the PV's claimRef (and `bound-by-controller` when the binder chose the PV).
    BindVolume,
    /// A PV phase change (`bind()` step 2, or volume sync).
    VolumePhase,
    /// `bind()` step 3: the claim's volumeName, `bound-by-controller`, `bind-completed`.
    BindClaim,
    /// A claim status change: phase, accessModes, capacity.
    ClaimStatus,
    /// `unbindVolume`: claimRef removed, or only its uid cleared for a user's pre-binding.
    UnbindVolume,
    /// Retroactive default StorageClass (binder-spec 5.3). The executor counts every attempt and every failure
    /// (`retroactive_storageclass_total`, `retroactive_storageclass_errors_total`).
    AssignDefaultClass,
    /// The storage-provisioner annotations that hand the claim to a provisioner (binder-spec 3.3).
    SetProvisioner,
}

impl WritePurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            WritePurpose::BindVolume => "bind_volume",
            WritePurpose::VolumePhase => "volume_phase",
            WritePurpose::BindClaim => "bind_claim",
            WritePurpose::ClaimStatus => "claim_status",
            WritePurpose::UnbindVolume => "unbind_volume",
            WritePurpose::AssignDefaultClass => "assign_default_class",
            WritePurpose::SetProvisioner => "set_provisioner",
        }
    }
}

/// An event to emit when a write fails; its message is `message_prefix` followed by the API error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailureEvent {
    pub event_type: EventType,
    pub reason: Reason,
    pub message_prefix: &'static str,
}

/// A Kubernetes event about a PV or a claim.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// The object the event is about, as the decision saw it.
    pub regarding: ObjectReference,
    pub event_type: EventType,
    pub reason: Reason,
    /// Upstream's exact message.
    pub message: String,
    /// Berth's extra explanation (e.g. why no existing PV fits), kept apart so `message` stays upstream's.
    pub detail: Option<String>,
}

impl Event {
    pub fn new(
        regarding: ObjectReference,
        event_type: EventType,
        reason: Reason,
        message: String,
    ) -> Self {
        Event {
            regarding,
            event_type,
            reason,
            message,
            detail: None,
        }
    }
}

/// Event type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    Normal,
    Warning,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Normal => "Normal",
            EventType::Warning => "Warning",
        }
    }
}

/// Event reasons, spelled as upstream spells them (binder-spec 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    FailedBinding,
    VolumeMismatch,
    WaitForFirstConsumer,
    WaitForPodScheduled,
    ProvisioningFailed,
    ExternalProvisioning,
    ClaimLost,
    ClaimMisbound,
    VolumeFailedRecycle,
    VolumeFailedDelete,
    VolumeUnknownReclaimPolicy,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::FailedBinding => "FailedBinding",
            Reason::VolumeMismatch => "VolumeMismatch",
            Reason::WaitForFirstConsumer => "WaitForFirstConsumer",
            Reason::WaitForPodScheduled => "WaitForPodScheduled",
            Reason::ProvisioningFailed => "ProvisioningFailed",
            Reason::ExternalProvisioning => "ExternalProvisioning",
            Reason::ClaimLost => "ClaimLost",
            Reason::ClaimMisbound => "ClaimMisbound",
            Reason::VolumeFailedRecycle => "VolumeFailedRecycle",
            Reason::VolumeFailedDelete => "VolumeFailedDelete",
            Reason::VolumeUnknownReclaimPolicy => "VolumeUnknownReclaimPolicy",
        }
    }
}

/// Why a claim or volume sync fails (carried by [`Action::Fail`]).
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    /// The claim's StorageClass exists but has no volumeBindingMode (binder-spec 1.6).
    #[error("volumeBindingMode not set for storage class {class:?}")]
    ReadBindingMode { class: String },
    /// Matching failed, e.g. an unparsable request or selector.
    #[error("error finding PV for claim {claim}")]
    FindVolume {
        claim: ClaimKey,
        #[source]
        source: Arc<MatchError>,
    },
    /// The claim names a PV that the binder itself bound to another claim (should never happen upstream).
    #[error(
        "invalid binding of claim {claim} to volume {volume:?}: volume already claimed by {other}"
    )]
    BindClaim {
        claim: ClaimKey,
        volume: String,
        other: ClaimKey,
    },
    /// `bind()` step 4: the PV has no storage capacity to copy into the claim's status.
    #[error("setting capacity of claim {claim}: volume {volume:?} has no storage capacity")]
    SetClaimCapacity { claim: ClaimKey, volume: String },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A static label for metrics and logs.
    pub fn category(&self) -> &'static str {
        match self {
            Error::ReadBindingMode { .. } => "read_binding_mode",
            Error::FindVolume { .. } => "find_volume",
            Error::BindClaim { .. } => "bind_claim",
            Error::SetClaimCapacity { .. } => "set_claim_capacity",
        }
    }
}

// Hand-written because `MatchError` is not comparable; its rendered message is what tests and logs see.
impl PartialEq for Error {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Error::ReadBindingMode { class: a }, Error::ReadBindingMode { class: b }) => a == b,
            (
                Error::FindVolume {
                    claim: a,
                    source: s,
                },
                Error::FindVolume {
                    claim: b,
                    source: t,
                },
            ) => a == b && s.to_string() == t.to_string(),
            (
                Error::BindClaim {
                    claim: a,
                    volume: v,
                    other: o,
                },
                Error::BindClaim {
                    claim: b,
                    volume: w,
                    other: p,
                },
            ) => a == b && v == w && o == p,
            (
                Error::SetClaimCapacity {
                    claim: a,
                    volume: v,
                },
                Error::SetClaimCapacity {
                    claim: b,
                    volume: w,
                },
            ) => a == b && v == w,
            _ => false,
        }
    }
}

/// A full object reference to a claim, as upstream's `GetReference` builds it for `pv.spec.claimRef`.
pub fn claim_reference(claim: &PersistentVolumeClaim) -> ObjectReference {
    ObjectReference {
        api_version: Some("v1".to_string()),
        kind: Some("PersistentVolumeClaim".to_string()),
        namespace: claim.metadata.namespace.clone(),
        name: claim.metadata.name.clone(),
        uid: claim.metadata.uid.clone(),
        resource_version: claim.metadata.resource_version.clone(),
        field_path: None,
    }
}

/// A full object reference to a PV, for events about it.
pub fn volume_reference(volume: &PersistentVolume) -> ObjectReference {
    ObjectReference {
        api_version: Some("v1".to_string()),
        kind: Some("PersistentVolume".to_string()),
        namespace: None,
        name: volume.metadata.name.clone(),
        uid: volume.metadata.uid.clone(),
        resource_version: volume.metadata.resource_version.clone(),
        field_path: None,
    }
}
