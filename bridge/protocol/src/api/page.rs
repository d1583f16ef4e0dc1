//! The page API (`agent.*`, `ai.*`): the only methods web pages may call besides `system.*`.
//! The content relay and the background carry them; the bridge decides each one.
//!
//! Unlike the sidebar's methods, these params ignore fields they do not know, as the web
//! platform's dictionaries do: a page written for a newer revision still works, minus the new
//! option.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::chat::RunEvent;
use super::llm::{Active, Message, Usage};
use super::permissions::{Grant, Permissions};

crate::methods! {
    /// Asks the user (after a gesture) unless the grants decide already.
    AgentRequestPermissions = "agent.requestPermissions", Page, RequestPermissions => PermissionResult;
    AgentPermissionsList = "agent.permissions.list", Page, super::Ignored => Permissions;
    AgentToolsList = "agent.tools.list", Page, super::Ignored => Vec<PageTool>;
    /// MCP's `CallToolResult`.
    AgentToolsCall = "agent.tools.call", Page, PageToolCall => Value;
    AgentRun = "agent.run", Page, RunTask => RunResult, RunEvent;
    /// The bridge decides; the background reads the tab when it sees the answer.
    AgentActiveTabReadability = "agent.browser.activeTab.readability", Page, super::Ignored => ReadActiveTab;
    AiCanCreateTextSession = "ai.canCreateTextSession", Page, super::Ignored => Availability;
    AiLanguageModelCapabilities = "ai.languageModel.capabilities", Page, super::Ignored => Capabilities;
    AiCreateTextSession = "ai.createTextSession", Page, SessionOptions => TextSession;
    AiSessionPrompt = "ai.session.prompt", Page, SessionPrompt => PromptAnswer;
    AiSessionPromptStreaming = "ai.session.promptStreaming", Page, SessionPrompt => PromptAnswer, RunEvent;
    AiSessionDestroy = "ai.session.destroy", Page, SessionRef => super::Empty;
    AiSessionClone = "ai.session.clone", Page, SessionRef => TextSession;
    AiProvidersList = "ai.providers.list", Page, super::Ignored => Vec<PageProvider>;
    AiProvidersGetActive = "ai.providers.getActive", Page, super::Ignored => Active;
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestPermissions {
    /// Scope names (`mcp:tools.call`, …); an unknown one is refused, naming the known ones.
    pub scopes: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The tools the page wants, by namespaced name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<Vec<String>>,
}

/// `agent.requestPermissions`' answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PermissionResult {
    /// Every scope asked for is allowed (and every tool asked for).
    pub granted: bool,
    /// Each scope asked for → its grant now.
    pub scopes: BTreeMap<String, Grant>,
    pub allowed_tools: Vec<String>,
}

/// A tool as a page sees it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PageTool {
    pub name: String,
    pub description: String,
    pub input_schema: Value,
    pub server_id: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PageToolCall {
    pub tool: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args: Option<Map<String, Value>>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunTask {
    pub task: String,
    /// Narrows the site's allowed tools further.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tool_calls: Option<u32>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunResult {
    pub output: String,
    pub tool_calls: u32,
    pub usage: Usage,
}

/// Tells the background to read the caller's tab, at most `maxChars` of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReadActiveTab {
    pub read_active_tab: ReadLimit,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReadLimit {
    pub max_chars: usize,
}

/// Whether a text session can be made now (the old explainer's words).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Availability {
    Readily,
    No,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Capabilities {
    pub available: Availability,
    pub default_temperature: f64,
    pub default_top_k: u32,
    pub max_top_k: u32,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionOptions {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_prompt: Option<String>,
    /// Chrome's Prompt API: earlier turns to start from.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub initial_prompts: Vec<Message>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TextSession {
    pub session_id: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionRef {
    pub session_id: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionPrompt {
    pub session_id: String,
    pub input: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PromptAnswer {
    pub text: String,
}

/// A model provider as a page sees it (no keys, no detected servers).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PageProvider {
    pub id: String,
    pub name: String,
    pub available: bool,
    pub base_url: String,
    pub models: Vec<String>,
    pub is_default: bool,
}
