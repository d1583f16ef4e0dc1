//! Installing and removing the native-messaging host manifest, which is how Firefox finds the
//! bridge.
//!
//! The manifest is filled from the template in `native-manifest/` (the one template the
//! installer scripts use too) and written where Firefox looks for it on this OS: a per-user
//! folder on Linux and macOS (or the system-wide one with `--system`), and on Windows a file in
//! the data folder named by a registry key. This module does not start or talk to the bridge.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use harbor_protocol::NATIVE_HOST_NAME;

const TEMPLATE: &str = include_str!("../../native-manifest/harbor_rs_bridge.json.in");

/// Where the manifest goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    User,
    System,
}

/// The manifest's text, pointing Firefox at `bridge`.
pub fn render(bridge: &Path) -> String {
    let path = serde_json::to_string(&bridge.display().to_string()).expect("a string serializes");
    TEMPLATE.replace("\"@BRIDGE_PATH@\"", &path)
}

/// The folder Firefox reads host manifests from, for this OS and scope.
pub fn manifest_dir(scope: Scope, data_dir: &Path) -> Result<PathBuf> {
    if cfg!(windows) {
        // Windows finds the manifest through the registry; the file itself can live anywhere.
        return Ok(data_dir.to_path_buf());
    }
    let home = || -> Result<PathBuf> {
        Ok(directories::BaseDirs::new().context("cannot find the home directory; set HOME")?.home_dir().to_path_buf())
    };
    Ok(match (scope, cfg!(target_os = "macos")) {
        (Scope::User, true) => home()?.join("Library/Application Support/Mozilla/NativeMessagingHosts"),
        (Scope::System, true) => PathBuf::from("/Library/Application Support/Mozilla/NativeMessagingHosts"),
        (Scope::User, false) => home()?.join(".mozilla/native-messaging-hosts"),
        (Scope::System, false) => PathBuf::from("/usr/lib/mozilla/native-messaging-hosts"),
    })
}

pub fn manifest_path(scope: Scope, data_dir: &Path) -> Result<PathBuf> {
    Ok(manifest_dir(scope, data_dir)?.join(format!("{NATIVE_HOST_NAME}.json")))
}

/// Writes the manifest for `bridge` and returns where it went.
pub fn install(scope: Scope, data_dir: &Path, bridge: &Path) -> Result<PathBuf> {
    let path = manifest_path(scope, data_dir)?;
    let dir = path.parent().expect("the manifest path has a folder");
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    std::fs::write(&path, render(bridge)).with_context(|| format!("cannot write {}", path.display()))?;
    if cfg!(windows) {
        registry(scope, Some(&path))?;
    }
    Ok(path)
}

/// Removes the manifest; returns the path it was at, if there was one.
pub fn uninstall(scope: Scope, data_dir: &Path) -> Result<Option<PathBuf>> {
    let path = manifest_path(scope, data_dir)?;
    if cfg!(windows) {
        registry(scope, None)?;
    }
    match std::fs::remove_file(&path) {
        Ok(()) => Ok(Some(path)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot remove {}", path.display())),
    }
}

/// Reads the installed manifest's `path`: the bridge Firefox will start.
pub fn installed_bridge(scope: Scope, data_dir: &Path) -> Result<Option<PathBuf>> {
    let path = manifest_path(scope, data_dir)?;
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let manifest: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("{} is not valid JSON; run `harbor-bridge install` again", path.display()))?;
    match manifest.get("path").and_then(|p| p.as_str()) {
        Some(bridge) => Ok(Some(PathBuf::from(bridge))),
        None => bail!("{} has no \"path\"; run `harbor-bridge install` again", path.display()),
    }
}

/// Sets (or with `None`, deletes) the registry key through which Firefox on Windows finds the
/// manifest. `reg.exe` ships with every Windows; it keeps the bridge free of a registry crate.
fn registry(scope: Scope, manifest: Option<&Path>) -> Result<()> {
    let hive = match scope {
        Scope::User => "HKCU",
        Scope::System => "HKLM",
    };
    let key = format!(r"{hive}\Software\Mozilla\NativeMessagingHosts\{NATIVE_HOST_NAME}");
    let mut command = std::process::Command::new("reg");
    match manifest {
        Some(path) => command.args(["add", &key, "/ve", "/t", "REG_SZ", "/d", &path.display().to_string(), "/f"]),
        None => command.args(["delete", &key, "/f"]),
    };
    let status = command.status().context("cannot run reg.exe to register the bridge with Firefox")?;
    if manifest.is_some() && !status.success() {
        bail!("reg.exe could not write {key} ({status})");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rendered_manifest_is_valid_json_naming_the_bridge_and_the_extension() {
        let text = render(Path::new("/opt/harbor \"x\"/harbor-bridge"));
        let manifest: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(manifest["name"], NATIVE_HOST_NAME);
        assert_eq!(manifest["path"], "/opt/harbor \"x\"/harbor-bridge");
        assert_eq!(manifest["type"], "stdio");
        assert_eq!(manifest["allowed_extensions"][0], harbor_protocol::EXTENSION_ID);
    }
}
