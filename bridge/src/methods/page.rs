//! The page API's methods (`agent.*`, `ai.*`), the only methods web pages may call besides
//! `system.*` and WebMCP's `webmcp.*` (see `methods::webmcp`). Each decodes its params and hands the call to the [`Host`], which decides: scopes,
//! allowlists, budgets and audit are all the host's (see `host::pipeline`); no handler here checks
//! a permission itself.

use std::sync::Arc;

use harbor_protocol::api::page::{self as api, Availability};
use harbor_protocol::api::Empty;
use harbor_protocol::ErrorObject;

use super::Area;
use crate::host::page_tools::PAGE_SERVER;
use crate::host::run::RunRequest;
use crate::host::scopes::Scope;
use crate::host::{text, Host, Site};
use crate::mcp::names;
use crate::rpc::Router;

fn scopes(names: &[String]) -> Result<Vec<Scope>, ErrorObject> {
    names
        .iter()
        .map(|name| {
            Scope::parse(name).ok_or_else(|| {
                let known: Vec<&str> = Scope::ALL.iter().map(|s| s.as_str()).collect();
                ErrorObject::invalid(format!("unknown scope {name:?}; the scopes are {}", known.join(", ")))
            })
        })
        .collect()
}

/// Registers `agent.*` and `ai.*`.
pub fn routes(router: Router, host: Arc<Host>) -> Router {
    Area::new(router, host)
        .on::<api::AgentRequestPermissions, _>(|host, p, call| async move {
            let site = Site::of(&call.caller)?;
            host.request_permissions(&site, scopes(&p.scopes)?, p.reason, p.tools, &call.cancel).await
        })
        .on::<api::AgentPermissionsList, _>(
            |host, _, call| async move { host.permissions_of(&Site::of(&call.caller)?) },
        )
        .on::<api::AgentToolsList, _>(|host, _, call| async move {
            let site = Site::of(&call.caller)?;
            Ok(host.listed_tools(&site)?.into_iter().map(api::PageTool::from).collect())
        })
        .on::<api::AgentToolsCall, _>(|host, p, call| async move {
            let site = Site::of(&call.caller)?;
            let args = p.args.unwrap_or_default();
            if names::split_namespaced(&p.tool).is_some_and(|(server, _)| server == PAGE_SERVER) {
                return host.call_own_tool(&site, &p.tool, args, &call.cancel).await;
            }
            host.call_tool(&site, "agent.tools.call", &p.tool, args, &call.cancel).await
        })
        .on::<api::AgentRun, _>(|host, p, call| async move {
            let site = Site::of(&call.caller)?;
            let request = RunRequest {
                task: p.task,
                tools: p.tools,
                max_tool_calls: p.max_tool_calls,
                system_prompt: p.system_prompt,
                provider: p.choice.provider,
                model: p.choice.model,
            };
            host.run_agent(&site, request, &call.events, &call.cancel).await
        })
        .on::<api::AiCanCreateTextSession, _>(|host, _, _| async move { Ok(availability(&host).await) })
        .on::<api::AiLanguageModelCapabilities, _>(|host, _, _| async move {
            Ok(api::Capabilities {
                available: availability(&host).await,
                default_temperature: text::DEFAULT_TEMPERATURE,
                default_top_k: text::DEFAULT_TOP_K,
                max_top_k: text::MAX_TOP_K,
            })
        })
        .on::<api::AiLanguageModelParams, _>(|_, _, _| async move {
            Ok(api::ModelParams {
                default_top_k: text::DEFAULT_TOP_K,
                max_top_k: text::MAX_TOP_K,
                default_temperature: text::DEFAULT_TEMPERATURE,
                max_temperature: text::MAX_TEMPERATURE,
            })
        })
        .on::<api::AiCreateTextSession, _>(|host, p, call| async move {
            let site = Site::of(&call.caller)?;
            host.create_text_session(&site, text::Options::from_page(p)?, Some(&call.events), &call.cancel).await
        })
        .on::<api::AiSessionPrompt, _>(|host, p, call| async move {
            let site = Site::of(&call.caller)?;
            let (session, prompt) = (p.session_id.clone(), text::Prompt::from_page(p, false)?);
            let (text, context) =
                host.prompt_text(&site, "ai.session.prompt", &session, prompt, &call.events, &call.cancel).await?;
            Ok(api::PromptAnswer { text, context })
        })
        .on::<api::AiSessionPromptStreaming, _>(|host, p, call| async move {
            let site = Site::of(&call.caller)?;
            let (session, prompt) = (p.session_id.clone(), text::Prompt::from_page(p, true)?);
            let method = "ai.session.promptStreaming";
            let (text, context) = host.prompt_text(&site, method, &session, prompt, &call.events, &call.cancel).await?;
            Ok(api::PromptAnswer { text, context })
        })
        .on::<api::AiSessionAppend, _>(|host, p, call| async move {
            let site = Site::of(&call.caller)?;
            host.require(&site, Scope::ModelPrompt)?;
            host.texts.append(&site.origin, &p.session_id, text::messages_of(&p.input)?)
        })
        .on::<api::AiSessionMeasureContextUsage, _>(|host, p, call| async move {
            let site = Site::of(&call.caller)?;
            let usage = host.texts.measure(&site.origin, &p.session_id, &text::messages_of(&p.input)?)?;
            Ok(api::ContextMeasure { usage })
        })
        .on::<api::AiSessionToolResult, _>(|host, p, call| async move {
            host.texts.answer(&Site::of(&call.caller)?.origin, p)?;
            Ok(Empty {})
        })
        .on::<api::AiSessionDestroy, _>(|host, p, call| async move {
            let site = Site::of(&call.caller)?;
            host.texts.destroy(&site.origin, &p.session_id)?;
            Ok(Empty {})
        })
        .on::<api::AiSessionClone, _>(|host, p, call| async move {
            let site = Site::of(&call.caller)?;
            host.texts.clone_session(&site.origin, &p.session_id)
        })
        .on::<api::AiProvidersList, _>(|host, _, call| async move {
            let site = Site::of(&call.caller)?;
            Ok(host
                .providers(&site)
                .await?
                .into_iter()
                .map(|p| api::PageProvider {
                    id: p.config.id,
                    name: p.config.name,
                    kind: p.config.kind,
                    supports_tools: true,
                    available: p.available,
                    base_url: p.config.base_url,
                    models: p.models,
                    is_default: p.is_default,
                })
                .collect())
        })
        .on::<api::AiProvidersGetActive, _>(
            |host, _, call| async move { host.active_provider(&Site::of(&call.caller)?) },
        )
        .done()
}

/// `readily` when the default provider answers with a model; else `after-download` when the
/// built-in model can be downloaded (`downloading` while it is); else `no`.
pub(super) async fn availability(host: &Host) -> Availability {
    let probe = tokio::time::timeout(std::time::Duration::from_secs(2), host.llm().resolve(None, None)).await;
    if matches!(probe, Ok(Ok(_))) {
        return Availability::Readily;
    }
    match host.llm().downloadable() {
        (_, true) => Availability::Downloading,
        (Some(_), false) => Availability::AfterDownload,
        (None, false) => Availability::No,
    }
}
