//! Ollama: `GET /api/tags` for the models, `POST /api/chat` for streamed answers.
//!
//! Requests carry native `tools` (`{"type": "function", "function": {...}}`); answers arrive as
//! NDJSON lines, each with a piece of `message.content` or whole `message.tool_calls` (arguments
//! as a JSON object), and a last line with `done: true` and the token counts
//! (`prompt_eval_count`, `eval_count`). An `{"error": "..."}` line mid-stream is the server's
//! failure. Tool results go back as `role: "tool"` messages named with `tool_name`.

use serde_json::{json, Value};

use super::lines::Decoder;
use super::wire::Wire;
use super::{function_tools, ChatRequest, Delta, LlmError, Message, ModelInfo, Role, ToolCall, Usage};

/// Ollama's wire format.
pub struct Ollama;

impl Wire for Ollama {
    const MODELS: &'static str = "/api/tags";
    const CHAT: &'static str = "/api/chat";
    type Lines = Lines;

    fn models(provider: &str, body: &Value) -> Option<Vec<ModelInfo>> {
        let models = body["models"].as_array()?;
        Some(
            models
                .iter()
                .filter_map(|m| {
                    Some(ModelInfo {
                        name: m["name"].as_str().or(m["model"].as_str())?.to_owned(),
                        provider: provider.to_owned(),
                        size: m["size"].as_u64(),
                        family: m["details"]["family"].as_str().map(str::to_owned),
                        parameter_size: m["details"]["parameter_size"].as_str().map(str::to_owned),
                    })
                })
                .collect(),
        )
    }

    fn body(request: &ChatRequest) -> Value {
        request_body(request)
    }
}

/// The `/api/chat` body for `request`.
pub fn request_body(request: &ChatRequest) -> Value {
    let messages: Vec<Value> = request.messages.iter().map(message).collect();
    let mut body = json!({ "model": request.model, "messages": messages, "stream": true });
    if !request.tools.is_empty() {
        body["tools"] = function_tools(&request.tools);
    }
    if let Some(schema) = &request.response_schema {
        body["format"] = schema.clone();
    }
    let mut options = serde_json::Map::new();
    if let Some(temperature) = request.temperature {
        options.insert("temperature".into(), json!(temperature));
    }
    if let Some(top_k) = request.top_k {
        options.insert("top_k".into(), json!(top_k));
    }
    if let Some(context) = request.context_tokens {
        options.insert("num_ctx".into(), json!(context));
    }
    if !options.is_empty() {
        body["options"] = Value::Object(options);
    }
    body
}

fn message(message: &Message) -> Value {
    let mut value = json!({ "role": message.role.as_str(), "content": message.content });
    if !message.tool_calls.is_empty() {
        let calls: Vec<Value> = message
            .tool_calls
            .iter()
            .map(|c| json!({"function": {"name": c.name, "arguments": c.arguments}}))
            .collect();
        value["tool_calls"] = Value::Array(calls);
    }
    if message.role == Role::Tool {
        if let Some(name) = &message.tool_name {
            value["tool_name"] = json!(name);
        }
    }
    value
}

/// Reads `/api/chat`'s NDJSON.
#[derive(Default)]
pub struct Lines {
    done: bool,
    calls: usize,
}

impl Decoder for Lines {
    fn line(&mut self, line: &str) -> Result<Vec<Delta>, LlmError> {
        let value: Value = serde_json::from_str(line).map_err(|e| {
            let shown: String = line.chars().take(120).collect();
            LlmError::Failed(format!("the model server sent a line that is not JSON ({e}): {shown}"))
        })?;
        if let Some(error) = value["error"].as_str() {
            return Err(LlmError::Failed(format!("the model failed: {error}")));
        }
        if !value.is_object() || value.get("done").is_none() {
            let shown: String = line.chars().take(120).collect();
            return Err(LlmError::Failed(format!(
                "the model server sent a line that is not an Ollama chat chunk: {shown}"
            )));
        }
        let mut deltas = Vec::new();
        if let Some(text) = value["message"]["content"].as_str().filter(|t| !t.is_empty()) {
            deltas.push(Delta::Token(text.to_owned()));
        }
        for call in value["message"]["tool_calls"].as_array().into_iter().flatten() {
            let name = call["function"]["name"].as_str().unwrap_or_default().to_owned();
            let arguments = match &call["function"]["arguments"] {
                // Some models put a JSON string where the object belongs.
                Value::String(s) => serde_json::from_str(s).unwrap_or(Value::String(s.clone())),
                Value::Null => json!({}),
                other => other.clone(),
            };
            let id = call["id"].as_str().map(str::to_owned).unwrap_or_else(|| format!("call_{}", self.calls));
            self.calls += 1;
            deltas.push(Delta::ToolCall(ToolCall { id, name, arguments }));
        }
        if value["done"] == true {
            self.done = true;
            deltas.push(Delta::Done(Usage {
                prompt_tokens: value["prompt_eval_count"].as_u64().unwrap_or(0),
                completion_tokens: value["eval_count"].as_u64().unwrap_or(0),
            }));
        }
        Ok(deltas)
    }

    fn finished(&self) -> bool {
        self.done
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_give_tokens_tool_calls_and_usage() {
        let mut lines = Lines::default();
        let token = lines.line(r#"{"model":"m","message":{"role":"assistant","content":"Hi"},"done":false}"#).unwrap();
        assert_eq!(token, vec![Delta::Token("Hi".into())]);
        let call = lines
            .line(r#"{"model":"m","message":{"role":"assistant","content":"","tool_calls":[{"function":{"name":"t","arguments":{"a":1}}}]},"done":false}"#)
            .unwrap();
        assert_eq!(
            call,
            vec![Delta::ToolCall(ToolCall { id: "call_0".into(), name: "t".into(), arguments: json!({"a": 1}) })]
        );
        let done = lines.line(r#"{"model":"m","message":{"role":"assistant","content":""},"done":true,"prompt_eval_count":7,"eval_count":3}"#).unwrap();
        assert_eq!(done, vec![Delta::Done(Usage { prompt_tokens: 7, completion_tokens: 3 })]);
        assert!(lines.finished());
    }

    #[test]
    fn an_error_line_or_a_foreign_line_is_a_failure() {
        let mut lines = Lines::default();
        assert!(
            matches!(lines.line(r#"{"error":"out of memory"}"#), Err(LlmError::Failed(m)) if m.contains("out of memory"))
        );
        assert!(matches!(lines.line("<html>"), Err(LlmError::Failed(m)) if m.contains("not JSON")));
        assert!(
            matches!(lines.line(r#"{"choices":[]}"#), Err(LlmError::Failed(m)) if m.contains("not an Ollama chat chunk"))
        );
    }
}
