//! `import.*`: find other clients' configs, preview what importing one would create, and import
//! the entries the user confirmed.

use std::path::PathBuf;
use std::sync::Arc;

use harbor_protocol::ErrorObject;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{error, invalid, params, secret_error, to_value, with};
use crate::import::export::{self, Target};
use crate::import::{self, locations, vars::Context, Dialect};
use crate::mcp::registry::Servers;
use crate::rpc::{Access, Router};
use crate::secrets::Secrets;
use crate::store::servers::{ServerSpec, Source};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PreviewParams {
    path: PathBuf,
    dialect: Option<Dialect>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExportParams {
    target: Target,
    /// The config file; default: the app's usual one for this user.
    path: Option<PathBuf>,
    ids: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ApplyParams {
    path: PathBuf,
    dialect: Option<Dialect>,
    /// The entries (by their name in the file) the user confirmed.
    names: Vec<String>,
}

/// What variables in configs resolve against: the user's home and the bridge's environment.
fn context() -> Context {
    Context {
        env: std::env::vars().collect(),
        home: directories::BaseDirs::new().map(|d| d.home_dir().to_path_buf()),
        workspace: None,
    }
}

fn existing(servers: &Servers) -> Vec<ServerSpec> {
    servers.list().into_iter().map(|e| e.spec).collect()
}

/// The servers `ids` names, and the file to write: the given one, else the app's usual one.
fn export_plan(servers: &Servers, p: &ExportParams) -> Result<(PathBuf, Vec<export::Planned>), ErrorObject> {
    let chosen: Vec<ServerSpec> =
        p.ids.iter().map(|id| servers.entry(id).map(|e| e.spec)).collect::<Result<_, _>>().map_err(error)?;
    let path = match &p.path {
        Some(path) => path.clone(),
        None => p.target.default_path().map_err(invalid)?,
    };
    let planned = export::plan(p.target, &path, &chosen).map_err(invalid)?;
    Ok((path, planned))
}

/// Registers `import.*` and `export.*`.
pub fn routes(router: Router, servers: Arc<Servers>, secrets: Arc<Secrets>) -> Router {
    let with_secrets = (servers.clone(), secrets);
    let s = servers;
    router
        .route(
            "import.detect",
            Access::Extension,
            with(&s, |servers, _call| async move {
                let Some(dirs) = directories::BaseDirs::new() else {
                    return Err(invalid("cannot find this user's home folder"));
                };
                let app_data = std::env::var_os("APPDATA").map(PathBuf::from);
                let known = existing(&servers);
                let found: Vec<Value> = locations::candidates(dirs.home_dir(), app_data.as_deref(), None)
                    .into_iter()
                    .filter(|l| l.exists)
                    .map(|location| {
                        let mut value = json!(location);
                        match import::preview(&location.path, Some(location.dialect), &context(), &known) {
                            Ok(preview) => value["servers"] = json!(preview.entries.len()),
                            Err(problem) => value["error"] = json!(problem),
                        }
                        value
                    })
                    .collect();
                Ok(Value::Array(found))
            }),
        )
        .route(
            "import.preview",
            Access::Extension,
            with(&s, |servers, call| async move {
                let p: PreviewParams = params("import.preview", call.params)?;
                to_value(import::preview(&p.path, p.dialect, &context(), &existing(&servers)).map_err(invalid)?)
            }),
        )
        .route(
            "export.preview",
            Access::Extension,
            with(&s, |servers, call| async move {
                let p: ExportParams = params("export.preview", call.params)?;
                let (path, planned) = export_plan(&servers, &p)?;
                Ok(json!({ "path": path, "servers": planned }))
            }),
        )
        .route(
            "export.apply",
            Access::Extension,
            with(&s, |servers, call| async move {
                let p: ExportParams = params("export.apply", call.params)?;
                let (path, planned) = export_plan(&servers, &p)?;
                if let Some(refused) = planned.iter().find(|p| p.refused.is_some()) {
                    return Err(invalid(format!("{}: {}", refused.id, refused.refused.as_deref().unwrap_or_default())));
                }
                let backup = export::write(p.target, &path, &planned).map_err(invalid)?;
                let written: Vec<&str> = planned.iter().map(|p| p.id.as_str()).collect();
                Ok(json!({ "path": path, "written": written, "backup": backup }))
            }),
        )
        .route(
            "import.apply",
            Access::Extension,
            with(&with_secrets, |(servers, secrets), call| async move {
                let p: ApplyParams = params("import.apply", call.params)?;
                let preview = import::preview(&p.path, p.dialect, &context(), &existing(&servers)).map_err(invalid)?;
                let chosen: Vec<_> = preview.entries.iter().filter(|e| p.names.contains(&e.name)).collect();
                if let Some(unknown) = p.names.iter().find(|n| !preview.entries.iter().any(|e| &e.name == *n)) {
                    return Err(invalid(format!("{} has no server named {unknown:?}", p.path.display())));
                }
                let mut added = Vec::new();
                let mut skipped = Vec::new();
                for entry in chosen {
                    if let Some(id) = &entry.duplicate_of {
                        skipped.push(json!({"name": entry.name, "id": id, "why": "Harbor has this server already"}));
                        continue;
                    }
                    // Secrets go to the keychain first; a name without a value (a prompt in
                    // the original config) is recorded so the server asks for it at start.
                    let mut secret_env =
                        secrets.set_for_server(&entry.id, &entry.secret_values).await.map_err(secret_error)?;
                    for name in &entry.secrets {
                        secret_env
                            .entry(name.clone())
                            .or_insert_with(|| crate::secrets::server_secret_id(&entry.id, name));
                    }
                    let spec = ServerSpec {
                        id: entry.id.clone(),
                        name: entry.name.clone(),
                        source: Source::Imported {
                            client: preview.client.to_owned(),
                            file: p.path.display().to_string(),
                        },
                        launch: entry.launch.clone(),
                        secret_env,
                        auto_start: false,
                        version: None,
                        install_path: None,
                        tool_timeout_ms: None,
                        sandbox: None,
                    };
                    added.push(servers.add(spec).map_err(error)?.spec.id);
                }
                Ok(json!({ "added": added, "skipped": skipped }))
            }),
        )
}
