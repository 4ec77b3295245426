//! The change records the store fans out to watchers, and what a new watcher receives.

use std::sync::Arc;

use serde_json::Value;
use tokio::sync::mpsc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeType {
    Added,
    Modified,
    Deleted,
}

/// One committed write.
#[derive(Debug)]
pub struct Change {
    /// The resourceVersion this write took.
    pub rv: u64,
    pub change: ChangeType,
    /// The new object; for deletions the last state carrying the deletion's resourceVersion.
    pub object: Arc<Value>,
    /// The object before this write (needed to turn selector transitions into ADDED/DELETED).
    pub previous: Option<Arc<Value>>,
}

/// What a watcher's channel carries.
#[derive(Debug, Clone)]
pub enum WatchMessage {
    Change(Arc<Change>),
    /// The watcher's position was compacted away (test control); the stream must end with ERROR 410.
    Expired {
        oldest: u64,
    },
}

/// Where a watch starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatchStart {
    /// Synthetic ADDED events for the current objects, then changes.
    CurrentState,
    /// Changes after this resourceVersion only.
    After(u64),
}

/// A registered watcher.
#[derive(Debug)]
pub struct Subscription {
    /// The current objects (for `WatchStart::CurrentState`).
    pub initial: Option<Vec<Arc<Value>>>,
    /// Retained changes after the requested resourceVersion (for `WatchStart::After`).
    pub replay: Vec<Arc<Change>>,
    /// The store's resourceVersion when the watcher was registered.
    pub rv: u64,
    /// Every later change of the bucket, in resourceVersion order.
    pub receiver: mpsc::UnboundedReceiver<WatchMessage>,
}
