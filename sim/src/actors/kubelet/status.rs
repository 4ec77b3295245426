//! The pod status the kubelet reports, computed from its record (pure), and the merge patch that writes it only
//! when something changed.

use k8s_openapi::api::core::v1::{
    ContainerState, ContainerStateRunning, ContainerStateTerminated, ContainerStateWaiting,
    ContainerStatus, HostIP, Pod, PodCondition, PodIP, PodStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;

use super::lifecycle::{
    ContainerRecord, InitProgress, PodRecord, RunState, Termination, init_progress,
};

/// Conditions the kubelet owns; any other condition in the current status (PodScheduled, readiness gates,
/// DisruptionTarget) is kept as it is.
const KUBELET_CONDITIONS: &[&str] = &[
    "PodReadyToStartContainers",
    "Initialized",
    "Ready",
    "ContainersReady",
];

/// The status the kubelet wants the pod to have. Transition times are kept from the current status while a
/// condition's value does not change, so that the same record always yields the same status.
pub fn desired(pod: &Pod, record: &PodRecord, now: Timestamp) -> PodStatus {
    let current = pod.status.clone().unwrap_or_default();
    let current_conditions = current.conditions.clone().unwrap_or_default();
    let phase = record.phase();
    let terminal = matches!(phase, "Succeeded" | "Failed");
    let condition = |type_: &str, ok: bool, reason: Option<&str>, message: Option<String>| {
        let status = if ok { "True" } else { "False" };
        let previous = current_conditions
            .iter()
            .find(|c| c.type_ == type_ && c.status == status);
        PodCondition {
            type_: type_.to_string(),
            status: status.to_string(),
            reason: if ok { None } else { reason.map(str::to_string) },
            message: if ok { None } else { message },
            last_transition_time: Some(
                previous
                    .and_then(|p| p.last_transition_time.clone())
                    .unwrap_or(Time(now)),
            ),
            ..PodCondition::default()
        }
    };

    let incomplete_init: Vec<&str> = match init_progress(&record.init) {
        InitProgress::Done => vec![],
        InitProgress::Current(_) | InitProgress::Failed(_) => record
            .init
            .iter()
            .filter(|c| !matches!(&c.state, RunState::Terminated(t) if t.exit_code == 0))
            .map(|c| c.name.as_str())
            .collect(),
    };
    let unready: Vec<&str> = record
        .main
        .iter()
        .filter(|c| !c.ready)
        .map(|c| c.name.as_str())
        .collect();
    let names = |list: &[&str]| format!("[{}]", list.join(" "));
    let (ready_reason, ready_message) = match (terminal, unready.is_empty()) {
        (true, _) => (Some("PodCompleted"), None),
        (false, _) => (
            Some("ContainersNotReady"),
            Some(format!(
                "containers with unready status: {}",
                names(&unready)
            )),
        ),
    };
    let containers_ready = !terminal && unready.is_empty();
    let gate_missing = readiness_gates(pod).into_iter().find(|gate| {
        !current_conditions
            .iter()
            .any(|c| &c.type_ == gate && c.status == "True")
    });
    let ready = match (containers_ready, gate_missing) {
        (true, None) => condition("Ready", true, None, None),
        (true, Some(gate)) => condition(
            "Ready",
            false,
            Some("ReadinessGatesNotReady"),
            Some(format!(
                "corresponding condition of pod readiness gate {gate:?} does not exist."
            )),
        ),
        (false, _) => condition("Ready", false, ready_reason, ready_message.clone()),
    };

    let mut conditions = vec![
        condition(
            "PodReadyToStartContainers",
            record.volumes_ready && !terminal,
            None,
            None,
        ),
        condition(
            "Initialized",
            incomplete_init.is_empty(),
            Some("ContainersNotInitialized"),
            Some(format!(
                "containers with incomplete status: {}",
                names(&incomplete_init)
            )),
        ),
        ready,
        condition(
            "ContainersReady",
            containers_ready,
            ready_reason,
            ready_message,
        ),
    ];
    conditions.extend(
        current_conditions
            .into_iter()
            .filter(|c| !KUBELET_CONDITIONS.contains(&c.type_.as_str())),
    );

    PodStatus {
        phase: Some(phase.to_string()),
        conditions: Some(conditions),
        host_ip: Some(record.host_ip.clone()),
        host_ips: Some(vec![HostIP {
            ip: record.host_ip.clone(),
        }]),
        pod_ip: record.pod_ip.clone(),
        pod_ips: record.pod_ip.clone().map(|ip| vec![PodIP { ip }]),
        start_time: Some(Time(record.start_time)),
        init_container_statuses: (!record.init.is_empty()).then(|| {
            record
                .init
                .iter()
                .map(|c| container_status(c, true))
                .collect()
        }),
        container_statuses: Some(
            record
                .main
                .iter()
                .map(|c| container_status(c, false))
                .collect(),
        ),
        ..current
    }
}

fn readiness_gates(pod: &Pod) -> Vec<String> {
    let gates = pod
        .spec
        .as_ref()
        .and_then(|s| s.readiness_gates.as_deref())
        .unwrap_or_default();
    gates.iter().map(|g| g.condition_type.clone()).collect()
}

fn container_status(record: &ContainerRecord, init: bool) -> ContainerStatus {
    let (state, container_id) = match &record.state {
        RunState::Waiting {
            reason, message, ..
        } => (
            ContainerState {
                waiting: Some(ContainerStateWaiting {
                    reason: Some(reason.clone()),
                    message: message.clone(),
                }),
                ..ContainerState::default()
            },
            None,
        ),
        RunState::Running {
            started_at,
            container_id,
        } => (
            ContainerState {
                running: Some(ContainerStateRunning {
                    started_at: Some(Time(*started_at)),
                }),
                ..ContainerState::default()
            },
            Some(container_id.clone()),
        ),
        RunState::Terminated(t) => (terminated(t), Some(t.container_id.clone())),
    };
    let succeeded = matches!(&record.state, RunState::Terminated(t) if t.exit_code == 0);
    ContainerStatus {
        name: record.name.clone(),
        image: record.image.clone(),
        image_id: String::new(),
        container_id: container_id.filter(|id| !id.is_empty()),
        ready: if init { succeeded } else { record.ready },
        started: Some(record.is_running()),
        restart_count: record.restart_count(),
        state: Some(state),
        last_state: Some(
            record
                .last_termination
                .as_ref()
                .map(terminated)
                .unwrap_or_default(),
        ),
        ..ContainerStatus::default()
    }
}

fn terminated(t: &Termination) -> ContainerState {
    ContainerState {
        terminated: Some(ContainerStateTerminated {
            exit_code: t.exit_code,
            signal: t.signal,
            reason: Some(t.reason.clone()),
            started_at: Some(Time(t.started_at)),
            finished_at: Some(Time(t.finished_at)),
            container_id: Some(t.container_id.clone()).filter(|id| !id.is_empty()),
            message: None,
        }),
        ..ContainerState::default()
    }
}

/// The merge patch (`{"status": …}`) that brings the pod's status to `desired`, or `None` when applying it would
/// change nothing.
pub fn patch(pod: &Pod, desired: &PodStatus) -> Option<serde_json::Value> {
    let current = serde_json::to_value(pod.status.clone().unwrap_or_default()).ok()?;
    let wanted = serde_json::to_value(desired).ok()?;
    let mut merged = current.clone();
    json_patch::merge(&mut merged, &wanted);
    (merged != current).then(|| serde_json::json!({ "status": wanted }))
}

#[cfg(test)]
#[path = "status_tests.rs"]
mod tests;
