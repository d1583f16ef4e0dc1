//! OAuth 2.1 with the oauth2 crate: client registration (RFC 7591), the authorization code
//! flow with PKCE S256 and the `resource` indicator (RFC 8707), the `client_credentials` grant
//! for machine-to-machine servers, refresh, and revocation (RFC 7009) — all over the bridge's
//! own reqwest client, which follows no redirects. Every token request authenticates the way
//! the [`Client`] was registered: no secret, the secret in a Basic header or in the body, or a
//! signed JWT ([`super::assertion`]).

use std::time::Duration;

use oauth2::basic::{BasicClient, BasicErrorResponse, BasicTokenResponse};
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet, EndpointSet,
    EndpointState, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RefreshToken, RequestTokenError, RevocationUrl,
    Scope, StandardRevocableToken, TokenResponse, TokenUrl,
};
use serde_json::{json, Value};

use super::assertion::{self, JWT_BEARER};
use super::discovery::AuthServer;
use super::AuthError;
use crate::store::secrets::TokenAuth;

/// Harbor's identity at an authorization server.
#[derive(Clone, Debug)]
pub struct Client {
    pub client_id: String,
    pub client_secret: Option<String>,
    /// The PKCS#8 PEM that signs `private_key_jwt` assertions.
    pub private_key: Option<String>,
    pub auth: TokenAuth,
}

impl Client {
    /// A client the user brings (issued by the provider's owner): a key means
    /// `private_key_jwt`; a secret goes in a Basic header where the server takes one, else in
    /// the body; without either it is a public client.
    pub fn pre_registered(
        client_id: String,
        client_secret: Option<String>,
        private_key: Option<String>,
        server: &AuthServer,
    ) -> Client {
        let auth = match (&private_key, &client_secret) {
            (Some(_), _) => TokenAuth::PrivateKeyJwt,
            (None, Some(_)) if !server.takes("client_secret_basic") && server.takes("client_secret_post") => {
                TokenAuth::ClientSecretPost
            }
            (None, Some(_)) => TokenAuth::ClientSecretBasic,
            (None, None) => TokenAuth::None,
        };
        Client { client_id, client_secret, private_key, auth }
    }

    /// A client id metadata document's URL as the client id: a public client, nothing to
    /// register.
    pub fn by_metadata_document(url: String) -> Client {
        Client { client_id: url, client_secret: None, private_key: None, auth: TokenAuth::None }
    }

    /// oauth2's client with this client's credentials: its secret where it has one, sent the way
    /// it was registered.
    fn credentials<A, D, I, R, T>(&self, oauth: BasicClient<A, D, I, R, T>) -> BasicClient<A, D, I, R, T>
    where
        A: EndpointState,
        D: EndpointState,
        I: EndpointState,
        R: EndpointState,
        T: EndpointState,
    {
        let oauth = match self.auth {
            TokenAuth::ClientSecretPost => oauth.set_auth_type(AuthType::RequestBody),
            _ => oauth.set_auth_type(AuthType::BasicAuth),
        };
        match (&self.client_secret, self.auth) {
            (Some(secret), TokenAuth::ClientSecretBasic | TokenAuth::ClientSecretPost) => {
                oauth.set_client_secret(ClientSecret::new(secret.clone()))
            }
            _ => oauth,
        }
    }

    /// oauth2's client for `endpoint`'s token requests, with this client's credentials.
    fn at(&self, endpoint: &TokenEndpoint) -> Result<TokenClient, AuthError> {
        let oauth =
            BasicClient::new(ClientId::new(self.client_id.clone())).set_token_uri(url(TokenUrl::new, endpoint.url)?);
        Ok(self.credentials(oauth))
    }

    /// Authenticates a token request that oauth2 does not build (SEP-990's JWT bearer grant):
    /// the secret in a Basic header (RFC 6749 §2.3.1, each part form-encoded) or in `form`, a
    /// signed assertion in `form`, or the client id alone for a public client.
    pub fn authenticate(
        &self,
        request: reqwest::RequestBuilder,
        form: &mut Vec<(&'static str, String)>,
        issuer: &str,
    ) -> Result<reqwest::RequestBuilder, AuthError> {
        let encoded = |part: &str| url::form_urlencoded::byte_serialize(part.as_bytes()).collect::<String>();
        match (self.auth, &self.client_secret) {
            (TokenAuth::ClientSecretBasic, Some(secret)) => {
                Ok(request.basic_auth(encoded(&self.client_id), Some(encoded(secret))))
            }
            (TokenAuth::ClientSecretPost, Some(secret)) => {
                form.push(("client_id", self.client_id.clone()));
                form.push(("client_secret", secret.clone()));
                Ok(request)
            }
            _ => {
                form.push(("client_id", self.client_id.clone()));
                if let Some(jwt) = self.assertion(issuer)? {
                    form.push(("client_assertion_type", JWT_BEARER.to_owned()));
                    form.push(("client_assertion", jwt));
                }
                Ok(request)
            }
        }
    }

    /// The signed assertion a `private_key_jwt` client adds to a token request for `issuer`.
    fn assertion(&self, issuer: &str) -> Result<Option<String>, AuthError> {
        match (self.auth, &self.private_key) {
            (TokenAuth::PrivateKeyJwt, Some(key)) => {
                assertion::sign(key, &self.client_id, issuer, crate::store::now()).map(Some)
            }
            (TokenAuth::PrivateKeyJwt, None) => Err(AuthError::Invalid(
                "the client signs with a private key, and the key is gone; sign in again".into(),
            )),
            _ => Ok(None),
        }
    }
}

/// oauth2's client with a token endpoint set.
type TokenClient = BasicClient<EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointSet>;

/// An authorization server's token endpoint, and the issuer a JWT assertion is addressed to.
pub struct TokenEndpoint<'a> {
    pub url: &'a str,
    pub issuer: &'a str,
}

/// Adds a `private_key_jwt` client's assertion to a token request.
macro_rules! asserted {
    ($request:expr, $assertion:expr) => {
        match $assertion {
            Some(jwt) => {
                $request.add_extra_param("client_assertion_type", JWT_BEARER).add_extra_param("client_assertion", jwt)
            }
            None => $request,
        }
    };
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
        // An empty scope is none: the provider granted what was asked.
        scope: answer
            .scopes()
            .map(|s| s.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" "))
            .filter(|s| !s.is_empty()),
    }
}

/// An endpoint the provider published (or the loopback redirect), parsed.
fn url<T>(make: impl FnOnce(String) -> Result<T, url::ParseError>, value: &str) -> Result<T, AuthError> {
    make(value.to_owned()).map_err(|e| AuthError::Provider(format!("{value:?} is not a URL: {e}")))
}

/// Registers Harbor (RFC 7591) with the loopback listener as its redirect: as a public client
/// (PKCE protects the code) where the server takes one, else with the secret method it takes.
/// The answer decides: the method it names, or the one a returned secret implies.
pub async fn register(http: &reqwest::Client, server: &AuthServer, redirect_uri: &str) -> Result<Client, AuthError> {
    let wanted = [TokenAuth::None, TokenAuth::ClientSecretBasic, TokenAuth::ClientSecretPost]
        .into_iter()
        .find(|m| server.takes(m.name()))
        .unwrap_or(TokenAuth::None);
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
            "token_endpoint_auth_method": wanted.name(),
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
    let client_secret = body["client_secret"].as_str().map(str::to_owned);
    let named = body["token_endpoint_auth_method"].as_str().and_then(TokenAuth::parse);
    let auth = match (named, &client_secret) {
        (Some(auth), _) => auth,
        (None, Some(_)) if wanted == TokenAuth::None => TokenAuth::ClientSecretBasic,
        (None, Some(_)) => wanted,
        (None, None) => TokenAuth::None,
    };
    Ok(Client { client_id, client_secret, private_key: None, auth })
}

/// The URL to send the user to, with a fresh `state` and PKCE S256 challenge.
pub fn authorize(
    server: &AuthServer,
    client: &Client,
    redirect_uri: &str,
    resource: Option<&str>,
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
    if let Some(resource) = resource {
        request = request.add_extra_param("resource", resource);
    }
    let (url, state) = request.url();
    Ok(Authorization { url: url.to_string(), state: state.secret().clone(), verifier })
}

/// Trades the code for tokens.
pub async fn exchange(
    http: &reqwest::Client,
    endpoint: &TokenEndpoint<'_>,
    client: &Client,
    redirect_uri: &str,
    resource: Option<&str>,
    code: String,
    authorization: Authorization,
) -> Result<Granted, AuthError> {
    let oauth = client.at(endpoint)?.set_redirect_uri(url(RedirectUrl::new, redirect_uri)?);
    let send = |request| execute(http.clone(), request);
    let mut request = oauth.exchange_code(AuthorizationCode::new(code)).set_pkce_verifier(authorization.verifier);
    if let Some(resource) = resource {
        request = request.add_extra_param("resource", resource);
    }
    let answer =
        asserted!(request, client.assertion(endpoint.issuer)?).request_async(&send).await.map_err(token_error)?;
    Ok(granted(answer))
}

/// A new access token for a refresh token. The provider may rotate the refresh token too.
pub async fn refresh(
    http: &reqwest::Client,
    endpoint: &TokenEndpoint<'_>,
    client: &Client,
    resource: Option<&str>,
    refresh_token: &str,
) -> Result<Granted, AuthError> {
    let oauth = client.at(endpoint)?;
    let send = |request| execute(http.clone(), request);
    let refresh_token = RefreshToken::new(refresh_token.to_owned());
    let mut request = oauth.exchange_refresh_token(&refresh_token);
    if let Some(resource) = resource {
        request = request.add_extra_param("resource", resource);
    }
    let answer =
        asserted!(request, client.assertion(endpoint.issuer)?).request_async(&send).await.map_err(token_error)?;
    Ok(granted(answer))
}

/// A token for Harbor itself (`client_credentials`): no user, no browser, no refresh token —
/// the grant is simply made again when the token expires.
pub async fn client_credentials(
    http: &reqwest::Client,
    endpoint: &TokenEndpoint<'_>,
    client: &Client,
    resource: &str,
    scope: Option<&str>,
) -> Result<Granted, AuthError> {
    let oauth = client.at(endpoint)?;
    let send = |request| execute(http.clone(), request);
    let mut request = oauth.exchange_client_credentials().add_extra_param("resource", resource);
    for part in scope.unwrap_or_default().split_whitespace() {
        request = request.add_scope(Scope::new(part.to_owned()));
    }
    let answer =
        asserted!(request, client.assertion(endpoint.issuer)?).request_async(&send).await.map_err(token_error)?;
    Ok(granted(answer))
}

/// Tells the provider to forget a token (RFC 7009).
pub async fn revoke(
    http: &reqwest::Client,
    endpoint: &str,
    issuer: &str,
    client: &Client,
    refresh_token: &str,
) -> Result<(), AuthError> {
    let oauth = client.credentials(
        BasicClient::new(ClientId::new(client.client_id.clone()))
            .set_revocation_url(url(RevocationUrl::new, endpoint)?),
    );
    let send = |request| execute(http.clone(), request);
    let token = StandardRevocableToken::RefreshToken(RefreshToken::new(refresh_token.to_owned()));
    let request = oauth.revoke_token(token).map_err(|e| AuthError::Provider(e.to_string()))?;
    asserted!(request, client.assertion(issuer)?)
        .request_async(&send)
        .await
        .map_err(|e| AuthError::Provider(format!("the provider did not revoke the token: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_brought_client_authenticates_the_way_the_token_endpoint_takes() {
        let mut server = AuthServer::defaults_at("https://as.test");
        let with = |secret: Option<&str>, key: Option<&str>, server: &AuthServer| {
            Client::pre_registered("c".into(), secret.map(str::to_owned), key.map(str::to_owned), server).auth
        };
        // No list: RFC 8414's default, Basic.
        assert_eq!(with(Some("s"), None, &server), TokenAuth::ClientSecretBasic);
        server.token_endpoint_auth_methods_supported = Some(vec!["client_secret_post".into()]);
        assert_eq!(with(Some("s"), None, &server), TokenAuth::ClientSecretPost);
        server.token_endpoint_auth_methods_supported =
            Some(vec!["client_secret_post".into(), "client_secret_basic".into()]);
        assert_eq!(with(Some("s"), None, &server), TokenAuth::ClientSecretBasic);
        assert_eq!(with(None, Some("pem"), &server), TokenAuth::PrivateKeyJwt);
        assert_eq!(with(None, None, &server), TokenAuth::None);
    }

    #[test]
    fn only_a_private_key_client_signs_an_assertion_and_a_lost_key_is_a_clear_error() {
        let public =
            Client { client_id: "c".into(), client_secret: Some("s".into()), private_key: None, auth: TokenAuth::None };
        assert_eq!(public.assertion("https://as.test").unwrap(), None);
        let keyless =
            Client { client_id: "c".into(), client_secret: None, private_key: None, auth: TokenAuth::PrivateKeyJwt };
        assert!(keyless.assertion("https://as.test").unwrap_err().to_string().contains("sign in again"));
    }
}
