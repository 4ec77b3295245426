//! Table tests of a scheduling pass.

use std::time::Duration;

use super::super::fixtures::*;
use super::super::snapshot::{ANN_SELECTED_NODE, ClaimKey};
use super::super::volumes::StaticBinding;
use super::*;
use k8s_openapi::jiff::Timestamp;

fn decide(snapshot: &mut Snapshot, memory: &Memory, now: Instant) -> Vec<(String, Decision)> {
    decide_all(snapshot, memory, "default-scheduler", now)
        .into_iter()
        .map(|d| (d.pod.metadata.name.clone().unwrap(), d.decision))
        .collect()
}

fn bind(node: &str) -> Decision {
    Decision::Bind { node: node.into() }
}

fn unschedulable(message: &str) -> Decision {
    Decision::Fail {
        reason: FailureReason::Unschedulable,
        message: message.into(),
    }
}

fn created_at(mut p: Pod, second: i64) -> Pod {
    p.metadata.creation_timestamp = Some(Time(Timestamp::from_second(second).unwrap()));
    p
}

const NOT_HELPFUL_3: &str =
    " preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.";

#[test]
fn pods_without_claims_spread_least_loaded_first() {
    let now = Instant::now();
    let mut snap = snapshot()
        .nodes(&["node-3", "node-1", "node-2"])
        .pod(running_on("busy-1", "node-1"))
        .pod(created_at(pod("b", &[]), 2))
        .pod(created_at(pod("a", &[]), 3))
        .pod(created_at(pod("c", &[]), 1))
        .build();
    // oldest first: c → node-2 (tie with node-3, by name), b → node-3, a → node-1 (all at one pod)
    assert_eq!(
        decide(&mut snap, &Memory::default(), now),
        [
            ("c".into(), bind("node-2")),
            ("b".into(), bind("node-3")),
            ("a".into(), bind("node-1"))
        ]
    );
}

#[test]
fn only_pending_pods_of_this_scheduler() {
    let now = Instant::now();
    let mut other = pod("other", &[]);
    other.spec.as_mut().unwrap().scheduler_name = Some("custom".into());
    let mut terminating = pod("terminating", &[]);
    terminating.metadata.deletion_timestamp = Some(Time(Timestamp::UNIX_EPOCH));
    let mut done = pod("done", &[]);
    done.status.as_mut().unwrap().phase = Some("Succeeded".into());
    let mut defaulted = pod("defaulted", &[]);
    defaulted.spec.as_mut().unwrap().scheduler_name = None;
    let mut snap = snapshot()
        .nodes(&["node-1"])
        .pod(other)
        .pod(terminating)
        .pod(done)
        .pod(running_on("running", "node-1"))
        .pod(defaulted)
        .build();
    assert_eq!(
        decide(&mut snap, &Memory::default(), now),
        [("defaulted".into(), bind("node-1"))]
    );
}

#[test]
fn wffc_claim_without_volumes_is_sent_to_provisioning() {
    let now = Instant::now();
    let mut snap = snapshot()
        .nodes(&["node-1", "node-2"])
        .standard_classes()
        .pod(pod("web-0", &["data"]))
        .claim(claim("data", "wffc"))
        .build();
    let decisions = decide(&mut snap, &Memory::default(), now);
    let mut expected_claim = claim("data", "wffc");
    annotate(&mut expected_claim.metadata, ANN_SELECTED_NODE, "node-1");
    assert_eq!(
        decisions,
        [(
            "web-0".into(),
            Decision::Assume {
                node: "node-1".into(),
                plan: VolumePlan {
                    static_bindings: vec![],
                    provisions: vec![ClaimKey::new("default", "data")]
                },
                volumes: vec![],
                claims: vec![expected_claim.clone()],
            }
        )]
    );
    // the assumption is visible to the rest of the pass
    assert_eq!(
        *snap.claims[&ClaimKey::new("default", "data")],
        expected_claim
    );
}

#[test]
fn static_match_pre_binds_the_volume() {
    let now = Instant::now();
    let mut snap = snapshot()
        .nodes(&["node-1", "node-2"])
        .standard_classes()
        .pod(created_at(pod("web-0", &["data-0"]), 1))
        .pod(created_at(pod("web-1", &["data-1"]), 2))
        .claim(claim("data-0", "static"))
        .claim(claim("data-1", "static"))
        .volume(pinned(volume("pv-2", "static", "1Gi"), "node-2"))
        .build();
    let decisions = decide(&mut snap, &Memory::default(), now);
    let mut expected_volume = pinned(volume("pv-2", "static", "1Gi"), "node-2");
    annotate(
        &mut expected_volume.metadata,
        "pv.kubernetes.io/bound-by-controller",
        "yes",
    );
    expected_volume.spec.as_mut().unwrap().claim_ref = Some(ObjectReference {
        api_version: Some("v1".into()),
        kind: Some("PersistentVolumeClaim".into()),
        namespace: Some("default".into()),
        name: Some("data-0".into()),
        uid: Some("uid-data-0".into()),
        resource_version: Some("10".into()),
        field_path: None,
    });
    assert_eq!(
        decisions,
        [
            (
                "web-0".into(),
                Decision::Assume {
                    node: "node-2".into(),
                    plan: VolumePlan {
                        static_bindings: vec![StaticBinding {
                            volume: "pv-2".into(),
                            claim: ClaimKey::new("default", "data-0")
                        }],
                        provisions: vec![],
                    },
                    volumes: vec![expected_volume],
                    claims: vec![],
                }
            ),
            // the only PV is taken by web-0 now
            (
                "web-1".into(),
                unschedulable(
                    "0/2 nodes are available: 2 node(s) didn't find available persistent volumes to bind. \
                     preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling."
                )
            ),
        ]
    );
}

#[test]
fn volume_pre_bound_by_a_user_is_not_marked_bound_by_controller() {
    let now = Instant::now();
    let mut user_bound = volume("pv-1", "static", "1Gi");
    set_claim_ref(&mut user_bound, "default", "data", None);
    let mut snap = snapshot()
        .nodes(&["node-1"])
        .standard_classes()
        .pod(pod("web-0", &["data"]))
        .claim(claim("data", "static"))
        .volume(user_bound.clone())
        .build();
    let decisions = decide(&mut snap, &Memory::default(), now);
    let [(_, Decision::Assume { volumes, .. })] = decisions.as_slice() else {
        panic!("expected one assume decision");
    };
    let claim_ref = volumes[0].spec.as_ref().unwrap().claim_ref.clone().unwrap();
    assert_eq!(claim_ref.uid.as_deref(), Some("uid-data"));
    assert_eq!(volumes[0].metadata.annotations, None);
}

#[test]
fn unschedulable_messages_table() {
    let now = Instant::now();
    let nodes = || {
        snapshot()
            .nodes(&["node-1", "node-2", "node-3"])
            .standard_classes()
    };
    let cases: Vec<(&str, Snapshot, Decision)> = vec![
        (
            "claim missing",
            nodes().pod(pod("web-0", &["data"])).build(),
            unschedulable(&format!("0/3 nodes are available: persistentvolumeclaim \"data\" not found.{NOT_HELPFUL_3}")),
        ),
        (
            "immediate claim unbound",
            nodes().pod(pod("web-0", &["data"])).claim(claim("data", "immediate")).build(),
            unschedulable(&format!("0/3 nodes are available: pod has unbound immediate PersistentVolumeClaims.{NOT_HELPFUL_3}")),
        ),
        (
            "bound volume pinned to a missing node",
            nodes()
                .pod(pod("web-0", &["data"]))
                .claim(bound_claim("data", "immediate", "pv-1"))
                .volume(pinned(volume("pv-1", "immediate", "1Gi"), "node-9"))
                .build(),
            unschedulable(&format!("0/3 nodes are available: 3 node(s) had volume node affinity conflict.{NOT_HELPFUL_3}")),
        ),
        (
            "no static volume and no provisioner",
            nodes().pod(pod("web-0", &["data"])).claim(claim("data", "static")).build(),
            unschedulable(&format!(
                "0/3 nodes are available: 3 node(s) didn't find available persistent volumes to bind.{NOT_HELPFUL_3}"
            )),
        ),
        (
            "mixed node reasons",
            {
                let mut cordoned = node("node-2");
                cordoned.spec = Some(serde_json::from_value(serde_json::json!({"unschedulable": true})).unwrap());
                snapshot()
                    .nodes(&["node-1", "node-3"])
                    .node(cordoned)
                    .standard_classes()
                    .pod(pod("web-0", &["data"]))
                    .claim(bound_claim("data", "immediate", "pv-1"))
                    .volume(pinned(volume("pv-1", "immediate", "1Gi"), "node-2"))
                    .build()
            },
            unschedulable(&format!(
                "0/3 nodes are available: 1 node(s) were unschedulable, 2 node(s) had volume node affinity conflict.{NOT_HELPFUL_3}"
            )),
        ),
        (
            "class without binding mode",
            {
                let mut s = nodes().pod(pod("web-0", &["data"])).claim(claim("data", "wffc")).build();
                Arc::make_mut(s.classes.get_mut("wffc").unwrap()).volume_binding_mode = None;
                s
            },
            Decision::Fail {
                reason: FailureReason::SchedulerError,
                message: "running PreFilter plugin \"VolumeBinding\": VolumeBindingMode not set for StorageClass \"wffc\"".into(),
            },
        ),
        (
            "no nodes",
            snapshot().pod(pod("web-0", &[])).build(),
            Decision::Fail { reason: FailureReason::SchedulerError, message: "no nodes available to schedule pods".into() },
        ),
        (
            "scheduling gates",
            {
                let mut gated = pod("web-0", &[]);
                gated.spec.as_mut().unwrap().scheduling_gates = Some(vec![serde_json::from_value(serde_json::json!({"name": "g"})).unwrap()]);
                nodes().pod(gated).build()
            },
            Decision::Fail {
                reason: FailureReason::SchedulingGated,
                message: "Scheduling is blocked due to non-empty scheduling gates".into(),
            },
        ),
    ];
    for (name, mut snap, expected) in cases {
        assert_eq!(
            decide(&mut snap, &Memory::default(), now),
            [("web-0".to_owned(), expected)],
            "{name}"
        );
    }
}

#[test]
fn bound_claims_pin_the_pod_even_to_a_loaded_node() {
    let now = Instant::now();
    let mut snap = snapshot()
        .nodes(&["node-1", "node-2"])
        .standard_classes()
        .pod(running_on("busy", "node-2"))
        .pod(pod("web-0", &["data"]))
        .claim(bound_claim("data", "wffc", "pv-1"))
        .volume(pinned(volume("pv-1", "wffc", "1Gi"), "node-2"))
        .build();
    assert_eq!(
        decide(&mut snap, &Memory::default(), now),
        [("web-0".into(), bind("node-2"))]
    );
}

fn in_flight(node: &str, provisions: &[&str], deadline: Instant) -> InFlight {
    InFlight {
        node: node.into(),
        plan: VolumePlan {
            static_bindings: vec![],
            provisions: provisions
                .iter()
                .map(|c| ClaimKey::new("default", c))
                .collect(),
        },
        deadline,
    }
}

#[test]
fn in_flight_table() {
    let now = Instant::now();
    let later = now + Duration::from_secs(60);
    let selected = |mut c: PersistentVolumeClaim| {
        annotate(&mut c.metadata, ANN_SELECTED_NODE, "node-2");
        c
    };
    let base = || {
        snapshot()
            .nodes(&["node-1", "node-2"])
            .standard_classes()
            .pod(pod("web-0", &["data"]))
    };
    let cases: Vec<(&str, Snapshot, Instant, Decision)> = vec![
        ("provisioner working", base().claim(selected(claim("data", "wffc"))).build(), later, Decision::Wait),
        (
            "bound on the chosen node",
            base()
                .claim(selected(bound_claim("data", "wffc", "pv-1")))
                .volume(pinned(volume("pv-1", "wffc", "1Gi"), "node-2"))
                .build(),
            later,
            bind("node-2"),
        ),
        (
            "provisioner asks for rescheduling",
            base().claim(claim("data", "wffc")).build(),
            later,
            Decision::Fail {
                reason: FailureReason::SchedulerError,
                message: "running PreBind plugin \"VolumeBinding\": binding volumes: provisioning failed for PVC \"data\"".into(),
            },
        ),
        (
            "timeout",
            base().claim(selected(claim("data", "wffc"))).build(),
            now,
            Decision::Fail {
                reason: FailureReason::SchedulerError,
                message: "running PreBind plugin \"VolumeBinding\": binding volumes: context deadline exceeded".into(),
            },
        ),
    ];
    for (name, mut snap, deadline, expected) in cases {
        let mut memory = Memory::default();
        memory
            .in_flight
            .insert("uid-web-0".into(), in_flight("node-2", &["data"], deadline));
        assert_eq!(
            decide(&mut snap, &memory, now),
            [("web-0".to_owned(), expected)],
            "{name}"
        );
    }
}

#[test]
fn in_flight_and_bound_pods_count_as_load() {
    let now = Instant::now();
    let mut memory = Memory::default();
    memory.in_flight.insert(
        "uid-web-0".into(),
        in_flight("node-1", &["data"], now + Duration::from_secs(60)),
    );
    memory.bound.insert("uid-web-1".into(), "node-2".into());
    let mut snap = snapshot()
        .nodes(&["node-1", "node-2", "node-3"])
        .standard_classes()
        .pod(created_at(pod("web-0", &["data"]), 1))
        .claim(claim("data", "wffc"))
        .pod(created_at(pod("web-1", &[]), 2))
        .pod(created_at(pod("web-2", &[]), 3))
        .build();
    // web-0 stays in flight (its claim lost selected-node, so it fails), web-1 is awaiting its watch
    // event; web-2 goes to the only idle node
    let decisions = decide(&mut snap, &memory, now);
    assert_eq!(decisions.len(), 2);
    assert_eq!(decisions[1], ("web-2".into(), bind("node-3")));
}

#[test]
fn backoff_defers_the_pod() {
    let now = Instant::now();
    let mut memory = Memory::default();
    memory.backoff.insert(
        "uid-web-0".into(),
        Backoff {
            failures: 2,
            until: now + Duration::from_secs(2),
        },
    );
    let mut snap = snapshot().nodes(&["node-1"]).pod(pod("web-0", &[])).build();
    assert_eq!(decide(&mut snap, &memory, now), []);
    assert_eq!(
        decide(&mut snap, &memory, now + Duration::from_secs(2)),
        [("web-0".into(), bind("node-1"))]
    );
}

#[test]
fn unscheduled_conditions_only_change_when_needed() {
    let t1 = Time(Timestamp::from_second(100).unwrap());
    let t2 = Time(Timestamp::from_second(200).unwrap());
    let mut p = pod("web-0", &[]);
    let first = unscheduled_conditions(&p, FailureReason::Unschedulable, "m1", t1.clone()).unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].last_transition_time, Some(t1.clone()));
    p.status.as_mut().unwrap().conditions = Some(first);
    assert_eq!(
        unscheduled_conditions(&p, FailureReason::Unschedulable, "m1", t2.clone()),
        None
    );
    let second =
        unscheduled_conditions(&p, FailureReason::SchedulerError, "m2", t2.clone()).unwrap();
    // same status: the transition time stays
    assert_eq!(second[0].last_transition_time, Some(t1));
    assert_eq!(second[0].reason.as_deref(), Some("SchedulerError"));
    assert_eq!(second[0].message.as_deref(), Some("m2"));
    p.status.as_mut().unwrap().conditions.as_mut().unwrap()[0].status = "True".into();
    let third = unscheduled_conditions(&p, FailureReason::Unschedulable, "m1", t2.clone()).unwrap();
    assert_eq!(third[0].last_transition_time, Some(t2));
}
