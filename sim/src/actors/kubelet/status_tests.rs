//! Tests of the reported pod status: conditions, container states, stable transition times.

use serde_json::json;
use tokio::time::Instant;

use super::super::lifecycle::Exit;
use super::*;

fn ts(second: i64) -> Timestamp {
    Timestamp::from_second(second).unwrap()
}

fn pod(extra_spec: serde_json::Value, status: serde_json::Value) -> Pod {
    let mut spec =
        json!({"nodeName": "node-1", "containers": [{"name": "app", "image": "busybox"}]});
    if let (Some(spec), Some(extra)) = (spec.as_object_mut(), extra_spec.as_object()) {
        spec.extend(extra.clone());
    }
    serde_json::from_value(
        json!({"metadata": {"name": "web-0", "namespace": "ns", "uid": "u1"},
                                  "spec": spec, "status": status}),
    )
    .unwrap()
}

fn scheduled() -> serde_json::Value {
    json!({"phase": "Pending", "qosClass": "BestEffort", "conditions": [
        {"type": "PodScheduled", "status": "True", "lastTransitionTime": "1970-01-01T00:00:01Z"}
    ]})
}

fn conditions(status: &PodStatus) -> Vec<(String, String, Option<String>)> {
    status
        .conditions
        .iter()
        .flatten()
        .map(|c| (c.type_.clone(), c.status.clone(), c.reason.clone()))
        .collect()
}

fn cond(type_: &str, status: &str, reason: Option<&str>) -> (String, String, Option<String>) {
    (type_.into(), status.into(), reason.map(str::to_string))
}

#[test]
fn waiting_for_volumes_is_pending_with_container_creating() {
    let pod = pod(json!({}), scheduled());
    let record = PodRecord::new(&pod, ts(10), "172.18.0.1".into());
    let status = desired(&pod, &record, ts(20));
    assert_eq!(status.phase.as_deref(), Some("Pending"));
    assert_eq!(
        status.qos_class.as_deref(),
        Some("BestEffort"),
        "fields the kubelet does not own are kept"
    );
    assert_eq!(
        conditions(&status),
        [
            cond("PodReadyToStartContainers", "False", None),
            cond("Initialized", "True", None),
            cond("Ready", "False", Some("ContainersNotReady")),
            cond("ContainersReady", "False", Some("ContainersNotReady")),
            cond("PodScheduled", "True", None),
        ]
    );
    let ready = &status.conditions.as_ref().unwrap()[2];
    assert_eq!(
        ready.message.as_deref(),
        Some("containers with unready status: [app]")
    );
    assert_eq!(ready.last_transition_time, Some(Time(ts(20))));
    let app = &status.container_statuses.as_ref().unwrap()[0];
    assert_eq!(
        app.state
            .as_ref()
            .unwrap()
            .waiting
            .as_ref()
            .unwrap()
            .reason
            .as_deref(),
        Some("ContainerCreating")
    );
    assert_eq!(
        (app.ready, app.started, app.restart_count),
        (false, Some(false), 0)
    );
    assert_eq!(status.pod_ip, None);
    assert_eq!(status.host_ip.as_deref(), Some("172.18.0.1"));
    assert_eq!(status.start_time, Some(Time(ts(10))));
    assert!(status.init_container_statuses.is_none());
}

#[test]
fn running_container_makes_the_pod_ready() {
    let pod = pod(json!({}), scheduled());
    let mut record = PodRecord::new(&pod, ts(10), "172.18.0.1".into());
    record.volumes_ready = true;
    record.pod_ip = Some("10.1.1.2".into());
    record.main[0].started(ts(11), "sim://a".into(), Instant::now());
    let status = desired(&pod, &record, ts(12));
    assert_eq!(status.phase.as_deref(), Some("Running"));
    assert_eq!(
        conditions(&status),
        [
            cond("PodReadyToStartContainers", "True", None),
            cond("Initialized", "True", None),
            cond("Ready", "True", None),
            cond("ContainersReady", "True", None),
            cond("PodScheduled", "True", None),
        ]
    );
    let app = &status.container_statuses.as_ref().unwrap()[0];
    assert_eq!(app.container_id.as_deref(), Some("sim://a"));
    assert_eq!(
        app.state
            .as_ref()
            .unwrap()
            .running
            .as_ref()
            .unwrap()
            .started_at,
        Some(Time(ts(11)))
    );
    assert_eq!(
        status.pod_ips,
        Some(vec![PodIP {
            ip: "10.1.1.2".into()
        }])
    );
}

#[test]
fn transition_times_are_kept_while_values_hold() {
    let pod0 = pod(json!({}), scheduled());
    let mut record = PodRecord::new(&pod0, ts(10), "h".into());
    record.volumes_ready = true;
    record.main[0].started(ts(11), "sim://a".into(), Instant::now());
    let first = desired(&pod0, &record, ts(12));
    let pod1 = pod(json!({}), serde_json::to_value(&first).unwrap());
    let second = desired(&pod1, &record, ts(99));
    assert_eq!(first, second, "same record, same status: no write loop");
    assert_eq!(patch(&pod1, &second), None);
    assert!(patch(&pod0, &first).is_some());
}

#[test]
fn readiness_gates_hold_ready_back() {
    let gate = json!({"readinessGates": [{"conditionType": "example.com/gate"}]});
    let pod0 = pod(gate.clone(), scheduled());
    let mut record = PodRecord::new(&pod0, ts(1), "h".into());
    record.volumes_ready = true;
    record.main[0].started(ts(2), "id".into(), Instant::now());
    let status = desired(&pod0, &record, ts(3));
    let ready = &status.conditions.as_ref().unwrap()[2];
    assert_eq!(
        (ready.status.as_str(), ready.reason.as_deref()),
        ("False", Some("ReadinessGatesNotReady"))
    );
    let mut with_gate = scheduled();
    with_gate["conditions"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "example.com/gate", "status": "True"}));
    let pod1 = pod(gate, with_gate);
    let status = desired(&pod1, &record, ts(3));
    assert_eq!(status.conditions.as_ref().unwrap()[2].status, "True");
    assert_eq!(
        status.conditions.as_ref().unwrap()[5].type_,
        "example.com/gate"
    );
}

#[test]
fn init_containers_report_progress() {
    let pod = pod(
        json!({"initContainers": [{"name": "init", "image": "busybox"}]}),
        scheduled(),
    );
    let mut record = PodRecord::new(&pod, ts(1), "h".into());
    record.volumes_ready = true;
    let status = desired(&pod, &record, ts(2));
    let initialized = &status.conditions.as_ref().unwrap()[1];
    assert_eq!(
        initialized.reason.as_deref(),
        Some("ContainersNotInitialized")
    );
    assert_eq!(
        initialized.message.as_deref(),
        Some("containers with incomplete status: [init]")
    );
    let app = &status.container_statuses.as_ref().unwrap()[0];
    assert_eq!(
        app.state
            .as_ref()
            .unwrap()
            .waiting
            .as_ref()
            .unwrap()
            .reason
            .as_deref(),
        Some("PodInitializing")
    );
    let now = Instant::now();
    record.init[0].started(ts(2), "i".into(), now);
    record.init[0].exited(
        Exit {
            code: 0,
            signal: None,
        },
        ts(3),
        None,
        now,
        "p",
    );
    let status = desired(&pod, &record, ts(4));
    assert_eq!(status.conditions.as_ref().unwrap()[1].status, "True");
    let init = &status.init_container_statuses.as_ref().unwrap()[0];
    assert!(init.ready);
    let terminated = init.state.as_ref().unwrap().terminated.as_ref().unwrap();
    assert_eq!(
        (terminated.exit_code, terminated.reason.as_deref()),
        (0, Some("Completed"))
    );
}

#[test]
fn finished_pods_report_pod_completed_and_last_state() {
    let pod = pod(json!({"restartPolicy": "Never"}), scheduled());
    let mut record = PodRecord::new(&pod, ts(1), "h".into());
    record.volumes_ready = true;
    let now = Instant::now();
    record.main[0].started(ts(2), "c1".into(), now);
    record.main[0].exited(
        Exit {
            code: 143,
            signal: Some(15),
        },
        ts(3),
        None,
        now,
        "p",
    );
    let status = desired(&pod, &record, ts(4));
    assert_eq!(status.phase.as_deref(), Some("Failed"));
    assert_eq!(
        conditions(&status)[..4],
        [
            cond("PodReadyToStartContainers", "False", None),
            cond("Initialized", "True", None),
            cond("Ready", "False", Some("PodCompleted")),
            cond("ContainersReady", "False", Some("PodCompleted")),
        ]
    );
    let app = &status.container_statuses.as_ref().unwrap()[0];
    let terminated = app.state.as_ref().unwrap().terminated.as_ref().unwrap();
    assert_eq!((terminated.exit_code, terminated.signal), (143, Some(15)));
    assert_eq!(app.container_id.as_deref(), Some("c1"));
    assert_eq!(
        app.last_state
            .as_ref()
            .unwrap()
            .terminated
            .as_ref()
            .unwrap()
            .exit_code,
        143
    );
}
