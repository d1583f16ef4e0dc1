//! The permission methods for Harbor's own pages: the prompt window reads and answers prompts;
//! the background reports closed tabs; the sidebar lists sites and changes their grants, tools,
//! limits and budgets, and reads the audit log.

use std::sync::Arc;

use serde::Deserialize;
use serde_json::{json, Value};

use super::{invalid, params, to_value, with};
use crate::host::limits::{Defaults, Limits, TOKENS, TOOL_CALL};
use crate::host::prompts::Decision;
use crate::host::scopes::{Grant, Scope};
use crate::host::{internal, Host, Site};
use crate::rpc::{Access, Router};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PromptId {
    prompt_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct AnswerParams {
    prompt_id: String,
    decision: Decision,
    #[serde(default)]
    tools: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TabParams {
    tab_id: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SetParams {
    origin: String,
    scope: String,
    grant: Grant,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClearParams {
    origin: String,
    scope: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ToolsParams {
    origin: String,
    tools: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ApproveParams {
    origin: String,
    tool: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitsParams {
    origin: String,
    limits: Limits,
}

#[derive(Deserialize)]
struct AuditParams {
    origin: Option<String>,
    limit: Option<usize>,
}

fn scope(name: &str) -> Result<Scope, harbor_protocol::ErrorObject> {
    Scope::parse(name).ok_or_else(|| invalid(format!("unknown scope {name:?}")))
}

/// One site as the sidebar shows it.
fn site_summary(host: &Host, origin: &str) -> Result<Value, harbor_protocol::ErrorObject> {
    let site = Site { origin: origin.to_owned(), tab: None, top_origin: None, user_activation: false };
    let mut summary = host.permissions_of(&site)?;
    let limits = host.gate.limits(origin).map_err(internal)?;
    let calls = host.store.usage_since(origin, TOOL_CALL, 3600).map_err(internal)?;
    let tokens = host.store.usage_since(origin, TOKENS, 86_400).map_err(internal)?;
    summary["limits"] = json!(limits);
    let once: Vec<Value> = host
        .grants
        .once_grants(origin)
        .into_iter()
        .map(|(tab, scopes, tools, left)| json!({"tabId": tab, "scopes": scopes, "tools": tools, "expiresInSeconds": left}))
        .collect();
    summary["once"] = Value::Array(once);
    summary["usage"] = json!({ "toolCallsThisHour": calls, "tokensToday": tokens });
    let allowed: Vec<String> = host.store.allowed_tools(origin).map_err(internal)?;
    summary["changedTools"] = Value::Array(host.changed_tools(origin, &allowed)?);
    Ok(summary)
}

/// Registers `permissions.*` and `audit.list`.
pub fn routes(router: Router, host: Arc<Host>) -> Router {
    let h = host;
    router
        .route(
            "permissions.prompt.get",
            Access::Extension,
            with(&h, |host, call| async move {
                let p: PromptId = params("permissions.prompt.get", call.params)?;
                let request = host
                    .prompts
                    .get(&p.prompt_id)
                    .ok_or_else(|| invalid(format!("there is no open prompt {:?}", p.prompt_id)))?;
                to_value(request)
            }),
        )
        .route(
            "permissions.prompts",
            Access::Extension,
            with(&h, |host, _call| async move { to_value(host.prompts.list()) }),
        )
        .route(
            "permissions.answer",
            Access::Extension,
            with(&h, |host, call| async move {
                let p: AnswerParams = params("permissions.answer", call.params)?;
                host.answer(&p.prompt_id, p.decision, p.tools)?;
                Ok(json!({ "answered": p.prompt_id }))
            }),
        )
        .route(
            "permissions.tabClosed",
            Access::Extension,
            with(&h, |host, call| async move {
                let p: TabParams = params("permissions.tabClosed", call.params)?;
                host.grants.tab_closed(p.tab_id);
                host.changed("");
                Ok(json!({}))
            }),
        )
        .route(
            "permissions.sites",
            Access::Extension,
            with(&h, |host, _call| async move {
                let mut origins = host.store.known_origins().map_err(internal)?;
                origins.extend(host.grants.once_origins());
                origins.sort();
                origins.dedup();
                let sites: Result<Vec<Value>, _> = origins.iter().map(|o| site_summary(&host, o)).collect();
                Ok(Value::Array(sites?))
            }),
        )
        .route(
            "permissions.set",
            Access::Extension,
            with(&h, |host, call| async move {
                let p: SetParams = params("permissions.set", call.params)?;
                let scope = scope(&p.scope)?;
                match p.grant {
                    Grant::AllowAlways => host.grants.allow_always(&p.origin, &[scope], &[]).map_err(internal)?,
                    Grant::Deny => host.grants.deny(&p.origin, &[scope]).map_err(internal)?,
                    _ => {
                        return Err(invalid(
                            "permissions.set takes ALLOW_ALWAYS or DENY; use permissions.clear to forget a decision",
                        ))
                    }
                }
                host.changed(&p.origin);
                site_summary(&host, &p.origin)
            }),
        )
        .route(
            "permissions.clear",
            Access::Extension,
            with(&h, |host, call| async move {
                let p: ClearParams = params("permissions.clear", call.params)?;
                let scope = p.scope.as_deref().map(scope).transpose()?;
                host.store.clear_grants(&p.origin, scope.map(Scope::as_str)).map_err(internal)?;
                if scope.is_none() {
                    host.store.set_allowed_tools(&p.origin, &[]).map_err(internal)?;
                    host.grants.forget_once(&p.origin);
                    host.store.keep_tool_pins(&p.origin, &[]).map_err(internal)?;
                }
                host.changed(&p.origin);
                site_summary(&host, &p.origin)
            }),
        )
        .route(
            "permissions.setTools",
            Access::Extension,
            with(&h, |host, call| async move {
                let p: ToolsParams = params("permissions.setTools", call.params)?;
                host.pin_new_tools(&p.origin, &p.tools)?;
                host.store.set_allowed_tools(&p.origin, &p.tools).map_err(internal)?;
                host.changed(&p.origin);
                site_summary(&host, &p.origin)
            }),
        )
        .route(
            "permissions.approveTool",
            Access::Extension,
            with(&h, |host, call| async move {
                let p: ApproveParams = params("permissions.approveTool", call.params)?;
                let allowed = host.grants.allowed_tools(&p.origin, None).map_err(internal)?;
                let once =
                    host.grants.once_grants(&p.origin).into_iter().any(|(_, _, tools, _)| tools.contains(&p.tool));
                if !allowed.contains(&p.tool) && !once {
                    return Err(invalid(format!("{} is not allowed {}; allow it first", p.origin, p.tool)));
                }
                host.pin_tools(&p.origin, std::slice::from_ref(&p.tool))?;
                host.changed(&p.origin);
                site_summary(&host, &p.origin)
            }),
        )
        .route(
            "permissions.setLimits",
            Access::Extension,
            with(&h, |host, call| async move {
                let p: LimitsParams = params("permissions.setLimits", call.params)?;
                p.limits.check().map_err(invalid)?;
                host.store.set_origin_limits(&p.origin, &p.limits).map_err(internal)?;
                host.changed(&p.origin);
                site_summary(&host, &p.origin)
            }),
        )
        .route(
            "permissions.defaults.get",
            Access::Extension,
            with(&h, |host, _call| async move { to_value(host.gate.defaults().map_err(internal)?) }),
        )
        .route(
            "permissions.defaults.set",
            Access::Extension,
            with(&h, |host, call| async move {
                let defaults: Defaults = params("permissions.defaults.set", call.params)?;
                host.gate.set_defaults(&defaults).map_err(invalid)?;
                to_value(defaults)
            }),
        )
        .route(
            "audit.list",
            Access::Extension,
            with(&h, |host, call| async move {
                let p: AuditParams = params("audit.list", call.params)?;
                to_value(host.store.audit(p.origin.as_deref(), p.limit.unwrap_or(200).min(5000)).map_err(internal)?)
            }),
        )
}
