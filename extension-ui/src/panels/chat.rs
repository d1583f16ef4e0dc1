//! The chat panel: sessions, a model picker, the conversation with tool calls and results as
//! collapsible cards, streaming answers and a stop button; and, when no model is reachable, what
//! Harbor tried and a form to point it at a model server.
//!
//! The shown tab's own tools (WebMCP) are offered beside the servers' when the user turns them
//! on for that page; a card of such a call says which page it ran in, and whether the page
//! marked its output untrusted.
//!
//! A turn is one `chat.send` whose stream events (`token`, `tool_call`, `tool_result`, `status`,
//! `error`) update the conversation as they arrive; stopping cancels the request, which stops the
//! model and any tool call in flight.

use harbor_protocol::api::byoc::{SiteChat, SiteChatsGet};
use harbor_protocol::api::chat::{
    ChatSend, ChatSessionsCreate, ChatSessionsDelete, ChatSessionsGet, ChatSessionsList, ChatSessionsRename,
    CreateSession, PageContext, RenameSession, RunEvent, Send as SendTurn, SessionInfo, SkillRef, StoredMessage,
};
use harbor_protocol::api::llm::{
    LlmProviders, LlmSelect, LlmSetProvider, ProviderKind, ProvidersStatus, Role, Select, SetProvider,
};
use harbor_protocol::api::servers::ServersList;
use harbor_protocol::api::tools::{views, ServerFilter, SkillsList};
use harbor_protocol::api::webmcp::{PageToolsList, TabFilter, TabTools};
use harbor_protocol::api::{Empty, Id};
use leptos::prelude::*;
use leptos::task::spawn_local;
use serde_json::Value;

use crate::bus::Bus;
use crate::markdown::Markdown;
use crate::panels::app_view::AppView;
use crate::panels::result::ResultContent;

/// A server's skill, as listed and as loaded into the conversation.
#[derive(Clone, Debug, PartialEq)]
struct LoadedSkill {
    server_id: String,
    uri: String,
    name: String,
    description: String,
}

/// A call code mode's code made: its id, the tool, its arguments, and how it ended.
#[derive(Clone, Debug, PartialEq)]
struct InnerCall {
    id: String,
    tool: String,
    args: String,
    outcome: Option<Result<String, String>>,
}

/// One thing shown in the conversation.
#[derive(Clone, Debug, PartialEq)]
enum Item {
    User(String),
    Assistant(String),
    Tool {
        id: String,
        tool: String,
        args: String,
        outcome: Option<Result<String, String>>,
        /// A page's own tool: the page it ran in.
        page: Option<String>,
        untrusted: bool,
        /// The tool's MCP App view (`ui://…`), and the call as its view gets it.
        ui: Option<String>,
        call: Value,
        result: Option<Value>,
        /// The server's last progress report while it runs: done, of how many, and what.
        progress: Option<(f64, Option<f64>, Option<String>)>,
        /// The calls code mode's code made inside it, as they were made.
        inner: Vec<InnerCall>,
    },
    Notice(String),
    Failure(String),
}

#[component]
pub fn ChatPanel(
    bus: Bus,
    /// Shows the directory (the empty state's next step when there are no servers).
    on_find_servers: Callback<()>,
) -> impl IntoView {
    // How many servers the user has, for the empty state.
    let server_count = RwSignal::new(None::<usize>);
    Effect::new(move |_| {
        let _ = bus.revision().get();
        spawn_local(async move {
            if let Ok(list) = bus.call::<ServersList>(Empty {}).await {
                server_count.set(Some(list.len()));
            }
        });
    });
    let providers = RwSignal::new(None::<Result<ProvidersStatus, String>>);
    let sessions = RwSignal::new(Vec::<SessionInfo>::new());
    let current = RwSignal::new(None::<String>);
    let items = RwSignal::new(Vec::<Item>::new());
    let running = RwSignal::new(None::<i64>);
    let draft = RwSignal::new(String::new());
    // The page the user attached to the conversation ("Ask about this page"), sent with each
    // message until removed.
    let attached = RwSignal::new(None::<PageContext>);
    let reading = RwSignal::new(None::<String>);
    let attach_page = move || {
        reading.set(Some("Reading the page…".into()));
        spawn_local(async move {
            match bus.read_page().await {
                Ok(page) => {
                    attached.set(Some(page));
                    reading.set(None);
                }
                Err(error) => reading.set(Some(error)),
            }
        });
    };
    // The servers' skills (SEP-2640), and the ones the user loaded into this conversation.
    let skills = RwSignal::new(Vec::<LoadedSkill>::new());
    let loaded = RwSignal::new(Vec::<LoadedSkill>::new());
    let choosing_skills = RwSignal::new(false);
    Effect::new(move |_| {
        let _ = bus.revision().get();
        spawn_local(async move {
            if let Ok(list) = bus.call::<SkillsList>(ServerFilter::default()).await {
                skills.set(
                    list.iter()
                        .map(|listed| {
                            let skill: views::Skill = listed.view();
                            LoadedSkill {
                                server_id: listed.server_id.clone(),
                                uri: skill.uri,
                                name: skill.frontmatter.name,
                                description: skill.frontmatter.description,
                            }
                        })
                        .collect(),
                );
            }
        });
    });
    // The tab whose page tools the user let this chat use.
    let page_tab = RwSignal::new(None::<i64>);
    // The chat the shown tab's site opened, if any: only its tools, and its instructions.
    let site_chat = RwSignal::new(None::<SiteChat>);
    // Site chats whose first message was put in the composer already.
    let drafted = RwSignal::new(Vec::<String>::new());
    Effect::new(move |_| {
        let tab = bus.active_tab().get();
        let _ = bus.revision().get();
        spawn_local(async move {
            let chat = match tab {
                Some(tab) => bus.call::<SiteChatsGet>(TabFilter { tab_id: Some(tab) }).await.ok().flatten(),
                None => None,
            };
            if let Some(chat) = &chat {
                if !drafted.get_untracked().contains(&chat.chat_id) {
                    drafted.update(|d| d.push(chat.chat_id.clone()));
                    // A new conversation for the site, its first message waiting for the user.
                    current.set(None);
                    items.set(Vec::new());
                    draft.set(chat.initial_message.clone().unwrap_or_default());
                }
            }
            site_chat.set(chat);
        });
    });

    let load_providers = move || {
        spawn_local(async move {
            let answer = bus.call::<LlmProviders>(Empty {}).await;
            providers.set(Some(answer.map_err(|e| e.message)));
        })
    };
    // Lists asked for overlap (a turn's news, a rename): only the newest asked is shown, so an
    // older answer arriving late cannot bring back an old title.
    let listing = StoredValue::new(0u64);
    let load_sessions = move || {
        listing.update_value(|n| *n += 1);
        let asked = listing.get_value();
        spawn_local(async move {
            if let Ok(list) = bus.call::<ChatSessionsList>(Empty {}).await {
                if listing.get_value() == asked {
                    sessions.set(list);
                }
            }
        })
    };
    // A turn of the open conversation runs in the bridge, started before this sidebar opened
    // (it was closed meanwhile): its answer is stored when it ends, and `chat.changed` says so.
    let elsewhere = RwSignal::new(false);
    // The conversation whose turn this sidebar runs (or ran last, until the bridge says it
    // ended): its news is this sidebar's own stream already.
    let own_turn = RwSignal::new(None::<String>);
    let open_session = move |id: String| {
        current.set(Some(id.clone()));
        spawn_local(async move {
            match bus.call::<ChatSessionsGet>(Id::new(id.clone())).await {
                Ok(stored) => {
                    items.set(items_from(&stored.messages));
                    elsewhere.set(stored.running && running.get_untracked().is_none());
                }
                // Deleted meanwhile (a conversation remembered from before): a new one instead.
                Err(_) if current.get_untracked().as_deref() == Some(id.as_str()) => {
                    current.set(None);
                    items.set(Vec::new());
                }
                Err(_) => {}
            }
        })
    };
    // The open conversation is kept across closing and opening the sidebar.
    Effect::new(move |_| remembered::set(current.get().as_deref()));
    if let Some(id) = remembered::get() {
        open_session(id);
    }
    // A turn began or ended somewhere: the open conversation, unless this sidebar streams it,
    // is read again; the list too (a first message names a new conversation).
    Effect::new(move |_| {
        let Some(news) = bus.chat_news().get() else { return };
        let own = own_turn.get_untracked().as_deref() == Some(news.session_id.as_str());
        if own && !news.running {
            own_turn.set(None);
        }
        if !own && current.get_untracked().as_deref() == Some(news.session_id.as_str()) {
            open_session(news.session_id);
        }
        load_sessions();
    });
    // Again whenever the providers change (here, in Settings, or from the terminal).
    Effect::new(move |_| {
        bus.models().track();
        load_providers();
    });
    load_sessions();

    let send_text = move |text: String| {
        if text.is_empty() || running.get_untracked().is_some() {
            return;
        }
        items.update(|list| list.push(Item::User(text.clone())));
        spawn_local(async move {
            let session = match current.get_untracked() {
                Some(id) => id,
                None => match bus.call::<ChatSessionsCreate>(CreateSession::default()).await {
                    Ok(created) => {
                        let id = created.id;
                        current.set(Some(id.clone()));
                        id
                    }
                    Err(error) => {
                        items.update(|list| list.push(Item::Failure(error.message)));
                        return;
                    }
                },
            };
            let turn = SendTurn {
                session_id: session,
                text,
                provider: None,
                model: None,
                tools: None,
                page_tab: site_chat.get_untracked().map(|c| c.tab_id).or(page_tab.get_untracked()),
                site_chat: site_chat.get_untracked().map(|c| c.chat_id),
                page: attached.get_untracked(),
                skills: loaded
                    .get_untracked()
                    .into_iter()
                    .map(|s| SkillRef { server_id: s.server_id, uri: s.uri })
                    .collect(),
            };
            own_turn.set(Some(turn.session_id.clone()));
            elsewhere.set(false);
            let (id, reply) = bus.call_streaming::<ChatSend>(turn, move |event| {
                items.update(|list| apply(list, event));
            });
            running.set(Some(id));
            let outcome = reply.await;
            running.set(None);
            // Refused before it began (the conversation is busy elsewhere): no news will come.
            if matches!(&outcome, Err(e) if e.code == harbor_protocol::ErrorCode::InvalidRequest) {
                own_turn.set(None);
            }
            // A model answered: if the model bar still says none is reachable, it is out of date.
            let none_shown = providers
                .get_untracked()
                .is_some_and(|p| p.map_or(true, |state| !state.providers.iter().any(|p| p.available)));
            if outcome.is_ok() && none_shown {
                load_providers();
            }
            if let Err(error) = outcome {
                let message = if error.code == harbor_protocol::ErrorCode::Aborted {
                    "Stopped.".to_owned()
                } else {
                    error.message
                };
                items.update(|list| {
                    if list.last() != Some(&Item::Failure(message.clone())) {
                        list.push(Item::Failure(message));
                    }
                });
                if error.code == harbor_protocol::ErrorCode::ModelUnavailable {
                    load_providers();
                }
            }
            load_sessions();
        });
    };
    let send = move || {
        let text = draft.get_untracked().trim().to_owned();
        if !text.is_empty() && running.get_untracked().is_none() {
            draft.set(String::new());
            send_text(text);
        }
    };
    // An app view's `ui/message`: the user's next message, unless a turn is running.
    let from_app = Callback::new(move |text: String| send_text(text));
    let stop = move || {
        if let Some(id) = running.get_untracked() {
            bus.cancel(id);
        }
    };

    view! {
        <section class="card chat" aria-labelledby="chat-title">
            <h2 id="chat-title">"Chat"</h2>
            <ModelBar bus=bus providers=providers on_change=load_providers/>
            {move || match site_chat.get() {
                Some(chat) => view! {
                    <div class="site-chat" data-origin=chat.origin.clone() role="status">
                        <p>{format!("Opened by {}. This chat uses only that page's tools.", chat.origin)}</p>
                        {chat.system_prompt.map(|p| view! {
                            <p class="help">{format!("The page's instructions: {}", p.chars().take(300).collect::<String>())}</p>
                        })}
                    </div>
                }.into_any(),
                None => view! { <PageToolsBar bus=bus chosen=page_tab/> }.into_any(),
            }}
            <div class="chat-sessions">
                <label for="chat-session">"Conversation"</label>
                <select
                    id="chat-session"
                    on:change=move |ev| {
                        let id = event_target_value(&ev);
                        if id.is_empty() {
                            current.set(None);
                            items.set(Vec::new());
                            elsewhere.set(false);
                        } else {
                            open_session(id);
                        }
                    }
                    prop:value=move || current.get().unwrap_or_default()
                >
                    <option value="">"New conversation"</option>
                    {move || sessions.get().into_iter().map(|s| {
                        let id = s.id;
                        let title = if s.title.is_empty() { "Untitled".to_owned() } else { s.title };
                        let chosen = id.clone();
                        view! { <option value=id selected=move || current.get().as_deref() == Some(chosen.as_str())>{title}</option> }
                    }).collect_view()}
                </select>
            </div>
            {move || current.get().map(|id| view! { <SessionActions bus=bus id=id current=current items=items on_change=load_sessions/> })}
            {move || elsewhere.get().then(|| view! {
                <p class="help still-answering" role="status">
                    "Still answering: this turn began before the sidebar was opened. Its answer shows here when it is done; its running tasks are listed above."
                </p>
            })}
            <ol class="conversation" aria-live="polite">
                <For
                    each=move || items.get().into_iter().enumerate()
                    key=|(index, item)| item.key(*index)
                    children=move |(_, item)| view_item(item, bus, from_app)
                />
                {move || items.get().is_empty().then(|| match (site_chat.get().is_some(), server_count.get()) {
                    (true, _) => view! { <li class="help empty">"Ask anything. The model can use this page's tools."</li> }.into_any(),
                    (false, Some(0)) => view! {
                        <li class="help empty no-servers">
                            <p>"The chat uses the tools of your MCP servers, and you have none yet."</p>
                            <button type="button" on:click=move |_| on_find_servers.run(())>"Browse the directory"</button>
                        </li>
                    }.into_any(),
                    _ => view! { <li class="help empty">"Ask anything. The model can use the tools of your running servers."</li> }.into_any(),
                })}
            </ol>
            <div class="page-context">
                {move || match attached.get() {
                    Some(page) => {
                        let title = if page.title.is_empty() { page.url.clone() } else { page.title.clone() };
                        view! {
                            <Chip class="chip" label=format!("Page: {title}") about=page.url.clone()
                                remove=format!("Stop asking about {title}") on_remove=move || attached.set(None)
                                attr:data-url=page.url.clone()/>
                        }.into_any()
                    }
                    None => view! {
                        <button type="button" class="ask-page" disabled=move || bus.active_tab().get().is_none()
                            title="Adds the readable text of the page you are looking at to your next messages"
                            on:click=move |_| attach_page()>"Ask about this page"</button>
                    }.into_any(),
                }}
                {move || loaded.get().into_iter().map(|skill| {
                    let gone = skill.clone();
                    view! {
                        <Chip label=format!("Skill: {}", skill.name) about=skill.description.clone()
                            remove=format!("Unload the skill {}", skill.name)
                            on_remove=move || loaded.update(|l| l.retain(|s| *s != gone))
                            class="chip skill-chip" attr:data-skill=skill.name.clone()/>
                    }
                }).collect_view()}
                {move || (!skills.get().is_empty()).then(|| view! {
                    <button type="button" class="choose-skills" aria-expanded=move || choosing_skills.get().to_string()
                        on:click=move |_| choosing_skills.update(|c| *c = !*c)>
                        {move || format!("Skills ({})", skills.get().len())}
                    </button>
                })}
                {move || reading.get().map(|note| view! { <span class="help" role="status">{note}</span> })}
            </div>
            {move || choosing_skills.get().then(|| view! {
                <ul class="skill-list" aria-label="Skills your servers offer">
                    {skills.get().into_iter().map(|skill| {
                        let id = format!("skill-{}-{}", skill.server_id, skill.name);
                        let toggled = skill.clone();
                        let shown = skill.clone();
                        view! {
                            <li>
                                <input type="checkbox" id=id.clone()
                                    prop:checked=move || loaded.get().contains(&shown)
                                    on:change=move |ev| {
                                        let on = event_target_checked(&ev);
                                        loaded.update(|l| {
                                            l.retain(|s| *s != toggled);
                                            if on {
                                                l.push(toggled.clone());
                                            }
                                        });
                                    }/>
                                <label for=id>
                                    <strong>{skill.name.clone()}</strong>
                                    {format!(" · {} — {}", skill.server_id, skill.description)}
                                </label>
                            </li>
                        }
                    }).collect_view()}
                </ul>
            })}
            <form class="composer" on:submit=move |ev| { ev.prevent_default(); send(); }>
                <label for="chat-input" class="visually-hidden">"Message"</label>
                <textarea
                    id="chat-input"
                    rows="2"
                    placeholder="Message (Enter sends, Shift+Enter new line, Esc stops)"
                    prop:value=move || draft.get()
                    on:input=move |ev| draft.set(event_target_value(&ev))
                    on:keydown=move |ev| match ev.key().as_str() {
                        "Enter" if !ev.shift_key() => {
                            ev.prevent_default();
                            send();
                        }
                        "Escape" => stop(),
                        // ↑ in an empty composer brings the last message back to edit.
                        "ArrowUp" if draft.get_untracked().is_empty() => {
                            let last = items.get_untracked().iter().rev().find_map(|item| match item {
                                Item::User(text) => Some(text.clone()),
                                _ => None,
                            });
                            if let Some(text) = last {
                                ev.prevent_default();
                                draft.set(text);
                            }
                        }
                        _ => {}
                    }
                ></textarea>
                {move || match running.get() {
                    Some(_) => view! { <button type="button" class="stop" on:click=move |_| stop()>"Stop"</button> }.into_any(),
                    None => view! { <button type="submit">"Send"</button> }.into_any(),
                }}
            </form>
        </section>
    }
}

/// Something attached to the conversation (a page, a skill): its label, what it is on hover, and
/// a button that takes it away.
#[component]
fn Chip(
    class: &'static str,
    label: String,
    about: String,
    /// The remove button's name for a screen reader.
    remove: String,
    on_remove: impl Fn() + 'static,
) -> impl IntoView {
    view! {
        <span class=class title=about>
            <span class="chip-label">{label}</span>
            <button type="button" class="chip-remove" aria-label=remove on:click=move |_| on_remove()>"×"</button>
        </span>
    }
}

/// The shown tab's own tools (WebMCP), and the user's choice to let the chat use them. The
/// choice holds for that page only: it lapses when another tab is shown or the page's tools go.
#[component]
fn PageToolsBar(bus: Bus, chosen: RwSignal<Option<i64>>) -> impl IntoView {
    let offered = RwSignal::new(None::<TabTools>);
    Effect::new(move |_| {
        let tab = bus.active_tab().get();
        let _ = bus.revision().get();
        spawn_local(async move {
            let listed = match tab {
                Some(tab) => bus
                    .call::<PageToolsList>(TabFilter { tab_id: Some(tab) })
                    .await
                    .ok()
                    .and_then(|tabs| tabs.into_iter().next()),
                None => None,
            };
            let still = listed.as_ref().map(|t| t.tab_id);
            if chosen.get_untracked().is_some() && chosen.get_untracked() != still {
                chosen.set(None);
            }
            offered.set(listed);
        });
    });
    move || {
        offered.get().map(|tab| {
            let id = tab.tab_id;
            let names: Vec<String> = tab
                .tools
                .iter()
                .map(|t| t.title.clone().unwrap_or_else(|| t.name.trim_start_matches("page/").to_owned()))
                .collect();
            let label = format!("Let the chat use this page's tools ({}): {}", tab.origin, names.join(", "));
            view! {
                <div class="page-tools" data-origin=tab.origin.clone()>
                    <label>
                        <input
                            type="checkbox"
                            prop:checked=move || chosen.get() == Some(id)
                            on:change=move |ev| chosen.set(event_target_checked(&ev).then_some(id))
                        />
                        {label}
                    </label>
                </div>
            }
        })
    }
}

/// Rename or delete the open conversation.
#[component]
fn SessionActions(
    bus: Bus,
    id: String,
    current: RwSignal<Option<String>>,
    items: RwSignal<Vec<Item>>,
    on_change: impl Fn() + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let renaming = RwSignal::new(None::<String>);
    let confirm = RwSignal::new(false);
    let failure = RwSignal::new(None::<String>);
    let rename_id = id.clone();
    let rename = move || {
        let Some(title) = renaming.get_untracked() else { return };
        let id = rename_id.clone();
        spawn_local(async move {
            match bus.call::<ChatSessionsRename>(RenameSession { id, title }).await {
                Ok(_) => {
                    renaming.set(None);
                    failure.set(None);
                    on_change();
                }
                Err(error) => failure.set(Some(error.message)),
            }
        });
    };
    let delete = move || {
        if !confirm.get_untracked() {
            confirm.set(true);
            return;
        }
        let id = id.clone();
        spawn_local(async move {
            match bus.call::<ChatSessionsDelete>(Id::new(id)).await {
                Ok(_) => {
                    current.set(None);
                    items.set(Vec::new());
                    on_change();
                }
                Err(error) => failure.set(Some(error.message)),
            }
        });
    };
    view! {
        <div class="actions session-actions">
            {move || match renaming.get() {
                Some(title) => {
                    let rename = rename.clone();
                    view! {
                    <form class="rename" on:submit=move |ev| { ev.prevent_default(); rename(); }>
                        <label for="chat-rename" class="visually-hidden">"New title"</label>
                        <input id="chat-rename" type="text" prop:value=title on:input=move |ev| renaming.set(Some(event_target_value(&ev)))/>
                        <button type="submit">"Save"</button>
                        <button type="button" on:click=move |_| renaming.set(None)>"Cancel"</button>
                    </form>
                }.into_any()
                }
                ,
                None => view! {
                    <button type="button" class="rename-session" on:click=move |_| renaming.set(Some(String::new()))>"Rename"</button>
                }.into_any(),
            }}
            <button type="button" class="delete-session" on:click=move |_| delete()>
                {move || if confirm.get() { "Delete for good?" } else { "Delete" }}
            </button>
        </div>
        {move || failure.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
    }
}

/// The active model, a picker, and — when no model server answers — what was tried and a form
/// to name one.
#[component]
fn ModelBar(
    bus: Bus,
    providers: RwSignal<Option<Result<ProvidersStatus, String>>>,
    on_change: impl Fn() + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let kind = RwSignal::new(ProviderKind::Ollama);
    let url = RwSignal::new("http://127.0.0.1:11434".to_owned());
    let failure = RwSignal::new(None::<String>);
    let choose = move |value: String| {
        let Some((provider, model)) = value.split_once('\u{1f}') else { return };
        let params = Select { provider: provider.to_owned(), model: Some(model.to_owned()) };
        spawn_local(async move {
            if let Err(error) = bus.call::<LlmSelect>(params).await {
                failure.set(Some(error.message));
            }
            on_change();
        });
    };
    let connect = move || {
        let params = SetProvider {
            id: "custom".into(),
            kind: kind.get_untracked(),
            name: Some("My model server".into()),
            base_url: url.get_untracked(),
            api_key: None,
        };
        spawn_local(async move {
            let added = bus.call::<LlmSetProvider>(params).await;
            let selected = match added {
                Ok(_) => bus.call::<LlmSelect>(Select { provider: "custom".into(), model: None }).await,
                Err(error) => Err(error),
            };
            failure.set(selected.err().map(|e| e.message));
            on_change();
        });
    };
    view! {
        {move || match providers.get() {
            None => view! { <p class="help">"Looking for model servers…"</p> }.into_any(),
            Some(state) => {
                let (list, active_provider, active_model, failed) = match state {
                    Ok(state) => (
                        state.providers,
                        state.active.provider.unwrap_or_default(),
                        state.active.model.unwrap_or_default(),
                        None,
                    ),
                    Err(error) => (Vec::new(), String::new(), String::new(), Some(error)),
                };
                let available: Vec<_> = list.iter().filter(|p| p.available).cloned().collect();
                if available.is_empty() {
                    let tried: Vec<String> = list.iter().filter_map(|p| p.error.clone()).chain(failed).collect();
                    view! {
                        <div class="no-model" role="status">
                            <p class="state warn"><span class="dot" aria-hidden="true"></span>"No model is reachable"</p>
                            {tried.into_iter().map(|t| view! { <p class="help">{t}</p> }).collect_view()}
                            <BuiltinOffer bus=bus on_ready=on_change/>
                            <form class="model-server" on:submit=move |ev| { ev.prevent_default(); connect(); }>
                                <label for="model-kind">"Model server"</label>
                                <select id="model-kind" on:change=move |ev| kind.set(if event_target_value(&ev) == "openai" { ProviderKind::OpenAi } else { ProviderKind::Ollama })>
                                    <option value="ollama">"Ollama"</option>
                                    <option value="openai">"OpenAI-compatible (LM Studio, llamafile, vLLM…)"</option>
                                </select>
                                <label for="model-url">"URL"</label>
                                <input id="model-url" type="text" prop:value=move || url.get() on:input=move |ev| url.set(event_target_value(&ev))/>
                                <div class="actions">
                                    <button type="submit">"Use this server"</button>
                                    <button type="button" on:click=move |_| on_change()>"Check again"</button>
                                </div>
                            </form>
                        </div>
                    }.into_any()
                } else {
                    let options = available.iter().flat_map(|p| {
                        let provider = p.config.id.clone();
                        let name = p.config.name.clone();
                        p.models.clone().into_iter().map(move |model| {
                            (format!("{provider}\u{1f}{model}"), format!("{model} · {name}"))
                        })
                    }).collect::<Vec<_>>();
                    let selected = if active_model.is_empty() {
                        options.first().map(|(v, _)| v.clone()).unwrap_or_default()
                    } else {
                        format!("{active_provider}\u{1f}{active_model}")
                    };
                    view! {
                        <div class="model-bar">
                            <label for="chat-model">"Model"</label>
                            <select id="chat-model" on:change=move |ev| choose(event_target_value(&ev))>
                                {options.into_iter().map(|(value, label)| {
                                    let is_selected = value == selected;
                                    view! { <option value=value selected=is_selected>{label}</option> }
                                }).collect_view()}
                            </select>
                        </div>
                    }.into_any()
                }
            }
        }}
        {move || failure.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
    }
}

/// Folds one stream event into the conversation.
fn apply(list: &mut Vec<Item>, event: RunEvent) {
    match event {
        RunEvent::Token { token } => match list.last_mut() {
            Some(Item::Assistant(answer)) => answer.push_str(&token),
            _ => list.push(Item::Assistant(token)),
        },
        RunEvent::ToolCall { id, tool, args, parent: Some(parent), .. } => {
            if let Some(Item::Tool { inner, .. }) = find_tool(list, &parent) {
                inner.push(InnerCall { id, tool, args: pretty(&args), outcome: None });
            }
        }
        RunEvent::ToolCall { id, tool, args, page, ui, parent: None } => list.push(Item::Tool {
            id,
            tool,
            args: pretty(&args),
            outcome: None,
            page,
            untrusted: false,
            ui,
            call: args,
            result: None,
            progress: None,
            inner: Vec::new(),
        }),
        RunEvent::Progress { id, progress: done, total, message } => {
            if let Some(Item::Tool { progress, .. }) = find_tool(list, &id) {
                *progress = Some((done, total, message));
            }
        }
        RunEvent::ToolResult { id, result: value, error, parent: Some(parent), .. } => {
            if let Some(Item::Tool { inner, .. }) = find_tool(list, &parent) {
                if let Some(call) = inner.iter_mut().find(|c| c.id == id) {
                    call.outcome = Some(outcome_of(value.as_ref(), error));
                }
            }
        }
        RunEvent::ToolResult { id, result: value, error, untrusted: marked, parent: None, .. } => {
            let outcome = outcome_of(value.as_ref(), error);
            if let Some(Item::Tool { outcome: slot, untrusted, result, .. }) = find_tool(list, &id) {
                *slot = Some(outcome);
                *untrusted = marked;
                *result = value;
            }
        }
        RunEvent::Status { message, .. } => list.push(Item::Notice(message)),
        RunEvent::Error { error } => list.push(Item::Failure(error.message)),
        RunEvent::Final { .. } => {}
    }
}

/// How a tool call ended, as its card shows it: the result's text, or the error's message.
fn outcome_of(result: Option<&Value>, error: Option<harbor_protocol::ErrorObject>) -> Result<String, String> {
    match error {
        Some(error) => Err(error.message),
        None => Ok(result.map(result_text).unwrap_or_default()),
    }
}

/// A card's state (its class and words) and what it shows as the result.
fn state_of(outcome: Option<Result<String, String>>) -> (&'static str, String) {
    match outcome {
        None => ("running", "Running…".to_owned()),
        Some(Ok(text)) => ("done", text),
        Some(Err(error)) => ("failed", error),
    }
}

/// The tool card of the call `id`, the latest one.
fn find_tool<'a>(list: &'a mut [Item], id: &str) -> Option<&'a mut Item> {
    list.iter_mut().rev().find(|item| matches!(item, Item::Tool { id: i, .. } if i == id))
}

/// The conversation as stored.
fn items_from(messages: &[StoredMessage]) -> Vec<Item> {
    let mut list = Vec::new();
    for stored in messages {
        let message = &stored.message;
        let content = message.content.clone();
        match message.role {
            Role::User if content.starts_with("Tool result for ") => {
                list.push(Item::Notice(content.lines().next().unwrap_or_default().to_owned()))
            }
            Role::User => list.push(Item::User(content)),
            Role::Assistant => {
                if !content.is_empty() {
                    list.push(Item::Assistant(content));
                }
                for call in &message.tool_calls {
                    list.push(Item::Tool {
                        id: call.id.clone(),
                        tool: call.name.replacen("__", "/", 1),
                        args: pretty(&call.arguments),
                        outcome: None,
                        page: None,
                        untrusted: false,
                        // A stored conversation keeps the result's text only: its view is not
                        // opened again.
                        ui: None,
                        call: Value::Null,
                        result: None,
                        progress: None,
                        inner: Vec::new(),
                    });
                }
            }
            Role::Tool => {
                let id = message.tool_call_id.as_deref().unwrap_or_default();
                if let Some(Item::Tool { outcome, .. }) =
                    list.iter_mut().rev().find(|item| matches!(item, Item::Tool { id: i, .. } if i == id))
                {
                    *outcome = Some(Ok(content));
                }
            }
            Role::System => {}
        }
    }
    list
}

impl Item {
    /// What `<For>` tells items apart by: a card keeps its app view while the answer streams.
    fn key(&self, index: usize) -> String {
        match self {
            Item::Tool { id, outcome, progress, inner, .. } => {
                let step = progress.as_ref().map(|(done, _, _)| done.to_string()).unwrap_or_default();
                let ended = inner.iter().filter(|c| c.outcome.is_some()).count();
                format!("{index}:tool:{id}:{}:{step}:{}:{ended}", outcome.is_some(), inner.len())
            }
            Item::Assistant(text) => format!("{index}:assistant:{}", text.len()),
            _ => format!("{index}"),
        }
    }
}

fn view_item(item: Item, bus: Bus, on_message: Callback<String>) -> AnyView {
    match item {
        Item::User(text) => {
            view! { <li class="msg user"><span class="visually-hidden">"You: "</span>{text}</li> }.into_any()
        }
        Item::Assistant(text) => view! { <li class="msg assistant"><Markdown text=text/></li> }.into_any(),
        Item::Tool { tool, args, outcome, page, untrusted, ui, call, result, progress, inner, .. } => {
            // A running call with progress reports: a bar (determinate when the server gave a
            // total) and its message.
            let bar = progress.filter(|_| outcome.is_none()).map(|(done, total, message)| {
                let label = message.unwrap_or_else(|| match total {
                    Some(total) => format!("{done} of {total}"),
                    None => format!("{done}"),
                });
                view! {
                    <div class="tool-progress">
                        {match total {
                            Some(total) => view! { <progress value=done max=total aria-label=format!("{tool}: {label}")></progress> }.into_any(),
                            None => view! { <progress aria-label=format!("{tool}: {label}")></progress> }.into_any(),
                        }}
                        <span class="help">{label.clone()}</span>
                    </div>
                }
            });
            let app = match (&ui, &result, &outcome) {
                (Some(_), Some(result), Some(Ok(_))) => Some(view! {
                    <AppView bus=bus tool=tool.clone() args=call.clone() result=result.clone() on_message=Some(on_message)/>
                }),
                _ => None,
            };
            let (state, body) = state_of(outcome);
            let place = page.as_ref().map(|origin| format!(" in the page at {origin}")).unwrap_or_default();
            // A conversation read back from storage has only the run's list of calls.
            let no_inner = inner.is_empty();
            let marked = if untrusted { " untrusted" } else { "" };
            view! {
                <li class=format!("msg tool-card {state}{marked}") data-tool=tool.clone() data-page=page.clone()>
                    <details>
                        <summary>
                            {format!("Tool {tool}{place} — {state}")}
                            {untrusted.then(|| view! {
                                <span class="badge untrusted" title="The page says this output is content it does not vouch for; the model was told to treat it as data">"untrusted content"</span>
                            })}
                        </summary>
                        {match code_of(&tool, &call) {
                            // Code mode: the code the model wrote, as code.
                            Some(code) => view! { <h3>"Code"</h3><pre class="code"><code>{code}</code></pre> }.into_any(),
                            None => view! { <h3>"Arguments"</h3><pre>{args}</pre> }.into_any(),
                        }}
                        {(!inner.is_empty()).then(|| view! {
                            <h3>"Tool calls the code made"</h3>
                            <ol class="code-calls">{inner.into_iter().map(view_inner).collect_view()}</ol>
                        })}
                        {result.as_ref().map(code_calls).filter(|calls| !calls.is_empty() && no_inner).map(|calls| view! {
                            <h3>"Tool calls the code made"</h3>
                            <ol class="code-calls">
                                {calls.into_iter().map(|(tool, outcome)| view! {
                                    <li class=if outcome == "ok" { "ok" } else { "failed" }>{format!("{tool} — {outcome}")}</li>
                                }).collect_view()}
                            </ol>
                        })}
                        <h3>"Result"</h3>
                        {match (state, result) {
                            // Code mode's run: what the code returned, readable, and what it logged.
                            ("done", Some(result)) if code_of(&tool, &call).is_some() && result["structuredContent"].is_object() => {
                                let ran = &result["structuredContent"];
                                let logs: Vec<String> = ran["logs"].as_array().into_iter().flatten()
                                    .filter_map(|l| l.as_str().map(str::to_owned)).collect();
                                view! {
                                    <pre class="tool-result">{pretty(&ran["result"])}</pre>
                                    {(!logs.is_empty()).then(|| view! { <h3>"Console"</h3><pre class="code-logs">{logs.join("\n")}</pre> })}
                                }.into_any()
                            }
                            ("done", Some(result)) => view! { <ResultContent result=result/> }.into_any(),
                            _ => view! { <pre class="tool-result">{body}</pre> }.into_any(),
                        }}
                    </details>
                    {bar}
                    {app}
                </li>
            }
            .into_any()
        }
        Item::Notice(text) => view! { <li class="msg notice help">{text}</li> }.into_any(),
        Item::Failure(text) => view! { <li class="msg error" role="alert">{text}</li> }.into_any(),
    }
}

/// A call code mode's code made, as a card of its own inside its `execute_code` card.
fn view_inner(call: InnerCall) -> impl IntoView {
    let (state, body) = state_of(call.outcome);
    view! {
        <li class=format!("tool-card inner {state}") data-tool=call.tool.clone()>
            <details>
                <summary>{format!("{} — {state}", call.tool)}</summary>
                <h3>"Arguments"</h3>
                <pre>{call.args}</pre>
                <h3>"Result"</h3>
                <pre class="tool-result">{body}</pre>
            </details>
        </li>
    }
}

/// The code of a code-mode `execute_code` call (Harbor's own tool), if this is one.
fn code_of(tool: &str, call: &Value) -> Option<String> {
    (tool == "harbor/execute_code").then(|| call["code"].as_str().map(str::to_owned)).flatten()
}

/// The tool calls an `execute_code` run made, `(tool, outcome)`, from its structured result.
fn code_calls(result: &Value) -> Vec<(String, String)> {
    let calls = result["structuredContent"]["calls"].as_array().cloned().unwrap_or_default();
    calls.iter().filter_map(|c| Some((c["tool"].as_str()?.to_owned(), c["outcome"].as_str()?.to_owned()))).collect()
}

/// The text of an MCP tool result, as a person reads it.
fn result_text(result: &Value) -> String {
    crate::panels::result::text_of(&views::read(result), result)
}

fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}

/// The conversation open in the sidebar, kept in the extension's own storage so that closing
/// and opening the sidebar comes back to it.
mod remembered {
    use wasm_bindgen::{JsCast, JsValue};

    const KEY: &str = "harbor.chat.session";

    fn call(method: &str, args: &[&str]) -> Option<JsValue> {
        let storage = js_sys::Reflect::get(&js_sys::global(), &"localStorage".into()).ok()?;
        let function: js_sys::Function = js_sys::Reflect::get(&storage, &method.into()).ok()?.dyn_into().ok()?;
        let args: js_sys::Array = args.iter().map(|a| JsValue::from_str(a)).collect();
        function.apply(&storage, &args).ok()
    }

    pub fn get() -> Option<String> {
        call("getItem", &[KEY])?.as_string()
    }

    pub fn set(id: Option<&str>) {
        match id {
            Some(id) => call("setItem", &[KEY, id]),
            None => call("removeItem", &[KEY]),
        };
    }
}

/// With no model reachable: Harbor's own model, one download away (the first catalog model not
/// downloaded yet), its progress shown; once it is there the model bar looks again.
#[component]
fn BuiltinOffer(bus: Bus, on_ready: impl Fn() + Copy + Send + Sync + 'static) -> impl IntoView {
    use harbor_protocol::api::llm::LlmBuiltinCatalog;
    let offer = LocalResource::new(move || async move {
        let catalog = bus.call::<LlmBuiltinCatalog>(Empty {}).await.ok()?;
        catalog.engine.then_some(())?;
        catalog.models.into_iter().find(|m| !m.installed)
    });
    let download = crate::panels::model_download::ModelDownload::new();
    move || {
        offer.get().flatten().map(|model| {
            let id = model.id.clone();
            let start = move |_| download.start(bus, id.clone(), move |done| if done { on_ready() });
            view! {
                <div class="builtin-offer">
                    <p class="help">{format!("Or use Harbor's built-in model: {} runs on this computer ({} MB, {}).", model.name, model.bytes / 1_000_000, model.licence)}</p>
                    {move || (!download.running()).then(|| view! {
                        <button type="button" class="accept" on:click=start.clone()>"Download the built-in model"</button>
                    })}
                    {download.view()}
                </div>
            }
        })
    }
}
