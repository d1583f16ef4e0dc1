//! The bridge's methods for the MCP host: `servers.*`, `tools.*`, `resources.*`, `prompts.*`.
//!
//! Each handler decodes its params, calls the registry, and encodes the answer: this is the
//! `rpc` boundary where internal types become wire values and [`HostError`]s become the
//! contract's error codes. All of these methods are privileged (`Access::Extension`): web pages
//! reach tools only through the permission layer.

mod chat;
mod gateway;
mod import;
mod install;
mod page;
mod permissions;
mod secrets;
mod servers;

use harbor_protocol::{ErrorCode, ErrorObject};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::mcp::error::HostError;

pub use chat::routes as chat_routes;
pub use gateway::routes as gateway_routes;
pub use import::routes as import_routes;
pub use install::routes as install_routes;
pub use page::routes as page_routes;
pub use permissions::routes as permission_routes;
pub use secrets::routes as secret_routes;
pub use servers::routes;

/// Decodes a method's params, or says what is wrong with them.
fn params<T: DeserializeOwned>(method: &str, params: Value) -> Result<T, ErrorObject> {
    let params = if params.is_null() { Value::Object(Default::default()) } else { params };
    serde_json::from_value(params)
        .map_err(|e| ErrorObject::new(ErrorCode::InvalidRequest, format!("invalid params for {method}: {e}")))
}

/// The contract's code for each host error.
pub fn error(error: HostError) -> ErrorObject {
    let code = match &error {
        HostError::NoSuchServer(_) | HostError::ServerExists(_) | HostError::InvalidSpec(_) => {
            ErrorCode::InvalidRequest
        }
        HostError::NotRunning { .. } | HostError::Unavailable(_) => ErrorCode::ServerUnavailable,
        HostError::NotFound(_) => ErrorCode::ToolNotFound,
        HostError::Timeout { .. } => ErrorCode::ToolTimeout,
        HostError::Failed(_) => ErrorCode::ToolFailed,
        HostError::Cancelled(_) => ErrorCode::Aborted,
        HostError::Store(_) => ErrorCode::Internal,
    };
    ErrorObject::new(code, error.to_string())
}

/// The code for each secret-store error.
fn secret_error(error: crate::secrets::SecretError) -> ErrorObject {
    use crate::secrets::SecretError;
    let code = match &error {
        SecretError::Unavailable(_) => ErrorCode::SecretStoreUnavailable,
        SecretError::Invalid(_) => ErrorCode::InvalidRequest,
        SecretError::Store(_) => ErrorCode::Internal,
    };
    ErrorObject::new(code, error.to_string())
}

fn invalid(message: impl Into<String>) -> ErrorObject {
    ErrorObject::new(ErrorCode::InvalidRequest, message)
}

fn to_value<T: serde::Serialize>(value: T) -> Result<Value, ErrorObject> {
    serde_json::to_value(value)
        .map_err(|e| ErrorObject::new(ErrorCode::Internal, format!("cannot encode the answer: {e}")))
}

/// Adapts a handler that needs some shared state (the registry, the chat, …) to the router's
/// `Fn(Call)` shape.
fn with<S, F, Fut>(state: &S, handler: F) -> impl Fn(crate::rpc::Call) -> Fut + Send + Sync + 'static
where
    S: Clone + Send + Sync + 'static,
    F: Fn(S, crate::rpc::Call) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<Value, ErrorObject>> + Send + 'static,
{
    let state = state.clone();
    move |call| handler(state.clone(), call)
}
