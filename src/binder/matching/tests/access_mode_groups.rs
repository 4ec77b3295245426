//! Edge case 1: access-mode groups, tried fewest modes first, dominate size and even pre-binding.
use super::*;

/// Edge case 1: access-mode closeness beats size.
#[test]
fn closer_access_modes_beat_smaller_size() {
    let volumes = [
        available("pv-rwo-big", "100Gi", RWO).build(),
        available("pv-rwo-rox-small", "1Gi", RWO_ROX).build(),
    ];
    assert_eq!(
        best(&rwo_claim("1Gi").build(), &volumes),
        some("pv-rwo-big")
    );
}

/// Edge case 1: a PV pre-bound to the claim in a larger mode group loses to an ordinary match in a smaller one.
#[test]
fn closer_access_modes_beat_a_pre_bound_volume() {
    let volumes = [
        available("pv-pre", "1Gi", RWO_ROX)
            .claim_ref("ns", "c", None)
            .build(),
        available("pv-plain", "9Gi", RWO).build(),
    ];
    assert_eq!(best(&rwo_claim("1Gi").build(), &volumes), some("pv-plain"));
}

#[test]
fn larger_mode_group_is_used_when_closer_groups_have_no_fit() {
    let volumes = [
        available("pv-rwo-small", "1Gi", RWO).build(),
        available("pv-rwo-rox", "10Gi", RWO_ROX).build(),
        available(
            "pv-all",
            "5Gi",
            &["ReadWriteOnce", "ReadOnlyMany", "ReadWriteMany"],
        )
        .build(),
    ];
    assert_eq!(
        best(&rwo_claim("4Gi").build(), &volumes),
        some("pv-rwo-rox")
    );
}

/// Edge case 1: upstream tries same-size mode groups in random order; Berth merges them, smallest first.
#[test]
fn mode_groups_of_equal_size_compete_on_size_then_name() {
    let volumes = [
        available("pv-rox", "5Gi", RWO_ROX).build(),
        available("pv-rwx", "2Gi", RWO_RWX).build(),
    ];
    assert_eq!(best(&rwo_claim("1Gi").build(), &volumes), some("pv-rwx"));
}

#[test]
fn claim_without_access_modes_starts_with_modeless_volumes() {
    let volumes = [
        pv("pv-modeless")
            .capacity("10Gi")
            .class("fast")
            .phase("Available")
            .build(),
        available("pv-rwo", "1Gi", RWO).build(),
    ];
    let claim = claim("ns", "c").request("1Gi").class("fast").build();
    assert_eq!(best(&claim, &volumes), some("pv-modeless"));
}

#[test]
fn claim_asking_an_unknown_access_mode_matches_nothing() {
    let volumes = [available("pv-1", "1Gi", &["ReadWriteOnce", "Sometimes"]).build()];
    let claim = claim_with_attributes_class(rwo_claim("1Gi").modes(&["Sometimes"]).build(), "gold");
    // No mode group contains the unknown mode, so upstream never even validates the claim.
    assert_eq!(choose(&claim, &volumes, &CONTROLLER), Ok(None));
}
