//! One named test per upstream filter and per matching edge case of binder-spec section 8 (controller path).
//! Every test also asks the [`VolumeIndex`] and fails if it disagrees with the linear oracle.
use std::sync::Arc;

use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim};

use super::test_objects::{
    claim_with_attributes_class, volume_with_attributes_class, with_affinity, with_expression,
    with_volume_beta_class,
};
use super::*;
use crate::binder::fixtures::{ClaimBuilder, PvBuilder, claim, pv};
use crate::binder::index::VolumeIndex;

mod access_mode_groups;
mod named_volume;
mod scheduler;

const RWO: &[&str] = &["ReadWriteOnce"];
const RWO_ROX: &[&str] = &["ReadWriteOnce", "ReadOnlyMany"];
const RWO_RWX: &[&str] = &["ReadWriteOnce", "ReadWriteMany"];
const CONTROLLER: MatchOptions<'static> = MatchOptions {
    delay_binding: false,
    node: None,
};

/// An Available PV offering `modes`, class "fast".
fn available(name: &str, size: &str, modes: &[&str]) -> PvBuilder {
    pv(name)
        .capacity(size)
        .modes(modes)
        .class("fast")
        .phase("Available")
}

/// A claim ns/c with uid "uid-c" asking `size` as RWO in class "fast".
fn rwo_claim(size: &str) -> ClaimBuilder {
    claim("ns", "c")
        .uid("uid-c")
        .request(size)
        .modes(RWO)
        .class("fast")
}

/// The chosen PV's name per the oracle, after checking that the index chooses the same.
fn choose(
    claim: &PersistentVolumeClaim,
    volumes: &[PersistentVolume],
    opts: &MatchOptions,
) -> Result<Option<String>> {
    let name = |volume: &PersistentVolume| volume.metadata.name.clone().unwrap_or_default();
    let oracle = find_best_volume(claim, volumes, opts).map(|found| found.map(name));
    let mut index = VolumeIndex::new();
    for volume in volumes {
        index.upsert(Arc::new(volume.clone()));
    }
    let indexed = index
        .find_best_volume(claim, opts)
        .map(|found| found.map(name));
    assert_eq!(indexed, oracle, "index and oracle disagree");
    oracle
}

fn best(claim: &PersistentVolumeClaim, volumes: &[PersistentVolume]) -> Option<String> {
    choose(claim, volumes, &CONTROLLER).unwrap_or_else(|err| panic!("{err}"))
}

fn some(name: &str) -> Option<String> {
    Some(name.to_owned())
}

#[test]
fn volume_claimed_by_another_claim_is_skipped() {
    let volumes = [
        available("pv-other", "1Gi", RWO)
            .claim_ref("ns", "other", None)
            .build(),
        available("pv-free", "5Gi", RWO).build(),
    ];
    assert_eq!(best(&rwo_claim("1Gi").build(), &volumes), some("pv-free"));
    let other = claim("ns", "other")
        .uid("u2")
        .request("1Gi")
        .modes(RWO)
        .class("fast")
        .build();
    assert_eq!(best(&other, &volumes), some("pv-other"));
}

#[test]
fn claim_ref_in_another_namespace_is_another_claim() {
    let volumes = [available("pv-1", "1Gi", RWO)
        .claim_ref("elsewhere", "c", None)
        .build()];
    assert_eq!(best(&rwo_claim("1Gi").build(), &volumes), None);
}

/// Edge case 8: a claim deleted and recreated with the same name has a new uid; the old claimRef excludes it.
#[test]
fn claim_ref_with_the_uid_of_an_earlier_claim_is_skipped() {
    let volumes = [available("pv-old", "1Gi", RWO)
        .claim_ref("ns", "c", Some("old-uid"))
        .build()];
    assert_eq!(best(&rwo_claim("1Gi").build(), &volumes), None);
    let same_uid = claim("ns", "c")
        .uid("old-uid")
        .request("1Gi")
        .modes(RWO)
        .class("fast")
        .build();
    assert_eq!(best(&same_uid, &volumes), some("pv-old"));
}

#[test]
fn volume_smaller_than_the_request_is_skipped_and_equal_size_fits() {
    let volumes = [
        available("pv-small", "1Gi", RWO).build(),
        available("pv-exact", "2Gi", RWO).build(),
    ];
    assert_eq!(best(&rwo_claim("2Gi").build(), &volumes), some("pv-exact"));
    assert_eq!(best(&rwo_claim("3Gi").build(), &volumes), None);
}

/// Short list: matching compares exact quantities, so 1G (10^9) does not satisfy 1Gi (2^30), and
/// 1073741824 equals 1Gi.
#[test]
fn capacity_is_compared_as_an_exact_quantity() {
    let decimal = [available("pv-1g", "1G", RWO).build()];
    assert_eq!(best(&rwo_claim("1Gi").build(), &decimal), None);
    let bytes = [available("pv-bytes", "1073741824", RWO).build()];
    assert_eq!(best(&rwo_claim("1Gi").build(), &bytes), some("pv-bytes"));
    let fraction = [available("pv-frac", "1500m", RWO).build()];
    assert_eq!(best(&rwo_claim("2").build(), &fraction), None);
}

/// Short list: a missing request means zero; a missing capacity is zero too.
#[test]
fn missing_request_and_missing_capacity_read_as_zero() {
    let no_request = claim("ns", "c")
        .uid("uid-c")
        .modes(RWO)
        .class("fast")
        .build();
    let volumes = [pv("pv-empty")
        .modes(RWO)
        .class("fast")
        .phase("Available")
        .build()];
    assert_eq!(best(&no_request, &volumes), some("pv-empty"));
    assert_eq!(best(&rwo_claim("1").build(), &volumes), None);
}

#[test]
fn volume_mode_must_match_with_nil_read_as_filesystem() {
    let volumes = [
        available("pv-block", "1Gi", RWO)
            .volume_mode("Block")
            .build(),
        available("pv-fs", "5Gi", RWO)
            .volume_mode("Filesystem")
            .build(),
    ];
    assert_eq!(best(&rwo_claim("1Gi").build(), &volumes), some("pv-fs"));
    assert_eq!(
        best(&rwo_claim("1Gi").volume_mode("Block").build(), &volumes),
        some("pv-block")
    );
    let nil_mode = [available("pv-nil", "1Gi", RWO).build()];
    assert_eq!(
        best(
            &rwo_claim("1Gi").volume_mode("Filesystem").build(),
            &nil_mode
        ),
        some("pv-nil")
    );
    assert_eq!(
        best(&rwo_claim("1Gi").volume_mode("Block").build(), &nil_mode),
        None
    );
}

/// The VolumeAttributesClass feature is disabled (upstream's default): a PV naming one never binds.
#[test]
fn volume_with_an_attributes_class_is_skipped() {
    let volumes = [
        volume_with_attributes_class(available("pv-vac", "1Gi", RWO).build(), "gold"),
        available("pv-plain", "5Gi", RWO).build(),
    ];
    assert_eq!(best(&rwo_claim("1Gi").build(), &volumes), some("pv-plain"));
    let pre_bound = [volume_with_attributes_class(
        available("pv-vac", "1Gi", RWO)
            .claim_ref("ns", "c", None)
            .build(),
        "gold",
    )];
    assert_eq!(best(&rwo_claim("1Gi").build(), &pre_bound), None);
}

#[test]
fn claim_with_an_attributes_class_fails_once_a_mode_group_exists() {
    let claim = claim_with_attributes_class(rwo_claim("1Gi").build(), "gold");
    let error = Err(MatchError::VolumeAttributesClass {
        claim: "ns/c".into(),
    });
    let volumes = [available("pv-1", "1Gi", RWO).build()];
    assert_eq!(choose(&claim, &volumes, &CONTROLLER), error);
    assert_eq!(
        error.map_err(|e| e.to_string()),
        Err::<Option<String>, _>(
            "unsupported volumeAttributesClassName is set on claim ns/c when the feature-gate \
             VolumeAttributesClass is disabled"
                .into()
        )
    );
    // Upstream never calls FindMatchingVolume when no PV offers the requested modes.
    assert_eq!(
        choose(
            &claim,
            &[available("pv-rwx", "1Gi", &["ReadWriteMany"]).build()],
            &CONTROLLER
        ),
        Ok(None)
    );
    assert_eq!(choose(&claim, &[], &CONTROLLER), Ok(None));
}

#[test]
fn volume_being_deleted_is_skipped_even_when_pre_bound() {
    let volumes = [
        available("pv-deleting", "1Gi", RWO).deleting().build(),
        available("pv-pre", "1Gi", RWO)
            .claim_ref("ns", "c", None)
            .deleting()
            .build(),
        available("pv-ok", "9Gi", RWO).build(),
    ];
    assert_eq!(best(&rwo_claim("1Gi").build(), &volumes), some("pv-ok"));
}

/// Edge case 2a: a PV pre-bound by claimRef wins inside its group even if it is larger, not Available, of
/// another class, or rejected by the selector.
#[test]
fn pre_bound_volume_wins_ignoring_phase_class_and_selector() {
    let volumes = [
        available("pv-small", "1Gi", RWO)
            .label("tier", "gold")
            .build(),
        pv("pv-pre")
            .capacity("50Gi")
            .modes(RWO)
            .class("slow")
            .phase("Released")
            .claim_ref("ns", "c", None)
            .build(),
    ];
    let claim = rwo_claim("1Gi").selector(&[("tier", "gold")]).build();
    assert_eq!(best(&claim, &volumes), some("pv-pre"));
}

/// Edge case 2a: the pre-bound PV must still be large enough, of the same volumeMode, in a requested group.
#[test]
fn pre_bound_volume_still_needs_size_volume_mode_and_access_modes() {
    let claim = rwo_claim("2Gi").build();
    let too_small = [available("pv-pre", "1Gi", RWO)
        .claim_ref("ns", "c", None)
        .build()];
    assert_eq!(best(&claim, &too_small), None);
    let block = [available("pv-pre", "5Gi", RWO)
        .volume_mode("Block")
        .claim_ref("ns", "c", None)
        .build()];
    assert_eq!(best(&claim, &block), None);
    let rwx = [available("pv-pre", "5Gi", &["ReadWriteMany"])
        .claim_ref("ns", "c", None)
        .build()];
    assert_eq!(best(&claim, &rwx), None);
}

#[test]
fn pre_bound_volume_with_the_claims_uid_matches() {
    let volumes = [
        available("pv-free", "1Gi", RWO).build(),
        available("pv-mine", "8Gi", RWO)
            .claim_ref("ns", "c", Some("uid-c"))
            .build(),
    ];
    assert_eq!(best(&rwo_claim("1Gi").build(), &volumes), some("pv-mine"));
}

#[test]
fn two_pre_bound_volumes_in_one_group_pick_the_smallest() {
    let volumes = [
        available("pv-b", "8Gi", RWO)
            .claim_ref("ns", "c", None)
            .build(),
        available("pv-a", "8Gi", RWO)
            .claim_ref("ns", "c", None)
            .build(),
        available("pv-c", "4Gi", RWO)
            .claim_ref("ns", "c", None)
            .build(),
    ];
    assert_eq!(best(&rwo_claim("1Gi").build(), &volumes), some("pv-c"));
    assert_eq!(best(&rwo_claim("5Gi").build(), &volumes), some("pv-a"));
}

/// Edge case 7: with WaitForFirstConsumer the controller takes only PVs pre-bound to the claim.
#[test]
fn delay_binding_takes_only_pre_bound_volumes() {
    let delayed = MatchOptions {
        delay_binding: true,
        node: None,
    };
    let claim = rwo_claim("1Gi").build();
    let unbound = [available("pv-free", "1Gi", RWO).build()];
    assert_eq!(choose(&claim, &unbound, &delayed), Ok(None));
    let pre_bound = [
        available("pv-free", "1Gi", RWO).build(),
        available("pv-pre", "2Gi", RWO_ROX)
            .claim_ref("ns", "c", None)
            .build(),
    ];
    assert_eq!(choose(&claim, &pre_bound, &delayed), Ok(some("pv-pre")));
}

#[test]
fn only_available_volumes_are_candidates() {
    let volumes = [
        available("pv-pending", "1Gi", RWO).phase("Pending").build(),
        available("pv-released", "1Gi", RWO)
            .phase("Released")
            .build(),
        available("pv-failed", "1Gi", RWO).phase("Failed").build(),
        available("pv-bound", "1Gi", RWO).phase("Bound").build(),
        pv("pv-new")
            .capacity("1Gi")
            .modes(RWO)
            .class("fast")
            .build(),
    ];
    assert_eq!(best(&rwo_claim("1Gi").build(), &volumes), None);
}

#[test]
fn selector_filters_unbound_volumes() {
    let volumes = [
        available("pv-plain", "1Gi", RWO).build(),
        available("pv-gold", "5Gi", RWO)
            .label("tier", "gold")
            .build(),
        available("pv-silver", "3Gi", RWO)
            .label("tier", "silver")
            .build(),
    ];
    let gold = rwo_claim("1Gi").selector(&[("tier", "gold")]).build();
    assert_eq!(best(&gold, &volumes), some("pv-gold"));
    let not_gold = with_expression(rwo_claim("2Gi").build(), "tier", "NotIn", &["gold"]);
    assert_eq!(best(&not_gold, &volumes), some("pv-silver"));
    let labelled = with_expression(rwo_claim("1Gi").build(), "tier", "Exists", &[]);
    assert_eq!(best(&labelled, &volumes), some("pv-silver"));
    // An empty selector `{}` selects everything.
    assert_eq!(
        best(&rwo_claim("1Gi").selector(&[]).build(), &volumes),
        some("pv-plain")
    );
}

#[test]
fn invalid_selector_fails_the_sync() {
    let claim = with_expression(rwo_claim("1Gi").build(), "tier", "Exists", &["gold"]);
    let result = choose(
        &claim,
        &[available("pv-1", "1Gi", RWO).build()],
        &CONTROLLER,
    )
    .map_err(|e| e.to_string());
    assert_eq!(
        result,
        Err("error creating internal label selector for claim: ns/c: invalid label selector: key \"tier\": \
             values set must be empty for exists and does not exist"
            .to_owned())
    );
}

#[test]
fn class_must_match_exactly() {
    let volumes = [
        available("pv-slow", "1Gi", RWO).class("slow").build(),
        available("pv-fast", "5Gi", RWO).build(),
    ];
    assert_eq!(best(&rwo_claim("1Gi").build(), &volumes), some("pv-fast"));
    assert_eq!(
        best(&rwo_claim("1Gi").class("slow").build(), &volumes),
        some("pv-slow")
    );
    assert_eq!(
        best(&rwo_claim("1Gi").class("gold").build(), &volumes),
        None
    );
}

/// Edge case 3: nil and "" claim classes both mean "no class" and match only class-less PVs.
#[test]
fn nil_and_empty_claim_class_match_only_classless_volumes() {
    let volumes = [
        available("pv-fast", "1Gi", RWO).build(),
        pv("pv-none")
            .capacity("5Gi")
            .modes(RWO)
            .phase("Available")
            .build(),
        pv("pv-empty")
            .capacity("3Gi")
            .modes(RWO)
            .class("")
            .phase("Available")
            .build(),
    ];
    let nil_class = claim("ns", "c").request("1Gi").modes(RWO).build();
    assert_eq!(best(&nil_class, &volumes), some("pv-empty"));
    let empty_class = claim("ns", "c").request("4Gi").modes(RWO).class("").build();
    assert_eq!(best(&empty_class, &volumes), some("pv-none"));
}

/// Edge case 3: the beta annotation overrides the field on both sides, even when empty.
#[test]
fn beta_class_annotation_overrides_the_field_on_both_sides() {
    let volumes = [
        with_volume_beta_class(available("pv-beta-slow", "1Gi", RWO).build(), "slow"),
        with_volume_beta_class(available("pv-beta-none", "2Gi", RWO).build(), ""),
    ];
    assert_eq!(best(&rwo_claim("1Gi").build(), &volumes), None);
    assert_eq!(
        best(&rwo_claim("1Gi").beta_class("slow").build(), &volumes),
        some("pv-beta-slow")
    );
    assert_eq!(
        best(&rwo_claim("1Gi").beta_class("").build(), &volumes),
        some("pv-beta-none")
    );
}

#[test]
fn smallest_fitting_volume_wins() {
    let volumes = [
        available("pv-10", "10Gi", RWO).build(),
        available("pv-2", "2Gi", RWO).build(),
        available("pv-1", "1Gi", RWO).build(),
        available("pv-3", "3000M", RWO).build(),
    ];
    assert_eq!(best(&rwo_claim("1500Mi").build(), &volumes), some("pv-2"));
}

/// Edge case 1: equal capacities are broken by name (upstream: store order), whatever the spelling.
#[test]
fn equal_capacities_break_ties_by_name() {
    let volumes = [
        available("pv-b", "1Gi", RWO).build(),
        available("pv-c", "1024Mi", RWO).build(),
        available("pv-a", "1073741824", RWO).build(),
    ];
    assert_eq!(best(&rwo_claim("1Gi").build(), &volumes), some("pv-a"));
}

#[test]
fn volume_with_unreadable_capacity_is_never_chosen() {
    let volumes = [
        available("pv-bad", "lots", RWO).build(),
        available("pv-good", "5Gi", RWO).build(),
    ];
    assert_eq!(best(&rwo_claim("1Gi").build(), &volumes), some("pv-good"));
    let message = volume_capacity(&volumes[0]).map_err(|e| e.to_string());
    assert_eq!(
        message,
        Err("invalid storage capacity of volume \"pv-bad\": invalid quantity \"lots\": unexpected character 'l' at byte 0"
            .to_owned())
    );
}

#[test]
fn unreadable_claim_request_fails_the_sync() {
    let result = choose(
        &rwo_claim("1 Gi").build(),
        &[available("pv-1", "1Gi", RWO).build()],
        &CONTROLLER,
    );
    assert_eq!(result.map_err(|e| e.category()), Err("invalid_request"));
}

/// Short list: a Terminating claim (deletionTimestamp, protection finalizer) is still matched.
#[test]
fn terminating_claim_is_still_matched() {
    let volumes = [available("pv-1", "1Gi", RWO).build()];
    assert_eq!(
        best(&rwo_claim("1Gi").deleting().build(), &volumes),
        some("pv-1")
    );
}

/// The controller never checks node affinity (it passes no node).
#[test]
fn controller_path_ignores_node_affinity() {
    let volumes = [with_affinity(
        available("pv-zone-b", "1Gi", RWO).build(),
        "zone",
        &["b"],
    )];
    assert_eq!(best(&rwo_claim("1Gi").build(), &volumes), some("pv-zone-b"));
}

#[test]
fn helpers_read_requests_capacities_and_modes() {
    let claim = rwo_claim("3Gi").build();
    assert_eq!(
        claim_request(&claim),
        Ok(crate::k8s::quantity::Quantity::from_bytes(3 << 30))
    );
    assert_eq!(
        volume_capacity(&pv("pv").build()).map(|q| q.is_zero()),
        Ok(true)
    );
    assert_eq!(claim_volume_mode(&claim), "Filesystem");
    assert_eq!(
        volume_volume_mode(&pv("pv").volume_mode("Block").build()),
        "Block"
    );
    assert_eq!(claim_modes(&claim).to_string(), "RWO");
}

#[test]
fn is_volume_bound_to_claim_compares_namespace_name_and_uid() {
    let claim = rwo_claim("1Gi").build();
    let cases = [
        (pv("pv").build(), false),
        (pv("pv").claim_ref("ns", "c", None).build(), true),
        (pv("pv").claim_ref("ns", "c", Some("uid-c")).build(), true),
        (pv("pv").claim_ref("ns", "c", Some("other")).build(), false),
        (pv("pv").claim_ref("other", "c", None).build(), false),
        (pv("pv").claim_ref("ns", "d", None).build(), false),
    ];
    for (volume, expected) in cases {
        assert_eq!(
            is_volume_bound_to_claim(&volume, &claim),
            expected,
            "{:?}",
            volume.spec
        );
    }
}
