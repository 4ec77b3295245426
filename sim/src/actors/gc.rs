//! Simulated garbage collector: deletes dependents of deleted owners by `metadata.ownerReferences`.
//!
//! It watches a configured list of resources (any kind, as `DynamicObject`s) and keeps an ownership graph
//! (`graph`). Decisions (`decide`) follow kube-controller-manager's collector:
//! * a dependent whose owners are all gone (absent, or the name now has another uid — confirmed with a live GET,
//!   since watches of different resources may lag each other) is deleted in the background;
//! * a dependent of an owner deleting in the foreground (`foregroundDeletion` finalizer) is deleted (itself in
//!   the foreground when it has dependents); the owner's finalizer goes once no dependent with
//!   `blockOwnerDeletion: true` is left;
//! * an owner deleted with `propagationPolicy: Orphan` (`orphan` finalizer) has its reference stripped from every
//!   dependent, then loses the finalizer;
//! * a dependent that still has another live owner only loses its references to gone or foreground-deleting
//!   owners.
//!
//! Owners whose kind is not in the list cannot be checked and count as present.

mod decide;
mod graph;

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::{ControllerRevision, StatefulSet};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, PersistentVolume, PersistentVolumeClaim, Pod};
use k8s_openapi::api::storage::v1::CSIStorageCapacity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, Patch, PatchParams, Preconditions,
    PropagationPolicy,
};
use kube::runtime::{WatchStreamExt, watcher};
use serde_json::json;
use tokio::time::Instant;

use decide::{DependentAction, OwnerAction, Propagation, decide_dependent, decide_owner};
pub use decide::{FOREGROUND, ORPHAN};
use graph::{Graph, Node};

const FIELD_MANAGER: &str = "kube-controller-manager";
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// Errors of the garbage collector.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Every watch stream ended, which watchers never do while the task runs.
    #[error("all garbage collector watches ended")]
    WatchesEnded,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A resource the collector watches.
#[derive(Clone, Debug)]
pub struct GcResource {
    pub api: ApiResource,
    pub namespaced: bool,
}

impl GcResource {
    fn of<K: kube::Resource<DynamicType = ()>>(namespaced: bool) -> Self {
        Self {
            api: ApiResource::erase::<K>(&()),
            namespaced,
        }
    }
}

/// The resources of the simulated cluster that own or are owned: pods, claims and volumes, configmaps,
/// StatefulSets and their ControllerRevisions, CSIStorageCapacities and Leases.
pub fn default_resources() -> Vec<GcResource> {
    vec![
        GcResource::of::<Pod>(true),
        GcResource::of::<PersistentVolumeClaim>(true),
        GcResource::of::<PersistentVolume>(false),
        GcResource::of::<ConfigMap>(true),
        GcResource::of::<StatefulSet>(true),
        GcResource::of::<ControllerRevision>(true),
        GcResource::of::<CSIStorageCapacity>(true),
        GcResource::of::<Lease>(true),
    ]
}

/// Configuration of the garbage collector.
#[derive(Clone, Debug)]
pub struct GcConfig {
    /// The resources whose objects may own or depend on each other.
    pub resources: Vec<GcResource>,
}

impl Default for GcConfig {
    fn default() -> Self {
        Self {
            resources: default_resources(),
        }
    }
}

/// Runs the garbage collector until the task is aborted.
pub async fn run(client: kube::Client, config: GcConfig) -> Result<()> {
    let streams = config
        .resources
        .iter()
        .enumerate()
        .map(|(index, resource)| {
            let api = Api::<DynamicObject>::all_with(client.clone(), &resource.api);
            watcher(api, watcher::Config::default())
                .default_backoff()
                .map(move |event| (index, event))
                .boxed()
        });
    let mut events = futures::stream::select_all(streams);
    let mut collector = Collector {
        client,
        resources: config.resources,
        graph: Graph::default(),
        queue: VecDeque::new(),
        queued: HashSet::new(),
        relists: HashMap::new(),
        retries: BTreeMap::new(),
    };
    loop {
        let next_retry = collector.retries.values().min().copied();
        let far = Instant::now() + Duration::from_secs(3600);
        tokio::select! {
            event = events.next() => match event {
                Some((index, Ok(event))) => collector.observe(index, event),
                Some((index, Err(error))) => {
                    let resource = &collector.resources[index].api.plural;
                    tracing::warn!(%error, resource, "garbage collector watch error; retrying");
                }
                None => return Err(Error::WatchesEnded),
            },
            () = tokio::time::sleep_until(next_retry.unwrap_or(far)) => collector.requeue_due(),
        }
        collector.work().await;
    }
}

struct Collector {
    client: kube::Client,
    resources: Vec<GcResource>,
    graph: Graph,
    queue: VecDeque<String>,
    queued: HashSet<String>,
    /// Uids seen per resource since its current relist began.
    relists: HashMap<usize, HashSet<String>>,
    retries: BTreeMap<String, Instant>,
}

impl Collector {
    fn observe(&mut self, index: usize, event: watcher::Event<DynamicObject>) {
        match event {
            watcher::Event::Init => {
                self.relists.insert(index, HashSet::new());
            }
            watcher::Event::InitApply(object) | watcher::Event::Apply(object) => {
                if let Some(node) = Node::from_object(index, &object) {
                    if let Some(seen) = self.relists.get_mut(&index) {
                        seen.insert(node.uid.clone());
                    }
                    let affected = self.graph.upsert(node);
                    self.enqueue(affected);
                }
            }
            watcher::Event::InitDone => {
                let seen = self.relists.remove(&index).unwrap_or_default();
                for uid in self.graph.uids_of(index).difference(&seen) {
                    let affected = self.graph.remove(uid);
                    self.enqueue(affected);
                }
            }
            watcher::Event::Delete(object) => {
                if let Some(uid) = &object.metadata.uid {
                    let affected = self.graph.remove(uid);
                    self.enqueue(affected);
                }
            }
        }
    }

    fn enqueue(&mut self, uids: Vec<String>) {
        for uid in uids {
            if self.queued.insert(uid.clone()) {
                self.queue.push_back(uid);
            }
        }
    }

    fn requeue_due(&mut self) {
        let now = Instant::now();
        let due: Vec<String> = self
            .retries
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(uid, _)| uid.clone())
            .collect();
        for uid in &due {
            self.retries.remove(uid);
        }
        self.enqueue(due);
    }

    async fn work(&mut self) {
        while let Some(uid) = self.queue.pop_front() {
            self.queued.remove(&uid);
            if !self.sync(&uid).await {
                self.retries.insert(uid, Instant::now() + RETRY_AFTER);
            }
        }
    }

    /// Decides and acts on one object as owner and as dependent; false when it should be retried.
    async fn sync(&self, uid: &str) -> bool {
        let Some(node) = self.graph.get(uid).cloned() else {
            return true;
        };
        let owner_done = match decide_owner(&self.graph, &node) {
            OwnerAction::Keep => true,
            OwnerAction::Orphan(dependents) => {
                let mut done = true;
                for dependent in dependents {
                    done &= self
                        .drop_owner_refs(&dependent, std::slice::from_ref(&node.uid))
                        .await;
                }
                done
            }
            OwnerAction::RemoveFinalizer(finalizer) => {
                self.remove_finalizer(&node, finalizer).await
            }
        };
        let mut confirmed = HashSet::new();
        let dependent_done = loop {
            let known = |owner: &OwnerReference| self.resource_of(owner).is_some();
            match decide_dependent(&self.graph, &node, &known, &confirmed) {
                DependentAction::Keep => break true,
                DependentAction::ConfirmAbsent(owners) => {
                    match self.confirm_absent(&node, &owners).await {
                        Some(absent) if absent.len() == owners.len() => confirmed.extend(absent),
                        // Some owner exists but is not in the graph yet: its watch event will bring us back.
                        Some(_) => break true,
                        None => break false,
                    }
                }
                DependentAction::DropOwnerRefs(owners) => {
                    break self.drop_owner_refs(&node.uid, &owners).await;
                }
                DependentAction::Delete(propagation) => {
                    break self.delete(&node, propagation).await;
                }
            }
        };
        owner_done && dependent_done
    }

    fn resource_of(&self, owner: &OwnerReference) -> Option<&GcResource> {
        self.resources
            .iter()
            .find(|r| r.api.api_version == owner.api_version && r.api.kind == owner.kind)
    }

    fn api(&self, resource: &GcResource, namespace: Option<&str>) -> Api<DynamicObject> {
        match (resource.namespaced, namespace) {
            (true, Some(namespace)) => {
                Api::namespaced_with(self.client.clone(), namespace, &resource.api)
            }
            _ => Api::all_with(self.client.clone(), &resource.api),
        }
    }

    /// The uids among `owners` that the API confirms gone; `None` when a lookup failed.
    async fn confirm_absent(
        &self,
        dependent: &Node,
        owners: &[OwnerReference],
    ) -> Option<Vec<String>> {
        let mut absent = Vec::new();
        for owner in owners {
            let resource = self.resource_of(owner)?;
            match self
                .api(resource, dependent.namespace.as_deref())
                .get_opt(&owner.name)
                .await
            {
                Ok(Some(found)) if found.metadata.uid.as_deref() == Some(owner.uid.as_str()) => {}
                Ok(_) => absent.push(owner.uid.clone()),
                Err(error) => {
                    tracing::warn!(%error, owner = %owner.name, "garbage collector owner lookup failed");
                    return None;
                }
            }
        }
        Some(absent)
    }

    async fn delete(&self, node: &Node, propagation: Propagation) -> bool {
        let Some(resource) = self.resources.get(node.resource) else {
            return true;
        };
        let params = DeleteParams {
            propagation_policy: Some(match propagation {
                Propagation::Background => PropagationPolicy::Background,
                Propagation::Foreground => PropagationPolicy::Foreground,
                Propagation::Orphan => PropagationPolicy::Orphan,
            }),
            preconditions: Some(Preconditions {
                uid: Some(node.uid.clone()),
                resource_version: None,
            }),
            ..DeleteParams::default()
        };
        tracing::debug!(name = %node.name, policy = propagation.as_str(), "garbage collecting");
        let result = self
            .api(resource, node.namespace.as_deref())
            .delete(&node.name, &params)
            .await;
        settled(result.map(drop), &node.name, "delete")
    }

    async fn drop_owner_refs(&self, uid: &str, owner_uids: &[String]) -> bool {
        let Some(node) = self.graph.get(uid) else {
            return true;
        };
        let remaining: Vec<&OwnerReference> = node
            .owners
            .iter()
            .filter(|o| !owner_uids.contains(&o.uid))
            .collect();
        let owners = if remaining.is_empty() {
            serde_json::Value::Null
        } else {
            json!(remaining)
        };
        self.patch_meta(
            node,
            json!({"ownerReferences": owners}),
            "drop owner references",
        )
        .await
    }

    async fn remove_finalizer(&self, node: &Node, finalizer: &str) -> bool {
        let remaining: Vec<&String> = node.finalizers.iter().filter(|f| *f != finalizer).collect();
        let finalizers = if remaining.is_empty() {
            serde_json::Value::Null
        } else {
            json!(remaining)
        };
        self.patch_meta(node, json!({"finalizers": finalizers}), "remove finalizer")
            .await
    }

    /// Merge-patches metadata fields, conditional on the observed resourceVersion.
    async fn patch_meta(&self, node: &Node, mut metadata: serde_json::Value, what: &str) -> bool {
        let Some(resource) = self.resources.get(node.resource) else {
            return true;
        };
        metadata["resourceVersion"] = json!(node.resource_version);
        let params = PatchParams {
            field_manager: Some(FIELD_MANAGER.to_string()),
            ..PatchParams::default()
        };
        let patch = json!({ "metadata": metadata });
        let api = self.api(resource, node.namespace.as_deref());
        settled(
            api.patch(&node.name, &params, &Patch::Merge(&patch))
                .await
                .map(drop),
            &node.name,
            what,
        )
    }
}

/// Whether a write is settled: done, or moot (404: gone; 409: changed meanwhile, whose watch event brings a fresh
/// decision). False means retry.
fn settled(result: kube::Result<()>, name: &str, what: &str) -> bool {
    match result {
        Ok(()) => true,
        Err(kube::Error::Api(status)) if status.code == 404 || status.code == 409 => true,
        Err(error) => {
            tracing::warn!(%error, name, what, "garbage collector write failed; retrying");
            false
        }
    }
}

#[cfg(test)]
mod tests;
