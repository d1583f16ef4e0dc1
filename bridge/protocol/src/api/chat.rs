//! `chat.*`: the sidebar's conversations, which outlive Firefox, and their turns through the
//! agent loop ([`RunEvent`]s stream while it works).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::llm::{Message, Usage};
use crate::ErrorObject;

crate::methods! {
    ChatSessionsList = "chat.sessions.list", Extension, super::Empty => Vec<SessionInfo>;
    ChatSessionsCreate = "chat.sessions.create", Extension, CreateSession => SessionInfo;
    ChatSessionsGet = "chat.sessions.get", Extension, super::Id => SessionWithMessages;
    ChatSessionsRename = "chat.sessions.rename", Extension, RenameSession => SessionInfo;
    ChatSessionsDelete = "chat.sessions.delete", Extension, super::Id => Deleted;
    /// One turn: the user's text, then the model and its tool calls until it answers.
    ChatSend = "chat.send", Extension, Send => Answer, RunEvent;
    ChatSettingsGet = "chat.settings.get", Extension, super::Empty => ChatSettings;
    /// The given fields over the current settings.
    ChatSettingsSet = "chat.settings.set", Extension, ChatSettingsChange => ChatSettings;
}

/// What a run of the agent loop streams, in the Web Agent API's shapes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum RunEvent {
    Status {
        message: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tools: Option<Vec<String>>,
    },
    Token {
        token: String,
    },
    ToolCall {
        id: String,
        tool: String,
        args: Value,
        /// A page's own tool: the origin of the page it runs in.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        page: Option<String>,
        /// The tool has an MCP App view (its `ui://` resource): its result can be shown in it
        /// (`apps.open`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ui: Option<String>,
        /// A call made from code: the id of the `execute_code` call whose code made it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        parent: Option<String>,
    },
    /// The server's progress report on the tool call `id` (the sidebar's chat only).
    Progress {
        id: String,
        progress: f64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        total: Option<f64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
    },
    ToolResult {
        id: String,
        tool: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        result: Option<Value>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<ErrorObject>,
        /// Whether the model got a cut version.
        truncated: bool,
        /// The tool said its output is content nobody vouches for (WebMCP's
        /// `untrustedContentHint`); the model was told to treat it as data.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        untrusted: bool,
        /// A call made from code: the id of the `execute_code` call whose code made it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        parent: Option<String>,
    },
    Final {
        output: String,
    },
    Error {
        error: ErrorObject,
    },
}

/// A session as listed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionInfo {
    pub id: String,
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_prompt: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub message_count: i64,
}

/// A stored message with its place in the session.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredMessage {
    pub seq: i64,
    #[serde(flatten)]
    pub message: Message,
    pub created_at: i64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SessionWithMessages {
    pub session: SessionInfo,
    pub messages: Vec<StoredMessage>,
    /// A turn of it is running now (started by a sidebar that may have closed since); what it
    /// adds is stored when it ends, and [`CHANGED`] says so.
    #[serde(default)]
    pub running: bool,
}

/// The notification sent when a turn of a session begins or ends: [`SessionChanged`].
pub const CHANGED: &str = "chat.changed";

/// `chat.changed`'s params.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionChanged {
    pub session_id: String,
    pub running: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateSession {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_prompt: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RenameSession {
    pub id: String,
    pub title: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deleted {
    pub deleted: String,
}

/// `chat.send`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Send {
    pub session_id: String,
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Only these tools (namespaced names); all when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<Vec<String>>,
    /// Also offer the tools this tab's page registered (WebMCP), as `page/<name>`: the user
    /// chose to let the chat use them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_tab: Option<i64>,
    /// A chat a site opened for `pageTab` (`agent.chat.open`): only that site's tools, and its
    /// instructions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site_chat: Option<String>,
    /// The page the user attached ("Ask about this page"): its readable text goes to the model
    /// for this turn, marked as the page's content rather than instructions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page: Option<PageContext>,
    /// Skills the user loaded into the conversation (SEP-2640): each one's `SKILL.md` goes to
    /// the model with this turn, as instructions from its server.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skills: Vec<SkillRef>,
}

/// A server's skill, by its `SKILL.md`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SkillRef {
    pub server_id: String,
    pub uri: String,
}

/// A page's readable text, as the sidebar read it from the tab the user is looking at.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PageContext {
    pub url: String,
    #[serde(default)]
    pub title: String,
    pub text: String,
}

/// A turn's outcome.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Answer {
    pub session_id: String,
    pub output: String,
    pub provider: String,
    pub model: String,
    pub tool_calls: u32,
    pub usage: Usage,
}

/// The chat's limits and defaults, adjustable in the sidebar's settings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct ChatSettings {
    /// Tool calls one answer may make.
    pub max_tool_calls: u32,
    /// Tools offered to the model at once; more are narrowed down by relevance.
    pub max_tools: usize,
    /// Tool results longer than this many characters are cut before the model sees them.
    pub tool_result_chars: usize,
    /// The context window asked of the model, and what the history is fitted into.
    pub context_tokens: u32,
    pub system_prompt: String,
    /// Code mode: the model is offered search, describe and run-code tools over every tool
    /// instead of the tools themselves (not in a site's chat, which keeps its own tools).
    pub code_mode: bool,
}

impl Default for ChatSettings {
    fn default() -> Self {
        ChatSettings {
            max_tool_calls: 8,
            max_tools: 20,
            tool_result_chars: 8000,
            context_tokens: 8192,
            system_prompt: "You are Harbor's assistant, running in the user's browser. Use the tools when they help, \
                            and base your answer on their results."
                .into(),
            code_mode: false,
        }
    }
}

impl ChatSettings {
    /// Says which value is out of its range.
    pub fn check(&self) -> Result<(), String> {
        if self.max_tool_calls == 0 || self.max_tool_calls > 100 {
            return Err("maxToolCalls must be between 1 and 100".into());
        }
        if self.max_tools == 0 || self.max_tools > 500 {
            return Err("maxTools must be between 1 and 500".into());
        }
        if self.tool_result_chars < 200 {
            return Err("toolResultChars must be at least 200".into());
        }
        if !(1024..=1_048_576).contains(&self.context_tokens) {
            return Err("contextTokens must be between 1024 and 1048576".into());
        }
        Ok(())
    }
}

/// `chat.settings.set`: the fields to change.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ChatSettingsChange {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tool_calls: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tools: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_result_chars: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_tokens: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_prompt: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_mode: Option<bool>,
}
