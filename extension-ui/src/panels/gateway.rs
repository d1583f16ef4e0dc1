//! The gateway panel: Harbor's servers for the user's other AI apps. The loopback HTTP endpoint
//! (on or off, its port and URL), each client with its key's hint, the servers it may use, its
//! limits and its traffic, a key shown once when made or replaced, and "Connect" for Claude
//! Desktop, Cursor and VS Code. Refetches on the bridge's `gateway.changed` and server news.

use harbor_protocol::api::gateway::{
    ApproveClientTool, Client, ClientName, ClientParams, Connect, GatewayClientsAdd, GatewayClientsApproveTool,
    GatewayClientsRemove, GatewayClientsRotateKey, GatewayClientsUpdate, GatewayConnect, GatewayHttpSet, GatewayStatus,
    SetHttp, Status,
};
use harbor_protocol::api::import::App;
use harbor_protocol::api::servers::ServersList;
use harbor_protocol::api::Empty;
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::bus::Bus;

const APPS: [(App, &str, &str); 3] = [
    (App::ClaudeDesktop, "claude-desktop", "Claude Desktop"),
    (App::Cursor, "cursor", "Cursor"),
    (App::VsCode, "vs-code", "VS Code"),
];

/// What a client card's buttons do.
#[derive(Clone, Copy)]
enum Act {
    Connect(App),
    RotateKey,
    Remove,
}

#[component]
pub fn GatewayPanel(bus: Bus) -> impl IntoView {
    let revision = bus.revision();
    let status = LocalResource::new(move || {
        revision.track();
        async move { bus.call::<GatewayStatus>(Empty {}).await }
    });
    let servers = LocalResource::new(move || {
        revision.track();
        async move { bus.call::<ServersList>(Empty {}).await }
    });
    // A key is shown once, right after it was made: (client, key).
    let fresh_key = RwSignal::new(None::<(String, String)>);
    let failure = RwSignal::new(None::<String>);
    let name = RwSignal::new(String::new());
    let add = move |_| {
        let client = name.get_untracked().trim().to_owned();
        spawn_local(async move {
            let params = ClientParams { name: client.clone(), allow: Some(Vec::new()), ..ClientParams::default() };
            match bus.call::<GatewayClientsAdd>(params).await {
                Ok(added) => {
                    fresh_key.set(Some((client, added.key)));
                    name.set(String::new());
                    failure.set(None);
                    status.refetch();
                }
                Err(error) => failure.set(Some(error.message)),
            }
        });
    };
    view! {
        <section class="card gateway" aria-labelledby="gateway-title">
            <h2 id="gateway-title">"Gateway"</h2>
            <p class="help">"Let your other AI apps use Harbor's servers: each app gets only the servers you choose here, with its own limits."</p>
            {move || match status.get() {
                None => view! { <p class="help">"Loading the gateway…"</p> }.into_any(),
                Some(Err(error)) => view! { <p class="error" role="alert">{format!("Could not read the gateway: {}", error.message)}</p> }.into_any(),
                Some(Ok(state)) => {
                    let server_ids: Vec<String> = servers
                        .get()
                        .and_then(|s| s.ok())
                        .unwrap_or_default()
                        .into_iter()
                        .map(|s| s.spec.id)
                        .collect();
                    let clients = state.clients.clone();
                    view! {
                        <Endpoint bus=bus state=state.clone() on_change=move || status.refetch()/>
                        {if clients.is_empty() {
                            view! { <p class="help empty">"No app is connected yet. Add one below, then connect it."</p> }.into_any()
                        } else {
                            view! {
                                <ul class="client-list">
                                    {clients.into_iter().map(|client| view! {
                                        <ClientCard bus=bus client=client servers=server_ids.clone() fresh_key=fresh_key/>
                                    }).collect_view()}
                                </ul>
                            }.into_any()
                        }}
                    }.into_any()
                }
            }}
            {move || fresh_key.get().map(|(client, key)| view! {
                <div class="fresh-key" role="status">
                    <p>{format!("The key for {client} (for the HTTP endpoint). Copy it now: Harbor does not show it again.")}</p>
                    <output class="key" aria-label="New key">{key}</output>
                    <button type="button" on:click=move |_| fresh_key.set(None)>"Done"</button>
                </div>
            })}
            <form class="add-client" on:submit=move |ev| { ev.prevent_default(); add(()); }>
                <label for="gateway-client-name">"App name"</label>
                <input id="gateway-client-name" type="text" placeholder="cursor" prop:value=move || name.get() on:input=move |ev| name.set(event_target_value(&ev))/>
                <button type="submit">"Add app"</button>
            </form>
            {move || failure.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
        </section>
    }
}

/// The HTTP endpoint: on or off, and on which loopback port.
#[component]
fn Endpoint(bus: Bus, state: Status, on_change: impl Fn() + Copy + 'static) -> impl IntoView {
    let listening = state.http.listening;
    let port = RwSignal::new(state.settings.port.to_string());
    let failure = RwSignal::new(None::<String>);
    let set = move |enabled: bool| {
        let port = port.get_untracked().trim().parse::<u16>().ok();
        spawn_local(async move {
            let done = bus.call::<GatewayHttpSet>(SetHttp { enabled, port }).await;
            failure.set(done.err().map(|e| e.message));
            on_change();
        });
    };
    let url = state.http.url.clone();
    view! {
        <div class="endpoint">
            <div class="row">
                <input type="checkbox" id="gateway-http" prop:checked=listening on:change=move |ev| set(event_target_checked(&ev))/>
                <label for="gateway-http">"Serve on this computer over HTTP"</label>
            </div>
            <label for="gateway-port">"Port"</label>
            <input id="gateway-port" type="number" min="0" max="65535" prop:value=move || port.get() on:input=move |ev| port.set(event_target_value(&ev))/>
            <p class="help endpoint-url">{match url {
                Some(url) => format!("Apps reach Harbor at {url} with their key."),
                None => "Off: apps connect through the entry Harbor writes into their config.".to_owned(),
            }}</p>
            {move || failure.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
        </div>
    }
}

#[component]
fn ClientCard(
    bus: Bus,
    client: Client,
    servers: Vec<String>,
    fresh_key: RwSignal<Option<(String, String)>>,
) -> impl IntoView {
    let name = client.name.clone();
    let failure = RwSignal::new(None::<String>);
    let notice = RwSignal::new(None::<String>);
    let allow = client.allow.clone();
    let mut choices = servers;
    for entry in &allow {
        if !choices.contains(entry) {
            choices.push(entry.clone());
        }
    }
    let chosen = RwSignal::new(allow);
    let changed = {
        let name = name.clone();
        super::changed::changed_tools(client.changed_tools.clone(), "This app", move |tool| {
            let params = ApproveClientTool { name: name.clone(), tool };
            spawn_local(async move {
                failure.set(bus.call::<GatewayClientsApproveTool>(params).await.err().map(|e| e.message));
            });
        })
    };
    let rate = RwSignal::new(client.rate_per_min.to_string());
    let concurrency = RwSignal::new(client.concurrency.to_string());
    let update = {
        let name = name.clone();
        move |changes: ClientParams| {
            let params = ClientParams { name: name.clone(), ..changes };
            spawn_local(async move {
                failure.set(bus.call::<GatewayClientsUpdate>(params).await.err().map(|e| e.message));
            });
        }
    };
    let call = {
        let name = name.clone();
        move |act: Act| {
            let client = name.clone();
            spawn_local(async move {
                let outcome = match act {
                    Act::RotateKey => bus
                        .call::<GatewayClientsRotateKey>(ClientName { name: client.clone() })
                        .await
                        .map(|done| fresh_key.set(Some((client, done.key)))),
                    Act::Connect(app) => bus
                        .call::<GatewayConnect>(Connect { app, client, path: None, dry_run: false })
                        .await
                        .map(|done| {
                            notice.set(Some(format!(
                                "Wrote Harbor's entry into {}. Restart the app to use it.",
                                done.path
                            )))
                        }),
                    Act::Remove => bus.call::<GatewayClientsRemove>(ClientName { name: client }).await.map(drop),
                };
                if let Err(error) = outcome {
                    failure.set(Some(error.message));
                }
            });
        }
    };
    let traffic = client.traffic;
    let used = format!(
        "{} calls, {} failed, {} over the limit{}",
        traffic.calls,
        traffic.errors,
        traffic.rate_limited,
        if client.last_used_at.is_none() { " · never used" } else { "" }
    );
    let key_hint = client.key_hint.clone();
    let slug = name.clone();
    let save = update.clone();
    view! {
        <li class="client" data-client=name.clone()>
            {changed}
            <h3>{name.clone()}</h3>
            <p class="help">{format!("Key {key_hint} · {used}")}</p>
            <fieldset class="client-allow">
                <legend>"Servers it may use"</legend>
                {if choices.is_empty() {
                    view! { <p class="help">"Add a server first."</p> }.into_any()
                } else {
                    choices.into_iter().map(|server| {
                        let id = format!("allow-{slug}-{server}");
                        let (checked, toggled, attr) = (server.clone(), server.clone(), server.clone());
                        let update = update.clone();
                        view! {
                            <div class="tool-choice" data-server=attr>
                                <input type="checkbox" id=id.clone()
                                    prop:checked=move || chosen.get().contains(&checked)
                                    on:change=move |ev| {
                                        let on = event_target_checked(&ev);
                                        chosen.update(|list| {
                                            list.retain(|s| *s != toggled);
                                            if on { list.push(toggled.clone()); }
                                        });
                                        update(ClientParams { allow: Some(chosen.get_untracked()), ..ClientParams::default() });
                                    }/>
                                <label for=id>{server}</label>
                            </div>
                        }
                    }).collect_view().into_any()
                }}
            </fieldset>
            <div class="tool-choice plain-names">
                <input type="checkbox" id=format!("plain-{slug}") prop:checked=client.plain_names
                    on:change={
                        let update = update.clone();
                        move |ev| update(ClientParams { plain_names: Some(event_target_checked(&ev)), ..ClientParams::default() })
                    }/>
                <label for=format!("plain-{slug}")>"Use the servers' own tool names where they do not collide"</label>
            </div>
            <div class="tool-choice code-mode">
                <input type="checkbox" id=format!("code-{slug}") prop:checked=client.code_mode
                    on:change={
                        let update = update.clone();
                        move |ev| update(ClientParams { code_mode: Some(event_target_checked(&ev)), ..ClientParams::default() })
                    }/>
                <label for=format!("code-{slug}")>"Code mode: offer search, describe and run-code tools instead of every tool"</label>
            </div>
            <form class="limits" on:submit=move |ev| {
                ev.prevent_default();
                let number = |s: RwSignal<String>| s.get_untracked().trim().parse::<u32>().ok();
                save(ClientParams { rate_per_min: number(rate), concurrency: number(concurrency), ..ClientParams::default() });
            }>
                <label for=format!("rate-{}", name)>"Tool calls a minute"</label>
                <input type="number" min="0" id=format!("rate-{}", name) prop:value=move || rate.get() on:input=move |ev| rate.set(event_target_value(&ev))/>
                <label for=format!("concurrency-{}", name)>"Calls at once"</label>
                <input type="number" min="1" id=format!("concurrency-{}", name) prop:value=move || concurrency.get() on:input=move |ev| concurrency.set(event_target_value(&ev))/>
                <button type="submit">"Save limits"</button>
            </form>
            <div class="actions connect">
                {APPS.into_iter().map(|(app, slug, label)| {
                    let call = call.clone();
                    view! {
                        <button type="button" data-app=slug on:click=move |_| call(Act::Connect(app))>
                            {format!("Connect {label}")}
                        </button>
                    }
                }).collect_view()}
            </div>
            <div class="actions">
                <button type="button" class="rotate" on:click={ let call = call.clone(); move |_| call(Act::RotateKey) }>"New key"</button>
                <button type="button" class="forget" on:click=move |_| call(Act::Remove)>"Remove"</button>
            </div>
            {move || notice.get().map(|n| view! { <p class="help notice" role="status">{n}</p> })}
            {move || failure.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
        </li>
    }
}
