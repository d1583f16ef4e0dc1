//! The connection: while the bridge is reachable, one status line (its version and data folder
//! open on click); when it is not, a card that says what to do.

use harbor_protocol::{BridgeStatus, ConnectionState};
use leptos::prelude::*;

#[component]
pub fn ConnectionPanel(
    status: ReadSignal<BridgeStatus>,
    on_retry: impl Fn() + Copy + Send + Sync + 'static,
) -> impl IntoView {
    view! {
        <section
            class="connection"
            class:card=move || status.get().state != ConnectionState::Connected
            aria-live="polite"
            aria-labelledby="connection-title"
        >
            <h2 id="connection-title" class="visually-hidden">"Bridge"</h2>
            {move || {
                let status = status.get();
                let state = status.state;
                let message = status.message.clone().unwrap_or_default();
                match (state, status.info) {
                    // Connected, it is one small line; its details open on click.
                    (ConnectionState::Connected, Some(info)) => view! {
                        <details class="connection-line">
                            <summary>
                                <span class="state ok" data-state="connected">
                                    <span class="dot" aria-hidden="true"></span>
                                    {format!("connected to {} {}", info.name, info.version)}
                                </span>
                            </summary>
                            <dl class="facts">
                                <dt>"Protocol"</dt><dd>{info.protocol}</dd>
                                <dt>"Data folder"</dt><dd><code>{info.data_dir}</code></dd>
                            </dl>
                        </details>
                    }.into_any(),
                    (ConnectionState::NotInstalled, _) => view! {
                        <p class="state bad" data-state="not_installed">
                            <span class="dot" aria-hidden="true"></span>
                            "The Harbor bridge is not installed"
                        </p>
                        <p class="help">"Harbor needs its bridge program to run MCP servers. In a terminal, run:"</p>
                        <pre class="command">"harbor-bridge install"</pre>
                        <p class="help">"or "<code>"scripts/run"</code>" from the Harbor repository, then:"</p>
                        <button type="button" on:click=move |_| on_retry()>"Try again"</button>
                    }.into_any(),
                    (ConnectionState::Disconnected, _) => view! {
                        <p class="state warn" data-state="disconnected">
                            <span class="dot" aria-hidden="true"></span>
                            "The bridge stopped — reconnecting…"
                        </p>
                        <p class="help">{message}</p>
                        <button type="button" on:click=move |_| on_retry()>"Reconnect now"</button>
                    }.into_any(),
                    _ => view! {
                        <p class="state" data-state="connecting">
                            <span class="dot" aria-hidden="true"></span>
                            "Connecting to harbor-bridge…"
                        </p>
                    }.into_any(),
                }
            }}
        </section>
    }
}
