//! StorageClass parameters of Berth's provisioners, parsed into validated types with errors naming the key.
use std::collections::BTreeMap;
use std::str::FromStr;

use super::config::{HostPathPoolConfig, LvmPoolConfig, OnNoQuota};
use super::names::FsType;

/// The provisioner name of hostPath directory volumes.
pub const HOSTPATH_PROVISIONER: &str = "hostpath.berth.dev";
/// The provisioner name of LVM volumes.
pub const LVM_PROVISIONER: &str = "lvm.berth.dev";

/// Keys a hostPath class may set.
const HOSTPATH_KEYS: &[&str] = &["onNoQuota"];
/// Keys an LVM class may set.
const LVM_KEYS: &[&str] = &["fsType"];

/// Errors from parsing StorageClass parameters.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("unknown provisioner {name:?}: expected {HOSTPATH_PROVISIONER} or {LVM_PROVISIONER}")]
    ParseProvisioner { name: String },
    #[error("unknown parameter {key:?} for {provisioner} (known: {})", known.join(", "))]
    UnknownParameter {
        key: String,
        provisioner: &'static str,
        known: &'static [&'static str],
    },
    #[error("parameter {key}={value:?}: {problem}")]
    ParseParameter {
        key: &'static str,
        value: String,
        problem: &'static str,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// One of Berth's provisioners.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Provisioner {
    HostPath,
    Lvm,
}

impl Provisioner {
    pub fn name(&self) -> &'static str {
        match self {
            Provisioner::HostPath => HOSTPATH_PROVISIONER,
            Provisioner::Lvm => LVM_PROVISIONER,
        }
    }
}

impl FromStr for Provisioner {
    type Err = Error;

    fn from_str(name: &str) -> Result<Provisioner> {
        match name {
            HOSTPATH_PROVISIONER => Ok(Provisioner::HostPath),
            LVM_PROVISIONER => Ok(Provisioner::Lvm),
            _ => Err(Error::ParseProvisioner {
                name: name.to_owned(),
            }),
        }
    }
}

/// Validated parameters of a hostPath class; unset fields fall back to the pool configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostPathParams {
    pub on_no_quota: Option<OnNoQuota>,
}

/// Validated parameters of an LVM class; unset fields fall back to the pool configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LvmParams {
    pub fs_type: Option<FsType>,
}

/// Validated parameters of a Berth StorageClass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClassParams {
    HostPath(HostPathParams),
    Lvm(LvmParams),
}

impl ClassParams {
    /// Parses the `parameters` of a StorageClass whose provisioner is `provisioner`.
    ///
    /// # Errors
    /// An unknown provisioner, a key the provisioner does not know (named in the error), a bad value.
    pub fn parse(provisioner: &str, parameters: &BTreeMap<String, String>) -> Result<ClassParams> {
        let provisioner: Provisioner = provisioner.parse()?;
        let known = match provisioner {
            Provisioner::HostPath => HOSTPATH_KEYS,
            Provisioner::Lvm => LVM_KEYS,
        };
        if let Some(key) = parameters.keys().find(|key| !known.contains(&key.as_str())) {
            return Err(Error::UnknownParameter {
                key: key.clone(),
                provisioner: provisioner.name(),
                known,
            });
        }
        let value = |key: &str| parameters.get(key).map(String::as_str);
        Ok(match provisioner {
            Provisioner::HostPath => ClassParams::HostPath(HostPathParams {
                on_no_quota: value("onNoQuota").map(parse_on_no_quota).transpose()?,
            }),
            Provisioner::Lvm => ClassParams::Lvm(LvmParams {
                fs_type: value("fsType").map(parse_fs_type).transpose()?,
            }),
        })
    }
}

fn parse_on_no_quota(value: &str) -> Result<OnNoQuota> {
    match value {
        "refuse" => Ok(OnNoQuota::Refuse),
        "warn" => Ok(OnNoQuota::Warn),
        _ => Err(Error::ParseParameter {
            key: "onNoQuota",
            value: value.to_owned(),
            problem: "expected refuse or warn",
        }),
    }
}

fn parse_fs_type(value: &str) -> Result<FsType> {
    value.parse().map_err(|_| Error::ParseParameter {
        key: "fsType",
        value: value.to_owned(),
        problem: "expected ext4 or xfs",
    })
}

impl HostPathParams {
    /// The policy for this class: the class parameter, else the pool's.
    pub fn on_no_quota(&self, pool: &HostPathPoolConfig) -> OnNoQuota {
        self.on_no_quota.unwrap_or(pool.on_no_quota)
    }
}

impl LvmParams {
    /// The filesystem for Filesystem-mode claims of this class: the class parameter, else the pool's.
    pub fn fs_type(&self, pool: &LvmPoolConfig) -> FsType {
        self.fs_type.unwrap_or(pool.fs_type)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn hostpath_parameters() {
        assert_eq!(
            ClassParams::parse(HOSTPATH_PROVISIONER, &params(&[])),
            Ok(ClassParams::HostPath(HostPathParams { on_no_quota: None }))
        );
        assert_eq!(
            ClassParams::parse(HOSTPATH_PROVISIONER, &params(&[("onNoQuota", "warn")])),
            Ok(ClassParams::HostPath(HostPathParams {
                on_no_quota: Some(OnNoQuota::Warn)
            }))
        );
        assert_eq!(
            ClassParams::parse(HOSTPATH_PROVISIONER, &params(&[("onNoQuota", "ignore")]))
                .map_err(|e| e.to_string()),
            Err("parameter onNoQuota=\"ignore\": expected refuse or warn".to_owned())
        );
    }

    #[test]
    fn lvm_parameters() {
        assert_eq!(
            ClassParams::parse(LVM_PROVISIONER, &params(&[("fsType", "xfs")])),
            Ok(ClassParams::Lvm(LvmParams {
                fs_type: Some(FsType::Xfs)
            }))
        );
        assert_eq!(
            ClassParams::parse(LVM_PROVISIONER, &params(&[("fsType", "btrfs")]))
                .map_err(|e| e.to_string()),
            Err("parameter fsType=\"btrfs\": expected ext4 or xfs".to_owned())
        );
    }

    #[test]
    fn unknown_keys_are_named() {
        assert_eq!(
            ClassParams::parse(HOSTPATH_PROVISIONER, &params(&[("pathPattern", "../x")]))
                .map_err(|e| e.to_string()),
            Err(
                "unknown parameter \"pathPattern\" for hostpath.berth.dev (known: onNoQuota)"
                    .to_owned()
            )
        );
        // A key of the other provisioner is unknown too.
        assert!(matches!(
            ClassParams::parse(LVM_PROVISIONER, &params(&[("onNoQuota", "warn")])),
            Err(Error::UnknownParameter { key, .. }) if key == "onNoQuota"
        ));
    }

    #[test]
    fn unknown_provisioner() {
        assert_eq!(
            ClassParams::parse("rancher.io/local-path", &params(&[])),
            Err(Error::ParseProvisioner {
                name: "rancher.io/local-path".to_owned()
            })
        );
    }
}
