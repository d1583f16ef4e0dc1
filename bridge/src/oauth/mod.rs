//! Signing in: OAuth 2.1 for remote MCP servers that require authorization, and the secrets
//! every server gets when it starts.
//!
//! [`Auth`] is what the supervisor asks at each start (it implements
//! [`crate::mcp::credentials::Credentials`]): it fills a server's secret variables from the
//! keychain and, for a signed-in remote server, hands over the access token — refreshed first
//! when it is about to expire, and kept fresh in the background while the server runs.
//!
//! [`Auth::sign_in`] runs the whole MCP authorization flow: the server's challenge (the one it
//! last refused a request with, else a probe), [`discovery`], the client — one the user brings
//! (with its secret or private key), Harbor's client ID metadata document where the
//! authorization server takes one (`HARBOR_CLIENT_METADATA_URL`), else [`flow::register`] —
//! then the browser round trip through the [`callback`] listener and the code exchange; or,
//! for a machine-to-machine server, the `client_credentials` grant with no browser at all; or,
//! where the organization's identity provider manages access ([`enterprise`], SEP-990), the
//! user's identity assertion traded for an ID-JAG and that for tokens, with no browser either.
//! Tokens (and the client's secret or key) go to the keychain under `oauth:<issuer>|<resource>`;
//! the database keeps only the metadata (`sign_ins`). Nothing here logs a token.
//!
//! A server that refuses a token for want of scope (`insufficient_scope`) makes the next sign-in
//! ask for the union of the scopes; when it refuses again scopes Harbor already asked for,
//! [`MAX_FUTILE_STEP_UPS`] bounds how often the user is sent round again.

pub mod account;
pub mod assertion;
pub mod callback;
pub mod discovery;
pub mod enterprise;
mod error;
pub mod flow;

pub use error::AuthError;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};

use harbor_protocol::api::secrets::{AuthEvent, Enterprise};

use crate::mcp::credentials::{Bearer, Credentials, Prepared, Unprepared};
use crate::secrets::Secrets;
use crate::store::secrets::{Grant, SignIn, SignInParams, TokenAuth};
use crate::store::servers::{Account, Launch, ServerSpec};
use crate::store::{now, Store};
use discovery::Challenge;
use flow::{Client, TokenEndpoint};

/// How long the user has to approve a sign-in in the browser.
pub const SIGN_IN_TIMEOUT: Duration = Duration::from_secs(300);

/// Tokens are refreshed this long before they expire.
const REFRESH_AHEAD: i64 = 60;

/// How many times a server may refuse, for want of scope, a token that already carries every
/// scope it asked for, before Harbor stops offering the sign-in (the server will not be
/// satisfied; sending the user round again would loop).
pub const MAX_FUTILE_STEP_UPS: u32 = 2;

/// Where Harbor's client ID metadata document is published, if it is (an HTTPS URL): used as
/// the client id where an authorization server takes such documents, instead of registering.
pub const CLIENT_METADATA_URL_VAR: &str = "HARBOR_CLIENT_METADATA_URL";

/// How a protected server last refused Harbor.
#[derive(Clone, Default)]
struct Refusal {
    challenge: Challenge,
    /// Refusals for want of scope that the token already had.
    futile: u32,
}

/// What the keychain holds for one sign-in.
#[derive(Serialize, Deserialize)]
struct Tokens {
    access_token: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    refresh_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    client_secret: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    private_key: Option<String>,
    /// An enterprise-managed sign-in's identity provider and the user's assertion, to renew
    /// the token with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    enterprise: Option<Enterprise>,
}

impl Tokens {
    /// The client these tokens were granted to, as the sign-in registered it.
    fn client(&self, sign_in: &SignIn) -> Client {
        Client {
            client_id: sign_in.client_id.clone(),
            client_secret: self.client_secret.clone(),
            private_key: self.private_key.clone(),
            auth: sign_in.token_auth,
        }
    }
}

fn token_id(issuer: &str, resource: &str) -> String {
    format!("oauth:{issuer}|{resource}")
}

pub struct Auth {
    store: Store,
    secrets: Arc<Secrets>,
    http: crate::http::Lazy,
    /// How each protected server (by resource) last refused Harbor.
    refusals: Mutex<HashMap<String, Refusal>>,
    me: Weak<Auth>,
}

impl Auth {
    pub fn new(store: Store, secrets: Arc<Secrets>) -> Arc<Auth> {
        let http = crate::http::Lazy::new(|builder| {
            builder.redirect(reqwest::redirect::Policy::none()).timeout(Duration::from_secs(30))
        });
        Arc::new_cyclic(|me| Auth { store, secrets, http, refusals: Mutex::default(), me: me.clone() })
    }

    /// The HTTP client for authorization: no redirects (a token request must not be bounced
    /// elsewhere), built on first use.
    fn http(&self) -> Result<reqwest::Client, AuthError> {
        self.http.get().map_err(AuthError::Network)
    }

    /// The sign-in for a remote server, or a local server's connected account, if there is one.
    pub fn sign_in_of(&self, spec: &ServerSpec) -> Option<SignIn> {
        let resource = match (&spec.launch, &spec.account) {
            (Launch::Remote { url, .. }, _) => discovery::canonical(url).ok()?,
            (_, Some(_)) => account::resource_of(&spec.id),
            (_, None) => return None,
        };
        self.store.sign_in(&resource).ok().flatten()
    }

    fn refusal(&self, resource: &str) -> Option<Refusal> {
        self.refusals.lock().unwrap_or_else(|p| p.into_inner()).get(resource).cloned()
    }

    /// Signs in to a remote server with what the user brings (`request`: a client the provider
    /// issued, the grant), or connects a local server's account: `tell` is called with what the
    /// user must do — the URL to visit, or the code to type at the provider (never for
    /// `client_credentials`). Returns the sign-in once tokens are in the keychain.
    pub async fn sign_in(
        &self,
        spec: &ServerSpec,
        request: SignInParams,
        tell: impl FnOnce(AuthEvent),
    ) -> Result<SignIn, AuthError> {
        let Launch::Remote { url, .. } = &spec.launch else {
            return match &spec.account {
                Some(account) => self.connect(spec, account, request, tell).await,
                None => Err(AuthError::Invalid(format!(
                    "{} signs in to nothing: only remote servers sign in, and local servers with an account to connect (set one in its settings)",
                    spec.id
                ))),
            };
        };
        let http = self.http()?;
        let refusal = self.refusal(&discovery::canonical(url)?);
        if let Some(refusal) = refusal.as_ref().filter(|r| r.futile >= MAX_FUTILE_STEP_UPS) {
            return Err(AuthError::Provider(format!(
                "{url} keeps refusing tokens that carry every scope it asked for ({}); signing in again would not help — ask the server's owner, or sign out to start over",
                refusal.challenge.scope.as_deref().unwrap_or("no scope named")
            )));
        }
        let challenge = match refusal {
            Some(refusal) => refusal.challenge,
            None => discovery::probe(&http, url).await?.ok_or_else(|| {
                AuthError::Invalid(format!("{url} does not ask for a sign-in; start the server as it is"))
            })?,
        };
        let discovered = discovery::discover(&http, url, &challenge).await?;
        let step_up = challenge.wants_more_scope().then_some(challenge.scope.as_deref()).flatten();
        let previous = self.store.sign_in(&discovered.resource).ok().flatten().and_then(|s| s.scope);
        let scope = merge_scopes([discovered.scope.as_deref(), previous.as_deref(), step_up]);
        let server = &discovered.server;
        let endpoint = TokenEndpoint { url: &server.token_endpoint, issuer: &server.issuer };
        let grant = request.grant.unwrap_or_default();
        let brought =
            request.client_id.map(|id| Client::pre_registered(id, request.client_secret, request.private_key, server));
        let (client, granted) = match grant {
            Grant::ClientCredentials => {
                let client = brought.ok_or_else(|| {
                    AuthError::Invalid("a client_credentials sign-in needs the client id its provider issued".into())
                })?;
                if client.auth == TokenAuth::None {
                    return Err(AuthError::Invalid(
                        "a client_credentials sign-in needs the client's secret or private key".into(),
                    ));
                }
                let granted =
                    flow::client_credentials(&http, &endpoint, &client, &discovered.resource, scope.as_deref()).await?;
                (client, granted)
            }
            Grant::AuthorizationCode => {
                let listener = callback::Callback::bind().await.map_err(|e| {
                    AuthError::Provider(format!("cannot listen on loopback for the provider's answer: {e}"))
                })?;
                let client = match brought {
                    Some(client) => client,
                    None => match metadata_document_url().filter(|_| server.client_id_metadata_document_supported) {
                        Some(url) => Client::by_metadata_document(url),
                        None => flow::register(&http, server, &listener.redirect_uri).await?,
                    },
                };
                let resource = Some(discovered.resource.as_str());
                let granted = browser(&http, server, &client, listener, resource, scope.as_deref(), tell).await?;
                (client, granted)
            }
            Grant::Enterprise => {
                let client = brought.ok_or_else(|| {
                    AuthError::Invalid(
                        "an enterprise-managed sign-in needs the client id the server's owner issued to Harbor".into(),
                    )
                })?;
                let identity = request.enterprise.clone().ok_or_else(|| {
                    AuthError::Invalid(
                        "an enterprise-managed sign-in needs the identity provider's token endpoint, Harbor's client id there and your ID token".into(),
                    )
                })?;
                let granted =
                    enterprise_grant(&http, &endpoint, &client, &identity, &discovered.resource, scope.as_deref())
                        .await?;
                (client, granted)
            }
            Grant::DeviceCode => {
                return Err(AuthError::Invalid(
                    "the device flow is for a local server's account; a remote server signs in in the browser".into(),
                ))
            }
        };
        // The refusal stays, with its count of futile step-ups, until the user signs out (or the
        // bridge restarts): a later sign-in starts from the server's latest challenge.
        self.keep_granted(discovered.resource.clone(), server, client, granted, scope, (grant, request.enterprise))
            .await
    }

    /// Connects a local server's account at its provider: the device flow when asked for (or
    /// when the provider offers nothing else), else the browser with a loopback redirect. The
    /// client is the one the account names, public (PKCE protects the browser's code).
    async fn connect(
        &self,
        spec: &ServerSpec,
        account: &Account,
        request: SignInParams,
        tell: impl FnOnce(AuthEvent),
    ) -> Result<SignIn, AuthError> {
        let http = self.http()?;
        let server = account::provider(&http, account).await?;
        let client = Client::pre_registered(account.client_id.clone(), None, None, &server);
        let scope = account.scope.clone();
        let grant = match request.grant {
            Some(grant) => grant,
            None if server.authorization_endpoint.is_empty() => Grant::DeviceCode,
            None => Grant::AuthorizationCode,
        };
        let granted = match grant {
            Grant::DeviceCode => {
                let endpoint = server.device_authorization_endpoint.as_deref().ok_or_else(|| {
                    AuthError::Invalid(format!("{}'s provider offers no device flow; sign in in the browser", spec.id))
                })?;
                let device = account::device_authorize(&http, endpoint, &client.client_id, scope.as_deref()).await?;
                tell(AuthEvent::Device {
                    user_code: device.user_code.clone(),
                    verification_uri: device.verification_uri.clone(),
                    verification_uri_complete: device.verification_uri_complete.clone(),
                    expires_in: device.expires_in,
                });
                account::poll(&http, &server.token_endpoint, &client.client_id, &device).await?
            }
            Grant::AuthorizationCode => {
                if server.authorization_endpoint.is_empty() {
                    return Err(AuthError::Invalid(format!(
                        "{}'s provider has no authorization endpoint; connect with a code instead (the device flow)",
                        spec.id
                    )));
                }
                let listener = callback::Callback::bind().await.map_err(|e| {
                    AuthError::Provider(format!("cannot listen on loopback for the provider's answer: {e}"))
                })?;
                browser(&http, &server, &client, listener, None, scope.as_deref(), tell).await?
            }
            Grant::ClientCredentials | Grant::Enterprise => {
                return Err(AuthError::Invalid(
                    "an account is the user's: connect it in the browser or with a code".into(),
                ))
            }
        };
        self.keep_granted(account::resource_of(&spec.id), &server, client, granted, scope, (grant, None)).await
    }

    /// What a sign-in (or an account's connection) was granted, kept: the tokens and the
    /// client's secret or key in the keychain, the rest as its `SignIn`.
    async fn keep_granted(
        &self,
        resource: String,
        server: &discovery::AuthServer,
        client: Client,
        granted: flow::Granted,
        scope: Option<String>,
        // The grant, and an enterprise-managed one's identity to renew it with.
        (grant, enterprise): (Grant, Option<Enterprise>),
    ) -> Result<SignIn, AuthError> {
        let sign_in = SignIn {
            resource,
            issuer: server.issuer.clone(),
            client_id: client.client_id.clone(),
            token_endpoint: server.token_endpoint.clone(),
            revocation_endpoint: server.revocation_endpoint.clone(),
            scope: granted.scope.clone().or(scope),
            expires_at: granted.expires_in.map(|d| now() + d.as_secs() as i64),
            updated_at: now(),
            token_auth: client.auth,
            grant,
        };
        let tokens = Tokens {
            access_token: granted.access_token,
            refresh_token: granted.refresh_token,
            client_secret: client.client_secret,
            private_key: client.private_key,
            enterprise,
        };
        self.keep(&sign_in, &tokens).await?;
        Ok(sign_in)
    }

    /// A connected account's access token for a start, refreshed first when it is about to
    /// expire, with when to renew it; an error the user must act on when it is not connected.
    async fn account_token(&self, spec: &ServerSpec) -> Result<(String, Option<i64>), Unprepared> {
        let resource = account::resource_of(&spec.id);
        let needs = |why: &str| {
            Unprepared {
            message: format!(
                "{} needs its account: {why}. Connect it from its card in the Servers panel, or `harbor-bridge servers sign-in {}`",
                spec.id, spec.id
            ),
            sign_in: true,
        }
        };
        let sign_in = self.store.sign_in(&resource).map_err(|e| Unprepared::from(e.to_string()))?;
        let sign_in = sign_in.ok_or_else(|| needs("it is not connected yet"))?;
        let tokens = self.tokens(&sign_in).await.map_err(|e| Unprepared::from(e.to_string()))?;
        let tokens = tokens.ok_or_else(|| needs("its tokens are gone from the keychain"))?;
        match sign_in.expires_at {
            Some(at) if at - now() <= REFRESH_AHEAD => match tokens.refresh_token {
                Some(_) => self.refresh(&resource).await.map_err(|e| needs(&format!("its token expired and {e}"))),
                None => Err(needs("its token expired and the provider gave no way to renew it")),
            },
            at => Ok((tokens.access_token, at)),
        }
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
                let client = tokens.client(&sign_in);
                if let Err(error) = flow::revoke(&self.http()?, endpoint, &sign_in.issuer, &client, refresh_token).await
                {
                    tracing::warn!(resource = %sign_in.resource, "{error}");
                }
            }
        }
        self.secrets.delete(&token_id(&sign_in.issuer, &sign_in.resource)).await?;
        self.store.delete_sign_in(&sign_in.resource).map_err(AuthError::Store)?;
        self.refusals.lock().unwrap_or_else(|p| p.into_inner()).remove(&sign_in.resource);
        Ok(true)
    }

    /// A new access token — for the refresh token, or by making a `client_credentials` grant
    /// again — stored before it is returned.
    async fn refresh(&self, resource: &str) -> Result<(String, Option<i64>), AuthError> {
        let gone = |why: &str| AuthError::Invalid(format!("{why}; sign in again"));
        let sign_in = self.store.sign_in(resource).map_err(AuthError::Store)?.ok_or_else(|| gone("signed out"))?;
        let tokens =
            self.tokens(&sign_in).await?.ok_or_else(|| gone("the sign-in's tokens are gone from the keychain"))?;
        let client = tokens.client(&sign_in);
        let http = self.http()?;
        let endpoint = TokenEndpoint { url: &sign_in.token_endpoint, issuer: &sign_in.issuer };
        let refresh_token = tokens.refresh_token.clone();
        // An account's token is for its provider's API: no RFC 8707 resource.
        let indicator = (!account::is_account(resource)).then_some(resource);
        let granted = match (sign_in.grant, &refresh_token) {
            (Grant::ClientCredentials, _) => {
                flow::client_credentials(&http, &endpoint, &client, resource, sign_in.scope.as_deref()).await?
            }
            (Grant::Enterprise, _) => {
                let identity = tokens.enterprise.as_ref().ok_or_else(|| gone("the identity assertion is gone"))?;
                enterprise_grant(&http, &endpoint, &client, identity, resource, sign_in.scope.as_deref()).await?
            }
            (Grant::AuthorizationCode | Grant::DeviceCode, Some(refresh_token)) => {
                flow::refresh(&http, &endpoint, &client, indicator, refresh_token).await?
            }
            (Grant::AuthorizationCode | Grant::DeviceCode, None) => {
                return Err(gone("the provider gave no refresh token"))
            }
        };
        let expires_at = granted.expires_in.map(|d| now() + d.as_secs() as i64);
        let renewed = SignIn { expires_at, scope: granted.scope.or(sign_in.scope.clone()), ..sign_in };
        let tokens = Tokens {
            access_token: granted.access_token.clone(),
            refresh_token: granted.refresh_token.or(refresh_token),
            client_secret: tokens.client_secret,
            private_key: tokens.private_key,
            enterprise: tokens.enterprise,
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
            Some(at)
                if at - now() <= REFRESH_AHEAD
                    && (tokens.refresh_token.is_some()
                        || matches!(sign_in.grant, Grant::ClientCredentials | Grant::Enterprise)) =>
            {
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

/// SEP-990's two exchanges: the identity assertion for an ID-JAG at the identity provider, then
/// the ID-JAG for tokens at the server's authorization server.
async fn enterprise_grant(
    http: &reqwest::Client,
    endpoint: &TokenEndpoint<'_>,
    client: &Client,
    identity: &Enterprise,
    resource: &str,
    scope: Option<&str>,
) -> Result<flow::Granted, AuthError> {
    let id_jag = enterprise::id_jag(http, identity, endpoint.issuer, resource, scope).await?;
    enterprise::jwt_bearer(http, endpoint, client, &id_jag, scope).await
}

/// The browser round trip: the authorization URL told to the user, the provider's answer at
/// the loopback listener (its `state` and, where promised, its `iss` checked), the code traded.
async fn browser(
    http: &reqwest::Client,
    server: &discovery::AuthServer,
    client: &Client,
    listener: callback::Callback,
    resource: Option<&str>,
    scope: Option<&str>,
    tell: impl FnOnce(AuthEvent),
) -> Result<flow::Granted, AuthError> {
    let redirect_uri = listener.redirect_uri.clone();
    let authorization = flow::authorize(server, client, &redirect_uri, resource, scope)?;
    tell(AuthEvent::Authorize { url: authorization.url.clone() });
    let iss_required = server.authorization_response_iss_parameter_supported;
    let answer = listener.code(&authorization.state, &server.issuer, iss_required);
    let code = tokio::time::timeout(SIGN_IN_TIMEOUT, answer).await.map_err(|_| {
        AuthError::Unapproved(format!(
            "nobody approved the sign-in within {} minutes; try again",
            SIGN_IN_TIMEOUT.as_secs() / 60
        ))
    })??;
    let endpoint = TokenEndpoint { url: &server.token_endpoint, issuer: &server.issuer };
    flow::exchange(http, &endpoint, client, &redirect_uri, resource, code, authorization).await
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

/// Harbor's client ID metadata document, where one is published (HTTPS, or loopback for tests).
fn metadata_document_url() -> Option<String> {
    let url = std::env::var(CLIENT_METADATA_URL_VAR).ok().filter(|u| !u.is_empty())?;
    match discovery::check_secure(&url) {
        Ok(_) => Some(url),
        Err(why) => {
            tracing::warn!("{CLIENT_METADATA_URL_VAR} is ignored: {why}");
            None
        }
    }
}

/// Whether every scope in `wanted` is among `held`.
fn holds(held: Option<&str>, wanted: Option<&str>) -> bool {
    let held: Vec<&str> = held.unwrap_or_default().split_whitespace().collect();
    wanted.unwrap_or_default().split_whitespace().all(|scope| held.contains(&scope))
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
    fn prepare<'a>(&'a self, spec: &'a ServerSpec) -> BoxFuture<'a, Result<Prepared, Unprepared>> {
        Box::pin(async move {
            let values = self.secrets.fill(&spec.id, &spec.secret_env).await.map_err(|e| e.to_string())?;
            let mut launch = spec.launch.clone();
            let mut bearer = None;
            let (mut renew_at, mut account_token) = (None, None);
            match &mut launch {
                Launch::Process { env, .. } | Launch::Docker { env, .. } => {
                    env.extend(values);
                    if let Some(account) = &spec.account {
                        let (token, expires_at) = self.account_token(spec).await?;
                        renew_at = expires_at.map(|at| at - REFRESH_AHEAD);
                        env.insert(account.env.clone(), token.clone());
                        account_token = Some((account::resource_of(&spec.id), token));
                    }
                }
                Launch::Remote { url, headers } => {
                    headers.extend(values);
                    let resource = discovery::canonical(url).map_err(|e| e.to_string())?;
                    // Not signed in: an empty bearer, so that a refusal is still seen and shown.
                    let signed_in = self.bearer(&resource).await.map_err(|e| e.to_string())?;
                    bearer = Some(signed_in.unwrap_or_default());
                }
            }
            Ok(Prepared { launch, bearer, jail: None, renew_at, account_token })
        })
    }

    fn refused<'a>(&'a self, spec: &'a ServerSpec, challenge: Option<String>) -> BoxFuture<'a, Option<String>> {
        Box::pin(async move {
            let Launch::Remote { url, .. } = &spec.launch else { return None };
            let challenge = match challenge.as_deref().and_then(Challenge::parse) {
                Some(challenge) => challenge,
                None => discovery::probe(&self.http().ok()?, url).await.ok()??,
            };
            let resource = discovery::canonical(url).ok()?;
            let held = self.store.sign_in(&resource).ok().flatten().and_then(|s| s.scope);
            let futile = challenge.wants_more_scope() && holds(held.as_deref(), challenge.scope.as_deref());
            let refusal = {
                let mut refusals = self.refusals.lock().unwrap_or_else(|p| p.into_inner());
                let refusal = refusals.entry(resource).or_default();
                refusal.futile += u32::from(futile);
                refusal.challenge = challenge.clone();
                refusal.clone()
            };
            if refusal.futile >= MAX_FUTILE_STEP_UPS {
                return Some(format!(
                    "{} refuses even a token with every scope it asked for ({}); ask its owner, or sign out and in again to retry",
                    spec.id,
                    challenge.scope.as_deref().unwrap_or("no scope named")
                ));
            }
            if challenge.wants_more_scope() {
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

    #[test]
    fn a_token_holds_a_scope_only_with_every_part() {
        assert!(holds(Some("a b"), Some("b a")));
        assert!(holds(Some("a"), None));
        assert!(!holds(Some("a"), Some("a c")));
        assert!(!holds(None, Some("a")));
    }
}
