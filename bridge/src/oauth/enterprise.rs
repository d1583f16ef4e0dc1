//! Enterprise-managed authorization (the `io.modelcontextprotocol/enterprise-managed-authorization`
//! extension, SEP-990): the organization's identity provider decides who may use a server, and
//! no one is sent through the server's own authorization page.
//!
//! The user's identity assertion (an OpenID ID token the IdP issued at their single sign-on) is
//! exchanged at the IdP (RFC 8693 token exchange) for an Identity Assertion JWT Authorization
//! Grant — an ID-JAG, addressed to the server's authorization server and naming the server as
//! its resource — and the ID-JAG at the authorization server (RFC 7523 JWT bearer grant, with
//! the client the server's owner issued to Harbor) for the access token. Both are plain form
//! posts; no redirect is followed. When the token expires, the same exchange is made again while
//! the identity assertion (kept in the keychain with the tokens) is still good; after that the
//! user signs in again.

use std::time::Duration;

use harbor_protocol::api::secrets::Enterprise;
use serde::Deserialize;

use super::flow::{Client, Granted, TokenEndpoint};
use super::AuthError;

/// RFC 8693's grant type, and the token types SEP-990 names.
const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const ID_TOKEN: &str = "urn:ietf:params:oauth:token-type:id_token";
const ID_JAG: &str = "urn:ietf:params:oauth:token-type:id-jag";
/// RFC 7523's grant type.
const JWT_BEARER_GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// A token endpoint's answer: the token, or its error.
#[derive(Deserialize)]
struct Answer {
    access_token: Option<String>,
    issued_token_type: Option<String>,
    refresh_token: Option<String>,
    expires_in: Option<u64>,
    scope: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// Exchanges the user's identity assertion for an ID-JAG for `audience` (the authorization
/// server's issuer) and `resource` (the MCP server).
pub async fn id_jag(
    http: &reqwest::Client,
    identity: &Enterprise,
    audience: &str,
    resource: &str,
    scope: Option<&str>,
) -> Result<String, AuthError> {
    let mut form = vec![
        ("grant_type", TOKEN_EXCHANGE.to_owned()),
        ("requested_token_type", ID_JAG.to_owned()),
        ("subject_token", identity.id_token.clone()),
        ("subject_token_type", ID_TOKEN.to_owned()),
        ("audience", audience.to_owned()),
        ("resource", resource.to_owned()),
        ("client_id", identity.idp_client_id.clone()),
    ];
    if let Some(scope) = scope {
        form.push(("scope", scope.to_owned()));
    }
    let answer =
        post(http.post(&identity.idp_token_endpoint), &identity.idp_token_endpoint, &form, "the identity provider")
            .await?;
    if answer.issued_token_type.as_deref().is_some_and(|t| t != ID_JAG) {
        return Err(AuthError::Provider(format!(
            "the identity provider issued a {:?}, not an ID-JAG",
            answer.issued_token_type.unwrap_or_default()
        )));
    }
    answer.access_token.ok_or_else(|| AuthError::Provider("the identity provider's answer holds no ID-JAG".into()))
}

/// Trades an ID-JAG for tokens at the server's authorization server (RFC 7523), as `client`.
pub async fn jwt_bearer(
    http: &reqwest::Client,
    endpoint: &TokenEndpoint<'_>,
    client: &Client,
    id_jag: &str,
    scope: Option<&str>,
) -> Result<Granted, AuthError> {
    let mut form = vec![("grant_type", JWT_BEARER_GRANT.to_owned()), ("assertion", id_jag.to_owned())];
    if let Some(scope) = scope {
        form.push(("scope", scope.to_owned()));
    }
    let request = client.authenticate(http.post(endpoint.url), &mut form, endpoint.issuer)?;
    let answer = post(request, endpoint.url, &form, "the authorization server").await?;
    Ok(Granted {
        access_token: answer
            .access_token
            .ok_or_else(|| AuthError::Provider("the authorization server's answer holds no access token".into()))?,
        refresh_token: answer.refresh_token,
        expires_in: answer.expires_in.map(Duration::from_secs),
        scope: answer.scope.filter(|s| !s.is_empty()),
    })
}

/// Posts `form` and reads the token endpoint's answer; a refusal names the endpoint's error.
async fn post(
    request: reqwest::RequestBuilder,
    url: &str,
    form: &[(&str, String)],
    who: &str,
) -> Result<Answer, AuthError> {
    let body = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(form).finish();
    let sent = request
        .header(reqwest::header::ACCEPT, "application/json")
        .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .map_err(|e| AuthError::unanswered(url, &e))?;
    let status = sent.status();
    let body = sent.bytes().await.map_err(|e| AuthError::unanswered(url, &e))?;
    let answer: Answer = serde_json::from_slice(&body).map_err(|_| {
        AuthError::Provider(format!("{who} answered {status} with something that is not a token answer"))
    })?;
    match (&answer.error, status.is_success()) {
        (None, true) => Ok(answer),
        (error, _) => Err(AuthError::Provider(format!(
            "{who} refused: {}{}",
            error.as_deref().unwrap_or(status.as_str()),
            answer.error_description.as_deref().map(|d| format!(" ({d})")).unwrap_or_default()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A token endpoint on loopback that answers one request with `status` and `body`, and
    /// hands back the request it got.
    async fn endpoint(status: &'static str, body: &'static str) -> (String, tokio::task::JoinHandle<String>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/token", listener.local_addr().unwrap());
        let served = tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut got = Vec::new();
            let mut buffer = [0u8; 4096];
            // The form's last field is the client id: once it is in, the request is.
            while !String::from_utf8_lossy(&got).contains("client_id=harbor") {
                let n = stream.read(&mut buffer).await.unwrap();
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buffer[..n]);
            }
            let answer = format!(
                "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            stream.write_all(answer.as_bytes()).await.unwrap();
            String::from_utf8_lossy(&got).into_owned()
        });
        (url, served)
    }

    fn identity(url: &str) -> Enterprise {
        Enterprise {
            idp_token_endpoint: url.to_owned(),
            idp_client_id: "harbor".into(),
            id_token: "eyJ.id.token".into(),
        }
    }

    #[tokio::test]
    async fn the_id_token_is_exchanged_for_an_id_jag_naming_the_authorization_server_and_the_server() {
        let answer = r#"{"access_token":"the.id.jag","issued_token_type":"urn:ietf:params:oauth:token-type:id-jag","token_type":"N_A"}"#;
        let (url, served) = endpoint("200 OK", answer).await;
        let http = crate::http::client_builder().build().unwrap();
        let jag = id_jag(&http, &identity(&url), "https://as.example", "https://mcp.example/mcp", None).await.unwrap();
        assert_eq!(jag, "the.id.jag");
        let request = served.await.unwrap();
        for part in [
            "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange",
            "requested_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Aid-jag",
            "subject_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Aid_token",
            "audience=https%3A%2F%2Fas.example",
            "resource=https%3A%2F%2Fmcp.example%2Fmcp",
        ] {
            assert!(request.contains(part), "{part} in {request}");
        }
    }

    #[tokio::test]
    async fn a_refusal_or_another_kind_of_token_from_the_identity_provider_is_a_clear_error() {
        let http = crate::http::client_builder().build().unwrap();
        let refused = r#"{"error":"invalid_grant","error_description":"Invalid ID token"}"#;
        let (url, _) = endpoint("400 Bad Request", refused).await;
        let error = id_jag(&http, &identity(&url), "https://as.example", "https://mcp.example/mcp", None).await;
        let message = error.unwrap_err().to_string();
        assert!(message.contains("the identity provider refused: invalid_grant (Invalid ID token)"), "{message}");
        assert!(!message.contains("eyJ.id.token"), "the ID token never shows in an error");

        let other = r#"{"access_token":"x","issued_token_type":"urn:ietf:params:oauth:token-type:access_token"}"#;
        let (url, _) = endpoint("200 OK", other).await;
        let error = id_jag(&http, &identity(&url), "https://as.example", "https://mcp.example/mcp", None).await;
        assert!(error.unwrap_err().to_string().contains("not an ID-JAG"));

        let (url, _) = endpoint("502 Bad Gateway", "<html>down</html>").await;
        let error = id_jag(&http, &identity(&url), "https://as.example", "https://mcp.example/mcp", None).await;
        assert!(error.unwrap_err().to_string().contains("not a token answer"));
    }
}
