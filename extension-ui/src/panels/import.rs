//! The import panel: the other MCP clients' configs found on this machine (or a file the user
//! names), each entry's exact command shown for consent, and an import of the checked ones.
//! Secrets an entry holds are named (never shown) and go to the OS keychain on import.

use leptos::prelude::*;
use leptos::task::spawn_local;
use serde_json::{json, Value};

use super::servers::describe;
use crate::bus::Bus;

#[component]
pub fn ImportPanel(bus: Bus) -> impl IntoView {
    let found = RwSignal::new(None::<Result<Vec<Value>, String>>);
    let preview = RwSignal::new(None::<Value>);
    let failure = RwSignal::new(None::<String>);
    let path = RwSignal::new(String::new());
    let detect = move || {
        spawn_local(async move {
            found.set(Some(
                bus.request("import.detect", json!({}))
                    .await
                    .map(|v| v.as_array().cloned().unwrap_or_default())
                    .map_err(|e| e.message),
            ));
        })
    };
    let review = move |file: String| {
        spawn_local(async move {
            match bus.request("import.preview", json!({ "path": file })).await {
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
                            let file = config["path"].as_str().unwrap_or_default().to_owned();
                            let client = config["client"].as_str().unwrap_or_default().to_owned();
                            let count = match (config["servers"].as_u64(), config["error"].as_str()) {
                                (Some(n), _) => format!("{n} servers"),
                                (None, Some(error)) => error.to_owned(),
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
    let target = RwSignal::new("cursor".to_owned());
    let file = RwSignal::new(String::new());
    let planned = RwSignal::new(None::<Result<Value, String>>);
    let written = RwSignal::new(None::<Result<String, String>>);
    let params = move || -> Value {
        let mut params = json!({"target": target.get_untracked(), "ids": []});
        if !file.get_untracked().trim().is_empty() {
            params["path"] = json!(file.get_untracked().trim());
        }
        params
    };
    let preview = move |_| {
        written.set(None);
        spawn_local(async move {
            let servers = match bus.request("servers.list", json!({})).await {
                Ok(list) => list,
                Err(error) => return planned.set(Some(Err(error.message))),
            };
            let ids: Vec<Value> = servers.as_array().into_iter().flatten().map(|s| s["id"].clone()).collect();
            if ids.is_empty() {
                return planned.set(Some(Err("Harbor has no servers to write yet.".into())));
            }
            let mut request = params();
            request["ids"] = json!(ids);
            planned.set(Some(bus.request("export.preview", request).await.map_err(|e| e.message)));
        });
    };
    let write = move |_| {
        let Some(Ok(plan)) = planned.get_untracked() else { return };
        let mut request = params();
        request["path"] = plan["path"].clone();
        request["ids"] =
            json!(plan["servers"].as_array().into_iter().flatten().map(|s| s["id"].clone()).collect::<Vec<_>>());
        spawn_local(async move {
            let done = bus.request("export.apply", request).await;
            written.set(Some(
                done.map(|d| match d["backup"].as_str() {
                    Some(backup) => format!(
                        "Written to {}; the previous file is kept as {backup}.",
                        d["path"].as_str().unwrap_or_default()
                    ),
                    None => format!("Written to {}.", d["path"].as_str().unwrap_or_default()),
                })
                .map_err(|e| e.message),
            ));
        });
    };
    view! {
        <div class="export">
            <h3>"Write Harbor's servers into another app"</h3>
            <label for="export-target">"App"</label>
            <select id="export-target" on:change=move |ev| target.set(event_target_value(&ev))>
                <option value="cursor">"Cursor"</option>
                <option value="claude-desktop">"Claude Desktop"</option>
            </select>
            <label for="export-file">"Config file (empty: the app's usual one)"</label>
            <input id="export-file" type="text" prop:value=move || file.get() on:input=move |ev| file.set(event_target_value(&ev))/>
            <button type="button" class="export-preview" on:click=preview>"Preview"</button>
            {move || planned.get().map(|plan| match plan {
                Err(error) => view! { <p class="error" role="alert">{error}</p> }.into_any(),
                Ok(plan) => view! {
                    <p class="help">{format!("Into {}:", plan["path"].as_str().unwrap_or_default())}</p>
                    <ul class="export-plan">
                        {plan["servers"].as_array().cloned().unwrap_or_default().into_iter().map(|s| {
                            let id = s["id"].as_str().unwrap_or_default().to_owned();
                            let note = match s["refused"].as_str() {
                                Some(why) => format!("not written: {why}"),
                                None => {
                                    let left: Vec<&str> = s["leftOut"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
                                    let mut parts = Vec::new();
                                    if s["replaces"] == true { parts.push("replaces the entry there".to_owned()); }
                                    if !left.is_empty() { parts.push(format!("secrets left out: {}", left.join(", "))); }
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
fn Review(bus: Bus, preview: Value, on_done: impl Fn() + Copy + Send + Sync + 'static) -> impl IntoView {
    let file = preview["path"].as_str().unwrap_or_default().to_owned();
    let entries = preview["entries"].as_array().cloned().unwrap_or_default();
    let importable = |e: &Value| e["duplicateOf"].is_null();
    let chosen = RwSignal::new(
        entries
            .iter()
            .filter(|e| importable(e) && e["disabled"] != true)
            .filter_map(|e| e["name"].as_str().map(str::to_owned))
            .collect::<Vec<String>>(),
    );
    let outcome = RwSignal::new(None::<Result<String, String>>);
    let import = move || {
        let params = json!({ "path": file.clone(), "names": chosen.get_untracked() });
        spawn_local(async move {
            outcome.set(Some(match bus.request("import.apply", params).await {
                Ok(done) => {
                    let added: Vec<&str> =
                        done["added"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
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
            <h3>{format!("{} — {}", preview["client"].as_str().unwrap_or_default(), preview["path"].as_str().unwrap_or_default())}</h3>
            <ul class="entries">
                {entries.into_iter().enumerate().map(|(i, entry)| {
                    let name = entry["name"].as_str().unwrap_or_default().to_owned();
                    let can = importable(&entry);
                    let id = format!("import-{i}");
                    let command = describe(&entry["launch"]);
                    let mut notes = Vec::new();
                    if let Some(env) = entry["launch"]["env"].as_object().filter(|e| !e.is_empty()) {
                        notes.push(format!("env: {}", env.keys().cloned().collect::<Vec<_>>().join(", ")));
                    }
                    let secrets: Vec<&str> = entry["secrets"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
                    if !secrets.is_empty() {
                        notes.push(format!("secrets ({}) go to the OS keychain", secrets.join(", ")));
                    }
                    if let Some(existing) = entry["duplicateOf"].as_str() {
                        notes.push(format!("already in Harbor as {existing}"));
                    }
                    if let Some(why) = entry["needs"]["envFile"].as_str() {
                        notes.push(format!("imported without its env file: {why}"));
                    }
                    if entry["disabled"] == true {
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
                            <label for=id>{format!("{name} → {}", entry["id"].as_str().unwrap_or_default())}</label>
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
