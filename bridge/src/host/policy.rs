//! Why the policy said no, as values: every refusal of the policy core — a scope not held, a
//! tool not allowed or changed since it was approved, a budget or rate spent, no free slot — is
//! a [`PolicyError`], and this file's one `From` impl gives each its wire code and data.

use std::time::Duration;

use harbor_protocol::api::permissions::{Scope, ToolChange};
use harbor_protocol::{ErrorCode, ErrorObject};
use serde_json::json;

use crate::mcp::error::HostError;

/// A refusal of the policy core, or a failure behind it.
#[derive(Debug)]
pub enum PolicyError {
    /// The caller is not a page with an origin Harbor can grant to (opaque, `file:`).
    NoOrigin,
    /// A page method called by something that is not a page.
    NotAPage,
    /// The site does not hold `scope`; it may ask for it.
    ScopeRequired(Scope),
    /// The user denied `scope` to `origin`.
    ScopeDenied { scope: Scope, origin: String },
    /// `caller` may not use `tool`; `fix` says where the user allows it.
    ToolNotAllowed { caller: String, tool: String, fix: &'static str },
    /// `tool` changed since the user allowed it, and is suspended until approved.
    ToolChanged { tool: String, summary: String, changes: Vec<ToolChange> },
    /// A rate limit or an hourly budget is spent.
    RateLimited { message: String, retry_after: Option<Duration>, limit: Option<u32> },
    /// A token budget is spent.
    BudgetExceeded(String),
    /// The user has the switch named `switch` off in Settings.
    FeatureDisabled { switch: &'static str },
    /// A frame of `origin` asked to act on the page of another origin that embeds it.
    CrossOriginFrame { origin: String },
    /// The user did not let the site `what` (connect its server, open the chat).
    UserDenied { what: &'static str },
    /// The caller cancelled.
    Aborted,
    /// The call itself failed (the server, the registry).
    Host(HostError),
    /// Harbor's database failed.
    Store(anyhow::Error),
}

impl From<HostError> for PolicyError {
    fn from(error: HostError) -> Self {
        PolicyError::Host(error)
    }
}

impl From<anyhow::Error> for PolicyError {
    fn from(error: anyhow::Error) -> Self {
        PolicyError::Store(error)
    }
}

/// The contract's code, message and data for each refusal: the one place they are chosen.
impl From<PolicyError> for ErrorObject {
    fn from(error: PolicyError) -> Self {
        match error {
            PolicyError::NoOrigin => ErrorObject::new(
                ErrorCode::PermissionDenied,
                "this page has no origin Harbor can grant permissions to (an opaque or file origin)",
            ),
            PolicyError::NotAPage => {
                ErrorObject::invalid("this method is for web pages; Harbor's own pages use the privileged methods")
            }
            PolicyError::ScopeRequired(scope) => ErrorObject::new(
                ErrorCode::ScopeRequired,
                format!(
                    "this needs the {} permission: call agent.requestPermissions({{ scopes: [\"{}\"] }}) first",
                    scope.as_str(),
                    scope.as_str()
                ),
            )
            .with_data(json!({ "scope": scope })),
            PolicyError::ScopeDenied { scope, origin } => ErrorObject::new(
                ErrorCode::PermissionDenied,
                format!(
                    "the user denied {} to {origin}; only they can change that, in Harbor's sidebar",
                    scope.as_str()
                ),
            ),
            PolicyError::ToolNotAllowed { caller, tool, fix } => {
                ErrorObject::new(ErrorCode::ToolNotAllowed, format!("{caller} may not use {tool}; {fix}"))
            }
            PolicyError::ToolChanged { tool, summary, changes } => ErrorObject::new(
                ErrorCode::ToolNotAllowed,
                format!(
                    "{tool} changed since the user allowed it ({summary}); it is suspended until they approve the new \
                     version in Harbor"
                ),
            )
            .with_data(json!({ "reason": "tool_changed", "tool": tool, "changes": changes })),
            PolicyError::RateLimited { message, retry_after, limit } => {
                let error = ErrorObject::new(ErrorCode::RateLimited, message);
                match retry_after {
                    Some(after) => {
                        error.with_data(json!({ "retryAfterSeconds": after.as_secs().max(1), "limit": limit }))
                    }
                    None => error,
                }
            }
            PolicyError::BudgetExceeded(message) => ErrorObject::new(ErrorCode::BudgetExceeded, message),
            PolicyError::FeatureDisabled { switch } => ErrorObject::new(
                ErrorCode::FeatureDisabled,
                format!("this is switched off; the user can turn on \"{switch}\" in Harbor's Settings"),
            )
            .with_data(json!({ "switch": switch })),
            PolicyError::CrossOriginFrame { origin } => ErrorObject::new(
                ErrorCode::PermissionDenied,
                format!("a frame from {origin} may not act on the page that embeds it; only the page itself may"),
            )
            .with_data(json!({ "reason": "cross_origin_frame" })),
            PolicyError::UserDenied { what } => {
                ErrorObject::new(ErrorCode::PermissionDenied, format!("the user did not let this site {what}"))
                    .with_data(json!({ "reason": "user_denied" }))
            }
            PolicyError::Aborted => ErrorObject::new(ErrorCode::Aborted, "the call was cancelled"),
            PolicyError::Host(error) => error.into(),
            PolicyError::Store(error) => {
                ErrorObject::new(ErrorCode::Internal, format!("Harbor's database failed: {error:#}"))
            }
        }
    }
}
