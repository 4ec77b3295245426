//! Simulated kube-scheduler: binds pending pods to nodes, with upstream's VolumeBinding behaviour.
//!
//! Layout: `quantity` and `selectors` are matching helpers, `filter` holds the node filters and the
//! "0/N nodes are available" message, `volumes` the VolumeBinding plugin (claim classification, static
//! matching, provisioning checks, checks of an in-flight binding), `decide` turns a snapshot into one
//! decision per pod, and `execute` owns the watches and performs the decisions through the API.

mod decide;
mod execute;
mod filter;
pub(crate) mod quantity;
pub(crate) mod selectors;
mod snapshot;
mod volumes;
pub(crate) mod watch;

#[cfg(test)]
mod fixtures;

use std::time::Duration;

/// Name the scheduler writes with (field manager) and reports events as.
pub const FIELD_MANAGER: &str = "kube-scheduler";
/// User-Agent a client built for the scheduler should carry (kube-rs sets it per `kube::Config`).
pub const USER_AGENT: &str = "kube-scheduler/v1.33.1 (linux/amd64) kubernetes/berth-sim";
/// `reportingController` of the scheduler's events, as upstream.
pub const REPORTING_CONTROLLER: &str = "default-scheduler";

/// Settings of the simulated scheduler.
#[derive(Clone, Debug)]
pub struct SchedulerConfig {
    /// Pods whose `spec.schedulerName` equals this are handled (upstream default `default-scheduler`).
    pub scheduler_name: String,
    /// How long a pod may wait for its claims to become fully bound after the scheduler pre-bound PVs or
    /// selected a node for provisioning (upstream `bindTimeoutSeconds`, 600 s).
    pub bind_timeout: Duration,
    /// How often in-flight bindings and backoffs are re-examined when no watch event arrives (upstream
    /// polls every second).
    pub poll_interval: Duration,
    /// First retry delay of a pod whose scheduling attempt failed (upstream 1 s).
    pub initial_backoff: Duration,
    /// Longest retry delay (upstream 10 s).
    pub max_backoff: Duration,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        Self {
            scheduler_name: "default-scheduler".to_owned(),
            bind_timeout: Duration::from_secs(600),
            poll_interval: Duration::from_secs(1),
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(10),
        }
    }
}

/// What went wrong while scheduling.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A watch stopped before its store became ready (the writer was dropped).
    #[error("waiting for the {resource} store to become ready")]
    WaitForStore { resource: &'static str },
    /// POST of the pods/binding subresource failed.
    #[error("binding pod {namespace}/{pod} to node {node}")]
    BindPod {
        namespace: String,
        pod: String,
        node: String,
        #[source]
        source: Box<kube::Error>,
    },
    /// PUT of a PersistentVolume (pre-binding its claimRef) failed.
    #[error("pre-binding persistentvolume {volume} to claim {namespace}/{claim}")]
    PrebindVolume {
        volume: String,
        namespace: String,
        claim: String,
        #[source]
        source: Box<kube::Error>,
    },
    /// PUT of a claim (setting volume.kubernetes.io/selected-node) failed.
    #[error("selecting node {node} for claim {namespace}/{claim}")]
    SelectNode {
        namespace: String,
        claim: String,
        node: String,
        #[source]
        source: Box<kube::Error>,
    },
    /// PATCH of a pod's status (PodScheduled condition) failed.
    #[error("updating the PodScheduled condition of pod {namespace}/{pod}")]
    PatchPodCondition {
        namespace: String,
        pod: String,
        #[source]
        source: Box<kube::Error>,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Runs the scheduler until the task is aborted.
///
/// # Errors
/// Only when a watch cannot start at all; failed writes are logged and retried with backoff.
pub async fn run(client: kube::Client, config: SchedulerConfig) -> Result<()> {
    execute::run(client, config).await
}
