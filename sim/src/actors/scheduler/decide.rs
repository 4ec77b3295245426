//! One scheduling pass as a pure function: pending pods + snapshot + the scheduler's memory of
//! in-flight bindings and backoffs → one decision per pod.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use k8s_openapi::api::core::v1::{
    ObjectReference, PersistentVolume, PersistentVolumeClaim, Pod, PodCondition,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use tokio::time::Instant;

use super::filter::{fit_error, node_rejection};
use super::snapshot::{
    ANN_BOUND_BY_CONTROLLER, ANN_SELECTED_NODE, Snapshot, annotation, is_bound_to_claim, name_of,
};
use super::volumes::{self, BindingProgress, NodeVolumes, PodClaims, VolumePlan};

/// A pod whose claims are being bound for the node chosen for it (upstream: assumed pod in PreBind).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct InFlight {
    pub node: String,
    pub plan: VolumePlan,
    /// When the wait for the binder/provisioner gives up (upstream `bindTimeout`).
    pub deadline: Instant,
}

/// A pod whose last attempt failed, and when it may be tried again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Backoff {
    pub failures: u32,
    pub until: Instant,
}

/// What the scheduler remembers between passes, keyed by pod uid. Only timing and in-flight work live
/// here; every decision's outcome is an API write.
#[derive(Clone, Debug, Default)]
pub(super) struct Memory {
    pub in_flight: HashMap<String, InFlight>,
    pub backoff: HashMap<String, Backoff>,
    /// Pods whose binding was accepted but whose `spec.nodeName` has not been observed yet.
    pub bound: HashMap<String, String>,
}

/// Why a pod is not scheduled, as the PodScheduled condition's reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum FailureReason {
    Unschedulable,
    SchedulerError,
    SchedulingGated,
}

impl FailureReason {
    pub fn as_str(self) -> &'static str {
        match self {
            FailureReason::Unschedulable => "Unschedulable",
            FailureReason::SchedulerError => "SchedulerError",
            FailureReason::SchedulingGated => "SchedulingGated",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub(super) enum Decision {
    /// POST the binding: all claims are bound and fit the node.
    Bind { node: String },
    /// Start binding the pod's claims for `node`: PUT the pre-bound volumes and the claims with
    /// `selected-node` (only those that change), then wait for the binder/provisioner.
    Assume {
        node: String,
        plan: VolumePlan,
        volumes: Vec<PersistentVolume>,
        claims: Vec<PersistentVolumeClaim>,
    },
    /// An in-flight binding is still progressing.
    Wait,
    /// Record the failure on the pod and retry later.
    Fail {
        reason: FailureReason,
        message: String,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub(super) struct PodDecision {
    pub pod: Arc<Pod>,
    pub decision: Decision,
}

/// Decides for every pod of `scheduler_name` that waits for a node. Assumptions (pre-bound PVs,
/// selected nodes, chosen nodes) are applied to `snapshot` so later pods of the same pass see them.
pub(super) fn decide_all(
    snapshot: &mut Snapshot,
    memory: &Memory,
    scheduler_name: &str,
    now: Instant,
) -> Vec<PodDecision> {
    let mut pending: Vec<Arc<Pod>> = snapshot
        .pods
        .iter()
        .filter(|pod| is_pending_for(pod, scheduler_name))
        .filter(|pod| !memory.bound.contains_key(uid(pod)))
        .cloned()
        .collect();
    // upstream's PrioritySort: higher priority first, then older first
    pending.sort_by_key(|pod| {
        let spec_priority = pod.spec.as_ref().and_then(|s| s.priority).unwrap_or(0);
        let created = pod.metadata.creation_timestamp.as_ref().map(|t| t.0);
        (
            -i64::from(spec_priority),
            created,
            pod.metadata.namespace.clone(),
            pod.metadata.name.clone(),
        )
    });
    let mut load = node_load(snapshot, memory);
    let mut decisions = Vec::new();
    for pod in pending {
        let decision = match memory.in_flight.get(uid(&pod)) {
            Some(in_flight) => check_in_flight(in_flight, snapshot, now),
            None if memory.backoff.get(uid(&pod)).is_some_and(|b| b.until > now) => continue,
            None => {
                let decision = schedule(&pod, snapshot, &load);
                if let Decision::Bind { node } | Decision::Assume { node, .. } = &decision {
                    *load.entry(node.clone()).or_default() += 1;
                }
                if let Decision::Assume {
                    volumes, claims, ..
                } = &decision
                {
                    assume(snapshot, volumes, claims);
                }
                decision
            }
        };
        decisions.push(PodDecision { pod, decision });
    }
    decisions
}

fn uid(pod: &Pod) -> &str {
    pod.metadata.uid.as_deref().unwrap_or_default()
}

/// Upstream only queues pods of its own scheduler that have no node, are not terminating and have not
/// finished.
pub(super) fn is_pending_for(pod: &Pod, scheduler_name: &str) -> bool {
    let spec = pod.spec.as_ref();
    let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
    spec.and_then(|s| s.scheduler_name.as_deref())
        .unwrap_or("default-scheduler")
        == scheduler_name
        && spec
            .and_then(|s| s.node_name.as_deref())
            .unwrap_or_default()
            .is_empty()
        && pod.metadata.deletion_timestamp.is_none()
        && !matches!(phase, Some("Succeeded" | "Failed"))
}

/// Pods per node: running ones, plus the ones this scheduler has placed but not yet seen placed.
fn node_load(snapshot: &Snapshot, memory: &Memory) -> BTreeMap<String, usize> {
    let mut load = BTreeMap::new();
    for pod in &snapshot.pods {
        let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
        if let Some(node) = pod.spec.as_ref().and_then(|s| s.node_name.as_deref())
            && !node.is_empty()
            && !matches!(phase, Some("Succeeded" | "Failed"))
        {
            *load.entry(node.to_owned()).or_default() += 1;
        }
    }
    for node in memory
        .bound
        .values()
        .chain(memory.in_flight.values().map(|f| &f.node))
    {
        *load.entry(node.clone()).or_default() += 1;
    }
    load
}

fn check_in_flight(in_flight: &InFlight, snapshot: &Snapshot, now: Instant) -> Decision {
    let prebind_failure = |message: &str| Decision::Fail {
        reason: FailureReason::SchedulerError,
        message: prebind_error(message),
    };
    if in_flight.deadline <= now {
        return prebind_failure("binding volumes: context deadline exceeded");
    }
    match volumes::check_bindings(true, &in_flight.node, &in_flight.plan, snapshot) {
        BindingProgress::Complete => Decision::Bind {
            node: in_flight.node.clone(),
        },
        BindingProgress::Waiting => Decision::Wait,
        BindingProgress::Failed(message) => prebind_failure(&format!("binding volumes: {message}")),
    }
}

pub(super) fn prebind_error(message: &str) -> String {
    format!("running PreBind plugin \"VolumeBinding\": {message}")
}

/// One scheduling cycle for a pod without in-flight work: PreFilter, Filter on every node, then the
/// least loaded feasible node (ties by name).
fn schedule(pod: &Pod, snapshot: &Snapshot, load: &BTreeMap<String, usize>) -> Decision {
    let unschedulable = |message: String| Decision::Fail {
        reason: FailureReason::Unschedulable,
        message,
    };
    let error = |message: String| Decision::Fail {
        reason: FailureReason::SchedulerError,
        message,
    };
    if pod
        .spec
        .as_ref()
        .and_then(|s| s.scheduling_gates.as_ref())
        .is_some_and(|g| !g.is_empty())
    {
        return Decision::Fail {
            reason: FailureReason::SchedulingGated,
            message: "Scheduling is blocked due to non-empty scheduling gates".to_owned(),
        };
    }
    if snapshot.nodes.is_empty() {
        return error("no nodes available to schedule pods".to_owned());
    }
    let node_count = snapshot.nodes.len();
    let (bound, delayed) = match volumes::classify_claims(pod, snapshot) {
        PodClaims::NoClaims => (Vec::new(), Vec::new()),
        PodClaims::Claims { bound, delayed } => (bound, delayed),
        PodClaims::Unresolvable(message) => {
            return unschedulable(fit_error(node_count, Some(&message), &BTreeMap::new()));
        }
        PodClaims::Error(message) => {
            return error(format!(
                "running PreFilter plugin \"VolumeBinding\": {message}"
            ));
        }
    };
    let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
    let mut feasible: Vec<(&str, VolumePlan)> = Vec::new();
    for node in &snapshot.nodes {
        if let Some(reason) = node_rejection(pod, node) {
            *reasons.entry(reason).or_default() += 1;
            continue;
        }
        match volumes::find_pod_volumes(&bound, &delayed, node, snapshot) {
            NodeVolumes::Fits(plan) => feasible.push((name_of(&node.metadata), plan)),
            NodeVolumes::Rejected(node_reasons) => {
                for reason in node_reasons {
                    *reasons.entry(reason.to_owned()).or_default() += 1;
                }
            }
            NodeVolumes::Error(message) => {
                return error(format!(
                    "running \"VolumeBinding\" filter plugin: {message}"
                ));
            }
        }
    }
    let chosen = feasible
        .into_iter()
        .min_by_key(|(node, _)| (load.get(*node).copied().unwrap_or(0), *node));
    match chosen {
        None => unschedulable(fit_error(node_count, None, &reasons)),
        Some((node, plan)) if plan.is_empty() => Decision::Bind {
            node: node.to_owned(),
        },
        Some((node, plan)) => {
            let (volumes, claims) = assumed_writes(&plan, node, snapshot);
            Decision::Assume {
                node: node.to_owned(),
                plan,
                volumes,
                claims,
            }
        }
    }
}

/// The objects a plan changes (upstream `AssumePodVolumes` / `GetBindVolumeToClaim`): volumes get a
/// claimRef to their claim (and `bound-by-controller` when they were not pre-bound by someone else),
/// provisioned claims get `selected-node`. Unchanged objects are left out.
fn assumed_writes(
    plan: &VolumePlan,
    node: &str,
    snapshot: &Snapshot,
) -> (Vec<PersistentVolume>, Vec<PersistentVolumeClaim>) {
    let mut volumes = Vec::new();
    for binding in &plan.static_bindings {
        let (Some(volume), Some(claim)) = (
            snapshot.volumes.get(&binding.volume),
            snapshot.claims.get(&binding.claim),
        ) else {
            continue;
        };
        let mut updated = PersistentVolume::clone(volume);
        if !is_bound_to_claim(volume, claim)
            && annotation(&volume.metadata, ANN_BOUND_BY_CONTROLLER).is_none()
        {
            updated
                .metadata
                .annotations
                .get_or_insert_default()
                .insert(ANN_BOUND_BY_CONTROLLER.to_owned(), "yes".to_owned());
        }
        let reference = claim_reference(claim);
        let spec = updated.spec.get_or_insert_default();
        let current = spec.claim_ref.as_ref();
        let same_claim = current.is_some_and(|r| {
            r.name == reference.name && r.namespace == reference.namespace && r.uid == reference.uid
        });
        if !same_claim {
            spec.claim_ref = Some(reference);
        }
        if updated != **volume {
            volumes.push(updated);
        }
    }
    let mut claims = Vec::new();
    for key in &plan.provisions {
        let Some(claim) = snapshot.claims.get(key) else {
            continue;
        };
        if annotation(&claim.metadata, ANN_SELECTED_NODE) != Some(node) {
            let mut updated = PersistentVolumeClaim::clone(claim);
            updated
                .metadata
                .annotations
                .get_or_insert_default()
                .insert(ANN_SELECTED_NODE.to_owned(), node.to_owned());
            claims.push(updated);
        }
    }
    (volumes, claims)
}

/// Upstream `reference.GetReference` of a claim.
fn claim_reference(claim: &PersistentVolumeClaim) -> ObjectReference {
    ObjectReference {
        api_version: Some("v1".to_owned()),
        kind: Some("PersistentVolumeClaim".to_owned()),
        namespace: claim.metadata.namespace.clone(),
        name: claim.metadata.name.clone(),
        uid: claim.metadata.uid.clone(),
        resource_version: claim.metadata.resource_version.clone(),
        field_path: None,
    }
}

/// Makes later decisions of the same pass see the assumed writes.
fn assume(snapshot: &mut Snapshot, volumes: &[PersistentVolume], claims: &[PersistentVolumeClaim]) {
    for volume in volumes {
        snapshot.volumes.insert(
            name_of(&volume.metadata).to_owned(),
            Arc::new(volume.clone()),
        );
    }
    for claim in claims {
        snapshot.claims.insert(
            super::snapshot::ClaimKey::of(claim),
            Arc::new(claim.clone()),
        );
    }
}

/// The pod's conditions with PodScheduled=False set to `reason`/`message`, or `None` when the pod
/// already says exactly that (upstream `UpdatePodCondition`: the transition time moves only when the
/// status changes).
pub(super) fn unscheduled_conditions(
    pod: &Pod,
    reason: FailureReason,
    message: &str,
    now: Time,
) -> Option<Vec<PodCondition>> {
    let mut conditions = pod
        .status
        .as_ref()
        .and_then(|s| s.conditions.clone())
        .unwrap_or_default();
    let wanted = PodCondition {
        type_: "PodScheduled".to_owned(),
        status: "False".to_owned(),
        reason: Some(reason.as_str().to_owned()),
        message: Some(message.to_owned()),
        last_probe_time: None,
        last_transition_time: Some(now),
        observed_generation: None,
    };
    match conditions.iter_mut().find(|c| c.type_ == "PodScheduled") {
        Some(existing)
            if existing.status == wanted.status
                && existing.reason == wanted.reason
                && existing.message == wanted.message =>
        {
            None
        }
        Some(existing) => {
            let transition = if existing.status == wanted.status {
                existing.last_transition_time.clone()
            } else {
                wanted.last_transition_time.clone()
            };
            *existing = PodCondition {
                last_transition_time: transition,
                ..wanted
            };
            Some(conditions)
        }
        None => {
            conditions.push(wanted);
            Some(conditions)
        }
    }
}

#[cfg(test)]
#[path = "decide_tests.rs"]
mod tests;
