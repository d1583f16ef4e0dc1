//! The directory panel: Harbor's curated servers, searchable, each with what it needs; install one
//! (filling in its inputs) or any npm / PyPI package by name, with the installer's output shown
//! as it runs; or add a JavaScript server or a REST API ([`super::add_hosted`]).

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;

use harbor_protocol::api::install::{
    Asset, CatalogEntry, CatalogList, CatalogQuery, Extras, InputKind, InstallBinary, InstallBinaryParams,
    InstallBundle, InstallBundleParams, InstallCatalog, InstallEvent, InstallFromCatalog, InstallGit, InstallGitParams,
    InstallJsServer, InstallJsServerParams, InstallPackage, InstallPackageParams, InstallRestService,
    InstallRestServiceParams, InstallServerJson, PackageRef, ServerJson,
};
use harbor_protocol::api::servers::ServerEntry;
use harbor_protocol::api::Method;
use harbor_protocol::ErrorObject;
use leptos::prelude::*;
use leptos::task::spawn_local;
use serde_json::Value;

use crate::bus::Bus;

/// One of the install methods, with its params.
#[derive(Clone)]
pub(crate) enum Install {
    Catalog(InstallFromCatalog),
    Package(InstallPackageParams),
    Git(InstallGitParams),
    ServerJson(ServerJson),
    Bundle(InstallBundleParams),
    Binary(InstallBinaryParams),
    JsServer(InstallJsServerParams),
    RestService(InstallRestServiceParams),
}

type Reply = Pin<Box<dyn Future<Output = Result<ServerEntry, ErrorObject>>>>;

impl Install {
    /// Starts the install; each line of the installers' output goes to `on_line`.
    fn start(self, bus: Bus, on_line: impl Fn(String) + 'static) -> Reply {
        fn go<M: Method<Result = ServerEntry, Event = InstallEvent> + 'static>(
            bus: Bus,
            params: M::Params,
            on_line: impl Fn(String) + 'static,
        ) -> Reply {
            let on_event = move |event: InstallEvent| match event {
                InstallEvent::Progress { line, .. } => on_line(line),
            };
            Box::pin(bus.call_streaming::<M>(params, on_event).1)
        }
        match self {
            Install::Catalog(p) => go::<InstallCatalog>(bus, p, on_line),
            Install::Package(p) => go::<InstallPackage>(bus, p, on_line),
            Install::Git(p) => go::<InstallGit>(bus, p, on_line),
            Install::ServerJson(p) => go::<InstallServerJson>(bus, p, on_line),
            Install::Bundle(p) => go::<InstallBundle>(bus, p, on_line),
            Install::Binary(p) => go::<InstallBinary>(bus, p, on_line),
            Install::JsServer(p) => go::<InstallJsServer>(bus, p, on_line),
            Install::RestService(p) => go::<InstallRestService>(bus, p, on_line),
        }
    }
}

/// What an install in progress has said, and how it ended.
#[derive(Clone, Default)]
struct Progress {
    what: String,
    lines: Vec<String>,
    outcome: Option<Result<String, String>>,
}

#[component]
pub fn DirectoryPanel(bus: Bus) -> impl IntoView {
    let revision = bus.revision();
    let query = RwSignal::new(String::new());
    let entries = LocalResource::new(move || {
        revision.track();
        let query = query.get();
        async move { bus.call::<CatalogList>(CatalogQuery { query: Some(query) }).await }
    });
    let progress = RwSignal::new(None::<Progress>);
    let package = RwSignal::new(String::new());
    let sha256 = RwSignal::new(String::new());
    let install = move |what_to: Install, what: String| {
        progress.set(Some(Progress { what, ..Progress::default() }));
        spawn_local(async move {
            let reply = what_to.start(bus, move |line| {
                progress.update(|p| {
                    if let Some(p) = p {
                        p.lines.push(line);
                        if p.lines.len() > 200 {
                            p.lines.remove(0);
                        }
                    }
                });
            });
            let outcome = match reply.await {
                Ok(entry) => Ok(format!(
                    "Installed {} {} as {}. Start it in Servers.",
                    entry.spec.name,
                    entry.spec.version.unwrap_or_default(),
                    entry.spec.id
                )),
                Err(error) => Err(error.message),
            };
            progress.update(|p| {
                if let Some(p) = p {
                    p.outcome = Some(outcome);
                }
            });
        });
    };
    view! {
        <section class="card directory" aria-labelledby="directory-title">
            <h2 id="directory-title">"Directory"</h2>
            <label for="directory-search" class="visually-hidden">"Search the directory"</label>
            <input id="directory-search" type="search" placeholder="Search: files, git, web search…"
                prop:value=move || query.get() on:input=move |ev| query.set(event_target_value(&ev))/>
            {move || progress.get().map(|p| {
                let running = p.outcome.is_none();
                view! {
                    <div class="install-progress" role="status" aria-busy=running.to_string()>
                        <p><strong>{p.what.clone()}</strong>{running.then_some(" — installing…")}</p>
                        {running.then(|| view! { <progress aria-label="installing"></progress> })}
                        <pre class="install-log">{p.lines.iter().rev().take(8).rev().cloned().collect::<Vec<_>>().join("\n")}</pre>
                        {p.outcome.clone().map(|o| match o {
                            Ok(text) => view! { <p class="state ok install-done">{text}</p> }.into_any(),
                            Err(text) => view! { <p class="error install-failed" role="alert">{text}</p> }.into_any(),
                        })}
                    </div>
                }
            })}
            {move || match entries.get() {
                None => view! { <p class="help">"Loading the directory…"</p> }.into_any(),
                Some(Err(error)) => view! { <p class="error" role="alert">{error.message}</p> }.into_any(),
                Some(Ok(list)) if list.is_empty() => view! { <p class="help empty">"Nothing matches."</p> }.into_any(),
                Some(Ok(list)) => view! {
                    <ul class="catalog">
                        {list.into_iter().map(|entry| {
                            view! { <CatalogCard entry=entry install=install/> }
                        }).collect_view()}
                    </ul>
                }.into_any(),
            }}
            <form class="install-package" on:submit=move |ev| {
                ev.prevent_default();
                let spec = package.get_untracked().trim().to_owned();
                if !spec.is_empty() {
                    install(what_to_install(&spec, sha256.get_untracked().trim()), spec.clone());
                }
            }>
                <label for="install-spec">"Or paste"</label>
                <input id="install-spec" type="text" placeholder="npm:name@1.2.3, pypi:name==1.2.3, a git URL, a server.json or .mcpb path, a program's URL"
                    prop:value=move || package.get() on:input=move |ev| package.set(event_target_value(&ev))/>
                <label for="install-sha256">"SHA-256 (for a program or bundle downloaded from a URL)"</label>
                <input id="install-sha256" type="text" spellcheck="false"
                    prop:value=move || sha256.get() on:input=move |ev| sha256.set(event_target_value(&ev))/>
                <button type="submit">"Install"</button>
            </form>
            <super::add_hosted::AddHosted install=install/>
        </section>
    }
}

#[component]
fn CatalogCard(entry: CatalogEntry, install: impl Fn(Install, String) + Copy + Send + Sync + 'static) -> impl IntoView {
    let id = entry.id.clone();
    let name = entry.name.clone();
    let origin = match &entry.source {
        PackageRef::Npm { package, version } => format!("npm {package} {}", version.as_deref().unwrap_or_default()),
        PackageRef::Pypi { package, version } => format!("pypi {package} {}", version.as_deref().unwrap_or_default()),
    };
    let inputs = entry.inputs.clone();
    let values = RwSignal::new(BTreeMap::<String, String>::new());
    let installed = entry.installed.clone();
    let needs_secret = inputs.iter().any(|i| i.kind == InputKind::Secret);
    let open = RwSignal::new(false);
    let entry_id = id.clone();
    let field_prefix = id.clone();
    let label = name.clone();
    view! {
        <li class="catalog-entry" data-entry=id.clone()>
            <div class="catalog-head">
                <strong>{name}</strong>
                {installed.clone().map(|server| view! { <span class="badge running">{format!("installed as {server}")}</span> })}
            </div>
            <p class="help">{entry.description.clone()}</p>
            <code class="launch">{origin}</code>
            {needs_secret.then(|| view! { <p class="help">"Needs an API key or token: it goes to your OS keychain, never to a file."</p> })}
            <div class="actions">
                <button type="button" class="install" on:click=move |_| {
                    if open.get_untracked() || inputs.is_empty() {
                        let inputs = values.get_untracked().into_iter().map(|(k, v)| (k, Value::String(v))).collect();
                        install(Install::Catalog(InstallFromCatalog { entry: entry_id.clone(), id: None, inputs }), label.clone());
                    } else {
                        open.set(true);
                    }
                }>
                    {move || if open.get() { "Install with these" } else { "Install" }}
                </button>
            </div>
            {move || open.get().then(|| {
                entry.inputs.clone().into_iter().enumerate().map(|(n, input)| {
                    let key = input.id.clone();
                    let field = format!("input-{field_prefix}-{n}");
                    let hint = match input.kind {
                        InputKind::Paths => "one absolute path per line",
                        InputKind::Path => "an absolute path",
                        _ => "",
                    };
                    let multi = input.kind == InputKind::Paths;
                    let secret = input.kind == InputKind::Secret;
                    let set_key = key.clone();
                    let update = move |value: String| values.update(|v| { v.insert(set_key.clone(), value); });
                    view! {
                        <div class="catalog-input">
                            <label for=field.clone()>{input.label.clone()}</label>
                            {if multi {
                                view! { <textarea id=field rows="2" placeholder=hint on:input=move |ev| update(event_target_value(&ev))></textarea> }.into_any()
                            } else if secret {
                                view! { <input id=field type="password" autocomplete="off" on:input=move |ev| update(event_target_value(&ev))/> }.into_any()
                            } else {
                                view! { <input id=field type="text" placeholder=hint on:input=move |ev| update(event_target_value(&ev))/> }.into_any()
                            }}
                        </div>
                    }
                }).collect_view()
            })}
        </li>
    }
}

/// The install method for what the user pasted: a package spec, a git repository, the path of an
/// MCP Registry `server.json`, an `.mcpb` bundle (path, or URL with its SHA-256), or a program's
/// URL (with its SHA-256).
fn what_to_install(spec: &str, sha256: &str) -> Install {
    let release = spec.contains("/releases/download/") || spec.ends_with(".mcpb");
    let hosted = spec.starts_with("https://github.com/") || spec.starts_with("https://gitlab.com/");
    let git =
        spec.starts_with("git://") || spec.starts_with("git@") || (!release && (spec.ends_with(".git") || hosted));
    let web = spec.starts_with("https://") || spec.starts_with("http://");
    let package =
        || Install::Package(InstallPackageParams { spec: spec.to_owned(), id: None, extras: Extras::default() });
    if spec.starts_with("npm:") || spec.starts_with("pypi:") {
        package()
    } else if git {
        Install::Git(InstallGitParams {
            url: spec.to_owned(),
            branch: None,
            subfolder: None,
            id: None,
            extras: Extras::default(),
        })
    } else if spec.ends_with(".json") {
        Install::ServerJson(ServerJson { path: Some(spec.to_owned()), ..ServerJson::default() })
    } else if spec.ends_with(".mcpb") && web {
        Install::Bundle(InstallBundleParams {
            url: Some(spec.to_owned()),
            sha256: Some(sha256.to_owned()),
            ..InstallBundleParams::default()
        })
    } else if spec.ends_with(".mcpb") {
        Install::Bundle(InstallBundleParams { path: Some(spec.to_owned()), ..InstallBundleParams::default() })
    } else if web {
        let file = spec.rsplit('/').next().unwrap_or("program").split(['.', '?', '#']).next().unwrap_or("program");
        let id: String =
            file.to_lowercase().chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).take(32).collect();
        let asset = Asset { url: spec.to_owned(), sha256: sha256.to_owned(), os: None, arch: None };
        Install::Binary(InstallBinaryParams {
            id,
            name: None,
            version: None,
            assets: vec![asset],
            extras: Extras::default(),
        })
    } else {
        package()
    }
}
