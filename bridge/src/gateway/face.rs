//! The gateway's MCP server face: rmcp's `ServerHandler` over a [`Backend`].
//!
//! Tools are offered under their model-safe names (`serverId__toolName`, which every client
//! accepts); calls may use either form. Over stdio the client is fixed by `--client`; over HTTP
//! the key decides, and the `http` layer hands the client's name (and whether it already counted
//! the call against the rate limit) to the handler in the request's extensions. When the tools a
//! client may see change, it gets `notifications/tools/list_changed`.
//!
//! Errors: an unknown or disallowed tool is a JSON-RPC `invalid params` error (the spec's "unknown
//! tool"); a rate-limited call is error [`RATE_LIMITED`] with `retryAfterSeconds`; a tool that
//! fails, times out or whose server is down gives an `isError` result naming the cause, so the
//! model reading it learns what happened.

use std::sync::Arc;

use harbor_protocol::{ErrorCode, ErrorObject};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation, ListToolsResult,
    PaginatedRequestParams, ResultType, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::{NotificationContext, RequestContext};
use rmcp::{ErrorData, RoleServer, ServerHandler};
use serde_json::{json, Value};

use super::Backend;
use crate::mcp::registry::ToolEntry;

/// The JSON-RPC error code of a call refused by the client's rate limit: HTTP's 429, outside
/// every band JSON-RPC and MCP reserve (-32768..-32000), as application errors must be.
pub const RATE_LIMITED: i32 = 429;

/// Who is calling, put into an HTTP request's extensions by the `http` layer.
#[derive(Clone, Debug)]
pub struct Caller {
    pub client: String,
    /// The HTTP layer counted this request against the rate limit already.
    pub admitted: bool,
}

/// One MCP session's handler.
pub struct Face<B> {
    backend: Arc<B>,
    /// The client, when the transport fixes it (stdio).
    client: Option<String>,
}

impl<B> Clone for Face<B> {
    fn clone(&self) -> Self {
        Face { backend: self.backend.clone(), client: self.client.clone() }
    }
}

impl<B: Backend> Face<B> {
    pub fn new(backend: Arc<B>, client: Option<String>) -> Face<B> {
        Face { backend, client }
    }

    fn caller(&self, extensions: &rmcp::model::Extensions) -> Result<Caller, ErrorData> {
        if let Some(client) = &self.client {
            return Ok(Caller { client: client.clone(), admitted: false });
        }
        extensions
            .get::<http::request::Parts>()
            .and_then(|parts| parts.extensions.get::<Caller>())
            .cloned()
            .ok_or_else(|| ErrorData::invalid_request("no gateway client: send your key as a bearer token", None))
    }
}

impl<B: Backend> ServerHandler for Face<B> {
    fn get_info(&self) -> ServerConfig {
        let capabilities = ServerCapabilities::builder().enable_tools().enable_tool_list_changed().build();
        ServerConfig::new(capabilities)
            .with_server_info(Implementation::new("harbor", env!("CARGO_PKG_VERSION")))
            .with_instructions(
                "Harbor's MCP servers through one endpoint. Tool names are serverId__toolName; \
                 the user chooses in Harbor which servers and tools this app may use.",
            )
    }

    async fn on_initialized(&self, context: NotificationContext<RoleServer>) {
        let mut changes = self.backend.changes();
        let peer = context.peer.clone();
        tokio::spawn(async move {
            loop {
                match changes.recv().await {
                    Ok(()) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                        if peer.notify_tool_list_changed().await.is_err() {
                            return;
                        }
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                }
            }
        });
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let caller = self.caller(&context.extensions)?;
        let tools = self.backend.tools(&caller.client).await.map_err(protocol_error)?;
        Ok(ListToolsResult::with_all_items(tools.iter().filter_map(tool).collect()))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let caller = self.caller(&context.extensions)?;
        let called = self
            .backend
            .call(&caller.client, &request.name, request.arguments, caller.admitted, context.ct.clone())
            .await;
        match called {
            Ok(value) => serde_json::from_value::<CallToolResult>(value)
                .map(|mut result| {
                    // A server on an older revision sends no `resultType`; a 2026-07-28 client
                    // needs it. rmcp drops it again for a client on an older revision.
                    result.result_type.get_or_insert(ResultType::COMPLETE);
                    result.into()
                })
                .map_err(|e| ErrorData::internal_error(format!("the server's answer did not decode: {e}"), None)),
            Err(error) => match error.code {
                ErrorCode::ServerUnavailable | ErrorCode::ToolTimeout | ErrorCode::ToolFailed => {
                    Ok(CallToolResult::error(vec![ContentBlock::text(format!("{}: {}", error.code, error.message))])
                        .into())
                }
                _ => Err(protocol_error(error)),
            },
        }
    }
}

/// A catalog entry as an MCP tool, under its model-safe name.
fn tool(entry: &ToolEntry) -> Option<Tool> {
    let mut value = json!({
        "name": entry.model_name,
        "description": entry.description,
        "inputSchema": entry.input_schema,
    });
    if let Some(title) = &entry.title {
        value["title"] = Value::String(title.clone());
    }
    if let Some(annotations) = &entry.annotations {
        value["annotations"] = annotations.clone();
    }
    serde_json::from_value(value).ok()
}

/// A bridge error's `data` for a JSON-RPC error: its own, with its Harbor code as `code`.
pub fn error_data(error: &ErrorObject) -> Value {
    let mut data = error.data.clone().filter(Value::is_object).unwrap_or_else(|| json!({}));
    data["code"] = json!(error.code.as_str());
    data
}

/// A bridge error as a JSON-RPC error, its Harbor code in `data.code`.
fn protocol_error(error: ErrorObject) -> ErrorData {
    let code = match error.code {
        ErrorCode::RateLimited => rmcp::model::ErrorCode(RATE_LIMITED),
        ErrorCode::ToolNotFound | ErrorCode::ToolNotAllowed | ErrorCode::InvalidRequest => {
            rmcp::model::ErrorCode::INVALID_PARAMS
        }
        ErrorCode::PermissionDenied => rmcp::model::ErrorCode::INVALID_REQUEST,
        _ => rmcp::model::ErrorCode::INTERNAL_ERROR,
    };
    let data = error_data(&error);
    ErrorData::new(code, error.message, Some(data))
}
