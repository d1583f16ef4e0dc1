//! What can go wrong in the MCP host, as values the `rpc` boundary maps to the contract's codes.

use std::time::Duration;

#[derive(Debug)]
pub enum HostError {
    /// No server has that id.
    NoSuchServer(String),
    /// A server with that id exists already.
    ServerExists(String),
    /// The server's spec is not acceptable (bad id, empty command, …).
    InvalidSpec(String),
    /// The server is not running (stopped, starting or crashed).
    NotRunning { id: String, why: String },
    /// The server runs but has no such tool (or prompt, or resource).
    NotFound(String),
    /// The call took longer than its timeout; the server was told to cancel it.
    Timeout { what: String, after: Duration },
    /// The server went away while the call was in flight.
    Unavailable(String),
    /// The server answered with an error.
    Failed(String),
    /// The server answered "method not found" (MCP's -32601): to a listed tool's plain call,
    /// that it runs only as a task (see `tasks`).
    MethodNotFound(String),
    /// The caller cancelled the call; the server was told so.
    Cancelled(String),
    /// The database failed.
    Store(anyhow::Error),
    /// A remote server refused its token (or wants one): the user must sign in. The message
    /// says so and how.
    SignInRequired(String),
    /// The server needs the user to visit its pages first (MCP's -32042): its message, and
    /// the `elicitations` it listed (`{mode: "url", url, message, elicitationId}`).
    VisitRequired { message: String, elicitations: serde_json::Value },
}

impl std::fmt::Display for HostError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HostError::NoSuchServer(id) => write!(f, "no server named {id:?}; see the server list"),
            HostError::ServerExists(id) => write!(f, "a server named {id:?} exists already; choose another id"),
            HostError::InvalidSpec(why) => f.write_str(why),
            HostError::NotRunning { id, why } => write!(f, "server {id:?} is not running ({why}); start it first"),
            HostError::NotFound(what) => write!(f, "{what}"),
            HostError::Timeout { what, after } => {
                write!(f, "{what} did not finish within {} s and was cancelled", after.as_secs_f64())
            }
            HostError::Unavailable(why) => write!(f, "{why}"),
            HostError::Failed(why) | HostError::MethodNotFound(why) => write!(f, "{why}"),
            HostError::Cancelled(what) => write!(f, "{what} was cancelled"),
            HostError::Store(error) => write!(f, "Harbor's database failed: {error:#}"),
            HostError::SignInRequired(why) => f.write_str(why),
            HostError::VisitRequired { message, .. } => {
                write!(f, "the server needs you to open a page of its first ({message}); call again once it is done")
            }
        }
    }
}

impl From<anyhow::Error> for HostError {
    fn from(error: anyhow::Error) -> Self {
        HostError::Store(error)
    }
}

/// The contract's code for each host error.
impl From<HostError> for harbor_protocol::ErrorObject {
    fn from(error: HostError) -> Self {
        use harbor_protocol::ErrorCode;
        let code = match &error {
            HostError::NoSuchServer(_) | HostError::ServerExists(_) | HostError::InvalidSpec(_) => {
                ErrorCode::InvalidRequest
            }
            HostError::NotRunning { .. } | HostError::Unavailable(_) => ErrorCode::ServerUnavailable,
            HostError::NotFound(_) => ErrorCode::ToolNotFound,
            HostError::Timeout { .. } => ErrorCode::ToolTimeout,
            HostError::Failed(_) | HostError::MethodNotFound(_) => ErrorCode::ToolFailed,
            HostError::Cancelled(_) => ErrorCode::Aborted,
            HostError::Store(_) => ErrorCode::Internal,
            HostError::SignInRequired(_) => ErrorCode::SignInRequired,
            HostError::VisitRequired { .. } => ErrorCode::UrlElicitationRequired,
        };
        let data = match &error {
            HostError::VisitRequired { elicitations, .. } => Some(serde_json::json!({ "elicitations": elicitations })),
            _ => None,
        };
        let object = harbor_protocol::ErrorObject::new(code, error.to_string());
        match data {
            Some(data) => object.with_data(data),
            None => object,
        }
    }
}
