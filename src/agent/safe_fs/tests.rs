//! Tests of the no-follow file operations on temporary directories (no root needed).
use std::os::unix::fs::{PermissionsExt, symlink};

use super::remove::{REMOVE_BATCH, REMOVE_MAX_DEPTH};
use super::*;

fn temp_base() -> (tempfile::TempDir, Dir) {
    let temp = tempfile::tempdir().unwrap();
    let path: BasePath = temp.path().to_str().unwrap().parse().unwrap();
    let dir = Dir::open_path(&path).unwrap();
    (temp, dir)
}

#[test]
fn components_must_be_single_plain_names() {
    let (_temp, dir) = temp_base();
    for bad in ["", ".", "..", "a/b", "../x", "/etc"] {
        assert!(
            matches!(dir.open_subdir(bad), Err(Error::InvalidComponent { .. })),
            "{bad:?}"
        );
        assert!(
            matches!(dir.remove_tree(bad), Err(Error::InvalidComponent { .. })),
            "{bad:?}"
        );
    }
}

#[test]
fn a_symlinked_base_path_is_refused() {
    let temp = tempfile::tempdir().unwrap();
    std::fs::create_dir(temp.path().join("real")).unwrap();
    symlink(temp.path().join("real"), temp.path().join("link")).unwrap();
    let link: BasePath = temp.path().join("link").to_str().unwrap().parse().unwrap();
    let err = Dir::open_path(&link).unwrap_err();
    assert!(matches!(err, Error::RefuseSymlink { .. }), "{err:?}");
    // A symlink in an inner component is refused too.
    std::fs::create_dir(temp.path().join("real/inner")).unwrap();
    let inner: BasePath = temp
        .path()
        .join("link/inner")
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(matches!(
        Dir::open_path(&inner),
        Err(Error::RefuseSymlink { .. })
    ));
}

#[test]
fn a_symlink_at_a_subdirectory_is_not_followed() {
    let (temp, dir) = temp_base();
    let outside = tempfile::tempdir().unwrap();
    symlink(outside.path(), temp.path().join("pvc-1")).unwrap();
    assert!(matches!(
        dir.open_subdir("pvc-1"),
        Err(Error::RefuseSymlink { .. })
    ));
    // ensure_subdir sees the existing entry and refuses to open through it.
    assert!(matches!(
        dir.ensure_subdir("pvc-1", 0o777),
        Err(Error::RefuseSymlink { .. })
    ));
    assert_eq!(dir.entry_kind("pvc-1").unwrap(), Some(EntryKind::Symlink));
    // Reading or writing a file through a symlink is refused as well.
    std::fs::write(outside.path().join("secret"), b"x").unwrap();
    symlink(outside.path().join("secret"), temp.path().join("file-link")).unwrap();
    assert!(matches!(
        dir.read_file("file-link"),
        Err(Error::RefuseSymlink { .. })
    ));
}

#[test]
fn ensure_subdir_sets_the_exact_mode_once() {
    let (temp, dir) = temp_base();
    let (_, created) = dir.ensure_subdir("v", 0o777).unwrap();
    assert!(created);
    let mode = std::fs::metadata(temp.path().join("v"))
        .unwrap()
        .permissions()
        .mode()
        & 0o7777;
    assert_eq!(mode, 0o777, "the umask must not apply");
    std::fs::set_permissions(
        temp.path().join("v"),
        std::fs::Permissions::from_mode(0o700),
    )
    .unwrap();
    let (_, created) = dir.ensure_subdir("v", 0o777).unwrap();
    assert!(!created);
    let mode = std::fs::metadata(temp.path().join("v"))
        .unwrap()
        .permissions()
        .mode()
        & 0o7777;
    assert_eq!(mode, 0o700, "an existing directory keeps its mode");
}

#[test]
fn remove_tree_removes_links_not_their_targets() {
    let (temp, dir) = temp_base();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("keep"), b"precious").unwrap();
    std::fs::create_dir(outside.path().join("keepdir")).unwrap();
    let volume = temp.path().join("pvc-1");
    std::fs::create_dir_all(volume.join("a/b/c")).unwrap();
    std::fs::write(volume.join("a/b/c/file"), b"data").unwrap();
    symlink(outside.path(), volume.join("a/escape-dir")).unwrap();
    symlink(outside.path().join("keep"), volume.join("a/b/escape-file")).unwrap();
    symlink("/", volume.join("root")).unwrap();
    assert_eq!(dir.remove_tree("pvc-1").unwrap(), Removal::Removed);
    assert!(!volume.exists());
    assert_eq!(
        std::fs::read(outside.path().join("keep")).unwrap(),
        b"precious"
    );
    assert!(outside.path().join("keepdir").is_dir());
    assert_eq!(dir.remove_tree("pvc-1").unwrap(), Removal::AlreadyGone);
}

#[test]
fn remove_tree_on_a_symlink_removes_only_the_link() {
    let (temp, dir) = temp_base();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("keep"), b"precious").unwrap();
    symlink(outside.path(), temp.path().join("pvc-1")).unwrap();
    assert_eq!(dir.remove_tree("pvc-1").unwrap(), Removal::Removed);
    assert!(temp.path().join("pvc-1").symlink_metadata().is_err());
    assert_eq!(
        std::fs::read(outside.path().join("keep")).unwrap(),
        b"precious"
    );
}

#[test]
fn remove_tree_handles_trees_deeper_than_its_descriptor_budget() {
    let (temp, dir) = temp_base();
    let mut path = temp.path().join("deep");
    std::fs::create_dir(&path).unwrap();
    // Deeper than REMOVE_MAX_DEPTH, with files at many levels.
    for level in 0..(REMOVE_MAX_DEPTH * 3) {
        path.push("d");
        std::fs::create_dir(&path).unwrap();
        std::fs::write(path.join(format!("f{level}")), b"x").unwrap();
    }
    assert_eq!(dir.remove_tree("deep").unwrap(), Removal::Removed);
    assert!(!temp.path().join("deep").exists());
}

#[test]
fn remove_tree_handles_wide_directories() {
    let (temp, dir) = temp_base();
    let wide = temp.path().join("wide");
    std::fs::create_dir(&wide).unwrap();
    for i in 0..(REMOVE_BATCH * 2 + 7) {
        std::fs::write(wide.join(format!("f{i}")), b"x").unwrap();
    }
    assert_eq!(dir.remove_tree("wide").unwrap(), Removal::Removed);
    assert!(!wide.exists());
}

#[test]
fn atomic_writes_replace_whole_files_and_leave_no_temporaries() {
    let (temp, dir) = temp_base();
    dir.write_file_atomic("state", b"one").unwrap();
    dir.write_file_atomic("state", b"two").unwrap();
    assert_eq!(dir.read_file("state").unwrap(), Some(b"two".to_vec()));
    assert_eq!(dir.read_file("missing").unwrap(), None);
    // A leftover temporary from a crashed writer does not block the next write.
    std::fs::write(temp.path().join(".tmp.state"), b"torn").unwrap();
    dir.write_file_atomic("state", b"three").unwrap();
    let names: Vec<_> = dir.entries().unwrap().into_iter().map(|e| e.name).collect();
    assert_eq!(names, vec![OsString::from("state")]);
    assert!(dir.remove_file("state").unwrap());
    assert!(!dir.remove_file("state").unwrap());
}

#[test]
fn entries_report_kinds_without_following_links() {
    let (temp, dir) = temp_base();
    std::fs::create_dir(temp.path().join("d")).unwrap();
    std::fs::write(temp.path().join("f"), b"").unwrap();
    symlink("/", temp.path().join("l")).unwrap();
    let entries = dir.entries().unwrap();
    let kinds: Vec<_> = entries
        .iter()
        .map(|e| (e.name.to_str().unwrap().to_owned(), e.kind))
        .collect();
    assert_eq!(
        kinds,
        vec![
            ("d".to_owned(), EntryKind::Dir),
            ("f".to_owned(), EntryKind::File),
            ("l".to_owned(), EntryKind::Symlink),
        ]
    );
}

#[test]
fn mount_check_refuses_a_plain_directory() {
    let (_temp, dir) = temp_base();
    let strict = MountCheck {
        mount_point: true,
        fs_type: None,
    };
    assert!(matches!(
        dir.check_mount(&strict),
        Err(Error::NotAMountPoint { .. })
    ));
    let lax = MountCheck {
        mount_point: false,
        fs_type: None,
    };
    dir.check_mount(&lax).unwrap();
}

#[test]
fn locks_exclude_each_other_across_descriptors() {
    let (_temp, dir) = temp_base();
    let held = dir.lock("lock").unwrap();
    let fd = nix::fcntl::openat(
        dir.as_fd(),
        "lock",
        OFlag::O_RDWR | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .unwrap();
    let second = Flock::lock(File::from(fd), FlockArg::LockExclusiveNonblock);
    assert!(matches!(second, Err((_, Errno::EWOULDBLOCK))));
    drop(held);
    assert!(dir.lock("lock").is_ok());
}
