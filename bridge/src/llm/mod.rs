//! The LLM layer: chat models behind one [`Provider`] trait.
//!
//! Two providers speak the two wire formats local model servers use: [`ollama`] (`/api/tags`,
//! `/api/chat` with NDJSON streaming and native `tools`) and [`openai`] (any
//! `/v1/chat/completions` server — llamafile, LM Studio, vLLM, llama.cpp — with server-sent
//! events). A chat request becomes a [`DeltaStream`]: tokens as the model writes them, tool
//! calls, then the usage. Dropping the stream closes the HTTP connection, which is how a model
//! server learns that the user pressed stop.
//!
//! [`wire::HttpProvider`] is the one HTTP provider; each format is a [`wire::Wire`]. `builtin`
//! (the `builtin-model` feature) runs GGUF models in the bridge itself, with no server.
//! [`Llm`](config::Llm) holds which providers are configured and which is active; it knows
//! nothing of MCP (the agent loop in `chat` is where models and tools meet).

#[cfg(feature = "builtin-model")]
pub mod builtin;
pub mod catalog;
pub mod config;
pub mod lines;
pub mod ollama;
pub mod openai;
pub mod wire;

use futures::future::BoxFuture;
use futures::stream::BoxStream;

use serde_json::Value;

pub use config::{Llm, ProviderConfig, ProviderKind};

pub use harbor_protocol::api::llm::{Message, ModelInfo, Role, ToolCall, Usage};

/// A tool offered to a model.
#[derive(Clone, Debug, PartialEq)]
pub struct ToolSpec {
    /// Model-safe: `^[a-zA-Z0-9_-]{1,64}$`.
    pub name: String,
    pub description: String,
    /// JSON Schema of the arguments.
    pub parameters: Value,
}

/// One chat completion request.
#[derive(Clone, Debug)]
pub struct ChatRequest {
    pub model: String,
    pub messages: Vec<Message>,
    /// Empty: a plain completion.
    pub tools: Vec<ToolSpec>,
    pub temperature: Option<f64>,
    /// The context window to ask for (Ollama's `num_ctx`); `None` leaves the server's default.
    pub context_tokens: Option<u32>,
    /// Sampling from the `top_k` likeliest tokens (Ollama's `options.top_k`, OpenAI-compatible
    /// servers' `top_k`); `None` leaves the server's default.
    pub top_k: Option<u32>,
    /// A JSON Schema the answer must match: structured output (Ollama's `format`, OpenAI's
    /// `response_format` of type `json_schema`).
    pub response_schema: Option<serde_json::Value>,
}

/// What a model stream yields.
#[derive(Clone, Debug, PartialEq)]
pub enum Delta {
    /// A piece of the answer, as the model wrote it.
    Token(String),
    /// A complete tool call (OpenAI's partial argument strings are assembled first).
    ToolCall(ToolCall),
    /// The answer is complete.
    Done(Usage),
}

/// What can go wrong talking to a model server.
#[derive(Clone, Debug, PartialEq)]
pub enum LlmError {
    /// Nothing answered at `url` (refused, timed out, not a model server).
    Unavailable { url: String, why: String, fix: String },
    /// The server answered with an error, or with something that is not its wire format.
    Failed(String),
    /// The model does not accept native tools (Ollama: "does not support tools").
    ToolsUnsupported(String),
}

impl std::fmt::Display for LlmError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LlmError::Unavailable { url, why, fix } => write!(f, "no model server answered at {url} ({why}). {fix}"),
            LlmError::Failed(why) => f.write_str(why),
            LlmError::ToolsUnsupported(why) => write!(f, "the model cannot call tools natively: {why}"),
        }
    }
}

impl From<LlmError> for harbor_protocol::ErrorObject {
    fn from(error: LlmError) -> Self {
        use harbor_protocol::ErrorCode;
        let code = match &error {
            LlmError::Unavailable { .. } => ErrorCode::ModelUnavailable,
            LlmError::Failed(_) | LlmError::ToolsUnsupported(_) => ErrorCode::ModelFailed,
        };
        let message = error.to_string();
        match error {
            LlmError::Unavailable { url, .. } => {
                harbor_protocol::ErrorObject::new(code, message).with_data(serde_json::json!({ "url": url }))
            }
            _ => harbor_protocol::ErrorObject::new(code, message),
        }
    }
}

pub type DeltaStream = BoxStream<'static, Result<Delta, LlmError>>;

/// A model server.
pub trait Provider: Send + Sync {
    fn config(&self) -> &ProviderConfig;

    /// The models the server offers now.
    fn models(&self) -> BoxFuture<'_, Result<Vec<ModelInfo>, LlmError>>;

    /// Starts a streamed completion. The future resolves once the server has accepted the
    /// request (HTTP errors come back here); the stream then yields the answer as it is written.
    fn chat(&self, request: ChatRequest) -> BoxFuture<'_, Result<DeltaStream, LlmError>>;
}

/// Maps a failed HTTP exchange with `url` to an [`LlmError`]: connection problems are
/// "unavailable", everything else a failure with reqwest's message.
fn http_error(config: &ProviderConfig, url: &str, error: reqwest::Error) -> LlmError {
    if error.is_connect() || error.is_timeout() {
        let why = if error.is_timeout() { "timed out".to_owned() } else { root_cause(&error) };
        LlmError::Unavailable { url: url.to_owned(), why, fix: config.kind.start_hint().to_owned() }
    } else {
        LlmError::Failed(format!("the request to {url} failed: {}", root_cause(&error)))
    }
}

fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = error;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

/// The provider's message from an error body: `{"error": "..."}` (Ollama) or
/// `{"error": {"message": "..."}}` (OpenAI), else the body itself, cut short.
fn error_message(status: reqwest::StatusCode, body: &str) -> String {
    let parsed: Option<Value> = serde_json::from_str(body).ok();
    let message = parsed.as_ref().and_then(|v| match &v["error"] {
        Value::String(s) => Some(s.clone()),
        Value::Object(o) => o.get("message").and_then(Value::as_str).map(str::to_owned),
        _ => None,
    });
    let message = message.unwrap_or_else(|| body.chars().take(300).collect());
    format!("the model server answered {status}: {message}")
}

/// Tools in the `{"type": "function", "function": {...}}` form both wire formats take.
fn function_tools(tools: &[ToolSpec]) -> Value {
    Value::Array(
        tools
            .iter()
            .map(|t| serde_json::json!({"type": "function", "function": {"name": t.name, "description": t.description, "parameters": t.parameters}}))
            .collect(),
    )
}

/// Reads a failed response into the right error: a model without tool support is told apart so
/// the agent loop can retry in the text format.
async fn failed_response(response: reqwest::Response) -> LlmError {
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    let message = error_message(status, &body);
    if status == reqwest::StatusCode::BAD_REQUEST && message.contains("does not support tools") {
        LlmError::ToolsUnsupported(message)
    } else {
        LlmError::Failed(message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_of_both_wire_formats_give_the_providers_message() {
        let status = reqwest::StatusCode::NOT_FOUND;
        assert!(error_message(status, r#"{"error":"model 'x' not found"}"#).ends_with("model 'x' not found"));
        assert!(error_message(status, r#"{"error":{"message":"bad key","type":"auth"}}"#).ends_with("bad key"));
        assert!(error_message(status, "<html>nope</html>").ends_with("<html>nope</html>"));
    }
}
