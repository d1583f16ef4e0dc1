//! One live MCP session with one server: the rmcp client over the server's stdio or over
//! Streamable HTTP.
//!
//! [`Connection::open`] starts a process server through `runtimes::process` (or reaches a remote
//! one), runs the MCP handshake, and keeps the rmcp service running in a task of its own; the
//! [`Peer`] it hands out sends requests. [`ClientEvents`] is the handler rmcp calls for what the
//! server sends unasked: progress (routed to the call that asked for it) and `list_changed`
//! notices (passed to the supervisor).

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rmcp::model::{ClientCapabilities, ClientConfig, Implementation, ProgressNotificationParam, ProgressToken};
use rmcp::service::{NotificationContext, Peer, QuitReason, RoleClient, RunningServiceCancellationToken, ServiceExt};
use rmcp::transport::streamable_http_client::{StreamableHttpClientTransport, StreamableHttpClientTransportConfig};
use rmcp::{ClientHandler, ErrorData as McpError};

use super::askers::Askers;
use tokio::sync::{mpsc, oneshot, Notify};

use super::credentials::{BearerClient, Prepared};
use super::server::Context;
use crate::runtimes::docker::{self, ContainerSpec, DockerError, ServerContainer};
use crate::runtimes::log::ServerLog;
use crate::runtimes::process::{self, ProcessSpec, ServerProcess, SpawnError};
use crate::store::servers::Launch;

/// How long a server gets to finish the MCP handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(60);

/// A catalog changed at the server (`notifications/*/list_changed`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListChanged {
    Tools,
    Resources,
    Prompts,
}

impl ListChanged {
    const ALL: [ListChanged; 3] = [ListChanged::Tools, ListChanged::Resources, ListChanged::Prompts];

    fn bit(self) -> u8 {
        match self {
            ListChanged::Tools => 1,
            ListChanged::Resources => 2,
            ListChanged::Prompts => 4,
        }
    }
}

/// The `list_changed` notices a server sent and the supervisor has not handled yet, coalesced:
/// a server that sends a thousand notices between two looks costs one refresh per catalog, and
/// holds no queue.
#[derive(Default)]
pub struct Changes {
    pending: AtomicU8,
    wake: Notify,
}

impl Changes {
    fn mark(&self, what: ListChanged) {
        self.pending.fetch_or(what.bit(), Ordering::AcqRel);
        self.wake.notify_one();
    }

    /// Waits for notices, then takes every one pending.
    pub async fn next(&self) -> Vec<ListChanged> {
        loop {
            let pending = self.pending.swap(0, Ordering::AcqRel);
            if pending != 0 {
                return ListChanged::ALL.into_iter().filter(|what| pending & what.bit() != 0).collect();
            }
            self.wake.notified().await;
        }
    }
}

/// How many progress reports of one call may wait for their caller; more are dropped (a later
/// report supersedes them), so a chatty server cannot grow the bridge's memory.
pub const PROGRESS_QUEUE: usize = 32;

/// Where one call's progress reports go.
pub type ProgressSink = mpsc::Sender<Progress>;

/// What the server reported about a call in progress.
#[derive(Clone, Debug, PartialEq)]
pub struct Progress {
    pub progress: f64,
    pub total: Option<f64>,
    pub message: Option<String>,
    /// A call made inside this one (by code mode's code), begun or ended.
    pub inner: Option<Inner>,
}

/// A tool call code mode's code made inside an `execute_code` call: its number in the run, the
/// tool, its arguments as it begins (null in the report of its end), and — once it has ended —
/// how.
#[derive(Clone, Debug, PartialEq)]
pub struct Inner {
    pub number: u32,
    pub tool: String,
    pub args: serde_json::Value,
    pub outcome: Option<Result<serde_json::Value, harbor_protocol::ErrorObject>>,
}

impl Progress {
    /// A report of `progress` (of `total`), saying `message`.
    pub fn report(progress: f64, total: Option<f64>, message: Option<String>) -> Progress {
        Progress { progress, total, message, inner: None }
    }
}

impl Progress {
    /// The report as a stream event of the bridge's protocol (`tools.call`, `gateway.call`).
    pub fn event(self) -> harbor_protocol::api::tools::ToolEvent {
        harbor_protocol::api::tools::ToolEvent::Progress {
            progress: self.progress,
            total: self.total,
            message: self.message,
        }
    }
}

/// Runs `running` while handing the progress reports that arrive on `reports` to `emit`, then
/// those that came in before its answer. rmcp hands each notification to a task of its own; on
/// the bridge's single thread those tasks run before the answer is seen, so what the server
/// reported before its result is in the queue by then and goes out before the final reply.
pub async fn relaying<T, F: Future>(
    running: impl Future<Output = T>,
    mut reports: mpsc::Receiver<Progress>,
    mut emit: impl FnMut(Progress) -> F,
) -> T {
    tokio::pin!(running);
    let outcome = loop {
        tokio::select! {
            biased;
            Some(report) = reports.recv() => {
                emit(report).await;
            }
            outcome = &mut running => break outcome,
        }
    };
    while let Ok(report) = reports.try_recv() {
        emit(report).await;
    }
    outcome
}

type ProgressRoutes = Arc<Mutex<HashMap<ProgressToken, ProgressSink>>>;

/// rmcp's handler for what a server sends unasked.
#[derive(Clone)]
pub struct ClientEvents {
    progress: ProgressRoutes,
    changed: Arc<Changes>,
    /// Where news of a subscribed resource (`resources.updated` `{serverId, uri}`) and the
    /// server's log messages (`servers.message` `{serverId, message}`) go, and who answers its
    /// sampling and elicitation requests.
    updates: Option<(Arc<str>, crate::rpc::Notifier, Arc<Askers>)>,
    /// The folders the user granted the server (its sandbox folders), as its roots.
    roots: Arc<Vec<String>>,
    /// The server's own log, where its MCP log messages are kept for the user to read.
    log: Option<Arc<crate::runtimes::log::ServerLog>>,
}

impl ClientEvents {
    pub fn new(changed: Arc<Changes>) -> Self {
        ClientEvents { progress: ProgressRoutes::default(), changed, updates: None, roots: Arc::default(), log: None }
    }

    /// Keeps the server's MCP log messages in `log` (its log view), beside its stderr.
    pub fn logging_to(mut self, log: Arc<crate::runtimes::log::ServerLog>) -> Self {
        self.log = Some(log);
        self
    }

    /// Offers `folders` (the folders the user granted the server) as its roots.
    pub fn with_roots(mut self, folders: Vec<String>) -> Self {
        self.roots = Arc::new(folders);
        self
    }

    /// Publishes the server's `notifications/resources/updated` as `resources.updated`, and its
    /// `notifications/message` as `servers.message`.
    pub fn telling(mut self, server: &str, notifier: crate::rpc::Notifier, askers: Arc<Askers>) -> Self {
        self.updates = Some((server.into(), notifier, askers));
        self
    }

    /// Hands the server's own request to the caller waiting on it (see [`super::askers`]).
    async fn ask<T: serde::de::DeserializeOwned>(
        &self,
        method: &'static str,
        params: impl serde::Serialize,
    ) -> Result<T, McpError> {
        let Some((server, _, askers)) = &self.updates else {
            return Err(McpError::invalid_request(format!("{method}: nobody here can answer it"), None));
        };
        let params = serde_json::to_value(params).unwrap_or_default();
        let answer = askers.ask(server, method, params).await?;
        serde_json::from_value(answer)
            .map_err(|e| McpError::internal_error(format!("{method}: the app's answer does not fit: {e}"), None))
    }

    /// While one of this server's requests waits for an answer: a future that returns once none
    /// does.
    pub fn waiting_on_answer(&self) -> Option<impl Future<Output = ()> + '_> {
        let (server, _, askers) = self.updates.as_ref()?;
        askers.is_asking(server).then(|| askers.answered(server))
    }

    /// Routes progress for `token` to `sink` until the returned guard is dropped.
    pub fn route_progress(&self, token: ProgressToken, sink: ProgressSink) -> ProgressRoute {
        self.progress.lock().unwrap_or_else(|p| p.into_inner()).insert(token.clone(), sink);
        ProgressRoute { routes: self.progress.clone(), token }
    }
}

/// Unregisters a progress route when dropped.
pub struct ProgressRoute {
    routes: ProgressRoutes,
    token: ProgressToken,
}

impl Drop for ProgressRoute {
    fn drop(&mut self) {
        self.routes.lock().unwrap_or_else(|p| p.into_inner()).remove(&self.token);
    }
}

impl ClientHandler for ClientEvents {
    fn get_info(&self) -> ClientConfig {
        // Sampling and elicitation go to the app whose call is waiting, else to the user (see
        // `askers`). Roots are the folders the user granted the server (its sandbox folders),
        // never a caller's: one session serves every caller, so a caller's roots would change
        // what the server may touch for all of them. A server with no granted folders is offered
        // no roots capability (a filesystem server then keeps the folders its command names).
        // 2026-07-28 deprecates roots (SEP-2577); 2025-era servers still ask.
        // The Skills extension is declared too: the gateway passes skills through (SEP-2640); and
        // MCP Apps: the sidebar renders tools' views (`crate::apps`).
        let mut capabilities: ClientCapabilities = serde_json::from_value(serde_json::json!({
            "sampling": {},
            "elicitation": { "form": {}, "url": {} },
            "extensions": {
                "io.modelcontextprotocol/skills": {},
                harbor_protocol::api::apps::EXTENSION: { "mimeTypes": [harbor_protocol::api::apps::RESOURCE_MIME_TYPE] },
            },
        }))
        .unwrap_or_default();
        if !self.roots.is_empty() {
            capabilities.roots = Some(rmcp::model::RootsCapabilities::default());
        }
        let mut config = ClientConfig::new(capabilities, Implementation::new("harbor", env!("CARGO_PKG_VERSION")));
        // Harbor opens every upstream session with `initialize`, so it offers the newest revision
        // that has one (2026-07-28 has none: offering it there is invalid). Upstream
        // `server/discover` is not used yet (PROTOCOL.md, after "Conformance").
        config.protocol_version = rmcp::model::ProtocolVersion::LATEST_WITH_INITIALIZE;
        config
    }

    #[allow(deprecated)]
    async fn list_roots(
        &self,
        _context: rmcp::service::RequestContext<RoleClient>,
    ) -> Result<rmcp::model::ListRootsResult, McpError> {
        Ok(rmcp::model::ListRootsResult::new(self.roots.iter().filter_map(|folder| root(folder)).collect::<Vec<_>>()))
    }

    #[allow(deprecated)]
    async fn create_message(
        &self,
        params: rmcp::model::CreateMessageRequestParams,
        _context: rmcp::service::RequestContext<RoleClient>,
    ) -> Result<rmcp::model::CreateMessageResult, McpError> {
        self.ask(super::askers::SAMPLING, params).await
    }

    async fn create_elicitation(
        &self,
        request: rmcp::model::ElicitRequestParams,
        _context: rmcp::service::RequestContext<RoleClient>,
    ) -> Result<rmcp::model::ElicitResult, McpError> {
        self.ask(super::askers::ELICITATION, request).await
    }

    async fn on_progress(&self, params: ProgressNotificationParam, _context: NotificationContext<RoleClient>) {
        let routes = self.progress.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(sink) = routes.get(&params.progress_token) {
            let _ = sink.try_send(Progress::report(params.progress, params.total, params.message));
        }
    }

    async fn on_tool_list_changed(&self, _context: NotificationContext<RoleClient>) {
        self.changed.mark(ListChanged::Tools);
    }

    async fn on_resource_list_changed(&self, _context: NotificationContext<RoleClient>) {
        self.changed.mark(ListChanged::Resources);
    }

    async fn on_prompt_list_changed(&self, _context: NotificationContext<RoleClient>) {
        self.changed.mark(ListChanged::Prompts);
    }

    #[allow(deprecated)]
    async fn on_logging_message(
        &self,
        params: rmcp::model::LoggingMessageNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        if let Some(log) = &self.log {
            let logger = params.logger.as_deref().map(|l| format!(" {l}")).unwrap_or_default();
            let data = match &params.data {
                serde_json::Value::String(text) => text.clone(),
                other => other.to_string(),
            };
            let level = serde_json::to_value(params.level).ok().and_then(|l| l.as_str().map(str::to_owned));
            log.push(crate::runtimes::log::Stream::Mcp, &format!("[{}{logger}] {data}", level.unwrap_or_default()));
        }
        if let Some((server, notifier, _)) = &self.updates {
            // To the apps that may hear this server, and the user's view of its log above (never
            // into Harbor's own log: it may carry what the tool works on).
            let message = serde_json::to_value(params).unwrap_or_default();
            notifier.publish("servers.message", serde_json::json!({ "serverId": &**server, "message": message }));
        }
    }

    async fn on_resource_updated(
        &self,
        params: rmcp::model::ResourceUpdatedNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        if let Some((server, notifier, _)) = &self.updates {
            notifier.publish("resources.updated", serde_json::json!({ "serverId": &**server, "uri": params.uri }));
        }
    }
}

/// Why a server could not be started.
#[derive(Debug)]
pub enum OpenError {
    /// The program could not be started; retrying will not help until the user acts.
    Spawn(SpawnError),
    /// Docker is not there, or refused the container; retrying will not help either.
    Docker(DockerError),
    /// It started but the MCP handshake failed or timed out.
    Handshake(String),
}

impl std::fmt::Display for OpenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OpenError::Spawn(error) => error.fmt(f),
            OpenError::Docker(error) => error.fmt(f),
            OpenError::Handshake(why) => write!(f, "the server did not complete the MCP handshake: {why}"),
        }
    }
}

/// A live session.
pub struct Connection {
    pub peer: Peer<RoleClient>,
    pub events: ClientEvents,
    stop: Option<RunningServiceCancellationToken>,
    quit: oneshot::Receiver<String>,
    child: Option<Child>,
}

/// What runs a local server: a process group or a container.
enum Child {
    Process(ServerProcess),
    Container(ServerContainer),
}

impl Child {
    /// Resolves when it exits on its own, with a plain-words reason.
    async fn exited(&mut self) -> String {
        match self {
            Child::Process(process) => match process.wait().await {
                Ok(status) => format!("the server exited ({status})"),
                Err(error) => format!("the server's process could not be watched: {error}"),
            },
            Child::Container(container) => container.wait().await,
        }
    }

    async fn stop(&mut self) {
        match self {
            Child::Process(process) => process.stop().await,
            Child::Container(container) => container.stop().await,
        }
    }
}

impl Connection {
    pub async fn open(
        server: &str,
        prepared: &Prepared,
        log: Arc<ServerLog>,
        events: ClientEvents,
        context: &Context,
    ) -> Result<Connection, OpenError> {
        let http = &context.http;
        match &prepared.launch {
            Launch::Docker { image, args, env, network, mounts, limits, user, entrypoint, .. } => {
                let spec = ContainerSpec {
                    server,
                    owner: &context.owner,
                    image,
                    args,
                    env,
                    network: *network,
                    mounts,
                    limits,
                    user: user.as_deref(),
                    entrypoint: entrypoint.as_deref(),
                };
                let spawned = docker::spawn(&spec, log).await.map_err(OpenError::Docker)?;
                let mut child = Child::Container(spawned.container);
                let handshake =
                    tokio::time::timeout(HANDSHAKE_TIMEOUT, events.clone().serve((spawned.stdout, spawned.stdin)));
                match handshake.await {
                    Ok(Ok(service)) => Ok(Connection::running(service, events, Some(child))),
                    Ok(Err(error)) => {
                        child.stop().await;
                        Err(OpenError::Handshake(error.to_string()))
                    }
                    Err(_) => {
                        child.stop().await;
                        Err(OpenError::Handshake(format!("no answer within {} s", HANDSHAKE_TIMEOUT.as_secs())))
                    }
                }
            }
            Launch::Process { command, args, env, cwd } => {
                let spec = ProcessSpec { command, args, env, cwd: cwd.as_deref(), jail: prepared.jail.as_ref() };
                let spawned = process::spawn(&spec, log).map_err(OpenError::Spawn)?;
                let mut process = spawned.process;
                let handshake =
                    tokio::time::timeout(HANDSHAKE_TIMEOUT, events.clone().serve((spawned.stdout, spawned.stdin)));
                match handshake.await {
                    Ok(Ok(service)) => Ok(Connection::running(service, events, Some(Child::Process(process)))),
                    Ok(Err(error)) => {
                        process.stop().await;
                        Err(OpenError::Handshake(error.to_string()))
                    }
                    Err(_) => {
                        process.stop().await;
                        Err(OpenError::Handshake(format!("no answer within {} s", HANDSHAKE_TIMEOUT.as_secs())))
                    }
                }
            }
            Launch::Remote { url, headers } => {
                let mut config = StreamableHttpClientTransportConfig::with_uri(url.as_str());
                for (name, value) in headers {
                    let name =
                        name.parse().map_err(|_| OpenError::Handshake(format!("header name {name:?} is not valid")))?;
                    let value =
                        value.parse().map_err(|_| OpenError::Handshake("a header value is not valid".into()))?;
                    config.custom_headers.insert(name, value);
                }
                let http = http.get().map_err(OpenError::Handshake)?;
                let handshake = match &prepared.bearer {
                    Some(bearer) => {
                        let client = BearerClient { http, bearer: bearer.clone() };
                        let transport = StreamableHttpClientTransport::with_client(client, config);
                        tokio::time::timeout(HANDSHAKE_TIMEOUT, events.clone().serve(transport)).await
                    }
                    None => {
                        let transport = StreamableHttpClientTransport::with_client(http, config);
                        tokio::time::timeout(HANDSHAKE_TIMEOUT, events.clone().serve(transport)).await
                    }
                };
                match handshake {
                    Ok(Ok(service)) => Ok(Connection::running(service, events, None)),
                    Ok(Err(error)) => Err(OpenError::Handshake(format!("{url}: {error}"))),
                    Err(_) => Err(OpenError::Handshake(format!(
                        "{url} did not answer within {} s",
                        HANDSHAKE_TIMEOUT.as_secs()
                    ))),
                }
            }
        }
    }

    fn running(
        service: rmcp::service::RunningService<RoleClient, ClientEvents>,
        events: ClientEvents,
        child: Option<Child>,
    ) -> Connection {
        let peer = service.peer().clone();
        let stop = Some(service.cancellation_token());
        let (tell, quit) = oneshot::channel();
        tokio::spawn(async move {
            let why = match service.waiting().await {
                Ok(QuitReason::Cancelled) => "stopped".to_owned(),
                Ok(QuitReason::Closed) => "the connection closed".to_owned(),
                Ok(QuitReason::JoinError(error)) | Err(error) => format!("the MCP client failed: {error}"),
                Ok(_) => "the connection ended".to_owned(),
            };
            let _ = tell.send(why);
        });
        Connection { peer, events, stop, quit, child }
    }

    /// Resolves when the server goes away on its own: its process exits or its connection
    /// closes. Returns a plain-words reason.
    pub async fn closed(&mut self) -> String {
        let quit = &mut self.quit;
        match self.child.as_mut() {
            Some(child) => tokio::select! {
                why = child.exited() => why,
                why = quit => why.unwrap_or_else(|_| "the connection closed".into()),
            },
            None => quit.await.unwrap_or_else(|_| "the connection closed".into()),
        }
    }

    /// Ends the session and stops the process group.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            stop.cancel();
        }
        if let Some(mut child) = self.child.take() {
            child.stop().await;
        }
    }

    pub fn pid(&self) -> Option<u32> {
        match &self.child {
            Some(Child::Process(process)) => process.pid(),
            _ => None,
        }
    }
}

/// A granted folder as an MCP root: its `file://` URI, named by its last part.
#[allow(deprecated)]
fn root(folder: &str) -> Option<rmcp::model::Root> {
    let uri = url::Url::from_directory_path(folder).ok()?;
    let name = std::path::Path::new(folder).file_name().map(|n| n.to_string_lossy().into_owned());
    let mut root = rmcp::model::Root::new(uri.as_str().trim_end_matches('/'));
    root.name = name;
    Some(root)
}
