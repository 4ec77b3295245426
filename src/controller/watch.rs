//! Feeds the controller's cache from API watches and turns every change into work-queue keys. A relist
//! (after a dropped or expired watch) replaces the cached set: objects absent from the new list take the
//! delete path, exactly as if their DELETED event had been seen.
use std::collections::HashSet;
use std::fmt::Debug;
use std::sync::{Arc, RwLock};

use futures::StreamExt as _;
use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim, Pod};
use k8s_openapi::api::storage::v1::StorageClass;
use kube::ResourceExt as _;
use kube::api::Api;
use kube::runtime::{WatchStreamExt as _, watcher};
use serde::de::DeserializeOwned;
use tokio::sync::watch;

use super::cache::{Cache, Stored};
use super::queue::WorkQueue;
use crate::binder::actions::ClaimKey;

/// Where watch events send work.
#[derive(Clone)]
pub struct Queues {
    pub claims: Arc<WorkQueue<ClaimKey>>,
    pub volumes: Arc<WorkQueue<String>>,
}

/// A kind the controller caches: how to store it, delete it and which keys a change wakes up.
pub trait Watched:
    kube::Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static
{
    /// Stores the object; returns whether the change should wake anything up.
    fn store(cache: &mut Cache, object: Arc<Self>) -> bool;
    /// Removes the object `key` (as returned by [`Watched::cache_key`]); returns the last cached copy.
    fn delete(cache: &mut Cache, key: &(String, String)) -> Option<Arc<Self>>;
    /// Keys of every cached object of this kind.
    fn cached_keys(cache: &Cache) -> Vec<(String, String)>;
    /// Wakes up the work a stored object needs.
    fn on_stored(object: &Self, queues: &Queues);
    /// Wakes up the work a deleted object leaves behind.
    fn on_deleted(object: &Self, queues: &Queues);

    fn cache_key(object: &Self) -> (String, String) {
        (object.namespace().unwrap_or_default(), object.name_any())
    }
}

impl Watched for PersistentVolume {
    fn store(cache: &mut Cache, object: Arc<Self>) -> bool {
        log_rejected(cache.store_volume(object.clone()), object.as_ref())
    }
    fn delete(cache: &mut Cache, key: &(String, String)) -> Option<Arc<Self>> {
        cache.delete_volume(&key.1)
    }
    fn cached_keys(cache: &Cache) -> Vec<(String, String)> {
        cache
            .volume_names()
            .into_iter()
            .map(|name| (String::new(), name))
            .collect()
    }
    fn on_stored(object: &Self, queues: &Queues) {
        queues.volumes.add(object.name_any());
    }
    /// upstream `deleteVolume`: the claim it pointed at may now be Lost.
    fn on_deleted(object: &Self, queues: &Queues) {
        let claim_ref = object
            .spec
            .as_ref()
            .and_then(|spec| spec.claim_ref.as_ref());
        if let Some(reference) = claim_ref {
            let (namespace, name) = (
                reference.namespace.as_deref().unwrap_or(""),
                reference.name.as_deref().unwrap_or(""),
            );
            queues.claims.add(ClaimKey::new(namespace, name));
        }
    }
}

impl Watched for PersistentVolumeClaim {
    fn store(cache: &mut Cache, object: Arc<Self>) -> bool {
        log_rejected(cache.store_claim(object.clone()), object.as_ref())
    }
    fn delete(cache: &mut Cache, key: &(String, String)) -> Option<Arc<Self>> {
        cache.delete_claim(&key.0, &key.1)
    }
    fn cached_keys(cache: &Cache) -> Vec<(String, String)> {
        cache.claim_keys()
    }
    fn on_stored(object: &Self, queues: &Queues) {
        queues.claims.add(ClaimKey::of(object));
    }
    /// upstream `deleteClaim`: its volume becomes Released without waiting for a resync.
    fn on_deleted(object: &Self, queues: &Queues) {
        let volume = object
            .spec
            .as_ref()
            .and_then(|spec| spec.volume_name.as_deref())
            .unwrap_or("");
        if !volume.is_empty() {
            queues.volumes.add(volume.to_string());
        }
    }
}

impl Watched for StorageClass {
    fn store(cache: &mut Cache, object: Arc<Self>) -> bool {
        cache.store_class(object);
        // A new default class or binding mode matters to pending claims; the periodic resync picks them up,
        // as upstream does (classes are read through a lister, not watched for work).
        false
    }
    fn delete(cache: &mut Cache, key: &(String, String)) -> Option<Arc<Self>> {
        cache.delete_class(&key.1);
        None
    }
    fn cached_keys(cache: &Cache) -> Vec<(String, String)> {
        cache
            .class_names()
            .into_iter()
            .map(|name| (String::new(), name))
            .collect()
    }
    fn on_stored(_: &Self, _: &Queues) {}
    fn on_deleted(_: &Self, _: &Queues) {}
}

impl Watched for Pod {
    fn store(cache: &mut Cache, object: Arc<Self>) -> bool {
        cache.store_pod(object);
        false
    }
    fn delete(cache: &mut Cache, key: &(String, String)) -> Option<Arc<Self>> {
        cache.delete_pod(&key.0, &key.1);
        None
    }
    fn cached_keys(cache: &Cache) -> Vec<(String, String)> {
        cache.pod_keys()
    }
    fn on_stored(_: &Self, _: &Queues) {}
    fn on_deleted(_: &Self, _: &Queues) {}
}

fn log_rejected<K: kube::Resource>(stored: Stored, object: &K) -> bool {
    match stored {
        Stored::Accepted => true,
        Stored::Stale => false,
        Stored::BadVersion => {
            tracing::warn!(object = %object.meta().name.as_deref().unwrap_or(""), version = ?object.meta().resource_version, "ignoring object with a non-numeric resourceVersion");
            false
        }
    }
}

/// Watches `api` forever, keeping `cache` in step and waking work up. `synced` flips to true after the first
/// complete list, and stays true across relists.
pub async fn run<K: Watched>(
    api: Api<K>,
    config: watcher::Config,
    cache: Arc<RwLock<Cache>>,
    queues: Queues,
    synced: watch::Sender<bool>,
) {
    let mut listing: Option<HashSet<(String, String)>> = None;
    let mut events = std::pin::pin!(watcher(api, config).default_backoff());
    while let Some(event) = events.next().await {
        match event {
            Ok(watcher::Event::Init) => listing = Some(HashSet::new()),
            Ok(watcher::Event::InitApply(object)) => {
                if let Some(seen) = listing.as_mut() {
                    seen.insert(K::cache_key(&object));
                }
                apply(&cache, &queues, object);
            }
            Ok(watcher::Event::InitDone) => {
                if let Some(seen) = listing.take() {
                    let gone: Vec<_> = K::cached_keys(&read(&cache))
                        .into_iter()
                        .filter(|key| !seen.contains(key))
                        .collect();
                    for key in gone {
                        remove::<K>(&cache, &queues, &key);
                    }
                }
                synced.send_replace(true);
            }
            Ok(watcher::Event::Apply(object)) => apply(&cache, &queues, object),
            Ok(watcher::Event::Delete(object)) => {
                remove::<K>(&cache, &queues, &K::cache_key(&object))
            }
            Err(error) => {
                tracing::warn!(%error, kind = %K::kind(&()), "watch failed; retrying with backoff")
            }
        }
    }
}

fn apply<K: Watched>(cache: &RwLock<Cache>, queues: &Queues, object: K) {
    let object = Arc::new(object);
    let wake = K::store(&mut write(cache), object.clone());
    if wake {
        K::on_stored(&object, queues);
    }
}

fn remove<K: Watched>(cache: &RwLock<Cache>, queues: &Queues, key: &(String, String)) {
    let removed = K::delete(&mut write(cache), key);
    if let Some(object) = removed {
        K::on_deleted(&object, queues);
    }
}

/// Cache locks are held for single inserts or one decision, never across an await; a poisoned lock still holds
/// consistent data.
pub fn read(cache: &RwLock<Cache>) -> std::sync::RwLockReadGuard<'_, Cache> {
    cache
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

pub fn write(cache: &RwLock<Cache>) -> std::sync::RwLockWriteGuard<'_, Cache> {
    cache
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
