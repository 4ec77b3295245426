//! The agent's configuration file: a pool per StorageClass, parsed once into validated types.
//!
//! ```yaml
//! stateDir: /var/lib/berth            # intent records live here
//! classes:
//!   local-fast:                       # StorageClass name
//!     hostPath:
//!       basePaths: [/mnt/disk1, /mnt/disk2]
//!       reserve: 10Gi                 # never allocated on each base path
//!       requireMountPoint: true       # default: refuse a base path that is not a mount root
//!       fsType: xfs                   # optional: the filesystem the base path must hold
//!       onNoQuota: refuse             # or warn: provision without size enforcement
//!       dirMode: "0777"
//!       projectIds: {first: 1000000, last: 1999999}
//!   local-lvm:
//!     lvm:
//!       volumeGroup: vg0
//!       thinPool: pool0               # optional
//!       fsType: ext4                  # default for Filesystem claims
//!       lvmConfig: "global{activation=0}"   # optional, passed as --config to every lvm command
//!       mountRoot: /var/lib/berth/mounts
//!       reserve: 1Gi
//! ```
//! A reload should parse the new file completely and replace the live configuration only on success.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::names::{BasePath, ClassName, FsType, LvName, VgName};
use super::safe_fs::MountCheck;
use crate::k8s::quantity::Quantity;

/// Errors from loading the configuration.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("read agent config {path}")]
    ReadConfig {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("parse agent config")]
    ParseConfig(#[source] serde_yaml::Error),
    #[error("invalid agent config: {field}: {problem}")]
    ValidateConfig { field: String, problem: String },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What to do when a hostPath base path has no enforced project quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum OnNoQuota {
    /// Do not provision (the default): a size that is not enforced is a broken promise.
    Refuse,
    /// Provision anyway and say so (an event on the claim).
    Warn,
}

/// The inclusive range of project ids the agent may allocate on a base path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProjectRange {
    pub first: u32,
    pub last: u32,
}

impl Default for ProjectRange {
    fn default() -> ProjectRange {
        // Far from the small ids administrators hand-assign in /etc/projid.
        ProjectRange {
            first: 1_000_000,
            last: 1_999_999,
        }
    }
}

/// A validated agent configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentConfig {
    pub state_dir: BasePath,
    pub pools: BTreeMap<ClassName, PoolConfig>,
}

/// The pool serving one StorageClass.
#[derive(Debug, Clone, PartialEq)]
pub enum PoolConfig {
    HostPath(HostPathPoolConfig),
    Lvm(LvmPoolConfig),
}

/// A pool of directories with project quotas, on one or more base paths.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPathPoolConfig {
    pub base_paths: Vec<BasePath>,
    pub reserve_bytes: u64,
    pub mount_check: MountCheck,
    pub on_no_quota: OnNoQuota,
    pub dir_mode: u32,
    pub project_ids: ProjectRange,
}

/// A pool of logical volumes in one volume group (optionally in a thin pool).
#[derive(Debug, Clone, PartialEq)]
pub struct LvmPoolConfig {
    pub volume_group: VgName,
    pub thin_pool: Option<LvName>,
    pub fs_type: FsType,
    /// Passed as `--config` to every lvm command.
    pub lvm_config: Option<String>,
    pub mount_root: BasePath,
    pub reserve_bytes: u64,
    /// Zero the start of new linear LVs and wipe signatures (off only where activation is impossible).
    pub zero_new_volumes: bool,
    /// Thin pools only: how many times the pool size may be promised to volumes.
    pub overprovision_ratio: f64,
    pub command_timeout: Duration,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawConfig {
    state_dir: BasePath,
    classes: BTreeMap<ClassName, RawPool>,
}

/// Exactly one of the two must be set (a struct, because serde_yaml writes enums as YAML tags).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawPool {
    #[serde(default)]
    host_path: Option<RawHostPath>,
    #[serde(default)]
    lvm: Option<RawLvm>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawHostPath {
    base_paths: Vec<BasePath>,
    #[serde(default)]
    reserve: Option<RawSize>,
    #[serde(default = "default_true")]
    require_mount_point: bool,
    #[serde(default)]
    fs_type: Option<FsType>,
    #[serde(default = "default_on_no_quota")]
    on_no_quota: OnNoQuota,
    #[serde(default)]
    dir_mode: Option<String>,
    #[serde(default)]
    project_ids: ProjectRange,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawLvm {
    volume_group: VgName,
    #[serde(default)]
    thin_pool: Option<LvName>,
    #[serde(default)]
    fs_type: Option<FsType>,
    #[serde(default)]
    lvm_config: Option<String>,
    mount_root: BasePath,
    #[serde(default)]
    reserve: Option<RawSize>,
    #[serde(default = "default_true")]
    zero_new_volumes: bool,
    #[serde(default)]
    overprovision_ratio: Option<f64>,
    #[serde(default)]
    command_timeout_seconds: Option<u64>,
}

/// A size written as a byte count or a Kubernetes quantity string ("10Gi").
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RawSize {
    Bytes(u64),
    Quantity(String),
}

fn default_true() -> bool {
    true
}

fn default_on_no_quota() -> OnNoQuota {
    OnNoQuota::Refuse
}

/// Default directory mode: world-writable like the anchors, because pods run as arbitrary users and
/// kubelet does not chown `local` volumes without an fsGroup.
const DEFAULT_DIR_MODE: u32 = 0o777;
const DEFAULT_COMMAND_TIMEOUT_SECONDS: u64 = 120;

fn invalid(field: impl Into<String>, problem: impl Into<String>) -> Error {
    Error::ValidateConfig {
        field: field.into(),
        problem: problem.into(),
    }
}

impl AgentConfig {
    /// Reads and validates the configuration file at `path`.
    pub fn load(path: &Path) -> Result<AgentConfig> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::ReadConfig {
            path: path.to_owned(),
            source,
        })?;
        AgentConfig::parse_yaml(&text)
    }

    /// Parses and validates a configuration document.
    pub fn parse_yaml(text: &str) -> Result<AgentConfig> {
        let raw: RawConfig = serde_yaml::from_str(text).map_err(Error::ParseConfig)?;
        if raw.classes.is_empty() {
            return Err(invalid("classes", "at least one class must be configured"));
        }
        let mut pools = BTreeMap::new();
        for (class, raw_pool) in raw.classes {
            let field = format!("classes.{class}");
            let pool = match (raw_pool.host_path, raw_pool.lvm) {
                (Some(raw), None) => {
                    PoolConfig::HostPath(validate_host_path(&format!("{field}.hostPath"), raw)?)
                }
                (None, Some(raw)) => PoolConfig::Lvm(validate_lvm(&format!("{field}.lvm"), raw)?),
                (Some(_), Some(_)) | (None, None) => {
                    return Err(invalid(field, "set exactly one of hostPath or lvm"));
                }
            };
            pools.insert(class, pool);
        }
        let config = AgentConfig {
            state_dir: raw.state_dir,
            pools,
        };
        check_paths_disjoint(&config)?;
        Ok(config)
    }
}

fn size_bytes(field: &str, raw: Option<RawSize>) -> Result<u64> {
    match raw {
        None => Ok(0),
        Some(RawSize::Bytes(bytes)) => Ok(bytes),
        Some(RawSize::Quantity(text)) => {
            let quantity = Quantity::parse(&text).map_err(|e| invalid(field, e.to_string()))?;
            quantity
                .to_bytes_ceil()
                .and_then(|bytes| u64::try_from(bytes).ok())
                .ok_or_else(|| {
                    invalid(
                        field,
                        format!("{text:?} is not a byte count between 0 and 2^63"),
                    )
                })
        }
    }
}

fn parse_mode(field: &str, raw: Option<String>) -> Result<u32> {
    let Some(text) = raw else {
        return Ok(DEFAULT_DIR_MODE);
    };
    let digits = text.strip_prefix("0o").unwrap_or(&text);
    match u32::from_str_radix(digits, 8) {
        Ok(mode) if mode <= 0o7777 && !digits.is_empty() => Ok(mode),
        _ => Err(invalid(
            field,
            format!("{text:?} is not an octal mode like \"0777\""),
        )),
    }
}

fn validate_host_path(field: &str, raw: RawHostPath) -> Result<HostPathPoolConfig> {
    if raw.base_paths.is_empty() {
        return Err(invalid(
            format!("{field}.basePaths"),
            "at least one base path is required",
        ));
    }
    let ids = raw.project_ids;
    if ids.first == 0 || ids.first > ids.last {
        return Err(invalid(
            format!("{field}.projectIds"),
            format!("need 1 <= first <= last, got {}..={}", ids.first, ids.last),
        ));
    }
    Ok(HostPathPoolConfig {
        base_paths: raw.base_paths,
        reserve_bytes: size_bytes(&format!("{field}.reserve"), raw.reserve)?,
        mount_check: MountCheck {
            mount_point: raw.require_mount_point,
            fs_type: raw.fs_type,
        },
        on_no_quota: raw.on_no_quota,
        dir_mode: parse_mode(&format!("{field}.dirMode"), raw.dir_mode)?,
        project_ids: ids,
    })
}

fn validate_lvm(field: &str, raw: RawLvm) -> Result<LvmPoolConfig> {
    let overprovision_ratio = match (&raw.thin_pool, raw.overprovision_ratio) {
        (_, None) => 1.0,
        (None, Some(_)) => {
            return Err(invalid(
                format!("{field}.overprovisionRatio"),
                "only meaningful with thinPool",
            ));
        }
        (Some(_), Some(ratio)) if ratio.is_finite() && ratio >= 1.0 => ratio,
        (Some(_), Some(ratio)) => {
            return Err(invalid(
                format!("{field}.overprovisionRatio"),
                format!("must be a number >= 1.0, got {ratio}"),
            ));
        }
    };
    if raw
        .lvm_config
        .as_deref()
        .is_some_and(|c| c.trim().is_empty())
    {
        return Err(invalid(
            format!("{field}.lvmConfig"),
            "must not be empty when set",
        ));
    }
    let timeout = raw
        .command_timeout_seconds
        .unwrap_or(DEFAULT_COMMAND_TIMEOUT_SECONDS);
    if !(1..=3600).contains(&timeout) {
        return Err(invalid(
            format!("{field}.commandTimeoutSeconds"),
            format!("must be between 1 and 3600, got {timeout}"),
        ));
    }
    Ok(LvmPoolConfig {
        volume_group: raw.volume_group,
        thin_pool: raw.thin_pool,
        fs_type: raw.fs_type.unwrap_or(FsType::Ext4),
        lvm_config: raw.lvm_config,
        mount_root: raw.mount_root,
        reserve_bytes: size_bytes(&format!("{field}.reserve"), raw.reserve)?,
        zero_new_volumes: raw.zero_new_volumes,
        overprovision_ratio,
        command_timeout: Duration::from_secs(timeout),
    })
}

/// Base paths must not repeat or nest (with each other, the state directory or a mount root): two pools
/// over the same directory would hand out the same project ids and count the same space twice.
fn check_paths_disjoint(config: &AgentConfig) -> Result<()> {
    let mut base_paths: Vec<(String, &BasePath)> = Vec::new();
    let mut others: Vec<(String, &BasePath)> = vec![("stateDir".to_owned(), &config.state_dir)];
    for (class, pool) in &config.pools {
        match pool {
            PoolConfig::HostPath(pool) => {
                for (i, path) in pool.base_paths.iter().enumerate() {
                    base_paths.push((format!("classes.{class}.hostPath.basePaths[{i}]"), path));
                }
            }
            PoolConfig::Lvm(pool) => {
                others.push((format!("classes.{class}.lvm.mountRoot"), &pool.mount_root));
            }
        }
    }
    for (i, (field, path)) in base_paths.iter().enumerate() {
        let clash = base_paths[..i]
            .iter()
            .chain(others.iter())
            .find(|(_, other)| path.contains(other) || other.contains(path));
        if let Some((other_field, other)) = clash {
            return Err(invalid(
                field.clone(),
                format!("{path} overlaps {other} ({other_field}); base paths must be disjoint"),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
