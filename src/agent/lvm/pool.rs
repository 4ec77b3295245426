//! The LVM pool backend: one tagged LV per volume, optionally formatted and mounted under the mount root.
use std::path::PathBuf;

use super::super::backend::Capacity;
use super::super::config::LvmPoolConfig;
use super::super::mount;
use super::super::names::{ClassName, FsType, LvName, VolumeName};
use super::super::safe_fs::Removal;
use super::{
    Error, FS_TAG_KEY, LvInfo, Lvm, LvmSettings, MANAGED_TAG, NewLv, Result, VOLUME_TAG_KEY,
    VgInfo, class_tag, device_path, fs_tag, volume_tag,
};

/// How a volume is handed to pods.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VolumeMode {
    /// The raw device (PV `volumeMode: Block`).
    Block,
    /// A filesystem mounted under the pool's mount root.
    Filesystem(FsType),
}

/// A provisioned LVM volume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LvmVolume {
    pub name: VolumeName,
    pub lv_name: String,
    pub device: PathBuf,
    /// The size lvm2 allocated (rounded up to whole extents).
    pub size_bytes: u64,
    pub mode: VolumeMode,
    /// Where the filesystem is mounted (filesystem mode), the path to put in the PV.
    pub mount_path: Option<PathBuf>,
}

/// An LV Berth manages, as found by [`LvmBackend::list`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagedLv {
    pub volume: VolumeName,
    pub lv: LvInfo,
    pub mode: VolumeMode,
}

/// What the LV list says about a volume.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup<'a> {
    /// Berth's LV for this volume.
    Ours(&'a LvInfo),
    /// An LV with the volume's name that Berth did not tag: never touched.
    Foreign,
    Absent,
}

/// Finds the LV of `volume` by its tags, and notices a foreign LV squatting on its name.
pub fn classify_lookup<'a>(lvs: &'a [LvInfo], volume: &VolumeName) -> Lookup<'a> {
    let tag = volume_tag(volume);
    match lvs
        .iter()
        .find(|lv| lv.has_tag(MANAGED_TAG) && lv.has_tag(&tag))
    {
        Some(lv) => Lookup::Ours(lv),
        None if lvs.iter().any(|lv| lv.name == volume.as_str()) => Lookup::Foreign,
        None => Lookup::Absent,
    }
}

fn mode_of(lv: &LvInfo) -> VolumeMode {
    match lv.tag_value(FS_TAG_KEY).and_then(|t| t.parse().ok()) {
        Some(fs_type) => VolumeMode::Filesystem(fs_type),
        None => VolumeMode::Block,
    }
}

/// The LVs of `class` among `lvs`: tagged managed and with the class, with a valid volume tag.
pub fn managed(lvs: &[LvInfo], class: &ClassName) -> Vec<ManagedLv> {
    let class_tag = class_tag(class);
    lvs.iter()
        .filter(|lv| lv.has_tag(MANAGED_TAG) && lv.has_tag(&class_tag))
        .filter_map(|lv| {
            let volume = lv.tag_value(VOLUME_TAG_KEY)?.parse().ok()?;
            Some(ManagedLv {
                volume,
                lv: lv.clone(),
                mode: mode_of(lv),
            })
        })
        .collect()
}

/// The filesystem-mode volumes of `class` whose mounts must exist: (volume, filesystem, device).
pub fn restore_plan(lvs: &[LvInfo], class: &ClassName) -> Vec<(VolumeName, FsType, PathBuf)> {
    managed(lvs, class)
        .into_iter()
        .filter_map(|m| match m.mode {
            VolumeMode::Filesystem(fs_type) => Some((m.volume, fs_type, device_path(&m.lv))),
            VolumeMode::Block => None,
        })
        .collect()
}

/// Bytes that can still be promised: VG free space (linear) or the thin pool's size times the
/// overprovision ratio minus what its volumes were promised (thin); minus the reserve.
pub fn capacity_of(config: &LvmPoolConfig, vg: &VgInfo, lvs: &[LvInfo]) -> Result<Capacity> {
    let available = match &config.thin_pool {
        None => vg.free_bytes,
        Some(pool) => {
            let pool_lv = lvs
                .iter()
                .find(|lv| lv.name == pool.as_str())
                .ok_or_else(|| Error::ThinPoolNotFound {
                    vg: config.volume_group.clone(),
                    pool: pool.clone(),
                })?;
            let promised = lvs
                .iter()
                .filter(|lv| lv.pool.as_deref() == Some(pool.as_str()))
                .fold(0_u64, |sum, lv| sum.saturating_add(lv.size_bytes));
            // Float only for the ratio; sizes stay far below 2^53 bytes in practice, and the result is
            // clamped to u64.
            let budget = (pool_lv.size_bytes as f64 * config.overprovision_ratio) as u64;
            budget.saturating_sub(promised)
        }
    };
    let available = available.saturating_sub(config.reserve_bytes);
    Ok(Capacity {
        available_bytes: available,
        maximum_volume_bytes: available,
    })
}

/// `size` rounded up to whole extents, as lvm2 will allocate it.
pub fn round_to_extents(size: u64, extent: u64) -> u64 {
    match extent {
        0 => size,
        extent => size.div_ceil(extent).saturating_mul(extent),
    }
}

/// The LVM backend of one pool.
#[derive(Debug, Clone)]
pub struct LvmBackend {
    class: ClassName,
    config: LvmPoolConfig,
    lvm: Lvm,
}

impl LvmBackend {
    /// The backend of the pool serving `class` (LVs are tagged with it, so two classes on one volume
    /// group each list and mount only their own).
    pub fn new(class: ClassName, config: LvmPoolConfig) -> LvmBackend {
        let lvm = Lvm::new(LvmSettings {
            config: config.lvm_config.clone(),
            timeout: config.command_timeout,
        });
        LvmBackend { class, config, lvm }
    }

    pub fn config(&self) -> &LvmPoolConfig {
        &self.config
    }

    pub fn lvm(&self) -> &Lvm {
        &self.lvm
    }

    async fn lvs(&self) -> Result<Vec<LvInfo>> {
        self.lvm.logical_volumes(&self.config.volume_group).await
    }

    /// Formats (if blank) and mounts a filesystem-mode volume; returns the mount path.
    async fn prepare_filesystem(
        &self,
        volume: &VolumeName,
        lv: &LvInfo,
    ) -> Result<Option<PathBuf>> {
        let VolumeMode::Filesystem(fs_type) = mode_of(lv) else {
            return Ok(None);
        };
        let fs_error = |source| Error::Filesystem {
            volume: volume.clone(),
            source,
        };
        let device = device_path(lv);
        mount::ensure_filesystem(&device, fs_type)
            .await
            .map_err(fs_error)?;
        // Crash point: formatted but not mounted; a retry sees the filesystem, skips mkfs and mounts.
        let target = mount::ensure_mounted(&device, fs_type, &self.config.mount_root, volume)
            .map_err(fs_error)?;
        Ok(Some(target))
    }

    fn volume_of(
        &self,
        volume: &VolumeName,
        lv: &LvInfo,
        mount_path: Option<PathBuf>,
    ) -> LvmVolume {
        LvmVolume {
            name: volume.clone(),
            lv_name: lv.name.clone(),
            device: device_path(lv),
            size_bytes: lv.size_bytes,
            mode: mode_of(lv),
            mount_path,
        }
    }

    /// Creates `volume`, or finishes an interrupted create (idempotent: an LV tagged for it is reused,
    /// with the mode it was created with).
    ///
    /// # Errors
    /// Not enough space, a foreign LV with the volume's name, lvm2 or filesystem failures.
    pub async fn create(
        &self,
        volume: &VolumeName,
        size_bytes: u64,
        mode: VolumeMode,
    ) -> Result<LvmVolume> {
        let vg = &self.config.volume_group;
        let lvs = self.lvs().await?;
        let lv = match classify_lookup(&lvs, volume) {
            Lookup::Ours(lv) => lv.clone(),
            Lookup::Foreign => {
                return Err(Error::NameTaken {
                    vg: vg.clone(),
                    volume: volume.clone(),
                });
            }
            Lookup::Absent => {
                let group = self.lvm.volume_group(vg).await?;
                let capacity = capacity_of(&self.config, &group, &lvs)?;
                let needed = round_to_extents(size_bytes, group.extent_bytes);
                if needed > capacity.available_bytes {
                    return Err(Error::InsufficientCapacity {
                        vg: vg.clone(),
                        requested: needed,
                        available: capacity.available_bytes,
                    });
                }
                let mut tags = vec![
                    MANAGED_TAG.to_owned(),
                    volume_tag(volume),
                    class_tag(&self.class),
                ];
                if let VolumeMode::Filesystem(fs_type) = mode {
                    tags.push(fs_tag(fs_type));
                }
                let new_lv = NewLv {
                    vg: vg.clone(),
                    name: LvName::for_volume(volume),
                    size_bytes,
                    thin_pool: self.config.thin_pool.clone(),
                    tags,
                    zero: self.config.zero_new_volumes,
                };
                self.lvm.create(volume, &new_lv).await?;
                // Crash point: the LV exists with its tags; a retry finds it above and continues.
                let lvs = self.lvs().await?;
                match classify_lookup(&lvs, volume) {
                    Lookup::Ours(lv) => lv.clone(),
                    Lookup::Foreign | Lookup::Absent => {
                        return Err(Error::VanishedAfterCreate {
                            vg: vg.clone(),
                            volume: volume.clone(),
                        });
                    }
                }
            }
        };
        let mount_path = self.prepare_filesystem(volume, &lv).await?;
        Ok(self.volume_of(volume, &lv, mount_path))
    }

    /// Grows `volume` to at least `size_bytes` and its filesystem with it. Idempotent.
    pub async fn expand(&self, volume: &VolumeName, size_bytes: u64) -> Result<LvmVolume> {
        let vg = &self.config.volume_group;
        let lvs = self.lvs().await?;
        let Lookup::Ours(lv) = classify_lookup(&lvs, volume) else {
            return Err(Error::NotFound {
                vg: vg.clone(),
                volume: volume.clone(),
            });
        };
        let mut lv = lv.clone();
        if lv.size_bytes < size_bytes {
            self.lvm.extend(vg, volume, &lv.name, size_bytes).await?;
            // Crash point: the LV is larger, the filesystem not yet; a retry skips lvextend (the LV is
            // big enough) and grows the filesystem, which is idempotent.
            let lvs = self.lvs().await?;
            if let Lookup::Ours(grown) = classify_lookup(&lvs, volume) {
                lv = grown.clone();
            }
        }
        let mount_path = self.prepare_filesystem(volume, &lv).await?;
        if let (VolumeMode::Filesystem(fs_type), Some(target)) = (mode_of(&lv), &mount_path) {
            mount::grow_filesystem(&device_path(&lv), fs_type, target)
                .await
                .map_err(|source| Error::Filesystem {
                    volume: volume.clone(),
                    source,
                })?;
        }
        Ok(self.volume_of(volume, &lv, mount_path))
    }

    /// Unmounts and removes `volume`. "Already gone" is success; a foreign LV with its name is untouched.
    pub async fn delete(&self, volume: &VolumeName) -> Result<Removal> {
        let vg = &self.config.volume_group;
        let lvs = self.lvs().await?;
        let unmounted = mount::unmount(&self.config.mount_root, volume).map_err(|source| {
            Error::Filesystem {
                volume: volume.clone(),
                source,
            }
        })?;
        // Crash point: unmounted, LV still present; a retry finds nothing mounted and removes the LV.
        let removed = match classify_lookup(&lvs, volume) {
            Lookup::Ours(lv) => self.lvm.remove(vg, volume, &lv.name).await?,
            Lookup::Foreign | Lookup::Absent => Removal::AlreadyGone,
        };
        Ok(match (unmounted, removed) {
            (Removal::AlreadyGone, Removal::AlreadyGone) => Removal::AlreadyGone,
            _ => Removal::Removed,
        })
    }

    /// Every LV of the pool Berth manages (for orphan detection).
    pub async fn list(&self) -> Result<Vec<ManagedLv>> {
        let lvs = self.lvs().await?;
        Ok(managed(&lvs, &self.class))
    }

    /// What can still be provisioned in the pool.
    pub async fn capacity(&self) -> Result<Capacity> {
        let group = self.lvm.volume_group(&self.config.volume_group).await?;
        let lvs = self.lvs().await?;
        capacity_of(&self.config, &group, &lvs)
    }

    /// Re-establishes the mounts of every filesystem-mode volume (at agent start). Returns each volume
    /// with its outcome; one failing volume does not stop the others.
    pub async fn restore_mounts(&self) -> Result<Vec<(VolumeName, Result<PathBuf, mount::Error>)>> {
        let lvs = self.lvs().await?;
        Ok(restore_plan(&lvs, &self.class)
            .into_iter()
            .map(|(volume, fs_type, device)| {
                let outcome =
                    mount::ensure_mounted(&device, fs_type, &self.config.mount_root, &volume);
                (volume, outcome)
            })
            .collect())
    }
}

#[cfg(test)]
#[path = "pool_tests.rs"]
mod tests;
