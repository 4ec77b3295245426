//! Watch streams: 200 + chunked newline-delimited JSON events, selector transitions, bookmarks,
//! `sendInitialEvents`, timeouts, and 410 Expired as an ERROR event inside the 200 stream.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::response::Response;
use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::request::Format;
use super::respond;
use crate::catalog::ResourceType;
use crate::meta;
use crate::selectors::{FieldSelector, LabelSelector};
use crate::status::StatusError;
use crate::store::{Change, ChangeType, Store, Subscription, WatchMessage, WatchStart};

/// A parsed watch request.
#[derive(Debug, Clone)]
pub struct WatchRequest {
    pub rt: &'static ResourceType,
    pub namespace: Option<String>,
    /// Set when watching a single object by URL.
    pub name: Option<String>,
    pub labels: LabelSelector,
    pub fields: FieldSelector,
    /// `resourceVersion` as sent (`None`/`""`/`"0"` start from the current state).
    pub resource_version: Option<String>,
    pub timeout: Duration,
    pub bookmarks: bool,
    pub send_initial_events: bool,
    pub format: Format,
}

#[derive(Serialize)]
struct Event<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    object: &'a Value,
}

/// Registers the watcher (synchronously, so no change after this call is missed) and returns the
/// streaming 200 response.
pub fn start(
    store: Arc<Store>,
    req: WatchRequest,
    bookmark_interval: Duration,
) -> Result<Response, StatusError> {
    let requested = match req.resource_version.as_deref() {
        None | Some("") | Some("0") => None,
        Some(rv) => Some(
            rv.parse::<u64>()
                .map_err(|_| StatusError::bad_request(format!("invalid resource version: {rv}")))?,
        ),
    };
    let start = match (req.send_initial_events, requested) {
        (true, _) | (false, None) => WatchStart::CurrentState,
        (false, Some(rv)) => WatchStart::After(rv),
    };
    let namespace = req.namespace.clone().filter(|_| req.rt.namespaced);
    let (tx, rx) = mpsc::channel::<Bytes>(256);
    match store.subscribe(req.rt.storage, namespace.as_deref(), start) {
        Ok(sub) => {
            let watcher = Watcher {
                store,
                req,
                tx,
                after: requested.unwrap_or(0),
                last_rv: 0,
            };
            tokio::spawn(watcher.run(sub, bookmark_interval));
        }
        Err(e) => {
            // The real server answers an expired resourceVersion with a 200 stream holding one ERROR event.
            let status = match e {
                crate::store::Error::Expired { requested, oldest } => {
                    StatusError::too_old_resource_version(requested, oldest)
                }
                other => StatusError::internal(other.to_string()),
            };
            let line = event_line("ERROR", &status.to_status());
            let _ = tx.try_send(line);
        }
    }
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|chunk| (Ok::<Bytes, Infallible>(chunk), rx))
    });
    Ok(respond::bytes_stream(Body::from_stream(stream)))
}

struct Watcher {
    store: Arc<Store>,
    req: WatchRequest,
    tx: mpsc::Sender<Bytes>,
    /// Changes at or below this resourceVersion were asked to be skipped.
    after: u64,
    /// The resourceVersion of the last change this watcher has processed (matching or not).
    last_rv: u64,
}

/// Whether the stream should continue.
type Flow = Result<(), ()>;

impl Watcher {
    async fn run(mut self, mut sub: Subscription, bookmark_interval: Duration) {
        let deadline = Instant::now() + self.req.timeout;
        if self.initial(&mut sub).await.is_err() {
            return;
        }
        let mut ticker =
            tokio::time::interval_at(Instant::now() + bookmark_interval, bookmark_interval);
        loop {
            let flow = tokio::select! {
                msg = sub.receiver.recv() => match msg {
                    Some(msg) => self.message(msg).await,
                    // the store closed this watch (test control or shutdown)
                    None => Err(()),
                },
                _ = ticker.tick(), if self.req.bookmarks => self.bookmark(&mut sub, None).await,
                _ = tokio::time::sleep_until(deadline) => {
                    if self.req.bookmarks {
                        let _ = self.bookmark(&mut sub, None).await;
                    }
                    Err(())
                }
                _ = self.tx.closed() => Err(()),
            };
            if flow.is_err() {
                return;
            }
        }
    }

    /// Synthetic ADDED events (and the initial-events-end bookmark), or the replay of retained changes.
    async fn initial(&mut self, sub: &mut Subscription) -> Flow {
        if let Some(objects) = sub.initial.take() {
            for object in objects.iter().filter(|o| self.matches(o)) {
                self.send("ADDED", object).await?;
            }
            if self.req.send_initial_events {
                self.bookmark(sub, Some(sub.rv)).await?;
            }
        }
        for change in std::mem::take(&mut sub.replay) {
            self.change(&change).await?;
        }
        self.last_rv = self.last_rv.max(sub.rv).max(self.after);
        Ok(())
    }

    async fn message(&mut self, msg: WatchMessage) -> Flow {
        match msg {
            WatchMessage::Change(change) => self.change(&change).await,
            WatchMessage::Expired { oldest } => {
                let status = StatusError::too_old_resource_version(self.last_rv, oldest);
                let _ = self.tx.send(event_line("ERROR", &status.to_status())).await;
                Err(())
            }
        }
    }

    /// Turns one committed change into the event this watcher's filter sees (selector transitions become
    /// ADDED / DELETED).
    async fn change(&mut self, change: &Change) -> Flow {
        if change.rv <= self.after {
            return Ok(());
        }
        self.last_rv = self.last_rv.max(change.rv);
        let now = self.matches(&change.object);
        let before = change.previous.as_ref().is_some_and(|p| self.matches(p));
        match (change.change, before, now) {
            (ChangeType::Added, _, true) => self.send("ADDED", &change.object).await,
            (ChangeType::Modified, true, true) => self.send("MODIFIED", &change.object).await,
            (ChangeType::Modified, false, true) => self.send("ADDED", &change.object).await,
            (ChangeType::Modified, true, false) => {
                // the previous content, stamped with the resourceVersion of the write that moved it out
                let mut gone = change.previous.as_deref().cloned().unwrap_or(Value::Null);
                meta::set_resource_version(&mut gone, change.rv);
                self.send("DELETED", &gone).await
            }
            (ChangeType::Deleted, _, true) => self.send("DELETED", &change.object).await,
            _ => Ok(()),
        }
    }

    /// Sends a BOOKMARK at the current resourceVersion after delivering everything committed before it.
    async fn bookmark(&mut self, sub: &mut Subscription, initial_end: Option<u64>) -> Flow {
        let rv = match initial_end {
            Some(rv) => rv,
            None => {
                let current = self.store.current_rv();
                while let Ok(msg) = sub.receiver.try_recv() {
                    self.message(msg).await?;
                }
                current.max(self.last_rv).max(self.after)
            }
        };
        let mut metadata = json!({"resourceVersion": rv.to_string()});
        if initial_end.is_some() {
            metadata["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        let (kind, api_version) = match self.req.format {
            Format::Json | Format::Table => {
                (self.req.rt.kind.to_string(), self.req.rt.api_version())
            }
            Format::Metadata => (
                "PartialObjectMetadata".to_string(),
                "meta.k8s.io/v1".to_string(),
            ),
        };
        let object = json!({"kind": kind, "apiVersion": api_version, "metadata": metadata});
        self.tx
            .send(event_line("BOOKMARK", &object))
            .await
            .map_err(|_| ())
    }

    fn matches(&self, object: &Value) -> bool {
        let ns_ok = self
            .req
            .namespace
            .as_deref()
            .is_none_or(|ns| !self.req.rt.namespaced || meta::namespace(object) == ns);
        let name_ok = self
            .req
            .name
            .as_deref()
            .is_none_or(|n| meta::name(object) == n);
        ns_ok && name_ok && self.req.labels.matches(object) && self.req.fields.matches(object)
    }

    async fn send(&self, kind: &str, object: &Value) -> Flow {
        let shown = respond::present(self.req.rt, self.req.format, object);
        self.tx.send(event_line(kind, &shown)).await.map_err(|_| ())
    }
}

fn event_line(kind: &str, object: &Value) -> Bytes {
    let mut line = serde_json::to_vec(&Event { kind, object }).unwrap_or_default();
    line.push(b'\n');
    Bytes::from(line)
}
