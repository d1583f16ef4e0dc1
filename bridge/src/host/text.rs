//! `window.ai` text sessions: a conversation a page holds with the user's model, kept in the
//! bridge's memory and bound to the origin that made it (another origin cannot use its id).
//! Each prompt needs `model:prompt`, passes the daily token budget, streams its tokens as the
//! model writes them, and counts the tokens the provider reports.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use futures::StreamExt;
use harbor_protocol::{ErrorCode, ErrorObject};
use tokio_util::sync::CancellationToken;

use super::scopes::Scope;
use super::{internal, Host, Site};
use crate::chat::agent::RunEvent;
use crate::llm::{ChatRequest, Delta, Message, Role};
use crate::rpc::EventSink;

/// Sessions one origin may hold at once.
const MAX_SESSIONS_PER_ORIGIN: usize = 32;
/// Messages a session keeps (the oldest go first; the system prompt stays).
const MAX_MESSAGES: usize = 64;

#[derive(Clone, Debug, Default)]
pub struct Options {
    pub provider: Option<String>,
    pub model: Option<String>,
    pub temperature: Option<f64>,
    pub system_prompt: Option<String>,
    pub initial_prompts: Vec<Message>,
}

#[derive(Clone)]
struct Session {
    origin: String,
    options: Options,
    messages: Vec<Message>,
}

#[derive(Default)]
pub struct TextSessions {
    sessions: Mutex<HashMap<String, Session>>,
    next: AtomicU64,
}

impl TextSessions {
    pub fn create(&self, origin: &str, options: Options) -> Result<String, ErrorObject> {
        let mut sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        if sessions.values().filter(|s| s.origin == origin).count() >= MAX_SESSIONS_PER_ORIGIN {
            return Err(ErrorObject::new(
                ErrorCode::RateLimited,
                format!("this site holds {MAX_SESSIONS_PER_ORIGIN} text sessions already; destroy some first"),
            ));
        }
        let id = format!("ts{}", self.next.fetch_add(1, Ordering::Relaxed) + 1);
        let mut messages: Vec<Message> =
            options.system_prompt.iter().map(|p| Message::new(Role::System, p.clone())).collect();
        messages.extend(options.initial_prompts.iter().cloned());
        sessions.insert(id.clone(), Session { origin: origin.to_owned(), options, messages });
        Ok(id)
    }

    fn get(&self, origin: &str, id: &str) -> Result<Session, ErrorObject> {
        let sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        sessions.get(id).filter(|s| s.origin == origin).cloned().ok_or_else(|| {
            ErrorObject::new(
                ErrorCode::InvalidRequest,
                format!("there is no text session {id:?} for this site (destroyed, or the bridge restarted)"),
            )
        })
    }

    pub fn clone_session(&self, origin: &str, id: &str) -> Result<String, ErrorObject> {
        let session = self.get(origin, id)?;
        let copy = self.create(origin, session.options.clone())?;
        if let Some(new) = self.sessions.lock().unwrap_or_else(|p| p.into_inner()).get_mut(&copy) {
            new.messages = session.messages;
        }
        Ok(copy)
    }

    pub fn destroy(&self, origin: &str, id: &str) -> Result<(), ErrorObject> {
        self.get(origin, id)?;
        self.sessions.lock().unwrap_or_else(|p| p.into_inner()).remove(id);
        Ok(())
    }

    fn record(&self, id: &str, user: Message, answer: Message) {
        if let Some(session) = self.sessions.lock().unwrap_or_else(|p| p.into_inner()).get_mut(id) {
            session.messages.push(user);
            session.messages.push(answer);
            let system = usize::from(session.messages.first().is_some_and(|m| m.role == Role::System));
            while session.messages.len() > MAX_MESSAGES {
                session.messages.remove(system);
            }
        }
    }
}

impl Host {
    /// One prompt in a text session; tokens go to `events` as they arrive when given.
    pub async fn prompt_text(
        &self,
        site: &Site,
        method: &str,
        session_id: &str,
        input: String,
        events: Option<&EventSink>,
        cancel: &CancellationToken,
    ) -> Result<String, ErrorObject> {
        self.audited(site, method, None, self.prompt_inner(site, session_id, input, events, cancel)).await
    }

    async fn prompt_inner(
        &self,
        site: &Site,
        session_id: &str,
        input: String,
        events: Option<&EventSink>,
        cancel: &CancellationToken,
    ) -> Result<String, ErrorObject> {
        self.require(site, Scope::ModelPrompt)?;
        let session = self.texts.get(&site.origin, session_id)?;
        let limits = self.gate.limits(&site.origin).map_err(internal)?;
        let input_chars = session.messages.iter().map(|m| m.content.len()).sum::<usize>() + input.len();
        // Held from here; given back only if the model is never reached.
        let mut reservation = self.gate.reserve_tokens(&site.origin, &limits, input_chars)?;
        let (provider, model) =
            self.llm().resolve(session.options.provider.as_deref(), session.options.model.as_deref()).await?;
        let user = Message::new(Role::User, input);
        let mut messages = session.messages.clone();
        messages.push(user.clone());
        let request = ChatRequest {
            model,
            messages,
            tools: Vec::new(),
            temperature: session.options.temperature,
            context_tokens: None,
        };
        let mut stream = tokio::select! {
            stream = provider.chat(request) => stream?,
            () = cancel.cancelled() => return Err(aborted()),
        };
        let mut text = String::new();
        // From here the model is working: a stop or a failure keeps what was reserved as used.
        reservation.keep();
        loop {
            let delta = tokio::select! {
                biased;
                () = cancel.cancelled() => return Err(aborted()),
                delta = stream.next() => delta,
            };
            match delta {
                Some(Ok(Delta::Token(token))) => {
                    text.push_str(&token);
                    if let Some(events) = events {
                        events.emit(&RunEvent::Token { token }).await;
                    }
                }
                Some(Ok(Delta::ToolCall(_))) => {}
                Some(Ok(Delta::Done(usage))) => {
                    reservation.settle(usage.total() as i64);
                    break;
                }
                Some(Err(error)) => return Err(error.into()),
                None => break,
            }
        }
        self.texts.record(session_id, user, Message::new(Role::Assistant, text.clone()));
        Ok(text)
    }
}

fn aborted() -> ErrorObject {
    ErrorObject::new(ErrorCode::Aborted, "the prompt was cancelled")
}
