//! Simulated kubelet: runs the pods bound to one simulated node as real local processes.
//!
//! One kubelet serves one Node. It watches the pods with `spec.nodeName` equal to its node and gives each a
//! worker (`worker`) that:
//! * waits until every volume is usable (`volumes`: claim Bound, PV bound back to it, PV node affinity matching
//!   this node, PV `local` or `hostPath`; then `mounts`: the path exists on this node), reporting `FailedMount`
//!   events and `ContainerCreating` meanwhile and re-reading the claims and PVs every `resync_period`;
//! * runs init containers in order, then the containers, as real processes (`process`): the container's
//!   `command`/`args` run with the host's own binaries (images are not pulled or used) inside a private mount
//!   namespace whose root holds the host's system directories read-only, a private `/tmp` and each volume
//!   bind-mounted at its `mountPath` (`sandbox`), so `sh -c 'echo token > /data/f'` writes into the volume;
//! * applies `restartPolicy` with the kubelet's back-off, runs `exec` readiness probes inside the container's
//!   namespace, and writes `status` (phase, conditions, container statuses, pod and host IPs) through
//!   `pods/status` with field manager `kubelet`;
//! * on graceful deletion sends SIGTERM, waits up to the grace period, SIGKILLs, removes its pod directory and
//!   DELETEs the pod with `gracePeriodSeconds: 0` and a uid precondition.
//!
//! # Node filesystem
//! `root_dir` is the simulated node's filesystem root: PV paths (`local.path`, `hostPath.path`) and inline
//! `hostPath` volumes are interpreted relative to it (`/mnt/disks/a` means `<root_dir>/mnt/disks/a`), so several
//! simulated nodes have separate disks; use `/` for a node that is this machine. The kubelet keeps per-pod state
//! in `<root_dir>/var/lib/kubelet/pods/<uid>/` (emptyDirs, container root mount points) and container output in
//! `<root_dir>/var/log/pods/<namespace>_<pod>_<uid>/<container>/<restart>.log`.
//!
//! # Requirements and limits
//! Needs CAP_SYS_ADMIN for mount namespaces; without them the container stays `Waiting` with reason
//! `CreateContainerError` naming the refused step — it is never run unsandboxed. configMap, secret, projected and
//! downwardAPI volumes are empty directories; only `exec` readiness probes run (others count as passing); liveness
//! and startup probes are not run. Aborting `run` kills every process it started.

mod container;
mod context;
mod events;
mod lifecycle;
mod mounts;
mod network;
mod process;
mod sandbox;
mod status;
mod volumes;
mod worker;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::Api;
use kube::runtime::{WatchStreamExt, reflector, watcher};
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use mounts::node_path;

use context::NodeContext;
use worker::PodUpdate;

/// Errors of the kubelet actor.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A watch stream ended, which a watcher never does while the task runs.
    #[error("watch of {resource} for node {node} ended")]
    WatchEnded {
        node: String,
        resource: &'static str,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Configuration of one simulated kubelet.
#[derive(Clone, Debug)]
pub struct KubeletConfig {
    /// The Node this kubelet serves (pods with `spec.nodeName` equal to it).
    pub node_name: String,
    /// The node's filesystem root: PV paths resolve beneath it, and the kubelet keeps its state there.
    pub root_dir: PathBuf,
    /// How often volume preconditions are re-checked while a pod waits for them.
    pub resync_period: Duration,
    /// Delay before the second restart of a crashing container (the first is immediate), and before retrying
    /// a container that could not be started; doubles up to `max_restart_backoff`.
    pub restart_backoff: Duration,
    /// Upper bound of the restart delay.
    pub max_restart_backoff: Duration,
}

impl KubeletConfig {
    /// A kubelet for `node_name` whose node filesystem is `root_dir`, with the real kubelet's back-off
    /// (10 s doubling to 5 min) and a 0.5 s volume re-check.
    pub fn new(node_name: impl Into<String>, root_dir: impl Into<PathBuf>) -> Self {
        Self {
            node_name: node_name.into(),
            root_dir: root_dir.into(),
            resync_period: Duration::from_millis(500),
            restart_backoff: Duration::from_secs(10),
            max_restart_backoff: Duration::from_secs(300),
        }
    }
}

/// Runs the kubelet until the task is aborted (or a watch ends, which is an error).
pub async fn run(client: kube::Client, config: KubeletConfig) -> Result<()> {
    let node = config.node_name.clone();
    let (nodes, nodes_writer) = reflector::store::<Node>();
    let on_this_node = watcher::Config::default().fields(&format!("spec.nodeName={node}"));
    let mut pod_events = watcher(Api::<Pod>::all(client.clone()), on_this_node)
        .default_backoff()
        .boxed();
    let this_node = watcher::Config::default().fields(&format!("metadata.name={node}"));
    let mut node_events = reflector(nodes_writer, watcher(Api::all(client.clone()), this_node))
        .default_backoff()
        .boxed();

    // Learn the node's labels and addresses before accepting pods (host IP, PV node affinity).
    {
        let node_known = nodes.wait_until_ready();
        tokio::pin!(node_known);
        loop {
            tokio::select! {
                ready = &mut node_known => {
                    if ready.is_err() {
                        return Err(Error::WatchEnded { node, resource: "nodes" });
                    }
                    break;
                }
                event = node_events.next() => match event {
                    Some(Ok(_)) => {}
                    Some(Err(error)) => tracing::warn!(%node, %error, "kubelet node watch error; retrying"),
                    None => return Err(Error::WatchEnded { node, resource: "nodes" }),
                },
            }
        }
    }

    let ips = Mutex::new(network::IpPool::new(&node));
    let host = sandbox::HostLayout::probe();
    let ctx = Arc::new(NodeContext {
        client,
        config,
        nodes,
        host,
        ips,
    });
    let mut workers = Workers {
        ctx,
        live: HashMap::new(),
        finishing: Vec::new(),
        relist: None,
    };
    loop {
        tokio::select! {
            event = pod_events.next() => match event {
                Some(Ok(event)) => workers.apply(event),
                Some(Err(error)) => tracing::warn!(%node, %error, "kubelet pod watch error; retrying"),
                None => return Err(Error::WatchEnded { node, resource: "pods" }),
            },
            // The node store feeds itself; the kubelet only reads it (labels, addresses).
            event = node_events.next() => match event {
                Some(Ok(_)) => {}
                Some(Err(error)) => tracing::warn!(%node, %error, "kubelet node watch error; retrying"),
                None => return Err(Error::WatchEnded { node, resource: "nodes" }),
            },
        }
    }
}

/// Aborts its task when dropped, so that dropping the kubelet stops every pod worker (whose processes die with
/// their `ProcessGroup`s).
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

struct WorkerHandle {
    updates: watch::Sender<PodUpdate>,
    task: AbortOnDrop,
}

/// The pod workers, keyed by pod uid, fed from the node's pod watch.
struct Workers {
    ctx: Arc<NodeContext>,
    live: HashMap<String, WorkerHandle>,
    /// Workers of pods that left the API, still cleaning up.
    finishing: Vec<AbortOnDrop>,
    /// Uids seen since the current relist began.
    relist: Option<HashSet<String>>,
}

impl Workers {
    fn apply(&mut self, event: watcher::Event<Pod>) {
        match event {
            watcher::Event::Init => self.relist = Some(HashSet::new()),
            watcher::Event::InitApply(pod) | watcher::Event::Apply(pod) => {
                let uid = pod.metadata.uid.clone().unwrap_or_default();
                if let Some(seen) = &mut self.relist {
                    seen.insert(uid.clone());
                }
                self.update(uid, pod);
            }
            watcher::Event::InitDone => {
                let seen = self.relist.take().unwrap_or_default();
                let vanished: Vec<String> = self
                    .live
                    .keys()
                    .filter(|uid| !seen.contains(*uid))
                    .cloned()
                    .collect();
                for uid in vanished {
                    self.gone(&uid);
                }
            }
            watcher::Event::Delete(pod) => {
                self.gone(pod.metadata.uid.as_deref().unwrap_or_default())
            }
        }
        self.finishing.retain(|task| !task.0.is_finished());
    }

    fn update(&mut self, uid: String, pod: Pod) {
        let pod = PodUpdate::Present(Arc::new(pod));
        match self.live.get(&uid) {
            Some(handle) => {
                handle.updates.send_replace(pod);
            }
            None => {
                let (updates, receiver) = watch::channel(pod);
                let task = tokio::spawn(worker::run(self.ctx.clone(), receiver));
                self.live.insert(
                    uid,
                    WorkerHandle {
                        updates,
                        task: AbortOnDrop(task),
                    },
                );
            }
        }
    }

    fn gone(&mut self, uid: &str) {
        if let Some(handle) = self.live.remove(uid) {
            handle.updates.send_replace(PodUpdate::Gone);
            self.finishing.push(handle.task);
        }
    }
}
