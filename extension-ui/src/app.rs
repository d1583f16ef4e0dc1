//! The sidebar's frame, designed for the sidebar's 320–420 px: a header with the connection's
//! status line, one navigation row (four tabs with icons, the rest under "More"), and the panels,
//! wired to the [`Bus`](crate::bus::Bus). Panels stay mounted when another tab is shown, so a chat answer keeps
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
use crate::panels::tasks::TasksPanel;
use harbor_protocol::ConnectionState;

#[derive(Clone, Copy, PartialEq)]
enum Tab {
    Chat,
    Servers,
    Directory,
    Sites,
    Import,
    Gateway,
    Settings,
}

impl Tab {
    const ALL: [Tab; 7] =
        [Tab::Chat, Tab::Servers, Tab::Directory, Tab::Sites, Tab::Import, Tab::Gateway, Tab::Settings];
    /// The tabs in the navigation row; the others are under "More".
    const SHOWN: [Tab; 4] = [Tab::Chat, Tab::Servers, Tab::Directory, Tab::Sites];
    const MORE: [Tab; 3] = [Tab::Import, Tab::Gateway, Tab::Settings];

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

    /// The tab's icon: one SVG path on a 20-unit square, drawn in the text colour.
    fn icon(self) -> &'static str {
        match self {
            Tab::Chat => "M3 4h14v10H9l-4 3v-3H3z",
            Tab::Servers => "M3 3h14v5H3zM3 12h14v5H3zM6 5.5h.01M6 14.5h.01",
            Tab::Directory => "M3 3h6v6H3zM11 3h6v6h-6zM3 11h6v6H3zM11 11h6v6h-6z",
            Tab::Sites => "M10 3a7 7 0 1 0 0 14a7 7 0 1 0 0-14M3 10h14M10 3c3 3.5 3 10.5 0 14M10 3c-3 3.5-3 10.5 0 14",
            _ => "",
        }
    }

    /// The tab button's id (`tab-servers`, …), which its panel is labelled by.
    fn id(self) -> String {
        format!("tab-{}", self.label().to_lowercase())
    }

    fn panel(self, bus: Bus, go: Callback<Tab>) -> AnyView {
        match self {
            Tab::Servers => view! { <ServersPanel bus=bus/> }.into_any(),
            Tab::Directory => view! { <DirectoryPanel bus=bus/> }.into_any(),
            Tab::Chat => {
                let to_directory = Callback::new(move |()| go.run(Tab::Directory));
                view! { <ChatPanel bus=bus on_find_servers=to_directory/> }.into_any()
            }
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
    let tab = RwSignal::new(Tab::Chat);
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
    // Chat comes first: it is what Harbor is for once a server or a model exists, and its empty
    // state says the next step when neither does.
    let more_open = RwSignal::new(false);
    let go = Callback::new(move |which: Tab| {
        tab.set(which);
        more_open.set(false);
    });
    let tab_button = move |which: Tab, in_menu: bool| {
        view! {
            <button
                type="button"
                role="tab"
                id=which.id()
                class:in-menu=in_menu
                aria-selected=move || (tab.get() == which).to_string()
                class:active=move || tab.get() == which
                on:click=move |_| go.run(which)
            >
                {(!in_menu).then(|| view! {
                    <svg viewBox="0 0 20 20" width="16" height="16" aria-hidden="true">
                        <path d=which.icon() fill="none" stroke="currentColor" stroke-width="1.5" stroke-linejoin="round"/>
                    </svg>
                })}
                <span>{which.label()}</span>
            </button>
        }
    };
    view! {
        <header class="top">
            <img src="../icons/harbor.svg" alt="" width="20" height="20"/>
            <h1>"Harbor"</h1>
            <ConnectionPanel status=status on_retry=retry/>
        </header>
        <main>
            <AsksPanel bus=bus/>
            <TasksPanel bus=bus/>
            {move || (status.get().state == ConnectionState::Connected).then(|| view! {
                <nav class="tabs" role="tablist" aria-label="Harbor">
                    {Tab::SHOWN.into_iter().map(|which| tab_button(which, false)).collect_view()}
                    <div class="more">
                        <button
                            type="button"
                            class="more-button"
                            class:active=move || Tab::MORE.contains(&tab.get())
                            aria-haspopup="true"
                            aria-expanded=move || more_open.get().to_string()
                            on:click=move |_| more_open.update(|open| *open = !*open)
                        >
                            <svg viewBox="0 0 20 20" width="16" height="16" aria-hidden="true">
                                <path d="M4 10h.01M10 10h.01M16 10h.01" fill="none" stroke="currentColor" stroke-width="3" stroke-linecap="round"/>
                            </svg>
                            <span>{move || Tab::MORE.into_iter().find(|t| *t == tab.get()).map_or("More", Tab::label)}</span>
                        </button>
                        <div class="more-menu" hidden=move || !more_open.get()>
                            {Tab::MORE.into_iter().map(|which| tab_button(which, true)).collect_view()}
                        </div>
                    </div>
                </nav>
                {Tab::ALL.into_iter().map(|which| view! {
                    <div role="tabpanel" aria-labelledby=which.id() hidden=move || tab.get() != which>
                        {which.panel(bus, go)}
                    </div>
                }).collect_view()}
            })}
        </main>
    }
}
