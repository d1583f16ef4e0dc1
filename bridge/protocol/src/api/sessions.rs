//! `agent.sessions.*`: the reference implementation's agent sessions — a named piece of work a
//! page starts with the capabilities it needs (the model, some tools) and limits of its own (how
//! many tool calls, how long), then prompts and calls tools through. A session never holds more
//! than the origin's grants: its tools are the asked ones the site is allowed, its model use
//! needs `model:prompt`, and every call is checked against the grants again as it is made.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::page::{PageTool, PromptInput};

crate::methods! {
    AgentSessionsCreate = "agent.sessions.create", Page, CreateAgentSession => AgentSession;
    AgentSessionsGet = "agent.sessions.get", Page, AgentSessionRef => AgentSession;
    AgentSessionsList = "agent.sessions.list", Page, super::Ignored => Vec<AgentSession>;
    /// Ends the session and every call of it still in flight.
    AgentSessionsTerminate = "agent.sessions.terminate", Page, AgentSessionRef => super::Empty;
    AgentSessionsPrompt = "agent.sessions.prompt", Page, AgentSessionPrompt => SessionText;
    /// `token` events as the model writes, then the whole text.
    AgentSessionsPromptStreaming = "agent.sessions.promptStreaming", Page, AgentSessionPrompt => SessionText, super::chat::RunEvent;
    /// MCP's `CallToolResult`.
    AgentSessionsCallTool = "agent.sessions.callTool", Page, AgentSessionToolCall => Value;
    AgentSessionsListAllowedTools = "agent.sessions.listAllowedTools", Page, AgentSessionRef => Vec<PageTool>;
}

/// `agent.sessions.create(options)`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateAgentSession {
    #[serde(default)]
    pub name: Option<String>,
    /// Why the page wants it, shown to the user.
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub capabilities: AskedCapabilities,
    #[serde(default)]
    pub limits: AskedLimits,
}

/// What a session asks to use. `llm` is `true` or `{allowed, provider?, model?}`; `browser`
/// is `true` or a list of browser capabilities.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AskedCapabilities {
    #[serde(default)]
    pub llm: Option<AskedLlm>,
    /// Namespaced tool names (`serverId/toolName`).
    #[serde(default)]
    pub tools: Vec<String>,
    #[serde(default)]
    pub browser: Option<Value>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum AskedLlm {
    Allowed(bool),
    Choice {
        #[serde(default = "yes")]
        allowed: bool,
        #[serde(default)]
        provider: Option<String>,
        #[serde(default)]
        model: Option<String>,
    },
}

fn yes() -> bool {
    true
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AskedLimits {
    #[serde(default)]
    pub max_tool_calls: Option<f64>,
    #[serde(default)]
    pub ttl_minutes: Option<f64>,
}

/// A session as the page sees it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentSession {
    pub session_id: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub capabilities: SessionCapabilities,
    pub limits: SessionLimits,
    pub usage: SessionUsage,
    /// `active`, `terminated` or `expired`.
    pub state: SessionState,
    /// Seconds since the epoch.
    pub created_at: i64,
    pub expires_at: i64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionCapabilities {
    pub llm: bool,
    /// The asked tools the site is allowed, as they were when the session began.
    pub tools: Vec<String>,
    pub browser: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionLimits {
    pub max_tool_calls: u32,
    pub ttl_minutes: u32,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionUsage {
    pub tool_calls: u32,
    pub prompts: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SessionState {
    Active,
    Terminated,
    Expired,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentSessionRef {
    pub session_id: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentSessionPrompt {
    pub session_id: String,
    pub input: PromptInput,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentSessionToolCall {
    pub session_id: String,
    pub tool: String,
    #[serde(default)]
    pub args: Option<Map<String, Value>>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionText {
    pub text: String,
}
