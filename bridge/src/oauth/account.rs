//! A local server's account at an OAuth provider ("Connect with GitHub"): the provider's
//! endpoints, and the device flow (RFC 8628) — the user types a short code at the provider's
//! page, and Harbor polls the token endpoint until the provider has an answer.
//!
//! The browser flow for an account is the remote servers' own (`flow::authorize` and
//! `flow::exchange`, with no `resource`: the token is for the provider's API, which the server
//! calls). Either way the tokens land where a remote server's do, keyed by
//! [`resource_of`] the server instead of a URL.

use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::Value;

use super::discovery::{self, AuthServer};
use super::flow::Granted;
use super::AuthError;
use crate::store::servers::Account;

/// RFC 8628's grant type at the token endpoint.
const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// How much longer to wait between polls when the provider says `slow_down` (RFC 8628 §3.5).
const SLOW_DOWN: Duration = Duration::from_secs(5);

/// Where a server's account tokens are kept, in place of a remote server's URL.
pub fn resource_of(server_id: &str) -> String {
    format!("harbor-server:{server_id}")
}

/// Whether `resource` names a local server's account (its requests carry no RFC 8707
/// `resource`: the provider's API is not an MCP server).
pub fn is_account(resource: &str) -> bool {
    resource.starts_with("harbor-server:")
}

/// The provider's endpoints: from its metadata when the account names an issuer, with any
/// endpoint the account names itself taking precedence; every one HTTPS (or on this machine).
pub async fn provider(http: &reqwest::Client, account: &Account) -> Result<AuthServer, AuthError> {
    let mut server = match &account.issuer {
        Some(issuer) => discovery::authorization_server(http, issuer).await?,
        None => {
            let token = account.token_endpoint.as_deref().ok_or_else(|| {
                AuthError::Invalid("the account names neither its provider's issuer nor its token endpoint".into())
            })?;
            let origin = discovery::check_secure(token).map_err(AuthError::Invalid)?.origin().ascii_serialization();
            AuthServer {
                issuer: origin,
                authorization_endpoint: String::new(),
                token_endpoint: token.to_owned(),
                registration_endpoint: None,
                revocation_endpoint: None,
                device_authorization_endpoint: None,
                code_challenge_methods_supported: vec!["S256".into()],
                scopes_supported: Vec::new(),
                token_endpoint_auth_methods_supported: None,
                client_id_metadata_document_supported: false,
                authorization_response_iss_parameter_supported: false,
            }
        }
    };
    if let Some(endpoint) = &account.authorization_endpoint {
        server.authorization_endpoint = endpoint.clone();
    }
    if let Some(endpoint) = &account.token_endpoint {
        server.token_endpoint = endpoint.clone();
    }
    if let Some(endpoint) = &account.device_authorization_endpoint {
        server.device_authorization_endpoint = Some(endpoint.clone());
    }
    for endpoint in [
        Some(&server.authorization_endpoint),
        Some(&server.token_endpoint),
        server.device_authorization_endpoint.as_ref(),
    ]
    .into_iter()
    .flatten()
    .filter(|e| !e.is_empty())
    {
        discovery::check_secure(endpoint).map_err(AuthError::Provider)?;
    }
    Ok(server)
}

/// What the provider answers when the device flow starts.
#[derive(Clone, Debug, Deserialize)]
pub struct DeviceAuthorization {
    pub device_code: String,
    pub user_code: String,
    /// Also spelled `verification_url` by some providers (Google).
    #[serde(alias = "verification_url")]
    pub verification_uri: String,
    #[serde(default)]
    pub verification_uri_complete: Option<String>,
    pub expires_in: u64,
    /// Seconds between polls; 5 when the provider says nothing (RFC 8628 §3.2).
    #[serde(default = "five")]
    pub interval: u64,
}

fn five() -> u64 {
    5
}

/// Starts the device flow: the code the user types, and where.
pub async fn device_authorize(
    http: &reqwest::Client,
    endpoint: &str,
    client_id: &str,
    scope: Option<&str>,
) -> Result<DeviceAuthorization, AuthError> {
    let mut form = vec![("client_id", client_id)];
    if let Some(scope) = scope {
        form.push(("scope", scope));
    }
    let answer = post(http, endpoint, &form).await?;
    if let Some(error) = answer.get("error").and_then(Value::as_str) {
        return Err(refused(endpoint, error, &answer));
    }
    let device: DeviceAuthorization = serde_json::from_value(answer)
        .map_err(|e| AuthError::Provider(format!("{endpoint} did not start the device flow as RFC 8628 says: {e}")))?;
    discovery::check_secure(&device.verification_uri).map_err(AuthError::Provider)?;
    Ok(device)
}

/// Polls the token endpoint until the user has approved (or denied) at the provider, or the
/// code expires.
pub async fn poll(
    http: &reqwest::Client,
    token_endpoint: &str,
    client_id: &str,
    device: &DeviceAuthorization,
) -> Result<Granted, AuthError> {
    let deadline = Instant::now() + Duration::from_secs(device.expires_in);
    let mut interval = Duration::from_secs(device.interval.max(1));
    let form = [("grant_type", DEVICE_GRANT), ("device_code", device.device_code.as_str()), ("client_id", client_id)];
    loop {
        if Instant::now() + interval > deadline {
            return Err(expired());
        }
        tokio::time::sleep(interval).await;
        let answer = post(http, token_endpoint, &form).await?;
        match answer.get("error").and_then(Value::as_str) {
            None => return granted(token_endpoint, answer),
            Some("authorization_pending") => {}
            Some("slow_down") => interval += SLOW_DOWN,
            Some("access_denied") => {
                return Err(AuthError::Unapproved("the sign-in was denied at the provider; try again".into()))
            }
            Some("expired_token") => return Err(expired()),
            Some(other) => return Err(refused(token_endpoint, other, &answer)),
        }
    }
}

fn expired() -> AuthError {
    AuthError::Unapproved("the code expired before anyone entered it at the provider; sign in again".into())
}

fn refused(endpoint: &str, error: &str, answer: &Value) -> AuthError {
    let about = answer.get("error_description").and_then(Value::as_str).map(|d| format!(": {d}")).unwrap_or_default();
    AuthError::Provider(format!("{endpoint} refused ({error}{about})"))
}

/// A form POST asking for JSON (GitHub answers form-encoded otherwise), its body as JSON
/// whatever the status: OAuth errors come with 400.
async fn post(http: &reqwest::Client, endpoint: &str, form: &[(&str, &str)]) -> Result<Value, AuthError> {
    let body = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(form).finish();
    let answer = http
        .post(endpoint)
        .header("accept", "application/json")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .map_err(|e| AuthError::unanswered(endpoint, &e))?;
    let status = answer.status();
    answer.json().await.map_err(|_| AuthError::Provider(format!("{endpoint} answered {status} without JSON")))
}

fn granted(endpoint: &str, answer: Value) -> Result<Granted, AuthError> {
    let text = |key: &str| answer.get(key).and_then(Value::as_str).map(str::to_owned);
    let access_token = text("access_token")
        .ok_or_else(|| AuthError::Provider(format!("{endpoint} answered without an access token")))?;
    Ok(Granted {
        access_token,
        refresh_token: text("refresh_token"),
        expires_in: answer.get("expires_in").and_then(Value::as_u64).map(Duration::from_secs),
        // An empty scope is none: the provider granted what was asked.
        scope: text("scope").filter(|s| !s.is_empty()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_device_answer_reads_as_rfc_8628_and_its_aliases() {
        let google = json!({"device_code": "d", "user_code": "ABCD-EFGH", "verification_url": "https://x.test/device", "expires_in": 600});
        let read: DeviceAuthorization = serde_json::from_value(google).unwrap();
        assert_eq!((read.verification_uri.as_str(), read.interval), ("https://x.test/device", 5));
    }

    #[test]
    fn a_token_answer_needs_its_token() {
        let answer = json!({"access_token": "t", "token_type": "bearer", "expires_in": 28800, "refresh_token": "r"});
        let read = granted("https://x.test/token", answer).unwrap();
        assert_eq!(read.expires_in, Some(Duration::from_secs(28800)));
        assert!(granted("https://x.test/token", json!({"token_type": "bearer"})).is_err());
        assert!(is_account(&resource_of("github")) && !is_account("https://mcp.example.test/mcp"));
    }
}
