//! Tool calls for models without native tool calling: a documented text format.
//!
//! The model is told, in a system message, which tools exist and to answer a tool call with
//! nothing but
//!
//! ```text
//! <tool_call>{"name": "time__get_current_time", "arguments": {"timezone": "Asia/Tokyo"}}</tool_call>
//! ```
//!
//! Results come back as a user message that starts `Tool result for <name>:`. While the answer
//! streams, text that may be the start of a `<tool_call>` block is held back ([`Holdback`]), so
//! the user sees the model's prose as it is written but never the raw call.

use serde_json::{json, Value};

use crate::llm::{Message, Role, ToolCall, ToolSpec};

const OPEN: &str = "<tool_call>";
const CLOSE: &str = "</tool_call>";

/// The system message that teaches the format and lists the tools.
pub fn instructions(tools: &[ToolSpec]) -> Message {
    let mut text = String::from(
        "You can call tools. To call one, answer with only this block and nothing else:\n\
         <tool_call>{\"name\": \"<tool name>\", \"arguments\": {<arguments as JSON>}}</tool_call>\n\
         You will then get a message starting with \"Tool result for <tool name>:\". \
         Call a tool only when it helps; otherwise answer directly.\n\nTools:\n",
    );
    for tool in tools {
        text.push_str(&format!(
            "- {}: {}\n  arguments (JSON Schema): {}\n",
            tool.name, tool.description, tool.parameters
        ));
    }
    Message::new(Role::System, text)
}

/// The message that carries a tool's result back to the model.
pub fn result_message(call: &ToolCall, text: &str) -> Message {
    Message::new(Role::User, format!("Tool result for {}:\n{text}", call.name))
}

/// The tool calls in a complete answer. A block that cannot be read becomes a call with an
/// empty name and the reason as its arguments, so the loop can tell the model what to fix.
pub fn parse(answer: &str, first_id: usize) -> Vec<ToolCall> {
    let mut calls = Vec::new();
    let mut rest = answer;
    while let Some(start) = rest.find(OPEN) {
        let after = &rest[start + OPEN.len()..];
        let (body, next) = match after.find(CLOSE) {
            Some(end) => (&after[..end], &after[end + CLOSE.len()..]),
            None => (after, ""),
        };
        let id = format!("call_{}", first_id + calls.len());
        let call = match serde_json::from_str::<Value>(body.trim()) {
            Ok(value) if value["name"].is_string() => ToolCall {
                id,
                name: value["name"].as_str().unwrap_or_default().to_owned(),
                arguments: value.get("arguments").cloned().unwrap_or_else(|| json!({})),
            },
            Ok(_) => ToolCall { id, name: String::new(), arguments: json!("the block has no \"name\"") },
            Err(error) => {
                ToolCall { id, name: String::new(), arguments: json!(format!("the block is not JSON: {error}")) }
            }
        };
        calls.push(call);
        rest = next;
    }
    calls
}

/// Passes streamed text through, holding back whatever may be the start of a tool call.
#[derive(Default)]
pub struct Holdback {
    held: String,
    /// A `<tool_call>` began: nothing more of this answer is shown.
    inside: bool,
}

impl Holdback {
    /// The part of `text` (with what was held before) that is safe to show now.
    pub fn push(&mut self, text: &str) -> Option<String> {
        if self.inside {
            return None;
        }
        self.held.push_str(text);
        if let Some(at) = self.held.find(OPEN) {
            self.inside = true;
            let shown: String = self.held[..at].to_owned();
            self.held.clear();
            return (!shown.is_empty()).then_some(shown);
        }
        // Keep the longest tail that could still grow into `<tool_call>`.
        let keep = (1..OPEN.len()).rev().find(|n| self.held.ends_with(&OPEN[..*n])).unwrap_or(0);
        let cut = self.held.len() - keep;
        let shown: String = self.held.drain(..cut).collect();
        (!shown.is_empty()).then_some(shown)
    }

    /// What is still held when the answer ends without a call.
    pub fn finish(&mut self) -> Option<String> {
        if self.inside {
            return None;
        }
        let rest = std::mem::take(&mut self.held);
        (!rest.is_empty()).then_some(rest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_are_read_and_bad_blocks_are_reported() {
        let answer = r#"Let me check. <tool_call>{"name": "time__now", "arguments": {"tz": "UTC"}}</tool_call>"#;
        let calls = parse(answer, 0);
        assert_eq!(
            calls,
            vec![ToolCall { id: "call_0".into(), name: "time__now".into(), arguments: json!({"tz": "UTC"}) }]
        );
        let bad = parse("<tool_call>{nope}</tool_call>", 3);
        assert_eq!(bad[0].id, "call_3");
        assert!(bad[0].name.is_empty() && bad[0].arguments.as_str().unwrap().contains("not JSON"));
        assert!(parse("no calls here", 0).is_empty());
    }

    #[test]
    fn prose_streams_and_the_call_is_held_back() {
        let mut holdback = Holdback::default();
        let mut shown = String::new();
        for piece in ["Let me ", "check <to", "ol_call>{\"name\":", "\"x\"}</tool_call>"] {
            shown.extend(holdback.push(piece));
        }
        shown.extend(holdback.finish());
        assert_eq!(shown, "Let me check ");
        let mut plain = Holdback::default();
        let mut shown = String::new();
        for piece in ["a < b", " and <", "b> c"] {
            shown.extend(plain.push(piece));
        }
        shown.extend(plain.finish());
        assert_eq!(shown, "a < b and <b> c");
    }
}
