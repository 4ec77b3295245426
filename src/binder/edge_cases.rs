//! Binder-spec section 8: one named test per edge case (1-10), the short list (`short_list`), and
//! write-then-resync idempotence (`idempotence`). Multi-step cases run through the fake API server.
use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim};

use super::actions::{Action, ClaimKey, Error, EventType, Reason};
use super::binding::bind;
use super::claim_sync::{SyncOptions, sync_claim};
use super::fixtures::{ClaimBuilder, claim, pod, pv, storage_class};
use super::test_support::{FakeApi, Outcome, claim_event, world, writes};
use super::volume_sync::{LiveClaim, sync_volume};

mod idempotence;
mod short_list;

const QUIET: SyncOptions = SyncOptions {
    enable_dynamic_provisioning: true,
    retroactive_default_class: true,
    explain_pending: false,
};
const AGENT: &str = "berth.dev/hostpath";
const NO_CLASS_EVENT: &str =
    "no persistent volumes available for this claim and no storage class is set";

fn rwo_claim() -> ClaimBuilder {
    claim("ns", "c")
        .uid("uid-c")
        .request("1Gi")
        .modes(&["ReadWriteOnce"])
        .phase("Pending")
}

fn decide(claim: &PersistentVolumeClaim, volumes: &[PersistentVolume]) -> Vec<Action> {
    let classes = [
        storage_class("wffc", AGENT)
            .wait_for_first_consumer()
            .build(),
        storage_class("std", AGENT).default_class().build(),
    ];
    sync_claim(
        claim,
        &world(volumes, std::slice::from_ref(claim), &classes),
        &QUIET,
    )
}

#[test]
fn edge_1_access_mode_closeness_beats_size_and_beats_a_prebound_volume() {
    let c = rwo_claim().class("").build();
    let big_rwo = pv("big")
        .capacity("100Gi")
        .modes(&["ReadWriteOnce"])
        .phase("Available")
        .build();
    let small_rwo_rox = pv("small")
        .capacity("1Gi")
        .modes(&["ReadWriteOnce", "ReadOnlyMany"])
        .phase("Available")
        .build();
    let prebound = pv("prebound")
        .capacity("1Gi")
        .modes(&["ReadWriteOnce", "ReadOnlyMany", "ReadWriteMany"])
        .claim_ref("ns", "c", None)
        .phase("Available")
        .build();
    let volumes = [small_rwo_rox, prebound.clone(), big_rwo.clone()];
    assert_eq!(decide(&c, &volumes), bind(&big_rwo, &c));
    // The pre-bound PV is left alone: Available and reserved for the claim name.
    assert_eq!(
        sync_volume(
            &prebound,
            &world(&volumes, &[c], &[]),
            LiveClaim::NotFetched
        ),
        vec![]
    );
}

#[test]
fn edge_2a_volume_prebound_by_claim_ref_ignores_class_phase_and_selector_but_not_size() {
    let c = rwo_claim().class("").selector(&[("tier", "gold")]).build();
    let prebound = pv("pv-1")
        .capacity("1Gi")
        .modes(&["ReadWriteOnce"])
        .class("other")
        .claim_ref("ns", "c", None)
        .phase("Pending")
        .build();
    assert_eq!(
        decide(&c, std::slice::from_ref(&prebound)),
        bind(&prebound, &c)
    );
    let too_small = pv("pv-1")
        .capacity("500Mi")
        .modes(&["ReadWriteOnce"])
        .claim_ref("ns", "c", None)
        .phase("Available")
        .build();
    assert_eq!(
        decide(&c, &[too_small]),
        vec![claim_event(
            &c,
            EventType::Normal,
            Reason::FailedBinding,
            NO_CLASS_EVENT
        )]
    );
}

#[test]
fn edge_2b_named_volume_is_checked_for_fit_but_not_phase_selector_or_binding_mode() {
    let c = rwo_claim()
        .class("wffc")
        .selector(&[("tier", "gold")])
        .volume_name("pv-1")
        .build();
    let released = pv("pv-1")
        .capacity("1Gi")
        .modes(&["ReadWriteOnce"])
        .class("wffc")
        .phase("Released")
        .build();
    assert_eq!(
        decide(&c, std::slice::from_ref(&released)),
        bind(&released, &c)
    );
    let deleting = pv("pv-1")
        .capacity("1Gi")
        .modes(&["ReadWriteOnce"])
        .class("other")
        .deleting()
        .build();
    assert_eq!(
        decide(&c, &[deleting]),
        vec![claim_event(
            &c,
            EventType::Warning,
            Reason::VolumeMismatch,
            "Cannot bind to requested volume \"pv-1\": the volume is marked for deletion \"pv-1\"",
        )]
    );
}

#[test]
fn edge_2c_mutually_prebound_pair_binds_with_no_checks_at_all() {
    let c = rwo_claim()
        .class("fast")
        .volume_mode("Block")
        .volume_name("pv-1")
        .build();
    let v = pv("pv-1")
        .capacity("1Mi")
        .modes(&["ReadOnlyMany"])
        .class("slow")
        .claim_ref("ns", "c", Some("uid-c"))
        .deleting()
        .build();
    assert_eq!(decide(&c, std::slice::from_ref(&v)), bind(&v, &c));
}

#[test]
fn edge_3_nil_class_first_tries_classless_volumes_then_gets_the_default() {
    let c = rwo_claim().build();
    let classless = pv("pv-1")
        .capacity("1Gi")
        .modes(&["ReadWriteOnce"])
        .phase("Available")
        .build();
    assert_eq!(
        decide(&c, std::slice::from_ref(&classless)),
        bind(&classless, &c)
    );
    let classed = pv("pv-1")
        .capacity("1Gi")
        .modes(&["ReadWriteOnce"])
        .class("std")
        .phase("Available")
        .build();
    let actions = decide(&c, &[classed]);
    assert!(
        matches!(actions.as_slice(), [Action::UpdateClaim(write)]
            if write.object.spec.as_ref().and_then(|s| s.storage_class_name.as_deref()) == Some("std")),
        "{actions:?}"
    );
}

#[test]
fn edge_3_empty_class_is_never_defaulted_nor_provisioned_and_repeats_failed_binding() {
    let mut api = FakeApi::new(world(&[], &[rwo_claim().class("").build()], &[]));
    for _ in 0..2 {
        let (actions, _) = api.sync_claim("ns", "c", &QUIET);
        assert_eq!(
            actions,
            vec![claim_event(
                &rwo_claim().class("").build(),
                EventType::Normal,
                Reason::FailedBinding,
                NO_CLASS_EVENT
            )]
        );
    }
    assert_eq!(api.events.len(), 2);
}

#[test]
fn edge_4_bind_completed_without_volume_goes_lost_and_never_back_to_pending() {
    let restored = rwo_claim().class("std").bind_completed().build();
    let classes = [storage_class("std", AGENT).build()];
    let mut api = FakeApi::new(world(&[], std::slice::from_ref(&restored), &classes));
    let (actions, outcome) = api.sync_claim("ns", "c", &QUIET);
    assert_eq!(outcome, Outcome::Done);
    assert_eq!(writes(&actions).len(), 1);
    assert_eq!(api.events.len(), 1);
    assert_eq!(api.events[0].reason, Reason::ClaimLost);
    let lost = api.claim("ns", "c");
    assert_eq!(
        lost.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Lost")
    );
    // Never matched, provisioned or made Pending again, and the event is not repeated.
    assert_eq!(api.sync_claim("ns", "c", &QUIET).0, vec![]);
}

#[test]
fn edge_4_lost_claim_is_bound_again_when_its_volume_reappears() {
    let c = rwo_claim()
        .volume_name("pv-1")
        .bind_completed()
        .phase("Lost")
        .build();
    let mut api = FakeApi::new(world(&[], std::slice::from_ref(&c), &[]));
    api.world.volumes_mut().upsert(std::sync::Arc::new(
        pv("pv-1")
            .capacity("1Gi")
            .modes(&["ReadWriteOnce"])
            .phase("Available")
            .build(),
    ));
    assert_eq!(api.sync_claim("ns", "c", &QUIET).1, Outcome::Done);
    assert_eq!(
        api.claim("ns", "c").status.and_then(|s| s.phase),
        Some("Bound".to_string())
    );
    assert_eq!(
        api.volume("pv-1").status.and_then(|s| s.phase),
        Some("Bound".to_string())
    );
}

#[test]
fn edge_5_bind_locks_the_volume_first_and_a_conflict_there_writes_nothing_else() {
    let c = rwo_claim().class("").build();
    let seen = pv("pv-1")
        .capacity("1Gi")
        .modes(&["ReadWriteOnce"])
        .phase("Available")
        .build();
    let actions = decide(&c, std::slice::from_ref(&seen));
    let Some(Action::UpdateVolume(first)) = actions.first() else {
        panic!("bind must write the PV first: {actions:?}");
    };
    assert_eq!(
        first.object.spec.as_ref().and_then(|s| s.claim_ref.clone()),
        Some(super::actions::claim_reference(&c))
    );
    // Meanwhile another binder took the PV: our write conflicts and the claim stays untouched.
    let taken = pv("pv-1")
        .capacity("1Gi")
        .modes(&["ReadWriteOnce"])
        .claim_ref("ns", "other", Some("uid-o"))
        .resource_version("7")
        .build();
    let mut api = FakeApi::new(world(
        std::slice::from_ref(&taken),
        std::slice::from_ref(&c),
        &[],
    ));
    assert!(matches!(api.execute(&actions), Outcome::Conflict(_)));
    assert_eq!(api.volume("pv-1"), taken);
    assert_eq!(api.claim("ns", "c"), c);
}

#[test]
fn edge_6_a_failed_sync_is_reported_last_and_writes_nothing_after_it() {
    let c = rwo_claim().class("broken").build();
    let classes = [storage_class("broken", AGENT).no_binding_mode().build()];
    let mut api = FakeApi::new(world(&[], std::slice::from_ref(&c), &classes));
    let (actions, outcome) = api.sync_claim("ns", "c", &QUIET);
    assert_eq!(
        actions,
        vec![Action::Fail(Error::ReadBindingMode {
            class: "broken".to_string()
        })]
    );
    assert_eq!(
        outcome,
        Outcome::Failed("volumeBindingMode not set for storage class \"broken\"".to_string())
    );
    assert_eq!(api.claim("ns", "c"), c);
}

#[test]
fn edge_7_wait_for_first_consumer_never_takes_an_unbound_volume() {
    let c = rwo_claim().class("wffc").build();
    let fits = pv("pv-1")
        .capacity("1Gi")
        .modes(&["ReadWriteOnce"])
        .class("wffc")
        .phase("Available")
        .build();
    assert_eq!(
        decide(&c, &[fits]),
        vec![claim_event(
            &c,
            EventType::Normal,
            Reason::WaitForFirstConsumer,
            "waiting for first consumer to be created before binding",
        )]
    );
}

#[test]
fn edge_7_wait_for_first_consumer_completes_a_binding_the_scheduler_made() {
    let c = rwo_claim().class("wffc").selected_node("n1").build();
    let chosen = pv("pv-1")
        .capacity("1Gi")
        .modes(&["ReadWriteOnce"])
        .class("wffc")
        .claim_ref("ns", "c", Some("uid-c"))
        .phase("Available")
        .build();
    assert_eq!(decide(&c, std::slice::from_ref(&chosen)), bind(&chosen, &c));
}

#[test]
fn edge_7_no_provisioner_with_wait_for_first_consumer_waits_then_fails_once_scheduled() {
    let classes = [storage_class("local", "kubernetes.io/no-provisioner")
        .wait_for_first_consumer()
        .build()];
    let c = rwo_claim().class("local").build();
    let mut w = world(&[], std::slice::from_ref(&c), &classes);
    w.upsert_pod(std::sync::Arc::new(pod("ns", "web-0").uses("c").build()));
    assert_eq!(
        sync_claim(&c, &w, &QUIET),
        vec![claim_event(
            &c,
            EventType::Normal,
            Reason::WaitForPodScheduled,
            "waiting for pod web-0 to be scheduled"
        )]
    );
    let scheduled = rwo_claim().class("local").selected_node("n1").build();
    assert_eq!(
        sync_claim(
            &scheduled,
            &world(&[], std::slice::from_ref(&scheduled), &classes),
            &QUIET
        ),
        vec![claim_event(
            &scheduled,
            EventType::Warning,
            Reason::ProvisioningFailed,
            "no volume plugin matched name: kubernetes.io/no-provisioner",
        )]
    );
}

#[test]
fn edge_8_recreated_claim_releases_the_old_volume_which_it_can_never_bind() {
    let old = pv("pv-1")
        .capacity("1Gi")
        .modes(&["ReadWriteOnce"])
        .claim_ref("ns", "c", Some("uid-old"))
        .bound_by_controller()
        .phase("Bound")
        .build();
    let recreated = rwo_claim().class("").build();
    let w = world(
        std::slice::from_ref(&old),
        std::slice::from_ref(&recreated),
        &[],
    );
    assert_eq!(
        sync_volume(&old, &w, LiveClaim::NotFetched),
        vec![Action::LookUpClaimLive(ClaimKey::new("ns", "c"))]
    );
    let mut api = FakeApi::new(w);
    assert_eq!(api.sync_volume("pv-1").1, Outcome::Done);
    assert_eq!(
        api.volume("pv-1").status.and_then(|s| s.phase),
        Some("Released".to_string())
    );
    // Retain: Released forever, and the new claim (new uid) finds nothing.
    assert_eq!(api.resync_all(&QUIET), vec![]);
    assert_eq!(
        api.events.last().map(|e| e.reason),
        Some(Reason::FailedBinding)
    );
}

#[test]
fn edge_9_volume_whose_claim_bound_elsewhere_three_outcomes() {
    let c = rwo_claim()
        .volume_name("pv-2")
        .bind_completed()
        .phase("Bound")
        .build();
    let provisioned = pv("pv-1")
        .claim_ref("ns", "c", Some("uid-c"))
        .provisioned_by(AGENT)
        .reclaim("Delete")
        .phase("Bound")
        .build();
    let by_binder = pv("pv-1")
        .claim_ref("ns", "c", Some("uid-c"))
        .bound_by_controller()
        .phase("Bound")
        .build();
    let by_provisioner_retain = pv("pv-1")
        .claim_ref("ns", "c", Some("uid-c"))
        .provisioned_by(AGENT)
        .phase("Bound")
        .build();
    let outcome = |volume: &PersistentVolume| {
        let mut api = FakeApi::new(world(
            std::slice::from_ref(volume),
            std::slice::from_ref(&c),
            &[],
        ));
        api.sync_volume("pv-1");
        let stored = api.volume("pv-1");
        let reference = stored.spec.as_ref().and_then(|s| s.claim_ref.clone());
        (
            stored.status.and_then(|s| s.phase),
            reference.map(|r| (r.name, r.uid)),
        )
    };
    assert_eq!(
        outcome(&provisioned),
        (
            Some("Released".to_string()),
            Some((Some("c".to_string()), Some("uid-c".to_string())))
        )
    );
    assert_eq!(outcome(&by_binder), (Some("Available".to_string()), None));
    assert_eq!(
        outcome(&by_provisioner_retain),
        (
            Some("Available".to_string()),
            Some((Some("c".to_string()), None))
        )
    );
}

#[test]
fn edge_10_phase_change_events_fire_once_other_events_every_sync() {
    let lost = rwo_claim()
        .volume_name("pv-gone")
        .bind_completed()
        .phase("Bound")
        .build();
    let waiting = claim("ns", "w")
        .uid("uid-w")
        .class("")
        .phase("Pending")
        .build();
    let mut api = FakeApi::new(world(&[], &[lost, waiting], &[]));
    for _ in 0..3 {
        api.resync_all(&QUIET);
    }
    let count = |reason: Reason| api.events.iter().filter(|e| e.reason == reason).count();
    assert_eq!(count(Reason::ClaimLost), 1);
    assert_eq!(count(Reason::FailedBinding), 3);
}
