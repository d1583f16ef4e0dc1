//! Where Harbor keeps its files.
//!
//! The data directory comes from the `directories` crate (XDG on Linux, Application Support on
//! macOS, AppData on Windows) unless `HARBOR_HOME` names another one, as tests do. This module
//! only computes and creates paths; it reads and writes no files of its own.

use std::path::PathBuf;

use anyhow::{Context, Result};

/// The environment variable that moves every Harbor file elsewhere.
pub const HOME_VAR: &str = "HARBOR_HOME";

/// Harbor's data directory (created if missing).
pub fn data_dir() -> Result<PathBuf> {
    let dir = match std::env::var_os(HOME_VAR) {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => directories::ProjectDirs::from("dev", "harbor-mcp", "harbor")
            .context("cannot find a home directory for Harbor's data; set HARBOR_HOME to a folder")?
            .data_dir()
            .to_path_buf(),
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create Harbor's data folder {}", dir.display()))?;
    Ok(dir)
}

/// Where the bridge writes its log files.
/// A short tag naming this data folder, for marking what belongs to it outside the folder (its
/// Docker containers): the first 12 hex digits of the SHA-256 of its path.
pub fn owner_tag(data_dir: &std::path::Path) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(data_dir.to_string_lossy().as_bytes());
    digest.iter().take(6).map(|b| format!("{b:02x}")).collect()
}

pub fn log_dir(data_dir: &std::path::Path) -> PathBuf {
    data_dir.join("logs")
}

/// Where `harbor-bridge install` puts its own copy of the binary: Harbor's data folder for a
/// per-user install, a folder every user can read for a system-wide one.
pub fn bin_dir(data_dir: &std::path::Path, system: bool) -> PathBuf {
    if !system {
        return data_dir.join("bin");
    }
    if cfg!(windows) {
        let program_files =
            std::env::var_os("ProgramFiles").map(PathBuf::from).unwrap_or_else(|| PathBuf::from(r"C:\Program Files"));
        program_files.join("Harbor")
    } else if cfg!(target_os = "macos") {
        PathBuf::from("/Library/Application Support/Harbor")
    } else {
        PathBuf::from("/usr/local/lib/harbor")
    }
}

/// The path of this program, harbor-bridge itself (what other apps and hosted servers run).
pub fn own_program() -> std::result::Result<PathBuf, String> {
    std::env::current_exe().map_err(|e| format!("cannot tell where harbor-bridge is: {e}"))
}
