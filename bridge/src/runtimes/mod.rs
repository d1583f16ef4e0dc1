//! How a server process comes to exist, and where its output goes.
//!
//! [`locate`] finds programs (node, npx, python, uv, docker) even when Firefox starts the bridge
//! with a minimal `PATH`; [`process`] spawns a native server in its own process group and stops
//! the whole group; [`docker`] runs one in a hardened container instead; [`log`] keeps each server's stderr and lifecycle lines, bounded in memory and
//! appended to a file.
//!
//! Runtimes hand back byte streams and know nothing of MCP messages.

pub mod docker;
pub mod locate;
pub mod log;
pub mod process;
pub mod sandbox;
