//! `import.*`: find other clients' configs, preview what importing one would create, and import
//! the entries the user confirmed; `export.*`: write Harbor's servers into an app's config.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use harbor_protocol::api::import as api;
use harbor_protocol::ErrorObject;

use super::{error, secret_error, wire, Area};
use crate::import::export;
use crate::import::{self, locations, vars::Context, Dialect};
use crate::mcp::registry::Servers;
use crate::rpc::Router;
use crate::secrets::Secrets;
use crate::store::servers::{ServerSpec, Source};

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
fn export_plan(servers: &Servers, p: &api::ExportParams) -> Result<(PathBuf, Vec<export::Planned>), ErrorObject> {
    let chosen: Vec<ServerSpec> =
        p.ids.iter().map(|id| servers.entry(id).map(|e| e.spec)).collect::<Result<_, _>>().map_err(error)?;
    let path = match &p.path {
        Some(path) => PathBuf::from(path),
        None => export::default_path(p.target)?,
    };
    let planned = export::plan(p.target, &path, &chosen)?;
    Ok((path, planned))
}

fn preview(path: &Path, dialect: Option<Dialect>, servers: &Servers) -> Result<import::Preview, ErrorObject> {
    Ok(import::preview(path, dialect, &context(), &existing(servers))?)
}

fn wire_preview(preview: import::Preview) -> api::Preview {
    api::Preview {
        path: preview.path.display().to_string(),
        dialect: preview.dialect,
        client: preview.client.to_owned(),
        entries: preview
            .entries
            .into_iter()
            .map(|entry| api::Entry {
                name: entry.name,
                id: entry.id,
                launch: wire::launch(entry.launch),
                secrets: entry.secrets,
                needs: entry.needs,
                disabled: entry.disabled,
                duplicate_of: entry.duplicate_of,
            })
            .collect(),
    }
}

/// Registers `import.*` and `export.*`.
pub fn routes(router: Router, servers: Arc<Servers>, secrets: Arc<Secrets>) -> Router {
    Area::new(router, (servers, secrets))
        .on::<api::ImportDetect, _>(|(servers, _), _, _| async move {
            let Some(dirs) = directories::BaseDirs::new() else {
                return Err(ErrorObject::invalid("cannot find this user's home folder"));
            };
            let app_data = std::env::var_os("APPDATA").map(PathBuf::from);
            let known = existing(&servers);
            Ok(locations::candidates(dirs.home_dir(), app_data.as_deref(), None)
                .into_iter()
                .filter(|l| l.exists)
                .map(|location| {
                    let read = import::preview(&location.path, Some(location.dialect), &context(), &known);
                    api::Found {
                        dialect: location.dialect,
                        client: location.client.to_owned(),
                        path: location.path.display().to_string(),
                        exists: location.exists,
                        servers: read.as_ref().ok().map(|preview| preview.entries.len()),
                        error: read.err().map(|e| e.to_string()),
                    }
                })
                .collect())
        })
        .on::<api::ImportPreview, _>(|(servers, _), p, _| async move {
            Ok(wire_preview(preview(Path::new(&p.path), p.dialect, &servers)?))
        })
        .on::<api::ExportPreview, _>(|(servers, _), p, _| async move {
            let (path, planned) = export_plan(&servers, &p)?;
            Ok(api::ExportPlan { path: path.display().to_string(), servers: planned })
        })
        .on::<api::ExportApply, _>(|(servers, _), p, _| async move {
            let (path, planned) = export_plan(&servers, &p)?;
            if let Some(refused) = planned.iter().find(|p| p.refused.is_some()) {
                return Err(ErrorObject::invalid(format!(
                    "{}: {}",
                    refused.id,
                    refused.refused.as_deref().unwrap_or_default()
                )));
            }
            let backup = export::write(p.target, &path, &planned)?;
            Ok(api::Exported {
                path: path.display().to_string(),
                written: planned.into_iter().map(|p| p.id).collect(),
                backup: backup.map(|b| b.display().to_string()),
            })
        })
        .on::<api::ImportApply, _>(|(servers, secrets), p, _| async move {
            let file = Path::new(&p.path);
            let preview = preview(file, p.dialect, &servers)?;
            if let Some(unknown) = p.names.iter().find(|n| !preview.entries.iter().any(|e| &e.name == *n)) {
                return Err(ErrorObject::invalid(format!("{} has no server named {unknown:?}", p.path)));
            }
            let mut imported = api::Imported { added: Vec::new(), skipped: Vec::new() };
            for entry in preview.entries.iter().filter(|e| p.names.contains(&e.name)) {
                if let Some(id) = &entry.duplicate_of {
                    imported.skipped.push(api::Skipped {
                        name: entry.name.clone(),
                        id: id.clone(),
                        why: "Harbor has this server already".into(),
                    });
                    continue;
                }
                // Secrets go to the keychain first; a name without a value (a prompt in the
                // original config) is recorded so the server asks for it at start.
                let mut secret_env =
                    secrets.set_for_server(&entry.id, &entry.secret_values).await.map_err(secret_error)?;
                for name in &entry.secrets {
                    secret_env.entry(name.clone()).or_insert_with(|| crate::secrets::server_secret_id(&entry.id, name));
                }
                let spec = ServerSpec {
                    id: entry.id.clone(),
                    name: entry.name.clone(),
                    source: Source::Imported { client: preview.client.to_owned(), file: p.path.clone() },
                    launch: entry.launch.clone(),
                    secret_env,
                    auto_start: false,
                    version: None,
                    install_path: None,
                    tool_timeout_ms: None,
                    sandbox: None,
                    account: None,
                };
                imported.added.push(servers.add(spec).map_err(error)?.spec.id);
            }
            Ok(imported)
        })
        .done()
}
