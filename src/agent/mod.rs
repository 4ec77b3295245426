//! The node agent's disk layer: typed, safe, idempotent operations on hostPath directories and LVM volumes.
//!
//! No Kubernetes API code lives here. Layout:
//! - [`names`]: validated names and paths (`VolumeName`, `BasePath`, `VgName`, `LvName`, `FsType`);
//! - [`config`] and [`params`]: the agent config file and StorageClass parameters, parsed once;
//! - [`exec`]: the only place that runs external commands; [`sys`]: the only raw syscalls;
//! - [`safe_fs`]: file operations relative to open directories, no symlinks, no mount crossing;
//! - [`quota`] and [`ledger`]: project quotas and the per-base-path record of ids and sizes;
//! - [`hostpath`], [`lvm`], [`mount`]: the two backends and filesystem handling;
//! - [`backend`] (the `VolumeBackend` trait), [`locks`] (per-volume serialisation), [`fake`] (test double);
//! - [`intent`]: durable intent records for crash safety.
pub mod backend;
pub mod config;
pub mod exec;
pub mod fake;
pub mod hostpath;
pub mod intent;
pub mod ledger;
pub mod locks;
pub mod lvm;
pub mod mount;
pub mod names;
pub mod params;
pub mod quota;
pub mod safe_fs;
mod sys;
