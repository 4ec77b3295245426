//! The controller's own caches: every object it has seen or written, never going back to an older
//! resourceVersion (binder-spec 2.8), exposed to the binder's decisions as a [`World`].
use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim, Pod};
use k8s_openapi::api::storage::v1::StorageClass;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::ResourceExt as _;

use crate::binder::index::VolumeIndex;
use crate::binder::world::{World, pod_uses_claim};

/// Whether a store accepted an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    /// New, or at least as new as the cached copy (an equal resourceVersion passes, so resyncs still run).
    Accepted,
    /// Older than the cached copy: a watch event that lags behind our own write. Ignored.
    Stale,
    /// The resourceVersion is not a decimal integer; the object is ignored, as upstream does.
    BadVersion,
}

/// Cached PVs (indexed for matching), claims, StorageClasses and the pods the binder looks at.
#[derive(Default)]
pub struct Cache {
    volumes: VolumeIndex,
    claims: BTreeMap<(String, String), Arc<PersistentVolumeClaim>>,
    classes: BTreeMap<String, Arc<StorageClass>>,
    pods: BTreeMap<(String, String), Arc<Pod>>,
}

impl Cache {
    pub fn store_volume(&mut self, volume: Arc<PersistentVolume>) -> Stored {
        let verdict = newer_than(
            &volume.metadata,
            self.volumes.get(&volume.name_any()).map(|v| &v.metadata),
        );
        if verdict == Stored::Accepted {
            self.volumes.upsert(volume);
        }
        verdict
    }

    pub fn delete_volume(&mut self, name: &str) -> Option<Arc<PersistentVolume>> {
        self.volumes.remove(name)
    }

    pub fn store_claim(&mut self, claim: Arc<PersistentVolumeClaim>) -> Stored {
        let key = key_of(&claim.metadata);
        let verdict = newer_than(&claim.metadata, self.claims.get(&key).map(|c| &c.metadata));
        if verdict == Stored::Accepted {
            self.claims.insert(key, claim);
        }
        verdict
    }

    pub fn delete_claim(
        &mut self,
        namespace: &str,
        name: &str,
    ) -> Option<Arc<PersistentVolumeClaim>> {
        self.claims
            .remove(&(namespace.to_string(), name.to_string()))
    }

    pub fn store_class(&mut self, class: Arc<StorageClass>) {
        self.classes.insert(class.name_any(), class);
    }

    pub fn delete_class(&mut self, name: &str) {
        self.classes.remove(name);
    }

    pub fn store_pod(&mut self, pod: Arc<Pod>) {
        self.pods.insert(key_of(&pod.metadata), pod);
    }

    pub fn delete_pod(&mut self, namespace: &str, name: &str) {
        self.pods.remove(&(namespace.to_string(), name.to_string()));
    }

    pub fn volume(&self, name: &str) -> Option<&Arc<PersistentVolume>> {
        self.volumes.get(name)
    }

    pub fn cached_claim(&self, namespace: &str, name: &str) -> Option<&Arc<PersistentVolumeClaim>> {
        self.claims.get(&(namespace.to_string(), name.to_string()))
    }

    pub fn volume_names(&self) -> Vec<String> {
        self.volumes
            .iter()
            .map(|volume| volume.name_any())
            .collect()
    }

    pub fn claim_keys(&self) -> Vec<(String, String)> {
        self.claims.keys().cloned().collect()
    }

    pub fn pod_keys(&self) -> Vec<(String, String)> {
        self.pods.keys().cloned().collect()
    }

    pub fn class_names(&self) -> Vec<String> {
        self.classes.keys().cloned().collect()
    }
}

impl World for Cache {
    fn volumes(&self) -> &VolumeIndex {
        &self.volumes
    }

    fn claim(&self, namespace: &str, name: &str) -> Option<&PersistentVolumeClaim> {
        self.cached_claim(namespace, name).map(Arc::as_ref)
    }

    fn storage_class(&self, name: &str) -> Option<&StorageClass> {
        self.classes.get(name).map(Arc::as_ref)
    }

    fn storage_classes(&self) -> impl Iterator<Item = &StorageClass> {
        self.classes.values().map(Arc::as_ref)
    }

    fn pods_using_claim(&self, namespace: &str, claim: &str) -> impl Iterator<Item = &Pod> {
        let (namespace, claim) = (namespace.to_string(), claim.to_string());
        self.pods
            .range((namespace.clone(), String::new())..)
            .take_while(move |((pod_namespace, _), _)| *pod_namespace == namespace)
            .filter(move |(_, pod)| pod_uses_claim(pod, &claim))
            .map(|(_, pod)| pod.as_ref())
    }
}

fn key_of(meta: &ObjectMeta) -> (String, String) {
    (
        meta.namespace.clone().unwrap_or_default(),
        meta.name.clone().unwrap_or_default(),
    )
}

/// upstream `storeObjectUpdate`: accept unless the cached copy has a strictly greater resourceVersion.
fn newer_than(new: &ObjectMeta, cached: Option<&ObjectMeta>) -> Stored {
    let parse = |meta: &ObjectMeta| {
        meta.resource_version
            .as_deref()
            .and_then(|rv| rv.parse::<u64>().ok())
    };
    let Some(new_version) = parse(new) else {
        return Stored::BadVersion;
    };
    match cached.and_then(parse) {
        Some(cached_version) if cached_version > new_version => Stored::Stale,
        _ => Stored::Accepted,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn volume(name: &str, rv: &str, phase: &str) -> Arc<PersistentVolume> {
        let mut volume = PersistentVolume::default();
        volume.metadata.name = Some(name.into());
        volume.metadata.resource_version = Some(rv.into());
        volume.status = Some(k8s_openapi::api::core::v1::PersistentVolumeStatus {
            phase: Some(phase.into()),
            ..Default::default()
        });
        Arc::new(volume)
    }

    fn phase(cache: &Cache, name: &str) -> Option<String> {
        cache
            .volume(name)
            .and_then(|v| v.status.as_ref())
            .and_then(|s| s.phase.clone())
    }

    #[test]
    fn an_older_copy_never_replaces_a_newer_one() {
        let mut cache = Cache::default();
        assert_eq!(
            cache.store_volume(volume("pv", "10", "Bound")),
            Stored::Accepted
        );
        assert_eq!(
            cache.store_volume(volume("pv", "9", "Available")),
            Stored::Stale
        );
        assert_eq!(phase(&cache, "pv").as_deref(), Some("Bound"));
    }

    #[test]
    fn an_equal_version_passes_so_resyncs_still_run() {
        let mut cache = Cache::default();
        cache.store_volume(volume("pv", "10", "Bound"));
        assert_eq!(
            cache.store_volume(volume("pv", "10", "Bound")),
            Stored::Accepted
        );
    }

    #[test]
    fn a_non_numeric_version_is_ignored() {
        let mut cache = Cache::default();
        assert_eq!(
            cache.store_volume(volume("pv", "abc", "Bound")),
            Stored::BadVersion
        );
        assert!(cache.volume("pv").is_none());
    }

    #[test]
    fn claims_follow_the_same_rule() {
        let mut cache = Cache::default();
        let claim = |rv: &str| {
            let mut claim = PersistentVolumeClaim::default();
            claim.metadata.name = Some("data".into());
            claim.metadata.namespace = Some("ns".into());
            claim.metadata.resource_version = Some(rv.into());
            Arc::new(claim)
        };
        assert_eq!(cache.store_claim(claim("5")), Stored::Accepted);
        assert_eq!(cache.store_claim(claim("4")), Stored::Stale);
        assert_eq!(cache.store_claim(claim("6")), Stored::Accepted);
        assert_eq!(
            cache
                .cached_claim("ns", "data")
                .and_then(|c| c.metadata.resource_version.clone())
                .as_deref(),
            Some("6")
        );
    }
}
