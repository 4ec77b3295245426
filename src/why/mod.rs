//! `berth why <namespace>/<claim>`: answers "why is my PVC Pending?" from the live cluster — the claim, its
//! class and how it got it, every PV with why it does or does not fit, and what happens next.
//!
//! [`analyze`] is pure (a claim and a snapshot in, a [`Report`] out) and runs the binder's own decision, so the
//! answer is exactly what the controller will do; [`fetch`] reads the cluster; [`Report`]'s `Display` prints.
use std::fmt;

use k8s_openapi::api::core::v1::{
    Event as CoreEvent, PersistentVolume, PersistentVolumeClaim, Pod,
};
use k8s_openapi::api::storage::v1::StorageClass;
use kube::ResourceExt;
use kube::api::{Api, ListParams};

use crate::binder::actions::{Action, Reason, WritePurpose};
use crate::binder::claim_sync::{SyncOptions, sync_claim};
use crate::binder::explain::{Outcome, explain, summarize};
use crate::binder::matching::{MatchOptions, claim_volume_mode};
use crate::binder::world::{Snapshot, World};
use crate::k8s::annotations::{BIND_COMPLETED, SELECTED_NODE, STORAGE_PROVISIONER};
use crate::k8s::class::{claim_class, claim_has_class, default_class};

/// Errors of reading the cluster.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("claim {namespace}/{name} not found")]
    ClaimNotFound { namespace: String, name: String },
    #[error("read {what}")]
    Read {
        what: String,
        #[source]
        source: Box<kube::Error>,
    },
    #[error("expected <namespace>/<claim> or <claim>, got {0:?}")]
    BadTarget(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What the binder will do next with the claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NextStep {
    /// Bound to this PV; nothing to do.
    Bound(String),
    /// The binder binds this PV on its next sync.
    WillBind(String),
    /// The binder gives the class-less claim the default class first; binding or provisioning follows.
    GetsDefaultClass(String),
    /// A provisioner is expected to create the PV.
    Provisioning {
        provisioner: String,
        node: Option<String>,
    },
    /// WaitForFirstConsumer: the claim waits until a pod using it is scheduled.
    WaitingForConsumer { pods: Vec<String> },
    /// The claim cannot progress until someone changes something; the reason says what.
    Stuck(String),
}

impl NextStep {
    /// Whether the claim can get (or has) a volume without anyone changing anything.
    pub fn can_progress(&self) -> bool {
        !matches!(self, NextStep::Stuck(_))
    }
}

/// Everything `berth why` prints.
#[derive(Debug, Clone)]
pub struct Report {
    pub claim: String,
    pub phase: String,
    pub request: String,
    pub access_modes: Vec<String>,
    pub volume_mode: String,
    pub class: String,
    pub volumes: Vec<VolumeLine>,
    pub summary: String,
    pub next: NextStep,
    /// The most recent events about the claim, oldest first: `(type, reason, message)`.
    pub events: Vec<(String, String, String)>,
}

/// One PV and its verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeLine {
    pub name: String,
    pub capacity: String,
    pub class: String,
    pub phase: String,
    pub verdict: String,
}

/// Builds the report for `claim` from a snapshot of the cluster.
pub fn analyze(
    claim: &PersistentVolumeClaim,
    world: &Snapshot,
    options: &SyncOptions,
    events: Vec<(String, String, String)>,
) -> Report {
    let spec = claim.spec.clone().unwrap_or_default();
    let class = describe_class(claim, world);
    let delay_binding = world
        .storage_class(claim_class(claim))
        .is_some_and(|class| class.volume_binding_mode.as_deref() == Some("WaitForFirstConsumer"));
    let options_for_match = MatchOptions {
        delay_binding,
        node: None,
    };
    let verdicts = explain(
        claim,
        world.volumes().iter().map(AsRef::as_ref),
        &options_for_match,
    );
    let volumes = verdicts
        .iter()
        .map(|verdict| VolumeLine {
            name: verdict.volume.name_any(),
            capacity: capacity(verdict.volume),
            class: crate::k8s::class::volume_class(verdict.volume).to_string(),
            phase: verdict
                .volume
                .status
                .as_ref()
                .and_then(|s| s.phase.clone())
                .unwrap_or_default(),
            verdict: match &verdict.outcome {
                Outcome::Chosen => "fits: the binder picks this one".to_string(),
                Outcome::Rejected(rejection) => rejection.to_string(),
            },
        })
        .collect();
    Report {
        claim: format!(
            "{}/{}",
            claim.namespace().unwrap_or_default(),
            claim.name_any()
        ),
        phase: claim
            .status
            .as_ref()
            .and_then(|s| s.phase.clone())
            .unwrap_or_else(|| "Pending".into()),
        request: spec
            .resources
            .and_then(|r| r.requests)
            .and_then(|r| r.get("storage").map(|q| q.0.clone()))
            .unwrap_or_else(|| "0".into()),
        access_modes: spec.access_modes.unwrap_or_default(),
        volume_mode: claim_volume_mode(claim).to_string(),
        class,
        volumes,
        summary: summarize(&verdicts),
        next: next_step(claim, world, options),
        events,
    }
}

fn describe_class(claim: &PersistentVolumeClaim, world: &Snapshot) -> String {
    let name = claim_class(claim);
    let default = default_class(world.storage_classes()).map(ResourceExt::name_any);
    if !claim_has_class(claim) {
        return match default {
            Some(default) => format!("none yet: storageClassName is unset, the binder will give it the default class {default} if no class-less PV fits"),
            None => "none: storageClassName is unset and no StorageClass is marked default (only class-less PVs can bind)".into(),
        };
    }
    if name.is_empty() {
        return "\"\" (explicitly no class: only class-less PVs, never provisioned)".into();
    }
    let Some(class) = world.storage_class(name) else {
        return format!("{name} (this StorageClass does not exist)");
    };
    let mode = class.volume_binding_mode.as_deref().unwrap_or("unset");
    let origin = if default.as_deref() == Some(name) {
        ", the cluster default"
    } else {
        ""
    };
    format!(
        "{name} (provisioner {}, binding mode {mode}{origin})",
        class.provisioner
    )
}

fn capacity(volume: &PersistentVolume) -> String {
    volume
        .spec
        .as_ref()
        .and_then(|s| s.capacity.as_ref())
        .and_then(|c| c.get("storage"))
        .map(|q| q.0.clone())
        .unwrap_or_default()
}

/// Reads the binder's own decision for the claim as the next step.
fn next_step(claim: &PersistentVolumeClaim, world: &Snapshot, options: &SyncOptions) -> NextStep {
    let volume = claim
        .spec
        .as_ref()
        .and_then(|s| s.volume_name.clone())
        .unwrap_or_default();
    let phase = claim
        .status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("");
    let bound_before = claim.annotations().contains_key(BIND_COMPLETED);
    match phase {
        "Bound" if !volume.is_empty() => return NextStep::Bound(volume),
        "Lost" => {
            return NextStep::Stuck(format!(
                "the claim lost its volume {volume:?}: data on it is lost unless the PV is restored"
            ));
        }
        _ => {}
    }
    let actions = sync_claim(claim, world, options);
    for action in &actions {
        if let Action::UpdateVolume(write) = action
            && write.purpose == WritePurpose::BindVolume
        {
            return NextStep::WillBind(write.object.name_any());
        }
        if let Action::UpdateClaim(write) = action
            && write.purpose == WritePurpose::AssignDefaultClass
        {
            return NextStep::GetsDefaultClass(claim_class(&write.object).to_string());
        }
        if let Action::UpdateClaimStatus(write) = action
            && bound_before
            && write
                .object
                .status
                .as_ref()
                .and_then(|s| s.phase.as_deref())
                == Some("Bound")
        {
            return NextStep::Bound(volume.clone());
        }
    }
    let provisioner = actions.iter().find_map(|action| match action {
        Action::UpdateClaim(write) if write.purpose == WritePurpose::SetProvisioner => {
            write.object.annotations().get(STORAGE_PROVISIONER).cloned()
        }
        Action::Event(event) if event.reason == Reason::ExternalProvisioning => {
            claim.annotations().get(STORAGE_PROVISIONER).cloned()
        }
        _ => None,
    });
    if let Some(provisioner) = provisioner {
        return NextStep::Provisioning {
            provisioner,
            node: claim.annotations().get(SELECTED_NODE).cloned(),
        };
    }
    let blocking = actions.iter().find_map(|action| match action {
        Action::Event(event) => Some(event),
        _ => None,
    });
    match blocking {
        Some(event) if matches!(event.reason, Reason::WaitForFirstConsumer | Reason::WaitForPodScheduled) => {
            let pods = pending_pods(claim, world);
            NextStep::WaitingForConsumer { pods }
        }
        Some(event) => NextStep::Stuck(format!("{}: {}", event.reason.as_str(), event.message)),
        None => match actions.iter().find_map(|a| if let Action::Fail(error) = a { Some(error.to_string()) } else { None }) {
            Some(error) => NextStep::Stuck(error),
            None => NextStep::Stuck("the binder has nothing to do for this claim (it is waiting for its named volume to appear)".into()),
        },
    }
}

fn pending_pods(claim: &PersistentVolumeClaim, world: &Snapshot) -> Vec<String> {
    world
        .pods_using_claim(&claim.namespace().unwrap_or_default(), &claim.name_any())
        .filter(|pod| {
            pod.spec
                .as_ref()
                .and_then(|s| s.node_name.as_deref())
                .unwrap_or("")
                .is_empty()
        })
        .map(ResourceExt::name_any)
        .collect()
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Claim:   {} ({})", self.claim, self.phase)?;
        writeln!(
            f,
            "Request: {}, access modes [{}], volumeMode {}",
            self.request,
            self.access_modes.join(","),
            self.volume_mode
        )?;
        writeln!(f, "Class:   {}", self.class)?;
        writeln!(f)?;
        if self.volumes.is_empty() {
            writeln!(f, "Volumes: none in the cluster")?;
        } else {
            writeln!(f, "Volumes: {}", self.summary)?;
            let width = self
                .volumes
                .iter()
                .map(|v| v.name.len())
                .max()
                .unwrap_or(4)
                .max(4);
            writeln!(
                f,
                "  {:width$}  {:>9}  {:12}  {:10}  VERDICT",
                "NAME", "CAPACITY", "CLASS", "PHASE"
            )?;
            for volume in &self.volumes {
                let class = if volume.class.is_empty() {
                    "\"\""
                } else {
                    volume.class.as_str()
                };
                writeln!(
                    f,
                    "  {:width$}  {:>9}  {:12}  {:10}  {}",
                    volume.name, volume.capacity, class, volume.phase, volume.verdict
                )?;
            }
        }
        writeln!(f)?;
        let next = match &self.next {
            NextStep::Bound(volume) => format!("nothing: bound to {volume}"),
            NextStep::WillBind(volume) => format!("the binder binds {volume} on its next sync"),
            NextStep::GetsDefaultClass(class) => {
                format!(
                    "the binder gives the claim the default class {class}, then binds or provisions"
                )
            }
            NextStep::Provisioning {
                provisioner,
                node: Some(node),
            } => format!("waiting for provisioner {provisioner} to create a volume on node {node}"),
            NextStep::Provisioning {
                provisioner,
                node: None,
            } => format!("waiting for provisioner {provisioner} to create a volume"),
            NextStep::WaitingForConsumer { pods } if pods.is_empty() => {
                "waiting for a pod that uses the claim (WaitForFirstConsumer)".to_string()
            }
            NextStep::WaitingForConsumer { pods } => format!(
                "waiting for pod(s) {} to be scheduled (WaitForFirstConsumer)",
                pods.join(", ")
            ),
            NextStep::Stuck(reason) => format!("STUCK: {reason}"),
        };
        writeln!(f, "Next:    {next}")?;
        if !self.events.is_empty() {
            writeln!(f)?;
            writeln!(f, "Recent events:")?;
            for (kind, reason, message) in &self.events {
                writeln!(f, "  {kind:7} {reason:22} {message}")?;
            }
        }
        Ok(())
    }
}

/// Parses `namespace/name`, or `name` in `default_namespace`.
pub fn parse_target(target: &str, default_namespace: &str) -> Result<(String, String)> {
    match target.split_once('/') {
        Some((namespace, name))
            if !namespace.is_empty() && !name.is_empty() && !name.contains('/') =>
        {
            Ok((namespace.into(), name.into()))
        }
        None if !target.is_empty() => Ok((default_namespace.into(), target.into())),
        _ => Err(Error::BadTarget(target.into())),
    }
}

/// Reads the claim and everything its decision depends on from the cluster.
pub async fn fetch(
    client: &kube::Client,
    namespace: &str,
    name: &str,
) -> Result<(
    PersistentVolumeClaim,
    Snapshot,
    Vec<(String, String, String)>,
)> {
    let read = |what: &str| {
        let what = what.to_string();
        move |source| Error::Read {
            what,
            source: Box::new(source),
        }
    };
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), namespace);
    let claim = claims
        .get_opt(name)
        .await
        .map_err(read("claim"))?
        .ok_or_else(|| Error::ClaimNotFound {
            namespace: namespace.into(),
            name: name.into(),
        })?;
    let mut world = Snapshot::new();
    let volumes: Api<PersistentVolume> = Api::all(client.clone());
    for volume in volumes
        .list(&ListParams::default())
        .await
        .map_err(read("persistentvolumes"))?
        .items
    {
        world.volumes_mut().upsert(volume.into());
    }
    let classes: Api<StorageClass> = Api::all(client.clone());
    for class in classes
        .list(&ListParams::default())
        .await
        .map_err(read("storageclasses"))?
        .items
    {
        world.upsert_class(class.into());
    }
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    for pod in pods
        .list(&ListParams::default())
        .await
        .map_err(read("pods"))?
        .items
    {
        world.upsert_pod(pod.into());
    }
    let sibling_claims = claims
        .list(&ListParams::default())
        .await
        .map_err(read("claims"))?;
    for sibling in sibling_claims.items {
        world.upsert_claim(sibling.into());
    }
    let events: Api<CoreEvent> = Api::namespaced(client.clone(), namespace);
    let params = ListParams::default().fields(&format!("involvedObject.name={name}"));
    let mut events: Vec<CoreEvent> = events.list(&params).await.map_err(read("events"))?.items;
    events.sort_by_key(|event| {
        event
            .last_timestamp
            .clone()
            .map(|t| t.0)
            .or_else(|| event.event_time.clone().map(|t| t.0))
    });
    let events = events
        .into_iter()
        .rev()
        .take(5)
        .rev()
        .map(|event| {
            (
                event.type_.unwrap_or_default(),
                event.reason.unwrap_or_default(),
                event.message.unwrap_or_default(),
            )
        })
        .collect();
    Ok((claim, world, events))
}

#[cfg(test)]
mod tests;
