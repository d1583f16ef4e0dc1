//! `agent.sessions.*`: a page's agent sessions, decided by the [`Host`] (see `host::sessions`).

use std::sync::Arc;

use harbor_protocol::api::sessions as api;
use harbor_protocol::api::Empty;
use harbor_protocol::ErrorObject;

use super::Area;
use crate::host::text::{self, Prompt};
use crate::host::{Host, Site};
use crate::rpc::{Call, Router};

/// Registers `agent.sessions.*`.
pub fn routes(router: Router, host: Arc<Host>) -> Router {
    Area::new(router, host)
        .on::<api::AgentSessionsCreate, _>(|host, p, call| async move {
            host.create_agent_session(&Site::of(&call.caller)?, p, &call.cancel).await
        })
        .on::<api::AgentSessionsGet, _>(|host, p, call| async move {
            host.agent_sessions.get(&Site::of(&call.caller)?.origin, &p.session_id)
        })
        .on::<api::AgentSessionsList, _>(|host, _, call| async move {
            Ok(host.agent_sessions.list(&Site::of(&call.caller)?.origin))
        })
        .on::<api::AgentSessionsTerminate, _>(|host, p, call| async move {
            host.terminate_agent_session(&Site::of(&call.caller)?, &p.session_id)?;
            Ok(Empty {})
        })
        .on::<api::AgentSessionsPrompt, _>(|host, p, call| prompt(host, p, call, false))
        .on::<api::AgentSessionsPromptStreaming, _>(|host, p, call| prompt(host, p, call, true))
        .on::<api::AgentSessionsCallTool, _>(|host, p, call| async move {
            let site = Site::of(&call.caller)?;
            host.call_session_tool(&site, &p.session_id, &p.tool, p.args.unwrap_or_default(), &call.cancel).await
        })
        .on::<api::AgentSessionsListAllowedTools, _>(|host, p, call| async move {
            host.session_tools(&Site::of(&call.caller)?, &p.session_id)
        })
        .done()
}

/// `agent.sessions.prompt`, or `promptStreaming` when `stream`.
async fn prompt(
    host: Arc<Host>,
    p: api::AgentSessionPrompt,
    call: Call,
    stream: bool,
) -> Result<api::SessionText, ErrorObject> {
    let site = Site::of(&call.caller)?;
    let prompt = Prompt { messages: text::messages_of(&p.input)?, schema: None, tell_schema: false, stream };
    let method = if stream { "agent.sessions.promptStreaming" } else { "agent.sessions.prompt" };
    let text = host.prompt_agent_session(&site, method, &p.session_id, prompt, &call.events, &call.cancel).await?;
    Ok(api::SessionText { text })
}
