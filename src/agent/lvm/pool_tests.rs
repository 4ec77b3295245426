//! Tests of the LVM pool decisions: lookups by tag, managed lists, capacity, extent rounding.
use std::time::Duration;

use super::*;

fn lv(name: &str, size: u64, tags: &[&str], pool: Option<&str>) -> LvInfo {
    LvInfo {
        name: name.to_owned(),
        vg: "vg0".to_owned(),
        size_bytes: size,
        tags: tags.iter().map(|t| (*t).to_owned()).collect(),
        attr: "-wi-a-----".to_owned(),
        path: format!("/dev/vg0/{name}"),
        pool: pool.map(str::to_owned),
    }
}

fn config(thin_pool: Option<&str>, ratio: f64, reserve: u64) -> LvmPoolConfig {
    LvmPoolConfig {
        volume_group: "vg0".parse().unwrap(),
        thin_pool: thin_pool.map(|p| p.parse().unwrap()),
        fs_type: FsType::Ext4,
        lvm_config: None,
        mount_root: "/var/lib/berth/mounts".parse().unwrap(),
        reserve_bytes: reserve,
        zero_new_volumes: true,
        overprovision_ratio: ratio,
        command_timeout: Duration::from_secs(10),
    }
}

fn volume(name: &str) -> VolumeName {
    name.parse().unwrap()
}

fn class() -> ClassName {
    "local-lvm".parse().unwrap()
}

const OURS: &[&str] = &[
    "berth.dev/managed",
    "berth.dev/pv=pvc-1",
    "berth.dev/class=local-lvm",
];

#[test]
fn lookup_classification() {
    let lvs = vec![
        lv("pvc-1", 10, OURS, None),
        lv("pvc-2", 10, &["other"], None),
        lv("data", 10, &[], None),
    ];
    assert_eq!(
        classify_lookup(&lvs, &volume("pvc-1")),
        Lookup::Ours(&lvs[0])
    );
    // An LV with the volume's name but without Berth's tags is never taken over.
    assert_eq!(classify_lookup(&lvs, &volume("pvc-2")), Lookup::Foreign);
    assert_eq!(classify_lookup(&lvs, &volume("pvc-3")), Lookup::Absent);
    // Found by tag even if renamed.
    let renamed = vec![lv("renamed", 10, OURS, None)];
    assert_eq!(
        classify_lookup(&renamed, &volume("pvc-1")),
        Lookup::Ours(&renamed[0])
    );
}

#[test]
fn managed_lists_only_this_class_and_reads_the_mode() {
    let lvs = vec![
        lv("pvc-1", 10, OURS, None),
        lv(
            "pvc-2",
            20,
            &[
                "berth.dev/managed",
                "berth.dev/pv=pvc-2",
                "berth.dev/class=local-lvm",
                "berth.dev/fs=xfs",
            ],
            None,
        ),
        lv(
            "pvc-3",
            30,
            &[
                "berth.dev/managed",
                "berth.dev/pv=pvc-3",
                "berth.dev/class=other",
            ],
            None,
        ),
        lv(
            "pvc-4",
            40,
            &[
                "berth.dev/managed",
                "berth.dev/pv=../x",
                "berth.dev/class=local-lvm",
            ],
            None,
        ),
        lv("root", 50, &[], None),
    ];
    let found: Vec<(String, VolumeMode)> = managed(&lvs, &class())
        .into_iter()
        .map(|m| (m.volume.to_string(), m.mode))
        .collect();
    assert_eq!(
        found,
        vec![
            ("pvc-1".to_owned(), VolumeMode::Block),
            ("pvc-2".to_owned(), VolumeMode::Filesystem(FsType::Xfs)),
        ]
    );
    assert_eq!(
        restore_plan(&lvs, &class()),
        vec![(
            volume("pvc-2"),
            FsType::Xfs,
            PathBuf::from("/dev/vg0/pvc-2")
        )]
    );
}

#[test]
fn linear_capacity_is_vg_free_minus_reserve() {
    let vg = VgInfo {
        size_bytes: 1000,
        free_bytes: 600,
        extent_bytes: 4,
    };
    assert_eq!(
        capacity_of(&config(None, 1.0, 100), &vg, &[]).unwrap(),
        Capacity {
            available_bytes: 500,
            maximum_volume_bytes: 500
        }
    );
    assert_eq!(
        capacity_of(&config(None, 1.0, 700), &vg, &[])
            .unwrap()
            .available_bytes,
        0
    );
}

#[test]
fn thin_capacity_counts_promises_against_the_overprovisioned_pool() {
    let vg = VgInfo {
        size_bytes: 1000,
        free_bytes: 0,
        extent_bytes: 4,
    };
    let lvs = vec![
        lv("tp", 400, &[], None),
        lv("pvc-1", 300, OURS, Some("tp")),
        lv("pvc-9", 100, OURS, Some("other-pool")),
    ];
    assert_eq!(
        capacity_of(&config(Some("tp"), 2.0, 0), &vg, &lvs)
            .unwrap()
            .available_bytes,
        500
    );
    assert_eq!(
        capacity_of(&config(Some("tp"), 1.0, 0), &vg, &lvs)
            .unwrap()
            .available_bytes,
        100
    );
    assert!(matches!(
        capacity_of(&config(Some("missing"), 1.0, 0), &vg, &lvs),
        Err(Error::ThinPoolNotFound { .. })
    ));
}

#[test]
fn sizes_round_up_to_extents() {
    assert_eq!(round_to_extents(1, 4 << 20), 4 << 20);
    assert_eq!(round_to_extents(4 << 20, 4 << 20), 4 << 20);
    assert_eq!(round_to_extents((4 << 20) + 1, 4 << 20), 8 << 20);
    assert_eq!(round_to_extents(7, 0), 7);
}
