//! `berth why` for a claim pending for each kind of reason, and for the ways it can progress.
use super::*;
use crate::binder::fixtures::{claim, pod, pv, storage_class};

fn world(volumes: Vec<PersistentVolume>, classes: Vec<StorageClass>, pods: Vec<Pod>) -> Snapshot {
    let mut world = Snapshot::new();
    for volume in volumes {
        world.volumes_mut().upsert(volume.into());
    }
    for class in classes {
        world.upsert_class(class.into());
    }
    for pod in pods {
        world.upsert_pod(pod.into());
    }
    world
}

fn report(claim: &PersistentVolumeClaim, world: &Snapshot) -> Report {
    analyze(claim, world, &SyncOptions::default(), Vec::new())
}

fn verdict<'a>(report: &'a Report, volume: &str) -> &'a str {
    report
        .volumes
        .iter()
        .find(|line| line.name == volume)
        .map(|line| line.verdict.as_str())
        .unwrap_or("<missing>")
}

#[test]
fn too_small_volumes_are_named_with_their_size_and_the_claim_is_stuck() {
    let world = world(
        vec![
            pv("pv-1")
                .capacity("2Gi")
                .modes(&["ReadWriteOnce"])
                .phase("Available")
                .build(),
        ],
        vec![],
        vec![],
    );
    let claim = claim("ns", "data")
        .request("5Gi")
        .modes(&["ReadWriteOnce"])
        .class("")
        .build();
    let report = report(&claim, &world);
    assert_eq!(verdict(&report, "pv-1"), "too small (2Gi < 5Gi)");
    assert_eq!(report.summary, "1 PV too small (2Gi < 5Gi)");
    assert!(
        matches!(&report.next, NextStep::Stuck(reason) if reason.starts_with("FailedBinding")),
        "{:?}",
        report.next
    );
    assert!(!report.next.can_progress());
    let text = report.to_string();
    assert!(text.contains("STUCK: FailedBinding"), "{text}");
    assert!(text.contains("pv-1"), "{text}");
}

#[test]
fn class_mismatch_access_modes_and_claimed_volumes_each_get_their_reason() {
    let other = claim("ns", "other").uid("u-other").build();
    let world = world(
        vec![
            pv("pv-fast")
                .capacity("5Gi")
                .modes(&["ReadWriteOnce"])
                .class("fast")
                .phase("Available")
                .build(),
            pv("pv-rox")
                .capacity("5Gi")
                .modes(&["ReadOnlyMany"])
                .phase("Available")
                .build(),
            pv("pv-taken")
                .capacity("5Gi")
                .modes(&["ReadWriteOnce"])
                .phase("Bound")
                .bound_to(&other)
                .build(),
            pv("pv-released")
                .capacity("5Gi")
                .modes(&["ReadWriteOnce"])
                .phase("Released")
                .build(),
        ],
        vec![],
        vec![],
    );
    let claim = claim("ns", "data")
        .uid("u-data")
        .request("1Gi")
        .modes(&["ReadWriteOnce"])
        .class("")
        .build();
    let report = report(&claim, &world);
    assert_eq!(
        verdict(&report, "pv-fast"),
        "class fast, claim wants no class"
    );
    assert_eq!(
        verdict(&report, "pv-rox"),
        "offers access modes [ROX], claim needs [RWO]"
    );
    assert_eq!(verdict(&report, "pv-taken"), "claimed by ns/other");
    assert_eq!(
        verdict(&report, "pv-released"),
        "phase Released, not Available"
    );
    assert!(!report.next.can_progress());
}

#[test]
fn selector_and_volume_mode_rejections_are_explained() {
    let world = world(
        vec![
            pv("pv-block")
                .capacity("5Gi")
                .modes(&["ReadWriteOnce"])
                .volume_mode("Block")
                .phase("Available")
                .build(),
            pv("pv-unlabelled")
                .capacity("5Gi")
                .modes(&["ReadWriteOnce"])
                .phase("Available")
                .build(),
        ],
        vec![],
        vec![],
    );
    let claim = claim("ns", "data")
        .request("1Gi")
        .modes(&["ReadWriteOnce"])
        .class("")
        .selector(&[("tier", "gold")])
        .build();
    let report = report(&claim, &world);
    assert_eq!(
        verdict(&report, "pv-block"),
        "volumeMode Block, claim needs Filesystem"
    );
    assert!(
        verdict(&report, "pv-unlabelled").contains("tier"),
        "{}",
        verdict(&report, "pv-unlabelled")
    );
}

#[test]
fn a_fitting_volume_is_what_the_binder_binds_next() {
    let world = world(
        vec![
            pv("pv-1")
                .capacity("5Gi")
                .modes(&["ReadWriteOnce"])
                .phase("Available")
                .build(),
        ],
        vec![],
        vec![],
    );
    let claim = claim("ns", "data")
        .uid("u")
        .request("1Gi")
        .modes(&["ReadWriteOnce"])
        .class("")
        .build();
    let report = report(&claim, &world);
    assert_eq!(report.next, NextStep::WillBind("pv-1".into()));
    assert_eq!(verdict(&report, "pv-1"), "fits: the binder picks this one");
    assert!(report.next.can_progress());
}

#[test]
fn wait_for_first_consumer_names_the_unscheduled_pod() {
    let class = storage_class("local", "hostpath.berth.dev")
        .wait_for_first_consumer()
        .build();
    let world = world(
        vec![],
        vec![class],
        vec![pod("ns", "web-0").uses("data").build()],
    );
    let claim = claim("ns", "data")
        .request("1Gi")
        .modes(&["ReadWriteOnce"])
        .class("local")
        .build();
    let report = report(&claim, &world);
    assert_eq!(
        report.next,
        NextStep::WaitingForConsumer {
            pods: vec!["web-0".into()]
        }
    );
    assert!(
        report
            .to_string()
            .contains("waiting for pod(s) web-0 to be scheduled"),
        "{report}"
    );
    assert!(
        report.class.contains("WaitForFirstConsumer"),
        "{}",
        report.class
    );
}

#[test]
fn selected_node_means_the_provisioner_is_expected_on_that_node() {
    let class = storage_class("local", "hostpath.berth.dev")
        .wait_for_first_consumer()
        .build();
    let world = world(vec![], vec![class], vec![]);
    let claim = claim("ns", "data")
        .request("1Gi")
        .modes(&["ReadWriteOnce"])
        .class("local")
        .selected_node("node-2")
        .build();
    let report = report(&claim, &world);
    assert_eq!(
        report.next,
        NextStep::Provisioning {
            provisioner: "hostpath.berth.dev".into(),
            node: Some("node-2".into())
        }
    );
}

#[test]
fn a_missing_class_is_stuck_with_provisioning_failed() {
    let world = world(vec![], vec![], vec![]);
    let claim = claim("ns", "data")
        .request("1Gi")
        .modes(&["ReadWriteOnce"])
        .class("nope")
        .build();
    let report = report(&claim, &world);
    assert!(report.class.contains("does not exist"), "{}", report.class);
    assert!(
        matches!(&report.next, NextStep::Stuck(reason) if reason.starts_with("ProvisioningFailed")),
        "{:?}",
        report.next
    );
}

#[test]
fn a_classless_claim_explains_the_default_it_will_get() {
    let class = storage_class("hostpath", "hostpath.berth.dev")
        .wait_for_first_consumer()
        .default_class()
        .build();
    let world = world(vec![], vec![class], vec![]);
    let claim = claim("ns", "data")
        .request("1Gi")
        .modes(&["ReadWriteOnce"])
        .build();
    let report = report(&claim, &world);
    assert!(
        report.class.contains("default class hostpath"),
        "{}",
        report.class
    );
    assert_eq!(report.next, NextStep::GetsDefaultClass("hostpath".into()));
}

#[test]
fn targets_parse_with_and_without_namespace() {
    assert_eq!(
        parse_target("ns/data", "default").unwrap(),
        ("ns".into(), "data".into())
    );
    assert_eq!(
        parse_target("data", "team").unwrap(),
        ("team".into(), "data".into())
    );
    assert!(parse_target("a/b/c", "default").is_err());
    assert!(parse_target("/data", "default").is_err());
}
