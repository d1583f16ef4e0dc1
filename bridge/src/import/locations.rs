//! Where each client keeps its config on this machine, so Harbor can offer what it finds.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::Dialect;

/// A config file Harbor knows to look for.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Location {
    pub dialect: Dialect,
    pub client: &'static str,
    pub path: PathBuf,
    pub exists: bool,
}

/// The config files of every client, for a user whose home is `home`, with `app_data` the
/// per-user application folder (`%APPDATA%` on Windows) and `project` the folder whose
/// project-level configs to include.
pub fn candidates(home: &Path, app_data: Option<&Path>, project: Option<&Path>) -> Vec<Location> {
    let mut paths: Vec<(Dialect, PathBuf)> = Vec::new();
    let config = home.join(".config");
    let mac = home.join("Library/Application Support");
    let claude_dirs: Vec<PathBuf> = if cfg!(target_os = "macos") {
        vec![mac.join("Claude")]
    } else if cfg!(windows) {
        app_data.map(|a| a.join("Claude")).into_iter().collect()
    } else {
        vec![config.join("Claude")]
    };
    for dir in claude_dirs {
        paths.push((Dialect::ClaudeDesktop, dir.join("claude_desktop_config.json")));
    }
    paths.push((Dialect::Cursor, home.join(".cursor/mcp.json")));
    let code_user = if cfg!(target_os = "macos") {
        Some(mac.join("Code/User"))
    } else if cfg!(windows) {
        app_data.map(|a| a.join("Code/User"))
    } else {
        Some(config.join("Code/User"))
    };
    if let Some(user) = code_user {
        paths.push((Dialect::VsCode, user.join("mcp.json")));
        paths.push((Dialect::VsCode, user.join("settings.json")));
    }
    paths.push((Dialect::Windsurf, home.join(".codeium/windsurf/mcp_config.json")));
    paths.push((Dialect::ClaudeCode, home.join(".claude.json")));
    paths.push((Dialect::Zed, config.join("zed/settings.json")));
    if let Some(project) = project {
        paths.push((Dialect::Cursor, project.join(".cursor/mcp.json")));
        paths.push((Dialect::VsCode, project.join(".vscode/mcp.json")));
        paths.push((Dialect::ClaudeCode, project.join(".mcp.json")));
    }
    paths
        .into_iter()
        .map(|(dialect, path)| Location { dialect, client: dialect.name(), exists: path.is_file(), path })
        .collect()
}
