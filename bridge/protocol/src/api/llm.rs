//! `llm.*`: the model servers Harbor talks to, their models, and plain completions.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::chat::RunEvent;

crate::methods! {
    /// Every provider (configured or found running) with what it offers now.
    LlmProviders = "llm.providers", Extension, super::Empty => ProvidersStatus;
    /// Adds or replaces a provider; its API key goes to the keychain.
    LlmSetProvider = "llm.setProvider", Extension, SetProvider => LlmSettings;
    LlmRemoveProvider = "llm.removeProvider", Extension, super::Id => LlmSettings;
    /// The provider (and model) chats use when they name none.
    LlmSelect = "llm.select", Extension, Select => LlmSettings;
    LlmModels = "llm.models", Extension, ProviderFilter => Vec<ModelInfo>;
    /// A plain completion (no tools), its tokens streamed.
    LlmPrompt = "llm.prompt", Extension, Prompt => Completion, RunEvent;
    /// The models Harbor's built-in engine can download, and the folder it reads models from.
    LlmBuiltinCatalog = "llm.builtin.catalog", Extension, super::Empty => BuiltinCatalog;
    /// Downloads a catalog model into the built-in engine's folder (resuming a download that
    /// broke off), its progress streamed; the bytes must match the catalog's SHA-256.
    LlmBuiltinDownload = "llm.builtin.download", Extension, Download => Downloaded, DownloadProgress;
    /// Where catalog models download from when no `from` is given: a mirror (`url` + the
    /// catalog file's name), or the catalog's own sources (`url: null`). The bytes are checked
    /// against the catalog either way.
    LlmBuiltinMirror = "llm.builtin.mirror", Extension, Mirror => super::Empty;
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mirror {
    pub url: Option<String>,
}

/// The built-in engine's models.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BuiltinCatalog {
    /// Where the engine reads models from (the built-in provider's `baseUrl`); any GGUF file
    /// put there is a model too.
    pub folder: String,
    /// Whether this Harbor has the built-in engine (the `builtin-model` feature).
    pub engine: bool,
    pub models: Vec<CatalogModel>,
}

/// One model of the catalog.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CatalogModel {
    pub id: String,
    pub name: String,
    /// The GGUF file's name in the folder (its model name without `.gguf`).
    pub file: String,
    pub bytes: u64,
    /// The model file's SHA-256.
    pub sha256: String,
    pub licence: String,
    pub parameters: String,
    /// Where it comes from, in words.
    pub source: String,
    pub installed: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Download {
    pub id: String,
    /// A mirror to download from instead of the catalog's source (the bytes are checked
    /// against the catalog all the same).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Downloaded {
    /// The model's name for `llm.select` (its file name without `.gguf`).
    pub model: String,
    pub path: String,
}

/// A download's progress: bytes so far, of how many.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename = "progress")]
pub struct DownloadProgress {
    pub loaded: u64,
    pub total: u64,
}

/// Who wrote a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    User,
    Assistant,
    Tool,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
            Role::Tool => "tool",
        }
    }
}

/// One message of a conversation, in the shape both model wire formats can express.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Message {
    pub role: Role,
    #[serde(default)]
    pub content: String,
    /// The tool calls an assistant message asked for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    /// For a tool message: the call it answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
    /// For a tool message: the (model-safe) name of the tool that answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_name: Option<String>,
}

impl Message {
    pub fn new(role: Role, content: impl Into<String>) -> Message {
        Message { role, content: content.into(), tool_calls: Vec::new(), tool_call_id: None, tool_name: None }
    }

    pub fn tool_result(call: &ToolCall, content: impl Into<String>) -> Message {
        Message {
            role: Role::Tool,
            content: content.into(),
            tool_calls: Vec::new(),
            tool_call_id: Some(call.id.clone()),
            tool_name: Some(call.name.clone()),
        }
    }
}

/// A tool call a model asked for. `name` is the model-safe tool name it was offered.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    pub arguments: Value,
}

/// Tokens a request used, as the provider counted them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
}

impl Usage {
    pub fn add(&mut self, other: Usage) {
        self.prompt_tokens += other.prompt_tokens;
        self.completion_tokens += other.completion_tokens;
    }

    pub fn total(&self) -> u64 {
        self.prompt_tokens + self.completion_tokens
    }
}

/// A model a provider offers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ModelInfo {
    pub name: String,
    pub provider: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameter_size: Option<String>,
}

/// The wire format a provider speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ProviderKind {
    #[serde(rename = "ollama")]
    Ollama,
    #[serde(rename = "openai")]
    OpenAi,
    /// Harbor's own engine: GGUF models run by the bridge (`baseUrl` is a `.gguf` file or a
    /// folder of them).
    #[serde(rename = "builtin")]
    Builtin,
}

impl ProviderKind {
    /// The kind in words, for messages.
    pub fn described(self) -> &'static str {
        match self {
            ProviderKind::Ollama => "Ollama",
            ProviderKind::OpenAi => "an OpenAI-compatible server",
            ProviderKind::Builtin => "Harbor's built-in model",
        }
    }

    /// What to do when nothing answers.
    pub fn start_hint(self) -> &'static str {
        match self {
            ProviderKind::Ollama => {
                "Start Ollama (`ollama serve`, or open the Ollama app) and pull a model (`ollama pull llama3.2`), or set another provider in Harbor's settings."
            }
            ProviderKind::OpenAi => {
                "Start the model server (LM Studio, llamafile, llama.cpp, vLLM, …) or correct its URL in Harbor's settings."
            }
            ProviderKind::Builtin => {
                "Give the built-in model a GGUF model file (or a folder of them) in Harbor's settings, for example SmolLM2-135M-Instruct."
            }
        }
    }
}

/// One configured model server.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProviderConfig {
    pub id: String,
    pub kind: ProviderKind,
    pub name: String,
    pub base_url: String,
    /// The id of the secret holding the provider's API key (sent as a bearer token), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_secret: Option<String>,
}

/// The provider and model chats use when they name none.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Active {
    pub provider: Option<String>,
    pub model: Option<String>,
}

/// The providers and the active choice.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LlmSettings {
    pub providers: Vec<ProviderConfig>,
    pub active: Active,
}

/// A provider with what it offers now.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProviderStatus {
    #[serde(flatten)]
    pub config: ProviderConfig,
    pub available: bool,
    pub models: Vec<String>,
    pub is_default: bool,
    /// Why it is not available, with the fix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Found running, not configured yet.
    pub detected: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProvidersStatus {
    pub providers: Vec<ProviderStatus>,
    pub active: Active,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SetProvider {
    pub id: String,
    pub kind: ProviderKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub base_url: String,
    /// Kept in the keychain and sent as a bearer token; left out, a stored key is kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Select {
    pub provider: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderFilter {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Prompt {
    pub messages: Vec<Message>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
}

/// A completion's answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Completion {
    pub output: String,
    pub provider: String,
    pub model: String,
    pub usage: Usage,
}
