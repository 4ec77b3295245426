//! Table tests of one StatefulSet sync.

use super::super::fixtures::*;
use super::super::identity::{LABEL_POD_NAME, claims_for};
use super::*;

fn actions(view: &SetView) -> Vec<Action> {
    sync(view).actions
}

fn create_claim(set: &StatefulSet, ordinal: i32) -> Action {
    Action::CreateClaim {
        claim: Box::new(claims_for(set, ordinal).remove(0)),
        pod: format!("web-{ordinal}"),
    }
}

fn create_pod(set: &StatefulSet, ordinal: i32) -> Action {
    let template = set.spec.as_ref().unwrap().template.clone();
    Action::CreatePod(Box::new(new_pod(
        set,
        &template,
        ordinal,
        &revision_name(set),
    )))
}

fn delete(name: &str) -> Action {
    Action::DeletePod { name: name.into() }
}

#[test]
fn ordered_ready_creates_one_pod_at_a_time() {
    let set = set_with_claims("web", 3, &["data"]);
    let rev = revision_name(&set);
    type Case = (
        &'static str,
        Vec<Pod>,
        Vec<PersistentVolumeClaim>,
        Vec<Action>,
    );
    let cases: Vec<Case> = vec![
        (
            "first pod and its claim",
            vec![],
            vec![],
            vec![create_claim(&set, 0), create_pod(&set, 0)],
        ),
        (
            "claim reused as is",
            vec![],
            vec![claim_of(&set, 0)],
            vec![create_pod(&set, 0)],
        ),
        (
            "waits for a pending pod",
            vec![pending_pod("web-0", &rev)],
            vec![claim_of(&set, 0)],
            vec![],
        ),
        (
            "waits for readiness",
            vec![running_not_ready("web-0", &rev)],
            vec![claim_of(&set, 0)],
            vec![],
        ),
        (
            "next ordinal once ready",
            vec![ready_pod("web-0", &rev, 0)],
            vec![claim_of(&set, 0)],
            vec![create_claim(&set, 1), create_pod(&set, 1)],
        ),
        (
            "re-creates a deleted pod first",
            vec![ready_pod("web-1", &rev, 0)],
            vec![claim_of(&set, 0), claim_of(&set, 1)],
            vec![create_pod(&set, 0)],
        ),
        (
            "missing claim of a pending pod is re-created",
            vec![pending_pod("web-0", &rev)],
            vec![],
            vec![create_claim(&set, 0)],
        ),
        (
            "failed pod is deleted, not yet replaced",
            vec![failed_pod("web-0", &rev), ready_pod("web-1", &rev, 0)],
            vec![claim_of(&set, 0), claim_of(&set, 1)],
            vec![delete("web-0")],
        ),
        (
            "terminating pod blocks",
            vec![terminating(ready_pod("web-0", &rev, 0))],
            vec![claim_of(&set, 0)],
            vec![],
        ),
    ];
    for (name, pods, claims, expected) in cases {
        assert_eq!(actions(&view(&set, pods, claims)), expected, "{name}");
    }
}

#[test]
fn claim_being_deleted_fails_the_pod() {
    let set = set_with_claims("web", 1, &["data"]);
    let mut claim = claim_of(&set, 0);
    claim.metadata.deletion_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
        Timestamp::UNIX_EPOCH,
    ));
    assert_eq!(
        actions(&view(&set, vec![], vec![claim])),
        [Action::Fail {
            reason: "FailedCreate",
            message:
                "create Pod web-0 in StatefulSet web failed error: pvc data-web-0 is being deleted"
                    .into()
        }]
    );
}

#[test]
fn new_set_stores_its_revision_first() {
    let set = set_with_claims("web", 1, &[]);
    let mut v = view(&set, vec![], vec![]);
    v.revisions.clear();
    let result = sync(&v);
    assert_eq!(
        result.actions,
        [
            Action::CreateRevision(Box::new((*revision_of(&set)).clone())),
            create_pod(&set, 0)
        ]
    );
    let status = result.status.unwrap();
    assert_eq!(status.replicas, 0);
    assert_eq!(status.current_revision, Some(revision_name(&set)));
    assert_eq!(status.update_revision, Some(revision_name(&set)));
    assert_eq!(status.observed_generation, Some(1));
}

#[test]
fn parallel_creates_and_deletes_at_once() {
    let set = parallel(set_with_claims("web", 3, &["data"]));
    let rev = revision_name(&set);
    assert_eq!(
        actions(&view(
            &set,
            vec![pending_pod("web-0", &rev)],
            vec![claim_of(&set, 0)]
        )),
        [
            create_claim(&set, 1),
            create_pod(&set, 1),
            create_claim(&set, 2),
            create_pod(&set, 2)
        ]
    );
    let scaled = parallel(set_with_claims("web", 1, &["data"]));
    let pods = vec![
        pending_pod("web-0", &rev),
        running_not_ready("web-1", &rev),
        ready_pod("web-2", &rev, 0),
    ];
    let claims = (0..3).map(|o| claim_of(&scaled, o)).collect();
    assert_eq!(
        actions(&view(&scaled, pods, claims)),
        [delete("web-2"), delete("web-1")]
    );
}

#[test]
fn ordered_scale_down_is_one_at_a_time_from_the_top() {
    let set = set_with_claims("web", 1, &["data"]);
    let rev = revision_name(&set);
    let claims = || (0..3).map(|o| claim_of(&set, o)).collect::<Vec<_>>();
    let ready = |name: &str| ready_pod(name, &rev, 0);
    let cases: Vec<(&str, Vec<Pod>, Vec<Action>)> = vec![
        (
            "highest first",
            vec![ready("web-0"), ready("web-1"), ready("web-2")],
            vec![delete("web-2")],
        ),
        (
            "waits for termination",
            vec![ready("web-0"), ready("web-1"), terminating(ready("web-2"))],
            vec![],
        ),
        (
            "then the next",
            vec![ready("web-0"), ready("web-1")],
            vec![delete("web-1")],
        ),
        (
            "not while a replica is unhealthy",
            vec![running_not_ready("web-0", &rev), ready("web-1")],
            vec![],
        ),
        (
            "an unhealthy condemned pod goes first when it is the first unhealthy one",
            vec![
                ready("web-0"),
                ready("web-1"),
                running_not_ready("web-2", &rev),
            ],
            vec![delete("web-2")],
        ),
        (
            "a healthy condemned pod goes even when a lower condemned one is unhealthy",
            vec![
                ready("web-0"),
                running_not_ready("web-1", &rev),
                ready("web-2"),
            ],
            vec![delete("web-2")],
        ),
        (
            "an unhealthy condemned pod that is not the first unhealthy one waits",
            vec![
                ready("web-0"),
                running_not_ready("web-1", &rev),
                running_not_ready("web-2", &rev),
            ],
            vec![],
        ),
    ];
    for (name, pods, expected) in cases {
        assert_eq!(actions(&view(&set, pods, claims())), expected, "{name}");
    }
}

/// A set whose template changed from `img:1` (revision 1, current) to `img:2`.
fn updated_set(replicas: i32, partition: i32) -> (StatefulSet, String, Arc<ControllerRevision>) {
    let old_set = set_with_claims("web", replicas, &[]);
    let old = revision_of(&old_set);
    let mut set = with_image(old_set, "img:2");
    set.spec
        .as_mut()
        .unwrap()
        .update_strategy
        .as_mut()
        .unwrap()
        .rolling_update
        .as_mut()
        .unwrap()
        .partition = Some(partition);
    set.status = Some(StatefulSetStatus {
        current_revision: old.metadata.name.clone(),
        ..Default::default()
    });
    (set, old.metadata.name.clone().unwrap(), old)
}

fn rolling_view<'a>(
    set: &'a StatefulSet,
    old: &Arc<ControllerRevision>,
    pods: Vec<Pod>,
) -> SetView<'a> {
    let mut v = view(set, pods, vec![]);
    let mut new = (*v.revisions[0]).clone();
    new.revision = 2;
    v.revisions = vec![old.clone(), Arc::new(new)];
    v
}

#[test]
fn rolling_update_replaces_from_the_top_down_to_the_partition() {
    let (set, old, old_rev) = updated_set(3, 1);
    let new = revision_name(&set);
    let ready = |name: &str, rev: &str| ready_pod(name, rev, 0);
    let cases: Vec<(&str, Vec<Pod>, Vec<Action>)> = vec![
        (
            "highest old pod",
            vec![
                ready("web-0", &old),
                ready("web-1", &old),
                ready("web-2", &old),
            ],
            vec![delete("web-2")],
        ),
        (
            "then the next once the updated one is ready",
            vec![
                ready("web-0", &old),
                ready("web-1", &old),
                ready("web-2", &new),
            ],
            vec![delete("web-1")],
        ),
        (
            "waits for the updated pod",
            vec![
                ready("web-0", &old),
                ready("web-1", &old),
                running_not_ready("web-2", &new),
            ],
            vec![],
        ),
        (
            "stops at the partition",
            vec![
                ready("web-0", &old),
                ready("web-1", &new),
                ready("web-2", &new),
            ],
            vec![],
        ),
    ];
    for (name, pods, expected) in cases {
        assert_eq!(
            actions(&rolling_view(&set, &old_rev, pods)),
            expected,
            "{name}"
        );
    }
    // ordinals below the partition are re-created at the current revision
    let v = rolling_view(
        &set,
        &old_rev,
        vec![ready("web-1", &new), ready("web-2", &new)],
    );
    let [Action::CreatePod(pod)]: [Action; 1] = actions(&v).try_into().unwrap() else {
        panic!("expected one creation")
    };
    assert_eq!(pod_revision(&pod), Some(&old));
    assert_eq!(
        pod.spec.clone().unwrap().containers[0].image.as_deref(),
        Some("img:1")
    );
}

#[test]
fn rolling_update_status_promotes_the_revision_when_done() {
    let (set, _, old_rev) = updated_set(2, 0);
    let new = revision_name(&set);
    let pods = vec![ready_pod("web-0", &new, 0), ready_pod("web-1", &new, 0)];
    let status = sync(&rolling_view(&set, &old_rev, pods)).status.unwrap();
    assert_eq!(status.current_revision, Some(new.clone()));
    assert_eq!(status.update_revision, Some(new));
    assert_eq!(
        (
            status.replicas,
            status.ready_replicas,
            status.current_replicas,
            status.updated_replicas
        ),
        (2, Some(2), Some(2), Some(2))
    );
}

#[test]
fn on_delete_never_deletes_for_updates() {
    let (mut set, old, old_rev) = updated_set(2, 0);
    set.spec.as_mut().unwrap().update_strategy =
        Some(serde_json::from_value(serde_json::json!({"type": "OnDelete"})).unwrap());
    let new = revision_name(&set);
    assert_eq!(
        actions(&rolling_view(
            &set,
            &old_rev,
            vec![ready_pod("web-0", &old, 0), ready_pod("web-1", &old, 0)]
        )),
        []
    );
    let v = rolling_view(&set, &old_rev, vec![ready_pod("web-1", &old, 0)]);
    let [Action::CreatePod(pod)]: [Action; 1] = actions(&v).try_into().unwrap() else {
        panic!("expected one creation")
    };
    assert_eq!(pod_revision(&pod), Some(&new));
}

#[test]
fn template_change_creates_the_next_revision_and_rollback_renumbers() {
    let (set, old, old_rev) = updated_set(1, 0);
    let mut v = view(&set, vec![ready_pod("web-0", &old, 0)], vec![]);
    v.revisions = vec![old_rev.clone()];
    let result = actions(&v);
    let Action::CreateRevision(created) = &result[0] else {
        panic!("expected a revision first")
    };
    assert_eq!(created.revision, 2);
    assert_eq!(created.metadata.name, Some(revision_name(&set)));
    assert_eq!(result[1..], [delete("web-0")]);

    // back to img:1 while revision 2 (img:2) is the newest
    let rolled_back = with_image(set.clone(), "img:1");
    let v = rolling_view(
        &rolled_back,
        &old_rev,
        vec![ready_pod("web-0", &revision_name(&set), 0)],
    );
    let mut v2 = v.clone();
    let mut newer = (*revision_of(&set)).clone();
    newer.revision = 2;
    v2.revisions = vec![old_rev.clone(), Arc::new(newer)];
    assert_eq!(
        actions(&v2)[0],
        Action::RenumberRevision {
            name: old.clone(),
            revision: 3
        }
    );
}

#[test]
fn retention_policy_table() {
    let rev = |set: &StatefulSet| revision_name(set);
    let delete_on_delete = with_policy(set_with_claims("web", 1, &["data"]), "Delete", "Retain");
    let created = actions(&view(&delete_on_delete, vec![], vec![]));
    assert_eq!(
        created,
        [
            create_claim(&delete_on_delete, 0),
            create_pod(&delete_on_delete, 0),
            Action::SetClaimOwners {
                claim: "data-web-0".into(),
                pod: "web-0".into(),
                owner_references: vec![set_owner(&delete_on_delete)]
            },
        ]
    );

    // whenScaled=Delete: the condemned pod's claim is handed to the pod before the pod is deleted
    let delete_on_scale = with_policy(set_with_claims("web", 1, &["data"]), "Retain", "Delete");
    let r = rev(&delete_on_scale);
    let pods = vec![ready_pod("web-0", &r, 0), ready_pod("web-1", &r, 0)];
    assert_eq!(
        actions(&view(
            &delete_on_scale,
            pods,
            vec![claim_of(&delete_on_scale, 0), claim_of(&delete_on_scale, 1)]
        )),
        [
            Action::SetClaimOwners {
                claim: "data-web-1".into(),
                pod: "web-1".into(),
                owner_references: vec![pod_owner("web-1", "uid-web-1")]
            },
            delete("web-1"),
        ]
    );

    // a claim still owned by the previous web-1 blocks its replacement
    let grown = with_policy(set_with_claims("web", 2, &["data"]), "Retain", "Delete");
    let r = rev(&grown);
    let stale = owned_by(claim_of(&grown, 1), pod_owner("web-1", "uid-old-web-1"));
    assert_eq!(
        actions(&view(
            &grown,
            vec![ready_pod("web-0", &r, 0)],
            vec![claim_of(&grown, 0), stale]
        )),
        []
    );

    // policy back to Retain: our refs are scrubbed from live pods' claims
    let retain = set_with_claims("web", 1, &["data"]);
    let owned = owned_by(claim_of(&retain, 0), set_owner(&retain));
    assert_eq!(
        actions(&view(
            &retain,
            vec![ready_pod("web-0", &rev(&retain), 0)],
            vec![owned]
        )),
        [Action::SetClaimOwners {
            claim: "data-web-0".into(),
            pod: "web-0".into(),
            owner_references: vec![]
        }]
    );

    // another controller owns the claim: warn and leave it
    let foreign = OwnerReference {
        controller: Some(true),
        ..pod_owner("someone", "uid-someone")
    };
    let conflicting = owned_by(claim_of(&delete_on_delete, 0), foreign);
    let result = actions(&view(&delete_on_delete, vec![], vec![conflicting]));
    assert_eq!(result[0], create_pod(&delete_on_delete, 0));
    assert!(matches!(
        &result[1],
        Action::Warn {
            reason: "ConflictingController",
            ..
        }
    ));
    assert_eq!(result.len(), 2);
}

#[test]
fn adoption_release_and_identity() {
    let set = set_with_claims("web", 1, &[]);
    let rev = revision_name(&set);
    let mut orphan = ready_pod("web-0", &rev, 0);
    orphan.metadata.owner_references = None;
    assert_eq!(
        actions(&view(&set, vec![orphan], vec![])),
        [Action::SetPodOwners {
            name: "web-0".into(),
            owner_references: vec![set_owner(&set)],
            resource_version: Some("20".into())
        }]
    );
    let mut left = ready_pod("web-0", &rev, 0);
    left.metadata
        .labels
        .as_mut()
        .unwrap()
        .insert("app".into(), "other".into());
    let result = actions(&view(&set, vec![left], vec![]));
    assert_eq!(
        result[0],
        Action::SetPodOwners {
            name: "web-0".into(),
            owner_references: vec![],
            resource_version: Some("20".into())
        }
    );
    assert_eq!(result[1..], [create_pod(&set, 0)]);

    let mut unlabelled = ready_pod("web-0", &rev, 0);
    unlabelled
        .metadata
        .labels
        .as_mut()
        .unwrap()
        .remove(LABEL_POD_NAME);
    assert_eq!(
        actions(&view(&set, vec![unlabelled], vec![])),
        [Action::LabelPod {
            name: "web-0".into(),
            labels: [(LABEL_POD_NAME.to_owned(), "web-0".to_owned())].into()
        }]
    );
}

#[test]
fn deleting_set_only_reports_status() {
    let mut set = set_with_claims("web", 3, &["data"]);
    set.metadata.deletion_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
        Timestamp::UNIX_EPOCH,
    ));
    let rev = revision_name(&set);
    let result = sync(&view(&set, vec![ready_pod("web-0", &rev, 0)], vec![]));
    assert_eq!(result.actions, []);
    assert_eq!(result.status.unwrap().ready_replicas, Some(1));
}

#[test]
fn start_ordinal_and_min_ready_seconds() {
    let mut set = set_with_claims("web", 2, &[]);
    set.spec.as_mut().unwrap().ordinals =
        Some(serde_json::from_value(serde_json::json!({"start": 5})).unwrap());
    set.spec.as_mut().unwrap().min_ready_seconds = Some(30);
    let rev = revision_name(&set);
    // ready for 10 s only (now is 1000 s): not available yet
    assert_eq!(
        actions(&view(&set, vec![ready_pod("web-5", &rev, 990)], vec![])),
        []
    );
    assert_eq!(
        actions(&view(&set, vec![ready_pod("web-5", &rev, 900)], vec![])),
        [create_pod(&set, 6)]
    );
    // web-0 is outside [5, 7): condemned once the range is healthy
    let pods = vec![
        ready_pod("web-0", &rev, 0),
        ready_pod("web-5", &rev, 0),
        ready_pod("web-6", &rev, 0),
    ];
    let result = sync(&view(&set, pods, vec![]));
    assert_eq!(result.actions, [delete("web-0")]);
    assert_eq!(result.status.unwrap().replicas, 3);
}

#[test]
fn history_beyond_the_limit_is_pruned() {
    let mut set = set_with_claims("web", 1, &[]);
    set.spec.as_mut().unwrap().revision_history_limit = Some(1);
    let live = revision_name(&set);
    let mut v = view(&set, vec![ready_pod("web-0", &live, 0)], vec![]);
    let mut revisions = Vec::new();
    for (i, image) in ["img:a", "img:b", "img:c"].into_iter().enumerate() {
        let mut r = (*revision_of(&with_image(set.clone(), image))).clone();
        r.revision = i as i64 + 1;
        revisions.push(Arc::new(r));
    }
    let mut current = (*v.revisions[0]).clone();
    current.revision = 4;
    revisions.push(Arc::new(current));
    let names: Vec<String> = revisions
        .iter()
        .map(|r| r.metadata.name.clone().unwrap())
        .collect();
    v.revisions = revisions;
    assert_eq!(sync(&v).prune, names[..2]);
}
