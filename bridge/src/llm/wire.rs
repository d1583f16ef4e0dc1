//! One provider for every wire format: [`HttpProvider`] does the HTTP (the model list, a
//! streamed chat request, errors), and a [`Wire`] says what differs — the paths, how models are
//! listed, the request body and the line decoder ([`ollama`](super::ollama),
//! [`openai`](super::openai)).

use std::marker::PhantomData;
use std::sync::Arc;

use futures::future::BoxFuture;
use futures::FutureExt;
use serde_json::Value;

use super::lines::{decode, Decoder};
use super::{failed_response, http_error, ChatRequest, DeltaStream, LlmError, ModelInfo, Provider, ProviderConfig};
use crate::secrets::Secrets;

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

/// Where a provider's API key is kept: read at each request, never held.
pub struct ApiKey {
    pub secrets: Arc<Secrets>,
    pub id: String,
}

/// A model server that speaks `W`.
pub struct HttpProvider<W> {
    config: ProviderConfig,
    http: reqwest::Client,
    key: Option<ApiKey>,
    wire: PhantomData<fn() -> W>,
}

impl<W: Wire> HttpProvider<W> {
    pub fn new(config: ProviderConfig, http: reqwest::Client, key: Option<ApiKey>) -> Self {
        HttpProvider { config, http, key, wire: PhantomData }
    }

    /// Adds the API key as a bearer token when the provider has one.
    async fn authorized(&self, request: reqwest::RequestBuilder) -> Result<reqwest::RequestBuilder, LlmError> {
        let Some(key) = &self.key else { return Ok(request) };
        match key.secrets.get(&key.id).await {
            Ok(Some(value)) => Ok(request.bearer_auth(value)),
            Ok(None) => Err(LlmError::Failed(format!(
                "the API key of {} is not in the keychain; enter it again in Harbor's settings",
                self.config.name
            ))),
            Err(error) => Err(LlmError::Failed(format!("cannot read the API key of {}: {error}", self.config.name))),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", W::base(&self.config.base_url))
    }

    async fn list(&self) -> Result<Vec<ModelInfo>, LlmError> {
        let url = self.url(W::MODELS);
        let request = self.authorized(self.http.get(&url)).await?;
        let response = request.send().await.map_err(|e| http_error(&self.config, &url, e))?;
        if !response.status().is_success() {
            return Err(failed_response(response).await);
        }
        let body: Value = response.json().await.map_err(|e| foreign(&self.config, &url, e))?;
        W::models(&self.config.id, &body).ok_or_else(|| foreign(&self.config, &url, "no model list"))
    }

    async fn start(&self, request: ChatRequest) -> Result<DeltaStream, LlmError> {
        let url = self.url(W::CHAT);
        let post = self.authorized(self.http.post(&url).json(&W::body(&request))).await?;
        let response = post.send().await.map_err(|e| http_error(&self.config, &url, e))?;
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
