//! The one policy pipeline every tool call passes, whoever makes it — a web page (directly or
//! inside `agent.run`), the sidebar's chat, or an app through the gateway:
//!
//! scope → allowlist and pin → budget reservation → concurrency slot → the call, with its
//! timeout → screening of the result → audit.
//!
//! Each kind of caller is a [`Policy`]: the steps and their order are the same for all of them,
//! only what each step consults differs (a site's grants and limits, a client's allowlist and
//! rate, nothing for the user's own chat). The audit record is written however the call ends,
//! also when it is cancelled and the future dropped (recorded as `ERR_ABORTED`), and names the
//! caller's kind.

use crate::telemetry::{Kind, Span};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use futures::FutureExt;

use harbor_protocol::api::permissions::{AuditCaller, AuditEntry};
use harbor_protocol::{ErrorCode, ErrorObject};
use rmcp::model::JsonObject;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::policy::PolicyError;
use crate::mcp::askers::{Asker, Waiter};
use crate::mcp::client::ProgressSink;
use crate::mcp::error::HostError;
use crate::mcp::registry::{Servers, ToolEntry};

use crate::store::Store;

/// Where a caller's tools are found and called: the registry, or the registry and the servers
/// a tab's site brought (`site_servers::TabCatalog`).
pub trait Catalog: Sync {
    fn registry(&self) -> &Servers;

    /// The running tool `asked` names.
    fn lookup(&self, asked: &str) -> Option<ToolEntry> {
        self.registry().lookup(asked)
    }

    /// Calls the tool named `tool` (namespaced); its server's progress reports go to `progress`.
    fn call<'a>(
        &'a self,
        tool: &'a str,
        args: JsonObject,
        timeout: Option<Duration>,
        cancel: &'a CancellationToken,
        progress: Option<ProgressSink>,
    ) -> BoxFuture<'a, Result<Value, HostError>> {
        self.registry().call_tool(tool, Some(args), timeout, cancel, progress).boxed()
    }
}

impl Catalog for Servers {
    fn registry(&self) -> &Servers {
        self
    }
}

/// Who a call is audited as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Who {
    pub kind: AuditCaller,
    /// The site's origin, `gateway:<client>`, or `sidebar`.
    pub origin: String,
    pub tab: Option<i64>,
}

impl Who {
    /// The caller as the user reads it: a site's origin, `Harbor's chat`, or an app's name.
    pub fn label(&self) -> String {
        match self.kind {
            AuditCaller::Page => self.origin.clone(),
            AuditCaller::Chat => "Harbor's chat".into(),
            AuditCaller::Gateway => self.origin.strip_prefix("gateway:").unwrap_or(&self.origin).to_owned(),
            AuditCaller::View => format!("{}'s app", self.origin.strip_prefix("app:").unwrap_or(&self.origin)),
        }
    }
}

/// What one kind of caller may do, step by step.
pub trait Policy: Sync {
    /// What steps 3 and 4 hold until the call ends.
    type Slot: Send;

    fn who(&self) -> Who;

    /// Step 1: the scope the caller needs for calling tools at all.
    fn scope(&self) -> Result<(), PolicyError> {
        Ok(())
    }

    /// Step 2: whether this caller may call `named` (the tool's namespaced name) as it is now —
    /// allowlist, then pin; `running` is the tool when its server runs.
    fn allow(&self, asked: &str, named: Option<&str>, running: Option<&ToolEntry>) -> Result<(), PolicyError>;

    /// Step 2 too: whom the caller speaks for, against a tool's MCP App visibility
    /// (`_meta.ui.visibility`): a tool only its server's views may call is no model's to call.
    fn audience(&self) -> Audience {
        Audience::Model
    }

    /// Steps 3 and 4: a budget reservation (or a count against a rate), taken *before* waiting
    /// for a slot among the caller's calls in flight, so concurrent calls cannot all pass the
    /// budget; it counts as used once the slot is there, and is given back if none comes.
    fn admit(&self) -> impl Future<Output = Result<Self::Slot, PolicyError>> + Send;

    /// Step 5: the call's timeout (the server's own when `None`).
    fn timeout(&self) -> Option<Duration> {
        None
    }

    /// Step 6: what of the result may reach this caller.
    fn screen(&self, _servers: &Servers, _tool: &str, _result: &mut Value) {}

    /// After the call, however it ended (traffic counters).
    fn finished(&self, _outcome: &Result<Value, ErrorObject>) {}
}

/// Whom a caller speaks for, as MCP Apps' tool visibility reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Audience {
    /// A model (the chat, a page and its agent): tools visible to the model.
    Model,
    /// A view of `server`'s App: that server's tools visible to apps.
    App { server: String },
    /// Another MCP host (a gateway app), which applies the visibility itself.
    Any,
}

impl Audience {
    /// Whether this audience may call `tool`; if not, what the refusal tells the caller.
    pub fn admits(&self, tool: &ToolEntry) -> Result<(), &'static str> {
        let ui = tool.ui.as_ref();
        match self {
            Audience::Any => Ok(()),
            Audience::Model if ui.is_none_or(|ui| ui.for_model()) => Ok(()),
            Audience::Model => Err("its server offers it only to its own app views, not to models"),
            Audience::App { server } if *server != tool.server_id => {
                Err("an app view may call only its own server's tools")
            }
            Audience::App { .. } if ui.is_none_or(|ui| ui.for_app()) => Ok(()),
            Audience::App { .. } => Err("its server offers it only to models, not to app views"),
        }
    }
}

/// Leaves out the tools only their servers' app views may call: what a model is offered.
pub fn keep_for_models(tools: &mut Vec<ToolEntry>) {
    tools.retain(|tool| Audience::Model.admits(tool).is_ok());
}

/// One tool call as its caller asked for it.
pub struct Asked<'a> {
    /// What the audit names the call (`agent.tools.call`, `tools/call`, …).
    pub method: &'a str,
    /// The tool, as the caller named it.
    pub tool: &'a str,
    pub args: JsonObject,
    /// Where the server's progress reports go, if the caller wants them.
    pub progress: Option<ProgressSink>,
    /// How the caller answers the server's own requests itself, if it does (see `mcp::askers`).
    pub asker: Option<Arc<dyn Asker>>,
}

impl<'a> Asked<'a> {
    pub fn new(method: &'a str, tool: &'a str, args: JsonObject) -> Asked<'a> {
        Asked { method, tool, args, progress: None, asker: None }
    }
}

/// Calls the tool `asked` names for the caller `policy` describes, through every step, and
/// audits it.
pub async fn call<P: Policy>(
    servers: &impl Catalog,
    store: &Store,
    policy: &P,
    asked: Asked<'_>,
    cancel: &CancellationToken,
) -> Result<Value, ErrorObject> {
    let mut audit = Audit::begin(store, policy.who(), asked.method, Some(asked.tool));
    let outcome = steps(servers, policy, asked, cancel, &mut audit).await.map_err(ErrorObject::from);
    audit.finish(&outcome);
    policy.finished(&outcome);
    outcome
}

async fn steps<P: Policy>(
    servers: &impl Catalog,
    policy: &P,
    Asked { tool: asked, args, progress, asker, .. }: Asked<'_>,
    cancel: &CancellationToken,
    audit: &mut Audit<'_>,
) -> Result<Value, PolicyError> {
    // When the call is traced: the policy's steps are one span, the server's answer another.
    let mut checking = Span::child(format_args!("harbor.policy"), Kind::Internal);
    policy.scope()?;
    let running = servers.lookup(asked);
    let named = match &running {
        Some(tool) => Some(tool.name.clone()),
        None => crate::mcp::names::split_namespaced(asked).map(|_| asked.to_owned()),
    };
    // Audited under its namespaced name, also when it is refused.
    if let Some(named) = &named {
        audit.tool = Some(named.clone());
    }
    policy.allow(asked, named.as_deref(), running.as_ref())?;
    if let Some(tool) = &running {
        policy.audience().admits(tool).map_err(|fix| PolicyError::ToolNotAllowed {
            caller: policy.who().label(),
            tool: tool.name.clone(),
            fix,
        })?;
    }
    let tool = named.unwrap_or_else(|| asked.to_owned());
    // While the call runs, its server's own requests go to the caller when it answers them,
    // else to the user, who reads whom the call runs for.
    let _waiting = running
        .as_ref()
        .map(|t| servers.registry().askers().register(&t.server_id, Waiter { who: policy.who().label(), asker }));
    let _slot = tokio::select! {
        slot = policy.admit() => slot?,
        () = cancel.cancelled() => return Err(PolicyError::Aborted),
    };
    if let Some(checking) = checking.as_mut() {
        checking.set("harbor.outcome", "allowed");
    }
    drop(checking);
    let mut calling = Span::child(format_args!("tools/call {tool}"), Kind::Client);
    if let Some(calling) = calling.as_mut() {
        calling.set("gen_ai.tool.name", tool.as_str());
        calling.set("mcp.method.name", "tools/call");
    }
    let trace = calling.as_ref().map(Span::context);
    let called = crate::telemetry::within(trace, servers.call(&tool, args, policy.timeout(), cancel, progress)).await;
    if let (Some(calling), Err(_)) = (calling.as_mut(), &called) {
        // The code is the tool-call span's, one up; this one says where it failed.
        calling.fail("the server's call failed");
    }
    let mut result = called?;
    policy.screen(servers.registry(), &tool, &mut result);
    Ok(result)
}

/// The audit record of a call still running: written when it finishes, or as aborted when it
/// is dropped first.
pub struct Audit<'a> {
    store: &'a Store,
    who: Who,
    method: String,
    /// The tool as resolved (as asked until then).
    pub tool: Option<String>,
    started: Instant,
    done: bool,
}

impl<'a> Audit<'a> {
    pub fn begin(store: &'a Store, who: Who, method: &str, tool: Option<&str>) -> Audit<'a> {
        Audit {
            store,
            who,
            method: method.to_owned(),
            tool: tool.map(str::to_owned),
            started: Instant::now(),
            done: false,
        }
    }

    pub fn finish<T>(mut self, outcome: &Result<T, ErrorObject>) {
        self.done = true;
        self.write(match outcome {
            Ok(_) => "ok",
            Err(error) => error.code.as_str(),
        });
    }

    fn write(&self, outcome: &str) {
        let entry = AuditEntry {
            at: crate::store::now(),
            caller: self.who.kind,
            origin: self.who.origin.clone(),
            tab_id: self.who.tab,
            method: self.method.clone(),
            tool: self.tool.clone(),
            outcome: outcome.to_owned(),
            duration_ms: self.started.elapsed().as_millis() as i64,
        };
        if let Err(error) = self.store.record_audit(&entry) {
            tracing::warn!("cannot write the audit log: {error:#}");
        }
    }
}

impl Drop for Audit<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.write(ErrorCode::Aborted.as_str());
        }
    }
}

/// The user's own chat in the sidebar: every running tool, no budget, audited as `sidebar`.
pub struct Chat;

impl Policy for Chat {
    type Slot = ();

    fn who(&self) -> Who {
        Who { kind: AuditCaller::Chat, origin: "sidebar".into(), tab: None }
    }

    fn allow(&self, asked: &str, named: Option<&str>, _running: Option<&ToolEntry>) -> Result<(), PolicyError> {
        known(asked, named)
    }

    async fn admit(&self) -> Result<(), PolicyError> {
        Ok(())
    }
}

/// Step 2 for a caller that may call any tool there is (the user's own chat, an app's view):
/// only that there is one.
pub fn known(asked: &str, named: Option<&str>) -> Result<(), PolicyError> {
    match named {
        Some(_) => Ok(()),
        None => Err(PolicyError::Host(HostError::NotFound(format!("no running server has a tool {asked:?}")))),
    }
}
