//! LVM on a loop-device volume group with `activation=0`: lvm2 metadata operations run for real (create,
//! tags, extend, remove, reports); no device nodes exist, so only block-mode volumes are exercised here
//! (filesystem handling is covered on plain loop devices in `mount.rs`).
use std::sync::Arc;
use std::time::Duration;

use berth::agent::backend::{AccessMode, CreateRequest, VolumeBackend, VolumeSource};
use berth::agent::config::LvmPoolConfig;
use berth::agent::locks::{Locked, VolumeLocks};
use berth::agent::lvm::{self, Lvm, LvmBackend, LvmSettings, VolumeMode};
use berth::agent::names::{ClassName, FsType, VolumeName};
use berth::agent::params::{ClassParams, LvmParams};
use berth::agent::safe_fs::Removal;

use crate::fixtures::VolumeGroup;

const MIB: u64 = 1 << 20;

fn config(vg: &VolumeGroup) -> LvmPoolConfig {
    LvmPoolConfig {
        volume_group: vg.name.clone(),
        thin_pool: None,
        fs_type: FsType::Ext4,
        lvm_config: Some(vg.config.clone()),
        mount_root: "/var/lib/berth-test-mounts".parse().unwrap(),
        reserve_bytes: 0,
        // Zeroing needs an active device; with activation=0 there is none.
        zero_new_volumes: false,
        overprovision_ratio: 1.0,
        command_timeout: Duration::from_secs(60),
    }
}

fn class() -> ClassName {
    "local-lvm".parse().unwrap()
}

fn volume(name: &str) -> VolumeName {
    name.parse().unwrap()
}

#[tokio::test]
async fn linear_volumes_are_created_tagged_extended_listed_and_removed() {
    let vg = VolumeGroup::new(256);
    let backend = LvmBackend::new(class(), config(&vg));
    let v = volume("pvc-lvm-1");

    let created = backend
        .create(&v, 8 * MIB, VolumeMode::Block)
        .await
        .unwrap();
    assert_eq!(created.size_bytes, 8 * MIB);
    assert_eq!(created.lv_name, "pvc-lvm-1");
    assert_eq!(created.mode, VolumeMode::Block);
    assert_eq!(
        created.device,
        std::path::PathBuf::from(format!("/dev/{}/pvc-lvm-1", vg.name))
    );
    let lvs = backend.lvm().logical_volumes(&vg.name).await.unwrap();
    assert_eq!(lvs.len(), 1);
    assert_eq!(
        lvs[0].tags,
        vec![
            "berth.dev/class=local-lvm".to_owned(),
            "berth.dev/managed".to_owned(),
            "berth.dev/pv=pvc-lvm-1".to_owned(),
        ]
    );

    // Idempotent: a second create finds the tagged LV and creates nothing.
    assert_eq!(
        backend
            .create(&v, 8 * MIB, VolumeMode::Block)
            .await
            .unwrap(),
        created
    );
    assert_eq!(vg.lv_names(), vec!["pvc-lvm-1"]);

    // Sizes are rounded up to whole extents (4 MiB by default).
    let odd = volume("pvc-lvm-odd");
    let rounded = backend
        .create(&odd, 5 * MIB, VolumeMode::Block)
        .await
        .unwrap();
    assert_eq!(rounded.size_bytes, 8 * MIB);

    let grown = backend.expand(&v, 24 * MIB).await.unwrap();
    assert_eq!(grown.size_bytes, 24 * MIB);
    // Smaller or equal: nothing to do.
    assert_eq!(
        backend.expand(&v, 8 * MIB).await.unwrap().size_bytes,
        24 * MIB
    );

    let group = backend.lvm().volume_group(&vg.name).await.unwrap();
    assert_eq!(
        backend.capacity().await.unwrap().available_bytes,
        group.free_bytes
    );
    assert_eq!(group.free_bytes, group.size_bytes - 32 * MIB);

    let listed: Vec<String> = backend
        .list()
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.volume.to_string())
        .collect();
    assert_eq!(listed, vec!["pvc-lvm-1", "pvc-lvm-odd"]);

    assert_eq!(backend.delete(&v).await.unwrap(), Removal::Removed);
    assert_eq!(backend.delete(&v).await.unwrap(), Removal::AlreadyGone);
    assert_eq!(vg.lv_names(), vec!["pvc-lvm-odd"]);
    assert!(matches!(
        backend.expand(&v, 32 * MIB).await,
        Err(lvm::Error::NotFound { .. })
    ));
}

#[tokio::test]
async fn capacity_is_checked_before_lvcreate() {
    let vg = VolumeGroup::new(64);
    let backend = LvmBackend::new(class(), config(&vg));
    let err = backend
        .create(&volume("pvc-too-big"), 1 << 30, VolumeMode::Block)
        .await
        .unwrap_err();
    assert!(
        matches!(err, lvm::Error::InsufficientCapacity { requested, .. } if requested == 1 << 30),
        "{err}"
    );
    assert_eq!(vg.lv_names(), Vec::<String>::new());
    let mut reserved = config(&vg);
    reserved.reserve_bytes = 1 << 40;
    let reserved = LvmBackend::new(class(), reserved);
    assert_eq!(reserved.capacity().await.unwrap().available_bytes, 0);
}

#[tokio::test]
async fn foreign_volumes_are_never_taken_over_or_listed() {
    let vg = VolumeGroup::new(128);
    vg.create_foreign_lv("pvc-foreign", 8);
    vg.create_foreign_lv("database", 8);
    let backend = LvmBackend::new(class(), config(&vg));
    let err = backend
        .create(&volume("pvc-foreign"), 8 * MIB, VolumeMode::Block)
        .await
        .unwrap_err();
    assert!(matches!(err, lvm::Error::NameTaken { .. }), "{err}");
    assert_eq!(backend.list().await.unwrap(), vec![]);
    // Delete of a volume whose name a foreign LV carries leaves that LV alone.
    assert_eq!(
        backend.delete(&volume("pvc-foreign")).await.unwrap(),
        Removal::AlreadyGone
    );
    assert_eq!(vg.lv_names(), vec!["database", "pvc-foreign"]);
    // Another class on the same volume group does not list this class's volumes.
    backend
        .create(&volume("pvc-mine"), 8 * MIB, VolumeMode::Block)
        .await
        .unwrap();
    let other = LvmBackend::new("other-class".parse().unwrap(), config(&vg));
    assert_eq!(other.list().await.unwrap(), vec![]);
    assert_eq!(backend.list().await.unwrap().len(), 1);
}

#[tokio::test]
async fn lvm_errors_are_typed() {
    let vg = VolumeGroup::new(64);
    let lvm = Lvm::new(LvmSettings {
        config: Some(vg.config.clone()),
        timeout: Duration::from_secs(60),
    });
    let missing = "berth-no-such-vg".parse().unwrap();
    assert!(matches!(
        lvm.volume_group(&missing).await,
        Err(lvm::Error::GroupNotFound { .. })
    ));
    assert!(matches!(
        lvm.logical_volumes(&missing).await,
        Err(lvm::Error::GroupNotFound { .. })
    ));
    let v = volume("pvc-absent");
    assert_eq!(
        lvm.remove(&vg.name, &v, "pvc-absent").await.unwrap(),
        Removal::AlreadyGone
    );
}

#[tokio::test]
async fn the_backend_trait_serves_lvm_block_volumes() {
    let vg = VolumeGroup::new(128);
    let backend = Locked::new(
        LvmBackend::new(class(), config(&vg)),
        Arc::new(VolumeLocks::new()),
    );
    let request = CreateRequest {
        volume: volume("pvc-trait"),
        size_bytes: 8 * MIB,
        mode: AccessMode::Block,
        params: ClassParams::Lvm(LvmParams::default()),
    };
    let created = backend.create(&request).await.unwrap();
    assert_eq!(
        created.source,
        VolumeSource::Device(format!("/dev/{}/pvc-trait", vg.name).into())
    );
    assert!(created.size_enforced);
    let listed = backend.list().await.unwrap();
    assert_eq!(
        (listed.len(), listed[0].size_bytes, listed[0].complete),
        (1, Some(8 * MIB), true)
    );
    assert_eq!(
        backend.delete(&request.volume).await.unwrap(),
        Removal::Removed
    );
}
