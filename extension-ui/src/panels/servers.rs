//! The servers panel: every server with its live state, start / stop / restart, its tools with a
//! "try it" form generated from each tool's input schema, and its log tail; plus a form to add a
//! server by command line or URL.
//!
//! Lists refetch when the bus's revision changes (the bridge's `servers.*` and `tools.changed`
//! notifications), so state changes show without polling.

use harbor_protocol::api::servers::{
    AddServer as AddParams, Launch, LogsParams, ServerEntry, ServerState, ServersAdd, ServersList, ServersLogs,
    ServersRestart, ServersStart, ServersStop,
};
use harbor_protocol::api::tools::views::{self, Property, Schema, ToolResult};
use harbor_protocol::api::tools::{CallTool, ServerFilter, ToolEntry, ToolsCall, ToolsList};
use harbor_protocol::api::{Empty, Id};
use leptos::prelude::*;
use leptos::task::spawn_local;
use serde_json::{Map, Value};

use super::resources::{PromptsList, ResourcesList};
use super::server_settings::ServerSettings;
use crate::bus::Bus;
use crate::panels::app_view::AppView;
use crate::panels::result::ResultContent;

#[component]
pub fn ServersPanel(bus: Bus) -> impl IntoView {
    let revision = bus.revision();
    let servers = LocalResource::new(move || {
        revision.track();
        async move { bus.call::<ServersList>(Empty {}).await }
    });
    // The last list that arrived, kept while a refetch is on its way, so rows (and an open tools
    // form) stay put; a row is rebuilt only when its own state changes (see `row_key`).
    let list = RwSignal::new(None::<Vec<ServerEntry>>);
    let failure = RwSignal::new(None::<String>);
    Effect::new(move |_| match servers.get() {
        Some(Ok(value)) => {
            list.set(Some(value));
            failure.set(None);
        }
        Some(Err(error)) => failure.set(Some(error.message)),
        None => {}
    });
    view! {
        <section class="card servers" aria-labelledby="servers-title">
            <h2 id="servers-title">"Servers"</h2>
            {move || failure.get().map(|e| view! { <p class="error" role="alert">{format!("Could not list servers: {e}")}</p> })}
            {move || match list.get() {
                None => Some(view! { <p class="help">"Loading servers…"</p> }.into_any()),
                Some(entries) if entries.is_empty() => Some(view! {
                    <p class="help empty">"No servers yet. Add one below with the command that starts it, or its URL."</p>
                }.into_any()),
                Some(_) => None,
            }}
            <ul class="server-list">
                <For
                    each=move || list.get().unwrap_or_default()
                    key=row_key
                    children=move |entry| view! { <ServerRow bus=bus entry=entry/> }
                />
            </ul>
            <AddServer bus=bus/>
        </section>
    }
}

/// What makes a row worth rebuilding: its id and everything it shows.
fn row_key(entry: &ServerEntry) -> String {
    format!(
        "{}|{}|{:?}|{}|{}",
        entry.spec.id,
        entry.status.state.name(),
        entry.status.error,
        entry.tool_count,
        describe(&entry.spec.launch)
    )
}

#[component]
fn ServerRow(bus: Bus, entry: ServerEntry) -> impl IntoView {
    let id = entry.spec.id.clone();
    let state = entry.status.state.name().to_owned();
    let error = entry.status.error.clone();
    let tool_count = entry.tool_count;
    let command = describe(&entry.spec.launch);
    let running = entry.status.state == ServerState::Running;
    let busy = RwSignal::new(false);
    let failure = RwSignal::new(None::<String>);
    let show_tools = RwSignal::new(false);
    let show_logs = RwSignal::new(false);
    let act = {
        let id = id.clone();
        move |action: Action| {
            let id = Id::new(id.clone());
            busy.set(true);
            failure.set(None);
            spawn_local(async move {
                let outcome = match action {
                    Action::Start => bus.call::<ServersStart>(id).await,
                    Action::Stop => bus.call::<ServersStop>(id).await,
                    Action::Restart => bus.call::<ServersRestart>(id).await,
                };
                if let Err(error) = outcome {
                    failure.set(Some(error.message));
                }
                busy.set(false);
            });
        }
    };
    let (start, stop, restart) = (act.clone(), act.clone(), act);
    let tools_id = id.clone();
    let logs_id = id.clone();
    let (resources_id, prompts_id) = (id.clone(), id.clone());
    let show_resources = RwSignal::new(false);
    let show_prompts = RwSignal::new(false);
    let needs_sign_in = entry.status.needs_sign_in;
    let show_settings = RwSignal::new(needs_sign_in);
    let settings_entry = entry.clone();
    view! {
        <li class="server" data-server=id.clone() data-state=state.clone()>
            <div class="server-head">
                <span class=format!("badge {state}")>{state.clone()}</span>
                <strong class="server-id">{id.clone()}</strong>
                <span class="muted">{format!("{tool_count} tools")}</span>
            </div>
            <code class="launch">{command}</code>
            {error.map(|e| view! { <p class="error">{e}</p> })}
            <div class="actions">
                {if running {
                    view! {
                        <button type="button" disabled=move || busy.get() on:click=move |_| stop(Action::Stop)>"Stop"</button>
                        <button type="button" disabled=move || busy.get() on:click=move |_| restart(Action::Restart)>"Restart"</button>
                        <button type="button" aria-expanded=move || show_tools.get().to_string() on:click=move |_| show_tools.update(|s| *s = !*s)>"Tools"</button>
                        <button type="button" aria-expanded=move || show_resources.get().to_string() on:click=move |_| show_resources.update(|s| *s = !*s)>"Resources"</button>
                        <button type="button" aria-expanded=move || show_prompts.get().to_string() on:click=move |_| show_prompts.update(|s| *s = !*s)>"Prompts"</button>
                    }.into_any()
                } else {
                    view! { <button type="button" disabled=move || busy.get() on:click=move |_| start(Action::Start)>"Start"</button> }.into_any()
                }}
                <button type="button" aria-expanded=move || show_logs.get().to_string() on:click=move |_| show_logs.update(|s| *s = !*s)>"Logs"</button>
                <button type="button" aria-expanded=move || show_settings.get().to_string() on:click=move |_| show_settings.update(|s| *s = !*s)>
                    {match (needs_sign_in, entry.spec.account.is_some()) {
                        (true, true) => "Connect account…",
                        (true, false) => "Sign in…",
                        _ => "Settings",
                    }}
                </button>
            </div>
            {move || busy.get().then(|| view! { <p class="help">"Working…"</p> })}
            {move || failure.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
            {move || (running && show_tools.get()).then(|| view! { <ToolsList bus=bus server=tools_id.clone()/> })}
            {move || (running && show_resources.get()).then(|| view! { <ResourcesList bus=bus server=resources_id.clone()/> })}
            {move || (running && show_prompts.get()).then(|| view! { <PromptsList bus=bus server=prompts_id.clone()/> })}
            {move || show_logs.get().then(|| view! { <LogsView bus=bus server=logs_id.clone()/> })}
            {move || show_settings.get().then(|| view! { <ServerSettings bus=bus entry=settings_entry.clone()/> })}
        </li>
    }
}

/// What a row's lifecycle buttons do.
#[derive(Clone, Copy)]
enum Action {
    Start,
    Stop,
    Restart,
}

#[component]
fn ToolsList(bus: Bus, server: String) -> impl IntoView {
    let tools = LocalResource::new(move || {
        let server = server.clone();
        async move { bus.call::<ToolsList>(ServerFilter::server(server)).await }
    });
    view! {
        <div class="tools">
            <Transition fallback=|| view! { <p class="help">"Loading tools…"</p> }>
                {move || tools.get().map(|listed| match listed {
                    Ok(list) => list.into_iter()
                        .map(|tool| view! { <ToolTry bus=bus tool=tool/> })
                        .collect_view()
                        .into_any(),
                    Err(error) => view! { <p class="error">{error.message}</p> }.into_any(),
                })}
            </Transition>
        </div>
    }
}

/// One input of a try-it form.
#[derive(Clone)]
struct Field {
    name: String,
    kind: FieldKind,
    required: bool,
    value: RwSignal<String>,
}

#[derive(Clone, Copy, PartialEq)]
enum FieldKind {
    Text,
    Number,
    Integer,
    Flag,
    /// Anything else, typed as JSON.
    Json,
}

fn fields(schema: &Value) -> Vec<Field> {
    let schema: Schema = views::read(schema);
    schema
        .properties
        .iter()
        .map(|(name, property)| {
            let property: Property = views::read(property);
            let kind = match property.kind.as_deref() {
                Some("string") => FieldKind::Text,
                Some("number") => FieldKind::Number,
                Some("integer") => FieldKind::Integer,
                Some("boolean") => FieldKind::Flag,
                _ => FieldKind::Json,
            };
            let initial = match (kind, property.default) {
                (_, None | Some(Value::Null)) => String::new(),
                (FieldKind::Text, Some(Value::String(s))) => s,
                (_, Some(other)) => other.to_string(),
            };
            Field { name: name.clone(), kind, required: schema.required.contains(name), value: RwSignal::new(initial) }
        })
        .collect()
}

/// The arguments object from the form, or what is wrong with it.
fn arguments(fields: &[Field]) -> Result<Map<String, Value>, String> {
    let mut args = Map::new();
    for field in fields {
        let raw = field.value.get_untracked();
        if raw.trim().is_empty() && field.kind != FieldKind::Flag {
            if field.required {
                return Err(format!("{} is required", field.name));
            }
            continue;
        }
        let value = match field.kind {
            FieldKind::Text => Value::String(raw),
            FieldKind::Flag => Value::Bool(raw == "true"),
            FieldKind::Integer => raw
                .trim()
                .parse::<i64>()
                .map(Value::from)
                .map_err(|_| format!("{} must be a whole number", field.name))?,
            FieldKind::Number => {
                raw.trim().parse::<f64>().map(Value::from).map_err(|_| format!("{} must be a number", field.name))?
            }
            FieldKind::Json => {
                serde_json::from_str(&raw).map_err(|e| format!("{} is not valid JSON: {e}", field.name))?
            }
        };
        args.insert(field.name.clone(), value);
    }
    Ok(args)
}

#[component]
fn ToolTry(bus: Bus, tool: ToolEntry) -> impl IntoView {
    let name = tool.name.clone();
    let description = tool.description.lines().next().unwrap_or_default().to_owned();
    let imitates = tool.imitates.clone();
    let fields = fields(&tool.input_schema);
    // The last call's result (with its arguments, for an app view), or what went wrong.
    let result = RwSignal::new(None::<Result<(Value, Value), String>>);
    let has_view = tool.ui.as_ref().is_some_and(|ui| ui.resource_uri.is_some());
    let viewed = tool.name.clone();
    let running = RwSignal::new(false);
    let run = {
        let fields = fields.clone();
        let name = name.clone();
        move |ev: leptos::ev::SubmitEvent| {
            ev.prevent_default();
            let args = match arguments(&fields) {
                Ok(args) => args,
                Err(problem) => return result.set(Some(Err(problem))),
            };
            let name = name.clone();
            running.set(true);
            spawn_local(async move {
                let call = CallTool { tool: name, args: Some(args.clone()), timeout_ms: None, answers: Vec::new() };
                let outcome = bus.call::<ToolsCall>(call).await;
                result.set(Some(match outcome {
                    Ok(value) => {
                        let read: ToolResult = views::read(&value);
                        if read.is_error {
                            Err(content_text(&read, &value))
                        } else {
                            Ok((Value::Object(args), value))
                        }
                    }
                    Err(error) => Err(format!("{}: {}", error.code, error.message)),
                }));
                running.set(false);
            });
        }
    };
    let form_id = format!("try-{}", name.replace(['/', ' '], "-"));
    view! {
        <details class="tool" data-tool=name.clone()>
            <summary>
                <code>{harbor_protocol::shown::visible_name(&name)}</code>" "
                <span class="muted">{harbor_protocol::shown::visible(&description)}</span>
                {imitates.map(|other| view! { <strong class="warning imitates">{format!(" looks like {}", harbor_protocol::shown::visible_name(&other))}</strong> })}
            </summary>
            <form on:submit=run aria-label=format!("Try {name}")>
                {fields.into_iter().map(|field| {
                    let input_id = format!("{form_id}-{}", field.name);
                    let label = if field.required { format!("{} *", field.name) } else { field.name.clone() };
                    let value = field.value;
                    let input = match field.kind {
                        FieldKind::Flag => view! {
                            <input id=input_id.clone() name=field.name.clone() type="checkbox"
                                prop:checked=move || value.get() == "true"
                                on:change=move |ev| value.set(event_target_checked(&ev).to_string())/>
                        }.into_any(),
                        FieldKind::Json => view! {
                            <textarea id=input_id.clone() name=field.name.clone() rows="2" placeholder="JSON"
                                prop:value=move || value.get() on:input=move |ev| value.set(event_target_value(&ev))></textarea>
                        }.into_any(),
                        kind => view! {
                            <input id=input_id.clone() name=field.name.clone()
                                type=if kind == FieldKind::Text { "text" } else { "number" }
                                prop:value=move || value.get() on:input=move |ev| value.set(event_target_value(&ev))/>
                        }.into_any(),
                    };
                    view! { <label for=input_id>{label}</label>{input} }
                }).collect_view()}
                <button type="submit" disabled=move || running.get()>"Run"</button>
            </form>
            {move || result.get().map(|outcome| match outcome {
                Ok((args, value)) => {
                    let app = has_view.then(|| view! {
                        <AppView bus=bus tool=viewed.clone() args=args result=value.clone() on_message=None/>
                    });
                    view! { <div class="result"><ResultContent result=value/></div>{app} }.into_any()
                }
                Err(text) => view! { <pre class="result error" role="alert">{text}</pre> }.into_any(),
            })}
        </details>
    }
}

#[component]
fn LogsView(bus: Bus, server: String) -> impl IntoView {
    let revision = bus.revision();
    let logged = bus.logs();
    let lines = LocalResource::new(move || {
        revision.track();
        logged.track();
        let server = server.clone();
        async move { bus.call::<ServersLogs>(LogsParams { id: server, lines: Some(50) }).await }
    });
    view! {
        <Transition fallback=|| view! { <p class="help">"Loading the log…"</p> }>
            {move || lines.get().map(|listed| match listed {
                Ok(list) => {
                    let text = list.iter()
                        .map(|line| format!("{} {}", line.stream.as_str(), line.text))
                        .collect::<Vec<_>>()
                        .join("\n");
                    let text = if text.is_empty() { "Nothing logged yet.".to_owned() } else { text };
                    view! { <pre class="log" aria-label="Server log">{text}</pre> }.into_any()
                }
                Err(error) => view! { <p class="error">{error.message}</p> }.into_any(),
            })}
        </Transition>
    }
}

#[component]
fn AddServer(bus: Bus) -> impl IntoView {
    let id = RwSignal::new(String::new());
    let target = RwSignal::new(String::new());
    let failure = RwSignal::new(None::<String>);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let target_text = target.get_untracked();
        let words: Vec<String> = target_text.split_whitespace().map(str::to_owned).collect();
        let launch = match words.split_first() {
            Some((url, [])) if url.starts_with("http://") || url.starts_with("https://") => {
                Launch::Remote { url: url.clone(), headers: Default::default() }
            }
            Some((command, args)) => {
                Launch::Process { command: command.clone(), args: args.to_vec(), env: Default::default(), cwd: None }
            }
            None => return failure.set(Some("Give the command that starts the server, or its URL.".into())),
        };
        let params = AddParams {
            id: id.get_untracked().trim().to_owned(),
            name: None,
            launch,
            source: None,
            secret_env: Default::default(),
            auto_start: false,
            tool_timeout_ms: None,
            sandbox: None,
            account: None,
        };
        failure.set(None);
        spawn_local(async move {
            match bus.call::<ServersAdd>(params).await {
                Ok(_) => {
                    id.set(String::new());
                    target.set(String::new());
                }
                Err(error) => failure.set(Some(error.message)),
            }
        });
    };
    view! {
        <form class="add-server" on:submit=submit aria-label="Add a server">
            <h3>"Add a server"</h3>
            <label for="add-id">"Id"</label>
            <input id="add-id" name="id" type="text" placeholder="time" required
                prop:value=move || id.get() on:input=move |ev| id.set(event_target_value(&ev))/>
            <label for="add-target">"Command or URL"</label>
            <input id="add-target" name="target" type="text" placeholder="uvx mcp-server-time" required
                prop:value=move || target.get() on:input=move |ev| target.set(event_target_value(&ev))/>
            <p class="help">"Arguments are split at spaces. Secrets do not belong here."</p>
            <button type="submit">"Add"</button>
            {move || failure.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
        </form>
    }
}

/// The text of a tool result's content, one item per line (the whole result when it has none).
fn content_text(read: &ToolResult, raw: &Value) -> String {
    if read.content.is_empty() {
        return raw.to_string();
    }
    read.content
        .iter()
        .map(|item| item.text.clone().unwrap_or_else(|| format!("[{}]", item.kind)))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A launch as one line: the command and its arguments, or the URL.
pub(crate) fn describe(launch: &Launch) -> String {
    launch.summary()
}
