//! Container filesystem views: what a container's private root holds, compiled into the syscalls that build it.
//!
//! A container's root is a fresh tmpfs mounted, inside the container's own mount namespace, over an empty host
//! directory (`rootfs`). Into it go the host's system directories (read-only binds, or the same symlinks the host
//! has, e.g. `/bin -> usr/bin`), `/dev` and `/proc`, a private `/tmp`, and the pod's volumes at their mount paths.
//! Nothing is mounted in the host's namespace, so the kernel tears every mount down when the container's last
//! process exits and the host side only ever holds the empty `rootfs` directory.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

/// Errors of building a container's filesystem plan.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A container path is not absolute or steps out of the container root with `..`.
    #[error("invalid container path {path:?}: must be absolute and must not contain '..'")]
    InvalidContainerPath { path: String },
    /// A path holds a NUL byte and cannot be passed to the kernel.
    #[error("path {path:?} contains a NUL byte")]
    NulInPath { path: PathBuf },
    /// Reading the type of a mount source failed.
    #[error("inspect mount source {path:?}")]
    InspectSource {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The host system directories a container sees (read-only), in mount order.
const SYSTEM_DIRS: &[&str] = &[
    "/usr", "/etc", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32",
];

/// What one host system path is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HostEntry {
    Dir,
    Symlink(PathBuf),
    Absent,
}

/// The host's system directories, probed once per kubelet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostLayout {
    pub entries: Vec<(String, HostEntry)>,
}

impl HostLayout {
    /// Looks at the host's system directories (symlinks are reproduced, not followed).
    pub fn probe() -> Self {
        let entries = SYSTEM_DIRS
            .iter()
            .map(|dir| {
                let entry = match std::fs::symlink_metadata(dir) {
                    Ok(meta) if meta.file_type().is_symlink() => std::fs::read_link(dir)
                        .map(HostEntry::Symlink)
                        .unwrap_or(HostEntry::Absent),
                    Ok(meta) if meta.is_dir() => HostEntry::Dir,
                    Ok(_) | Err(_) => HostEntry::Absent,
                };
                (dir.to_string(), entry)
            })
            .collect();
        Self { entries }
    }
}

/// Where a mount's content comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MountSource {
    /// A host path bound into the container (`recursive` also binds the mounts beneath it).
    Bind { path: PathBuf, recursive: bool },
    /// A fresh, private tmpfs.
    Tmpfs,
}

/// One mount inside the container root.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MountSpec {
    /// Absolute path inside the container.
    pub target: String,
    pub source: MountSource,
    pub read_only: bool,
}

/// Everything needed to build one container's root.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SandboxSpec {
    /// Empty host directory over which the container's root tmpfs is mounted.
    pub rootfs: PathBuf,
    /// Symlinks created in the root: (path inside the container, link target).
    pub symlinks: Vec<(String, PathBuf)>,
    /// Mounts in the order they are made.
    pub mounts: Vec<MountSpec>,
    /// The container's working directory (created when missing).
    pub workdir: String,
    /// The hostname inside the container's own UTS namespace (`None` keeps the host's).
    pub hostname: Option<String>,
}

impl SandboxSpec {
    /// The container root for `layout` plus the pod's volume mounts (ordered parents first).
    pub fn new(
        rootfs: PathBuf,
        layout: &HostLayout,
        volume_mounts: Vec<MountSpec>,
        workdir: &str,
    ) -> Self {
        let mut symlinks = Vec::new();
        let mut mounts = Vec::new();
        for (dir, entry) in &layout.entries {
            match entry {
                HostEntry::Dir => mounts.push(MountSpec {
                    target: dir.clone(),
                    source: MountSource::Bind {
                        path: PathBuf::from(dir),
                        recursive: false,
                    },
                    read_only: true,
                }),
                HostEntry::Symlink(target) => symlinks.push((dir.clone(), target.clone())),
                HostEntry::Absent => {}
            }
        }
        for dir in ["/dev", "/proc"] {
            // Recursive so that /dev/pts, /dev/shm and /proc's own sub-mounts come along.
            mounts.push(MountSpec {
                target: dir.to_string(),
                source: MountSource::Bind {
                    path: PathBuf::from(dir),
                    recursive: true,
                },
                read_only: false,
            });
        }
        mounts.push(MountSpec {
            target: "/tmp".to_string(),
            source: MountSource::Tmpfs,
            read_only: false,
        });
        let mut volume_mounts = volume_mounts;
        // A mount nested in another volume's mount path must come after it, or it would be hidden.
        volume_mounts.sort_by_key(|m| Path::new(&m.target).components().count());
        mounts.extend(volume_mounts);
        Self {
            rootfs,
            symlinks,
            mounts,
            workdir: workdir.to_string(),
            hostname: None,
        }
    }

    /// Gives the container its own hostname (a pod's is its name).
    pub fn with_hostname(mut self, hostname: &str) -> Self {
        self.hostname = Some(hostname.to_string());
        self
    }
}

/// Checks that `path` is an absolute container path without `..`; returns its normal components.
pub fn container_path_components(path: &str) -> Result<Vec<String>> {
    let invalid = || Error::InvalidContainerPath {
        path: path.to_string(),
    };
    let parsed = Path::new(path);
    if !parsed.is_absolute() {
        return Err(invalid());
    }
    parsed
        .components()
        .filter(|c| !matches!(c, Component::RootDir | Component::CurDir))
        .map(|c| match c {
            Component::Normal(name) => Ok(name.to_string_lossy().into_owned()),
            _ => Err(invalid()),
        })
        .collect()
}

/// One step of building a container root, with every argument already converted for the kernel: the child
/// process runs these between fork and exec, where it must not allocate.
#[derive(Debug)]
pub enum Op {
    SetHostname {
        name: std::ffi::OsString,
    },
    MountTmpfs {
        target: CString,
        options: CString,
    },
    /// Create a directory; an existing one is fine.
    Mkdir {
        path: CString,
    },
    /// Create an empty file as a mount point for a file bind; an existing one is fine.
    CreateFile {
        path: CString,
    },
    Symlink {
        target: CString,
        path: CString,
    },
    Bind {
        source: CString,
        target: CString,
        recursive: bool,
    },
    RemountReadOnly {
        target: CString,
    },
    Chroot {
        path: CString,
    },
    Chdir {
        path: CString,
    },
}

/// The steps that build a container root, each with a human description for error messages.
#[derive(Debug, Default)]
pub struct Program {
    pub ops: Vec<Op>,
    pub descriptions: Vec<String>,
}

impl Program {
    fn push(&mut self, op: Op, description: String) {
        self.ops.push(op);
        self.descriptions.push(description);
    }

    /// Creates every missing directory from the root down to `components` (inside the root at `host_root`).
    fn mkdir_all(&mut self, host_root: &Path, components: &[String]) -> Result<()> {
        let mut host = host_root.to_path_buf();
        for name in components {
            host.push(name);
            let path = c_path(&host)?;
            self.push(
                Op::Mkdir { path },
                format!("create directory {}", host.display()),
            );
        }
        Ok(())
    }
}

/// Turns a sandbox plan into the steps that build it once the process is in its own mount namespace. Looks at
/// the host only to tell file from directory bind sources.
pub fn compile(spec: &SandboxSpec) -> Result<Program> {
    let root = &spec.rootfs;
    let mut program = Program::default();
    if let Some(name) = &spec.hostname {
        program.push(
            Op::SetHostname { name: name.into() },
            format!("set the hostname to {name}"),
        );
    }
    program.push(
        Op::MountTmpfs {
            target: c_path(root)?,
            options: c_string("mode=0755")?,
        },
        format!("mount the container root tmpfs at {}", root.display()),
    );
    for (path, target) in &spec.symlinks {
        let components = container_path_components(path)?;
        program.mkdir_all(root, parent_components(&components))?;
        let link = host_path(root, &components);
        program.push(
            Op::Symlink {
                target: c_path(target)?,
                path: c_path(&link)?,
            },
            format!("create symlink {} -> {}", link.display(), target.display()),
        );
    }
    for mount in &spec.mounts {
        let components = container_path_components(&mount.target)?;
        let target = host_path(root, &components);
        let target_c = c_path(&target)?;
        match &mount.source {
            MountSource::Bind { path, recursive } => {
                let is_file = std::fs::metadata(path)
                    .map_err(|source| Error::InspectSource {
                        path: path.clone(),
                        source,
                    })?
                    .is_file();
                if is_file {
                    program.mkdir_all(root, parent_components(&components))?;
                    program.push(
                        Op::CreateFile {
                            path: target_c.clone(),
                        },
                        format!("create mount point file {}", target.display()),
                    );
                } else {
                    program.mkdir_all(root, &components)?;
                }
                program.push(
                    Op::Bind {
                        source: c_path(path)?,
                        target: target_c.clone(),
                        recursive: *recursive,
                    },
                    format!("bind {} at {}", path.display(), mount.target),
                );
            }
            MountSource::Tmpfs => {
                program.mkdir_all(root, &components)?;
                program.push(
                    Op::MountTmpfs {
                        target: target_c.clone(),
                        options: c_string("mode=1777")?,
                    },
                    format!("mount a tmpfs at {}", mount.target),
                );
            }
        }
        if mount.read_only {
            program.push(
                Op::RemountReadOnly { target: target_c },
                format!("make {} read-only", mount.target),
            );
        }
    }
    let workdir = container_path_components(&spec.workdir)?;
    program.mkdir_all(root, &workdir)?;
    program.push(
        Op::Chroot {
            path: c_path(root)?,
        },
        format!("chroot into {}", root.display()),
    );
    program.push(
        Op::Chdir {
            path: c_string(&spec.workdir)?,
        },
        format!("change directory to {}", spec.workdir),
    );
    Ok(program)
}

/// The steps that put a new process (a probe) into an existing container's root, once it has joined the
/// container's mount namespace.
pub fn compile_join(rootfs: &Path, workdir: &str) -> Result<Program> {
    container_path_components(workdir)?;
    let mut program = Program::default();
    program.push(
        Op::Chroot {
            path: c_path(rootfs)?,
        },
        format!("chroot into {}", rootfs.display()),
    );
    program.push(
        Op::Chdir {
            path: c_string(workdir)?,
        },
        format!("change directory to {workdir}"),
    );
    Ok(program)
}

fn parent_components(components: &[String]) -> &[String] {
    components.split_last().map_or(&[], |(_, parents)| parents)
}

/// The host path of a container path under the root's mount point.
fn host_path(root: &Path, components: &[String]) -> PathBuf {
    let mut path = root.to_path_buf();
    path.extend(components);
    path
}

fn c_path(path: &Path) -> Result<CString> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| Error::NulInPath {
        path: path.to_path_buf(),
    })
}

fn c_string(text: &str) -> Result<CString> {
    CString::new(text).map_err(|_| Error::NulInPath {
        path: PathBuf::from(text),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout() -> HostLayout {
        HostLayout {
            entries: vec![
                ("/usr".into(), HostEntry::Dir),
                ("/etc".into(), HostEntry::Dir),
                ("/bin".into(), HostEntry::Symlink("usr/bin".into())),
                ("/lib32".into(), HostEntry::Absent),
            ],
        }
    }

    fn bind(target: &str, path: &str, read_only: bool) -> MountSpec {
        MountSpec {
            target: target.into(),
            source: MountSource::Bind {
                path: path.into(),
                recursive: false,
            },
            read_only,
        }
    }

    #[test]
    fn spec_orders_system_dirs_then_dev_proc_tmp_then_volumes_parents_first() {
        let spec = SandboxSpec::new(
            "/r".into(),
            &layout(),
            vec![
                bind("/data/inner", "/v2", false),
                bind("/data", "/v1", true),
            ],
            "/",
        );
        let targets: Vec<&str> = spec.mounts.iter().map(|m| m.target.as_str()).collect();
        assert_eq!(
            targets,
            [
                "/usr",
                "/etc",
                "/dev",
                "/proc",
                "/tmp",
                "/data",
                "/data/inner"
            ]
        );
        assert_eq!(
            spec.symlinks,
            vec![("/bin".to_string(), PathBuf::from("usr/bin"))]
        );
        assert!(spec.mounts[0].read_only && spec.mounts[1].read_only);
        assert_eq!(
            spec.mounts[2].source,
            MountSource::Bind {
                path: "/dev".into(),
                recursive: true
            }
        );
        assert!(!spec.mounts[2].read_only);
        assert_eq!(spec.mounts[4].source, MountSource::Tmpfs);
        assert!(spec.mounts[5].read_only);
    }

    #[test]
    fn container_paths_must_be_absolute_without_parent_steps() {
        assert_eq!(container_path_components("/a/./b/").unwrap(), ["a", "b"]);
        assert_eq!(
            container_path_components("/").unwrap(),
            Vec::<String>::new()
        );
        assert!(container_path_components("a/b").is_err());
        assert!(container_path_components("/a/../b").is_err());
    }

    #[test]
    fn compile_builds_root_then_mounts_then_enters() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("file");
        std::fs::write(&file, "x").unwrap();
        let spec = SandboxSpec {
            rootfs: "/r".into(),
            symlinks: vec![("/bin".into(), "usr/bin".into())],
            mounts: vec![
                MountSpec {
                    target: "/data/d".into(),
                    source: MountSource::Bind {
                        path: dir.path().into(),
                        recursive: false,
                    },
                    read_only: true,
                },
                MountSpec {
                    target: "/etc/f".into(),
                    source: MountSource::Bind {
                        path: file.clone(),
                        recursive: false,
                    },
                    read_only: false,
                },
                MountSpec {
                    target: "/tmp".into(),
                    source: MountSource::Tmpfs,
                    read_only: false,
                },
            ],
            workdir: "/w".into(),
            hostname: Some("web-0".into()),
        };
        let program = compile(&spec).unwrap();
        let expected = [
            "set the hostname to web-0".to_string(),
            "mount the container root tmpfs at /r".to_string(),
            "create symlink /r/bin -> usr/bin".to_string(),
            "create directory /r/data".to_string(),
            "create directory /r/data/d".to_string(),
            format!("bind {} at /data/d", dir.path().display()),
            "make /data/d read-only".to_string(),
            "create directory /r/etc".to_string(),
            "create mount point file /r/etc/f".to_string(),
            format!("bind {} at /etc/f", file.display()),
            "create directory /r/tmp".to_string(),
            "mount a tmpfs at /tmp".to_string(),
            "create directory /r/w".to_string(),
            "chroot into /r".to_string(),
            "change directory to /w".to_string(),
        ];
        assert_eq!(program.descriptions, expected);
        assert_eq!(program.ops.len(), expected.len());
        assert!(
            matches!(&program.ops[8], Op::CreateFile { path } if path.as_bytes() == b"/r/etc/f")
        );
    }

    #[test]
    fn compile_rejects_a_missing_bind_source() {
        let spec = SandboxSpec::new(
            "/r".into(),
            &HostLayout { entries: vec![] },
            vec![bind("/data", "/definitely/not/here", false)],
            "/",
        );
        assert!(matches!(compile(&spec), Err(Error::InspectSource { .. })));
    }

    #[test]
    fn compile_join_only_enters_the_root() {
        let program = compile_join(Path::new("/r"), "/").unwrap();
        assert_eq!(
            program.descriptions,
            ["chroot into /r", "change directory to /"]
        );
        assert!(compile_join(Path::new("/r"), "rel").is_err());
    }
}
