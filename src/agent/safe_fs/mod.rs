//! Host file operations relative to an opened directory, never following symlinks or crossing mounts.
//!
//! A [`Dir`] is an open directory descriptor. Everything below it is reached one validated path component
//! at a time with `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_XDEV)`, so a symlink planted
//! anywhere (CVE-2021-25741 style) or a mount inside a volume is refused instead of followed. The only
//! recursive delete of the agent is [`Dir::remove_tree`]; `clippy.toml` forbids `remove_dir_all`.
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::AtFlags;
use nix::fcntl::{AT_FDCWD, Flock, FlockArg, OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::{FileStat, Mode, SFlag};
use nix::unistd::UnlinkatFlags;

use super::names::{BasePath, FsType};
use super::sys;

/// Errors from file operations; `path` is for messages only, operations never re-resolve it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("refuse {path}: it is a symbolic link or lies behind one")]
    RefuseSymlink { path: PathBuf },
    #[error("refuse {path}: it is a mount point or lies behind one")]
    RefuseMountPoint { path: PathBuf },
    #[error("refuse {path}: not a directory")]
    NotADirectory { path: PathBuf },
    #[error("refuse name {name:?}: not a single path component")]
    InvalidComponent { name: OsString },
    #[error("open {path}")]
    Open {
        path: PathBuf,
        #[source]
        source: Errno,
    },
    #[error("create directory {path}")]
    CreateDir {
        path: PathBuf,
        #[source]
        source: Errno,
    },
    #[error("inspect {path}")]
    Stat {
        path: PathBuf,
        #[source]
        source: Errno,
    },
    #[error("list {path}")]
    List {
        path: PathBuf,
        #[source]
        source: Errno,
    },
    #[error("remove {path}")]
    Remove {
        path: PathBuf,
        #[source]
        source: Errno,
    },
    #[error("rename {from} to {to}")]
    Rename {
        from: PathBuf,
        to: PathBuf,
        #[source]
        source: Errno,
    },
    #[error("change mode of {path}")]
    Chmod {
        path: PathBuf,
        #[source]
        source: Errno,
    },
    #[error("read {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("write {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("sync {path}")]
    Sync {
        path: PathBuf,
        #[source]
        source: Errno,
    },
    #[error("lock {path}")]
    Lock {
        path: PathBuf,
        #[source]
        source: Errno,
    },
    #[error("{path} is not a mount point: refusing to write to the filesystem below it")]
    NotAMountPoint { path: PathBuf },
    #[error("{path} holds a {found} filesystem, expected {expected}")]
    UnexpectedFilesystem {
        path: PathBuf,
        found: String,
        expected: FsType,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What kind of file a directory entry is (not following symlinks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    Dir,
    File,
    Symlink,
    Other,
}

/// An entry of a directory listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub name: OsString,
    pub kind: EntryKind,
}

/// Outcome of an idempotent removal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removal {
    Removed,
    AlreadyGone,
}

/// Space of the filesystem holding a directory, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Space {
    pub total: u64,
    /// Free for unprivileged writers (`f_bavail`), what a volume can actually use.
    pub available: u64,
}

/// What a base path must be before the agent writes below it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MountCheck {
    /// The directory must be the root of a mount (so an unmounted disk shows as "not a mount point").
    pub mount_point: bool,
    /// The filesystem must be of this type.
    pub fs_type: Option<FsType>,
}

/// An open directory. Operations take single components and never follow symlinks.
#[derive(Debug)]
pub struct Dir {
    fd: OwnedFd,
    path: PathBuf,
}

/// Rejects anything that is not one plain path component.
fn component(name: &OsStr) -> Result<&OsStr> {
    let bytes = name.as_bytes();
    let plain = !bytes.is_empty()
        && bytes != b"."
        && bytes != b".."
        && !bytes.iter().any(|&b| b == b'/' || b == 0);
    match plain {
        true => Ok(name),
        false => Err(Error::InvalidComponent {
            name: name.to_owned(),
        }),
    }
}

fn kind_of(stat: &FileStat) -> EntryKind {
    match SFlag::from_bits_truncate(stat.st_mode) & SFlag::S_IFMT {
        SFlag::S_IFDIR => EntryKind::Dir,
        SFlag::S_IFREG => EntryKind::File,
        SFlag::S_IFLNK => EntryKind::Symlink,
        _ => EntryKind::Other,
    }
}

fn dir_flags() -> OFlag {
    OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC
}

/// Maps the errno of a refused open to the reason, so callers see "symlink" rather than ELOOP. With
/// `O_DIRECTORY | O_NOFOLLOW` a symlink as the last component fails with ENOTDIR, so `is_symlink` is asked.
fn open_error(path: PathBuf, errno: Errno, is_symlink: impl FnOnce() -> bool) -> Error {
    match errno {
        Errno::ELOOP => Error::RefuseSymlink { path },
        Errno::EXDEV => Error::RefuseMountPoint { path },
        Errno::ENOTDIR if is_symlink() => Error::RefuseSymlink { path },
        Errno::ENOTDIR => Error::NotADirectory { path },
        source => Error::Open { path, source },
    }
}

fn not_symlink() -> bool {
    false
}

impl Dir {
    /// Opens a configured absolute directory; no component of the path may be a symlink.
    pub fn open_path(path: &BasePath) -> Result<Dir> {
        let how = OpenHow::new()
            .flags(dir_flags())
            .resolve(ResolveFlag::RESOLVE_NO_SYMLINKS | ResolveFlag::RESOLVE_NO_MAGICLINKS);
        let fd = nix::fcntl::openat2(AT_FDCWD, path.as_path(), how).map_err(|errno| {
            open_error(path.as_path().to_owned(), errno, || {
                nix::sys::stat::lstat(path.as_path())
                    .is_ok_and(|stat| kind_of(&stat) == EntryKind::Symlink)
            })
        })?;
        Ok(Dir {
            fd,
            path: path.as_path().to_owned(),
        })
    }

    /// The path this directory was opened as (for messages and for tools that need a path).
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn child_path(&self, name: &OsStr) -> PathBuf {
        self.path.join(name)
    }

    /// Opens the subdirectory `name`; `None` when it does not exist. A symlink, a mount point or a
    /// non-directory at `name` is an error, never followed.
    pub fn open_subdir(&self, name: impl AsRef<OsStr>) -> Result<Option<Dir>> {
        let name = component(name.as_ref())?;
        let how = OpenHow::new().flags(dir_flags()).resolve(
            ResolveFlag::RESOLVE_BENEATH
                | ResolveFlag::RESOLVE_NO_SYMLINKS
                | ResolveFlag::RESOLVE_NO_XDEV,
        );
        match nix::fcntl::openat2(&self.fd, name, how) {
            Ok(fd) => Ok(Some(Dir {
                fd,
                path: self.child_path(name),
            })),
            Err(Errno::ENOENT) => Ok(None),
            Err(errno) => Err(open_error(self.child_path(name), errno, || {
                matches!(self.entry_kind(name), Ok(Some(EntryKind::Symlink)))
            })),
        }
    }

    /// Opens the subdirectory `name` even when it is a mount point (to inspect or unmount it); symlinks are
    /// still refused. `None` when it does not exist.
    pub fn open_subdir_or_mount(&self, name: impl AsRef<OsStr>) -> Result<Option<Dir>> {
        let name = component(name.as_ref())?;
        let how = OpenHow::new()
            .flags(dir_flags())
            .resolve(ResolveFlag::RESOLVE_BENEATH | ResolveFlag::RESOLVE_NO_SYMLINKS);
        match nix::fcntl::openat2(&self.fd, name, how) {
            Ok(fd) => Ok(Some(Dir {
                fd,
                path: self.child_path(name),
            })),
            Err(Errno::ENOENT) => Ok(None),
            Err(errno) => Err(open_error(self.child_path(name), errno, || {
                matches!(self.entry_kind(name), Ok(Some(EntryKind::Symlink)))
            })),
        }
    }

    /// Creates the subdirectory `name` with exactly `mode` (not filtered by the umask) unless it exists,
    /// and opens it. Returns the directory and whether this call created it.
    pub fn ensure_subdir(&self, name: impl AsRef<OsStr>, mode: u32) -> Result<(Dir, bool)> {
        let name = component(name.as_ref())?;
        let mode = Mode::from_bits_truncate(mode);
        let created = match nix::sys::stat::mkdirat(&self.fd, name, Mode::empty()) {
            Ok(()) => true,
            Err(Errno::EEXIST) => false,
            Err(source) => {
                return Err(Error::CreateDir {
                    path: self.child_path(name),
                    source,
                });
            }
        };
        let path = self.child_path(name);
        let dir = self.open_subdir(name)?.ok_or_else(|| Error::Open {
            path: path.clone(),
            source: Errno::ENOENT,
        })?;
        if created {
            // Created with mode 0 so nobody can use it before it has its final mode.
            nix::sys::stat::fchmod(&dir.fd, mode)
                .map_err(|source| Error::Chmod { path, source })?;
        }
        Ok((dir, created))
    }

    /// The kind of the entry `name`, not following symlinks; `None` when it does not exist.
    pub fn entry_kind(&self, name: impl AsRef<OsStr>) -> Result<Option<EntryKind>> {
        let name = component(name.as_ref())?;
        match nix::sys::stat::fstatat(&self.fd, name, AtFlags::AT_SYMLINK_NOFOLLOW) {
            Ok(stat) => Ok(Some(kind_of(&stat))),
            Err(Errno::ENOENT) => Ok(None),
            Err(source) => Err(Error::Stat {
                path: self.child_path(name),
                source,
            }),
        }
    }

    /// Up to `limit` entry names, excluding "." and "..", read through a fresh descriptor.
    fn read_names(&self, limit: usize) -> Result<Vec<OsString>> {
        let list_error = |source| Error::List {
            path: self.path.clone(),
            source,
        };
        // A fresh open file description: a dup would share the read offset with other readers.
        let how = OpenHow::new()
            .flags(dir_flags())
            .resolve(ResolveFlag::RESOLVE_BENEATH);
        let fd = nix::fcntl::openat2(&self.fd, ".", how).map_err(list_error)?;
        let mut stream = nix::dir::Dir::from_fd(fd).map_err(list_error)?;
        let mut names = Vec::new();
        for entry in stream.iter() {
            let entry = entry.map_err(list_error)?;
            let name = OsStr::from_bytes(entry.file_name().to_bytes());
            if name != "." && name != ".." {
                names.push(name.to_owned());
            }
            if names.len() >= limit {
                break;
            }
        }
        Ok(names)
    }

    /// All entries with their kinds (not following symlinks), sorted by name.
    pub fn entries(&self) -> Result<Vec<Entry>> {
        let mut entries = Vec::new();
        for name in self.read_names(usize::MAX)? {
            // An entry removed between the read and the stat is simply not listed.
            if let Some(kind) = self.entry_kind(&name)? {
                entries.push(Entry { name, kind });
            }
        }
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(entries)
    }

    /// Unlinks `name`; already gone is fine.
    fn unlink(&self, name: &OsStr, flags: UnlinkatFlags) -> Result<()> {
        match nix::unistd::unlinkat(&self.fd, name, flags) {
            Ok(()) | Err(Errno::ENOENT) => Ok(()),
            Err(source) => Err(Error::Remove {
                path: self.child_path(name),
                source,
            }),
        }
    }

    /// The contents of the regular file `name`; `None` when it does not exist. Symlinks are refused.
    pub fn read_file(&self, name: impl AsRef<OsStr>) -> Result<Option<Vec<u8>>> {
        let name = component(name.as_ref())?;
        let path = self.child_path(name);
        let flags = OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        let fd = match nix::fcntl::openat(&self.fd, name, flags, Mode::empty()) {
            Ok(fd) => fd,
            Err(Errno::ENOENT) => return Ok(None),
            Err(errno) => return Err(open_error(path, errno, not_symlink)),
        };
        let mut bytes = Vec::new();
        File::from(fd)
            .read_to_end(&mut bytes)
            .map_err(|source| Error::Read { path, source })?;
        Ok(Some(bytes))
    }

    /// Replaces the file `name` with `bytes` durably: a temporary file is written and synced, renamed over
    /// `name`, and the directory is synced. A crash leaves either the old or the new content.
    pub fn write_file_atomic(&self, name: impl AsRef<OsStr>, bytes: &[u8]) -> Result<()> {
        let name = component(name.as_ref())?;
        let mut temp = OsString::from(".tmp.");
        temp.push(name);
        let temp_path = self.child_path(&temp);
        // A leftover from a crashed writer would make O_EXCL fail; it holds nothing we need.
        self.unlink(&temp, UnlinkatFlags::NoRemoveDir)?;
        let flags =
            OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        let fd = nix::fcntl::openat(
            &self.fd,
            temp.as_os_str(),
            flags,
            Mode::from_bits_truncate(0o600),
        )
        .map_err(|errno| open_error(temp_path.clone(), errno, not_symlink))?;
        let mut file = File::from(fd);
        file.write_all(bytes)
            .and_then(|()| file.sync_all())
            .map_err(|source| Error::Write {
                path: temp_path.clone(),
                source,
            })?;
        nix::fcntl::renameat(&self.fd, temp.as_os_str(), &self.fd, name).map_err(|source| {
            Error::Rename {
                from: temp_path,
                to: self.child_path(name),
                source,
            }
        })?;
        self.sync()
    }

    /// Removes the file `name` durably; `false` when it did not exist.
    pub fn remove_file(&self, name: impl AsRef<OsStr>) -> Result<bool> {
        let name = component(name.as_ref())?;
        match nix::unistd::unlinkat(&self.fd, name, UnlinkatFlags::NoRemoveDir) {
            Ok(()) => {}
            Err(Errno::ENOENT) => return Ok(false),
            Err(source) => {
                return Err(Error::Remove {
                    path: self.child_path(name),
                    source,
                });
            }
        }
        self.sync()?;
        Ok(true)
    }

    /// Renames the entry `from` to `to` within this directory (replacing an empty directory or a file).
    pub fn rename(&self, from: impl AsRef<OsStr>, to: impl AsRef<OsStr>) -> Result<()> {
        let (from, to) = (component(from.as_ref())?, component(to.as_ref())?);
        nix::fcntl::renameat(&self.fd, from, &self.fd, to).map_err(|source| Error::Rename {
            from: self.child_path(from),
            to: self.child_path(to),
            source,
        })?;
        self.sync()
    }

    /// Flushes the directory itself (entries created, renamed or removed in it).
    pub fn sync(&self) -> Result<()> {
        nix::unistd::fsync(&self.fd).map_err(|source| Error::Sync {
            path: self.path.clone(),
            source,
        })
    }

    /// Takes an exclusive `flock` on the file `name` (created if needed), released when the guard drops.
    /// It serialises processes and threads alike, because each call opens its own file description.
    pub fn lock(&self, name: impl AsRef<OsStr>) -> Result<Flock<File>> {
        let name = component(name.as_ref())?;
        let path = self.child_path(name);
        let flags = OFlag::O_RDWR | OFlag::O_CREAT | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        let fd = nix::fcntl::openat(&self.fd, name, flags, Mode::from_bits_truncate(0o600))
            .map_err(|errno| open_error(path.clone(), errno, not_symlink))?;
        Flock::lock(File::from(fd), FlockArg::LockExclusive)
            .map_err(|(_, source)| Error::Lock { path, source })
    }

    /// Device and inode of this directory.
    pub fn stat(&self) -> Result<FileStat> {
        nix::sys::stat::fstat(&self.fd).map_err(|source| Error::Stat {
            path: self.path.clone(),
            source,
        })
    }

    /// Whether this directory is the root of a mount.
    pub fn is_mount_root(&self) -> Result<bool> {
        let stat_error = |source| Error::Stat {
            path: self.path.clone(),
            source,
        };
        match sys::is_mount_root(self.fd.as_fd()).map_err(stat_error)? {
            Some(answer) => Ok(answer),
            // Kernels before 5.8: a mount root has another device than its parent (misses bind mounts
            // of the same filesystem, which 5.8+ reports correctly).
            None => {
                let parent = nix::sys::stat::fstatat(&self.fd, "..", AtFlags::AT_SYMLINK_NOFOLLOW)
                    .map_err(stat_error)?;
                let own = self.stat()?;
                Ok(own.st_dev != parent.st_dev || own.st_ino == parent.st_ino)
            }
        }
    }

    /// The filesystem type holding this directory, when it is one Berth knows.
    pub fn fs_type(&self) -> Result<Result<FsType, String>> {
        let stat = nix::sys::statfs::fstatfs(&self.fd).map_err(|source| Error::Stat {
            path: self.path.clone(),
            source,
        })?;
        Ok(match stat.filesystem_type() {
            nix::sys::statfs::EXT4_SUPER_MAGIC => Ok(FsType::Ext4),
            nix::sys::statfs::XFS_SUPER_MAGIC => Ok(FsType::Xfs),
            other => Err(format!("{:#x}", other.0)),
        })
    }

    /// Size and free space of the filesystem holding this directory.
    pub fn space(&self) -> Result<Space> {
        let stat = nix::sys::statvfs::fstatvfs(&self.fd).map_err(|source| Error::Stat {
            path: self.path.clone(),
            source,
        })?;
        let fragment = stat.fragment_size();
        Ok(Space {
            total: stat.blocks().saturating_mul(fragment),
            available: stat.blocks_available().saturating_mul(fragment),
        })
    }

    /// Checks the base-path identity rules before anything is written below this directory, so a disk
    /// that is not mounted never leads to writes on the filesystem underneath.
    pub fn check_mount(&self, check: &MountCheck) -> Result<()> {
        if check.mount_point && !self.is_mount_root()? {
            return Err(Error::NotAMountPoint {
                path: self.path.clone(),
            });
        }
        match (check.fs_type, self.fs_type()?) {
            (None, _) => Ok(()),
            (Some(expected), Ok(found)) if found == expected => Ok(()),
            (Some(expected), found) => Err(Error::UnexpectedFilesystem {
                path: self.path.clone(),
                found: found.map_or_else(|magic| format!("unknown ({magic})"), |t| t.to_string()),
                expected,
            }),
        }
    }
}

impl AsFd for Dir {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

mod remove;
#[cfg(test)]
mod tests;
