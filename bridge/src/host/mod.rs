//! The policy core: the one place that says yes or no to a web page.
//!
//! Every page method (`agent.*`, `ai.*`) goes through [`Host`]: the caller's [`Site`] comes from
//! the envelope's caller context, which the background builds from `port.sender`; [`Grants`]
//! say what the site may do (persisted `ALLOW_ALWAYS` / `DENY`, tab-scoped `ALLOW_ONCE`);
//! [`Prompts`] ask the user, one prompt per origin; the [`Gate`] holds limits and budgets; the
//! audit log records each call's metadata (never arguments or results). Tool calls from pages —
//! direct or inside `agent.run` — pass the allowlist, the hourly budget, the per-origin slots and
//! the timeout here, in the bridge.

pub mod browser;
mod constraint;
pub mod grants;
pub mod limits;
pub mod page_tools;
pub mod pinning;
pub mod pins;
pub mod pipeline;
pub mod policy;
pub mod prompts;
pub mod run;
pub mod scopes;
pub mod sessions;
pub mod site_chats;
pub mod site_servers;
pub mod text;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use futures::FutureExt;
use harbor_protocol::api::page::PermissionResult;
use harbor_protocol::api::permissions::{AuditCaller, Permissions};
use harbor_protocol::{Caller, CallerKind, ErrorCode, ErrorObject};
use rmcp::model::JsonObject;
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use crate::chat::agent::ToolRunner;
use crate::llm::Llm;
use crate::mcp::registry::{Servers, ToolEntry};
use crate::rpc::Notifier;
use crate::store::Store;
use grants::Grants;
use limits::Gate;
use policy::PolicyError;
use prompts::{Answer, Asked, Decision, PromptRequest, PromptTool, Prompts, ScopeLine};
use scopes::{Grant, Scope};

/// The web page a call comes from.
#[derive(Clone, Debug, PartialEq)]
pub struct Site {
    pub origin: String,
    pub tab: Option<i64>,
    pub top_origin: Option<String>,
    /// The calling frame in its tab (0: the top frame).
    pub frame: Option<i64>,
    /// The frame had transient user activation when it called (stamped by the content relay).
    pub user_activation: bool,
}

impl Site {
    /// The site of a page caller; anything else may not call page methods.
    pub fn of(caller: &Caller) -> Result<Site, PolicyError> {
        match (&caller.kind, &caller.origin) {
            (CallerKind::Page, Some(origin)) if origin != "null" && !origin.is_empty() => Ok(Site {
                origin: origin.clone(),
                tab: caller.tab_id,
                top_origin: caller.top_origin.clone(),
                frame: caller.frame_id,
                user_activation: caller.user_activation,
            }),
            (CallerKind::Page, _) => Err(PolicyError::NoOrigin),
            _ => Err(PolicyError::NotAPage),
        }
    }

    /// Passes for the tab's own top-level page, not a frame of another origin inside it: what
    /// acts on the page (its elements, its tab, its chat, its servers) is the page's to ask for.
    pub fn own_page(&self) -> Result<(), PolicyError> {
        match self.top_origin.as_deref() == Some(self.origin.as_str()) {
            true => Ok(()),
            false => Err(PolicyError::CrossOriginFrame { origin: self.origin.clone() }),
        }
    }

    /// The calling document's frame, for its own page tools (WebMCP); a page outside a tab
    /// has none.
    pub fn frame(&self) -> Result<page_tools::Frame, ErrorObject> {
        match self.tab {
            Some(tab) => Ok(page_tools::Frame { tab, frame: self.frame.unwrap_or(0) }),
            None => Err(ErrorObject::invalid("page tools need a page in a browser tab")),
        }
    }
}

pub struct Host {
    pub store: Store,
    pub grants: Grants,
    pub prompts: Prompts,
    pub gate: Gate,
    pub texts: text::TextSessions,
    pub page_tools: Arc<page_tools::PageTools>,
    pub site_servers: Arc<site_servers::SiteServers>,
    pub site_chats: Arc<site_chats::SiteChats>,
    pub agent_sessions: sessions::AgentSessions,
    servers: Arc<Servers>,
    llm: Arc<Llm>,
    notifier: Notifier,
    /// Where a site's `agent.run` in code mode runs its code.
    sandbox: crate::sandbox::Sandbox,
    /// Code mode's `search_tools` index, kept while the catalog searched stays the same.
    selector: crate::chat::select::Selector,
}

impl Host {
    pub fn new(
        store: Store,
        servers: Arc<Servers>,
        llm: Arc<Llm>,
        page: crate::chat::PageSide,
        notifier: Notifier,
    ) -> Host {
        Host {
            page_tools: page.tools,
            site_servers: page.servers,
            site_chats: page.chats,
            agent_sessions: sessions::AgentSessions::default(),
            grants: Grants::new(store.clone()),
            prompts: Prompts::default(),
            gate: Gate::new(store.clone()),
            texts: text::TextSessions::default(),
            store,
            servers,
            llm,
            notifier,
            sandbox: crate::sandbox::Sandbox::default(),
            selector: Default::default(),
        }
    }

    pub fn llm(&self) -> &Arc<Llm> {
        &self.llm
    }

    /// Passes when `site` holds `scope`: `ERR_PERMISSION_DENIED` when denied, else
    /// `ERR_SCOPE_REQUIRED` with how to ask.
    pub fn require(&self, site: &Site, scope: Scope) -> Result<Grant, PolicyError> {
        match self.grants.grant(&site.origin, site.tab, scope)? {
            grant if grant.allows() => Ok(grant),
            Grant::Deny => Err(PolicyError::ScopeDenied { scope, origin: site.origin.clone() }),
            _ => Err(PolicyError::ScopeRequired(scope)),
        }
    }

    /// `agent.requestPermissions`: answers from the grants when they decide, else asks the user.
    pub async fn request_permissions(
        &self,
        site: &Site,
        scopes: Vec<Scope>,
        reason: Option<String>,
        tools: Option<Vec<String>>,
        cancel: &CancellationToken,
    ) -> Result<PermissionResult, ErrorObject> {
        if scopes.is_empty() {
            return Err(ErrorObject::invalid("requestPermissions needs at least one scope"));
        }
        let current: Vec<Grant> = scopes
            .iter()
            .map(|scope| self.grants.grant(&site.origin, site.tab, *scope))
            .collect::<anyhow::Result<_>>()
            .map_err(internal)?;
        let wants_tools = scopes.iter().any(|s| matches!(s, Scope::ToolsCall | Scope::ModelTools));
        let allowed = self.grants.allowed_tools(&site.origin, site.tab).map_err(internal)?;
        let tools_settled = match (&tools, wants_tools) {
            (Some(asked), true) => asked.iter().all(|t| allowed.contains(t)),
            _ => true,
        };
        let decided = current.contains(&Grant::Deny) || (current.iter().all(|g| g.allows()) && tools_settled);
        let mut offered = Vec::new();
        if !decided {
            let request = PromptRequest {
                id: String::new(),
                origin: site.origin.clone(),
                embedded_in: site.top_origin.clone().filter(|top| *top != site.origin),
                tab_id: site.tab,
                reason: reason.map(|r| r.chars().take(500).collect()),
                scopes: scopes.iter().map(|s| ScopeLine { scope: *s, description: s.describe().into() }).collect(),
                tools: if wants_tools || scopes.contains(&Scope::ToolsList) {
                    self.prompt_tools(tools.as_deref())?
                } else {
                    Vec::new()
                },
            };
            offered = self.prompt(site, request, cancel).await?;
        }
        let summary = self.permissions_of(site)?;
        let grant_of = |s: &Scope| summary.scopes.get(s.as_str()).copied().unwrap_or(Grant::NotGranted);
        let allows = |s: &Scope| grant_of(s).allows();
        // A request that named tools is granted only if each was allowed or shown to the user: a
        // request that joined another's prompt was not asked about tools that prompt did not list.
        let got_tools = match (&tools, wants_tools) {
            (Some(asked), true) => asked.iter().all(|t| offered.contains(t) || summary.allowed_tools.contains(t)),
            _ => true,
        };
        let granted = scopes.iter().all(allows) && got_tools;
        let scopes: BTreeMap<String, Grant> = scopes.iter().map(|s| (s.as_str().to_owned(), grant_of(s))).collect();
        Ok(PermissionResult { granted, scopes, allowed_tools: summary.allowed_tools })
    }

    /// Asks the user for `scope` when `site` holds no decision on it yet (a denial is not asked
    /// again); answers whether the site holds it now.
    pub async fn ask_if_undecided(
        &self,
        site: &Site,
        scope: Scope,
        reason: Option<String>,
        cancel: &CancellationToken,
    ) -> Result<bool, ErrorObject> {
        if self.grants.grant(&site.origin, site.tab, scope).map_err(internal)? == Grant::NotGranted {
            self.request_permissions(site, vec![scope], reason, None, cancel).await?;
        }
        Ok(self.grants.grant(&site.origin, site.tab, scope).map_err(internal)?.allows())
    }

    /// Shows `request` to the user and waits for the answer: joins the origin's open prompt, or
    /// waits behind another origin's prompt on the same tab, or opens one — only after a user
    /// gesture, and not while the origin is backing off after dismissals. A prompt nobody answers
    /// expires as dismissed.
    /// Returns the tools the prompt offered.
    async fn prompt(
        &self,
        site: &Site,
        request: PromptRequest,
        cancel: &CancellationToken,
    ) -> Result<Vec<String>, ErrorObject> {
        let aborted = || ErrorObject::new(ErrorCode::Aborted, "the request was cancelled");
        let waiting = loop {
            if let Some(left) = self.prompts.cooling_down(&site.origin) {
                let seconds = left.as_secs().max(1);
                return Err(ErrorObject::new(
                    ErrorCode::PermissionDenied,
                    format!(
                        "the user closed Harbor's prompt for this site; it may ask again in {seconds} s, after a user action"
                    ),
                )
                .with_data(json!({ "reason": "cooling_down", "retryAfterSeconds": seconds })));
            }
            if !site.user_activation && !self.prompts.is_open(&site.origin) {
                return Err(ErrorObject::new(
                    ErrorCode::PermissionDenied,
                    "Harbor asks the user only in answer to a click or key press: call this from an event handler of a \
                     user action",
                )
                .with_data(json!({ "reason": "user_activation_required" })));
            }
            match self.prompts.ask(request.clone()) {
                Asked::Prompt(waiting) => break waiting,
                Asked::Queued(blocker) => tokio::select! {
                    _ = blocker.answer() => {}
                    () = cancel.cancelled() => return Err(aborted()),
                },
            }
        };
        if waiting.is_new {
            self.notifier.publish("permissions.prompt", json!({ "promptId": waiting.id, "origin": site.origin }));
        }
        let id = waiting.id.clone();
        let offered = waiting.offered.clone();
        let expires = Duration::from_secs(self.gate.defaults().map_err(internal)?.prompt_timeout_seconds);
        tokio::select! {
            _ = waiting.answer() => {}
            () = tokio::time::sleep(expires) => {
                // Nobody answered (the window never showed, or was left open): "not now".
                let _ = self.answer(&id, Decision::Dismiss, Vec::new());
            }
            () = cancel.cancelled() => return Err(aborted()),
        }
        Ok(offered)
    }

    /// The tools a prompt lists: the ones asked for, else every running tool.
    fn prompt_tools(&self, asked: Option<&[String]>) -> Result<Vec<PromptTool>, ErrorObject> {
        use harbor_protocol::shown::{visible, visible_name};
        let mut catalog = self.servers.tools(None).map_err(ErrorObject::from)?;
        pipeline::keep_for_models(&mut catalog);
        crate::mcp::registry::flag_imitations(&mut catalog);
        let line = |name: &String, entry: Option<&ToolEntry>| PromptTool {
            name: name.clone(),
            label: visible_name(name),
            description: entry.map_or("(not available now)".into(), |t| visible(&t.description)),
            imitates: entry.and_then(|t| t.imitates.as_deref()).map(visible_name),
            // A tool that imitates another, or hides characters in its name, starts unchecked.
            checked: entry.is_some_and(|t| read_only(t) && t.imitates.is_none())
                && !harbor_protocol::shown::is_suspicious_name(name),
        };
        let listed: Vec<PromptTool> = match asked {
            Some(asked) => asked.iter().map(|name| line(name, catalog.iter().find(|t| &t.name == name))).collect(),
            None => catalog.iter().map(|t| line(&t.name, Some(t))).collect(),
        };
        Ok(listed)
    }

    /// The user's answer to prompt `id`, from the prompt window. Applies it, then wakes the
    /// waiting page calls.
    pub fn answer(&self, id: &str, decision: Decision, tools: Vec<String>) -> Result<(), ErrorObject> {
        let request = self.prompts.get(id).ok_or_else(|| {
            ErrorObject::invalid(format!("there is no open prompt {id:?} (answered or closed already)"))
        })?;
        // Only tools the prompt listed can be granted through it.
        let tools: Vec<String> = tools.into_iter().filter(|t| request.tools.iter().any(|p| &p.name == t)).collect();
        let scopes: Vec<Scope> = request.scopes.iter().map(|s| s.scope).collect();
        match decision {
            Decision::AllowOnce => {
                let ttl = Duration::from_secs(self.gate.defaults().map_err(internal)?.once_ttl_seconds);
                self.pin_tools(&request.origin, &tools)?;
                self.grants.allow_once(&request.origin, request.tab_id.unwrap_or(-1), &scopes, &tools, ttl);
            }
            Decision::AllowAlways => {
                self.pin_tools(&request.origin, &tools)?;
                self.grants.allow_always(&request.origin, &scopes, &tools).map_err(internal)?
            }
            Decision::Deny => self.grants.deny(&request.origin, &scopes).map_err(internal)?,
            Decision::Dismiss => {}
        }
        self.prompts.answer(id, Answer { decision, tools });
        self.changed(&request.origin);
        Ok(())
    }

    /// Tells Harbor's pages that `origin`'s permissions changed.
    pub fn changed(&self, origin: &str) {
        self.notifier.publish("permissions.changed", json!({ "origin": origin }));
    }

    /// `agent.permissions.list`: every scope's grant and the allowed tools.
    pub fn permissions_of(&self, site: &Site) -> Result<Permissions, ErrorObject> {
        let scopes: BTreeMap<String, Grant> = self
            .grants
            .all(&site.origin, site.tab)
            .map_err(internal)?
            .into_iter()
            .map(|(s, g)| (s.as_str().to_owned(), g))
            .collect();
        let mut allowed_tools: Vec<String> =
            self.grants.allowed_tools(&site.origin, site.tab).map_err(internal)?.into_iter().collect();
        allowed_tools.sort();
        Ok(Permissions { origin: site.origin.clone(), scopes, allowed_tools })
    }

    /// The running tools `site` may call: allowed, and as the user approved them (a tool its
    /// server changed since is suspended, see [`pins`]).
    pub fn visible_tools(&self, site: &Site) -> Result<Vec<ToolEntry>, ErrorObject> {
        let allowed = self.grants.allowed_tools(&site.origin, site.tab).map_err(internal)?;
        let mut tools = self.servers.tools(None).map_err(ErrorObject::from)?;
        pipeline::keep_for_models(&mut tools);
        tools.retain(|t| allowed.contains(&t.name));
        let states = self.pin_states(&site.origin, &tools)?;
        tools.retain(|t| states.get(&t.name) == Some(&pinning::Pinned::Same));
        Ok(tools)
    }

    /// `agent.tools.list`: the tools `site` may see, with `mcp:tools.list` — and its own page
    /// tools (WebMCP), as `page/<name>`.
    pub fn listed_tools(&self, site: &Site) -> Result<Vec<ToolEntry>, ErrorObject> {
        self.require(site, Scope::ToolsList)?;
        let mut tools = self.callable_tools(site)?;
        if let Ok(frame) = site.frame() {
            tools.extend(self.page_tools.tools(frame));
        }
        Ok(tools)
    }

    /// Every tool `site` may have its agent call: the allowed ones and its own servers'.
    pub fn callable_tools(&self, site: &Site) -> Result<Vec<ToolEntry>, ErrorObject> {
        let mut tools = self.visible_tools(site)?;
        tools.extend(self.site_tools(site));
        Ok(tools)
    }

    /// The tools of the servers `site` brought to its tab.
    pub fn site_tools(&self, site: &Site) -> Vec<ToolEntry> {
        let mut tools = site.tab.map(|tab| self.site_servers.tools(tab)).unwrap_or_default();
        // Only this origin's: another frame's site in the same tab brought the rest.
        tools.retain(|t| t.page_origin.as_deref() == Some(site.origin.as_str()));
        tools
    }

    /// `agent.tools.call` of one of the page's own tools (`page/<name>`), with
    /// `mcp:tools.call`; it runs in the same frame, so no budget is spent on it.
    pub async fn call_own_tool(
        &self,
        site: &Site,
        tool: &str,
        args: JsonObject,
        cancel: &CancellationToken,
    ) -> Result<Value, ErrorObject> {
        let call = async {
            self.require(site, Scope::ToolsCall)?;
            self.page_tools.call(site.frame()?, Some(&site.origin), tool, args, cancel).await
        };
        self.audited(site, "agent.tools.call", Some(tool), call).await
    }

    /// `ai.providers.list`: the configured model providers (never ones merely found running),
    /// with `model:list`.
    pub async fn providers(&self, site: &Site) -> Result<Vec<crate::llm::config::ProviderStatus>, ErrorObject> {
        self.require(site, Scope::ModelList)?;
        let (providers, _) = self.llm.status().await.map_err(internal)?;
        Ok(providers.into_iter().filter(|p| !p.detected).collect())
    }

    /// `ai.providers.getActive`, with `model:list`.
    pub fn active_provider(&self, site: &Site) -> Result<crate::llm::config::Active, ErrorObject> {
        self.require(site, Scope::ModelList)?;
        Ok(self.llm.settings().map_err(internal)?.active)
    }

    /// A tool call from a page, through the policy pipeline (see [`pipeline`]).
    pub async fn call_tool(
        &self,
        site: &Site,
        method: &str,
        tool: &str,
        args: JsonObject,
        cancel: &CancellationToken,
    ) -> Result<Value, ErrorObject> {
        let limits = match self.gate.limits(&site.origin) {
            Ok(limits) => limits,
            Err(error) => {
                let outcome = Err(ErrorObject::from(PolicyError::Store(error)));
                pipeline::Audit::begin(&self.store, who(site), method, Some(tool)).finish(&outcome);
                return outcome;
            }
        };
        // A direct call needs `mcp:tools.call`; the model's calls inside `agent.run` need what the
        // run needs, `model:tools` — checked again at each call, so a revoked grant stops the next.
        let scope = if method == "agent.run" { Scope::ModelTools } else { Scope::ToolsCall };
        let policy = SitePolicy { host: self, site, limits, scope };
        let asked = pipeline::Asked::new(method, tool, args);
        let outcome = pipeline::call(&self.catalog_for(site.tab), &self.store, &policy, asked, cancel).await;
        // The pages a server wants the user to visit are the user's to see (the sidebar shows
        // them), not the calling site's.
        outcome.map_err(|mut error| {
            if error.code == harbor_protocol::ErrorCode::UrlElicitationRequired {
                error.data = None;
            }
            error
        })
    }

    /// Runs a page call and records it in the audit log, however it ends — also when the call
    /// is cancelled and this future is dropped before it finishes (recorded as `ERR_ABORTED`).
    pub async fn audited<T>(
        &self,
        site: &Site,
        method: &str,
        tool: Option<&str>,
        work: impl std::future::Future<Output = Result<T, ErrorObject>>,
    ) -> Result<T, ErrorObject> {
        let audit = pipeline::Audit::begin(&self.store, who(site), method, tool);
        let outcome = work.await;
        audit.finish(&outcome);
        outcome
    }

    /// A [`ToolRunner`] for `agent.run`: each call the model makes passes the same checks as a
    /// direct call.
    pub fn runner(self: &Arc<Self>, site: Site) -> SiteTools {
        SiteTools { host: self.clone(), site }
    }
}

/// Who a page call is audited as.
fn who(site: &Site) -> pipeline::Who {
    pipeline::Who { kind: AuditCaller::Page, origin: site.origin.clone(), tab: site.tab }
}

/// A web page's policy: the scope its kind of call needs, the site's allowlist and pins, its
/// hourly budget, its slots and its tool timeout; results are screened for keys.
struct SitePolicy<'h> {
    host: &'h Host,
    site: &'h Site,
    limits: limits::Limits,
    scope: Scope,
}

impl pipeline::Policy for SitePolicy<'_> {
    type Slot = tokio::sync::OwnedSemaphorePermit;

    fn who(&self) -> pipeline::Who {
        who(self.site)
    }

    fn scope(&self) -> Result<(), PolicyError> {
        self.host.require(self.site, self.scope).map(drop)
    }

    fn allow(&self, asked: &str, named: Option<&str>, running: Option<&ToolEntry>) -> Result<(), PolicyError> {
        // The allowlist first, by name alone: a site learns nothing about servers it may not use,
        // not even whether they exist.
        // A tool of a server this site brought to this tab needs no allowlist: the user let the
        // site bring exactly that server (nor a pin: the site answers for both ends).
        if running.is_some_and(|t| self.host.site_servers.owns(self.site.tab, &self.site.origin, &t.server_id)) {
            return Ok(());
        }
        let allowed = self.host.grants.allowed_tools(&self.site.origin, self.site.tab)?;
        if !named.is_some_and(|name| allowed.contains(name)) {
            return Err(PolicyError::ToolNotAllowed {
                caller: self.site.origin.clone(),
                tool: asked.to_owned(),
                fix: "the user allows tools per site in Harbor",
            });
        }
        // As the user approved it: a server that changed the tool since gets no call.
        match running {
            Some(entry) => self.host.check_pin(&self.site.origin, entry),
            None => Ok(()),
        }
    }

    async fn admit(&self) -> Result<tokio::sync::OwnedSemaphorePermit, PolicyError> {
        // Dropped unsettled (no slot, or the caller left), the reservation is given back.
        let reservation = self.host.gate.reserve_tool_call(&self.site.origin, &self.limits)?;
        let slot = self.host.gate.slot(&self.site.origin, &self.limits, self.limits.tool_timeout()).await?;
        reservation.settle(1);
        Ok(slot)
    }

    fn timeout(&self) -> Option<Duration> {
        Some(self.limits.tool_timeout())
    }

    fn screen(&self, servers: &Servers, tool: &str, result: &mut Value) {
        // Keys a tool lets slip (a token in a file it read) never reach a web page.
        let found = crate::mcp::redact::redact_patterns(result);
        if let Some((server, name)) = crate::mcp::names::split_namespaced(tool) {
            servers.redacted(server, name, "result to a page", &found);
        }
    }
}

/// The tools of an `agent.run`, seen through the site's permissions.
pub struct SiteTools {
    host: Arc<Host>,
    site: Site,
}

impl ToolRunner for SiteTools {
    fn call<'a>(
        &'a self,
        tool: &'a ToolEntry,
        args: JsonObject,
        cancel: &'a CancellationToken,
        // A page's run gets no progress events: the Web Agent API's run events have none.
        _progress: crate::mcp::client::ProgressSink,
    ) -> BoxFuture<'a, Result<Value, ErrorObject>> {
        self.host.call_tool(&self.site, "agent.run", &tool.name, args, cancel).boxed()
    }
}

fn read_only(tool: &ToolEntry) -> bool {
    let annotations = tool.annotations.as_ref();
    annotations.is_some_and(|a| a["readOnlyHint"] == true && a["destructiveHint"] != true)
}

pub(crate) fn internal(error: anyhow::Error) -> ErrorObject {
    ErrorObject::new(ErrorCode::Internal, format!("{error:#}"))
}
