//! Executing a decision and syncing the written objects again yields no writes (after the steps a flow really
//! needs, which each test states).
use std::sync::Arc;

use super::*;

/// Runs full resyncs until one decides no writes; returns how many resyncs wrote something. Panics after 5.
fn rounds_until_quiet(api: &mut FakeApi) -> usize {
    for round in 0..5 {
        if api.resync_all(&QUIET).is_empty() {
            return round;
        }
    }
    panic!("no fixed point after 5 resyncs");
}

fn api(volumes: &[PersistentVolume], claims: &[PersistentVolumeClaim]) -> FakeApi {
    let classes = [
        storage_class("std", AGENT).build(),
        storage_class("wffc", AGENT)
            .wait_for_first_consumer()
            .build(),
    ];
    FakeApi::new(world(volumes, claims, &classes))
}

fn fitting_pv(name: &str) -> PersistentVolume {
    pv(name)
        .capacity("1Gi")
        .modes(&["ReadWriteOnce"])
        .phase("Available")
        .build()
}

#[test]
fn binding_a_match_is_finished_in_one_sync() {
    let mut api = api(&[fitting_pv("pv-1")], &[rwo_claim().class("").build()]);
    assert_eq!(rounds_until_quiet(&mut api), 1);
    assert_eq!(
        api.claim("ns", "c").spec.and_then(|s| s.volume_name),
        Some("pv-1".to_string())
    );
}

#[test]
fn binding_a_named_volume_is_finished_in_one_sync() {
    let mut api = api(
        &[fitting_pv("pv-1")],
        &[rwo_claim().class("").volume_name("pv-1").build()],
    );
    assert_eq!(rounds_until_quiet(&mut api), 1);
}

#[test]
fn a_provisioned_volume_is_bound_in_one_sync_after_it_appears() {
    let mut api = api(&[], &[rwo_claim().class("std").build()]);
    assert_eq!(rounds_until_quiet(&mut api), 1);
    let claim = api.claim("ns", "c");
    // The agent creates the PV pre-bound to the claim, as provisioners do (phase Pending from API defaulting).
    api.world.volumes_mut().upsert(Arc::new(
        pv("pvc-uid-c")
            .capacity("1Gi")
            .modes(&["ReadWriteOnce"])
            .class("std")
            .bound_to(&claim)
            .provisioned_by(AGENT)
            .reclaim("Delete")
            .phase("Pending")
            .build(),
    ));
    assert_eq!(rounds_until_quiet(&mut api), 1);
    let volume = api.volume("pvc-uid-c");
    assert!(!super::super::binding::has_annotation(
        &volume.metadata,
        crate::k8s::annotations::BOUND_BY_CONTROLLER
    ));
}

#[test]
fn default_class_assignment_then_provisioning_settle_in_two_syncs() {
    let mut api = api(&[], &[rwo_claim().build()]);
    let classes_default = storage_class("std", AGENT).default_class().build();
    api.world.upsert_class(Arc::new(classes_default));
    assert_eq!(rounds_until_quiet(&mut api), 2);
}

#[test]
fn losing_a_volume_is_recorded_in_one_sync() {
    let mut api = api(
        &[],
        &[rwo_claim()
            .volume_name("pv-1")
            .bind_completed()
            .phase("Bound")
            .build()],
    );
    assert_eq!(rounds_until_quiet(&mut api), 1);
}

#[test]
fn releasing_and_failing_a_volume_settle_in_one_sync() {
    for policy in ["Retain", "Delete", "Recycle", "Shred"] {
        let v = pv("pv-1")
            .claim_ref("ns", "gone", Some("uid-gone"))
            .reclaim(policy)
            .phase("Bound")
            .build();
        let mut api = api(&[v], &[]);
        assert_eq!(rounds_until_quiet(&mut api), 1, "{policy}");
    }
}

#[test]
fn undoing_a_half_binding_settles_in_one_sync() {
    let claim = rwo_claim()
        .volume_name("pv-2")
        .bind_completed()
        .phase("Bound")
        .build();
    let mut half = fitting_pv("pv-1");
    if let Some(spec) = half.spec.as_mut() {
        spec.claim_ref = Some(super::super::actions::claim_reference(&claim));
    }
    let mut api = api(&[half], std::slice::from_ref(&claim));
    api.world.volumes_mut().upsert(Arc::new(
        pv("pv-2")
            .capacity("1Gi")
            .modes(&["ReadWriteOnce"])
            .bound_to(&claim)
            .phase("Bound")
            .build(),
    ));
    assert_eq!(rounds_until_quiet(&mut api), 1);
    assert_eq!(
        api.volume("pv-1").status.and_then(|s| s.phase),
        Some("Available".to_string())
    );
}
