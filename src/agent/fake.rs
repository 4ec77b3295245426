//! An in-memory [`VolumeBackend`] for tests of the layers above the disks: records every call, keeps
//! volumes in a map, and fails on demand with typed errors (never panics on an unexpected call).
use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::sync::{Mutex, PoisonError};

use futures::FutureExt;
use futures::future::BoxFuture;

use super::backend::{
    AccessMode, BackingVolume, Capacity, CreateRequest, Error, FailureKind, Result, Volume,
    VolumeBackend, VolumeSource,
};
use super::names::VolumeName;
use super::safe_fs::Removal;

/// One recorded call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    Create { volume: VolumeName, size_bytes: u64 },
    Expand { volume: VolumeName, size_bytes: u64 },
    Delete { volume: VolumeName },
    List,
    Capacity,
}

/// Which operation a planned failure hits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Create,
    Expand,
    Delete,
    List,
    Capacity,
}

impl Operation {
    fn name(self) -> &'static str {
        match self {
            Operation::Create => "create",
            Operation::Expand => "expand",
            Operation::Delete => "delete",
            Operation::List => "list",
            Operation::Capacity => "capacity",
        }
    }
}

#[derive(Debug, Default)]
struct State {
    total_bytes: u64,
    volumes: BTreeMap<VolumeName, Volume>,
    calls: Vec<Call>,
    failures: VecDeque<(Operation, FailureKind)>,
}

/// The fake backend; create one per test.
#[derive(Debug, Default)]
pub struct FakeBackend {
    root: PathBuf,
    state: Mutex<State>,
}

impl FakeBackend {
    /// A pool of `total_bytes` whose volumes appear as directories under `root`.
    pub fn new(root: PathBuf, total_bytes: u64) -> FakeBackend {
        FakeBackend {
            root,
            state: Mutex::new(State {
                total_bytes,
                ..State::default()
            }),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // Test double: a panicking test thread must not hide the recorded calls from the others.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Every call so far, in order.
    pub fn calls(&self) -> Vec<Call> {
        self.state().calls.clone()
    }

    /// The volumes that currently exist.
    pub fn volumes(&self) -> BTreeMap<VolumeName, Volume> {
        self.state().volumes.clone()
    }

    /// Makes the next call of `operation` fail with `kind` (queued in order).
    pub fn fail_next(&self, operation: Operation, kind: FailureKind) {
        self.state().failures.push_back((operation, kind));
    }

    /// Puts a volume on "disk" without a create call (an orphan, or one left by a crashed run).
    pub fn insert(&self, volume: &VolumeName, size_bytes: u64) {
        let entry = self.volume(volume, size_bytes);
        self.state().volumes.insert(volume.clone(), entry);
    }

    fn volume(&self, volume: &VolumeName, size_bytes: u64) -> Volume {
        Volume {
            name: volume.clone(),
            size_bytes,
            source: VolumeSource::Directory(self.root.join(volume.as_str())),
            size_enforced: true,
        }
    }

    /// Records `call` and takes a planned failure for `operation`, if one is queued first in line.
    fn enter(&self, call: Call, operation: Operation) -> Result<()> {
        let mut state = self.state();
        state.calls.push(call);
        match state.failures.front() {
            Some((planned, kind)) if *planned == operation => {
                let kind = *kind;
                state.failures.pop_front();
                Err(Error::Fake {
                    operation: operation.name(),
                    kind,
                })
            }
            _ => Ok(()),
        }
    }

    fn used(state: &State) -> u64 {
        state.volumes.values().map(|v| v.size_bytes).sum()
    }

    fn no_capacity(operation: Operation) -> Error {
        Error::Fake {
            operation: operation.name(),
            kind: FailureKind::NoCapacity,
        }
    }
}

impl VolumeBackend for FakeBackend {
    fn create<'a>(&'a self, request: &'a CreateRequest) -> BoxFuture<'a, Result<Volume>> {
        let call = Call::Create {
            volume: request.volume.clone(),
            size_bytes: request.size_bytes,
        };
        let result = self.enter(call, Operation::Create).and_then(|()| {
            let volume = self.volume(&request.volume, request.size_bytes);
            let volume = match request.mode {
                AccessMode::Filesystem => volume,
                AccessMode::Block => Volume {
                    source: VolumeSource::Device(self.root.join(request.volume.as_str())),
                    ..volume
                },
            };
            let mut state = self.state();
            if let Some(existing) = state.volumes.get(&request.volume) {
                return Ok(existing.clone());
            }
            if FakeBackend::used(&state) + request.size_bytes > state.total_bytes {
                return Err(FakeBackend::no_capacity(Operation::Create));
            }
            state.volumes.insert(request.volume.clone(), volume.clone());
            Ok(volume)
        });
        async move { result }.boxed()
    }

    fn expand<'a>(
        &'a self,
        volume: &'a VolumeName,
        size_bytes: u64,
    ) -> BoxFuture<'a, Result<Volume>> {
        let call = Call::Expand {
            volume: volume.clone(),
            size_bytes,
        };
        let result = self.enter(call, Operation::Expand).and_then(|()| {
            let mut state = self.state();
            let used = FakeBackend::used(&state);
            let total = state.total_bytes;
            let Some(existing) = state.volumes.get_mut(volume) else {
                return Err(Error::Fake {
                    operation: Operation::Expand.name(),
                    kind: FailureKind::Blocked,
                });
            };
            if size_bytes > existing.size_bytes {
                if used - existing.size_bytes + size_bytes > total {
                    return Err(FakeBackend::no_capacity(Operation::Expand));
                }
                existing.size_bytes = size_bytes;
            }
            Ok(existing.clone())
        });
        async move { result }.boxed()
    }

    fn delete<'a>(&'a self, volume: &'a VolumeName) -> BoxFuture<'a, Result<Removal>> {
        let call = Call::Delete {
            volume: volume.clone(),
        };
        let result = self.enter(call, Operation::Delete).map(|()| {
            match self.state().volumes.remove(volume) {
                Some(_) => Removal::Removed,
                None => Removal::AlreadyGone,
            }
        });
        async move { result }.boxed()
    }

    fn list(&self) -> BoxFuture<'_, Result<Vec<BackingVolume>>> {
        let result = self.enter(Call::List, Operation::List).map(|()| {
            self.state()
                .volumes
                .values()
                .map(|v| BackingVolume {
                    name: v.name.clone(),
                    size_bytes: Some(v.size_bytes),
                    complete: true,
                })
                .collect()
        });
        async move { result }.boxed()
    }

    fn capacity(&self) -> BoxFuture<'_, Result<Capacity>> {
        let result = self.enter(Call::Capacity, Operation::Capacity).map(|()| {
            let state = self.state();
            let free = state.total_bytes.saturating_sub(FakeBackend::used(&state));
            Capacity {
                available_bytes: free,
                maximum_volume_bytes: free,
            }
        });
        async move { result }.boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::params::{ClassParams, HostPathParams};

    fn request(volume: &str, size_bytes: u64) -> CreateRequest {
        CreateRequest {
            volume: volume.parse().unwrap(),
            size_bytes,
            mode: AccessMode::Filesystem,
            params: ClassParams::HostPath(HostPathParams::default()),
        }
    }

    #[tokio::test]
    async fn fake_is_idempotent_tracks_capacity_and_records_calls() {
        let fake = FakeBackend::new(PathBuf::from("/fake"), 100);
        let a = request("pvc-a", 60);
        let created = fake.create(&a).await.unwrap();
        assert_eq!(fake.create(&a).await.unwrap(), created);
        let err = fake.create(&request("pvc-b", 50)).await.unwrap_err();
        assert_eq!(err.kind(), FailureKind::NoCapacity);
        assert_eq!(
            fake.capacity().await.unwrap(),
            Capacity {
                available_bytes: 40,
                maximum_volume_bytes: 40
            }
        );
        fake.fail_next(Operation::Delete, FailureKind::Transient);
        assert!(fake.delete(&a.volume).await.is_err());
        assert_eq!(fake.delete(&a.volume).await.unwrap(), Removal::Removed);
        assert_eq!(fake.delete(&a.volume).await.unwrap(), Removal::AlreadyGone);
        assert_eq!(fake.calls().len(), 7);
        assert_eq!(
            fake.calls()[0],
            Call::Create {
                volume: a.volume.clone(),
                size_bytes: 60
            }
        );
    }
}
