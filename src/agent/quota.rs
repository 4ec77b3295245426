//! Project quotas on ext4 (`prjquota`) and XFS (`pquota`): probing, project ids on directories, limits.
//!
//! Everything goes through syscalls on an open descriptor (`FS_IOC_FS[GS]ETXATTR`, `quotactl_fd`), so the
//! agent needs neither the quota tools nor the block device path, and works the same in any mount
//! namespace (OpenEBS #343). The generic `Q_GETQUOTA`/`Q_SETQUOTA` commands serve both filesystems.
use std::fmt;
use std::os::fd::AsFd;
use std::path::PathBuf;

use nix::errno::Errno;
use serde::{Deserialize, Serialize};

use super::safe_fs::Dir;
use super::sys;

/// Errors from quota operations.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("probe project quota on {path}")]
    Probe {
        path: PathBuf,
        #[source]
        source: Errno,
    },
    #[error("read project id of {path}")]
    ReadProject {
        path: PathBuf,
        #[source]
        source: Errno,
    },
    #[error("set project id {project} on {path}")]
    AssignProject {
        path: PathBuf,
        project: ProjectId,
        #[source]
        source: Errno,
    },
    #[error("set quota limit of project {project} on {path}")]
    SetLimit {
        path: PathBuf,
        project: ProjectId,
        #[source]
        source: Errno,
    },
    #[error("read quota of project {project} on {path}")]
    ReadUsage {
        path: PathBuf,
        project: ProjectId,
        #[source]
        source: Errno,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A filesystem project id. 0 is every file's default project and is never allocated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u32", into = "u32")]
pub struct ProjectId(u32);

impl TryFrom<u32> for ProjectId {
    type Error = &'static str;

    fn try_from(id: u32) -> std::result::Result<ProjectId, &'static str> {
        ProjectId::new(id).ok_or("project id 0 is the default project, not a volume's")
    }
}

impl From<ProjectId> for u32 {
    fn from(id: ProjectId) -> u32 {
        id.0
    }
}

impl ProjectId {
    /// A project id for a volume; `None` for 0, the default project.
    pub fn new(id: u32) -> Option<ProjectId> {
        (id != 0).then_some(ProjectId(id))
    }

    pub fn get(&self) -> u32 {
        self.0
    }
}

impl fmt::Display for ProjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Whether project quota limits are enforced on a filesystem.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Support {
    Enforced,
    NotEnforced(Missing),
}

/// Why project quota is not enforced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    /// Usage is counted but limits are not enforced (XFS `pqnoenforce`, ext4 quota feature without
    /// `prjquota`).
    AccountingOnly,
    /// The filesystem supports quota but project quota is off (mount without `prjquota`/`pquota`).
    NotEnabled,
    /// The kernel or the filesystem type has no quota support.
    NoKernelSupport,
}

impl fmt::Display for Missing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Missing::AccountingOnly => {
                "project quota is accounted but not enforced (mount ext4 with prjquota, XFS with pquota)"
            }
            Missing::NotEnabled => {
                "project quota is not enabled (ext4: mkfs -O quota,project and mount -o prjquota; \
                 XFS: mount -o pquota)"
            }
            Missing::NoKernelSupport => {
                "the kernel or this filesystem type has no quota support"
            }
        })
    }
}

/// Classifies the answer of `Q_XGETQSTATV` for project quota.
pub fn classify(flags: nix::Result<u16>) -> Result<Support, Errno> {
    match flags {
        Ok(flags) if flags & sys::QUOTA_PDQ_ENFD != 0 => Ok(Support::Enforced),
        Ok(flags) if flags & sys::QUOTA_PDQ_ACCT != 0 => {
            Ok(Support::NotEnforced(Missing::AccountingOnly))
        }
        Ok(_) | Err(Errno::ESRCH) => Ok(Support::NotEnforced(Missing::NotEnabled)),
        Err(Errno::ENOSYS | Errno::EOPNOTSUPP | Errno::ENOTTY | Errno::EINVAL) => {
            Ok(Support::NotEnforced(Missing::NoKernelSupport))
        }
        Err(other) => Err(other),
    }
}

/// Whether project quota is enforced on the filesystem holding `dir`.
pub fn probe(dir: &Dir) -> Result<Support> {
    classify(sys::project_quota_flags(dir.as_fd())).map_err(|source| Error::Probe {
        path: dir.path().to_owned(),
        source,
    })
}

/// The project id of `dir` and whether new entries inherit it; `None` for the default project 0.
pub fn project_of(dir: &Dir) -> Result<(Option<ProjectId>, bool)> {
    let attr = sys::get_fsxattr(dir.as_fd()).map_err(|source| Error::ReadProject {
        path: dir.path().to_owned(),
        source,
    })?;
    Ok((
        ProjectId::new(attr.projid),
        attr.xflags & sys::XFLAG_PROJINHERIT != 0,
    ))
}

/// Puts `dir` in `project` and makes everything created below it inherit the project. Idempotent.
pub fn assign_project(dir: &Dir, project: ProjectId) -> Result<()> {
    let assign_error = |source| Error::AssignProject {
        path: dir.path().to_owned(),
        project,
        source,
    };
    let mut attr = sys::get_fsxattr(dir.as_fd()).map_err(assign_error)?;
    if attr.projid == project.0 && attr.xflags & sys::XFLAG_PROJINHERIT != 0 {
        return Ok(());
    }
    attr.projid = project.0;
    attr.xflags |= sys::XFLAG_PROJINHERIT;
    sys::set_fsxattr(dir.as_fd(), &attr).map_err(assign_error)
}

/// Quota blocks for a byte size: rounded up, and at least one block (0 would mean "no limit").
pub fn blocks_for(bytes: u64) -> u64 {
    bytes.div_ceil(sys::QUOTA_BLOCK_SIZE).max(1)
}

/// Sets the hard (and soft) block limit of `project` on the filesystem holding `fs` to `bytes`, rounded
/// up to whole KiB. Idempotent; raising and lowering are the same call.
pub fn set_limit(fs: &Dir, project: ProjectId, bytes: u64) -> Result<()> {
    sys::set_project_block_limit(fs.as_fd(), project.0, blocks_for(bytes)).map_err(|source| {
        Error::SetLimit {
            path: fs.path().to_owned(),
            project,
            source,
        }
    })
}

/// Removes the block limit of `project` (a freed id then carries no stale limit into its next use).
pub fn clear_limit(fs: &Dir, project: ProjectId) -> Result<()> {
    sys::set_project_block_limit(fs.as_fd(), project.0, 0).map_err(|source| Error::SetLimit {
        path: fs.path().to_owned(),
        project,
        source,
    })
}

/// Space used by a project and its hard limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    pub used_bytes: u64,
    /// `None` when the project has no limit.
    pub limit_bytes: Option<u64>,
}

/// Usage and limit of `project` on the filesystem holding `fs`.
pub fn usage(fs: &Dir, project: ProjectId) -> Result<Usage> {
    let record = match sys::get_project_quota(fs.as_fd(), project.0) {
        Ok(record) => record,
        // XFS reports a project with no usage and no limits as nonexistent.
        Err(Errno::ENOENT) => {
            return Ok(Usage {
                used_bytes: 0,
                limit_bytes: None,
            });
        }
        Err(source) => {
            return Err(Error::ReadUsage {
                path: fs.path().to_owned(),
                project,
                source,
            });
        }
    };
    Ok(Usage {
        used_bytes: record.dqb_curspace,
        limit_bytes: (record.dqb_bhardlimit != 0)
            .then(|| record.dqb_bhardlimit.saturating_mul(sys::QUOTA_BLOCK_SIZE)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quota_state_classification() {
        let cases = [
            (Ok(0x30), Ok(Support::Enforced)),
            (Ok(0x10), Ok(Support::NotEnforced(Missing::AccountingOnly))),
            (Ok(0x03), Ok(Support::NotEnforced(Missing::NotEnabled))),
            (
                Err(Errno::ESRCH),
                Ok(Support::NotEnforced(Missing::NotEnabled)),
            ),
            (
                Err(Errno::ENOSYS),
                Ok(Support::NotEnforced(Missing::NoKernelSupport)),
            ),
            (
                Err(Errno::EOPNOTSUPP),
                Ok(Support::NotEnforced(Missing::NoKernelSupport)),
            ),
            (Err(Errno::EIO), Err(Errno::EIO)),
        ];
        for (flags, expected) in cases {
            assert_eq!(classify(flags), expected, "{flags:?}");
        }
    }

    #[test]
    fn limits_round_up_to_whole_kib_and_never_to_zero() {
        assert_eq!(blocks_for(0), 1);
        assert_eq!(blocks_for(1), 1);
        assert_eq!(blocks_for(1024), 1);
        assert_eq!(blocks_for(1025), 2);
        assert_eq!(blocks_for(1 << 30), 1 << 20);
    }

    #[test]
    fn project_zero_is_not_a_volume_project() {
        assert_eq!(ProjectId::new(0), None);
        assert_eq!(ProjectId::new(7).map(|p| p.get()), Some(7));
    }
}
