//! `apps.*`: MCP Apps (the `io.modelcontextprotocol/ui` extension, ext-apps 2026-01-26) in
//! Harbor's own pages.
//!
//! A tool whose `_meta.ui.resourceUri` names a `ui://` resource has a view: HTML its server
//! serves as that resource (`text/html;profile=mcp-app`). `apps.open` reads it from the tool's own
//! server and hands back a loopback URL that serves it to a sandboxed frame with the
//! Content-Security-Policy the resource's metadata declares; the page hosting the frame speaks the
//! Apps protocol with it (`ui/initialize`, tool input and result, …) and passes the view's own
//! requests on with `apps.call` and `apps.read`, which reach the view's server only.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

crate::methods! {
    /// Opens a view of `tool`'s UI: its `ui://` resource, read from the tool's server, served on
    /// loopback for a sandboxed frame.
    AppsOpen = "apps.open", Extension, OpenApp => AppView;
    /// A tool call from an open view: only its own server's tools that apps may call, through
    /// the same policy and audit as any call. MCP's `CallToolResult`.
    AppsCall = "apps.call", Extension, AppCall => Value;
    /// A resource of the view's own server: MCP's `ReadResourceResult`.
    AppsRead = "apps.read", Extension, AppRead => Value;
    /// The view is gone: its URL stops serving.
    AppsClose = "apps.close", Extension, CloseApp => super::Empty;
}

/// The MIME type of an App's HTML resource.
pub const RESOURCE_MIME_TYPE: &str = "text/html;profile=mcp-app";
/// The extension's id, as hosts declare it in their client capabilities.
pub const EXTENSION: &str = "io.modelcontextprotocol/ui";
/// The Apps protocol revision Harbor's host side speaks.
pub const PROTOCOL_VERSION: &str = "2026-01-26";
/// The older, flat metadata key for a tool's resource, which hosts still read.
const LEGACY_RESOURCE_KEY: &str = "ui/resourceUri";

/// What a tool's `_meta` says about its UI.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolUi {
    /// The `ui://` resource that renders the tool's calls, if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_uri: Option<String>,
    /// Who may call the tool: `model`, `app` (both when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visibility: Option<Vec<String>>,
}

impl ToolUi {
    /// The UI part of a tool's `_meta` (`ui: {resourceUri, visibility}`, or the legacy
    /// `ui/resourceUri`); `None` when it has none. A resource URI that is not `ui://` is ignored.
    pub fn from_meta(meta: &Map<String, Value>) -> Option<ToolUi> {
        let nested = meta.get("ui").and_then(Value::as_object);
        let uri = nested
            .and_then(|ui| ui.get("resourceUri"))
            .or_else(|| meta.get(LEGACY_RESOURCE_KEY))
            .and_then(Value::as_str)
            .filter(|uri| uri.starts_with("ui://"))
            .map(str::to_owned);
        let visibility = nested
            .and_then(|ui| ui.get("visibility"))
            .and_then(Value::as_array)
            .map(|list| list.iter().filter_map(Value::as_str).map(str::to_owned).collect::<Vec<_>>());
        (uri.is_some() || visibility.is_some()).then_some(ToolUi { resource_uri: uri, visibility })
    }

    /// Whether a model may see and call the tool.
    pub fn for_model(&self) -> bool {
        self.visible_to("model")
    }

    /// Whether a view of the tool's own server may call it.
    pub fn for_app(&self) -> bool {
        self.visible_to("app")
    }

    fn visible_to(&self, who: &str) -> bool {
        self.visibility.as_ref().is_none_or(|list| list.iter().any(|v| v == who))
    }
}

/// `apps.open`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OpenApp {
    /// The tool whose view to open, `serverId/toolName`.
    pub tool: String,
}

/// An open view.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppView {
    /// Names the view in `apps.call`, `apps.read` and `apps.close`.
    pub view_id: String,
    /// Where a sandboxed frame loads it (loopback; served while the view is open).
    pub url: String,
    pub server_id: String,
    pub resource_uri: String,
    /// The tool as its server lists it (MCP's `Tool`), for the view's host context.
    pub tool: Value,
    /// The policy the view is served with.
    pub csp: String,
    /// The resource asks for a visible border (`None`: the host decides).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefers_border: Option<bool>,
}

/// `apps.call`: a view's `tools/call`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AppCall {
    pub view_id: String,
    /// The tool's own name on the view's server (as the view knows it).
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arguments: Option<Map<String, Value>>,
}

/// `apps.read`: a view's `resources/read`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AppRead {
    pub view_id: String,
    pub uri: String,
}

/// `apps.close`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CloseApp {
    pub view_id: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn meta(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap()
    }

    #[test]
    fn a_tools_ui_is_read_from_either_metadata_form() {
        let modern = ToolUi::from_meta(&meta(json!({"ui": {"resourceUri": "ui://clock/view.html"}}))).unwrap();
        assert_eq!(modern.resource_uri.as_deref(), Some("ui://clock/view.html"));
        assert!(modern.for_model() && modern.for_app());
        let legacy = ToolUi::from_meta(&meta(json!({"ui/resourceUri": "ui://clock/old.html"}))).unwrap();
        assert_eq!(legacy.resource_uri.as_deref(), Some("ui://clock/old.html"));
        // Only ui:// resources are views; an https page is not loaded as one.
        assert_eq!(ToolUi::from_meta(&meta(json!({"ui": {"resourceUri": "https://evil.example/x"}}))), None);
        assert_eq!(ToolUi::from_meta(&meta(json!({"other": 1}))), None);
    }

    #[test]
    fn visibility_keeps_app_only_tools_from_the_model_and_model_only_tools_from_apps() {
        let app_only = ToolUi::from_meta(&meta(json!({"ui": {"visibility": ["app"]}}))).unwrap();
        assert!(!app_only.for_model() && app_only.for_app());
        let model_only = ToolUi::from_meta(&meta(json!({"ui": {"visibility": ["model"]}}))).unwrap();
        assert!(model_only.for_model() && !model_only.for_app());
        let nobody = ToolUi::from_meta(&meta(json!({"ui": {"visibility": []}}))).unwrap();
        assert!(!nobody.for_model() && !nobody.for_app());
    }
}
