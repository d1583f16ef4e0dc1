//! "Connect Claude Desktop / Cursor / VS Code": writes one entry named `harbor` into the app's
//! config that runs `harbor-bridge mcp --client NAME`, through the export code (other keys kept,
//! a backup, write-then-rename).
//!
//! The entry is a stdio one for every app, even those that speak HTTP: the stdio face reaches
//! the running bridge over its control socket (only this user can open it), so no key has to be
//! written into another app's file. `HARBOR_HOME` is passed on when the bridge uses a data folder
//! of its own, so the entry finds this bridge and not the default one.

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::json;

use crate::import::export::{self, Planned, Target};
use crate::import::ImportError;

/// The name of Harbor's entry in an app's config.
pub const ENTRY: &str = "harbor";

/// What connecting did (or would do).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Connected {
    pub path: PathBuf,
    pub entry: serde_json::Value,
    pub replaces: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backup: Option<PathBuf>,
    pub written: bool,
}

/// Plans (and unless `dry_run`, writes) the entry for `client` into `target`'s config at `path`
/// (default: the app's usual file). `program` is the bridge binary the app should start.
pub fn connect(
    target: Target,
    path: Option<PathBuf>,
    client: &str,
    program: &Path,
    data_dir: Option<&Path>,
    dry_run: bool,
) -> Result<Connected, ImportError> {
    let path = match path {
        Some(path) => path,
        None => crate::import::export::default_path(target)?,
    };
    let mut entry = json!({
        "command": program.display().to_string(),
        "args": ["mcp", "--client", client],
    });
    if let Some(dir) = data_dir {
        entry["env"] = json!({ "HARBOR_HOME": dir.display().to_string() });
    }
    if target == Target::VsCode {
        entry["type"] = json!("stdio");
    }
    let replaces = export::has_entry(target, &path, ENTRY)?;
    let planned =
        Planned { id: ENTRY.into(), entry: Some(entry.clone()), left_out: Vec::new(), refused: None, replaces };
    let backup = if dry_run { None } else { export::write(target, &path, &[planned])? };
    Ok(Connected { path, entry, replaces, backup, written: !dry_run })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_entry_runs_the_stdio_face_and_keeps_the_rest_of_the_file() {
        let dir = std::env::temp_dir().join(format!("harbor-connect-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("mcp.json");
        std::fs::write(&file, r#"{"servers": {"other": {"type": "stdio", "command": "x"}}, "inputs": []}"#).unwrap();
        let program = Path::new("/opt/harbor/harbor-bridge");
        let done = connect(Target::VsCode, Some(file.clone()), "vs-code", program, Some(&dir), false).unwrap();
        assert!(!done.replaces);
        assert!(done.backup.is_some());
        let written: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        assert_eq!(written["servers"]["other"]["command"], "x");
        assert_eq!(written["inputs"], json!([]));
        let harbor = &written["servers"]["harbor"];
        assert_eq!(harbor["command"], "/opt/harbor/harbor-bridge");
        assert_eq!(harbor["args"], json!(["mcp", "--client", "vs-code"]));
        assert_eq!(harbor["type"], "stdio");
        assert_eq!(harbor["env"]["HARBOR_HOME"], dir.display().to_string());
        let again = connect(Target::VsCode, Some(file), "vs-code", program, None, true).unwrap();
        assert!(again.replaces && !again.written);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
