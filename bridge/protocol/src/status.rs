//! What the bridge says about itself (`system.info`) and what the background tells the
//! sidebar about its connection to the bridge.

use serde::{Deserialize, Serialize};

/// The result of `system.info`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SystemInfo {
    pub name: String,
    pub version: String,
    pub protocol: u32,
    /// Harbor's data folder (not told to web pages: it names the user's home).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<String>,
}

/// The background's connection to the bridge, as the sidebar shows it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionState {
    #[default]
    Connecting,
    Connected,
    /// The bridge was running and stopped; the background is reconnecting.
    Disconnected,
    /// Firefox could not start the bridge: no host manifest, or the binary is missing.
    NotInstalled,
}

/// `{"status": BridgeStatus}`, sent by the background to every sidebar port on connect and on
/// each change.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BridgeStatus {
    pub state: ConnectionState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub info: Option<SystemInfo>,
    /// A plain-words explanation when not connected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}
