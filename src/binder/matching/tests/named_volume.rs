//! `check_volume_satisfies_claim`: a claim naming an unclaimed PV (binder-spec 2.2 B2, edge case 2b).
use super::*;

fn named_claim() -> ClaimBuilder {
    rwo_claim("2Gi").volume_name("pv-1")
}

fn reason(volume: &PersistentVolume, claim: &PersistentVolumeClaim) -> Option<String> {
    check_volume_satisfies_claim(volume, claim)
        .err()
        .map(|mismatch| mismatch.to_string())
}

#[test]
fn named_volume_mismatches_give_upstream_reasons_in_upstream_order() {
    let claim = named_claim().build();
    let cases = [
        (available("pv-1", "2Gi", RWO).build(), None),
        (
            available("pv-1", "1Gi", RWO)
                .class("slow")
                .deleting()
                .build(),
            Some("the volume is marked for deletion \"pv-1\""),
        ),
        (
            available("pv-1", "1Gi", RWO).class("slow").build(),
            Some("requested PV is too small"),
        ),
        (
            available("pv-1", "2Gi", RWO)
                .class("slow")
                .volume_mode("Block")
                .build(),
            Some("storageClassName does not match"),
        ),
        (
            available("pv-1", "2Gi", &["ReadOnlyMany"])
                .volume_mode("Block")
                .build(),
            Some("incompatible volumeMode"),
        ),
        (
            available("pv-1", "2Gi", &["ReadOnlyMany"]).build(),
            Some("incompatible accessMode"),
        ),
    ];
    for (volume, expected) in cases {
        assert_eq!(
            reason(&volume, &claim).as_deref(),
            expected,
            "{:?}",
            volume.spec
        );
    }
}

/// Short list: the named-volume check compares whole bytes rounded up (upstream `Value()`), while matching
/// compares exact quantities: 1500m rounds up to 2 bytes and satisfies a request of 2.
#[test]
fn named_volume_size_is_compared_in_whole_bytes_rounded_up() {
    let claim = rwo_claim("2").volume_name("pv-1").build();
    let volume = available("pv-1", "1500m", RWO).build();
    assert_eq!(reason(&volume, &claim), None);
    assert_eq!(best(&claim, std::slice::from_ref(&volume)), None);
}

/// Edge case 2b: phase, selector, node affinity and binding mode are not checked for a named volume.
#[test]
fn named_volume_ignores_phase_selector_and_node_affinity() {
    let claim = named_claim().selector(&[("tier", "gold")]).build();
    let volume = with_affinity(
        pv("pv-1")
            .capacity("2Gi")
            .modes(RWO)
            .class("fast")
            .phase("Released")
            .build(),
        "zone",
        &["x"],
    );
    assert_eq!(reason(&volume, &claim), None);
}

#[test]
fn named_volume_with_unreadable_sizes_is_a_mismatch_naming_the_object() {
    let claim = named_claim().build();
    let volume = available("pv-1", "big", RWO).build();
    assert_eq!(
        reason(&volume, &claim).as_deref(),
        Some(
            "invalid storage capacity of volume \"pv-1\": invalid quantity \"big\": unexpected character 'b' at byte 0"
        )
    );
    let bad_request = rwo_claim("2 Gi").volume_name("pv-1").build();
    assert_eq!(
        reason(&available("pv-1", "2Gi", RWO).build(), &bad_request).as_deref(),
        Some(
            "invalid storage request of claim ns/c: invalid quantity \"2 Gi\": unexpected character ' ' at byte 1"
        )
    );
}
