//! Tests of the container lifecycle rules: restarts, back-off, probes, plans and phases.

use serde_json::json;

use super::*;

fn container(value: serde_json::Value) -> Container {
    serde_json::from_value(value).unwrap()
}

fn ts(second: i64) -> Timestamp {
    Timestamp::from_second(second).unwrap()
}

fn probed_container() -> Container {
    container(
        json!({"name": "c", "readinessProbe": {"exec": {"command": ["true"]},
        "initialDelaySeconds": 2, "periodSeconds": 5, "successThreshold": 2, "failureThreshold": 2}}),
    )
}

fn record(name: &str) -> ContainerRecord {
    ContainerRecord::new(
        &container(json!({"name": name, "image": "busybox"})),
        "ContainerCreating",
    )
}

fn running(name: &str, now: Instant) -> ContainerRecord {
    let mut r = record(name);
    r.started(ts(1), "sim://x".into(), now);
    r
}

fn finished(name: &str, code: i32, now: Instant) -> ContainerRecord {
    let mut r = running(name, now);
    r.exited(Exit { code, signal: None }, ts(2), None, now, "p");
    r
}

#[test]
fn readiness_defaults_follow_kubernetes() {
    assert_eq!(
        Readiness::of(&container(json!({"name": "c"}))),
        Readiness::WhenRunning
    );
    let http = container(json!({"name": "c", "readinessProbe": {"httpGet": {"port": 80}}}));
    assert_eq!(Readiness::of(&http), Readiness::WhenRunning);
    let exec =
        container(json!({"name": "c", "readinessProbe": {"exec": {"command": ["cat", "/ready"]}}}));
    assert_eq!(
        Readiness::of(&exec),
        Readiness::Exec(ExecProbe {
            command: vec!["cat".into(), "/ready".into()],
            initial_delay: Duration::ZERO,
            period: Duration::from_secs(10),
            timeout: Duration::from_secs(1),
            success_threshold: 1,
            failure_threshold: 3,
        })
    );
}

#[test]
fn restart_policy_table() {
    use RestartPolicy::*;
    let cases = [
        (Always, Slot::Main(0), 0, true),
        (Always, Slot::Main(0), 1, true),
        (Always, Slot::Init(0), 0, false),
        (Always, Slot::Init(0), 1, true),
        (OnFailure, Slot::Main(0), 0, false),
        (OnFailure, Slot::Main(0), 2, true),
        (OnFailure, Slot::Init(0), 2, true),
        (Never, Slot::Main(0), 1, false),
        (Never, Slot::Init(0), 1, false),
    ];
    for (policy, slot, code, expected) in cases {
        assert_eq!(
            policy.restarts(slot, code),
            expected,
            "{policy:?} {slot:?} {code}"
        );
    }
    let pod = |policy: Option<&str>| -> Pod {
        serde_json::from_value(json!({"spec": {"containers": [], "restartPolicy": policy}}))
            .unwrap()
    };
    assert_eq!(RestartPolicy::of(&pod(None)), Always);
    assert_eq!(RestartPolicy::of(&pod(Some("OnFailure"))), OnFailure);
    assert_eq!(RestartPolicy::of(&pod(Some("Never"))), Never);
}

#[test]
fn restart_delay_is_immediate_then_doubles_to_the_cap() {
    let (initial, max) = (Duration::from_secs(10), Duration::from_secs(300));
    let delays: Vec<u64> = (0..8)
        .map(|n| restart_delay(n, initial, max).as_secs())
        .collect();
    assert_eq!(delays, [0, 10, 20, 40, 80, 160, 300, 300]);
    assert_eq!(restart_delay(1000, initial, max), max);
}

#[test]
fn exit_codes_from_statuses() {
    use std::os::unix::process::ExitStatusExt;
    let exited = std::process::ExitStatus::from_raw(3 << 8);
    assert_eq!(
        Exit::from_status(exited),
        Exit {
            code: 3,
            signal: None
        }
    );
    let killed = std::process::ExitStatus::from_raw(15);
    assert_eq!(
        Exit::from_status(killed),
        Exit {
            code: 143,
            signal: Some(15)
        }
    );
}

#[test]
fn exit_then_backoff_then_restart_counts() {
    let now = Instant::now();
    let mut r = running("app", now);
    assert!(r.ready, "no probe: ready while running");
    r.exited(
        Exit {
            code: 1,
            signal: None,
        },
        ts(5),
        Some(Duration::from_secs(10)),
        now,
        "web-0_ns(u1)",
    );
    assert!(!r.ready);
    assert_eq!(
        r.state,
        RunState::Waiting {
            reason: "CrashLoopBackOff".into(),
            message: Some("back-off 10s restarting failed container=app pod=web-0_ns(u1)".into()),
            retry_at: Some(now + Duration::from_secs(10)),
        }
    );
    let last = r.last_termination.clone().unwrap();
    assert_eq!(
        (
            last.exit_code,
            last.reason.as_str(),
            last.started_at,
            last.finished_at
        ),
        (1, "Error", ts(1), ts(5))
    );
    assert_eq!(r.restart_count(), 0);
    r.started(ts(20), "sim://y".into(), now);
    assert_eq!(r.restart_count(), 1);
    r.exited(
        Exit {
            code: 0,
            signal: None,
        },
        ts(30),
        None,
        now,
        "p",
    );
    assert!(
        matches!(&r.state, RunState::Terminated(t) if t.reason == "Completed" && t.started_at == ts(20))
    );
}

#[test]
fn probe_thresholds_flip_readiness() {
    let now = Instant::now();
    let mut r = ContainerRecord::new(&probed_container(), "ContainerCreating");
    r.started(ts(1), "id".into(), now);
    assert!(!r.ready);
    assert_eq!(r.probe.next_at, Some(now + Duration::from_secs(2)));
    let outcomes = [
        (true, false),
        (true, true),
        (false, true),
        (true, true),
        (false, true),
        (false, false),
    ];
    for (step, (success, ready)) in outcomes.into_iter().enumerate() {
        r.probe.in_flight = true;
        r.probed(success, now);
        assert_eq!(r.ready, ready, "after probe {step}");
        assert!(!r.probe.in_flight);
        assert_eq!(r.probe.next_at, Some(now + Duration::from_secs(5)));
    }
}

#[test]
fn plan_runs_init_containers_one_at_a_time() {
    let now = Instant::now();
    let main = [record("app")];
    assert_eq!(
        plan(&[record("i0"), record("i1")], &main, now).actions,
        [Action::Start(Slot::Init(0))]
    );
    assert_eq!(
        plan(&[running("i0", now), record("i1")], &main, now),
        Plan::default()
    );
    assert_eq!(
        plan(&[finished("i0", 0, now), record("i1")], &main, now).actions,
        [Action::Start(Slot::Init(1))]
    );
    assert_eq!(
        plan(&[finished("i0", 1, now), record("i1")], &main, now),
        Plan::default()
    );
    assert_eq!(
        plan(&[finished("i0", 0, now)], &[record("a"), record("b")], now).actions,
        [Action::Start(Slot::Main(0)), Action::Start(Slot::Main(1))]
    );
}

#[test]
fn plan_waits_for_backoff_and_probe_times() {
    let now = Instant::now();
    let later = now + Duration::from_secs(10);
    let mut backing_off = running("a", now);
    backing_off.exited(
        Exit {
            code: 1,
            signal: None,
        },
        ts(2),
        Some(Duration::from_secs(10)),
        now,
        "p",
    );
    let mut probed = ContainerRecord::new(&probed_container(), "ContainerCreating");
    probed.started(ts(1), "id".into(), now);
    let main = [backing_off.clone(), probed.clone(), finished("c", 0, now)];
    assert_eq!(
        plan(&[], &main, now),
        Plan {
            actions: vec![],
            wake_at: Some(now + Duration::from_secs(2))
        }
    );
    assert_eq!(
        plan(&[], &main, later),
        Plan {
            actions: vec![Action::Start(Slot::Main(0)), Action::Probe(1)],
            wake_at: None
        }
    );
    probed.probe.in_flight = true;
    assert_eq!(
        plan(&[], &[probed], later),
        Plan::default(),
        "no second probe while one runs"
    );
}

#[test]
fn phase_table() {
    let now = Instant::now();
    type Case = (
        &'static str,
        bool,
        Vec<ContainerRecord>,
        Vec<ContainerRecord>,
        &'static str,
    );
    let cases: Vec<Case> = vec![
        (
            "volumes pending",
            false,
            vec![],
            vec![record("a")],
            "Pending",
        ),
        (
            "init running",
            true,
            vec![running("i", now)],
            vec![record("a")],
            "Pending",
        ),
        (
            "init failed for good",
            true,
            vec![finished("i", 1, now)],
            vec![record("a")],
            "Failed",
        ),
        (
            "not started yet",
            true,
            vec![],
            vec![record("a")],
            "Pending",
        ),
        (
            "running",
            true,
            vec![finished("i", 0, now)],
            vec![running("a", now)],
            "Running",
        ),
        (
            "one done one running",
            true,
            vec![],
            vec![finished("a", 0, now), running("b", now)],
            "Running",
        ),
        (
            "all succeeded",
            true,
            vec![],
            vec![finished("a", 0, now), finished("b", 0, now)],
            "Succeeded",
        ),
        (
            "one failed",
            true,
            vec![],
            vec![finished("a", 0, now), finished("b", 2, now)],
            "Failed",
        ),
    ];
    for (name, volumes_ready, init, main, expected) in cases {
        assert_eq!(phase(volumes_ready, &init, &main), expected, "{name}");
    }
    let mut restarting = running("a", now);
    restarting.exited(
        Exit {
            code: 1,
            signal: None,
        },
        ts(2),
        Some(Duration::from_secs(10)),
        now,
        "p",
    );
    assert_eq!(
        phase(true, &[], &[restarting]),
        "Running",
        "a restarting container keeps the pod Running"
    );
}

#[test]
fn grace_period_prefers_the_deletion_then_the_spec() {
    let pod = |meta: serde_json::Value, spec_grace: Option<i64>| -> Pod {
        serde_json::from_value(json!({"metadata": meta,
            "spec": {"containers": [], "terminationGracePeriodSeconds": spec_grace}}))
        .unwrap()
    };
    assert_eq!(
        grace_period(&pod(json!({"deletionGracePeriodSeconds": 3}), Some(60))),
        Duration::from_secs(3)
    );
    assert_eq!(
        grace_period(&pod(json!({}), Some(60))),
        Duration::from_secs(60)
    );
    assert_eq!(grace_period(&pod(json!({}), None)), Duration::from_secs(30));
    assert_eq!(
        grace_period(&pod(json!({"deletionGracePeriodSeconds": 0}), None)),
        Duration::ZERO
    );
}
