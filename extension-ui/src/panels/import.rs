//! The import panel: the other MCP clients' configs found on this machine (or a file the user
//! names), each entry's exact command shown for consent, and an import of the checked ones.
//! Secrets an entry holds are named (never shown) and go to the OS keychain on import.

use harbor_protocol::api::import::{
    App, ApplyParams, Entry, ExportApply, ExportParams, ExportPlan, ExportPreview, Found, ImportApply, ImportDetect,
    ImportPreview, Preview, PreviewParams,
};
use harbor_protocol::api::servers::{Launch, ServersList};
use harbor_protocol::api::Empty;
use leptos::prelude::*;
use leptos::task::spawn_local;

use super::servers::describe;
use crate::bus::Bus;

#[component]
pub fn ImportPanel(bus: Bus) -> impl IntoView {
    let found = RwSignal::new(None::<Result<Vec<Found>, String>>);
    let preview = RwSignal::new(None::<Preview>);
    let failure = RwSignal::new(None::<String>);
    let path = RwSignal::new(String::new());
    let detect = move || {
        spawn_local(async move {
            found.set(Some(bus.call::<ImportDetect>(Empty {}).await.map_err(|e| e.message)));
        })
    };
    let review = move |file: String| {
        spawn_local(async move {
            match bus.call::<ImportPreview>(PreviewParams { path: file, dialect: None }).await {
                Ok(value) => {
                    preview.set(Some(value));
                    failure.set(None);
                }
                Err(error) => failure.set(Some(error.message)),
            }
        })
    };
    detect();
    view! {
        <section class="card import" aria-labelledby="import-title">
            <h2 id="import-title">"Import"</h2>
            <p class="help">"Servers you configured in other apps. Nothing runs until you check it and press Import."</p>
            {move || match found.get() {
                None => view! { <p class="help">"Looking for configs…"</p> }.into_any(),
                Some(Err(error)) => view! { <p class="error" role="alert">{error}</p> }.into_any(),
                Some(Ok(list)) if list.is_empty() => view! {
                    <p class="help empty">"No Claude Desktop, Cursor, VS Code, Windsurf, Claude Code or Zed config was found. Name a file below."</p>
                }.into_any(),
                Some(Ok(list)) => view! {
                    <ul class="found-list">
                        {list.into_iter().map(|config| {
                            let file = config.path.clone();
                            let client = config.client.clone();
                            let count = match (config.servers, config.error) {
                                (Some(n), _) => format!("{n} servers"),
                                (None, Some(error)) => error,
                                _ => String::new(),
                            };
                            let open = file.clone();
                            let label = client.clone();
                            view! {
                                <li class="found" data-client=client.clone()>
                                    <strong>{label}</strong>
                                    <code class="launch">{file}</code>
                                    <span class="help">{count}</span>
                                    <button type="button" on:click=move |_| review(open.clone())>"Review"</button>
                                </li>
                            }
                        }).collect_view()}
                    </ul>
                }.into_any(),
            }}
            <form class="import-file" on:submit=move |ev| { ev.prevent_default(); review(path.get_untracked()); }>
                <label for="import-path">"Config file"</label>
                <input id="import-path" type="text" placeholder="/path/to/mcp.json" prop:value=move || path.get() on:input=move |ev| path.set(event_target_value(&ev))/>
                <button type="submit">"Review"</button>
            </form>
            {move || failure.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
            {move || preview.get().map(|p| view! { <Review bus=bus preview=p on_done=detect/> })}
            <Export bus=bus/>
        </section>
    }
}

/// Writing Harbor's servers into Claude Desktop's or Cursor's config: a preview of each entry
/// (what it replaces, which secrets are left out, what the app cannot take), then the write,
/// which keeps the file's other keys and a backup.
#[component]
fn Export(bus: Bus) -> impl IntoView {
    let target = RwSignal::new(App::Cursor);
    let file = RwSignal::new(String::new());
    let planned = RwSignal::new(None::<Result<ExportPlan, String>>);
    let written = RwSignal::new(None::<Result<String, String>>);
    let params = move |ids: Vec<String>| -> ExportParams {
        let path = Some(file.get_untracked().trim().to_owned()).filter(|p| !p.is_empty());
        ExportParams { target: target.get_untracked(), path, ids }
    };
    let preview = move |_| {
        written.set(None);
        spawn_local(async move {
            let servers = match bus.call::<ServersList>(Empty {}).await {
                Ok(list) => list,
                Err(error) => return planned.set(Some(Err(error.message))),
            };
            let ids: Vec<String> = servers.into_iter().map(|s| s.spec.id).collect();
            if ids.is_empty() {
                return planned.set(Some(Err("Harbor has no servers to write yet.".into())));
            }
            planned.set(Some(bus.call::<ExportPreview>(params(ids)).await.map_err(|e| e.message)));
        });
    };
    let write = move |_| {
        let Some(Ok(plan)) = planned.get_untracked() else { return };
        let request = ExportParams {
            path: Some(plan.path.clone()),
            ..params(plan.servers.iter().map(|s| s.id.clone()).collect())
        };
        spawn_local(async move {
            let done = bus.call::<ExportApply>(request).await;
            written.set(Some(
                done.map(|d| match d.backup {
                    Some(backup) => format!("Written to {}; the previous file is kept as {backup}.", d.path),
                    None => format!("Written to {}.", d.path),
                })
                .map_err(|e| e.message),
            ));
        });
    };
    view! {
        <div class="export">
            <h3>"Write Harbor's servers into another app"</h3>
            <label for="export-target">"App"</label>
            <select id="export-target" on:change=move |ev| target.set(if event_target_value(&ev) == "claude-desktop" { App::ClaudeDesktop } else { App::Cursor })>
                <option value="cursor">"Cursor"</option>
                <option value="claude-desktop">"Claude Desktop"</option>
            </select>
            <label for="export-file">"Config file (empty: the app's usual one)"</label>
            <input id="export-file" type="text" prop:value=move || file.get() on:input=move |ev| file.set(event_target_value(&ev))/>
            <button type="button" class="export-preview" on:click=preview>"Preview"</button>
            {move || planned.get().map(|plan| match plan {
                Err(error) => view! { <p class="error" role="alert">{error}</p> }.into_any(),
                Ok(plan) => view! {
                    <p class="help">{format!("Into {}:", plan.path)}</p>
                    <ul class="export-plan">
                        {plan.servers.into_iter().map(|s| {
                            let id = s.id.clone();
                            let note = match &s.refused {
                                Some(why) => format!("not written: {why}"),
                                None => {
                                    let mut parts = Vec::new();
                                    if s.replaces { parts.push("replaces the entry there".to_owned()); }
                                    if !s.left_out.is_empty() { parts.push(format!("secrets left out: {}", s.left_out.join(", "))); }
                                    parts.join("; ")
                                }
                            };
                            let label = id.clone();
                            view! { <li data-export=id><strong>{label}</strong>" "<span class="muted">{note}</span></li> }
                        }).collect_view()}
                    </ul>
                    <button type="button" class="export-write" on:click=write>"Write"</button>
                }.into_any(),
            })}
            {move || written.get().map(|w| match w {
                Ok(text) => view! { <p class="state ok export-done">{text}</p> }.into_any(),
                Err(error) => view! { <p class="error" role="alert">{error}</p> }.into_any(),
            })}
        </div>
    }
}

/// One file's entries, each with its exact command, for the user to check and import.
#[component]
fn Review(bus: Bus, preview: Preview, on_done: impl Fn() + Copy + Send + Sync + 'static) -> impl IntoView {
    let file = preview.path.clone();
    let entries = preview.entries.clone();
    let importable = |e: &Entry| e.duplicate_of.is_none();
    let chosen = RwSignal::new(
        entries.iter().filter(|e| importable(e) && !e.disabled).map(|e| e.name.clone()).collect::<Vec<String>>(),
    );
    let outcome = RwSignal::new(None::<Result<String, String>>);
    let import = move || {
        let params = ApplyParams { path: file.clone(), dialect: None, names: chosen.get_untracked() };
        spawn_local(async move {
            outcome.set(Some(match bus.call::<ImportApply>(params).await {
                Ok(done) => {
                    let added = done.added;
                    Ok(if added.is_empty() {
                        "Nothing new to import.".to_owned()
                    } else {
                        format!("Imported {}.", added.join(", "))
                    })
                }
                Err(error) => Err(error.message),
            }));
            on_done();
        })
    };
    view! {
        <div class="review">
            <h3>{format!("{} — {}", preview.client, preview.path)}</h3>
            <ul class="entries">
                {entries.into_iter().enumerate().map(|(i, entry)| {
                    let name = entry.name.clone();
                    let can = importable(&entry);
                    let id = format!("import-{i}");
                    let command = describe(&entry.launch);
                    let mut notes = Vec::new();
                    let env = match &entry.launch {
                        Launch::Process { env, .. } | Launch::Docker { env, .. } => Some(env),
                        Launch::Remote { .. } => None,
                    };
                    if let Some(env) = env.filter(|e| !e.is_empty()) {
                        notes.push(format!("env: {}", env.keys().cloned().collect::<Vec<_>>().join(", ")));
                    }
                    if !entry.secrets.is_empty() {
                        notes.push(format!("secrets ({}) go to the OS keychain", entry.secrets.join(", ")));
                    }
                    if let Some(existing) = &entry.duplicate_of {
                        notes.push(format!("already in Harbor as {existing}"));
                    }
                    if let Some(why) = &entry.needs.env_file {
                        notes.push(format!("imported without its env file: {why}"));
                    }
                    if entry.disabled {
                        notes.push("disabled in this app".into());
                    }
                    let checked_name = name.clone();
                    let toggled = name.clone();
                    view! {
                        <li class="entry" data-import=name.clone()>
                            <input type="checkbox" id=id.clone() disabled=!can
                                prop:checked=move || chosen.get().contains(&checked_name)
                                on:change=move |ev| {
                                    let on = event_target_checked(&ev);
                                    chosen.update(|list| {
                                        list.retain(|n| *n != toggled);
                                        if on { list.push(toggled.clone()); }
                                    });
                                }/>
                            <label for=id>{format!("{name} → {}", entry.id)}</label>
                            <pre class="command">{command}</pre>
                            {(!notes.is_empty()).then(|| view! { <p class="help">{notes.join(" · ")}</p> })}
                        </li>
                    }
                }).collect_view()}
            </ul>
            <button type="button" class="do-import" on:click=move |_| import()>
                {move || match chosen.get().len() {
                    0 => "Import nothing".to_owned(),
                    1 => "Import 1 server".to_owned(),
                    n => format!("Import {n} servers"),
                }}
            </button>
            {move || outcome.get().map(|o| match o {
                Ok(text) => view! { <p class="state ok" role="status">{text}</p> }.into_any(),
                Err(text) => view! { <p class="error" role="alert">{text}</p> }.into_any(),
            })}
        </div>
    }
}
