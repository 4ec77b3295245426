//! Container and probe processes: spawned inside a private mount namespace, owned as a process group that is
//! killed when its owner lets go of it, so an aborted kubelet never leaks processes.

use std::ffi::CStr;
use std::fs::File;
use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use nix::errno::Errno;
use nix::fcntl::{AT_FDCWD, OFlag};
use nix::mount::MsFlags;
use nix::sched::CloneFlags;
use nix::sys::signal::{Signal, killpg};
use nix::sys::stat::Mode;
use nix::unistd::Pid;

use super::sandbox::{Op, Program};

/// Errors of starting container and probe processes.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The process could not be started; `step` names the namespace setup step that failed, if one did.
    #[error("start {program:?}: {step}")]
    Spawn {
        program: String,
        step: String,
        #[source]
        source: io::Error,
    },
    /// The pipe reporting which setup step failed could not be created.
    #[error("create the setup report pipe")]
    CreateReportPipe(#[source] Errno),
    /// The container's log file could not be opened.
    #[error("open log file {path:?}")]
    OpenLog {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The mount namespace of a running container could not be opened (for a probe).
    #[error("open the mount namespace of process {pid}")]
    OpenNamespace {
        pid: u32,
        #[source]
        source: io::Error,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// How a new process gets its filesystem view.
pub enum Enter {
    /// Unshare new private mount and UTS namespaces, then run the program (hostname, build the root, chroot,
    /// chdir).
    NewNamespace(Program),
    /// Join a running container's namespaces, then run the program (chroot, chdir).
    Join {
        namespaces: Namespaces,
        program: Program,
    },
}

/// The namespaces of a running container, opened for a probe to join.
#[derive(Debug)]
pub struct Namespaces {
    mount: OwnedFd,
    uts: OwnedFd,
}

/// What to execute once the process is in place.
pub struct Launch<'a> {
    /// Looked up on the container's PATH when it has no slash.
    pub program: &'a str,
    pub args: &'a [String],
    /// The complete environment (nothing is inherited from the kubelet).
    pub env: &'a [(String, String)],
    /// Where stdout and stderr go (appended); `None` discards them.
    pub log: Option<&'a Path>,
}

/// A process group led by a process this kubelet started. Dropping it SIGKILLs the whole group unless the group
/// was already reaped, so every exit path (including task abortion) cleans up.
#[derive(Debug)]
pub struct ProcessGroup {
    leader: Pid,
    live: bool,
}

impl ProcessGroup {
    /// The id of the group's leader (the container's main process).
    pub fn pid(&self) -> u32 {
        self.leader.as_raw().unsigned_abs()
    }

    /// Sends `signal` to every process of the group; a group that is already gone is fine.
    pub fn signal(&self, signal: Signal) {
        if self.live {
            // ESRCH only means every member has exited already.
            let _ = killpg(self.leader, signal);
        }
    }

    /// Called once the leader has exited: kills what it left behind (a container ends with its main process)
    /// and stops owning the group, whose id the kernel may now reuse.
    pub fn finish(&mut self) {
        self.signal(Signal::SIGKILL);
        self.live = false;
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        self.signal(Signal::SIGKILL);
    }
}

/// A started process: its handle (for waiting) and its group (for signalling).
#[derive(Debug)]
pub struct Process {
    pub child: tokio::process::Child,
    pub group: ProcessGroup,
}

/// Starts `launch` as the leader of a new process group after `enter` has set up its filesystem view.
///
/// # Errors
/// `Spawn` with the failing setup step (e.g. "unshare a private mount namespace") when the kernel refuses a
/// step; the process is never started without its namespace.
pub fn spawn(enter: Enter, launch: &Launch<'_>) -> Result<Process> {
    let spawn_error = |step: String, source: io::Error| Error::Spawn {
        program: launch.program.to_string(),
        step,
        source,
    };
    let (stdout, stderr) = match launch.log {
        Some(path) => {
            let file = open_log(path)?;
            let copy = file.try_clone().map_err(|source| Error::OpenLog {
                path: path.to_path_buf(),
                source,
            })?;
            (Stdio::from(file), Stdio::from(copy))
        }
        None => (Stdio::null(), Stdio::null()),
    };
    let (report_read, report_write) = nix::unistd::pipe2(OFlag::O_CLOEXEC | OFlag::O_NONBLOCK)
        .map_err(Error::CreateReportPipe)?;
    let (setup_steps, descriptions) = match enter {
        Enter::NewNamespace(program) => (
            SetupSteps::NewNamespace(program.ops),
            [
                vec!["unshare private mount and UTS namespaces".to_string()],
                vec!["make all mounts private to the namespace".to_string()],
                program.descriptions,
            ]
            .concat(),
        ),
        Enter::Join {
            namespaces,
            program,
        } => (
            SetupSteps::Join(namespaces, program.ops),
            [
                vec!["join the container's UTS namespace".to_string()],
                vec!["join the container's mount namespace".to_string()],
                program.descriptions,
            ]
            .concat(),
        ),
    };
    let mut command = tokio::process::Command::new(launch.program);
    command
        .args(launch.args)
        .env_clear()
        .envs(launch.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        .process_group(0);
    // SAFETY: the hook runs in the forked child of a multi-threaded process, where only async-signal-safe calls
    // are allowed. It makes raw syscalls only (unshare, setns, sethostname, mount, mkdir, open, close, symlinkat,
    // chroot, chdir, write) on CStrings and file descriptors prepared before the fork, and builds `io::Error`s from raw
    // errno values, which does not allocate.
    unsafe {
        command.pre_exec(move || setup_steps.run(&report_write));
    }
    let spawned = command.spawn();
    // Drops the closure and with it the parent's copy of the report pipe's write end.
    drop(command);
    let child = match spawned {
        Ok(child) => child,
        Err(source) => {
            let step = failed_step(&report_read)
                .and_then(|index| descriptions.get(index).cloned())
                .unwrap_or_else(|| "exec the program".to_string());
            return Err(spawn_error(step, source));
        }
    };
    let leader = child
        .id()
        .and_then(|id| i32::try_from(id).ok())
        .map(Pid::from_raw);
    match leader {
        Some(leader) => Ok(Process {
            child,
            group: ProcessGroup { leader, live: true },
        }),
        None => Err(spawn_error(
            "read the process id".to_string(),
            io::Error::other("the process has no id"),
        )),
    }
}

/// Opens the namespaces of a running process, so that a probe can join them.
pub fn open_namespaces(pid: u32) -> Result<Namespaces> {
    let open = |kind: &str| {
        File::open(format!("/proc/{pid}/ns/{kind}"))
            .map(OwnedFd::from)
            .map_err(|source| Error::OpenNamespace { pid, source })
    };
    Ok(Namespaces {
        mount: open("mnt")?,
        uts: open("uts")?,
    })
}

/// Runs a probe to completion within `timeout`: Ok(true) when it exits 0. A probe that overruns is killed and
/// counts as failed.
pub async fn run_to_completion(process: Process, timeout: Duration) -> io::Result<bool> {
    let Process {
        mut child,
        mut group,
    } = process;
    match tokio::time::timeout(timeout, child.wait()).await {
        Ok(status) => {
            group.finish();
            status.map(|s: ExitStatus| s.success())
        }
        // Dropping `group` kills the overrunning probe.
        Err(_elapsed) => Ok(false),
    }
}

fn open_log(path: &Path) -> Result<File> {
    let open = || {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
    };
    open().map_err(|source| Error::OpenLog {
        path: path.to_path_buf(),
        source,
    })
}

/// Reads the index of the setup step the child reported as failed, if it reported one.
fn failed_step(report: &OwnedFd) -> Option<usize> {
    let mut buf = [0u8; 4];
    match nix::unistd::read(report, &mut buf) {
        Ok(4) => usize::try_from(u32::from_le_bytes(buf)).ok(),
        _ => None,
    }
}

/// The child's side: the setup to perform between fork and exec.
enum SetupSteps {
    NewNamespace(Vec<Op>),
    Join(Namespaces, Vec<Op>),
}

impl SetupSteps {
    /// Runs in the forked child: must stay async-signal-safe (no allocation, no locks).
    fn run(&self, report: &OwnedFd) -> io::Result<()> {
        let fail = |step: usize, errno: Errno| {
            let index = u32::try_from(step).unwrap_or(u32::MAX);
            // Best effort: if the report cannot be written the parent still gets the errno.
            let _ = nix::unistd::write(report, &index.to_le_bytes());
            io::Error::from(errno)
        };
        let (ops, first_op_step) = match self {
            SetupSteps::NewNamespace(ops) => {
                nix::sched::unshare(CloneFlags::CLONE_NEWNS | CloneFlags::CLONE_NEWUTS)
                    .map_err(|e| fail(0, e))?;
                // Without this, mounts made below could propagate back into the host's namespace.
                mount(
                    None,
                    c"/",
                    None,
                    MsFlags::MS_REC | MsFlags::MS_PRIVATE,
                    None,
                )
                .map_err(|e| fail(1, e))?;
                (ops, 2)
            }
            SetupSteps::Join(namespaces, ops) => {
                nix::sched::setns(&namespaces.uts, CloneFlags::CLONE_NEWUTS)
                    .map_err(|e| fail(0, e))?;
                nix::sched::setns(&namespaces.mount, CloneFlags::CLONE_NEWNS)
                    .map_err(|e| fail(1, e))?;
                (ops, 2)
            }
        };
        for (index, op) in ops.iter().enumerate() {
            run_op(op).map_err(|e| fail(first_op_step + index, e))?;
        }
        Ok(())
    }
}

/// One setup step; async-signal-safe.
fn run_op(op: &Op) -> nix::Result<()> {
    let tolerate_existing = |result: nix::Result<()>| match result {
        Err(Errno::EEXIST) => Ok(()),
        other => other,
    };
    match op {
        Op::SetHostname { name } => nix::unistd::sethostname(name),
        Op::MountTmpfs { target, options } => mount(
            Some(c"tmpfs"),
            target,
            Some(c"tmpfs"),
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
            Some(options.as_c_str()),
        ),
        Op::Mkdir { path } => tolerate_existing(nix::unistd::mkdir(
            path.as_c_str(),
            Mode::from_bits_truncate(0o755),
        )),
        Op::CreateFile { path } => nix::fcntl::open(
            path.as_c_str(),
            OFlag::O_CREAT | OFlag::O_WRONLY | OFlag::O_CLOEXEC,
            Mode::from_bits_truncate(0o644),
        )
        .map(drop),
        Op::Symlink { target, path } => tolerate_existing(nix::unistd::symlinkat(
            target.as_c_str(),
            AT_FDCWD,
            path.as_c_str(),
        )),
        Op::Bind {
            source,
            target,
            recursive,
        } => {
            let flags = if *recursive {
                MsFlags::MS_BIND | MsFlags::MS_REC
            } else {
                MsFlags::MS_BIND
            };
            mount(Some(source.as_c_str()), target, None, flags, None)
        }
        Op::RemountReadOnly { target } => mount(
            None,
            target,
            None,
            MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY,
            None,
        ),
        Op::Chroot { path } => nix::unistd::chroot(path.as_c_str()),
        Op::Chdir { path } => nix::unistd::chdir(path.as_c_str()),
    }
}

/// `mount(2)` on C strings (no conversions, hence no allocation).
fn mount(
    source: Option<&CStr>,
    target: &CStr,
    fstype: Option<&CStr>,
    flags: MsFlags,
    data: Option<&CStr>,
) -> nix::Result<()> {
    nix::mount::mount(source, target, fstype, flags, data)
}

#[cfg(test)]
mod tests {
    use super::super::sandbox::{
        HostLayout, MountSource, MountSpec, SandboxSpec, compile, compile_join,
    };
    use super::*;

    /// Fails loudly (never skips) when this machine cannot run sandboxed containers.
    fn require_root() {
        assert!(
            nix::unistd::geteuid().is_root(),
            "this test needs root (CAP_SYS_ADMIN) to create private mount namespaces; run the tests as root"
        );
    }

    fn sandbox(rootfs: &Path, data: &Path) -> SandboxSpec {
        let volume = MountSpec {
            target: "/data".into(),
            source: MountSource::Bind {
                path: data.to_path_buf(),
                recursive: false,
            },
            read_only: false,
        };
        SandboxSpec::new(
            rootfs.to_path_buf(),
            &HostLayout::probe(),
            vec![volume],
            "/",
        )
        .with_hostname("web-0")
    }

    fn sh(script: &str) -> Vec<String> {
        vec!["-c".to_string(), script.to_string()]
    }

    fn env() -> Vec<(String, String)> {
        vec![(
            "PATH".to_string(),
            "/usr/sbin:/usr/bin:/sbin:/bin".to_string(),
        )]
    }

    #[tokio::test]
    async fn container_writes_through_its_bind_mounted_volume() {
        require_root();
        let dir = tempfile::tempdir().unwrap();
        let (rootfs, data) = (dir.path().join("rootfs"), dir.path().join("data"));
        std::fs::create_dir_all(&rootfs).unwrap();
        std::fs::create_dir_all(&data).unwrap();
        let program = compile(&sandbox(&rootfs, &data)).unwrap();
        let args = sh(
            "echo hi > /data/f && test ! -e /rootfs && touch /tmp/t && ! touch /usr/x 2>/dev/null \
             && test \"$(cat /proc/sys/kernel/hostname)\" = web-0",
        );
        let env = env();
        let launch = Launch {
            program: "sh",
            args: &args,
            env: &env,
            log: None,
        };
        let mut process = spawn(Enter::NewNamespace(program), &launch).unwrap();
        let status = process.child.wait().await.unwrap();
        process.group.finish();
        assert!(status.success(), "container script failed: {status}");
        assert_eq!(std::fs::read_to_string(data.join("f")).unwrap(), "hi\n");
        let host_name = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
        assert_ne!(
            host_name.trim(),
            "web-0",
            "the hostname changed in the container's namespace only"
        );
        // Every mount lived in the container's namespace only: the host sees an empty mount point.
        assert_eq!(std::fs::read_dir(&rootfs).unwrap().count(), 0);
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        assert!(!mountinfo.contains(rootfs.to_str().unwrap()));
    }

    #[tokio::test]
    async fn probe_joins_the_running_container_namespace() {
        require_root();
        let dir = tempfile::tempdir().unwrap();
        let (rootfs, data) = (dir.path().join("rootfs"), dir.path().join("data"));
        std::fs::create_dir_all(&rootfs).unwrap();
        std::fs::create_dir_all(&data).unwrap();
        let env = env();
        let args = sh("echo ready > /tmp/ready; exec sleep 60");
        let launch = Launch {
            program: "sh",
            args: &args,
            env: &env,
            log: None,
        };
        let container = spawn(
            Enter::NewNamespace(compile(&sandbox(&rootfs, &data)).unwrap()),
            &launch,
        )
        .unwrap();
        let probe_args = sh(
            "while ! test -f /tmp/ready; do sleep 0.05; done; grep -q ready /tmp/ready && \
                 test \"$(cat /proc/sys/kernel/hostname)\" = web-0",
        );
        let namespaces = open_namespaces(container.group.pid()).unwrap();
        let probe = Launch {
            program: "sh",
            args: &probe_args,
            env: &env,
            log: None,
        };
        let join = Enter::Join {
            namespaces,
            program: compile_join(&rootfs, "/").unwrap(),
        };
        let ok = run_to_completion(spawn(join, &probe).unwrap(), Duration::from_secs(20))
            .await
            .unwrap();
        assert!(
            ok,
            "the probe did not see the container's private /tmp/ready"
        );
        // /tmp/ready lives on the container's own tmpfs: nothing reached the host side of its root.
        assert_eq!(std::fs::read_dir(&rootfs).unwrap().count(), 0);
        let pid = container.group.pid();
        drop(container);
        // Dropping the group killed the container; reap it through the kernel by waiting until it is gone.
        for _ in 0..200 {
            if !Path::new(&format!("/proc/{pid}")).exists()
                || std::fs::read_to_string(format!("/proc/{pid}/stat"))
                    .unwrap_or_default()
                    .contains(") Z")
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the container process {pid} survived dropping its group");
    }

    #[tokio::test]
    async fn a_failing_setup_step_is_named_in_the_error() {
        require_root();
        let dir = tempfile::tempdir().unwrap();
        // The root mount point does not exist, so mounting the root tmpfs fails.
        let rootfs = dir.path().join("missing");
        let spec = SandboxSpec::new(rootfs, &HostLayout { entries: vec![] }, vec![], "/");
        let env = env();
        let args = sh("true");
        let launch = Launch {
            program: "sh",
            args: &args,
            env: &env,
            log: None,
        };
        let err = spawn(Enter::NewNamespace(compile(&spec).unwrap()), &launch).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("mount the container root tmpfs"),
            "unexpected error: {text}"
        );
    }
}
