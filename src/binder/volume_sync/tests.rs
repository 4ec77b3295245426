//! Volume sync decisions: one named test per transition of binder-spec 2.9 (PV table) and per branch of 2.4 and
//! 2.7, each asserting the exact action list.
use std::sync::Arc;

use k8s_openapi::api::core::v1::PersistentVolume;

use super::*;
use crate::binder::actions::EventType;
use crate::binder::binding::unbind_volume;
use crate::binder::fixtures::{ClaimBuilder, PvBuilder, claim, pod, pv};
use crate::binder::test_support::{volume_event, volume_status, world};

fn decide(volume: &PersistentVolume, claims: &[PersistentVolumeClaim]) -> Vec<Action> {
    sync_volume(
        volume,
        &world(std::slice::from_ref(volume), claims, &[]),
        LiveClaim::NotFetched,
    )
}

fn decide_live(
    volume: &PersistentVolume,
    claims: &[PersistentVolumeClaim],
    live: LiveClaim<'_>,
) -> Vec<Action> {
    sync_volume(
        volume,
        &world(std::slice::from_ref(volume), claims, &[]),
        live,
    )
}

fn the_claim() -> ClaimBuilder {
    claim("ns", "c")
        .uid("uid-c")
        .request("1Gi")
        .modes(&["ReadWriteOnce"])
}

/// pv-1 bound to ns/c (uid-c) by the binder.
fn bound_pv() -> PvBuilder {
    pv("pv-1")
        .capacity("5Gi")
        .modes(&["ReadWriteOnce"])
        .claim_ref("ns", "c", Some("uid-c"))
        .bound_by_controller()
}

#[test]
fn any_to_available_when_claim_ref_is_nil_and_message_cleared() {
    for phase in ["Pending", "Released", "Failed", "Bound"] {
        let v = pv("pv-1").phase(phase).message("old news").build();
        assert_eq!(
            decide(&v, &[]),
            vec![volume_status(pv("pv-1").phase("Available").build())],
            "{phase}"
        );
    }
    assert_eq!(decide(&pv("pv-1").phase("Available").build(), &[]), vec![]);
}

#[test]
fn any_to_available_when_claim_ref_has_no_uid() {
    let v = pv("pv-1").claim_ref("ns", "c", None).build();
    assert_eq!(
        decide(&v, &[]),
        vec![volume_status(
            pv("pv-1")
                .claim_ref("ns", "c", None)
                .phase("Available")
                .build()
        )]
    );
}

#[test]
fn uncached_claim_needs_a_live_lookup_before_release() {
    let v = bound_pv().phase("Bound").build();
    assert_eq!(
        decide(&v, &[]),
        vec![Action::LookUpClaimLive(ClaimKey::new("ns", "c"))]
    );
}

#[test]
fn cached_claim_with_another_uid_needs_a_live_lookup_even_when_released() {
    let newer = the_claim().uid("uid-new").build();
    for phase in ["Bound", "Released", "Failed"] {
        let v = bound_pv().phase(phase).build();
        assert_eq!(
            decide(&v, std::slice::from_ref(&newer)),
            vec![Action::LookUpClaimLive(ClaimKey::new("ns", "c"))],
            "{phase}"
        );
    }
}

#[test]
fn released_or_failed_volume_with_uncached_claim_is_not_looked_up() {
    assert_eq!(decide(&bound_pv().phase("Released").build(), &[]), vec![]);
    assert_eq!(decide(&bound_pv().phase("Failed").build(), &[]), vec![]);
}

#[test]
fn bound_to_released_when_the_api_confirms_the_claim_is_gone() {
    let v = bound_pv().phase("Bound").message("x").build();
    let released = vec![volume_status(bound_pv().phase("Released").build())];
    assert_eq!(decide_live(&v, &[], LiveClaim::NotFound), released);
    let recreated = the_claim().uid("uid-new").build();
    assert_eq!(decide_live(&v, &[], LiveClaim::Found(&recreated)), released);
}

#[test]
fn live_claim_with_the_same_uid_keeps_the_binding() {
    let v = bound_pv().phase("Pending").build();
    let live = the_claim().volume_name("pv-1").build();
    assert_eq!(
        decide_live(&v, &[], LiveClaim::Found(&live)),
        vec![volume_status(bound_pv().phase("Bound").build())]
    );
}

#[test]
fn pending_to_bound_when_the_claim_names_the_volume() {
    let v = bound_pv().phase("Pending").build();
    let c = the_claim().volume_name("pv-1").build();
    assert_eq!(
        decide(&v, std::slice::from_ref(&c)),
        vec![volume_status(bound_pv().phase("Bound").build())]
    );
    assert_eq!(decide(&bound_pv().phase("Bound").build(), &[c]), vec![]);
}

#[test]
fn pending_stays_pending_while_its_claim_is_unbound_and_the_claim_is_enqueued() {
    let v = bound_pv().phase("Pending").build();
    assert_eq!(
        decide(&v, &[the_claim().build()]),
        vec![Action::EnqueueClaim(ClaimKey::new("ns", "c"))]
    );
}

#[test]
fn volume_mode_mismatch_is_reported_on_both_objects_every_sync() {
    let v = bound_pv().volume_mode("Block").phase("Available").build();
    let c = the_claim().build();
    let expected = vec![
        volume_event(
            &v,
            EventType::Warning,
            Reason::VolumeMismatch,
            "Cannot bind PersistentVolume to requested PersistentVolumeClaim \"c\" due to incompatible volumeMode.",
        ),
        Action::Event(Event::new(
            claim_reference(&c),
            EventType::Warning,
            Reason::VolumeMismatch,
            "Cannot bind PersistentVolume \"pv-1\" to requested PersistentVolumeClaim due to incompatible volumeMode."
                .to_string(),
        )),
    ];
    assert_eq!(decide(&v, std::slice::from_ref(&c)), expected);
    assert_eq!(decide(&v, &[c]), expected);
}

#[test]
fn bound_to_available_when_the_claim_bound_elsewhere_and_the_binder_made_this_binding() {
    let v = bound_pv().phase("Bound").build();
    let c = the_claim().volume_name("pv-2").build();
    assert_eq!(decide(&v, &[c]), unbind_volume(&v));
    assert_eq!(
        unbind_volume(&v)[0],
        crate::binder::test_support::update_volume(
            pv("pv-1")
                .capacity("5Gi")
                .modes(&["ReadWriteOnce"])
                .phase("Bound")
                .build(),
            crate::binder::actions::WritePurpose::UnbindVolume
        )
    );
}

#[test]
fn user_prebound_volume_stays_reserved_when_the_claim_bound_elsewhere() {
    let v = pv("pv-1")
        .claim_ref("ns", "c", Some("uid-c"))
        .phase("Bound")
        .build();
    let c = the_claim().volume_name("pv-2").build();
    assert_eq!(
        decide(&v, &[c]),
        vec![
            crate::binder::test_support::update_volume(
                pv("pv-1").claim_ref("ns", "c", None).phase("Bound").build(),
                crate::binder::actions::WritePurpose::UnbindVolume
            ),
            volume_status(
                pv("pv-1")
                    .claim_ref("ns", "c", None)
                    .phase("Available")
                    .build()
            ),
        ]
    );
}

#[test]
fn provisioned_delete_volume_is_released_when_its_claim_bound_elsewhere() {
    let v = bound_pv()
        .provisioned_by("berth.dev/hostpath")
        .reclaim("Delete")
        .phase("Bound")
        .build();
    let c = the_claim().volume_name("pv-2").build();
    assert_eq!(
        decide(&v, &[c]),
        vec![volume_status(
            bound_pv()
                .provisioned_by("berth.dev/hostpath")
                .reclaim("Delete")
                .phase("Released")
                .build()
        )]
    );
}

#[test]
fn released_stays_released_for_an_external_deleter() {
    let v = bound_pv()
        .provisioned_by("berth.dev/hostpath")
        .reclaim("Delete")
        .phase("Released")
        .build();
    assert_eq!(decide(&v, &[]), vec![]);
}

#[test]
fn retain_leaves_a_released_volume_released() {
    assert_eq!(decide(&bound_pv().phase("Released").build(), &[]), vec![]);
}

#[test]
fn csi_and_migrated_volumes_with_delete_are_left_to_their_driver() {
    let csi = bound_pv()
        .csi("driver.example")
        .reclaim("Delete")
        .phase("Released")
        .build();
    assert_eq!(decide(&csi, &[]), vec![]);
    let migrated = bound_pv()
        .annotation(crate::k8s::annotations::MIGRATED_TO, "ebs.csi.aws.com")
        .reclaim("Recycle")
        .phase("Released")
        .build();
    assert_eq!(decide(&migrated, &[]), vec![]);
}

#[test]
fn released_to_failed_once_when_delete_has_no_deleter() {
    let v = bound_pv().reclaim("Delete").phase("Released").build();
    let message =
        "error getting deleter volume plugin for volume \"pv-1\": no volume plugin matched";
    assert_eq!(
        decide(&v, &[]),
        vec![
            volume_status(
                bound_pv()
                    .reclaim("Delete")
                    .phase("Failed")
                    .message(message)
                    .build()
            ),
            volume_event(&v, EventType::Warning, Reason::VolumeFailedDelete, message),
        ]
    );
    let failed = bound_pv()
        .reclaim("Delete")
        .phase("Failed")
        .message(message)
        .build();
    assert_eq!(decide(&failed, &[]), vec![]);
}

#[test]
fn released_to_failed_when_an_in_tree_provisioner_made_the_volume() {
    let v = bound_pv()
        .provisioned_by("kubernetes.io/host-path")
        .reclaim("Delete")
        .phase("Released")
        .build();
    let message = "no volume plugin matched name: kubernetes.io/host-path";
    assert_eq!(
        decide(&v, &[]),
        vec![
            volume_status(
                bound_pv()
                    .provisioned_by("kubernetes.io/host-path")
                    .reclaim("Delete")
                    .phase("Failed")
                    .message(message)
                    .build()
            ),
            volume_event(&v, EventType::Warning, Reason::VolumeFailedDelete, message),
        ]
    );
}

#[test]
fn released_to_failed_once_when_recycling_without_a_recycler() {
    let v = bound_pv().reclaim("Recycle").phase("Released").build();
    let message = "No recycler plugin found for the volume!";
    assert_eq!(
        decide(&v, &[]),
        vec![
            volume_status(
                bound_pv()
                    .reclaim("Recycle")
                    .phase("Failed")
                    .message(message)
                    .build()
            ),
            volume_event(&v, EventType::Warning, Reason::VolumeFailedRecycle, message),
        ]
    );
    assert_eq!(
        decide(
            &bound_pv()
                .reclaim("Recycle")
                .phase("Failed")
                .message(message)
                .build(),
            &[]
        ),
        vec![]
    );
}

#[test]
fn recycle_waits_while_pods_use_the_old_claim_every_sync() {
    let v = bound_pv().reclaim("Recycle").phase("Released").build();
    let mut w = world(std::slice::from_ref(&v), &[], &[]);
    w.upsert_pod(Arc::new(pod("ns", "b").uses("c").node("n1").build()));
    w.upsert_pod(Arc::new(pod("ns", "a").uses("c").build()));
    w.upsert_pod(Arc::new(
        pod("ns", "gone").uses("c").phase("Failed").build(),
    ));
    let expected = vec![volume_event(
        &v,
        EventType::Normal,
        Reason::VolumeFailedRecycle,
        "Volume is used by pods: ns/a,ns/b",
    )];
    assert_eq!(sync_volume(&v, &w, LiveClaim::NotFetched), expected);
    assert_eq!(sync_volume(&v, &w, LiveClaim::NotFetched), expected);
}

#[test]
fn bound_to_released_to_failed_on_unknown_reclaim_policy_with_one_event() {
    let v = bound_pv().reclaim("Shred").phase("Bound").build();
    let message = "Volume has unrecognized PersistentVolumeReclaimPolicy";
    let released = bound_pv().reclaim("Shred").phase("Released").build();
    assert_eq!(
        decide_live(&v, &[], LiveClaim::NotFound),
        vec![
            volume_status(released.clone()),
            volume_status(
                bound_pv()
                    .reclaim("Shred")
                    .phase("Failed")
                    .message(message)
                    .build()
            ),
            volume_event(
                &released,
                EventType::Warning,
                Reason::VolumeUnknownReclaimPolicy,
                message
            ),
        ]
    );
    let unset = bound_pv()
        .reclaim_unset()
        .phase("Failed")
        .message(message)
        .build();
    assert_eq!(decide(&unset, &[]), vec![]);
}

#[test]
fn failed_to_available_when_an_admin_clears_the_claim_ref() {
    let v = pv("pv-1")
        .phase("Failed")
        .message("No recycler plugin found for the volume!")
        .build();
    assert_eq!(
        decide(&v, &[]),
        vec![volume_status(pv("pv-1").phase("Available").build())]
    );
}

#[test]
fn terminating_bound_volume_stays_bound() {
    let v = bound_pv().deleting().phase("Bound").build();
    let c = the_claim().volume_name("pv-1").build();
    assert_eq!(decide(&v, &[c]), vec![]);
}
