//! Native-messaging framing: how bytes cross the pipe between Firefox and the bridge.
//!
//! A frame is a `u32` length in native byte order followed by that many bytes of UTF-8 JSON.
//! [`frame`] reads and writes single frames and turns oversized, truncated or cut-off input
//! into values the caller can answer instead of errors that end the process. [`chunk`] splits
//! an outgoing message over Firefox's 1 MiB host → extension limit into chunk frames.
//! [`writer`] is the one task that owns stdout: nothing else in the bridge writes to it.
//!
//! This module knows nothing of requests or methods; `rpc` gives frames their meaning.

pub mod chunk;
pub mod frame;
pub mod writer;

pub use frame::{read_frame, Frame, MAX_INCOMING_FRAME};
pub use writer::{spawn_writer, Outbox};
