//! Agent sessions (`agent.sessions.*`): a page's named piece of work with its own capabilities
//! and limits, held in memory and bound to the origin that made it.
//!
//! A session never holds more than the site's grants: the model needs `model:prompt` (asked for
//! at creation, as `LanguageModel.create` does, and held by a text session of its own), its
//! tools are the asked ones the site may call now, and each call still passes the whole policy
//! pipeline (so a grant revoked later stops the next call). On top, the session's own limits:
//! at most `maxToolCalls` tool calls, counted before each call starts (so concurrent calls
//! cannot pass it), and nothing after `ttlMinutes`. Terminating ends the session and cancels
//! what it still has in flight.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use harbor_protocol::api::page::PageTool;
use harbor_protocol::api::sessions::{
    AgentSession, AskedLlm, CreateAgentSession, SessionCapabilities, SessionLimits, SessionState, SessionUsage,
};
use harbor_protocol::{ErrorCode, ErrorObject};
use rmcp::model::JsonObject;
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use super::scopes::Scope;
use super::text::{self, Prompt};
use super::{Host, Site};
use crate::rpc::EventSink;

/// The most sessions one origin holds at once.
pub const MAX_PER_ORIGIN: usize = 16;
pub const DEFAULT_MAX_TOOL_CALLS: u32 = 10;
pub const MAX_TOOL_CALLS: u32 = 100;
pub const DEFAULT_TTL_MINUTES: u32 = 30;
pub const MAX_TTL_MINUTES: u32 = 24 * 60;

/// The longest session name kept.
const NAME_MAX: usize = 100;

struct Held {
    origin: String,
    described: AgentSession,
    /// The text session behind `prompt`, when the session may use the model.
    text: Option<String>,
    /// Cancelled when the session ends: its calls in flight stop.
    ended: CancellationToken,
}

impl Held {
    fn expired(&self) -> bool {
        crate::store::now() >= self.described.expires_at
    }
}

#[derive(Default)]
pub struct AgentSessions {
    sessions: Mutex<HashMap<String, Held>>,
    next: AtomicU64,
}

fn not_found(id: &str) -> ErrorObject {
    ErrorObject::new(
        ErrorCode::SessionNotFound,
        format!("this site has no agent session {id:?} (it ended, or it is another site's); create a new one"),
    )
}

fn expired(id: &str, minutes: u32) -> ErrorObject {
    ErrorObject::new(
        ErrorCode::SessionNotFound,
        format!("agent session {id:?} expired after its {minutes} minutes; create a new one"),
    )
    .with_data(json!({"reason": "expired"}))
}

fn terminated() -> ErrorObject {
    ErrorObject::new(ErrorCode::Aborted, "the agent session was terminated while this call ran")
}

/// A count a page asked for, as a whole number within `1..=max` (`default` when absent).
fn limit(asked: Option<f64>, default: u32, min: u32, max: u32) -> u32 {
    match asked {
        Some(n) if n.is_finite() => (n.round() as i64).clamp(i64::from(min), i64::from(max)) as u32,
        _ => default,
    }
}

impl AgentSessions {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Held>> {
        self.sessions.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The origin's session `id`, while it lasts; an expired one ends now.
    fn with<T>(&self, origin: &str, id: &str, work: impl FnOnce(&mut Held) -> T) -> Result<T, ErrorObject> {
        let mut sessions = self.lock();
        let held = sessions.get_mut(id).filter(|h| h.origin == origin).ok_or_else(|| not_found(id))?;
        if held.expired() {
            let minutes = held.described.limits.ttl_minutes;
            if let Some(held) = sessions.remove(id) {
                held.ended.cancel();
            }
            return Err(expired(id, minutes));
        }
        Ok(work(held))
    }

    pub fn get(&self, origin: &str, id: &str) -> Result<AgentSession, ErrorObject> {
        self.with(origin, id, |held| held.described.clone())
    }

    pub fn list(&self, origin: &str) -> Vec<AgentSession> {
        let mut sessions = self.lock();
        prune(&mut sessions, origin);
        let mut listed: Vec<AgentSession> =
            sessions.values().filter(|h| h.origin == origin).map(|h| h.described.clone()).collect();
        listed.sort_by_key(|s| s.created_at);
        listed
    }

    /// Whether `origin` may hold one more session.
    fn room(&self, origin: &str) -> Result<(), ErrorObject> {
        room_in(&mut self.lock(), origin)
    }

    /// Holds a new session, if its origin still has room: checked again here, under the lock, as
    /// concurrent creations may all have passed [`AgentSessions::room`] before any was held.
    fn insert(&self, id: String, held: Held) -> Result<(), ErrorObject> {
        let mut sessions = self.lock();
        room_in(&mut sessions, &held.origin)?;
        sessions.insert(id, held);
        Ok(())
    }

    /// Ends session `id`; its text session, if any, is handed back to be destroyed.
    pub fn terminate(&self, origin: &str, id: &str) -> Result<Option<String>, ErrorObject> {
        let mut sessions = self.lock();
        if sessions.get(id).is_none_or(|h| h.origin != origin) {
            return Err(not_found(id));
        }
        let held = sessions.remove(id).expect("just seen");
        held.ended.cancel();
        Ok(held.text)
    }

    /// Counts one tool call of session `id` before it starts, if its limits allow it.
    fn begin_call(&self, origin: &str, id: &str, tool: &str) -> Result<CancellationToken, ErrorObject> {
        self.with(origin, id, |held| {
            let described = &mut held.described;
            if !described.capabilities.tools.iter().any(|t| t == tool) {
                return Err(ErrorObject::new(
                    ErrorCode::ToolNotAllowed,
                    format!(
                        "agent session {id:?} may not call {tool:?}; it may call: {}",
                        described.capabilities.tools.join(", ")
                    ),
                ));
            }
            let max = described.limits.max_tool_calls;
            if described.usage.tool_calls >= max {
                return Err(ErrorObject::new(
                    ErrorCode::BudgetExceeded,
                    format!("agent session {id:?} made its {max} tool calls; create a new session for more"),
                )
                .with_data(json!({"limit": max})));
            }
            described.usage.tool_calls += 1;
            Ok(held.ended.clone())
        })?
    }

    /// Session `id`'s text session, for one more prompt.
    fn begin_prompt(&self, origin: &str, id: &str) -> Result<(String, CancellationToken), ErrorObject> {
        self.with(origin, id, |held| match &held.text {
            Some(text) => {
                held.described.usage.prompts += 1;
                Ok((text.clone(), held.ended.clone()))
            }
            None => Err(ErrorObject::new(
                ErrorCode::PermissionDenied,
                format!("agent session {id:?} was created without the model; create one with capabilities.llm"),
            )),
        })?
    }
}

/// Drops `origin`'s expired sessions.
fn prune(sessions: &mut HashMap<String, Held>, origin: &str) {
    sessions.retain(|_, held| held.origin != origin || !held.expired());
}

/// `ERR_RATE_LIMITED` when `origin` holds [`MAX_PER_ORIGIN`] sessions already.
fn room_in(sessions: &mut HashMap<String, Held>, origin: &str) -> Result<(), ErrorObject> {
    prune(sessions, origin);
    if sessions.values().filter(|h| h.origin == origin).count() >= MAX_PER_ORIGIN {
        return Err(ErrorObject::new(
            ErrorCode::RateLimited,
            format!("this site holds {MAX_PER_ORIGIN} agent sessions already; terminate some first"),
        )
        .with_data(json!({"limit": MAX_PER_ORIGIN})));
    }
    Ok(())
}

/// Runs `work` with a token that is cancelled when the caller cancels or the session ends; an
/// ended session waits for `work` to stop, then answers that it was terminated.
async fn until_ended<T, F>(
    ended: &CancellationToken,
    cancel: &CancellationToken,
    work: impl FnOnce(CancellationToken) -> F,
) -> Result<T, ErrorObject>
where
    F: Future<Output = Result<T, ErrorObject>>,
{
    let token = cancel.child_token();
    let work = work(token.clone());
    tokio::pin!(work);
    tokio::select! {
        outcome = &mut work => outcome,
        () = ended.cancelled() => {
            token.cancel();
            let _ = work.await;
            Err(terminated())
        }
    }
}

impl Host {
    /// `agent.sessions.create`: a session with what the page asked for, within the site's grants.
    pub async fn create_agent_session(
        &self,
        site: &Site,
        asked: CreateAgentSession,
        cancel: &CancellationToken,
    ) -> Result<AgentSession, ErrorObject> {
        let wants_browser = match &asked.capabilities.browser {
            None | Some(Value::Bool(false)) | Some(Value::Null) => false,
            Some(Value::Array(items)) => !items.is_empty(),
            Some(_) => true,
        };
        if wants_browser {
            return Err(ErrorObject::new(
                ErrorCode::NotSupported,
                "Harbor does not give agent sessions browser capabilities; leave capabilities.browser out",
            ));
        }
        // Before anything is asked of the user; held to it again when the session is kept.
        self.agent_sessions.room(&site.origin)?;
        // Tools: the asked ones the site may call now (one it may not is left out, saying nothing
        // of whether it exists).
        let tools = if asked.capabilities.tools.is_empty() {
            Vec::new()
        } else {
            self.require(site, Scope::ToolsCall)?;
            let visible: Vec<String> = self.callable_tools(site)?.into_iter().map(|t| t.name).collect();
            let mut tools: Vec<String> = Vec::new();
            for tool in asked.capabilities.tools.iter().filter(|t| visible.contains(t)) {
                if !tools.contains(tool) {
                    tools.push(tool.clone());
                }
            }
            tools
        };
        let (llm, provider, model) = match asked.capabilities.llm {
            None | Some(AskedLlm::Allowed(false)) | Some(AskedLlm::Choice { allowed: false, .. }) => {
                (false, None, None)
            }
            Some(AskedLlm::Allowed(true)) => (true, None, None),
            Some(AskedLlm::Choice { provider, model, .. }) => (true, provider, model),
        };
        let text = if llm {
            let options = text::Options { provider, model, ..text::Options::default() };
            Some(self.create_text_session(site, options, None, cancel).await?.session_id)
        } else {
            None
        };
        let limits = SessionLimits {
            max_tool_calls: limit(asked.limits.max_tool_calls, DEFAULT_MAX_TOOL_CALLS, 0, MAX_TOOL_CALLS),
            ttl_minutes: limit(asked.limits.ttl_minutes, DEFAULT_TTL_MINUTES, 1, MAX_TTL_MINUTES),
        };
        let name: String = asked
            .name
            .as_deref()
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .unwrap_or("Session")
            .chars()
            .take(NAME_MAX)
            .collect();
        let created_at = crate::store::now();
        let id = format!("as{}", self.agent_sessions.next.fetch_add(1, Ordering::Relaxed) + 1);
        let described = AgentSession {
            session_id: id.clone(),
            name,
            reason: asked.reason,
            capabilities: SessionCapabilities { llm, tools, browser: false },
            limits,
            usage: SessionUsage::default(),
            state: SessionState::Active,
            created_at,
            expires_at: created_at + i64::from(limits.ttl_minutes) * 60,
        };
        let text_id = text.clone();
        let held =
            Held { origin: site.origin.clone(), described: described.clone(), text, ended: CancellationToken::new() };
        if let Err(full) = self.agent_sessions.insert(id, held) {
            if let Some(text) = &text_id {
                let _ = self.texts.destroy(&site.origin, text);
            }
            return Err(full);
        }
        Ok(described)
    }

    /// `agent.sessions.terminate`: the session ends, with its calls in flight and its model context.
    pub fn terminate_agent_session(&self, site: &Site, id: &str) -> Result<(), ErrorObject> {
        if let Some(text) = self.agent_sessions.terminate(&site.origin, id)? {
            let _ = self.texts.destroy(&site.origin, &text);
        }
        Ok(())
    }

    /// `agent.sessions.callTool`: within the session's tools and count, then the whole pipeline.
    pub async fn call_session_tool(
        &self,
        site: &Site,
        id: &str,
        tool: &str,
        args: JsonObject,
        cancel: &CancellationToken,
    ) -> Result<Value, ErrorObject> {
        let ended = self.agent_sessions.begin_call(&site.origin, id, tool)?;
        until_ended(&ended, cancel, |token| async move {
            self.call_tool(site, "agent.sessions.callTool", tool, args, &token).await
        })
        .await
    }

    /// `agent.sessions.prompt` and `promptStreaming`, through the session's own text session.
    pub async fn prompt_agent_session(
        &self,
        site: &Site,
        method: &str,
        id: &str,
        prompt: Prompt,
        events: &EventSink,
        cancel: &CancellationToken,
    ) -> Result<String, ErrorObject> {
        let (text, ended) = self.agent_sessions.begin_prompt(&site.origin, id)?;
        until_ended(&ended, cancel, |token| async move {
            Ok(self.prompt_text(site, method, &text, prompt, events, &token).await?.0)
        })
        .await
    }

    /// `agent.sessions.listAllowedTools`: the session's tools the site may still call.
    pub fn session_tools(&self, site: &Site, id: &str) -> Result<Vec<PageTool>, ErrorObject> {
        let session = self.agent_sessions.get(&site.origin, id)?;
        Ok(self
            .callable_tools(site)?
            .into_iter()
            .filter(|t| session.capabilities.tools.contains(&t.name))
            .map(PageTool::from)
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_s_limits_are_whole_numbers_within_bounds() {
        assert_eq!(limit(None, 10, 0, 100), 10);
        assert_eq!(limit(Some(2.6), 10, 0, 100), 3);
        assert_eq!(limit(Some(1e9), 10, 0, 100), 100);
        assert_eq!(limit(Some(-5.0), 30, 1, 1440), 1);
        assert_eq!(limit(Some(f64::NAN), 30, 1, 1440), 30);
    }
}
