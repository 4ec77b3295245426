//! One pod's worker: from the kubelet accepting the pod to its final DELETE — volumes, container processes,
//! probes, restarts, status writes and graceful termination. Decisions come from `lifecycle`; this file acts.

use std::collections::HashMap;
use std::io;
use std::path::PathBuf;
use std::process::ExitStatus;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use futures::stream::{FuturesUnordered, StreamExt};
use k8s_openapi::api::core::v1::{Container, Pod};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DeleteParams, Patch, PatchParams, Preconditions};
use nix::sys::signal::Signal;
use tokio::sync::watch;
use tokio::time::{Instant, sleep_until};

use super::container::{self, PodFacts};
use super::context::NodeContext;
use super::events::{self, PodEvent, Severity};
use super::lifecycle::{self, Action, Exit, PodRecord, Readiness, RestartPolicy, Slot};
use super::mounts::{self, PreparedVolume};
use super::process::{self, Enter, Launch, Process, ProcessGroup};
use super::sandbox::{self, SandboxSpec};
use super::status;
use super::volumes;

/// How long to wait before retrying a failed status write or final DELETE.
const RETRY_WRITE: Duration = Duration::from_secs(1);
/// How long SIGKILLed processes get to be reaped before the worker moves on.
const REAP_TIMEOUT: Duration = Duration::from_secs(10);

/// The latest state of the worker's pod, as the kubelet's pod watch sees it.
#[derive(Clone, Debug)]
pub enum PodUpdate {
    Present(Arc<Pod>),
    /// The pod left the API (or this node) without the worker deleting it.
    Gone,
}

type ExitFuture = BoxFuture<'static, (Slot, io::Result<ExitStatus>)>;
type ProbeFuture = BoxFuture<'static, (usize, bool)>;

/// Runs one pod until it is deleted (then DELETEs it) or gone. Dropping the future kills its processes.
pub async fn run(ctx: Arc<NodeContext>, mut updates: watch::Receiver<PodUpdate>) {
    let pod = match &*updates.borrow_and_update() {
        PodUpdate::Present(pod) => pod.clone(),
        PodUpdate::Gone => return,
    };
    let mut worker = Worker::new(ctx, pod);
    loop {
        if worker.pod.metadata.deletion_timestamp.is_some() {
            worker.terminate(&mut updates).await;
            return;
        }
        let wake = worker
            .sync()
            .await
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
        tokio::select! {
            changed = updates.changed() => {
                let update = match changed {
                    Ok(()) => updates.borrow_and_update().clone(),
                    Err(_) => PodUpdate::Gone,
                };
                match update {
                    PodUpdate::Present(pod) => worker.pod = pod,
                    PodUpdate::Gone => {
                        worker.abandon().await;
                        return;
                    }
                }
            }
            Some((slot, status)) = worker.exits.next(), if !worker.exits.is_empty() => {
                worker.on_exit(slot, status, false).await;
            }
            Some((index, ok)) = worker.probes.next(), if !worker.probes.is_empty() => {
                if let Some(record) = worker.record.main.get_mut(index) {
                    record.probed(ok, Instant::now());
                }
            }
            () = sleep_until(wake) => {}
        }
    }
}

struct Worker {
    ctx: Arc<NodeContext>,
    pod: Arc<Pod>,
    uid: String,
    pod_dir: PathBuf,
    record: PodRecord,
    prepared: Option<Vec<PreparedVolume>>,
    /// Process groups of the running containers (the exit futures own the child handles).
    groups: HashMap<Slot, ProcessGroup>,
    exits: FuturesUnordered<ExitFuture>,
    probes: FuturesUnordered<ProbeFuture>,
    /// The FailedMount message last reported, so a retry reports only changes.
    mount_problem: Option<String>,
    status_retry_at: Option<Instant>,
    /// The pod had already finished when this worker met it: nothing may run again.
    inert: bool,
}

impl Worker {
    fn new(ctx: Arc<NodeContext>, pod: Arc<Pod>) -> Self {
        let uid = pod.metadata.uid.clone().unwrap_or_default();
        let pod_dir = mounts::pod_dir(&ctx.config.root_dir, &uid);
        let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
        let inert = matches!(phase, Some("Succeeded" | "Failed"));
        let record = PodRecord::new(&pod, now(), ctx.host_ip());
        Self {
            ctx,
            pod,
            uid,
            pod_dir,
            record,
            prepared: None,
            groups: HashMap::new(),
            exits: FuturesUnordered::new(),
            probes: FuturesUnordered::new(),
            mount_problem: None,
            status_retry_at: None,
            inert,
        }
    }

    fn name(&self) -> &str {
        self.pod.metadata.name.as_deref().unwrap_or_default()
    }

    fn namespace(&self) -> &str {
        self.pod.metadata.namespace.as_deref().unwrap_or("default")
    }

    /// `name_namespace(uid)`, as the kubelet names pods in messages.
    fn pod_label(&self) -> String {
        format!("{}_{}({})", self.name(), self.namespace(), self.uid)
    }

    fn container_spec(&self, slot: Slot) -> Option<Container> {
        let spec = self.pod.spec.as_ref()?;
        match slot {
            Slot::Init(index) => spec.init_containers.as_ref()?.get(index).cloned(),
            Slot::Main(index) => spec.containers.get(index).cloned(),
        }
    }

    /// Publishes a pod event. The future owns what it needs: the worker is not `Sync` and must not be borrowed
    /// across an await.
    fn event(
        &self,
        severity: Severity,
        reason: &'static str,
        message: String,
        container: Option<&str>,
    ) -> impl Future<Output = ()> + Send + 'static {
        let event = PodEvent {
            severity,
            reason,
            message,
            container: container.map(str::to_string),
        };
        let (client, pod, node) = (
            self.ctx.client.clone(),
            self.pod.clone(),
            self.ctx.config.node_name.clone(),
        );
        async move { events::publish(&client, &pod, &node, &event).await }
    }

    /// One pass: set up volumes if still needed, perform due starts and probes, write the status. Returns when
    /// to look again.
    async fn sync(&mut self) -> Option<Instant> {
        if self.inert {
            return None;
        }
        let mut wake = None;
        if self.prepared.is_none() {
            // Until the volumes are ready they are re-checked every resync period (the kubelet does not watch
            // claims and volumes).
            wake = Some(Instant::now() + self.ctx.config.resync_period);
            match self.ctx.volume_snapshot(&self.pod).await {
                Ok(snapshot) => {
                    if let Err(problem) = self.prepare_volumes(&snapshot)
                        && self.mount_problem.as_ref() != Some(&problem)
                    {
                        self.event(Severity::Warning, "FailedMount", problem.clone(), None)
                            .await;
                        self.mount_problem = Some(problem);
                    }
                }
                Err(message) => {
                    tracing::debug!(pod = %self.pod_label(), %message, "reading volumes failed")
                }
            }
        }
        if self.prepared.is_some() {
            // Starting a container can make a probe due at once; a few rounds settle it.
            for _ in 0..4 {
                let plan = lifecycle::plan(&self.record.init, &self.record.main, Instant::now());
                wake = plan.wake_at;
                if plan.actions.is_empty() {
                    break;
                }
                for action in plan.actions {
                    match action {
                        Action::Start(slot) => self.start(slot).await,
                        Action::Probe(index) => self.probe(index),
                    }
                }
            }
        }
        self.write_status().await;
        [wake, self.status_retry_at].into_iter().flatten().min()
    }

    fn prepare_volumes(&mut self, snapshot: &volumes::Snapshot) -> Result<(), String> {
        let resolved = volumes::resolve(&self.pod, &self.ctx.node_identity(), snapshot)
            .map_err(|blocked| blocked.message)?;
        let prepared = mounts::prepare(&self.ctx.config.root_dir, &self.pod_dir, &resolved)?;
        let ip = self
            .ctx
            .pool()
            .allocate(&self.uid)
            .ok_or("no free pod IP on this node")?;
        self.record.pod_ip = Some(ip);
        self.record.volumes_ready = true;
        self.prepared = Some(prepared);
        Ok(())
    }

    async fn start(&mut self, slot: Slot) {
        let Some(spec) = self.container_spec(slot) else {
            return;
        };
        let at = Instant::now();
        match self.launch(slot, &spec) {
            Ok(Process { mut child, group }) => {
                let id = format!("sim://{}", group.pid());
                if let Some(record) = self.record.container_mut(slot) {
                    record.started(now(), id, at);
                }
                self.groups.insert(slot, group);
                self.exits
                    .push(Box::pin(async move { (slot, child.wait().await) }));
                let name = spec.name.as_str();
                let image = spec.image.clone().unwrap_or_default();
                let pulled = format!("Container image {image:?} already present on machine");
                self.event(Severity::Normal, "Pulled", pulled, Some(name))
                    .await;
                self.event(
                    Severity::Normal,
                    "Created",
                    format!("Created container: {name}"),
                    Some(name),
                )
                .await;
                self.event(
                    Severity::Normal,
                    "Started",
                    format!("Started container {name}"),
                    Some(name),
                )
                .await;
            }
            Err(message) => {
                tracing::warn!(pod = %self.pod_label(), container = %spec.name, %message, "container start failed");
                let delay = self.ctx.config.restart_backoff;
                if let Some(record) = self.record.container_mut(slot) {
                    record.start_failed("CreateContainerError", message.clone(), delay, at);
                }
                self.event(
                    Severity::Warning,
                    "Failed",
                    format!("Error: {message}"),
                    Some(&spec.name),
                )
                .await;
            }
        }
    }

    /// Starts a container's process in its sandbox.
    fn launch(&self, slot: Slot, spec: &Container) -> Result<Process, String> {
        let prepared = self.prepared.as_deref().unwrap_or_default();
        let pod_ip = self.record.pod_ip.clone().unwrap_or_default();
        let facts = PodFacts {
            pod: &self.pod,
            pod_ip: &pod_ip,
            host_ip: &self.record.host_ip,
        };
        let plan = container::plan(facts, spec, prepared)?;
        let rootfs = mounts::rootfs_dir(&self.pod_dir, &spec.name);
        for dir in plan.subpaths.iter().chain([&rootfs]) {
            std::fs::create_dir_all(dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
        }
        let sandbox = SandboxSpec::new(rootfs, &self.ctx.host, plan.mounts, &plan.workdir)
            .with_hostname(&container::hostname(&self.pod));
        let program = sandbox::compile(&sandbox).map_err(|e| error_chain(&e))?;
        let runs = self.record.container(slot).map_or(0, |c| c.runs);
        let log = mounts::log_file(
            &self.ctx.config.root_dir,
            (self.namespace(), self.name(), &self.uid),
            &spec.name,
            runs,
        );
        let launch = Launch {
            program: &plan.program,
            args: &plan.args,
            env: &plan.env,
            log: Some(&log),
        };
        process::spawn(Enter::NewNamespace(program), &launch).map_err(|e| error_chain(&e))
    }

    /// Starts an exec readiness probe inside the running container's namespace.
    fn probe(&mut self, index: usize) {
        let Some(record) = self.record.main.get_mut(index) else {
            return;
        };
        let Readiness::Exec(probe) = record.readiness.clone() else {
            return;
        };
        record.probe.in_flight = true;
        let future: ProbeFuture = match self.spawn_probe(index, &probe.command) {
            Ok(process) => Box::pin(async move {
                (
                    index,
                    process::run_to_completion(process, probe.timeout)
                        .await
                        .unwrap_or(false),
                )
            }),
            Err(message) => {
                tracing::debug!(pod = %self.pod_label(), %message, "readiness probe could not start");
                Box::pin(async move { (index, false) })
            }
        };
        self.probes.push(future);
    }

    fn spawn_probe(&self, index: usize, command: &[String]) -> Result<Process, String> {
        let group = self
            .groups
            .get(&Slot::Main(index))
            .ok_or("container is not running")?;
        let spec = self
            .container_spec(Slot::Main(index))
            .ok_or("container spec missing")?;
        let (program, args) = command.split_first().ok_or("empty probe command")?;
        let namespaces = process::open_namespaces(group.pid()).map_err(|e| error_chain(&e))?;
        let pod_ip = self.record.pod_ip.clone().unwrap_or_default();
        let facts = PodFacts {
            pod: &self.pod,
            pod_ip: &pod_ip,
            host_ip: &self.record.host_ip,
        };
        let env = container::environment(facts, &spec);
        let workdir = spec
            .working_dir
            .clone()
            .filter(|w| !w.is_empty())
            .unwrap_or_else(|| "/".to_string());
        let rootfs = mounts::rootfs_dir(&self.pod_dir, &spec.name);
        let join = sandbox::compile_join(&rootfs, &workdir).map_err(|e| error_chain(&e))?;
        let launch = Launch {
            program,
            args,
            env: &env,
            log: None,
        };
        process::spawn(
            Enter::Join {
                namespaces,
                program: join,
            },
            &launch,
        )
        .map_err(|e| error_chain(&e))
    }

    /// A container's main process exited: record it and decide on a restart (never while terminating).
    async fn on_exit(&mut self, slot: Slot, status: io::Result<ExitStatus>, terminating: bool) {
        if let Some(mut group) = self.groups.remove(&slot) {
            group.finish();
        }
        let exit = status.map_or(
            Exit {
                code: 255,
                signal: None,
            },
            Exit::from_status,
        );
        let policy = RestartPolicy::of(&self.pod);
        let (initial, max) = (
            self.ctx.config.restart_backoff,
            self.ctx.config.max_restart_backoff,
        );
        let pod_label = self.pod_label();
        let Some(record) = self.record.container_mut(slot) else {
            return;
        };
        let restart_after = (!terminating && policy.restarts(slot, exit.code))
            .then(|| lifecycle::restart_delay(record.restart_count(), initial, max));
        record.exited(exit, now(), restart_after, Instant::now(), &pod_label);
        let name = record.name.clone();
        if restart_after.is_some_and(|d| !d.is_zero()) {
            let message = format!("Back-off restarting failed container {name} in pod {pod_label}");
            self.event(Severity::Warning, "BackOff", message, Some(&name))
                .await;
        }
    }

    async fn write_status(&mut self) {
        let desired = status::desired(&self.pod, &self.record, now());
        let Some(mut patch) = status::patch(&self.pod, &desired) else {
            self.status_retry_at = None;
            return;
        };
        // The uid makes the write fail (uid is immutable) rather than touch a new pod that took this name.
        patch["metadata"] = serde_json::json!({ "uid": self.uid });
        let api: Api<Pod> = Api::namespaced(self.ctx.client.clone(), self.namespace());
        let params = PatchParams {
            field_manager: Some("kubelet".to_string()),
            ..PatchParams::default()
        };
        match api
            .patch_status(self.name(), &params, &Patch::Merge(&patch))
            .await
        {
            Ok(updated) => {
                self.pod = Arc::new(updated);
                self.status_retry_at = None;
            }
            Err(error) => {
                tracing::debug!(pod = %self.pod_label(), %error, "pod status write failed; retrying");
                self.status_retry_at = Some(Instant::now() + RETRY_WRITE);
            }
        }
    }

    /// Graceful deletion: SIGTERM, wait out the grace period, SIGKILL, clean up, report, then DELETE the pod
    /// with grace 0 and a uid precondition (as the real status manager does).
    async fn terminate(&mut self, updates: &mut watch::Receiver<PodUpdate>) {
        if !self.groups.is_empty() {
            let running: Vec<String> = self
                .record
                .init
                .iter()
                .chain(&self.record.main)
                .filter(|c| c.is_running())
                .map(|c| c.name.clone())
                .collect();
            for name in &running {
                self.event(
                    Severity::Normal,
                    "Killing",
                    format!("Stopping container {name}"),
                    Some(name),
                )
                .await;
            }
            self.signal_all(Signal::SIGTERM);
            let deadline = Instant::now() + lifecycle::grace_period(&self.pod);
            self.wait_for_exits(deadline).await;
            self.signal_all(Signal::SIGKILL);
            self.wait_for_exits(Instant::now() + REAP_TIMEOUT).await;
        }
        self.probes.clear();
        self.release();
        if !self.inert {
            self.write_status().await;
        }
        self.delete(updates).await;
    }

    /// The pod vanished from the API: kill everything and clean up, without writing anything.
    async fn abandon(&mut self) {
        self.signal_all(Signal::SIGKILL);
        self.wait_for_exits(Instant::now() + REAP_TIMEOUT).await;
        self.probes.clear();
        self.release();
    }

    fn signal_all(&self, signal: Signal) {
        for group in self.groups.values() {
            group.signal(signal);
        }
    }

    async fn wait_for_exits(&mut self, deadline: Instant) {
        while !self.exits.is_empty() {
            tokio::select! {
                Some((slot, status)) = self.exits.next() => self.on_exit(slot, status, true).await,
                () = sleep_until(deadline) => return,
            }
        }
    }

    /// Frees the pod's IP and deletes its kubelet directory (emptyDirs, container roots); PV data is untouched.
    fn release(&mut self) {
        self.ctx.pool().release(&self.uid);
        if let Err(error) = mounts::remove_pod_dir(&self.pod_dir) {
            tracing::warn!(pod = %self.pod_label(), error = %error_chain(&error), "pod directory cleanup failed");
        }
    }

    async fn delete(&mut self, updates: &mut watch::Receiver<PodUpdate>) {
        let api: Api<Pod> = Api::namespaced(self.ctx.client.clone(), self.namespace());
        let params = DeleteParams {
            grace_period_seconds: Some(0),
            preconditions: Some(Preconditions {
                uid: Some(self.uid.clone()),
                resource_version: None,
            }),
            ..DeleteParams::default()
        };
        loop {
            match api.delete(self.name(), &params).await {
                Ok(_) => return,
                // Already gone, or the name now belongs to a new pod: either way this pod is finished.
                Err(kube::Error::Api(status)) if status.code == 404 || status.code == 409 => return,
                Err(error) => {
                    tracing::warn!(pod = %self.pod_label(), %error, "final pod DELETE failed; retrying")
                }
            }
            tokio::select! {
                changed = updates.changed() => {
                    if changed.is_err() || matches!(*updates.borrow_and_update(), PodUpdate::Gone) {
                        return;
                    }
                }
                () = tokio::time::sleep(RETRY_WRITE) => {}
            }
        }
    }
}

/// Wall-clock time at second precision, as API timestamps carry it.
fn now() -> Timestamp {
    let now = Timestamp::now();
    Timestamp::from_second(now.as_second()).unwrap_or(now)
}

/// An error with its sources, `: `-separated, for status messages and events.
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
