//! The permission scopes of the Web Agent API and the grants a site can hold for each: the
//! contract's own types (`harbor_protocol::api::permissions`).

pub use harbor_protocol::api::permissions::{Grant, Scope};
