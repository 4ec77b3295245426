//! The narrow interface between the provisioner and the disks ([`VolumeBackend`]) and its two real
//! implementations; a fake lives in [`fake`](super::fake), per-volume serialisation in
//! [`locks`](super::locks).
//!
//! Every operation is idempotent and keyed by the volume name only: create of an existing volume returns
//! it, delete of a missing one is [`Removal::AlreadyGone`]. Errors carry a static [`Error::category`] for
//! metrics and event reasons, and a [`FailureKind`] telling the caller whether to retry, reschedule or stop.
use std::path::PathBuf;

use futures::FutureExt;
use futures::future::BoxFuture;

use super::config::OnNoQuota;
use super::hostpath::{self, HostPathBackend, ListedState, QuotaState};
use super::lvm::{self, LvmBackend, LvmVolume, VolumeMode};
use super::names::VolumeName;
use super::params::ClassParams;
use super::safe_fs::Removal;

/// Errors of a backend operation.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    HostPath(#[from] hostpath::Error),
    #[error(transparent)]
    Lvm(#[from] lvm::Error),
    #[error("hostPath volumes cannot be provided as raw block devices")]
    BlockModeUnsupported,
    #[error("class parameters of another provisioner were passed to a {pool} pool")]
    ParamsMismatch { pool: &'static str },
    #[error("disk task did not complete")]
    Join(#[source] tokio::task::JoinError),
    #[error("fake backend refused {operation}")]
    Fake {
        operation: &'static str,
        kind: FailureKind,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What the caller should do about a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// Retry with backoff: the same request may succeed later (I/O, a command timeout, a busy lock).
    Transient,
    /// This node cannot fit the volume: give the claim back to the scheduler (reschedule).
    NoCapacity,
    /// The request or configuration must change first (quota missing under `refuse`, a foreign LV with
    /// the volume's name, an unmounted base path): record the failure, retry slowly.
    Blocked,
}

impl Error {
    /// A static name of the failure, for metric labels and event reasons (never unbounded text).
    pub fn category(&self) -> &'static str {
        match self {
            Error::HostPath(error) => match error {
                hostpath::Error::OpenBase { .. } => "BasePathUnusable",
                hostpath::Error::Ledger { .. } => "LedgerFailed",
                hostpath::Error::Quota { .. } => "QuotaFailed",
                hostpath::Error::QuotaUnavailable { .. } => "QuotaUnavailable",
                hostpath::Error::InsufficientCapacity { .. } => "InsufficientCapacity",
                hostpath::Error::CreateDir { .. } => "CreateDirectoryFailed",
                hostpath::Error::RemoveDir { .. } => "RemoveDirectoryFailed",
                hostpath::Error::List { .. } => "ListFailed",
                hostpath::Error::NotFound { .. } => "VolumeNotFound",
                hostpath::Error::SharedFilesystem { .. } => "SharedFilesystem",
            },
            Error::Lvm(error) => match error {
                lvm::Error::ListVolumes { .. } | lvm::Error::InspectGroup { .. } => {
                    "LvmReportFailed"
                }
                lvm::Error::GroupNotFound { .. } => "VolumeGroupNotFound",
                lvm::Error::ThinPoolNotFound { .. } => "ThinPoolNotFound",
                lvm::Error::DecodeReport(_) => "LvmReportFailed",
                lvm::Error::CreateVolume { .. } => "LvCreateFailed",
                lvm::Error::ExtendVolume { .. } => "LvExtendFailed",
                lvm::Error::RemoveVolume { .. } => "LvRemoveFailed",
                lvm::Error::InsufficientCapacity { .. } => "InsufficientCapacity",
                lvm::Error::NameTaken { .. } => "LvNameTaken",
                lvm::Error::VanishedAfterCreate { .. } => "LvVanished",
                lvm::Error::NotFound { .. } => "VolumeNotFound",
                lvm::Error::Filesystem { .. } => "FilesystemFailed",
            },
            Error::BlockModeUnsupported => "BlockModeUnsupported",
            Error::ParamsMismatch { .. } => "ParamsMismatch",
            Error::Join(_) => "Internal",
            Error::Fake { .. } => "FakeFailure",
        }
    }

    /// Whether to retry, reschedule or stop.
    pub fn kind(&self) -> FailureKind {
        match self {
            Error::HostPath(hostpath::Error::InsufficientCapacity { .. })
            | Error::Lvm(lvm::Error::InsufficientCapacity { .. }) => FailureKind::NoCapacity,
            Error::HostPath(
                hostpath::Error::QuotaUnavailable { .. }
                | hostpath::Error::OpenBase { .. }
                | hostpath::Error::SharedFilesystem { .. }
                | hostpath::Error::NotFound { .. },
            )
            | Error::Lvm(
                lvm::Error::NameTaken { .. }
                | lvm::Error::GroupNotFound { .. }
                | lvm::Error::ThinPoolNotFound { .. }
                | lvm::Error::NotFound { .. },
            )
            | Error::BlockModeUnsupported
            | Error::ParamsMismatch { .. } => FailureKind::Blocked,
            Error::Fake { kind, .. } => *kind,
            _ => FailureKind::Transient,
        }
    }
}

/// How the claim wants the volume.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessMode {
    Filesystem,
    Block,
}

/// A request to create (or finish creating) a volume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateRequest {
    pub volume: VolumeName,
    pub size_bytes: u64,
    pub mode: AccessMode,
    pub params: ClassParams,
}

/// Where the PV points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VolumeSource {
    /// A directory (`local.path`, `volumeMode: Filesystem`).
    Directory(PathBuf),
    /// A block device (`local.path`, `volumeMode: Block`).
    Device(PathBuf),
}

/// A provisioned volume, as the PV should describe it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Volume {
    pub name: VolumeName,
    /// The real size (LVM rounds up to extents); the PV capacity.
    pub size_bytes: u64,
    pub source: VolumeSource,
    /// False only for hostPath volumes provisioned under the `warn` policy (say so in an event).
    pub size_enforced: bool,
}

/// A backing volume found on disk, for orphan detection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackingVolume {
    pub name: VolumeName,
    pub size_bytes: Option<u64>,
    /// False for leftovers of an interrupted create or delete.
    pub complete: bool,
}

/// What a pool can still provide (for CSIStorageCapacity).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Capacity {
    /// Total that can still be promised.
    pub available_bytes: u64,
    /// The largest single volume that fits.
    pub maximum_volume_bytes: u64,
}

/// The disk operations of one pool. Implementations are idempotent per volume name; callers serialise
/// operations on one volume (see [`Locked`](super::locks::Locked)).
pub trait VolumeBackend: Send + Sync {
    fn create<'a>(&'a self, request: &'a CreateRequest) -> BoxFuture<'a, Result<Volume>>;
    fn expand<'a>(
        &'a self,
        volume: &'a VolumeName,
        size_bytes: u64,
    ) -> BoxFuture<'a, Result<Volume>>;
    fn delete<'a>(&'a self, volume: &'a VolumeName) -> BoxFuture<'a, Result<Removal>>;
    fn list(&self) -> BoxFuture<'_, Result<Vec<BackingVolume>>>;
    fn capacity(&self) -> BoxFuture<'_, Result<Capacity>>;
}

/// Runs blocking filesystem work off the async runtime.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, hostpath::Error> + Send + 'static,
) -> Result<T> {
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => result.map_err(Error::HostPath),
        Err(join) => Err(Error::Join(join)),
    }
}

fn hostpath_volume(volume: hostpath::HostPathVolume) -> Volume {
    Volume {
        name: volume.name,
        size_bytes: volume.size_bytes,
        source: VolumeSource::Directory(volume.path),
        size_enforced: matches!(volume.quota, QuotaState::Enforced(_)),
    }
}

impl VolumeBackend for HostPathBackend {
    fn create<'a>(&'a self, request: &'a CreateRequest) -> BoxFuture<'a, Result<Volume>> {
        async move {
            let policy: OnNoQuota = match (&request.params, request.mode) {
                (_, AccessMode::Block) => return Err(Error::BlockModeUnsupported),
                (ClassParams::HostPath(params), AccessMode::Filesystem) => {
                    params.on_no_quota(self.config())
                }
                (ClassParams::Lvm(_), _) => return Err(Error::ParamsMismatch { pool: "hostPath" }),
            };
            let (backend, volume, size) =
                (self.clone(), request.volume.clone(), request.size_bytes);
            blocking(move || backend.create(&volume, size, policy))
                .await
                .map(hostpath_volume)
        }
        .boxed()
    }

    fn expand<'a>(
        &'a self,
        volume: &'a VolumeName,
        size_bytes: u64,
    ) -> BoxFuture<'a, Result<Volume>> {
        let (backend, volume) = (self.clone(), volume.clone());
        blocking(move || backend.expand(&volume, size_bytes))
            .map(|result| result.map(hostpath_volume))
            .boxed()
    }

    fn delete<'a>(&'a self, volume: &'a VolumeName) -> BoxFuture<'a, Result<Removal>> {
        let (backend, volume) = (self.clone(), volume.clone());
        blocking(move || backend.delete(&volume)).boxed()
    }

    fn list(&self) -> BoxFuture<'_, Result<Vec<BackingVolume>>> {
        let backend = self.clone();
        blocking(move || backend.list())
            .map(|result| {
                result.map(|listed| {
                    listed
                        .into_iter()
                        .map(|v| BackingVolume {
                            name: v.name,
                            size_bytes: v.size_bytes,
                            complete: v.state == ListedState::Ready,
                        })
                        .collect()
                })
            })
            .boxed()
    }

    fn capacity(&self) -> BoxFuture<'_, Result<Capacity>> {
        let backend = self.clone();
        blocking(move || backend.capacity()).boxed()
    }
}

fn lvm_volume(volume: LvmVolume) -> Volume {
    let source = match (volume.mode, volume.mount_path) {
        (VolumeMode::Filesystem(_), Some(path)) => VolumeSource::Directory(path),
        _ => VolumeSource::Device(volume.device),
    };
    Volume {
        name: volume.name,
        size_bytes: volume.size_bytes,
        source,
        size_enforced: true,
    }
}

impl VolumeBackend for LvmBackend {
    fn create<'a>(&'a self, request: &'a CreateRequest) -> BoxFuture<'a, Result<Volume>> {
        async move {
            let mode = match (&request.params, request.mode) {
                (ClassParams::Lvm(_), AccessMode::Block) => VolumeMode::Block,
                (ClassParams::Lvm(params), AccessMode::Filesystem) => {
                    VolumeMode::Filesystem(params.fs_type(self.config()))
                }
                (ClassParams::HostPath(_), _) => return Err(Error::ParamsMismatch { pool: "lvm" }),
            };
            let volume =
                LvmBackend::create(self, &request.volume, request.size_bytes, mode).await?;
            Ok(lvm_volume(volume))
        }
        .boxed()
    }

    fn expand<'a>(
        &'a self,
        volume: &'a VolumeName,
        size_bytes: u64,
    ) -> BoxFuture<'a, Result<Volume>> {
        async move {
            Ok(lvm_volume(
                LvmBackend::expand(self, volume, size_bytes).await?,
            ))
        }
        .boxed()
    }

    fn delete<'a>(&'a self, volume: &'a VolumeName) -> BoxFuture<'a, Result<Removal>> {
        async move { Ok(LvmBackend::delete(self, volume).await?) }.boxed()
    }

    fn list(&self) -> BoxFuture<'_, Result<Vec<BackingVolume>>> {
        async move {
            let managed = LvmBackend::list(self).await?;
            Ok(managed
                .into_iter()
                .map(|m| BackingVolume {
                    name: m.volume,
                    size_bytes: Some(m.lv.size_bytes),
                    complete: true,
                })
                .collect())
        }
        .boxed()
    }

    fn capacity(&self) -> BoxFuture<'_, Result<Capacity>> {
        async move { Ok(LvmBackend::capacity(self).await?) }.boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn categories_and_kinds() {
        let volume: VolumeName = "pvc-1".parse().unwrap();
        let full = Error::HostPath(hostpath::Error::InsufficientCapacity {
            requested: 2,
            largest: 1,
        });
        assert_eq!(
            (full.category(), full.kind()),
            ("InsufficientCapacity", FailureKind::NoCapacity)
        );
        let taken = Error::Lvm(lvm::Error::NameTaken {
            vg: "vg0".parse().unwrap(),
            volume,
        });
        assert_eq!(
            (taken.category(), taken.kind()),
            ("LvNameTaken", FailureKind::Blocked)
        );
        let block = Error::BlockModeUnsupported;
        assert_eq!(
            (block.category(), block.kind()),
            ("BlockModeUnsupported", FailureKind::Blocked)
        );
    }
}
