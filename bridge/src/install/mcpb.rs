//! `.mcpb` bundles (MCP Bundles, formerly `.dxt`): a zip with a `manifest.json` that says how to
//! run the server it carries.
//!
//! The bundle is unpacked into the server's folder (entries that would land outside it are
//! refused), and `server.mcp_config` becomes the launch, with `${__dirname}` as the unpacked
//! folder, `${user_config.KEY}` as the user's value (or the manifest's default), `${HOME}`,
//! `${DESKTOP}`, `${DOCUMENTS}`, `${DOWNLOADS}` and `${/}` / `${pathSeparator}`. Settings marked
//! `sensitive` are named for the secret store.

use std::collections::BTreeMap;
use std::path::Path;

use std::io::Read;

use serde_json::Value;

use super::InstallError;

/// What a bundle's manifest says to run.
#[derive(Clone, Debug, PartialEq)]
pub struct Bundle {
    pub name: String,
    pub version: String,
    pub command: String,
    pub args: Vec<String>,
    pub env: BTreeMap<String, String>,
    /// Sensitive settings the launch refers to.
    /// Variable → value of the settings marked sensitive, for the secret store.
    pub secrets: BTreeMap<String, String>,
}

/// The largest bundle file Harbor opens.
pub const MAX_BUNDLE_BYTES: u64 = 256 << 20;

/// The most a bundle may unpack to, all files together.
pub const MAX_UNPACKED_BYTES: u64 = 1 << 30;

/// The most files a bundle may hold.
const MAX_ENTRIES: usize = 50_000;

/// A file that expands more than this many times over its compressed size (and to more than
/// [`BOMB_FLOOR`]) is taken for a zip bomb.
const MAX_RATIO: u64 = 200;
const BOMB_FLOOR: u64 = 16 << 20;

/// Unpacks the bundle at `archive` into `folder` and reads its manifest with the user's values.
/// Blocking work: call it off the runtime's threads. A bundle over [`MAX_BUNDLE_BYTES`], one that
/// would unpack to more than [`MAX_UNPACKED_BYTES`], or a zip bomb is refused before anything is
/// written past the limit; the entries' declared sizes are not trusted while copying.
pub fn unpack(archive: &Path, folder: &Path, values: &BTreeMap<String, String>) -> Result<Bundle, InstallError> {
    let file = std::fs::File::open(archive).map_err(|e| format!("cannot open {}: {e}", archive.display()))?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    if size > MAX_BUNDLE_BYTES {
        return Err(InstallError::Rejected(format!(
            "{} is {} MiB, larger than the {} MiB a bundle may be",
            archive.display(),
            size >> 20,
            MAX_BUNDLE_BYTES >> 20
        )));
    }
    let mut zip = zip::ZipArchive::new(file).map_err(|e| {
        InstallError::Invalid(format!("{} is not a bundle (not a zip archive: {e})", archive.display()))
    })?;
    if zip.len() > MAX_ENTRIES {
        return Err(InstallError::Rejected(format!("the bundle holds {} files, more than {MAX_ENTRIES}", zip.len())));
    }
    let bomb = |what: &str| {
        InstallError::Rejected(format!(
            "the bundle {what}: it looks like a zip bomb (it would unpack to more than {} MiB or expand more than \
             {MAX_RATIO} times), so nothing of it was kept",
            MAX_UNPACKED_BYTES >> 20
        ))
    };
    let mut declared = 0u64;
    for index in 0..zip.len() {
        let entry = zip.by_index_raw(index).map_err(|e| format!("the bundle is damaged: {e}"))?;
        declared = declared.saturating_add(entry.size());
        let ratio = entry.size() / entry.compressed_size().max(1);
        if entry.size() > BOMB_FLOOR && ratio > MAX_RATIO {
            return Err(bomb(&format!("holds {:?}, which expands {ratio} times", entry.name())));
        }
    }
    if declared > MAX_UNPACKED_BYTES {
        return Err(bomb("is too large unpacked"));
    }
    let mut written = 0u64;
    for index in 0..zip.len() {
        let mut entry = zip.by_index(index).map_err(|e| format!("the bundle is damaged: {e}"))?;
        let Some(relative) = entry.enclosed_name() else {
            return Err(InstallError::Rejected(format!(
                "the bundle holds {:?}, which would land outside its folder; refused",
                entry.name()
            )));
        };
        let target = folder.join(relative);
        if entry.is_dir() {
            std::fs::create_dir_all(&target).map_err(|e| format!("cannot create {}: {e}", target.display()))?;
            continue;
        }
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
        }
        let mut out = std::fs::File::create(&target).map_err(|e| format!("cannot write {}: {e}", target.display()))?;
        // The header's size may lie: copy at most what is left of the budget, and one byte more
        // tells that it lied.
        let left = MAX_UNPACKED_BYTES - written;
        let copied = std::io::copy(&mut (&mut entry).take(left + 1), &mut out)
            .map_err(|e| format!("cannot unpack {}: {e}", target.display()))?;
        written += copied;
        if copied > left {
            return Err(bomb("unpacks to more than its headers say"));
        }
        #[cfg(unix)]
        if let Some(mode) = entry.unix_mode() {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(&target, std::fs::Permissions::from_mode(mode & 0o755));
        }
    }
    let text = std::fs::read_to_string(folder.join("manifest.json"))
        .map_err(|_| InstallError::Invalid("the bundle has no manifest.json".to_owned()))?;
    let manifest: Value = serde_json::from_str(&text)
        .map_err(|e| InstallError::Invalid(format!("the bundle's manifest.json is not JSON: {e}")))?;
    read(&manifest, folder, values).map_err(InstallError::Invalid)
}

/// The launch a manifest describes, with the user's values.
pub fn read(manifest: &Value, folder: &Path, values: &BTreeMap<String, String>) -> Result<Bundle, String> {
    let name = manifest["name"].as_str().ok_or("the manifest has no \"name\"")?.to_owned();
    let config = &manifest["server"]["mcp_config"];
    let command = config["command"].as_str().ok_or("the manifest has no server.mcp_config.command")?;
    let settings = manifest["user_config"].as_object().cloned().unwrap_or_default();
    let mut missing = Vec::new();
    let home = directories::BaseDirs::new().map(|d| d.home_dir().to_path_buf()).unwrap_or_default();
    let user_dirs = directories::UserDirs::new();
    let place = |dir: Option<&Path>, fallback: &str| {
        dir.map_or_else(|| home.join(fallback), Path::to_path_buf).display().to_string()
    };
    let fixed: Vec<(String, String)> = vec![
        ("${__dirname}".into(), folder.display().to_string()),
        ("${HOME}".into(), home.display().to_string()),
        ("${DESKTOP}".into(), place(user_dirs.as_ref().and_then(|d| d.desktop_dir()), "Desktop")),
        ("${DOCUMENTS}".into(), place(user_dirs.as_ref().and_then(|d| d.document_dir()), "Documents")),
        ("${DOWNLOADS}".into(), place(user_dirs.as_ref().and_then(|d| d.download_dir()), "Downloads")),
        ("${/}".into(), std::path::MAIN_SEPARATOR.to_string()),
        ("${pathSeparator}".into(), std::path::MAIN_SEPARATOR.to_string()),
    ];
    // Fills one text, and tells whether a sensitive setting went into it.
    let mut fill = |text: &str| -> (Option<String>, bool) {
        let mut out = text.to_owned();
        let mut secret = false;
        for (key, setting) in &settings {
            let placeholder = format!("${{user_config.{key}}}");
            if !out.contains(&placeholder) {
                continue;
            }
            secret |= setting["sensitive"] == true;
            let value = values.get(key).cloned().or_else(|| match &setting["default"] {
                Value::String(s) => Some(s.clone()),
                Value::Null => None,
                other => Some(other.to_string()),
            });
            match value {
                Some(value) => out = out.replace(&placeholder, &value),
                None if setting["required"] == true => {
                    missing.push(setting["title"].as_str().unwrap_or(key).to_owned())
                }
                None => return (None, secret),
            }
        }
        for (key, value) in &fixed {
            out = out.replace(key, value);
        }
        (Some(out), secret)
    };
    let command = fill(command).0.unwrap_or_default();
    let mut args = Vec::new();
    for arg in config["args"].as_array().into_iter().flatten().filter_map(Value::as_str) {
        let (filled, secret) = fill(arg);
        if secret {
            return Err(format!(
                "the bundle puts a sensitive setting on the command line ({arg}), where any process can read it; Harbor passes secrets only in the environment"
            ));
        }
        args.extend(filled);
    }
    let mut env = BTreeMap::new();
    let mut secrets = BTreeMap::new();
    for (key, value) in config["env"].as_object().into_iter().flatten() {
        let Some(text) = value.as_str() else { continue };
        match fill(text) {
            (Some(value), true) => secrets.insert(key.clone(), value),
            (Some(value), false) => env.insert(key.clone(), value),
            (None, _) => None,
        };
    }
    if !missing.is_empty() {
        return Err(format!("needed: {}", missing.join(", ")));
    }
    Ok(Bundle {
        name,
        version: manifest["version"].as_str().unwrap_or("unknown").to_owned(),
        command,
        args,
        env,
        secrets,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_manifest_becomes_a_launch_with_every_substitution() {
        let manifest = json!({
            "manifest_version": "0.2", "name": "notes", "version": "0.3.1",
            "server": {"type": "node", "entry_point": "server/index.js",
                       "mcp_config": {"command": "node", "args": ["${__dirname}/server/index.js", "--root", "${user_config.root}", "--depth", "${user_config.depth}"],
                                      "env": {"NOTES_TOKEN": "${user_config.token}", "SEP": "${/}"}}},
            "user_config": {
                "root": {"type": "directory", "title": "Notes folder", "required": true},
                "depth": {"type": "number", "title": "Depth", "default": 3},
                "token": {"type": "string", "title": "Token", "sensitive": true}
            }
        });
        let folder = Path::new("/srv/notes");
        let missing = read(&manifest, folder, &BTreeMap::new()).unwrap_err();
        assert_eq!(missing, "needed: Notes folder");
        let given = BTreeMap::from([("root".into(), "/home/ada/notes".into()), ("token".into(), "t-1".into())]);
        let bundle = read(&manifest, folder, &given).unwrap();
        assert_eq!(bundle.args, ["/srv/notes/server/index.js", "--root", "/home/ada/notes", "--depth", "3"]);
        assert_eq!(bundle.env.get("SEP").map(String::as_str), Some(std::path::MAIN_SEPARATOR_STR));
        assert_eq!(
            bundle.secrets,
            BTreeMap::from([("NOTES_TOKEN".into(), "t-1".into())]),
            "a sensitive setting goes to the secret store"
        );
        assert!(!bundle.env.contains_key("NOTES_TOKEN"));
    }
}
