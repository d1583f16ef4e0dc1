//! What a server needs at start from outside the MCP layer — its secrets and, for a remote
//! server, a sign-in — as one trait, so that `mcp` knows nothing of keychains or OAuth.
//!
//! A signed-in remote server gets a [`Bearer`]: the current access token behind a lock, sent
//! with every request by [`BearerClient`]. Whoever refreshes the token swaps it in place, so a
//! refresh never interrupts the session. When the server answers 401 or 403 mid-session, the
//! client records it in the [`Bearer`], and the supervisor reports that signing in is needed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use futures::future::BoxFuture;
use futures::stream::BoxStream;
use http::{HeaderName, HeaderValue};
use rmcp::model::ClientJsonRpcMessage;
use rmcp::transport::streamable_http_client::{StreamableHttpClient, StreamableHttpError, StreamableHttpPostResponse};
use sse_stream::{Error as SseError, Sse};

use crate::store::servers::{Launch, ServerSpec};

/// A server's launch with its secrets filled in.
pub struct Prepared {
    pub launch: Launch,
    pub bearer: Option<Bearer>,
    /// The OS sandbox a native launch runs in, set by the supervisor from the server's spec.
    pub jail: Option<crate::runtimes::sandbox::Jail>,
    /// When the launch's account token must be renewed (Unix seconds): a process's environment
    /// cannot change, so the supervisor starts the server again then, with a fresh token.
    pub renew_at: Option<i64>,
    /// The account token the launch carries (`(secret id, value)`), for scanning tool traffic.
    pub account_token: Option<(String, String)>,
}

/// Why a server cannot start until the user acts.
#[derive(Clone, Debug, PartialEq)]
pub struct Unprepared {
    pub message: String,
    /// A sign-in (or an account to connect) is what is missing.
    pub sign_in: bool,
}

impl From<String> for Unprepared {
    fn from(message: String) -> Unprepared {
        Unprepared { message, sign_in: false }
    }
}

impl Prepared {
    /// `launch` as it is: no token, no sandbox.
    pub fn plain(launch: Launch) -> Prepared {
        Prepared { launch, bearer: None, jail: None, renew_at: None, account_token: None }
    }

    /// The secret values this launch carries: `(secret id, value)` for each of `spec`'s secret
    /// variables (or headers), for scanning tool traffic (see `redact`).
    pub fn secret_values(&self, spec: &ServerSpec) -> Vec<(String, String)> {
        let filled = match &self.launch {
            Launch::Process { env, .. } | Launch::Docker { env, .. } => env,
            Launch::Remote { headers, .. } => headers,
        };
        let secrets = spec.secret_env.iter().filter_map(|(var, id)| Some((id.clone(), filled.get(var)?.clone())));
        secrets.chain(self.account_token.clone()).collect()
    }
}

/// The access token a signed-in remote server is sent, shared with whoever refreshes it; empty
/// (nothing sent) for a remote server not signed in, which still records a refusal.
#[derive(Clone, Default)]
pub struct Bearer {
    token: Arc<RwLock<String>>,
    /// The `WWW-Authenticate` challenge of the last 401/403, if the server refused the token.
    refused: Arc<Mutex<Option<String>>>,
}

impl Bearer {
    pub fn new(token: String) -> Bearer {
        Bearer { token: Arc::new(RwLock::new(token)), refused: Arc::default() }
    }

    pub fn set(&self, token: String) {
        *self.token.write().unwrap_or_else(|p| p.into_inner()) = token;
    }

    /// The token to send; none before a sign-in (an empty bearer).
    fn current(&self) -> Option<String> {
        Some(self.token.read().unwrap_or_else(|p| p.into_inner()).clone()).filter(|token| !token.is_empty())
    }

    /// The challenge the server sent when it last refused the token.
    pub fn refused(&self) -> Option<String> {
        self.refused.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Whether the token is still wanted: false once only the refresher holds it.
    pub fn in_use(&self) -> bool {
        Arc::strong_count(&self.token) > 1
    }
}

/// Secrets and sign-ins, as the supervisor sees them.
pub trait Credentials: Send + Sync + 'static {
    /// `spec.launch` with its secret variables (or headers) filled in, and a signed-in remote
    /// server's token; or, in plain words, why the server cannot start until the user acts.
    fn prepare<'a>(&'a self, spec: &'a ServerSpec) -> BoxFuture<'a, Result<Prepared, Unprepared>>;

    /// Called when a remote server's handshake failed or its session ended after it refused
    /// the token (`challenge`: its `WWW-Authenticate`): `Some(message)` when the server asks
    /// for a sign-in, which restarting cannot replace.
    fn refused<'a>(&'a self, spec: &'a ServerSpec, challenge: Option<String>) -> BoxFuture<'a, Option<String>>;
}

/// For hosts without secrets (benchmarks, unit tests): launches as they are.
pub struct NoCredentials;

impl Credentials for NoCredentials {
    fn prepare<'a>(&'a self, spec: &'a ServerSpec) -> BoxFuture<'a, Result<Prepared, Unprepared>> {
        Box::pin(async move { Ok(Prepared::plain(spec.launch.clone())) })
    }

    fn refused<'a>(&'a self, _spec: &'a ServerSpec, _challenge: Option<String>) -> BoxFuture<'a, Option<String>> {
        Box::pin(async { None })
    }
}

/// rmcp's reqwest client with the token taken from a [`Bearer`] at each request.
#[derive(Clone)]
pub struct BearerClient {
    pub http: reqwest::Client,
    pub bearer: Bearer,
}

type Error = StreamableHttpError<reqwest::Error>;

impl BearerClient {
    fn note<T>(&self, result: Result<T, Error>) -> Result<T, Error> {
        let challenge = match &result {
            Err(StreamableHttpError::AuthRequired(e)) => Some(e.www_authenticate_header.clone()),
            Err(StreamableHttpError::InsufficientScope(e)) => Some(e.www_authenticate_header.clone()),
            _ => None,
        };
        if let Some(challenge) = challenge {
            *self.bearer.refused.lock().unwrap_or_else(|p| p.into_inner()) = Some(challenge);
        }
        result
    }
}

impl StreamableHttpClient for BearerClient {
    type Error = reqwest::Error;

    async fn post_message(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        _auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<StreamableHttpPostResponse, Error> {
        let token = self.bearer.current();
        self.note(self.http.post_message(uri, message, session_id, token, custom_headers).await)
    }

    async fn post_message_with_max_sse_event_size(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        _auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        max_sse_event_size: usize,
    ) -> Result<StreamableHttpPostResponse, Error> {
        let token = self.bearer.current();
        let sent = self
            .http
            .post_message_with_max_sse_event_size(uri, message, session_id, token, custom_headers, max_sse_event_size)
            .await;
        self.note(sent)
    }

    async fn delete_session(
        &self,
        uri: Arc<str>,
        session_id: Arc<str>,
        _auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<(), Error> {
        self.http.delete_session(uri, session_id, self.bearer.current(), custom_headers).await
    }

    async fn get_stream(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        _auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<BoxStream<'static, Result<Sse, SseError>>, Error> {
        let token = self.bearer.current();
        self.note(self.http.get_stream(uri, session_id, last_event_id, token, custom_headers).await)
    }

    async fn get_stream_with_max_sse_event_size(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        _auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        max_sse_event_size: usize,
    ) -> Result<BoxStream<'static, Result<Sse, SseError>>, Error> {
        let token = self.bearer.current();
        let opened = self
            .http
            .get_stream_with_max_sse_event_size(
                uri,
                session_id,
                last_event_id,
                token,
                custom_headers,
                max_sse_event_size,
            )
            .await;
        self.note(opened)
    }
}
