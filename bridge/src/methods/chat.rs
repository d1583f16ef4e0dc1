//! `llm.*` (model providers, plain completions) and `chat.*` (sessions, turns, settings).

use std::sync::Arc;

use futures::StreamExt;
use harbor_protocol::{ErrorCode, ErrorObject};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{invalid, params, to_value, with};
use crate::chat::agent::RunEvent;
use crate::chat::{Chat, ChatSettings, Turn, DEFAULT_TITLE};
use crate::llm::{ChatRequest, Delta, Llm, Message, ProviderConfig, ProviderKind, Role, Usage};
use crate::rpc::{Access, Call, Router};
use crate::store::Store;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SetProvider {
    id: String,
    kind: ProviderKind,
    name: Option<String>,
    base_url: String,
    /// Kept in the keychain and sent as a bearer token; left out, a stored key is kept.
    api_key: Option<String>,
}

#[derive(Deserialize)]
struct IdParams {
    id: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SelectParams {
    provider: String,
    model: Option<String>,
}

#[derive(Deserialize)]
struct ProviderFilter {
    provider: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PromptParams {
    messages: Vec<Message>,
    provider: Option<String>,
    model: Option<String>,
    temperature: Option<f64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CreateParams {
    title: Option<String>,
    system_prompt: Option<String>,
    provider: Option<String>,
    model: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RenameParams {
    id: String,
    title: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SendParams {
    session_id: String,
    text: String,
    provider: Option<String>,
    model: Option<String>,
    tools: Option<Vec<String>>,
}

fn internal(error: anyhow::Error) -> ErrorObject {
    ErrorObject::new(ErrorCode::Internal, format!("{error:#}"))
}

/// Registers `llm.*` and `chat.*`.
pub fn routes(router: Router, llm: Arc<Llm>, chat: Arc<Chat>, store: Store) -> Router {
    let l = llm;
    let c = chat;
    let s = store;
    router
        .route(
            "llm.providers",
            Access::Extension,
            with(&l, |llm, _call| async move {
                let (providers, active) = llm.status().await.map_err(internal)?;
                Ok(json!({ "providers": providers, "active": active }))
            }),
        )
        .route(
            "llm.setProvider",
            Access::Extension,
            with(&l, |llm, call| async move {
                let p: SetProvider = params("llm.setProvider", call.params)?;
                let name = p.name.unwrap_or_else(|| p.id.clone());
                let api_key_secret = match p.api_key.filter(|k| !k.is_empty()) {
                    Some(key) => Some(llm.keep_api_key(&p.id, &key).await.map_err(super::secret_error)?),
                    None => llm.api_key_of(&p.id),
                };
                let config = ProviderConfig { id: p.id, kind: p.kind, name, base_url: p.base_url, api_key_secret };
                to_value(llm.set_provider(config).map_err(invalid)?)
            }),
        )
        .route(
            "llm.removeProvider",
            Access::Extension,
            with(&l, |llm, call| async move {
                let p: IdParams = params("llm.removeProvider", call.params)?;
                let key = llm.api_key_of(&p.id);
                let settings = llm.remove_provider(&p.id).map_err(invalid)?;
                if let Some(key) = key {
                    llm.forget_api_key(&key).await;
                }
                to_value(settings)
            }),
        )
        .route(
            "llm.select",
            Access::Extension,
            with(&l, |llm, call| async move {
                let p: SelectParams = params("llm.select", call.params)?;
                to_value(llm.select(&p.provider, p.model).map_err(invalid)?)
            }),
        )
        .route(
            "llm.models",
            Access::Extension,
            with(&l, |llm, call| async move {
                let p: ProviderFilter = params("llm.models", call.params)?;
                let provider = llm.provider(p.provider.as_deref())?;
                to_value(provider.models().await?)
            }),
        )
        .route("llm.prompt", Access::Extension, with(&l, prompt))
        .route(
            "chat.sessions.list",
            Access::Extension,
            with(&s, |store, _call| async move { to_value(store.sessions().map_err(internal)?) }),
        )
        .route(
            "chat.sessions.create",
            Access::Extension,
            with(&s, |store, call| async move {
                let p: CreateParams = params("chat.sessions.create", call.params)?;
                let title = p.title.as_deref().map(str::trim).filter(|t| !t.is_empty()).unwrap_or(DEFAULT_TITLE);
                let session = store
                    .create_session(title, p.provider.as_deref(), p.model.as_deref(), p.system_prompt.as_deref())
                    .map_err(internal)?;
                to_value(session)
            }),
        )
        .route(
            "chat.sessions.get",
            Access::Extension,
            with(&s, |store, call| async move {
                let p: IdParams = params("chat.sessions.get", call.params)?;
                let session = store.session(&p.id).map_err(internal)?.ok_or_else(|| no_session(&p.id))?;
                let messages = store.messages(&p.id).map_err(internal)?;
                Ok(json!({ "session": session, "messages": messages }))
            }),
        )
        .route(
            "chat.sessions.rename",
            Access::Extension,
            with(&s, |store, call| async move {
                let p: RenameParams = params("chat.sessions.rename", call.params)?;
                let title = p.title.trim();
                if title.is_empty() {
                    return Err(invalid("a session's title cannot be empty"));
                }
                if !store.rename_session(&p.id, title).map_err(internal)? {
                    return Err(no_session(&p.id));
                }
                to_value(store.session(&p.id).map_err(internal)?)
            }),
        )
        .route(
            "chat.sessions.delete",
            Access::Extension,
            with(&s, |store, call| async move {
                let p: IdParams = params("chat.sessions.delete", call.params)?;
                if !store.delete_session(&p.id).map_err(internal)? {
                    return Err(no_session(&p.id));
                }
                Ok(json!({ "deleted": p.id }))
            }),
        )
        .route(
            "chat.send",
            Access::Extension,
            with(&c, |chat, call| async move {
                let p: SendParams = params("chat.send", call.params)?;
                if p.text.trim().is_empty() {
                    return Err(invalid("the message is empty"));
                }
                let turn =
                    Turn { session: p.session_id, text: p.text, provider: p.provider, model: p.model, tools: p.tools };
                chat.send(turn, call.events, call.cancel).await
            }),
        )
        .route(
            "chat.settings.get",
            Access::Extension,
            with(&c, |chat, _call| async move { to_value(chat.settings().map_err(internal)?) }),
        )
        .route(
            "chat.settings.set",
            Access::Extension,
            with(&c, |chat, call| async move {
                // A partial update: the given fields over the current settings.
                let mut current = to_value(chat.settings().map_err(internal)?)?;
                let Value::Object(changes) = call.params else {
                    return Err(invalid("chat.settings.set takes an object of settings"));
                };
                for (key, value) in changes {
                    current[key] = value;
                }
                let settings: ChatSettings = params("chat.settings.set", current)?;
                chat.set_settings(&settings).map_err(invalid)?;
                to_value(settings)
            }),
        )
}

fn no_session(id: &str) -> ErrorObject {
    invalid(format!("there is no chat session {id:?}"))
}

/// `llm.prompt`: a plain completion (no tools), its tokens streamed as `token` events.
async fn prompt(llm: Arc<Llm>, call: Call) -> Result<Value, ErrorObject> {
    let p: PromptParams = params("llm.prompt", call.params)?;
    if p.messages.iter().all(|m| m.role != Role::User) {
        return Err(invalid("llm.prompt needs at least one user message"));
    }
    let (provider, model) = llm.resolve(p.provider.as_deref(), p.model.as_deref()).await?;
    let request = ChatRequest {
        model: model.clone(),
        messages: p.messages,
        tools: Vec::new(),
        temperature: p.temperature,
        context_tokens: None,
    };
    let mut stream = provider.chat(request).await?;
    let mut output = String::new();
    let mut usage = Usage::default();
    while let Some(delta) = stream.next().await {
        match delta? {
            Delta::Token(token) => {
                output.push_str(&token);
                call.events.send(RunEvent::Token { token }.to_json()).await;
            }
            Delta::ToolCall(_) => {}
            Delta::Done(counted) => usage = counted,
        }
    }
    Ok(json!({ "output": output, "provider": provider.config().id, "model": model, "usage": usage }))
}
