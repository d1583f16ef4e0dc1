//! Servers in Docker containers, on bollard: one hardened container per running server.
//!
//! [`connect`] reaches the local engine (`DOCKER_HOST`, else `/var/run/docker.sock`) and
//! negotiates the API version (engines older than bollard's default are common). [`spawn`]
//! creates the container with stdin and stdout attached *before* it starts (so no byte of the
//! handshake is lost), then starts it: stdout feeds the MCP client, stderr goes line by line into
//! the server's log. [`ServerContainer::stop`] stops and removes it.
//!
//! Hardened by default: no network unless the entry allows it, a read-only root filesystem with a
//! small `/tmp`, `no-new-privileges`, every capability dropped, memory / CPU / pids limits, and
//! user `65534:65534` (nobody) unless the entry names another. Environment variables (secrets
//! among them) go through the API, never a command line. Host folders are mounted only as the
//! entry lists them, read-only unless it says `write`.
//!
//! Every container carries the labels `harbor.owner` (this data folder) and `harbor.server`, so
//! [`remove_orphans`] finds and removes what a killed bridge left behind.

use std::collections::{BTreeMap, HashMap};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bollard::models::{ContainerCreateBody, HostConfig, Mount as DockerMount, MountType};
use bollard::query_parameters::{
    AttachContainerOptionsBuilder, CreateContainerOptionsBuilder, ListContainersOptionsBuilder,
    RemoveContainerOptionsBuilder, StopContainerOptionsBuilder, WaitContainerOptionsBuilder,
};
use bollard::Docker;
use futures::StreamExt;
use tokio::io::{AsyncWrite, AsyncWriteExt, DuplexStream};

use super::log::{ServerLog, Stream};

/// The label that marks a container as this data folder's.
pub const OWNER_LABEL: &str = "harbor.owner";
const SERVER_LABEL: &str = "harbor.server";
/// The label naming the bridge process that made a container.
const INSTANCE_LABEL: &str = "harbor.instance";

/// This bridge process, as its containers' `harbor.instance` label says it.
fn instance() -> &'static str {
    static INSTANCE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    INSTANCE.get_or_init(|| {
        let started = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        format!("{}-{}", std::process::id(), started.as_nanos())
    })
}

/// The user a container runs as unless its entry names another (`nobody`).
pub const DEFAULT_USER: &str = "65534:65534";

/// A host folder mounted into the container, and a container's resource limits (the defaults
/// hold for every server that does not set its own): the contract's own values.
pub use harbor_protocol::api::servers::{Limits, Mount};

/// What to run.
pub struct ContainerSpec<'a> {
    pub server: &'a str,
    /// Tells this data folder's containers from another's.
    pub owner: &'a str,
    pub image: &'a str,
    pub args: &'a [String],
    pub env: &'a BTreeMap<String, String>,
    pub network: bool,
    pub mounts: &'a [Mount],
    pub limits: &'a Limits,
    pub user: Option<&'a str>,
    pub entrypoint: Option<&'a [String]>,
}

#[derive(Debug)]
pub enum DockerError {
    /// No engine answers: Docker is not installed or not running.
    Unavailable(String),
    /// The engine refused (no such image, a bad mount, …).
    Refused(String),
}

impl std::fmt::Display for DockerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DockerError::Unavailable(why) => write!(
                f,
                "Docker is not available ({why}); install Docker or start it, then try again (`harbor-bridge doctor` checks it)"
            ),
            DockerError::Refused(why) => write!(f, "Docker refused to run the server: {why}"),
        }
    }
}

/// The engine's socket: `DOCKER_HOST` (a `unix://` address) or the usual place.
pub fn socket() -> String {
    match std::env::var("DOCKER_HOST") {
        Ok(host) if host.starts_with("unix://") => host.trim_start_matches("unix://").to_owned(),
        _ => "/var/run/docker.sock".to_owned(),
    }
}

/// Connects to the local engine and agrees on an API version.
pub async fn connect() -> Result<Docker, DockerError> {
    let path = socket();
    if !std::path::Path::new(&path).exists() {
        return Err(DockerError::Unavailable(format!("no engine socket at {path}")));
    }
    let docker = Docker::connect_with_unix(&path, 120, bollard::API_DEFAULT_VERSION)
        .map_err(|e| DockerError::Unavailable(format!("{path}: {e}")))?;
    let docker = tokio::time::timeout(Duration::from_secs(10), docker.negotiate_version())
        .await
        .map_err(|_| DockerError::Unavailable(format!("the engine at {path} did not answer within 10 s")))?
        .map_err(|e| DockerError::Unavailable(format!("{path}: {e}")))?;
    Ok(docker)
}

/// A started container: its stdin, its stdout as a byte stream, and the handle that stops it.
pub struct Spawned {
    pub stdin: Pin<Box<dyn AsyncWrite + Send>>,
    pub stdout: DuplexStream,
    pub container: ServerContainer,
}

pub struct ServerContainer {
    docker: Docker,
    pub id: String,
    stopped: bool,
}

fn refused(error: bollard::errors::Error) -> DockerError {
    match error {
        bollard::errors::Error::DockerResponseServerError { message, .. } => DockerError::Refused(message),
        other => DockerError::Refused(other.to_string()),
    }
}

/// Creates, attaches and starts the server's container.
pub async fn spawn(spec: &ContainerSpec<'_>, log: Arc<ServerLog>) -> Result<Spawned, DockerError> {
    let docker = connect().await?;
    let labels = HashMap::from([
        (OWNER_LABEL.to_owned(), spec.owner.to_owned()),
        (SERVER_LABEL.to_owned(), spec.server.to_owned()),
        (INSTANCE_LABEL.to_owned(), instance().to_owned()),
    ]);
    let mounts = spec
        .mounts
        .iter()
        .map(|m| DockerMount {
            source: Some(m.host.clone()),
            target: Some(m.container.clone()),
            typ: Some(MountType::BIND),
            read_only: Some(!m.write),
            ..Default::default()
        })
        .collect();
    let host = HostConfig {
        network_mode: Some(if spec.network { "bridge" } else { "none" }.to_owned()),
        readonly_rootfs: Some(true),
        tmpfs: Some(HashMap::from([(
            "/tmp".to_owned(),
            format!("rw,noexec,nosuid,size={}m,mode=1777", spec.limits.tmp_mb),
        )])),
        security_opt: Some(vec!["no-new-privileges".to_owned()]),
        cap_drop: Some(vec!["ALL".to_owned()]),
        memory: Some((spec.limits.memory_mb * 1024 * 1024) as i64),
        memory_swap: Some((spec.limits.memory_mb * 1024 * 1024) as i64),
        nano_cpus: Some((spec.limits.cpus * 1e9) as i64),
        pids_limit: Some(spec.limits.pids),
        mounts: Some(mounts),
        // tini as PID 1: it passes SIGTERM on, which a server running as PID 1 would ignore.
        init: Some(true),
        ..Default::default()
    };
    let body = ContainerCreateBody {
        image: Some(spec.image.to_owned()),
        entrypoint: spec.entrypoint.map(<[String]>::to_vec),
        cmd: (!spec.args.is_empty()).then(|| spec.args.to_vec()),
        env: Some(spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
        user: Some(spec.user.unwrap_or(DEFAULT_USER).to_owned()),
        labels: Some(labels),
        attach_stdin: Some(true),
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        open_stdin: Some(true),
        stdin_once: Some(false),
        tty: Some(false),
        network_disabled: Some(!spec.network),
        host_config: Some(host),
        ..Default::default()
    };
    let name = format!("harbor-{}-{}-{}", spec.server, &spec.owner[..spec.owner.len().min(8)], instance());
    let options = CreateContainerOptionsBuilder::default().name(&name).build();
    let created = docker.create_container(Some(options), body).await.map_err(refused)?;
    let container = ServerContainer { docker: docker.clone(), id: created.id, stopped: false };
    let attach = AttachContainerOptionsBuilder::default().stdin(true).stdout(true).stderr(true).stream(true).build();
    let attached = match docker.attach_container(&container.id, Some(attach)).await {
        Ok(attached) => attached,
        Err(error) => {
            container.remove().await;
            return Err(refused(error));
        }
    };
    if let Err(error) = docker.start_container(&container.id, None).await {
        container.remove().await;
        return Err(refused(error));
    }
    // stdout into a pipe the MCP client reads; stderr into the log, line by line.
    let (mut to_client, stdout) = tokio::io::duplex(1 << 16);
    let mut output = attached.output;
    tokio::spawn(async move {
        let mut partial = String::new();
        while let Some(Ok(chunk)) = output.next().await {
            match chunk {
                bollard::container::LogOutput::StdOut { message } if to_client.write_all(&message).await.is_err() => {
                    break
                }
                bollard::container::LogOutput::StdOut { .. } => {}
                bollard::container::LogOutput::StdErr { message } => {
                    partial.push_str(&String::from_utf8_lossy(&message));
                    while let Some(end) = partial.find('\n') {
                        let line: String = partial.drain(..=end).collect();
                        log.push(Stream::Stderr, line.trim_end());
                    }
                }
                _ => {}
            }
        }
        if !partial.is_empty() {
            log.push(Stream::Stderr, partial.trim_end());
        }
    });
    Ok(Spawned { stdin: attached.input, stdout, container })
}

impl ServerContainer {
    /// Waits until the container exits on its own; returns a plain-words reason.
    pub async fn wait(&mut self) -> String {
        let options = WaitContainerOptionsBuilder::default().condition("not-running").build();
        let mut waiting = self.docker.wait_container(&self.id, Some(options));
        match waiting.next().await {
            Some(Ok(exit)) => format!("the container exited ({})", exit.status_code),
            // bollard reports a non-zero exit as an error carrying the code.
            Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => {
                format!("the container exited ({code})")
            }
            Some(Err(error)) => format!("the container could not be watched: {error}"),
            None => "the container went away".to_owned(),
        }
    }

    /// Stops the container (2 s grace, then killed) and removes it.
    pub async fn stop(&mut self) {
        if self.stopped {
            return;
        }
        self.stopped = true;
        let options = StopContainerOptionsBuilder::default().t(2).build();
        let _ = self.docker.stop_container(&self.id, Some(options)).await;
        self.remove().await;
    }

    async fn remove(&self) {
        let options = RemoveContainerOptionsBuilder::default().force(true).v(true).build();
        let _ = self.docker.remove_container(&self.id, Some(options)).await;
    }
}

impl Drop for ServerContainer {
    /// A container must not outlive its server: one dropped without `stop` is removed in the
    /// background (and any left by a killed bridge by [`remove_orphans`] at the next start).
    fn drop(&mut self) {
        if self.stopped {
            return;
        }
        let (docker, id) = (self.docker.clone(), self.id.clone());
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let options = RemoveContainerOptionsBuilder::default().force(true).v(true).build();
                let _ = docker.remove_container(&id, Some(options)).await;
            });
        }
    }
}

/// Builds the image of `context` (a folder with a `Dockerfile`) as `tag`, passing each line of
/// the build's output to `progress`.
pub async fn build_image(context: &std::path::Path, tag: &str, progress: impl Fn(String)) -> Result<(), DockerError> {
    let docker = connect().await?;
    let packed = tokio::process::Command::new("tar")
        .arg("-C")
        .arg(context)
        .args(["-cf", "-", "."])
        .output()
        .await
        .map_err(|e| DockerError::Refused(format!("cannot pack {} for the build: {e}", context.display())))?;
    if !packed.status.success() {
        return Err(DockerError::Refused(format!(
            "cannot pack {}: {}",
            context.display(),
            String::from_utf8_lossy(&packed.stderr)
        )));
    }
    let options = bollard::query_parameters::BuildImageOptionsBuilder::default().t(tag).rm(true).build();
    let body = bollard::body_full(packed.stdout.into());
    let mut building = docker.build_image(options, None, Some(body));
    while let Some(step) = building.next().await {
        let info = step.map_err(|e| DockerError::Refused(format!("building {tag} failed: {}", refused(e))))?;
        if let Some(detail) = info.error_detail.and_then(|d| d.message) {
            return Err(DockerError::Refused(format!("building {tag} failed: {detail}")));
        }
        for line in info.stream.unwrap_or_default().lines().filter(|l| !l.trim().is_empty()) {
            progress(line.to_owned());
        }
    }
    Ok(())
}

/// Makes sure `image` is on the engine: pulled (with each status line passed to `progress`) when
/// it is not there yet.
pub async fn ensure_image(image: &str, progress: impl Fn(String)) -> Result<(), DockerError> {
    let docker = connect().await?;
    if docker.inspect_image(image).await.is_ok() {
        return Ok(());
    }
    let options = bollard::query_parameters::CreateImageOptionsBuilder::default().from_image(image).build();
    let mut pulling = docker.create_image(Some(options), None, None);
    while let Some(step) = pulling.next().await {
        match step {
            Ok(info) => {
                let line = [info.id, info.status].into_iter().flatten().collect::<Vec<_>>().join(" ");
                if !line.is_empty() {
                    progress(line);
                }
            }
            Err(error) => return Err(DockerError::Refused(format!("cannot pull {image}: {}", refused(error)))),
        }
    }
    Ok(())
}

/// Removes every container this data folder's earlier bridges left behind (not this one's).
/// Returns how many.
pub async fn remove_orphans(owner: &str) -> Result<usize, DockerError> {
    let docker = connect().await?;
    let filters = HashMap::from([("label".to_owned(), vec![format!("{OWNER_LABEL}={owner}")])]);
    let options = ListContainersOptionsBuilder::default().all(true).filters(&filters).build();
    let found = docker.list_containers(Some(options)).await.map_err(refused)?;
    let mut removed = 0;
    for container in found {
        let Some(id) = container.id else { continue };
        if container.labels.as_ref().and_then(|l| l.get(INSTANCE_LABEL)).is_some_and(|i| i == instance()) {
            continue;
        }
        let options = RemoveContainerOptionsBuilder::default().force(true).v(true).build();
        if docker.remove_container(&id, Some(options)).await.is_ok() {
            removed += 1;
        }
    }
    Ok(removed)
}
