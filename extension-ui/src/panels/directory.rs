//! The directory panel: Harbor's curated servers, searchable, each with what it needs; install one
//! (filling in its inputs) or any npm / PyPI package by name, with the installer's output shown
//! as it runs.

use std::collections::BTreeMap;

use leptos::prelude::*;
use leptos::task::spawn_local;
use serde_json::{json, Value};

use crate::bus::Bus;

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
        async move { bus.request("catalog.list", json!({ "query": query })).await }
    });
    let progress = RwSignal::new(None::<Progress>);
    let package = RwSignal::new(String::new());
    let sha256 = RwSignal::new(String::new());
    let install = move |method: &'static str, params: Value, what: String| {
        progress.set(Some(Progress { what, ..Progress::default() }));
        spawn_local(async move {
            let (_, reply) = bus.stream(method, params, move |event| {
                if let Some(line) = event["line"].as_str() {
                    progress.update(|p| {
                        if let Some(p) = p {
                            p.lines.push(line.to_owned());
                            if p.lines.len() > 200 {
                                p.lines.remove(0);
                            }
                        }
                    });
                }
            });
            let outcome = match reply.await {
                Ok(entry) => Ok(format!(
                    "Installed {} {} as {}. Start it in Servers.",
                    entry["name"].as_str().unwrap_or_default(),
                    entry["version"].as_str().unwrap_or_default(),
                    entry["id"].as_str().unwrap_or_default()
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
                Some(Ok(list)) if list.as_array().is_none_or(|l| l.is_empty()) => view! { <p class="help empty">"Nothing matches."</p> }.into_any(),
                Some(Ok(list)) => view! {
                    <ul class="catalog">
                        {list.as_array().cloned().unwrap_or_default().into_iter().map(|entry| {
                            view! { <CatalogCard entry=entry install=install/> }
                        }).collect_view()}
                    </ul>
                }.into_any(),
            }}
            <form class="install-package" on:submit=move |ev| {
                ev.prevent_default();
                let spec = package.get_untracked().trim().to_owned();
                if !spec.is_empty() {
                    let (method, params) = what_to_install(&spec, sha256.get_untracked().trim());
                    install(method, params, spec.clone());
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
        </section>
    }
}

#[component]
fn CatalogCard(
    entry: Value,
    install: impl Fn(&'static str, Value, String) + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let id = entry["id"].as_str().unwrap_or_default().to_owned();
    let name = entry["name"].as_str().unwrap_or_default().to_owned();
    let source = &entry["source"];
    let origin = format!(
        "{} {} {}",
        source["kind"].as_str().unwrap_or_default(),
        source["package"].as_str().unwrap_or_default(),
        source["version"].as_str().unwrap_or_default()
    );
    let inputs: Vec<Value> = entry["inputs"].as_array().cloned().unwrap_or_default();
    let values = RwSignal::new(BTreeMap::<String, String>::new());
    let installed = entry["installed"].as_str().map(str::to_owned);
    let needs_secret = inputs.iter().any(|i| i["kind"] == "secret");
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
            <p class="help">{entry["description"].as_str().unwrap_or_default().to_owned()}</p>
            <code class="launch">{origin}</code>
            {needs_secret.then(|| view! { <p class="help">"Needs an API key or token: it goes to your OS keychain, never to a file."</p> })}
            <div class="actions">
                <button type="button" class="install" on:click=move |_| {
                    if open.get_untracked() || inputs.is_empty() {
                        let filled: serde_json::Map<String, Value> =
                            values.get_untracked().into_iter().map(|(k, v)| (k, Value::String(v))).collect();
                        install("install.catalog", json!({ "entry": entry_id, "inputs": filled }), label.clone());
                    } else {
                        open.set(true);
                    }
                }>
                    {move || if open.get() { "Install with these" } else { "Install" }}
                </button>
            </div>
            {move || open.get().then(|| {
                entry["inputs"].as_array().cloned().unwrap_or_default().into_iter().enumerate().map(|(n, input)| {
                    let key = input["id"].as_str().unwrap_or_default().to_owned();
                    let field = format!("input-{field_prefix}-{n}");
                    let hint = match input["kind"].as_str() {
                        Some("paths") => "one absolute path per line",
                        Some("path") => "an absolute path",
                        _ => "",
                    };
                    let multi = input["kind"] == "paths";
                    let secret = input["kind"] == "secret";
                    let set_key = key.clone();
                    let update = move |value: String| values.update(|v| { v.insert(set_key.clone(), value); });
                    view! {
                        <div class="catalog-input">
                            <label for=field.clone()>{input["label"].as_str().unwrap_or_default().to_owned()}</label>
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
fn what_to_install(spec: &str, sha256: &str) -> (&'static str, Value) {
    let release = spec.contains("/releases/download/") || spec.ends_with(".mcpb");
    let hosted = spec.starts_with("https://github.com/") || spec.starts_with("https://gitlab.com/");
    let git =
        spec.starts_with("git://") || spec.starts_with("git@") || (!release && (spec.ends_with(".git") || hosted));
    let web = spec.starts_with("https://") || spec.starts_with("http://");
    if spec.starts_with("npm:") || spec.starts_with("pypi:") {
        ("install.package", json!({ "spec": spec }))
    } else if git {
        ("install.git", json!({ "url": spec }))
    } else if spec.ends_with(".json") {
        ("install.serverJson", json!({ "path": spec }))
    } else if spec.ends_with(".mcpb") && web {
        ("install.bundle", json!({ "url": spec, "sha256": sha256 }))
    } else if spec.ends_with(".mcpb") {
        ("install.bundle", json!({ "path": spec }))
    } else if web {
        let file = spec.rsplit('/').next().unwrap_or("program").split(['.', '?', '#']).next().unwrap_or("program");
        let id: String =
            file.to_lowercase().chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).take(32).collect();
        ("install.binary", json!({ "id": id, "assets": [{ "url": spec, "sha256": sha256 }] }))
    } else {
        ("install.package", json!({ "spec": spec }))
    }
}
