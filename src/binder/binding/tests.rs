use super::*;
use crate::binder::actions::{Error, EventType, Reason, WritePurpose};
use crate::binder::fixtures::{claim, pv};
use crate::binder::test_support::{
    claim_status, update_claim, update_volume, volume_event, volume_status,
};
use crate::k8s::annotations::PRE_RESIZE_CAPACITY;

fn pending_claim() -> crate::binder::fixtures::ClaimBuilder {
    claim("ns", "c")
        .uid("uid-c")
        .request("1Gi")
        .modes(&["ReadWriteOnce"])
        .phase("Pending")
}

fn available_pv() -> crate::binder::fixtures::PvBuilder {
    pv("pv-1")
        .capacity("5Gi")
        .modes(&["ReadWriteOnce"])
        .phase("Available")
}

#[test]
fn bind_writes_volume_spec_volume_status_claim_spec_claim_status_in_that_order() {
    let c = pending_claim().build();
    let v = available_pv().build();
    let v_spec = available_pv().bound_to(&c).bound_by_controller().build();
    let v_status = available_pv()
        .bound_to(&c)
        .bound_by_controller()
        .phase("Bound")
        .build();
    let c_spec = pending_claim()
        .volume_name("pv-1")
        .bound_by_controller()
        .bind_completed()
        .build();
    let c_status = pending_claim()
        .volume_name("pv-1")
        .bound_by_controller()
        .bind_completed()
        .phase("Bound")
        .status_modes(&["ReadWriteOnce"])
        .status_capacity("5Gi")
        .build();
    assert_eq!(
        bind(&v, &c),
        vec![
            update_volume(v_spec, WritePurpose::BindVolume),
            volume_status(v_status),
            update_claim(c_spec, WritePurpose::BindClaim),
            claim_status(c_status),
        ]
    );
}

#[test]
fn bind_fills_the_uid_of_a_user_prebound_volume_without_bound_by_controller() {
    let c = pending_claim().build();
    let v = available_pv().claim_ref("ns", "c", None).build();
    let actions = bind(&v, &c);
    assert_eq!(
        actions[0],
        update_volume(
            available_pv().bound_to(&c).build(),
            WritePurpose::BindVolume
        )
    );
}

#[test]
fn bind_of_a_volume_already_pointing_at_the_claim_skips_the_volume_spec_write() {
    let c = pending_claim().build();
    let v = available_pv().bound_to(&c).phase("Bound").build();
    let actions = bind(&v, &c);
    assert!(matches!(
        actions.as_slice(),
        [Action::UpdateClaim(_), Action::UpdateClaimStatus(_)]
    ));
}

#[test]
fn bind_of_a_fully_bound_pair_writes_nothing() {
    let c = pending_claim()
        .volume_name("pv-1")
        .bind_completed()
        .phase("Bound")
        .status_modes(&["ReadWriteOnce"])
        .status_capacity("1Gi")
        .build();
    let v = available_pv().bound_to(&c).phase("Bound").build();
    assert_eq!(bind(&v, &c), vec![]);
}

#[test]
fn bound_claim_keeps_a_deliberately_different_capacity_but_follows_access_modes() {
    let c = pending_claim()
        .volume_name("pv-1")
        .bind_completed()
        .phase("Bound")
        .status_modes(&["ReadWriteMany"])
        .status_capacity("1Gi")
        .build();
    let v = available_pv().bound_to(&c).phase("Bound").build();
    let expected = pending_claim()
        .volume_name("pv-1")
        .bind_completed()
        .phase("Bound")
        .status_modes(&["ReadWriteOnce"])
        .status_capacity("1Gi")
        .build();
    assert_eq!(bind(&v, &c), vec![claim_status(expected)]);
}

#[test]
fn pre_resize_capacity_annotation_wins_over_volume_capacity_when_becoming_bound() {
    let c = pending_claim().volume_name("pv-1").bind_completed().build();
    let v = available_pv()
        .bound_to(&c)
        .phase("Bound")
        .annotation(PRE_RESIZE_CAPACITY, "3Gi")
        .build();
    let expected = pending_claim()
        .volume_name("pv-1")
        .bind_completed()
        .phase("Bound")
        .status_modes(&["ReadWriteOnce"])
        .status_capacity("3Gi")
        .build();
    assert_eq!(bind(&v, &c), vec![claim_status(expected)]);
}

#[test]
fn unparsable_pre_resize_capacity_falls_back_to_volume_capacity() {
    let c = pending_claim().volume_name("pv-1").bind_completed().build();
    let v = available_pv()
        .bound_to(&c)
        .phase("Bound")
        .annotation(PRE_RESIZE_CAPACITY, "lots")
        .build();
    let expected = pending_claim()
        .volume_name("pv-1")
        .bind_completed()
        .phase("Bound")
        .status_modes(&["ReadWriteOnce"])
        .status_capacity("5Gi")
        .build();
    assert_eq!(bind(&v, &c), vec![claim_status(expected)]);
}

#[test]
fn equal_capacity_in_another_notation_is_not_rewritten() {
    let c = pending_claim()
        .volume_name("pv-1")
        .bind_completed()
        .phase("Lost")
        .status_modes(&["ReadWriteOnce"])
        .status_capacity("5120Mi")
        .build();
    let v = available_pv().bound_to(&c).phase("Bound").build();
    let expected = pending_claim()
        .volume_name("pv-1")
        .bind_completed()
        .phase("Bound")
        .status_modes(&["ReadWriteOnce"])
        .status_capacity("5120Mi")
        .build();
    assert_eq!(bind(&v, &c), vec![claim_status(expected)]);
}

#[test]
fn bind_to_a_volume_without_capacity_fails_after_the_first_three_writes() {
    let c = pending_claim().build();
    let v = available_pv().no_capacity().build();
    let actions = bind(&v, &c);
    assert_eq!(actions.len(), 4);
    assert_eq!(
        actions[3],
        Action::Fail(Error::SetClaimCapacity {
            claim: ClaimKey::new("ns", "c"),
            volume: "pv-1".to_string(),
        })
    );
}

#[test]
fn unbind_of_a_controller_bound_volume_removes_claim_ref_and_annotation() {
    let c = pending_claim().build();
    let v = pv("pv-1")
        .bound_to(&c)
        .bound_by_controller()
        .phase("Bound")
        .build();
    let unbound = pv("pv-1").phase("Bound").build();
    assert!(unbound.metadata.annotations.is_none());
    assert_eq!(
        unbind_volume(&v),
        vec![
            update_volume(unbound, WritePurpose::UnbindVolume),
            volume_status(pv("pv-1").phase("Available").build()),
        ]
    );
}

#[test]
fn unbind_of_a_user_prebound_volume_clears_only_the_uid() {
    let v = pv("pv-1")
        .claim_ref("ns", "c", Some("uid-c"))
        .phase("Bound")
        .build();
    assert_eq!(
        unbind_volume(&v),
        vec![
            update_volume(
                pv("pv-1").claim_ref("ns", "c", None).phase("Bound").build(),
                WritePurpose::UnbindVolume
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
fn pending_status_clears_access_modes_and_capacity() {
    let c = pending_claim()
        .phase("Pending")
        .status_modes(&["ReadWriteOnce"])
        .status_capacity("1Gi")
        .build();
    let mut expected = pending_claim().build();
    if let Some(status) = expected.status.as_mut() {
        status.access_modes = None;
        status.capacity = None;
    }
    assert_eq!(
        set_claim_status(&c, ClaimPhase::Pending, None),
        vec![claim_status(expected)]
    );
    assert_eq!(
        set_claim_status(&pending_claim().build(), ClaimPhase::Pending, None),
        vec![]
    );
}

#[test]
fn phase_change_clears_the_message_and_failed_carries_it() {
    let v = pv("pv-1").phase("Failed").message("boom").build();
    assert_eq!(
        set_volume_phase(&v, VolumePhase::Available),
        vec![volume_status(pv("pv-1").phase("Available").build())]
    );
    let released = pv("pv-1").phase("Released").build();
    assert_eq!(
        set_volume_phase_with_event(
            &released,
            VolumePhase::Failed,
            EventType::Warning,
            Reason::VolumeFailedDelete,
            "x"
        ),
        vec![
            volume_status(pv("pv-1").phase("Failed").message("x").build()),
            volume_event(
                &released,
                EventType::Warning,
                Reason::VolumeFailedDelete,
                "x"
            ),
        ]
    );
    // Same phase: neither write nor event, whatever the message.
    assert_eq!(set_volume_phase(&v, VolumePhase::Failed), vec![]);
}
