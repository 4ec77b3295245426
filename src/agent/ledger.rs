//! The durable ledger of one base path: each volume's project id and size, allocated under a lock.
//!
//! It lives in `<base>/.berth/volumes.json` (rewritten atomically) and is changed only while holding an
//! exclusive `flock` on `<base>/.berth/lock`, so two allocations, in this process or another, never get
//! the same project id (the "max + 1" race of OpenEBS #155/#359). An entry is written before the volume's
//! directory exists and removed after it is gone, so the ledger also names half-created and half-deleted
//! volumes, and its sizes are the space promised on the base path.
use std::collections::BTreeMap;
use std::fs::File;
use std::path::PathBuf;

use nix::fcntl::Flock;
use serde::{Deserialize, Serialize};

use super::config::ProjectRange;
use super::names::VolumeName;
use super::quota::ProjectId;
use super::safe_fs::{self, Dir};

/// The ledger directory inside a base path; never a valid volume name.
pub const LEDGER_DIR: &str = ".berth";
const LEDGER_FILE: &str = "volumes.json";
const LOCK_FILE: &str = "lock";
const FORMAT_VERSION: u32 = 1;

/// Errors from reading or changing a ledger.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("open ledger of {base}")]
    OpenLedger {
        base: PathBuf,
        #[source]
        source: safe_fs::Error,
    },
    #[error("read ledger of {base}")]
    ReadLedger {
        base: PathBuf,
        #[source]
        source: safe_fs::Error,
    },
    #[error("ledger of {base} is corrupt")]
    DecodeLedger {
        base: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error(
        "ledger of {base} has format version {found}, this agent reads version {FORMAT_VERSION}"
    )]
    LedgerVersion { base: PathBuf, found: u32 },
    #[error("write ledger of {base}")]
    WriteLedger {
        base: PathBuf,
        #[source]
        source: safe_fs::Error,
    },
    #[error("no free project id left in {first}..={last} on {base}")]
    AllocateProject {
        base: PathBuf,
        first: u32,
        last: u32,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What the ledger knows about one volume.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Record {
    /// The project id limiting the volume; `None` when provisioned without quota (policy `warn`).
    pub project: Option<ProjectId>,
    /// The size promised to the volume, in bytes.
    pub size_bytes: u64,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct LedgerFile {
    version: u32,
    volumes: BTreeMap<VolumeName, Record>,
}

/// The ledger directory of a base path.
#[derive(Debug)]
pub struct Ledger {
    dir: Dir,
    base: PathBuf,
}

impl Ledger {
    /// Opens (creating if needed) the ledger directory below `base`. Call only after `base` passed its
    /// mount check: this writes to it.
    pub fn open(base: &Dir) -> Result<Ledger> {
        let open_error = |source| Error::OpenLedger {
            base: base.path().to_owned(),
            source,
        };
        let (dir, _) = base.ensure_subdir(LEDGER_DIR, 0o700).map_err(open_error)?;
        Ok(Ledger {
            dir,
            base: base.path().to_owned(),
        })
    }

    /// Locks the ledger and reads it; changes go through the returned guard.
    pub fn lock(&self) -> Result<LockedLedger<'_>> {
        let lock = self
            .dir
            .lock(LOCK_FILE)
            .map_err(|source| Error::OpenLedger {
                base: self.base.clone(),
                source,
            })?;
        let volumes = self.read()?;
        Ok(LockedLedger {
            ledger: self,
            _lock: lock,
            volumes,
        })
    }

    fn read(&self) -> Result<BTreeMap<VolumeName, Record>> {
        let bytes = self
            .dir
            .read_file(LEDGER_FILE)
            .map_err(|source| Error::ReadLedger {
                base: self.base.clone(),
                source,
            })?;
        let Some(bytes) = bytes else {
            return Ok(BTreeMap::new());
        };
        let file: LedgerFile =
            serde_json::from_slice(&bytes).map_err(|source| Error::DecodeLedger {
                base: self.base.clone(),
                source,
            })?;
        match file.version {
            FORMAT_VERSION => Ok(file.volumes),
            found => Err(Error::LedgerVersion {
                base: self.base.clone(),
                found,
            }),
        }
    }

    fn write(&self, volumes: &BTreeMap<VolumeName, Record>) -> Result<()> {
        let file = LedgerFile {
            version: FORMAT_VERSION,
            volumes: volumes.clone(),
        };
        let bytes = serde_json::to_vec_pretty(&file).map_err(|source| Error::DecodeLedger {
            base: self.base.clone(),
            source,
        })?;
        self.dir
            .write_file_atomic(LEDGER_FILE, &bytes)
            .map_err(|source| Error::WriteLedger {
                base: self.base.clone(),
                source,
            })
    }
}

/// A ledger held under its lock. Every change is written durably before the method returns.
#[derive(Debug)]
pub struct LockedLedger<'a> {
    ledger: &'a Ledger,
    _lock: Flock<File>,
    volumes: BTreeMap<VolumeName, Record>,
}

impl LockedLedger<'_> {
    pub fn volumes(&self) -> &BTreeMap<VolumeName, Record> {
        &self.volumes
    }

    pub fn get(&self, volume: &VolumeName) -> Option<Record> {
        self.volumes.get(volume).copied()
    }

    /// Sum of the sizes promised on this base path.
    pub fn promised_bytes(&self) -> u64 {
        self.volumes
            .values()
            .fold(0_u64, |sum, record| sum.saturating_add(record.size_bytes))
    }

    /// Records `volume` with a fresh project id from `range` (or none when `with_project` is false).
    /// Idempotent: an existing record is returned unchanged.
    pub fn allocate(
        &mut self,
        volume: &VolumeName,
        size_bytes: u64,
        with_project: bool,
        range: ProjectRange,
    ) -> Result<Record> {
        if let Some(existing) = self.get(volume) {
            return Ok(existing);
        }
        let project = match with_project {
            false => None,
            true => Some(
                next_free_project(self.volumes.values().filter_map(|r| r.project), range)
                    .ok_or_else(|| Error::AllocateProject {
                        base: self.ledger.base.clone(),
                        first: range.first,
                        last: range.last,
                    })?,
            ),
        };
        let record = Record {
            project,
            size_bytes,
        };
        self.put(volume, record)?;
        Ok(record)
    }

    /// Replaces the record of `volume`.
    pub fn put(&mut self, volume: &VolumeName, record: Record) -> Result<()> {
        let mut next = self.volumes.clone();
        next.insert(volume.clone(), record);
        self.ledger.write(&next)?;
        self.volumes = next;
        Ok(())
    }

    /// Forgets `volume`; `false` when it was not recorded.
    pub fn remove(&mut self, volume: &VolumeName) -> Result<bool> {
        if !self.volumes.contains_key(volume) {
            return Ok(false);
        }
        let mut next = self.volumes.clone();
        next.remove(volume);
        self.ledger.write(&next)?;
        self.volumes = next;
        Ok(true)
    }
}

/// The smallest id of `range` not in `used`.
pub fn next_free_project(
    used: impl IntoIterator<Item = ProjectId>,
    range: ProjectRange,
) -> Option<ProjectId> {
    let mut used: Vec<u32> = used
        .into_iter()
        .map(|p| p.get())
        .filter(|id| (range.first..=range.last).contains(id))
        .collect();
    used.sort_unstable();
    used.dedup();
    let mut candidate = range.first;
    for id in used {
        if id != candidate {
            break;
        }
        candidate = candidate.checked_add(1)?;
    }
    (candidate <= range.last)
        .then_some(candidate)
        .and_then(ProjectId::new)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(list: &[u32]) -> Vec<ProjectId> {
        list.iter().filter_map(|&id| ProjectId::new(id)).collect()
    }

    fn range(first: u32, last: u32) -> ProjectRange {
        ProjectRange { first, last }
    }

    #[test]
    fn next_free_project_takes_the_smallest_gap() {
        let cases: [(&[u32], ProjectRange, Option<u32>); 6] = [
            (&[], range(10, 12), Some(10)),
            (&[10, 11], range(10, 12), Some(12)),
            (&[10, 12], range(10, 12), Some(11)),
            (&[10, 11, 12], range(10, 12), None),
            (&[5, 99, 11], range(10, 12), Some(10)),
            (&[u32::MAX], range(u32::MAX, u32::MAX), None),
        ];
        for (used, range, expected) in cases {
            assert_eq!(
                next_free_project(ids(used), range).map(|p| p.get()),
                expected,
                "{used:?}"
            );
        }
    }

    #[test]
    fn ledger_allocates_persists_and_releases() {
        let temp = tempfile::tempdir().unwrap();
        let base_path: super::super::names::BasePath =
            temp.path().to_str().unwrap().parse().unwrap();
        let base = Dir::open_path(&base_path).unwrap();
        let ledger = Ledger::open(&base).unwrap();
        let a: VolumeName = "pvc-a".parse().unwrap();
        let b: VolumeName = "pvc-b".parse().unwrap();
        let c: VolumeName = "pvc-c".parse().unwrap();
        {
            let mut locked = ledger.lock().unwrap();
            let ra = locked.allocate(&a, 100, true, range(7, 9)).unwrap();
            let rb = locked.allocate(&b, 50, false, range(7, 9)).unwrap();
            let rc = locked.allocate(&c, 1, true, range(7, 9)).unwrap();
            assert_eq!(
                (ra.project, rb.project, rc.project),
                (ProjectId::new(7), None, ProjectId::new(8))
            );
            // Idempotent: the same record again, not a new id.
            assert_eq!(locked.allocate(&a, 999, true, range(7, 9)).unwrap(), ra);
            assert_eq!(locked.promised_bytes(), 151);
            assert!(locked.remove(&a).unwrap());
            assert!(!locked.remove(&a).unwrap());
        }
        // A fresh open reads what was written; the freed id is reused first.
        let reopened = Ledger::open(&base).unwrap();
        let mut locked = reopened.lock().unwrap();
        assert_eq!(
            locked.volumes().keys().cloned().collect::<Vec<_>>(),
            vec![b.clone(), c]
        );
        let again = locked.allocate(&a, 10, true, range(7, 9)).unwrap();
        assert_eq!(again.project, ProjectId::new(7));
    }

    #[test]
    fn concurrent_allocations_from_separate_opens_never_share_an_id() {
        let temp = tempfile::tempdir().unwrap();
        let base_path: super::super::names::BasePath =
            temp.path().to_str().unwrap().parse().unwrap();
        let threads: Vec<_> = (0..8)
            .map(|i| {
                let base_path = base_path.clone();
                std::thread::spawn(move || {
                    // Each thread opens its own descriptors, like separate processes would.
                    let base = Dir::open_path(&base_path).unwrap();
                    let ledger = Ledger::open(&base).unwrap();
                    let volume: VolumeName = format!("pvc-{i}").parse().unwrap();
                    let mut locked = ledger.lock().unwrap();
                    locked.allocate(&volume, 1, true, range(100, 199)).unwrap()
                })
            })
            .collect();
        let mut ids: Vec<u32> = threads
            .into_iter()
            .filter_map(|t| t.join().unwrap().project)
            .map(|p| p.get())
            .collect();
        ids.sort_unstable();
        assert_eq!(ids, (100..108).collect::<Vec<_>>());
    }

    #[test]
    fn corrupt_or_future_ledgers_are_errors_not_empty() {
        let temp = tempfile::tempdir().unwrap();
        let base_path: super::super::names::BasePath =
            temp.path().to_str().unwrap().parse().unwrap();
        let base = Dir::open_path(&base_path).unwrap();
        let ledger = Ledger::open(&base).unwrap();
        std::fs::write(temp.path().join(".berth/volumes.json"), b"{not json").unwrap();
        assert!(matches!(ledger.lock(), Err(Error::DecodeLedger { .. })));
        std::fs::write(
            temp.path().join(".berth/volumes.json"),
            br#"{"version":2,"volumes":{}}"#,
        )
        .unwrap();
        assert!(matches!(
            ledger.lock(),
            Err(Error::LedgerVersion { found: 2, .. })
        ));
    }
}
