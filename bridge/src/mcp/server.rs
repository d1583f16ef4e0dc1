//! One server: its spec, its state, its log, its live session, and the supervisor task that
//! moves it through `stopped → starting → running → crashed`.
//!
//! Every change of [`Status`] is published as a `servers.changed` notification. A server that
//! goes away on its own is restarted with backoff, at most [`MAX_RESTARTS`] times in a row; the
//! count resets once it has stayed up for [`STABLE_AFTER`]. After that it is `crashed`, with its
//! last stderr lines in the error, until the user starts it again. A program that is not
//! installed is `crashed` at once: restarting cannot fix it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use futures::future::{FusedFuture, FutureExt};
use rmcp::model::{ClientRequest, Tool};
use rmcp::service::{Peer, RoleClient};
use serde_json::json;
use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;

use super::client::{Changes, ClientEvents, Connection, ListChanged, OpenError};
use super::credentials::Credentials;
use super::credentials::Prepared;
use super::health::{Breaker, HealthSettings};
use crate::rpc::Notifier;
use crate::runtimes::log::{ServerLog, Stream};
use crate::store::servers::{Launch, ServerSpec};

/// Restarts in a row before a server is left `crashed`.
pub const MAX_RESTARTS: u32 = 3;

/// How long a server must stay up for its restart count to start over.
pub const STABLE_AFTER: Duration = Duration::from_secs(30);

/// How long a heartbeat ping may take before it counts as a failure.
const HEARTBEAT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a server may take to list its tools (at start and after `list_changed`). A server
/// that takes longer runs with the catalog it had (none at start) and says so in its log.
pub const CATALOG_TIMEOUT: Duration = Duration::from_secs(20);

/// How long [`Server::stop`] waits for the supervisor before killing the process group itself.
/// The supervisor answers a stop at every wait, so this is a backstop, never the normal path.
pub const STOP_DEADLINE: Duration = Duration::from_secs(10);

pub use harbor_protocol::api::servers::{ServerState, ServerStatus as Status};

/// The live session of a running server and its tool catalog.
pub struct Live {
    pub peer: Peer<RoleClient>,
    pub events: ClientEvents,
    pub tools: RwLock<Vec<Tool>>,
    /// Cancelled the moment the session ends, so calls in flight fail at once.
    pub gone: CancellationToken,
    /// A remote server's token (empty before a sign-in), which records the server's refusals.
    pub bearer: Option<super::credentials::Bearer>,
    /// The tools found to run only as MCP tasks this session (see `tasks`).
    pub task_tools: std::sync::Mutex<std::collections::HashSet<String>>,
    /// Its other lists, kept until it says they changed (see `lists`).
    pub lists: super::lists::Lists,
}

impl Live {
    /// Whether `tool` was found to run only as a task.
    pub fn runs_as_task(&self, tool: &str) -> bool {
        self.task_tools.lock().unwrap_or_else(|p| p.into_inner()).contains(tool)
    }

    pub fn mark_task_tool(&self, tool: &str) {
        self.task_tools.lock().unwrap_or_else(|p| p.into_inner()).insert(tool.to_owned());
    }
}

enum Control {
    Start,
    Restart,
    Stop(oneshot::Sender<()>),
    /// A call found that the server refused its token mid-session: end the session, so that
    /// the supervisor asks whether the server wants a sign-in.
    Refused,
}

/// Everything shared by a server's supervisor and its callers.
pub struct Server {
    pub id: String,
    spec: RwLock<ServerSpec>,
    pub log: Arc<ServerLog>,
    status: watch::Sender<Status>,
    live: RwLock<Option<Arc<Live>>>,
    control: mpsc::UnboundedSender<Control>,
    /// Fails calls fast while the server keeps failing (see `health`).
    pub breaker: Breaker,
    /// Automatic restarts since the bridge opened (for metrics).
    pub restarts_total: AtomicU64,
}

/// What a server's supervisor needs from the host.
#[derive(Clone)]
pub struct Context {
    /// The HTTP client for remote servers, built on first use: building it loads the system's
    /// root certificates, which cost ~20 ms and ~6 MiB at every bridge start otherwise.
    pub http: Arc<crate::http::Lazy>,
    pub notifier: Notifier,
    pub credentials: Arc<dyn Credentials>,
    /// Marks this data folder's containers (see `runtimes::docker`).
    pub owner: String,
    pub health: HealthSettings,
    /// The secret values running servers were given, for scanning tool traffic.
    pub secrets: Arc<super::redact::Secrets>,
    /// The data folder (hidden from sandboxed servers but for their own folder).
    pub data_dir: std::path::PathBuf,
    /// The callers waiting on each server that can answer its sampling and elicitation requests.
    pub askers: Arc<super::askers::Askers>,
    /// The tool calls running as MCP tasks (see `tasks`).
    pub tasks: Arc<super::tasks::Tasks>,
    /// Counts every change to the running servers' tools (a start, a stop, a new list), so what
    /// is kept per catalog (the chat's tool-selection index) knows when to rebuild.
    pub catalog: Arc<std::sync::atomic::AtomicU64>,
}

impl Context {
    /// A server's tools came, went or changed: counted, and told as `tools.changed`.
    fn tools_changed(&self, server: &str) {
        self.catalog.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.notifier.publish("tools.changed", json!({ "serverId": server }));
    }
}

/// The OS sandbox `spec` runs in this time, if it has one switched on (native launches only).
fn jail(spec: &ServerSpec, context: &Context) -> Option<crate::runtimes::sandbox::Jail> {
    let policy = spec.sandbox.as_ref().filter(|s| s.enabled)?;
    let Launch::Process { command, .. } = &spec.launch else { return None };
    let own = spec.install_path.as_ref().map_or_else(|| context.data_dir.join("servers").join(&spec.id), Into::into);
    let program = crate::runtimes::locate::find(command).unwrap_or_else(|| command.into());
    let home = std::env::var_os("HOME").map(std::path::PathBuf::from);
    Some(crate::runtimes::sandbox::Jail::new(policy, &own, &program, home.as_deref(), &context.data_dir))
}

impl Server {
    /// Creates the server (stopped) and starts its supervisor task.
    pub fn spawn(spec: ServerSpec, log: Arc<ServerLog>, context: Context) -> Arc<Server> {
        let (control, commands) = mpsc::unbounded_channel();
        let server = Arc::new(Server {
            id: spec.id.clone(),
            spec: RwLock::new(spec),
            log,
            status: watch::channel(Status::new(ServerState::Stopped)).0,
            live: RwLock::new(None),
            control,
            breaker: Breaker::new(context.health),
            restarts_total: AtomicU64::new(0),
        });
        tokio::spawn(supervise(server.clone(), commands, context));
        server
    }

    pub fn spec(&self) -> ServerSpec {
        self.spec.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Replaces the spec; a running server uses it from its next start.
    pub fn set_spec(&self, spec: ServerSpec) {
        *self.spec.write().unwrap_or_else(|p| p.into_inner()) = spec;
    }

    pub fn status(&self) -> Status {
        self.status.borrow().clone()
    }

    pub fn watch(&self) -> watch::Receiver<Status> {
        self.status.subscribe()
    }

    pub fn live(&self) -> Option<Arc<Live>> {
        self.live.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn start(&self) {
        let _ = self.control.send(Control::Start);
    }

    pub fn restart(&self) {
        let _ = self.control.send(Control::Restart);
    }

    /// Tells the supervisor the server refused a request's token (see [`Control::Refused`]).
    pub fn refused(&self) {
        let _ = self.control.send(Control::Refused);
    }

    /// Stops the server and waits until its process group is gone, at most [`STOP_DEADLINE`]:
    /// after that the process group is killed from here and the server is reported stopped.
    pub async fn stop(&self) {
        let (ack, done) = oneshot::channel();
        if self.control.send(Control::Stop(ack)).is_err() {
            return;
        }
        if tokio::time::timeout(STOP_DEADLINE, done).await.is_err() {
            let pid = self.status().pid;
            self.log.push(Stream::Harbor, "did not stop in time; its processes were killed");
            tracing::warn!(server = %self.id, "the supervisor did not answer a stop in time; killing the process group");
            crate::runtimes::process::kill_group(pid);
            self.set_live(None);
            self.status.send_replace(Status::new(ServerState::Stopped));
        }
    }

    /// Starts the server and waits until it runs (`Ok`) or gives up (`Err` with the status).
    /// Restart attempts in between are waited through.
    pub async fn start_and_wait(&self, timeout: Duration) -> Result<Status, Status> {
        let mut watch = self.watch();
        let now = watch.borrow_and_update().clone();
        if now.state == ServerState::Running {
            return Ok(now);
        }
        self.start();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            match tokio::time::timeout_at(deadline, watch.changed()).await {
                Ok(Ok(())) => {
                    let status = watch.borrow_and_update().clone();
                    match status.state {
                        ServerState::Running => return Ok(status),
                        ServerState::Crashed | ServerState::Stopped => return Err(status),
                        ServerState::Starting | ServerState::Installing => {}
                    }
                }
                _ => return Err(self.status()),
            }
        }
    }

    fn set_live(&self, live: Option<Arc<Live>>) {
        let old = std::mem::replace(&mut *self.live.write().unwrap_or_else(|p| p.into_inner()), live);
        if let Some(old) = old {
            old.gone.cancel();
        }
    }
}

/// How one running session ended.
enum Ended {
    /// The server went away on its own.
    Exited(String),
    Stopped(oneshot::Sender<()>),
    Restart,
    /// The host is gone (every handle dropped).
    Orphaned,
}

async fn supervise(server: Arc<Server>, mut commands: mpsc::UnboundedReceiver<Control>, context: Context) {
    let set = |status: Status| {
        context.notifier.publish("servers.changed", json!({ "id": server.id, "status": status }));
        server.status.send_replace(status);
    };
    'idle: loop {
        match commands.recv().await {
            None => return,
            Some(Control::Stop(ack)) => {
                let _ = ack.send(());
                continue 'idle;
            }
            Some(Control::Start | Control::Restart) => {}
            Some(Control::Refused) => continue 'idle,
        }
        let mut failures = 0u32;
        'run: loop {
            set(Status { restarts: failures, ..Status::new(ServerState::Starting) });
            server.log.push(Stream::Harbor, "starting");
            let spec = server.spec();
            // A missing secret or sign-in is the user's to fix: restarting cannot help.
            let gave_up = |error: String, sign_in: bool| {
                server.log.push(Stream::Harbor, &error);
                set(Status {
                    error: Some(error),
                    restarts: failures,
                    needs_sign_in: sign_in,
                    ..Status::new(ServerState::Crashed)
                });
            };
            // Every wait below is raced against the user's commands: a stop never waits on a
            // hung server, and whatever was half-open is dropped (which kills its process group).
            macro_rules! or_command {
                ($work:expr) => {
                    match or_command($work, &mut commands).await {
                        Ok(done) => done,
                        Err(Interrupted::Stop(ack)) => {
                            server.log.push(Stream::Harbor, "stopped");
                            set(Status::new(ServerState::Stopped));
                            let _ = ack.send(());
                            continue 'idle;
                        }
                        Err(Interrupted::Restart) => {
                            failures = 0;
                            continue 'run;
                        }
                        Err(Interrupted::Orphaned) => return,
                    }
                };
            }
            let prepared = match or_command!(context.credentials.prepare(&spec)) {
                Ok(prepared) => Prepared { jail: jail(&spec, &context), ..prepared },
                Err(error) => {
                    gave_up(error.message, error.sign_in);
                    continue 'idle;
                }
            };
            let changes = Arc::new(Changes::default());
            let opened = Connection::open(
                &server.id,
                &prepared,
                server.log.clone(),
                ClientEvents::new(changes.clone())
                    .telling(&server.id, context.notifier.clone(), context.askers.clone())
                    .logging_to(server.log.clone())
                    .with_roots(spec.sandbox.as_ref().map(|s| s.folders.clone()).unwrap_or_default()),
                &context,
            );
            let why = match or_command!(opened) {
                Err(error @ (OpenError::Spawn(_) | OpenError::Docker(_))) => {
                    gave_up(error.to_string(), false);
                    continue 'idle;
                }
                Err(error @ OpenError::Handshake(_)) => {
                    let challenge = prepared.bearer.as_ref().and_then(|b| b.refused());
                    if let Some(sign_in) = or_command!(context.credentials.refused(&spec, challenge)) {
                        gave_up(sign_in, true);
                        continue 'idle;
                    }
                    error.to_string()
                }
                Ok(mut connection) => {
                    // Dropping the connection (a stop during the listing) kills its process group.
                    let tools = or_command!(list_tools(&connection.peer, &server.log));
                    // A server that let the handshake through without a token but refused the
                    // listing wants a sign-in: a visible state, never an empty tool list.
                    if let (None, Some(challenge)) = (&tools, prepared.bearer.as_ref().and_then(|b| b.refused())) {
                        if let Some(sign_in) = or_command!(context.credentials.refused(&spec, Some(challenge))) {
                            connection.shutdown().await;
                            gave_up(sign_in, true);
                            continue 'idle;
                        }
                    }
                    let live = Arc::new(Live {
                        peer: connection.peer.clone(),
                        events: connection.events.clone(),
                        tools: RwLock::new(tools.unwrap_or_default()),
                        gone: CancellationToken::new(),
                        bearer: prepared.bearer.clone(),
                        task_tools: Default::default(),
                        lists: Default::default(),
                    });
                    server.set_live(Some(live.clone()));
                    context.secrets.set(&server.id, prepared.secret_values(&spec));
                    set(Status { pid: connection.pid(), restarts: failures, ..Status::new(ServerState::Running) });
                    context.tools_changed(&server.id);
                    server.log.push(Stream::Harbor, "running");
                    let up_since = Instant::now();
                    let running = run(&server, &live, &mut connection, &changes, &mut commands, &context);
                    // An account's token is in the process's environment, which cannot change:
                    // renewing it means starting the server again, just before it expires.
                    let ended = match prepared.renew_at {
                        Some(at) => tokio::select! {
                            ended = running => ended,
                            () = tokio::time::sleep(Duration::from_secs((at - crate::store::now()).max(1) as u64)) => {
                                server.log.push(Stream::Harbor, "renewing its account's token: starting it again");
                                Ended::Restart
                            }
                        },
                        None => running.await,
                    };
                    server.set_live(None);
                    context.secrets.clear(&server.id);
                    context.tools_changed(&server.id);
                    // A session that ended because the server refused its token needs the user.
                    if let (Ended::Exited(_), Some(challenge)) =
                        (&ended, prepared.bearer.as_ref().and_then(|b| b.refused()))
                    {
                        if let Some(sign_in) = context.credentials.refused(&spec, Some(challenge)).await {
                            connection.shutdown().await;
                            gave_up(sign_in, true);
                            continue 'idle;
                        }
                    }
                    if up_since.elapsed() >= STABLE_AFTER {
                        failures = 0;
                    }
                    match ended {
                        Ended::Exited(why) => why,
                        Ended::Stopped(ack) => {
                            connection.shutdown().await;
                            server.log.push(Stream::Harbor, "stopped");
                            set(Status::new(ServerState::Stopped));
                            let _ = ack.send(());
                            continue 'idle;
                        }
                        Ended::Restart => {
                            connection.shutdown().await;
                            failures = 0;
                            continue 'run;
                        }
                        Ended::Orphaned => {
                            connection.shutdown().await;
                            return;
                        }
                    }
                }
            };
            failures += 1;
            server.log.push(Stream::Harbor, &why);
            server.breaker.failed();
            if failures > MAX_RESTARTS {
                let last = server.log.last_stderr(5);
                let error = if last.is_empty() {
                    format!("{why}; gave up after {MAX_RESTARTS} restarts in a row")
                } else {
                    format!("{why}; gave up after {MAX_RESTARTS} restarts in a row. Its last output:\n{last}")
                };
                set(Status { error: Some(error), restarts: failures - 1, ..Status::new(ServerState::Crashed) });
                continue 'idle;
            }
            server.restarts_total.fetch_add(1, Ordering::Relaxed);
            let delay = Duration::from_millis(250 * 2u64.pow(failures - 1));
            set(Status {
                error: Some(format!("{why}; restarting in {} ms ({failures} of {MAX_RESTARTS})", delay.as_millis())),
                restarts: failures,
                ..Status::new(ServerState::Starting)
            });
            tokio::select! {
                () = tokio::time::sleep(delay) => continue 'run,
                command = commands.recv() => match command {
                    None => return,
                    Some(Control::Stop(ack)) => {
                        set(Status::new(ServerState::Stopped));
                        let _ = ack.send(());
                        continue 'idle;
                    }
                    Some(Control::Restart) => {
                        failures = 0;
                        continue 'run;
                    }
                    Some(Control::Start | Control::Refused) => continue 'run,
                },
            }
        }
    }
}

/// Why a wait in the supervisor ended early.
enum Interrupted {
    Stop(oneshot::Sender<()>),
    Restart,
    Orphaned,
}

/// Runs `work` unless a stop or restart comes first (a start while starting changes nothing).
async fn or_command<T>(
    work: impl std::future::Future<Output = T>,
    commands: &mut mpsc::UnboundedReceiver<Control>,
) -> Result<T, Interrupted> {
    let mut work = std::pin::pin!(work);
    loop {
        tokio::select! {
            done = &mut work => return Ok(done),
            command = commands.recv() => match command {
                None => return Err(Interrupted::Orphaned),
                Some(Control::Stop(ack)) => return Err(Interrupted::Stop(ack)),
                Some(Control::Restart) => return Err(Interrupted::Restart),
                Some(Control::Start | Control::Refused) => {}
            },
        }
    }
}

/// Serves one session until it ends, refreshing the catalog when the server says it changed.
async fn run(
    server: &Server,
    live: &Live,
    connection: &mut Connection,
    changes: &Changes,
    commands: &mut mpsc::UnboundedReceiver<Control>,
    context: &Context,
) -> Ended {
    let every = Duration::from_millis(context.health.heartbeat_ms.max(1));
    let mut heartbeat = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let ping = || {
        tokio::time::timeout(
            every.min(HEARTBEAT_TIMEOUT),
            live.peer.send_request(ClientRequest::PingRequest(Default::default())),
        )
    };
    // The ping and the catalog refresh in flight are branches of the loop, so a hung server's
    // answer never holds up a stop, an exit or another notice.
    let mut pinging = std::pin::pin!(ping().fuse());
    pinging.set(futures::future::Fuse::terminated());
    let mut listing = std::pin::pin!(list_tools(&live.peer, &server.log).fuse());
    listing.set(futures::future::Fuse::terminated());
    // A tools notice that came while a listing was in flight: list once more after it.
    let mut list_again = false;
    loop {
        tokio::select! {
            why = connection.closed() => return Ended::Exited(why),
            _ = heartbeat.tick(), if context.health.heartbeat_ms > 0 && pinging.is_terminated() => pinging.set(ping().fuse()),
            answered = &mut pinging => match answered {
                Ok(Ok(_)) => server.breaker.heartbeat_answered(),
                _ => {
                    if server.breaker.failed() {
                        server.log.push(Stream::Harbor, "did not answer a heartbeat; calls to it fail fast for now");
                    }
                }
            },
            tools = &mut listing => {
                if let Some(tools) = tools {
                    *live.tools.write().unwrap_or_else(|p| p.into_inner()) = tools;
                    context.tools_changed(&server.id);
                }
                if std::mem::take(&mut list_again) {
                    listing.set(list_tools(&live.peer, &server.log).fuse());
                }
            }
            what = changes.next() => {
                for what in what {
                    let params = json!({ "serverId": server.id });
                    match what {
                        ListChanged::Tools if listing.is_terminated() => listing.set(list_tools(&live.peer, &server.log).fuse()),
                        ListChanged::Tools => list_again = true,
                        ListChanged::Resources => {
                            live.lists.changed(what);
                            context.notifier.publish("resources.changed", params)
                        }
                        ListChanged::Prompts => {
                            live.lists.changed(what);
                            context.notifier.publish("prompts.changed", params)
                        }
                    }
                }
            }
            command = commands.recv() => match command {
                None => return Ended::Orphaned,
                Some(Control::Stop(ack)) => return Ended::Stopped(ack),
                Some(Control::Restart) => return Ended::Restart,
                Some(Control::Refused) => return Ended::Exited("it refused Harbor's token".to_owned()),
                Some(Control::Start) => {}
            },
        }
    }
}

/// The server's tools, or `None` (logged) when it fails to list them within [`CATALOG_TIMEOUT`].
async fn list_tools(peer: &Peer<RoleClient>, log: &ServerLog) -> Option<Vec<Tool>> {
    match tokio::time::timeout(CATALOG_TIMEOUT, peer.list_all_tools()).await {
        Ok(Ok(tools)) => Some(tools),
        Ok(Err(error)) => {
            log.push(Stream::Harbor, &format!("could not list tools: {error}"));
            None
        }
        Err(_) => {
            log.push(Stream::Harbor, &format!("did not list its tools within {} s", CATALOG_TIMEOUT.as_secs()));
            None
        }
    }
}
