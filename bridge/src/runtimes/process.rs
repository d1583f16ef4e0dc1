//! Native server processes: spawned in a process group of their own, stopped as a group.
//!
//! [`spawn`] resolves the program (through [`locate`](super::locate), so a minimal `PATH` still
//! finds node or uv), puts the program's folder first on the child's `PATH` (so `npx` finds the
//! `node` beside it), pipes stdin/stdout for the caller and copies stderr line by line into the
//! server's [`ServerLog`]. [`ServerProcess::stop`] sends SIGTERM to the whole group, then
//! SIGKILL, so grandchildren (the `node` that `npx` starts) do not outlive their server. Dropping
//! a [`ServerProcess`] kills its group too.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

use super::locate;
use super::log::{ServerLog, Stream};

/// How long a server gets to exit after SIGTERM before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(2);

/// What to run.
pub struct ProcessSpec<'a> {
    pub command: &'a str,
    pub args: &'a [String],
    pub env: &'a BTreeMap<String, String>,
    pub cwd: Option<&'a str>,
    /// Run inside this OS sandbox (see `sandbox`).
    pub jail: Option<&'a super::sandbox::Jail>,
}

#[derive(Debug)]
pub enum SpawnError {
    /// The program is not installed (or not where the entry says).
    Missing {
        program: String,
        hint: String,
    },
    Io(std::io::Error),
}

impl std::fmt::Display for SpawnError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SpawnError::Missing { program, hint } => write!(f, "{program} is not installed or not found; {hint}"),
            SpawnError::Io(error) => write!(f, "could not start the server: {error}"),
        }
    }
}

pub struct Spawned {
    pub stdin: ChildStdin,
    pub stdout: ChildStdout,
    pub process: ServerProcess,
}

/// A running server process and its process group.
pub struct ServerProcess {
    child: Child,
    pid: Option<u32>,
}

pub fn spawn(spec: &ProcessSpec<'_>, log: Arc<ServerLog>) -> Result<Spawned, SpawnError> {
    let program = resolve(spec.command)?;
    let (runner, args) = match spec.jail {
        None => (program.clone(), spec.args.to_vec()),
        Some(jail) => {
            let bwrap = super::sandbox::bwrap().ok_or_else(|| missing("bwrap"))?;
            for folder in &jail.writable {
                std::fs::create_dir_all(folder).map_err(SpawnError::Io)?;
            }
            (bwrap, jail.arguments(&program, spec.args))
        }
    };
    let mut command = Command::new(&runner);
    command
        .args(&args)
        .envs(spec.env)
        .env("PATH", child_path(&program))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if let Some(cwd) = spec.cwd {
        command.current_dir(cwd);
    }
    #[cfg(unix)]
    command.process_group(0);
    die_with_bridge(command.as_std_mut());
    let mut child = command.spawn().map_err(|error| match error.kind() {
        std::io::ErrorKind::NotFound => missing(spec.command),
        _ => SpawnError::Io(error),
    })?;
    let stdin = child.stdin.take().expect("stdin is piped");
    let stdout = child.stdout.take().expect("stdout is piped");
    let stderr = child.stderr.take().expect("stderr is piped");
    tokio::spawn(async move {
        let mut lines = BufReader::new(stderr).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            log.push(Stream::Stderr, &line);
        }
    });
    let pid = child.id();
    Ok(Spawned { stdin, stdout, process: ServerProcess { child, pid } })
}

impl ServerProcess {
    pub fn pid(&self) -> Option<u32> {
        self.pid
    }

    /// Waits for the server's main process to exit.
    pub async fn wait(&mut self) -> std::io::Result<ExitStatus> {
        self.child.wait().await
    }

    /// Stops the whole process group: SIGTERM, a grace period, then SIGKILL.
    pub async fn stop(&mut self) {
        signal_group(self.pid, Signal::Term);
        if tokio::time::timeout(STOP_GRACE, self.child.wait()).await.is_err() {
            signal_group(self.pid, Signal::Kill);
            let _ = self.child.wait().await;
        }
        // The main process may be gone while children it left in the group are not.
        signal_group(self.pid, Signal::Kill);
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        signal_group(self.pid, Signal::Kill);
    }
}

enum Signal {
    Term,
    Kill,
}

/// Kills process group `pid` (a server's own group), for when its supervisor cannot.
pub fn kill_group(pid: Option<u32>) {
    signal_group(pid, Signal::Kill);
}

fn signal_group(pid: Option<u32>, signal: Signal) {
    #[cfg(unix)]
    if let Some(pid) = pid {
        let signal = match signal {
            Signal::Term => libc::SIGTERM,
            Signal::Kill => libc::SIGKILL,
        };
        // SAFETY: kill(2) with a negative pid signals that process group; the group id is the
        // server's own pid (process_group(0)), so no other group can be hit.
        unsafe {
            libc::kill(-(pid as i32), signal);
        }
    }
    #[cfg(not(unix))]
    let _ = (pid, signal);
}

/// The program's full path: as given when it is a path, else found like a shell would.
fn resolve(command: &str) -> Result<PathBuf, SpawnError> {
    let path = Path::new(command);
    if path.components().count() > 1 {
        return if path.is_file() { Ok(path.to_path_buf()) } else { Err(missing(command)) };
    }
    locate::find(command).ok_or_else(|| missing(command))
}

fn missing(command: &str) -> SpawnError {
    let name = Path::new(command).file_name().and_then(|n| n.to_str()).unwrap_or(command);
    SpawnError::Missing { program: name.to_owned(), hint: locate::install_hint(name).to_owned() }
}

/// The child's `PATH`: the program's own folder first, then the bridge's `PATH`.
fn child_path(program: &Path) -> std::ffi::OsString {
    let mut dirs: Vec<PathBuf> = program.parent().map(|d| vec![d.to_path_buf()]).unwrap_or_default();
    if let Some(path) = std::env::var_os("PATH") {
        dirs.extend(std::env::split_paths(&path));
    }
    std::env::join_paths(dirs).unwrap_or_default()
}

/// Makes the child get SIGKILL when the bridge dies, even by `kill -9`, when nothing else could
/// stop it (Linux; elsewhere a server still ends on its closed stdin). Linux sends the signal when
/// the *thread* that spawned the child ends; the bridge spawns from its runtime's worker threads,
/// which live as long as the bridge.
pub fn die_with_bridge(command: &mut std::process::Command) {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::process::CommandExt;
        let bridge = std::process::id() as libc::pid_t;
        // SAFETY: prctl and getppid are async-signal-safe; nothing is allocated between fork and exec.
        unsafe {
            command.pre_exec(move || {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                // The bridge died before the prctl: do not run orphaned.
                if libc::getppid() != bridge {
                    return Err(std::io::Error::other("the bridge is gone"));
                }
                Ok(())
            });
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = command;
}
