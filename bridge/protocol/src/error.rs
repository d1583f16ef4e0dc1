//! The error codes of the page contract and the error object that carries them.
//!
//! Codes are append-only: a code is never renamed or reused, because pages match on them.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Every error code a caller can receive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ErrorCode {
    #[serde(rename = "ERR_NOT_INSTALLED")]
    NotInstalled,
    #[serde(rename = "ERR_PERMISSION_DENIED")]
    PermissionDenied,
    #[serde(rename = "ERR_SCOPE_REQUIRED")]
    ScopeRequired,
    #[serde(rename = "ERR_SERVER_UNAVAILABLE")]
    ServerUnavailable,
    #[serde(rename = "ERR_TOOL_NOT_FOUND")]
    ToolNotFound,
    #[serde(rename = "ERR_TOOL_NOT_ALLOWED")]
    ToolNotAllowed,
    #[serde(rename = "ERR_TOOL_TIMEOUT")]
    ToolTimeout,
    #[serde(rename = "ERR_TOOL_FAILED")]
    ToolFailed,
    #[serde(rename = "ERR_RATE_LIMITED")]
    RateLimited,
    #[serde(rename = "ERR_BUDGET_EXCEEDED")]
    BudgetExceeded,
    #[serde(rename = "ERR_MODEL_UNAVAILABLE")]
    ModelUnavailable,
    #[serde(rename = "ERR_MODEL_FAILED")]
    ModelFailed,
    #[serde(rename = "ERR_INVALID_REQUEST")]
    InvalidRequest,
    #[serde(rename = "ERR_ABORTED")]
    Aborted,
    #[serde(rename = "ERR_INTERNAL")]
    Internal,
    /// The OS keychain cannot be reached (sidebar and CLI only; pages never see it).
    #[serde(rename = "ERR_SECRET_STORE_UNAVAILABLE")]
    SecretStoreUnavailable,
    /// Signing in to a server or provider failed or was refused (sidebar and CLI only).
    #[serde(rename = "ERR_AUTH_FAILED")]
    AuthFailed,
    /// A registry, a download or a server could not be reached; trying again later may work.
    #[serde(rename = "ERR_NETWORK")]
    Network,
    /// A program Harbor needs for this (npm, python3, git, docker) is not installed.
    #[serde(rename = "ERR_RUNTIME_MISSING")]
    RuntimeMissing,
    /// An installer ran and failed; the message ends with its own last lines.
    #[serde(rename = "ERR_INSTALL_FAILED")]
    InstallFailed,
    /// A file Harbor was asked to read or write (another app's config) exists but cannot be
    /// read or written: its permissions, a full disk. The message names the file and the reason.
    #[serde(rename = "ERR_FILE_ACCESS")]
    FileAccess,
    /// A page asked for what Harbor does not do (image or audio input, a RegExp constraint);
    /// pages see it as a `NotSupportedError`.
    #[serde(rename = "ERR_NOT_SUPPORTED")]
    NotSupported,
    /// A prompt's input could never fit its session's context window; `data` carries
    /// `{requested, quota}` in tokens. Pages see it as a `QuotaExceededError`.
    #[serde(rename = "ERR_CONTEXT_OVERFLOW")]
    ContextOverflow,
    /// A text session that was destroyed, belongs to another site, or went with a restart of
    /// the bridge; pages see it as an `InvalidStateError`.
    #[serde(rename = "ERR_SESSION_NOT_FOUND")]
    SessionNotFound,
    /// A page asked for something the user has switched off in Settings (browser interaction or
    /// control); the message names the switch. Pages see it as a `NotAllowedError`.
    #[serde(rename = "ERR_FEATURE_DISABLED")]
    FeatureDisabled,
    /// A remote server refused Harbor's token, or wants one: the user signs in (again) from
    /// the server's card or `harbor-bridge servers sign-in ID`.
    #[serde(rename = "ERR_SIGN_IN_REQUIRED")]
    SignInRequired,
    /// The server needs the user to visit a page of its first (MCP's URL elicitation error,
    /// -32042); `data.elicitations` lists them (`{mode: "url", url, message, elicitationId}`),
    /// and Harbor shows them in the sidebar. Call again once the page is done.
    #[serde(rename = "ERR_URL_ELICITATION_REQUIRED")]
    UrlElicitationRequired,
}

impl ErrorCode {
    /// The code as it appears on the wire, e.g. `"ERR_ABORTED"`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::NotInstalled => "ERR_NOT_INSTALLED",
            ErrorCode::PermissionDenied => "ERR_PERMISSION_DENIED",
            ErrorCode::ScopeRequired => "ERR_SCOPE_REQUIRED",
            ErrorCode::ServerUnavailable => "ERR_SERVER_UNAVAILABLE",
            ErrorCode::ToolNotFound => "ERR_TOOL_NOT_FOUND",
            ErrorCode::ToolNotAllowed => "ERR_TOOL_NOT_ALLOWED",
            ErrorCode::ToolTimeout => "ERR_TOOL_TIMEOUT",
            ErrorCode::ToolFailed => "ERR_TOOL_FAILED",
            ErrorCode::RateLimited => "ERR_RATE_LIMITED",
            ErrorCode::BudgetExceeded => "ERR_BUDGET_EXCEEDED",
            ErrorCode::ModelUnavailable => "ERR_MODEL_UNAVAILABLE",
            ErrorCode::ModelFailed => "ERR_MODEL_FAILED",
            ErrorCode::InvalidRequest => "ERR_INVALID_REQUEST",
            ErrorCode::Aborted => "ERR_ABORTED",
            ErrorCode::Internal => "ERR_INTERNAL",
            ErrorCode::SecretStoreUnavailable => "ERR_SECRET_STORE_UNAVAILABLE",
            ErrorCode::AuthFailed => "ERR_AUTH_FAILED",
            ErrorCode::Network => "ERR_NETWORK",
            ErrorCode::RuntimeMissing => "ERR_RUNTIME_MISSING",
            ErrorCode::InstallFailed => "ERR_INSTALL_FAILED",
            ErrorCode::FileAccess => "ERR_FILE_ACCESS",
            ErrorCode::NotSupported => "ERR_NOT_SUPPORTED",
            ErrorCode::ContextOverflow => "ERR_CONTEXT_OVERFLOW",
            ErrorCode::SessionNotFound => "ERR_SESSION_NOT_FOUND",
            ErrorCode::FeatureDisabled => "ERR_FEATURE_DISABLED",
            ErrorCode::SignInRequired => "ERR_SIGN_IN_REQUIRED",
            ErrorCode::UrlElicitationRequired => "ERR_URL_ELICITATION_REQUIRED",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `{"code": "ERR_…", "message": "…", "data"?: …}`. Messages are lowercase, without a
/// trailing period, and say what to do.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ErrorObject {
    pub code: ErrorCode,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

impl ErrorObject {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ErrorObject { code, message: message.into(), data: None }
    }

    /// `ERR_INVALID_REQUEST`: the caller's input is wrong, and `message` says how.
    pub fn invalid(message: impl Into<String>) -> Self {
        ErrorObject::new(ErrorCode::InvalidRequest, message)
    }

    pub fn with_data(mut self, data: Value) -> Self {
        self.data = Some(data);
        self
    }
}

impl std::fmt::Display for ErrorObject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for ErrorObject {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_match_as_str() {
        let all = [
            ErrorCode::NotInstalled,
            ErrorCode::PermissionDenied,
            ErrorCode::ScopeRequired,
            ErrorCode::ServerUnavailable,
            ErrorCode::ToolNotFound,
            ErrorCode::ToolNotAllowed,
            ErrorCode::ToolTimeout,
            ErrorCode::ToolFailed,
            ErrorCode::RateLimited,
            ErrorCode::BudgetExceeded,
            ErrorCode::ModelUnavailable,
            ErrorCode::ModelFailed,
            ErrorCode::InvalidRequest,
            ErrorCode::Aborted,
            ErrorCode::Internal,
            ErrorCode::SecretStoreUnavailable,
            ErrorCode::AuthFailed,
            ErrorCode::Network,
            ErrorCode::RuntimeMissing,
            ErrorCode::InstallFailed,
            ErrorCode::FileAccess,
            ErrorCode::NotSupported,
            ErrorCode::ContextOverflow,
            ErrorCode::SessionNotFound,
            ErrorCode::FeatureDisabled,
            ErrorCode::SignInRequired,
            ErrorCode::UrlElicitationRequired,
        ];
        for code in all {
            let wire = serde_json::to_value(code).unwrap();
            assert_eq!(wire, serde_json::Value::String(code.as_str().into()));
        }
    }
}
