//! OAuth 2.1 with the oauth2 crate: client registration (RFC 7591), the authorization code
//! flow with PKCE S256 and the `resource` indicator (RFC 8707), refresh, and revocation
//! (RFC 7009) — all over the bridge's own reqwest client, which follows no redirects.

use std::time::Duration;

use oauth2::basic::{BasicClient, BasicErrorResponse, BasicTokenResponse};
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl,
    RefreshToken, RequestTokenError, RevocationUrl, Scope, StandardRevocableToken, TokenResponse, TokenUrl,
};
use serde_json::{json, Value};

use super::discovery::AuthServer;
use super::AuthError;

/// Harbor's identity at an authorization server.
#[derive(Clone, Debug)]
pub struct Client {
    pub client_id: String,
    pub client_secret: Option<String>,
}

/// A sign-in the user has yet to approve in the browser.
pub struct Authorization {
    /// Where the browser goes.
    pub url: String,
    pub state: String,
    verifier: PkceCodeVerifier,
}

/// Tokens as the provider granted them.
pub struct Granted {
    pub access_token: String,
    pub refresh_token: Option<String>,
    pub expires_in: Option<Duration>,
    pub scope: Option<String>,
}

/// oauth2's view of a failed request: the sign-in error it becomes.
#[derive(Debug)]
pub struct HttpError(AuthError);

impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for HttpError {}

/// oauth2's HTTP requests, sent with reqwest.
async fn execute(http: reqwest::Client, request: oauth2::HttpRequest) -> Result<oauth2::HttpResponse, HttpError> {
    let (parts, body) = request.into_parts();
    let answer = http
        .request(parts.method, parts.uri.to_string())
        .headers(parts.headers)
        .body(body)
        .send()
        .await
        .map_err(|e| HttpError(AuthError::unanswered(&parts.uri, &e)))?;
    let mut response = http::Response::builder().status(answer.status());
    for (name, value) in answer.headers() {
        response = response.header(name, value);
    }
    let body = answer.bytes().await.map_err(|e| HttpError(AuthError::unanswered(&parts.uri, &e)))?;
    response.body(body.to_vec()).map_err(|e| HttpError(AuthError::Provider(e.to_string())))
}

fn token_error(error: RequestTokenError<HttpError, BasicErrorResponse>) -> AuthError {
    match error {
        RequestTokenError::ServerResponse(answer) => AuthError::Provider(match answer.error_description() {
            Some(description) => format!("the provider refused: {} ({description})", answer.error()),
            None => format!("the provider refused: {}", answer.error()),
        }),
        RequestTokenError::Request(HttpError(error)) => error,
        RequestTokenError::Parse(error, _) => {
            AuthError::Provider(format!("the provider's answer was not understood: {error}"))
        }
        RequestTokenError::Other(error) => AuthError::Provider(error),
    }
}

fn granted(answer: BasicTokenResponse) -> Granted {
    Granted {
        access_token: answer.access_token().secret().clone(),
        refresh_token: answer.refresh_token().map(|t| t.secret().clone()),
        expires_in: answer.expires_in(),
        scope: answer.scopes().map(|s| s.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" ")),
    }
}

/// An endpoint the provider published (or the loopback redirect), parsed.
fn url<T>(make: impl FnOnce(String) -> Result<T, url::ParseError>, value: &str) -> Result<T, AuthError> {
    make(value.to_owned()).map_err(|e| AuthError::Provider(format!("{value:?} is not a URL: {e}")))
}

/// Registers Harbor as a public client (no secret; PKCE protects the code) whose redirect is the
/// loopback listener.
pub async fn register(http: &reqwest::Client, server: &AuthServer, redirect_uri: &str) -> Result<Client, AuthError> {
    let endpoint = server.registration_endpoint.as_deref().ok_or_else(|| {
        AuthError::Provider(format!(
            "{} does not let Harbor register itself; ask the server's owner for a client id and sign in with it",
            server.issuer
        ))
    })?;
    let answer = http
        .post(endpoint)
        .json(&json!({
            "client_name": "Harbor",
            "application_type": "native",
            "redirect_uris": [redirect_uri],
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "none",
        }))
        .send()
        .await
        .map_err(|e| AuthError::unanswered(endpoint, &e))?;
    let status = answer.status();
    let body: Value = answer.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        let why = body["error_description"].as_str().or(body["error"].as_str()).unwrap_or("no reason given");
        return Err(AuthError::Provider(format!("{} refused to register Harbor ({status}): {why}", server.issuer)));
    }
    let client_id = body["client_id"]
        .as_str()
        .ok_or_else(|| AuthError::Provider("the registration answer held no client_id".into()))?
        .to_owned();
    Ok(Client { client_id, client_secret: body["client_secret"].as_str().map(str::to_owned) })
}

/// The URL to send the user to, with a fresh `state` and PKCE S256 challenge.
pub fn authorize(
    server: &AuthServer,
    client: &Client,
    redirect_uri: &str,
    resource: &str,
    scope: Option<&str>,
) -> Result<Authorization, AuthError> {
    let oauth = BasicClient::new(ClientId::new(client.client_id.clone()))
        .set_auth_uri(url(AuthUrl::new, &server.authorization_endpoint)?)
        .set_redirect_uri(url(RedirectUrl::new, redirect_uri)?);
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut request = oauth.authorize_url(CsrfToken::new_random).set_pkce_challenge(challenge);
    for part in scope.unwrap_or_default().split_whitespace() {
        request = request.add_scope(Scope::new(part.to_owned()));
    }
    let (url, state) = request.add_extra_param("resource", resource).url();
    Ok(Authorization { url: url.to_string(), state: state.secret().clone(), verifier })
}

/// Trades the code for tokens.
pub async fn exchange(
    http: &reqwest::Client,
    token_endpoint: &str,
    client: &Client,
    redirect_uri: &str,
    resource: &str,
    code: String,
    authorization: Authorization,
) -> Result<Granted, AuthError> {
    let mut oauth = BasicClient::new(ClientId::new(client.client_id.clone()))
        .set_token_uri(url(TokenUrl::new, token_endpoint)?)
        .set_redirect_uri(url(RedirectUrl::new, redirect_uri)?);
    if let Some(secret) = &client.client_secret {
        oauth = oauth.set_client_secret(ClientSecret::new(secret.clone()));
    }
    let send = |request| execute(http.clone(), request);
    let answer = oauth
        .exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(authorization.verifier)
        .add_extra_param("resource", resource)
        .request_async(&send)
        .await
        .map_err(token_error)?;
    Ok(granted(answer))
}

/// A new access token for a refresh token. The provider may rotate the refresh token too.
pub async fn refresh(
    http: &reqwest::Client,
    token_endpoint: &str,
    client: &Client,
    resource: &str,
    refresh_token: &str,
) -> Result<Granted, AuthError> {
    let mut oauth =
        BasicClient::new(ClientId::new(client.client_id.clone())).set_token_uri(url(TokenUrl::new, token_endpoint)?);
    if let Some(secret) = &client.client_secret {
        oauth = oauth.set_client_secret(ClientSecret::new(secret.clone()));
    }
    let send = |request| execute(http.clone(), request);
    let answer = oauth
        .exchange_refresh_token(&RefreshToken::new(refresh_token.to_owned()))
        .add_extra_param("resource", resource)
        .request_async(&send)
        .await
        .map_err(token_error)?;
    Ok(granted(answer))
}

/// Tells the provider to forget a token (RFC 7009).
pub async fn revoke(
    http: &reqwest::Client,
    endpoint: &str,
    client: &Client,
    refresh_token: &str,
) -> Result<(), AuthError> {
    let mut oauth = BasicClient::new(ClientId::new(client.client_id.clone()))
        .set_revocation_url(url(RevocationUrl::new, endpoint)?);
    if let Some(secret) = &client.client_secret {
        oauth = oauth.set_client_secret(ClientSecret::new(secret.clone()));
    }
    let send = |request| execute(http.clone(), request);
    let token = StandardRevocableToken::RefreshToken(RefreshToken::new(refresh_token.to_owned()));
    oauth
        .revoke_token(token)
        .map_err(|e| AuthError::Provider(e.to_string()))?
        .request_async(&send)
        .await
        .map_err(|e| AuthError::Provider(format!("the provider did not revoke the token: {e}")))
}
