//! OpenAI-compatible servers: `GET /v1/models`, `POST /v1/chat/completions` with server-sent
//! events.
//!
//! `base_url` is the server's root (`http://127.0.0.1:1234`); a URL that already ends in `/v1`
//! is accepted too. Each event is a `chat.completion.chunk`: `delta.content` pieces, and
//! `delta.tool_calls` pieces keyed by `index` — the first with the call's id and name, later ones
//! with slices of the arguments string — which are assembled here and handed on whole. The
//! stream ends with `data: [DONE]`; with `stream_options.include_usage` a last chunk with empty
//! `choices` carries the token counts.

use serde_json::{json, Value};

use super::lines::Decoder;
use super::wire::Wire;
use super::{function_tools, ChatRequest, Delta, LlmError, Message, ModelInfo, Role, ToolCall, Usage};

/// The OpenAI-compatible wire format.
pub struct OpenAi;

impl Wire for OpenAi {
    const MODELS: &'static str = "/models";
    const CHAT: &'static str = "/chat/completions";
    type Lines = Events;

    /// The root with `/v1` after it, whether or not the user wrote it.
    fn base(url: &str) -> String {
        let root = url.trim_end_matches('/');
        format!("{}/v1", root.strip_suffix("/v1").unwrap_or(root))
    }

    fn models(provider: &str, body: &Value) -> Option<Vec<ModelInfo>> {
        let data = body["data"].as_array()?;
        Some(
            data.iter()
                .filter_map(|m| {
                    Some(ModelInfo {
                        name: m["id"].as_str()?.to_owned(),
                        provider: provider.to_owned(),
                        size: None,
                        family: m["owned_by"].as_str().map(str::to_owned),
                        parameter_size: None,
                    })
                })
                .collect(),
        )
    }

    fn body(request: &ChatRequest) -> Value {
        request_body(request)
    }
}

/// The `/v1/chat/completions` body for `request`.
pub fn request_body(request: &ChatRequest) -> Value {
    let messages: Vec<Value> = request.messages.iter().map(message).collect();
    let mut body = json!({
        "model": request.model, "messages": messages,
        "stream": true, "stream_options": {"include_usage": true}
    });
    if !request.tools.is_empty() {
        body["tools"] = function_tools(&request.tools);
    }
    if let Some(temperature) = request.temperature {
        body["temperature"] = json!(temperature);
    }
    if let Some(top_k) = request.top_k {
        // Not in OpenAI's own API; llama.cpp, vLLM and LM Studio take it, others ignore it.
        body["top_k"] = json!(top_k);
    }
    if let Some(schema) = &request.response_schema {
        body["response_format"] = json!({
            "type": "json_schema",
            "json_schema": {"name": "response", "schema": schema, "strict": true},
        });
    }
    body
}

fn message(message: &Message) -> Value {
    match message.role {
        Role::Tool => json!({
            "role": "tool", "content": message.content,
            "tool_call_id": message.tool_call_id.as_deref().unwrap_or_default()
        }),
        Role::Assistant if !message.tool_calls.is_empty() => {
            let calls: Vec<Value> = message
                .tool_calls
                .iter()
                .map(|c| json!({"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments.to_string()}}))
                .collect();
            let content = if message.content.is_empty() { Value::Null } else { json!(message.content) };
            json!({ "role": "assistant", "content": content, "tool_calls": calls })
        }
        role => json!({ "role": role.as_str(), "content": message.content }),
    }
}

/// A tool call being assembled from its pieces.
#[derive(Default)]
struct Partial {
    id: String,
    name: String,
    arguments: String,
}

/// The most tool calls one streamed answer may hold.
const MAX_CALLS_PER_ANSWER: usize = 64;

/// Reads the server-sent events of a streamed completion.
#[derive(Default)]
pub struct Events {
    calls: Vec<Partial>,
    usage: Usage,
    /// A `finish_reason` arrived.
    finish_seen: bool,
    done: bool,
}

impl Events {
    fn flush_calls(&mut self) -> Vec<Delta> {
        self.calls
            .drain(..)
            .enumerate()
            .map(|(i, call)| {
                let arguments = if call.arguments.trim().is_empty() {
                    json!({})
                } else {
                    // Arguments that are not JSON go to the agent loop as a string, which tells
                    // the model so.
                    serde_json::from_str(&call.arguments).unwrap_or(Value::String(call.arguments))
                };
                let id = if call.id.is_empty() { format!("call_{i}") } else { call.id };
                Delta::ToolCall(ToolCall { id, name: call.name, arguments })
            })
            .collect()
    }

    fn complete(&mut self) -> Vec<Delta> {
        self.done = true;
        let mut deltas = self.flush_calls();
        deltas.push(Delta::Done(self.usage));
        deltas
    }
}

impl Decoder for Events {
    fn line(&mut self, line: &str) -> Result<Vec<Delta>, LlmError> {
        // Comments, event names, ids and retry hints carry nothing for us.
        let Some(data) = line.strip_prefix("data:") else { return Ok(Vec::new()) };
        let data = data.trim_start();
        if data == "[DONE]" {
            return Ok(self.complete());
        }
        let chunk: Value = serde_json::from_str(data).map_err(|e| {
            let shown: String = data.chars().take(120).collect();
            LlmError::Failed(format!("the model server sent an event that is not JSON ({e}): {shown}"))
        })?;
        if let Some(error) = chunk.get("error") {
            let message = error["message"].as_str().map(str::to_owned).unwrap_or_else(|| error.to_string());
            return Err(LlmError::Failed(format!("the model failed: {message}")));
        }
        if let Some(usage) = chunk.get("usage").filter(|u| u.is_object()) {
            self.usage = Usage {
                prompt_tokens: usage["prompt_tokens"].as_u64().unwrap_or(0),
                completion_tokens: usage["completion_tokens"].as_u64().unwrap_or(0),
            };
        }
        let Some(choices) = chunk["choices"].as_array() else {
            let shown: String = data.chars().take(120).collect();
            return Err(LlmError::Failed(format!(
                "the model server sent an event that is not a completion chunk: {shown}"
            )));
        };
        let mut deltas = Vec::new();
        for choice in choices.iter().filter(|c| c["index"].as_u64().unwrap_or(0) == 0) {
            let delta = &choice["delta"];
            if let Some(text) = delta["content"].as_str().filter(|t| !t.is_empty()) {
                deltas.push(Delta::Token(text.to_owned()));
            }
            for piece in delta["tool_calls"].as_array().into_iter().flatten() {
                let index = piece["index"].as_u64().unwrap_or(self.calls.len() as u64);
                // The index sizes a table: a server that sends 33,333,333,331 must not make
                // the bridge allocate for that many calls.
                if index >= MAX_CALLS_PER_ANSWER as u64 {
                    return Err(LlmError::Failed(format!(
                        "the model server sent tool call number {index}; Harbor takes at most {MAX_CALLS_PER_ANSWER} calls in one answer"
                    )));
                }
                let index = index as usize;
                if index >= self.calls.len() {
                    self.calls.resize_with(index + 1, Partial::default);
                }
                let call = &mut self.calls[index];
                if let Some(id) = piece["id"].as_str() {
                    call.id = id.to_owned();
                }
                if let Some(name) = piece["function"]["name"].as_str() {
                    call.name.push_str(name);
                }
                if let Some(arguments) = piece["function"]["arguments"].as_str() {
                    call.arguments.push_str(arguments);
                }
            }
            if choice["finish_reason"].is_string() {
                self.finish_seen = true;
                deltas.extend(self.flush_calls());
            }
        }
        Ok(deltas)
    }

    fn finished(&self) -> bool {
        self.done
    }

    fn end(&mut self) -> Option<Vec<Delta>> {
        // Some servers stop after the finish reason without `[DONE]`; the answer is whole.
        self.finish_seen.then(|| self.complete())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by the `model_stream` fuzzer (crash-48abb906…): a tool call index of 33,333,333,331
    /// made the decoder allocate a table that large, and the bridge died.
    #[test]
    fn fuzz_model_stream_48abb906_a_huge_tool_call_index_is_an_error_not_an_allocation() {
        let mut events = Events::default();
        let line = r#"data: {"choices":[{"delta":{"tool_calls":[{"index":33333333331,"id":"c","function":{"name":"t","arguments":"{}"}}]}}]}"#;
        let error = events.line(line).unwrap_err().to_string();
        assert!(error.contains("at most 64 calls"), "{error}");
        let last = format!(
            r#"data: {{"choices":[{{"delta":{{"tool_calls":[{{"index":{},"function":{{"name":"t"}}}}]}}}}]}}"#,
            MAX_CALLS_PER_ANSWER - 1
        );
        assert!(events.line(&last).is_ok(), "the last allowed index is taken");
    }

    #[test]
    fn tool_call_pieces_are_assembled_into_one_call() {
        let mut events = Events::default();
        let open = r#"data: {"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_9","type":"function","function":{"name":"time__now","arguments":""}}]},"finish_reason":null}]}"#;
        assert!(events.line(open).unwrap().is_empty());
        let part = |s: &str| {
            format!(
                r#"data: {{"choices":[{{"index":0,"delta":{{"tool_calls":[{{"index":0,"function":{{"arguments":{}}}}}]}},"finish_reason":null}}]}}"#,
                json!(s)
            )
        };
        assert!(events.line(&part(r#"{"tz":"#)).unwrap().is_empty());
        assert!(events.line(&part(r#""Asia/Tokyo"}"#)).unwrap().is_empty());
        let finish = events.line(r#"data: {"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}"#).unwrap();
        assert_eq!(
            finish,
            vec![Delta::ToolCall(ToolCall {
                id: "call_9".into(),
                name: "time__now".into(),
                arguments: json!({"tz": "Asia/Tokyo"})
            })]
        );
        events.line(r#"data: {"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":2}}"#).unwrap();
        assert_eq!(
            events.line("data: [DONE]").unwrap(),
            vec![Delta::Done(Usage { prompt_tokens: 5, completion_tokens: 2 })]
        );
    }

    #[test]
    fn comments_are_skipped_and_errors_and_garbage_fail() {
        let mut events = Events::default();
        assert!(events.line(": keep-alive").unwrap().is_empty());
        assert!(
            matches!(events.line(r#"data: {"error":{"message":"quota"}}"#), Err(LlmError::Failed(m)) if m.contains("quota"))
        );
        assert!(matches!(events.line("data: {oops"), Err(LlmError::Failed(m)) if m.contains("not JSON")));
    }
}
