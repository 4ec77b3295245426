//! The node's disk side of pod volumes: where each backing lives under the node root, its `type` checks, and the
//! per-pod directories (emptyDirs, container roots, logs) the kubelet owns.
//!
//! A simulated node's filesystem is its root directory: a PV path `/mnt/disks/vol1` means
//! `<root_dir>/mnt/disks/vol1`, so that several simulated nodes on one machine have separate disks. Per-pod state
//! lives in `<root_dir>/var/lib/kubelet/pods/<uid>/` and container logs in `<root_dir>/var/log/pods/`.

use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use super::volumes::{Backing, PodVolume};

/// Errors of the kubelet's own directory housekeeping.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Removing a pod's directory failed.
    #[error("remove pod directory {path:?}")]
    RemovePodDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A pod directory still has a mount point beneath it in the kubelet's namespace; refusing to delete data.
    #[error("refusing to remove pod directory {path:?}: {mount:?} is mounted beneath it")]
    MountedBeneath { path: PathBuf, mount: String },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A pod volume ready to be bound into containers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreparedVolume {
    pub name: String,
    /// The host path holding the volume's data.
    pub host_path: PathBuf,
    /// A raw block volume (exposed through `volumeDevices`) rather than a directory.
    pub block: bool,
}

/// The node path of `path` (an absolute path as written in a PV or pod) under the node root.
///
/// # Errors
/// A message when `path` is relative or contains `..` (it could escape the node root).
pub fn node_path(root_dir: &Path, path: &str) -> Result<PathBuf, String> {
    let parsed = Path::new(path);
    let mut resolved = root_dir.to_path_buf();
    for component in parsed.components() {
        match component {
            Component::RootDir | Component::CurDir => {}
            Component::Normal(name) => resolved.push(name),
            Component::ParentDir | Component::Prefix(_) => {
                return Err(format!("path {path:?} must not contain '..'"));
            }
        }
    }
    if parsed.is_absolute() {
        Ok(resolved)
    } else {
        Err(format!("path {path:?} must be absolute"))
    }
}

/// The directory holding a pod's kubelet state.
pub fn pod_dir(root_dir: &Path, pod_uid: &str) -> PathBuf {
    root_dir.join("var/lib/kubelet/pods").join(pod_uid)
}

/// The (empty) host directory over which a container's root tmpfs is mounted.
pub fn rootfs_dir(pod_dir: &Path, container: &str) -> PathBuf {
    pod_dir.join("containers").join(container).join("rootfs")
}

/// The log file of one run of a container.
pub fn log_file(
    root_dir: &Path,
    pod: (&str, &str, &str),
    container: &str,
    restart: i32,
) -> PathBuf {
    let (namespace, name, uid) = pod;
    root_dir
        .join("var/log/pods")
        .join(format!("{namespace}_{name}_{uid}"))
        .join(container)
        .join(format!("{restart}.log"))
}

/// Finds or creates each volume's host path, applying the `local` and `hostPath` rules.
///
/// # Errors
/// A FailedMount-style message for the first volume that is not usable (missing `local` path, failed `type`
/// check, uncreatable directory).
pub fn prepare(
    root_dir: &Path,
    pod_dir: &Path,
    volumes: &[PodVolume],
) -> Result<Vec<PreparedVolume>, String> {
    volumes
        .iter()
        .map(|volume| {
            let (host_path, block) = prepare_one(root_dir, pod_dir, volume)?;
            Ok(PreparedVolume {
                name: volume.name.clone(),
                host_path,
                block,
            })
        })
        .collect()
}

fn prepare_one(
    root_dir: &Path,
    pod_dir: &Path,
    volume: &PodVolume,
) -> Result<(PathBuf, bool), String> {
    let name = &volume.name;
    let setup_failed =
        |detail: String| format!("MountVolume.SetUp failed for volume {name:?} : {detail}");
    match &volume.backing {
        Backing::Local { pv, path, block } => {
            let host = node_path(root_dir, path).map_err(setup_failed)?;
            let fits = std::fs::metadata(&host).map(|m| m.is_dir() != *block);
            match fits {
                Ok(true) => Ok((host, *block)),
                Ok(false) => Err(format!(
                    "MountVolume.NewMounter initialization failed for volume {pv:?} : path {path:?} is not a {}",
                    if *block {
                        "block device or file"
                    } else {
                        "directory"
                    }
                )),
                Err(_) => Err(format!(
                    "MountVolume.NewMounter initialization failed for volume {pv:?} : path {path:?} does not exist"
                )),
            }
        }
        Backing::HostPath { path, kind } => {
            let host = node_path(root_dir, path).map_err(setup_failed)?;
            check_host_path(&host, kind)
                .map_err(|detail| setup_failed(format!("hostPath {path:?}: {detail}")))?;
            let block = !host.is_dir();
            Ok((host, block))
        }
        Backing::EmptyDir => ensure_pod_dir(pod_dir, "empty-dir", name).map_err(setup_failed),
        Backing::Placeholder { kind } => ensure_pod_dir(pod_dir, kind, name).map_err(setup_failed),
    }
}

/// The `hostPath.type` semantics; `""` still requires the path to exist, since binding a missing path fails.
fn check_host_path(host: &Path, kind: &str) -> Result<(), String> {
    let file_type = std::fs::metadata(host).map(|m| m.file_type()).ok();
    let mismatch = |what: &str| Err(format!("hostPath type check failed: is not a {what}"));
    match (kind, file_type) {
        ("DirectoryOrCreate", None) => create_dir(host),
        ("FileOrCreate", None) => create_file(host),
        ("" | "Directory" | "File" | "Socket" | "CharDevice" | "BlockDevice", None) => {
            Err("does not exist".to_string())
        }
        ("", Some(_)) => Ok(()),
        ("Directory" | "DirectoryOrCreate", Some(t)) => {
            if t.is_dir() {
                Ok(())
            } else {
                mismatch("directory")
            }
        }
        ("File" | "FileOrCreate", Some(t)) => {
            if t.is_file() {
                Ok(())
            } else {
                mismatch("file")
            }
        }
        ("Socket", Some(t)) => {
            if t.is_socket() {
                Ok(())
            } else {
                mismatch("socket")
            }
        }
        ("CharDevice", Some(t)) => {
            if t.is_char_device() {
                Ok(())
            } else {
                mismatch("character device")
            }
        }
        ("BlockDevice", Some(t)) => {
            if t.is_block_device() {
                Ok(())
            } else {
                mismatch("block device")
            }
        }
        (other, _) => Err(format!("unknown hostPath type {other:?}")),
    }
}

fn create_dir(path: &Path) -> Result<(), String> {
    std::fs::create_dir_all(path)
        .and_then(|()| std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)))
        .map_err(|e| format!("create directory: {e}"))
}

fn create_file(path: &Path) -> Result<(), String> {
    let create = || {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644))
    };
    create().map_err(|e| format!("create file: {e}"))
}

/// A pod-owned volume directory (emptyDir and placeholders), as the real kubelet lays them out.
fn ensure_pod_dir(pod_dir: &Path, kind: &str, name: &str) -> Result<(PathBuf, bool), String> {
    let dir = pod_dir
        .join("volumes")
        .join(format!("kubernetes.io~{kind}"))
        .join(name);
    std::fs::create_dir_all(&dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
    Ok((dir, false))
}

/// Deletes a pod's kubelet directory (emptyDirs, container root mount points). PV data is never under it.
///
/// # Errors
/// `MountedBeneath` if anything is mounted under it in this namespace (deleting would reach into a volume).
pub fn remove_pod_dir(pod_dir: &Path) -> Result<()> {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    if let Some(mount) = mounts_beneath(&mountinfo, pod_dir).into_iter().next() {
        return Err(Error::MountedBeneath {
            path: pod_dir.to_path_buf(),
            mount,
        });
    }
    match std::fs::remove_dir_all(pod_dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(Error::RemovePodDir {
            path: pod_dir.to_path_buf(),
            source,
        }),
    }
}

/// Mount points listed in `mountinfo` (fifth field) at or beneath `dir`.
fn mounts_beneath(mountinfo: &str, dir: &Path) -> Vec<String> {
    mountinfo
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .filter(|mount_point| Path::new(mount_point).starts_with(dir))
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
#[path = "mounts_tests.rs"]
mod tests;
