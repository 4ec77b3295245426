//! Validated names and paths: once parsed, a value cannot hold a traversal, a separator or an illegal name.
//!
//! Every host path the agent touches is built from these types only: a configured [`BasePath`] joined with
//! a [`VolumeName`] that is a single, boring path component. User-controlled metadata (claim names,
//! namespaces, labels) never reaches a path.
use std::fmt;
use std::path::{Component, Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Errors from parsing a name or path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("invalid volume name {input:?}: {reason}")]
    ParseVolumeName { input: String, reason: &'static str },
    #[error("invalid path {input:?}: {reason}")]
    ParseBasePath { input: String, reason: &'static str },
    #[error("invalid volume group name {input:?}: {reason}")]
    ParseVgName { input: String, reason: &'static str },
    #[error("invalid logical volume name {input:?}: {reason}")]
    ParseLvName { input: String, reason: &'static str },
    #[error("invalid storage class name {input:?}: {reason}")]
    ParseClassName { input: String, reason: &'static str },
    #[error("unsupported filesystem type {input:?}: expected ext4 or xfs")]
    ParseFsType { input: String },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Longest uid part we accept after `pvc-`: a Kubernetes uid is a 36-character UUID; 63 leaves room for
/// test uids while keeping names far below every limit (file names 255, LV names 127).
const MAX_UID_LEN: usize = 63;

/// The name of a provisioned volume, `pvc-<claim uid>`: also its directory name and its LV name.
///
/// Only lower-case ASCII letters, digits and inner dashes follow the prefix, so the name is always a single
/// path component and a valid LV name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct VolumeName(String);

impl VolumeName {
    /// The volume name for a claim uid: the deterministic `pvc-<uid>` every provisioner uses.
    pub fn for_claim_uid(uid: &str) -> Result<VolumeName> {
        format!("pvc-{uid}").parse()
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for VolumeName {
    type Err = Error;

    fn from_str(input: &str) -> Result<VolumeName> {
        let reject = |reason| Error::ParseVolumeName {
            input: input.to_owned(),
            reason,
        };
        let uid = input
            .strip_prefix("pvc-")
            .ok_or_else(|| reject("must start with \"pvc-\""))?;
        match uid {
            "" => Err(reject("empty uid after \"pvc-\"")),
            uid if uid.len() > MAX_UID_LEN => Err(reject("uid longer than 63 characters")),
            uid if !uid
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') =>
            {
                Err(reject(
                    "uid may hold only lower-case letters, digits and dashes",
                ))
            }
            uid if uid.starts_with('-') || uid.ends_with('-') => {
                Err(reject("uid must start and end with a letter or digit"))
            }
            _ => Ok(VolumeName(input.to_owned())),
        }
    }
}

/// An absolute directory path from configuration (base path, state directory, mount root).
///
/// Normalized: no `.` or `..` component, no repeated or trailing slash, not `/` itself, valid UTF-8 (paths
/// are passed to external commands as strings).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct BasePath(PathBuf);

impl BasePath {
    pub fn as_path(&self) -> &Path {
        &self.0
    }

    pub fn as_str(&self) -> &str {
        // Built from a `String` in `from_str` and never mutated.
        self.0.to_str().unwrap_or_default()
    }

    /// The path of a volume below this base: a single validated component, so it stays below the base.
    pub fn join_volume(&self, volume: &VolumeName) -> PathBuf {
        self.0.join(volume.as_str())
    }

    /// True when `other` is this path or lies below it, comparing whole components.
    pub fn contains(&self, other: &BasePath) -> bool {
        other.0.starts_with(&self.0)
    }
}

impl FromStr for BasePath {
    type Err = Error;

    fn from_str(input: &str) -> Result<BasePath> {
        let reject = |reason| Error::ParseBasePath {
            input: input.to_owned(),
            reason,
        };
        if !input.starts_with('/') {
            return Err(reject("must be absolute"));
        }
        if input.contains('\0') {
            return Err(reject("must not contain NUL"));
        }
        let mut normal = PathBuf::from("/");
        for component in Path::new(input).components() {
            match component {
                Component::RootDir => {}
                Component::Normal(part) => normal.push(part),
                Component::CurDir => return Err(reject("must not contain \".\" components")),
                Component::ParentDir => return Err(reject("must not contain \"..\" components")),
                Component::Prefix(_) => return Err(reject("must be a Unix path")),
            }
        }
        if normal == Path::new("/") {
            return Err(reject("must not be the root directory"));
        }
        // `Path::components` drops a "/./" written as "//", so compare the rebuilt form to stay exact.
        if normal.as_os_str() != input {
            return Err(reject("must be normalized (no repeated or trailing slash)"));
        }
        Ok(BasePath(normal))
    }
}

/// Characters lvm2 accepts in VG and LV names.
fn is_lvm_name_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'+' | b'_' | b'.' | b'-')
}

/// lvm2's common name rules; `None` when the name is acceptable.
fn lvm_name_problem(input: &str) -> Option<&'static str> {
    match input {
        "" => Some("empty"),
        "." | ".." => Some("must not be \".\" or \"..\""),
        s if s.len() > 127 => Some("longer than 127 characters"),
        s if s.starts_with('-') => Some("must not start with '-'"),
        s if !s.bytes().all(is_lvm_name_char) => Some("may hold only letters, digits and + _ . -"),
        _ => None,
    }
}

/// A volume group name, valid for lvm2.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct VgName(String);

impl VgName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for VgName {
    type Err = Error;

    fn from_str(input: &str) -> Result<VgName> {
        match lvm_name_problem(input) {
            Some(reason) => Err(Error::ParseVgName {
                input: input.to_owned(),
                reason,
            }),
            None => Ok(VgName(input.to_owned())),
        }
    }
}

/// Suffixes lvm2 reserves for its internal sub-volumes.
const RESERVED_LV_PARTS: &[&str] = &[
    "_cdata", "_cmeta", "_corig", "_cpool", "_cvol", "_wcorig", "_mlog", "_mimage", "_pmspare",
    "_rimage", "_rmeta", "_tdata", "_tmeta", "_vorigin", "_vdata",
];

/// A logical volume name, valid for lvm2 (thin pools from configuration, volumes from [`VolumeName`]).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct LvName(String);

impl LvName {
    /// The LV of a volume carries the volume's name (always a valid LV name).
    pub fn for_volume(volume: &VolumeName) -> LvName {
        LvName(volume.as_str().to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for LvName {
    type Err = Error;

    fn from_str(input: &str) -> Result<LvName> {
        let reject = |reason| Error::ParseLvName {
            input: input.to_owned(),
            reason,
        };
        if let Some(reason) = lvm_name_problem(input) {
            return Err(reject(reason));
        }
        if input.starts_with("snapshot") || input.starts_with("pvmove") {
            return Err(reject(
                "names starting with snapshot or pvmove are reserved",
            ));
        }
        if RESERVED_LV_PARTS.iter().any(|part| input.contains(part)) {
            return Err(reject(
                "contains a suffix lvm2 reserves (_tdata, _tmeta, ...)",
            ));
        }
        Ok(LvName(input.to_owned()))
    }
}

/// A StorageClass name: a DNS subdomain (lower-case letters, digits, '-' and '.', at most 253).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ClassName(String);

impl ClassName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for ClassName {
    type Err = Error;

    fn from_str(input: &str) -> Result<ClassName> {
        let reject = |reason| Error::ParseClassName {
            input: input.to_owned(),
            reason,
        };
        let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
        match input.as_bytes() {
            [] => Err(reject("empty")),
            bytes if bytes.len() > 253 => Err(reject("longer than 253 characters")),
            bytes if !bytes.iter().all(|&b| alnum(b) || b == b'-' || b == b'.') => Err(reject(
                "may hold only lower-case letters, digits, '-' and '.'",
            )),
            [first, .., last] if !alnum(*first) || !alnum(*last) => {
                Err(reject("must start and end with a letter or digit"))
            }
            [only] if !alnum(*only) => Err(reject("must start and end with a letter or digit")),
            _ => Ok(ClassName(input.to_owned())),
        }
    }
}

/// A filesystem type Berth creates and manages (mkfs, grow, project quota).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum FsType {
    Ext4,
    Xfs,
}

impl FsType {
    pub fn as_str(&self) -> &'static str {
        match self {
            FsType::Ext4 => "ext4",
            FsType::Xfs => "xfs",
        }
    }
}

impl FromStr for FsType {
    type Err = Error;

    fn from_str(input: &str) -> Result<FsType> {
        match input {
            "ext4" => Ok(FsType::Ext4),
            "xfs" => Ok(FsType::Xfs),
            _ => Err(Error::ParseFsType {
                input: input.to_owned(),
            }),
        }
    }
}

macro_rules! string_conversions {
    ($($name:ident),*) => {$(
        impl TryFrom<String> for $name {
            type Error = Error;
            fn try_from(value: String) -> Result<$name> {
                value.parse()
            }
        }
        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.to_string()
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    )*};
}

string_conversions!(VolumeName, BasePath, VgName, LvName, ClassName, FsType);

#[cfg(test)]
#[path = "names_tests.rs"]
mod tests;
