//! The gateway's HTTP endpoint on loopback: MCP Streamable HTTP at `/mcp`, and `/live`, `/ready`,
//! `/metrics` and the protected-resource metadata (RFC 9728) beside it.
//!
//! Every request passes the same door first:
//! - `Host` must name this loopback listener (`127.0.0.1`, `localhost` or `[::1]` with its port),
//!   so a page on a rebinding DNS name cannot reach it;
//! - a request with an `Origin` other than this listener's own loopback origins
//!   (`http://127.0.0.1:<port>`, `http://localhost:<port>`, `http://[::1]:<port>`, which the MCP
//!   spec's DNS-rebinding guidance expects a local server to accept) is refused: browsers have no
//!   business here (Harbor's own browser side talks native messaging), and the gateway serves no
//!   page, so no web page can drive it, even one on another loopback port;
//! - `/mcp` needs `Authorization: Bearer <key>`; without one, or with a wrong one, the answer is
//!   401 with a `WWW-Authenticate` challenge that points at the resource metadata;
//! - when the gateway serves a team ([`super::team`]), the bearer may instead be an access token
//!   of one of its issuers: a bad one is a 401 `invalid_token` saying why, a good one that gives
//!   no role a 403 `insufficient_scope` naming the scopes that would, and an issuer that cannot
//!   be asked a 503. The resource metadata then names the issuers as `authorization_servers`.
//!
//! `/api/v1/…` is the REST face ([`super::rest`]) behind the same door and bearer.
//!
//! `tools/call` requests are counted against the client's rate limit here, so every answer can
//! carry `X-RateLimit-Limit`, `-Remaining` and `-Reset`; a call over the limit gets 429 with
//! `Retry-After` and a JSON-RPC error. The rest is rmcp's `StreamableHttpService`, which serves
//! sessions, SSE and `list_changed`.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{combinators::BoxBody, BodyExt, Full, Limited};
use hyper::body::Incoming;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};

use super::sessions::SessionCap;
use super::team::Refusal;

/// The header that names a 2025-era session.
const SESSION_HEADER: &str = "mcp-session-id";
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::face::{error_data, Caller, Face, RATE_LIMITED};
use super::limits::Limited as RateLimited;
use super::rest;
use super::Gateway;
use crate::mcp::metrics::Text;
use crate::telemetry::{self, Kind, Span, SpanContext};

/// The largest request body accepted.
const MAX_BODY: usize = 4 << 20;

/// How long the accept loop pauses after an error (out of file descriptors, most often), so it
/// waits for connections to close instead of spinning on the error.
const ACCEPT_BACKOFF: std::time::Duration = std::time::Duration::from_millis(100);
/// How long a connection may take to send a request's headers.
pub const HEADER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// How long [`Endpoint::stop`] waits for connections to end after telling them to.
const STOP_DEADLINE: std::time::Duration = std::time::Duration::from_secs(5);

type Body = BoxBody<Bytes, Infallible>;
type Mcp = StreamableHttpService<Face<Gateway>, LocalSessionManager>;

/// A running endpoint: the accept loop, every connection it accepted, and their MCP sessions.
/// [`Endpoint::stop`] ends all of them, so turning the endpoint off leaves nothing serving;
/// [`Endpoint::drain`] first stops taking new work, for a shutdown that lets calls finish.
pub struct Endpoint {
    stop: CancellationToken,
    /// Cancelled when the endpoint drains: no new connections, and new requests get 503.
    draining: CancellationToken,
    connections: TaskTracker,
    sessions: Arc<LocalSessionManager>,
}

impl Endpoint {
    /// Serves `listener` until [`Endpoint::stop`].
    pub fn start(listener: TcpListener, gateway: Arc<Gateway>, port: u16) -> Endpoint {
        let endpoint = Endpoint {
            stop: CancellationToken::new(),
            draining: CancellationToken::new(),
            connections: TaskTracker::new(),
            sessions: Default::default(),
        };
        let team = gateway.team();
        let hosts = Arc::new(Hosts::new(port, team.as_ref().map(|team| team.config.resource())));
        let config = StreamableHttpServerConfig::default().with_allowed_hosts(hosts.names.clone());
        // A team's CORS origins may change on reload, so its door alone checks `Origin` (it does
        // for every path, before rmcp sees the request); the personal gateway has rmcp check too.
        let config = match team {
            Some(_) => config.disable_allowed_origins(),
            None => config.with_allowed_origins(hosts.origins.clone()).enforce_origin_validation(),
        };
        let face = gateway.clone();
        // One store of 2026-07-28 calls between rounds for every session: a retry may come on any.
        let rounds = Arc::new(super::rounds::Rounds::default());
        let tasks = Arc::new(super::tasks::AppTasks::default());
        let mcp: Mcp = StreamableHttpService::new(
            move || Ok(Face::new(face.clone(), None).sharing(rounds.clone(), tasks.clone())),
            endpoint.sessions.clone(),
            config,
        );
        let (stop, connections) = (endpoint.stop.clone(), endpoint.connections.clone());
        let draining = endpoint.draining.clone();
        let mcp = Door { mcp, cap: Arc::new(SessionCap::new(endpoint.sessions.clone())), hosts, draining };
        endpoint.connections.spawn(accept(listener, gateway, mcp, stop, connections));
        endpoint
    }

    /// Stops taking new work: the listener closes, `/ready` and every new request on an open
    /// connection answer 503. What runs goes on until [`Endpoint::stop`].
    pub fn drain(&self) {
        self.draining.cancel();
    }

    /// Stops accepting, ends every open connection and session (SSE streams included), and
    /// waits for them, at most [`STOP_DEADLINE`].
    pub async fn stop(self) {
        self.stop.cancel();
        self.connections.close();
        let sessions: Vec<_> = self.sessions.sessions.write().await.drain().map(|(_, handle)| handle).collect();
        for session in sessions {
            let _ = session.close().await;
        }
        if tokio::time::timeout(STOP_DEADLINE, self.connections.wait()).await.is_err() {
            tracing::warn!("gateway connections did not end within {} s of stopping", STOP_DEADLINE.as_secs());
        }
    }
}

/// rmcp's service, the cap on the sessions it opens, and the names this endpoint answers to.
#[derive(Clone)]
struct Door {
    mcp: Mcp,
    cap: Arc<SessionCap>,
    hosts: Arc<Hosts>,
    draining: CancellationToken,
}

/// The `Host` values and origins this endpoint answers to: its loopback names, and the
/// authority of the team's resource URI when one is configured; and the base of its URLs.
struct Hosts {
    names: Vec<String>,
    origins: Vec<String>,
    base: String,
}

impl Hosts {
    fn new(port: u16, resource: Option<String>) -> Hosts {
        let mut names = loopback_hosts(port);
        let mut origins: Vec<String> = names.iter().map(|host| format!("http://{host}")).collect();
        let mut base = format!("http://127.0.0.1:{port}");
        if let Some(url) = resource.as_deref().and_then(|r| url::Url::parse(r).ok()) {
            let origin = url.origin().ascii_serialization();
            let authority = origin.split_once("://").map_or(String::new(), |(_, a)| a.to_owned());
            if !authority.is_empty() && !names.contains(&authority) {
                names.push(authority);
                origins.push(origin.clone());
            }
            base = origin;
        }
        Hosts { names, origins, base }
    }

    fn answers_to(&self, host: &str) -> bool {
        self.names.iter().any(|allowed| allowed.eq_ignore_ascii_case(host))
    }

    fn own_origin(&self, origin: &str) -> bool {
        self.origins.iter().any(|allowed| allowed.eq_ignore_ascii_case(origin))
    }
}

async fn accept(
    listener: TcpListener,
    gateway: Arc<Gateway>,
    mcp: Door,
    stop: CancellationToken,
    connections: TaskTracker,
) {
    loop {
        let accepted = tokio::select! {
            () = stop.cancelled() => return,
            () = mcp.draining.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(error) => {
                tracing::warn!("the gateway cannot accept a connection: {error}");
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(ACCEPT_BACKOFF) => continue,
                }
            }
        };
        // Answers go out in several small writes (headers, then SSE events); with Nagle's
        // algorithm each waited for the client's delayed ACK: 44 ms a call, measured.
        let _ = stream.set_nodelay(true);
        let tls = gateway.team().and_then(|team| team.tls.clone());
        let gateway = gateway.clone();
        let mcp = mcp.clone();
        let stop = stop.clone();
        connections.spawn(async move {
            let io: Box<dyn Io> = match tls {
                None => Box::new(stream),
                // The handshake is bounded like the headers: a client that stalls it is cut off.
                Some(acceptor) => match tokio::time::timeout(HEADER_TIMEOUT, acceptor.accept(stream)).await {
                    Ok(Ok(stream)) => Box::new(stream),
                    _ => return,
                },
            };
            let service = hyper::service::service_fn(move |request| {
                let gateway = gateway.clone();
                let mcp = mcp.clone();
                async move { Ok::<_, Infallible>(handle(request, &gateway, mcp).await) }
            });
            let io = hyper_util::rt::TokioIo::new(io);
            // A client that opens a connection and sends its headers slowly, or never, is cut off:
            // otherwise each such connection holds a task and a descriptor for as long as it likes.
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .serve_connection(io, service);
            tokio::select! {
                _ = connection => {}
                () = stop.cancelled() => {}
            }
        });
    }
}

/// A connection's byte stream: plain TCP, or TLS over it.
trait Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Io for T {}

fn loopback_hosts(port: u16) -> Vec<String> {
    ["127.0.0.1", "localhost", "[::1]"].iter().map(|host| format!("{host}:{port}")).collect()
}

async fn handle(request: Request<Incoming>, gateway: &Gateway, mcp: Door) -> Response<Body> {
    let host = request.headers().get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or_default();
    if !mcp.hosts.answers_to(host) {
        return plain(StatusCode::FORBIDDEN, "this endpoint answers only to its own address");
    }
    // Pages may not use the gateway, except those at a team's configured CORS origins.
    let mut cors = None;
    if let Some(origin) = request.headers().get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or_default();
        if !mcp.hosts.own_origin(origin) {
            match gateway.team().is_some_and(|team| team.cors.iter().any(|allowed| allowed == origin)) {
                true => cors = Some(origin.to_owned()),
                false => return plain(StatusCode::FORBIDDEN, "web pages may not use Harbor's gateway"),
            }
        }
    }
    if mcp.draining.is_cancelled() && request.uri().path() != "/live" {
        let mut response = plain(StatusCode::SERVICE_UNAVAILABLE, "the gateway is shutting down; try another replica");
        response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(5));
        return response;
    }
    if cors.is_some() && request.method() == Method::OPTIONS {
        let mut response = full(StatusCode::NO_CONTENT, Bytes::new());
        allow_origin(&mut response, cors.as_deref(), true);
        return response;
    }
    let base = mcp.hosts.base.clone();
    // MCP and REST requests are spans, under the caller's `traceparent` when it sends one.
    let path = request.uri().path();
    let mut span = (path == "/mcp" || path.starts_with(rest::PREFIX)).then(|| {
        let parent = request.headers().get("traceparent").and_then(|v| v.to_str().ok()).and_then(SpanContext::parse);
        let mut span = Span::start(format_args!("{} {path}", request.method()), Kind::Server, parent)?;
        span.set("http.request.method", request.method().as_str());
        span.set("url.path", path);
        Some(span)
    });
    let trace = span.as_ref().and_then(|s| s.as_ref()).map(Span::context);
    let mut response = telemetry::within(trace, route(request, gateway, mcp, &base)).await;
    if let Some(Some(span)) = span.as_mut() {
        span.set("http.response.status_code", response.status().as_u16());
        if response.status().is_server_error() {
            span.fail(response.status().as_str());
        }
    }
    allow_origin(&mut response, cors.as_deref(), false);
    response
}

/// The CORS headers for an allowed page's request (its preflight's too).
fn allow_origin(response: &mut Response<Body>, origin: Option<&str>, preflight: bool) {
    let Some(origin) = origin.and_then(|o| HeaderValue::from_str(o).ok()) else { return };
    let headers = response.headers_mut();
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    headers.append(header::VARY, HeaderValue::from_static("Origin"));
    headers.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static(
            "mcp-session-id, www-authenticate, x-ratelimit-limit, x-ratelimit-remaining, x-ratelimit-reset, retry-after",
        ),
    );
    if preflight {
        headers.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("GET, POST, DELETE, OPTIONS"));
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static(
                "authorization, content-type, accept, mcp-session-id, mcp-protocol-version, last-event-id",
            ),
        );
        headers.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
    }
}

/// The answer for a request past the door.
async fn route(request: Request<Incoming>, gateway: &Gateway, mcp: Door, base: &str) -> Response<Body> {
    match request.uri().path() {
        "/mcp" => mcp_request(request, gateway, mcp, base).await,
        "/api/v1/health" => reply(rest::health(gateway)),
        "/api/v1/openapi.json" => json_response(StatusCode::OK, rest::openapi::document(base)),
        path if path.starts_with(rest::PREFIX) => rest_request(request, gateway, base).await,
        "/live" => json_response(StatusCode::OK, json!({ "live": true })),
        "/ready" => ready(gateway),
        // Client names and traffic: for a holder of a gateway key (a scraper gets one of its
        // own, allowed no tools), not for any process on this machine.
        "/metrics" => {
            if let Err(denied) = client_of(&request, gateway).await {
                return denied.response(base);
            }
            let mut text = Text::default();
            gateway.write_metrics(&mut text);
            let mut response = full(StatusCode::OK, text.finish());
            response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4"));
            response
        }
        "/.well-known/oauth-protected-resource" | "/.well-known/oauth-protected-resource/mcp" => {
            json_response(StatusCode::OK, resource_metadata(gateway, base))
        }
        _ => plain(StatusCode::NOT_FOUND, "not found: the MCP endpoint is /mcp"),
    }
}

/// The protected-resource metadata (RFC 9728): with a team, its resource URI, the issuers whose
/// tokens are accepted and the scopes that give roles. (No `resource_documentation`: RFC 9728
/// makes it a URL, and SDKs refuse metadata whose field is not one.)
fn resource_metadata(gateway: &Gateway, base: &str) -> Value {
    let mut metadata = json!({
        "resource": format!("{base}/mcp"),
        "bearer_methods_supported": ["header"],
        "resource_name": "Harbor gateway",
    });
    if let Some(team) = gateway.team() {
        metadata["resource"] = json!(team.config.resource());
        metadata["authorization_servers"] = json!(team.authorization_servers());
        metadata["scopes_supported"] = json!(super::team::roles::scopes_granting(&team.config.mappings));
    }
    metadata
}

/// A REST route, for the caller the bearer stands for.
async fn rest_request(request: Request<Incoming>, gateway: &Gateway, base: &str) -> Response<Body> {
    let client = match client_of(&request, gateway).await {
        Ok(client) => client,
        Err(denied) => return denied.response(base),
    };
    let (parts, body) = request.into_parts();
    let body = match read_body(body).await {
        Ok(body) => body,
        Err(too_large) => return too_large,
    };
    let path = parts.uri.path();
    reply(rest::answer(gateway, &client, &parts.method, path, parts.uri.query(), &body).await)
}

/// A request's body, at most [`MAX_BODY`]; a larger one is answered 413.
async fn read_body(body: Incoming) -> Result<Bytes, Response<Body>> {
    match Limited::new(body, MAX_BODY).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(_) => Err(plain(StatusCode::PAYLOAD_TOO_LARGE, "the request is larger than 4 MiB")),
    }
}

fn reply(reply: rest::Reply) -> Response<Body> {
    let mut response = json_response(reply.status, reply.body);
    if let Some(rate) = reply.rate {
        rate_headers(response.headers_mut(), rate.limit, rate.remaining, rate.reset_seconds);
        if let Some(seconds) = rate.retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
    }
    response
}

/// Ready once no server is still starting (the auto-start ones have come up or failed).
fn ready(gateway: &Gateway) -> Response<Body> {
    let servers = gateway.server_counts();
    let ready = servers.starting == 0;
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    json_response(status, json!({ "ready": ready, "servers": servers }))
}

/// Why a request is not let in.
enum Denied {
    /// No bearer at all.
    Missing,
    /// A bearer that is no key, with no team to try it as a token.
    WrongKey,
    /// A token the team's issuers refused.
    Token(Refusal),
}

impl Denied {
    fn response(self, base: &str) -> Response<Body> {
        let metadata = format!("resource_metadata=\"{base}/.well-known/oauth-protected-resource/mcp\"");
        let (status, challenge, message) = match self {
            Denied::Missing => (
                StatusCode::UNAUTHORIZED,
                format!("Bearer {metadata}"),
                "a gateway key or access token is required: send it as a bearer token".to_owned(),
            ),
            Denied::WrongKey => (
                StatusCode::UNAUTHORIZED,
                format!("Bearer {metadata}, error=\"invalid_token\""),
                "that is not a gateway key: create one for this app in Harbor's Gateway panel".to_owned(),
            ),
            Denied::Token(Refusal::Invalid(why)) => (
                StatusCode::UNAUTHORIZED,
                format!("Bearer {metadata}, error=\"invalid_token\", error_description=\"{}\"", quoted(&why)),
                format!("the access token is refused: {why}"),
            ),
            Denied::Token(Refusal::NoRole { scopes }) => (
                StatusCode::FORBIDDEN,
                format!("Bearer {metadata}, error=\"insufficient_scope\", scope=\"{}\"", quoted(&scopes.join(" "))),
                match scopes.is_empty() {
                    true => "the token gives no role on this gateway: ask its administrator for one".to_owned(),
                    false => format!(
                        "the token gives no role on this gateway; a token with one of these scopes would: {}",
                        scopes.join(" ")
                    ),
                },
            ),
            Denied::Token(Refusal::Unavailable(why)) => {
                tracing::warn!("a token could not be checked: {why}");
                return plain(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the identity provider cannot be reached to check the token; try again shortly",
                );
            }
        };
        let mut response = plain(status, &message);
        if let Ok(challenge) = HeaderValue::from_str(&challenge) {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, challenge);
        }
        response
    }
}

/// `text` fit for a quoted-string in a header: printable ASCII, no quotes or backslashes.
fn quoted(text: &str) -> String {
    text.chars().map(|c| if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' { c } else { '?' }).collect()
}

/// The caller the request's bearer stands for: a gateway client by its key, or — when the
/// gateway serves a team — a token's subject with its roles.
async fn client_of(request: &Request<Incoming>, gateway: &Gateway) -> Result<String, Denied> {
    let bearer = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer ").or_else(|| h.strip_prefix("bearer ")))
        .map(str::trim)
        .ok_or(Denied::Missing)?;
    let team = gateway.team();
    // Harbor's keys all start `hbk_`: such a bearer is a key or nothing — never sent to the
    // identity provider (a flood of made-up keys must not become a flood of introspections);
    // any other bearer is a token, never looked up as a key.
    if bearer.starts_with(super::KEY_PREFIX) {
        let keys = team.as_ref().is_none_or(|team| team.config.auth.keys);
        return match keys {
            true => gateway.authenticate_anywhere(bearer).await.ok_or(Denied::WrongKey),
            false => Err(Denied::WrongKey),
        };
    }
    match team {
        Some(team) if !team.issuers.is_empty() => match team.authenticate(bearer).await {
            Ok(principal) => Ok(gateway.admit_principal(principal)),
            Err(refusal) => Err(Denied::Token(refusal)),
        },
        _ => Err(Denied::WrongKey),
    }
}

async fn mcp_request(request: Request<Incoming>, gateway: &Gateway, door: Door, base: &str) -> Response<Body> {
    let Door { mut mcp, cap, .. } = door;
    let client = match client_of(&request, gateway).await {
        Ok(client) => client,
        Err(denied) => return denied.response(base),
    };
    let (mut parts, body) = request.into_parts();
    let body = match read_body(body).await {
        Ok(body) => body,
        Err(too_large) => return too_large,
    };
    let mut ticket = None;
    if parts.method == Method::POST && json_body(&parts.headers) {
        if let Err(error) = serde_json::from_slice::<Value>(&body) {
            // JSON-RPC's parse error, as a JSON-RPC answer (not a transport-level refusal).
            return json_response(StatusCode::BAD_REQUEST, super::stdio::parse_error(&error.to_string()));
        }
    }
    if parts.method == Method::POST {
        for id in tool_calls(&body) {
            match gateway.admit(&client).await {
                Ok(Ok(admitted)) => ticket = Some(admitted),
                Ok(Err(limited)) => return too_many(&client, limited, id),
                Err(error) => return plain(StatusCode::FORBIDDEN, &error.message),
            }
        }
    }
    let joined = parts.headers.contains_key(SESSION_HEADER);
    parts.extensions.insert(Caller { client: client.clone(), admitted: ticket.is_some(), trace: telemetry::current() });
    let request = Request::from_parts(parts, Full::new(body));
    let mut response = match tower_service::Service::call(&mut mcp, request).await {
        Ok(response) => response,
        Err(never) => match never {},
    };
    if !joined {
        if let Some(session) = response.headers().get(SESSION_HEADER).and_then(|v| v.to_str().ok()) {
            cap.opened(&client, session).await;
        }
    }
    if let Some(ticket) = ticket {
        rate_headers(response.headers_mut(), ticket.limit, ticket.remaining, ticket.reset.as_secs());
    }
    response
}

/// Whether a request says its body is JSON (or says nothing, as some clients do).
fn json_body(headers: &http::HeaderMap) -> bool {
    headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_none_or(|v| v.starts_with("application/json"))
}

/// The ids of the `tools/call` requests in a JSON-RPC body (one message or a batch).
fn tool_calls(body: &[u8]) -> Vec<Value> {
    let Ok(value) = serde_json::from_slice::<Value>(body) else { return Vec::new() };
    let messages = match value {
        Value::Array(messages) => messages,
        message => vec![message],
    };
    messages
        .into_iter()
        .filter(|m| m.get("method").and_then(Value::as_str) == Some("tools/call"))
        .map(|m| m.get("id").cloned().unwrap_or(Value::Null))
        .collect()
}

fn too_many(client: &str, limited: RateLimited, id: Value) -> Response<Body> {
    let error = harbor_protocol::ErrorObject::from(super::rate_limited(client, limited));
    let seconds = limited.retry_after.as_secs().max(1);
    let body = json!({
        "jsonrpc": "2.0",
        "id": id,
        "error": { "code": RATE_LIMITED, "message": error.message, "data": error_data(&error) },
    });
    let mut response = json_response(StatusCode::TOO_MANY_REQUESTS, body);
    let headers = response.headers_mut();
    headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    rate_headers(headers, limited.limit, 0, seconds);
    response
}

fn rate_headers(headers: &mut http::HeaderMap, limit: u32, remaining: u32, reset_seconds: u64) {
    headers.insert("x-ratelimit-limit", HeaderValue::from(limit));
    headers.insert("x-ratelimit-remaining", HeaderValue::from(remaining));
    headers.insert("x-ratelimit-reset", HeaderValue::from(reset_seconds));
}

fn full(status: StatusCode, body: impl Into<Bytes>) -> Response<Body> {
    let mut response = Response::new(Full::new(body.into()).boxed());
    *response.status_mut() = status;
    response
}

fn plain(status: StatusCode, message: &str) -> Response<Body> {
    let mut response = full(status, format!("{message}\n"));
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    response
}

fn json_response(status: StatusCode, value: Value) -> Response<Body> {
    let mut response = full(status, value.to_string());
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_calls_are_found_in_single_messages_and_batches() {
        let single = br#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"x"}}"#;
        assert_eq!(tool_calls(single), vec![json!(7)]);
        let batch =
            br#"[{"jsonrpc":"2.0","id":1,"method":"tools/list"},{"jsonrpc":"2.0","id":"b","method":"tools/call"}]"#;
        assert_eq!(tool_calls(batch), vec![json!("b")]);
        assert!(tool_calls(b"not json").is_empty());
    }

    #[test]
    fn only_this_listeners_loopback_names_are_hosts() {
        let hosts = loopback_hosts(8080);
        assert!(hosts.contains(&"localhost:8080".to_owned()));
        assert!(!hosts.iter().any(|h| h.starts_with("evil")));
    }
}
