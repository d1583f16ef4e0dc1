//! The loopback redirect listener (RFC 8252 §7.3): an ephemeral port on 127.0.0.1 that takes
//! the authorization server's redirect, checks `state`, and answers the browser with a short
//! page saying what happened.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use url::Url;

use super::AuthError;

/// How long one browser connection may take to send its request line and headers.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

pub struct Callback {
    listener: TcpListener,
    pub redirect_uri: String,
}

impl Callback {
    pub async fn bind() -> std::io::Result<Callback> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let redirect_uri = format!("http://127.0.0.1:{}/callback", listener.local_addr()?.port());
        Ok(Callback { listener, redirect_uri })
    }

    /// Waits for the redirect and returns the authorization code. A redirect whose `state` is
    /// not `state` is refused and ends the sign-in: it did not come from this sign-in. So is one
    /// whose `iss` (RFC 9207) names another issuer than `issuer`, or lacks it where the
    /// authorization server promised to send it (`iss_required`): it came from another
    /// authorization server (a mix-up attack).
    pub async fn code(self, state: &str, issuer: &str, iss_required: bool) -> Result<String, AuthError> {
        loop {
            let (mut stream, _) = self
                .listener
                .accept()
                .await
                .map_err(|e| AuthError::Provider(format!("the sign-in listener failed: {e}")))?;
            let Ok(Some(target)) = tokio::time::timeout(REQUEST_TIMEOUT, request_target(&mut stream)).await else {
                continue;
            };
            let Ok(url) = Url::parse(&format!("http://127.0.0.1{target}")) else { continue };
            if url.path() != "/callback" {
                let _ = respond(&mut stream, "404 Not Found", "Not found", "This address only takes sign-in answers.")
                    .await;
                continue;
            }
            let query = |name: &str| url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned());
            if query("state").as_deref() != Some(state) {
                let _ = respond(&mut stream, "400 Bad Request", "Sign-in refused", "This answer does not belong to the sign-in Harbor started, so Harbor refused it. Start the sign-in again from Harbor.").await;
                return Err(AuthError::Provider("the authorization server's answer carried a different state, so Harbor refused it (a forged or stale redirect); sign in again".into()));
            }
            let iss = query("iss");
            let mixed_up = match &iss {
                Some(iss) => iss.trim_end_matches('/') != issuer.trim_end_matches('/'),
                None => iss_required,
            };
            if mixed_up {
                let _ = respond(&mut stream, "400 Bad Request", "Sign-in refused", "This answer did not come from the authorization server Harbor asked, so Harbor refused it. Start the sign-in again from Harbor.").await;
                return Err(AuthError::Provider(format!(
                    "the authorization answer came from {}, not {issuer}, so Harbor refused it (RFC 9207); sign in again",
                    iss.as_deref().unwrap_or("an issuer that did not say who it is")
                )));
            }
            if let Some(error) = query("error") {
                let detail = query("error_description").unwrap_or_default();
                let _ = respond(
                    &mut stream,
                    "200 OK",
                    "Sign-in not completed",
                    &format!("The provider said: {error} {detail}"),
                )
                .await;
                let why = format!("the provider did not grant access: {error} {detail}").trim_end().to_owned();
                // `access_denied` is the user's own answer at the provider (RFC 6749 §4.1.2.1).
                return Err(if error == "access_denied" {
                    AuthError::Unapproved(why)
                } else {
                    AuthError::Provider(why)
                });
            }
            let Some(code) = query("code") else {
                let _ =
                    respond(&mut stream, "400 Bad Request", "Sign-in failed", "The answer held no authorization code.")
                        .await;
                return Err(AuthError::Provider("the provider's answer held no authorization code".into()));
            };
            let _ = respond(&mut stream, "200 OK", "Signed in", "Harbor is signed in. You can close this tab.").await;
            return Ok(code);
        }
    }
}

/// Reads the request head and returns its target (`/callback?…`) if it is a GET.
async fn request_target(stream: &mut TcpStream) -> Option<String> {
    let mut head = Vec::new();
    let mut buffer = [0u8; 2048];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let read = stream.read(&mut buffer).await.ok()?;
        if read == 0 || head.len() > 16 * 1024 {
            return None;
        }
        head.extend_from_slice(&buffer[..read]);
    }
    let line = String::from_utf8_lossy(&head).lines().next()?.to_owned();
    let mut parts = line.split(' ');
    (parts.next()? == "GET").then(|| parts.next().map(str::to_owned))?
}

async fn respond(stream: &mut TcpStream, status: &str, title: &str, text: &str) -> std::io::Result<()> {
    let body = format!(
        "<!doctype html><meta charset=utf-8><title>Harbor: {title}</title>\
         <body style=\"font:16px system-ui;margin:3em;color-scheme:light dark\"><h1>{title}</h1><p>{text}</p>",
        title = escape(title),
        text = escape(text)
    );
    let response = format!(
        "HTTP/1.1 {status}\r\ncontent-type: text/html; charset=utf-8\r\ncontent-length: {}\r\ncache-control: no-store\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn get(uri: &str, path: &str) -> String {
        let port = Url::parse(uri).unwrap().port().unwrap();
        let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        stream.write_all(format!("GET {path} HTTP/1.1\r\nhost: x\r\n\r\n").as_bytes()).await.unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.unwrap();
        answer
    }

    #[tokio::test]
    async fn the_right_state_gives_the_code_and_a_wrong_one_ends_the_sign_in() {
        let callback = Callback::bind().await.unwrap();
        let uri = callback.redirect_uri.clone();
        let waiting = tokio::spawn(async move { callback.code("s1", "https://as.test", false).await });
        assert!(get(&uri, "/favicon.ico").await.starts_with("HTTP/1.1 404"));
        assert!(get(&uri, "/callback?code=abc&state=s1").await.contains("Signed in"));
        assert_eq!(waiting.await.unwrap().unwrap(), "abc");

        let callback = Callback::bind().await.unwrap();
        let uri = callback.redirect_uri.clone();
        let waiting = tokio::spawn(async move { callback.code("s1", "https://as.test", false).await });
        assert!(get(&uri, "/callback?code=abc&state=forged").await.starts_with("HTTP/1.1 400"));
        assert!(waiting.await.unwrap().unwrap_err().to_string().contains("different state"));
    }

    #[tokio::test]
    async fn an_answer_from_another_issuer_or_without_a_promised_iss_is_a_mix_up() {
        for (path, required) in
            [("/callback?code=abc&state=s1&iss=https%3A%2F%2Fevil.test", false), ("/callback?code=abc&state=s1", true)]
        {
            let callback = Callback::bind().await.unwrap();
            let uri = callback.redirect_uri.clone();
            let waiting = tokio::spawn(async move { callback.code("s1", "https://as.test", required).await });
            assert!(get(&uri, path).await.starts_with("HTTP/1.1 400"), "{path}");
            assert!(waiting.await.unwrap().unwrap_err().to_string().contains("RFC 9207"), "{path}");
        }
        let callback = Callback::bind().await.unwrap();
        let uri = callback.redirect_uri.clone();
        let waiting = tokio::spawn(async move { callback.code("s1", "https://as.test", true).await });
        assert!(get(&uri, "/callback?code=abc&state=s1&iss=https%3A%2F%2Fas.test").await.contains("Signed in"));
        assert_eq!(waiting.await.unwrap().unwrap(), "abc");
    }
}
