//! The read-only view of the controller's caches that claim and volume decisions look at.
use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{ContainerStatus, PersistentVolumeClaim, Pod};
use k8s_openapi::api::storage::v1::StorageClass;

use super::index::VolumeIndex;

/// What a decision may read about the cluster besides the object being synced.
///
/// # Assumptions
/// Everything comes from caches: `volumes` and `claim` are the controller's own "never go backwards" caches
/// (binder-spec 2.8), classes and pods the informers' stores. A decision never blocks on the API; when a cache
/// answer is not good enough (binder-spec 2.4 step 3) it returns [`Action::LookUpClaimLive`](super::actions::Action).
pub trait World {
    /// Every PV the controller knows, indexed for matching.
    fn volumes(&self) -> &VolumeIndex;
    /// The cached claim `namespace/name`.
    fn claim(&self, namespace: &str, name: &str) -> Option<&PersistentVolumeClaim>;
    /// The StorageClass `name`.
    fn storage_class(&self, name: &str) -> Option<&StorageClass>;
    /// Every StorageClass (for the default-class lookup).
    fn storage_classes(&self) -> impl Iterator<Item = &StorageClass>;
    /// Every pod in `namespace` that references claim `claim` (see [`pod_claim_names`]), in any state.
    fn pods_using_claim(&self, namespace: &str, claim: &str) -> impl Iterator<Item = &Pod>;
}

/// A self-contained [`World`]: owned copies of the cached objects. Tests build one per case; a controller may use
/// it as its cache or implement [`World`] over its own stores.
pub struct Snapshot {
    volumes: VolumeIndex,
    claims: BTreeMap<(String, String), Arc<PersistentVolumeClaim>>,
    classes: BTreeMap<String, Arc<StorageClass>>,
    pods: BTreeMap<(String, String), Arc<Pod>>,
}

impl Snapshot {
    pub fn new() -> Self {
        Snapshot {
            volumes: VolumeIndex::new(),
            claims: BTreeMap::new(),
            classes: BTreeMap::new(),
            pods: BTreeMap::new(),
        }
    }

    pub fn volumes_mut(&mut self) -> &mut VolumeIndex {
        &mut self.volumes
    }

    pub fn upsert_claim(&mut self, claim: Arc<PersistentVolumeClaim>) {
        self.claims.insert(namespaced_key(&claim.metadata), claim);
    }

    pub fn remove_claim(
        &mut self,
        namespace: &str,
        name: &str,
    ) -> Option<Arc<PersistentVolumeClaim>> {
        self.claims
            .remove(&(namespace.to_string(), name.to_string()))
    }

    pub fn claims(&self) -> impl Iterator<Item = &Arc<PersistentVolumeClaim>> {
        self.claims.values()
    }

    pub fn upsert_class(&mut self, class: Arc<StorageClass>) {
        let name = class.metadata.name.clone().unwrap_or_default();
        self.classes.insert(name, class);
    }

    pub fn upsert_pod(&mut self, pod: Arc<Pod>) {
        self.pods.insert(namespaced_key(&pod.metadata), pod);
    }
}

impl Default for Snapshot {
    fn default() -> Self {
        Snapshot::new()
    }
}

impl World for Snapshot {
    fn volumes(&self) -> &VolumeIndex {
        &self.volumes
    }

    fn claim(&self, namespace: &str, name: &str) -> Option<&PersistentVolumeClaim> {
        self.claims
            .get(&(namespace.to_string(), name.to_string()))
            .map(Arc::as_ref)
    }

    fn storage_class(&self, name: &str) -> Option<&StorageClass> {
        self.classes.get(name).map(Arc::as_ref)
    }

    fn storage_classes(&self) -> impl Iterator<Item = &StorageClass> {
        self.classes.values().map(Arc::as_ref)
    }

    fn pods_using_claim(&self, namespace: &str, claim: &str) -> impl Iterator<Item = &Pod> {
        let namespace = namespace.to_string();
        let claim = claim.to_string();
        self.pods
            .iter()
            .filter(move |((pod_namespace, _), pod)| {
                *pod_namespace == namespace && pod_uses_claim(pod, &claim)
            })
            .map(|(_, pod)| pod.as_ref())
    }
}

fn namespaced_key(
    meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
) -> (String, String) {
    (
        meta.namespace.clone().unwrap_or_default(),
        meta.name.clone().unwrap_or_default(),
    )
}

/// Names of the claims a pod references, as upstream's pod-to-claim index computes them: every
/// `persistentVolumeClaim` volume, and every generic ephemeral volume as `<pod name>-<volume name>`.
pub fn pod_claim_names(pod: &Pod) -> impl Iterator<Item = String> + '_ {
    let pod_name = pod.metadata.name.as_deref().unwrap_or("");
    pod.spec
        .iter()
        .flat_map(|spec| spec.volumes.iter().flatten())
        .filter_map(
            move |volume| match (&volume.persistent_volume_claim, &volume.ephemeral) {
                (Some(source), _) => Some(source.claim_name.clone()),
                (None, Some(_)) => Some(format!("{pod_name}-{}", volume.name)),
                (None, None) => None,
            },
        )
}

/// Whether `pod` references the claim named `claim` (in its own namespace).
pub fn pod_uses_claim(pod: &Pod, claim: &str) -> bool {
    pod_claim_names(pod).any(|name| name == claim)
}

/// Upstream's `IsPodTerminated`: phase Succeeded or Failed, or deleted with no container still running.
pub fn is_pod_terminated(pod: &Pod) -> bool {
    let status = pod.status.as_ref();
    let phase = status.and_then(|s| s.phase.as_deref());
    let deleted = pod.metadata.deletion_timestamp.is_some();
    let nothing_running = status.is_none_or(|s| {
        [
            &s.init_container_statuses,
            &s.container_statuses,
            &s.ephemeral_container_statuses,
        ]
        .into_iter()
        .all(|statuses| statuses.iter().flatten().all(container_not_running))
    });
    matches!(phase, Some("Succeeded" | "Failed")) || (deleted && nothing_running)
}

// A container counts as running unless its state says terminated or waiting (an empty state is "running").
fn container_not_running(status: &ContainerStatus) -> bool {
    status
        .state
        .as_ref()
        .is_some_and(|state| state.terminated.is_some() || state.waiting.is_some())
}

/// Whether a pod is scheduled (`spec.nodeName` set).
pub fn is_pod_scheduled(pod: &Pod) -> bool {
    pod.spec
        .as_ref()
        .and_then(|spec| spec.node_name.as_deref())
        .is_some_and(|node| !node.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::binder::fixtures::pod;

    #[test]
    fn pod_claim_names_cover_claims_and_generic_ephemeral_volumes() {
        let p = pod("ns", "web-0").uses("data").ephemeral("scratch").build();
        assert_eq!(
            pod_claim_names(&p).collect::<Vec<_>>(),
            vec!["data", "web-0-scratch"]
        );
        assert!(pod_uses_claim(&p, "web-0-scratch"));
        assert!(!pod_uses_claim(&p, "scratch"));
    }

    #[test]
    fn terminated_pods_are_succeeded_failed_or_deleted_and_stopped() {
        assert!(!is_pod_terminated(&pod("ns", "p").build()));
        assert!(is_pod_terminated(
            &pod("ns", "p").phase("Succeeded").build()
        ));
        assert!(is_pod_terminated(&pod("ns", "p").phase("Failed").build()));
        assert!(is_pod_terminated(
            &pod("ns", "p")
                .phase("Running")
                .deleted_and_stopped()
                .build()
        ));
    }

    #[test]
    fn snapshot_finds_pods_by_claim_within_the_namespace() {
        let mut world = Snapshot::new();
        world.upsert_pod(Arc::new(pod("ns", "a").uses("c").build()));
        world.upsert_pod(Arc::new(pod("other", "b").uses("c").build()));
        world.upsert_pod(Arc::new(pod("ns", "d").uses("x").build()));
        let names: Vec<_> = world
            .pods_using_claim("ns", "c")
            .filter_map(|p| p.metadata.name.as_deref())
            .collect();
        assert_eq!(names, vec!["a"]);
    }
}
