//! The scheduler's loop: watches, snapshot building (with the assume cache for its own writes), and the
//! API calls that carry out each decision.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::Hash;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{
    Binding, Node, ObjectReference, PersistentVolume, PersistentVolumeClaim, Pod,
};
use k8s_openapi::api::storage::v1::{CSIDriver, CSIStorageCapacity, StorageClass};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Patch, PatchParams, PostParams};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::reflector::Store;
use kube::{Api, Client, Resource};
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::decide::{self, Backoff, Decision, FailureReason, InFlight, Memory, PodDecision};
use super::snapshot::{ClaimKey, Snapshot, name_of};
use super::watch::spawn_reflector;
use super::{Error, FIELD_MANAGER, REPORTING_CONTROLLER, Result, SchedulerConfig};

struct Stores {
    pods: Store<Pod>,
    nodes: Store<Node>,
    volumes: Store<PersistentVolume>,
    claims: Store<PersistentVolumeClaim>,
    classes: Store<StorageClass>,
    drivers: Store<CSIDriver>,
    capacities: Store<CSIStorageCapacity>,
}

pub(super) async fn run(client: Client, config: SchedulerConfig) -> Result<()> {
    let wake = Arc::new(Notify::new());
    let mut tasks = JoinSet::new();
    let stores = Stores {
        pods: spawn_reflector(&mut tasks, Api::all(client.clone()), wake.clone()),
        nodes: spawn_reflector(&mut tasks, Api::all(client.clone()), wake.clone()),
        volumes: spawn_reflector(&mut tasks, Api::all(client.clone()), wake.clone()),
        claims: spawn_reflector(&mut tasks, Api::all(client.clone()), wake.clone()),
        classes: spawn_reflector(&mut tasks, Api::all(client.clone()), wake.clone()),
        drivers: spawn_reflector(&mut tasks, Api::all(client.clone()), wake.clone()),
        capacities: spawn_reflector(&mut tasks, Api::all(client.clone()), wake.clone()),
    };
    stores.wait_until_ready().await?;
    let mut scheduler = Scheduler {
        recorder: Recorder::new(
            client.clone(),
            Reporter {
                controller: REPORTING_CONTROLLER.to_owned(),
                instance: Some(format!("{REPORTING_CONTROLLER}-berth-sim")),
            },
        ),
        client,
        config,
        memory: Memory::default(),
        assumed: Assumed::default(),
    };
    loop {
        let snapshot = scheduler.assumed.snapshot(&stores);
        scheduler.pass(snapshot).await;
        // woken by any watch event, or by the poll interval for in-flight bindings and backoffs
        let _ = tokio::time::timeout(scheduler.config.poll_interval, wake.notified()).await;
    }
}

impl Stores {
    async fn wait_until_ready(&self) -> Result<()> {
        let not_ready = |resource| move |_| Error::WaitForStore { resource };
        self.pods
            .wait_until_ready()
            .await
            .map_err(not_ready("pods"))?;
        self.nodes
            .wait_until_ready()
            .await
            .map_err(not_ready("nodes"))?;
        self.volumes
            .wait_until_ready()
            .await
            .map_err(not_ready("persistentvolumes"))?;
        self.claims
            .wait_until_ready()
            .await
            .map_err(not_ready("persistentvolumeclaims"))?;
        self.classes
            .wait_until_ready()
            .await
            .map_err(not_ready("storageclasses"))?;
        self.drivers
            .wait_until_ready()
            .await
            .map_err(not_ready("csidrivers"))?;
        self.capacities
            .wait_until_ready()
            .await
            .map_err(not_ready("csistoragecapacities"))?;
        Ok(())
    }
}

/// Upstream's assume cache: objects this scheduler wrote, used until the watch delivers the same or a
/// newer resourceVersion, so a pass never acts on a pre-write view of its own changes.
#[derive(Default)]
struct Assumed {
    volumes: HashMap<String, Arc<PersistentVolume>>,
    claims: HashMap<ClaimKey, Arc<PersistentVolumeClaim>>,
}

impl Assumed {
    fn snapshot(&mut self, stores: &Stores) -> Snapshot {
        let mut nodes = stores.nodes.state();
        nodes.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
        let volumes = stores
            .volumes
            .state()
            .into_iter()
            .map(|v| (name_of(&v.metadata).to_owned(), v))
            .collect();
        let claims = stores
            .claims
            .state()
            .into_iter()
            .map(|c| (ClaimKey::of(&c), c))
            .collect();
        let mut snapshot = Snapshot {
            nodes,
            pods: stores.pods.state(),
            claims,
            volumes,
            classes: stores
                .classes
                .state()
                .into_iter()
                .map(|c| (name_of(&c.metadata).to_owned(), c))
                .collect(),
            drivers: stores
                .drivers
                .state()
                .into_iter()
                .map(|d| (name_of(&d.metadata).to_owned(), d))
                .collect(),
            capacities: stores.capacities.state(),
        };
        overlay(&mut self.volumes, &mut snapshot.volumes);
        overlay(&mut self.claims, &mut snapshot.claims);
        snapshot
    }

    fn record_volume(&mut self, volume: PersistentVolume) {
        self.volumes
            .insert(name_of(&volume.metadata).to_owned(), Arc::new(volume));
    }

    fn record_claim(&mut self, claim: PersistentVolumeClaim) {
        self.claims.insert(ClaimKey::of(&claim), Arc::new(claim));
    }
}

/// Replaces observed objects by newer written ones; forgets written ones the watch has caught up with
/// or that are gone.
fn overlay<Key, K>(written: &mut HashMap<Key, Arc<K>>, observed: &mut BTreeMap<Key, Arc<K>>)
where
    Key: Ord + Hash + Eq,
    K: Resource,
{
    written.retain(|key, mine| match observed.get_mut(key) {
        Some(seen) if resource_version(mine.meta()) > resource_version(seen.meta()) => {
            *seen = mine.clone();
            true
        }
        _ => false,
    });
}

fn resource_version(meta: &ObjectMeta) -> u64 {
    meta.resource_version
        .as_deref()
        .and_then(|rv| rv.parse().ok())
        .unwrap_or(0)
}

struct Scheduler {
    client: Client,
    config: SchedulerConfig,
    recorder: Recorder,
    memory: Memory,
    assumed: Assumed,
}

impl Scheduler {
    async fn pass(&mut self, mut snapshot: Snapshot) {
        self.forget_settled_pods(&snapshot);
        let now = Instant::now();
        let decisions = decide::decide_all(
            &mut snapshot,
            &self.memory,
            &self.config.scheduler_name,
            now,
        );
        for PodDecision { pod, decision } in decisions {
            self.execute(&pod, decision, now).await;
        }
    }

    /// Drops memory of pods that are gone or no longer wait for this scheduler.
    fn forget_settled_pods(&mut self, snapshot: &Snapshot) {
        let pending: HashSet<&str> = snapshot
            .pods
            .iter()
            .filter(|p| decide::is_pending_for(p, &self.config.scheduler_name))
            .filter_map(|p| p.metadata.uid.as_deref())
            .collect();
        self.memory
            .bound
            .retain(|uid, _| pending.contains(uid.as_str()));
        self.memory
            .in_flight
            .retain(|uid, _| pending.contains(uid.as_str()));
        self.memory
            .backoff
            .retain(|uid, _| pending.contains(uid.as_str()));
    }

    async fn execute(&mut self, pod: &Pod, decision: Decision, now: Instant) {
        let uid = pod.metadata.uid.clone().unwrap_or_default();
        match decision {
            Decision::Wait => {}
            Decision::Bind { node } => match self.bind(pod, &node).await {
                Ok(()) => {
                    self.memory.in_flight.remove(&uid);
                    self.memory.backoff.remove(&uid);
                    self.memory.bound.insert(uid, node.clone());
                    let namespace = pod.metadata.namespace.as_deref().unwrap_or_default();
                    let note = format!(
                        "Successfully assigned {namespace}/{} to {node}",
                        name_of(&pod.metadata)
                    );
                    self.publish(pod, EventType::Normal, "Scheduled", "Binding", note)
                        .await;
                }
                Err(error) => {
                    let message = format!(
                        "running Bind plugin \"DefaultBinder\": {}",
                        api_message(&error)
                    );
                    self.fail(pod, FailureReason::SchedulerError, &message, now)
                        .await;
                }
            },
            Decision::Assume {
                node,
                plan,
                volumes,
                claims,
            } => match self.write_assumed(volumes, claims, &node).await {
                Ok(()) => {
                    let deadline = now + self.config.bind_timeout;
                    self.memory.in_flight.insert(
                        uid,
                        InFlight {
                            node,
                            plan,
                            deadline,
                        },
                    );
                }
                Err(error) => {
                    let message = decide::prebind_error(&api_message(&error));
                    self.fail(pod, FailureReason::SchedulerError, &message, now)
                        .await;
                }
            },
            Decision::Fail { reason, message } => self.fail(pod, reason, &message, now).await,
        }
    }

    /// POSTs `pods/binding` as upstream's DefaultBinder does.
    async fn bind(&self, pod: &Pod, node: &str) -> Result<()> {
        let namespace = pod.metadata.namespace.clone().unwrap_or_default();
        let name = name_of(&pod.metadata).to_owned();
        let binding = Binding {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                namespace: Some(namespace.clone()),
                uid: pod.metadata.uid.clone(),
                ..ObjectMeta::default()
            },
            target: ObjectReference {
                kind: Some("Node".to_owned()),
                name: Some(node.to_owned()),
                ..ObjectReference::default()
            },
        };
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), &namespace);
        pods.create_subresource::<_, serde_json::Value>(
            "binding",
            &name,
            &self.post_params(),
            &binding,
        )
        .await
        .map(drop)
        .map_err(|source| Error::BindPod {
            namespace,
            pod: name,
            node: node.to_owned(),
            source: Box::new(source),
        })
    }

    /// PUTs pre-bound volumes first, then claims with selected-node (upstream `bindAPIUpdate` order).
    /// A 409 fails the attempt; what was already written stays and the next attempt starts from it.
    async fn write_assumed(
        &mut self,
        volumes: Vec<PersistentVolume>,
        claims: Vec<PersistentVolumeClaim>,
        node: &str,
    ) -> Result<()> {
        let volume_api: Api<PersistentVolume> = Api::all(self.client.clone());
        for volume in volumes {
            let name = name_of(&volume.metadata).to_owned();
            let written = volume_api
                .replace(&name, &self.post_params(), &volume)
                .await
                .map_err(|source| {
                    let claim_ref = volume
                        .spec
                        .as_ref()
                        .and_then(|s| s.claim_ref.clone())
                        .unwrap_or_default();
                    Error::PrebindVolume {
                        volume: name.clone(),
                        namespace: claim_ref.namespace.unwrap_or_default(),
                        claim: claim_ref.name.unwrap_or_default(),
                        source: Box::new(source),
                    }
                })?;
            self.assumed.record_volume(written);
        }
        for claim in claims {
            let key = ClaimKey::of(&claim);
            let claim_api: Api<PersistentVolumeClaim> =
                Api::namespaced(self.client.clone(), &key.namespace);
            let written = claim_api
                .replace(&key.name, &self.post_params(), &claim)
                .await
                .map_err(|source| Error::SelectNode {
                    namespace: key.namespace.clone(),
                    claim: key.name.clone(),
                    node: node.to_owned(),
                    source: Box::new(source),
                })?;
            self.assumed.record_claim(written);
        }
        Ok(())
    }

    /// Records a failed attempt: backoff, the PodScheduled condition and a FailedScheduling event (the
    /// last two only when the condition changes).
    async fn fail(&mut self, pod: &Pod, reason: FailureReason, message: &str, now: Instant) {
        let uid = pod.metadata.uid.clone().unwrap_or_default();
        self.memory.in_flight.remove(&uid);
        if reason != FailureReason::SchedulingGated {
            let failures = self.memory.backoff.get(&uid).map_or(0, |b| b.failures) + 1;
            let delay = self
                .config
                .initial_backoff
                .saturating_mul(2_u32.saturating_pow(failures.saturating_sub(1).min(16)))
                .min(self.config.max_backoff);
            self.memory.backoff.insert(
                uid,
                Backoff {
                    failures,
                    until: now + delay,
                },
            );
        }
        let Some(conditions) =
            decide::unscheduled_conditions(pod, reason, message, Time(Timestamp::now()))
        else {
            return;
        };
        let patch = serde_json::json!({
            "metadata": {"resourceVersion": pod.metadata.resource_version},
            "status": {"conditions": conditions},
        });
        let namespace = pod.metadata.namespace.clone().unwrap_or_default();
        let name = name_of(&pod.metadata).to_owned();
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), &namespace);
        let params = PatchParams {
            field_manager: Some(FIELD_MANAGER.to_owned()),
            ..PatchParams::default()
        };
        if let Err(source) = pods
            .patch_status(&name, &params, &Patch::Merge(&patch))
            .await
        {
            // a conflict means the pod changed under us; the next pass looks again
            let error = Error::PatchPodCondition {
                namespace,
                pod: name,
                source: Box::new(source),
            };
            tracing::debug!(error = %error, cause = ?std::error::Error::source(&error), "scheduler");
            return;
        }
        if reason != FailureReason::SchedulingGated {
            self.publish(
                pod,
                EventType::Warning,
                "FailedScheduling",
                "Scheduling",
                message.to_owned(),
            )
            .await;
        }
    }

    async fn publish(&self, pod: &Pod, type_: EventType, reason: &str, action: &str, note: String) {
        let event = Event {
            type_,
            reason: reason.to_owned(),
            note: Some(note),
            action: action.to_owned(),
            secondary: None,
        };
        if let Err(error) = self.recorder.publish(&event, &pod.object_ref(&())).await {
            tracing::debug!(%error, reason, "scheduler could not publish an event");
        }
    }

    fn post_params(&self) -> PostParams {
        PostParams {
            field_manager: Some(FIELD_MANAGER.to_owned()),
            ..PostParams::default()
        }
    }
}

/// The API's message for a failed call (what upstream would print), else the error chain.
fn api_message(error: &Error) -> String {
    let source = match error {
        Error::BindPod { source, .. }
        | Error::PrebindVolume { source, .. }
        | Error::SelectNode { source, .. }
        | Error::PatchPodCondition { source, .. } => source,
        Error::WaitForStore { .. } => return error.to_string(),
    };
    match source.as_ref() {
        kube::Error::Api(status) => status.message.clone(),
        other => format!("{error}: {other}"),
    }
}
