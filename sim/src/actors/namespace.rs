//! Simulated namespace controller: empties a deleted namespace, then releases its `kubernetes` finalizer.
//!
//! A namespace being deleted (`deletionTimestamp` set, `spec.finalizers` holding `kubernetes`) has every object
//! of the configured namespaced resources deleted (background propagation; objects already deleting are left to
//! their finalizers and grace periods). Once none is left, `kubernetes` is removed through
//! `PUT /api/v1/namespaces/{name}/finalize` and the API server deletes the namespace. Content is re-listed every
//! `recheck_period` while a namespace is terminating. Namespace status conditions are not maintained.

use std::collections::BTreeSet;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::{ControllerRevision, StatefulSet};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Event, Namespace, PersistentVolumeClaim, Pod};
use k8s_openapi::api::storage::v1::CSIStorageCapacity;
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, ListParams, PostParams};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::{WatchStreamExt, reflector, watcher};

/// The namespace finalizer this controller owns.
pub const KUBERNETES_FINALIZER: &str = "kubernetes";

/// Errors of the namespace controller.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The namespace watch ended, which a watcher never does while the task runs.
    #[error("watch of namespaces ended")]
    WatchEnded,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The namespaced resources of the simulated cluster.
pub fn default_resources() -> Vec<ApiResource> {
    vec![
        ApiResource::erase::<Pod>(&()),
        ApiResource::erase::<PersistentVolumeClaim>(&()),
        ApiResource::erase::<ConfigMap>(&()),
        ApiResource::erase::<StatefulSet>(&()),
        ApiResource::erase::<ControllerRevision>(&()),
        ApiResource::erase::<CSIStorageCapacity>(&()),
        ApiResource::erase::<Lease>(&()),
        ApiResource::erase::<Event>(&()),
    ]
}

/// Configuration of the namespace controller.
#[derive(Clone, Debug)]
pub struct NamespaceConfig {
    /// The namespaced resources whose objects are deleted with their namespace.
    pub resources: Vec<ApiResource>,
    /// How often a terminating namespace's remaining content is re-listed.
    pub recheck_period: Duration,
}

impl Default for NamespaceConfig {
    fn default() -> Self {
        Self {
            resources: default_resources(),
            recheck_period: Duration::from_secs(1),
        }
    }
}

/// One object found in a terminating namespace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Content {
    /// Index into the configured resources.
    pub resource: usize,
    pub name: String,
    pub uid: String,
    pub deleting: bool,
}

/// What to do for one namespace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NamespaceAction {
    /// Not terminating, or not (any more) holding the `kubernetes` finalizer.
    Ignore,
    /// Delete these objects (those not already deleting).
    DeleteContent(Vec<Content>),
    /// Everything left is already deleting: wait.
    AwaitContent,
    /// Empty: set `spec.finalizers` to this (the `kubernetes` finalizer removed).
    Finalize(Vec<String>),
}

/// The namespace decision from the namespace and its remaining content.
pub fn decide(namespace: &Namespace, content: &[Content]) -> NamespaceAction {
    let finalizers = namespace
        .spec
        .as_ref()
        .and_then(|s| s.finalizers.clone())
        .unwrap_or_default();
    let terminating = namespace.metadata.deletion_timestamp.is_some();
    let ours = finalizers.iter().any(|f| f == KUBERNETES_FINALIZER);
    let live: Vec<Content> = content.iter().filter(|c| !c.deleting).cloned().collect();
    match (terminating && ours, content.is_empty(), live.is_empty()) {
        (false, _, _) => NamespaceAction::Ignore,
        (true, true, _) => NamespaceAction::Finalize(
            finalizers
                .into_iter()
                .filter(|f| f != KUBERNETES_FINALIZER)
                .collect(),
        ),
        (true, false, true) => NamespaceAction::AwaitContent,
        (true, false, false) => NamespaceAction::DeleteContent(live),
    }
}

/// Runs the namespace controller until the task is aborted.
pub async fn run(client: kube::Client, config: NamespaceConfig) -> Result<()> {
    let (namespaces, writer) = reflector::store::<Namespace>();
    let api: Api<Namespace> = Api::all(client.clone());
    let mut events = reflector(writer, watcher(api, watcher::Config::default()))
        .default_backoff()
        .touched_objects()
        .boxed();
    let controller = Controller {
        client,
        config,
        namespaces,
    };
    // Namespaces still terminating after the last pass.
    let mut pending: BTreeSet<String> = BTreeSet::new();
    loop {
        tokio::select! {
            event = events.next() => match event {
                Some(Ok(namespace)) => {
                    if namespace.metadata.deletion_timestamp.is_some() {
                        pending.insert(namespace.metadata.name.clone().unwrap_or_default());
                    }
                }
                Some(Err(error)) => tracing::warn!(%error, "namespace watch error; retrying"),
                None => return Err(Error::WatchEnded),
            },
            () = tokio::time::sleep(controller.config.recheck_period), if !pending.is_empty() => {}
        }
        let mut still_pending = BTreeSet::new();
        for name in pending {
            if controller.sync(&name).await {
                still_pending.insert(name);
            }
        }
        pending = still_pending;
    }
}

struct Controller {
    client: kube::Client,
    config: NamespaceConfig,
    namespaces: Store<Namespace>,
}

impl Controller {
    /// One pass over a namespace; true while it needs another.
    async fn sync(&self, name: &str) -> bool {
        let Some(namespace) = self.namespaces.get(&ObjectRef::new(name)) else {
            return false;
        };
        let Some(content) = self.content(name).await else {
            return true;
        };
        match decide(&namespace, &content) {
            NamespaceAction::Ignore => false,
            NamespaceAction::AwaitContent => true,
            NamespaceAction::DeleteContent(objects) => {
                for object in objects {
                    self.delete(name, &object).await;
                }
                true
            }
            NamespaceAction::Finalize(finalizers) => !self.finalize(&namespace, finalizers).await,
        }
    }

    /// Everything left in the namespace; `None` when a list failed.
    async fn content(&self, namespace: &str) -> Option<Vec<Content>> {
        let mut content = Vec::new();
        for (index, resource) in self.config.resources.iter().enumerate() {
            let api =
                Api::<DynamicObject>::namespaced_with(self.client.clone(), namespace, resource);
            let list = match api.list(&ListParams::default()).await {
                Ok(list) => list,
                Err(error) => {
                    tracing::warn!(%error, namespace, resource = %resource.plural, "listing namespace content failed");
                    return None;
                }
            };
            content.extend(list.items.into_iter().map(|object| Content {
                resource: index,
                name: object.metadata.name.unwrap_or_default(),
                uid: object.metadata.uid.unwrap_or_default(),
                deleting: object.metadata.deletion_timestamp.is_some(),
            }));
        }
        Some(content)
    }

    async fn delete(&self, namespace: &str, object: &Content) {
        let Some(resource) = self.config.resources.get(object.resource) else {
            return;
        };
        let api = Api::<DynamicObject>::namespaced_with(self.client.clone(), namespace, resource);
        let params = DeleteParams::background().preconditions(kube::api::Preconditions {
            uid: Some(object.uid.clone()),
            resource_version: None,
        });
        match api.delete(&object.name, &params).await {
            Ok(_) => {}
            // Gone already, or replaced: the next pass sees the current state.
            Err(kube::Error::Api(status)) if status.code == 404 || status.code == 409 => {}
            Err(error) => {
                tracing::warn!(%error, namespace, name = %object.name, "deleting namespace content failed")
            }
        }
    }

    /// Writes the namespace's remaining finalizers through `/finalize`; true when done.
    async fn finalize(&self, namespace: &Namespace, finalizers: Vec<String>) -> bool {
        let name = namespace.metadata.name.clone().unwrap_or_default();
        let mut updated = namespace.clone();
        updated.spec.get_or_insert_with(Default::default).finalizers = Some(finalizers);
        let api: Api<Namespace> = Api::all(self.client.clone());
        match api
            .replace_subresource("finalize", &name, &PostParams::default(), &updated)
            .await
        {
            Ok(_) => true,
            Err(kube::Error::Api(status)) if status.code == 404 => true,
            Err(error) => {
                tracing::warn!(%error, name, "finalizing the namespace failed; retrying");
                false
            }
        }
    }
}

#[cfg(test)]
mod tests;
