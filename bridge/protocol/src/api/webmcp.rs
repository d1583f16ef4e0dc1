//! `webmcp.*` and `page.tools.*`: the tools web pages register with WebMCP
//! (`document.modelContext.registerTool`, and the older `navigator.modelContext`), offered to the
//! user's own agent — the sidebar's chat — and run in the page that registered them.
//!
//! A page holds one `webmcp.serve` request open while it has tools: each call of one of its
//! tools reaches it as a `tool_call` event on that request, and it answers with `webmcp.result`.
//! `webmcp.tools.set` replaces the list when it changes; `version` orders the lists, since the
//! bridge may handle two requests of one page in either order. The page's tools end with the
//! request: when the tab navigates or closes, the relay's port closes and the request with it.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::tools::ToolEntry;

crate::methods! {
    /// Held open while the page has tools; its events are the calls of them.
    WebmcpServe = "webmcp.serve", Page, OfferedTools => super::Empty, PageToolEvent;
    /// The page's tools now (registered or unregistered since).
    WebmcpToolsSet = "webmcp.tools.set", Page, OfferedTools => super::Empty;
    /// The page's answer to a `tool_call` event.
    WebmcpResult = "webmcp.result", Page, CallAnswer => super::Empty;
    /// The tools each tab's page offers (its top frame's), for the sidebar's chat.
    PageToolsList = "page.tools.list", Extension, TabFilter => Vec<TabTools>;
}

/// One frame's tools, as its page registered them.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OfferedTools {
    /// Counts up with each change the page makes; an older list never replaces a newer one.
    pub version: u64,
    pub tools: Vec<OfferedTool>,
}

/// WebMCP's `ModelContextTool`, less its `execute` (which stays in the page).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OfferedTool {
    /// 1–128 of `A-Z a-z 0-9 _ - .`, unique in the page.
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    pub description: String,
    /// A JSON Schema object; absent means the tool takes no input.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_schema: Option<Value>,
    #[serde(default)]
    pub annotations: ToolHints,
}

/// WebMCP's `ToolAnnotations`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolHints {
    #[serde(default)]
    pub read_only_hint: bool,
    /// The tool's output holds content its own page does not vouch for.
    #[serde(default)]
    pub untrusted_content_hint: bool,
}

/// What `webmcp.serve` streams to the page.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum PageToolEvent {
    /// Run `tool` with `args`, then answer `webmcp.result` with `callId: id`.
    ToolCall { id: String, tool: String, args: Value },
    /// The caller gave up on call `id` (stopped, timed out); an answer is no longer awaited.
    ToolCancel { id: String },
}

/// `webmcp.result`: what the tool's `execute` returned (any JSON value, an MCP
/// `CallToolResult` passed through as it is), or the message of what it threw.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CallAnswer {
    pub call_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// `{"tabId"?: n}`: one tab's page tools, or every tab's.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TabFilter {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tab_id: Option<i64>,
}

/// The tools one tab's page offers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TabTools {
    pub tab_id: i64,
    /// The page's origin, shown beside its tools.
    pub origin: String,
    /// As catalog entries: `page/<name>`, server `page`, `pageOrigin` set.
    pub tools: Vec<ToolEntry>,
}
