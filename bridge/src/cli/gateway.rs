//! `harbor-bridge mcp --client NAME` (the stdio face an app starts) and `harbor-bridge gateway …`
//! (serve headless, the HTTP endpoint, clients, connecting apps).
//!
//! `mcp` reaches the bridge that already runs (Firefox's, or `gateway serve`) over its control
//! socket, so the app shares its servers; with none running it opens the bridge itself, with the
//! control socket, so the next app or the command line shares *its* servers. Stdout is the MCP
//! stream: logs go to the log file only.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use clap::Subcommand;
use harbor_bridge::control;
use harbor_bridge::gateway::face::Face;
use harbor_bridge::gateway::remote::Remote;
use harbor_bridge::gateway::shared::Shared;
use harbor_bridge::gateway::team::{servers, Team};
use harbor_bridge::gateway::Backend;
use harbor_bridge::link::Link;
use harbor_bridge::Bridge;
use harbor_protocol::api::gateway::{
    Client, ClientName, ClientParams, Connect, GatewayClientsAdd, GatewayClientsRemove, GatewayClientsRotateKey,
    GatewayClientsUpdate, GatewayConnect, GatewayHttpSet, GatewayStatus, NewKey, SetHttp, Status,
};
use harbor_protocol::api::import::App;
use harbor_protocol::api::Empty;
use rmcp::ServiceExt;

use super::servers::{ask, print_json};

#[derive(Subcommand)]
pub enum GatewayCommand {
    /// Run Harbor without Firefox: the servers, the control socket and the HTTP endpoint, until
    /// stopped (Ctrl-C). Prints the endpoint's URL first.
    Serve {
        /// The loopback port (0: any free one). Default: the gateway's setting.
        #[arg(long, conflicts_with = "config")]
        port: Option<u16>,
        /// Serve a team as this file says (YAML or JSON): its address, identity providers, roles.
        /// SIGHUP reads it again without dropping sessions.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Check a team config file without serving it: every error, with its key and line.
    Check {
        #[arg(long)]
        config: PathBuf,
    },
    /// The HTTP endpoint's state and every client with its traffic.
    Status,
    /// Turn the HTTP endpoint on (optionally on another port) or off.
    Http {
        /// on or off.
        state: String,
        #[arg(long)]
        port: Option<u16>,
    },
    /// Add, change, re-key and remove the apps that may use the gateway.
    Clients {
        #[command(subcommand)]
        command: ClientsCommand,
    },
    /// Write the entry that runs `harbor-bridge mcp --client CLIENT` into an app's config:
    /// claude-desktop, cursor or vs-code.
    Connect {
        #[arg(value_enum)]
        app: AppArg,
        #[arg(long)]
        client: String,
        /// The config file (default: the app's usual one for this user).
        #[arg(long)]
        file: Option<PathBuf>,
        #[arg(long)]
        dry_run: bool,
    },
}

/// The apps `gateway connect` writes into.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum AppArg {
    ClaudeDesktop,
    Cursor,
    VsCode,
}

#[derive(Subcommand)]
pub enum ClientsCommand {
    /// Add a client and print its key (shown this once).
    Add {
        name: String,
        #[command(flatten)]
        limits: ClientArgs,
    },
    /// Change what a client may call and how often.
    Update {
        name: String,
        #[command(flatten)]
        limits: ClientArgs,
    },
    /// Give a client a new key (the old one stops working) and print it.
    RotateKey {
        name: String,
    },
    Remove {
        name: String,
    },
}

#[derive(clap::Args)]
pub struct ClientArgs {
    /// A server id (all its tools), `SERVER/TOOL`, or `*` (repeatable). None: no tools.
    #[arg(long = "allow")]
    allow: Vec<String>,
    /// Tool calls a minute.
    #[arg(long)]
    rate: Option<u32>,
    /// Tool calls in flight at once.
    #[arg(long)]
    concurrency: Option<u32>,
    /// Tools and prompts under their servers' own names where no two servers share one.
    #[arg(long)]
    plain_names: Option<bool>,
    /// Code mode: offer search, describe and run-code tools instead of every tool.
    #[arg(long)]
    code_mode: Option<bool>,
}

impl ClientArgs {
    fn params(&self, name: &str, adding: bool) -> ClientParams {
        ClientParams {
            name: name.to_owned(),
            allow: (adding || !self.allow.is_empty()).then(|| self.allow.clone()),
            rate_per_min: self.rate,
            concurrency: self.concurrency,
            plain_names: self.plain_names,
            code_mode: self.code_mode,
        }
    }
}

/// `harbor-bridge mcp --client NAME`: MCP over stdio for one app.
pub async fn mcp(data_dir: &Path, client: &str) -> Result<()> {
    if let Some(remote) = Remote::connect(data_dir).await {
        let closed = remote.closed();
        return serve_stdio(remote, client, closed).await;
    }
    let bridge = Arc::new(Bridge::open(data_dir)?);
    #[cfg(unix)]
    let listening = bridge.listen_control().await;
    bridge.gateway.start_configured().await;
    let served = serve_stdio(bridge.gateway.clone(), client, tokio_util::sync::CancellationToken::new()).await;
    #[cfg(unix)]
    if let Some(task) = listening {
        task.abort();
        let _ = std::fs::remove_file(control::socket_path(data_dir));
    }
    bridge.shutdown().await;
    served
}

async fn serve_stdio<B: Backend>(
    backend: Arc<B>,
    client: &str,
    bridge_gone: tokio_util::sync::CancellationToken,
) -> Result<()> {
    // An unknown client is said at once, on stderr, which apps show in their server log.
    if let Err(error) = backend.tools(client).await {
        bail!("{}", error.message);
    }
    let service = Face::new(backend, Some(client.to_owned()))
        .serve(harbor_bridge::gateway::stdio::guard(tokio::io::stdin(), tokio::io::stdout()))
        .await
        .context("the app did not complete the MCP handshake")?;
    let cancel = service.cancellation_token();
    tokio::select! {
        _ = service.waiting() => Ok(()),
        () = bridge_gone.cancelled() => {
            cancel.cancel();
            bail!("Harbor's bridge went away; the app may start this server again")
        }
    }
}

/// `harbor-bridge gateway serve`: the bridge without Firefox.
pub async fn serve(
    data_dir: &Path,
    port: Option<u16>,
    config: Option<PathBuf>,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<()> {
    // A bad config file (or certificate) is refused before anything starts.
    let team = config.as_deref().map(Team::from_file).transpose()?;
    let bridge = Arc::new(Bridge::open(data_dir)?);
    #[cfg(unix)]
    let Some(listening) = bridge.listen_control().await
    else {
        bail!("another Harbor bridge runs on {} already; use it, or stop it first", data_dir.display())
    };
    let mut reloading = None;
    let port = match (port, team) {
        (_, Some(team)) => {
            let listen = team.config.listen;
            if let Some(endpoint) = team.config.telemetry.endpoint() {
                harbor_bridge::telemetry::export_to(&endpoint, &team.config.telemetry.service());
            }
            if let Some(database) = &team.config.database {
                let replica = std::env::var("HOSTNAME").unwrap_or_else(|_| format!("replica-{}", std::process::id()));
                let shared =
                    Shared::connect(&database.0, replica).await.map_err(|why| anyhow::anyhow!("database: {why}"))?;
                bridge.gateway.share(shared).await;
            }
            // The file's servers come up (or fail, each on its own) before the endpoint listens.
            let file = config.clone().unwrap_or_default();
            put_in_force(&bridge.gateway, team, &file).await;
            #[cfg(unix)]
            {
                reloading = Some(tokio::spawn(reload_on_hangup(bridge.gateway.clone(), file, listen)));
            }
            Some(bridge.gateway.start_http_at(listen).await.map_err(|e| anyhow::anyhow!("{}", e.message))?)
        }
        (Some(port), None) => {
            Some(bridge.gateway.start_http(port).await.map_err(|e| anyhow::anyhow!("{}", e.message))?)
        }
        (None, None) => {
            bridge.gateway.start_configured().await;
            bridge.gateway.http_port().await
        }
    };
    match (port, bridge.gateway.http_address().await) {
        (Some(_), Some(address)) => match bridge.gateway.team().map(|team| team.config.resource()) {
            Some(resource) if !resource.contains(&address.to_string()) => {
                println!("Harbor gateway on {resource} (listening on {address})")
            }
            Some(resource) => println!("Harbor gateway on {resource}"),
            None => println!("Harbor gateway on http://{address}/mcp"),
        },
        _ => println!("Harbor runs (the HTTP endpoint is off: `harbor-bridge gateway http on`)"),
    }
    shutdown.await;
    if let Some(reloading) = reloading {
        reloading.abort();
    }
    // SIGTERM (an orchestrator's stop) lets the calls in flight finish first.
    bridge.gateway.drain_http(DRAIN_DEADLINE).await;
    #[cfg(unix)]
    {
        listening.abort();
        let _ = std::fs::remove_file(control::socket_path(data_dir));
    }
    bridge.shutdown().await;
    Ok(())
}

/// How long a stopping gateway lets its calls in flight run: under the 30 s grace period
/// Docker and Kubernetes give before SIGKILL.
const DRAIN_DEADLINE: std::time::Duration = std::time::Duration::from_secs(25);

/// Reads the team config again on each SIGHUP: a good file is in force at once (sessions stay
/// open; the next request of each caller is judged by it); a bad one is logged and the one in
/// force stays. The address cannot change without a restart.
#[cfg(unix)]
async fn reload_on_hangup(gateway: Arc<harbor_bridge::gateway::Gateway>, path: PathBuf, listen: std::net::SocketAddr) {
    use tokio::signal::unix::{signal, SignalKind};
    let Ok(mut hangups) = signal(SignalKind::hangup()) else { return };
    while hangups.recv().await.is_some() {
        match Team::from_file(&path) {
            Ok(team) => {
                if team.config.listen != listen {
                    tracing::warn!("the config's listen address changed; it takes effect when the gateway restarts");
                }
                if gateway.team().is_some_and(|old| old.config.database != team.config.database) {
                    tracing::warn!("the config's database changed; it takes effect when the gateway restarts");
                }
                put_in_force(&gateway, team, &path).await;
                tracing::info!("the team config was read again");
            }
            Err(error) => tracing::warn!("the team config was not reloaded, the one in force stays: {error}"),
        }
    }
}

/// Makes `team` (read from `file`) the config in force: its servers first, then its callers.
async fn put_in_force(gateway: &harbor_bridge::gateway::Gateway, team: Team, file: &Path) {
    servers::apply(&gateway.servers, &team.config, file).await;
    gateway.set_team(Some(team));
}

/// `gateway check --config FILE`.
pub fn check(path: &Path) -> Result<()> {
    let config = Team::from_file(path)?.config;
    println!(
        "{} is good: {} on {}, {} issuer(s), {} role(s), {} mapping(s), {} server(s){}",
        path.display(),
        config.resource(),
        config.listen,
        config.auth.issuers.len(),
        config.roles.len(),
        config.mappings.len(),
        config.servers.len(),
        if config.auth.keys { ", Harbor's client keys accepted" } else { "" }
    );
    Ok(())
}

/// The other `gateway` commands, through a [`Link`].
pub async fn gateway(data_dir: &Path, command: GatewayCommand, json: bool) -> Result<()> {
    let mut link = Link::open(data_dir).await?;
    let outcome = over(&mut link, command, json).await;
    link.close().await;
    outcome
}

async fn over(link: &mut Link, command: GatewayCommand, json: bool) -> Result<()> {
    match command {
        GatewayCommand::Serve { .. } | GatewayCommand::Check { .. } => unreachable!("run without a link"),
        GatewayCommand::Status => status(ask::<GatewayStatus>(link, Empty {}).await?, json),
        GatewayCommand::Http { state, port } => {
            let enabled = match state.as_str() {
                "on" => true,
                "off" => false,
                other => bail!("{other:?}: say `on` or `off`"),
            };
            if enabled && !link.is_shared() {
                bail!(
                    "no bridge is running to serve the endpoint: start Firefox, or run `harbor-bridge gateway serve`"
                );
            }
            status(ask::<GatewayHttpSet>(link, SetHttp { enabled, port }).await?, json)
        }
        GatewayCommand::Clients { command } => match command {
            ClientsCommand::Add { name, limits } => {
                key(ask::<GatewayClientsAdd>(link, limits.params(&name, true)).await?, json)
            }
            ClientsCommand::Update { name, limits } => {
                let updated = ask::<GatewayClientsUpdate>(link, limits.params(&name, false)).await?;
                if json {
                    return print_json(&updated);
                }
                client_line(&updated.client);
                Ok(())
            }
            ClientsCommand::RotateKey { name } => {
                key(ask::<GatewayClientsRotateKey>(link, ClientName { name }).await?, json)
            }
            ClientsCommand::Remove { name } => {
                let removed = ask::<GatewayClientsRemove>(link, ClientName { name }).await?;
                if json {
                    return print_json(&removed);
                }
                println!("Removed {}.", removed.removed);
                Ok(())
            }
        },
        GatewayCommand::Connect { app, client, file, dry_run } => {
            let app = match app {
                AppArg::ClaudeDesktop => App::ClaudeDesktop,
                AppArg::Cursor => App::Cursor,
                AppArg::VsCode => App::VsCode,
            };
            let path = file.map(|f| f.display().to_string());
            let done = ask::<GatewayConnect>(link, Connect { app, client, path, dry_run }).await?;
            if json {
                return print_json(&done);
            }
            let verb = if done.written { "Wrote" } else { "Would write" };
            println!("{verb} the \"harbor\" entry into {}:", done.path);
            println!("{}", serde_json::to_string_pretty(&done.entry)?);
            Ok(())
        }
    }
}

fn key(new: NewKey, json: bool) -> Result<()> {
    if json {
        return print_json(&new);
    }
    println!("Key for {}: {}", new.client.name, new.key);
    println!("It is shown this once. Send it as `Authorization: Bearer <key>` to the gateway's /mcp.");
    Ok(())
}

fn status(status: Status, json: bool) -> Result<()> {
    if json {
        return print_json(&status);
    }
    match &status.http.url {
        Some(url) => println!("HTTP endpoint: {url}"),
        None => println!("HTTP endpoint: off"),
    }
    for client in &status.clients {
        client_line(client);
    }
    Ok(())
}

fn client_line(client: &Client) {
    let t = &client.traffic;
    println!(
        "{:<16} {:<14} allow {:<30} {}/min ×{}  calls {} errors {} limited {}",
        client.name,
        client.key_hint,
        client.allow.join(","),
        client.rate_per_min,
        client.concurrency,
        t.calls,
        t.errors,
        t.rate_limited,
    );
}
