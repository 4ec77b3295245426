//! The StatefulSet controller's loop: watches, one sync per set, and the API calls (with upstream's
//! events) that carry out each action.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use k8s_openapi::api::apps::v1::{ControllerRevision, StatefulSet};
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::jiff::Timestamp;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Api, Client, Resource};
use serde_json::{Value, json};
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio::time::{Duration, Instant};

use super::decide::{Action, SetView, Sync, sync};
use super::identity::set_name;
use super::{Error, FIELD_MANAGER, REPORTING_CONTROLLER, Result, StatefulSetConfig};
use crate::actors::scheduler::watch::spawn_reflector;

/// How long a pass waits for the watches to show its own writes before the next pass.
const CATCH_UP_TIMEOUT: Duration = Duration::from_secs(2);

struct Stores {
    sets: Store<StatefulSet>,
    pods: Store<Pod>,
    claims: Store<PersistentVolumeClaim>,
    revisions: Store<ControllerRevision>,
}

pub(super) async fn run(client: Client, config: StatefulSetConfig) -> Result<()> {
    let wake = Arc::new(Notify::new());
    let mut tasks = JoinSet::new();
    let stores = Stores {
        sets: spawn_reflector(&mut tasks, Api::all(client.clone()), wake.clone()),
        pods: spawn_reflector(&mut tasks, Api::all(client.clone()), wake.clone()),
        claims: spawn_reflector(&mut tasks, Api::all(client.clone()), wake.clone()),
        revisions: spawn_reflector(&mut tasks, Api::all(client.clone()), wake.clone()),
    };
    let not_ready = |resource| move |_| Error::WaitForStore { resource };
    stores
        .sets
        .wait_until_ready()
        .await
        .map_err(not_ready("statefulsets"))?;
    stores
        .pods
        .wait_until_ready()
        .await
        .map_err(not_ready("pods"))?;
    stores
        .claims
        .wait_until_ready()
        .await
        .map_err(not_ready("persistentvolumeclaims"))?;
    stores
        .revisions
        .wait_until_ready()
        .await
        .map_err(not_ready("controllerrevisions"))?;
    let recorder = Recorder::new(
        client.clone(),
        Reporter {
            controller: REPORTING_CONTROLLER.to_owned(),
            instance: Some(format!("{REPORTING_CONTROLLER}-berth-sim")),
        },
    );
    let controller = Controller { client, recorder };
    loop {
        let expectations = controller.pass(&stores).await;
        // upstream relies on its informers before the next sync; wait until ours show our own writes
        let deadline = Instant::now() + CATCH_UP_TIMEOUT;
        while !expectations.iter().all(|e| e.met(&stores)) && Instant::now() < deadline {
            let _ = tokio::time::timeout_at(deadline, wake.notified()).await;
        }
        let _ = tokio::time::timeout(config.resync_interval, wake.notified()).await;
    }
}

/// A write the watches have to reflect before the controller looks again.
enum Expectation {
    /// The object exists with at least this resourceVersion.
    Seen {
        kind: Kind,
        namespace: String,
        name: String,
        resource_version: u64,
    },
    /// The pod is gone or terminating.
    PodGone { namespace: String, name: String },
}

#[derive(Clone, Copy)]
enum Kind {
    Set,
    Pod,
    Claim,
    Revision,
}

impl Expectation {
    fn seen<K: Resource>(kind: Kind, object: &K) -> Self {
        let meta = object.meta();
        Expectation::Seen {
            kind,
            namespace: meta.namespace.clone().unwrap_or_default(),
            name: meta.name.clone().unwrap_or_default(),
            resource_version: resource_version(meta),
        }
    }

    fn met(&self, stores: &Stores) -> bool {
        match self {
            Expectation::Seen {
                kind,
                namespace,
                name,
                resource_version: wanted,
            } => {
                let seen = match kind {
                    Kind::Set => seen_version(&stores.sets, namespace, name),
                    Kind::Pod => seen_version(&stores.pods, namespace, name),
                    Kind::Claim => seen_version(&stores.claims, namespace, name),
                    Kind::Revision => seen_version(&stores.revisions, namespace, name),
                };
                seen.is_some_and(|seen| seen >= *wanted)
            }
            Expectation::PodGone { namespace, name } => stores
                .pods
                .get(&ObjectRef::new(name).within(namespace))
                .is_none_or(|pod| pod.metadata.deletion_timestamp.is_some()),
        }
    }
}

fn seen_version<K>(store: &Store<K>, namespace: &str, name: &str) -> Option<u64>
where
    K: Resource + Clone + 'static,
    K::DynamicType: Default + Eq + std::hash::Hash + Clone,
{
    store
        .get(&ObjectRef::new(name).within(namespace))
        .map(|o| resource_version(o.meta()))
}

fn resource_version(meta: &ObjectMeta) -> u64 {
    meta.resource_version
        .as_deref()
        .and_then(|rv| rv.parse().ok())
        .unwrap_or(0)
}

fn by_namespace<K: Resource>(objects: Vec<Arc<K>>) -> HashMap<String, Vec<Arc<K>>> {
    let mut grouped: HashMap<String, Vec<Arc<K>>> = HashMap::new();
    for object in objects {
        grouped
            .entry(object.meta().namespace.clone().unwrap_or_default())
            .or_default()
            .push(object);
    }
    grouped
}

struct Controller {
    client: Client,
    recorder: Recorder,
}

impl Controller {
    /// Syncs every set once; returns what the watches should show afterwards.
    async fn pass(&self, stores: &Stores) -> Vec<Expectation> {
        let pods = by_namespace(stores.pods.state());
        let claims = by_namespace(stores.claims.state());
        let revisions = by_namespace(stores.revisions.state());
        let mut sets = stores.sets.state();
        sets.sort_by(|a, b| {
            (&a.metadata.namespace, &a.metadata.name)
                .cmp(&(&b.metadata.namespace, &b.metadata.name))
        });
        let mut expectations = Vec::new();
        for set in sets {
            let namespace = set.metadata.namespace.clone().unwrap_or_default();
            let view = SetView {
                set: &set,
                pods: pods.get(&namespace).cloned().unwrap_or_default(),
                claims: claims
                    .get(&namespace)
                    .into_iter()
                    .flatten()
                    .map(|c| (c.metadata.name.clone().unwrap_or_default(), c.clone()))
                    .collect::<BTreeMap<_, _>>(),
                revisions: revisions.get(&namespace).cloned().unwrap_or_default(),
                now: Timestamp::now(),
            };
            let result = sync(&view);
            self.execute(&set, result, &mut expectations).await;
        }
        expectations
    }

    async fn execute(&self, set: &StatefulSet, result: Sync, expectations: &mut Vec<Expectation>) {
        for action in result.actions {
            match self.apply(set, action, expectations).await {
                Ok(true) => {}
                Ok(false) => break,
                Err(error) => {
                    tracing::debug!(error = %error, cause = ?std::error::Error::source(&error), "statefulset sync stopped");
                    break;
                }
            }
        }
        let namespace = set.metadata.namespace.clone().unwrap_or_default();
        let revisions: Api<ControllerRevision> = Api::namespaced(self.client.clone(), &namespace);
        for name in result.prune {
            if let Err(source) = revisions.delete(&name, &DeleteParams::default()).await {
                let error = Error::DeleteRevision {
                    namespace: namespace.clone(),
                    name,
                    source: Box::new(source),
                };
                tracing::debug!(error = %error, "statefulset history");
            }
        }
        if let Some(status) = result.status {
            let mut updated = set.clone();
            updated.status = Some(status);
            let sets: Api<StatefulSet> = Api::namespaced(self.client.clone(), &namespace);
            match sets
                .replace_status(set_name(set), &self.post_params(), &updated)
                .await
            {
                Ok(written) => expectations.push(Expectation::seen(Kind::Set, &written)),
                // a conflict means the set changed: the next pass recomputes
                Err(source) => {
                    let error = Error::UpdateStatus {
                        namespace,
                        name: set_name(set).to_owned(),
                        source: Box::new(source),
                    };
                    tracing::debug!(error = %error, "statefulset status");
                }
            }
        }
    }

    /// Performs one action; `Ok(false)` ends the sync without an error to report.
    async fn apply(
        &self,
        set: &StatefulSet,
        action: Action,
        expectations: &mut Vec<Expectation>,
    ) -> Result<bool> {
        let namespace = set.metadata.namespace.clone().unwrap_or_default();
        let set_name = set_name(set).to_owned();
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), &namespace);
        let claims: Api<PersistentVolumeClaim> = Api::namespaced(self.client.clone(), &namespace);
        let revisions: Api<ControllerRevision> = Api::namespaced(self.client.clone(), &namespace);
        match action {
            Action::CreateRevision(revision) => {
                let name = revision.metadata.name.clone().unwrap_or_default();
                let created = revisions
                    .create(&self.post_params(), revision.as_ref())
                    .await
                    .map_err(|source| Error::CreateRevision {
                        namespace,
                        name,
                        source: Box::new(source),
                    })?;
                expectations.push(Expectation::seen(Kind::Revision, &created));
            }
            Action::AdoptRevision {
                name,
                owner_references,
            } => {
                let patch = json!({"metadata": {"ownerReferences": owner_references}});
                let patched = self
                    .merge(&revisions, &name, &patch)
                    .await
                    .map_err(|source| Error::UpdateRevision {
                        namespace,
                        name: name.clone(),
                        source: Box::new(source),
                    })?;
                expectations.push(Expectation::seen(Kind::Revision, &patched));
            }
            Action::RenumberRevision { name, revision } => {
                let patched = self
                    .merge(&revisions, &name, &json!({"revision": revision}))
                    .await
                    .map_err(|source| Error::UpdateRevision {
                        namespace,
                        name: name.clone(),
                        source: Box::new(source),
                    })?;
                expectations.push(Expectation::seen(Kind::Revision, &patched));
            }
            Action::SetPodOwners {
                name,
                owner_references,
                resource_version,
            } => {
                let owners = if owner_references.is_empty() {
                    Value::Null
                } else {
                    json!(owner_references)
                };
                let patch = json!({"metadata": {"ownerReferences": owners, "resourceVersion": resource_version}});
                let patched =
                    self.merge(&pods, &name, &patch)
                        .await
                        .map_err(|source| Error::PatchPod {
                            namespace,
                            name: name.clone(),
                            source: Box::new(source),
                        })?;
                expectations.push(Expectation::seen(Kind::Pod, &patched));
            }
            Action::LabelPod { name, labels } => {
                let patched = self
                    .merge(&pods, &name, &json!({"metadata": {"labels": labels}}))
                    .await
                    .map_err(|source| Error::PatchPod {
                        namespace,
                        name: name.clone(),
                        source: Box::new(source),
                    })?;
                expectations.push(Expectation::seen(Kind::Pod, &patched));
            }
            Action::CreateClaim { claim, pod } => {
                let claim_name = claim.metadata.name.clone().unwrap_or_default();
                match claims.create(&self.post_params(), claim.as_ref()).await {
                    Ok(created) => {
                        expectations.push(Expectation::seen(Kind::Claim, &created));
                        let note = format!(
                            "create Claim {claim_name} Pod {pod} in StatefulSet {set_name} success"
                        );
                        self.publish(set, EventType::Normal, "SuccessfulCreate", note)
                            .await;
                    }
                    Err(source) => {
                        let message = api_message(&source);
                        if !is_already_exists(&source) {
                            let note = format!(
                                "create Claim {claim_name} for Pod {pod} in StatefulSet {set_name} failed error: {message}"
                            );
                            self.publish(set, EventType::Warning, "FailedCreate", note)
                                .await;
                        }
                        let note = format!(
                            "create Pod {pod} in StatefulSet {set_name} failed error: failed to create PVC {claim_name}: {message}"
                        );
                        self.publish(set, EventType::Warning, "FailedCreate", note)
                            .await;
                        return Err(Error::CreateClaim {
                            namespace,
                            name: claim_name,
                            source: Box::new(source),
                        });
                    }
                }
            }
            Action::CreatePod(pod) => {
                let name = pod.metadata.name.clone().unwrap_or_default();
                match pods.create(&self.post_params(), pod.as_ref()).await {
                    Ok(created) => {
                        expectations.push(Expectation::seen(Kind::Pod, &created));
                        let note =
                            format!("create Pod {name} in StatefulSet {set_name} successful");
                        self.publish(set, EventType::Normal, "SuccessfulCreate", note)
                            .await;
                    }
                    Err(source) => {
                        // upstream sinks AlreadyExists without an event
                        if !is_already_exists(&source) {
                            let note = format!(
                                "create Pod {name} in StatefulSet {set_name} failed error: {}",
                                api_message(&source)
                            );
                            self.publish(set, EventType::Warning, "FailedCreate", note)
                                .await;
                        }
                        return Err(Error::CreatePod {
                            namespace,
                            name,
                            source: Box::new(source),
                        });
                    }
                }
            }
            Action::SetClaimOwners {
                claim,
                pod,
                owner_references,
            } => {
                let owners = if owner_references.is_empty() {
                    Value::Null
                } else {
                    json!(owner_references)
                };
                match self
                    .merge(
                        &claims,
                        &claim,
                        &json!({"metadata": {"ownerReferences": owners}}),
                    )
                    .await
                {
                    Ok(patched) => expectations.push(Expectation::seen(Kind::Claim, &patched)),
                    Err(source) => {
                        let note = format!(
                            "update Pod {pod} in StatefulSet {set_name} failed error: could not update claim {claim} for delete policy ownerRefs: {}",
                            api_message(&source)
                        );
                        self.publish(set, EventType::Warning, "FailedUpdate", note)
                            .await;
                        return Err(Error::PatchClaim {
                            namespace,
                            name: claim,
                            source: Box::new(source),
                        });
                    }
                }
            }
            Action::DeletePod { name } => {
                match pods.delete(&name, &DeleteParams::default()).await {
                    Ok(_) => {
                        expectations.push(Expectation::PodGone {
                            namespace,
                            name: name.clone(),
                        });
                        let note =
                            format!("delete Pod {name} in StatefulSet {set_name} successful");
                        self.publish(set, EventType::Normal, "SuccessfulDelete", note)
                            .await;
                    }
                    Err(kube::Error::Api(status)) if status.code == 404 => {}
                    Err(source) => {
                        let note = format!(
                            "delete Pod {name} in StatefulSet {set_name} failed error: {}",
                            api_message(&source)
                        );
                        self.publish(set, EventType::Warning, "FailedDelete", note)
                            .await;
                        return Err(Error::DeletePod {
                            namespace,
                            name,
                            source: Box::new(source),
                        });
                    }
                }
            }
            Action::Warn { reason, message } => {
                self.publish(set, EventType::Warning, reason, message).await
            }
            Action::Fail { reason, message } => {
                self.publish(set, EventType::Warning, reason, message).await;
                return Ok(false);
            }
        }
        Ok(true)
    }

    async fn merge<K>(&self, api: &Api<K>, name: &str, patch: &Value) -> kube::Result<K>
    where
        K: Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
    {
        let params = PatchParams {
            field_manager: Some(FIELD_MANAGER.to_owned()),
            ..PatchParams::default()
        };
        api.patch(name, &params, &Patch::Merge(patch)).await
    }

    async fn publish(&self, set: &StatefulSet, type_: EventType, reason: &str, note: String) {
        let action = match type_ {
            EventType::Normal => "Sync",
            EventType::Warning => "SyncFailed",
        };
        let event = Event {
            type_,
            reason: reason.to_owned(),
            note: Some(note),
            action: action.to_owned(),
            secondary: None,
        };
        if let Err(error) = self.recorder.publish(&event, &set.object_ref(&())).await {
            tracing::debug!(%error, reason, "statefulset controller could not publish an event");
        }
    }

    fn post_params(&self) -> PostParams {
        PostParams {
            field_manager: Some(FIELD_MANAGER.to_owned()),
            ..PostParams::default()
        }
    }
}

fn is_already_exists(error: &kube::Error) -> bool {
    matches!(error, kube::Error::Api(status) if status.code == 409 && status.reason == "AlreadyExists")
}

/// The API's message for a failed call (what upstream prints in its events), else the error itself.
fn api_message(error: &kube::Error) -> String {
    match error {
        kube::Error::Api(status) => status.message.clone(),
        other => other.to_string(),
    }
}
