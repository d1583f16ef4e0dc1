//! The registry: every server Harbor knows, and the one place tools, resources and prompts are
//! reached by name.
//!
//! [`Servers::load`] reads the servers from the store and starts those marked auto-start.
//! Changes to the set go to the store first, so a crash never leaves a server half-registered.
//! Tools are named `serverId/toolName` (and `serverId__toolName` for models, see `names`).
//! [`Servers::call_tool`] honours a timeout and cancellation — both send MCP
//! `notifications/cancelled` to the server — and forwards progress as it arrives. A call in
//! flight when its server dies fails at once with [`HostError::Unavailable`].

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use rmcp::model::{
    CallToolRequestParams, CancelledNotificationParam, ClientNotification, ClientRequest, GetPromptRequestParams,
    JsonObject, Notification, ReadResourceRequestParams, Request, RequestId, ServerCapabilities, ServerResult,
};
use rmcp::service::{Peer, PeerRequestOptions, RoleClient, ServiceError};
use serde::Serialize;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::client::ProgressSink;
use super::credentials::Credentials;
use super::error::HostError;
use super::health::{BreakerState, HealthSettings};
use super::lists::{self, Kind};
use super::metrics::{Metrics, Text};
use super::names;
use super::server::{Context, Live, Server, ServerState, Status};
use crate::rpc::Notifier;
use crate::runtimes::log::{ServerLog, Stream};
use crate::store::servers::{Launch, ServerSpec};
use crate::store::Store;

/// The tool-call timeout when neither the caller nor the server's entry says otherwise.
pub const DEFAULT_TOOL_TIMEOUT: Duration = Duration::from_secs(30);

/// MCP's error code for a request that needs the user to visit a page first (URL elicitation).
pub const URL_ELICITATION_REQUIRED: i32 = -32042;

/// How long `start` waits for a server to come up.
pub const START_TIMEOUT: Duration = Duration::from_secs(90);

/// A server as listed: its spec and its status.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerEntry {
    #[serde(flatten)]
    pub spec: ServerSpec,
    pub status: Status,
    pub tool_count: usize,
}

pub use harbor_protocol::api::tools::{Listed, ToolEntry};

/// Flags tools of different servers whose names look alike but differ (`send_emaіl` with a
/// Cyrillic `і` beside `send_email`), each naming the other. For what is shown to the user (the
/// tool list, the prompt), not the call path.
pub fn flag_imitations(tools: &mut [ToolEntry]) {
    use harbor_protocol::shown::skeleton;
    // Each tool's own name, without its server.
    let own: Vec<String> =
        tools.iter().map(|t| names::split_namespaced(&t.name).map_or(t.name.as_str(), |(_, n)| n).to_owned()).collect();
    let mut by_look: std::collections::HashMap<String, Vec<usize>> = std::collections::HashMap::new();
    for (i, name) in own.iter().enumerate() {
        by_look.entry(skeleton(name)).or_default().push(i);
    }
    for group in by_look.values().filter(|g| g.len() > 1) {
        for &i in group {
            let other = group.iter().find(|&&j| tools[j].server_id != tools[i].server_id && own[j] != own[i]);
            tools[i].imitates = other.map(|&j| tools[j].name.clone());
        }
    }
}

pub struct Servers {
    store: Store,
    log_dir: PathBuf,
    context: Context,
    servers: RwLock<BTreeMap<String, Arc<Server>>>,
    /// Every tool call's outcome and latency, whoever made it.
    pub metrics: Metrics,
    /// Servers' requests relayed to callers that answer them themselves (`tools.call`'s and
    /// `gateway.call`'s `ask` events), waiting for their answers.
    pub relay: Arc<super::relay::Relay>,
}

impl Servers {
    /// Loads every stored server and starts the auto-start ones.
    pub fn load(
        store: Store,
        log_dir: PathBuf,
        notifier: Notifier,
        credentials: Arc<dyn Credentials>,
        owner: String,
    ) -> Result<Servers, HostError> {
        let health = store.setting::<HealthSettings>("health")?.unwrap_or_default();
        // The logs folder is `<data>/logs`.
        let data_dir = log_dir.parent().map(Into::into).unwrap_or_default();
        let context = Context {
            http: Arc::default(),
            notifier: notifier.clone(),
            credentials,
            owner,
            health,
            secrets: Arc::default(),
            data_dir,
            askers: Arc::default(),
            catalog: Arc::default(),
            tasks: Arc::new(super::tasks::Tasks::new(notifier.clone())),
        };
        let servers = Servers {
            store,
            log_dir,
            context,
            servers: RwLock::default(),
            metrics: Metrics::default(),
            relay: Arc::default(),
        };
        for spec in servers.store.servers()? {
            let auto_start = spec.auto_start;
            let server = servers.spawn(spec);
            if auto_start {
                server.start();
            }
        }
        Ok(servers)
    }

    /// A server outside the registry — not stored, not listed, not served by the gateway — that
    /// a site brought for its tab (see `host::site_servers`); its log is kept in memory only.
    pub fn spawn_detached(&self, spec: ServerSpec) -> Arc<Server> {
        Server::spawn(spec, Arc::new(ServerLog::new(None)), self.context.clone())
    }

    fn spawn(&self, spec: ServerSpec) -> Arc<Server> {
        let log = Arc::new(ServerLog::new(Some(&self.log_dir.join("servers").join(format!("{}.log", spec.id)))));
        let server = Server::spawn(spec, log, self.context.clone());
        self.servers.write().unwrap_or_else(|p| p.into_inner()).insert(server.id.clone(), server.clone());
        server
    }

    pub fn get(&self, id: &str) -> Result<Arc<Server>, HostError> {
        self.servers
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
            .cloned()
            .ok_or_else(|| HostError::NoSuchServer(id.to_owned()))
    }

    fn all(&self) -> Vec<Arc<Server>> {
        self.servers.read().unwrap_or_else(|p| p.into_inner()).values().cloned().collect()
    }

    pub fn add(&self, spec: ServerSpec) -> Result<ServerEntry, HostError> {
        check_spec(&spec)?;
        if self.get(&spec.id).is_ok() {
            return Err(HostError::ServerExists(spec.id));
        }
        self.store.insert_server(&spec)?;
        let server = self.spawn(spec);
        self.context
            .notifier
            .publish("servers.changed", serde_json::json!({ "id": server.id, "status": server.status() }));
        Ok(entry(&server))
    }

    pub fn update(&self, spec: ServerSpec) -> Result<ServerEntry, HostError> {
        check_spec(&spec)?;
        let server = self.get(&spec.id)?;
        self.store.update_server(&spec)?;
        server.set_spec(spec);
        self.context
            .notifier
            .publish("servers.changed", serde_json::json!({ "id": server.id, "status": server.status() }));
        Ok(entry(&server))
    }

    pub async fn remove(&self, id: &str) -> Result<(), HostError> {
        let server = self.get(id)?;
        server.stop().await;
        self.store.delete_server(id)?;
        self.servers.write().unwrap_or_else(|p| p.into_inner()).remove(id);
        // What Harbor installed for the server goes with it.
        if let Some(folder) = server.spec().install_path {
            let _ = tokio::fs::remove_dir_all(folder).await;
        }
        self.context.notifier.publish("servers.removed", serde_json::json!({ "id": id }));
        Ok(())
    }

    pub fn list(&self) -> Vec<ServerEntry> {
        self.all().iter().map(|server| entry(server)).collect()
    }

    pub fn entry(&self, id: &str) -> Result<ServerEntry, HostError> {
        Ok(entry(&*self.get(id)?))
    }

    /// Starts a server and waits until it runs or gives up.
    pub async fn start(&self, id: &str) -> Result<ServerEntry, HostError> {
        let server = self.get(id)?;
        match server.start_and_wait(START_TIMEOUT).await {
            Ok(_) => Ok(entry(&server)),
            Err(status) => Err(HostError::NotRunning {
                id: id.to_owned(),
                why: status.error.unwrap_or_else(|| format!("it is {}", status.state.name())),
            }),
        }
    }

    pub async fn stop(&self, id: &str) -> Result<ServerEntry, HostError> {
        let server = self.get(id)?;
        server.stop().await;
        Ok(entry(&server))
    }

    pub async fn restart(&self, id: &str) -> Result<ServerEntry, HostError> {
        self.get(id)?.stop().await;
        self.start(id).await
    }

    /// Stops every server (the bridge is shutting down).
    pub async fn stop_all(&self) {
        let stops: Vec<_> = self.all().into_iter().map(|server| async move { server.stop().await }).collect();
        futures::future::join_all(stops).await;
    }

    /// The tools of one server, or of every running server.
    pub fn tools(&self, server: Option<&str>) -> Result<Vec<ToolEntry>, HostError> {
        let servers = match server {
            Some(id) => vec![self.get(id)?],
            None => self.all(),
        };
        Ok(servers.iter().flat_map(|server| tool_entries(server)).collect())
    }

    /// The running tool a caller names by its namespaced or model-safe name, built alone (the
    /// catalog is not copied, which a call would otherwise pay for every tool of every server).
    pub fn lookup(&self, asked: &str) -> Option<ToolEntry> {
        let entry = tool_entry;
        if let Some((server_id, name)) = names::split_namespaced(asked) {
            return tool_entry_named(&*self.get(server_id).ok()?, name);
        }
        self.all().into_iter().find_map(|server| {
            let live = server.live()?;
            let tools = live.tools.read().unwrap_or_else(|p| p.into_inner());
            let found =
                tools.iter().find(|t| names::model_name(&server.id, &t.name) == asked).map(|t| entry(&server, t));
            found
        })
    }

    /// Running `server`'s tool `name` as the server listed it (MCP's `Tool`).
    pub fn listed_tool(&self, server: &str, name: &str) -> Option<Value> {
        let live = self.get(server).ok()?.live()?;
        let tools = live.tools.read().unwrap_or_else(|p| p.into_inner());
        tools.iter().find(|t| t.name == name).and_then(|t| serde_json::to_value(t).ok())
    }

    /// Finds `(server, tool)` for a namespaced or model-safe tool name.
    pub fn resolve_tool(&self, name: &str) -> Result<(Arc<Server>, String), HostError> {
        if let Some((server_id, tool)) = names::split_namespaced(name) {
            let server = self
                .get(server_id)
                .map_err(|_| HostError::NotFound(format!("no tool {name:?}: there is no server {server_id:?}")))?;
            return Ok((server, tool.to_owned()));
        }
        self.lookup(name)
            .and_then(|t| {
                let tool = names::split_namespaced(&t.name)?.1.to_owned();
                Some((self.get(&t.server_id).ok()?, tool))
            })
            .ok_or_else(|| HostError::NotFound(format!("no tool {name:?}; tool names look like serverId/toolName")))
    }

    /// Calls a tool. `timeout` overrides the server's (else the default); `cancel` stops the
    /// call; progress reports go to `progress`, when given, as they arrive.
    pub async fn call_tool(
        &self,
        name: &str,
        arguments: Option<JsonObject>,
        timeout: Option<Duration>,
        cancel: &CancellationToken,
        progress: Option<ProgressSink>,
    ) -> Result<Value, HostError> {
        let (server, tool) = self.resolve_tool(name)?;
        self.call_on(&server, &tool, arguments, timeout, cancel, progress).await
    }

    /// Calls `tool` of `server` — one of the registry's, or one a site brought (see
    /// [`Servers::spawn_detached`]) — with the same breaker, redaction and metrics.
    pub async fn call_on(
        &self,
        server: &Arc<Server>,
        tool: &str,
        arguments: Option<JsonObject>,
        timeout: Option<Duration>,
        cancel: &CancellationToken,
        progress: Option<ProgressSink>,
    ) -> Result<Value, HostError> {
        let name = &names::namespaced(&server.id, tool);
        let tool = tool.to_owned();
        let live = running(server)?;
        let known = live.tools.read().unwrap_or_else(|p| p.into_inner()).iter().any(|t| t.name == tool);
        if !known {
            return Err(HostError::NotFound(format!("server {:?} has no tool {tool:?}", server.id)));
        }
        if let Err(refused) = server.breaker.admit() {
            self.metrics.record(&server.id, &tool, Duration::ZERO, true);
            return Err(HostError::Unavailable(format!(
                "server {:?} failed {} times in a row, so Harbor is not sending it calls for now; try again in {} s",
                server.id,
                refused.failures,
                refused.retry_after.as_secs().max(1)
            )));
        }
        let started = std::time::Instant::now();
        let mut arguments = arguments;
        if let Some(args) = arguments.as_mut() {
            let found = self.context.secrets.redact_arguments(&server.id, args);
            self.redacted(&server.id, &tool, "arguments", &found);
        }
        let mut outcome = self.call_admitted(server, &live, name, &tool, arguments, timeout, cancel, progress).await;
        if matches!(outcome, Err(HostError::Unavailable(_)))
            && live.bearer.as_ref().is_some_and(|b| b.refused().is_some())
        {
            // Only the session that refused is ended, never one started since.
            if server.live().is_some_and(|now| Arc::ptr_eq(&now, &live)) {
                server.refused();
            }
            if let Some(why) = sign_in_wanted(server).await {
                outcome = Err(HostError::SignInRequired(why));
            }
        }
        if let Ok(result) = outcome.as_mut() {
            let found = self.context.secrets.redact_result(result);
            self.redacted(&server.id, &tool, "result", &found);
        }
        if let Err(HostError::VisitRequired { elicitations, .. }) = &outcome {
            self.context.askers.show_visits(&server.id, elicitations);
        }
        match &outcome {
            Ok(_) => server.breaker.succeeded(),
            Err(HostError::Timeout { .. } | HostError::Unavailable(_)) => {
                if server.breaker.failed() {
                    server.log.push(Stream::Harbor, "failed too many calls in a row; calls to it fail fast for now");
                }
            }
            Err(HostError::Failed(_) | HostError::MethodNotFound(_) | HostError::VisitRequired { .. }) => {
                server.breaker.succeeded()
            }
            Err(_) => server.breaker.abandoned(),
        }
        self.metrics.record(&server.id, &tool, started.elapsed(), outcome.is_err());
        outcome
    }

    /// Logs and counts redactions, as metadata only: the secret's id or pattern, never its value.
    pub fn redacted(&self, server: &str, tool: &str, part: &str, found: &[super::redact::Redaction]) {
        for redaction in found {
            tracing::warn!(server, tool, part, secret = %redaction.what, "redacted a secret from a tool call");
            self.metrics.redacted(server);
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn call_admitted(
        &self,
        server: &Server,
        live: &Live,
        name: &str,
        tool: &str,
        arguments: Option<JsonObject>,
        timeout: Option<Duration>,
        cancel: &CancellationToken,
        progress: Option<ProgressSink>,
    ) -> Result<Value, HostError> {
        let caller_timeout = timeout;
        let timeout =
            timeout.or(server.spec().tool_timeout_ms.map(Duration::from_millis)).unwrap_or(DEFAULT_TOOL_TIMEOUT);
        let as_task = |arguments| super::tasks::TaskCall {
            server_id: &server.id,
            tool,
            name,
            arguments,
            request_timeout: timeout,
            deadline: caller_timeout,
            callers: self.context.askers.callers(&server.id),
        };
        if live.runs_as_task(tool) {
            return super::tasks::run(live, &self.context.tasks, as_task(arguments), cancel, progress).await;
        }
        // Kept for the one retry below: a tool that turns out to run only as a task.
        let again = arguments.clone();
        let mut params = CallToolRequestParams::new(tool.to_owned());
        if let Some(arguments) = arguments {
            params = params.with_arguments(arguments);
        }
        // A traced call tells the server its span (SEP-414), so the server's spans join the trace.
        if let Some(trace) = crate::telemetry::current() {
            rmcp::model::RequestParamsMeta::set_traceparent(&mut params, &trace.traceparent());
        }
        let request = ClientRequest::CallToolRequest(Request::new(params));
        let what = format!("tool {name}");
        // A tool the server lists that it will not run as a plain call: MCP's -32601 ("not
        // found"), which under 2025-11-25 is how a server says the tool runs only as a task
        // (`execution.taskSupport: "required"`, which rmcp does not read) — as an error, or as
        // the TypeScript SDK wraps it into an error result. The tool did not run; it is called
        // again as a task, and known as one for the rest of the session.
        let refused = match request_with(live, request, timeout, cancel, progress.clone(), &what).await {
            Ok(ServerResult::CallToolResult(result)) if !super::tasks::wants_a_task(&result) => {
                return Ok(serde_json::to_value(result).unwrap_or(Value::Null));
            }
            Ok(ServerResult::CallToolResult(result)) => Ok(serde_json::to_value(result).unwrap_or(Value::Null)),
            Ok(_) => {
                return Err(HostError::Failed(format!(
                    "{what}: the server answered with something other than a tool result"
                )))
            }
            Err(HostError::MethodNotFound(why)) => Err(HostError::Failed(why)),
            Err(other) => return Err(other),
        };
        match super::tasks::run(live, &self.context.tasks, as_task(again), cancel, progress).await {
            Err(HostError::MethodNotFound(_)) => refused,
            outcome => {
                live.mark_task_tool(tool);
                outcome
            }
        }
    }

    pub async fn resources(&self, server: Option<&str>) -> Result<Vec<Listed>, HostError> {
        let mut all = Vec::new();
        for (server, live) in self.running_servers(server)? {
            let resources = lists::list(&live, &server.id, Kind::Resources).await?;
            all.extend(tagged(&server.id, resources.iter()));
        }
        Ok(all)
    }

    pub async fn read_resource(&self, server: &str, uri: &str, cancel: &CancellationToken) -> Result<Value, HostError> {
        let request = ClientRequest::ReadResourceRequest(Request::new(ReadResourceRequestParams::new(uri)));
        self.request(server, request, &format!("resource {uri}"), cancel).await
    }

    /// Sends one request to running server `server` (with the tools' default timeout), and
    /// returns its result as MCP's JSON.
    pub async fn request(
        &self,
        server: &str,
        request: ClientRequest,
        what: &str,
        cancel: &CancellationToken,
    ) -> Result<Value, HostError> {
        let server = self.get(server)?;
        let live = running(&server)?;
        to_json(request_with(&live, request, DEFAULT_TOOL_TIMEOUT, cancel, None, what).await?)
    }

    /// A number that changes whenever a running server's tools do (a start, a stop, a new list).
    pub fn catalog_revision(&self) -> u64 {
        self.context.catalog.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// The tool calls running as MCP tasks, and those that ended lately.
    pub fn tasks(&self) -> &Arc<super::tasks::Tasks> {
        &self.context.tasks
    }

    /// The callers waiting on each server that can answer its own requests.
    pub fn askers(&self) -> &Arc<super::askers::Askers> {
        &self.context.askers
    }

    /// The running servers with what each said it serves, in id order.
    pub fn running_with_capabilities(&self) -> Vec<(Arc<Server>, Arc<Live>, ServerCapabilities)> {
        self.all()
            .into_iter()
            .filter_map(|server| {
                let live = server.live()?;
                let capabilities = live.peer.peer_info().map(|info| info.capabilities.clone()).unwrap_or_default();
                Some((server, live, capabilities))
            })
            .collect()
    }

    /// The skills (SEP-2640) of `server`, or of every running server that declares them — a
    /// server whose list fails is then left out (and logged), not the whole answer.
    pub async fn skills(&self, server: Option<&str>) -> Result<Vec<Listed>, HostError> {
        let mut all = Vec::new();
        for (server_entry, live) in self.running_servers(server)? {
            match lists::list(&live, &server_entry.id, Kind::Skills).await {
                Ok(skills) => all.extend(tagged(&server_entry.id, skills.iter())),
                Err(error) if server.is_some() => return Err(error),
                Err(error) => tracing::warn!(server = %server_entry.id, "its skills did not list; left out: {error}"),
            }
        }
        Ok(all)
    }

    /// The text of `server`'s skill at `uri` (its `SKILL.md`) and the skill's name; `uri` must be
    /// one the server lists as a skill.
    pub async fn skill_text(
        &self,
        server: &str,
        uri: &str,
        cancel: &CancellationToken,
    ) -> Result<(String, String), HostError> {
        let listed = self.skills(Some(server)).await?;
        let skill: harbor_protocol::api::tools::views::Skill = listed
            .iter()
            .map(Listed::view)
            .find(|s: &harbor_protocol::api::tools::views::Skill| s.uri == uri)
            .ok_or_else(|| HostError::NotFound(format!("{server} has no skill at {uri}")))?;
        Ok((skill.frontmatter.name, self.skill_file(server, uri, cancel).await?))
    }

    /// The text of a skill's file at `uri` that `server` lists (the caller has checked it does).
    pub async fn skill_file(&self, server: &str, uri: &str, cancel: &CancellationToken) -> Result<String, HostError> {
        let read = self.read_resource(server, uri, cancel).await?;
        Ok(contents_text(&read))
    }

    pub async fn prompts(&self, server: Option<&str>) -> Result<Vec<Listed>, HostError> {
        let mut all = Vec::new();
        for (server, live) in self.running_servers(server)? {
            let prompts = lists::list(&live, &server.id, Kind::Prompts).await?;
            all.extend(tagged(&server.id, prompts.iter()));
        }
        Ok(all)
    }

    pub async fn get_prompt(
        &self,
        server: &str,
        name: &str,
        arguments: Option<JsonObject>,
        cancel: &CancellationToken,
    ) -> Result<Value, HostError> {
        let mut params = GetPromptRequestParams::new(name);
        params.arguments = arguments;
        let request = ClientRequest::GetPromptRequest(Request::new(params));
        self.request(server, request, &format!("prompt {name}"), cancel).await
    }

    /// Writes the servers' states, restarts and breakers, and the tool-call families.
    pub fn write_metrics(&self, text: &mut Text) {
        let servers = self.all();
        text.family("harbor_server_up", "gauge", "1 while the server runs, else 0.");
        for server in &servers {
            let up = server.status().state == ServerState::Running;
            text.sample("harbor_server_up", &[("server", &server.id)], f64::from(u8::from(up)));
        }
        text.family("harbor_server_state", "gauge", "The server's state: 1 for the state it is in.");
        for server in &servers {
            let state = server.status().state.name();
            text.sample("harbor_server_state", &[("server", &server.id), ("state", state)], 1.0);
        }
        text.family("harbor_server_restarts_total", "counter", "Automatic restarts after the server failed.");
        for server in &servers {
            let restarts = server.restarts_total.load(std::sync::atomic::Ordering::Relaxed);
            text.sample("harbor_server_restarts_total", &[("server", &server.id)], restarts as f64);
        }
        text.family("harbor_server_breaker_open", "gauge", "1 while the server's circuit breaker fails calls fast.");
        for server in &servers {
            let open = server.breaker.state() == BreakerState::Open;
            text.sample("harbor_server_breaker_open", &[("server", &server.id)], f64::from(u8::from(open)));
        }
        self.metrics.write(text);
    }

    fn running_servers(&self, server: Option<&str>) -> Result<Vec<Running>, HostError> {
        Ok(match server {
            Some(id) => {
                let server = self.get(id)?;
                let live = running(&server)?;
                vec![(server, live)]
            }
            None => self.all().into_iter().filter_map(|server| Some((server.clone(), server.live()?))).collect(),
        })
    }
}

/// `tool` of `server` as the catalog lists it.
/// `server`'s running tool `name`, built alone (the catalog is not copied).
pub fn tool_entry_named(server: &Server, name: &str) -> Option<ToolEntry> {
    let live = server.live()?;
    let tools = live.tools.read().unwrap_or_else(|p| p.into_inner());
    tools.iter().find(|t| t.name == name).map(|t| tool_entry(server, t))
}

/// The tools `server` offers now (none while it is not running).
pub fn tool_entries(server: &Server) -> Vec<ToolEntry> {
    let Some(live) = server.live() else { return Vec::new() };
    let tools = live.tools.read().unwrap_or_else(|p| p.into_inner());
    tools.iter().map(|tool| tool_entry(server, tool)).collect()
}

fn tool_entry(server: &Server, tool: &rmcp::model::Tool) -> ToolEntry {
    ToolEntry {
        name: names::namespaced(&server.id, &tool.name),
        model_name: names::model_name(&server.id, &tool.name),
        server_id: server.id.clone(),
        title: tool.title.clone(),
        description: tool.description.as_deref().unwrap_or_default().to_owned(),
        input_schema: Value::Object((*tool.input_schema).clone()),
        annotations: tool.annotations.as_ref().and_then(|a| serde_json::to_value(a).ok()),
        imitates: None,
        page_origin: None,
        ui: tool.meta.as_ref().and_then(|meta| harbor_protocol::api::apps::ToolUi::from_meta(&meta.0)),
    }
}

/// A running server and its live session.
type Running = (Arc<Server>, Arc<Live>);

fn entry(server: &Server) -> ServerEntry {
    let tool_count = server.live().map(|live| live.tools.read().unwrap_or_else(|p| p.into_inner()).len()).unwrap_or(0);
    ServerEntry { spec: server.spec(), status: server.status(), tool_count }
}

fn check_spec(spec: &ServerSpec) -> Result<(), HostError> {
    names::check_server_id(&spec.id).map_err(HostError::InvalidSpec)?;
    match &spec.launch {
        Launch::Process { command, .. } if command.trim().is_empty() => {
            Err(HostError::InvalidSpec("the server's command is empty; give the program to run".into()))
        }
        Launch::Remote { url, .. } if !(url.starts_with("http://") || url.starts_with("https://")) => {
            Err(HostError::InvalidSpec(format!("{url:?} is not an http(s) URL")))
        }
        Launch::Docker { image, .. } if image.trim().is_empty() => {
            Err(HostError::InvalidSpec("the server's image is empty; give the image to run".into()))
        }
        Launch::Docker { mounts, .. } => {
            match mounts.iter().find(|m| !m.host.starts_with('/') || !m.container.starts_with('/')) {
                Some(bad) => {
                    Err(HostError::InvalidSpec(format!("mount {} → {} needs absolute paths", bad.host, bad.container)))
                }
                None => Ok(()),
            }
        }
        _ => Ok(()),
    }
}

fn running(server: &Server) -> Result<Arc<Live>, HostError> {
    server.live().ok_or_else(|| {
        let status = server.status();
        // Running without a live session: between a crash and its restart.
        let state = if status.state == ServerState::Running { "restarting" } else { status.state.name() };
        HostError::NotRunning { id: server.id.clone(), why: format!("it is {state}") }
    })
}

pub(super) fn failed(server: &str, error: ServiceError) -> HostError {
    match error {
        ServiceError::TransportClosed | ServiceError::TransportSend(_) => {
            HostError::Unavailable(format!("server {server:?} went away during the request"))
        }
        other => HostError::Failed(format!("server {server:?}: {other}")),
    }
}

/// A server's catalog items as listed, each marked with the server it came from.
fn tagged<T: Serialize>(server: &str, items: impl IntoIterator<Item = T>) -> Vec<Listed> {
    items
        .into_iter()
        .map(|item| Listed {
            server_id: server.to_owned(),
            item: match serde_json::to_value(item) {
                Ok(Value::Object(item)) => item,
                _ => Default::default(),
            },
        })
        .collect()
}

fn to_json(result: ServerResult) -> Result<Value, HostError> {
    serde_json::to_value(result).map_err(|e| HostError::Failed(format!("unreadable answer: {e}")))
}

/// Sends one request to a live server and waits for its answer, with a timeout, caller
/// cancellation, progress, and a fast failure if the server goes away. Whenever the answer is
/// not awaited to the end, the server is told to cancel the request.
pub(super) async fn request_with(
    live: &Live,
    request: ClientRequest,
    timeout: Duration,
    cancel: &CancellationToken,
    progress: Option<ProgressSink>,
    what: &str,
) -> Result<ServerResult, HostError> {
    let handle = live
        .peer
        .send_cancellable_request(request, PeerRequestOptions::no_options())
        .await
        .map_err(|_| HostError::Unavailable(format!("{what}: the server went away")))?;
    let _route = progress.map(|sink| live.events.route_progress(handle.progress_token.clone(), sink));
    let mut guard = CancelOnDrop { peer: Some(live.peer.clone()), id: handle.id.clone() };
    // The timeout counts the server's time, not a person's: while the server waits on an answer
    // to its own request (a form the user fills in), the clock stops, and starts afresh after.
    let timed_out = async {
        loop {
            tokio::time::sleep(timeout).await;
            match live.events.waiting_on_answer() {
                Some(answered) => answered.await,
                None => break,
            }
        }
    };
    let outcome = tokio::select! {
        answer = handle.await_response() => answer,
        () = timed_out => return Err(HostError::Timeout { what: what.to_owned(), after: timeout }),
        () = live.gone.cancelled() => return Err(HostError::Unavailable(format!("{what}: the server stopped during the call"))),
        () = cancel.cancelled() => return Err(HostError::Cancelled(what.to_owned())),
    };
    guard.peer = None;
    match outcome {
        Ok(result) => Ok(result),
        // MCP's URL elicitation error: the user must visit the server's pages first.
        Err(ServiceError::McpError(error)) if error.code.0 == URL_ELICITATION_REQUIRED => {
            let elicitations = error.data.as_ref().and_then(|d| d.get("elicitations")).cloned().unwrap_or_default();
            Err(HostError::VisitRequired { message: error.message.into(), elicitations })
        }
        Err(ServiceError::McpError(error)) if error.code == rmcp::model::ErrorCode::METHOD_NOT_FOUND => {
            Err(HostError::MethodNotFound(format!("{what} failed: {}", error.message)))
        }
        Err(ServiceError::McpError(error)) => Err(HostError::Failed(format!("{what} failed: {}", error.message))),
        Err(ServiceError::TransportClosed | ServiceError::TransportSend(_)) => {
            Err(HostError::Unavailable(format!("{what}: the server went away during the call")))
        }
        Err(other) => Err(HostError::Failed(format!("{what} failed: {other}"))),
    }
}

/// Tells the server to cancel a request unless disarmed (by taking `peer`) first.
struct CancelOnDrop {
    peer: Option<Peer<RoleClient>>,
    id: RequestId,
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        let Some(peer) = self.peer.take() else { return };
        let params = CancelledNotificationParam::new(Some(self.id.clone()), Some("cancelled by Harbor".into()));
        let notification = ClientNotification::CancelledNotification(Notification::new(params));
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let _ = peer.send_notification(notification).await;
            });
        }
    }
}

/// How long a call that a remote server refused waits for the supervisor to say whether the
/// server wants a sign-in (it asks the server's authorization metadata first).
const SIGN_IN_SETTLES: Duration = Duration::from_secs(5);

/// After a refused call: the supervisor's word that the server needs a sign-in, if it says so
/// within [`SIGN_IN_SETTLES`].
async fn sign_in_wanted(server: &Server) -> Option<String> {
    let mut status = server.watch();
    let settled = tokio::time::timeout(SIGN_IN_SETTLES, status.wait_for(|s| s.state != ServerState::Running)).await;
    let status = settled.ok()?.ok()?.clone();
    status.needs_sign_in.then_some(status.error).flatten()
}

/// The text of a `resources/read` result: its text contents, one after another.
pub fn contents_text(read: &Value) -> String {
    let text = read["contents"].as_array().into_iter().flatten().filter_map(|c| c["text"].as_str());
    text.collect::<Vec<_>>().join("\n")
}
