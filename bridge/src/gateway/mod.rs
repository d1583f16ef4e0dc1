//! Gateway mode: Harbor's servers as one MCP endpoint for other AI apps (Claude Desktop, Cursor,
//! VS Code, scripts).
//!
//! A gateway client is a caller like a web page's origin: it has a name, a key (for HTTP), an
//! allowlist of servers and tools (empty means none), a rate limit and a concurrency limit, and
//! its calls are audited (metadata only) as `gateway:<name>`. It reaches the *same* running
//! servers as the browser, through the registry — there is no second copy of any server.
//!
//! - [`Gateway`] (here) — clients, keys, allowlists, limits, calls, traffic, the HTTP listener;
//! - [`limits`] — a client's rate window and concurrency slots;
//! - [`face`] — the MCP server face (rmcp's `ServerHandler`) over any [`Backend`];
//! - [`forward`] — resources, prompts and completions from the servers a client may use;
//! - [`http`] — Streamable HTTP on loopback: keys, `Origin` and `Host` checks, rate-limit
//!   headers, `/live`, `/ready`, `/metrics` and the protected-resource metadata;
//! - [`shared`] — rate windows and audit that replicas share, in PostgreSQL;
//! - [`sessions`] — the cap on the HTTP face's open sessions, per client and in all;
//! - [`rest`] — the REST face beside MCP (`/api/v1/…`) and its OpenAPI document;
//! - [`remote`] — the [`Backend`] that `harbor-bridge mcp` uses to reach a running bridge over
//!   its control socket;
//! - [`rounds`] — a server's requests to a 2026-07-28 app, as input-required results and retries;
//! - [`tasks`] — an app's long calls as tasks it polls (the Tasks extension, SEP-2663);
//! - [`team`] — callers with an identity provider's tokens, their roles and the config file;
//! - [`connect`] — writing the `harbor-bridge mcp --client NAME` entry into an app's config.

pub mod code_mode;
pub mod connect;
pub mod face;
pub mod forward;
pub mod http;
pub mod limits;
pub mod remote;
pub mod rest;
pub mod rounds;
pub mod sessions;
pub mod shared;
pub mod stdio;
pub mod tasks;
pub mod team;

use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use harbor_protocol::{ErrorCode, ErrorObject};
use rmcp::model::{JsonObject, ServerCapabilities};

use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::host::pinning::{self, Pinned, Unpinned};
use crate::host::pipeline;
use crate::host::policy::PolicyError;
use crate::mcp::askers::Asker;
use crate::mcp::client::ProgressSink;
use crate::mcp::metrics::Text;
use crate::mcp::names;
use crate::mcp::registry::{Servers, ToolEntry};
use crate::mcp::server::{Live, Server, ServerState};
use crate::rpc::Notifier;
use crate::store::gateway::ClientRecord;
use crate::store::permissions::AuditCaller;
use crate::store::Store;
use harbor_protocol::api::permissions::ChangedTool;
use limits::{ClientLimits, Limited, Ticket};

pub const DEFAULT_RATE_PER_MIN: u32 = 120;
pub const DEFAULT_CONCURRENCY: u32 = 4;
/// How every gateway key begins.
pub const KEY_PREFIX: &str = "hbk_";
/// The HTTP port when the user has not chosen one.
pub const DEFAULT_PORT: u16 = 47_821;

pub use harbor_protocol::api::gateway::{Forward, GatewaySettings, Traffic};

/// What a gateway face needs: the tools a client may see, calls, the other MCP requests, and news
/// of changes. The bridge's [`Gateway`] is one; [`remote::Remote`] reaches a running bridge's
/// gateway from another process.
pub trait Backend: Send + Sync + 'static {
    fn tools(&self, client: &str) -> impl Future<Output = Result<Vec<ToolEntry>, ErrorObject>> + Send;
    /// Calls a tool for `client`; `admitted` when the HTTP layer counted it against the rate
    /// limit already (to send the headers); `reach` is how the server reaches the app meanwhile.
    fn call(
        &self,
        client: &str,
        tool: &str,
        arguments: Option<JsonObject>,
        admitted: bool,
        cancel: CancellationToken,
        reach: Reach,
    ) -> impl Future<Output = Result<Value, ErrorObject>> + Send;
    /// Resources, prompts and completions for `client` (see [`forward`]).
    fn forward(
        &self,
        client: &str,
        request: Forward,
        cancel: CancellationToken,
    ) -> impl Future<Output = Result<Value, ErrorObject>> + Send;
    /// What clients may need to hear of.
    fn events(&self) -> broadcast::Receiver<Event>;
    /// The running servers whose whole server `client` may use (whose resources, prompts and log
    /// messages it gets).
    fn servers(&self, client: &str) -> impl Future<Output = Result<Vec<String>, ErrorObject>> + Send;
}

/// How a server reaches the app during one of its calls: its progress reports, and its sampling
/// and elicitation requests when the app answers them.
#[derive(Default)]
pub struct Reach {
    pub progress: Option<ProgressSink>,
    pub asker: Option<Arc<dyn Asker>>,
}

/// News for gateway clients: a list that may have changed, a resource that did, or a server's
/// log message (MCP's `notifications/message` params).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    Tools,
    Resources,
    Prompts,
    ResourceUpdated(String),
    Message { server: String, message: Value },
}

/// What the bridge's notifications mean for gateway clients. A server's resources and prompts
/// come and go only when it starts or stops running, so of its status changes only those that
/// cross `running` are news (`starting`, a restart's backoff or a settings change are not): it
/// remembers whether each server was running, and takes a server it has not heard of as news.
#[derive(Default)]
pub struct News {
    running: HashMap<String, bool>,
}

impl News {
    pub fn events(&mut self, method: &str, params: &Value) -> Vec<Event> {
        match method {
            "tools.changed" => vec![Event::Tools],
            "resources.changed" => vec![Event::Resources],
            "prompts.changed" => vec![Event::Prompts],
            "servers.changed" => {
                let Some(id) = params["id"].as_str() else { return Vec::new() };
                let running = params["status"]["state"] == "running";
                match self.running.insert(id.to_owned(), running) {
                    Some(was) if was == running => Vec::new(),
                    _ => vec![Event::Resources, Event::Prompts],
                }
            }
            "servers.removed" | "gateway.changed" => {
                if let Some(id) = params["id"].as_str() {
                    self.running.remove(id);
                }
                vec![Event::Tools, Event::Resources, Event::Prompts]
            }
            "resources.updated" => {
                params["uri"].as_str().map(|uri| vec![Event::ResourceUpdated(uri.to_owned())]).unwrap_or_default()
            }
            "servers.message" => match params["serverId"].as_str() {
                Some(server) => vec![Event::Message { server: server.to_owned(), message: params["message"].clone() }],
                None => Vec::new(),
            },
            _ => Vec::new(),
        }
    }
}

/// How many servers run, are still coming up, and crashed: what `/ready`, `/api/v1/health` and
/// `/api/v1/metrics` report.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct ServerCounts {
    pub running: usize,
    /// Starting or installing.
    pub starting: usize,
    pub crashed: usize,
}

/// A client with its traffic.
#[derive(Clone, Debug)]
pub struct ClientView {
    pub record: ClientRecord,
    pub traffic: Traffic,
}

/// A new client's settings (or changes to one: absent fields stay as they are).
#[derive(Clone, Debug, Default)]
pub struct ClientChanges {
    pub allow: Option<Vec<String>>,
    pub rate_per_min: Option<u32>,
    pub concurrency: Option<u32>,
    pub plain_names: Option<bool>,
    pub code_mode: Option<bool>,
}

struct Listener {
    address: std::net::SocketAddr,
    endpoint: http::Endpoint,
}

/// The gateway: clients, their limits and traffic, and the HTTP endpoint.
pub struct Gateway {
    store: Store,
    pub servers: Arc<Servers>,
    notifier: Notifier,
    pub data_dir: PathBuf,
    limits: Mutex<HashMap<String, Arc<ClientLimits>>>,
    traffic: Mutex<HashMap<String, Traffic>>,
    listener: tokio::sync::Mutex<Option<Listener>>,
    events: broadcast::Sender<Event>,
    /// Where code mode's `execute_code` runs.
    sandbox: crate::sandbox::Sandbox,
    /// Code mode's `search_tools` index, kept while the catalog searched stays the same.
    selector: crate::chat::select::Selector,
    /// The team config's issuers and roles, when the gateway serves a team.
    team: RwLock<Option<Arc<team::Team>>>,
    /// Callers known by tokens, by name, with when they were last seen.
    principals: Mutex<HashMap<String, (team::Principal, Instant)>>,
    /// Every tool call in flight, so a shutdown can let them finish ([`Gateway::drain_http`]).
    calls: tokio_util::task::TaskTracker,
    /// The database replicas share, when the team config names one.
    shared: std::sync::OnceLock<Arc<shared::Shared>>,
    /// What the shared database said of each key (by its SHA-256) and when.
    keys: Mutex<HashMap<String, (Option<String>, Instant)>>,
}

/// The most token callers remembered; past it, those not seen for [`PRINCIPAL_IDLE`] go.
const PRINCIPALS_KEPT: usize = 10_000;
const PRINCIPAL_IDLE: Duration = Duration::from_secs(3600);

impl Gateway {
    pub fn new(store: Store, servers: Arc<Servers>, notifier: Notifier, data_dir: PathBuf) -> Arc<Gateway> {
        let (events, _) = broadcast::channel(64);
        let gateway = Arc::new(Gateway {
            store,
            servers,
            notifier,
            data_dir,
            limits: Mutex::default(),
            traffic: Mutex::default(),
            listener: tokio::sync::Mutex::new(None),
            events,
            sandbox: crate::sandbox::Sandbox::default(),
            selector: Default::default(),
            team: RwLock::new(None),
            principals: Mutex::default(),
            calls: tokio_util::task::TaskTracker::new(),
            shared: std::sync::OnceLock::new(),
            keys: Mutex::default(),
        });
        // Catalogs change with servers; clients hear of it as `list_changed` (and of resources
        // they subscribed to as `updated`).
        let mut news = gateway.notifier.subscribe();
        let events = gateway.events.clone();
        tokio::spawn(async move {
            let mut meaning = News::default();
            loop {
                match news.recv().await {
                    Ok(n) => {
                        for event in meaning.events(n.method, &n.params) {
                            let _ = events.send(event);
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
        });
        gateway
    }

    pub fn settings(&self) -> GatewaySettings {
        self.store.setting("gateway").ok().flatten().unwrap_or_default()
    }

    pub fn save_settings(&self, settings: GatewaySettings) -> Result<(), ErrorObject> {
        self.store.set_setting("gateway", &settings).map_err(internal)
    }

    /// Starts the HTTP endpoint if the setting says so (when the bridge opens).
    pub async fn start_configured(self: &Arc<Self>) {
        let settings = self.settings();
        if settings.http {
            if let Err(error) = self.start_http(settings.port).await {
                tracing::warn!("the gateway's HTTP endpoint did not start: {error}");
            }
        }
    }

    /// Listens on `127.0.0.1:port` (0: any free port) and returns the port.
    pub async fn start_http(self: &Arc<Self>, port: u16) -> Result<u16, ErrorObject> {
        self.start_http_at(std::net::SocketAddr::from(([127, 0, 0, 1], port))).await
    }

    /// Listens on `address` (its port 0: any free port) and returns the port. Beyond loopback
    /// only for a team whose config serves TLS.
    pub async fn start_http_at(self: &Arc<Self>, address: std::net::SocketAddr) -> Result<u16, ErrorObject> {
        if !address.ip().is_loopback() && self.team().is_none_or(|team| team.tls.is_none()) {
            return Err(ErrorObject::invalid(format!("{address} is not a loopback address, and no TLS is configured")));
        }
        let mut listener = self.listener.lock().await;
        if let Some(running) = listener.as_ref() {
            let same_ip = running.address.ip() == address.ip();
            if same_ip && (running.address.port() == address.port() || address.port() == 0) {
                return Ok(running.address.port());
            }
        }
        if let Some(old) = listener.take() {
            old.endpoint.stop().await;
        }
        let socket = tokio::net::TcpListener::bind(address).await.map_err(|e| {
            ErrorObject::invalid(format!(
                "cannot listen on {address} ({e}); choose another port in the gateway's settings"
            ))
        })?;
        let address = socket.local_addr().unwrap_or(address);
        let endpoint = http::Endpoint::start(socket, self.clone(), address.port());
        *listener = Some(Listener { address, endpoint });
        tracing::info!(%address, "the gateway's HTTP endpoint listens");
        Ok(address.port())
    }

    /// Shuts the endpoint down gracefully: no new connections or requests (503, and `/ready`
    /// says so, for a load balancer), the tool calls in flight finish — for at most `deadline` —,
    /// then everything ends as [`Gateway::stop_http`] ends it.
    pub async fn drain_http(&self, deadline: Duration) {
        let Some(old) = self.listener.lock().await.take() else { return };
        old.endpoint.drain();
        self.calls.close();
        if tokio::time::timeout(deadline, self.calls.wait()).await.is_err() {
            tracing::warn!("gateway calls still ran {} s after shutdown began; stopping them", deadline.as_secs());
        }
        self.calls.reopen();
        old.endpoint.stop().await;
    }

    pub async fn stop_http(&self) {
        let old = self.listener.lock().await.take();
        if let Some(old) = old {
            old.endpoint.stop().await;
        }
    }

    /// The port the HTTP endpoint listens on, when it does.
    pub async fn http_port(&self) -> Option<u16> {
        self.http_address().await.map(|a| a.port())
    }

    /// The address the HTTP endpoint listens on, when it does.
    pub async fn http_address(&self) -> Option<std::net::SocketAddr> {
        self.listener.lock().await.as_ref().map(|l| l.address)
    }

    pub fn clients(&self) -> Result<Vec<ClientView>, ErrorObject> {
        let traffic = self.traffic.lock().unwrap_or_else(|p| p.into_inner()).clone();
        Ok(self
            .store
            .gateway_clients()
            .map_err(internal)?
            .into_iter()
            .map(|record| ClientView { traffic: traffic.get(&record.name).copied().unwrap_or_default(), record })
            .collect())
    }

    /// `name`'s allowed tools that their servers changed since it first saw them.
    pub fn changed_tools(&self, name: &str) -> Result<Vec<ChangedTool>, ErrorObject> {
        let allowed = self.allowed_tools(&self.client(name)?)?;
        let allowed: Vec<&ToolEntry> = allowed.iter().collect();
        pinning::changed(&self.store, &pin_holder(name), &allowed, Unpinned::PinNow).map_err(internal)
    }

    /// The running tools `record`'s allowlist lets it see (before pinning).
    fn allowed_tools(&self, record: &ClientRecord) -> Result<Vec<ToolEntry>, ErrorObject> {
        let mut tools = self.servers.tools(None).map_err(ErrorObject::from)?;
        tools.retain(|t| allows(&record.allow, &t.server_id, names::split_namespaced(&t.name).map_or("", |n| n.1)));
        Ok(tools)
    }

    /// The user approves `tool` as it is now for client `name`.
    pub fn approve_tool(&self, name: &str, tool: &str) -> Result<(), ErrorObject> {
        self.client(name)?;
        let catalog = self.servers.tools(None).map_err(ErrorObject::from)?;
        if !catalog.iter().any(|t| t.name == tool) {
            return Err(ErrorObject::invalid(format!("there is no running tool {tool:?} to approve")));
        }
        pinning::pin(&self.store, &pin_holder(name), &[tool.to_owned()], &catalog).map_err(internal)?;
        self.changed(name);
        Ok(())
    }

    fn client(&self, name: &str) -> Result<ClientRecord, ErrorObject> {
        if let Some((principal, _)) = self.principals.lock().unwrap_or_else(|p| p.into_inner()).get(name) {
            return Ok(principal_record(principal));
        }
        self.store.gateway_client(name).map_err(internal)?.ok_or_else(|| {
            ErrorObject::new(
                ErrorCode::PermissionDenied,
                format!("there is no gateway client {name:?}; add it in Harbor's Gateway panel or with `harbor-bridge gateway clients add {name}`"),
            )
        })
    }

    /// Adds a client; returns it and its key, which is shown this once.
    pub fn add_client(&self, name: &str, changes: ClientChanges) -> Result<(ClientRecord, String), ErrorObject> {
        check_name(name)?;
        if self.store.gateway_client(name).map_err(internal)?.is_some() {
            return Err(ErrorObject::invalid(format!(
                "a gateway client named {name:?} exists already; choose another name"
            )));
        }
        let (key, key_sha256, key_hint) = new_key();
        let record = ClientRecord {
            name: name.to_owned(),
            key_sha256,
            key_hint,
            allow: changes.allow.unwrap_or_default(),
            rate_per_min: changes.rate_per_min.unwrap_or(DEFAULT_RATE_PER_MIN),
            concurrency: changes.concurrency.unwrap_or(DEFAULT_CONCURRENCY).max(1),
            created_at: crate::store::now(),
            last_used_at: None,
            plain_names: changes.plain_names.unwrap_or(false),
            code_mode: changes.code_mode.unwrap_or(false),
        };
        self.store.put_gateway_client(&record).map_err(internal)?;
        self.changed(name);
        Ok((record, key))
    }

    pub fn update_client(&self, name: &str, changes: ClientChanges) -> Result<ClientRecord, ErrorObject> {
        let mut record = self.client(name)?;
        if let Some(allow) = changes.allow {
            record.allow = allow;
        }
        if let Some(rate) = changes.rate_per_min {
            record.rate_per_min = rate;
        }
        if let Some(concurrency) = changes.concurrency {
            record.concurrency = concurrency.max(1);
        }
        if let Some(plain) = changes.plain_names {
            record.plain_names = plain;
        }
        if let Some(code_mode) = changes.code_mode {
            record.code_mode = code_mode;
        }
        self.store.put_gateway_client(&record).map_err(internal)?;
        self.changed(name);
        Ok(record)
    }

    /// A new key for the client; the old one stops working at once.
    pub fn rotate_key(&self, name: &str) -> Result<(ClientRecord, String), ErrorObject> {
        let mut record = self.client(name)?;
        let (key, key_sha256, key_hint) = new_key();
        record.key_sha256 = key_sha256;
        record.key_hint = key_hint;
        self.store.put_gateway_client(&record).map_err(internal)?;
        self.changed(name);
        Ok((record, key))
    }

    pub fn remove_client(&self, name: &str) -> Result<(), ErrorObject> {
        if !self.store.remove_gateway_client(name).map_err(internal)? {
            return Err(ErrorObject::invalid(format!("there is no gateway client {name:?}")));
        }
        self.store.keep_tool_pins(&pin_holder(name), &[]).map_err(internal)?;
        self.changed(name);
        Ok(())
    }

    fn changed(&self, name: &str) {
        self.limits.lock().unwrap_or_else(|p| p.into_inner()).remove(name);
        self.notifier.publish("gateway.changed", serde_json::json!({ "client": name }));
    }

    /// The client a key belongs to.
    pub fn authenticate(&self, key: &str) -> Option<String> {
        let hash = hex(&Sha256::digest(key.as_bytes()));
        let record = self.store.gateway_client_by_key(&hash).ok().flatten()?;
        Some(record.name)
    }

    /// The servers' states, counted.
    pub fn server_counts(&self) -> ServerCounts {
        let mut counts = ServerCounts::default();
        for server in self.servers.list() {
            match server.status.state {
                ServerState::Running => counts.running += 1,
                ServerState::Starting | ServerState::Installing => counts.starting += 1,
                ServerState::Crashed => counts.crashed += 1,
                _ => {}
            }
        }
        counts
    }

    /// The team config in force, if the gateway serves a team.
    pub fn team(&self) -> Option<Arc<team::Team>> {
        self.team.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Puts a (re)loaded team config in force. Open sessions stay; each caller's next request
    /// is judged by the new roles, and every client hears that its lists may have changed.
    pub fn set_team(&self, team: Option<team::Team>) {
        *self.team.write().unwrap_or_else(|p| p.into_inner()) = team.map(Arc::new);
        self.notifier.publish("gateway.changed", serde_json::json!({ "client": null }));
    }

    /// Remembers a caller a token let in, under its name, with the policy its roles give now.
    pub fn admit_principal(&self, principal: team::Principal) -> String {
        let name = principal.name.clone();
        let mut known = self.principals.lock().unwrap_or_else(|p| p.into_inner());
        if known.len() >= PRINCIPALS_KEPT && !known.contains_key(&name) {
            known.retain(|_, (_, seen)| seen.elapsed() < PRINCIPAL_IDLE);
        }
        let changed = known.get(&name).is_some_and(|(was, _)| was.policy != principal.policy);
        known.insert(name.clone(), (principal, Instant::now()));
        drop(known);
        if changed {
            // Its roles changed: its limits start again from the new ones.
            self.limits.lock().unwrap_or_else(|p| p.into_inner()).remove(&name);
        }
        name
    }

    /// Who `client`'s calls are audited as: a token caller with its roles.
    fn who(&self, client: &str) -> pipeline::Who {
        let mut who = who(client);
        if let Some((principal, _)) = self.principals.lock().unwrap_or_else(|p| p.into_inner()).get(client) {
            who.origin = format!("{} (roles: {})", who.origin, principal.roles.join(", "));
        }
        who
    }

    fn limits(&self, record: &ClientRecord) -> Arc<ClientLimits> {
        let mut all = self.limits.lock().unwrap_or_else(|p| p.into_inner());
        all.entry(record.name.clone())
            .or_insert_with(|| Arc::new(ClientLimits::new(record.rate_per_min, record.concurrency)))
            .clone()
    }

    /// Shares rate windows, the audit trail and the clients with other replicas through `shared`
    /// (once): this replica's own clients join the shared ones, which win a name both have.
    pub async fn share(&self, shared: Arc<shared::Shared>) {
        for record in self.store.gateway_clients().unwrap_or_default() {
            if let Err(why) = shared.put_client(&record, false).await {
                tracing::warn!("{why}");
            }
        }
        let mirror = shared.clone();
        self.store.mirror_audit(Box::new(move |entry| {
            if entry.caller == AuditCaller::Gateway {
                mirror.audit(entry);
            }
        }));
        let _ = self.shared.set(shared);
    }

    /// Tells the other replicas of `name`'s record as it is here now (or that it is gone).
    pub async fn share_client(&self, name: &str) -> Result<(), ErrorObject> {
        let Some(shared) = self.shared.get() else { return Ok(()) };
        let outcome = match self.store.gateway_client(name).map_err(internal)? {
            Some(record) => shared.put_client(&record, true).await,
            None => shared.remove_client(name).await,
        };
        self.keys.lock().unwrap_or_else(|p| p.into_inner()).clear();
        outcome.map_err(|why| {
            ErrorObject::new(
                ErrorCode::ServerUnavailable,
                format!("saved on this replica, but the others do not know yet ({why}); save it again"),
            )
        })
    }

    /// The client a key belongs to on any replica: the shared database's answer (kept
    /// [`shared::KEY_TTL`]), its record copied here for the policy; this replica's own answer
    /// without a database, or while it cannot be reached.
    pub async fn authenticate_anywhere(&self, key: &str) -> Option<String> {
        let Some(shared) = self.shared.get() else { return self.authenticate(key) };
        let hash = hex(&Sha256::digest(key.as_bytes()));
        if let Some((name, at)) = self.keys.lock().unwrap_or_else(|p| p.into_inner()).get(&hash) {
            if at.elapsed() < shared::KEY_TTL {
                return name.clone();
            }
        }
        match shared.client_by_key(&hash).await {
            Ok(found) => {
                if let Some(record) = &found {
                    if let Err(error) = self.store.put_gateway_client(record) {
                        tracing::warn!("a shared client could not be copied here: {error:#}");
                    }
                    self.limits.lock().unwrap_or_else(|p| p.into_inner()).remove(&record.name);
                }
                let name = found.map(|record| record.name);
                let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
                if keys.len() >= PRINCIPALS_KEPT {
                    keys.clear();
                }
                keys.insert(hash, (name.clone(), Instant::now()));
                name
            }
            Err(why) => {
                tracing::warn!("checking a key on this replica alone: {why}");
                self.authenticate(key)
            }
        }
    }

    /// Counts one call against the client's rate limit.
    pub async fn admit(&self, client: &str) -> Result<Result<Ticket, Limited>, ErrorObject> {
        let record = self.client(client)?;
        let admitted = self.count_call(&record).await;
        if admitted.is_err() {
            self.count(client, |t| t.rate_limited += 1);
        }
        Ok(admitted)
    }

    /// One call of `record`'s counted in its window: the replicas' shared one when there is a
    /// shared database (this replica's own while the database cannot be reached), else its own.
    async fn count_call(&self, record: &ClientRecord) -> Result<Ticket, Limited> {
        if let Some(shared) = self.shared.get() {
            match shared.admit(&record.name, record.rate_per_min).await {
                Ok(counted) => return counted,
                Err(why) => tracing::warn!("counting in this replica's own window: {why}"),
            }
        }
        self.limits(record).admit()
    }

    fn count(&self, client: &str, add: impl FnOnce(&mut Traffic)) {
        add(self.traffic.lock().unwrap_or_else(|p| p.into_inner()).entry(client.to_owned()).or_default());
    }

    /// Writes the servers', tools' and clients' metrics.
    pub fn write_metrics(&self, text: &mut Text) {
        self.servers.write_metrics(text);
        let traffic = self.traffic.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let mut names: Vec<_> = traffic.keys().cloned().collect();
        names.sort();
        text.family("harbor_gateway_calls_total", "counter", "Tool calls by gateway clients.");
        for name in &names {
            text.sample("harbor_gateway_calls_total", &[("client", name)], traffic[name].calls as f64);
        }
        text.family("harbor_gateway_errors_total", "counter", "Gateway clients' calls that failed.");
        for name in &names {
            text.sample("harbor_gateway_errors_total", &[("client", name)], traffic[name].errors as f64);
        }
        text.family(
            "harbor_gateway_rate_limited_total",
            "counter",
            "Gateway clients' calls refused by their rate limit.",
        );
        for name in &names {
            text.sample("harbor_gateway_rate_limited_total", &[("client", name)], traffic[name].rate_limited as f64);
        }
    }
}

/// A gateway client's policy: its allowlist and pins, its rate limit (unless the HTTP layer
/// counted the call already, to send the headers) and its concurrency slots.
struct ClientPolicy<'g> {
    gateway: &'g Gateway,
    record: ClientRecord,
    limits: Arc<ClientLimits>,
    admitted: bool,
}

impl pipeline::Policy for ClientPolicy<'_> {
    fn audience(&self) -> pipeline::Audience {
        // An MCP host of its own, which renders the views and applies their visibility.
        pipeline::Audience::Any
    }

    type Slot = tokio::sync::OwnedSemaphorePermit;

    fn who(&self) -> pipeline::Who {
        self.gateway.who(&self.record.name)
    }

    fn allow(&self, asked: &str, named: Option<&str>, running: Option<&ToolEntry>) -> Result<(), PolicyError> {
        let client = &self.record.name;
        let allowed = named
            .and_then(names::split_namespaced)
            .is_some_and(|(server, tool)| allows(&self.record.allow, server, tool));
        if !allowed {
            return Err(PolicyError::ToolNotAllowed {
                caller: format!("gateway client {client:?}"),
                tool: asked.to_owned(),
                fix: "allow it in Harbor's Gateway panel",
            });
        }
        if let Some(entry) = running {
            let mut states = pinning::states(&self.gateway.store, &pin_holder(client), [entry], Unpinned::PinNow)?;
            if let Some(refused) =
                pinning::refusal(&format!("gateway client {client:?}"), entry, states.remove(&entry.name))
            {
                return Err(refused);
            }
        }
        Ok(())
    }

    async fn admit(&self) -> Result<tokio::sync::OwnedSemaphorePermit, PolicyError> {
        if !self.admitted {
            self.gateway.count_call(&self.record).await.map_err(|limited| {
                self.gateway.count(&self.record.name, |t| t.rate_limited += 1);
                rate_limited(&self.record.name, limited)
            })?;
        }
        Ok(self.limits.slot().await)
    }

    fn finished(&self, outcome: &Result<Value, ErrorObject>) {
        // A call refused by the rate limit was counted there, not as traffic.
        if matches!(outcome, Err(e) if e.code == ErrorCode::RateLimited) {
            return;
        }
        self.gateway.count(&self.record.name, |t| {
            t.calls += 1;
            t.errors += u64::from(outcome.is_err());
        });
    }
}

/// A token caller as a client record (it has no key: a token stands for it).
fn principal_record(principal: &team::Principal) -> ClientRecord {
    ClientRecord {
        name: principal.name.clone(),
        key_sha256: String::new(),
        key_hint: String::new(),
        allow: principal.policy.allow.clone(),
        rate_per_min: principal.policy.rate_per_min,
        concurrency: principal.policy.concurrency,
        created_at: 0,
        last_used_at: None,
        plain_names: false,
        code_mode: false,
    }
}

/// Who a gateway client's calls and requests are audited as.
pub fn who(client: &str) -> pipeline::Who {
    pipeline::Who { kind: AuditCaller::Gateway, origin: pin_holder(client), tab: None }
}

/// Whose pins a gateway client's are, in the pins table (beside sites' origins).
pub fn pin_holder(client: &str) -> String {
    format!("gateway:{client}")
}

/// Whether `allow` lets a client see `server`'s `tool`.
pub fn allows(allow: &[String], server: &str, tool: &str) -> bool {
    allows_server(allow, server) || allow.iter().any(|entry| *entry == names::namespaced(server, tool))
}

/// Whether `allow` names the whole of `server` (which its resources and prompts need).
pub fn allows_server(allow: &[String], server: &str) -> bool {
    allow.iter().any(|entry| entry == "*" || entry == server)
}

impl Gateway {
    /// The running servers whose whole server `record` may use, with what each serves.
    fn whole_servers(&self, record: &ClientRecord) -> Vec<(Arc<Server>, Arc<Live>, ServerCapabilities)> {
        let mut servers = self.servers.running_with_capabilities();
        servers.retain(|(server, ..)| allows_server(&record.allow, &server.id));
        servers
    }

    /// The tools `record` may see now, under the names it sees them by.
    fn visible_tools(&self, record: &ClientRecord) -> Result<Vec<ToolEntry>, ErrorObject> {
        let mut tools = self.allowed_tools(record)?;
        // A tool its server changed since the client first saw it is suspended (see pinning).
        let holder = pin_holder(&record.name);
        let states = pinning::states(&self.store, &holder, &tools, Unpinned::PinNow).map_err(internal)?;
        tools.retain(|t| states.get(&t.name) == Some(&Pinned::Same));
        if record.plain_names {
            let plain = names::plain_where_unique(tools.iter().map(|t| (t.server_id.as_str(), own_name(t))));
            for (tool, plain) in tools.iter_mut().zip(plain) {
                if let Some(plain) = plain {
                    tool.model_name = plain;
                }
            }
        }
        Ok(tools)
    }
}

/// A catalog entry's tool name as its server gave it.
fn own_name(entry: &ToolEntry) -> &str {
    names::split_namespaced(&entry.name).map_or(entry.name.as_str(), |(_, tool)| tool)
}

impl Backend for Gateway {
    async fn tools(&self, client: &str) -> Result<Vec<ToolEntry>, ErrorObject> {
        let record = self.client(client)?;
        if record.code_mode {
            return Ok(crate::code_mode::meta_tools(true));
        }
        self.visible_tools(&record)
    }

    async fn call(
        &self,
        client: &str,
        tool: &str,
        arguments: Option<JsonObject>,
        admitted: bool,
        cancel: CancellationToken,
        reach: Reach,
    ) -> Result<Value, ErrorObject> {
        let _in_flight = self.calls.token();
        let record = self.client(client)?;
        if record.code_mode && crate::code_mode::is_meta(tool) {
            // Code mode's own tools are Harbor's, not a server's: audited here; the calls the
            // code makes go through the pipeline below, each on its own.
            let target = names::namespaced("harbor", tool);
            let audit = pipeline::Audit::begin(&self.store, self.who(client), "tools/call", Some(&target));
            let outcome = self.code_mode(&record, tool, arguments.unwrap_or_default(), &cancel).await;
            audit.finish(&outcome);
            let _ = self.store.touch_gateway_client(client);
            return outcome;
        }
        let mut span =
            crate::telemetry::Span::child(format_args!("tools/call {tool}"), crate::telemetry::Kind::Internal);
        if let Some(span) = span.as_mut() {
            span.set("mcp.method.name", "tools/call");
            span.set("gen_ai.tool.name", tool);
            span.set("harbor.caller", client);
        }
        let trace = span.as_ref().map(crate::telemetry::Span::context);
        // Boxed: the call's future is deep, and every face (stdio, HTTP, the control socket) nests it.
        let calling = Box::pin(self.call_tool(record, tool, arguments, admitted, cancel, reach));
        let outcome = crate::telemetry::within(trace, calling).await;
        if let (Some(span), Err(error)) = (span.as_mut(), &outcome) {
            span.fail(error.code.as_str());
        }
        outcome
    }

    async fn forward(&self, client: &str, request: Forward, cancel: CancellationToken) -> Result<Value, ErrorObject> {
        let outcome = self.answer(client, request, &cancel).await;
        let _ = self.store.touch_gateway_client(client);
        outcome
    }

    fn events(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }

    async fn servers(&self, client: &str) -> Result<Vec<String>, ErrorObject> {
        Ok(self.whole_servers(&self.client(client)?).into_iter().map(|(server, ..)| server.id.clone()).collect())
    }
}

impl Gateway {
    /// A tool call of `record`'s through the pipeline (the span in force is the call's).
    async fn call_tool(
        &self,
        record: ClientRecord,
        tool: &str,
        arguments: Option<JsonObject>,
        admitted: bool,
        cancel: CancellationToken,
        Reach { progress, asker }: Reach,
    ) -> Result<Value, ErrorObject> {
        let client = record.name.clone();
        // A plain name is the client's own way to say one tool; the pipeline takes its full name.
        let full = match record.plain_names {
            true => self.visible_tools(&record)?.into_iter().find(|t| t.model_name == tool).map(|t| t.name),
            false => None,
        };
        let tool = full.as_deref().unwrap_or(tool);
        let policy = ClientPolicy { gateway: self, limits: self.limits(&record), record, admitted };
        // While the call runs, its server's own requests go to this app when it answers them.
        let args = arguments.unwrap_or_default();
        let asked = pipeline::Asked { method: "tools/call", tool, args, progress, asker };
        let outcome = pipeline::call(&*self.servers, &self.store, &policy, asked, &cancel).await;
        let _ = self.store.touch_gateway_client(&client);
        outcome
    }
}

/// The refusal a caller over the limit gets (stdio and the bridge protocol; HTTP answers 429).
pub fn rate_limited(client: &str, limited: Limited) -> PolicyError {
    let seconds = limited.retry_after.as_secs().max(1);
    PolicyError::RateLimited {
        message: format!(
            "gateway client {client:?} may make {} tool calls a minute; try again in {seconds} s",
            limited.limit
        ),
        retry_after: Some(limited.retry_after),
        limit: Some(limited.limit),
    }
}

fn check_name(name: &str) -> Result<(), ErrorObject> {
    let ok = !name.is_empty()
        && name.len() <= 40
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.starts_with('-');
    if ok {
        Ok(())
    } else {
        Err(ErrorObject::invalid(format!(
            "{name:?} is not a client name: use 1–40 lowercase letters, digits and dashes"
        )))
    }
}

/// A fresh key: `(key, its SHA-256 in hex, its hint)`.
fn new_key() -> (String, String, String) {
    let key = format!("{KEY_PREFIX}{}", oauth2::CsrfToken::new_random_len(32).secret());
    let hash = hex(&Sha256::digest(key.as_bytes()));
    let hint = format!("{}…", &key[..10]);
    (key, hash, hint)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn internal(error: anyhow::Error) -> ErrorObject {
    ErrorObject::new(ErrorCode::Internal, format!("Harbor's database failed: {error:#}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_allowlist_names_servers_or_single_tools_and_empty_allows_nothing() {
        let allow = vec!["time".to_owned(), "everything/echo".to_owned()];
        assert!(allows(&allow, "time", "get_current_time"));
        assert!(allows(&allow, "everything", "echo"));
        assert!(!allows(&allow, "everything", "add"));
        assert!(!allows(&[], "time", "get_current_time"));
        assert!(allows(&["*".to_owned()], "anything", "at_all"));
    }

    #[test]
    fn only_a_server_starting_or_stopping_to_run_is_news_of_its_resources_and_prompts() {
        let mut news = News::default();
        let status = |state: &str| json!({"id": "time", "status": {"state": state, "restarts": 0}});
        let lists = vec![Event::Resources, Event::Prompts];
        assert_eq!(news.events("servers.changed", &status("starting")), lists, "a server not heard of yet");
        assert_eq!(news.events("servers.changed", &status("running")), lists, "it came up");
        let again = json!({"id": "time", "status": {"state": "running", "restarts": 0, "pid": 7}});
        assert_eq!(news.events("servers.changed", &again), vec![], "still running");
        assert_eq!(news.events("servers.changed", &status("crashed")), lists, "it went down");
        assert_eq!(news.events("servers.changed", &status("starting")), vec![], "a restart's try");
        assert_eq!(news.events("servers.changed", &status("running")), lists);
        assert_eq!(news.events("servers.removed", &json!({"id": "time"})).len(), 3);
        assert_eq!(news.events("servers.changed", &status("stopped")), lists, "added again: not heard of");
        assert_eq!(news.events("tools.changed", &json!({})), vec![Event::Tools]);
    }

    #[test]
    fn client_names_are_plain() {
        assert!(check_name("claude-desktop").is_ok());
        for bad in ["", "Cursor", "a b", "-x", "../x", &"x".repeat(41)] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn keys_are_long_random_and_hinted() {
        let (a, hash, hint) = new_key();
        let (b, ..) = new_key();
        assert_ne!(a, b);
        assert!(a.starts_with("hbk_") && a.len() > 40, "{a}");
        assert_eq!(hash.len(), 64);
        assert!(hint.starts_with(&a[..10]));
    }
}
