//! Table tests of the claim ownerReference rules.

use super::super::fixtures::*;
use super::*;

#[test]
fn up_to_date_table() {
    let pod = ready_pod("web-1", "r", 0);
    let base = set_with_claims("web", 2, &["data"]);
    // (policy, claim, scaled down, expected)
    type Case = (
        &'static str,
        (&'static str, &'static str),
        fn(&StatefulSet) -> PersistentVolumeClaim,
        bool,
        bool,
    );
    let cases: Vec<Case> = vec![
        (
            "retain: no refs",
            ("Retain", "Retain"),
            |s| claim_of(s, 1),
            false,
            true,
        ),
        (
            "retain: set ref must go",
            ("Retain", "Retain"),
            |s| owned_by(claim_of(s, 1), set_owner(s)),
            false,
            false,
        ),
        (
            "deleted=Delete: needs set ref",
            ("Delete", "Retain"),
            |s| claim_of(s, 1),
            false,
            false,
        ),
        (
            "deleted=Delete: has set ref",
            ("Delete", "Retain"),
            |s| owned_by(claim_of(s, 1), set_owner(s)),
            false,
            true,
        ),
        (
            "scaled=Delete in range: no refs",
            ("Retain", "Delete"),
            |s| claim_of(s, 1),
            false,
            true,
        ),
        (
            "scaled=Delete condemned: needs pod ref",
            ("Retain", "Delete"),
            |s| claim_of(s, 1),
            true,
            false,
        ),
        (
            "scaled=Delete condemned: has pod ref",
            ("Retain", "Delete"),
            |s| owned_by(claim_of(s, 1), pod_owner("web-1", "uid-web-1")),
            true,
            true,
        ),
        (
            "both in range: set ref",
            ("Delete", "Delete"),
            |s| owned_by(claim_of(s, 1), set_owner(s)),
            false,
            true,
        ),
        (
            "both condemned: set ref is wrong",
            ("Delete", "Delete"),
            |s| owned_by(claim_of(s, 1), set_owner(s)),
            true,
            false,
        ),
        (
            "stale pod ref",
            ("Retain", "Delete"),
            |s| owned_by(claim_of(s, 1), pod_owner("web-1", "uid-gone")),
            true,
            false,
        ),
        (
            "non-controller ref of ours",
            ("Delete", "Retain"),
            |s| {
                owned_by(
                    claim_of(s, 1),
                    OwnerReference {
                        controller: None,
                        ..set_owner(s)
                    },
                )
            },
            false,
            false,
        ),
    ];
    for (name, (deleted, scaled), claim, scaled_down, expected) in cases {
        let set = with_policy(base.clone(), deleted, scaled);
        assert_eq!(
            claim_owner_up_to_date(&set, &pod, &claim(&set), scaled_down),
            expected,
            "{name}"
        );
    }
}

#[test]
fn updated_refs_keep_foreign_owners() {
    let set = with_policy(set_with_claims("web", 2, &["data"]), "Delete", "Delete");
    let pod = ready_pod("web-1", "r", 0);
    let other = OwnerReference {
        controller: None,
        ..pod_owner("cm", "uid-cm")
    };
    let claim = owned_by(owned_by(claim_of(&set, 1), other.clone()), set_owner(&set));
    assert_eq!(
        updated_owner_refs(&set, &pod, &claim, false),
        [other.clone(), set_owner(&set)]
    );
    assert_eq!(
        updated_owner_refs(&set, &pod, &claim, true),
        [other, pod_owner("web-1", "uid-web-1")]
    );
}

#[test]
fn unexpected_controller_blocks_new_refs() {
    let set = with_policy(set_with_claims("web", 2, &["data"]), "Delete", "Retain");
    let pod = ready_pod("web-1", "r", 0);
    let foreign = OwnerReference {
        controller: Some(true),
        ..pod_owner("x", "uid-x")
    };
    let claim = owned_by(claim_of(&set, 1), foreign.clone());
    assert!(has_unexpected_controller(&set, &pod, &claim));
    assert!(claim_owner_up_to_date(&set, &pod, &claim, false));
    assert_eq!(updated_owner_refs(&set, &pod, &claim, false), [foreign]);
    // a set ref with another uid (an earlier set of the same name) counts as unexpected too
    let old_set_ref = OwnerReference {
        uid: "uid-old".into(),
        ..set_owner(&set)
    };
    let claim = owned_by(claim_of(&set, 1), old_set_ref);
    assert!(has_unexpected_controller(&set, &pod, &claim));
    assert!(!has_unexpected_controller(
        &set_with_claims("web", 2, &["data"]),
        &pod,
        &claim
    ));
}

#[test]
fn stale_claims_only_matter_when_scaling_deletes() {
    let pod = placeholder("web-1", "r");
    let claim = owned_by(
        claim_of(&set_with_claims("web", 2, &["data"]), 1),
        pod_owner("web-1", "uid-old"),
    );
    let scaled_delete = with_policy(set_with_claims("web", 2, &["data"]), "Retain", "Delete");
    assert!(claim_is_stale(&scaled_delete, &pod, &claim));
    assert!(!claim_is_stale(
        &set_with_claims("web", 2, &["data"]),
        &pod,
        &claim
    ));
    let fresh = claim_of(&scaled_delete, 1);
    assert!(!claim_is_stale(&scaled_delete, &pod, &fresh));
}
