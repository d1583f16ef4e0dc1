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
use super::llm::{Active, Usage};
use super::permissions::{Grant, Permissions};

crate::methods! {
    /// Asks the user (after a gesture) unless the grants decide already.
    AgentRequestPermissions = "agent.requestPermissions", Page, RequestPermissions => PermissionResult;
    AgentPermissionsList = "agent.permissions.list", Page, super::Ignored => Permissions;
    AgentToolsList = "agent.tools.list", Page, super::Ignored => Vec<PageTool>;
    /// MCP's `CallToolResult`.
    AgentToolsCall = "agent.tools.call", Page, PageToolCall => Value;
    AgentRun = "agent.run", Page, RunTask => RunResult, RunEvent;
    AiCanCreateTextSession = "ai.canCreateTextSession", Page, super::Ignored => Availability;
    AiLanguageModelCapabilities = "ai.languageModel.capabilities", Page, super::Ignored => Capabilities;
    /// When the built-in model must be downloaded first (availability `after-download`), a
    /// page the user allowed starts it on the user's gesture; its progress streams as events.
    AiCreateTextSession = "ai.createTextSession", Page, SessionOptions => TextSession, super::llm::DownloadProgress;
    /// The answer at once; the page's own tools the model calls come as `tool_call` events.
    AiSessionPrompt = "ai.session.prompt", Page, SessionPrompt => PromptAnswer, RunEvent;
    AiSessionPromptStreaming = "ai.session.promptStreaming", Page, SessionPrompt => PromptAnswer, RunEvent;
    /// Adds to the context without asking for an answer (the Prompt API's `append`).
    AiSessionAppend = "ai.session.append", Page, SessionAppend => ContextState;
    /// How much of the context window `input` would take, in tokens (nothing is sent).
    AiSessionMeasureContextUsage = "ai.session.measureContextUsage", Page, SessionPrompt => ContextMeasure;
    /// The page's answer to one of its own tools that the model called (a `tool_call` event).
    AiSessionToolResult = "ai.session.toolResult", Page, PageToolResult => super::Empty;
    AiSessionDestroy = "ai.session.destroy", Page, SessionRef => super::Empty;
    AiSessionClone = "ai.session.clone", Page, SessionRef => TextSession;
    /// The Prompt API's `LanguageModel.params()`.
    AiLanguageModelParams = "ai.languageModel.params", Page, super::Ignored => ModelParams;
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

/// A catalog entry as a page sees it: no model name, no annotations.
impl From<super::tools::ToolEntry> for PageTool {
    fn from(tool: super::tools::ToolEntry) -> PageTool {
        PageTool {
            name: tool.name,
            description: tool.description,
            input_schema: tool.input_schema,
            server_id: tool.server_id,
        }
    }
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
    /// The page's own instructions, given to the model after Harbor's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_prompt: Option<String>,
    /// A provider and model of the user's, instead of the selected one.
    #[serde(flatten)]
    pub choice: ModelChoice,
}

/// A provider of the user's and one of its models (each absent: the selected one).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelChoice {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunResult {
    pub output: String,
    pub tool_calls: u32,
    pub usage: Usage,
}

/// Whether a text session can be made now (the old explainer's words).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Availability {
    Readily,
    /// No model answers, but Harbor's built-in model can be downloaded (the Prompt API's
    /// `downloadable`).
    #[serde(rename = "after-download")]
    AfterDownload,
    /// The built-in model is downloading now.
    Downloading,
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
    /// The Prompt API: earlier turns to start from (a system message may come first).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub initial_prompts: Vec<PromptMessage>,
    /// The Prompt API's `topK` (an unrestricted double there: rounded, capped at the maximum).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_k: Option<f64>,
    /// What the page will send and wants back (`text`, `image`, `audio`): only text is served.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expected_inputs: Vec<Expected>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expected_outputs: Vec<Expected>,
    /// Functions the page defines (`execute` stays in the page): the model may call them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<PageFunction>,
}

/// `LanguageModelExpected`: a kind of content, in some languages.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Expected {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub languages: Vec<String>,
}

/// A tool the page defines for the model (`LanguageModelTool` without its `execute`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PageFunction {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default = "empty_object")]
    pub input_schema: Value,
}

fn empty_object() -> Value {
    Value::Object(Map::new())
}

/// A prompt as the Prompt API takes it: a string (one user message) or a list of messages.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum PromptInput {
    Text(String),
    Messages(Vec<PromptMessage>),
}

/// `LanguageModelMessage`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PromptMessage {
    pub role: PromptRole,
    pub content: PromptContent,
    /// The start of the model's own answer, for it to go on from (an assistant message, last).
    #[serde(default)]
    pub prefix: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PromptRole {
    System,
    User,
    Assistant,
}

/// A message's content: a string, or typed parts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum PromptContent {
    Text(String),
    Parts(Vec<ContentPart>),
}

/// `LanguageModelMessageContent`: `{type: "text", value: "…"}` (images and audio are refused).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ContentPart {
    #[serde(rename = "type")]
    pub kind: String,
    pub value: Value,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TextSession {
    pub session_id: String,
    /// Tokens the session's context holds now (its system prompt and initial prompts).
    pub context_usage: u64,
    /// Tokens it may hold.
    pub context_window: u64,
    pub temperature: f64,
    pub top_k: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionAppend {
    pub session_id: String,
    pub input: PromptInput,
}

/// A session's context after a prompt or an append.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContextState {
    pub context_usage: u64,
    pub context_window: u64,
    /// The oldest turns were dropped to make room (the page fires `contextoverflow`).
    pub overflowed: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContextMeasure {
    pub usage: u64,
}

/// What a page tool's `execute` gave: its text (a string, as the Prompt API's tools return), or
/// the message of what it threw.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PageToolResult {
    pub session_id: String,
    pub call_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionRef {
    pub session_id: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionPrompt {
    pub session_id: String,
    pub input: PromptInput,
    /// A JSON Schema the answer must match (structured output); a RegExp is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_constraint: Option<Value>,
    /// Leave the schema out of what the model is told (it still constrains the answer).
    #[serde(default)]
    pub omit_response_constraint_input: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PromptAnswer {
    pub text: String,
    #[serde(flatten)]
    pub context: ContextState,
}

/// `LanguageModelParams`: the sampling a session may ask for.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ModelParams {
    pub default_top_k: u32,
    pub max_top_k: u32,
    pub default_temperature: f64,
    pub max_temperature: f64,
}

/// A model provider as a page sees it (no keys, no detected servers).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PageProvider {
    pub id: String,
    pub name: String,
    /// The wire format it speaks: `ollama` or `openai`.
    #[serde(rename = "type")]
    pub kind: super::llm::ProviderKind,
    /// Whether `agent.run` can give its models tools: natively, or in Harbor's text format for a
    /// model that cannot take them (so true for every provider Harbor speaks to).
    pub supports_tools: bool,
    pub available: bool,
    pub base_url: String,
    pub models: Vec<String>,
    pub is_default: bool,
}
