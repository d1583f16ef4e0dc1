//! `llm.*` (model providers, plain completions) and `chat.*` (sessions, turns, settings).

use std::sync::Arc;

use futures::StreamExt;
use harbor_protocol::api::{chat as chat_api, llm as api};
use harbor_protocol::ErrorObject;

use super::{internal, Area};
use crate::chat::agent::RunEvent;
use crate::chat::{Chat, ChatSettings, Turn, DEFAULT_TITLE};
use crate::llm::{ChatRequest, Delta, Llm, ProviderConfig, Role, Usage};
use crate::rpc::{Call, Router};
use crate::store::Store;

/// Registers `llm.*` and `chat.*`.
pub fn routes(router: Router, llm: Arc<Llm>, chat: Arc<Chat>, store: Store) -> Router {
    let router = Area::new(router, llm)
        .on::<api::LlmProviders, _>(|llm, _, _| async move {
            let (providers, active) = llm.status().await.map_err(internal)?;
            Ok(api::ProvidersStatus { providers, active })
        })
        .on::<api::LlmSetProvider, _>(|llm, p, _| async move {
            let name = p.name.unwrap_or_else(|| p.id.clone());
            let api_key_secret = match p.api_key.filter(|k| !k.is_empty()) {
                Some(key) => Some(llm.keep_api_key(&p.id, &key).await.map_err(super::secret_error)?),
                None => llm.api_key_of(&p.id),
            };
            let config = ProviderConfig { id: p.id, kind: p.kind, name, base_url: p.base_url, api_key_secret };
            llm.set_provider(config).map_err(ErrorObject::invalid)
        })
        .on::<api::LlmRemoveProvider, _>(|llm, p, _| async move {
            let key = llm.api_key_of(&p.id);
            let settings = llm.remove_provider(&p.id).map_err(ErrorObject::invalid)?;
            if let Some(key) = key {
                llm.forget_api_key(&key).await;
            }
            Ok(settings)
        })
        .on::<api::LlmSelect, _>(
            |llm, p, _| async move { llm.select(&p.provider, p.model).map_err(ErrorObject::invalid) },
        )
        .on::<api::LlmModels, _>(|llm, p, _| async move {
            let provider = llm.provider(p.provider.as_deref())?;
            Ok(provider.models().await?)
        })
        .on::<api::LlmPrompt, _>(prompt)
        .on::<api::LlmBuiltinCatalog, _>(|llm, _, _| async move { Ok(llm.catalog()) })
        .on::<api::LlmBuiltinDownload, _>(|llm, p, call| async move {
            llm.download_reporting(&p.id, p.from.as_deref(), &call.events).await
        })
        .on::<api::LlmBuiltinMirror, _>(|llm, p, _| async move {
            llm.set_mirror(p.url).map(|()| harbor_protocol::api::Empty {})
        })
        .done();
    let router = Area::new(router, store.clone())
        .on::<chat_api::ChatSessionsList, _>(|store, _, _| async move { store.sessions().map_err(internal) })
        .on::<chat_api::ChatSessionsCreate, _>(|store, p, _| async move {
            let title = p.title.as_deref().map(str::trim).filter(|t| !t.is_empty()).unwrap_or(DEFAULT_TITLE);
            store
                .create_session(title, p.provider.as_deref(), p.model.as_deref(), p.system_prompt.as_deref())
                .map_err(internal)
        })
        .on::<chat_api::ChatSessionsRename, _>(|store, p, _| async move {
            let title = p.title.trim();
            if title.is_empty() {
                return Err(ErrorObject::invalid("a session's title cannot be empty"));
            }
            if !store.rename_session(&p.id, title).map_err(internal)? {
                return Err(no_session(&p.id));
            }
            store.session(&p.id).map_err(internal)?.ok_or_else(|| no_session(&p.id))
        })
        .on::<chat_api::ChatSessionsDelete, _>(|store, p, _| async move {
            if !store.delete_session(&p.id).map_err(internal)? {
                return Err(no_session(&p.id));
            }
            Ok(chat_api::Deleted { deleted: p.id })
        })
        .done();
    Area::new(router, (chat, store))
        .on::<chat_api::ChatSessionsGet, _>(|(chat, store), p, _| async move {
            let session = store.session(&p.id).map_err(internal)?.ok_or_else(|| no_session(&p.id))?;
            let messages = store.messages(&p.id).map_err(internal)?;
            Ok(chat_api::SessionWithMessages { session, messages, running: chat.is_running(&p.id) })
        })
        .on::<chat_api::ChatSend, _>(|(chat, _), p, call| async move {
            if p.text.trim().is_empty() {
                return Err(ErrorObject::invalid("the message is empty"));
            }
            let turn = Turn {
                session: p.session_id,
                text: p.text,
                provider: p.provider,
                model: p.model,
                tools: p.tools,
                page_tab: p.page_tab,
                site_chat: p.site_chat,
                page: p.page,
                skills: p.skills,
            };
            chat.send(turn, call.events, call.cancel).await
        })
        .on::<chat_api::ChatSettingsGet, _>(|(chat, _), _, _| async move { chat.settings().map_err(internal) })
        .on::<chat_api::ChatSettingsSet, _>(|(chat, _), p, _| async move {
            let mut settings: ChatSettings = chat.settings().map_err(internal)?;
            if let Some(v) = p.max_tool_calls {
                settings.max_tool_calls = v;
            }
            if let Some(v) = p.max_tools {
                settings.max_tools = v;
            }
            if let Some(v) = p.tool_result_chars {
                settings.tool_result_chars = v;
            }
            if let Some(v) = p.context_tokens {
                settings.context_tokens = v;
            }
            if let Some(v) = p.system_prompt {
                settings.system_prompt = v;
            }
            if let Some(v) = p.code_mode {
                settings.code_mode = v;
            }
            chat.set_settings(&settings).map_err(ErrorObject::invalid)?;
            Ok(settings)
        })
        .done()
}

fn no_session(id: &str) -> ErrorObject {
    ErrorObject::invalid(format!("there is no chat session {id:?}"))
}

/// `llm.prompt`: a plain completion (no tools), its tokens streamed as `token` events.
async fn prompt(llm: Arc<Llm>, p: api::Prompt, call: Call) -> Result<api::Completion, ErrorObject> {
    if p.messages.iter().all(|m| m.role != Role::User) {
        return Err(ErrorObject::invalid("llm.prompt needs at least one user message"));
    }
    let (provider, model) = llm.resolve(p.provider.as_deref(), p.model.as_deref()).await?;
    let request = ChatRequest {
        model: model.clone(),
        messages: p.messages,
        tools: Vec::new(),
        temperature: p.temperature,
        context_tokens: None,
        top_k: None,
        response_schema: None,
    };
    let mut stream = provider.chat(request).await?;
    let mut output = String::new();
    let mut usage = Usage::default();
    while let Some(delta) = stream.next().await {
        match delta? {
            Delta::Token(token) => {
                output.push_str(&token);
                call.events.emit(&RunEvent::Token { token }).await;
            }
            Delta::ToolCall(_) => {}
            Delta::Done(counted) => usage = counted,
        }
    }
    Ok(api::Completion { output, provider: provider.config().id.clone(), model, usage })
}
