//! The kubelet's record of a pod's containers and the pure rules that move it: what to start or probe next,
//! restart policy and back-off, readiness thresholds, and the pod phase.

use std::time::Duration;

use k8s_openapi::api::core::v1::{Container, Pod};
use k8s_openapi::jiff::Timestamp;
use tokio::time::Instant;

/// Which container of the pod.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Slot {
    Init(usize),
    Main(usize),
}

/// The end of one container run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Termination {
    pub exit_code: i32,
    pub signal: Option<i32>,
    /// `Completed` for exit 0, `Error` otherwise.
    pub reason: String,
    pub started_at: Timestamp,
    pub finished_at: Timestamp,
    pub container_id: String,
}

/// Where a container is in its life.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RunState {
    /// Not running: not started yet, or between runs. It may start once `retry_at` has passed (`None` = now).
    Waiting {
        reason: String,
        message: Option<String>,
        retry_at: Option<Instant>,
    },
    Running {
        started_at: Timestamp,
        container_id: String,
    },
    /// Exited and will not run again.
    Terminated(Termination),
}

/// An exec readiness probe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExecProbe {
    pub command: Vec<String>,
    pub initial_delay: Duration,
    pub period: Duration,
    pub timeout: Duration,
    pub success_threshold: i32,
    pub failure_threshold: i32,
}

/// How a container's readiness is decided.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Readiness {
    /// No probe, or a probe kind the simulation cannot perform (httpGet, tcpSocket, grpc): ready while running.
    WhenRunning,
    Exec(ExecProbe),
}

impl Readiness {
    /// The readiness rule of `container`'s `readinessProbe`, with Kubernetes' defaults.
    pub fn of(container: &Container) -> Self {
        let Some(probe) = &container.readiness_probe else {
            return Readiness::WhenRunning;
        };
        let Some(exec) = &probe.exec else {
            return Readiness::WhenRunning;
        };
        let seconds = |value: Option<i32>, default: i32| {
            Duration::from_secs(u64::try_from(value.unwrap_or(default)).unwrap_or(0))
        };
        Readiness::Exec(ExecProbe {
            command: exec.command.clone().unwrap_or_default(),
            initial_delay: seconds(probe.initial_delay_seconds, 0),
            period: seconds(probe.period_seconds, 10).max(Duration::from_secs(1)),
            timeout: seconds(probe.timeout_seconds, 1).max(Duration::from_secs(1)),
            success_threshold: probe.success_threshold.unwrap_or(1).max(1),
            failure_threshold: probe.failure_threshold.unwrap_or(3).max(1),
        })
    }
}

/// Probe bookkeeping of a running container.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProbeTrack {
    pub next_at: Option<Instant>,
    pub in_flight: bool,
    pub successes: i32,
    pub failures: i32,
}

/// What the kubelet knows about one container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerRecord {
    pub name: String,
    pub image: String,
    pub state: RunState,
    /// How many times it was started (the status' restartCount is one less).
    pub runs: i32,
    pub last_termination: Option<Termination>,
    pub ready: bool,
    pub readiness: Readiness,
    pub probe: ProbeTrack,
}

impl ContainerRecord {
    /// A container that has not started, waiting for `reason` (e.g. `ContainerCreating`, `PodInitializing`).
    pub fn new(container: &Container, reason: &str) -> Self {
        Self {
            name: container.name.clone(),
            image: container.image.clone().unwrap_or_default(),
            state: waiting(reason, None, None),
            runs: 0,
            last_termination: None,
            ready: false,
            readiness: Readiness::of(container),
            probe: ProbeTrack::default(),
        }
    }

    pub fn restart_count(&self) -> i32 {
        (self.runs - 1).max(0)
    }

    pub fn is_running(&self) -> bool {
        matches!(self.state, RunState::Running { .. })
    }

    /// The container's process has started.
    pub fn started(&mut self, started_at: Timestamp, container_id: String, now: Instant) {
        self.state = RunState::Running {
            started_at,
            container_id,
        };
        self.runs += 1;
        self.probe = ProbeTrack::default();
        match &self.readiness {
            Readiness::WhenRunning => self.ready = true,
            Readiness::Exec(probe) => {
                self.ready = false;
                self.probe.next_at = Some(now + probe.initial_delay);
            }
        }
    }

    /// Starting the container failed: wait `delay`, then try again.
    pub fn start_failed(&mut self, reason: &str, message: String, delay: Duration, now: Instant) {
        self.state = waiting(reason, Some(message), Some(now + delay));
        self.ready = false;
    }

    /// The container's process exited. `restart_after` is `None` when it must not run again, else the back-off.
    pub fn exited(
        &mut self,
        exit: Exit,
        finished_at: Timestamp,
        restart_after: Option<Duration>,
        now: Instant,
        pod: &str,
    ) {
        let (started_at, container_id) = match &self.state {
            RunState::Running {
                started_at,
                container_id,
            } => (*started_at, container_id.clone()),
            RunState::Waiting { .. } | RunState::Terminated(_) => (finished_at, String::new()),
        };
        let termination = Termination {
            exit_code: exit.code,
            signal: exit.signal,
            reason: if exit.code == 0 { "Completed" } else { "Error" }.to_string(),
            started_at,
            finished_at,
            container_id,
        };
        self.ready = false;
        self.probe = ProbeTrack::default();
        self.state = match restart_after {
            None => RunState::Terminated(termination.clone()),
            Some(delay) if delay.is_zero() => waiting("ContainerCreating", None, Some(now)),
            Some(delay) => waiting(
                "CrashLoopBackOff",
                Some(format!(
                    "back-off {}s restarting failed container={} pod={pod}",
                    delay.as_secs(),
                    self.name
                )),
                Some(now + delay),
            ),
        };
        self.last_termination = Some(termination);
    }

    /// A readiness probe finished.
    pub fn probed(&mut self, success: bool, now: Instant) {
        let Readiness::Exec(probe) = &self.readiness else {
            return;
        };
        if !self.is_running() {
            return;
        }
        let track = &mut self.probe;
        track.in_flight = false;
        track.next_at = Some(now + probe.period);
        if success {
            track.successes += 1;
            track.failures = 0;
            if track.successes >= probe.success_threshold {
                self.ready = true;
            }
        } else {
            track.failures += 1;
            track.successes = 0;
            if track.failures >= probe.failure_threshold {
                self.ready = false;
            }
        }
    }
}

fn waiting(reason: &str, message: Option<String>, retry_at: Option<Instant>) -> RunState {
    RunState::Waiting {
        reason: reason.to_string(),
        message,
        retry_at,
    }
}

/// What the kubelet knows about a pod: the source of its status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodRecord {
    /// When the kubelet accepted the pod (`status.startTime`).
    pub start_time: Timestamp,
    pub host_ip: String,
    /// Assigned once the pod's volumes are ready and its sandbox exists.
    pub pod_ip: Option<String>,
    pub volumes_ready: bool,
    pub init: Vec<ContainerRecord>,
    pub main: Vec<ContainerRecord>,
}

impl PodRecord {
    /// A pod whose containers have not started yet.
    pub fn new(pod: &Pod, start_time: Timestamp, host_ip: String) -> Self {
        let spec = pod.spec.as_ref();
        let init_specs = spec
            .and_then(|s| s.init_containers.as_deref())
            .unwrap_or_default();
        let main_specs = spec.map(|s| s.containers.as_slice()).unwrap_or_default();
        let main_reason = if init_specs.is_empty() {
            "ContainerCreating"
        } else {
            "PodInitializing"
        };
        Self {
            start_time,
            host_ip,
            pod_ip: None,
            volumes_ready: false,
            init: init_specs
                .iter()
                .map(|c| ContainerRecord::new(c, "PodInitializing"))
                .collect(),
            main: main_specs
                .iter()
                .map(|c| ContainerRecord::new(c, main_reason))
                .collect(),
        }
    }

    pub fn container(&self, slot: Slot) -> Option<&ContainerRecord> {
        match slot {
            Slot::Init(index) => self.init.get(index),
            Slot::Main(index) => self.main.get(index),
        }
    }

    pub fn container_mut(&mut self, slot: Slot) -> Option<&mut ContainerRecord> {
        match slot {
            Slot::Init(index) => self.init.get_mut(index),
            Slot::Main(index) => self.main.get_mut(index),
        }
    }

    pub fn phase(&self) -> &'static str {
        phase(self.volumes_ready, &self.init, &self.main)
    }
}

/// How a process ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Exit {
    /// The exit status, or 128 + signal for a killed process (as container runtimes report it).
    pub code: i32,
    pub signal: Option<i32>,
}

impl Exit {
    pub fn from_status(status: std::process::ExitStatus) -> Self {
        use std::os::unix::process::ExitStatusExt;
        match (status.code(), status.signal()) {
            (Some(code), _) => Exit { code, signal: None },
            (None, Some(signal)) => Exit {
                code: 128 + signal,
                signal: Some(signal),
            },
            (None, None) => Exit {
                code: 255,
                signal: None,
            },
        }
    }
}

/// `spec.restartPolicy` (default Always).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RestartPolicy {
    Always,
    OnFailure,
    Never,
}

impl RestartPolicy {
    pub fn of(pod: &Pod) -> Self {
        match pod.spec.as_ref().and_then(|s| s.restart_policy.as_deref()) {
            Some("Never") => RestartPolicy::Never,
            Some("OnFailure") => RestartPolicy::OnFailure,
            Some(_) | None => RestartPolicy::Always,
        }
    }

    /// Whether a container of `slot`'s kind that exited with `code` runs again. An init container that
    /// succeeded is done whatever the policy.
    pub fn restarts(self, slot: Slot, code: i32) -> bool {
        match (self, slot) {
            (RestartPolicy::Never, _) => false,
            (RestartPolicy::OnFailure, _) | (RestartPolicy::Always, Slot::Init(_)) => code != 0,
            (RestartPolicy::Always, Slot::Main(_)) => true,
        }
    }
}

/// How long a deleted pod's containers get between SIGTERM and SIGKILL: the grace period the API server
/// recorded with the deletion, else the pod's own, else 30 s.
pub fn grace_period(pod: &Pod) -> Duration {
    let seconds = pod
        .metadata
        .deletion_grace_period_seconds
        .or_else(|| {
            pod.spec
                .as_ref()
                .and_then(|s| s.termination_grace_period_seconds)
        })
        .unwrap_or(30);
    Duration::from_secs(u64::try_from(seconds).unwrap_or(0))
}

/// Kubelet-style back-off before restart number `restarts + 1`: the first restart is immediate, then `initial`
/// doubling up to `max`.
pub fn restart_delay(restarts: i32, initial: Duration, max: Duration) -> Duration {
    match u32::try_from(restarts - 1) {
        Err(_) => Duration::ZERO,
        Ok(doublings) => initial
            .saturating_mul(2u32.saturating_pow(doublings.min(31)))
            .min(max),
    }
}

/// What to do now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Start(Slot),
    Probe(usize),
}

/// The actions due now and when to look again.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    pub actions: Vec<Action>,
    pub wake_at: Option<Instant>,
}

impl Plan {
    fn wake(&mut self, at: Instant) {
        self.wake_at = Some(self.wake_at.map_or(at, |w| w.min(at)));
    }
}

/// Where the init containers are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InitProgress {
    /// All init containers succeeded (or there are none).
    Done,
    /// This one is next (waiting or running).
    Current(usize),
    /// This one failed for good: the pod has failed.
    Failed(usize),
}

pub fn init_progress(init: &[ContainerRecord]) -> InitProgress {
    for (index, record) in init.iter().enumerate() {
        match &record.state {
            RunState::Terminated(t) if t.exit_code == 0 => continue,
            RunState::Terminated(_) => return InitProgress::Failed(index),
            RunState::Waiting { .. } | RunState::Running { .. } => {
                return InitProgress::Current(index);
            }
        }
    }
    InitProgress::Done
}

/// The starts and probes due at `now` (volumes are ready): init containers one at a time, then all containers.
pub fn plan(init: &[ContainerRecord], main: &[ContainerRecord], now: Instant) -> Plan {
    let mut plan = Plan::default();
    let consider_start = |plan: &mut Plan, slot: Slot, record: &ContainerRecord| {
        if let RunState::Waiting { retry_at, .. } = &record.state {
            match retry_at {
                Some(at) if *at > now => plan.wake(*at),
                Some(_) | None => plan.actions.push(Action::Start(slot)),
            }
        }
    };
    match init_progress(init) {
        InitProgress::Failed(_) => {}
        InitProgress::Current(index) => consider_start(&mut plan, Slot::Init(index), &init[index]),
        InitProgress::Done => {
            for (index, record) in main.iter().enumerate() {
                consider_start(&mut plan, Slot::Main(index), record);
                let due = match (&record.readiness, record.is_running(), &record.probe) {
                    (
                        Readiness::Exec(_),
                        true,
                        ProbeTrack {
                            in_flight: false,
                            next_at: Some(at),
                            ..
                        },
                    ) => Some(*at),
                    _ => None,
                };
                match due {
                    Some(at) if at <= now => plan.actions.push(Action::Probe(index)),
                    Some(at) => plan.wake(at),
                    None => {}
                }
            }
        }
    }
    plan
}

/// `status.phase` from the record.
pub fn phase(
    volumes_ready: bool,
    init: &[ContainerRecord],
    main: &[ContainerRecord],
) -> &'static str {
    let ever_ran = |r: &ContainerRecord| r.runs > 0;
    let terminated = |r: &ContainerRecord| match &r.state {
        RunState::Terminated(t) => Some(t.exit_code),
        RunState::Waiting { .. } | RunState::Running { .. } => None,
    };
    match init_progress(init) {
        InitProgress::Failed(_) => "Failed",
        _ if !volumes_ready => "Pending",
        InitProgress::Current(_) => "Pending",
        InitProgress::Done => {
            let exits: Option<Vec<i32>> = main.iter().map(terminated).collect();
            match exits {
                Some(codes) if !codes.is_empty() && codes.iter().all(|c| *c == 0) => "Succeeded",
                Some(codes) if !codes.is_empty() => "Failed",
                _ if main.iter().any(ever_ran) => "Running",
                _ => "Pending",
            }
        }
    }
}

#[cfg(test)]
#[path = "lifecycle_tests.rs"]
mod tests;
