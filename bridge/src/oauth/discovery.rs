//! MCP authorization discovery: from a server's 401 to the authorization server's endpoints.
//!
//! `WWW-Authenticate` (its `resource_metadata` and `scope`) → protected resource metadata
//! (RFC 9728: the URL the challenge gives, else path-suffixed, then at the root) → authorization
//! server metadata (RFC 8414, then OpenID discovery, in the order the MCP specification gives).
//! An authorization server that does not advertise PKCE with S256 is refused, and so is any
//! endpoint that is not HTTPS (loopback excepted).

use serde::Deserialize;
use serde_json::{json, Value};
use url::Url;

use super::AuthError;

/// What a server said when it refused a request: the `Bearer` challenge's parameters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Challenge {
    pub resource_metadata: Option<String>,
    pub scope: Option<String>,
    pub error: Option<String>,
}

impl Challenge {
    /// Parses a `WWW-Authenticate` value; `None` when it holds no `Bearer` challenge.
    pub fn parse(header: &str) -> Option<Challenge> {
        let start = header.to_ascii_lowercase().find("bearer")?;
        let mut rest = &header[start + "bearer".len()..];
        let mut challenge = Challenge::default();
        loop {
            rest = rest.trim_start_matches([' ', ',', '\t']);
            let Some(eq) = rest.find('=') else { break };
            let key = rest[..eq].trim().to_ascii_lowercase();
            if key.contains(' ') {
                break; // the next scheme begins
            }
            rest = &rest[eq + 1..];
            let value = if let Some(quoted) = rest.strip_prefix('"') {
                let mut value = String::new();
                let mut chars = quoted.char_indices();
                let mut end = quoted.len();
                while let Some((i, c)) = chars.next() {
                    match c {
                        '\\' => value.extend(chars.next().map(|(_, c)| c)),
                        '"' => {
                            end = i + 1;
                            break;
                        }
                        c => value.push(c),
                    }
                }
                rest = &quoted[end..];
                value
            } else {
                let end = rest.find(',').unwrap_or(rest.len());
                let value = rest[..end].trim().to_owned();
                rest = &rest[end..];
                value
            };
            match key.as_str() {
                "resource_metadata" => challenge.resource_metadata = Some(value),
                "scope" => challenge.scope = Some(value),
                "error" => challenge.error = Some(value),
                _ => {}
            }
        }
        Some(challenge)
    }

    /// The server wants a token with more scope than the one it got (step-up).
    pub fn wants_more_scope(&self) -> bool {
        self.error.as_deref() == Some("insufficient_scope")
    }
}

/// The parts of an authorization server's metadata Harbor uses.
#[derive(Clone, Debug, Deserialize)]
pub struct AuthServer {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    #[serde(default)]
    pub registration_endpoint: Option<String>,
    #[serde(default)]
    pub revocation_endpoint: Option<String>,
    /// Where the device flow starts (RFC 8628), where the provider offers it.
    #[serde(default)]
    pub device_authorization_endpoint: Option<String>,
    #[serde(default)]
    pub code_challenge_methods_supported: Vec<String>,
    #[serde(default)]
    pub scopes_supported: Vec<String>,
    /// Absent means `client_secret_basic` alone (RFC 8414 §2).
    #[serde(default)]
    pub token_endpoint_auth_methods_supported: Option<Vec<String>>,
    /// The server accepts an HTTPS URL as a client id (client ID metadata documents).
    #[serde(default)]
    pub client_id_metadata_document_supported: bool,
    /// Every authorization response carries `iss` (RFC 9207).
    #[serde(default)]
    pub authorization_response_iss_parameter_supported: bool,
}

impl AuthServer {
    /// Whether the token endpoint takes `method` (RFC 8414's default when it lists none).
    pub fn takes(&self, method: &str) -> bool {
        match &self.token_endpoint_auth_methods_supported {
            Some(methods) => methods.iter().any(|m| m == method),
            None => method == "client_secret_basic",
        }
    }

    /// The endpoints a 2025-03-26 server without any metadata has at its origin.
    pub(super) fn defaults_at(origin: &str) -> AuthServer {
        AuthServer {
            issuer: origin.to_owned(),
            authorization_endpoint: format!("{origin}/authorize"),
            token_endpoint: format!("{origin}/token"),
            registration_endpoint: Some(format!("{origin}/register")),
            revocation_endpoint: None,
            device_authorization_endpoint: None,
            code_challenge_methods_supported: vec!["S256".to_owned()],
            scopes_supported: Vec::new(),
            token_endpoint_auth_methods_supported: None,
            client_id_metadata_document_supported: false,
            authorization_response_iss_parameter_supported: false,
        }
    }
}

/// Everything needed to sign in to one protected server.
#[derive(Clone, Debug)]
pub struct Discovered {
    /// The server's canonical URL, sent as the RFC 8707 `resource`.
    pub resource: String,
    pub server: AuthServer,
    /// The scope to ask for (the MCP scope selection strategy): the challenge's, else every
    /// scope the resource says it supports, else none at all; with `offline_access` added
    /// when the authorization server lists it, so that the sign-in outlives its access token.
    pub scope: Option<String>,
}

/// The canonical form of a server URL: what `resource` carries and sign-ins are keyed by.
pub fn canonical(url: &str) -> Result<String, AuthError> {
    let mut parsed = Url::parse(url).map_err(|e| AuthError::Invalid(format!("{url:?} is not a URL: {e}")))?;
    parsed.set_fragment(None);
    let text = parsed.to_string();
    Ok(if parsed.path() == "/" && parsed.query().is_none() { text.trim_end_matches('/').to_owned() } else { text })
}

/// HTTPS, or plain HTTP to this machine only: the reason, when not.
pub fn check_secure(url: &str) -> Result<Url, String> {
    let parsed = Url::parse(url).map_err(|e| format!("{url:?} is not a URL: {e}"))?;
    let loopback = match parsed.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => name == "localhost",
        None => false,
    };
    if parsed.scheme() == "https" || (parsed.scheme() == "http" && loopback) {
        Ok(parsed)
    } else {
        Err(format!("{url} is not HTTPS; Harbor signs in only over HTTPS (or to this machine)"))
    }
}

/// Asks the server whether it wants a sign-in: an MCP `initialize` without a token. `Ok(None)`
/// when it answered without asking.
pub async fn probe(http: &reqwest::Client, url: &str) -> Result<Option<Challenge>, AuthError> {
    let initialize = json!({
        "jsonrpc": "2.0", "id": 0, "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "harbor", "version": env!("CARGO_PKG_VERSION")}}
    });
    let answer = http
        .post(url)
        .header("accept", "application/json, text/event-stream")
        .json(&initialize)
        .send()
        .await
        .map_err(|e| AuthError::unanswered(url, &e))?;
    let status = answer.status().as_u16();
    if status != 401 && status != 403 {
        return Ok(None);
    }
    let header = answer.headers().get("www-authenticate").and_then(|v| v.to_str().ok()).unwrap_or("");
    Ok(Some(Challenge::parse(header).unwrap_or_default()))
}

async fn get_json(http: &reqwest::Client, url: &str) -> Result<Option<Value>, AuthError> {
    let answer =
        http.get(url).header("accept", "application/json").send().await.map_err(|e| AuthError::unanswered(url, &e))?;
    if !answer.status().is_success() {
        return Ok(None);
    }
    answer.json().await.map(Some).map_err(|e| AuthError::Provider(format!("{url} did not send JSON: {e}")))
}

/// The well-known URL `suffix` for `base`, with `base`'s path after it (RFC 8414 §3 style).
fn well_known(base: &Url, suffix: &str, with_path: bool) -> String {
    let path = base.path().trim_end_matches('/');
    let mut url = base.clone();
    url.set_query(None);
    url.set_path(&if with_path { format!("/.well-known/{suffix}{path}") } else { format!("/.well-known/{suffix}") });
    url.to_string()
}

/// Whether protected resource metadata naming `named` covers the server at `resource`: the
/// same URL, or (RFC 9728 §3.3 as the MCP clients read it) a parent of it on the same origin,
/// such as the origin itself for a server at `/mcp`.
fn covers(named: &str, resource: &str) -> bool {
    let (Ok(named), Ok(resource)) = (Url::parse(named), Url::parse(resource)) else { return false };
    if named.origin() != resource.origin() || named.query().is_some() {
        return false;
    }
    let parent = named.path().trim_end_matches('/');
    let path = resource.path();
    path == parent || path.strip_prefix(parent).is_some_and(|rest| rest.starts_with('/'))
}

/// Follows the challenge to the authorization server: protected resource metadata first; a
/// server that publishes none is a 2025-03-26 server, whose authorization server is its own
/// origin (its metadata there, or the default `/authorize`, `/token` and `/register`).
pub async fn discover(
    http: &reqwest::Client,
    server_url: &str,
    challenge: &Challenge,
) -> Result<Discovered, AuthError> {
    let resource = canonical(server_url)?;
    let base = check_secure(&resource).map_err(AuthError::Invalid)?;
    let candidates = match &challenge.resource_metadata {
        Some(url) => vec![url.clone()],
        None => {
            let mut urls = vec![well_known(&base, "oauth-protected-resource", true)];
            if base.path() != "/" {
                urls.push(well_known(&base, "oauth-protected-resource", false));
            }
            urls
        }
    };
    let mut metadata = None;
    for url in candidates {
        check_secure(&url).map_err(AuthError::Provider)?;
        if let Some(found) = get_json(http, &url).await? {
            metadata = Some(found);
            break;
        }
    }
    let Some(metadata) = metadata else {
        let server = legacy_authorization_server(http, &base).await?;
        let scope = with_offline_access(challenge.scope.clone(), &server);
        return Ok(Discovered { resource, server, scope });
    };
    if let Some(named) = metadata["resource"].as_str() {
        if !covers(named, &resource) {
            return Err(AuthError::Provider(format!(
                "the server's metadata is for {named}, not {resource}; refusing to sign in"
            )));
        }
    }
    let issuer = metadata["authorization_servers"][0]
        .as_str()
        .ok_or_else(|| AuthError::Provider("the server's metadata names no authorization server".into()))?
        .to_owned();
    let server = authorization_server(http, &issuer).await?;
    let scope = challenge.scope.clone().or_else(|| {
        let supported: Vec<&str> =
            metadata["scopes_supported"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
        (!supported.is_empty()).then(|| supported.join(" "))
    });
    let scope = with_offline_access(scope, &server);
    Ok(Discovered { resource, server, scope })
}

/// `scope` with `offline_access` when the authorization server lists it (a refresh token
/// keeps the sign-in alive); unchanged when there is no scope to ask for at all.
fn with_offline_access(scope: Option<String>, server: &AuthServer) -> Option<String> {
    let offline = "offline_access";
    match scope {
        Some(scope)
            if server.scopes_supported.iter().any(|s| s == offline) && !scope.split(' ').any(|s| s == offline) =>
        {
            Some(format!("{scope} {offline}"))
        }
        scope => scope,
    }
}

/// A 2025-03-26 server's authorization server: metadata at its origin (whose issuer must be on
/// that origin), else the default endpoints there.
async fn legacy_authorization_server(http: &reqwest::Client, base: &Url) -> Result<AuthServer, AuthError> {
    let origin = base.origin().ascii_serialization();
    let url = format!("{origin}/.well-known/oauth-authorization-server");
    let Some(found) = get_json(http, &url).await? else { return Ok(AuthServer::defaults_at(&origin)) };
    let server: AuthServer = serde_json::from_value(found)
        .map_err(|e| AuthError::Provider(format!("{url} is not authorization server metadata: {e}")))?;
    let same_origin = Url::parse(&server.issuer).is_ok_and(|issuer| issuer.origin() == base.origin());
    if !same_origin {
        return Err(AuthError::Provider(format!(
            "{url} names the issuer {}, which is not on the server's own origin; refusing to sign in",
            server.issuer
        )));
    }
    checked(server, &url)
}

/// Metadata Harbor will use: PKCE with S256, and every endpoint HTTPS (or on this machine).
fn checked(server: AuthServer, url: &str) -> Result<AuthServer, AuthError> {
    if !server.code_challenge_methods_supported.iter().any(|m| m == "S256") {
        return Err(AuthError::Provider(format!(
            "{} does not support PKCE with S256 (its metadata at {url} says so), which MCP requires to keep the sign-in safe; Harbor will not sign in there",
            server.issuer
        )));
    }
    for endpoint in [Some(&server.authorization_endpoint), Some(&server.token_endpoint)]
        .into_iter()
        .chain([
            server.registration_endpoint.as_ref(),
            server.revocation_endpoint.as_ref(),
            server.device_authorization_endpoint.as_ref(),
        ])
        .flatten()
    {
        check_secure(endpoint).map_err(AuthError::Provider)?;
    }
    Ok(server)
}

/// Reads an authorization server's metadata (RFC 8414, then OpenID Connect discovery).
pub async fn authorization_server(http: &reqwest::Client, issuer: &str) -> Result<AuthServer, AuthError> {
    let (url, found) = issuer_metadata(http, issuer).await?;
    let server: AuthServer = serde_json::from_value(found)
        .map_err(|e| AuthError::Provider(format!("{url} is not authorization server metadata: {e}")))?;
    checked(server, &url)
}

/// An issuer's metadata document as published (RFC 8414, then OpenID Connect discovery) and
/// where it was found; a document that names another issuer is refused (RFC 8414 §3.3).
pub async fn issuer_metadata(http: &reqwest::Client, issuer: &str) -> Result<(String, Value), AuthError> {
    let base = check_secure(issuer).map_err(AuthError::Provider)?;
    let has_path = base.path() != "/";
    let mut candidates = vec![well_known(&base, "oauth-authorization-server", true)];
    if has_path {
        candidates.push(well_known(&base, "openid-configuration", true));
        candidates.push(format!("{}/.well-known/openid-configuration", issuer.trim_end_matches('/')));
    } else {
        candidates.push(well_known(&base, "openid-configuration", false));
    }
    for url in candidates.iter() {
        let Some(found) = get_json(http, url).await? else { continue };
        let named = found.get("issuer").and_then(Value::as_str).unwrap_or_default();
        if named.trim_end_matches('/') != issuer.trim_end_matches('/') {
            return Err(AuthError::Provider(format!(
                "{url} describes the issuer {named:?}, not {issuer}; refusing to trust it"
            )));
        }
        return Ok((url.clone(), found));
    }
    Err(AuthError::Provider(format!(
        "{issuer} publishes no authorization server metadata (tried {})",
        candidates.join(", ")
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_challenges_are_read_with_quotes_and_escapes() {
        let c = Challenge::parse(
            r#"Bearer error="insufficient_scope", scope="files:read files:write", resource_metadata="https://x.test/.well-known/oauth-protected-resource/mcp""#,
        )
        .unwrap();
        assert!(c.wants_more_scope());
        assert_eq!(c.scope.as_deref(), Some("files:read files:write"));
        assert_eq!(c.resource_metadata.as_deref(), Some("https://x.test/.well-known/oauth-protected-resource/mcp"));
        let bare = Challenge::parse(r#"Basic realm="a", Bearer realm=x, error=invalid_token"#).unwrap();
        assert_eq!(bare.error.as_deref(), Some("invalid_token"));
        assert!(Challenge::parse(r#"Basic realm="a""#).is_none());
    }

    #[test]
    fn well_known_urls_follow_rfc_8414_and_9728() {
        let base = Url::parse("https://a.test/tenant/mcp").unwrap();
        assert_eq!(
            well_known(&base, "oauth-protected-resource", true),
            "https://a.test/.well-known/oauth-protected-resource/tenant/mcp"
        );
        assert_eq!(
            well_known(&base, "oauth-protected-resource", false),
            "https://a.test/.well-known/oauth-protected-resource"
        );
        assert_eq!(canonical("https://A.test/#x").unwrap(), "https://a.test");
    }

    #[test]
    fn only_https_or_loopback_is_trusted() {
        assert!(check_secure("https://auth.test/token").is_ok());
        assert!(check_secure("http://127.0.0.1:9/token").is_ok());
        assert!(check_secure("http://localhost:9/token").is_ok());
        assert!(check_secure("http://auth.test/token").unwrap_err().contains("not HTTPS"));
    }

    #[test]
    fn metadata_covers_its_own_url_and_the_paths_under_it_on_the_same_origin() {
        assert!(covers("https://a.test/mcp", "https://a.test/mcp"));
        assert!(covers("https://a.test", "https://a.test/mcp"));
        assert!(covers("https://a.test/", "https://a.test/mcp"));
        assert!(covers("https://a.test/tenant", "https://a.test/tenant/mcp"));
        assert!(!covers("https://a.test/mc", "https://a.test/mcp"), "a prefix that is not a path segment");
        assert!(!covers("https://evil.test/mcp", "https://a.test/mcp"));
        assert!(!covers("https://a.test/other", "https://a.test/mcp"));
        assert!(!covers("http://a.test/mcp", "https://a.test/mcp"), "another scheme is another origin");
    }

    #[test]
    fn offline_access_is_added_only_where_listed_and_only_to_a_scope() {
        let mut server = AuthServer::defaults_at("https://a.test");
        assert_eq!(with_offline_access(Some("mcp".into()), &server).as_deref(), Some("mcp"));
        server.scopes_supported = vec!["mcp".into(), "offline_access".into()];
        assert_eq!(with_offline_access(Some("mcp".into()), &server).as_deref(), Some("mcp offline_access"));
        assert_eq!(with_offline_access(Some("offline_access".into()), &server).as_deref(), Some("offline_access"));
        assert_eq!(with_offline_access(None, &server), None);
    }
}
