//! Filesystems on block devices: probe, mkfs (ext4/xfs), mount under the agent's mount root, unmount, grow.
//!
//! Tools (blkid, mkfs, resize2fs, xfs_growfs) run through [`exec`](super::exec); mount and unmount are
//! syscalls. Mount targets are `<mount root>/<volume>`, opened without following symlinks, and the mount
//! call addresses the opened directory (`/proc/self/fd/N`), so a swapped path cannot redirect it.
use std::os::fd::{AsFd, AsRawFd};
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::errno::Errno;
use nix::mount::{MntFlags, MsFlags};

use super::exec;
use super::names::{BasePath, FsType, VolumeName};
use super::safe_fs::{self, Dir, Removal};

/// mkfs and growers on large devices take a while; they are not waiting for locks.
const FILESYSTEM_TOOL_TIMEOUT: Duration = Duration::from_secs(600);

/// Errors from filesystem and mount operations.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("probe filesystem on {device}")]
    ProbeFilesystem {
        device: PathBuf,
        #[source]
        source: exec::Error,
    },
    #[error("create {fs_type} filesystem on {device}")]
    MakeFilesystem {
        device: PathBuf,
        fs_type: FsType,
        #[source]
        source: exec::Error,
    },
    #[error(
        "{device} already holds a {found} filesystem, expected {expected}: refusing to format it"
    )]
    FilesystemMismatch {
        device: PathBuf,
        found: String,
        expected: FsType,
    },
    #[error("prepare mount target {target}")]
    MountTarget {
        target: PathBuf,
        #[source]
        source: safe_fs::Error,
    },
    #[error("inspect device {device}")]
    StatDevice {
        device: PathBuf,
        #[source]
        source: Errno,
    },
    #[error("{target} is already a mount point of another device than {device}")]
    MountedElsewhere { target: PathBuf, device: PathBuf },
    #[error("mount {device} on {target}")]
    Mount {
        device: PathBuf,
        target: PathBuf,
        #[source]
        source: Errno,
    },
    #[error("unmount {target}")]
    Unmount {
        target: PathBuf,
        #[source]
        source: Errno,
    },
    #[error("grow {fs_type} filesystem on {device}")]
    GrowFilesystem {
        device: PathBuf,
        fs_type: FsType,
        #[source]
        source: exec::Error,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What `ensure_filesystem` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prepared {
    Created,
    Existing,
}

fn device_str(device: &Path) -> String {
    device.to_string_lossy().into_owned()
}

/// The filesystem signature on `device` (blkid's TYPE, e.g. "ext4"), or `None` when it holds none.
pub async fn probe_filesystem(device: &Path) -> Result<Option<String>> {
    let command = exec::Command::new("blkid")
        .args(["-p", "-o", "value", "-s", "TYPE"])
        .arg(device_str(device));
    match exec::run(&command).await {
        Ok(output) => Ok(Some(output.stdout.trim().to_owned()).filter(|t| !t.is_empty())),
        // blkid exits with 2 when it finds no signature at all.
        Err(error) if error.exit_code() == Some(2) => Ok(None),
        Err(source) => Err(Error::ProbeFilesystem {
            device: device.to_owned(),
            source,
        }),
    }
}

/// The mkfs command line: quiet, no discard (a new volume holds nothing to discard), never forced, so
/// mkfs itself refuses a device that has a signature.
pub fn mkfs_command(device: &Path, fs_type: FsType) -> exec::Command {
    let command = match fs_type {
        FsType::Ext4 => exec::Command::new("mkfs.ext4").args(["-q", "-E", "nodiscard"]),
        FsType::Xfs => exec::Command::new("mkfs.xfs").args(["-q", "-K"]),
    };
    command
        .arg(device_str(device))
        .timeout(FILESYSTEM_TOOL_TIMEOUT)
}

/// Makes sure `device` holds a `fs_type` filesystem: formats it only when it holds no signature at all.
///
/// # Errors
/// Another filesystem (or any signature) on the device is never overwritten.
pub async fn ensure_filesystem(device: &Path, fs_type: FsType) -> Result<Prepared> {
    match probe_filesystem(device).await? {
        Some(found) if found == fs_type.as_str() => Ok(Prepared::Existing),
        Some(found) => Err(Error::FilesystemMismatch {
            device: device.to_owned(),
            found,
            expected: fs_type,
        }),
        None => {
            exec::run(&mkfs_command(device, fs_type))
                .await
                .map_err(|source| Error::MakeFilesystem {
                    device: device.to_owned(),
                    fs_type,
                    source,
                })?;
            Ok(Prepared::Created)
        }
    }
}

/// The mount target of `volume` below `root`.
pub fn target_path(root: &BasePath, volume: &VolumeName) -> PathBuf {
    root.join_volume(volume)
}

fn target_error(root: &BasePath, volume: &VolumeName) -> impl Fn(safe_fs::Error) -> Error {
    let target = target_path(root, volume);
    move |source| Error::MountTarget {
        target: target.clone(),
        source,
    }
}

/// Whether `<root>/<volume>` is currently a mount point; false when it does not exist.
pub fn is_mounted(root: &BasePath, volume: &VolumeName) -> Result<bool> {
    let to_error = target_error(root, volume);
    let root_dir = Dir::open_path(root).map_err(&to_error)?;
    match root_dir
        .open_subdir_or_mount(volume.as_str())
        .map_err(&to_error)?
    {
        Some(target) => target.is_mount_root().map_err(&to_error),
        None => Ok(false),
    }
}

/// Mounts `device` (holding `fs_type`) on `<root>/<volume>` unless it is already mounted there. Creates the
/// target directory (mode 0750). Idempotent; used at create time and to re-establish mounts at start.
///
/// # Errors
/// A different device mounted on the target, a symlink at the target, mount failures.
pub fn ensure_mounted(
    device: &Path,
    fs_type: FsType,
    root: &BasePath,
    volume: &VolumeName,
) -> Result<PathBuf> {
    let to_error = target_error(root, volume);
    let target = target_path(root, volume);
    let root_dir = Dir::open_path(root).map_err(&to_error)?;
    let device_id = nix::sys::stat::stat(device)
        .map_err(|source| Error::StatDevice {
            device: device.to_owned(),
            source,
        })?
        .st_rdev;
    let existing = root_dir
        .open_subdir_or_mount(volume.as_str())
        .map_err(&to_error)?;
    if let Some(existing) = existing
        && existing.is_mount_root().map_err(&to_error)?
    {
        // Mounted already: fine if it is this device (a restart, a retried create), never stack another.
        let mounted = existing.stat().map_err(&to_error)?.st_dev;
        return match mounted == device_id {
            true => Ok(target),
            false => Err(Error::MountedElsewhere {
                target,
                device: device.to_owned(),
            }),
        };
    }
    let (dir, _) = root_dir
        .ensure_subdir(volume.as_str(), 0o750)
        .map_err(&to_error)?;
    let via_fd = PathBuf::from(format!("/proc/self/fd/{}", dir.as_fd().as_raw_fd()));
    nix::mount::mount(
        Some(device),
        &via_fd,
        Some(fs_type.as_str()),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        None::<&str>,
    )
    .map_err(|source| Error::Mount {
        device: device.to_owned(),
        target: target.clone(),
        source,
    })?;
    Ok(target)
}

/// Unmounts `<root>/<volume>` if mounted and removes the (then empty) target directory. Idempotent.
pub fn unmount(root: &BasePath, volume: &VolumeName) -> Result<Removal> {
    let to_error = target_error(root, volume);
    let target = target_path(root, volume);
    let root_dir = match Dir::open_path(root) {
        Ok(dir) => dir,
        // No mount root yet: nothing was ever mounted below it.
        Err(safe_fs::Error::Open {
            source: Errno::ENOENT,
            ..
        }) => return Ok(Removal::AlreadyGone),
        Err(other) => return Err(to_error(other)),
    };
    let mounted = match root_dir
        .open_subdir_or_mount(volume.as_str())
        .map_err(&to_error)?
    {
        Some(dir) => dir.is_mount_root().map_err(&to_error)?,
        None => return Ok(Removal::AlreadyGone),
    };
    if mounted {
        match nix::mount::umount2(&target, MntFlags::UMOUNT_NOFOLLOW) {
            // EINVAL: not a mount point any more (unmounted meanwhile).
            Ok(()) | Err(Errno::EINVAL) => {}
            Err(source) => return Err(Error::Unmount { target, source }),
        }
    }
    // Refuses (error) if something is still mounted there, e.g. a second stacked mount.
    root_dir.remove_tree(volume.as_str()).map_err(&to_error)?;
    Ok(Removal::Removed)
}

/// Grows the filesystem on `device`, mounted at `target`, to the size of the device. Idempotent.
pub async fn grow_filesystem(device: &Path, fs_type: FsType, target: &Path) -> Result<()> {
    let command = match fs_type {
        FsType::Ext4 => exec::Command::new("resize2fs").arg(device_str(device)),
        // xfs_growfs works on the mounted filesystem, addressed by its mount point.
        FsType::Xfs => exec::Command::new("xfs_growfs").arg(target.to_string_lossy()),
    };
    exec::run(&command.timeout(FILESYSTEM_TOOL_TIMEOUT))
        .await
        .map(drop)
        .map_err(|source| Error::GrowFilesystem {
            device: device.to_owned(),
            fs_type,
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mkfs_is_never_forced() {
        let device = Path::new("/dev/loop7");
        assert_eq!(
            mkfs_command(device, FsType::Ext4).argv().to_string(),
            "mkfs.ext4 -q -E nodiscard /dev/loop7"
        );
        assert_eq!(
            mkfs_command(device, FsType::Xfs).argv().to_string(),
            "mkfs.xfs -q -K /dev/loop7"
        );
    }
}
