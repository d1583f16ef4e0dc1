//! Signing in: OAuth 2.1 for remote MCP servers that require authorization, and the secrets
//! every server gets when it starts.
//!
//! [`Auth`] is what the supervisor asks at each start (it implements
//! [`crate::mcp::credentials::Credentials`]): it fills a server's secret variables from the
//! keychain and, for a signed-in remote server, hands over the access token — refreshed first
//! when it is about to expire, and kept fresh in the background while the server runs.
//!
//! [`Auth::sign_in`] runs the whole MCP authorization flow: probe the server for its challenge,
//! [`discovery`], [`flow::register`] (unless a client id is given), the browser round trip through
//! the [`callback`] listener, and the code exchange. Tokens (and a registered client's secret)
//! go to the keychain under `oauth:<issuer>|<resource>`; the database keeps only the metadata
//! (`sign_ins`). Nothing here logs a token.

pub mod callback;
pub mod discovery;
mod error;
pub mod flow;

pub use error::AuthError;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};

use crate::mcp::credentials::{Bearer, Credentials, Prepared};
use crate::secrets::Secrets;
use crate::store::secrets::SignIn;
use crate::store::servers::{Launch, ServerSpec};
use crate::store::{now, Store};
use discovery::Challenge;
use flow::Client;

/// How long the user has to approve a sign-in in the browser.
pub const SIGN_IN_TIMEOUT: Duration = Duration::from_secs(300);

/// Tokens are refreshed this long before they expire.
const REFRESH_AHEAD: i64 = 60;

/// What the keychain holds for one sign-in.
#[derive(Serialize, Deserialize)]
struct Tokens {
    access_token: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    refresh_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    client_secret: Option<String>,
}

fn token_id(issuer: &str, resource: &str) -> String {
    format!("oauth:{issuer}|{resource}")
}

pub struct Auth {
    store: Store,
    secrets: Arc<Secrets>,
    http: OnceLock<reqwest::Client>,
    /// Scope a server asked for on top of its token (step-up), by resource.
    step_up: Mutex<HashMap<String, String>>,
    me: Weak<Auth>,
}

impl Auth {
    pub fn new(store: Store, secrets: Arc<Secrets>) -> Arc<Auth> {
        Arc::new_cyclic(|me| Auth { store, secrets, http: OnceLock::new(), step_up: Mutex::default(), me: me.clone() })
    }

    /// The HTTP client for authorization: no redirects (a token request must not be bounced
    /// elsewhere), built on first use.
    fn http(&self) -> Result<reqwest::Client, AuthError> {
        if let Some(client) = self.http.get() {
            return Ok(client.clone());
        }
        let client = crate::http::client_builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| AuthError::Network(format!("cannot set up HTTPS ({e})")))?;
        Ok(self.http.get_or_init(|| client).clone())
    }

    /// The sign-in for a remote server, if there is one.
    pub fn sign_in_of(&self, spec: &ServerSpec) -> Option<SignIn> {
        let Launch::Remote { url, .. } = &spec.launch else { return None };
        self.store.sign_in(&discovery::canonical(url).ok()?).ok().flatten()
    }

    /// Signs in to a remote server: `open` is called with the URL the user must visit. Returns
    /// the sign-in once tokens are in the keychain.
    pub async fn sign_in(
        &self,
        spec: &ServerSpec,
        client_id: Option<String>,
        open: impl FnOnce(&str),
    ) -> Result<SignIn, AuthError> {
        let Launch::Remote { url, .. } = &spec.launch else {
            return Err(AuthError::Invalid(format!("{} is not a remote server; only remote servers sign in", spec.id)));
        };
        let http = self.http()?;
        let challenge = discovery::probe(&http, url).await?.ok_or_else(|| {
            AuthError::Invalid(format!("{url} does not ask for a sign-in; start the server as it is"))
        })?;
        let discovered = discovery::discover(&http, url, &challenge).await?;
        let step_up = self.step_up.lock().unwrap_or_else(|p| p.into_inner()).get(&discovered.resource).cloned();
        let previous = self.store.sign_in(&discovered.resource).ok().flatten().and_then(|s| s.scope);
        let scope = merge_scopes([discovered.scope.as_deref(), previous.as_deref(), step_up.as_deref()]);
        let listener = callback::Callback::bind()
            .await
            .map_err(|e| AuthError::Provider(format!("cannot listen on loopback for the provider's answer: {e}")))?;
        let client = match client_id {
            Some(client_id) => Client { client_id, client_secret: None },
            None => flow::register(&http, &discovered.server, &listener.redirect_uri).await?,
        };
        let redirect_uri = listener.redirect_uri.clone();
        let authorization =
            flow::authorize(&discovered.server, &client, &redirect_uri, &discovered.resource, scope.as_deref())?;
        open(&authorization.url);
        let code =
            tokio::time::timeout(SIGN_IN_TIMEOUT, listener.code(&authorization.state)).await.map_err(|_| {
                AuthError::Unapproved(format!(
                    "nobody approved the sign-in within {} minutes; try again",
                    SIGN_IN_TIMEOUT.as_secs() / 60
                ))
            })??;
        let token_endpoint = discovered.server.token_endpoint.clone();
        let granted =
            flow::exchange(&http, &token_endpoint, &client, &redirect_uri, &discovered.resource, code, authorization)
                .await?;
        let sign_in = SignIn {
            resource: discovered.resource.clone(),
            issuer: discovered.server.issuer.clone(),
            client_id: client.client_id.clone(),
            token_endpoint,
            revocation_endpoint: discovered.server.revocation_endpoint.clone(),
            scope: granted.scope.clone().or(scope),
            expires_at: granted.expires_in.map(|d| now() + d.as_secs() as i64),
            updated_at: now(),
        };
        let tokens = Tokens {
            access_token: granted.access_token,
            refresh_token: granted.refresh_token,
            client_secret: client.client_secret,
        };
        self.keep(&sign_in, &tokens).await?;
        self.step_up.lock().unwrap_or_else(|p| p.into_inner()).remove(&sign_in.resource);
        Ok(sign_in)
    }

    /// Stores tokens (keychain) and their metadata (database), keychain first.
    async fn keep(&self, sign_in: &SignIn, tokens: &Tokens) -> Result<(), AuthError> {
        let value = serde_json::to_string(tokens).map_err(|e| AuthError::Store(e.into()))?;
        self.secrets.set(&token_id(&sign_in.issuer, &sign_in.resource), &value).await?;
        self.store.save_sign_in(sign_in).map_err(AuthError::Store)
    }

    async fn tokens(&self, sign_in: &SignIn) -> Result<Option<Tokens>, AuthError> {
        let Some(value) = self.secrets.get(&token_id(&sign_in.issuer, &sign_in.resource)).await? else {
            return Ok(None);
        };
        serde_json::from_str(&value)
            .map(Some)
            .map_err(|_| AuthError::Invalid("the stored sign-in is damaged; sign in again".to_owned()))
    }

    /// Signs out: revokes the refresh token where the provider allows it, then forgets the
    /// tokens. False when the server was not signed in.
    pub async fn sign_out(&self, spec: &ServerSpec) -> Result<bool, AuthError> {
        let Some(sign_in) = self.sign_in_of(spec) else { return Ok(false) };
        if let (Some(endpoint), Ok(Some(tokens))) = (&sign_in.revocation_endpoint, self.tokens(&sign_in).await) {
            if let Some(refresh_token) = &tokens.refresh_token {
                let client =
                    Client { client_id: sign_in.client_id.clone(), client_secret: tokens.client_secret.clone() };
                if let Err(error) = flow::revoke(&self.http()?, endpoint, &client, refresh_token).await {
                    tracing::warn!(resource = %sign_in.resource, "{error}");
                }
            }
        }
        self.secrets.delete(&token_id(&sign_in.issuer, &sign_in.resource)).await?;
        self.store.delete_sign_in(&sign_in.resource).map_err(AuthError::Store)?;
        Ok(true)
    }

    /// Trades the refresh token for a new access token and stores the result.
    async fn refresh(&self, resource: &str) -> Result<(String, Option<i64>), AuthError> {
        let gone = |why: &str| AuthError::Invalid(format!("{why}; sign in again"));
        let sign_in = self.store.sign_in(resource).map_err(AuthError::Store)?.ok_or_else(|| gone("signed out"))?;
        let tokens =
            self.tokens(&sign_in).await?.ok_or_else(|| gone("the sign-in's tokens are gone from the keychain"))?;
        let refresh_token = tokens.refresh_token.clone().ok_or_else(|| gone("the provider gave no refresh token"))?;
        let client = Client { client_id: sign_in.client_id.clone(), client_secret: tokens.client_secret.clone() };
        let granted = flow::refresh(&self.http()?, &sign_in.token_endpoint, &client, resource, &refresh_token).await?;
        let expires_at = granted.expires_in.map(|d| now() + d.as_secs() as i64);
        let renewed = SignIn { expires_at, scope: granted.scope.or(sign_in.scope.clone()), ..sign_in };
        let tokens = Tokens {
            access_token: granted.access_token.clone(),
            refresh_token: granted.refresh_token.or(Some(refresh_token)),
            client_secret: tokens.client_secret,
        };
        self.keep(&renewed, &tokens).await?;
        tracing::info!(resource, "refreshed the access token");
        Ok((granted.access_token, expires_at))
    }

    /// The token for a signed-in resource, refreshed first when it is about to expire, with a
    /// task that keeps it fresh while the server uses it.
    async fn bearer(&self, resource: &str) -> Result<Option<Bearer>, AuthError> {
        let Some(sign_in) = self.store.sign_in(resource).map_err(AuthError::Store)? else { return Ok(None) };
        let Some(tokens) = self.tokens(&sign_in).await? else { return Ok(None) };
        let (token, expires_at) = match sign_in.expires_at {
            Some(at) if at - now() <= REFRESH_AHEAD && tokens.refresh_token.is_some() => {
                self.refresh(resource).await.unwrap_or((tokens.access_token, Some(at)))
            }
            at => (tokens.access_token, at),
        };
        let bearer = Bearer::new(token);
        if let (Some(expires_at), Some(me)) = (expires_at, self.me.upgrade()) {
            tokio::spawn(keep_fresh(me, resource.to_owned(), bearer.clone(), expires_at));
        }
        Ok(Some(bearer))
    }
}

/// Refreshes the token ahead of each expiry for as long as a session uses it.
async fn keep_fresh(auth: Arc<Auth>, resource: String, bearer: Bearer, mut expires_at: i64) {
    loop {
        let wait = (expires_at - REFRESH_AHEAD - now()).max(1) as u64;
        tokio::time::sleep(Duration::from_secs(wait)).await;
        if !bearer.in_use() {
            return;
        }
        match auth.refresh(&resource).await {
            Ok((token, Some(next))) => {
                bearer.set(token);
                expires_at = next;
            }
            Ok((token, None)) => return bearer.set(token),
            Err(error) => return tracing::warn!(%resource, "cannot refresh the access token: {error}"),
        }
    }
}

/// The union of space-separated scopes, in first-seen order.
fn merge_scopes<'a>(parts: impl IntoIterator<Item = Option<&'a str>>) -> Option<String> {
    let mut all: Vec<&str> = Vec::new();
    for scope in parts.into_iter().flatten().flat_map(str::split_whitespace) {
        if !all.contains(&scope) {
            all.push(scope);
        }
    }
    (!all.is_empty()).then(|| all.join(" "))
}

impl Credentials for Auth {
    fn prepare<'a>(&'a self, spec: &'a ServerSpec) -> BoxFuture<'a, Result<Prepared, String>> {
        Box::pin(async move {
            let values = self.secrets.fill(&spec.id, &spec.secret_env).await.map_err(|e| e.to_string())?;
            let mut launch = spec.launch.clone();
            let mut bearer = None;
            match &mut launch {
                Launch::Process { env, .. } | Launch::Docker { env, .. } => env.extend(values),
                Launch::Remote { url, headers } => {
                    headers.extend(values);
                    let resource = discovery::canonical(url).map_err(|e| e.to_string())?;
                    bearer = self.bearer(&resource).await.map_err(|e| e.to_string())?;
                }
            }
            Ok(Prepared { launch, bearer, jail: None })
        })
    }

    fn refused<'a>(&'a self, spec: &'a ServerSpec, challenge: Option<String>) -> BoxFuture<'a, Option<String>> {
        Box::pin(async move {
            let Launch::Remote { url, .. } = &spec.launch else { return None };
            let challenge = match challenge.as_deref().and_then(Challenge::parse) {
                Some(challenge) => challenge,
                None => discovery::probe(&self.http().ok()?, url).await.ok()??,
            };
            if challenge.wants_more_scope() {
                if let (Ok(resource), Some(scope)) = (discovery::canonical(url), &challenge.scope) {
                    self.step_up.lock().unwrap_or_else(|p| p.into_inner()).insert(resource, scope.clone());
                }
                return Some(format!(
                    "{} needs more access ({}); sign in again from its card in the Servers panel",
                    spec.id,
                    challenge.scope.as_deref().unwrap_or("a wider scope")
                ));
            }
            Some(format!(
                "{} asks you to sign in: use Sign in on its card in the Servers panel, or `harbor-bridge servers sign-in {}`",
                spec.id, spec.id
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_merge_without_repeats() {
        assert_eq!(merge_scopes([Some("a b"), None, Some("b c")]).as_deref(), Some("a b c"));
        assert_eq!(merge_scopes([None, None]), None);
    }
}
