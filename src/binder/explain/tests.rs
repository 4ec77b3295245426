//! Tests for per-PV explanations and the one-line summary.
use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim};

use super::*;
use crate::binder::fixtures::{PvBuilder, claim, pv};
use crate::binder::matching::test_objects::{
    node, volume_with_attributes_class, with_affinity, with_expression,
};

const RWO: &[&str] = &["ReadWriteOnce"];
const CONTROLLER: MatchOptions<'static> = MatchOptions {
    delay_binding: false,
    node: None,
};

fn available(name: &str, size: &str) -> PvBuilder {
    pv(name)
        .capacity(size)
        .modes(RWO)
        .class("fast")
        .phase("Available")
}

fn rwo_claim(size: &str) -> PersistentVolumeClaim {
    claim("ns", "c")
        .uid("uid-c")
        .request(size)
        .modes(RWO)
        .class("fast")
        .build()
}

fn outcomes<'a>(verdicts: &'a [Verdict<'a>]) -> Vec<(&'a str, String)> {
    verdicts
        .iter()
        .map(|verdict| {
            let name = verdict.volume.metadata.name.as_deref().unwrap_or_default();
            let outcome = match &verdict.outcome {
                Outcome::Chosen => "chosen".to_owned(),
                Outcome::Rejected(rejection) => rejection.to_string(),
            };
            (name, outcome)
        })
        .collect()
}

fn q(text: &str) -> Quantity {
    Quantity::parse(text).unwrap_or_else(|err| panic!("{err}"))
}

#[test]
fn each_volume_gets_the_first_filter_it_fails_in_upstream_order() {
    let volumes = [
        available("pv-rwx", "1Gi").modes(&["ReadWriteMany"]).build(),
        available("pv-claimed", "1Gi")
            .claim_ref("ns", "other", None)
            .build(),
        available("pv-old", "1Gi")
            .claim_ref("ns", "c", Some("old"))
            .build(),
        available("pv-junk", "lots").build(),
        available("pv-small", "1Gi").class("slow").build(),
        available("pv-block", "5Gi").volume_mode("Block").build(),
        volume_with_attributes_class(available("pv-vac", "5Gi").build(), "gold"),
        available("pv-deleting", "5Gi").deleting().build(),
        available("pv-released", "5Gi").phase("Released").build(),
        available("pv-silver", "5Gi")
            .label("tier", "silver")
            .build(),
        available("pv-slow", "5Gi")
            .class("slow")
            .label("tier", "gold")
            .build(),
        available("pv-fit", "5Gi").label("tier", "gold").build(),
        available("pv-big", "9Gi").label("tier", "gold").build(),
    ];
    let claim = claim("ns", "c")
        .uid("uid-c")
        .request("2Gi")
        .modes(RWO)
        .class("fast")
        .selector(&[("tier", "gold")]);
    let verdicts = explain(&claim.build(), &volumes, &CONTROLLER);
    let expected = [
        ("pv-rwx", "offers access modes [RWX], claim needs [RWO]"),
        ("pv-claimed", "claimed by ns/other"),
        (
            "pv-old",
            "reserved for an earlier claim ns/c (different uid)",
        ),
        (
            "pv-junk",
            "unreadable capacity: invalid quantity \"lots\": unexpected character 'l' at byte 0",
        ),
        ("pv-small", "too small (1Gi < 2Gi)"),
        ("pv-block", "volumeMode Block, claim needs Filesystem"),
        (
            "pv-vac",
            "sets volumeAttributesClassName \"gold\" (VolumeAttributesClass is disabled)",
        ),
        ("pv-deleting", "being deleted"),
        ("pv-released", "phase Released, not Available"),
        ("pv-silver", "labels do not satisfy \"tier=gold\""),
        ("pv-slow", "class slow, claim wants class fast"),
        ("pv-fit", "chosen"),
        ("pv-big", "pv-fit is smaller or sorts first"),
    ];
    let expected: Vec<(&str, String)> = expected.iter().map(|(n, o)| (*n, o.to_string())).collect();
    assert_eq!(outcomes(&verdicts), expected);
}

#[test]
fn volumes_that_fit_but_lose_say_to_which_volume_and_why() {
    let volumes = [
        available("pv-rwo-rox", "1Gi")
            .modes(&["ReadWriteOnce", "ReadOnlyMany"])
            .build(),
        available("pv-pre", "8Gi")
            .claim_ref("ns", "c", None)
            .build(),
        available("pv-free", "1Gi").build(),
    ];
    let verdicts = explain(&rwo_claim("1Gi"), &volumes, &CONTROLLER);
    let expected = [
        ("pv-rwo-rox", "pv-pre offers fewer access modes"),
        ("pv-pre", "chosen"),
        ("pv-free", "pv-pre is pre-bound to the claim"),
    ];
    let expected: Vec<(&str, String)> = expected.iter().map(|(n, o)| (*n, o.to_string())).collect();
    assert_eq!(outcomes(&verdicts), expected);
}

#[test]
fn delayed_binding_and_node_affinity_are_explained() {
    let volumes = [available("pv-free", "1Gi").build()];
    let delayed = MatchOptions {
        delay_binding: true,
        node: None,
    };
    let verdicts = explain(&rwo_claim("1Gi"), &volumes, &delayed);
    assert_eq!(
        outcomes(&verdicts),
        [(
            "pv-free",
            "left to the scheduler (WaitForFirstConsumer)".to_owned()
        )]
    );

    let node = node("n", &[("zone", "a")]);
    let on_node = MatchOptions {
        delay_binding: true,
        node: Some(&node),
    };
    let volumes = [
        with_affinity(
            available("pv-pre", "1Gi")
                .claim_ref("ns", "c", None)
                .build(),
            "zone",
            &["b"],
        ),
        available("pv-free", "1Gi").build(),
    ];
    let verdicts = explain(&rwo_claim("1Gi"), &volumes, &on_node);
    let expected = [
        ("pv-pre", "node affinity excludes the node".to_owned()),
        ("pv-free", "pv-pre is pre-bound to the claim".to_owned()),
    ];
    assert_eq!(outcomes(&verdicts), expected);
}

#[test]
fn an_invalid_claim_rejects_every_volume_with_the_reason() {
    let claim = with_expression(rwo_claim("1Gi"), "tier", "In", &[]);
    let volumes = [
        available("pv-1", "1Gi").build(),
        available("pv-2", "1Gi").build(),
    ];
    let verdicts = explain(&claim, &volumes, &CONTROLLER);
    assert_eq!(
        summarize(&verdicts),
        "2 PVs not considered: error creating internal label selector for claim: ns/c: invalid label \
         selector: key \"tier\": for 'in', 'notin' operators, values set can't be empty"
    );
}

#[test]
fn summary_groups_reasons_most_common_first() {
    let volumes = [
        available("pv-1", "1Gi").build(),
        available("pv-2", "2Gi").build(),
        available("pv-3", "512Mi").build(),
        available("pv-4", "9Gi").class("gold").build(),
    ];
    let claim = claim("ns", "c")
        .request("5Gi")
        .modes(RWO)
        .class("fast")
        .build();
    assert_eq!(
        summarize(&explain(&claim, &volumes, &CONTROLLER)),
        "3 PVs too small (largest 2Gi < 5Gi), 1 in class gold"
    );
}

#[test]
fn summary_puts_the_chosen_volume_first_and_breaks_count_ties_in_filter_order() {
    let volumes = [
        available("pv-released", "5Gi").phase("Released").build(),
        available("pv-small", "1Gi").build(),
        available("pv-fit", "5Gi").build(),
    ];
    assert_eq!(
        summarize(&explain(&rwo_claim("2Gi"), &volumes, &CONTROLLER)),
        "1 PV fits (pv-fit), 1 too small (1Gi < 2Gi), 1 not Available (Released)"
    );
}

#[test]
fn summary_lists_stay_short_and_sorted() {
    let volumes: Vec<PersistentVolume> = ["e", "d", "c", "b", "a", ""]
        .iter()
        .enumerate()
        .map(|(n, class)| available(&format!("pv-{n}"), "5Gi").class(class).build())
        .collect();
    assert_eq!(
        summarize(&explain(&rwo_claim("1Gi"), &volumes, &CONTROLLER)),
        "6 PVs in other classes (no class, a, b, 3 more)"
    );
    let unclassed = [available("pv-1", "5Gi").class("").build()];
    assert_eq!(
        summarize(&explain(&rwo_claim("1Gi"), &unclassed, &CONTROLLER)),
        "1 PV without a class"
    );
    assert_eq!(summarize(&[]), "no PVs");
}

#[test]
fn summary_phrases_for_the_other_reasons() {
    let volumes = [
        available("pv-rwx", "5Gi").modes(&["ReadWriteMany"]).build(),
        available("pv-a", "5Gi").claim_ref("ns", "a", None).build(),
        available("pv-b", "5Gi").claim_ref("ns", "b", None).build(),
        available("pv-block", "5Gi").volume_mode("Block").build(),
        available("pv-new", "5Gi").phase("").build(),
    ];
    assert_eq!(
        summarize(&explain(&rwo_claim("1Gi"), &volumes, &CONTROLLER)),
        "2 PVs claimed by 2 other claims, 1 without access modes RWO, 1 with volumeMode Block (need Filesystem), \
         1 not Available (unset)"
    );
}

#[test]
fn rejections_display_quantities_canonically() {
    let rejection = Rejection::TooSmall {
        have: q("1024Mi"),
        need: q("1500M"),
    };
    assert_eq!(rejection.to_string(), "too small (1Gi < 1500M)");
}

/// The scheduler path has no access-mode groups, so a loser there lost on size alone.
#[test]
fn scheduler_path_losers_lose_on_size_not_access_modes() {
    let node = node("n", &[]);
    let on_node = MatchOptions {
        delay_binding: false,
        node: Some(&node),
    };
    let volumes = [
        available("pv-small", "1Gi").build(),
        available("pv-wide", "5Gi")
            .modes(&["ReadWriteOnce", "ReadOnlyMany"])
            .build(),
    ];
    let verdicts = explain(&rwo_claim("1Gi"), &volumes, &on_node);
    let expected = [
        ("pv-small", "chosen".to_owned()),
        ("pv-wide", "pv-small is smaller or sorts first".to_owned()),
    ];
    assert_eq!(outcomes(&verdicts), expected);
}
