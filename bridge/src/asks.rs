//! What Harbor asks its user on a server's behalf: a server's elicitation (a form, or a page to
//! visit) or sampling request that no waiting caller can answer itself (see `mcp::askers`) —
//! the sidebar's chat, a page's call, a gateway app that did not declare the capability.
//!
//! [`UserAsks`] is the asker of last resort. Each request becomes an open [`UserAsk`], published
//! to every sidebar as `asks.changed`; the user's `asks.answer` closes it. A form's answer is
//! checked against the form before the server sees it (a bad one is refused and the ask stays
//! open); a sampling request the user accepts is answered by the user's own model, with no
//! tools, and its answer goes to the server only once the user has read it and sent it. Nothing is asked when nobody can see it: the user is only asked while a sidebar can be
//! there ([`UserAsks::present`]: the browser's session) or a terminal watches
//! ([`UserAsks::watch`]: `harbor-bridge asks`), otherwise the server gets an error at once. An ask that waits [`ASK_TIMEOUT`] is cancelled (a form) or refused (sampling), and one
//! whose server stops asking (its call ended) closes by itself.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use futures::StreamExt;
use harbor_protocol::api::asks::{
    Action, Asked, OpenAsks, SampledMessage, UserAnswer, UserAsk, ASK_TIMEOUT_MS, CHANGED,
};
use harbor_protocol::form::{self, Field};
use harbor_protocol::ErrorObject;
use rmcp::model::ErrorCode;
use rmcp::ErrorData;
use serde_json::{json, Value};
use tokio::sync::oneshot;

use crate::llm::{ChatRequest, Delta, Llm, Message, Role};
use crate::mcp::askers::{Asker, ServerAsk, ELICITATION, SAMPLING};
use crate::rpc::Notifier;

/// How long the user has to answer.
pub const ASK_TIMEOUT: Duration = Duration::from_millis(ASK_TIMEOUT_MS);

/// MCP's code for a sampling request the user refused.
const USER_REFUSED: ErrorCode = ErrorCode(-1);

/// The asks waiting for the user.
pub struct UserAsks {
    notifier: Notifier,
    llm: Arc<Llm>,
    open: Mutex<Vec<Open>>,
    next: AtomicU64,
    present: AtomicUsize,
}

struct Open {
    ask: UserAsk,
    /// A form's fields, read once when it opened.
    fields: Vec<Field>,
    reply: oneshot::Sender<UserAnswer>,
}

impl UserAsks {
    pub fn new(notifier: Notifier, llm: Arc<Llm>) -> Arc<UserAsks> {
        Arc::new(UserAsks {
            notifier,
            llm,
            open: Mutex::default(),
            next: AtomicU64::new(1),
            present: AtomicUsize::new(0),
        })
    }

    /// Counts a place the user can answer in (the browser's session, whose sidebar shows the
    /// asks) until the guard is dropped.
    pub fn present(self: &Arc<Self>) -> Presence {
        self.present.fetch_add(1, Ordering::AcqRel);
        Presence(self.clone())
    }

    /// Streams the open asks to `events` — now, and after every change — with the user
    /// counted as present, until `cancel` (`asks.watch`, for a terminal).
    pub async fn watch(self: &Arc<Self>, events: &crate::rpc::EventSink, cancel: &tokio_util::sync::CancellationToken) {
        let _present = self.present();
        let mut news = self.notifier.subscribe();
        if !events.emit(&OpenAsks { asks: self.list() }).await {
            return;
        }
        loop {
            tokio::select! {
                () = cancel.cancelled() => return,
                heard = news.recv() => match heard {
                    Ok(notice) if notice.method == CHANGED => {
                        if !events.emit(&OpenAsks { asks: self.list() }).await {
                            return;
                        }
                    }
                    Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                },
            }
        }
    }

    /// The user as the registry's asker of last resort.
    pub fn asker(self: &Arc<Self>) -> Arc<dyn Asker> {
        Arc::new(TheUser(self.clone()))
    }

    /// The asks waiting, oldest first.
    pub fn list(&self) -> Vec<UserAsk> {
        self.lock().iter().map(|open| open.ask.clone()).collect()
    }

    /// The user's answer. A form's content must fit the form; otherwise the ask stays open and
    /// the error names the field.
    pub fn answer(&self, answer: UserAnswer) -> Result<(), ErrorObject> {
        let mut open = self.lock();
        let Some(at) = open.iter().position(|o| o.ask.ask_id == answer.ask_id) else {
            return Err(ErrorObject::invalid(format!(
                "no request {} waits for an answer: it was answered elsewhere, or its server stopped asking",
                answer.ask_id
            )));
        };
        if answer.action == Action::Accept && matches!(open[at].ask.asked, Asked::Form { .. }) {
            let content = answer.content.clone().unwrap_or_default();
            form::check(&open[at].fields, &content).map_err(ErrorObject::invalid)?;
        }
        let closed = open.remove(at);
        drop(open);
        let _ = closed.reply.send(answer);
        self.changed();
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Open>> {
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn changed(&self) {
        self.notifier.publish(CHANGED, json!({ "asks": self.list() }));
    }

    /// Opens `asked` for the user and waits for the answer (`None`: no answer in time).
    async fn open(&self, ask: &ServerAsk, asked: Asked, fields: Vec<Field>) -> Option<UserAnswer> {
        let ask_id = self.next.fetch_add(1, Ordering::Relaxed);
        let expires_at = crate::unix_ms() + ASK_TIMEOUT_MS;
        let shown = UserAsk { ask_id, server_id: ask.server.clone(), callers: ask.callers.clone(), asked, expires_at };
        let (reply, answer) = oneshot::channel();
        self.lock().push(Open { ask: shown, fields, reply });
        self.changed();
        // However this ends — answered, expired, or the server's call gone — the ask closes.
        let _close = Close { asks: self, ask_id };
        tokio::time::timeout(ASK_TIMEOUT, answer).await.ok().and_then(Result::ok)
    }

    async fn elicit(&self, ask: ServerAsk) -> Result<Value, ErrorData> {
        let text = |key: &str| ask.params.get(key).and_then(Value::as_str).unwrap_or_default().to_owned();
        let (asked, fields) = match ask.params.get("mode").and_then(Value::as_str) {
            Some("url") => {
                let url = text("url");
                if !(url.starts_with("https://") || url.starts_with("http://")) {
                    return Err(ErrorData::invalid_params(
                        format!("{ELICITATION}: Harbor only opens http(s) pages for the user, not {url:?}"),
                        None,
                    ));
                }
                (Asked::Url { message: text("message"), url, elicitation_id: text("elicitationId") }, Vec::new())
            }
            _ => {
                let schema = ask.params.get("requestedSchema").cloned().unwrap_or_else(|| json!({}));
                let fields = form::fields(&schema)
                    .map_err(|why| ErrorData::invalid_params(format!("{ELICITATION}: {why}"), None))?;
                (Asked::Form { message: text("message"), requested_schema: schema }, fields)
            }
        };
        let answer = self.open(&ask, asked, fields).await;
        Ok(match answer {
            Some(UserAnswer { action: Action::Accept, content: Some(content), .. }) if !content.is_empty() => {
                json!({ "action": "accept", "content": content })
            }
            Some(UserAnswer { action, .. }) => json!({ "action": action.as_str() }),
            None => json!({ "action": "cancel" }),
        })
    }

    async fn sample(&self, ask: ServerAsk) -> Result<Value, ErrorData> {
        let params = &ask.params;
        let system_prompt = params.get("systemPrompt").and_then(Value::as_str).map(str::to_owned);
        let messages: Vec<SampledMessage> = params
            .get("messages")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|m| SampledMessage {
                role: m.get("role").and_then(Value::as_str).unwrap_or("user").to_owned(),
                text: shown_text(m.get("content").unwrap_or(&Value::Null)),
            })
            .collect();
        let max_tokens = params.get("maxTokens").and_then(Value::as_u64).unwrap_or(0);
        let asked = |answer| Asked::Sampling {
            system_prompt: system_prompt.clone(),
            messages: messages.clone(),
            max_tokens,
            answer,
        };
        refused(self.open(&ask, asked(None), Vec::new()).await, "to let the model answer")?;
        let temperature = params.get("temperature").and_then(Value::as_f64);
        let answered = self.complete(system_prompt.clone(), &messages, temperature).await.map_err(|why| {
            ErrorData::internal_error(format!("{SAMPLING}: the user's model could not answer: {why}"), None)
        })?;
        // The user reviews the model's answer before the server gets it.
        let text = answered["content"]["text"].as_str().unwrap_or_default().to_owned();
        refused(self.open(&ask, asked(Some(text)), Vec::new()).await, "to send the model's answer")?;
        Ok(answered)
    }

    /// The user's active model's answer to `messages`.
    async fn complete(
        &self,
        system_prompt: Option<String>,
        messages: &[SampledMessage],
        temperature: Option<f64>,
    ) -> Result<Value, crate::llm::LlmError> {
        let (provider, model) = self.llm.resolve(None, None).await?;
        let role = |role: &str| if role == "assistant" { Role::Assistant } else { Role::User };
        let mut history: Vec<Message> = system_prompt.map(|s| Message::new(Role::System, s)).into_iter().collect();
        history.extend(messages.iter().map(|m| Message::new(role(&m.role), m.text.clone())));
        let request = ChatRequest {
            model: model.clone(),
            messages: history,
            tools: Vec::new(),
            temperature,
            context_tokens: None,
            top_k: None,
            response_schema: None,
        };
        let mut stream = provider.chat(request).await?;
        let mut text = String::new();
        while let Some(delta) = stream.next().await {
            match delta? {
                Delta::Token(token) => text.push_str(&token),
                Delta::ToolCall(_) => {}
                Delta::Done(_) => break,
            }
        }
        Ok(
            json!({ "role": "assistant", "content": { "type": "text", "text": text }, "model": model, "stopReason": "endTurn" }),
        )
    }
}

/// The user, as the asker of last resort (see [`UserAsks::asker`]).
struct TheUser(Arc<UserAsks>);

impl Asker for TheUser {
    fn answers(&self, method: &str) -> bool {
        (method == ELICITATION || method == SAMPLING) && self.0.present.load(Ordering::Acquire) > 0
    }

    fn ask(&self, ask: ServerAsk) -> BoxFuture<'static, Result<Value, ErrorData>> {
        let asks = self.0.clone();
        Box::pin(async move {
            match ask.method {
                SAMPLING => asks.sample(ask).await,
                _ => asks.elicit(ask).await,
            }
        })
    }
}

/// A sampling step the user did not accept, as MCP's refusal (`what` the user declined).
fn refused(answer: Option<UserAnswer>, what: &str) -> Result<(), ErrorData> {
    match answer {
        Some(UserAnswer { action: Action::Accept, .. }) => Ok(()),
        Some(_) => Err(ErrorData::new(USER_REFUSED, format!("the user declined {what}"), None)),
        None => Err(ErrorData::new(
            USER_REFUSED,
            format!("the user did not answer within {} minutes", ASK_TIMEOUT.as_secs() / 60),
            None,
        )),
    }
}

/// Closes an ask when its wait ends, however it ends.
struct Close<'a> {
    asks: &'a UserAsks,
    ask_id: u64,
}

impl Drop for Close<'_> {
    fn drop(&mut self) {
        let mut open = self.asks.lock();
        let before = open.len();
        open.retain(|o| o.ask.ask_id != self.ask_id);
        let closed = open.len() != before;
        drop(open);
        if closed {
            self.asks.changed();
        }
    }
}

/// A place the user can answer in, counted while it lasts.
pub struct Presence(Arc<UserAsks>);

impl Drop for Presence {
    fn drop(&mut self) {
        self.0.present.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A sampling message's content as the user reads it: its text, other kinds named.
fn shown_text(content: &Value) -> String {
    let one = |item: &Value| match item.get("type").and_then(Value::as_str) {
        Some("text") => item.get("text").and_then(Value::as_str).unwrap_or_default().to_owned(),
        Some(kind) => format!("[{kind}]"),
        None => String::new(),
    };
    match content {
        Value::Array(items) => items.iter().map(one).collect::<Vec<_>>().join("\n"),
        item => one(item),
    }
}
