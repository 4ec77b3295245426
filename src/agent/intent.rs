//! Durable intent records: written before any disk change, removed once the Kubernetes side is done, so a
//! crash at any point neither leaks nor loses a volume (the external-provisioner #486 leak).
//!
//! One JSON file per volume, `<stateDir>/intents/<volume>.json`, written atomically (temporary file, fsync,
//! rename, fsync of the directory). The provisioner follows this protocol:
//!
//! * **Create**: `record(Create)` → backend create → create the PV object → `complete`.
//!   On restart, a pending Create means "a backing volume may exist without a PV": if the PV exists,
//!   `complete`; else if the claim still exists and wants this node, run create again (idempotent) and
//!   create the PV; else (claim gone) delete the backing volume, then `complete`.
//! * **Expand**: `record(Expand)` → backend expand → update the claim status → `complete`.
//!   On restart: expand again (idempotent), update status, `complete`.
//! * **Delete**: `record(Delete)` → backend delete → remove the PV finalizer / delete the PV → `complete`.
//!   On restart: delete again ("already gone" is success), finish the PV, `complete`.
//!
//! A newer record for a volume replaces the older one: each describes the whole remaining work.
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::names::{BasePath, ClassName, VolumeName};
use super::safe_fs::{self, Dir, EntryKind};

const INTENTS_DIR: &str = "intents";
const SUFFIX: &str = ".json";

/// Errors from the intent log.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("open intent log in {state_dir}")]
    OpenLog {
        state_dir: PathBuf,
        #[source]
        source: safe_fs::Error,
    },
    #[error("write intent of {volume}")]
    RecordIntent {
        volume: VolumeName,
        #[source]
        source: safe_fs::Error,
    },
    #[error("remove intent of {volume}")]
    CompleteIntent {
        volume: VolumeName,
        #[source]
        source: safe_fs::Error,
    },
    #[error("read intents")]
    ReadIntents(#[source] safe_fs::Error),
    #[error("encode intent of {volume}")]
    EncodeIntent {
        volume: VolumeName,
        #[source]
        source: serde_json::Error,
    },
    #[error("intent file {file} is corrupt")]
    DecodeIntent {
        file: String,
        #[source]
        source: serde_json::Error,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The claim a create intent serves (stored for recovery, never used in a path).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClaimRef {
    pub namespace: String,
    pub name: String,
    pub uid: String,
}

/// The disk work a record announces.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "operation", rename_all = "camelCase")]
pub enum Operation {
    #[serde(rename_all = "camelCase")]
    Create {
        claim: ClaimRef,
        size_bytes: u64,
    },
    #[serde(rename_all = "camelCase")]
    Expand {
        size_bytes: u64,
    },
    Delete,
}

/// One intent record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Intent {
    pub volume: VolumeName,
    pub class: ClassName,
    #[serde(flatten)]
    pub operation: Operation,
    /// Seconds since the Unix epoch when recorded (for age-based reporting).
    pub recorded_at: u64,
}

impl Intent {
    /// A record stamped with the current time.
    pub fn now(volume: VolumeName, class: ClassName, operation: Operation) -> Intent {
        let recorded_at = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |age| age.as_secs());
        Intent {
            volume,
            class,
            operation,
            recorded_at,
        }
    }
}

/// The intent log of an agent.
#[derive(Debug)]
pub struct IntentLog {
    dir: Dir,
}

fn file_name(volume: &VolumeName) -> String {
    format!("{volume}{SUFFIX}")
}

impl IntentLog {
    /// Opens the log below `state_dir` (which must exist), creating `intents/` if needed.
    pub fn open(state_dir: &BasePath) -> Result<IntentLog> {
        let open_error = |source| Error::OpenLog {
            state_dir: state_dir.as_path().to_owned(),
            source,
        };
        let state = Dir::open_path(state_dir).map_err(open_error)?;
        let (dir, created) = state
            .ensure_subdir(INTENTS_DIR, 0o700)
            .map_err(open_error)?;
        if created {
            state.sync().map_err(open_error)?;
        }
        Ok(IntentLog { dir })
    }

    /// Durably records `intent`, replacing an earlier record of the same volume. Returns only once the
    /// record survives a crash.
    pub fn record(&self, intent: &Intent) -> Result<()> {
        let bytes = serde_json::to_vec_pretty(intent).map_err(|source| Error::EncodeIntent {
            volume: intent.volume.clone(),
            source,
        })?;
        self.dir
            .write_file_atomic(file_name(&intent.volume), &bytes)
            .map_err(|source| Error::RecordIntent {
                volume: intent.volume.clone(),
                source,
            })
    }

    /// Removes the record of `volume` durably; `false` when there was none (completing twice is fine).
    pub fn complete(&self, volume: &VolumeName) -> Result<bool> {
        self.dir
            .remove_file(file_name(volume))
            .map_err(|source| Error::CompleteIntent {
                volume: volume.clone(),
                source,
            })
    }

    /// The record of `volume`, if any.
    pub fn get(&self, volume: &VolumeName) -> Result<Option<Intent>> {
        let name = file_name(volume);
        let bytes = self.dir.read_file(&name).map_err(Error::ReadIntents)?;
        bytes
            .map(|bytes| {
                serde_json::from_slice(&bytes)
                    .map_err(|source| Error::DecodeIntent { file: name, source })
            })
            .transpose()
    }

    /// Every pending record, oldest first (ties by volume name).
    ///
    /// # Errors
    /// A corrupt record is an error, not skipped: skipping it could leak its volume.
    pub fn pending(&self) -> Result<Vec<Intent>> {
        let mut intents = Vec::new();
        for entry in self.dir.entries().map_err(Error::ReadIntents)? {
            let Some(name) = entry.name.to_str() else {
                continue;
            };
            // Temporary files of an interrupted write start with '.', and hold nothing committed.
            if entry.kind != EntryKind::File || name.starts_with('.') || !name.ends_with(SUFFIX) {
                continue;
            }
            let bytes = self
                .dir
                .read_file(name)
                .map_err(Error::ReadIntents)?
                .unwrap_or_default();
            let intent: Intent =
                serde_json::from_slice(&bytes).map_err(|source| Error::DecodeIntent {
                    file: name.to_owned(),
                    source,
                })?;
            intents.push(intent);
        }
        intents.sort_by(|a, b| (a.recorded_at, &a.volume).cmp(&(b.recorded_at, &b.volume)));
        Ok(intents)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log() -> (tempfile::TempDir, IntentLog) {
        let temp = tempfile::tempdir().unwrap();
        let state: BasePath = temp.path().to_str().unwrap().parse().unwrap();
        let log = IntentLog::open(&state).unwrap();
        (temp, log)
    }

    fn intent(volume: &str, at: u64, operation: Operation) -> Intent {
        Intent {
            volume: volume.parse().unwrap(),
            class: "local".parse().unwrap(),
            operation,
            recorded_at: at,
        }
    }

    fn create_op() -> Operation {
        Operation::Create {
            claim: ClaimRef {
                namespace: "ns".to_owned(),
                name: "data-0".to_owned(),
                uid: "a".to_owned(),
            },
            size_bytes: 1 << 30,
        }
    }

    #[test]
    fn record_complete_and_list_pending() {
        let (_temp, log) = log();
        let a = intent("pvc-a", 20, create_op());
        let b = intent("pvc-b", 10, Operation::Delete);
        log.record(&a).unwrap();
        log.record(&b).unwrap();
        assert_eq!(log.pending().unwrap(), vec![b.clone(), a.clone()]);
        // A newer record replaces the older one.
        let a2 = intent("pvc-a", 30, Operation::Expand { size_bytes: 5 });
        log.record(&a2).unwrap();
        assert_eq!(log.get(&a.volume).unwrap(), Some(a2.clone()));
        assert!(log.complete(&b.volume).unwrap());
        assert!(!log.complete(&b.volume).unwrap());
        assert_eq!(log.pending().unwrap(), vec![a2]);
    }

    #[test]
    fn records_survive_reopening_and_have_a_stable_format() {
        let temp = tempfile::tempdir().unwrap();
        let state: BasePath = temp.path().to_str().unwrap().parse().unwrap();
        IntentLog::open(&state)
            .unwrap()
            .record(&intent("pvc-a", 7, create_op()))
            .unwrap();
        let text = std::fs::read_to_string(temp.path().join("intents/pvc-a.json")).unwrap();
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            value,
            serde_json::json!({
                "volume": "pvc-a",
                "class": "local",
                "operation": "create",
                "claim": {"namespace": "ns", "name": "data-0", "uid": "a"},
                "sizeBytes": 1073741824,
                "recordedAt": 7
            })
        );
        let reopened = IntentLog::open(&state).unwrap();
        assert_eq!(reopened.pending().unwrap().len(), 1);
    }

    #[test]
    fn leftover_temporary_files_are_ignored_and_corrupt_records_are_errors() {
        let (temp, log) = log();
        std::fs::write(temp.path().join("intents/.tmp.pvc-x.json"), b"{partial").unwrap();
        assert_eq!(log.pending().unwrap(), vec![]);
        std::fs::write(temp.path().join("intents/pvc-y.json"), b"{garbage").unwrap();
        assert!(
            matches!(log.pending(), Err(Error::DecodeIntent { file, .. }) if file == "pvc-y.json")
        );
    }
}
