//! Simulated StatefulSet controller (kube-controller-manager's statefulset-controller).
//!
//! Layout: `identity` names members and builds their pods and claims, `revision` keeps the
//! ControllerRevision history, `retention` maps persistentVolumeClaimRetentionPolicy onto claim
//! ownerReferences, `status` computes health and status, `decide` is one sync of one set as a pure
//! function, and `execute` owns the watches and performs the actions through the API.

mod decide;
mod execute;
mod identity;
mod retention;
mod revision;
mod status;

#[cfg(test)]
mod fixtures;

use std::time::Duration;

/// Name the controller writes with (field manager).
pub const FIELD_MANAGER: &str = "kube-controller-manager";
/// User-Agent a client built for the controller should carry (kube-rs sets it per `kube::Config`).
pub const USER_AGENT: &str = "kube-controller-manager/v1.33.1 (linux/amd64) kubernetes/berth-sim/system:serviceaccount:kube-system:statefulset-controller";
/// `reportingController` of the controller's events (upstream's event source component).
pub const REPORTING_CONTROLLER: &str = "statefulset-controller";

/// Settings of the simulated StatefulSet controller.
#[derive(Clone, Debug)]
pub struct StatefulSetConfig {
    /// How often every StatefulSet is synced again when no watch event arrives (minReadySeconds
    /// expiring, retries after failed writes).
    pub resync_interval: Duration,
}

impl Default for StatefulSetConfig {
    fn default() -> Self {
        Self {
            resync_interval: Duration::from_secs(1),
        }
    }
}

/// What went wrong in the StatefulSet controller.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A watch stopped before its store became ready (the writer was dropped).
    #[error("waiting for the {resource} store to become ready")]
    WaitForStore { resource: &'static str },
    #[error("creating controllerrevision {namespace}/{name}")]
    CreateRevision {
        namespace: String,
        name: String,
        #[source]
        source: Box<kube::Error>,
    },
    #[error("updating controllerrevision {namespace}/{name}")]
    UpdateRevision {
        namespace: String,
        name: String,
        #[source]
        source: Box<kube::Error>,
    },
    #[error("deleting controllerrevision {namespace}/{name}")]
    DeleteRevision {
        namespace: String,
        name: String,
        #[source]
        source: Box<kube::Error>,
    },
    #[error("creating pod {namespace}/{name}")]
    CreatePod {
        namespace: String,
        name: String,
        #[source]
        source: Box<kube::Error>,
    },
    #[error("patching pod {namespace}/{name}")]
    PatchPod {
        namespace: String,
        name: String,
        #[source]
        source: Box<kube::Error>,
    },
    #[error("deleting pod {namespace}/{name}")]
    DeletePod {
        namespace: String,
        name: String,
        #[source]
        source: Box<kube::Error>,
    },
    #[error("creating persistentvolumeclaim {namespace}/{name}")]
    CreateClaim {
        namespace: String,
        name: String,
        #[source]
        source: Box<kube::Error>,
    },
    #[error("updating the ownerReferences of persistentvolumeclaim {namespace}/{name}")]
    PatchClaim {
        namespace: String,
        name: String,
        #[source]
        source: Box<kube::Error>,
    },
    #[error("updating the status of statefulset {namespace}/{name}")]
    UpdateStatus {
        namespace: String,
        name: String,
        #[source]
        source: Box<kube::Error>,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Runs the controller until the task is aborted.
///
/// # Errors
/// Only when a watch cannot start at all; failed writes are logged and retried on the next sync.
pub async fn run(client: kube::Client, config: StatefulSetConfig) -> Result<()> {
    execute::run(client, config).await
}
