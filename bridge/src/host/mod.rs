//! The policy core: the one place that says yes or no to a web page.
//!
//! Every page method (`agent.*`, `ai.*`) goes through [`Host`]: the caller's [`Site`] comes from
//! the envelope's caller context, which the background builds from `port.sender`; [`Grants`]
//! say what the site may do (persisted `ALLOW_ALWAYS` / `DENY`, tab-scoped `ALLOW_ONCE`);
//! [`Prompts`] ask the user, one prompt per origin; the [`Gate`] holds limits and budgets; the
//! audit log records each call's metadata (never arguments or results). Tool calls from pages —
//! direct or inside `agent.run` — pass the allowlist, the hourly budget, the per-origin slots and
//! the timeout here, in the bridge.

pub mod grants;
pub mod limits;
pub mod pinning;
pub mod pins;
pub mod prompts;
pub mod run;
pub mod scopes;
pub mod text;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use futures::FutureExt;
use harbor_protocol::{Caller, CallerKind, ErrorCode, ErrorObject};
use rmcp::model::JsonObject;
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use crate::chat::agent::ToolRunner;
use crate::llm::Llm;
use crate::mcp::registry::{Servers, ToolEntry};
use crate::rpc::Notifier;
use crate::store::permissions::AuditEntry;
use crate::store::Store;
use grants::Grants;
use limits::Gate;
use prompts::{Answer, Asked, Decision, PromptRequest, PromptTool, Prompts, ScopeLine};
use scopes::{Grant, Scope};

/// The web page a call comes from.
#[derive(Clone, Debug, PartialEq)]
pub struct Site {
    pub origin: String,
    pub tab: Option<i64>,
    pub top_origin: Option<String>,
    /// The frame had transient user activation when it called (stamped by the content relay).
    pub user_activation: bool,
}

impl Site {
    /// The site of a page caller; anything else may not call page methods.
    pub fn of(caller: &Caller) -> Result<Site, ErrorObject> {
        match (&caller.kind, &caller.origin) {
            (CallerKind::Page, Some(origin)) if origin != "null" && !origin.is_empty() => Ok(Site {
                origin: origin.clone(),
                tab: caller.tab_id,
                top_origin: caller.top_origin.clone(),
                user_activation: caller.user_activation,
            }),
            (CallerKind::Page, _) => Err(ErrorObject::new(
                ErrorCode::PermissionDenied,
                "this page has no origin Harbor can grant permissions to (an opaque or file origin)",
            )),
            _ => Err(ErrorObject::new(
                ErrorCode::InvalidRequest,
                "this method is for web pages; Harbor's own pages use the privileged methods",
            )),
        }
    }
}

pub struct Host {
    pub store: Store,
    pub grants: Grants,
    pub prompts: Prompts,
    pub gate: Gate,
    pub texts: text::TextSessions,
    servers: Arc<Servers>,
    llm: Arc<Llm>,
    notifier: Notifier,
}

impl Host {
    pub fn new(store: Store, servers: Arc<Servers>, llm: Arc<Llm>, notifier: Notifier) -> Host {
        Host {
            grants: Grants::new(store.clone()),
            prompts: Prompts::default(),
            gate: Gate::new(store.clone()),
            texts: text::TextSessions::default(),
            store,
            servers,
            llm,
            notifier,
        }
    }

    pub fn llm(&self) -> &Arc<Llm> {
        &self.llm
    }

    /// Passes when `site` holds `scope`: `ERR_PERMISSION_DENIED` when denied, else
    /// `ERR_SCOPE_REQUIRED` with how to ask.
    pub fn require(&self, site: &Site, scope: Scope) -> Result<Grant, ErrorObject> {
        match self.grants.grant(&site.origin, site.tab, scope).map_err(internal)? {
            grant if grant.allows() => Ok(grant),
            Grant::Deny => Err(ErrorObject::new(
                ErrorCode::PermissionDenied,
                format!(
                    "the user denied {} to {}; only they can change that, in Harbor's sidebar",
                    scope.as_str(),
                    site.origin
                ),
            )),
            _ => Err(ErrorObject::new(
                ErrorCode::ScopeRequired,
                format!(
                    "this needs the {} permission: call agent.requestPermissions({{ scopes: [\"{}\"] }}) first",
                    scope.as_str(),
                    scope.as_str()
                ),
            )
            .with_data(json!({ "scope": scope }))),
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
    ) -> Result<Value, ErrorObject> {
        if scopes.is_empty() {
            return Err(ErrorObject::new(ErrorCode::InvalidRequest, "requestPermissions needs at least one scope"));
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
                scopes: scopes.iter().map(|s| ScopeLine { scope: *s, description: s.describe() }).collect(),
                tools: if wants_tools || scopes.contains(&Scope::ToolsList) {
                    self.prompt_tools(tools.as_deref())?
                } else {
                    Vec::new()
                },
            };
            offered = self.prompt(site, request, cancel).await?;
        }
        let summary = self.permissions_of(site)?;
        let allows = |s: &Scope| matches!(summary["scopes"][s.as_str()].as_str(), Some("ALLOW_ONCE" | "ALLOW_ALWAYS"));
        // A request that named tools is granted only if each was allowed or shown to the user: a
        // request that joined another's prompt was not asked about tools that prompt did not list.
        let got_tools = match (&tools, wants_tools) {
            (Some(asked), true) => asked.iter().all(|t| {
                offered.contains(t) || summary["allowedTools"].as_array().is_some_and(|a| a.iter().any(|x| x == t))
            }),
            _ => true,
        };
        let granted = scopes.iter().all(allows) && got_tools;
        let scopes: BTreeMap<&str, Value> =
            scopes.iter().map(|s| (s.as_str(), summary["scopes"][s.as_str()].clone())).collect();
        Ok(json!({ "granted": granted, "scopes": scopes, "allowedTools": summary["allowedTools"] }))
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
        let mut catalog = self.servers.tools(None).map_err(crate::methods::error)?;
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
            ErrorObject::new(
                ErrorCode::InvalidRequest,
                format!("there is no open prompt {id:?} (answered or closed already)"),
            )
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
    pub fn permissions_of(&self, site: &Site) -> Result<Value, ErrorObject> {
        let scopes: BTreeMap<&str, Grant> = self
            .grants
            .all(&site.origin, site.tab)
            .map_err(internal)?
            .into_iter()
            .map(|(s, g)| (s.as_str(), g))
            .collect();
        let mut tools: Vec<String> =
            self.grants.allowed_tools(&site.origin, site.tab).map_err(internal)?.into_iter().collect();
        tools.sort();
        Ok(json!({ "origin": site.origin, "scopes": scopes, "allowedTools": tools }))
    }

    /// The running tools `site` may call: allowed, and as the user approved them (a tool its
    /// server changed since is suspended, see [`pins`]).
    pub fn visible_tools(&self, site: &Site) -> Result<Vec<ToolEntry>, ErrorObject> {
        let allowed = self.grants.allowed_tools(&site.origin, site.tab).map_err(internal)?;
        let mut tools = self.servers.tools(None).map_err(crate::methods::error)?;
        tools.retain(|t| allowed.contains(&t.name));
        let states = self.pin_states(&site.origin, &tools)?;
        tools.retain(|t| states.get(&t.name) == Some(&pinning::Pinned::Same));
        Ok(tools)
    }

    /// A tool call from a page: allowlist, hourly budget, a slot among the origin's concurrent
    /// calls, the timeout, usage and audit.
    pub async fn call_tool(
        &self,
        site: &Site,
        method: &str,
        tool: &str,
        args: JsonObject,
        cancel: &CancellationToken,
    ) -> Result<Value, ErrorObject> {
        self.audited(site, method, Some(tool), self.guarded_call(site, tool, args, cancel)).await
    }

    async fn guarded_call(
        &self,
        site: &Site,
        tool: &str,
        args: JsonObject,
        cancel: &CancellationToken,
    ) -> Result<Value, ErrorObject> {
        // The allowlist first, by name alone: a site learns nothing about servers it may not use,
        // not even whether they exist.
        let allowed = self.grants.allowed_tools(&site.origin, site.tab).map_err(internal)?;
        let catalog = self.servers.tools(None).map_err(crate::methods::error)?;
        let canonical = match crate::mcp::names::split_namespaced(tool) {
            Some(_) => Some(tool.to_owned()),
            None => catalog.iter().find(|t| t.model_name == tool).map(|t| t.name.clone()),
        };
        let Some(canonical) = canonical.filter(|c| allowed.contains(c)) else {
            return Err(ErrorObject::new(
                ErrorCode::ToolNotAllowed,
                format!("{} may not use {tool}; the user allows tools per site in Harbor", site.origin),
            ));
        };
        // As the user approved it: a server that changed the tool since gets no call.
        if let Some(entry) = catalog.iter().find(|t| t.name == canonical) {
            self.check_pin(&site.origin, entry)?;
        }
        let limits = self.gate.limits(&site.origin).map_err(internal)?;
        // Reserved before the wait for a slot, so concurrent calls cannot all pass the budget.
        let reservation = self.gate.reserve_tool_call(&site.origin, &limits)?;
        let _slot = tokio::select! {
            slot = self.gate.slot(&site.origin, &limits, limits.tool_timeout()) => slot?,
            () = cancel.cancelled() => return Err(ErrorObject::new(ErrorCode::Aborted, "the call was cancelled")),
        };
        reservation.settle(1);
        let mut result = self
            .servers
            .call_tool(&canonical, Some(args), Some(limits.tool_timeout()), cancel, None)
            .await
            .map_err(crate::methods::error)?;
        // Keys a tool lets slip (a token in a file it read) never reach a web page.
        let found = crate::mcp::redact::redact_patterns(&mut result);
        if let Some((server, tool)) = crate::mcp::names::split_namespaced(&canonical) {
            self.servers.redacted(server, tool, "result to a page", &found);
        }
        Ok(result)
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
        let mut pending = PendingAudit { host: self, site, method, tool, started: Instant::now(), done: false };
        let outcome = work.await;
        pending.done = true;
        self.audit(site, method, tool, &outcome, pending.started);
        outcome
    }

    /// Records a page call's metadata: who, what, when, how it ended, how long it took.
    pub fn audit<T>(
        &self,
        site: &Site,
        method: &str,
        tool: Option<&str>,
        outcome: &Result<T, ErrorObject>,
        started: Instant,
    ) {
        let entry = AuditEntry {
            at: crate::store::now(),
            origin: site.origin.clone(),
            tab_id: site.tab,
            method: method.to_owned(),
            tool: tool.map(str::to_owned),
            outcome: match outcome {
                Ok(_) => "ok".into(),
                Err(error) => error.code.as_str().into(),
            },
            duration_ms: started.elapsed().as_millis() as i64,
        };
        if let Err(error) = self.store.record_audit(&entry) {
            tracing::warn!("cannot write the audit log: {error:#}");
        }
    }

    /// A [`ToolRunner`] for `agent.run`: each call the model makes passes the same checks as a
    /// direct call.
    pub fn runner(self: &Arc<Self>, site: Site) -> PageTools {
        PageTools { host: self.clone(), site }
    }
}

/// The audit record of a page call still running: written as aborted if the call is dropped.
struct PendingAudit<'a> {
    host: &'a Host,
    site: &'a Site,
    method: &'a str,
    tool: Option<&'a str>,
    started: Instant,
    done: bool,
}

impl Drop for PendingAudit<'_> {
    fn drop(&mut self) {
        if !self.done {
            let aborted: Result<(), ErrorObject> = Err(ErrorObject::new(ErrorCode::Aborted, "cancelled"));
            self.host.audit(self.site, self.method, self.tool, &aborted, self.started);
        }
    }
}

/// The tools of an `agent.run`, seen through the site's permissions.
pub struct PageTools {
    host: Arc<Host>,
    site: Site,
}

impl ToolRunner for PageTools {
    fn call<'a>(
        &'a self,
        tool: &'a ToolEntry,
        args: JsonObject,
        cancel: &'a CancellationToken,
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
