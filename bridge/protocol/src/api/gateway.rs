//! `gateway.*`: Harbor's servers as one MCP endpoint for other apps — the HTTP endpoint, the
//! clients with their keys, allowlists and limits, connecting an app, and the calls that
//! `harbor-bridge mcp` makes for an app from another process. A key is in the answer of `add`
//! and `rotateKey` only: Harbor keeps its SHA-256.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::import::App;
use super::permissions::ChangedTool;
use super::tools::ToolEntry;
pub use super::tools::{AskAnswer, AskError};

pub use super::forward::Forward;

crate::methods! {
    GatewayStatus = "gateway.status", Extension, super::Empty => Status;
    /// Turns the loopback HTTP endpoint on (on a port; 0: any free one) or off.
    GatewayHttpSet = "gateway.http.set", Extension, SetHttp => Status;
    GatewayClientsAdd = "gateway.clients.add", Extension, ClientParams => NewKey;
    GatewayClientsUpdate = "gateway.clients.update", Extension, ClientParams => ClientUpdated;
    /// A new key; the old one stops working at once.
    GatewayClientsRotateKey = "gateway.clients.rotateKey", Extension, ClientName => NewKey;
    GatewayClientsApproveTool = "gateway.clients.approveTool", Extension, ApproveClientTool => Status;
    GatewayClientsRemove = "gateway.clients.remove", Extension, ClientName => ClientRemoved;
    /// Writes the `harbor-bridge mcp --client NAME` entry into an app's config.
    GatewayConnect = "gateway.connect", Extension, Connect => Connected;
    /// What a client may see (for `harbor-bridge mcp`).
    GatewayTools = "gateway.tools", Extension, ClientRef => ClientTools;
    /// A call on a client's behalf (for `harbor-bridge mcp`); MCP's `CallToolResult`, with the
    /// server's progress reports and its requests to the app as events before it.
    GatewayCall = "gateway.call", Extension, ClientCall => Value, super::tools::ToolEvent;
    /// The app's answer to a server's request that a `gateway.call` relayed as an `ask` event.
    GatewayAnswer = "gateway.answer", Extension, AskAnswer => super::Empty;
    /// One of MCP's other requests on a client's behalf (for `harbor-bridge mcp`): the MCP
    /// result, as the gateway's HTTP face would answer it.
    GatewayForward = "gateway.forward", Extension, ClientForward => Value;
}

/// Whether the HTTP endpoint runs, and on which loopback port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GatewaySettings {
    pub http: bool,
    pub port: u16,
}

impl Default for GatewaySettings {
    fn default() -> Self {
        GatewaySettings { http: false, port: 47_821 }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Http {
    pub listening: bool,
    pub port: Option<u16>,
    pub url: Option<String>,
}

/// A client's traffic since the bridge opened.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Traffic {
    pub calls: u64,
    pub errors: u64,
    pub rate_limited: u64,
}

/// A gateway client as the sidebar and the command line see it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Client {
    pub name: String,
    /// The key's first characters, so the user can tell which key an app holds.
    pub key_hint: String,
    /// Server ids (every tool of that server), `serverId/toolName` entries, or `*`. Empty: nothing.
    pub allow: Vec<String>,
    pub rate_per_min: u32,
    pub concurrency: u32,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    /// Tools and prompts under their servers' own names where unambiguous.
    #[serde(default)]
    pub plain_names: bool,
    /// Code mode: Harbor's search, describe and run-code tools instead of every tool.
    #[serde(default)]
    pub code_mode: bool,
    #[serde(default)]
    pub traffic: Traffic,
    /// Allowed tools their servers changed since the client first saw them (suspended).
    #[serde(default)]
    pub changed_tools: Vec<ChangedTool>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Status {
    pub settings: GatewaySettings,
    pub http: Http,
    pub clients: Vec<Client>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetHttp {
    pub enabled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
}

/// A new client's settings, or changes to one (absent fields stay as they are).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClientParams {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_per_min: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<u32>,
    /// Tools and prompts under their servers' own names (`echo`, not `everything__echo`) where
    /// no two of the client's servers share a name; for apps that expect a server's names as
    /// they are. Off unless asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plain_names: Option<bool>,
    /// Code mode: the client sees `search_tools`, `describe_tools`, `execute_code`, `list_skills`
    /// and `get_skill` instead of every tool (PROTOCOL.md, "Code mode"). Off unless asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_mode: Option<bool>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientName {
    pub name: String,
}

/// A client and its key, shown this once.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NewKey {
    pub client: Client,
    pub key: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClientUpdated {
    pub client: Client,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientRemoved {
    pub removed: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApproveClientTool {
    pub name: String,
    pub tool: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Connect {
    pub app: App,
    pub client: String,
    /// The app's config file; its usual one when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Says what would be written without writing.
    #[serde(default)]
    pub dry_run: bool,
}

/// What connecting an app wrote (or would write).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Connected {
    pub path: String,
    pub entry: Value,
    pub replaces: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup: Option<String>,
    pub written: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientRef {
    pub client: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClientTools {
    pub tools: Vec<ToolEntry>,
    /// The running servers whose whole server the client may use (their resources, prompts
    /// and log messages are the client's too).
    #[serde(default)]
    pub servers: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientCall {
    pub client: String,
    pub tool: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args: Option<Map<String, Value>>,
    /// The server requests the app answers (`sampling/createMessage`, `elicitation/create`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub answers: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientForward {
    pub client: String,
    pub request: Forward,
}
