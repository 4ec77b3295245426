//! Claims that carry bind-completed (binder-spec 2.3) and the Bound/Lost rows of the claim table in 2.9.
use super::*;
use crate::binder::actions::{EventType, Reason};
use crate::binder::binding::bind;
use crate::binder::test_support::{claim_event, claim_status};

/// A claim bound to pv-1 with a consistent status.
fn bound_claim() -> ClaimBuilder {
    new_claim()
        .volume_name("pv-1")
        .bind_completed()
        .bound_by_controller()
        .phase("Bound")
        .status_modes(&["ReadWriteOnce"])
        .status_capacity("5Gi")
}

fn lost(builder: ClaimBuilder) -> PersistentVolumeClaim {
    let mut lost = builder.phase("Lost").build();
    if let Some(status) = lost.status.as_mut() {
        status.access_modes = None;
        status.capacity = None;
    }
    lost
}

#[test]
fn bound_to_lost_when_volume_name_was_removed_event_once() {
    let mut c = bound_claim().build();
    if let Some(spec) = c.spec.as_mut() {
        spec.volume_name = None;
    }
    let mut expected = lost(bound_claim());
    if let Some(spec) = expected.spec.as_mut() {
        spec.volume_name = None;
    }
    assert_eq!(
        decide(&c, &[], &[]),
        vec![
            claim_status(expected.clone()),
            claim_event(
                &c,
                EventType::Warning,
                Reason::ClaimLost,
                "Bound claim has lost reference to PersistentVolume. Data on the volume is lost!",
            ),
        ]
    );
    assert_eq!(decide(&expected, &[], &[]), vec![]);
}

#[test]
fn bound_to_lost_when_the_volume_is_gone_event_once() {
    let c = bound_claim().build();
    assert_eq!(
        decide(&c, &[], &[]),
        vec![
            claim_status(lost(bound_claim())),
            claim_event(
                &c,
                EventType::Warning,
                Reason::ClaimLost,
                "Bound claim has lost its PersistentVolume. Data on the volume is lost!",
            ),
        ]
    );
    assert_eq!(decide(&lost(bound_claim()), &[], &[]), vec![]);
}

#[test]
fn bound_to_lost_when_the_volume_is_bound_to_another_claim_uid() {
    let c = bound_claim().build();
    let v = free_pv("pv-1")
        .claim_ref("ns", "c", Some("uid-old"))
        .phase("Bound")
        .build();
    assert_eq!(
        decide(&c, std::slice::from_ref(&v), &[]),
        vec![
            claim_status(lost(bound_claim())),
            claim_event(
                &c,
                EventType::Warning,
                Reason::ClaimMisbound,
                "Two claims are bound to the same volume, this one is bound incorrectly",
            ),
        ]
    );
    assert_eq!(decide(&lost(bound_claim()), &[v], &[]), vec![]);
}

#[test]
fn lost_to_bound_when_the_volume_reappears_without_claim_ref() {
    let c = lost(bound_claim());
    let v = free_pv("pv-1").build();
    let actions = decide(&c, std::slice::from_ref(&v), &[]);
    assert_eq!(actions, bind(&v, &c));
    let Some(Action::UpdateClaimStatus(write)) = actions.last() else {
        panic!("expected a claim status write last, got {actions:?}");
    };
    assert_eq!(
        write
            .object
            .status
            .as_ref()
            .and_then(|s| s.phase.as_deref()),
        Some("Bound")
    );
}

#[test]
fn lost_to_bound_when_the_volume_reappears_with_the_claim_uid() {
    let c = lost(bound_claim());
    let v = free_pv("pv-1")
        .bound_to(&c)
        .bound_by_controller()
        .phase("Bound")
        .build();
    let expected = bound_claim().build();
    assert_eq!(
        decide(&c, std::slice::from_ref(&v), &[]),
        vec![claim_status(expected)]
    );
}

#[test]
fn bound_stays_bound_without_writes() {
    let c = bound_claim().build();
    let v = free_pv("pv-1")
        .bound_to(&c)
        .bound_by_controller()
        .phase("Bound")
        .build();
    assert_eq!(decide(&c, &[v], &[]), vec![]);
}

#[test]
fn bound_volume_phase_is_repaired_by_rebinding() {
    let c = bound_claim().build();
    let v = free_pv("pv-1")
        .bound_to(&c)
        .bound_by_controller()
        .phase("Released")
        .build();
    assert_eq!(
        decide(&c, std::slice::from_ref(&v), &[]),
        vec![crate::binder::test_support::volume_status(
            free_pv("pv-1")
                .bound_to(&c)
                .bound_by_controller()
                .phase("Bound")
                .build()
        )]
    );
}

#[test]
fn bound_claim_compares_only_the_uid_of_the_claim_ref() {
    let c = bound_claim().build();
    let v = free_pv("pv-1")
        .claim_ref("elsewhere", "someone", Some("uid-c"))
        .phase("Bound")
        .build();
    let actions = decide(&c, std::slice::from_ref(&v), &[]);
    assert_eq!(actions, bind(&v, &c));
    assert!(
        !actions
            .iter()
            .any(|action| matches!(action, Action::Event(_)))
    );
}
