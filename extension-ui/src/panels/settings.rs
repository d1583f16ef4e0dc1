//! The settings panel: model providers (which answer, the default, add or remove one), the chat's
//! limits, the defaults every site starts with, the two switches that let sites act in the
//! browser (both off until the user turns them on), and the `doctor` checks with their fixes.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;

use harbor_protocol::api::browser::{BrowserSettings, BrowserSettingsGet, BrowserSettingsSet};
use harbor_protocol::api::chat::{ChatSettings, ChatSettingsChange, ChatSettingsGet, ChatSettingsSet};
use harbor_protocol::api::llm::{
    CatalogModel, LlmBuiltinCatalog, LlmProviders, LlmRemoveProvider, LlmSelect, LlmSetProvider, ProviderKind, Select,
    SetProvider,
};
use harbor_protocol::api::permissions::{Defaults, PermissionsDefaultsGet, PermissionsDefaultsSet};
use harbor_protocol::api::system::{Check, CheckStatus, SystemDoctor};
use harbor_protocol::api::{Empty, Id};
use harbor_protocol::ErrorObject;
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::bus::Bus;

type Pending<T> = Pin<Box<dyn Future<Output = Result<T, ErrorObject>>>>;

/// Settings a [`number_form`] edits: which whole numbers it shows, and how to change one.
trait Numbers: Clone + Send + Sync + 'static {
    /// `(key, label, value)` of each number, in order.
    fn numbers(&self) -> Vec<(&'static str, &'static str, u64)>;
    fn set_number(&mut self, key: &str, value: u64);
}

impl Numbers for ChatSettings {
    fn numbers(&self) -> Vec<(&'static str, &'static str, u64)> {
        vec![
            ("maxToolCalls", "Tool calls per answer", u64::from(self.max_tool_calls)),
            ("maxTools", "Tools offered at once", self.max_tools as u64),
            ("toolResultChars", "Longest tool result (characters)", self.tool_result_chars as u64),
            ("contextTokens", "Context window (tokens)", u64::from(self.context_tokens)),
        ]
    }

    fn set_number(&mut self, key: &str, value: u64) {
        let small = |v: u64| u32::try_from(v).unwrap_or(u32::MAX);
        match key {
            "maxToolCalls" => self.max_tool_calls = small(value),
            "maxTools" => self.max_tools = value as usize,
            "toolResultChars" => self.tool_result_chars = value as usize,
            "contextTokens" => self.context_tokens = small(value),
            _ => {}
        }
    }
}

impl Numbers for Defaults {
    fn numbers(&self) -> Vec<(&'static str, &'static str, u64)> {
        vec![
            ("onceTtlSeconds", "“Allow once” lasts (seconds)", self.once_ttl_seconds),
            ("promptTimeoutSeconds", "A permission prompt waits for you (seconds)", self.prompt_timeout_seconds),
            ("limits.maxToolCallsPerRun", "Tool calls per agent run", u64::from(self.limits.max_tool_calls_per_run)),
            ("limits.maxConcurrentCalls", "Calls at once per site", u64::from(self.limits.max_concurrent_calls)),
            ("limits.toolTimeoutMs", "Tool timeout (ms)", self.limits.tool_timeout_ms),
        ]
    }

    fn set_number(&mut self, key: &str, value: u64) {
        let small = |v: u64| u32::try_from(v).unwrap_or(u32::MAX);
        match key {
            "onceTtlSeconds" => self.once_ttl_seconds = value,
            "promptTimeoutSeconds" => self.prompt_timeout_seconds = value,
            "limits.maxToolCallsPerRun" => self.limits.max_tool_calls_per_run = small(value),
            "limits.maxConcurrentCalls" => self.limits.max_concurrent_calls = small(value),
            "limits.toolTimeoutMs" => self.limits.tool_timeout_ms = value,
            _ => {}
        }
    }
}

#[component]
pub fn SettingsPanel(bus: Bus) -> impl IntoView {
    view! {
        <section class="card settings" aria-labelledby="settings-title">
            <h2 id="settings-title">"Settings"</h2>
            <Providers bus=bus/>
            <BuiltinModel bus=bus/>
            {number_form(bus, "Chat",
                |bus| Box::pin(async move { bus.call::<ChatSettingsGet>(Empty {}).await }),
                |bus, s: ChatSettings| Box::pin(async move {
                    let change = ChatSettingsChange {
                        max_tool_calls: Some(s.max_tool_calls),
                        max_tools: Some(s.max_tools),
                        tool_result_chars: Some(s.tool_result_chars),
                        context_tokens: Some(s.context_tokens),
                        ..ChatSettingsChange::default()
                    };
                    bus.call::<ChatSettingsSet>(change).await
                }))}
            {number_form(bus, "Site defaults",
                |bus| Box::pin(async move { bus.call::<PermissionsDefaultsGet>(Empty {}).await }),
                |bus, d: Defaults| Box::pin(async move { bus.call::<PermissionsDefaultsSet>(d).await }))}
            <ChatCodeMode bus=bus/>
            <BrowserSwitches bus=bus/>
            <Doctor bus=bus/>
        </section>
    }
}

/// The chat's code mode: search, describe and run-code tools instead of every tool.
#[component]
fn ChatCodeMode(bus: Bus) -> impl IntoView {
    let on = RwSignal::new(None::<bool>);
    let failure = RwSignal::new(None::<String>);
    spawn_local(async move {
        match bus.call::<ChatSettingsGet>(Empty {}).await {
            Ok(settings) => on.set(Some(settings.code_mode)),
            Err(error) => failure.set(Some(error.message)),
        }
    });
    let toggle = move |ev| {
        let wanted = event_target_checked(&ev);
        spawn_local(async move {
            let change = ChatSettingsChange { code_mode: Some(wanted), ..ChatSettingsChange::default() };
            match bus.call::<ChatSettingsSet>(change).await {
                Ok(settings) => on.set(Some(settings.code_mode)),
                Err(error) => failure.set(Some(error.message)),
            }
        })
    };
    view! {
        <div class="tool-choice code-mode">
            <input type="checkbox" id="chat-code-mode" prop:checked=move || on.get().unwrap_or(false)
                prop:disabled=move || on.get().is_none() on:change=toggle/>
            <label for="chat-code-mode">"Chat in code mode: the model searches your tools and calls them from code it writes"</label>
        </div>
        {move || failure.get().map(|message| view! { <p class="error" role="alert">{message}</p> })}
    }
}

#[component]
fn Providers(bus: Bus) -> impl IntoView {
    let revision = RwSignal::new(0u32);
    let state = LocalResource::new(move || {
        revision.track();
        async move { bus.call::<LlmProviders>(Empty {}).await }
    });
    let failure = RwSignal::new(None::<String>);
    let (id, kind, url) =
        (RwSignal::new(String::new()), RwSignal::new(ProviderKind::Ollama), RwSignal::new(String::new()));
    let api_key = RwSignal::new(String::new());
    let act = move |change: Change| {
        spawn_local(async move {
            let outcome = match change {
                Change::Select(provider) => bus.call::<LlmSelect>(Select { provider, model: None }).await,
                Change::Remove(id) => bus.call::<LlmRemoveProvider>(Id::new(id)).await,
                Change::Add(provider) => bus.call::<LlmSetProvider>(provider).await,
            };
            failure.set(outcome.err().map(|e| e.message));
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
                    {value.providers.into_iter().map(|p| {
                        let pid = p.config.id.clone();
                        let (select_id, remove_id) = (pid.clone(), pid.clone());
                        let detected = p.detected;
                        let state = if p.available { ("ok", format!("{} models", p.models.len())) } else { ("bad", p.error.clone().unwrap_or_else(|| "not answering".into())) };
                        view! {
                            <li class="provider" data-provider=pid.clone()>
                                <p class=format!("state {}", state.0)><span class="dot" aria-hidden="true"></span>
                                    {format!("{} — {}", p.config.name, p.config.base_url)}
                                    {p.config.api_key_secret.is_some().then(|| view! { <span class="badge">"API key"</span> })}
                                    {p.is_default.then(|| view! { <span class="badge">"default"</span> })}
                                </p>
                                <p class="help">{state.1}</p>
                                <div class="actions">
                                    {(!detected && !p.is_default).then(|| view! {
                                        <button type="button" on:click=move |_| act(Change::Select(select_id.clone()))>"Make default"</button>
                                    })}
                                    {(!detected && pid != "builtin").then(|| view! {
                                        <button type="button" on:click=move |_| act(Change::Remove(remove_id.clone()))>"Remove"</button>
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
            let key = Some(api_key.get_untracked()).filter(|k| !k.is_empty());
            api_key.set(String::new());
            act(Change::Add(SetProvider {
                id: id.get_untracked(),
                kind: kind.get_untracked(),
                name: None,
                base_url: url.get_untracked(),
                api_key: key,
            }));
        }>
            <label for="provider-id">"Name (id)"</label>
            <input id="provider-id" type="text" placeholder="lmstudio" prop:value=move || id.get() on:input=move |ev| id.set(event_target_value(&ev))/>
            <label for="provider-kind">"Kind"</label>
            <select id="provider-kind" on:change=move |ev| kind.set(match event_target_value(&ev).as_str() {
                "openai" => ProviderKind::OpenAi,
                "builtin" => ProviderKind::Builtin,
                _ => ProviderKind::Ollama,
            })>
                <option value="ollama">"Ollama"</option>
                <option value="openai">"OpenAI-compatible"</option>
                <option value="builtin">"Built-in (a GGUF file or folder)"</option>
            </select>
            <label for="provider-url">{move || if kind.get() == ProviderKind::Builtin { "Path of a .gguf file or a folder" } else { "URL" }}</label>
            <input id="provider-url" type="text" placeholder="http://127.0.0.1:1234" prop:value=move || url.get() on:input=move |ev| url.set(event_target_value(&ev))/>
            <label for="provider-key">"API key (optional; kept in the OS keychain)"</label>
            <input id="provider-key" type="password" autocomplete="off" prop:value=move || api_key.get() on:input=move |ev| api_key.set(event_target_value(&ev))/>
            <button type="submit">"Add provider"</button>
        </form>
        {move || failure.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
    }
}

/// Harbor's built-in model: the models it can download (with their size, licence and where they
/// come from), each downloaded with its progress shown, and the folder any GGUF file can go in.
#[component]
fn BuiltinModel(bus: Bus) -> impl IntoView {
    let revision = RwSignal::new(0u32);
    let catalog = LocalResource::new(move || {
        revision.track();
        async move { bus.call::<LlmBuiltinCatalog>(Empty {}).await }
    });
    let download = crate::panels::model_download::ModelDownload::new();
    let row = move |model: CatalogModel| {
        let id = model.id.clone();
        let about = format!(
            "{} MB · {} parameters · {} · {}",
            model.bytes / 1_000_000,
            model.parameters,
            model.licence,
            model.source
        );
        view! {
            <li class="catalog-model" data-model=model.id.clone()>
                <p><strong>{model.name.clone()}</strong>{model.installed.then(|| view! { <span class="badge">"installed"</span> })}</p>
                <p class="help">{about}</p>
                {(!model.installed).then(|| view! {
                    <button type="button" disabled=move || download.running()
                        aria-label=format!("Download {}", model.name)
                        on:click=move |_| download.start(bus, id.clone(), move |_| revision.update(|r| *r += 1))>"Download"</button>
                })}
            </li>
        }
    };
    view! {
        <h3>"Built-in model"</h3>
        {move || match catalog.get() {
            None => view! { <p class="help">"Reading the built-in model's catalog…"</p> }.into_any(),
            Some(Err(error)) => view! { <p class="error" role="alert">{error.message}</p> }.into_any(),
            Some(Ok(value)) if !value.engine => view! {
                <p class="help">"This Harbor was built without its built-in model."</p>
            }.into_any(),
            Some(Ok(value)) => view! {
                <p class="help">{format!(
                    "Runs on this computer with no model server. It is the default when no model server answers. Any .gguf model file put in {} is offered too.",
                    value.folder
                )}</p>
                <ul class="catalog">{value.models.into_iter().map(row).collect_view()}</ul>
            }.into_any(),
        }}
        {download.view()}
    }
}

/// What a provider's buttons and the add form change.
#[derive(Clone)]
enum Change {
    Select(String),
    Remove(String),
    Add(SetProvider),
}

/// A form of whole numbers read with `load` and saved with `save`.
fn number_form<T: Numbers>(
    bus: Bus,
    title: &'static str,
    load: fn(Bus) -> Pending<T>,
    save: fn(Bus, T) -> Pending<T>,
) -> impl IntoView {
    let current = RwSignal::new(None::<T>);
    // What the user typed, by key, until saved.
    let typed = RwSignal::new(BTreeMap::<&'static str, String>::new());
    let outcome = RwSignal::new(None::<Result<(), String>>);
    spawn_local(async move {
        if let Ok(value) = load(bus).await {
            current.set(Some(value));
        }
    });
    let submit = move || {
        let Some(mut value) = current.get_untracked() else { return };
        for (key, text) in typed.get_untracked() {
            match text.trim().parse::<u64>() {
                Ok(n) => value.set_number(key, n),
                Err(_) => return outcome.set(Some(Err(format!("{key} must be a whole number")))),
            }
        }
        spawn_local(async move {
            let saved = save(bus, value).await;
            if let Ok(saved) = &saved {
                current.set(Some(saved.clone()));
                typed.set(BTreeMap::new());
            }
            outcome.set(Some(saved.map(drop).map_err(|e| e.message)));
        });
    };
    let form_id = title.to_lowercase().replace(' ', "-");
    let prefix = form_id.clone();
    view! {
        <h3>{title}</h3>
        <form class="number-form" data-form=form_id.clone() on:submit=move |ev| { ev.prevent_default(); submit(); }>
            {move || current.get().map(|value| value.numbers().into_iter().map(|(key, label, shown)| {
                let input_id = format!("{prefix}-{}", key.replace('.', "-"));
                view! {
                    <label for=input_id.clone()>{label}</label>
                    <input type="number" min="0" id=input_id data-key=key value=shown.to_string() on:input=move |ev| {
                        let text = event_target_value(&ev);
                        typed.update(|t| { t.insert(key, text); });
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

/// What sites may do to the browser beyond reading a tab; each also needs its own permission,
/// which the site asks the user for.
#[component]
fn BrowserSwitches(bus: Bus) -> impl IntoView {
    let current = RwSignal::new(None::<BrowserSettings>);
    let error = RwSignal::new(None::<String>);
    spawn_local(async move {
        match bus.call::<BrowserSettingsGet>(Empty {}).await {
            Ok(settings) => current.set(Some(settings)),
            Err(e) => error.set(Some(e.message)),
        }
    });
    let flip = move |change: fn(&mut BrowserSettings, bool), on: bool| {
        let Some(mut settings) = current.get_untracked() else { return };
        change(&mut settings, on);
        spawn_local(async move {
            match bus.call::<BrowserSettingsSet>(settings).await {
                Ok(saved) => {
                    current.set(Some(saved));
                    error.set(None);
                }
                Err(e) => error.set(Some(e.message)),
            }
        });
    };
    let switch = move |key: &'static str,
                       label: &'static str,
                       help: &'static str,
                       get: fn(&BrowserSettings) -> bool,
                       set: fn(&mut BrowserSettings, bool)| {
        view! {
            <label class="switch" data-switch=key>
                <input type="checkbox" prop:checked=move || current.get().as_ref().is_some_and(get)
                    disabled=move || current.get().is_none()
                    on:change=move |ev| flip(set, event_target_checked(&ev))/>
                {label}
            </label>
            <p class="help">{help}</p>
        }
    };
    view! {
        <h3>"Browser"</h3>
        {switch("interaction", "Let sites act in their pages",
            "A site you allow may list, click, fill and choose elements of its own page, scroll it and take pictures of it, while you are looking at it.",
            |s| s.interaction, |s, on| s.interaction = on)}
        {switch("control", "Let sites open tabs, navigate and fetch",
            "A site you allow may see this window's tabs, open tabs and close the ones it opened, send its tab elsewhere, and read other websites without your cookies.",
            |s| s.control, |s, on| s.control = on)}
        {move || error.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
    }
}

#[component]
fn Doctor(bus: Bus) -> impl IntoView {
    // The checks run programs and probe ports, so they run when asked, not on every sidebar open.
    let checks = RwSignal::new(None::<Result<Vec<Check>, ErrorObject>>);
    let running = RwSignal::new(false);
    let run = move || {
        running.set(true);
        spawn_local(async move {
            checks.set(Some(bus.call::<SystemDoctor>(Empty {}).await));
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
                    {list.into_iter().map(|check| {
                        let class = match check.status { CheckStatus::Ok => "state ok", CheckStatus::Fail => "state bad", CheckStatus::Warn => "state warn" };
                        view! {
                            <li class="check" data-check=check.name.clone()>
                                <p class=class><span class="dot" aria-hidden="true"></span>
                                    {format!("{}: {}", check.name, check.detail)}
                                </p>
                                {check.fix.map(|fix| view! { <p class="help">{format!("Fix: {fix}")}</p> })}
                            </li>
                        }
                    }).collect_view()}
                </ul>
            }.into_any(),
        }}
    }
}
