//! How a server process comes to exist. For now: finding the programs servers need (node, npx,
//! python, uv, docker) even when Firefox starts the bridge with a minimal `PATH`.
//!
//! Runtimes know nothing of MCP messages.

pub mod locate;
