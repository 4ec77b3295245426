//! The "also worth a test each" list of binder-spec section 8.
use std::sync::Arc;

use super::*;
use crate::binder::actions::WritePurpose;
use crate::binder::test_support::{set_provisioner, update_claim};
use crate::k8s::annotations::{BETA_STORAGE_PROVISIONER, STORAGE_PROVISIONER};

#[test]
fn terminating_claim_is_still_bound() {
    let c = rwo_claim().class("").deleting().build();
    let v = pv("pv-1")
        .capacity("1Gi")
        .modes(&["ReadWriteOnce"])
        .phase("Available")
        .build();
    assert_eq!(decide(&c, std::slice::from_ref(&v)), bind(&v, &c));
}

#[test]
fn terminating_claim_is_still_handed_to_its_provisioner() {
    let c = rwo_claim().class("std").deleting().build();
    let actions = decide(&c, &[]);
    assert!(
        matches!(actions.as_slice(), [Action::UpdateClaim(write), Action::Event(event)]
            if write.purpose == WritePurpose::SetProvisioner && event.reason == Reason::ExternalProvisioning),
        "{actions:?}"
    );
}

#[test]
fn terminating_bound_volume_stays_bound_until_its_claim_goes() {
    let c = rwo_claim()
        .volume_name("pv-1")
        .bind_completed()
        .phase("Bound")
        .build();
    let v = pv("pv-1")
        .bound_to(&c)
        .bound_by_controller()
        .deleting()
        .phase("Bound")
        .build();
    assert_eq!(
        sync_volume(
            &v,
            &world(std::slice::from_ref(&v), &[c], &[]),
            LiveClaim::NotFetched
        ),
        vec![]
    );
}

// The pvc-protection finalizer itself belongs to the protection controller; what the binder shares with it is
// the pod filter: finished pods are not consumers, scheduled ones are not waiting.
#[test]
fn finished_and_scheduled_pods_are_not_waited_for() {
    let c = rwo_claim().class("wffc").build();
    let classes = [storage_class("wffc", AGENT)
        .wait_for_first_consumer()
        .build()];
    let mut w = world(&[], std::slice::from_ref(&c), &classes);
    w.upsert_pod(Arc::new(
        pod("ns", "done").uses("c").phase("Succeeded").build(),
    ));
    w.upsert_pod(Arc::new(
        pod("ns", "crashed").uses("c").phase("Failed").build(),
    ));
    w.upsert_pod(Arc::new(pod("ns", "placed").uses("c").node("n1").build()));
    w.upsert_pod(Arc::new(
        pod("ns", "leaving").uses("c").deleted_and_stopped().build(),
    ));
    assert_eq!(
        sync_claim(&c, &w, &QUIET),
        vec![claim_event(
            &c,
            EventType::Normal,
            Reason::WaitForFirstConsumer,
            "waiting for first consumer to be created before binding",
        )]
    );
}

#[test]
fn named_volume_size_is_compared_in_whole_bytes_rounded_up() {
    // 1Gi plus half a byte rounds up to one byte more than the PV has.
    let c = rwo_claim()
        .class("")
        .request("1073741824500m")
        .volume_name("pv-1")
        .build();
    let v = pv("pv-1").capacity("1Gi").modes(&["ReadWriteOnce"]).build();
    assert_eq!(
        decide(&c, &[v]),
        vec![claim_event(
            &c,
            EventType::Warning,
            Reason::VolumeMismatch,
            "Cannot bind to requested volume \"pv-1\": requested PV is too small",
        )]
    );
}

#[test]
fn matching_compares_exact_quantities_and_equal_is_enough() {
    let c = rwo_claim().class("").request("1024Mi").build();
    let v = pv("pv-1")
        .capacity("1Gi")
        .modes(&["ReadWriteOnce"])
        .phase("Available")
        .build();
    assert_eq!(decide(&c, std::slice::from_ref(&v)), bind(&v, &c));
}

#[test]
fn missing_request_means_zero() {
    let mut c = rwo_claim().class("").volume_name("pv-1").build();
    if let Some(spec) = c.spec.as_mut() {
        spec.resources = None;
    }
    let v = pv("pv-1").capacity("1").modes(&["ReadWriteOnce"]).build();
    assert_eq!(decide(&c, std::slice::from_ref(&v)), bind(&v, &c));
}

#[test]
fn provisioner_annotations_are_written_together_and_never_removed() {
    let classes = [storage_class("std", AGENT).build()];
    let mut api = FakeApi::new(world(&[], &[rwo_claim().class("std").build()], &classes));
    let (actions, _) = api.sync_claim("ns", "c", &QUIET);
    let annotated = rwo_claim()
        .class("std")
        .annotation(BETA_STORAGE_PROVISIONER, AGENT)
        .annotation(STORAGE_PROVISIONER, AGENT)
        .build();
    assert_eq!(actions[0], set_provisioner(annotated));
    // An admin creates a static PV that fits; binding keeps both annotations.
    api.world.volumes_mut().upsert(Arc::new(
        pv("static")
            .capacity("1Gi")
            .modes(&["ReadWriteOnce"])
            .class("std")
            .phase("Available")
            .build(),
    ));
    api.sync_claim("ns", "c", &QUIET);
    let bound = api.claim("ns", "c");
    let annotations = bound.metadata.annotations.unwrap_or_default();
    assert_eq!(
        annotations.get(STORAGE_PROVISIONER).map(String::as_str),
        Some(AGENT)
    );
    assert_eq!(
        annotations
            .get(BETA_STORAGE_PROVISIONER)
            .map(String::as_str),
        Some(AGENT)
    );
    assert_eq!(
        bound.spec.and_then(|s| s.volume_name),
        Some("static".to_string())
    );
}

#[test]
fn disabled_dynamic_provisioning_is_silent() {
    let c = rwo_claim().class("std").status_capacity("1Gi").build();
    let options = SyncOptions {
        enable_dynamic_provisioning: false,
        ..QUIET
    };
    let classes = [storage_class("std", AGENT).build()];
    assert_eq!(
        sync_claim(
            &c,
            &world(&[], std::slice::from_ref(&c), &classes),
            &options
        ),
        vec![]
    );
}

#[test]
fn bound_claim_sync_compares_only_the_claim_ref_uid() {
    let c = rwo_claim()
        .volume_name("pv-1")
        .bind_completed()
        .phase("Bound")
        .build();
    let v = pv("pv-1")
        .capacity("1Gi")
        .modes(&["ReadWriteOnce"])
        .claim_ref("other-ns", "other", Some("uid-c"))
        .phase("Bound")
        .build();
    let actions = decide(&c, std::slice::from_ref(&v));
    assert_eq!(actions, bind(&v, &c));
    assert!(
        !actions
            .iter()
            .any(|a| matches!(a, Action::Event(e) if e.reason == Reason::ClaimMisbound))
    );
}

#[test]
fn retroactive_default_class_write_is_tagged_for_the_metrics() {
    let c = rwo_claim().build();
    assert_eq!(
        decide(&c, &[]),
        vec![update_claim(
            rwo_claim().class("std").build(),
            WritePurpose::AssignDefaultClass
        )]
    );
}
