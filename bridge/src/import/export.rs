//! Writing Harbor's servers into Claude Desktop's, Cursor's or VS Code's config, keeping every
//! other key of the file as it was.
//!
//! The file is read (or started empty), each chosen server is set under `mcpServers` (VS Code:
//! `servers`) by its id,
//! and the result is written to a temporary file beside it and renamed over it, after the old
//! file is copied to `<file>.harbor-backup`. Secret values are never written: a server's
//! secret environment variables are left out, and the preview says so.

use std::path::{Path, PathBuf};

use serde_json::{json, Map, Value};

use super::{locations, ImportError};
use crate::store::servers::{Launch, ServerSpec};

/// The apps Harbor can write to.
pub use harbor_protocol::api::import::App as Target;

/// The key the app keeps its servers under.
fn servers_key(target: Target) -> &'static str {
    match target {
        Target::VsCode => "servers",
        Target::ClaudeDesktop | Target::Cursor => "mcpServers",
    }
}

/// The app's usual config file for this user.
pub fn default_path(target: Target) -> Result<PathBuf, ImportError> {
    let dirs = directories::BaseDirs::new()
        .ok_or_else(|| ImportError::Access("cannot find this user's home folder; name the file".into()))?;
    let app_data = std::env::var_os("APPDATA").map(PathBuf::from);
    locations::candidates(dirs.home_dir(), app_data.as_deref(), None)
        .into_iter()
        .find(|l| l.dialect == target.dialect())
        .map(|l| l.path)
        .ok_or_else(|| {
            ImportError::Invalid(
                "Harbor does not know where that app keeps its config on this system; name the file".into(),
            )
        })
}

pub use harbor_protocol::api::import::Planned;

/// The config entry for `server` in `target`'s format.
fn entry(target: Target, server: &ServerSpec) -> Result<Value, String> {
    let mut value = portable_entry(target, server)?;
    if target == Target::VsCode {
        value["type"] = json!(if value.get("url").is_some() { "http" } else { "stdio" });
    }
    Ok(value)
}

fn portable_entry(target: Target, server: &ServerSpec) -> Result<Value, String> {
    match (&server.launch, target) {
        (Launch::Process { command, args, env, .. }, _) => {
            let mut value = json!({ "command": command, "args": args });
            if !env.is_empty() {
                value["env"] = json!(env);
            }
            Ok(value)
        }
        (Launch::Remote { url, headers }, Target::Cursor | Target::VsCode) => {
            let mut value = json!({ "url": url });
            if !headers.is_empty() {
                value["headers"] = json!(headers);
            }
            Ok(value)
        }
        (Launch::Docker { image, args, env, network, mounts, limits, user, entrypoint, .. }, _) => {
            // The same hardening as Harbor's own runtime, as `docker run` flags.
            let mut run: Vec<String> = vec!["run".into(), "-i".into(), "--rm".into()];
            if !network {
                run.extend(["--network".into(), "none".into()]);
            }
            run.extend(["--read-only".into(), "--tmpfs".into(), format!("/tmp:rw,noexec,nosuid,size={}m", limits.tmp_mb)]);
            run.extend(["--cap-drop".into(), "ALL".into(), "--security-opt".into(), "no-new-privileges".into()]);
            run.extend(["--memory".into(), format!("{}m", limits.memory_mb), "--cpus".into(), limits.cpus.to_string()]);
            run.extend(["--pids-limit".into(), limits.pids.to_string()]);
            run.extend(["--user".into(), user.clone().unwrap_or_else(|| crate::runtimes::docker::DEFAULT_USER.into())]);
            for mount in mounts {
                let mode = if mount.write { "" } else { ",readonly" };
                run.extend(["--mount".into(), format!("type=bind,source={},target={}{mode}", mount.host, mount.container)]);
            }
            for name in env.keys().chain(server.secret_env.keys()) {
                run.extend(["-e".into(), name.clone()]);
            }
            let entrypoint = entrypoint.clone().unwrap_or_default();
            if let Some(program) = entrypoint.first() {
                run.extend(["--entrypoint".into(), program.clone()]);
            }
            run.push(image.clone());
            run.extend(entrypoint.iter().skip(1).cloned());
            run.extend(args.iter().cloned());
            let mut value = json!({ "command": "docker", "args": run });
            if !env.is_empty() {
                value["env"] = json!(env);
            }
            Ok(value)
        }
        (Launch::Remote { .. }, Target::ClaudeDesktop) => {
            Err("Claude Desktop's config file holds local commands only; add remote servers in Claude Desktop's Connectors settings".into())
        }
    }
}

/// What exporting `servers` into the file at `path` would do.
pub fn plan(target: Target, path: &Path, servers: &[ServerSpec]) -> Result<Vec<Planned>, ImportError> {
    let config = read(path)?;
    let existing = config.get(servers_key(target)).and_then(Value::as_object);
    Ok(servers
        .iter()
        .map(|server| {
            let replaces = existing.is_some_and(|e| e.contains_key(&server.id));
            match entry(target, server) {
                Ok(value) => Planned {
                    id: server.id.clone(),
                    entry: Some(value),
                    left_out: server.secret_env.keys().cloned().collect(),
                    refused: None,
                    replaces,
                },
                Err(why) => {
                    Planned { id: server.id.clone(), entry: None, left_out: Vec::new(), refused: Some(why), replaces }
                }
            }
        })
        .collect())
}

/// Whether the file has an entry named `id` (an unreadable file is an error: it is not replaced).
pub fn has_entry(target: Target, path: &Path, id: &str) -> Result<bool, ImportError> {
    Ok(read(path)?.get(servers_key(target)).and_then(Value::as_object).is_some_and(|e| e.contains_key(id)))
}

/// Writes the planned entries into the file, keeping everything else; returns the backup's path
/// when there was a file before.
pub fn write(target: Target, path: &Path, planned: &[Planned]) -> Result<Option<PathBuf>, ImportError> {
    let mut config = read(path)?;
    let shape = |what: String| ImportError::Invalid(format!("{what}; Harbor will not overwrite it"));
    let root = config.as_object_mut().ok_or_else(|| shape(format!("{} is not a JSON object", path.display())))?;
    let key = servers_key(target);
    let servers = root.entry(key).or_insert_with(|| Value::Object(Map::new()));
    let servers =
        servers.as_object_mut().ok_or_else(|| shape(format!("{}: {key:?} is not an object", path.display())))?;
    for plan in planned {
        if let Some(entry) = &plan.entry {
            servers.insert(plan.id.clone(), entry.clone());
        }
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| ImportError::io(dir, "cannot create it", &e))?;
    }
    let backup = if path.exists() {
        let backup = PathBuf::from(format!("{}.harbor-backup", path.display()));
        std::fs::copy(path, &backup).map_err(|e| ImportError::io(path, "cannot back it up", &e))?;
        Some(backup)
    } else {
        None
    };
    let text = serde_json::to_string_pretty(&config).expect("a JSON value serializes") + "\n";
    let temporary = PathBuf::from(format!("{}.harbor-new", path.display()));
    if let Err(error) = std::fs::write(&temporary, text) {
        let _ = std::fs::remove_file(&temporary);
        return Err(ImportError::io(&temporary, "cannot write it", &error));
    }
    std::fs::rename(&temporary, path).map_err(|e| ImportError::io(path, "cannot replace it", &e))?;
    Ok(backup)
}

fn read(path: &Path) -> Result<Value, ImportError> {
    match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&super::jsonc::strip(&text)).map_err(|e| {
            ImportError::Invalid(format!("{} is not valid JSON ({e}); Harbor will not overwrite it", path.display()))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(json!({})),
        Err(e) => Err(ImportError::io(path, "cannot read it", &e)),
    }
}
