//! The object store: JSON objects per storage bucket, one global resourceVersion counter, a bounded
//! per-bucket change history, and fan-out of changes to watchers.
//!
//! Everything that must be atomic with respect to the resourceVersion order (assigning the next RV,
//! recording history, notifying watchers, registering a new watcher) happens under one mutex that is
//! never held across an `.await`.

mod snapshots;
mod watch;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::mpsc;

use crate::meta;
use snapshots::Snapshots;
pub use watch::{Change, ChangeType, Subscription, WatchMessage, WatchStart};

/// Why a store operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("object {namespace}/{name} not found")]
    NotFound { namespace: String, name: String },
    #[error("object {namespace}/{name} already exists")]
    AlreadyExists { namespace: String, name: String },
    #[error("object {namespace}/{name} is at resourceVersion {current}, not {expected}")]
    Conflict {
        namespace: String,
        name: String,
        expected: u64,
        current: u64,
    },
    #[error("too old resource version: {requested} ({oldest})")]
    Expired { requested: u64, oldest: u64 },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Tunables of the store.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// Changes kept per bucket for watch resumption; older ones are compacted away.
    pub history_limit: usize,
    /// How long a paged list's snapshot stays available to `continue` tokens.
    pub snapshot_ttl: Duration,
    /// How many paged-list snapshots are kept at most (oldest dropped first).
    pub max_snapshots: usize,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            history_limit: 50_000,
            snapshot_ttl: Duration::from_secs(300),
            max_snapshots: 256,
        }
    }
}

/// Key of an object inside a bucket: namespace (empty for cluster-scoped) then name, so that iteration
/// order is the real server's (etcd key order).
pub type ObjectKey = (String, String);

/// The outcome of an update.
#[derive(Debug, Clone)]
pub enum Write {
    /// Stored with a new resourceVersion; a MODIFIED change was emitted.
    Changed(Arc<Value>),
    /// Identical to the stored object: nothing written, resourceVersion kept, no event.
    Unchanged(Arc<Value>),
}

impl Write {
    pub fn object(&self) -> &Arc<Value> {
        match self {
            Write::Changed(o) | Write::Unchanged(o) => o,
        }
    }
}

#[derive(Default)]
struct Bucket {
    objects: BTreeMap<ObjectKey, Arc<Value>>,
    history: VecDeque<Arc<Change>>,
    /// Changes with a resourceVersion at or below this may have been dropped from `history`.
    compacted_rv: u64,
    watchers: Vec<mpsc::UnboundedSender<WatchMessage>>,
}

struct State {
    rv: u64,
    buckets: HashMap<&'static str, Bucket>,
    snapshots: Snapshots,
    last_write: Instant,
}

/// The shared object store.
pub struct Store {
    state: Mutex<State>,
    config: StoreConfig,
    /// Publishes the current resourceVersion after every write.
    rv_tx: tokio::sync::watch::Sender<u64>,
}

impl Store {
    pub fn new(config: StoreConfig) -> Store {
        let (rv_tx, _) = tokio::sync::watch::channel(0);
        Store {
            state: Mutex::new(State {
                rv: 0,
                buckets: HashMap::new(),
                snapshots: Snapshots::default(),
                last_write: Instant::now(),
            }),
            config,
            rv_tx,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave a half-applied write (each write is applied with
        // plain map operations after all checks), so a poisoned lock is still consistent.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The resourceVersion of the last write.
    pub fn current_rv(&self) -> u64 {
        self.lock().rv
    }

    pub fn get(&self, storage: &'static str, namespace: &str, name: &str) -> Option<Arc<Value>> {
        let state = self.lock();
        state
            .buckets
            .get(storage)?
            .objects
            .get(&(namespace.to_string(), name.to_string()))
            .cloned()
    }

    /// All objects of a bucket (optionally one namespace), in key order, with the RV of this snapshot.
    pub fn list(&self, storage: &'static str, namespace: Option<&str>) -> (u64, Vec<Arc<Value>>) {
        let state = self.lock();
        let items = state
            .buckets
            .get(storage)
            .map(|b| objects_in(b, namespace))
            .unwrap_or_default();
        (state.rv, items)
    }

    /// Stores a new object under the next resourceVersion and emits ADDED.
    pub fn create(&self, storage: &'static str, mut object: Value) -> Result<Arc<Value>> {
        let key = key_of(&object);
        let mut state = self.lock();
        let exists = state
            .buckets
            .get(storage)
            .is_some_and(|b| b.objects.contains_key(&key));
        if exists {
            return Err(Error::AlreadyExists {
                namespace: key.0,
                name: key.1,
            });
        }
        let rv = state.next_rv();
        meta::set_resource_version(&mut object, rv);
        let object = Arc::new(object);
        let bucket = state.buckets.entry(storage).or_default();
        bucket.objects.insert(key, object.clone());
        let change = Change {
            rv,
            change: ChangeType::Added,
            object: object.clone(),
            previous: None,
        };
        bucket.record(change, self.config.history_limit);
        drop(state);
        self.rv_tx.send_replace(rv);
        Ok(object)
    }

    /// Replaces an object whose stored resourceVersion is `expected_rv`. A write identical to the stored
    /// object (ignoring managedFields timestamps) is a no-op that keeps the resourceVersion.
    pub fn update(
        &self,
        storage: &'static str,
        expected_rv: u64,
        mut object: Value,
    ) -> Result<Write> {
        let key = key_of(&object);
        let mut state = self.lock();
        let current = state
            .buckets
            .get(storage)
            .and_then(|b| b.objects.get(&key))
            .cloned()
            .ok_or_else(|| Error::NotFound {
                namespace: key.0.clone(),
                name: key.1.clone(),
            })?;
        let current_rv = meta::resource_version_number(&current);
        if current_rv != expected_rv {
            return Err(Error::Conflict {
                namespace: key.0,
                name: key.1,
                expected: expected_rv,
                current: current_rv,
            });
        }
        meta::set_resource_version(&mut object, current_rv);
        if meta::same_ignoring_managed_times(&object, &current) {
            return Ok(Write::Unchanged(current));
        }
        let rv = state.next_rv();
        meta::set_resource_version(&mut object, rv);
        let object = Arc::new(object);
        let bucket = state.buckets.entry(storage).or_default();
        bucket.objects.insert(key, object.clone());
        let change = Change {
            rv,
            change: ChangeType::Modified,
            object: object.clone(),
            previous: Some(current),
        };
        bucket.record(change, self.config.history_limit);
        drop(state);
        self.rv_tx.send_replace(rv);
        Ok(Write::Changed(object))
    }

    /// Removes an object (optionally only at `expected_rv`) and emits DELETED carrying the deletion's
    /// resourceVersion. Returns the object as the DELETED event shows it.
    pub fn delete(
        &self,
        storage: &'static str,
        namespace: &str,
        name: &str,
        expected_rv: Option<u64>,
    ) -> Result<Arc<Value>> {
        let key = (namespace.to_string(), name.to_string());
        let mut state = self.lock();
        let current = state
            .buckets
            .get(storage)
            .and_then(|b| b.objects.get(&key))
            .cloned()
            .ok_or_else(|| Error::NotFound {
                namespace: key.0.clone(),
                name: key.1.clone(),
            })?;
        let current_rv = meta::resource_version_number(&current);
        if let Some(expected) = expected_rv
            && expected != current_rv
        {
            return Err(Error::Conflict {
                namespace: key.0,
                name: key.1,
                expected,
                current: current_rv,
            });
        }
        let rv = state.next_rv();
        let mut gone = (*current).clone();
        meta::set_resource_version(&mut gone, rv);
        let gone = Arc::new(gone);
        let bucket = state.buckets.entry(storage).or_default();
        bucket.objects.remove(&key);
        let change = Change {
            rv,
            change: ChangeType::Deleted,
            object: gone.clone(),
            previous: Some(current),
        };
        bucket.record(change, self.config.history_limit);
        drop(state);
        self.rv_tx.send_replace(rv);
        Ok(gone)
    }

    /// Registers a watcher on a bucket. `WatchStart::CurrentState` returns the current objects (for
    /// synthetic ADDED events); `WatchStart::After(rv)` replays retained changes after `rv`, or fails with
    /// `Expired` when changes after `rv` were compacted away.
    pub fn subscribe(
        &self,
        storage: &'static str,
        namespace: Option<&str>,
        start: WatchStart,
    ) -> Result<Subscription> {
        let (tx, receiver) = mpsc::unbounded_channel();
        let mut state = self.lock();
        let rv = state.rv;
        let bucket = state.buckets.entry(storage).or_default();
        let (initial, replay) = match start {
            WatchStart::CurrentState => (Some(objects_in(bucket, namespace)), Vec::new()),
            WatchStart::After(from) => {
                if from < bucket.compacted_rv {
                    return Err(Error::Expired {
                        requested: from,
                        oldest: bucket.compacted_rv + 1,
                    });
                }
                let replay = bucket
                    .history
                    .iter()
                    .filter(|c| c.rv > from)
                    .cloned()
                    .collect();
                (None, replay)
            }
        };
        bucket.watchers.push(tx);
        Ok(Subscription {
            initial,
            replay,
            rv,
            receiver,
        })
    }

    /// Whether the bucket provably had no change after `rv` (so its current state is its state at `rv`).
    pub fn unchanged_since(&self, storage: &'static str, rv: u64) -> bool {
        let state = self.lock();
        match state.buckets.get(storage) {
            None => true,
            Some(b) => rv >= b.compacted_rv && b.history.back().is_none_or(|c| c.rv <= rv),
        }
    }

    /// Drops all retained history: watches resuming from any earlier resourceVersion get 410 Expired,
    /// and outstanding `continue` tokens expire.
    pub fn compact(&self) {
        let mut state = self.lock();
        let rv = state.rv;
        for bucket in state.buckets.values_mut() {
            bucket.history.clear();
            bucket.compacted_rv = rv;
        }
        state.snapshots.clear();
    }

    /// Ends every open watch stream cleanly (clients resume from their last resourceVersion).
    pub fn close_watches(&self) {
        let mut state = self.lock();
        for bucket in state.buckets.values_mut() {
            bucket.watchers.clear();
        }
    }

    /// Compacts history and tells every open watch that its position expired (an ERROR 410 event), which
    /// forces kube-rs watchers to relist.
    pub fn expire_watches(&self) {
        let mut state = self.lock();
        let rv = state.rv;
        for bucket in state.buckets.values_mut() {
            bucket.history.clear();
            bucket.compacted_rv = rv;
            for w in bucket.watchers.drain(..) {
                let _ = w.send(WatchMessage::Expired { oldest: rv + 1 });
            }
        }
        state.snapshots.clear();
    }

    /// Number of open watch registrations (dropped streams are pruned on the next change).
    pub fn watcher_count(&self) -> usize {
        let mut state = self.lock();
        state
            .buckets
            .values_mut()
            .map(|b| {
                b.watchers.retain(|w| !w.is_closed());
                b.watchers.len()
            })
            .sum()
    }

    /// Keeps the items of a paged list for its continue tokens; returns the snapshot id.
    pub fn save_snapshot(&self, rv: u64, items: Arc<Vec<Arc<Value>>>) -> u64 {
        let mut state = self.lock();
        state.snapshots.insert(
            rv,
            items,
            self.config.snapshot_ttl,
            self.config.max_snapshots,
        )
    }

    /// The snapshot of a continue token, if still retained.
    pub fn snapshot(&self, id: u64) -> Option<(u64, Arc<Vec<Arc<Value>>>)> {
        self.lock().snapshots.get(id, self.config.snapshot_ttl)
    }

    /// How long ago the last write happened.
    pub fn since_last_write(&self) -> Duration {
        self.lock().last_write.elapsed()
    }

    /// A receiver of the current resourceVersion, updated after every write.
    pub fn rv_receiver(&self) -> tokio::sync::watch::Receiver<u64> {
        self.rv_tx.subscribe()
    }

    /// Waits until the store reaches `rv`; false if it did not within `timeout`.
    pub async fn wait_for_rv(&self, rv: u64, timeout: Duration) -> bool {
        let mut rx = self.rv_receiver();
        let reached = tokio::time::timeout(timeout, rx.wait_for(|current| *current >= rv)).await;
        matches!(reached, Ok(Ok(_)))
    }

    /// Waits until no write happened for `quiet`; false if that did not happen within `limit`.
    pub async fn wait_quiescent(&self, quiet: Duration, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        let mut rx = self.rv_receiver();
        loop {
            let since = self.since_last_write();
            if since >= quiet {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            let wait = (quiet - since).min(deadline - now);
            rx.mark_unchanged();
            // Either a write happens (loop again, re-measuring) or the remaining quiet time elapses.
            let _ = tokio::time::timeout(wait, rx.changed()).await;
        }
    }
}

impl State {
    fn next_rv(&mut self) -> u64 {
        self.rv += 1;
        self.last_write = Instant::now();
        self.rv
    }
}

impl Bucket {
    /// Appends a change to the history (compacting the oldest beyond the limit) and fans it out.
    fn record(&mut self, change: Change, history_limit: usize) {
        let change = Arc::new(change);
        self.history.push_back(change.clone());
        while self.history.len() > history_limit {
            if let Some(dropped) = self.history.pop_front() {
                self.compacted_rv = dropped.rv;
            }
        }
        self.watchers
            .retain(|w| w.send(WatchMessage::Change(change.clone())).is_ok());
    }
}

fn objects_in(bucket: &Bucket, namespace: Option<&str>) -> Vec<Arc<Value>> {
    match namespace {
        None => bucket.objects.values().cloned().collect(),
        Some(ns) => bucket
            .objects
            .range((ns.to_string(), String::new())..)
            .take_while(|((n, _), _)| n == ns)
            .map(|(_, o)| o.clone())
            .collect(),
    }
}

fn key_of(object: &Value) -> ObjectKey {
    (
        meta::namespace(object).to_string(),
        meta::name(object).to_string(),
    )
}
