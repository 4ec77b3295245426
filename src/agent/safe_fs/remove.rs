//! The one recursive delete of the agent: [`Dir::remove_tree`], which never follows a symlink or crosses
//! a mount.
use std::ffi::{OsStr, OsString};

use nix::errno::Errno;
use nix::unistd::UnlinkatFlags;

use super::{Dir, EntryKind, Error, Removal, Result, component};

/// How many names a directory read takes at once while removing a tree.
pub(super) const REMOVE_BATCH: usize = 256;
/// Deepest nesting `remove_tree` descends into; deeper subtrees are first moved up (see there).
pub(super) const REMOVE_MAX_DEPTH: usize = 48;

impl Dir {
    /// Removes the entry `name` and everything below it, never following a symlink (a symlink is removed
    /// itself) and never crossing into a mount point (that is an error and nothing below it is touched).
    ///
    /// # Guarantees
    /// Only entries below this directory are removed. At most [`REMOVE_MAX_DEPTH`] descriptors are open at
    /// once: a directory nested deeper is first moved (renamed) to the top of the tree being removed, which
    /// stays inside that tree, so no nesting depth makes the removal fail.
    ///
    /// # Errors
    /// A mount point inside the tree, a file that cannot be removed (immutable, busy), I/O errors. A rerun
    /// continues where the failed run stopped.
    pub fn remove_tree(&self, name: impl AsRef<OsStr>) -> Result<Removal> {
        let name = component(name.as_ref())?;
        match self.entry_kind(name)? {
            None => return Ok(Removal::AlreadyGone),
            Some(EntryKind::Dir) => {}
            Some(EntryKind::File | EntryKind::Symlink | EntryKind::Other) => {
                self.unlink(name, UnlinkatFlags::NoRemoveDir)?;
                return Ok(Removal::Removed);
            }
        }
        let Some(top) = self.open_subdir(name)? else {
            return Ok(Removal::AlreadyGone);
        };
        let mut stack = vec![Frame::new(name.to_owned(), top)];
        let mut moved = 0_u64;
        while let Some(frame) = stack.last_mut() {
            if frame.pending.is_empty() {
                frame.pending = frame.dir.read_names(REMOVE_BATCH)?;
            }
            let Some(entry) = frame.pending.pop() else {
                // Empty now: remove it from its parent.
                if let Some(done) = stack.pop() {
                    let parent = stack.last().map_or(self, |parent| &parent.dir);
                    parent.unlink(&done.name, UnlinkatFlags::RemoveDir)?;
                }
                continue;
            };
            let depth = stack.len();
            let dir = &stack[depth - 1].dir;
            let descend = match dir.entry_kind(&entry)? {
                None => None,
                Some(EntryKind::Dir) if depth >= REMOVE_MAX_DEPTH => {
                    moved = stack[0].dir.adopt(dir, &entry, moved)?;
                    None
                }
                // `None` here: it vanished between the stat and the open, nothing left to remove.
                Some(EntryKind::Dir) => dir.open_subdir(&entry)?,
                Some(EntryKind::File | EntryKind::Symlink | EntryKind::Other) => {
                    dir.unlink(&entry, UnlinkatFlags::NoRemoveDir)?;
                    None
                }
            };
            if let Some(child) = descend {
                stack.push(Frame::new(entry, child));
            }
        }
        Ok(Removal::Removed)
    }

    /// Moves the directory `name` of `from` into this directory under an unused `.berth-moved-N` name;
    /// returns the next counter. Used by `remove_tree` to flatten deep trees it is deleting anyway.
    fn adopt(&self, from: &Dir, name: &OsStr, mut counter: u64) -> Result<u64> {
        loop {
            let target = format!(".berth-moved-{counter}");
            counter += 1;
            if self.entry_kind(&target)?.is_some() {
                continue;
            }
            return match nix::fcntl::renameat(&from.fd, name, &self.fd, target.as_str()) {
                Ok(()) => Ok(counter),
                // Lost a race for the name: try the next one.
                Err(Errno::EEXIST | Errno::ENOTEMPTY) => continue,
                Err(source) => Err(Error::Rename {
                    from: from.child_path(name),
                    to: self.child_path(OsStr::new(&target)),
                    source,
                }),
            };
        }
    }
}

/// One directory being emptied by `remove_tree`.
struct Frame {
    name: OsString,
    dir: Dir,
    pending: Vec<OsString>,
}

impl Frame {
    fn new(name: OsString, dir: Dir) -> Frame {
        Frame {
            name,
            dir,
            pending: Vec::new(),
        }
    }
}
