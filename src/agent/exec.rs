//! The one place where the agent runs external commands (lvm2, mkfs, filesystem growers, blkid).
//!
//! Every command runs with a clean environment (`PATH`, `LC_ALL=C`, so messages are stable English),
//! no stdin, a timeout after which the child is killed, and its argv logged at debug level. Failures carry
//! the argv, the exit code and the trimmed stderr. Dropping the returned future (cancellation) kills the
//! child too. `clippy.toml` forbids `Command::new` everywhere else.
use std::fmt;
use std::process::Stdio;
use std::time::Duration;

/// Timeout for commands that do not set their own: generous, because lvm2 waits for its locks.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

/// How much of stderr an error keeps (the end, where tools print the reason).
const STDERR_LIMIT: usize = 2048;

/// The search path for tools when the agent's own environment has none.
const FALLBACK_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Errors from running a command.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("start `{argv}`")]
    Spawn {
        argv: Argv,
        #[source]
        source: std::io::Error,
    },
    #[error("`{argv}` did not finish within {after:?} and was killed")]
    Timeout { argv: Argv, after: Duration },
    #[error("`{argv}` failed ({}): {stderr}", exit_text(*.code))]
    Exited {
        argv: Argv,
        /// None when the child was killed by a signal.
        code: Option<i32>,
        /// The end of stderr, trimmed.
        stderr: String,
    },
    #[error("wait for `{argv}`")]
    Wait {
        argv: Argv,
        #[source]
        source: std::io::Error,
    },
    #[error("`{argv}` wrote output that is not UTF-8")]
    DecodeOutput { argv: Argv },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

fn exit_text(code: Option<i32>) -> String {
    match code {
        Some(code) => format!("exit code {code}"),
        None => "killed by a signal".to_owned(),
    }
}

impl Error {
    pub fn argv(&self) -> &Argv {
        match self {
            Error::Spawn { argv, .. }
            | Error::Timeout { argv, .. }
            | Error::Exited { argv, .. }
            | Error::Wait { argv, .. }
            | Error::DecodeOutput { argv } => argv,
        }
    }

    /// The exit code when the command ran and failed.
    pub fn exit_code(&self) -> Option<i32> {
        match self {
            Error::Exited { code, .. } => *code,
            _ => None,
        }
    }

    /// The trimmed stderr when the command ran and failed, else "".
    pub fn stderr(&self) -> &str {
        match self {
            Error::Exited { stderr, .. } => stderr,
            _ => "",
        }
    }

    /// The command ran and said that the object it was asked about does not exist (lvm2 wording).
    pub fn is_not_found(&self) -> bool {
        let stderr = self.stderr();
        matches!(self, Error::Exited { .. })
            && (stderr.contains("not found") || stderr.contains("Failed to find"))
    }

    /// The tool itself is missing (not installed or not in `PATH`).
    pub fn is_missing_program(&self) -> bool {
        matches!(self, Error::Spawn { source, .. } if source.kind() == std::io::ErrorKind::NotFound)
    }

    pub fn is_timeout(&self) -> bool {
        matches!(self, Error::Timeout { .. })
    }

    /// The command ran and its stderr contains `needle`.
    pub fn stderr_contains(&self, needle: &str) -> bool {
        self.stderr().contains(needle)
    }
}

/// A command line, program first; displayed space-separated with arguments quoted when needed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Argv(Vec<String>);

impl Argv {
    pub fn as_slice(&self) -> &[String] {
        &self.0
    }
}

impl fmt::Display for Argv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, arg) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            let plain = !arg.is_empty()
                && arg
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,@+%".contains(&b));
            if plain {
                f.write_str(arg)?;
            } else {
                write!(f, "{arg:?}")?;
            }
        }
        Ok(())
    }
}

/// A command to run: program, arguments and timeout. Arguments are strings because everything the agent
/// passes comes from validated, UTF-8 names and paths.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    program: String,
    args: Vec<String>,
    timeout: Duration,
}

impl Command {
    pub fn new(program: &str) -> Command {
        Command {
            program: program.to_owned(),
            args: Vec::new(),
            timeout: DEFAULT_TIMEOUT,
        }
    }

    pub fn arg(mut self, arg: impl Into<String>) -> Command {
        self.args.push(arg.into());
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    pub fn timeout(mut self, timeout: Duration) -> Command {
        self.timeout = timeout;
        self
    }

    pub fn argv(&self) -> Argv {
        Argv(
            std::iter::once(self.program.clone())
                .chain(self.args.iter().cloned())
                .collect(),
        )
    }

    pub fn get_timeout(&self) -> Duration {
        self.timeout
    }
}

/// What a successful command printed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    pub stdout: String,
    pub stderr: String,
}

/// Runs `command` to completion. A non-zero exit is an [`Error::Exited`].
///
/// # Errors
/// Spawn failure (tool missing), timeout (the child is killed), non-zero exit, non-UTF-8 output.
pub async fn run(command: &Command) -> Result<Output> {
    let argv = command.argv();
    tracing::debug!(argv = %argv, "running command");
    let path = std::env::var("PATH").unwrap_or_else(|_| FALLBACK_PATH.to_owned());
    // The chokepoint itself: this is the only place allowed to build a process.
    #[allow(clippy::disallowed_methods)]
    let mut process = tokio::process::Command::new(&command.program);
    process
        .args(&command.args)
        .env_clear()
        .env("PATH", path)
        .env("LC_ALL", "C")
        .env("LANG", "C")
        // lvm2 complains on stderr about every inherited descriptor; the runtime's are harmless.
        .env("LVM_SUPPRESS_FD_WARNINGS", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // A timeout or a cancelled caller drops the future, and with it the child: kill it then.
        .kill_on_drop(true);
    let child = process.spawn().map_err(|source| Error::Spawn {
        argv: argv.clone(),
        source,
    })?;
    let output = match tokio::time::timeout(command.timeout, child.wait_with_output()).await {
        Ok(waited) => waited.map_err(|source| Error::Wait {
            argv: argv.clone(),
            source,
        })?,
        Err(_elapsed) => {
            return Err(Error::Timeout {
                argv,
                after: command.timeout,
            });
        }
    };
    let stdout = String::from_utf8(output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    if !output.status.success() {
        return Err(Error::Exited {
            argv,
            code: output.status.code(),
            stderr: trim_stderr(&stderr),
        });
    }
    let stdout = stdout.map_err(|_| Error::DecodeOutput { argv })?;
    Ok(Output { stdout, stderr })
}

/// Whitespace-trimmed, and cut to the last [`STDERR_LIMIT`] bytes (on a character boundary).
fn trim_stderr(stderr: &str) -> String {
    let trimmed = stderr.trim();
    if trimmed.len() <= STDERR_LIMIT {
        return trimmed.to_owned();
    }
    let mut start = trimmed.len() - STDERR_LIMIT;
    while !trimmed.is_char_boundary(start) {
        start += 1;
    }
    format!("...{}", &trimmed[start..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn success_returns_stdout_and_runs_in_the_c_locale() {
        let out =
            run(&Command::new("sh").args(["-c", "echo \"$LC_ALL:$LVM_SUPPRESS_FD_WARNINGS\""]))
                .await
                .unwrap();
        assert_eq!(out.stdout, "C:1\n");
    }

    #[tokio::test]
    async fn failure_carries_argv_code_and_trimmed_stderr() {
        let err =
            run(&Command::new("sh")
                .args(["-c", "echo '  Volume group \"x\" not found  ' >&2; exit 5"]))
            .await
            .unwrap_err();
        assert_eq!(err.exit_code(), Some(5));
        assert_eq!(err.stderr(), "Volume group \"x\" not found");
        assert!(err.is_not_found());
        assert_eq!(
            err.to_string(),
            "`sh -c \"echo '  Volume group \\\"x\\\" not found  ' >&2; exit 5\"` failed (exit code 5): \
             Volume group \"x\" not found"
        );
    }

    #[tokio::test]
    async fn timeout_kills_the_child() {
        let err = run(&Command::new("sleep")
            .arg("30")
            .timeout(Duration::from_millis(100)))
        .await
        .unwrap_err();
        assert!(err.is_timeout(), "{err}");
        assert_eq!(err.argv().as_slice(), ["sleep", "30"]);
    }

    #[tokio::test]
    async fn missing_program_is_recognised() {
        let err = run(&Command::new("berth-no-such-tool")).await.unwrap_err();
        assert!(err.is_missing_program(), "{err}");
    }

    #[test]
    fn long_stderr_keeps_the_end() {
        let long = format!("{}END", "x".repeat(5000));
        let trimmed = trim_stderr(&long);
        assert!(trimmed.starts_with("..."));
        assert!(trimmed.ends_with("END"));
        assert_eq!(trimmed.len(), STDERR_LIMIT + 3);
    }

    #[test]
    fn argv_display_quotes_only_when_needed() {
        let argv = Command::new("lvs")
            .args(["--config", "global{activation=0}", "vg0"])
            .argv();
        assert_eq!(
            argv.to_string(),
            "lvs --config \"global{activation=0}\" vg0"
        );
    }
}
