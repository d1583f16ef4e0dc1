//! Text sessions: a conversation a page holds with the user's model — `window.ai`'s sessions and
//! the Prompt API's `LanguageModel` — kept in the bridge's memory and bound to the origin that
//! made it (another origin cannot use its id). Each prompt needs `model:prompt`, passes the daily
//! token budget, streams its tokens as the model writes them, and counts the tokens the provider
//! reports.
//!
//! The Prompt API's shapes are served here: a prompt is a string or messages (text only: image
//! and audio content is refused as not supported); a session has a context window, and when the
//! history outgrows it the oldest turns go (the answer says so, and the page fires
//! `contextoverflow`), while an input that could never fit is refused with
//! `ERR_CONTEXT_OVERFLOW`; a `responseConstraint` schema goes to the model as structured output
//! and the answer is checked against it ([`super::constraint`]); and the page's own tools are
//! offered to the model, each call sent to the page as a `tool_call` event and answered by
//! `ai.session.toolResult`, within the site's tool timeout and tool-call limit.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use futures::StreamExt;
use harbor_protocol::api::page as api;
use harbor_protocol::{ErrorCode, ErrorObject};
use serde_json::{json, Value};
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use super::scopes::Scope;
use super::{constraint, internal, Host, Site};
use crate::chat::agent::RunEvent;
use crate::llm::{ChatRequest, Delta, Message, Role, ToolCall, ToolSpec, Usage};
use crate::mcp::names::model_safe;
use crate::rpc::EventSink;

/// Sessions one origin may hold at once.
const MAX_SESSIONS_PER_ORIGIN: usize = 32;
/// Tools a page may give one session.
const MAX_PAGE_TOOLS: usize = 64;
/// The context window every session gets, in tokens. Ollama is asked for it (`num_ctx`), so what
/// the page is told is what the model keeps; other servers are assumed to hold at least as much.
pub const CONTEXT_WINDOW: u64 = 8192;
pub const DEFAULT_TEMPERATURE: f64 = 0.8;
pub const MAX_TEMPERATURE: f64 = 2.0;
pub const DEFAULT_TOP_K: u32 = 40;
pub const MAX_TOP_K: u32 = 100;

#[derive(Clone, Debug, Default)]
pub struct Options {
    pub provider: Option<String>,
    pub model: Option<String>,
    pub temperature: Option<f64>,
    pub top_k: Option<u32>,
    /// The system prompt and initial prompts, in order.
    pub initial: Vec<Message>,
    /// The page's own tools.
    pub tools: Vec<ToolSpec>,
}

impl Options {
    /// A session's options from the page's: the Prompt API's checks and clamps.
    pub fn from_page(page: api::SessionOptions) -> Result<Options, ErrorObject> {
        if let Some(kind) = page.expected_inputs.iter().chain(&page.expected_outputs).find(|e| e.kind != "text") {
            return Err(not_supported(format!(
                "Harbor's models take and give text only, not {}; leave it out of expectedInputs and expectedOutputs",
                kind.kind
            )));
        }
        let mut initial: Vec<Message> = page.system_prompt.map(|p| Message::new(Role::System, p)).into_iter().collect();
        for (index, message) in page.initial_prompts.iter().enumerate() {
            if message.role == api::PromptRole::System && (index > 0 || !initial.is_empty()) {
                return Err(ErrorObject::invalid("a system message may only come first in initialPrompts"));
            }
            initial.push(message_of(message)?);
        }
        if page.tools.len() > MAX_PAGE_TOOLS {
            return Err(ErrorObject::invalid(format!("a session takes at most {MAX_PAGE_TOOLS} tools")));
        }
        let mut tools: Vec<ToolSpec> = Vec::new();
        for tool in page.tools {
            if !model_safe(&tool.name) || tools.iter().any(|t| t.name == tool.name) {
                return Err(ErrorObject::invalid(format!(
                    "tool name {:?} must be unique and 1–64 letters, digits, _ or -",
                    tool.name
                )));
            }
            if !tool.input_schema.is_object() {
                return Err(ErrorObject::invalid(format!(
                    "tool {:?}: inputSchema must be a JSON Schema object",
                    tool.name
                )));
            }
            tools.push(ToolSpec { name: tool.name, description: tool.description, parameters: tool.input_schema });
        }
        Ok(Options {
            provider: page.provider,
            model: page.model,
            temperature: page.temperature.map(|t| t.clamp(0.0, MAX_TEMPERATURE)),
            top_k: page.top_k.filter(|k| !k.is_nan()).map(|k| k.round().clamp(1.0, f64::from(MAX_TOP_K)) as u32),
            initial,
            tools,
        })
    }
}

/// What one prompt asks of the model.
pub struct Prompt {
    pub messages: Vec<Message>,
    /// The `responseConstraint` schema, and whether the model is told it too.
    pub schema: Option<Value>,
    pub tell_schema: bool,
    /// Send the answer's tokens as events as they come (`promptStreaming`).
    pub stream: bool,
}

impl Prompt {
    pub fn from_page(page: api::SessionPrompt, stream: bool) -> Result<Prompt, ErrorObject> {
        let schema = match page.response_constraint {
            None => None,
            Some(schema @ (Value::Object(_) | Value::Bool(_))) => Some(schema),
            Some(_) => return Err(not_supported("responseConstraint must be a JSON Schema object")),
        };
        let tell_schema = !page.omit_response_constraint_input;
        Ok(Prompt { messages: messages_of(&page.input)?, schema, tell_schema, stream })
    }
}

/// The messages of a prompt or an append: the Prompt API refuses a system message there.
pub fn messages_of(input: &api::PromptInput) -> Result<Vec<Message>, ErrorObject> {
    let messages = match input {
        api::PromptInput::Text(text) => vec![Message::new(Role::User, text.clone())],
        api::PromptInput::Messages(messages) => messages.iter().map(message_of).collect::<Result<_, _>>()?,
    };
    if messages.iter().any(|m| m.role == Role::System) {
        return Err(not_supported("a system message belongs in initialPrompts, not in a prompt"));
    }
    Ok(messages)
}

fn message_of(message: &api::PromptMessage) -> Result<Message, ErrorObject> {
    let role = match message.role {
        api::PromptRole::System => Role::System,
        api::PromptRole::User => Role::User,
        api::PromptRole::Assistant => Role::Assistant,
    };
    let content = match &message.content {
        api::PromptContent::Text(text) => text.clone(),
        api::PromptContent::Parts(parts) => {
            let mut text = String::new();
            for part in parts {
                match (part.kind.as_str(), &part.value) {
                    ("text", Value::String(value)) => text.push_str(value),
                    ("text", _) => return Err(ErrorObject::invalid("a text part's value must be a string")),
                    (kind, _) => {
                        return Err(not_supported(format!(
                            "Harbor's models take text only; {kind} content is not supported"
                        )))
                    }
                }
            }
            text
        }
    };
    Ok(Message::new(role, content))
}

/// A rough token count of `messages`: a token per four characters, and four for each message's
/// framing. Providers count their own way; this is what budgets and windows are held to.
pub fn tokens(messages: &[Message]) -> u64 {
    messages.iter().map(|m| (m.content.chars().count() as u64).div_ceil(4) + 4).sum()
}

#[derive(Clone)]
struct Session {
    origin: String,
    options: Options,
    messages: Vec<Message>,
}

impl Session {
    fn state(&self, overflowed: bool) -> api::ContextState {
        api::ContextState { context_usage: tokens(&self.messages), context_window: CONTEXT_WINDOW, overflowed }
    }

    /// The session as the page sees it.
    fn described(&self, id: String) -> api::TextSession {
        api::TextSession {
            session_id: id,
            context_usage: tokens(&self.messages),
            context_window: CONTEXT_WINDOW,
            temperature: self.options.temperature.unwrap_or(DEFAULT_TEMPERATURE),
            top_k: self.options.top_k.unwrap_or(DEFAULT_TOP_K),
        }
    }
}

/// A page tool call waiting for the page's answer: its origin and where the answer goes.
struct Waiting {
    origin: String,
    answer: oneshot::Sender<Result<String, String>>,
}

#[derive(Default)]
pub struct TextSessions {
    sessions: Mutex<HashMap<String, Session>>,
    /// Page tool calls sent to the page, by (session, call id).
    waiting: Mutex<HashMap<(String, String), Waiting>>,
    next: AtomicU64,
}

impl TextSessions {
    pub fn create(&self, origin: &str, options: Options) -> Result<api::TextSession, ErrorObject> {
        let needed = tokens(&options.initial);
        if needed > CONTEXT_WINDOW {
            return Err(context_overflow(needed));
        }
        let mut sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        if sessions.values().filter(|s| s.origin == origin).count() >= MAX_SESSIONS_PER_ORIGIN {
            return Err(ErrorObject::new(
                ErrorCode::RateLimited,
                format!("this site holds {MAX_SESSIONS_PER_ORIGIN} text sessions already; destroy some first"),
            ));
        }
        let id = format!("ts{}", self.next.fetch_add(1, Ordering::Relaxed) + 1);
        let session = Session { origin: origin.to_owned(), messages: options.initial.clone(), options };
        let described = session.described(id.clone());
        sessions.insert(id, session);
        Ok(described)
    }

    fn get(&self, origin: &str, id: &str) -> Result<Session, ErrorObject> {
        let sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        sessions.get(id).filter(|s| s.origin == origin).cloned().ok_or_else(|| {
            ErrorObject::new(
                ErrorCode::SessionNotFound,
                format!("there is no text session {id:?} for this site (destroyed, or the bridge restarted); create a new one"),
            )
        })
    }

    pub fn clone_session(&self, origin: &str, id: &str) -> Result<api::TextSession, ErrorObject> {
        let session = self.get(origin, id)?;
        let copy = self.create(origin, session.options.clone())?.session_id;
        let mut sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        let new = sessions.get_mut(&copy).expect("just made");
        new.messages = session.messages;
        Ok(new.described(copy))
    }

    pub fn destroy(&self, origin: &str, id: &str) -> Result<(), ErrorObject> {
        self.get(origin, id)?;
        self.sessions.lock().unwrap_or_else(|p| p.into_inner()).remove(id);
        // Calls still waiting for the page's tools end with the session.
        self.waiting.lock().unwrap_or_else(|p| p.into_inner()).retain(|(session, _), _| session != id);
        Ok(())
    }

    /// How many tokens `input` would add to the session.
    pub fn measure(&self, origin: &str, id: &str, input: &[Message]) -> Result<u64, ErrorObject> {
        self.get(origin, id)?;
        Ok(tokens(input))
    }

    /// Adds `added` to the session (the oldest turns go if it must), as a prompt's turn or an
    /// append.
    fn extend(&self, id: &str, added: Vec<Message>) -> api::ContextState {
        let mut sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        let Some(session) = sessions.get_mut(id) else {
            return api::ContextState { context_usage: 0, context_window: CONTEXT_WINDOW, overflowed: false };
        };
        session.messages.extend(added);
        let overflowed = make_room(&mut session.messages, session.options.initial.len(), 0);
        session.state(overflowed)
    }

    pub fn append(&self, origin: &str, id: &str, input: Vec<Message>) -> Result<api::ContextState, ErrorObject> {
        let session = self.get(origin, id)?;
        let needed = tokens(&session.options.initial) + tokens(&input);
        if needed > CONTEXT_WINDOW {
            return Err(context_overflow(needed));
        }
        Ok(self.extend(id, input))
    }

    /// Waits for the page's answer to a call of its tool (registered before the page is told).
    fn expect(&self, origin: &str, session: &str, call: &str) -> oneshot::Receiver<Result<String, String>> {
        let (answer, waiting) = oneshot::channel();
        let key = (session.to_owned(), call.to_owned());
        self.waiting
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key, Waiting { origin: origin.to_owned(), answer });
        waiting
    }

    /// Stops waiting for the page's answer to `call`.
    fn forget(&self, session: &str, call: &str) {
        self.waiting.lock().unwrap_or_else(|p| p.into_inner()).remove(&(session.to_owned(), call.to_owned()));
    }

    /// The page's answer to one of its tools; only the origin the call was sent to may give it.
    pub fn answer(&self, origin: &str, answer: api::PageToolResult) -> Result<(), ErrorObject> {
        let key = (answer.session_id.clone(), answer.call_id.clone());
        let mut waiting = self.waiting.lock().unwrap_or_else(|p| p.into_inner());
        if waiting.get(&key).is_none_or(|w| w.origin != origin) {
            return Err(ErrorObject::invalid(format!(
                "no tool call {:?} of session {:?} is waiting for this site's answer",
                answer.call_id, answer.session_id
            )));
        }
        let call = waiting.remove(&key).expect("just seen");
        let outcome = match (answer.result, answer.error) {
            (_, Some(error)) => Err(error),
            (Some(result), None) => Ok(result),
            (None, None) => Ok(String::new()),
        };
        let _ = call.answer.send(outcome);
        Ok(())
    }
}

/// Drops the oldest turns after the first `kept` messages until `messages` and `more` tokens fit
/// the window; true when any went.
fn make_room(messages: &mut Vec<Message>, kept: usize, more: u64) -> bool {
    let mut used = tokens(messages) + more;
    let mut dropped = false;
    while used > CONTEXT_WINDOW && messages.len() > kept {
        used -= tokens(&messages[kept..=kept]);
        messages.remove(kept);
        dropped = true;
    }
    dropped
}

impl Host {
    /// One prompt in a text session: the page's tool calls go to `events`, and so do the
    /// answer's tokens as they arrive when the prompt streams.
    pub async fn prompt_text(
        &self,
        site: &Site,
        method: &str,
        session_id: &str,
        prompt: Prompt,
        events: &EventSink,
        cancel: &CancellationToken,
    ) -> Result<(String, api::ContextState), ErrorObject> {
        let prompting = self.prompt_inner(site, session_id, prompt, events, cancel);
        self.audited(site, method, None, prompting).await
    }

    /// `ai.createTextSession` and `LanguageModel.create`: asks for `model:prompt` when the site
    /// holds no decision yet, then opens a session bound to the site's origin.
    pub async fn create_text_session(
        &self,
        site: &Site,
        options: Options,
        events: Option<&EventSink>,
        cancel: &CancellationToken,
    ) -> Result<api::TextSession, ErrorObject> {
        self.ask_if_undecided(site, Scope::ModelPrompt, None, cancel).await?;
        self.require(site, Scope::ModelPrompt)?;
        // No model answers but the built-in one can be downloaded (`after-download`): a page the
        // user allowed to prompt models may start the download, on the user's own click or key
        // press (as the Prompt API asks), its progress streamed; without a gesture it may not.
        if self.llm().resolve(None, None).await.is_err() {
            if let (Some(model), _) = self.llm().downloadable() {
                if !site.user_activation {
                    return Err(ErrorObject::new(
                        ErrorCode::PermissionDenied,
                        "the model must be downloaded first, which a page may start only on a click or key press",
                    )
                    .with_data(json!({ "reason": "user_activation_required" })));
                }
                let downloading = async {
                    match events {
                        Some(events) => self.llm().download_reporting(&model, None, events).await,
                        None => self.llm().download(&model, None, |_, _| {}).await,
                    }
                };
                tokio::select! {
                    downloaded = downloading => { downloaded?; }
                    () = cancel.cancelled() => return Err(ErrorObject::new(ErrorCode::Aborted, "the page stopped waiting for the model")),
                }
            }
        }
        self.texts.create(&site.origin, options)
    }

    async fn prompt_inner(
        &self,
        site: &Site,
        session_id: &str,
        prompt: Prompt,
        events: &EventSink,
        cancel: &CancellationToken,
    ) -> Result<(String, api::ContextState), ErrorObject> {
        self.require(site, Scope::ModelPrompt)?;
        let session = self.texts.get(&site.origin, session_id)?;
        let limits = self.gate.limits(&site.origin).map_err(internal)?;
        let page_words = prompt.messages.clone();
        let mut asked = prompt.messages;
        if let (Some(schema), true, Some(last)) = (&prompt.schema, prompt.tell_schema, asked.last_mut()) {
            last.content.push_str(&format!("\n\nAnswer with JSON that matches this JSON Schema:\n{schema}"));
        }
        let needed = tokens(&session.options.initial) + tokens(&asked);
        if needed > CONTEXT_WINDOW {
            return Err(context_overflow(needed));
        }
        let mut history = session.messages.clone();
        make_room(&mut history, session.options.initial.len(), tokens(&asked));
        let input_chars = history.iter().chain(&asked).map(|m| m.content.len()).sum::<usize>();
        // Held from here; given back only if the model is never reached.
        let mut reservation = self.gate.reserve_tokens(&site.origin, &limits, input_chars)?;
        let (provider, model) =
            self.llm().resolve(session.options.provider.as_deref(), session.options.model.as_deref()).await?;
        let mut turn = asked.clone();
        let mut used = Usage::default();
        let mut tool_calls = 0u32;
        let text = loop {
            let mut messages = history.clone();
            messages.extend(turn.iter().cloned());
            let request = ChatRequest {
                model: model.clone(),
                messages,
                tools: if tool_calls < limits.max_tool_calls_per_run {
                    session.options.tools.clone()
                } else {
                    Vec::new()
                },
                temperature: session.options.temperature,
                context_tokens: Some(CONTEXT_WINDOW as u32),
                top_k: session.options.top_k,
                response_schema: prompt.schema.clone(),
            };
            let mut deltas = tokio::select! {
                deltas = provider.chat(request) => deltas?,
                () = cancel.cancelled() => return Err(aborted()),
            };
            // From here the model is working: a stop or a failure keeps what was reserved as used.
            reservation.keep();
            let mut text = String::new();
            let mut calls: Vec<ToolCall> = Vec::new();
            loop {
                let delta = tokio::select! {
                    biased;
                    () = cancel.cancelled() => return Err(aborted()),
                    delta = deltas.next() => delta,
                };
                match delta {
                    Some(Ok(Delta::Token(token))) => {
                        text.push_str(&token);
                        if prompt.stream {
                            events.emit(&RunEvent::Token { token }).await;
                        }
                    }
                    Some(Ok(Delta::ToolCall(call))) => calls.push(call),
                    Some(Ok(Delta::Done(usage))) => {
                        used.add(usage);
                        break;
                    }
                    Some(Err(error)) => return Err(error.into()),
                    None => break,
                }
            }
            if calls.is_empty() {
                break text;
            }
            let mut assistant = Message::new(Role::Assistant, text);
            assistant.tool_calls = calls.clone();
            turn.push(assistant);
            for call in &calls {
                tool_calls += 1;
                let outcome = if tool_calls > limits.max_tool_calls_per_run {
                    format!(
                        "Not run: the limit of {} tool calls for one prompt was reached.",
                        limits.max_tool_calls_per_run
                    )
                } else {
                    self.page_tool(site, session_id, call, events, &limits, cancel).await?
                };
                turn.push(Message::tool_result(call, outcome));
            }
        };
        reservation.settle(used.total() as i64);
        if let Some(schema) = &prompt.schema {
            let answer: Value = serde_json::from_str(text.trim()).map_err(|e| {
                model_failed(format!(
                    "the model's answer is not JSON ({e}), so it does not meet the responseConstraint"
                ))
            })?;
            if let Some(why) = constraint::violation(schema, &answer) {
                return Err(model_failed(format!("the model's answer does not meet the responseConstraint: {why}")));
            }
        }
        // The session keeps the page's own words (not the schema Harbor added), the tool calls
        // and the answer.
        let mut added = page_words;
        added.extend(turn.into_iter().skip(asked.len()));
        added.push(Message::new(Role::Assistant, text.clone()));
        Ok((text, self.texts.extend(session_id, added)))
    }

    /// Asks the page to run one of its tools and waits for its answer, within the site's tool
    /// timeout; what the page threw goes back to the model as the tool's error.
    async fn page_tool(
        &self,
        site: &Site,
        session_id: &str,
        call: &ToolCall,
        events: &EventSink,
        limits: &super::limits::Limits,
        cancel: &CancellationToken,
    ) -> Result<String, ErrorObject> {
        let answer = self.texts.expect(&site.origin, session_id, &call.id);
        events
            .emit(&RunEvent::ToolCall {
                id: call.id.clone(),
                tool: call.name.clone(),
                args: call.arguments.clone(),
                page: None,
                ui: None,
                parent: None,
            })
            .await;
        let timeout = Duration::from_millis(limits.tool_timeout_ms);
        let outcome = tokio::select! {
            outcome = tokio::time::timeout(timeout, answer) => Some(outcome),
            () = cancel.cancelled() => None,
        };
        // Answered, or given up on: either way no answer is awaited any more (a late one is refused).
        self.texts.forget(session_id, &call.id);
        let Some(outcome) = outcome else { return Err(aborted()) };
        Ok(match outcome {
            Ok(Ok(Ok(result))) => result,
            Ok(Ok(Err(thrown))) => json!({"error": thrown}).to_string(),
            Ok(Err(_)) => return Err(ErrorObject::invalid("the session was destroyed while its tool ran")),
            Err(_) => {
                format!("Error: the page's tool {} did not answer within {} ms.", call.name, limits.tool_timeout_ms)
            }
        })
    }
}

fn aborted() -> ErrorObject {
    ErrorObject::new(ErrorCode::Aborted, "the prompt was cancelled")
}

fn not_supported(message: impl Into<String>) -> ErrorObject {
    ErrorObject::new(ErrorCode::NotSupported, message)
}

fn model_failed(message: String) -> ErrorObject {
    ErrorObject::new(ErrorCode::ModelFailed, message)
}

/// An input that could never fit, with the Prompt API's `requested` and `quota`.
fn context_overflow(requested: u64) -> ErrorObject {
    ErrorObject::new(
        ErrorCode::ContextOverflow,
        format!("the input needs about {requested} tokens, more than the session's {CONTEXT_WINDOW}; send less"),
    )
    .with_data(json!({"requested": requested, "quota": CONTEXT_WINDOW}))
}
