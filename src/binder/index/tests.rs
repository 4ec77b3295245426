//! Tests for the index's bookkeeping: upserts that move PVs between places, removals that clean up.
use std::sync::Arc;

use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim};

use super::*;
use crate::binder::fixtures::{PvBuilder, claim, pv};
use crate::binder::matching::MatchError;
use crate::binder::matching::test_objects::claim_with_attributes_class;

const CONTROLLER: MatchOptions<'static> = MatchOptions {
    delay_binding: false,
    node: None,
};

fn available(name: &str, size: &str) -> PvBuilder {
    pv(name)
        .capacity(size)
        .modes(&["ReadWriteOnce"])
        .class("fast")
        .phase("Available")
}

fn rwo_claim() -> PersistentVolumeClaim {
    claim("ns", "c")
        .uid("uid-c")
        .request("1Gi")
        .modes(&["ReadWriteOnce"])
        .class("fast")
        .build()
}

fn index_of(volumes: Vec<PersistentVolume>) -> VolumeIndex {
    let mut index = VolumeIndex::new();
    for volume in volumes {
        index.upsert(Arc::new(volume));
    }
    index
}

fn chosen(index: &VolumeIndex, claim: &PersistentVolumeClaim) -> Option<String> {
    let found = index
        .find_best_volume(claim, &CONTROLLER)
        .unwrap_or_else(|err| panic!("{err}"));
    found.and_then(|volume| volume.metadata.name.clone())
}

#[test]
fn upsert_replaces_the_volume_with_the_same_name() {
    let mut index = index_of(vec![
        available("pv-1", "1Gi").build(),
        available("pv-2", "5Gi").build(),
    ]);
    assert_eq!(chosen(&index, &rwo_claim()).as_deref(), Some("pv-1"));
    index.upsert(Arc::new(available("pv-1", "1Gi").phase("Released").build()));
    assert_eq!(index.len(), 2);
    assert_eq!(chosen(&index, &rwo_claim()).as_deref(), Some("pv-2"));
    index.upsert(Arc::new(available("pv-1", "2Gi").build()));
    assert_eq!(chosen(&index, &rwo_claim()).as_deref(), Some("pv-1"));
}

#[test]
fn a_claim_ref_moves_a_volume_out_of_the_pool_and_back() {
    let mut index = index_of(vec![available("pv-1", "1Gi").build()]);
    index.upsert(Arc::new(
        available("pv-1", "1Gi")
            .claim_ref("ns", "other", None)
            .build(),
    ));
    assert_eq!(chosen(&index, &rwo_claim()), None);
    index.upsert(Arc::new(
        available("pv-1", "1Gi").claim_ref("ns", "c", None).build(),
    ));
    assert_eq!(chosen(&index, &rwo_claim()).as_deref(), Some("pv-1"));
    index.upsert(Arc::new(available("pv-1", "1Gi").build()));
    assert_eq!(chosen(&index, &rwo_claim()).as_deref(), Some("pv-1"));
    assert!(
        index.pre_bound.is_empty(),
        "stale pre-bound entry: {:?}",
        index.pre_bound
    );
}

#[test]
fn remove_returns_the_volume_and_cleans_up() {
    let mut index = index_of(vec![
        available("pv-1", "1Gi").build(),
        available("pv-2", "1Gi").claim_ref("ns", "c", None).build(),
        available("pv-3", "1Gi").phase("Released").build(),
    ]);
    assert_eq!(index.remove("pv-missing"), None);
    for name in ["pv-1", "pv-2", "pv-3"] {
        let removed = index
            .remove(name)
            .and_then(|volume| volume.metadata.name.clone());
        assert_eq!(removed.as_deref(), Some(name));
        assert_eq!(index.get(name), None);
    }
    assert!(index.is_empty());
    assert!(
        index.pools.is_empty(),
        "stale pools: {:?}",
        index.pools.keys()
    );
    assert!(
        index.pre_bound.is_empty(),
        "stale pre-bound entries: {:?}",
        index.pre_bound
    );
    assert_eq!(index.set_counts, [0; 16]);
}

#[test]
fn get_iter_and_len_see_every_volume_in_any_state() {
    let index = index_of(vec![
        available("pv-1", "1Gi").build(),
        available("pv-2", "1Gi").deleting().build(),
        available("pv-3", "junk").build(),
    ]);
    assert_eq!(index.len(), 3);
    let mut names: Vec<_> = index
        .iter()
        .filter_map(|volume| volume.metadata.name.clone())
        .collect();
    names.sort();
    assert_eq!(names, ["pv-1", "pv-2", "pv-3"]);
    assert_eq!(
        index
            .get("pv-2")
            .and_then(|volume| volume.metadata.name.as_deref()),
        Some("pv-2")
    );
}

/// Like upstream, claim errors appear only while some PV offers the requested modes, in any state.
#[test]
fn claim_errors_follow_the_existing_mode_sets() {
    let claim = claim_with_attributes_class(rwo_claim(), "gold");
    let mut index = index_of(vec![available("pv-1", "1Gi").phase("Released").build()]);
    let error = MatchError::VolumeAttributesClass {
        claim: "ns/c".into(),
    };
    assert_eq!(index.find_best_volume(&claim, &CONTROLLER), Err(error));
    index.remove("pv-1");
    assert_eq!(index.find_best_volume(&claim, &CONTROLLER), Ok(None));
}

#[test]
fn selector_walks_past_larger_volumes_until_one_matches() {
    let index = index_of(vec![
        available("pv-1", "1Gi").label("tier", "silver").build(),
        available("pv-2", "2Gi").build(),
        available("pv-3", "3Gi").label("tier", "gold").build(),
        available("pv-4", "4Gi").label("tier", "gold").build(),
    ]);
    let gold = claim("ns", "c")
        .request("1Gi")
        .modes(&["ReadWriteOnce"])
        .class("fast")
        .selector(&[("tier", "gold")]);
    assert_eq!(chosen(&index, &gold.build()).as_deref(), Some("pv-3"));
}
