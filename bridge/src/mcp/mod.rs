//! The MCP host: every server's lifecycle, its live session and its namespaced catalog.
//!
//! - [`names`] — server ids, `serverId/toolName`, and the model-safe `serverId__toolName`;
//! - [`client`] — one rmcp session with one server (stdio or Streamable HTTP);
//! - [`askers`] — where a server's sampling and elicitation requests go: the one caller waiting
//!   that answers them, else the user;
//! - [`relay`] — those requests to a caller in another process, as `ask` events and answers;
//! - [`credentials`] — secrets and sign-ins as the supervisor asks for them at start;
//! - [`lists`] — a running server's resources, templates, prompts and skills, kept per session
//!   until it says they changed;
//! - [`registry`] — every server, the namespaced catalog, and calls with timeout, cancel and progress;
//! - [`error`] — what can go wrong, as values;
//! - [`health`] — the circuit breaker per server, fed by calls and heartbeats;
//! - [`metrics`] — calls, errors and latency per server and tool, in Prometheus text;
//! - [`tasks`] — tools that run as MCP tasks, driven to their end, and the tasks running now;
//! - [`server`] — one server's state, log and supervisor (restarts with backoff, then crashed);
//!
//! Runtimes (how processes start) and the LLM layer know nothing of MCP; this module is where
//! MCP lives.

pub mod askers;
pub mod client;
pub mod credentials;
pub mod error;
pub mod health;
pub mod lists;
pub mod metrics;
pub mod names;
pub mod redact;
pub mod registry;
pub mod relay;
pub mod server;
pub mod tasks;
