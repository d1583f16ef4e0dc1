//! Servers sites bring ("bring your own chatbot"): a page's own remote MCP server, connected
//! for the tab the page is open in, after the user let the site do so (`mcp:servers.register`).
//!
//! Such a server lives outside the registry: it is not stored, not among the user's servers,
//! never served by the gateway, and only two callers reach its tools — the page that brought it
//! (`agent.tools.*`, `agent.run`, through the policy pipeline with its budget and slots; no
//! allowlist, since the user let the site bring exactly this server) and the user's own chat
//! for that tab. It goes when the page's `agent.mcp.register` request ends: the page
//! unregistered it, navigated or closed. Its address must be `https:`; `http:` only on loopback
//! and only for a page itself served from loopback, so a site on the internet cannot point the
//! user's agent at a service on this computer or its network. Server ids are unique among the
//! user's servers and every tab's, so `<serverId>/<tool>` never names two tools.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use futures::FutureExt;
use harbor_protocol::api::byoc::{SiteServer, SiteServerEvent, SiteServerOffer};
use harbor_protocol::api::servers::Source;
use harbor_protocol::{ErrorCode, ErrorObject};
use rmcp::model::JsonObject;
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use super::pipeline::Catalog;
use super::scopes::Scope;
use super::{Host, Site};
use crate::mcp::client::ProgressSink;
use crate::mcp::error::HostError;
use crate::mcp::names;
use crate::mcp::registry::{tool_entries, tool_entry_named, Servers, ToolEntry};
use crate::mcp::server::Server;
use crate::rpc::EventSink;
use crate::store::servers::{Launch, ServerSpec};

/// The most servers one tab may bring.
pub const MAX_PER_TAB: usize = 4;
/// How long connecting may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);
const NAME_MAX: usize = 100;
const DESCRIPTION_MAX: usize = 500;

#[derive(Clone)]
struct Brought {
    tab: i64,
    origin: String,
    name: String,
    url: String,
    server: Arc<Server>,
}

impl Brought {
    /// The server's tools, each marked with the origin of the site that brought it.
    fn tools(&self) -> Vec<ToolEntry> {
        let mut tools = tool_entries(&self.server);
        for tool in &mut tools {
            tool.page_origin = Some(self.origin.clone());
        }
        tools
    }
}

/// Every tab's brought servers, by server id.
#[derive(Default)]
pub struct SiteServers {
    brought: Mutex<BTreeMap<String, Brought>>,
}

impl SiteServers {
    fn brought(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Brought>> {
        self.brought.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The server `tab` brought as `id`.
    pub fn server(&self, tab: i64, id: &str) -> Option<Arc<Server>> {
        self.brought().get(id).filter(|b| b.tab == tab).map(|b| b.server.clone())
    }

    /// Whether `id` is a server `origin` brought in `tab`.
    pub fn owns(&self, tab: Option<i64>, origin: &str, id: &str) -> bool {
        tab.is_some_and(|tab| self.brought().get(id).is_some_and(|b| b.tab == tab && b.origin == origin))
    }

    /// The tools of the servers `tab`'s site brought, each marked with the site's origin.
    pub fn tools(&self, tab: i64) -> Vec<ToolEntry> {
        // Copied out first: the catalogs have locks of their own.
        let brought: Vec<Brought> = self.brought().values().filter(|b| b.tab == tab).cloned().collect();
        brought.iter().flat_map(Brought::tools).collect()
    }

    pub fn list(&self) -> Vec<SiteServer> {
        let brought: Vec<(String, Brought)> = self.brought().iter().map(|(id, b)| (id.clone(), b.clone())).collect();
        brought
            .into_iter()
            .map(|(server_id, b)| SiteServer {
                tools: b.tools(),
                server_id,
                name: b.name,
                url: b.url,
                origin: b.origin,
                tab_id: b.tab,
            })
            .collect()
    }

    /// Takes an id for `offer` — its name's, numbered when taken here or by `taken` — and keeps
    /// the server `spawn` makes under it, or says why not.
    fn keep(
        &self,
        site: (i64, &str),
        offer: &SiteServerOffer,
        taken: impl Fn(&str) -> bool,
        spawn: impl FnOnce(String) -> Arc<Server>,
    ) -> Result<(String, Arc<Server>), ErrorObject> {
        let (tab, origin) = site;
        let mut brought = self.brought();
        if brought.values().filter(|b| b.tab == tab).count() >= MAX_PER_TAB {
            return Err(ErrorObject::new(
                ErrorCode::RateLimited,
                format!("a tab may bring at most {MAX_PER_TAB} servers; unregister one first"),
            ));
        }
        let base = names::suggest_server_id(&offer.name);
        let free = |id: &str| !brought.contains_key(id) && !taken(id) && names::check_server_id(id).is_ok();
        let id = std::iter::once(base.clone())
            .chain((2..).map(|n| format!("{}-{n}", &base[..base.len().min(names::SERVER_ID_MAX - 4)])))
            .take(100)
            .find(|id| free(id))
            .ok_or_else(|| {
                ErrorObject::invalid(format!("no free server id for {:?}; give the server another name", offer.name))
            })?;
        let server = spawn(id.clone());
        let entry = Brought {
            tab,
            origin: origin.to_owned(),
            name: offer.name.clone(),
            url: offer.url.clone(),
            server: server.clone(),
        };
        brought.insert(id.clone(), entry);
        Ok((id, server))
    }

    /// Forgets `id` and stops its server (in the background: a drop cannot wait).
    fn forget(&self, id: &str) {
        if let Some(gone) = self.brought().remove(id) {
            tokio::spawn(async move { gone.server.stop().await });
        }
    }
}

/// A registration still open: when it goes, its server goes, and once it was connected the
/// sidebar is told the tab's tools changed.
struct Registration<'a> {
    host: &'a Host,
    id: String,
    tab: Option<i64>,
    connected: bool,
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        self.host.site_servers.forget(&self.id);
        if self.connected {
            self.host.notifier.publish("page.tools.changed", json!({ "tabId": self.tab }));
        }
    }
}

/// The registry's tools and the ones `tab`'s site brought, which come first for that tab.
pub struct TabCatalog<'a> {
    pub servers: &'a Servers,
    pub brought: &'a SiteServers,
    pub tab: Option<i64>,
}

impl TabCatalog<'_> {
    fn brought_tool(&self, asked: &str) -> Option<(Arc<Server>, String)> {
        let (server, tool) = names::split_namespaced(asked)?;
        Some((self.brought.server(self.tab?, server)?, tool.to_owned()))
    }
}

impl Catalog for TabCatalog<'_> {
    fn registry(&self) -> &Servers {
        self.servers
    }

    fn lookup(&self, asked: &str) -> Option<ToolEntry> {
        match self.brought_tool(asked) {
            Some((server, tool)) => tool_entry_named(&server, &tool),
            None => self.servers.lookup(asked),
        }
    }

    fn call<'a>(
        &'a self,
        tool: &'a str,
        args: JsonObject,
        timeout: Option<Duration>,
        cancel: &'a CancellationToken,
        progress: Option<ProgressSink>,
    ) -> BoxFuture<'a, Result<Value, HostError>> {
        async move {
            match self.brought_tool(tool) {
                Some((server, name)) => {
                    self.servers.call_on(&server, &name, Some(args), timeout, cancel, progress).await
                }
                None => self.servers.call_tool(tool, Some(args), timeout, cancel, progress).await,
            }
        }
        .boxed()
    }
}

impl Host {
    /// `page.tools.list`: each tab's page tools and the tools of the servers its site brought,
    /// which the chat offers together when the user lets it use the page's tools.
    pub fn tab_tools(&self, tab: Option<i64>) -> Vec<harbor_protocol::api::webmcp::TabTools> {
        let mut listed = self.page_tools.by_tab(tab);
        for brought in self.site_servers.list().into_iter().filter(|b| tab.is_none_or(|t| t == b.tab_id)) {
            let tools = brought.tools;
            match listed.iter_mut().find(|t| t.tab_id == brought.tab_id) {
                Some(entry) => entry.tools.extend(tools),
                None => listed.push(harbor_protocol::api::webmcp::TabTools {
                    tab_id: brought.tab_id,
                    origin: brought.origin,
                    tools,
                }),
            }
        }
        listed.retain(|t| !t.tools.is_empty());
        listed.sort_by_key(|t| t.tab_id);
        listed
    }

    /// The catalog a page's calls see: the registry and its tab's own servers.
    pub fn catalog_for<'a>(&'a self, tab: Option<i64>) -> TabCatalog<'a> {
        TabCatalog { servers: &self.servers, brought: &self.site_servers, tab }
    }

    /// `agent.mcp.register`: asks the user (unless the site may already), connects, tells the
    /// page, then holds the server until the request ends.
    pub async fn register_site_server(
        &self,
        site: &Site,
        offer: SiteServerOffer,
        events: &EventSink,
        cancel: &CancellationToken,
    ) -> Result<harbor_protocol::api::Empty, ErrorObject> {
        let (id, server) =
            self.audited(site, "agent.mcp.register", None, self.admit_site_server(site, &offer, cancel)).await?;
        let mut registration = Registration { host: self, id: id.clone(), tab: site.tab, connected: false };
        let connected = tokio::select! {
            status = server.start_and_wait(CONNECT_TIMEOUT) => status,
            () = cancel.cancelled() => return Err(ErrorObject::new(ErrorCode::Aborted, "the registration was cancelled")),
        };
        if let Err(status) = connected {
            let why = status.error.unwrap_or_else(|| format!("it did not answer in {} s", CONNECT_TIMEOUT.as_secs()));
            return Err(ErrorObject::new(
                ErrorCode::ServerUnavailable,
                format!("could not connect to the site's MCP server at {}: {why}", offer.url),
            )
            .with_data(json!({ "reason": "connection_failed" })));
        }
        let tools = tool_entries(&server)
            .into_iter()
            .filter_map(|t| names::split_namespaced(&t.name).map(|(_, n)| n.to_owned()))
            .collect();
        events.emit(&SiteServerEvent::Registered { server_id: id, tools }).await;
        self.notifier.publish("page.tools.changed", json!({ "tabId": site.tab }));
        registration.connected = true;
        cancel.cancelled().await;
        Ok(harbor_protocol::api::Empty {})
    }

    /// The checks and the consent before a site's server is connected.
    async fn admit_site_server(
        &self,
        site: &Site,
        offer: &SiteServerOffer,
        cancel: &CancellationToken,
    ) -> Result<(String, Arc<Server>), ErrorObject> {
        let tab = site.tab.ok_or_else(|| ErrorObject::invalid("a site's server needs a page in a browser tab"))?;
        site.own_page()?;
        check_offer(offer, site)?;
        let reason = format!(
            "connect your assistant to \"{}\" at {}{}",
            offer.name.chars().take(NAME_MAX).collect::<String>(),
            offer.url,
            offer.description.as_deref().map(|d| format!(": {d}")).unwrap_or_default()
        );
        if !self.ask_if_undecided(site, Scope::ServersRegister, Some(reason), cancel).await? {
            return Err(super::policy::PolicyError::UserDenied { what: "connect its MCP server" }.into());
        }
        let taken = |id: &str| self.servers.get(id).is_ok() || id == names::RESERVED;
        self.site_servers.keep((tab, &site.origin), offer, taken, |id| {
            self.servers.spawn_detached(ServerSpec {
                id,
                name: offer.name.clone(),
                source: Source::Manual,
                launch: Launch::Remote { url: offer.url.clone(), headers: BTreeMap::new() },
                secret_env: BTreeMap::new(),
                auto_start: false,
                version: None,
                install_path: None,
                tool_timeout_ms: None,
                sandbox: None,
                account: None,
            })
        })
    }
}

/// The offer's own input: a name, a short description, a transport Harbor speaks, an address
/// the site may point the user's agent at.
fn check_offer(offer: &SiteServerOffer, site: &Site) -> Result<(), ErrorObject> {
    let name = offer.name.trim();
    if name.is_empty() || name.chars().count() > NAME_MAX {
        return Err(ErrorObject::invalid(format!("a server needs a name of 1 to {NAME_MAX} characters")));
    }
    if offer.description.as_ref().is_some_and(|d| d.chars().count() > DESCRIPTION_MAX) {
        return Err(ErrorObject::invalid(format!("a description may be at most {DESCRIPTION_MAX} characters")));
    }
    match offer.transport.as_deref() {
        None | Some("sse" | "streamable-http" | "http") => {}
        Some(other) => {
            return Err(ErrorObject::new(
                ErrorCode::NotSupported,
                format!("Harbor reaches sites' servers over MCP's Streamable HTTP, not {other:?}"),
            ))
        }
    }
    let url = url::Url::parse(&offer.url).map_err(|e| {
        ErrorObject::invalid(format!("{:?} is not a URL: {e}", offer.url)).with_data(json!({ "reason": "invalid_url" }))
    })?;
    let private = super::browser::is_private(&url);
    let allowed = match url.scheme() {
        "https" => !private || super::browser::site_is_private(site),
        "http" => private && super::browser::site_is_private(site),
        _ => false,
    };
    if !allowed || !url.username().is_empty() || url.password().is_some() {
        return Err(ErrorObject::invalid(format!(
            "{} cannot bring the server at {}: it must be an https address (or, for a page served from this computer, \
             an http address on this computer), without a user name or password in it",
            site.origin, offer.url
        ))
        .with_data(json!({ "reason": "invalid_url" })));
    }
    Ok(())
}
