//! MCP Apps' host side in the bridge (the `io.modelcontextprotocol/ui` extension): open views,
//! served to sandboxed frames, and the calls those views make.
//!
//! [`Apps::open`] reads a tool's `ui://` resource from the tool's own server, checks it is an
//! App (`text/html;profile=mcp-app`, at most [`MAX_HTML`]), builds its policy ([`csp`]) and
//! serves it at a loopback URL ([`serve`]) until [`Apps::close`]. A view's requests come back
//! through the page that hosts its frame: [`Apps::call`] runs a tool through the one policy
//! pipeline as the view's caller ([`ViewPolicy`]: its own server's tools that apps may call,
//! audited as `app:<server>`), and [`Apps::read`] reads its own server's resources. A view id is
//! the capability: 32 random characters, known only to the page that opened it (and to the
//! view's document, which can do nothing with it but load itself).

pub mod csp;
mod serve;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use base64::Engine;
use harbor_protocol::api::apps::{AppView, RESOURCE_MIME_TYPE};
use harbor_protocol::api::permissions::AuditCaller;
use harbor_protocol::{ErrorCode, ErrorObject};
use rmcp::model::JsonObject;
use serde_json::Value;
use tokio::sync::OnceCell;
use tokio_util::sync::CancellationToken;

use crate::host::pipeline::{self, Audience, Who};
use crate::host::policy::PolicyError;
use crate::mcp::error::HostError;
use crate::mcp::registry::{Servers, ToolEntry};
use crate::store::Store;

/// The largest App document served.
pub const MAX_HTML: usize = 5 << 20;
/// Views open at once; opening one more closes the oldest.
const MAX_VIEWS: usize = 64;

/// Why a view cannot be opened or used.
#[derive(Debug)]
pub enum AppError {
    /// The tool has no `ui://` resource.
    NoView(String),
    /// The resource is not an App's HTML, or too large.
    NotAnApp(String),
    /// No open view has this id.
    Closed,
    /// The listener could not start.
    Listener(std::io::Error),
    Host(HostError),
}

impl From<AppError> for ErrorObject {
    fn from(error: AppError) -> Self {
        match error {
            AppError::NoView(tool) => {
                ErrorObject::new(ErrorCode::NotSupported, format!("{tool} has no app view (no ui:// resource)"))
            }
            AppError::NotAnApp(why) => ErrorObject::new(ErrorCode::NotSupported, why),
            AppError::Closed => {
                ErrorObject::new(ErrorCode::SessionNotFound, "this app view is closed; run its tool again to reopen it")
            }
            AppError::Listener(error) => {
                ErrorObject::new(ErrorCode::Internal, format!("cannot serve app views on loopback: {error}"))
            }
            AppError::Host(error) => error.into(),
        }
    }
}

/// An open view.
struct View {
    server: String,
    html: Arc<str>,
    csp: String,
    opened: Instant,
}

/// The open views, by id.
#[derive(Default)]
pub struct Views {
    open: Mutex<HashMap<String, View>>,
}

impl Views {
    /// A view's document and policy, while it is open.
    fn page(&self, id: &str) -> Option<(Arc<str>, String)> {
        let open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        open.get(id).map(|view| (view.html.clone(), view.csp.clone()))
    }

    fn server(&self, id: &str) -> Result<String, AppError> {
        let open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        open.get(id).map(|view| view.server.clone()).ok_or(AppError::Closed)
    }

    fn insert(&self, id: String, view: View) {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if open.len() >= MAX_VIEWS {
            if let Some(oldest) = open.iter().min_by_key(|(_, v)| v.opened).map(|(id, _)| id.clone()) {
                open.remove(&oldest);
            }
        }
        open.insert(id, view);
    }

    fn remove(&self, id: &str) -> bool {
        self.open.lock().unwrap_or_else(|p| p.into_inner()).remove(id).is_some()
    }
}

pub struct Apps {
    servers: Arc<Servers>,
    store: Store,
    views: Arc<Views>,
    port: OnceCell<u16>,
}

impl Apps {
    pub fn new(servers: Arc<Servers>, store: Store) -> Apps {
        Apps { servers, store, views: Arc::default(), port: OnceCell::new() }
    }

    /// Opens a view of `tool`'s UI (`serverId/toolName`).
    pub async fn open(&self, tool: &str, cancel: &CancellationToken) -> Result<AppView, AppError> {
        let entry = self
            .servers
            .lookup(tool)
            .ok_or_else(|| AppError::Host(HostError::NotFound(format!("no running server has a tool {tool:?}"))))?;
        let uri = entry
            .ui
            .as_ref()
            .and_then(|ui| ui.resource_uri.clone())
            .ok_or_else(|| AppError::NoView(entry.name.clone()))?;
        let read = self.servers.read_resource(&entry.server_id, &uri, cancel).await.map_err(AppError::Host)?;
        let document = Document::read(&read, &uri)?;
        let (csp, refused) = csp::policy(&csp::Declared::read(document.meta.pointer("/ui/csp")));
        if !refused.is_empty() {
            tracing::warn!(
                server = %entry.server_id,
                "the app view {uri} declares sources that are not plain origins; they were left out: {refused:?}"
            );
        }
        let port = *self.port.get_or_try_init(|| serve::start(self.views.clone())).await.map_err(AppError::Listener)?;
        let view_id = oauth2::CsrfToken::new_random_len(24).secret().clone();
        let tool_name = crate::mcp::names::split_namespaced(&entry.name).map(|(_, name)| name).unwrap_or_default();
        let listed = self.servers.listed_tool(&entry.server_id, tool_name).unwrap_or(Value::Null);
        self.views.insert(
            view_id.clone(),
            View {
                server: entry.server_id.clone(),
                html: document.html.into(),
                csp: csp.clone(),
                opened: Instant::now(),
            },
        );
        Ok(AppView {
            url: format!("http://127.0.0.1:{port}/view/{view_id}"),
            view_id,
            server_id: entry.server_id,
            resource_uri: uri,
            tool: listed,
            csp,
            prefers_border: document.meta.pointer("/ui/prefersBorder").and_then(Value::as_bool),
        })
    }

    /// A view's `tools/call`: `name` on the view's own server, as the view's caller.
    pub async fn call(
        &self,
        view: &str,
        name: &str,
        args: JsonObject,
        cancel: &CancellationToken,
    ) -> Result<Value, ErrorObject> {
        let server = self.views.server(view)?;
        // The name is the view's server's own: it cannot reach another server by a prefix.
        let tool = crate::mcp::names::namespaced(&server, name);
        let policy = ViewPolicy { server };
        pipeline::call(&*self.servers, &self.store, &policy, pipeline::Asked::new("apps.call", &tool, args), cancel)
            .await
    }

    /// A view's `resources/read`, from its own server.
    pub async fn read(&self, view: &str, uri: &str, cancel: &CancellationToken) -> Result<Value, AppError> {
        let server = self.views.server(view)?;
        self.servers.read_resource(&server, uri, cancel).await.map_err(AppError::Host)
    }

    pub fn close(&self, view: &str) -> Result<(), AppError> {
        if self.views.remove(view) {
            Ok(())
        } else {
            Err(AppError::Closed)
        }
    }
}

/// A view's HTML and the metadata of its resource content.
struct Document {
    html: String,
    meta: Value,
}

impl Document {
    /// The content of `read` (a `ReadResourceResult`) for `uri`, if it is an App.
    fn read(read: &Value, uri: &str) -> Result<Document, AppError> {
        let contents = read["contents"].as_array().map(Vec::as_slice).unwrap_or_default();
        let content = contents
            .iter()
            .find(|c| c["uri"] == uri)
            .or(contents.first())
            .ok_or_else(|| AppError::NotAnApp(format!("{uri} came back empty")))?;
        let mime = content["mimeType"].as_str().unwrap_or_default();
        if !same_mime(mime, RESOURCE_MIME_TYPE) {
            return Err(AppError::NotAnApp(format!(
                "{uri} is {mime:?}, not an app view ({RESOURCE_MIME_TYPE}); Harbor shows only app views in a frame"
            )));
        }
        let html = match (content["text"].as_str(), content["blob"].as_str()) {
            (Some(text), _) => text.to_owned(),
            (None, Some(blob)) => base64::engine::general_purpose::STANDARD
                .decode(blob)
                .ok()
                .and_then(|bytes| String::from_utf8(bytes).ok())
                .ok_or_else(|| AppError::NotAnApp(format!("{uri}'s content is not UTF-8 base64")))?,
            (None, None) => return Err(AppError::NotAnApp(format!("{uri} has no content"))),
        };
        if html.len() > MAX_HTML {
            return Err(AppError::NotAnApp(format!(
                "{uri} is {} bytes; app views may be at most {MAX_HTML}",
                html.len()
            )));
        }
        Ok(Document { html, meta: content.get("_meta").cloned().unwrap_or(Value::Null) })
    }
}

/// MIME types compared as types with parameters: case and spaces aside.
fn same_mime(a: &str, b: &str) -> bool {
    let norm = |m: &str| m.split(';').map(|p| p.trim().to_ascii_lowercase()).collect::<Vec<_>>();
    norm(a) == norm(b)
}

/// A view's calls: the user's own (no scope, allowlist or budget, as the chat), but only to its
/// server's tools that apps may call.
struct ViewPolicy {
    server: String,
}

impl pipeline::Policy for ViewPolicy {
    type Slot = ();

    fn who(&self) -> Who {
        Who { kind: AuditCaller::View, origin: format!("app:{}", self.server), tab: None }
    }

    fn allow(&self, asked: &str, named: Option<&str>, _running: Option<&ToolEntry>) -> Result<(), PolicyError> {
        pipeline::known(asked, named)
    }

    fn audience(&self) -> Audience {
        Audience::App { server: self.server.clone() }
    }

    async fn admit(&self) -> Result<(), PolicyError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_an_app_document_of_bounded_size_is_served() {
        let uri = "ui://clock/view.html";
        let ok = json!({"contents": [{"uri": uri, "mimeType": "text/html; profile=mcp-app", "text": "<p>hi</p>",
                                      "_meta": {"ui": {"prefersBorder": true}}}]});
        let document = Document::read(&ok, uri).unwrap();
        assert_eq!(document.html, "<p>hi</p>");
        assert_eq!(document.meta.pointer("/ui/prefersBorder"), Some(&json!(true)));
        let blob = base64::engine::general_purpose::STANDARD.encode("<b>x</b>");
        let encoded = json!({"contents": [{"uri": uri, "mimeType": RESOURCE_MIME_TYPE, "blob": blob}]});
        assert_eq!(Document::read(&encoded, uri).unwrap().html, "<b>x</b>");
        let plain_html = json!({"contents": [{"uri": uri, "mimeType": "text/html", "text": "<p>hi</p>"}]});
        assert!(matches!(Document::read(&plain_html, uri), Err(AppError::NotAnApp(_))));
        let huge =
            json!({"contents": [{"uri": uri, "mimeType": RESOURCE_MIME_TYPE, "text": "x".repeat(MAX_HTML + 1)}]});
        assert!(matches!(Document::read(&huge, uri), Err(AppError::NotAnApp(_))));
    }
}
