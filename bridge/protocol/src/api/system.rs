//! `system.*`: what the bridge is, an echo for checking the pipe, and the machine's checks.

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use crate::status::SystemInfo;

crate::methods! {
    /// The handshake; a web page gets no `dataDir`.
    SystemInfoGet = "system.info", Page, super::Ignored => SystemInfo;
    /// Returns its params; `delayMs` waits first (at most 10 s). A page may echo 64 KiB.
    SystemEcho = "system.echo", Page, Value => Value;
    /// The same checks as `harbor-bridge doctor`.
    SystemDoctor = "system.doctor", Extension, super::Empty => Vec<Check>;
}

/// How one check came out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckStatus {
    Ok,
    Warn,
    Fail,
}

/// One check of the machine.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Check {
    pub name: String,
    pub status: CheckStatus,
    pub detail: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}
