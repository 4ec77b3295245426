//! The scheduler path (`MatchOptions::node` set): upstream's VolumeBinding plugin calling the same matcher.
use k8s_openapi::api::core::v1::{
    Node, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm, VolumeNodeAffinity,
};

use super::*;
use crate::binder::matching::test_objects::node;

fn on(node: &Node) -> MatchOptions<'_> {
    MatchOptions {
        delay_binding: true,
        node: Some(node),
    }
}

fn zone(name: &str, size: &str, zone: &str) -> PersistentVolume {
    with_affinity(available(name, size, RWO).build(), "zone", &[zone])
}

#[test]
fn scheduler_path_checks_node_affinity() {
    let volumes = [
        zone("pv-a", "1Gi", "a"),
        zone("pv-b", "2Gi", "b"),
        available("pv-any", "3Gi", RWO).build(),
    ];
    let claim = rwo_claim("1Gi").build();
    assert_eq!(
        choose(&claim, &volumes, &on(&node("n", &[("zone", "b")]))),
        Ok(some("pv-b"))
    );
    assert_eq!(
        choose(&claim, &volumes, &on(&node("n", &[("zone", "c")]))),
        Ok(some("pv-any"))
    );
    assert_eq!(
        choose(&claim, &volumes[..2], &on(&node("n", &[]))),
        Ok(None)
    );
}

/// Upstream checks PV node affinity against a node built from labels only: `matchFields` are not evaluated.
#[test]
fn scheduler_path_does_not_evaluate_match_fields() {
    let mut volume = available("pv-1", "1Gi", RWO).build();
    let term = NodeSelectorTerm {
        match_expressions: None,
        match_fields: Some(vec![NodeSelectorRequirement {
            key: "metadata.name".into(),
            operator: "In".into(),
            values: Some(vec!["other-node".into()]),
        }]),
    };
    volume
        .spec
        .get_or_insert_with(Default::default)
        .node_affinity = Some(VolumeNodeAffinity {
        required: Some(NodeSelector {
            node_selector_terms: vec![term],
        }),
    });
    let node = node("this-node", &[]);
    assert_eq!(
        choose(&rwo_claim("1Gi").build(), &[volume], &on(&node)),
        Ok(some("pv-1"))
    );
}

/// The scheduler scans every PV of the class in one list: no access-mode groups, smallest wins.
#[test]
fn scheduler_path_has_no_access_mode_groups() {
    let volumes = [
        available("pv-rwo", "100Gi", RWO).build(),
        available("pv-rwo-rox", "1Gi", RWO_ROX).build(),
    ];
    let node = node("n", &[]);
    assert_eq!(
        choose(&rwo_claim("1Gi").build(), &volumes, &on(&node)),
        Ok(some("pv-rwo-rox"))
    );
}

#[test]
fn scheduler_path_checks_access_modes_except_for_pre_bound_volumes() {
    let claim = rwo_claim("1Gi").modes(&["ReadWriteMany"]).build();
    let node = node("n", &[]);
    let unbound = [available("pv-rwo", "1Gi", RWO).build()];
    assert_eq!(choose(&claim, &unbound, &on(&node)), Ok(None));
    let pre_bound = [available("pv-rwo", "1Gi", RWO)
        .claim_ref("ns", "c", None)
        .build()];
    assert_eq!(choose(&claim, &pre_bound, &on(&node)), Ok(some("pv-rwo")));
}

#[test]
fn scheduler_path_ignores_delay_binding() {
    let node = node("n", &[]);
    let volumes = [available("pv-1", "1Gi", RWO).build()];
    assert_eq!(
        choose(&rwo_claim("1Gi").build(), &volumes, &on(&node)),
        Ok(some("pv-1"))
    );
}

/// Upstream returns "no match" as soon as it meets a pre-bound PV whose node affinity excludes the node.
#[test]
fn scheduler_path_pre_bound_volume_off_the_node_means_no_match() {
    let volumes = [
        with_affinity(
            available("pv-pre", "1Gi", RWO)
                .claim_ref("ns", "c", None)
                .build(),
            "zone",
            &["x"],
        ),
        available("pv-free", "1Gi", RWO).build(),
    ];
    let node = node("n", &[("zone", "y")]);
    assert_eq!(
        choose(&rwo_claim("1Gi").build(), &volumes, &on(&node)),
        Ok(None)
    );
}

/// The scheduler lists PVs of the claim's class only, so a pre-bound PV of another class is not seen.
#[test]
fn scheduler_path_sees_only_the_claims_class() {
    let volumes = [
        available("pv-pre", "1Gi", RWO)
            .class("slow")
            .claim_ref("ns", "c", None)
            .build(),
        available("pv-free", "5Gi", RWO).build(),
    ];
    let node = node("n", &[]);
    assert_eq!(
        choose(&rwo_claim("1Gi").build(), &volumes, &on(&node)),
        Ok(some("pv-free"))
    );
}

/// The scheduler calls the matcher once per claim, so claim errors surface even without PVs.
#[test]
fn scheduler_path_validates_the_claim_without_volumes() {
    let claim = claim_with_attributes_class(rwo_claim("1Gi").build(), "gold");
    let node = node("n", &[]);
    assert_eq!(
        choose(&claim, &[], &on(&node)).map_err(|e| e.category()),
        Err("volume_attributes_class")
    );
}
