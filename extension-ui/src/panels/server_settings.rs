//! A server's settings in the servers panel: its secrets (set, replace, delete — never shown
//! back), for a remote server signing in and out, and for a local one its account at a provider
//! (set up, connected in the browser or with a code typed at the provider, disconnected), where
//! it runs and its OS sandbox (on or off, the network, the folders it may use).
//!
//! Secret values go from a password field straight to `servers.secrets.set`; the panel only
//! ever learns whether a secret is set (`secrets.status` lists ids, not values). Signing in
//! streams an `authorize` event: the background opens the provider's page in a tab, and this
//! panel says what to do there until the answer comes back. A client the provider's owner issued
//! (id and secret) can be given for the sign-in; the secret field is cleared once it is sent.

use std::collections::BTreeMap;

use harbor_protocol::api::secrets::{
    AuthEvent, Grant, OauthSignIn, OauthSignOut, OauthStatus, SecretsOverview, SecretsStatus, ServerSecret,
    ServersSecretsDelete, ServersSecretsSet, SignInParams,
};
use harbor_protocol::api::servers::{
    Account, Launch, Runtime as RuntimeKind, Sandbox, ServerEntry, ServerState, ServersGet, ServersRestart,
    ServersRuntime, ServersUpdate, SetRuntime, UpdateServer,
};
use harbor_protocol::api::{Empty, Id};
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::bus::Bus;

/// What the secrets list shows: the keychain's state and the server's variables.
#[derive(Clone)]
struct Keychain {
    status: SecretsOverview,
    secret_env: BTreeMap<String, String>,
}

#[component]
pub fn ServerSettings(bus: Bus, entry: ServerEntry) -> impl IntoView {
    let id = entry.spec.id.clone();
    let remote = matches!(entry.spec.launch, Launch::Remote { .. });
    let process = matches!(entry.spec.launch, Launch::Process { .. });
    let account_first = !remote && entry.spec.account.is_some() && entry.status.needs_sign_in;
    let changed = RwSignal::new(0u64);
    // The server's secret names and the keychain's state, read again after each change here and
    // each servers notification (the row itself is not rebuilt for a secret).
    let server_id = id.clone();
    let keychain = LocalResource::new(move || {
        changed.track();
        bus.revision().track();
        let id = server_id.clone();
        async move {
            let server = bus.call::<ServersGet>(Id::new(id)).await?;
            let status = bus.call::<SecretsStatus>(Empty {}).await?;
            Ok::<Keychain, harbor_protocol::ErrorObject>(Keychain { status, secret_env: server.spec.secret_env })
        }
    });
    let failure = RwSignal::new(None::<String>);
    let add_name = RwSignal::new(String::new());
    let add_value = RwSignal::new(String::new());
    let add = {
        let id = id.clone();
        move |_| {
            let (name, value) = (add_name.get_untracked().trim().to_owned(), add_value.get_untracked());
            if name.is_empty() || value.is_empty() {
                failure.set(Some("Give the variable's name and its value.".into()));
                return;
            }
            let id = id.clone();
            spawn_local(async move {
                match bus.call::<ServersSecretsSet>(ServerSecret { id, name, value: Some(value) }).await {
                    Ok(_) => {
                        add_name.set(String::new());
                        add_value.set(String::new());
                        failure.set(None);
                        changed.update(|n| *n += 1);
                    }
                    Err(error) => failure.set(Some(error.message)),
                }
            });
        }
    };
    let server_id = id.clone();
    view! {
        <section class="server-settings" aria-label=format!("Settings of {id}")>
            // A server waiting for its account shows that first.
            {account_first.then(|| view! { <AccountSettings bus=bus entry=entry.clone()/> })}
            <h4>"Secrets"</h4>
            <Transition fallback=|| view! { <p class="help">"Reading the keychain…"</p> }>
                {move || keychain.get().map(|reply| match reply {
                    Ok(keychain) => {
                        let store = &keychain.status.store;
                        let where_kept = match &store.backend {
                            Some(backend) => format!("Kept in the OS keychain ({backend}); never shown again."),
                            None => "The OS keychain is not available, so secrets cannot be set.".to_owned(),
                        };
                        let note = store.note.clone();
                        let set: Vec<String> = keychain.status.secrets.iter().map(|s| s.id.clone()).collect();
                        let names: Vec<(String, String)> = keychain.secret_env.into_iter().collect();
                        let rows = names.iter().map(|(name, secret_id)| {
                            let is_set = set.contains(secret_id);
                            view! { <SecretRow bus=bus server=server_id.clone() name=name.clone() is_set=is_set changed=changed failure=failure/> }
                        }).collect_view();
                        view! {
                            <p class="help">{where_kept}</p>
                            {note.map(|n| view! { <p class="help warning">{n}</p> })}
                            {names.is_empty().then(|| view! { <p class="help">"This server uses no secrets."</p> })}
                            <ul class="secrets">{rows}</ul>
                        }.into_any()
                    }
                    Err(error) => view! { <p class="error">{error.message}</p> }.into_any(),
                })}
            </Transition>
            <div class="add-secret">
                <label>"Variable" <input type="text" placeholder="API_KEY" prop:value=move || add_name.get()
                    on:input=move |e| add_name.set(event_target_value(&e))/></label>
                <label>"Value" <input type="password" autocomplete="off" prop:value=move || add_value.get()
                    on:input=move |e| add_value.set(event_target_value(&e))/></label>
                <button type="button" on:click=add>"Add secret"</button>
            </div>
            {move || failure.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
            {remote.then(|| view! { <SignIn bus=bus server=id.clone()/> })}
            {(!remote && !account_first).then(|| view! { <AccountSettings bus=bus entry=entry.clone()/> })}
            {(!remote).then(|| view! { <Runtime bus=bus entry=entry.clone()/> })}
            {process.then(|| view! { <SandboxSettings bus=bus entry=entry.clone()/> })}
        </section>
    }
}

/// The OS sandbox of a natively launched server: on or off, the network, its folders.
#[component]
fn SandboxSettings(bus: Bus, entry: ServerEntry) -> impl IntoView {
    let id = entry.spec.id.clone();
    let sandbox = entry.spec.sandbox.clone().unwrap_or_default();
    let enabled = RwSignal::new(sandbox.enabled);
    let network = RwSignal::new(sandbox.network);
    let folders = RwSignal::new(sandbox.folders.join("\n"));
    let outcome = RwSignal::new(None::<Result<String, String>>);
    let slug: String = id.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect();
    let (on_id, net_id, dirs_id) =
        (format!("sandbox-{slug}"), format!("sandbox-net-{slug}"), format!("sandbox-dirs-{slug}"));
    let save = move |_| {
        let folders: Vec<String> =
            folders.get_untracked().lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_owned).collect();
        let sandbox = Sandbox { enabled: enabled.get_untracked(), network: network.get_untracked(), folders };
        let params = UpdateServer { id: id.clone(), sandbox: Some(sandbox), ..UpdateServer::default() };
        spawn_local(async move {
            outcome.set(Some(match bus.call::<ServersUpdate>(params).await {
                Ok(_) => Ok("Saved; it applies from the server's next start.".to_owned()),
                Err(error) => Err(error.message),
            }));
        });
    };
    view! {
        <div class="sandbox">
            <h4>"Sandbox"</h4>
            <p class="help">"In the sandbox the server sees your files read-only, not your home folder, Harbor's data, SSH keys, browser profiles or keyrings; it may write only its own folder and the folders below."</p>
            <label><input type="checkbox" id=on_id prop:checked=move || enabled.get()
                on:change=move |e| enabled.set(event_target_checked(&e))/>" Run in the sandbox"</label>
            <label><input type="checkbox" id=net_id prop:checked=move || network.get()
                on:change=move |e| network.set(event_target_checked(&e))/>" Allow the network"</label>
            <label for=dirs_id.clone()>"Folders it may use (one per line)"</label>
            <textarea id=dirs_id rows="2" prop:value=move || folders.get() on:input=move |e| folders.set(event_target_value(&e))></textarea>
            <button type="button" class="save-sandbox" on:click=save>"Save sandbox"</button>
            {move || outcome.get().map(|o| match o {
                Ok(text) => view! { <p class="help" role="status">{text}</p> }.into_any(),
                Err(text) => view! { <p class="error" role="alert">{text}</p> }.into_any(),
            })}
        </div>
    }
}

#[component]
fn SecretRow(
    bus: Bus,
    server: String,
    name: String,
    is_set: bool,
    changed: RwSignal<u64>,
    failure: RwSignal<Option<String>>,
) -> impl IntoView {
    let value = RwSignal::new(String::new());
    let send = {
        let (server, name) = (server.clone(), name.clone());
        move |delete: bool| {
            let params = ServerSecret { id: server.clone(), name: name.clone(), value: Some(value.get_untracked()) };
            spawn_local(async move {
                let outcome = if delete {
                    bus.call::<ServersSecretsDelete>(ServerSecret { value: None, ..params }).await
                } else {
                    bus.call::<ServersSecretsSet>(params).await
                };
                match outcome {
                    Ok(_) => {
                        value.set(String::new());
                        failure.set(None);
                        changed.update(|n| *n += 1);
                    }
                    Err(error) => failure.set(Some(error.message)),
                }
            });
        }
    };
    let (save, delete) = (send.clone(), send);
    let label = format!("New value for {name}");
    view! {
        <li data-secret=name.clone()>
            <strong>{name.clone()}</strong>
            <span class=if is_set { "badge running" } else { "badge crashed" }>{if is_set { "set" } else { "not set" }}</span>
            <input type="password" autocomplete="off" aria-label=label prop:value=move || value.get()
                on:input=move |e| value.set(event_target_value(&e))/>
            <button type="button" on:click=move |_| save(false)>{if is_set { "Replace" } else { "Save" }}</button>
            <button type="button" on:click=move |_| delete(true)>"Delete"</button>
        </li>
    }
}

/// Where a local server runs: natively, or in a hardened Docker container (moved there in a base
/// image the user names), with or without network.
#[component]
fn Runtime(bus: Bus, entry: ServerEntry) -> impl IntoView {
    let id = entry.spec.id.clone();
    let launch = entry.spec.launch.clone();
    let (in_docker, docker_image, docker_network, wraps) = match &launch {
        Launch::Docker { image, network, wraps, .. } => (true, image.clone(), *network, wraps.is_some()),
        _ => (false, String::new(), false, false),
    };
    let image = RwSignal::new(String::new());
    let network = RwSignal::new(docker_network);
    let failure = RwSignal::new(None::<String>);
    let working = RwSignal::new(false);
    let send = move |params: SetRuntime| {
        working.set(true);
        spawn_local(async move {
            failure.set(bus.call::<ServersRuntime>(params).await.err().map(|e| e.message));
            working.set(false);
        });
    };
    let move_id = id.clone();
    let into_docker = move |_| {
        let wanted = image.get_untracked().trim().to_owned();
        if wanted.is_empty() {
            failure.set(Some("Name the base image to run it in, such as node:22-slim.".into()));
            return;
        }
        send(SetRuntime {
            id: move_id.clone(),
            runtime: RuntimeKind::Docker,
            image: Some(wanted),
            network: network.get_untracked(),
        });
    };
    let back_id = id.clone();
    let back =
        move |_| send(SetRuntime { id: back_id.clone(), runtime: RuntimeKind::Native, image: None, network: false });
    let network_id = id.clone();
    let network_launch = launch.clone();
    let toggle_network = move |ev: leptos::ev::Event| {
        let on = event_target_checked(&ev);
        network.set(on);
        if let Launch::Docker { .. } = &network_launch {
            let mut changed = network_launch.clone();
            if let Launch::Docker { network, .. } = &mut changed {
                *network = on;
            }
            let id = network_id.clone();
            working.set(true);
            spawn_local(async move {
                let update = UpdateServer { id: id.clone(), launch: Some(changed), ..UpdateServer::default() };
                let mut outcome = bus.call::<ServersUpdate>(update).await;
                if outcome.as_ref().is_ok_and(|entry| entry.status.state == ServerState::Running) {
                    outcome = bus.call::<ServersRestart>(Id::new(id)).await;
                }
                failure.set(outcome.err().map(|e| e.message));
                working.set(false);
            });
        }
    };
    let field = format!("runtime-image-{id}");
    view! {
        <h4>"Runtime"</h4>
        {if in_docker {
            view! {
                <p class="help" data-runtime="docker">{format!("Runs in Docker ({docker_image}), hardened: read-only, no capabilities, limited memory and processes.")}</p>
                {wraps.then(|| view! { <button type="button" class="run-native" disabled=move || working.get() on:click=back>"Run natively"</button> })}
            }.into_any()
        } else {
            view! {
                <p class="help" data-runtime="native">"Runs natively. Move it into a container of a base image that has its runtime (node:22-slim for npm servers):"</p>
                <label for=field.clone()>"Base image"</label>
                <input id=field type="text" placeholder="node:22-slim" prop:value=move || image.get() on:input=move |ev| image.set(event_target_value(&ev))/>
                <button type="button" class="run-docker" disabled=move || working.get() on:click=into_docker>"Run in Docker"</button>
            }.into_any()
        }}
        <label class="check"><input type="checkbox" class="network" prop:checked=move || network.get() on:change=toggle_network/>
            " Allow network access (in Docker)"</label>
        {move || working.get().then(|| view! { <p class="help" role="status">"Working…"</p> })}
        {move || failure.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
    }
}

/// A local server's account at an OAuth provider: what it is (set or changed here), whether it
/// is connected, and connecting it (see `SignIn`).
#[component]
fn AccountSettings(bus: Bus, entry: ServerEntry) -> impl IntoView {
    let id = entry.spec.id.clone();
    let current = entry.spec.account.clone().unwrap_or_default();
    let has_account = entry.spec.account.is_some();
    let field = |value: &Option<String>| RwSignal::new(value.clone().unwrap_or_default());
    let env = RwSignal::new(current.env.clone());
    let client_id = RwSignal::new(current.client_id.clone());
    let issuer = field(&current.issuer);
    let token_endpoint = field(&current.token_endpoint);
    let authorization_endpoint = field(&current.authorization_endpoint);
    let device_endpoint = field(&current.device_authorization_endpoint);
    let scope = field(&current.scope);
    let failure = RwSignal::new(None::<String>);
    let save = {
        let id = id.clone();
        move |remove: bool| {
            let text =
                |signal: RwSignal<String>| Some(signal.get_untracked().trim().to_owned()).filter(|v| !v.is_empty());
            let account = (!remove).then(|| Account {
                issuer: text(issuer),
                authorization_endpoint: text(authorization_endpoint),
                token_endpoint: text(token_endpoint),
                device_authorization_endpoint: text(device_endpoint),
                client_id: client_id.get_untracked().trim().to_owned(),
                scope: text(scope),
                env: env.get_untracked().trim().to_owned(),
            });
            let params = UpdateServer { id: id.clone(), account: Some(account), ..UpdateServer::default() };
            spawn_local(async move {
                match bus.call::<ServersUpdate>(params).await {
                    Ok(_) => failure.set(None),
                    Err(error) => failure.set(Some(error.message)),
                }
            });
        }
    };
    let input = |label: &'static str, hint: &'static str, value: RwSignal<String>| {
        view! {
            <label>{label}" " <input type="text" autocomplete="off" placeholder=hint prop:value=move || value.get()
                on:input=move |e| value.set(event_target_value(&e))/></label>
        }
    };
    view! {
        <h4>"Account"</h4>
        {match has_account {
            true => view! {
                <p class="help">{format!("Gets the token of an account at {} in {}.",
                    current.issuer.clone().or(current.token_endpoint.clone()).unwrap_or_default(), current.env)}</p>
                <SignIn bus=bus server=id.clone() account=true/>
            }.into_any(),
            false => view! {
                <p class="help">"For a server that works with your account at a service (GitHub, …): Harbor connects the account and gives the server its token."</p>
            }.into_any(),
        }}
        <details class="account-setup">
            <summary>{if has_account { "Change the account" } else { "Set up an account" }}</summary>
            {input("Variable", "GITHUB_TOKEN", env)}
            {input("Client id", "the OAuth app's client id", client_id)}
            {input("Provider (issuer)", "https://accounts.example.com", issuer)}
            <p class="help">"Or, for a provider that publishes no metadata, its endpoints:"</p>
            {input("Token endpoint", "https://github.com/login/oauth/access_token", token_endpoint)}
            {input("Authorization endpoint", "https://github.com/login/oauth/authorize", authorization_endpoint)}
            {input("Device endpoint", "https://github.com/login/device/code", device_endpoint)}
            {input("Scope", "repo read:user", scope)}
            <div class="actions">
                <button type="button" class="save-account" on:click={let save = save.clone(); move |_| save(false)}>"Save account"</button>
                {has_account.then(|| view! { <button type="button" class="remove-account" on:click=move |_| save(true)>"Remove account"</button> })}
            </div>
        </details>
        {move || failure.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
    }
}

/// Sign-in state and the buttons for a remote server, or a local server's account (`account`):
/// connected in the browser, or with a code typed at the provider.
#[component]
fn SignIn(bus: Bus, server: String, #[prop(optional)] account: bool) -> impl IntoView {
    let changed = RwSignal::new(0u64);
    let status_id = server.clone();
    let status = LocalResource::new(move || {
        changed.track();
        bus.revision().track();
        let id = status_id.clone();
        async move { bus.call::<OauthStatus>(Id::new(id)).await }
    });
    let waiting = RwSignal::new(None::<String>);
    let failure = RwSignal::new(None::<String>);
    // A client the provider's owner issued (for providers that do not let Harbor register).
    let client_id = RwSignal::new(String::new());
    let client_secret = RwSignal::new(String::new());
    // The device flow's code and where to type it, while it waits.
    let device = RwSignal::new(None::<(String, String)>);
    let sign_in = {
        let server = server.clone();
        move |grant: Option<Grant>| {
            failure.set(None);
            waiting.set(Some("Finding out how to sign in…".into()));
            let on_event = move |event: AuthEvent| match event {
                AuthEvent::Authorize { .. } => {
                    waiting.set(Some("Approve the sign-in in the tab that opened, then come back here.".into()))
                }
                AuthEvent::Device { user_code, verification_uri, verification_uri_complete, .. } => {
                    waiting.set(Some("Waiting for the provider: type the code there.".into()));
                    device.set(Some((user_code, verification_uri_complete.unwrap_or(verification_uri))));
                }
            };
            let (id, secret) = (client_id.get_untracked(), client_secret.get_untracked());
            let params = SignInParams {
                id: server.clone(),
                client_id: Some(id.trim().to_owned()).filter(|id| !id.is_empty()),
                client_secret: Some(secret).filter(|s| !s.is_empty() && !id.trim().is_empty()),
                grant,
                ..SignInParams::default()
            };
            client_secret.set(String::new());
            let (_, reply) = bus.call_streaming::<OauthSignIn>(params, on_event);
            spawn_local(async move {
                if let Err(error) = reply.await {
                    failure.set(Some(error.message));
                }
                waiting.set(None);
                device.set(None);
                changed.update(|n| *n += 1);
            });
        }
    };
    let sign_out = move |_| {
        let id = server.clone();
        spawn_local(async move {
            if let Err(error) = bus.call::<OauthSignOut>(Id::new(id)).await {
                failure.set(Some(error.message));
            }
            changed.update(|n| *n += 1);
        });
    };
    let (not_in, signed_in) =
        if account { ("Not connected.", "Connected to") } else { ("Not signed in.", "Signed in to") };
    let by_code = sign_in.clone();
    view! {
        {(!account).then(|| view! { <h4>"Sign-in"</h4> })}
        <Transition fallback=|| view! { <p class="help">"…"</p> }>
            {move || status.get().map(|reply| match reply {
                Ok(None) => view! { <p class="help" data-signed-in="false">{not_in}</p> }.into_any(),
                Ok(Some(sign_in)) => view! {
                    <p class="help" data-signed-in="true">{format!("{signed_in} {}{}", sign_in.issuer,
                        sign_in.scope.as_deref().filter(|s| !s.is_empty()).map(|s| format!(" ({s})")).unwrap_or_default())}</p>
                }.into_any(),
                Err(error) => view! { <p class="error">{error.message}</p> }.into_any(),
            })}
        </Transition>
        {(!account).then(|| view! {
            <details class="issued-client">
                <summary>"Use a client the provider issued"</summary>
                <p class="help">"Only when the provider does not let Harbor register itself. The secret goes to the keychain."</p>
                <label>"Client id" <input type="text" autocomplete="off" prop:value=move || client_id.get()
                    on:input=move |e| client_id.set(event_target_value(&e))/></label>
                <label>"Client secret (if it has one)" <input type="password" autocomplete="off"
                    prop:value=move || client_secret.get() on:input=move |e| client_secret.set(event_target_value(&e))/></label>
            </details>
        })}
        <div class="actions">
            <button type="button" class="sign-in" disabled=move || waiting.get().is_some() on:click=move |_| sign_in(None)>
                {if account { "Connect in the browser" } else { "Sign in" }}</button>
            {account.then(|| view! {
                <button type="button" class="connect-code" disabled=move || waiting.get().is_some()
                    on:click=move |_| by_code(Some(Grant::DeviceCode))>"Connect with a code"</button>
            })}
            {move || matches!(status.get(), Some(Ok(Some(_)))).then(|| {
                let sign_out = sign_out.clone();
                view! { <button type="button" class="sign-out" on:click=sign_out>{if account { "Disconnect" } else { "Sign out" }}</button> }
            })}
        </div>
        {move || device.get().map(|(code, url)| view! {
            <p class="device-code">"Enter "<code class="user-code">{code}</code>" at "
                <a href=url.clone() target="_blank" rel="noopener noreferrer">{url.clone()}</a></p>
        })}
        {move || waiting.get().map(|w| view! { <p class="help" role="status">{w}</p> })}
        {move || failure.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
    }
}
