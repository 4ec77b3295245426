//! mkfs, mount, unmount and filesystem grow on loop devices with real ext4 and XFS filesystems.
use std::os::unix::fs::symlink;

use berth::agent::mount::{self, Prepared};
use berth::agent::names::{BasePath, FsType, VolumeName};
use berth::agent::safe_fs::{self, Dir, Removal};

use crate::fixtures::{LoopDevice, UnmountOnDrop, base_path, opted_out, require_cap_sys_resource};

fn volume() -> VolumeName {
    "pvc-mnt".parse().unwrap()
}

fn total_bytes(path: &std::path::Path) -> u64 {
    Dir::open_path(&base_path(path))
        .unwrap()
        .space()
        .unwrap()
        .total
}

async fn lifecycle(fs_type: FsType) {
    let device = LoopDevice::new(320);
    let root_dir = tempfile::tempdir().unwrap();
    let root: BasePath = base_path(root_dir.path());
    let v = volume();
    let _cleanup = UnmountOnDrop(root_dir.path().join("pvc-mnt"));

    assert_eq!(mount::probe_filesystem(device.path()).await.unwrap(), None);
    assert_eq!(
        mount::ensure_filesystem(device.path(), fs_type)
            .await
            .unwrap(),
        Prepared::Created
    );
    assert_eq!(
        mount::probe_filesystem(device.path())
            .await
            .unwrap()
            .as_deref(),
        Some(fs_type.as_str())
    );
    // Never reformatted: the second call finds the filesystem.
    assert_eq!(
        mount::ensure_filesystem(device.path(), fs_type)
            .await
            .unwrap(),
        Prepared::Existing
    );
    let other = match fs_type {
        FsType::Ext4 => FsType::Xfs,
        FsType::Xfs => FsType::Ext4,
    };
    assert!(matches!(
        mount::ensure_filesystem(device.path(), other).await,
        Err(mount::Error::FilesystemMismatch { .. })
    ));

    assert!(!mount::is_mounted(&root, &v).unwrap());
    let target = mount::ensure_mounted(device.path(), fs_type, &root, &v).unwrap();
    assert_eq!(target, root_dir.path().join("pvc-mnt"));
    assert!(mount::is_mounted(&root, &v).unwrap());
    std::fs::write(target.join("data"), b"kept across remounts").unwrap();
    // Idempotent: already mounted with this device.
    assert_eq!(
        mount::ensure_mounted(device.path(), fs_type, &root, &v).unwrap(),
        target
    );

    // Grow: enlarge the device, then the filesystem (online).
    if fs_type == FsType::Ext4 {
        if opted_out(
            "cap_sys_resource",
            "online ext4 resize (EXT4_IOC_RESIZE_FS)",
        ) {
            return;
        }
        require_cap_sys_resource("online ext4 resize (EXT4_IOC_RESIZE_FS)");
    }
    let before = total_bytes(&target);
    device.grow(640);
    mount::grow_filesystem(device.path(), fs_type, &target)
        .await
        .unwrap();
    let after = total_bytes(&target);
    assert!(after > before + (200 << 20), "{before} -> {after}");
    // Growing again is a no-op, not an error.
    mount::grow_filesystem(device.path(), fs_type, &target)
        .await
        .unwrap();

    // Unmount removes the target; a restart re-establishes the mount with the data.
    assert_eq!(mount::unmount(&root, &v).unwrap(), Removal::Removed);
    assert!(!target.exists());
    assert_eq!(mount::unmount(&root, &v).unwrap(), Removal::AlreadyGone);
    mount::ensure_mounted(device.path(), fs_type, &root, &v).unwrap();
    assert_eq!(
        std::fs::read(target.join("data")).unwrap(),
        b"kept across remounts"
    );
    assert_eq!(mount::unmount(&root, &v).unwrap(), Removal::Removed);
}

#[tokio::test]
async fn ext4_format_mount_grow_unmount() {
    lifecycle(FsType::Ext4).await;
}

#[tokio::test]
async fn xfs_format_mount_grow_unmount() {
    lifecycle(FsType::Xfs).await;
}

#[tokio::test]
async fn another_device_is_never_stacked_on_a_mounted_target() {
    let first = LoopDevice::new(64);
    let second = LoopDevice::new(64);
    let root_dir = tempfile::tempdir().unwrap();
    let root = base_path(root_dir.path());
    let v = volume();
    let _cleanup = UnmountOnDrop(root_dir.path().join("pvc-mnt"));
    for device in [&first, &second] {
        mount::ensure_filesystem(device.path(), FsType::Ext4)
            .await
            .unwrap();
    }
    mount::ensure_mounted(first.path(), FsType::Ext4, &root, &v).unwrap();
    assert!(matches!(
        mount::ensure_mounted(second.path(), FsType::Ext4, &root, &v),
        Err(mount::Error::MountedElsewhere { .. })
    ));
    assert_eq!(mount::unmount(&root, &v).unwrap(), Removal::Removed);
}

#[tokio::test]
async fn a_symlink_at_the_mount_target_is_refused() {
    let device = LoopDevice::new(64);
    mount::ensure_filesystem(device.path(), FsType::Ext4)
        .await
        .unwrap();
    let root_dir = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    symlink(outside.path(), root_dir.path().join("pvc-mnt")).unwrap();
    let err = mount::ensure_mounted(
        device.path(),
        FsType::Ext4,
        &base_path(root_dir.path()),
        &volume(),
    )
    .unwrap_err();
    assert!(
        matches!(
            &err,
            mount::Error::MountTarget {
                source: safe_fs::Error::RefuseSymlink { .. },
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        !Dir::open_path(&base_path(outside.path()))
            .unwrap()
            .is_mount_root()
            .unwrap()
    );
}
