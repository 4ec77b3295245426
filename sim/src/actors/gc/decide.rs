//! The garbage collector's decisions, pure over the graph: what happens to a dependent whose owners are gone or
//! deleting, and when a deleting owner's `orphan` / `foregroundDeletion` finalizer may go.

use std::collections::HashSet;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;

use super::graph::{Graph, Node};

/// Finalizer of an owner deleted with `propagationPolicy: Orphan`.
pub const ORPHAN: &str = "orphan";
/// Finalizer of an owner deleted with `propagationPolicy: Foreground`.
pub const FOREGROUND: &str = "foregroundDeletion";

/// The `propagationPolicy` the collector deletes a dependent with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Propagation {
    Background,
    Foreground,
    Orphan,
}

impl Propagation {
    pub fn as_str(self) -> &'static str {
        match self {
            Propagation::Background => "Background",
            Propagation::Foreground => "Foreground",
            Propagation::Orphan => "Orphan",
        }
    }
}

/// What to do with an object in its role as a dependent.
#[derive(Clone, Debug, PartialEq)]
pub enum DependentAction {
    Keep,
    /// The graph lacks these owners: confirm with the API that they are really gone before acting.
    ConfirmAbsent(Vec<OwnerReference>),
    /// Another owner keeps the object: drop the references to owners that are gone or deleting in the
    /// foreground (so they do not wait for it).
    DropOwnerRefs(Vec<String>),
    /// No owner keeps the object: delete it.
    Delete(Propagation),
}

/// What to do with an object in its role as a deleting owner.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OwnerAction {
    Keep,
    /// Orphan deletion: strip the reference to this owner from these dependents (the finalizer goes once none
    /// is left).
    Orphan(Vec<String>),
    RemoveFinalizer(&'static str),
}

/// How one owner reference stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum OwnerState {
    /// Exists and is not waiting for its dependents: keeps the dependent.
    Solid,
    /// Exists, deleting in the foreground: waits for its dependents to go.
    WaitingForDependents,
    /// Not in the graph and not yet confirmed gone.
    Unconfirmed,
    /// Confirmed gone (absent, or the name now has another uid).
    Absent,
}

/// The dependent-side decision for `node`. `known_kind` says whether an owner's kind is watched (owners of
/// other kinds cannot be checked and count as solid); `confirmed_absent` holds owner uids the API confirmed gone.
pub fn decide_dependent(
    graph: &Graph,
    node: &Node,
    known_kind: &dyn Fn(&OwnerReference) -> bool,
    confirmed_absent: &HashSet<String>,
) -> DependentAction {
    if node.owners.is_empty() || node.deleting {
        // Ownerless objects are not garbage; deleting ones are already on their way out.
        return DependentAction::Keep;
    }
    let states: Vec<(&OwnerReference, OwnerState)> = node
        .owners
        .iter()
        .map(|owner| {
            (
                owner,
                owner_state(graph, node, owner, known_kind, confirmed_absent),
            )
        })
        .collect();
    let with = |wanted: &[OwnerState]| -> Vec<&OwnerReference> {
        states
            .iter()
            .filter(|(_, s)| wanted.contains(s))
            .map(|(o, _)| *o)
            .collect()
    };
    let unconfirmed: Vec<OwnerReference> = with(&[OwnerState::Unconfirmed])
        .into_iter()
        .cloned()
        .collect();
    let solid = with(&[OwnerState::Solid]).len();
    let waiting = with(&[OwnerState::WaitingForDependents]).len();
    let releasable: Vec<String> = with(&[OwnerState::Absent, OwnerState::WaitingForDependents])
        .into_iter()
        .map(|o| o.uid.clone())
        .collect();
    match (unconfirmed.is_empty(), solid, waiting) {
        (false, _, _) => DependentAction::ConfirmAbsent(unconfirmed),
        (true, 0, 0) => DependentAction::Delete(default_propagation(node)),
        // Deleting it in the foreground makes its own dependents go first, as the waiting owner expects.
        (true, 0, _) if graph.has_dependents(&node.uid) => {
            DependentAction::Delete(Propagation::Foreground)
        }
        (true, 0, _) => DependentAction::Delete(default_propagation(node)),
        (true, _, _) if releasable.is_empty() => DependentAction::Keep,
        (true, _, _) => DependentAction::DropOwnerRefs(releasable),
    }
}

fn owner_state(
    graph: &Graph,
    dependent: &Node,
    owner: &OwnerReference,
    known_kind: &dyn Fn(&OwnerReference) -> bool,
    confirmed_absent: &HashSet<String>,
) -> OwnerState {
    if confirmed_absent.contains(&owner.uid) {
        return OwnerState::Absent;
    }
    match graph.get(&owner.uid) {
        // A namespaced dependent can only be owned from its own namespace (or by a cluster-scoped object).
        Some(found) if found.namespace.is_some() && found.namespace != dependent.namespace => {
            OwnerState::Absent
        }
        Some(found) if found.deleting && found.has_finalizer(FOREGROUND) => {
            OwnerState::WaitingForDependents
        }
        Some(_) => OwnerState::Solid,
        None if known_kind(owner) => OwnerState::Unconfirmed,
        None => OwnerState::Solid,
    }
}

/// The policy a dependent is deleted with when nothing else applies: what its own finalizers ask for.
fn default_propagation(node: &Node) -> Propagation {
    match (node.has_finalizer(ORPHAN), node.has_finalizer(FOREGROUND)) {
        (true, _) => Propagation::Orphan,
        (false, true) => Propagation::Foreground,
        (false, false) => Propagation::Background,
    }
}

/// The owner-side decision for `node` (only deleting owners with a collector finalizer have one).
pub fn decide_owner(graph: &Graph, node: &Node) -> OwnerAction {
    if !node.deleting {
        return OwnerAction::Keep;
    }
    let referencing: Vec<&Node> = graph.dependents_of(&node.uid).collect();
    match (node.has_finalizer(ORPHAN), node.has_finalizer(FOREGROUND)) {
        (true, _) if referencing.is_empty() => OwnerAction::RemoveFinalizer(ORPHAN),
        (true, _) => OwnerAction::Orphan(referencing.iter().map(|d| d.uid.clone()).collect()),
        (false, true) => {
            let blocking = referencing.iter().any(|dependent| {
                dependent
                    .owners
                    .iter()
                    .any(|o| o.uid == node.uid && o.block_owner_deletion == Some(true))
            });
            if blocking {
                OwnerAction::Keep
            } else {
                OwnerAction::RemoveFinalizer(FOREGROUND)
            }
        }
        (false, false) => OwnerAction::Keep,
    }
}
