//! Chat: where models meet MCP tools. The [`agent`] loop, [`select`]ing tools for small models,
//! the [`text_tools`] format for models without native tool calling, fitting the [`history`]
//! into the context window, and [`Chat`] — sessions that are stored as they are written.
//!
//! A turn ([`Chat::send`]) stores the user's message at once, runs the loop in a task of its own
//! (so a stop or a closed sidebar still lets it record what happened), then stores the messages
//! the run added in one transaction. Only one turn runs per session at a time.

pub mod agent;
pub mod history;
pub mod select;
pub mod skills;
pub mod text_tools;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;
use futures::FutureExt;
use harbor_protocol::{ErrorCode, ErrorObject};
use rmcp::model::JsonObject;

use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::host::page_tools::{Frame, PageTools, PAGE_SERVER};
use crate::host::pipeline::{Audit, Policy};
use crate::llm::{Llm, Message, Role};
use crate::mcp::registry::{Servers, ToolEntry};
use crate::rpc::EventSink;
use crate::store::Store;
use agent::{RunEvent, ToolRunner};
use harbor_protocol::api::byoc::SiteChat;

pub use harbor_protocol::api::chat::{Answer, ChatSettings};

/// Tokens kept free in the context window for the answer.
const ANSWER_RESERVE: usize = 1024;

const SETTING: &str = "chat";

pub const DEFAULT_TITLE: &str = "New chat";

/// One turn asked of a session.
pub struct Turn {
    pub session: String,
    pub text: String,
    pub provider: Option<String>,
    pub model: Option<String>,
    /// Only these tools (`serverId/toolName`); `None`: every running server's.
    pub tools: Option<Vec<String>>,
    /// Also this tab's page tools (WebMCP), which the user chose to let the chat use.
    pub page_tab: Option<i64>,
    /// The chat a site opened for `page_tab`: only its tools, and its instructions.
    pub site_chat: Option<String>,
    /// The page the user attached to the question.
    pub page: Option<harbor_protocol::api::chat::PageContext>,
    /// The skills the user loaded into the conversation.
    pub skills: Vec<harbor_protocol::api::chat::SkillRef>,
}

pub struct Chat {
    store: Store,
    llm: Arc<Llm>,
    servers: Arc<Servers>,
    page: PageSide,
    busy: Arc<Mutex<HashSet<String>>>,
    /// Tool selection's index, kept while the catalog stays the same.
    selector: select::Selector,
    /// Where `chat.changed` goes: a turn began or ended (so a sidebar opened meanwhile follows).
    notifier: crate::rpc::Notifier,
    /// Where code mode's `execute_code` runs.
    sandbox: crate::sandbox::Sandbox,
}

/// What pages bring to the user's agent: their own tools (WebMCP) and their own servers.
#[derive(Clone)]
pub struct PageSide {
    pub tools: Arc<PageTools>,
    pub servers: Arc<crate::host::site_servers::SiteServers>,
    pub chats: Arc<crate::host::site_chats::SiteChats>,
}

impl Chat {
    pub fn new(
        store: Store,
        llm: Arc<Llm>,
        servers: Arc<Servers>,
        page: PageSide,
        notifier: crate::rpc::Notifier,
    ) -> Chat {
        Chat {
            store,
            llm,
            servers,
            page,
            busy: Arc::default(),
            selector: select::Selector::default(),
            notifier,
            sandbox: crate::sandbox::Sandbox::default(),
        }
    }

    /// Whether a turn of session `id` is running now.
    pub fn is_running(&self, id: &str) -> bool {
        self.busy.lock().unwrap_or_else(|p| p.into_inner()).contains(id)
    }

    /// Tells every sidebar that session `id` changed: a turn began (`running`) or ended.
    fn changed(&self, id: &str, running: bool) {
        let news = harbor_protocol::api::chat::SessionChanged { session_id: id.to_owned(), running };
        self.notifier.publish(harbor_protocol::api::chat::CHANGED, serde_json::to_value(news).unwrap_or_default());
    }

    pub fn settings(&self) -> anyhow::Result<ChatSettings> {
        Ok(self.store.setting(SETTING)?.unwrap_or_default())
    }

    pub fn set_settings(&self, settings: &ChatSettings) -> Result<(), String> {
        settings.check()?;
        self.store.set_setting(SETTING, settings).map_err(|e| format!("cannot save the chat settings: {e:#}"))
    }

    /// Answers `turn.text` in its session, streaming the run's events. The run continues in a
    /// task of its own when the caller goes away, so what happened is always stored.
    pub async fn send(
        self: &Arc<Self>,
        turn: Turn,
        events: EventSink,
        cancel: CancellationToken,
    ) -> Result<Answer, ErrorObject> {
        let chat = self.clone();
        tokio::spawn(async move { chat.answer(turn, &events, &cancel).await })
            .await
            .unwrap_or_else(|e| Err(ErrorObject::new(ErrorCode::Internal, format!("the chat turn failed: {e}"))))
    }

    async fn answer(&self, turn: Turn, events: &EventSink, cancel: &CancellationToken) -> Result<Answer, ErrorObject> {
        let internal = |e: anyhow::Error| ErrorObject::new(ErrorCode::Internal, format!("{e:#}"));
        let session = self
            .store
            .session(&turn.session)
            .map_err(internal)?
            .ok_or_else(|| ErrorObject::invalid(format!("there is no chat session {:?}", turn.session)))?;
        let busy = Busy::take(&self.busy, &session.id)?;
        let settings = self.settings().map_err(internal)?;
        let provider = turn.provider.as_deref().or(session.provider.as_deref().filter(|_| turn.model.is_none()));
        let model = turn.model.as_deref().or(session.model.as_deref().filter(|_| turn.provider.is_none()));
        let (provider, model) = self.llm.resolve(provider, model).await?;

        let user = Message::new(Role::User, turn.text.clone());
        let earlier: Vec<Message> =
            self.store.messages(&session.id).map_err(internal)?.into_iter().map(|m| m.message).collect();
        self.store.append_messages(&session.id, std::slice::from_ref(&user)).map_err(internal)?;
        self.changed(&session.id, true);
        // However the turn ends from here, sidebars hear that it did (after what it added is stored).
        let _told = Told { chat: self, id: session.id.clone(), busy: Some(busy) };
        if earlier.is_empty() && session.title == DEFAULT_TITLE {
            let _ = self.store.rename_session(&session.id, &title_from(&turn.text));
        }

        let site_chat = match &turn.site_chat {
            Some(id) => Some(self.page.chats.get(id, turn.page_tab).ok_or_else(|| {
                ErrorObject::new(ErrorCode::SessionNotFound, "the site closed this chat, or it is another tab's")
            })?),
            None => None,
        };
        let (tools, code_tools) = self.offer(&turn, site_chat.as_ref(), &settings, events).await?;
        let mut system = session.system_prompt.clone().unwrap_or(settings.system_prompt.clone());
        if let Some(chat) = &site_chat {
            system = crate::host::site_chats::system_prompt(&system, chat);
        }
        let mut messages = vec![Message::new(Role::System, system)];
        if let Some(page) = &turn.page {
            messages.push(Message::new(Role::System, page_context(page, settings.tool_result_chars)));
        }
        for skill in &turn.skills {
            let (name, text) =
                self.servers.skill_text(&skill.server_id, &skill.uri, cancel).await.map_err(ErrorObject::from)?;
            let loaded =
                format!("The user loaded the skill {name:?} of the server {}. Follow it:\n{text}", skill.server_id);
            messages.push(Message::new(Role::System, loaded));
        }
        messages.extend(earlier);
        messages.push(user);
        let specs: Vec<_> = tools.iter().map(agent::spec).collect();
        let budget = (settings.context_tokens as usize)
            .saturating_sub(ANSWER_RESERVE + history::estimate_tools(&specs))
            .max(256);
        let (messages, left_out) = history::trim(messages, budget);
        if left_out > 0 {
            let message = format!("{left_out} earlier messages were left out to fit the model's context");
            events.emit(&RunEvent::Status { message, tools: None }).await;
        }

        let run = agent::Run {
            provider: provider.clone(),
            model: model.clone(),
            messages,
            tools,
            max_tool_calls: settings.max_tool_calls,
            result_chars: settings.tool_result_chars,
            temperature: None,
            context_tokens: Some(settings.context_tokens),
        };
        let tools = Registry {
            servers: self.servers.clone(),
            store: self.store.clone(),
            page: self.page.clone(),
            page_tab: turn.page_tab,
        };
        let outcome = match code_tools {
            Some((code_tools, key)) => {
                let who = crate::host::pipeline::Chat.who();
                let runner = crate::code_mode::CodeRunner {
                    inner: &tools,
                    kept: crate::code_mode::Kept { selector: &self.selector, key },
                    tools: code_tools,
                    sandbox: &self.sandbox,
                    calls: crate::code_mode::CALLS_PER_RUN,
                    audit: (self.store.clone(), who, "chat.send"),
                    skills: Some(crate::code_mode::Shelf { registry: &self.servers, servers: None }),
                };
                agent::run(run, &self.llm, &runner, events, cancel).await
            }
            None => agent::run(run, &self.llm, &tools, events, cancel).await,
        };
        self.store.append_messages(&session.id, &outcome.added).map_err(internal)?;
        self.store.set_session_model(&session.id, &provider.config().id, &model).map_err(internal)?;
        let output = outcome.result?;
        Ok(Answer {
            session_id: session.id,
            output,
            provider: provider.config().id.clone(),
            model,
            tool_calls: outcome.tool_calls,
            usage: outcome.usage,
        })
    }

    /// The tools to offer: the ones asked for (or all), narrowed by relevance when there are
    /// more than the setting allows — saying so in the stream. In code mode, code mode's tools,
    /// with every tool the code may call beside them.
    async fn offer(
        &self,
        turn: &Turn,
        site_chat: Option<&SiteChat>,
        settings: &ChatSettings,
        events: &EventSink,
    ) -> Result<(Vec<ToolEntry>, Option<(Vec<ToolEntry>, u64)>), ErrorObject> {
        // The page's own tools and servers come first: the user turned them on for this page.
        let mut tools = Vec::new();
        if let Some(tab) = turn.page_tab {
            tools.extend(self.page.tools.tools(Frame::top(tab)));
            tools.extend(self.page.servers.tools(tab));
        }
        // (The tools the registry's revision does not cover: the page's, counted for the key.)
        let own = tools.len();
        match site_chat {
            // A site's chat: that site's tools only, never the user's servers'.
            Some(chat) => crate::host::site_chats::site_tools(chat, &mut tools),
            None => tools.extend(self.servers.tools(None).map_err(ErrorObject::from)?),
        }
        crate::host::pipeline::keep_for_models(&mut tools);
        // The chat's own tool for loading a server's skill (not in a site's chat).
        if site_chat.is_none() {
            tools.extend(skills::tool(&self.servers).await);
        }
        if let Some(wanted) = &turn.tools {
            tools.retain(|t| wanted.contains(&t.name));
        }
        if settings.code_mode && site_chat.is_none() && !tools.is_empty() {
            let message = format!("code mode: the model searches and calls {} tools from code", tools.len());
            events.emit(&RunEvent::Status { message, tools: None }).await;
            let key = catalog_key(self.servers.catalog_revision(), &tools[..own], tools.len(), turn);
            // Skills are read with code mode's own list_skills and get_skill, not from code.
            let before = tools.len();
            tools.retain(|t| !(t.server_id == crate::mcp::names::HARBOR && t.model_name.ends_with(skills::LOAD_SKILL)));
            return Ok((crate::code_mode::meta_tools(tools.len() < before), Some((tools, key))));
        }
        if tools.len() <= settings.max_tools {
            return Ok((tools, None));
        }
        let available = tools.len();
        let key = catalog_key(self.servers.catalog_revision(), &tools[..own], tools.len(), turn);
        let picked = self.selector.select(key, &tools, &turn.text, settings.max_tools);
        let mut slots: Vec<Option<ToolEntry>> = tools.into_iter().map(Some).collect();
        let offered: Vec<ToolEntry> = picked.into_iter().filter_map(|i| slots[i].take()).collect();
        let names: Vec<String> = offered.iter().map(|t| t.name.clone()).collect();
        let message = format!("offering the {} most relevant of {available} tools", offered.len());
        events.emit(&RunEvent::Status { message, tools: Some(names) }).await;
        Ok((offered, None))
    }
}

/// The chat's tools: every running tool, through the policy pipeline as the user's own chat
/// (no scope, allowlist or budget; audited as `sidebar`), and the chosen tab's page tools, run
/// in that page (audited the same way).
struct Registry {
    servers: Arc<Servers>,
    store: Store,
    page: PageSide,
    page_tab: Option<i64>,
}

impl ToolRunner for Registry {
    fn call<'a>(
        &'a self,
        tool: &'a ToolEntry,
        args: JsonObject,
        cancel: &'a CancellationToken,
        progress: crate::mcp::client::ProgressSink,
    ) -> BoxFuture<'a, Result<Value, ErrorObject>> {
        let policy = crate::host::pipeline::Chat;
        async move {
            if tool.server_id == crate::mcp::names::HARBOR && tool.name.ends_with(skills::LOAD_SKILL) {
                let audit = Audit::begin(&self.store, policy.who(), "chat.send", Some(&tool.name));
                let outcome = skills::load(&self.servers, &args, cancel).await;
                audit.finish(&outcome);
                return outcome;
            }
            match self.page_tab.filter(|_| tool.server_id == PAGE_SERVER) {
                Some(tab) => {
                    let audit = Audit::begin(&self.store, policy.who(), "chat.send", Some(&tool.name));
                    let outcome = self
                        .page
                        .tools
                        .call(Frame::top(tab), tool.page_origin.as_deref(), &tool.name, args, cancel)
                        .await;
                    audit.finish(&outcome);
                    outcome
                }
                None => {
                    let catalog = crate::host::site_servers::TabCatalog {
                        servers: &self.servers,
                        brought: &self.page.servers,
                        tab: self.page_tab,
                    };
                    let mut asked = crate::host::pipeline::Asked::new("chat.send", &tool.name, args);
                    asked.progress = Some(progress);
                    crate::host::pipeline::call(&catalog, &self.store, &policy, asked, cancel).await
                }
            }
        }
        .boxed()
    }
}

/// What names the catalog a turn chooses among, for the kept selection index: the registry's
/// revision (its running servers' tools), the page's own tools, how many tools there are in all,
/// and the tools the turn asked for.
fn catalog_key(revision: u64, page_tools: &[ToolEntry], count: usize, turn: &Turn) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    (revision, count).hash(&mut hasher);
    turn.site_chat.is_some().hash(&mut hasher);
    turn.tools.hash(&mut hasher);
    for tool in page_tools {
        (&tool.name, &tool.description, &tool.page_origin).hash(&mut hasher);
    }
    hasher.finish()
}

/// Marks a session as answering until dropped.
/// Ends a turn, when dropped: the session is free again, then sidebars hear that it is.
struct Told<'a> {
    chat: &'a Chat,
    id: String,
    busy: Option<Busy>,
}

impl Drop for Told<'_> {
    fn drop(&mut self) {
        self.busy.take();
        self.chat.changed(&self.id, false);
    }
}

struct Busy {
    sessions: Arc<Mutex<HashSet<String>>>,
    id: String,
}

impl Busy {
    fn take(sessions: &Arc<Mutex<HashSet<String>>>, id: &str) -> Result<Busy, ErrorObject> {
        if !sessions.lock().unwrap_or_else(|p| p.into_inner()).insert(id.to_owned()) {
            return Err(ErrorObject::invalid("this session is still answering; wait for it or stop it first"));
        }
        Ok(Busy { sessions: sessions.clone(), id: id.to_owned() })
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.sessions.lock().unwrap_or_else(|p| p.into_inner()).remove(&self.id);
    }
}

/// The page the user attached, for the model: its text cut to `max` characters and marked off
/// as the page's content (a page can hold text written to steer a model).
fn page_context(page: &harbor_protocol::api::chat::PageContext, max: usize) -> String {
    let (text, _) = agent::cut(&page.text, max);
    let about = format!("The user is looking at the page {:?} ({}) and asks about it.", page.title, page.url);
    format!("{about}\n{}", agent::spotlight(&text, Some(&page.url)))
}

/// A session title from its first message: the first line, at most 60 characters.
fn title_from(text: &str) -> String {
    let line = text.lines().find(|l| !l.trim().is_empty()).unwrap_or(DEFAULT_TITLE).trim();
    if line.chars().count() <= 60 {
        line.to_owned()
    } else {
        format!("{}…", line.chars().take(59).collect::<String>())
    }
}
