//! One provider for every wire format: [`HttpProvider`] does the HTTP (the model list, a
//! streamed chat request, errors), and a [`Wire`] says what differs — the paths, how models are
//! listed, the request body and the line decoder ([`ollama`](super::ollama),
//! [`openai`](super::openai)).

use std::marker::PhantomData;

use futures::future::BoxFuture;
use futures::FutureExt;
use serde_json::Value;

use super::lines::{decode, Decoder};
use super::{failed_response, http_error, ChatRequest, DeltaStream, LlmError, ModelInfo, Provider, ProviderConfig};

/// What one wire format decides.
pub trait Wire: Send + Sync + 'static {
    /// The model list's path, after the base URL.
    const MODELS: &'static str;
    /// A chat request's path, after the base URL.
    const CHAT: &'static str;
    type Lines: Decoder + Default;

    /// The base URL as the format wants it written.
    fn base(url: &str) -> String {
        url.trim_end_matches('/').to_owned()
    }

    /// The models in the model list's body, or `None` when it is not this format's list.
    fn models(provider: &str, body: &Value) -> Option<Vec<ModelInfo>>;

    /// The body of a streamed chat request.
    fn body(request: &ChatRequest) -> Value;
}

/// A model server that speaks `W`.
pub struct HttpProvider<W> {
    config: ProviderConfig,
    http: reqwest::Client,
    wire: PhantomData<fn() -> W>,
}

impl<W: Wire> HttpProvider<W> {
    pub fn new(config: ProviderConfig, http: reqwest::Client) -> Self {
        HttpProvider { config, http, wire: PhantomData }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", W::base(&self.config.base_url))
    }

    async fn list(&self) -> Result<Vec<ModelInfo>, LlmError> {
        let url = self.url(W::MODELS);
        let response = self.http.get(&url).send().await.map_err(|e| http_error(&self.config, &url, e))?;
        if !response.status().is_success() {
            return Err(failed_response(response).await);
        }
        let body: Value = response.json().await.map_err(|e| foreign(&self.config, &url, e))?;
        W::models(&self.config.id, &body).ok_or_else(|| foreign(&self.config, &url, "no model list"))
    }

    async fn start(&self, request: ChatRequest) -> Result<DeltaStream, LlmError> {
        let url = self.url(W::CHAT);
        let response = self
            .http
            .post(&url)
            .json(&W::body(&request))
            .send()
            .await
            .map_err(|e| http_error(&self.config, &url, e))?;
        if !response.status().is_success() {
            return Err(failed_response(response).await);
        }
        Ok(decode(response, W::Lines::default()))
    }
}

impl<W: Wire> Provider for HttpProvider<W> {
    fn config(&self) -> &ProviderConfig {
        &self.config
    }

    fn models(&self) -> BoxFuture<'_, Result<Vec<ModelInfo>, LlmError>> {
        self.list().boxed()
    }

    fn chat(&self, request: ChatRequest) -> BoxFuture<'_, Result<DeltaStream, LlmError>> {
        self.start(request).boxed()
    }
}

/// `url` answered, but not in the provider's wire format.
fn foreign(config: &ProviderConfig, url: &str, why: impl std::fmt::Display) -> LlmError {
    LlmError::Failed(format!(
        "{url} did not answer like {} ({why}); check the provider's URL and kind",
        config.kind.described()
    ))
}
