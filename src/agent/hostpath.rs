//! HostPath volumes: one directory per volume below a base path, its size enforced by project quota.
//!
//! A volume `pvc-<uid>` lives at `<base>/pvc-<uid>`: the name comes from the PV name only. It is built
//! as `<base>/.pvc-<uid>.partial` (mode, project id, limit) and renamed into place, so a directory under
//! its final name is always complete. Every operation reopens the base path and checks it is the
//! expected mount first, so a disk that is not mounted never leads to writes on the root filesystem.
//! The [`ledger`](super::ledger) of each base path records project ids and promised sizes.
use std::path::PathBuf;

use super::backend::Capacity;
use super::config::{HostPathPoolConfig, OnNoQuota};
use super::ledger::{self, Ledger, LockedLedger, Record};
use super::names::{BasePath, VolumeName};
use super::quota::{self, Missing, ProjectId, Support};
use super::safe_fs::{self, Dir, EntryKind, Removal};

/// Errors from hostPath operations.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("base path {base} is not usable")]
    OpenBase {
        base: BasePath,
        #[source]
        source: safe_fs::Error,
    },
    #[error("ledger of base path {base}")]
    Ledger {
        base: BasePath,
        #[source]
        source: ledger::Error,
    },
    #[error("quota on base path {base}")]
    Quota {
        base: BasePath,
        #[source]
        source: quota::Error,
    },
    #[error("refuse to provision {volume} on {base}: {missing}")]
    QuotaUnavailable {
        volume: VolumeName,
        base: BasePath,
        missing: Missing,
    },
    #[error("no base path can fit {requested} bytes (largest allocatable: {largest} bytes)")]
    InsufficientCapacity { requested: u64, largest: u64 },
    #[error("prepare directory of {volume} on {base}")]
    CreateDir {
        volume: VolumeName,
        base: BasePath,
        #[source]
        source: safe_fs::Error,
    },
    #[error("remove directory of {volume} on {base}")]
    RemoveDir {
        volume: VolumeName,
        base: BasePath,
        #[source]
        source: safe_fs::Error,
    },
    #[error("list base path {base}")]
    List {
        base: BasePath,
        #[source]
        source: safe_fs::Error,
    },
    #[error("volume {volume} does not exist in this pool")]
    NotFound { volume: VolumeName },
    #[error(
        "base paths {first} and {second} are on the same filesystem: project ids would collide"
    )]
    SharedFilesystem { first: BasePath, second: BasePath },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Whether a volume's size is enforced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuotaState {
    Enforced(ProjectId),
    /// Provisioned under the `warn` policy: the size is not enforced.
    NotEnforced,
}

/// A provisioned hostPath volume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPathVolume {
    pub name: VolumeName,
    pub base: BasePath,
    /// The directory to put in the PV (`local.path`).
    pub path: PathBuf,
    pub size_bytes: u64,
    pub quota: QuotaState,
}

/// What a listing found of a volume on a base path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListedState {
    /// Directory under its final name.
    Ready,
    /// Only the `.partial` directory: a create was interrupted.
    Partial,
    /// Only a ledger record: a create or delete was interrupted before/after the directory.
    LedgerOnly,
}

/// A volume found by [`HostPathBackend::list`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedVolume {
    pub name: VolumeName,
    pub base: BasePath,
    pub state: ListedState,
    /// From the ledger; `None` for a directory the ledger does not know.
    pub size_bytes: Option<u64>,
}

/// The hostPath backend of one pool.
#[derive(Debug, Clone)]
pub struct HostPathBackend {
    config: HostPathPoolConfig,
}

/// An opened, checked base path with its ledger.
struct Base {
    path: BasePath,
    dir: Dir,
    ledger: Ledger,
}

/// The temporary name a volume directory is prepared under.
fn partial_name(volume: &VolumeName) -> String {
    format!(".{volume}.partial")
}

/// Decides whether a new volume gets a project id, from the quota state and the class policy.
///
/// # Errors
/// `Err(missing)` when quota is not enforced and the policy is to refuse.
pub fn quota_decision(support: Support, policy: OnNoQuota) -> Result<bool, Missing> {
    match (support, policy) {
        (Support::Enforced, _) => Ok(true),
        (Support::NotEnforced(_), OnNoQuota::Warn) => Ok(false),
        (Support::NotEnforced(missing), OnNoQuota::Refuse) => Err(missing),
    }
}

/// Picks the base path with the most allocatable bytes that fits `size`, or reports the largest.
pub fn choose_base(allocatable: &[u64], size: u64) -> Result<usize, u64> {
    let best = allocatable
        .iter()
        .enumerate()
        .max_by_key(|(i, bytes)| (**bytes, std::cmp::Reverse(*i)));
    match best {
        Some((index, &bytes)) if bytes >= size => Ok(index),
        Some((_, &bytes)) => Err(bytes),
        None => Err(0),
    }
}

impl HostPathBackend {
    pub fn new(config: HostPathPoolConfig) -> HostPathBackend {
        HostPathBackend { config }
    }

    pub fn config(&self) -> &HostPathPoolConfig {
        &self.config
    }

    /// Opens `path`, checks it is the expected mount, and opens its ledger.
    fn open_base(&self, path: &BasePath) -> Result<Base> {
        let open_error = |source| Error::OpenBase {
            base: path.clone(),
            source,
        };
        let dir = Dir::open_path(path).map_err(open_error)?;
        dir.check_mount(&self.config.mount_check)
            .map_err(open_error)?;
        let ledger = Ledger::open(&dir).map_err(|source| Error::Ledger {
            base: path.clone(),
            source,
        })?;
        Ok(Base {
            path: path.clone(),
            dir,
            ledger,
        })
    }

    fn lock<'a>(&self, base: &'a Base) -> Result<LockedLedger<'a>> {
        base.ledger.lock().map_err(|source| Error::Ledger {
            base: base.path.clone(),
            source,
        })
    }

    /// Bytes that can still be promised on `base`: free space and unpromised space, minus the reserve.
    fn allocatable(&self, base: &Base, ledger: &LockedLedger<'_>) -> Result<u64> {
        let space = base.dir.space().map_err(|source| Error::OpenBase {
            base: base.path.clone(),
            source,
        })?;
        let unpromised = space.total.saturating_sub(ledger.promised_bytes());
        Ok(space
            .available
            .min(unpromised)
            .saturating_sub(self.config.reserve_bytes))
    }

    /// Whether `base` holds anything of `volume` (ledger record, final or partial directory).
    fn holds(&self, base: &Base, volume: &VolumeName) -> Result<bool> {
        let kind = |name: &str| {
            base.dir.entry_kind(name).map_err(|source| Error::OpenBase {
                base: base.path.clone(),
                source,
            })
        };
        Ok(self.lock(base)?.get(volume).is_some()
            || kind(volume.as_str())?.is_some()
            || kind(&partial_name(volume))?.is_some())
    }

    /// Creates `volume` of `size_bytes`, or finishes an interrupted create. Idempotent.
    ///
    /// # Errors
    /// No usable base path, no quota under the `refuse` policy, not enough space, filesystem errors.
    pub fn create(
        &self,
        volume: &VolumeName,
        size_bytes: u64,
        policy: OnNoQuota,
    ) -> Result<HostPathVolume> {
        let mut usable = Vec::new();
        let mut first_error = None;
        for path in &self.config.base_paths {
            match self.open_base(path) {
                Ok(base) => usable.push(base),
                Err(error) => {
                    tracing::warn!(base = %path, %error, "base path unusable, not provisioning on it");
                    first_error.get_or_insert(error);
                }
            }
        }
        if let Some(error) = first_error.filter(|_| usable.is_empty()) {
            return Err(error);
        }
        for base in &usable {
            if self.holds(base, volume)? {
                return self.create_on(base, volume, size_bytes, policy);
            }
        }
        let mut allocatable = Vec::with_capacity(usable.len());
        for base in &usable {
            let ledger = self.lock(base)?;
            allocatable.push(self.allocatable(base, &ledger)?);
        }
        match choose_base(&allocatable, size_bytes) {
            Ok(index) => self.create_on(&usable[index], volume, size_bytes, policy),
            Err(largest) => Err(Error::InsufficientCapacity {
                requested: size_bytes,
                largest,
            }),
        }
    }

    fn create_on(
        &self,
        base: &Base,
        volume: &VolumeName,
        size_bytes: u64,
        policy: OnNoQuota,
    ) -> Result<HostPathVolume> {
        let quota_error = |source| Error::Quota {
            base: base.path.clone(),
            source,
        };
        let dir_error = |source| Error::CreateDir {
            volume: volume.clone(),
            base: base.path.clone(),
            source,
        };
        let mut ledger = self.lock(base)?;
        let record = match ledger.get(volume) {
            Some(record) => record,
            None => {
                // Re-checked under the lock: a concurrent create may have taken the space meanwhile.
                let largest = self.allocatable(base, &ledger)?;
                if largest < size_bytes {
                    return Err(Error::InsufficientCapacity {
                        requested: size_bytes,
                        largest,
                    });
                }
                let support = quota::probe(&base.dir).map_err(quota_error)?;
                let with_project =
                    quota_decision(support, policy).map_err(|missing| Error::QuotaUnavailable {
                        volume: volume.clone(),
                        base: base.path.clone(),
                        missing,
                    })?;
                ledger
                    .allocate(volume, size_bytes, with_project, self.config.project_ids)
                    .map_err(|source| Error::Ledger {
                        base: base.path.clone(),
                        source,
                    })?
            }
        };
        // Crash point: the ledger names the volume and holds its project id, no directory may exist yet.
        // A retry takes this record; a delete releases it.
        let final_dir = match base.dir.open_subdir(volume.as_str()).map_err(dir_error)? {
            Some(dir) => dir,
            None => {
                let partial = partial_name(volume);
                let (dir, _) = base
                    .dir
                    .ensure_subdir(&partial, self.config.dir_mode)
                    .map_err(dir_error)?;
                if let Some(project) = record.project {
                    quota::assign_project(&dir, project).map_err(quota_error)?;
                    quota::set_limit(&base.dir, project, record.size_bytes).map_err(quota_error)?;
                }
                // Crash point: a complete `.partial` directory; a retry reuses it, a delete removes it.
                base.dir
                    .rename(&partial, volume.as_str())
                    .map_err(dir_error)?;
                dir
            }
        };
        // Idempotent re-application: covers a directory renamed in place by an older run.
        if let Some(project) = record.project {
            quota::assign_project(&final_dir, project).map_err(quota_error)?;
            quota::set_limit(&base.dir, project, record.size_bytes).map_err(quota_error)?;
        }
        Ok(self.volume_of(base, volume, record))
    }

    fn volume_of(&self, base: &Base, volume: &VolumeName, record: Record) -> HostPathVolume {
        HostPathVolume {
            name: volume.clone(),
            base: base.path.clone(),
            path: base.path.join_volume(volume),
            size_bytes: record.size_bytes,
            quota: record
                .project
                .map_or(QuotaState::NotEnforced, QuotaState::Enforced),
        }
    }

    /// The usable base holding `volume`; errors when it is nowhere and some base path is unusable.
    fn find(&self, volume: &VolumeName) -> Result<Option<Base>> {
        let mut first_error = None;
        for path in &self.config.base_paths {
            match self.open_base(path) {
                Ok(base) if self.holds(&base, volume)? => return Ok(Some(base)),
                Ok(_) => {}
                Err(error) => {
                    first_error.get_or_insert(error);
                }
            }
        }
        // Not found, but an unusable base path might hold it: we cannot say it does not exist.
        first_error.map_or(Ok(None), Err)
    }

    /// Grows `volume` to `size_bytes` (a smaller or equal size changes nothing). Idempotent.
    pub fn expand(&self, volume: &VolumeName, size_bytes: u64) -> Result<HostPathVolume> {
        let Some(base) = self.find(volume)? else {
            return Err(Error::NotFound {
                volume: volume.clone(),
            });
        };
        let mut ledger = self.lock(&base)?;
        let Some(record) = ledger.get(volume) else {
            return Err(Error::NotFound {
                volume: volume.clone(),
            });
        };
        if size_bytes <= record.size_bytes {
            return Ok(self.volume_of(&base, volume, record));
        }
        let growth = size_bytes - record.size_bytes;
        let largest = self.allocatable(&base, &ledger)?;
        if largest < growth {
            return Err(Error::InsufficientCapacity {
                requested: growth,
                largest,
            });
        }
        if let Some(project) = record.project {
            quota::set_limit(&base.dir, project, size_bytes).map_err(|source| Error::Quota {
                base: base.path.clone(),
                source,
            })?;
        }
        // Crash point: the limit is raised but the ledger still has the old size; a retry sees the old
        // size, raises the limit again (idempotent) and records the new one.
        let grown = Record {
            size_bytes,
            ..record
        };
        ledger.put(volume, grown).map_err(|source| Error::Ledger {
            base: base.path.clone(),
            source,
        })?;
        Ok(self.volume_of(&base, volume, grown))
    }

    /// Deletes `volume`: its directory (never following symlinks or crossing mounts), its quota limit and
    /// its ledger record. "Already gone" is success; an unusable base path is an error, because the
    /// volume may be on it.
    pub fn delete(&self, volume: &VolumeName) -> Result<Removal> {
        let Some(base) = self.find(volume)? else {
            return Ok(Removal::AlreadyGone);
        };
        let remove_error = |source| Error::RemoveDir {
            volume: volume.clone(),
            base: base.path.clone(),
            source,
        };
        base.dir
            .remove_tree(volume.as_str())
            .map_err(remove_error)?;
        base.dir
            .remove_tree(partial_name(volume))
            .map_err(remove_error)?;
        // Crash point: the directory is gone, the ledger still names the volume; a retry finds the record
        // and finishes here.
        let mut ledger = self.lock(&base)?;
        if let Some(project) = ledger.get(volume).and_then(|record| record.project) {
            quota::clear_limit(&base.dir, project).map_err(|source| Error::Quota {
                base: base.path.clone(),
                source,
            })?;
        }
        ledger.remove(volume).map_err(|source| Error::Ledger {
            base: base.path.clone(),
            source,
        })?;
        Ok(Removal::Removed)
    }

    /// Every volume present on the pool's base paths, complete or not (for orphan detection).
    ///
    /// # Errors
    /// Any unusable base path: a partial listing would make present volumes look missing.
    pub fn list(&self) -> Result<Vec<ListedVolume>> {
        let mut listed = Vec::new();
        for path in &self.config.base_paths {
            let base = self.open_base(path)?;
            let entries = base.dir.entries().map_err(|source| Error::List {
                base: path.clone(),
                source,
            })?;
            let ledger = self.lock(&base)?;
            let mut found = std::collections::BTreeMap::new();
            for entry in entries.iter().filter(|e| e.kind == EntryKind::Dir) {
                let Some(name) = entry.name.to_str() else {
                    continue;
                };
                let parsed = match name
                    .strip_prefix('.')
                    .and_then(|n| n.strip_suffix(".partial"))
                {
                    Some(inner) => inner.parse().ok().map(|v| (v, ListedState::Partial)),
                    None => name.parse().ok().map(|v| (v, ListedState::Ready)),
                };
                if let Some((volume, state)) = parsed {
                    // A final directory wins over a leftover partial one.
                    let seen = found.entry(volume).or_insert(state);
                    if state == ListedState::Ready {
                        *seen = ListedState::Ready;
                    }
                }
            }
            for volume in ledger.volumes().keys() {
                found
                    .entry(volume.clone())
                    .or_insert(ListedState::LedgerOnly);
            }
            listed.extend(found.into_iter().map(|(name, state)| ListedVolume {
                size_bytes: ledger.get(&name).map(|r| r.size_bytes),
                name,
                base: path.clone(),
                state,
            }));
        }
        Ok(listed)
    }

    /// What can still be provisioned; an unusable base path counts as zero.
    pub fn capacity(&self) -> Result<Capacity> {
        let mut capacity = Capacity::default();
        for path in &self.config.base_paths {
            let base = match self.open_base(path) {
                Ok(base) => base,
                Err(error) => {
                    tracing::warn!(base = %path, %error, "base path unusable, counting no capacity");
                    continue;
                }
            };
            let ledger = self.lock(&base)?;
            let bytes = self.allocatable(&base, &ledger)?;
            capacity.available_bytes = capacity.available_bytes.saturating_add(bytes);
            capacity.maximum_volume_bytes = capacity.maximum_volume_bytes.max(bytes);
        }
        Ok(capacity)
    }

    /// Space used by `volume` and its limit; `None` when its size is not enforced.
    pub fn usage(&self, volume: &VolumeName) -> Result<Option<quota::Usage>> {
        let Some(base) = self.find(volume)? else {
            return Err(Error::NotFound {
                volume: volume.clone(),
            });
        };
        let project = self.lock(&base)?.get(volume).and_then(|r| r.project);
        project
            .map(|project| {
                quota::usage(&base.dir, project).map_err(|source| Error::Quota {
                    base: base.path.clone(),
                    source,
                })
            })
            .transpose()
    }
}

/// Refuses configurations where two base paths share a filesystem (bind mounts of one disk): their
/// ledgers would hand out the same project ids. Call once at agent start with every hostPath base path.
pub fn check_distinct_filesystems(paths: &[BasePath]) -> Result<()> {
    let mut seen: Vec<(u64, &BasePath)> = Vec::new();
    for path in paths {
        let open_error = |source| Error::OpenBase {
            base: path.clone(),
            source,
        };
        let stat = Dir::open_path(path)
            .and_then(|dir| dir.stat())
            .map_err(open_error)?;
        if let Some((_, first)) = seen.iter().find(|(dev, _)| *dev == stat.st_dev) {
            return Err(Error::SharedFilesystem {
                first: (*first).clone(),
                second: path.clone(),
            });
        }
        seen.push((stat.st_dev, path));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quota_policy_decisions() {
        let missing = Missing::NotEnabled;
        assert_eq!(
            quota_decision(Support::Enforced, OnNoQuota::Refuse),
            Ok(true)
        );
        assert_eq!(quota_decision(Support::Enforced, OnNoQuota::Warn), Ok(true));
        assert_eq!(
            quota_decision(Support::NotEnforced(missing), OnNoQuota::Warn),
            Ok(false)
        );
        assert_eq!(
            quota_decision(Support::NotEnforced(missing), OnNoQuota::Refuse),
            Err(missing)
        );
    }

    #[test]
    fn base_choice_takes_the_roomiest_that_fits() {
        assert_eq!(choose_base(&[10, 30, 20], 15), Ok(1));
        assert_eq!(choose_base(&[30, 30], 30), Ok(0));
        assert_eq!(choose_base(&[10, 5], 11), Err(10));
        assert_eq!(choose_base(&[], 1), Err(0));
    }

    #[test]
    fn partial_names_are_hidden_and_not_volume_names() {
        let volume: VolumeName = "pvc-1".parse().unwrap();
        assert_eq!(partial_name(&volume), ".pvc-1.partial");
        assert!(partial_name(&volume).parse::<VolumeName>().is_err());
    }
}
