//! `catalog.list` and `install.*`: browse the directory and install a server from it or from a
//! package name, with the installers' output streamed as progress events. Install failures keep
//! their kind (`install::InstallError`): the user's input, a missing program, the network.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use harbor_protocol::api::install::{self as api, InstallEvent, Phase};
use harbor_protocol::api::servers::ServerEntry;
use harbor_protocol::ErrorObject;
use serde_json::Value;
use tokio::sync::mpsc;

use super::{error, secret_error, wire, Area};
use crate::install::git::GitSource;
use crate::install::hosted::Hosted;
use crate::install::server_json::{self, Plan};
use crate::install::{self, catalog, InstallError, Installable, Package, Registries};
use crate::mcp::names::{check_server_id, suggest_server_id};
use crate::mcp::registry::Servers;
use crate::rpc::{Call, Router};
use crate::runtimes::docker;
use crate::secrets::Secrets;
use crate::store::servers::{Launch, ServerSpec, Source};
use crate::store::Store;

/// The setting that holds the [`Registries`].
const REGISTRIES: &str = "registries";

/// The state the install methods share.
#[derive(Clone)]
struct Installer {
    servers: Arc<Servers>,
    secrets: Arc<Secrets>,
    store: Store,
    folder: PathBuf,
    /// The ids being installed right now (their folders are theirs).
    busy: Arc<std::sync::Mutex<std::collections::BTreeSet<String>>>,
}

/// Holds an id in [`Installer::busy`] for as long as its install runs.
struct Busy {
    ids: Arc<std::sync::Mutex<std::collections::BTreeSet<String>>>,
    id: String,
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.ids.lock().unwrap_or_else(|p| p.into_inner()).remove(&self.id);
    }
}

/// What the user gave on top of what the install finds: arguments, variables, secrets and an
/// account to connect.
#[derive(Default)]
struct Settings {
    sandbox: Option<crate::store::servers::Sandbox>,
    args: Vec<String>,
    env: BTreeMap<String, String>,
    secrets: BTreeMap<String, String>,
    /// Variable → the id of a secret already in the keychain (the user's; never deleted here).
    secret_ids: BTreeMap<String, String>,
    account: Option<crate::store::servers::Account>,
    /// The user's name for the server, over the one the install finds.
    name: Option<String>,
}

impl From<api::Extras> for Settings {
    fn from(extras: api::Extras) -> Settings {
        Settings { args: extras.args, env: extras.env, secrets: extras.secrets, ..Settings::default() }
    }
}

fn document(p: &api::ServerJson) -> Result<Value, ErrorObject> {
    match (&p.document, &p.path) {
        (Some(document), _) => Ok(document.clone()),
        (None, Some(path)) => {
            let text =
                std::fs::read_to_string(path).map_err(|e| ErrorObject::invalid(format!("cannot read {path}: {e}")))?;
            serde_json::from_str(&text).map_err(|e| ErrorObject::invalid(format!("{path} is not valid JSON: {e}")))
        }
        (None, None) => Err(ErrorObject::invalid("give the server.json as path or document")),
    }
}

fn wire_package(package: &Package) -> api::PackageRef {
    match package.clone() {
        Package::Npm { package, version } => api::PackageRef::Npm { package, version },
        Package::Pypi { package, version } => api::PackageRef::Pypi { package, version },
    }
}

fn check_registry(url: &Option<String>) -> Result<(), ErrorObject> {
    match url {
        Some(url) if !(url.starts_with("http://") || url.starts_with("https://")) => Err(ErrorObject::invalid(
            format!("{url:?} is not an http(s) URL; give the registry's address, or none for the public one"),
        )),
        _ => Ok(()),
    }
}

/// Registers `catalog.list` and `install.*`; servers install under `data_dir/servers`.
pub fn routes(router: Router, servers: Arc<Servers>, secrets: Arc<Secrets>, store: Store, data_dir: PathBuf) -> Router {
    let i = Installer { servers, secrets, store, folder: data_dir.join("servers"), busy: Arc::default() };
    Area::new(router, i)
        .on::<api::CatalogList, _>(|installer, p, _| async move {
            let installed = installer.servers.list();
            Ok(catalog::search(p.query.as_deref().unwrap_or(""))
                .into_iter()
                .map(|entry| {
                    let same = installed.iter().find(|s| matches!((&s.spec.source, &entry.source),
                        (Source::Npm { package: a }, Package::Npm { package: b, .. }) | (Source::Pypi { package: a }, Package::Pypi { package: b, .. }) if a == b));
                    api::CatalogEntry {
                        id: entry.id.clone(),
                        name: entry.name.clone(),
                        description: entry.description.clone(),
                        source: wire_package(&entry.source),
                        inputs: entry.inputs.clone(),
                        tags: entry.tags.clone(),
                        sandbox: entry.sandbox.clone(),
                        account: entry.account.clone(),
                        installed: same.map(|server| server.spec.id.clone()),
                    }
                })
                .collect())
        })
        .on::<api::InstallCatalog, _>(|installer, p, call| async move {
            let entry = catalog::get(&p.entry).ok_or_else(|| ErrorObject::invalid(format!("the directory has no {:?}; see catalog.list", p.entry)))?;
            let filled = catalog::fill(entry, &p.inputs).map_err(ErrorObject::invalid)?;
            let id = p.id.unwrap_or_else(|| entry.id.clone());
            let settings = Settings {
                sandbox: filled.sandbox,
                args: filled.args,
                env: filled.env,
                secrets: filled.secrets,
                account: filled.account,
                ..Settings::default()
            };
            installer.install(&call, Installable::Package(entry.source.clone()), id, entry.name.clone(), settings).await
        })
        .on::<api::InstallServerJsonDescribe, _>(|_, p, _| async move {
            server_json::describe(&document(&p)?).map_err(ErrorObject::invalid)
        })
        .on::<api::InstallServerJson, _>(|installer, p, call| async move {
            let document = document(&p)?;
            let described = server_json::describe(&document).map_err(ErrorObject::invalid)?;
            let plan = server_json::plan(&document, p.option.unwrap_or(0), &p.values).map_err(ErrorObject::invalid)?;
            let short = described.name.rsplit('/').next().unwrap_or(&described.name).to_owned();
            let id = p.id.unwrap_or_else(|| suggest_server_id(&short));
            match plan {
                Plan::Install { package, args, env, secrets } => {
                    let settings = Settings { args, env, secrets, ..Settings::default() };
                    installer.install(&call, Installable::Package(package), id, described.name, settings).await
                }
                Plan::Bundle { url, sha256 } => {
                    let what = Installable::Bundle { url: Some(url), path: None, sha256: Some(sha256), values: p.values.clone() };
                    installer.install(&call, what, id, described.name, Settings::default()).await
                }
                Plan::Remote { url, headers, secrets } => {
                    installer.register(id, described.name, described.version, Launch::Remote { url, headers }, secrets).await
                }
                Plan::Container { image, args, env, secrets } => {
                    check_server_id(&id).map_err(ErrorObject::invalid)?;
                    let (tell, mut lines) = mpsc::unbounded_channel::<String>();
                    let wanted = image.clone();
                    let pulling = docker::ensure_image(&wanted, move |line| {
                        let _ = tell.send(line);
                    });
                    tokio::pin!(pulling);
                    let pulled = loop {
                        tokio::select! {
                            biased;
                            Some(line) = lines.recv() => {
                                call.events.emit(&InstallEvent::Progress { phase: Phase::Pulling, line }).await;
                            }
                            done = &mut pulling => break done,
                        }
                    };
                    pulled.map_err(|e| ErrorObject::invalid(e.to_string()))?;
                    let launch = Launch::image(image, args, env);
                    installer.register(id, described.name, described.version, launch, secrets).await
                }
            }
        })
        .on::<api::InstallBinary, _>(|installer, p, call| async move {
            if p.assets.is_empty() {
                return Err(ErrorObject::invalid("install.binary needs at least one asset: {url, sha256, os?, arch?}"));
            }
            let what = Installable::Binary { assets: p.assets, name: p.id.clone(), version: p.version };
            installer.install(&call, what, p.id.clone(), p.name.unwrap_or(p.id), p.extras.into()).await
        })
        .on::<api::InstallGit, _>(|installer, p, call| async move {
            let source = GitSource::parse(&p.url, p.branch, p.subfolder).map_err(ErrorObject::invalid)?;
            let base = source.subfolder.clone().unwrap_or_else(|| source.url.trim_end_matches(".git").to_owned());
            let name = base.rsplit('/').next().unwrap_or("server").to_owned();
            let id = p.id.unwrap_or_else(|| suggest_server_id(&name));
            installer.install(&call, Installable::Git(source), id, name, p.extras.into()).await
        })
        .on::<api::InstallBundle, _>(|installer, p, call| async move {
            let from = p.url.clone().or_else(|| p.path.clone()).unwrap_or_default();
            let stem = from.rsplit(['/', '\\']).next().unwrap_or("bundle").trim_end_matches(".mcpb").to_owned();
            let id = p.id.unwrap_or_else(|| suggest_server_id(&stem));
            let what = Installable::Bundle { url: p.url, path: p.path.map(PathBuf::from), sha256: p.sha256, values: p.user_config };
            installer.install(&call, what, id, stem, Settings::default()).await
        })
        .on::<api::InstallPackage, _>(|installer, p, call| async move {
            let package = Package::parse(&p.spec).map_err(ErrorObject::invalid)?;
            let id = p.id.unwrap_or_else(|| suggest_server_id(package.name()));
            let name = package.name().to_owned();
            installer.install(&call, Installable::Package(package), id, name, p.extras.into()).await
        })
        .on::<api::InstallJsServer, _>(|installer, p, call| async move {
            let what = Hosted::Js { source: p.source, sha256: p.sha256, hosts: p.allow_hosts };
            let id = p.id.unwrap_or_else(|| suggest_server_id(&what.stem()));
            let settings = Settings { env: p.env, secrets: p.secrets, secret_ids: p.secret_env, ..Settings::default() };
            installer.install(&call, Installable::Hosted(what), id.clone(), p.name.unwrap_or(id), settings).await
        })
        .on::<api::InstallRestService, _>(|installer, p, call| async move {
            let what = Hosted::OpenApi { source: p.source, sha256: p.sha256, base_url: p.base_url, skills: p.skills };
            let id = p.id.unwrap_or_else(|| suggest_server_id(&what.stem()));
            let settings = Settings { secrets: p.secrets, secret_ids: p.secret_env, ..Settings::default() };
            // The document's title names it, unless the user gave a name.
            let settings = Settings { name: p.name, ..settings };
            installer.install(&call, Installable::Hosted(what), id.clone(), id, settings).await
        })
        .on::<api::InstallRegistriesGet, _>(|installer, _, _| async move { installer.registries() })
        .on::<api::InstallRegistriesSet, _>(|installer, p, _| async move {
            check_registry(&p.npm)?;
            check_registry(&p.pypi)?;
            installer.store.set_setting(REGISTRIES, &p).map_err(super::internal)?;
            Ok(p)
        })
        .done()
}

impl Installer {
    /// Records a server that needs no files of its own (a remote one, an image), its secrets
    /// in the keychain first.
    async fn register(
        &self,
        id: String,
        name: String,
        version: String,
        launch: Launch,
        secrets: BTreeMap<String, String>,
    ) -> Result<ServerEntry, ErrorObject> {
        check_server_id(&id).map_err(ErrorObject::invalid)?;
        if self.servers.get(&id).is_ok() {
            return Err(ErrorObject::invalid(format!("a server named {id:?} exists already; choose another id")));
        }
        let secret_env = self.secrets.set_for_server(&id, &secrets).await.map_err(secret_error)?;
        let spec = ServerSpec {
            id,
            name,
            source: Source::Manual,
            launch,
            secret_env,
            auto_start: false,
            version: Some(version),
            install_path: None,
            tool_timeout_ms: None,
            sandbox: None,
            account: None,
        };
        Ok(wire::entry(self.servers.add(spec).map_err(error)?))
    }

    fn registries(&self) -> Result<Registries, ErrorObject> {
        Ok(self.store.setting(REGISTRIES).map_err(super::internal)?.unwrap_or_default())
    }

    /// Installs `package` as server `id`, streaming progress, then registers it (stopped).
    async fn install(
        &self,
        call: &Call,
        what: Installable,
        id: String,
        name: String,
        settings: Settings,
    ) -> Result<ServerEntry, ErrorObject> {
        check_server_id(&id).map_err(ErrorObject::invalid)?;
        if self.servers.get(&id).is_ok() {
            return Err(ErrorObject::invalid(format!("a server named {id:?} exists already; choose another id")));
        }
        if !self.busy.lock().unwrap_or_else(|p| p.into_inner()).insert(id.clone()) {
            return Err(ErrorObject::invalid(format!(
                "{id:?} is being installed already; wait for it or choose another id"
            )));
        }
        let _busy = Busy { ids: self.busy.clone(), id: id.clone() };
        let folder = self.folder.join(&id);
        // A folder no server owns and no install holds was left by an install the bridge did not
        // live to finish (killed, or the machine went down): it goes, so the id can be used again.
        if folder.exists() {
            tracing::info!(server = %id, "removing what an interrupted install left");
            let _ = tokio::fs::remove_dir_all(&folder).await;
        }
        let registries = self.registries()?;
        let (progress, mut lines) = mpsc::unbounded_channel::<String>();
        let first = format!("installing {} into {}", what.describe(), folder.display());
        call.events.emit(&InstallEvent::Progress { phase: Phase::Installing, line: first }).await;
        // The install runs in a task of its own: when the caller cancels, this handler is dropped
        // at once, while the task sees the cancellation, stops the installer, waits for it to
        // exit and only then removes the folder.
        let (owned, cancel) = (what.clone(), call.cancel.clone());
        let installing =
            tokio::spawn(async move { install::install(&owned, &folder, &registries, &progress, &cancel).await });
        tokio::pin!(installing);
        let installed = loop {
            tokio::select! {
                biased;
                Some(line) = lines.recv() => {
                    call.events.emit(&InstallEvent::Progress { phase: Phase::Installing, line }).await;
                }
                outcome = &mut installing => break outcome.unwrap_or_else(|e| Err(InstallError::Failed(format!("the installer task failed: {e}")))),
            }
        };
        while let Ok(line) = lines.try_recv() {
            call.events.emit(&InstallEvent::Progress { phase: Phase::Installing, line }).await;
        }
        let installed = installed.map_err(|failure| {
            let mut error = ErrorObject::from(failure);
            error.message = format!("installing {} failed: {}", what.describe(), error.message);
            error
        })?;
        let Settings { sandbox, args, mut env, mut secrets, secret_ids, account, name: named } = settings;
        env.extend(installed.env.clone());
        secrets.extend(installed.secrets.clone());
        let secret_env = match self.secrets.set_for_server(&id, &secrets).await {
            Ok(ids) => ids,
            Err(failure) => {
                let _ = tokio::fs::remove_dir_all(&installed.folder).await;
                return Err(secret_error(failure));
            }
        };
        let name = named.or_else(|| installed.name.clone()).unwrap_or(name);
        let mut launch_args = installed.args.clone();
        launch_args.extend(args);
        let launch = match &installed.image {
            Some(image) => Launch::image(image.clone(), launch_args, env),
            None => Launch::Process { command: installed.command.clone(), args: launch_args, env, cwd: None },
        };
        let spec = ServerSpec {
            id,
            name,
            source: what.source(),
            launch,
            secret_env: secret_env.clone().into_iter().chain(secret_ids).collect(),
            auto_start: false,
            version: Some(installed.version.clone()),
            install_path: Some(installed.folder.to_string_lossy().into_owned()),
            tool_timeout_ms: None,
            sandbox,
            account,
        };
        match self.servers.add(spec) {
            Ok(entry) => Ok(wire::entry(entry)),
            Err(failure) => {
                let _ = tokio::fs::remove_dir_all(&installed.folder).await;
                for id in secret_env.values() {
                    let _ = self.secrets.delete(id).await;
                }
                Err(error(failure))
            }
        }
    }
}
