//! Event expiry: the real server stores Events with a TTL (1 h by default), refreshed on every write.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::meta;
use crate::store::Store;

/// The newest time an event was written, from the fields writers stamp.
fn last_written(event: &Value) -> Option<chrono::DateTime<chrono::Utc>> {
    [
        "/series/lastObservedTime",
        "/lastTimestamp",
        "/eventTime",
        "/metadata/creationTimestamp",
    ]
    .iter()
    .filter_map(|p| meta::str_at(event, p))
    .filter_map(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
    .map(|t| t.with_timezone(&chrono::Utc))
    .max()
}

/// Deletes the events not written for `ttl`; returns how many went.
pub fn expire_events(store: &Store, ttl: Duration) -> usize {
    let Ok(ttl) = chrono::Duration::from_std(ttl) else {
        return 0;
    };
    let cutoff = chrono::Utc::now() - ttl;
    let (_, events) = store.list("events", None);
    events
        .iter()
        .filter(|e| last_written(e).is_some_and(|t| t < cutoff))
        .filter(|e| {
            store
                .delete("events", meta::namespace(e), meta::name(e), None)
                .is_ok()
        })
        .count()
}

/// Runs [`expire_events`] periodically until the task is aborted.
pub async fn run(store: Arc<Store>, ttl: Duration) {
    let period = (ttl / 10).clamp(Duration::from_secs(1), Duration::from_secs(60));
    let mut ticker = tokio::time::interval(period);
    loop {
        ticker.tick().await;
        expire_events(&store, ttl);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoreConfig;
    use serde_json::json;

    #[test]
    fn old_events_expire_recent_ones_stay() {
        let store = Store::new(StoreConfig::default());
        let event = |name: &str, at: &str| {
            json!({"apiVersion": "v1", "kind": "Event",
                   "metadata": {"name": name, "namespace": "default", "creationTimestamp": "2020-01-01T00:00:00Z"},
                   "lastTimestamp": at})
        };
        store
            .create("events", event("old", "2020-01-01T00:00:00Z"))
            .unwrap();
        store
            .create("events", event("fresh", &meta::now_rfc3339()))
            .unwrap();
        assert_eq!(expire_events(&store, Duration::from_secs(3600)), 1);
        assert!(store.get("events", "default", "fresh").is_some());
        assert!(store.get("events", "default", "old").is_none());
    }
}
