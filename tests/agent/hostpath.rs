//! HostPath volumes on loop-mounted ext4 and XFS: quota enforcement, policies, recovery, capacity.
use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;

use berth::agent::backend::{
    AccessMode, Capacity, CreateRequest, Error as BackendError, VolumeBackend, VolumeSource,
};
use berth::agent::config::{HostPathPoolConfig, OnNoQuota, ProjectRange};
use berth::agent::hostpath::{self, HostPathBackend, ListedState, QuotaState};
use berth::agent::ledger::Ledger;
use berth::agent::locks::{Locked, VolumeLocks};
use berth::agent::names::{BasePath, VolumeName};
use berth::agent::params::{ClassParams, HostPathParams};
use berth::agent::quota::{self, ProjectId, Support};
use berth::agent::safe_fs::{Dir, MountCheck, Removal};

use crate::fixtures::{Fs, Mounted, base_path, opted_out, write_as_nobody};

const MIB: u64 = 1 << 20;

pub fn pool(base_paths: Vec<BasePath>, on_no_quota: OnNoQuota) -> HostPathPoolConfig {
    HostPathPoolConfig {
        base_paths,
        reserve_bytes: 0,
        mount_check: MountCheck {
            mount_point: true,
            fs_type: None,
        },
        on_no_quota,
        dir_mode: 0o777,
        project_ids: ProjectRange::default(),
    }
}

pub fn volume(name: &str) -> VolumeName {
    name.parse().expect("valid volume name")
}

fn quota_lifecycle(fs: Fs) {
    if opted_out(
        "quota",
        "project quota enforcement, raise on expansion and clear on delete",
    ) {
        return;
    }
    let disk = Mounted::new(fs, 320);
    let base = Dir::open_path(&disk.base_path()).unwrap();
    assert_eq!(
        quota::probe(&base).unwrap(),
        Support::Enforced,
        "project quota must be enforced on a {fs:?} filesystem mounted for it"
    );
    let backend = HostPathBackend::new(pool(vec![disk.base_path()], OnNoQuota::Refuse));
    let v = volume("pvc-quota-1");
    let created = backend.create(&v, MIB, OnNoQuota::Refuse).unwrap();
    let first = ProjectId::new(ProjectRange::default().first).unwrap();
    assert_eq!(created.quota, QuotaState::Enforced(first));
    assert_eq!(created.path, disk.path().join("pvc-quota-1"));
    assert_eq!(created.size_bytes, MIB);
    let mode = std::fs::metadata(&created.path)
        .unwrap()
        .permissions()
        .mode()
        & 0o7777;
    assert_eq!(mode, 0o777);
    let dir = Dir::open_path(&base_path(&created.path)).unwrap();
    assert_eq!(quota::project_of(&dir).unwrap(), (Some(first), true));

    // Beyond the size the kernel refuses the write: ext4 with EDQUOT, XFS with ENOSPC (XFS reports
    // project quota like a full filesystem). Written as an unprivileged user, like a pod: a process
    // with CAP_SYS_RESOURCE is exempt from ext4 limits.
    let big = created.path.join("big");
    let error = write_as_nobody(&big, 2).unwrap_err();
    let expected = match fs {
        Fs::Ext4Quota => "Disk quota exceeded",
        _ => "No space left on device",
    };
    assert!(error.contains(expected), "{error}");
    std::fs::remove_file(&big).unwrap();

    // Expansion raises the limit: the same write now fits.
    let grown = backend.expand(&v, 4 * MIB).unwrap();
    assert_eq!(grown.size_bytes, 4 * MIB);
    write_as_nobody(&big, 3).unwrap();
    let usage = backend.usage(&v).unwrap().unwrap();
    assert!(usage.used_bytes >= 3 * MIB, "{usage:?}");
    assert_eq!(usage.limit_bytes, Some(4 * MIB));
    // Shrinking is not a thing: a smaller size changes nothing.
    assert_eq!(backend.expand(&v, MIB).unwrap().size_bytes, 4 * MIB);
    // Create again is idempotent and reports the current volume.
    assert_eq!(backend.create(&v, MIB, OnNoQuota::Refuse).unwrap(), grown);

    // Delete removes the directory and clears the limit of the freed project id.
    assert_eq!(backend.delete(&v).unwrap(), Removal::Removed);
    assert!(!created.path.exists());
    assert_eq!(quota::usage(&base, first).unwrap().limit_bytes, None);
    assert_eq!(backend.delete(&v).unwrap(), Removal::AlreadyGone);
    assert_eq!(backend.list().unwrap(), vec![]);
}

#[test]
fn ext4_project_quota_enforces_size_and_expansion() {
    quota_lifecycle(Fs::Ext4Quota);
}

#[test]
fn xfs_project_quota_enforces_size_and_expansion() {
    quota_lifecycle(Fs::XfsQuota);
}

#[test]
fn concurrent_creates_get_distinct_project_ids() {
    if opted_out("quota", "project ids of concurrent creates on a pquota XFS") {
        return;
    }
    let disk = Mounted::new(Fs::XfsQuota, 320);
    let backend = Arc::new(HostPathBackend::new(pool(
        vec![disk.base_path()],
        OnNoQuota::Refuse,
    )));
    let threads: Vec<_> = (0..8)
        .map(|i| {
            let backend = Arc::clone(&backend);
            std::thread::spawn(move || {
                backend
                    .create(&volume(&format!("pvc-c{i}")), MIB, OnNoQuota::Refuse)
                    .unwrap()
            })
        })
        .collect();
    let mut ids: Vec<_> = threads
        .into_iter()
        .map(|t| match t.join().unwrap().quota {
            QuotaState::Enforced(id) => id.get(),
            QuotaState::NotEnforced => panic!("quota must be enforced"),
        })
        .collect();
    ids.sort_unstable();
    let first = ProjectRange::default().first;
    assert_eq!(ids, (first..first + 8).collect::<Vec<_>>());
}

fn no_quota_policy(fs: Fs) {
    let disk = Mounted::new(fs, 320);
    let base = Dir::open_path(&disk.base_path()).unwrap();
    assert!(matches!(
        quota::probe(&base).unwrap(),
        Support::NotEnforced(_)
    ));
    let backend = HostPathBackend::new(pool(vec![disk.base_path()], OnNoQuota::Refuse));
    let v = volume("pvc-noquota");
    let refused = backend.create(&v, MIB, OnNoQuota::Refuse).unwrap_err();
    assert!(
        matches!(refused, hostpath::Error::QuotaUnavailable { .. }),
        "{refused}"
    );
    assert!(!disk.path().join("pvc-noquota").exists());
    assert_eq!(
        backend.list().unwrap(),
        vec![],
        "a refused create leaves nothing behind"
    );

    let warned = backend.create(&v, MIB, OnNoQuota::Warn).unwrap();
    assert_eq!(warned.quota, QuotaState::NotEnforced);
    assert!(warned.path.is_dir());
    assert_eq!(backend.usage(&v).unwrap(), None);
    let listed = backend.list().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(
        (listed[0].state, listed[0].size_bytes),
        (ListedState::Ready, Some(MIB))
    );
    assert_eq!(backend.delete(&v).unwrap(), Removal::Removed);
    assert!(!warned.path.exists());
}

#[test]
fn ext4_without_quota_refuses_or_warns_by_policy() {
    no_quota_policy(Fs::Ext4Plain);
}

#[test]
fn xfs_without_pquota_refuses_or_warns_by_policy() {
    no_quota_policy(Fs::XfsPlain);
}

#[test]
fn xfs_keeps_project_ids_and_inheritance_even_without_enforcement() {
    let disk = Mounted::new(Fs::XfsPlain, 320);
    let base = Dir::open_path(&disk.base_path()).unwrap();
    let (dir, _) = base.ensure_subdir("p", 0o755).unwrap();
    let id = ProjectId::new(4242).unwrap();
    quota::assign_project(&dir, id).unwrap();
    quota::assign_project(&dir, id).unwrap();
    let (child, _) = dir.ensure_subdir("child", 0o755).unwrap();
    assert_eq!(quota::project_of(&child).unwrap(), (Some(id), true));
}

#[test]
fn interrupted_creates_and_deletes_are_finished_by_a_retry() {
    let disk = Mounted::new(Fs::XfsPlain, 320);
    let backend = HostPathBackend::new(pool(vec![disk.base_path()], OnNoQuota::Warn));
    let base = Dir::open_path(&disk.base_path()).unwrap();
    let ledger = Ledger::open(&base).unwrap();
    // Crash after the ledger write and the partial directory, before the rename.
    let a = volume("pvc-a");
    ledger
        .lock()
        .unwrap()
        .allocate(&a, 2 * MIB, false, ProjectRange::default())
        .unwrap();
    std::fs::create_dir(disk.path().join(".pvc-a.partial")).unwrap();
    // Crash in a delete after the directory went, before the ledger record was removed.
    let b = volume("pvc-b");
    ledger
        .lock()
        .unwrap()
        .allocate(&b, MIB, false, ProjectRange::default())
        .unwrap();
    // A directory nobody recorded (an orphan to report).
    std::fs::create_dir(disk.path().join("pvc-c")).unwrap();
    let states: Vec<_> = backend
        .list()
        .unwrap()
        .into_iter()
        .map(|v| (v.name.to_string(), v.state, v.size_bytes))
        .collect();
    assert_eq!(
        states,
        vec![
            ("pvc-a".to_owned(), ListedState::Partial, Some(2 * MIB)),
            ("pvc-b".to_owned(), ListedState::LedgerOnly, Some(MIB)),
            ("pvc-c".to_owned(), ListedState::Ready, None),
        ]
    );
    // The retried create takes the recorded size and finishes the rename.
    let finished = backend.create(&a, 9 * MIB, OnNoQuota::Warn).unwrap();
    assert_eq!(finished.size_bytes, 2 * MIB);
    assert!(disk.path().join("pvc-a").is_dir());
    assert!(!disk.path().join(".pvc-a.partial").exists());
    // The retried delete finishes with the ledger.
    assert_eq!(backend.delete(&b).unwrap(), Removal::Removed);
    let names: Vec<_> = backend
        .list()
        .unwrap()
        .into_iter()
        .map(|v| v.name.to_string())
        .collect();
    assert_eq!(names, vec!["pvc-a", "pvc-c"]);
}

#[test]
fn volumes_go_to_the_roomiest_base_path_and_capacity_adds_up() {
    let small = Mounted::new(Fs::XfsPlain, 320);
    let large = Mounted::new(Fs::XfsPlain, 480);
    let mut config = pool(vec![small.base_path(), large.base_path()], OnNoQuota::Warn);
    config.reserve_bytes = MIB;
    let backend = HostPathBackend::new(config);
    // Ledgers exist after the first call; measure free space after that.
    let before = backend.capacity().unwrap();
    let free = |disk: &Mounted| Dir::open_path(&disk.base_path()).unwrap().space().unwrap();
    let (s, l) = (free(&small), free(&large));
    assert_eq!(
        before,
        Capacity {
            available_bytes: s.available - MIB + l.available - MIB,
            maximum_volume_bytes: l.available - MIB,
        }
    );
    let created = backend
        .create(&volume("pvc-big"), 10 * MIB, OnNoQuota::Warn)
        .unwrap();
    assert_eq!(created.base, large.base_path());
    let after = backend.capacity().unwrap();
    let l = free(&large);
    let large_left = l.available.min(l.total - 10 * MIB) - MIB;
    assert_eq!(
        after.maximum_volume_bytes,
        large_left.max(free(&small).available - MIB)
    );
    let err = backend
        .create(&volume("pvc-huge"), 1 << 40, OnNoQuota::Warn)
        .unwrap_err();
    assert!(
        matches!(err, hostpath::Error::InsufficientCapacity { requested, .. } if requested == 1 << 40),
        "{err}"
    );
    assert!(!small.path().join("pvc-huge").exists() && !large.path().join("pvc-huge").exists());
}

#[test]
fn base_paths_on_one_filesystem_are_rejected() {
    let disk = Mounted::new(Fs::XfsPlain, 320);
    let other = Mounted::new(Fs::XfsPlain, 320);
    std::fs::create_dir(disk.path().join("sub")).unwrap();
    let sub = base_path(&disk.path().join("sub"));
    assert!(matches!(
        hostpath::check_distinct_filesystems(&[disk.base_path(), sub]),
        Err(hostpath::Error::SharedFilesystem { .. })
    ));
    hostpath::check_distinct_filesystems(&[disk.base_path(), other.base_path()]).unwrap();
}

#[tokio::test]
async fn the_backend_trait_serves_hostpath_volumes() {
    let disk = Mounted::new(Fs::XfsPlain, 320);
    let backend = Locked::new(
        HostPathBackend::new(pool(vec![disk.base_path()], OnNoQuota::Refuse)),
        Arc::new(VolumeLocks::new()),
    );
    let request = CreateRequest {
        volume: volume("pvc-trait"),
        size_bytes: MIB,
        mode: AccessMode::Filesystem,
        params: ClassParams::HostPath(HostPathParams {
            on_no_quota: Some(OnNoQuota::Warn),
        }),
    };
    let created = backend.create(&request).await.unwrap();
    assert_eq!(
        created.source,
        VolumeSource::Directory(disk.path().join("pvc-trait"))
    );
    assert!(!created.size_enforced);
    let block = CreateRequest {
        mode: AccessMode::Block,
        ..request.clone()
    };
    assert!(matches!(
        backend.create(&block).await,
        Err(BackendError::BlockModeUnsupported)
    ));
    let listed = backend.list().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert!(listed[0].complete);
    assert_eq!(
        backend.delete(&request.volume).await.unwrap(),
        Removal::Removed
    );
    assert_eq!(
        backend.delete(&request.volume).await.unwrap(),
        Removal::AlreadyGone
    );
}
