//! Starting the simulated control-plane actors, each as a tokio task with its own kube client and
//! User-Agent, acting through the API like any other client.

use std::path::Path;

use tokio::task::JoinHandle;

use crate::actors::{gc, kubelet, namespace, protection, scheduler, statefulset};

/// User-Agent of the controllers that live in kube-controller-manager upstream.
pub const CONTROLLER_MANAGER_USER_AGENT: &str =
    "kube-controller-manager/v1.33.1 (linux/amd64) kubernetes/berth-sim";

/// Which actors to run.
#[derive(Debug, Clone)]
pub struct ActorSwitches {
    pub scheduler: bool,
    pub statefulset_controller: bool,
    pub kubelets: bool,
    /// Garbage collector, PVC/PV protection controllers and the namespace controller (always needed for
    /// faithful deletion semantics; switchable for tests of the raw API).
    pub controllers: bool,
}

impl Default for ActorSwitches {
    fn default() -> Self {
        ActorSwitches {
            scheduler: true,
            statefulset_controller: true,
            kubelets: true,
            controllers: true,
        }
    }
}

/// A running actor.
pub struct ActorHandle {
    pub name: String,
    pub task: JoinHandle<()>,
}

/// Builds a client for an actor (the same server, the actor's User-Agent).
pub type ClientFactory<'a> = &'a dyn Fn(&str) -> Option<kube::Client>;

/// Spawns the enabled actors.
pub fn spawn(
    switches: &ActorSwitches,
    nodes: &[String],
    node_root: &Path,
    client_for: ClientFactory<'_>,
) -> Vec<ActorHandle> {
    let mut out = Vec::new();
    let mut start =
        |name: String, user_agent: &str, run: &dyn Fn(kube::Client) -> JoinHandle<()>| {
            match client_for(user_agent) {
                Some(client) => out.push(ActorHandle {
                    name,
                    task: run(client),
                }),
                None => tracing::error!(actor = %name, "cannot build a client for the actor"),
            }
        };
    if switches.scheduler {
        start("scheduler".into(), scheduler::USER_AGENT, &|c| {
            tokio::spawn(report(
                "scheduler",
                scheduler::run(c, scheduler::SchedulerConfig::default()),
            ))
        });
    }
    if switches.statefulset_controller {
        start(
            "statefulset-controller".into(),
            statefulset::USER_AGENT,
            &|c| {
                tokio::spawn(report(
                    "statefulset-controller",
                    statefulset::run(c, statefulset::StatefulSetConfig::default()),
                ))
            },
        );
    }
    if switches.controllers {
        start(
            "garbage-collector".into(),
            CONTROLLER_MANAGER_USER_AGENT,
            &|c| {
                tokio::spawn(report(
                    "garbage-collector",
                    gc::run(c, gc::GcConfig::default()),
                ))
            },
        );
        start(
            "protection-controllers".into(),
            CONTROLLER_MANAGER_USER_AGENT,
            &|c| {
                tokio::spawn(report(
                    "protection-controllers",
                    protection::run(c, protection::ProtectionConfig::default()),
                ))
            },
        );
        start(
            "namespace-controller".into(),
            CONTROLLER_MANAGER_USER_AGENT,
            &|c| {
                tokio::spawn(report(
                    "namespace-controller",
                    namespace::run(c, namespace::NamespaceConfig::default()),
                ))
            },
        );
    }
    if switches.kubelets {
        for node in nodes {
            let user_agent = format!("kubelet/v1.33.1 (linux/amd64) kubernetes/berth-sim ({node})");
            let config = kubelet::KubeletConfig::new(node.clone(), node_root.join(node));
            let name = format!("kubelet-{node}");
            let task_name = name.clone();
            start(name, &user_agent, &move |c| {
                tokio::spawn(report_owned(
                    task_name.clone(),
                    kubelet::run(c, config.clone()),
                ))
            });
        }
    }
    out
}

async fn report<E: std::fmt::Display>(
    name: &'static str,
    run: impl Future<Output = Result<(), E>>,
) {
    match run.await {
        Ok(()) => tracing::info!(actor = name, "actor stopped"),
        Err(e) => tracing::error!(actor = name, error = %e, "actor failed"),
    }
}

async fn report_owned<E: std::fmt::Display>(
    name: String,
    run: impl Future<Output = Result<(), E>>,
) {
    match run.await {
        Ok(()) => tracing::info!(actor = %name, "actor stopped"),
        Err(e) => tracing::error!(actor = %name, error = %e, "actor failed"),
    }
}
