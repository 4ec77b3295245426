//! Binding mode, waiting for the first consumer, the provisioner hand-off (binder-spec 1.6, 3) and the
//! retroactive default class (5.3).
use std::sync::Arc;

use super::*;
use crate::binder::actions::{ClaimKey, Error, EventType, Reason, WritePurpose};
use crate::binder::fixtures::{pod, storage_class};
use crate::binder::test_support::{claim_event, claim_status, set_provisioner, update_claim};
use crate::k8s::annotations::{BETA_STORAGE_PROVISIONER, STORAGE_PROVISIONER};

const AGENT: &str = "berth.dev/hostpath";

fn external_provisioning(claim: &PersistentVolumeClaim, provisioner: &str) -> Action {
    claim_event(
        claim,
        EventType::Normal,
        Reason::ExternalProvisioning,
        &format!(
            "Waiting for a volume to be created either by the external provisioner '{provisioner}' or manually by \
             the system administrator. If volume creation is delayed, please verify that the provisioner is \
             running and correctly registered."
        ),
    )
}

fn waiting(claim: &PersistentVolumeClaim) -> Action {
    claim_event(
        claim,
        EventType::Normal,
        Reason::WaitForFirstConsumer,
        "waiting for first consumer to be created before binding",
    )
}

#[test]
fn claim_with_class_and_no_match_is_annotated_for_its_provisioner_without_status_write() {
    let c = new_claim().class("fast").status_capacity("1Gi").build();
    let annotated = new_claim()
        .class("fast")
        .status_capacity("1Gi")
        .annotation(BETA_STORAGE_PROVISIONER, AGENT)
        .annotation(STORAGE_PROVISIONER, AGENT)
        .build();
    assert_eq!(
        decide(&c, &[], &[storage_class("fast", AGENT).build()]),
        vec![set_provisioner(annotated), external_provisioning(&c, AGENT)]
    );
}

#[test]
fn external_provisioning_event_repeats_while_the_annotation_is_written_once() {
    let c = new_claim()
        .class("fast")
        .annotation(STORAGE_PROVISIONER, AGENT)
        .build();
    let classes = [storage_class("fast", AGENT).build()];
    assert_eq!(
        decide(&c, &[], &classes),
        vec![external_provisioning(&c, AGENT)]
    );
    assert_eq!(
        decide(&c, &[], &classes),
        vec![external_provisioning(&c, AGENT)]
    );
}

#[test]
fn only_the_ga_provisioner_annotation_decides_whether_to_write() {
    let c = new_claim()
        .class("fast")
        .annotation(BETA_STORAGE_PROVISIONER, AGENT)
        .build();
    let annotated = new_claim()
        .class("fast")
        .annotation(BETA_STORAGE_PROVISIONER, AGENT)
        .annotation(STORAGE_PROVISIONER, AGENT)
        .build();
    assert_eq!(
        decide(&c, &[], &[storage_class("fast", AGENT).build()]),
        vec![set_provisioner(annotated), external_provisioning(&c, AGENT)]
    );
}

#[test]
fn unknown_class_is_treated_as_immediate_and_fails_provisioning_every_sync() {
    let c = new_claim().class("nope").build();
    let failed = claim_event(
        &c,
        EventType::Warning,
        Reason::ProvisioningFailed,
        "storageclass.storage.k8s.io \"nope\" not found",
    );
    assert_eq!(decide(&c, &[], &[]), vec![failed.clone()]);
    assert_eq!(decide(&c, &[], &[]), vec![failed]);
}

#[test]
fn in_tree_provisioner_with_immediate_binding_fails_provisioning() {
    let c = new_claim().class("local").build();
    assert_eq!(
        decide(
            &c,
            &[],
            &[storage_class("local", "kubernetes.io/no-provisioner").build()]
        ),
        vec![claim_event(
            &c,
            EventType::Warning,
            Reason::ProvisioningFailed,
            "no volume plugin matched name: kubernetes.io/no-provisioner",
        )]
    );
}

#[test]
fn disabled_dynamic_provisioning_does_nothing_not_even_the_pending_write() {
    let c = new_claim().class("fast").status_capacity("1Gi").build();
    let options = SyncOptions {
        enable_dynamic_provisioning: false,
        ..QUIET
    };
    assert_eq!(
        decide_with(&c, &[], &[storage_class("fast", AGENT).build()], &options),
        vec![]
    );
}

#[test]
fn class_without_binding_mode_fails_every_sync() {
    let c = new_claim().class("fast").build();
    assert_eq!(
        decide(
            &c,
            &[],
            &[storage_class("fast", AGENT).no_binding_mode().build()]
        ),
        vec![Action::Fail(Error::ReadBindingMode {
            class: "fast".to_string(),
        })]
    );
}

#[test]
fn wait_for_first_consumer_without_pods_says_so_and_stays_pending() {
    let c = new_claim().class("wffc").status_capacity("1Gi").build();
    assert_eq!(
        decide(
            &c,
            &[],
            &[storage_class("wffc", AGENT)
                .wait_for_first_consumer()
                .build()]
        ),
        vec![waiting(&c), claim_status(new_claim().class("wffc").build())]
    );
}

#[test]
fn wait_for_first_consumer_names_the_unscheduled_pods_only() {
    let c = new_claim().class("wffc").build();
    let mut w = world(
        &[],
        std::slice::from_ref(&c),
        &[storage_class("wffc", AGENT)
            .wait_for_first_consumer()
            .build()],
    );
    w.upsert_pod(Arc::new(pod("ns", "web-1").uses("c").build()));
    w.upsert_pod(Arc::new(pod("ns", "running").uses("c").node("n1").build()));
    w.upsert_pod(Arc::new(
        pod("ns", "done").uses("c").phase("Succeeded").build(),
    ));
    w.upsert_pod(Arc::new(pod("ns", "unrelated").uses("other").build()));
    assert_eq!(
        sync_claim(&c, &w, &QUIET),
        vec![claim_event(
            &c,
            EventType::Normal,
            Reason::WaitForPodScheduled,
            "waiting for pod web-1 to be scheduled"
        )]
    );
    w.upsert_pod(Arc::new(pod("ns", "web-0").uses("c").build()));
    assert_eq!(
        sync_claim(&c, &w, &QUIET),
        vec![claim_event(
            &c,
            EventType::Normal,
            Reason::WaitForPodScheduled,
            "waiting for pods web-0,web-1 to be scheduled",
        )]
    );
}

#[test]
fn wait_for_first_consumer_with_selected_node_is_provisioned() {
    let c = new_claim()
        .class("wffc")
        .selected_node("n1")
        .annotation(STORAGE_PROVISIONER, AGENT)
        .build();
    assert_eq!(
        decide(
            &c,
            &[],
            &[storage_class("wffc", AGENT)
                .wait_for_first_consumer()
                .build()]
        ),
        vec![external_provisioning(&c, AGENT)]
    );
}

#[test]
fn classless_claim_gets_the_default_class_when_no_classless_volume_fits() {
    let c = new_claim().build();
    let classes = [
        storage_class("old", AGENT)
            .default_class()
            .created_at(1_000)
            .build(),
        storage_class("new", AGENT)
            .default_class()
            .created_at(2_000)
            .build(),
        storage_class("other", AGENT).created_at(3_000).build(),
    ];
    assert_eq!(
        decide(&c, &[], &classes),
        vec![update_claim(
            new_claim().class("new").build(),
            WritePurpose::AssignDefaultClass
        )]
    );
}

#[test]
fn explicit_empty_class_or_beta_annotation_is_never_defaulted() {
    let classes = [storage_class("std", AGENT).default_class().build()];
    for c in [
        new_claim().class("").build(),
        new_claim().beta_class("").build(),
    ] {
        assert_eq!(
            decide(&c, &[], &classes),
            vec![claim_event(
                &c,
                EventType::Normal,
                Reason::FailedBinding,
                "no persistent volumes available for this claim and no storage class is set",
            )]
        );
    }
}

#[test]
fn retroactive_default_class_can_be_switched_off() {
    let c = new_claim().build();
    let options = SyncOptions {
        retroactive_default_class: false,
        ..QUIET
    };
    assert_eq!(
        decide_with(
            &c,
            &[],
            &[storage_class("std", AGENT).default_class().build()],
            &options
        ),
        vec![claim_event(
            &c,
            EventType::Normal,
            Reason::FailedBinding,
            "no persistent volumes available for this claim and no storage class is set",
        )]
    );
}

#[test]
fn no_default_class_leaves_a_classless_claim_waiting() {
    let c = new_claim().build();
    let actions = decide(&c, &[], &[storage_class("fast", AGENT).build()]);
    assert!(
        matches!(actions.as_slice(), [Action::Event(event)] if event.reason == Reason::FailedBinding)
    );
    assert_eq!(ClaimKey::of(&c), ClaimKey::new("ns", "c"));
}
