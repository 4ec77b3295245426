//! Why each PV does or does not fit a claim, and a one-line summary for the claim's pending message.
use std::collections::BTreeSet;
use std::fmt;

use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim};

use super::matching::filters::{ClaimQuery, Judgement, VolumeFacts, judge};
use super::matching::{AccessModeSet, Decision, MatchOptions, claim_modes, decide};
use crate::k8s::quantity::Quantity;

/// Why a PV was not chosen for a claim, in upstream's filter order (the first filter it fails).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// The PV does not offer every requested access mode.
    AccessModes {
        have: AccessModeSet,
        need: AccessModeSet,
    },
    /// The PV's claimRef names another claim, or an earlier claim with this name (another uid).
    ClaimedByOther {
        namespace: String,
        name: String,
        earlier_incarnation: bool,
    },
    /// The PV's capacity is not a quantity (a real API server cannot store such a PV).
    InvalidCapacity {
        reason: String,
    },
    TooSmall {
        have: Quantity,
        need: Quantity,
    },
    VolumeMode {
        have: String,
        need: String,
    },
    /// The PV names a VolumeAttributesClass while the feature is disabled.
    VolumeAttributesClass {
        name: String,
    },
    BeingDeleted,
    /// Scheduler path: the PV's node affinity excludes the node.
    NodeAffinity,
    /// The claim binds WaitForFirstConsumer: only the scheduler may pick an unbound PV.
    DelayBinding,
    NotAvailable {
        phase: String,
    },
    /// The PV's labels fail the claim's selector.
    Selector {
        reason: String,
    },
    ClassMismatch {
        volume_class: String,
        claim_class: String,
    },
    /// The PV fits, but `chosen` fits too and offers fewer access modes.
    LostToCloserAccessModes {
        chosen: String,
    },
    /// The PV fits, but `chosen` is pre-bound to the claim.
    LostToPreBound {
        chosen: String,
    },
    /// The PV fits, but `chosen` is smaller (or as large, with an earlier name).
    LostToSmaller {
        chosen: String,
    },
    /// The claim itself cannot be matched (invalid selector, VolumeAttributesClass, unreadable request).
    InvalidClaim {
        reason: String,
    },
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rejection::AccessModes { have, need } => {
                write!(f, "offers access modes [{have}], claim needs [{need}]")
            }
            Rejection::ClaimedByOther {
                namespace,
                name,
                earlier_incarnation: true,
            } => write!(
                f,
                "reserved for an earlier claim {namespace}/{name} (different uid)"
            ),
            Rejection::ClaimedByOther {
                namespace, name, ..
            } => write!(f, "claimed by {namespace}/{name}"),
            Rejection::InvalidCapacity { reason } => write!(f, "unreadable capacity: {reason}"),
            Rejection::TooSmall { have, need } => write!(f, "too small ({have} < {need})"),
            Rejection::VolumeMode { have, need } => {
                write!(f, "volumeMode {have}, claim needs {need}")
            }
            Rejection::VolumeAttributesClass { name } => {
                write!(
                    f,
                    "sets volumeAttributesClassName {name:?} (VolumeAttributesClass is disabled)"
                )
            }
            Rejection::BeingDeleted => f.write_str("being deleted"),
            Rejection::NodeAffinity => f.write_str("node affinity excludes the node"),
            Rejection::DelayBinding => f.write_str("left to the scheduler (WaitForFirstConsumer)"),
            Rejection::NotAvailable { phase } => {
                write!(f, "phase {}, not Available", phase_name(phase))
            }
            Rejection::Selector { reason } => f.write_str(reason),
            Rejection::ClassMismatch {
                volume_class,
                claim_class,
            } => write!(
                f,
                "{}, claim wants {}",
                describe_class(volume_class),
                describe_class(claim_class)
            ),
            Rejection::LostToCloserAccessModes { chosen } => {
                write!(f, "{chosen} offers fewer access modes")
            }
            Rejection::LostToPreBound { chosen } => write!(f, "{chosen} is pre-bound to the claim"),
            Rejection::LostToSmaller { chosen } => write!(f, "{chosen} is smaller or sorts first"),
            Rejection::InvalidClaim { reason } => f.write_str(reason),
        }
    }
}

/// What happened to one PV.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The PV the matcher picks.
    Chosen,
    Rejected(Rejection),
}

/// The outcome for one PV.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict<'a> {
    pub volume: &'a PersistentVolume,
    pub outcome: Outcome,
}

impl Verdict<'_> {
    pub fn rejection(&self) -> Option<&Rejection> {
        match &self.outcome {
            Outcome::Chosen => None,
            Outcome::Rejected(rejection) => Some(rejection),
        }
    }
}

/// One verdict per candidate, in the candidates' order, consistent with
/// [`find_best_volume`](super::matching::find_best_volume): the PV it returns is `Chosen`, every other PV
/// carries the first upstream filter it fails, or why it lost to the chosen one.
pub fn explain<'a>(
    claim: &PersistentVolumeClaim,
    candidates: impl IntoIterator<Item = &'a PersistentVolume>,
    opts: &MatchOptions,
) -> Vec<Verdict<'a>> {
    let volumes: Vec<VolumeFacts<'a>> = candidates.into_iter().map(VolumeFacts::new).collect();
    let verdict = |facts: &VolumeFacts<'a>, outcome| Verdict {
        volume: facts.volume,
        outcome,
    };
    let (decision, query) =
        match decide(claim, &volumes, opts).map(|decision| (decision, ClaimQuery::new(claim))) {
            Ok(found) => found,
            Err(error) => {
                let rejection = Rejection::InvalidClaim {
                    reason: error.to_string(),
                };
                return volumes
                    .iter()
                    .map(|facts| verdict(facts, Outcome::Rejected(rejection.clone())))
                    .collect();
            }
        };
    let wanted = claim_modes(claim);
    let outcome = |facts: &VolumeFacts<'a>| {
        if opts.node.is_none() && !facts.modes.contains_all(&wanted) {
            return Outcome::Rejected(Rejection::AccessModes {
                have: facts.modes,
                need: wanted,
            });
        }
        // The claim validated when `decide` met a PV with the requested modes, and this is one.
        let judgement = match &query {
            Ok(query) => judge(query, facts, opts.node, opts.delay_binding),
            Err(error) => Judgement::Rejected(Rejection::InvalidClaim {
                reason: error.to_string(),
            }),
        };
        match judgement {
            Judgement::Rejected(rejection) => Outcome::Rejected(rejection),
            Judgement::PreBound { fits_node: false } => Outcome::Rejected(Rejection::NodeAffinity),
            Judgement::PreBound { fits_node: true } | Judgement::Candidate => {
                lost_or_chosen(facts, &decision, opts.node.is_none())
            }
        }
    };
    volumes
        .iter()
        .map(|facts| verdict(facts, outcome(facts)))
        .collect()
}

/// A PV that passed every filter either is the chosen one or lost to it. Access-mode groups only exist in
/// the controller path (`grouped`).
fn lost_or_chosen(facts: &VolumeFacts<'_>, decision: &Decision<'_, '_>, grouped: bool) -> Outcome {
    let (chosen, pre_bound) = match decision {
        Decision::Chosen { facts, pre_bound } => (*facts, *pre_bound),
        Decision::PreBoundMisfit { facts } => (*facts, true),
        // Cannot happen: this PV passed every filter, so the search found a PV.
        Decision::NoMatch => return Outcome::Chosen,
    };
    if std::ptr::eq(chosen.volume, facts.volume) {
        return Outcome::Chosen;
    }
    let chosen_name = chosen.name.to_owned();
    let rejection = match (grouped && chosen.modes.len() < facts.modes.len(), pre_bound) {
        (true, _) => Rejection::LostToCloserAccessModes {
            chosen: chosen_name,
        },
        (false, true) => Rejection::LostToPreBound {
            chosen: chosen_name,
        },
        (false, false) => Rejection::LostToSmaller {
            chosen: chosen_name,
        },
    };
    Outcome::Rejected(rejection)
}

/// A deterministic one-line summary: the chosen PV first, then reasons by count (most common first, ties in
/// filter order), e.g. "3 PVs too small (largest 2Gi < 5Gi), 1 in class fast".
pub fn summarize(verdicts: &[Verdict<'_>]) -> String {
    if verdicts.is_empty() {
        return "no PVs".to_owned();
    }
    let mut groups: Vec<(usize, Vec<&Verdict<'_>>)> = Vec::new();
    for verdict in verdicts {
        let rank = rank(verdict);
        match groups.iter_mut().find(|(existing, _)| *existing == rank) {
            Some((_, members)) => members.push(verdict),
            None => groups.push((rank, vec![verdict])),
        }
    }
    groups.sort_by_key(|(rank, members)| (*rank != 0, std::cmp::Reverse(members.len()), *rank));
    let clauses: Vec<String> = groups
        .iter()
        .enumerate()
        .map(|(position, (_, members))| {
            let count = members.len();
            let noun = match (position, count) {
                (0, 1) => " PV",
                (0, _) => " PVs",
                _ => "",
            };
            format!("{count}{noun} {}", phrase(members))
        })
        .collect();
    clauses.join(", ")
}

/// The position of a verdict's reason in filter order; 0 is the chosen PV.
fn rank(verdict: &Verdict<'_>) -> usize {
    let Some(rejection) = verdict.rejection() else {
        return 0;
    };
    match rejection {
        Rejection::AccessModes { .. } => 1,
        Rejection::ClaimedByOther { .. } => 2,
        Rejection::InvalidCapacity { .. } => 3,
        Rejection::TooSmall { .. } => 4,
        Rejection::VolumeMode { .. } => 5,
        Rejection::VolumeAttributesClass { .. } => 6,
        Rejection::BeingDeleted => 7,
        Rejection::NodeAffinity => 8,
        Rejection::DelayBinding => 9,
        Rejection::NotAvailable { .. } => 10,
        Rejection::Selector { .. } => 11,
        Rejection::ClassMismatch { .. } => 12,
        Rejection::LostToCloserAccessModes { .. } => 13,
        Rejection::LostToPreBound { .. } => 14,
        Rejection::LostToSmaller { .. } => 15,
        Rejection::InvalidClaim { .. } => 16,
    }
}

/// The clause for a group of verdicts that share a rank, without its count.
fn phrase(members: &[&Verdict<'_>]) -> String {
    let rejections: Vec<&Rejection> = members
        .iter()
        .filter_map(|verdict| verdict.rejection())
        .collect();
    let Some(first) = rejections.first() else {
        let names = members.iter().map(|verdict| volume_name(verdict.volume));
        return format!("fits ({})", list(names.collect()));
    };
    let distinct = |pick: &dyn Fn(&Rejection) -> Option<String>| -> BTreeSet<String> {
        rejections
            .iter()
            .filter_map(|rejection| pick(rejection))
            .collect()
    };
    match first {
        Rejection::AccessModes { need, .. } if need.to_string().is_empty() => {
            "without the requested access modes".to_owned()
        }
        Rejection::AccessModes { need, .. } => format!("without access modes {need}"),
        Rejection::ClaimedByOther { .. } => {
            let claims = distinct(&|r| match r {
                Rejection::ClaimedByOther {
                    namespace, name, ..
                } => Some(format!("{namespace}/{name}")),
                _ => None,
            });
            match claims.len() {
                1 => format!("claimed by {}", list(claims.into_iter().collect())),
                other => format!("claimed by {other} other claims"),
            }
        }
        Rejection::InvalidCapacity { .. } => "with unreadable capacity".to_owned(),
        Rejection::TooSmall { need, .. } => {
            let largest = rejections
                .iter()
                .filter_map(|r| match r {
                    Rejection::TooSmall { have, .. } => Some(*have),
                    _ => None,
                })
                .max();
            let largest = largest.map(|q| q.to_string()).unwrap_or_default();
            match rejections.len() {
                1 => format!("too small ({largest} < {need})"),
                _ => format!("too small (largest {largest} < {need})"),
            }
        }
        Rejection::VolumeMode { need, .. } => {
            let have = distinct(&|r| match r {
                Rejection::VolumeMode { have, .. } => Some(have.clone()),
                _ => None,
            });
            format!(
                "with volumeMode {} (need {need})",
                list(have.into_iter().collect())
            )
        }
        Rejection::VolumeAttributesClass { .. } => {
            "with a VolumeAttributesClass (feature disabled)".to_owned()
        }
        Rejection::BeingDeleted => "being deleted".to_owned(),
        Rejection::NodeAffinity => "excluded by node affinity".to_owned(),
        Rejection::DelayBinding => "left to the scheduler (WaitForFirstConsumer)".to_owned(),
        Rejection::NotAvailable { .. } => {
            let phases = distinct(&|r| match r {
                Rejection::NotAvailable { phase } => Some(phase_name(phase).to_owned()),
                _ => None,
            });
            format!("not Available ({})", list(phases.into_iter().collect()))
        }
        Rejection::Selector { .. } => "not matching the selector".to_owned(),
        Rejection::ClassMismatch { .. } => {
            let classes = distinct(&|r| match r {
                Rejection::ClassMismatch { volume_class, .. } => Some(volume_class.clone()),
                _ => None,
            });
            match classes.iter().next() {
                Some(class) if classes.len() == 1 && class.is_empty() => {
                    "without a class".to_owned()
                }
                Some(class) if classes.len() == 1 => format!("in class {class}"),
                _ => {
                    let names = classes
                        .iter()
                        .map(|class| class_name(class).to_owned())
                        .collect();
                    format!("in other classes ({})", list(names))
                }
            }
        }
        Rejection::LostToCloserAccessModes { chosen } => {
            format!("with more access modes than {chosen}")
        }
        Rejection::LostToPreBound { chosen } => format!("passed over for pre-bound {chosen}"),
        Rejection::LostToSmaller { chosen } => format!("passed over for smaller {chosen}"),
        Rejection::InvalidClaim { reason } => format!("not considered: {reason}"),
    }
}

/// At most three items, then how many more, so a message stays short with thousands of PVs.
fn list(items: Vec<String>) -> String {
    const SHOWN: usize = 3;
    let more = items.len().saturating_sub(SHOWN);
    let mut shown: Vec<String> = items.into_iter().take(SHOWN).collect();
    if more > 0 {
        shown.push(format!("{more} more"));
    }
    shown.join(", ")
}

fn volume_name(volume: &PersistentVolume) -> String {
    volume.metadata.name.clone().unwrap_or_default()
}

fn describe_class(class: &str) -> String {
    match class {
        "" => "no class".to_owned(),
        class => format!("class {class}"),
    }
}

fn class_name(class: &str) -> &str {
    match class {
        "" => "no class",
        class => class,
    }
}

fn phase_name(phase: &str) -> &str {
    match phase {
        "" => "unset",
        phase => phase,
    }
}

#[cfg(test)]
mod tests;
