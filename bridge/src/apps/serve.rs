//! The loopback listener that serves open views to their sandboxed frames:
//! `GET /view/<viewId>` answers the view's HTML with its Content-Security-Policy, and nothing
//! else is served.
//!
//! Why a listener of its own: the sidebar's own policy (`script-src 'self'`) would also govern a
//! `srcdoc` or `blob:` frame it made, which would stop an App's inline script; a document from
//! another origin gets the policy it is served with. The listener binds `127.0.0.1` on a port the
//! system picks, on the first view; a request must name that address in `Host` (no DNS
//! rebinding), and a view id is 32 random characters that stop serving when the view closes.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::Full;
use tokio::net::TcpListener;

use super::Views;

/// How long a connection may take to send a request's headers.
const HEADER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Binds the listener and serves `views` from it for as long as the process runs.
pub async fn start(views: Arc<Views>) -> std::io::Result<u16> {
    let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
    let port = listener.local_addr()?.port();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            };
            let views = views.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |request| {
                    let views = views.clone();
                    async move { Ok::<_, Infallible>(answer(&request, &views, port)) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .timer(hyper_util::rt::TokioTimer::new())
                    .header_read_timeout(HEADER_TIMEOUT)
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok(port)
}

fn answer<B>(request: &Request<B>, views: &Views, port: u16) -> Response<Full<Bytes>> {
    let host = request.headers().get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or_default();
    if host != format!("127.0.0.1:{port}") {
        return plain(StatusCode::FORBIDDEN, "views are served only at their loopback address");
    }
    if request.method() != Method::GET {
        return plain(StatusCode::METHOD_NOT_ALLOWED, "views are only read");
    }
    let Some(id) = request.uri().path().strip_prefix("/view/") else {
        return plain(StatusCode::NOT_FOUND, "nothing is served here");
    };
    let Some((html, csp)) = views.page(id) else {
        return plain(StatusCode::NOT_FOUND, "this view is closed");
    };
    let mut response = Response::new(Full::new(Bytes::from(html.as_bytes().to_vec())));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    if let Ok(csp) = HeaderValue::from_str(&csp) {
        headers.insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    response
}

fn plain(status: StatusCode, text: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    response
}
