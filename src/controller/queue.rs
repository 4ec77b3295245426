//! A de-duplicating work queue: a key waits at most once, in arrival order (upstream's plain typed queue; no
//! rate limiting, because failed syncs are retried by the next event or resync, not re-queued).
use std::collections::{HashSet, VecDeque};
use std::hash::Hash;
use std::sync::Mutex;

use tokio::sync::Notify;

pub struct WorkQueue<K> {
    state: Mutex<State<K>>,
    ready: Notify,
}

struct State<K> {
    order: VecDeque<K>,
    queued: HashSet<K>,
}

impl<K: Clone + Eq + Hash> WorkQueue<K> {
    pub fn new() -> Self {
        Self {
            state: Mutex::new(State {
                order: VecDeque::new(),
                queued: HashSet::new(),
            }),
            ready: Notify::new(),
        }
    }

    /// Adds `key` unless it is already waiting.
    pub fn add(&self, key: K) {
        let added = {
            let mut state = self.lock();
            let added = state.queued.insert(key.clone());
            if added {
                state.order.push_back(key);
            }
            added
        };
        if added {
            self.ready.notify_one();
        }
    }

    /// Waits for the next key.
    pub async fn next(&self) -> K {
        loop {
            if let Some(key) = self.try_next() {
                return key;
            }
            self.ready.notified().await;
        }
    }

    /// The next key, if one is waiting.
    pub fn try_next(&self) -> Option<K> {
        let mut state = self.lock();
        let key = state.order.pop_front()?;
        state.queued.remove(&key);
        Some(key)
    }

    pub fn len(&self) -> usize {
        self.lock().order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State<K>> {
        // A panic while holding this lock cannot leave the queue inconsistent (each operation is one
        // push or pop), so a poisoned lock is still usable.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl<K: Clone + Eq + Hash> Default for WorkQueue<K> {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_wait_once_in_arrival_order() {
        let queue = WorkQueue::new();
        for key in ["a", "b", "a", "c", "b"] {
            queue.add(key);
        }
        let drained: Vec<_> = std::iter::from_fn(|| queue.try_next()).collect();
        assert_eq!(drained, ["a", "b", "c"]);
    }

    #[test]
    fn a_key_taken_out_can_be_added_again() {
        let queue = WorkQueue::new();
        queue.add(1);
        assert_eq!(queue.try_next(), Some(1));
        queue.add(1);
        assert_eq!(queue.len(), 1);
    }

    #[tokio::test]
    async fn next_wakes_up_on_add() {
        let queue = std::sync::Arc::new(WorkQueue::new());
        let waiter = tokio::spawn({
            let queue = queue.clone();
            async move { queue.next().await }
        });
        tokio::task::yield_now().await;
        queue.add("k");
        assert_eq!(waiter.await.unwrap(), "k");
    }
}
