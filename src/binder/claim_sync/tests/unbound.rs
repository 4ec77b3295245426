//! Unbound claims (binder-spec 2.2) and the Pending rows of the claim table in 2.9.
use super::*;
use crate::binder::actions::{ClaimKey, Error, EventType, Reason};
use crate::binder::binding::bind;
use crate::binder::test_support::{claim_event, claim_status};

/// A claim whose status still carries accessModes and capacity (e.g. restored from a backup).
fn stale_claim() -> ClaimBuilder {
    new_claim()
        .status_modes(&["ReadWriteOnce"])
        .status_capacity("1Gi")
}

#[test]
fn pending_to_pending_without_class_or_match_emits_failed_binding_and_clears_status() {
    let c = stale_claim().class("").build();
    assert_eq!(
        decide(&c, &[], &[]),
        vec![
            claim_event(
                &c,
                EventType::Normal,
                Reason::FailedBinding,
                "no persistent volumes available for this claim and no storage class is set",
            ),
            claim_status(new_claim().class("").build()),
        ]
    );
}

#[test]
fn pending_to_pending_with_a_clean_status_writes_nothing_and_repeats_the_event() {
    let c = new_claim().class("").build();
    let event = claim_event(
        &c,
        EventType::Normal,
        Reason::FailedBinding,
        "no persistent volumes available for this claim and no storage class is set",
    );
    assert_eq!(decide(&c, &[], &[]), vec![event.clone()]);
    assert_eq!(decide(&c, &[], &[]), vec![event]);
}

#[test]
fn failed_binding_event_carries_the_explanation_as_detail() {
    let c = new_claim().class("").build();
    let w = world(&[], std::slice::from_ref(&c), &[]);
    let actions = sync_claim(&c, &w, &SyncOptions::default());
    let Some(Action::Event(event)) = actions.first() else {
        panic!("expected an event first, got {actions:?}");
    };
    assert_eq!(
        event.message,
        "no persistent volumes available for this claim and no storage class is set"
    );
    assert_eq!(event.detail, Some(explain_pending(&c, &w)));
}

#[test]
fn pending_to_bound_when_a_volume_matches() {
    let c = new_claim().class("").build();
    let v = free_pv("pv-1").build();
    assert_eq!(decide(&c, std::slice::from_ref(&v), &[]), bind(&v, &c));
}

#[test]
fn pending_to_pending_when_the_named_volume_is_not_cached_without_event() {
    assert_eq!(
        decide(&stale_claim().volume_name("pv-x").build(), &[], &[]),
        vec![claim_status(new_claim().volume_name("pv-x").build())]
    );
    assert_eq!(
        decide(&new_claim().volume_name("pv-x").build(), &[], &[]),
        vec![]
    );
}

#[test]
fn pending_to_bound_when_the_named_free_volume_fits_whatever_its_phase_and_labels() {
    let c = new_claim()
        .volume_name("pv-1")
        .selector(&[("tier", "gold")])
        .build();
    let v = free_pv("pv-1").phase("Released").build();
    assert_eq!(decide(&c, std::slice::from_ref(&v), &[]), bind(&v, &c));
}

#[test]
fn pending_to_pending_when_the_named_free_volume_does_not_fit() {
    let c = stale_claim().volume_name("pv-1").build();
    let v = free_pv("pv-1").class("gold").build();
    assert_eq!(
        decide(&c, &[v], &[]),
        vec![
            claim_event(
                &c,
                EventType::Warning,
                Reason::VolumeMismatch,
                "Cannot bind to requested volume \"pv-1\": storageClassName does not match",
            ),
            claim_status(new_claim().volume_name("pv-1").build()),
        ]
    );
}

#[test]
fn pending_to_bound_when_both_sides_are_prebound_even_if_the_volume_does_not_fit() {
    let c = new_claim().request("10Gi").volume_name("pv-1").build();
    let v = pv("pv-1")
        .capacity("1Gi")
        .modes(&["ReadOnlyMany"])
        .class("gold")
        .claim_ref("ns", "c", None)
        .build();
    assert_eq!(decide(&c, std::slice::from_ref(&v), &[]), bind(&v, &c));
}

#[test]
fn pending_to_pending_when_the_named_volume_belongs_to_another_claim() {
    let c = stale_claim().volume_name("pv-1").build();
    let v = free_pv("pv-1")
        .claim_ref("ns", "other", Some("uid-o"))
        .phase("Bound")
        .build();
    assert_eq!(
        decide(&c, &[v], &[]),
        vec![
            claim_event(
                &c,
                EventType::Warning,
                Reason::FailedBinding,
                "volume \"pv-1\" already bound to a different claim.",
            ),
            claim_status(new_claim().volume_name("pv-1").build()),
        ]
    );
}

#[test]
fn named_volume_of_another_claim_with_bound_by_controller_fails_the_sync_after_the_event() {
    let c = new_claim()
        .volume_name("pv-1")
        .bound_by_controller()
        .build();
    let v = free_pv("pv-1")
        .claim_ref("ns", "other", Some("uid-o"))
        .phase("Bound")
        .build();
    assert_eq!(
        decide(&c, &[v], &[]),
        vec![
            claim_event(
                &c,
                EventType::Warning,
                Reason::FailedBinding,
                "volume \"pv-1\" already bound to a different claim.",
            ),
            Action::Fail(Error::BindClaim {
                claim: ClaimKey::new("ns", "c"),
                volume: "pv-1".to_string(),
                other: ClaimKey::new("ns", "other"),
            }),
        ]
    );
}

#[test]
fn unparsable_request_fails_the_sync_with_find_volume() {
    let c = new_claim().class("").request("a lot").build();
    let actions = decide(&c, &[free_pv("pv-1").build()], &[]);
    assert!(
        matches!(actions.as_slice(), [Action::Fail(Error::FindVolume { claim, .. })] if *claim == ClaimKey::new("ns", "c")),
        "{actions:?}"
    );
}
