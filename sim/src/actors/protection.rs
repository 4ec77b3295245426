//! Simulated pvc-protection and pv-protection controllers (kube-controller-manager).
//!
//! * pvc-protection: a deleted claim keeps `kubernetes.io/pvc-protection` while a *scheduled* pod in its
//!   namespace references it (`persistentVolumeClaim.claimName`, or a generic ephemeral volume whose claim the
//!   pod owns and the pod is not shut down); pod phase is not considered. The "unused" verdict from the cache is
//!   confirmed with a live LIST of the namespace's pods before the finalizer goes, as upstream does.
//! * pv-protection: a deleted PV keeps `kubernetes.io/pv-protection` while its `status.phase` is `Bound`.
//! * Both re-add their finalizer to live objects that lack it (switch off with `add_missing_finalizers` when the
//!   StorageObjectInUseProtection admission plugin is off, or tests that create finalizer-less objects race it).
//!
//! Finalizer writes are merge patches carrying the observed `resourceVersion`, so a concurrent change makes them
//! fail with 409 and the change's own watch event triggers a fresh decision.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim, Pod};
use kube::Resource;
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::{WatchStreamExt, reflector, watcher};
use serde_json::json;
use tokio::time::Instant;

/// Finalizer guarding claims in use by pods.
pub const PVC_PROTECTION: &str = "kubernetes.io/pvc-protection";
/// Finalizer guarding bound volumes.
pub const PV_PROTECTION: &str = "kubernetes.io/pv-protection";

const FIELD_MANAGER: &str = "kube-controller-manager";
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// Errors of the protection controllers.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A watch stream ended, which a watcher never does while the task runs.
    #[error("watch of {resource} ended")]
    WatchEnded { resource: &'static str },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Configuration of the protection controllers.
#[derive(Clone, Debug)]
pub struct ProtectionConfig {
    /// Re-add the protection finalizer to live claims and volumes that lack it (as upstream does).
    pub add_missing_finalizers: bool,
}

impl Default for ProtectionConfig {
    fn default() -> Self {
        Self {
            add_missing_finalizers: true,
        }
    }
}

/// What to do with an object's protection finalizer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FinalizerAction {
    Keep,
    Add,
    Remove,
}

/// The pvc-protection decision for `claim`, given pods that may reference it.
pub fn decide_claim<'a>(
    claim: &PersistentVolumeClaim,
    pods: impl IntoIterator<Item = &'a Pod>,
    add_missing: bool,
) -> FinalizerAction {
    let deleting = claim.metadata.deletion_timestamp.is_some();
    match (deleting, has_finalizer(claim, PVC_PROTECTION)) {
        (false, false) if add_missing => FinalizerAction::Add,
        (false, _) | (true, false) => FinalizerAction::Keep,
        (true, true) => {
            let mut pods = pods.into_iter();
            if pods.any(|pod| pod_uses_claim(pod, claim)) {
                FinalizerAction::Keep
            } else {
                FinalizerAction::Remove
            }
        }
    }
}

/// The pv-protection decision for `pv`.
pub fn decide_volume(pv: &PersistentVolume, add_missing: bool) -> FinalizerAction {
    let deleting = pv.metadata.deletion_timestamp.is_some();
    let bound = pv.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Bound");
    match (deleting, has_finalizer(pv, PV_PROTECTION), bound) {
        (false, false, _) if add_missing => FinalizerAction::Add,
        (true, true, false) => FinalizerAction::Remove,
        (false, _, _) | (true, false, _) | (true, true, true) => FinalizerAction::Keep,
    }
}

/// Whether `pod` keeps `claim` in use: it is scheduled, in the claim's namespace, and references the claim
/// directly, or through a generic ephemeral volume whose claim it owns while it is not shut down.
pub fn pod_uses_claim(pod: &Pod, claim: &PersistentVolumeClaim) -> bool {
    let Some(spec) = &pod.spec else { return false };
    let scheduled = spec.node_name.as_deref().is_some_and(|n| !n.is_empty());
    if !scheduled || pod.metadata.namespace != claim.metadata.namespace {
        return false;
    }
    let claim_name = claim.metadata.name.as_deref().unwrap_or_default();
    let pod_name = pod.metadata.name.as_deref().unwrap_or_default();
    let owned_by_pod = claim
        .metadata
        .owner_references
        .iter()
        .flatten()
        .any(|owner| Some(&owner.uid) == pod.metadata.uid.as_ref());
    let shut_down = pod.metadata.deletion_timestamp.is_some()
        && pod.metadata.deletion_grace_period_seconds == Some(0);
    spec.volumes.iter().flatten().any(|volume| {
        let direct = volume
            .persistent_volume_claim
            .as_ref()
            .is_some_and(|c| c.claim_name == claim_name);
        let ephemeral = volume.ephemeral.is_some()
            && format!("{pod_name}-{}", volume.name) == claim_name
            && owned_by_pod
            && !shut_down;
        direct || ephemeral
    })
}

/// The claims (namespace, name) a pod references, whose protection may change with the pod.
pub fn claims_of(pod: &Pod) -> Vec<(String, String)> {
    let namespace = pod.metadata.namespace.clone().unwrap_or_default();
    let pod_name = pod.metadata.name.as_deref().unwrap_or_default();
    let volumes = pod
        .spec
        .as_ref()
        .and_then(|s| s.volumes.as_deref())
        .unwrap_or_default();
    volumes
        .iter()
        .filter_map(
            |volume| match (&volume.persistent_volume_claim, &volume.ephemeral) {
                (Some(claim), _) => Some(claim.claim_name.clone()),
                (None, Some(_)) => Some(format!("{pod_name}-{}", volume.name)),
                (None, None) => None,
            },
        )
        .map(|name| (namespace.clone(), name))
        .collect()
}

fn has_finalizer<K: Resource>(object: &K, finalizer: &str) -> bool {
    object
        .meta()
        .finalizers
        .iter()
        .flatten()
        .any(|f| f == finalizer)
}

/// The object's finalizers after `action` (None for `Keep`).
fn finalizers_after<K: Resource>(
    object: &K,
    finalizer: &str,
    action: FinalizerAction,
) -> Option<Vec<String>> {
    let current = object.meta().finalizers.clone().unwrap_or_default();
    match action {
        FinalizerAction::Keep => None,
        FinalizerAction::Add => Some(current.into_iter().chain([finalizer.to_string()]).collect()),
        FinalizerAction::Remove => Some(current.into_iter().filter(|f| f != finalizer).collect()),
    }
}

/// A claim or volume to decide on.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Key {
    Claim { namespace: String, name: String },
    Volume { name: String },
}

/// Runs both protection controllers until the task is aborted.
pub async fn run(client: kube::Client, config: ProtectionConfig) -> Result<()> {
    let (claims, claims_writer) = reflector::store::<PersistentVolumeClaim>();
    let (pods, pods_writer) = reflector::store::<Pod>();
    let (volumes, volumes_writer) = reflector::store::<PersistentVolume>();
    let all = watcher::Config::default;
    let mut claim_events = reflector(claims_writer, watcher(Api::all(client.clone()), all()))
        .default_backoff()
        .touched_objects()
        .boxed();
    let mut pod_events = reflector(pods_writer, watcher(Api::all(client.clone()), all()))
        .default_backoff()
        .touched_objects()
        .boxed();
    let mut volume_events = reflector(volumes_writer, watcher(Api::all(client.clone()), all()))
        .default_backoff()
        .touched_objects()
        .boxed();
    let controller = Controller {
        client,
        config,
        claims,
        pods,
        volumes,
    };
    let mut retries: BTreeMap<Key, Instant> = BTreeMap::new();
    loop {
        let next_retry = retries
            .values()
            .min()
            .copied()
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
        let keys: Vec<Key> = tokio::select! {
            event = claim_events.next() => match event {
                Some(Ok(claim)) => vec![Key::Claim {
                    namespace: claim.metadata.namespace.clone().unwrap_or_default(),
                    name: claim.metadata.name.clone().unwrap_or_default(),
                }],
                Some(Err(error)) => { tracing::warn!(%error, "pvc-protection: claim watch error"); vec![] }
                None => return Err(Error::WatchEnded { resource: "persistentvolumeclaims" }),
            },
            event = pod_events.next() => match event {
                Some(Ok(pod)) => claims_of(&pod).into_iter().map(|(namespace, name)| Key::Claim { namespace, name }).collect(),
                Some(Err(error)) => { tracing::warn!(%error, "pvc-protection: pod watch error"); vec![] }
                None => return Err(Error::WatchEnded { resource: "pods" }),
            },
            event = volume_events.next() => match event {
                Some(Ok(pv)) => vec![Key::Volume { name: pv.metadata.name.clone().unwrap_or_default() }],
                Some(Err(error)) => { tracing::warn!(%error, "pv-protection: volume watch error"); vec![] }
                None => return Err(Error::WatchEnded { resource: "persistentvolumes" }),
            },
            () = tokio::time::sleep_until(next_retry) => {
                let now = Instant::now();
                let due: Vec<Key> = retries.iter().filter(|(_, at)| **at <= now).map(|(k, _)| k.clone()).collect();
                due.iter().for_each(|key| { retries.remove(key); });
                due
            }
        };
        for key in keys {
            if !controller.sync(&key).await {
                retries.insert(key, Instant::now() + RETRY_AFTER);
            }
        }
    }
}

struct Controller {
    client: kube::Client,
    config: ProtectionConfig,
    claims: Store<PersistentVolumeClaim>,
    pods: Store<Pod>,
    volumes: Store<PersistentVolume>,
}

impl Controller {
    /// Decides and acts on one object; false when it should be retried.
    async fn sync(&self, key: &Key) -> bool {
        let add_missing = self.config.add_missing_finalizers;
        match key {
            Key::Claim { namespace, name } => {
                let Some(claim) = self.claims.get(&ObjectRef::new(name).within(namespace)) else {
                    return true;
                };
                // Only a deleting claim's decision reads the pods: skip copying the cache for the others.
                let deleting = claim.metadata.deletion_timestamp.is_some();
                let cached_pods = if deleting {
                    self.pods.state()
                } else {
                    Vec::new()
                };
                let action = decide_claim(&claim, cached_pods.iter().map(Arc::as_ref), add_missing);
                let action = match action {
                    FinalizerAction::Remove => self.confirm_unused(&claim).await,
                    other => Some(other),
                };
                match action {
                    Some(action) => {
                        let api: Api<PersistentVolumeClaim> =
                            Api::namespaced(self.client.clone(), namespace);
                        write(&api, claim.as_ref(), PVC_PROTECTION, action).await
                    }
                    None => false,
                }
            }
            Key::Volume { name } => {
                let Some(pv) = self.volumes.get(&ObjectRef::new(name)) else {
                    return true;
                };
                let api: Api<PersistentVolume> = Api::all(self.client.clone());
                write(
                    &api,
                    pv.as_ref(),
                    PV_PROTECTION,
                    decide_volume(&pv, add_missing),
                )
                .await
            }
        }
    }

    /// Re-decides a removal with a live LIST of the namespace's pods (the cache may lag behind a new pod).
    /// `None` when the list failed.
    async fn confirm_unused(&self, claim: &PersistentVolumeClaim) -> Option<FinalizerAction> {
        let namespace = claim.metadata.namespace.as_deref().unwrap_or_default();
        let api: Api<Pod> = Api::namespaced(self.client.clone(), namespace);
        match api.list(&ListParams::default()).await {
            Ok(list) => Some(decide_claim(
                claim,
                &list.items,
                self.config.add_missing_finalizers,
            )),
            Err(error) => {
                tracing::warn!(%error, namespace, "pvc-protection: listing pods failed");
                None
            }
        }
    }
}

/// Applies a finalizer action; true when done (or nothing to do, or superseded), false to retry.
async fn write<K>(api: &Api<K>, object: &K, finalizer: &str, action: FinalizerAction) -> bool
where
    K: Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let Some(finalizers) = finalizers_after(object, finalizer, action) else {
        return true;
    };
    let name = object.meta().name.clone().unwrap_or_default();
    let finalizers = if finalizers.is_empty() {
        serde_json::Value::Null
    } else {
        json!(finalizers)
    };
    let patch = json!({"metadata": {"resourceVersion": object.meta().resource_version, "finalizers": finalizers}});
    let params = PatchParams {
        field_manager: Some(FIELD_MANAGER.to_string()),
        ..PatchParams::default()
    };
    match api.patch(&name, &params, &Patch::Merge(&patch)).await {
        Ok(_) => true,
        // 404: gone already. 409: changed meanwhile; that change's event brings a fresh decision.
        Err(kube::Error::Api(status)) if status.code == 404 || status.code == 409 => true,
        Err(error) => {
            tracing::warn!(%error, name, finalizer, "protection finalizer write failed; retrying");
            false
        }
    }
}

#[cfg(test)]
mod tests;
