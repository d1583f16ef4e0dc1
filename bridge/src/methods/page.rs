//! The page API's methods (`agent.*`, `ai.*`), the only methods web pages may call besides
//! `system.*`. Each decodes its params and hands the call to the [`Host`], which decides.

use std::sync::Arc;

use harbor_protocol::ErrorObject;
use rmcp::model::JsonObject;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{params, to_value, with};
use crate::host::run::RunRequest;
use crate::host::scopes::{Grant, Scope};
use crate::host::{text, Host, Site};
use crate::llm::{Message, Role};
use crate::rpc::{Access, Call, Router};

#[derive(Deserialize)]
struct PermissionParams {
    scopes: Vec<String>,
    reason: Option<String>,
    tools: Option<Vec<String>>,
}

#[derive(Deserialize)]
struct ToolCallParams {
    tool: String,
    #[serde(default)]
    args: Option<JsonObject>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RunParams {
    task: String,
    tools: Option<Vec<String>>,
    max_tool_calls: Option<u32>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct SessionOptions {
    model: Option<String>,
    provider: Option<String>,
    temperature: Option<f64>,
    system_prompt: Option<String>,
    /// Chrome's Prompt API: earlier turns to start from.
    #[serde(default)]
    initial_prompts: Vec<Message>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PromptParams {
    session_id: String,
    input: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SessionParams {
    session_id: String,
}

/// The longest text a page reads from the active tab.
pub const ACTIVE_TAB_MAX_CHARS: usize = 50_000;

fn scopes(names: &[String]) -> Result<Vec<Scope>, ErrorObject> {
    names
        .iter()
        .map(|name| {
            Scope::parse(name).ok_or_else(|| {
                let known: Vec<&str> = Scope::ALL.iter().map(|s| s.as_str()).collect();
                super::invalid(format!("unknown scope {name:?}; the scopes are {}", known.join(", ")))
            })
        })
        .collect()
}

/// Registers `agent.*` and `ai.*`.
pub fn routes(router: Router, host: Arc<Host>) -> Router {
    let h = host;
    router
        .route("agent.requestPermissions", Access::Page, with(&h, |host, call| async move {
            let site = Site::of(&call.caller)?;
            let p: PermissionParams = params("agent.requestPermissions", call.params)?;
            host.request_permissions(&site, scopes(&p.scopes)?, p.reason, p.tools, &call.cancel).await
        }))
        .route("agent.permissions.list", Access::Page, with(&h, |host, call| async move {
            host.permissions_of(&Site::of(&call.caller)?)
        }))
        .route("agent.tools.list", Access::Page, with(&h, |host, call| async move {
            let site = Site::of(&call.caller)?;
            host.require(&site, Scope::ToolsList)?;
            let tools: Vec<Value> = host
                .visible_tools(&site)?
                .into_iter()
                .map(|t| json!({"name": t.name, "description": t.description, "inputSchema": t.input_schema, "serverId": t.server_id}))
                .collect();
            Ok(Value::Array(tools))
        }))
        .route("agent.tools.call", Access::Page, with(&h, |host, call| async move {
            let site = Site::of(&call.caller)?;
            let p: ToolCallParams = params("agent.tools.call", call.params)?;
            let started = std::time::Instant::now();
            if let Err(error) = host.require(&site, Scope::ToolsCall) {
                host.audit::<()>(&site, "agent.tools.call", Some(&p.tool), &Err(error.clone()), started);
                return Err(error);
            }
            host.call_tool(&site, "agent.tools.call", &p.tool, p.args.unwrap_or_default(), &call.cancel).await
        }))
        .route("agent.run", Access::Page, with(&h, |host, call: Call| async move {
            let site = Site::of(&call.caller)?;
            let p: RunParams = params("agent.run", call.params)?;
            let request = RunRequest { task: p.task, tools: p.tools, max_tool_calls: p.max_tool_calls };
            host.run_agent(&site, request, &call.events, &call.cancel).await
        }))
        .route("agent.browser.activeTab.readability", Access::Page, with(&h, |host, call| async move {
            let site = Site::of(&call.caller)?;
            // The bridge decides; the background, which can read tabs, does the reading when it
            // sees this answer (see PROTOCOL.md).
            let decide = async {
                host.require(&site, Scope::ActiveTabRead)?;
                // A frame reads only the page of its own origin; the background also checks that
                // the tab is the one shown in its window.
                if site.top_origin.as_deref() != Some(site.origin.as_str()) {
                    return Err(ErrorObject::new(
                        harbor_protocol::ErrorCode::PermissionDenied,
                        format!(
                            "a frame from {} may not read the page that embeds it; only the page itself may",
                            site.origin
                        ),
                    )
                    .with_data(json!({ "reason": "cross_origin_frame" })));
                }
                Ok(json!({ "readActiveTab": { "maxChars": ACTIVE_TAB_MAX_CHARS } }))
            };
            host.audited(&site, "agent.browser.activeTab.readability", None, decide).await
        }))
        .route("ai.canCreateTextSession", Access::Page, with(&h, |host, _call| async move {
            Ok(json!(availability(&host).await))
        }))
        .route("ai.languageModel.capabilities", Access::Page, with(&h, |host, _call| async move {
            let available = availability(&host).await;
            Ok(json!({ "available": available, "defaultTemperature": 0.8, "defaultTopK": 40, "maxTopK": 100 }))
        }))
        .route("ai.createTextSession", Access::Page, with(&h, |host, call| async move {
            let site = Site::of(&call.caller)?;
            let p: SessionOptions = params("ai.createTextSession", call.params)?;
            // Creating a session asks for model:prompt when the site does not hold it yet.
            if host.grants.grant(&site.origin, site.tab, Scope::ModelPrompt).map_err(crate::host::internal)? == Grant::NotGranted {
                host.request_permissions(&site, vec![Scope::ModelPrompt], None, None, &call.cancel).await?;
            }
            host.require(&site, Scope::ModelPrompt)?;
            if p.initial_prompts.iter().any(|m| m.role == Role::Tool || !m.tool_calls.is_empty()) {
                return Err(super::invalid("initialPrompts may hold system, user and assistant messages only"));
            }
            let options = text::Options {
                provider: p.provider,
                model: p.model,
                temperature: p.temperature,
                system_prompt: p.system_prompt,
                initial_prompts: p.initial_prompts,
            };
            Ok(json!({ "sessionId": host.texts.create(&site.origin, options)? }))
        }))
        .route("ai.session.prompt", Access::Page, with(&h, |host, call| async move {
            let site = Site::of(&call.caller)?;
            let p: PromptParams = params("ai.session.prompt", call.params)?;
            let text = host.prompt_text(&site, "ai.session.prompt", &p.session_id, p.input, None, &call.cancel).await?;
            Ok(json!({ "text": text }))
        }))
        .route("ai.session.promptStreaming", Access::Page, with(&h, |host, call| async move {
            let site = Site::of(&call.caller)?;
            let p: PromptParams = params("ai.session.promptStreaming", call.params)?;
            let text = host
                .prompt_text(&site, "ai.session.promptStreaming", &p.session_id, p.input, Some(&call.events), &call.cancel)
                .await?;
            Ok(json!({ "text": text }))
        }))
        .route("ai.session.destroy", Access::Page, with(&h, |host, call| async move {
            let site = Site::of(&call.caller)?;
            let p: SessionParams = params("ai.session.destroy", call.params)?;
            host.texts.destroy(&site.origin, &p.session_id)?;
            Ok(json!({}))
        }))
        .route("ai.session.clone", Access::Page, with(&h, |host, call| async move {
            let site = Site::of(&call.caller)?;
            let p: SessionParams = params("ai.session.clone", call.params)?;
            Ok(json!({ "sessionId": host.texts.clone_session(&site.origin, &p.session_id)? }))
        }))
        .route("ai.providers.list", Access::Page, with(&h, |host, call| async move {
            let site = Site::of(&call.caller)?;
            host.require(&site, Scope::ModelList)?;
            let (providers, _) = host.llm().status().await.map_err(crate::host::internal)?;
            let list: Vec<Value> = providers
                .into_iter()
                .filter(|p| !p.detected)
                .map(|p| json!({"id": p.config.id, "name": p.config.name, "available": p.available, "baseUrl": p.config.base_url, "models": p.models, "isDefault": p.is_default}))
                .collect();
            to_value(list)
        }))
        .route("ai.providers.getActive", Access::Page, with(&h, |host, call| async move {
            let site = Site::of(&call.caller)?;
            host.require(&site, Scope::ModelList)?;
            let settings = host.llm().settings().map_err(crate::host::internal)?;
            Ok(json!({ "provider": settings.active.provider, "model": settings.active.model }))
        }))
}

/// `'readily'` when the default provider answers with a model, else `'no'`.
async fn availability(host: &Host) -> &'static str {
    let probe = tokio::time::timeout(std::time::Duration::from_secs(2), host.llm().resolve(None, None)).await;
    if matches!(probe, Ok(Ok(_))) {
        "readily"
    } else {
        "no"
    }
}
