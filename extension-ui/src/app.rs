//! The sidebar's frame: header, the connection, and the panels as tabs, wired to the
//! [`Bus`](crate::bus::Bus). Panels stay mounted when another tab is shown, so a chat answer keeps
//! streaming and a form keeps what was typed.

use leptos::prelude::*;

use crate::bus::Bus;
use crate::panels::chat::ChatPanel;
use crate::panels::connection::ConnectionPanel;
use crate::panels::directory::DirectoryPanel;
use crate::panels::import::ImportPanel;
use crate::panels::servers::ServersPanel;
use crate::panels::settings::SettingsPanel;
use crate::panels::sites::SitesPanel;
use harbor_protocol::ConnectionState;

#[derive(Clone, Copy, PartialEq)]
enum Tab {
    Servers,
    Directory,
    Chat,
    Sites,
    Import,
    Settings,
}

#[component]
pub fn App() -> impl IntoView {
    let bus = Bus::connect();
    let status = bus.status();
    let retry = move || bus.reconnect();
    let tab = RwSignal::new(Tab::Servers);
    let tab_button = move |which: Tab, label: &'static str, id: &'static str| {
        view! {
            <button
                type="button"
                role="tab"
                id=id
                aria-selected=move || (tab.get() == which).to_string()
                class:active=move || tab.get() == which
                on:click=move |_| tab.set(which)
            >
                {label}
            </button>
        }
    };
    view! {
        <header class="top">
            <img src="../icons/harbor.svg" alt="" width="22" height="22"/>
            <h1>"Harbor"</h1>
        </header>
        <main>
            <ConnectionPanel status=status on_retry=retry/>
            {move || (status.get().state == ConnectionState::Connected).then(|| view! {
                <nav class="tabs" role="tablist" aria-label="Harbor">
                    {tab_button(Tab::Servers, "Servers", "tab-servers")}
                    {tab_button(Tab::Directory, "Directory", "tab-directory")}
                    {tab_button(Tab::Chat, "Chat", "tab-chat")}
                    {tab_button(Tab::Sites, "Sites", "tab-sites")}
                    {tab_button(Tab::Import, "Import", "tab-import")}
                    {tab_button(Tab::Settings, "Settings", "tab-settings")}
                </nav>
                <div role="tabpanel" aria-labelledby="tab-servers" hidden=move || tab.get() != Tab::Servers>
                    <ServersPanel bus=bus/>
                </div>
                <div role="tabpanel" aria-labelledby="tab-directory" hidden=move || tab.get() != Tab::Directory>
                    <DirectoryPanel bus=bus/>
                </div>
                <div role="tabpanel" aria-labelledby="tab-chat" hidden=move || tab.get() != Tab::Chat>
                    <ChatPanel bus=bus/>
                </div>
                <div role="tabpanel" aria-labelledby="tab-sites" hidden=move || tab.get() != Tab::Sites>
                    <SitesPanel bus=bus/>
                </div>
                <div role="tabpanel" aria-labelledby="tab-import" hidden=move || tab.get() != Tab::Import>
                    <ImportPanel bus=bus/>
                </div>
                <div role="tabpanel" aria-labelledby="tab-settings" hidden=move || tab.get() != Tab::Settings>
                    <SettingsPanel bus=bus/>
                </div>
            })}
        </main>
    }
}
