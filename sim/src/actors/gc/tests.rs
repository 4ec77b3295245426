//! Tests of the ownership graph and the garbage collector decisions.

use std::collections::HashSet;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;

use super::decide::{DependentAction, OwnerAction, Propagation, decide_dependent, decide_owner};
use super::graph::{Graph, Node};
use super::{FOREGROUND, ORPHAN};

fn owner_ref(uid: &str, kind: &str, block: bool) -> OwnerReference {
    OwnerReference {
        api_version: if kind == "StatefulSet" {
            "apps/v1"
        } else {
            "v1"
        }
        .to_string(),
        kind: kind.to_string(),
        name: format!("name-of-{uid}"),
        uid: uid.to_string(),
        block_owner_deletion: block.then_some(true),
        controller: None,
    }
}

fn node(uid: &str, owners: Vec<OwnerReference>) -> Node {
    Node {
        uid: uid.to_string(),
        resource: 0,
        namespace: Some("ns".to_string()),
        name: format!("name-of-{uid}"),
        resource_version: "1".to_string(),
        owners,
        finalizers: vec![],
        deleting: false,
    }
}

fn deleting(mut node: Node, finalizers: &[&str]) -> Node {
    node.deleting = true;
    node.finalizers = finalizers.iter().map(|f| f.to_string()).collect();
    node
}

fn graph(nodes: Vec<Node>) -> Graph {
    let mut graph = Graph::default();
    for node in nodes {
        graph.upsert(node);
    }
    graph
}

fn known(owner: &OwnerReference) -> bool {
    owner.kind != "Unknown"
}

fn dependent_action(graph: &Graph, uid: &str, confirmed: &[&str]) -> DependentAction {
    let confirmed: HashSet<String> = confirmed.iter().map(|s| s.to_string()).collect();
    decide_dependent(graph, graph.get(uid).unwrap(), &known, &confirmed)
}

#[test]
fn graph_indexes_dependents_and_reports_affected_uids() {
    let mut g = Graph::default();
    assert_eq!(g.upsert(node("sts", vec![])), ["sts"]);
    let affected = g.upsert(node("pod", vec![owner_ref("sts", "StatefulSet", true)]));
    assert_eq!(affected, ["pod", "sts"]);
    assert_eq!(
        g.dependents_of("sts")
            .map(|n| n.uid.as_str())
            .collect::<Vec<_>>(),
        ["pod"]
    );
    // Re-owning: both the old and the new owner are affected.
    let affected = g.upsert(node("pod", vec![owner_ref("other", "StatefulSet", false)]));
    assert_eq!(affected, ["pod", "sts", "other"]);
    assert!(!g.has_dependents("sts"));
    // Dependents are indexed even while their owner is not in the graph.
    assert!(g.has_dependents("other"));
    assert_eq!(g.upsert(node("other", vec![])), ["other", "pod"]);
    assert_eq!(g.remove("other"), ["pod"]);
    assert_eq!(g.remove("pod"), ["other"]);
    assert!(g.remove("pod").is_empty());
    assert_eq!(g.uids_of(0), HashSet::from(["sts".to_string()]));
}

#[test]
fn dependents_without_owners_or_already_deleting_are_kept() {
    let g = graph(vec![
        node("free", vec![]),
        deleting(
            node("going", vec![owner_ref("gone", "StatefulSet", false)]),
            &[],
        ),
    ]);
    assert_eq!(dependent_action(&g, "free", &[]), DependentAction::Keep);
    assert_eq!(dependent_action(&g, "going", &[]), DependentAction::Keep);
}

#[test]
fn missing_owners_are_confirmed_before_anything_is_deleted() {
    let g = graph(vec![node(
        "pod",
        vec![owner_ref("sts", "StatefulSet", true)],
    )]);
    assert_eq!(
        dependent_action(&g, "pod", &[]),
        DependentAction::ConfirmAbsent(vec![owner_ref("sts", "StatefulSet", true)])
    );
    assert_eq!(
        dependent_action(&g, "pod", &["sts"]),
        DependentAction::Delete(Propagation::Background)
    );
}

#[test]
fn owners_of_unknown_kinds_keep_their_dependents() {
    let g = graph(vec![node("pod", vec![owner_ref("x", "Unknown", false)])]);
    assert_eq!(dependent_action(&g, "pod", &[]), DependentAction::Keep);
}

#[test]
fn a_live_owner_keeps_the_dependent_and_gone_refs_are_dropped() {
    let g = graph(vec![
        node("sts", vec![]),
        node(
            "pvc",
            vec![
                owner_ref("sts", "StatefulSet", true),
                owner_ref("pod", "Pod", true),
            ],
        ),
    ]);
    assert_eq!(
        dependent_action(&g, "pvc", &["pod"]),
        DependentAction::DropOwnerRefs(vec!["pod".into()])
    );
    let g = graph(vec![
        node("sts", vec![]),
        node("pvc", vec![owner_ref("sts", "StatefulSet", true)]),
    ]);
    assert_eq!(dependent_action(&g, "pvc", &[]), DependentAction::Keep);
}

#[test]
fn owner_in_another_namespace_does_not_count() {
    let mut foreign = node("sts", vec![]);
    foreign.namespace = Some("other".into());
    let g = graph(vec![
        foreign,
        node("pod", vec![owner_ref("sts", "StatefulSet", false)]),
    ]);
    assert_eq!(
        dependent_action(&g, "pod", &[]),
        DependentAction::Delete(Propagation::Background)
    );
}

#[test]
fn dependent_finalizers_choose_the_propagation() {
    let mut orphaning = node("pod", vec![owner_ref("sts", "StatefulSet", false)]);
    orphaning.finalizers = vec![ORPHAN.into()];
    let g = graph(vec![orphaning]);
    assert_eq!(
        dependent_action(&g, "pod", &["sts"]),
        DependentAction::Delete(Propagation::Orphan)
    );
    let mut foreground = node("pod", vec![owner_ref("sts", "StatefulSet", false)]);
    foreground.finalizers = vec![FOREGROUND.into()];
    let g = graph(vec![foreground]);
    assert_eq!(
        dependent_action(&g, "pod", &["sts"]),
        DependentAction::Delete(Propagation::Foreground)
    );
}

#[test]
fn foreground_owner_gets_its_dependents_deleted() {
    let sts = deleting(node("sts", vec![]), &[FOREGROUND]);
    let pod = node("pod", vec![owner_ref("sts", "StatefulSet", true)]);
    let g = graph(vec![sts.clone(), pod]);
    assert_eq!(
        dependent_action(&g, "pod", &[]),
        DependentAction::Delete(Propagation::Background)
    );
    // A dependent that owns others goes in the foreground too.
    let g = graph(vec![
        sts,
        node("pod", vec![owner_ref("sts", "StatefulSet", true)]),
        node("cm", vec![owner_ref("pod", "Pod", true)]),
    ]);
    assert_eq!(
        dependent_action(&g, "pod", &[]),
        DependentAction::Delete(Propagation::Foreground)
    );
}

#[test]
fn foreground_owner_next_to_a_live_owner_is_released() {
    let g = graph(vec![
        deleting(node("a", vec![]), &[FOREGROUND]),
        node("b", vec![]),
        node(
            "pod",
            vec![
                owner_ref("a", "StatefulSet", true),
                owner_ref("b", "StatefulSet", true),
            ],
        ),
    ]);
    assert_eq!(
        dependent_action(&g, "pod", &[]),
        DependentAction::DropOwnerRefs(vec!["a".into()])
    );
}

#[test]
fn owner_decisions() {
    let live = graph(vec![node("sts", vec![])]);
    assert_eq!(
        decide_owner(&live, live.get("sts").unwrap()),
        OwnerAction::Keep
    );

    let plain_delete = graph(vec![deleting(node("sts", vec![]), &["other.io/f"])]);
    assert_eq!(
        decide_owner(&plain_delete, plain_delete.get("sts").unwrap()),
        OwnerAction::Keep
    );

    let orphan = graph(vec![
        deleting(node("sts", vec![]), &[ORPHAN]),
        node("pod", vec![owner_ref("sts", "StatefulSet", true)]),
    ]);
    assert_eq!(
        decide_owner(&orphan, orphan.get("sts").unwrap()),
        OwnerAction::Orphan(vec!["pod".into()])
    );
    let orphaned = graph(vec![deleting(node("sts", vec![]), &[ORPHAN])]);
    assert_eq!(
        decide_owner(&orphaned, orphaned.get("sts").unwrap()),
        OwnerAction::RemoveFinalizer(ORPHAN)
    );

    let blocked = graph(vec![
        deleting(node("sts", vec![]), &[FOREGROUND]),
        deleting(
            node("pod", vec![owner_ref("sts", "StatefulSet", true)]),
            &[],
        ),
    ]);
    assert_eq!(
        decide_owner(&blocked, blocked.get("sts").unwrap()),
        OwnerAction::Keep,
        "a terminating pod still blocks"
    );
    let unblocking = graph(vec![
        deleting(node("sts", vec![]), &[FOREGROUND]),
        node("rev", vec![owner_ref("sts", "StatefulSet", false)]),
    ]);
    assert_eq!(
        decide_owner(&unblocking, unblocking.get("sts").unwrap()),
        OwnerAction::RemoveFinalizer(FOREGROUND),
        "dependents without blockOwnerDeletion do not block"
    );
}
