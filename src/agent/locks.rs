//! Per-volume serialisation: at most one disk operation per volume name at a time, across all callers.
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, Weak};

use futures::FutureExt;
use futures::future::BoxFuture;
use tokio::sync::OwnedMutexGuard;

use super::backend::{BackingVolume, Capacity, CreateRequest, Result, Volume, VolumeBackend};
use super::names::VolumeName;
use super::safe_fs::Removal;

/// A lock per volume name, created on demand and dropped when nobody holds or waits for it.
#[derive(Debug, Default)]
pub struct VolumeLocks {
    locks: Mutex<HashMap<VolumeName, Weak<tokio::sync::Mutex<()>>>>,
}

impl VolumeLocks {
    pub fn new() -> VolumeLocks {
        VolumeLocks::default()
    }

    /// Waits until no one else holds `volume`'s lock and takes it.
    pub async fn lock(&self, volume: &VolumeName) -> OwnedMutexGuard<()> {
        let lock = {
            // The map only holds weak handles; a panic while holding the std mutex cannot leave it
            // inconsistent, so a poisoned map is still usable.
            let mut locks = self.locks.lock().unwrap_or_else(PoisonError::into_inner);
            locks.retain(|_, weak| weak.strong_count() > 0);
            match locks.get(volume).and_then(Weak::upgrade) {
                Some(lock) => lock,
                None => {
                    let lock = Arc::new(tokio::sync::Mutex::new(()));
                    locks.insert(volume.clone(), Arc::downgrade(&lock));
                    lock
                }
            }
        };
        lock.lock_owned().await
    }

    /// How many volumes currently have a lock (held or awaited).
    pub fn active(&self) -> usize {
        let locks = self.locks.lock().unwrap_or_else(PoisonError::into_inner);
        locks
            .values()
            .filter(|weak| weak.strong_count() > 0)
            .count()
    }
}

/// A backend whose per-volume operations are serialised by a [`VolumeLocks`].
pub struct Locked<B> {
    inner: B,
    locks: Arc<VolumeLocks>,
}

impl<B> Locked<B> {
    /// Wraps `inner`; share `locks` between every backend that may see the same volume names.
    pub fn new(inner: B, locks: Arc<VolumeLocks>) -> Locked<B> {
        Locked { inner, locks }
    }

    pub fn inner(&self) -> &B {
        &self.inner
    }
}

impl<B: VolumeBackend> VolumeBackend for Locked<B> {
    fn create<'a>(&'a self, request: &'a CreateRequest) -> BoxFuture<'a, Result<Volume>> {
        async move {
            let _guard = self.locks.lock(&request.volume).await;
            self.inner.create(request).await
        }
        .boxed()
    }

    fn expand<'a>(
        &'a self,
        volume: &'a VolumeName,
        size_bytes: u64,
    ) -> BoxFuture<'a, Result<Volume>> {
        async move {
            let _guard = self.locks.lock(volume).await;
            self.inner.expand(volume, size_bytes).await
        }
        .boxed()
    }

    fn delete<'a>(&'a self, volume: &'a VolumeName) -> BoxFuture<'a, Result<Removal>> {
        async move {
            let _guard = self.locks.lock(volume).await;
            self.inner.delete(volume).await
        }
        .boxed()
    }

    fn list(&self) -> BoxFuture<'_, Result<Vec<BackingVolume>>> {
        self.inner.list()
    }

    fn capacity(&self) -> BoxFuture<'_, Result<Capacity>> {
        self.inner.capacity()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn one_holder_per_volume_and_no_leftover_entries() {
        let locks = Arc::new(VolumeLocks::new());
        let a: VolumeName = "pvc-a".parse().unwrap();
        let b: VolumeName = "pvc-b".parse().unwrap();
        let held = locks.lock(&a).await;
        // Another volume is independent.
        let other = locks.lock(&b).await;
        // The same volume is not available while held.
        let again = locks.lock(&a).now_or_never();
        assert!(again.is_none());
        drop(held);
        let again = locks.lock(&a).now_or_never();
        assert!(again.is_some());
        drop(again);
        drop(other);
        assert_eq!(locks.active(), 0);
    }
}
