//! harbor-bridge: Harbor's native-messaging host.
//!
//! Firefox starts the bridge and talks to it over stdio in length-prefixed JSON frames. The
//! bridge answers requests from Harbor's background script on behalf of web pages and of
//! Harbor's own sidebar.
//!
//! The crate reads like its layers, from the pipe inward:
//! - [`nm`] — native-messaging framing and chunking; the only writer of stdout;
//! - [`rpc`] — the envelope, the method table ([`rpc::Router`]) and the session loop;
//! - [`system`] — the `system.*` methods; [`methods`] — the MCP host's `servers.*`, `tools.*`,
//!   `resources.*`, `prompts.*`;
//! - [`mcp`] — servers' lifecycles, sessions and namespaced catalog; [`store`] — SQLite;
//! - [`host`] — the policy core for web pages: grants, prompts, limits, budgets, audit, served
//!   as the page API (`agent.*`, `ai.*`, WebMCP's `webmcp.*`) and the sidebar's `permissions.*`;
//! - [`install`] — the curated directory and npm/PyPI installs into each server's own folder;
//! - [`import`] — reading other MCP clients' configs (pure: previews, nothing runs);
//! - [`llm`] — model providers (Ollama, OpenAI-compatible); [`chat`] — the agent loop, tool
//!   selection and chat sessions, served as `llm.*` and `chat.*`;
//! - [`asks`] — a server's elicitation and sampling requests put to the user in the sidebar;
//! - [`control`] — the control socket; [`link`] — the command line's [`link::Link`] to a bridge;
//! - [`gateway`] — Harbor's servers as one MCP endpoint (stdio and loopback HTTP) for other apps;
//! - [`js_server`] — MCP servers written in JavaScript, run by the bridge's own binary (QuickJS);
//! - [`sandbox`] — JavaScript from a model or an app, in QuickJS with hard limits; [`code_mode`] —
//!   search, describe and run-code tools in place of every tool, for gateway apps and the chat;
//! - [`native_manifest`], [`doctor`], [`paths`], [`logging`], [`runtimes`] — installing the
//!   bridge into Firefox, checking the machine, and where files live.
//!
//! [`Bridge`] holds the state; [`run`] serves one session over any reader and writer, so tests drive the bridge over
//! in-memory pipes exactly as Firefox drives it over stdio.

pub mod apps;
pub mod asks;
pub mod chat;
pub mod code_mode;
pub mod control;
pub mod doctor;
pub mod gateway;
pub mod host;
pub mod http;
pub mod import;
pub mod install;
pub mod js_server;
pub mod link;
pub mod llm;
pub mod logging;
pub mod mcp;
pub mod methods;
pub mod native_manifest;
pub mod nm;
pub mod oauth;
pub mod openapi;
pub mod paths;
pub mod rpc;
pub mod runtimes;
pub mod sandbox;
pub mod secrets;
pub mod store;
pub mod system;
pub mod telemetry;
pub mod trim;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use tokio::io::{AsyncRead, AsyncWrite};

use mcp::registry::Servers;
use rpc::Notifier;
use store::Store;

/// Now, in Unix milliseconds.
pub fn unix_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// A Unix time in milliseconds as an ISO 8601 UTC timestamp (`2026-12-07T15:22:35Z`), as MCP's
/// task times are written. Days to a civil date by Howard Hinnant's `civil_from_days`.
pub fn iso_time(unix_ms: u64) -> String {
    let secs = unix_ms / 1000;
    let (days, of_day) = ((secs / 86_400) as i64, secs % 86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let of_era = z.rem_euclid(146_097);
    let year_of_era = (of_era - of_era / 1460 + of_era / 36_524 - of_era / 146_096) / 365;
    let day_of_year = of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    let (hour, minute, second) = (of_day / 3600, of_day % 3600 / 60, of_day % 60);
    format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}Z")
}

/// The bridge's state: its data folder, database, notifications and servers. One per process;
/// it outlives sessions (tests open several) and stops every server in [`Bridge::shutdown`].
pub struct Bridge {
    pub data_dir: PathBuf,
    pub store: Store,
    pub notifier: Notifier,
    pub servers: Arc<Servers>,
    pub llm: Arc<llm::Llm>,
    pub chat: Arc<chat::Chat>,
    pub host: Arc<host::Host>,
    pub secrets: Arc<secrets::Secrets>,
    pub auth: Arc<oauth::Auth>,
    pub gateway: Arc<gateway::Gateway>,
    pub asks: Arc<asks::UserAsks>,
    pub apps: Arc<apps::Apps>,
}

impl Bridge {
    /// Opens the database in `data_dir`, loads the servers and starts the auto-start ones.
    /// Must run inside a tokio runtime (servers get supervisor tasks).
    pub fn open(data_dir: &Path) -> anyhow::Result<Bridge> {
        let store = Store::open(&data_dir.join("harbor.db"))?;
        let notifier = Notifier::default();
        let secrets = Arc::new(secrets::Secrets::new(store.clone(), data_dir));
        let auth = oauth::Auth::new(store.clone(), secrets.clone());
        let owner = paths::owner_tag(data_dir);
        // Containers a killed bridge left behind go now (in the background: the engine may be slow).
        if std::path::Path::new(&runtimes::docker::socket()).exists() {
            let tag = owner.clone();
            tokio::spawn(async move {
                match runtimes::docker::remove_orphans(&tag).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!("removed {n} containers left by an earlier bridge"),
                    Err(error) => tracing::warn!("cannot check for orphaned containers: {error}"),
                }
            });
        }
        let servers =
            Servers::load(store.clone(), paths::log_dir(data_dir), notifier.clone(), auth.clone(), owner.clone())
                .map_err(|e| anyhow::anyhow!("{e}"))
                .context("cannot load the servers")?;
        let servers = Arc::new(servers);
        let llm = Arc::new(
            llm::Llm::new(store.clone())
                .with_secrets(secrets.clone())
                .with_notifier(notifier.clone())
                .with_models(data_dir.join("models")),
        );
        let page_tools = Arc::new(host::page_tools::PageTools::new(notifier.clone()));
        let page = chat::PageSide {
            tools: page_tools,
            servers: Arc::new(host::site_servers::SiteServers::default()),
            chats: Arc::new(host::site_chats::SiteChats::default()),
        };
        let chat =
            Arc::new(chat::Chat::new(store.clone(), llm.clone(), servers.clone(), page.clone(), notifier.clone()));
        let host = Arc::new(host::Host::new(store.clone(), servers.clone(), llm.clone(), page, notifier.clone()));
        let gateway = gateway::Gateway::new(store.clone(), servers.clone(), notifier.clone(), data_dir.to_path_buf());
        let asks = asks::UserAsks::new(notifier.clone(), llm.clone());
        servers.askers().ask_user_with(asks.asker());
        let apps = Arc::new(apps::Apps::new(servers.clone(), store.clone()));
        Ok(Bridge {
            data_dir: data_dir.to_path_buf(),
            store,
            notifier,
            servers,
            llm,
            chat,
            host,
            secrets,
            auth,
            gateway,
            asks,
            apps,
        })
    }

    /// Every method the bridge answers.
    pub fn router(&self) -> rpc::Router {
        let router = system::routes(rpc::Router::new(), &self.data_dir);
        let router = methods::routes(router, self.servers.clone());
        let router = methods::chat_routes(router, self.llm.clone(), self.chat.clone(), self.store.clone());
        let router = methods::page_routes(router, self.host.clone());
        let router = methods::webmcp_routes(router, self.host.clone());
        let router = methods::browser_routes(router, self.host.clone());
        let router = methods::byoc_routes(router, self.host.clone());
        let router = methods::session_routes(router, self.host.clone());
        let router = methods::import_routes(router, self.servers.clone(), self.secrets.clone());
        let router = methods::install_routes(
            router,
            self.servers.clone(),
            self.secrets.clone(),
            self.store.clone(),
            self.data_dir.clone(),
        );
        let router = methods::secret_routes(router, self.servers.clone(), self.secrets.clone(), self.auth.clone());
        let router = methods::gateway_routes(router, self.gateway.clone());
        let router = methods::ask_routes(router, self.asks.clone());
        let router = methods::app_routes(router, self.apps.clone());
        methods::permission_routes(router, self.host.clone())
    }

    /// Serves one session over `reader`/`writer` until end-of-input or `shutdown`.
    pub async fn serve<R, W, S>(&self, reader: R, writer: W, shutdown: S) -> std::io::Result<()>
    where
        R: AsyncRead + Unpin,
        W: AsyncWrite + Unpin + Send + 'static,
        S: Future<Output = ()>,
    {
        rpc::serve(reader, writer, Arc::new(self.router()), Some(self.notifier.subscribe()), shutdown).await
    }

    /// Serves the control socket (see [`control`]) until the returned task is aborted.
    #[cfg(unix)]
    pub async fn listen_control(self: &Arc<Self>) -> Option<tokio::task::JoinHandle<()>> {
        let bridge = self.clone();
        control::listen(&self.data_dir, move |reader, writer| {
            let bridge = bridge.clone();
            async move {
                let _ = bridge.serve(reader, writer, std::future::pending()).await;
            }
        })
        .await
    }

    /// Stops the gateway's endpoint and every server, so none outlives the bridge.
    pub async fn shutdown(&self) {
        self.gateway.stop_http().await;
        self.servers.stop_all().await;
        self.store.flush();
    }
}

/// Opens the bridge in `data_dir`, serves one session, then stops every server: what host mode
/// does for Firefox.
pub async fn run<R, W, S>(reader: R, writer: W, data_dir: &Path, shutdown: S) -> anyhow::Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin + Send + 'static,
    S: Future<Output = ()>,
{
    let bridge = Arc::new(Bridge::open(data_dir)?);
    #[cfg(unix)]
    let control = bridge.listen_control().await;
    bridge.gateway.start_configured().await;
    // The browser's sidebar is where the user answers servers' requests (see `asks`).
    let present = bridge.asks.present();
    // Once started, the start's code is given back, and again every few minutes what requests
    // mapped since (see `trim`).
    let trimming = tokio::spawn(async {
        tokio::time::sleep(trim::AFTER_START).await;
        loop {
            let given = tokio::task::spawn_blocking(trim::code_pages).await.unwrap_or(0);
            tracing::debug!(kib = given / 1024, "gave back code pages");
            tokio::time::sleep(trim::EVERY).await;
        }
    });
    let served = bridge.serve(reader, writer, shutdown).await;
    trimming.abort();
    drop(present);
    #[cfg(unix)]
    if let Some(control) = control {
        control.abort();
        let _ = std::fs::remove_file(control::socket_path(data_dir));
    }
    bridge.shutdown().await;
    served.context("reading from Firefox failed")
}

#[cfg(test)]
mod tests {
    #[test]
    fn unix_times_read_as_iso_dates() {
        assert_eq!(super::iso_time(0), "1970-01-01T00:00:00Z");
        assert_eq!(super::iso_time(951_782_400_000), "2000-02-29T00:00:00Z", "a leap day");
        assert_eq!(super::iso_time(1_796_657_555_999), "2026-12-07T15:32:35Z");
    }
}
