//! The wire types that Harbor's bridge, background script and sidebar share.
//!
//! Everything that crosses the native-messaging boundary or the background ⇄ sidebar port is
//! defined here once, so neither side redefines it: the envelope ([`Request`], [`Message`],
//! [`Chunk`]), the contract's error codes ([`ErrorCode`], [`ErrorObject`]), the caller context
//! the background attaches ([`Caller`]), and the payloads of the `system.*` methods
//! ([`SystemInfo`]) and of the connection status the background reports ([`BridgeStatus`]).
//!
//! This crate is serde-only and compiles to `wasm32-unknown-unknown`. It does no I/O and holds
//! no policy: what a message *means* is decided by the bridge.

pub mod api;
mod envelope;
mod error;
pub mod form;
pub mod shown;
mod status;

pub use envelope::{Caller, CallerKind, Chunk, Message, Request, RequestId};
pub use error::{ErrorCode, ErrorObject};
pub use status::{BridgeStatus, ConnectionState, SystemInfo};

/// The protocol revision; bumped when a change is not backwards compatible.
pub const PROTOCOL_VERSION: u32 = 1;

/// The name Firefox knows the native-messaging host by (`runtime.connectNative(NAME)`).
pub const NATIVE_HOST_NAME: &str = "harbor_rs_bridge";

/// Harbor's own gecko id, distinct from other Harbor builds so both can be installed.
pub const EXTENSION_ID: &str = "harbor-rs@harbor-mcp.dev";

/// Firefox refuses a single host → extension message larger than this many bytes of JSON.
/// Larger messages travel as [`Chunk`] frames.
pub const HOST_MESSAGE_LIMIT: usize = 1024 * 1024;
