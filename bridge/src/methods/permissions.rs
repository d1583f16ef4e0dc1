//! The permission methods for Harbor's own pages: the prompt window reads and answers prompts;
//! the background reports closed tabs; the sidebar lists sites and changes their grants, tools,
//! limits and budgets, and reads the audit log.

use std::sync::Arc;

use harbor_protocol::api::permissions::{self as api, Grant, OnceGrant, SiteSummary, SiteUsage};
use harbor_protocol::api::Empty;
use harbor_protocol::ErrorObject;

use super::Area;
use crate::host::limits::{TOKENS, TOOL_CALL};
use crate::host::scopes::Scope;
use crate::host::{internal, Host, Site};
use crate::rpc::Router;

/// One site as the sidebar shows it.
fn site_summary(host: &Host, origin: &str) -> Result<SiteSummary, ErrorObject> {
    let site = Site { origin: origin.to_owned(), tab: None, top_origin: None, frame: None, user_activation: false };
    let allowed: Vec<String> = host.store.allowed_tools(origin).map_err(internal)?;
    Ok(SiteSummary {
        permissions: host.permissions_of(&site)?,
        limits: host.gate.limits(origin).map_err(internal)?,
        once: host
            .grants
            .once_grants(origin)
            .into_iter()
            .map(|(tab_id, scopes, tools, expires_in_seconds)| OnceGrant { tab_id, scopes, tools, expires_in_seconds })
            .collect(),
        usage: SiteUsage {
            tool_calls_this_hour: host.store.usage_since(origin, TOOL_CALL, 3600).map_err(internal)?,
            tokens_today: host.store.usage_since(origin, TOKENS, 86_400).map_err(internal)?,
        },
        changed_tools: host.changed_tools(origin, &allowed)?,
    })
}

/// Registers `permissions.*` and `audit.list`.
pub fn routes(router: Router, host: Arc<Host>) -> Router {
    Area::new(router, host)
        .on::<api::PermissionsPromptGet, _>(|host, p, _| async move {
            host.prompts
                .get(&p.prompt_id)
                .ok_or_else(|| ErrorObject::invalid(format!("there is no open prompt {:?}", p.prompt_id)))
        })
        .on::<api::PermissionsPrompts, _>(|host, _, _| async move { Ok(host.prompts.list()) })
        .on::<api::PermissionsAnswer, _>(|host, p, _| async move {
            host.answer(&p.prompt_id, p.decision, p.tools)?;
            Ok(api::Answered { answered: p.prompt_id })
        })
        .on::<api::PermissionsTabClosed, _>(|host, p, _| async move {
            host.grants.tab_closed(p.tab_id);
            host.page_tools.forget_tab(p.tab_id);
            host.site_chats.forget_tab(p.tab_id);
            host.changed("");
            Ok(Empty {})
        })
        .on::<api::PermissionsSites, _>(|host, _, _| async move {
            let mut origins = host.store.known_origins().map_err(internal)?;
            origins.extend(host.grants.once_origins());
            origins.sort();
            origins.dedup();
            origins.iter().map(|o| site_summary(&host, o)).collect()
        })
        .on::<api::PermissionsSet, _>(|host, p, _| async move {
            match p.grant {
                Grant::AllowAlways => host.grants.allow_always(&p.origin, &[p.scope], &[]).map_err(internal)?,
                Grant::Deny => host.grants.deny(&p.origin, &[p.scope]).map_err(internal)?,
                _ => {
                    return Err(ErrorObject::invalid(
                        "permissions.set takes ALLOW_ALWAYS or DENY; use permissions.clear to forget a decision",
                    ))
                }
            }
            host.changed(&p.origin);
            site_summary(&host, &p.origin)
        })
        .on::<api::PermissionsClear, _>(|host, p, _| async move {
            host.store.clear_grants(&p.origin, p.scope.map(Scope::as_str)).map_err(internal)?;
            if p.scope.is_none() {
                host.store.set_allowed_tools(&p.origin, &[]).map_err(internal)?;
                host.grants.forget_once(&p.origin);
                host.store.keep_tool_pins(&p.origin, &[]).map_err(internal)?;
            }
            host.changed(&p.origin);
            site_summary(&host, &p.origin)
        })
        .on::<api::PermissionsSetTools, _>(|host, p, _| async move {
            host.pin_new_tools(&p.origin, &p.tools)?;
            host.store.set_allowed_tools(&p.origin, &p.tools).map_err(internal)?;
            host.changed(&p.origin);
            site_summary(&host, &p.origin)
        })
        .on::<api::PermissionsApproveTool, _>(|host, p, _| async move {
            let allowed = host.grants.allowed_tools(&p.origin, None).map_err(internal)?;
            let once = host.grants.once_grants(&p.origin).into_iter().any(|(_, _, tools, _)| tools.contains(&p.tool));
            if !allowed.contains(&p.tool) && !once {
                return Err(ErrorObject::invalid(format!("{} is not allowed {}; allow it first", p.origin, p.tool)));
            }
            host.pin_tools(&p.origin, std::slice::from_ref(&p.tool))?;
            host.changed(&p.origin);
            site_summary(&host, &p.origin)
        })
        .on::<api::PermissionsSetLimits, _>(|host, p, _| async move {
            p.limits.check().map_err(ErrorObject::invalid)?;
            host.store.set_origin_limits(&p.origin, &p.limits).map_err(internal)?;
            host.changed(&p.origin);
            site_summary(&host, &p.origin)
        })
        .on::<api::PermissionsDefaultsGet, _>(|host, _, _| async move { host.gate.defaults().map_err(internal) })
        .on::<api::PermissionsDefaultsSet, _>(|host, defaults, _| async move {
            host.gate.set_defaults(&defaults).map_err(ErrorObject::invalid)?;
            Ok(defaults)
        })
        .on::<api::AuditList, _>(|host, p, _| async move {
            host.store.audit(p.origin.as_deref(), p.limit.unwrap_or(200).min(5000)).map_err(internal)
        })
        .done()
}
