//! `servers.*`: the servers the user added, their lifecycle, settings and logs.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::Id;

crate::methods! {
    /// Every server with its state.
    ServersList = "servers.list", Extension, super::Empty => Vec<ServerEntry>;
    ServersGet = "servers.get", Extension, Id => ServerEntry;
    ServersAdd = "servers.add", Extension, AddServer => ServerEntry;
    /// Changes the given settings; a running server uses them from its next start.
    ServersUpdate = "servers.update", Extension, UpdateServer => ServerEntry;
    /// Stops the server and removes it with everything Harbor installed for it.
    ServersRemove = "servers.remove", Extension, Id => Removed;
    /// Starts the server and waits until it runs (or gives up).
    ServersStart = "servers.start", Extension, Id => ServerEntry;
    ServersStop = "servers.stop", Extension, Id => ServerEntry;
    ServersRestart = "servers.restart", Extension, Id => ServerEntry;
    /// Moves a native server into a Docker container of a base image, or back.
    ServersRuntime = "servers.runtime", Extension, SetRuntime => ServerEntry;
    ServersLogs = "servers.logs", Extension, LogsParams => Vec<LogLine>;
}

/// How a server runs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Launch {
    /// A local program speaking MCP over stdio.
    Process {
        command: String,
        #[serde(default)]
        args: Vec<String>,
        /// Non-secret environment variables.
        #[serde(default)]
        env: BTreeMap<String, String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cwd: Option<String>,
    },
    /// An image run in a hardened container, speaking MCP over its stdio.
    Docker {
        image: String,
        /// The command after the image's entrypoint.
        #[serde(default)]
        args: Vec<String>,
        #[serde(default)]
        env: BTreeMap<String, String>,
        /// Network access (none by default).
        #[serde(default)]
        network: bool,
        #[serde(default)]
        mounts: Vec<Mount>,
        #[serde(default)]
        limits: Limits,
        /// The user inside (default nobody, `65534:65534`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        user: Option<String>,
        /// Replaces the image's entrypoint (a native server moved into a base image).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        entrypoint: Option<Vec<String>>,
        /// The native launch this container runs, when the server was moved into Docker.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        wraps: Option<Box<Launch>>,
    },
    /// A remote server over Streamable HTTP.
    Remote {
        url: String,
        /// Non-secret headers.
        #[serde(default)]
        headers: BTreeMap<String, String>,
    },
}

impl Launch {
    /// The launch as one line: the program and its arguments, the image, or the URL.
    pub fn summary(&self) -> String {
        match self {
            Launch::Remote { url, .. } => url.clone(),
            Launch::Docker { image, args, network, .. } => {
                let mut words = vec![format!("docker: {image}")];
                words.extend(args.iter().cloned());
                if !network {
                    words.push("(no network)".into());
                }
                words.join(" ")
            }
            Launch::Process { command, args, .. } => {
                let mut words = vec![command.clone()];
                words.extend(args.iter().cloned());
                words.join(" ")
            }
        }
    }
}

/// A host folder mounted into a container.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Mount {
    pub host: String,
    pub container: String,
    /// Read-write; read-only when false.
    #[serde(default)]
    pub write: bool,
}

/// A container's resource limits.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Limits {
    pub memory_mb: u64,
    pub cpus: f64,
    pub pids: i64,
    pub tmp_mb: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits { memory_mb: 512, cpus: 1.0, pids: 256, tmp_mb: 64 }
    }
}

/// Where a server came from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Source {
    /// Added by hand: a command or a URL.
    Manual,
    Npm {
        package: String,
    },
    Pypi {
        package: String,
    },
    /// A program downloaded from this URL (checksum verified).
    Binary {
        url: String,
    },
    /// Cloned from a git repository and built.
    Git {
        url: String,
    },
    /// An `.mcpb` bundle, from a URL or a file.
    Bundle {
        from: String,
    },
    /// A JavaScript server's file, from a URL or a file, run by Harbor itself.
    Js {
        from: String,
    },
    /// A REST API's OpenAPI document, from a URL or a file, served by Harbor itself.
    OpenApi {
        from: String,
    },
    /// Read from another client's config.
    Imported {
        client: String,
        file: String,
    },
}

/// A natively launched server's OS sandbox.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Sandbox {
    pub enabled: bool,
    /// Whether the server may reach the network (else it has a private loopback only).
    #[serde(default)]
    pub network: bool,
    /// Folders it may read and write besides its own.
    #[serde(default)]
    pub folders: Vec<String>,
}

/// An account at an OAuth provider that a local server works with (its API token): the user
/// connects it once — in the browser (authorization code with PKCE, through a loopback
/// redirect) or with a code typed at the provider (the device flow, RFC 8628) — and the server
/// gets the access token in `env` at each start, renewed before it expires.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Account {
    /// The provider's issuer, whose metadata (RFC 8414 or OpenID Connect discovery) names its
    /// endpoints; or leave it out and name them below (GitHub publishes no metadata).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_endpoint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_endpoint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_authorization_endpoint: Option<String>,
    /// The client id the provider issued for Harbor (an OAuth app the user or their
    /// organisation registered; public: no secret).
    pub client_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// The environment variable the access token fills.
    pub env: String,
}

/// A server's settings as the user sees them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerSpec {
    pub id: String,
    pub name: String,
    pub source: Source,
    pub launch: Launch,
    /// Variable (or header) → the id of the secret that fills it at start.
    #[serde(default)]
    pub secret_env: BTreeMap<String, String>,
    #[serde(default)]
    pub auto_start: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub install_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_timeout_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<Sandbox>,
    /// The provider account whose token the server gets (local servers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<Account>,
}

/// The lifecycle states a user sees.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ServerState {
    Installing,
    #[default]
    Stopped,
    Starting,
    Running,
    Crashed,
}

impl ServerState {
    /// The state as the wire and the user see it.
    pub fn name(self) -> &'static str {
        match self {
            ServerState::Installing => "installing",
            ServerState::Stopped => "stopped",
            ServerState::Starting => "starting",
            ServerState::Running => "running",
            ServerState::Crashed => "crashed",
        }
    }
}

/// A server's state and why.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerStatus {
    pub state: ServerState,
    /// Why it is not running, or why it is restarting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Failures in a row (0 while healthy).
    #[serde(default)]
    pub restarts: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    /// The server wants the user to sign in (a remote server that answered 401 or 403).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub needs_sign_in: bool,
}

impl ServerStatus {
    pub fn new(state: ServerState) -> ServerStatus {
        ServerStatus { state, ..ServerStatus::default() }
    }
}

/// A server as listed: its settings, its state and how many tools it serves.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerEntry {
    #[serde(flatten)]
    pub spec: ServerSpec,
    pub status: ServerStatus,
    pub tool_count: usize,
}

/// `servers.add`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AddServer {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub launch: Launch,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<Source>,
    /// Variable → secret id (set with `secrets.set` or `servers.secrets.set`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub secret_env: BTreeMap<String, String>,
    #[serde(default)]
    pub auto_start: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_timeout_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<Sandbox>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<Account>,
}

/// `servers.update`: absent fields stay as they are.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateServer {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub launch: Option<Launch>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_start: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_timeout_ms: Option<u64>,
    /// The OS sandbox; `{"enabled": false}` turns it off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<Sandbox>,
    /// The provider account (local servers); `null` removes it.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "super::maybe")]
    pub account: Option<Option<Account>>,
}

/// Which runtime a server moves to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Runtime {
    Docker,
    Native,
}

/// `servers.runtime`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetRuntime {
    pub id: String,
    pub runtime: Runtime,
    /// The base image, for `docker` (e.g. `node:22-slim`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(default)]
    pub network: bool,
}

/// `servers.remove`'s answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Removed {
    pub removed: String,
}

/// `servers.logs`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogsParams {
    pub id: String,
    /// How many of the last lines (200 when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lines: Option<usize>,
}

/// Who wrote a log line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogStream {
    /// What the server wrote to stderr.
    Stderr,
    /// Harbor's own lines about the server: started, exited, restarting.
    Harbor,
    /// What the server logged over MCP (`notifications/message`): its level (and logger), then
    /// the message.
    Mcp,
}

impl LogStream {
    /// Its name, as on the wire and in the log file.
    pub fn as_str(self) -> &'static str {
        match self {
            LogStream::Stderr => "stderr",
            LogStream::Harbor => "harbor",
            LogStream::Mcp => "mcp",
        }
    }
}

/// One line of a server's log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLine {
    /// Milliseconds since the Unix epoch.
    pub at: u64,
    pub stream: LogStream,
    pub text: String,
}
