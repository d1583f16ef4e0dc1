//! The sidebar's frame: header and panels, wired to the [`Bus`](crate::bus::Bus).

use leptos::prelude::*;

use crate::bus::Bus;
use crate::panels::connection::ConnectionPanel;
use crate::panels::servers::ServersPanel;
use harbor_protocol::ConnectionState;

#[component]
pub fn App() -> impl IntoView {
    let bus = Bus::connect();
    let status = bus.status();
    let retry = move || bus.reconnect();
    view! {
        <header class="top">
            <img src="../icons/harbor.svg" alt="" width="22" height="22"/>
            <h1>"Harbor"</h1>
        </header>
        <main>
            <ConnectionPanel status=status on_retry=retry/>
            {move || (status.get().state == ConnectionState::Connected).then(|| view! { <ServersPanel bus=bus/> })}
        </main>
    }
}
