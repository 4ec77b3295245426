//! Applies the binder's actions to the API, in order, stopping at the first failed write (the executor contract
//! in [`crate::binder::actions`]). It decides nothing: every object it writes comes complete from the decision.
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim};
use kube::ResourceExt as _;
use kube::api::{Api, PostParams};
use kube::runtime::events::{Event as KubeEvent, EventType as KubeEventType, Recorder};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::watch;

use super::cache::Cache;
use super::queue::WorkQueue;
use crate::binder::actions::{Action, ClaimKey, Event, EventType, FailureEvent, Write};

/// Why executing a list of actions stopped early.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("write {kind} {name} ({purpose})")]
    Write {
        kind: &'static str,
        name: String,
        purpose: &'static str,
        #[source]
        source: Box<kube::Error>,
    },
    #[error("sync failed")]
    Decision(#[from] crate::binder::actions::Error),
    #[error("not the leader: write of {kind} {name} skipped")]
    NotLeader { kind: &'static str, name: String },
    #[error("live lookup of claim {claim} must be handled by the caller")]
    UnexpectedLookup { claim: ClaimKey },
}

impl Error {
    /// A static label for logs and metrics.
    pub fn category(&self) -> &'static str {
        match self {
            Error::Write { source, .. } if is_conflict(source) => "conflict",
            Error::Write { .. } => "write",
            Error::Decision(error) => error.category(),
            Error::NotLeader { .. } => "not_leader",
            Error::UnexpectedLookup { .. } => "unexpected_lookup",
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Whether an API error is a 409 Conflict (someone else wrote first: re-read and decide again).
pub fn is_conflict(error: &kube::Error) -> bool {
    matches!(error, kube::Error::Api(response) if response.code == 409)
}

/// Counts of what one execution did, for metrics and tests.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Executed {
    pub writes: usize,
    pub events: usize,
}

/// Everything the executor touches.
pub struct Executor {
    pub client: kube::Client,
    pub recorder: Recorder,
    pub cache: Arc<RwLock<Cache>>,
    pub claim_queue: Arc<WorkQueue<ClaimKey>>,
    /// True while this process holds the lease; every write checks it first.
    pub leading: watch::Receiver<bool>,
}

impl Executor {
    /// Runs `actions` in order. Returns at the first failed write or [`Action::Fail`]; events never fail.
    pub async fn execute(&self, actions: Vec<Action>) -> Result<Executed> {
        let mut done = Executed::default();
        // The resourceVersion each object got from our own write earlier in this list (bind() writes the PV and
        // the claim twice each: spec, then status).
        let mut written: HashMap<(&'static str, String), String> = HashMap::new();
        for action in actions {
            match action {
                Action::UpdateVolume(write) => {
                    self.write_volume(write, false, &mut written).await?;
                    done.writes += 1;
                }
                Action::UpdateVolumeStatus(write) => {
                    self.write_volume(write, true, &mut written).await?;
                    done.writes += 1;
                }
                Action::UpdateClaim(write) => {
                    self.write_claim(write, false, &mut written).await?;
                    done.writes += 1;
                }
                Action::UpdateClaimStatus(write) => {
                    self.write_claim(write, true, &mut written).await?;
                    done.writes += 1;
                }
                Action::Event(event) => {
                    self.publish(&event).await;
                    done.events += 1;
                }
                Action::EnqueueClaim(key) => self.claim_queue.add(key),
                Action::LookUpClaimLive(claim) => return Err(Error::UnexpectedLookup { claim }),
                Action::Fail(error) => return Err(Error::Decision(error)),
            }
        }
        Ok(done)
    }

    async fn write_volume(
        &self,
        write: Write<PersistentVolume>,
        status: bool,
        written: &mut HashMap<(&'static str, String), String>,
    ) -> Result<()> {
        let api: Api<PersistentVolume> = Api::all(self.client.clone());
        let stored = self
            .put(&api, "PersistentVolume", write, status, written)
            .await?;
        super::watch::write(&self.cache).store_volume(Arc::new(stored));
        Ok(())
    }

    async fn write_claim(
        &self,
        write: Write<PersistentVolumeClaim>,
        status: bool,
        written: &mut HashMap<(&'static str, String), String>,
    ) -> Result<()> {
        let namespace = write.object.metadata.namespace.clone().unwrap_or_default();
        let api: Api<PersistentVolumeClaim> = Api::namespaced(self.client.clone(), &namespace);
        let stored = self
            .put(&api, "PersistentVolumeClaim", write, status, written)
            .await?;
        super::watch::write(&self.cache).store_claim(Arc::new(stored));
        Ok(())
    }

    /// PUTs the object (or its status), with the resourceVersion our own earlier write returned if there was one.
    async fn put<K>(
        &self,
        api: &Api<K>,
        kind: &'static str,
        write: Write<K>,
        status: bool,
        written: &mut HashMap<(&'static str, String), String>,
    ) -> Result<K>
    where
        K: kube::Resource<DynamicType = ()>
            + Clone
            + Serialize
            + DeserializeOwned
            + std::fmt::Debug,
    {
        let mut object = *write.object;
        let name = object.name_any();
        if !*self.leading.borrow() {
            return Err(Error::NotLeader { kind, name });
        }
        if let Some(version) = written.get(&(kind, name.clone())) {
            object.meta_mut().resource_version = Some(version.clone());
        }
        let params = PostParams {
            field_manager: Some("berth-controller".into()),
            ..PostParams::default()
        };
        let result = if status {
            api.replace_status(&name, &params, &object).await
        } else {
            api.replace(&name, &params, &object).await
        };
        match result {
            Ok(stored) => {
                if let Some(version) = stored.meta().resource_version.clone() {
                    written.insert((kind, name), version);
                }
                Ok(stored)
            }
            Err(source) => {
                if let Some(failure) = write.on_failure {
                    self.publish_failure(&object, &failure, &source).await;
                }
                Err(Error::Write {
                    kind,
                    name,
                    purpose: write.purpose.as_str(),
                    source: Box::new(source),
                })
            }
        }
    }

    async fn publish_failure<K: kube::Resource<DynamicType = ()>>(
        &self,
        object: &K,
        failure: &FailureEvent,
        error: &kube::Error,
    ) {
        let event = Event::new(
            object.object_ref(&()),
            failure.event_type,
            failure.reason,
            format!("{}{error}", failure.message_prefix),
        );
        self.publish(&event).await;
    }

    async fn publish(&self, event: &Event) {
        let note = match &event.detail {
            Some(detail) => format!("{} ({detail})", event.message),
            None => event.message.clone(),
        };
        let kube_event = KubeEvent {
            type_: match event.event_type {
                EventType::Normal => KubeEventType::Normal,
                EventType::Warning => KubeEventType::Warning,
            },
            reason: event.reason.as_str().to_string(),
            note: Some(truncate(note, 1024)),
            action: "Binding".to_string(),
            secondary: None,
        };
        if let Err(error) = self.recorder.publish(&kube_event, &event.regarding).await {
            tracing::warn!(%error, reason = event.reason.as_str(), object = ?event.regarding.name, "could not record event");
        }
    }
}

/// Events notes are limited to 1 KiB by the API.
fn truncate(mut text: String, limit: usize) -> String {
    if text.len() > limit {
        let mut end = limit.saturating_sub(3);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push_str("...");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_notes_are_cut_on_a_character_boundary() {
        let text = "é".repeat(600);
        let cut = truncate(text, 1024);
        assert!(cut.len() <= 1024);
        assert!(cut.ends_with("..."));
        assert_eq!(truncate("short".into(), 1024), "short");
    }
}
