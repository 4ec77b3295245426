//! LVM volumes through the lvm2 command line: a typed client ([`Lvm`]) and the pool backend ([`LvmBackend`]).
//!
//! Every command goes through [`exec`](super::exec) with JSON reports in bytes and the pool's optional
//! extra `--config`. Each LV Berth creates is named after its volume and tagged `berth.dev/managed`,
//! `berth.dev/pv=<volume>` and `berth.dev/class=<class>` (plus `berth.dev/fs=<type>` in filesystem
//! mode), so a retried create finds it and an orphan sweep can list every LV Berth owns.
pub mod command;
mod pool;
pub mod report;

use std::path::PathBuf;

use super::exec;
use super::mount;
use super::names::{ClassName, FsType, LvName, VgName, VolumeName};
use super::safe_fs::Removal;
pub use command::{LvmSettings, NewLv};
pub use pool::{
    Lookup, LvmBackend, LvmVolume, ManagedLv, VolumeMode, capacity_of, classify_lookup, managed,
    restore_plan, round_to_extents,
};
pub use report::{LvInfo, VgInfo};

/// Tag on every LV Berth manages.
pub const MANAGED_TAG: &str = "berth.dev/managed";
/// Tag key naming the volume (PV) an LV belongs to: `berth.dev/pv=<volume>`.
pub const VOLUME_TAG_KEY: &str = "berth.dev/pv";
/// Tag key naming the StorageClass whose pool created an LV: `berth.dev/class=<class>`.
pub const CLASS_TAG_KEY: &str = "berth.dev/class";
/// Tag key naming the filesystem of a filesystem-mode LV: `berth.dev/fs=<type>`.
pub const FS_TAG_KEY: &str = "berth.dev/fs";

/// The tag naming `volume`.
pub fn volume_tag(volume: &VolumeName) -> String {
    format!("{VOLUME_TAG_KEY}={volume}")
}

/// The tag naming the class of a pool.
pub fn class_tag(class: &ClassName) -> String {
    format!("{CLASS_TAG_KEY}={class}")
}

/// The tag recording a volume's filesystem.
pub fn fs_tag(fs_type: FsType) -> String {
    format!("{FS_TAG_KEY}={fs_type}")
}

/// Errors from LVM operations.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("list logical volumes of {vg}")]
    ListVolumes {
        vg: VgName,
        #[source]
        source: exec::Error,
    },
    #[error("inspect volume group {vg}")]
    InspectGroup {
        vg: VgName,
        #[source]
        source: exec::Error,
    },
    #[error("volume group {vg} does not exist")]
    GroupNotFound { vg: VgName },
    #[error("decode lvm report")]
    DecodeReport(#[source] report::Error),
    #[error("create logical volume {vg}/{volume}")]
    CreateVolume {
        vg: VgName,
        volume: VolumeName,
        #[source]
        source: exec::Error,
    },
    #[error("extend logical volume {vg}/{volume}")]
    ExtendVolume {
        vg: VgName,
        volume: VolumeName,
        #[source]
        source: exec::Error,
    },
    #[error("remove logical volume {vg}/{volume}")]
    RemoveVolume {
        vg: VgName,
        volume: VolumeName,
        #[source]
        source: exec::Error,
    },
    #[error("{vg} cannot fit {requested} bytes (available: {available} bytes)")]
    InsufficientCapacity {
        vg: VgName,
        requested: u64,
        available: u64,
    },
    #[error("thin pool {vg}/{pool} does not exist")]
    ThinPoolNotFound { vg: VgName, pool: LvName },
    #[error("logical volume {vg}/{volume} exists but is not Berth's (no {MANAGED_TAG} tag)")]
    NameTaken { vg: VgName, volume: VolumeName },
    #[error("logical volume {vg}/{volume} is missing right after lvcreate succeeded")]
    VanishedAfterCreate { vg: VgName, volume: VolumeName },
    #[error("volume {volume} does not exist in {vg}")]
    NotFound { vg: VgName, volume: VolumeName },
    #[error("filesystem of {volume}")]
    Filesystem {
        volume: VolumeName,
        #[source]
        source: mount::Error,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A typed lvm2 client for one set of settings.
#[derive(Debug, Clone)]
pub struct Lvm {
    settings: LvmSettings,
}

impl Lvm {
    pub fn new(settings: LvmSettings) -> Lvm {
        Lvm { settings }
    }

    pub fn settings(&self) -> &LvmSettings {
        &self.settings
    }

    /// Size and free space of `vg`.
    pub async fn volume_group(&self, vg: &VgName) -> Result<VgInfo> {
        let output = exec::run(&self.settings.vgs(vg)).await.map_err(|source| {
            match source.is_not_found() {
                true => Error::GroupNotFound { vg: vg.clone() },
                false => Error::InspectGroup {
                    vg: vg.clone(),
                    source,
                },
            }
        })?;
        report::parse_vg(&output.stdout)
            .map_err(Error::DecodeReport)?
            .ok_or_else(|| Error::GroupNotFound { vg: vg.clone() })
    }

    /// Every LV of `vg` (Berth's or not; callers classify by tag).
    pub async fn logical_volumes(&self, vg: &VgName) -> Result<Vec<LvInfo>> {
        let output = exec::run(&self.settings.lvs(vg)).await.map_err(|source| {
            match source.is_not_found() {
                true => Error::GroupNotFound { vg: vg.clone() },
                false => Error::ListVolumes {
                    vg: vg.clone(),
                    source,
                },
            }
        })?;
        report::parse_lvs(&output.stdout).map_err(Error::DecodeReport)
    }

    /// Creates `lv`. An "insufficient free space" refusal is [`Error::InsufficientCapacity`].
    pub async fn create(&self, volume: &VolumeName, lv: &NewLv) -> Result<()> {
        match exec::run(&self.settings.lvcreate(lv)).await {
            Ok(_) => Ok(()),
            Err(source) if source.stderr_contains("insufficient free space") => {
                Err(Error::InsufficientCapacity {
                    vg: lv.vg.clone(),
                    requested: lv.size_bytes,
                    available: 0,
                })
            }
            Err(source) => Err(Error::CreateVolume {
                vg: lv.vg.clone(),
                volume: volume.clone(),
                source,
            }),
        }
    }

    /// Extends `vg/<volume's LV>` to `size_bytes`.
    pub async fn extend(
        &self,
        vg: &VgName,
        volume: &VolumeName,
        lv: &str,
        size_bytes: u64,
    ) -> Result<()> {
        match exec::run(&self.settings.lvextend(vg, lv, size_bytes)).await {
            Ok(_) => Ok(()),
            Err(source) if source.stderr_contains("insufficient free space") => {
                Err(Error::InsufficientCapacity {
                    vg: vg.clone(),
                    requested: size_bytes,
                    available: 0,
                })
            }
            Err(source) => Err(Error::ExtendVolume {
                vg: vg.clone(),
                volume: volume.clone(),
                source,
            }),
        }
    }

    /// Removes `vg/<lv>`; an LV that does not exist is [`Removal::AlreadyGone`].
    pub async fn remove(&self, vg: &VgName, volume: &VolumeName, lv: &str) -> Result<Removal> {
        match exec::run(&self.settings.lvremove(vg, lv)).await {
            Ok(_) => Ok(Removal::Removed),
            Err(source) if source.is_not_found() => Ok(Removal::AlreadyGone),
            Err(source) => Err(Error::RemoveVolume {
                vg: vg.clone(),
                volume: volume.clone(),
                source,
            }),
        }
    }
}

/// The device node of an LV, as lvm2 reports it (exists only while the LV is active).
pub fn device_path(lv: &LvInfo) -> PathBuf {
    match lv.path.is_empty() {
        false => PathBuf::from(&lv.path),
        true => PathBuf::from(format!("/dev/{}/{}", lv.vg, lv.name)),
    }
}
