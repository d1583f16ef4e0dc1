//! "Bring your own chatbot": a site offers its own remote MCP server to the user's agent for
//! the tab it is open in (`agent.mcp.*`, the page's `<link rel="mcp-server">`), and asks for
//! Harbor's chat (`agent.chat.*`).
//!
//! A page holds one `agent.mcp.register` request open per server it brought: its first event
//! says the server is connected and which tools it has, and the server goes when the request
//! does — the page unregistered it, navigated away, or its tab closed. Such a server is the
//! tab's alone: it is not stored, not listed among the user's servers, and never served by the
//! gateway. `agent.mcp.discover()` is the page reading its own `<link>` elements and needs no
//! bridge. A chat a site opens (`agent.chat.open`) is the user's own chat, for that tab, limited
//! to the site's tools and told the site's instructions as the site's, not the user's.

use serde::{Deserialize, Serialize};

use super::tools::ToolEntry;

crate::methods! {
    /// Held open while the site's server is registered; its first event says it is.
    AgentMcpRegister = "agent.mcp.register", Page, SiteServerOffer => super::Empty, SiteServerEvent;
    /// The servers sites brought, per tab, for the sidebar (which shows them with their origin).
    SiteServersList = "site.servers.list", Extension, super::Empty => Vec<SiteServer>;
    /// Whether Harbor's chat can be opened now (a model answers).
    AgentChatCanOpen = "agent.chat.canOpen", Page, super::Ignored => super::page::Availability;
    /// Opens Harbor's chat for the caller's tab, with the site's instructions and tools; the
    /// background shows it when it sees the answer.
    AgentChatOpen = "agent.chat.open", Page, ChatOpenRequest => OpenedChat;
    AgentChatClose = "agent.chat.close", Page, ChatRef => ClosedChat;
    /// The chat a site opened for `tabId`, if any, for the sidebar.
    SiteChatsGet = "site.chats.get", Extension, super::webmcp::TabFilter => Option<SiteChat>;
}

/// What a page offers: the reference implementation's `MCPServerRegistration`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SiteServerOffer {
    /// `https:`, or `http:` on loopback for a page itself served from loopback.
    pub url: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The tool names the page says the server has (shown to the user; the server's own list
    /// is what counts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<Vec<String>>,
    /// `"sse"` (the reference implementation's default), `"streamable-http"` or `"http"`: all
    /// reached as MCP's Streamable HTTP. `"websocket"` is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transport: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SiteServerEvent {
    /// Connected: the server's id (its tools are `<serverId>/<tool>`) and tools.
    Registered {
        #[serde(rename = "serverId")]
        server_id: String,
        tools: Vec<String>,
    },
}

/// A site's server as the sidebar shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SiteServer {
    pub server_id: String,
    pub name: String,
    pub url: String,
    pub origin: String,
    pub tab_id: i64,
    pub tools: Vec<ToolEntry>,
}

/// The reference implementation's `ChatOpenOptions`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChatOpenRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_prompt: Option<String>,
    /// The site's tools the chat may use (its page's and its servers'), by name; absent: all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<Vec<String>>,
    /// Accepted and ignored: Harbor's chat keeps the user's theme.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub style: Option<serde_json::Value>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OpenedChat {
    pub chat_id: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChatRef {
    /// Absent: the caller's tab's chat.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chat_id: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClosedChat {
    pub success: bool,
}

/// A chat a site opened: the sidebar shows it with the site's origin and instructions, and
/// `chat.send` with its id uses only the site's tools and follows its instructions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SiteChat {
    pub chat_id: String,
    pub origin: String,
    pub tab_id: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_prompt: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<Vec<String>>,
}
