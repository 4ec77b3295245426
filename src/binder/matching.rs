//! Claim-to-volume matching with upstream's exact filters: the straightforward linear scan, used as the oracle.
//!
//! Layout: `access_modes` holds mode sets; `filters` holds the per-PV filter chain in upstream's order,
//! shared with [`index`](super::index) and [`explain`](super::explain); this file holds the public API and the
//! linear search. Binder-spec sections 1.2-1.5 and 2.2 B2 describe the behaviour reproduced here.
use k8s_openapi::api::core::v1::{Node, PersistentVolume, PersistentVolumeClaim};

use crate::k8s::class::{claim_class, volume_class};
use crate::k8s::quantity::{Quantity, QuantityError};
use crate::k8s::selector::SelectorError;

mod access_modes;
pub(crate) mod filters;
#[cfg(test)]
pub(crate) mod test_objects;
#[cfg(test)]
mod tests;

pub use access_modes::{AccessMode, AccessModeSet};
use filters::{
    ClaimQuery, Judgement, VolumeFacts, claim_key, claim_storage, judge, volume_storage,
};
pub use filters::{claim_modes, volume_modes};

/// How the caller is matching.
#[derive(Debug, Clone, Copy, Default)]
pub struct MatchOptions<'a> {
    /// The claim's class binds WaitForFirstConsumer: the controller then takes only PVs pre-bound to the claim.
    pub delay_binding: bool,
    /// The scheduler path: the node the pod goes to, whose labels PV node affinity must match. The
    /// controller passes None and never checks node affinity.
    pub node: Option<&'a Node>,
}

/// Errors from matching a claim; all are about the claim, and upstream fails the claim's sync on them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MatchError {
    /// The claim names a VolumeAttributesClass; the feature is disabled, as in upstream's default.
    #[error(
        "unsupported volumeAttributesClassName is set on claim {claim} when the feature-gate VolumeAttributesClass is disabled"
    )]
    VolumeAttributesClass { claim: String },
    /// The claim's label selector is invalid.
    #[error("error creating internal label selector for claim: {claim}: {problem}")]
    ParseSelector {
        claim: String,
        problem: SelectorError,
    },
    /// The claim's storage request is not a quantity.
    #[error("invalid storage request of claim {claim}: {problem}")]
    ParseRequest {
        claim: String,
        problem: QuantityError,
    },
    /// A PV's storage capacity is not a quantity (only from [`volume_capacity`]: matching skips such PVs).
    #[error("invalid storage capacity of volume {volume:?}: {problem}")]
    ParseCapacity {
        volume: String,
        problem: QuantityError,
    },
}

impl MatchError {
    /// A static label for metrics and events.
    pub fn category(&self) -> &'static str {
        match self {
            MatchError::VolumeAttributesClass { .. } => "volume_attributes_class",
            MatchError::ParseSelector { .. } => "invalid_selector",
            MatchError::ParseRequest { .. } => "invalid_request",
            MatchError::ParseCapacity { .. } => "invalid_capacity",
        }
    }
}

pub type Result<T, E = MatchError> = std::result::Result<T, E>;

/// Why a PV named by a claim's `spec.volumeName` cannot be bound to it (upstream `checkVolumeSatisfyClaim`).
/// `Display` is upstream's exact reason text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VolumeMismatch {
    #[error("the volume is marked for deletion {volume:?}")]
    BeingDeleted { volume: String },
    #[error("requested PV is too small")]
    TooSmall,
    #[error("storageClassName does not match")]
    ClassMismatch,
    #[error("incompatible volumeMode")]
    VolumeMode,
    #[error("incompatible accessMode")]
    AccessModes,
    /// Not upstream (its objects always hold valid quantities): the claim's request is unreadable.
    #[error("invalid storage request of claim {claim}: {problem}")]
    UnreadableRequest {
        claim: String,
        problem: QuantityError,
    },
    /// Not upstream: the PV's capacity is unreadable.
    #[error("invalid storage capacity of volume {volume:?}: {problem}")]
    UnreadableCapacity {
        volume: String,
        problem: QuantityError,
    },
}

/// The best PV for a claim among `candidates`, exactly as upstream's PV controller (or, with a node, its
/// scheduler) would pick it. This is the linear scan the [`index`](super::index) is tested against.
///
/// # Guarantees
/// Controller path (`opts.node` is None), binder-spec 1.2/1.3:
/// * Only PVs whose access-mode set contains every requested mode are considered; they are grouped by the
///   number of modes they offer, and groups are tried fewest modes first: the first group with a match wins,
///   even over a PV pre-bound to the claim in a later group.
/// * Within a group, a PV pre-bound to the claim by claimRef wins; else the smallest capacity wins.
/// * Upstream orders groups with the same number of modes, and equal capacities, by map iteration order.
///   Berth treats same-size groups as one group and breaks every tie by name, which is one of upstream's
///   possible outcomes and the same every time.
///
/// Scheduler path (`opts.node` is Some), upstream's VolumeBinding plugin: every PV of the claim's class is
/// one group; PVs must match the node's labels and, unless pre-bound, offer the requested modes; a PV
/// pre-bound to the claim that does not fit the node means no match at all. `delay_binding` is ignored.
///
/// PVs whose capacity cannot be read never match (a real API server cannot store them).
///
/// # Errors
/// Problems with the claim (VolumeAttributesClass set, unreadable request, invalid selector). Like upstream,
/// the controller path reports them only when at least one PV offers the requested modes.
pub fn find_best_volume<'a>(
    claim: &PersistentVolumeClaim,
    candidates: impl IntoIterator<Item = &'a PersistentVolume>,
    opts: &MatchOptions,
) -> Result<Option<&'a PersistentVolume>> {
    let volumes: Vec<VolumeFacts<'a>> = candidates.into_iter().map(VolumeFacts::new).collect();
    Ok(match decide(claim, &volumes, opts)? {
        Decision::Chosen { facts, .. } => Some(facts.volume),
        Decision::NoMatch | Decision::PreBoundMisfit { .. } => None,
    })
}

/// The outcome of the linear search, with what `explain` needs to describe the losers.
#[derive(Debug)]
pub(crate) enum Decision<'f, 'v> {
    NoMatch,
    Chosen {
        facts: &'f VolumeFacts<'v>,
        pre_bound: bool,
    },
    /// Scheduler path: the PV pre-bound to the claim does not fit the node, which ends the search.
    PreBoundMisfit {
        facts: &'f VolumeFacts<'v>,
    },
}

pub(crate) fn decide<'f, 'v>(
    claim: &PersistentVolumeClaim,
    volumes: &'f [VolumeFacts<'v>],
    opts: &MatchOptions,
) -> Result<Decision<'f, 'v>> {
    let wanted = claim_modes(claim);
    let Some(node) = opts.node else {
        // Upstream only calls FindMatchingVolume (which validates the claim) for mode sets that exist.
        if !volumes
            .iter()
            .any(|facts| facts.modes.contains_all(&wanted))
        {
            return Ok(Decision::NoMatch);
        }
        let query = ClaimQuery::new(claim)?;
        for tier in 0..=AccessMode::ALL.len() {
            let group = volumes
                .iter()
                .filter(|facts| facts.modes.len() == tier && facts.modes.contains_all(&wanted));
            let (mut pre_bound, mut smallest) = (None, None);
            for facts in group {
                match judge(&query, facts, None, opts.delay_binding) {
                    Judgement::PreBound { .. } => keep_smallest(&mut pre_bound, facts),
                    Judgement::Candidate => keep_smallest(&mut smallest, facts),
                    Judgement::Rejected(_) => {}
                }
            }
            match (pre_bound, smallest) {
                (Some(facts), _) => {
                    return Ok(Decision::Chosen {
                        facts,
                        pre_bound: true,
                    });
                }
                (None, Some(facts)) => {
                    return Ok(Decision::Chosen {
                        facts,
                        pre_bound: false,
                    });
                }
                (None, None) => {}
            }
        }
        return Ok(Decision::NoMatch);
    };
    let query = ClaimQuery::new(claim)?;
    // Upstream returns at the first pre-bound PV it meets; Berth "meets" them smallest first, then by name.
    let (mut first_pre_bound, mut smallest) = (None::<(&VolumeFacts<'v>, bool)>, None);
    for facts in volumes {
        match judge(&query, facts, Some(node), false) {
            Judgement::PreBound { fits_node } => {
                if first_pre_bound.is_none_or(|(first, _)| facts.cmp_size_then_name(first).is_lt())
                {
                    first_pre_bound = Some((facts, fits_node));
                }
            }
            Judgement::Candidate => keep_smallest(&mut smallest, facts),
            Judgement::Rejected(_) => {}
        }
    }
    Ok(match (first_pre_bound, smallest) {
        (Some((facts, true)), _) => Decision::Chosen {
            facts,
            pre_bound: true,
        },
        (Some((facts, false)), _) => Decision::PreBoundMisfit { facts },
        (None, Some(facts)) => Decision::Chosen {
            facts,
            pre_bound: false,
        },
        (None, None) => Decision::NoMatch,
    })
}

fn keep_smallest<'f, 'v>(best: &mut Option<&'f VolumeFacts<'v>>, facts: &'f VolumeFacts<'v>) {
    if best.is_none_or(|best| facts.cmp_size_then_name(best).is_lt()) {
        *best = Some(facts);
    }
}

/// Upstream `IsVolumeBoundToClaim`: the PV's claimRef names the claim's namespace and name, and its uid is
/// empty or the claim's uid.
pub fn is_volume_bound_to_claim(volume: &PersistentVolume, claim: &PersistentVolumeClaim) -> bool {
    let Some(claim_ref) = volume
        .spec
        .as_ref()
        .and_then(|spec| spec.claim_ref.as_ref())
    else {
        return false;
    };
    filters::ref_names_claim(
        text(&claim_ref.namespace),
        text(&claim_ref.name),
        text(&claim_ref.uid),
        text(&claim.metadata.namespace),
        text(&claim.metadata.name),
        text(&claim.metadata.uid),
    )
}

fn text(value: &Option<String>) -> &str {
    value.as_deref().unwrap_or_default()
}

/// Upstream `checkVolumeSatisfyClaim`, for a claim that names an unclaimed PV (binder-spec 2.2 B2).
/// Sizes are compared as whole bytes rounded up (upstream `Value()`), not as exact quantities.
/// Phase, selector, node affinity and binding mode are deliberately not checked.
pub fn check_volume_satisfies_claim(
    volume: &PersistentVolume,
    claim: &PersistentVolumeClaim,
) -> std::result::Result<(), VolumeMismatch> {
    let volume_name = volume.metadata.name.as_deref().unwrap_or_default();
    if volume.metadata.deletion_timestamp.is_some() {
        return Err(VolumeMismatch::BeingDeleted {
            volume: volume_name.to_owned(),
        });
    }
    let request = claim_storage(claim).map_err(|problem| VolumeMismatch::UnreadableRequest {
        claim: claim_key(claim),
        problem,
    })?;
    let capacity =
        volume_storage(volume).map_err(|problem| VolumeMismatch::UnreadableCapacity {
            volume: volume_name.to_owned(),
            problem,
        })?;
    if capacity.ceil_units() < request.ceil_units() {
        return Err(VolumeMismatch::TooSmall);
    }
    if volume_class(volume) != claim_class(claim) {
        return Err(VolumeMismatch::ClassMismatch);
    }
    if volume_volume_mode(volume) != claim_volume_mode(claim) {
        return Err(VolumeMismatch::VolumeMode);
    }
    if !volume_modes(volume).contains_all(&claim_modes(claim)) {
        return Err(VolumeMismatch::AccessModes);
    }
    Ok(())
}

/// The claim's `resources.requests["storage"]`; missing reads as zero.
pub fn claim_request(claim: &PersistentVolumeClaim) -> Result<Quantity> {
    claim_storage(claim).map_err(|problem| MatchError::ParseRequest {
        claim: claim_key(claim),
        problem,
    })
}

/// The PV's `capacity["storage"]`; missing reads as zero.
pub fn volume_capacity(volume: &PersistentVolume) -> Result<Quantity> {
    volume_storage(volume).map_err(|problem| MatchError::ParseCapacity {
        volume: volume.metadata.name.clone().unwrap_or_default(),
        problem,
    })
}

/// The claim's `volumeMode`; nil reads as "Filesystem", as upstream defaults it for mixed-version clusters.
pub fn claim_volume_mode(claim: &PersistentVolumeClaim) -> &str {
    claim
        .spec
        .as_ref()
        .and_then(|spec| spec.volume_mode.as_deref())
        .unwrap_or(FILESYSTEM)
}

/// The PV's `volumeMode`; nil reads as "Filesystem".
pub fn volume_volume_mode(volume: &PersistentVolume) -> &str {
    volume
        .spec
        .as_ref()
        .and_then(|spec| spec.volume_mode.as_deref())
        .unwrap_or(FILESYSTEM)
}

const FILESYSTEM: &str = "Filesystem";
