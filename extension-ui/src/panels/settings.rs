//! The settings panel: model providers (which answer, the default, add or remove one), the chat's
//! limits, the defaults every site starts with, and the `doctor` checks with their fixes.

use leptos::prelude::*;
use leptos::task::spawn_local;
use serde_json::{json, Value};

use crate::bus::Bus;

#[component]
pub fn SettingsPanel(bus: Bus) -> impl IntoView {
    view! {
        <section class="card settings" aria-labelledby="settings-title">
            <h2 id="settings-title">"Settings"</h2>
            <Providers bus=bus/>
            <NumberForm bus=bus title="Chat" get="chat.settings.get" set="chat.settings.set" fields=CHAT_FIELDS/>
            <NumberForm bus=bus title="Site defaults" get="permissions.defaults.get" set="permissions.defaults.set" fields=SITE_FIELDS/>
            <Doctor bus=bus/>
        </section>
    }
}

const CHAT_FIELDS: &[(&str, &str)] = &[
    ("maxToolCalls", "Tool calls per answer"),
    ("maxTools", "Tools offered at once"),
    ("toolResultChars", "Longest tool result (characters)"),
    ("contextTokens", "Context window (tokens)"),
];

const SITE_FIELDS: &[(&str, &str)] = &[
    ("onceTtlSeconds", "“Allow once” lasts (seconds)"),
    ("promptTimeoutSeconds", "A permission prompt waits for you (seconds)"),
    ("limits.maxToolCallsPerRun", "Tool calls per agent run"),
    ("limits.maxConcurrentCalls", "Calls at once per site"),
    ("limits.toolTimeoutMs", "Tool timeout (ms)"),
];

#[component]
fn Providers(bus: Bus) -> impl IntoView {
    let revision = RwSignal::new(0u32);
    let state = LocalResource::new(move || {
        revision.track();
        async move { bus.request("llm.providers", json!({})).await }
    });
    let failure = RwSignal::new(None::<String>);
    let (id, kind, url) =
        (RwSignal::new(String::new()), RwSignal::new("ollama".to_owned()), RwSignal::new(String::new()));
    let api_key = RwSignal::new(String::new());
    let act = move |method: &'static str, params: Value| {
        spawn_local(async move {
            failure.set(bus.request(method, params).await.err().map(|e| e.message));
            revision.update(|r| *r += 1);
        })
    };
    view! {
        <h3>"Model providers"</h3>
        {move || match state.get() {
            None => view! { <p class="help">"Checking the model servers…"</p> }.into_any(),
            Some(Err(error)) => view! { <p class="error" role="alert">{error.message}</p> }.into_any(),
            Some(Ok(value)) => view! {
                <ul class="provider-list">
                    {value["providers"].as_array().cloned().unwrap_or_default().into_iter().map(|p| {
                        let pid = p["id"].as_str().unwrap_or_default().to_owned();
                        let (select_id, remove_id) = (pid.clone(), pid.clone());
                        let detected = p["detected"] == true;
                        let state = if p["available"] == true { ("ok", format!("{} models", p["models"].as_array().map_or(0, Vec::len))) } else { ("bad", p["error"].as_str().unwrap_or("not answering").to_owned()) };
                        view! {
                            <li class="provider" data-provider=pid.clone()>
                                <p class=format!("state {}", state.0)><span class="dot" aria-hidden="true"></span>
                                    {format!("{} — {}", p["name"].as_str().unwrap_or_default(), p["baseUrl"].as_str().unwrap_or_default())}
                                    {p["apiKeySecret"].is_string().then(|| view! { <span class="badge">"API key"</span> })}
                                    {(p["isDefault"] == true).then(|| view! { <span class="badge">"default"</span> })}
                                </p>
                                <p class="help">{state.1}</p>
                                <div class="actions">
                                    {(!detected && p["isDefault"] != true).then(|| view! {
                                        <button type="button" on:click=move |_| act("llm.select", json!({ "provider": select_id }))>"Make default"</button>
                                    })}
                                    {(!detected).then(|| view! {
                                        <button type="button" on:click=move |_| act("llm.removeProvider", json!({ "id": remove_id }))>"Remove"</button>
                                    })}
                                </div>
                            </li>
                        }
                    }).collect_view()}
                </ul>
            }.into_any(),
        }}
        <form class="add-provider" on:submit=move |ev| {
            ev.prevent_default();
            let mut params = json!({ "id": id.get_untracked(), "kind": kind.get_untracked(), "baseUrl": url.get_untracked() });
            let key = api_key.get_untracked();
            if !key.is_empty() {
                params["apiKey"] = json!(key);
                api_key.set(String::new());
            }
            act("llm.setProvider", params);
        }>
            <label for="provider-id">"Name (id)"</label>
            <input id="provider-id" type="text" placeholder="lmstudio" prop:value=move || id.get() on:input=move |ev| id.set(event_target_value(&ev))/>
            <label for="provider-kind">"Kind"</label>
            <select id="provider-kind" on:change=move |ev| kind.set(event_target_value(&ev))>
                <option value="ollama">"Ollama"</option>
                <option value="openai">"OpenAI-compatible"</option>
            </select>
            <label for="provider-url">"URL"</label>
            <input id="provider-url" type="text" placeholder="http://127.0.0.1:1234" prop:value=move || url.get() on:input=move |ev| url.set(event_target_value(&ev))/>
            <label for="provider-key">"API key (optional; kept in the OS keychain)"</label>
            <input id="provider-key" type="password" autocomplete="off" prop:value=move || api_key.get() on:input=move |ev| api_key.set(event_target_value(&ev))/>
            <button type="submit">"Add provider"</button>
        </form>
        {move || failure.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
    }
}

/// A form of whole numbers read with `get` and saved with `set`. Field keys may be nested one
/// level (`limits.maxConcurrentCalls`).
#[component]
fn NumberForm(
    bus: Bus,
    title: &'static str,
    get: &'static str,
    set: &'static str,
    fields: &'static [(&'static str, &'static str)],
) -> impl IntoView {
    let current = RwSignal::new(None::<Value>);
    let outcome = RwSignal::new(None::<Result<(), String>>);
    spawn_local(async move {
        if let Ok(value) = bus.request(get, json!({})).await {
            current.set(Some(value));
        }
    });
    let save = move || {
        let Some(mut value) = current.get_untracked() else { return };
        // Only the numbers this form shows are sent back as numbers; the rest as they were.
        for (key, _) in fields {
            let slot = match key.split_once('.') {
                Some((outer, inner)) => &mut value[outer][inner],
                None => &mut value[*key],
            };
            if let Some(n) = slot.as_str().and_then(|s| s.trim().parse::<u64>().ok()) {
                *slot = json!(n);
            }
        }
        spawn_local(async move {
            outcome.set(Some(bus.request(set, value).await.map(|_| ()).map_err(|e| e.message)));
        });
    };
    let form_id = title.to_lowercase().replace(' ', "-");
    let prefix = form_id.clone();
    view! {
        <h3>{title}</h3>
        <form class="number-form" data-form=form_id.clone() on:submit=move |ev| { ev.prevent_default(); save(); }>
            {move || current.get().map(|value| fields.iter().map(|(key, label)| {
                let shown = match key.split_once('.') {
                    Some((outer, inner)) => value[outer][inner].to_string(),
                    None => value[*key].to_string(),
                };
                let input_id = format!("{prefix}-{}", key.replace('.', "-"));
                view! {
                    <label for=input_id.clone()>{*label}</label>
                    <input type="number" min="0" id=input_id data-key=*key value=shown on:input=move |ev| {
                        let text = event_target_value(&ev);
                        current.update(|v| if let Some(v) = v {
                            match key.split_once('.') {
                                Some((outer, inner)) => v[outer][inner] = json!(text),
                                None => v[*key] = json!(text),
                            }
                        });
                    }/>
                }
            }).collect_view())}
            <button type="submit">"Save"</button>
        </form>
        {move || outcome.get().map(|o| match o {
            Ok(()) => view! { <p class="state ok saved" role="status">"Saved."</p> }.into_any(),
            Err(e) => view! { <p class="error" role="alert">{e}</p> }.into_any(),
        })}
    }
}

#[component]
fn Doctor(bus: Bus) -> impl IntoView {
    // The checks run programs and probe ports, so they run when asked, not on every sidebar open.
    let checks = RwSignal::new(None::<Result<Value, harbor_protocol::ErrorObject>>);
    let running = RwSignal::new(false);
    let run = move || {
        running.set(true);
        spawn_local(async move {
            checks.set(Some(bus.request("system.doctor", json!({})).await));
            running.set(false);
        })
    };
    view! {
        <h3>"This machine"</h3>
        <button type="button" class="run-doctor" disabled=move || running.get() on:click=move |_| run()>
            {move || if running.get() { "Checking…" } else { "Check node, Python, Docker and Ollama" }}
        </button>
        {move || match checks.get() {
            None => view! { <span></span> }.into_any(),
            Some(Err(error)) => view! { <p class="error" role="alert">{error.message}</p> }.into_any(),
            Some(Ok(list)) => view! {
                <ul class="doctor">
                    {list.as_array().cloned().unwrap_or_default().into_iter().map(|check| {
                        let status = check["status"].as_str().unwrap_or("warn").to_owned();
                        let class = match status.as_str() { "ok" => "state ok", "fail" => "state bad", _ => "state warn" };
                        view! {
                            <li class="check" data-check=check["name"].as_str().unwrap_or_default().to_owned()>
                                <p class=class><span class="dot" aria-hidden="true"></span>
                                    {format!("{}: {}", check["name"].as_str().unwrap_or_default(), check["detail"].as_str().unwrap_or_default())}
                                </p>
                                {check["fix"].as_str().map(|fix| view! { <p class="help">{format!("Fix: {fix}")}</p> })}
                            </li>
                        }
                    }).collect_view()}
                </ul>
            }.into_any(),
        }}
    }
}
