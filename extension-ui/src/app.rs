//! The sidebar's frame: header, the connection, and the panels as tabs, wired to the
//! [`Bus`](crate::bus::Bus). Panels stay mounted when another tab is shown, so a chat answer keeps
//! streaming and a form keeps what was typed.

use leptos::prelude::*;

use crate::bus::Bus;
use crate::panels::asks::AsksPanel;
use crate::panels::chat::ChatPanel;
use crate::panels::connection::ConnectionPanel;
use crate::panels::directory::DirectoryPanel;
use crate::panels::gateway::GatewayPanel;
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
    Gateway,
    Settings,
}

impl Tab {
    const ALL: [Tab; 7] =
        [Tab::Servers, Tab::Directory, Tab::Chat, Tab::Sites, Tab::Import, Tab::Gateway, Tab::Settings];

    fn label(self) -> &'static str {
        match self {
            Tab::Servers => "Servers",
            Tab::Directory => "Directory",
            Tab::Chat => "Chat",
            Tab::Sites => "Sites",
            Tab::Import => "Import",
            Tab::Gateway => "Gateway",
            Tab::Settings => "Settings",
        }
    }

    /// The tab button's id (`tab-servers`, …), which its panel is labelled by.
    fn id(self) -> String {
        format!("tab-{}", self.label().to_lowercase())
    }

    fn panel(self, bus: Bus) -> AnyView {
        match self {
            Tab::Servers => view! { <ServersPanel bus=bus/> }.into_any(),
            Tab::Directory => view! { <DirectoryPanel bus=bus/> }.into_any(),
            Tab::Chat => view! { <ChatPanel bus=bus/> }.into_any(),
            Tab::Sites => view! { <SitesPanel bus=bus/> }.into_any(),
            Tab::Import => view! { <ImportPanel bus=bus/> }.into_any(),
            Tab::Gateway => view! { <GatewayPanel bus=bus/> }.into_any(),
            Tab::Settings => view! { <SettingsPanel bus=bus/> }.into_any(),
        }
    }
}

#[component]
pub fn App() -> impl IntoView {
    let bus = Bus::connect();
    let status = bus.status();
    let retry = move || bus.reconnect();
    let tab = RwSignal::new(if on_chat_hash() { Tab::Chat } else { Tab::Servers });
    // A chat the shown tab's site opened brings the Chat panel forward, once per chat.
    let shown_chats = RwSignal::new(Vec::<String>::new());
    Effect::new(move |_| {
        let page = bus.active_tab().get();
        let _ = bus.revision().get();
        leptos::task::spawn_local(async move {
            let Some(page) = page else { return };
            let filter = harbor_protocol::api::webmcp::TabFilter { tab_id: Some(page) };
            if let Ok(Some(chat)) = bus.call::<harbor_protocol::api::byoc::SiteChatsGet>(filter).await {
                if !shown_chats.get_untracked().contains(&chat.chat_id) {
                    shown_chats.update(|s| s.push(chat.chat_id));
                    tab.set(Tab::Chat);
                }
            }
        });
    });
    view! {
        <header class="top">
            <img src="../icons/harbor.svg" alt="" width="22" height="22"/>
            <h1>"Harbor"</h1>
        </header>
        <main>
            <ConnectionPanel status=status on_retry=retry/>
            <AsksPanel bus=bus/>
            {move || (status.get().state == ConnectionState::Connected).then(|| view! {
                <nav class="tabs" role="tablist" aria-label="Harbor">
                    {Tab::ALL.into_iter().map(|which| view! {
                        <button
                            type="button"
                            role="tab"
                            id=which.id()
                            aria-selected=move || (tab.get() == which).to_string()
                            class:active=move || tab.get() == which
                            on:click=move |_| tab.set(which)
                        >
                            {which.label()}
                        </button>
                    }).collect_view()}
                </nav>
                {Tab::ALL.into_iter().map(|which| view! {
                    <div role="tabpanel" aria-labelledby=which.id() hidden=move || tab.get() != which>
                        {which.panel(bus)}
                    </div>
                }).collect_view()}
            })}
        </main>
    }
}

/// Harbor opened as `…/sidebar/index.html#chat` (in a tab, for a site's chat) starts on Chat.
fn on_chat_hash() -> bool {
    window().location().hash().is_ok_and(|h| h == "#chat")
}
