//! Consistent snapshots of paged lists, kept for their `continue` tokens for a bounded time.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

struct Snapshot {
    rv: u64,
    items: Arc<Vec<Arc<Value>>>,
    taken: Instant,
}

#[derive(Default)]
pub(super) struct Snapshots {
    next_id: u64,
    by_id: BTreeMap<u64, Snapshot>,
}

impl Snapshots {
    pub(super) fn insert(
        &mut self,
        rv: u64,
        items: Arc<Vec<Arc<Value>>>,
        ttl: Duration,
        max: usize,
    ) -> u64 {
        self.by_id.retain(|_, s| s.taken.elapsed() < ttl);
        while self.by_id.len() >= max.max(1) {
            self.by_id.pop_first();
        }
        self.next_id += 1;
        self.by_id.insert(
            self.next_id,
            Snapshot {
                rv,
                items,
                taken: Instant::now(),
            },
        );
        self.next_id
    }

    pub(super) fn get(&self, id: u64, ttl: Duration) -> Option<(u64, Arc<Vec<Arc<Value>>>)> {
        self.by_id
            .get(&id)
            .filter(|s| s.taken.elapsed() < ttl)
            .map(|s| (s.rv, s.items.clone()))
    }

    pub(super) fn clear(&mut self) {
        self.by_id.clear();
    }
}
