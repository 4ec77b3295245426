//! Hostile paths: symlinks planted at the base path, at a volume path or inside a volume; traversal names;
//! unmounted or unexpected base paths; mounts inside a volume.
use std::os::unix::fs::symlink;

use berth::agent::config::OnNoQuota;
use berth::agent::hostpath::{self, HostPathBackend};
use berth::agent::names::{BasePath, FsType, VolumeName};
use berth::agent::safe_fs::{self, MountCheck, Removal};

use crate::fixtures::{Fs, Mounted, UnmountOnDrop, base_path, require_root, run};
use crate::hostpath::{pool, volume};

const MIB: u64 = 1 << 20;

/// Every name and file in `dir`, recursively, for "nothing changed" assertions.
fn snapshot(dir: &std::path::Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(current) = stack.pop() {
        let mut entries: Vec<_> = std::fs::read_dir(&current)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for path in entries {
            found.push(path.strip_prefix(dir).unwrap().display().to_string());
            if path.symlink_metadata().unwrap().is_dir() {
                stack.push(path);
            }
        }
    }
    found.sort();
    found
}

#[test]
fn names_with_traversal_never_parse() {
    for bad in [
        "../x",
        "pvc-../../etc",
        "pvc-a/b",
        "pvc-..",
        "pvc-a/../../b",
        "/pvc-a",
    ] {
        assert!(bad.parse::<VolumeName>().is_err(), "{bad:?}");
    }
    for bad in ["/mnt/../etc", "mnt/disk", "/mnt/./disk", "/"] {
        assert!(bad.parse::<BasePath>().is_err(), "{bad:?}");
    }
}

#[test]
fn a_base_path_that_is_not_a_mount_point_is_refused_and_untouched() {
    require_root();
    let plain = tempfile::tempdir().unwrap();
    let backend = HostPathBackend::new(pool(vec![base_path(plain.path())], OnNoQuota::Warn));
    let v = volume("pvc-unmounted");
    let err = backend.create(&v, MIB, OnNoQuota::Warn).unwrap_err();
    assert!(
        matches!(
            &err,
            hostpath::Error::OpenBase {
                source: safe_fs::Error::NotAMountPoint { .. },
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!("base path {} is not usable", plain.path().display())
    );
    assert_eq!(
        snapshot(plain.path()),
        Vec::<String>::new(),
        "nothing may be written"
    );
    // Delete cannot prove the volume is gone from a base path it cannot use.
    assert!(backend.delete(&v).is_err());
    assert!(backend.list().is_err());
    assert_eq!(backend.capacity().unwrap().available_bytes, 0);
}

#[test]
fn a_disk_unmounted_after_provisioning_blocks_create_and_delete() {
    let disk = Mounted::new(Fs::XfsPlain, 320);
    let backend = HostPathBackend::new(pool(vec![disk.base_path()], OnNoQuota::Warn));
    let first = volume("pvc-first");
    backend.create(&first, MIB, OnNoQuota::Warn).unwrap();
    disk.unmount();
    // The mount point is now a plain directory on the root filesystem.
    let err = backend
        .create(&volume("pvc-second"), MIB, OnNoQuota::Warn)
        .unwrap_err();
    assert!(
        matches!(
            &err,
            hostpath::Error::OpenBase {
                source: safe_fs::Error::NotAMountPoint { .. },
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(snapshot(disk.path()), Vec::<String>::new());
    assert!(
        backend.delete(&first).is_err(),
        "must not report a volume on a missing disk as gone"
    );
}

#[test]
fn a_base_path_with_an_unexpected_filesystem_is_refused() {
    let disk = Mounted::new(Fs::Ext4Plain, 96);
    let mut config = pool(vec![disk.base_path()], OnNoQuota::Warn);
    config.mount_check = MountCheck {
        mount_point: true,
        fs_type: Some(FsType::Xfs),
    };
    let err = HostPathBackend::new(config)
        .create(&volume("pvc-x"), MIB, OnNoQuota::Warn)
        .unwrap_err();
    assert!(
        matches!(
            &err,
            hostpath::Error::OpenBase {
                source: safe_fs::Error::UnexpectedFilesystem {
                    expected: FsType::Xfs,
                    ..
                },
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn a_symlink_as_the_base_path_is_not_followed() {
    let disk = Mounted::new(Fs::XfsPlain, 320);
    let links = tempfile::tempdir().unwrap();
    symlink(disk.path(), links.path().join("disk")).unwrap();
    let backend = HostPathBackend::new(pool(
        vec![base_path(&links.path().join("disk"))],
        OnNoQuota::Warn,
    ));
    let err = backend
        .create(&volume("pvc-x"), MIB, OnNoQuota::Warn)
        .unwrap_err();
    assert!(
        matches!(
            &err,
            hostpath::Error::OpenBase {
                source: safe_fs::Error::RefuseSymlink { .. },
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(snapshot(disk.path()), Vec::<String>::new());
}

#[test]
fn a_symlink_planted_at_a_volume_path_is_not_followed() {
    let disk = Mounted::new(Fs::XfsPlain, 320);
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("keep"), b"precious").unwrap();
    symlink(outside.path(), disk.path().join("pvc-planted")).unwrap();
    let backend = HostPathBackend::new(pool(vec![disk.base_path()], OnNoQuota::Warn));
    let v = volume("pvc-planted");
    let err = backend.create(&v, MIB, OnNoQuota::Warn).unwrap_err();
    assert!(
        matches!(
            &err,
            hostpath::Error::CreateDir {
                source: safe_fs::Error::RefuseSymlink { .. },
                ..
            }
        ),
        "{err:?}"
    );
    // Delete removes the link itself, never what it points to.
    assert_eq!(backend.delete(&v).unwrap(), Removal::Removed);
    assert!(disk.path().join("pvc-planted").symlink_metadata().is_err());
    assert_eq!(snapshot(outside.path()), vec!["keep".to_owned()]);
    assert_eq!(
        std::fs::read(outside.path().join("keep")).unwrap(),
        b"precious"
    );
}

#[test]
fn symlinks_inside_a_volume_are_not_followed_on_delete() {
    let disk = Mounted::new(Fs::XfsPlain, 320);
    let outside = tempfile::tempdir().unwrap();
    std::fs::create_dir(outside.path().join("dir")).unwrap();
    std::fs::write(outside.path().join("dir/keep"), b"precious").unwrap();
    let backend = HostPathBackend::new(pool(vec![disk.base_path()], OnNoQuota::Warn));
    let v = volume("pvc-inside");
    let created = backend.create(&v, MIB, OnNoQuota::Warn).unwrap();
    // What a hostile pod could leave behind.
    std::fs::create_dir_all(created.path.join("a/b")).unwrap();
    symlink(outside.path(), created.path.join("escape")).unwrap();
    symlink(
        outside.path().join("dir"),
        created.path.join("a/b/escape-dir"),
    )
    .unwrap();
    symlink("/", created.path.join("a/root")).unwrap();
    symlink("../../..", created.path.join("a/b/up")).unwrap();
    let before = snapshot(outside.path());
    assert_eq!(backend.delete(&v).unwrap(), Removal::Removed);
    assert!(!created.path.exists());
    assert_eq!(snapshot(outside.path()), before);
    assert_eq!(
        std::fs::read(outside.path().join("dir/keep")).unwrap(),
        b"precious"
    );
}

#[test]
fn a_mount_inside_a_volume_stops_its_deletion() {
    let disk = Mounted::new(Fs::XfsPlain, 320);
    let backend = HostPathBackend::new(pool(vec![disk.base_path()], OnNoQuota::Warn));
    let v = volume("pvc-mounted");
    let created = backend.create(&v, MIB, OnNoQuota::Warn).unwrap();
    let inner = created.path.join("inner");
    std::fs::create_dir(&inner).unwrap();
    let inner_str = inner.to_str().unwrap().to_owned();
    run("mount", &["-t", "tmpfs", "tmpfs", &inner_str]);
    let _cleanup = UnmountOnDrop(inner.clone());
    std::fs::write(inner.join("other-fs"), b"not ours").unwrap();
    let err = backend.delete(&v).unwrap_err();
    assert!(
        matches!(
            &err,
            hostpath::Error::RemoveDir {
                source: safe_fs::Error::RefuseMountPoint { .. },
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(std::fs::read(inner.join("other-fs")).unwrap(), b"not ours");
    run("umount", &[&inner_str]);
    assert_eq!(backend.delete(&v).unwrap(), Removal::Removed);
}
