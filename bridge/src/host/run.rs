//! `agent.run` for pages: the chat's agent loop, offered only the tools the site may use, with
//! the site's tool-call limit per run, its token budget, and every tool call passing the same
//! checks as a direct `agent.tools.call`.

use std::sync::Arc;

use harbor_protocol::api::page::RunResult;
use harbor_protocol::{ErrorCode, ErrorObject};
use tokio_util::sync::CancellationToken;

use super::scopes::Scope;
use super::{internal, Host, Site};
use crate::chat::agent;
use crate::llm::{Message, Role};
use crate::rpc::EventSink;

/// What a page asks of a run.
pub struct RunRequest {
    pub task: String,
    /// Narrows the site's allowed tools further; a tool outside them is refused.
    pub tools: Option<Vec<String>>,
    pub max_tool_calls: Option<u32>,
    /// The page's own instructions, after Harbor's.
    pub system_prompt: Option<String>,
    pub provider: Option<String>,
    pub model: Option<String>,
}

impl Host {
    pub async fn run_agent(
        self: &Arc<Self>,
        site: &Site,
        request: RunRequest,
        events: &EventSink,
        cancel: &CancellationToken,
    ) -> Result<RunResult, ErrorObject> {
        self.audited(site, "agent.run", None, self.run_inner(site, request, events, cancel)).await
    }

    async fn run_inner(
        self: &Arc<Self>,
        site: &Site,
        request: RunRequest,
        events: &EventSink,
        cancel: &CancellationToken,
    ) -> Result<RunResult, ErrorObject> {
        self.require(site, Scope::ModelTools)?;
        if request.task.trim().is_empty() {
            return Err(ErrorObject::invalid("agent.run needs a task"));
        }
        let limits = self.gate.limits(&site.origin).map_err(internal)?;
        // Held before the model is asked, so concurrent runs cannot all pass the budget.
        let reservation = self.gate.reserve_tokens(&site.origin, &limits, request.task.len())?;
        let mut tools = self.callable_tools(site)?;
        if let Some(wanted) = &request.tools {
            let refused: Vec<&String> = wanted.iter().filter(|w| !tools.iter().any(|t| &t.name == *w)).collect();
            if !refused.is_empty() {
                return Err(ErrorObject::new(
                    ErrorCode::ToolNotAllowed,
                    format!("this site may not use {}; the user allows tools per site in Harbor", join(&refused)),
                ));
            }
            tools.retain(|t| wanted.contains(&t.name));
        }
        let max_tool_calls =
            request.max_tool_calls.unwrap_or(limits.max_tool_calls_per_run).clamp(1, limits.max_tool_calls_per_run);
        let (provider, model) = self.llm().resolve(request.provider.as_deref(), request.model.as_deref()).await?;
        let mut system = format!(
            "You are the user's assistant, working on a task that the web page {} asked for. Use the tools when they help; \
             answer with the result of the task.",
            site.origin
        );
        // Harbor's framing stays first: the page's words are its instructions, not the user's.
        if let Some(instructions) = request.system_prompt.as_deref().map(str::trim).filter(|p| !p.is_empty()) {
            system.push_str(&format!("\n\nThe page's instructions for this task:\n{instructions}"));
        }
        let runner = self.runner(site.clone());
        // In code mode the model gets code mode's tools; the code may make as many calls as the
        // site allows one run, each checked and counted as the model's own would be.
        // The skills it may read are those of the servers whose tools it may call.
        let mut servers: Vec<String> = tools.iter().map(|t| t.server_id.clone()).collect();
        servers.sort();
        servers.dedup();
        let shelf = crate::code_mode::Shelf { registry: &self.servers, servers: Some(&servers) };
        let (offered, code_tools) = match limits.code_mode && !tools.is_empty() {
            true => (crate::code_mode::meta_tools(shelf.has_any().await), Some(tools)),
            false => (tools, None),
        };
        let run = agent::Run {
            provider,
            model,
            messages: vec![Message::new(Role::System, system), Message::new(Role::User, request.task)],
            tools: offered,
            max_tool_calls,
            result_chars: 8000,
            temperature: None,
            context_tokens: None,
        };
        let outcome = match code_tools {
            Some(code_tools) => {
                let key =
                    crate::code_mode::catalog_key(self.servers.catalog_revision(), &site.origin, code_tools.len());
                let code = crate::code_mode::CodeRunner {
                    inner: &runner,
                    kept: crate::code_mode::Kept { selector: &self.selector, key },
                    tools: code_tools,
                    sandbox: &self.sandbox,
                    calls: max_tool_calls as usize,
                    audit: (self.store.clone(), super::who(site), "agent.run"),
                    skills: Some(shelf),
                };
                agent::run(run, self.llm(), &code, events, cancel).await
            }
            None => agent::run(run, self.llm(), &runner, events, cancel).await,
        };
        reservation.settle(outcome.usage.total() as i64);
        let output = outcome.result?;
        Ok(RunResult { output, tool_calls: outcome.tool_calls, usage: outcome.usage })
    }
}

fn join(names: &[&String]) -> String {
    names.iter().map(|n| n.as_str()).collect::<Vec<_>>().join(", ")
}
