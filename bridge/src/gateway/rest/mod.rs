//! The gateway's REST face, beside MCP, for scripts and services that do not speak MCP.
//!
//! Same callers, same policy: every route but `health` and the OpenAPI document needs the bearer
//! MCP needs (a client key or a team's token), sees only what the caller may use, and calls go
//! through the same pipeline — allowlist, pins, rate limit (with `X-RateLimit-*` headers),
//! concurrency, audit.
//!
//! - `GET /api/v1/health` — up, and the servers' states (open, like `/ready`, for load balancers);
//! - `GET /api/v1/servers` — the servers the caller may use something of;
//! - `GET /api/v1/servers/{id}` — one of them with the tools the caller may call;
//! - `GET /api/v1/tools?server=&tag=` — the caller's tools; a tag is one of the tool's own
//!   annotations: `read-only`, `destructive`, `idempotent`, `open-world`;
//! - `POST /api/v1/tools/call` `{tool, server?, arguments?}` — `tool` as `server/tool`, or a
//!   tool's own name, routed to the one server the caller may use with a tool of that name
//!   (409 listing the candidates when there are more);
//! - `GET /api/v1/requests?limit=` — the caller's own recent calls, metadata only;
//! - `GET /api/v1/metrics` — the caller's traffic and the servers' states, as JSON;
//! - `GET /api/v1/openapi.json` — this API as OpenAPI 3.1 ([`openapi`]).
//!
//! Errors are `{"error": {"code", "message"}}` with the status the code means.

pub mod openapi;

use http::{Method, StatusCode};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use tokio_util::sync::CancellationToken;

use super::{allows_server, own_name, Backend, Gateway, Reach};
use crate::mcp::names;
use crate::mcp::registry::ToolEntry;
use crate::store::permissions::AuditEntry;
use harbor_protocol::{ErrorCode, ErrorObject};

/// The routes' common prefix.
pub const PREFIX: &str = "/api/v1/";

/// What a route answers, before it is HTTP.
pub struct Reply {
    pub status: StatusCode,
    pub body: Value,
    /// The rate limit's state after a counted call, or on a refusal by it.
    pub rate: Option<Rate>,
}

pub struct Rate {
    pub limit: u32,
    pub remaining: u32,
    pub reset_seconds: u64,
    /// Set when the call was refused for it.
    pub retry_after: Option<u64>,
}

impl Reply {
    fn ok(body: Value) -> Reply {
        Reply { status: StatusCode::OK, body, rate: None }
    }

    fn error(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> Reply {
        let body = json!({ "error": { "code": code.as_str(), "message": message.into() } });
        Reply { status, body, rate: None }
    }

    fn failed(error: ErrorObject) -> Reply {
        Reply::error(status_of(error.code), error.code, error.message)
    }
}

/// The HTTP status an error code means on this face.
fn status_of(code: ErrorCode) -> StatusCode {
    match code {
        ErrorCode::InvalidRequest => StatusCode::BAD_REQUEST,
        ErrorCode::PermissionDenied | ErrorCode::ToolNotAllowed | ErrorCode::ScopeRequired => StatusCode::FORBIDDEN,
        ErrorCode::ToolNotFound | ErrorCode::NotInstalled => StatusCode::NOT_FOUND,
        ErrorCode::RateLimited | ErrorCode::BudgetExceeded => StatusCode::TOO_MANY_REQUESTS,
        ErrorCode::ToolTimeout => StatusCode::GATEWAY_TIMEOUT,
        ErrorCode::ServerUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorCode::ToolFailed | ErrorCode::Network => StatusCode::BAD_GATEWAY,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// `GET /api/v1/health`: open to all.
pub fn health(gateway: &Gateway) -> Reply {
    Reply::ok(json!({ "status": "ok", "servers": gateway.server_counts() }))
}

/// The caller's routes; `client` is who the bearer stands for.
pub async fn answer(
    gateway: &Gateway,
    client: &str,
    method: &Method,
    path: &str,
    query: Option<&str>,
    body: &[u8],
) -> Reply {
    let route = path.strip_prefix(PREFIX).unwrap_or_default();
    let query: Map<String, Value> = url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
        .collect();
    let outcome = match (method, route) {
        (&Method::GET, "servers") => servers(gateway, client).await,
        (&Method::GET, route) if route.starts_with("servers/") => server(gateway, client, &route[8..]).await,
        (&Method::GET, "tools") => tools(gateway, client, &query).await,
        (&Method::POST, "tools/call") => return call(gateway, client, body).await,
        (&Method::GET, "requests") => requests(gateway, client, &query).await,
        (&Method::GET, "metrics") => Ok(metrics(gateway, client)),
        (_, "servers" | "tools" | "tools/call" | "requests" | "metrics") => {
            return Reply::error(
                StatusCode::METHOD_NOT_ALLOWED,
                ErrorCode::InvalidRequest,
                format!("{method} is not how {path} is used; see /api/v1/openapi.json"),
            )
        }
        _ => {
            return Reply::error(
                StatusCode::NOT_FOUND,
                ErrorCode::InvalidRequest,
                format!("there is no {path}; see /api/v1/openapi.json"),
            )
        }
    };
    outcome.map_or_else(Reply::failed, Reply::ok)
}

/// The caller's tools, each as the REST face shows it.
fn tool_json(entry: &ToolEntry) -> Value {
    json!({
        "name": entry.name,
        "server": entry.server_id,
        "tool": own_name(entry),
        "title": entry.title,
        "description": entry.description,
        "inputSchema": entry.input_schema,
        "annotations": entry.annotations,
    })
}

/// The servers the caller may use something of — one of `tools` (its visible tools), or the
/// whole server — each with how many of its tools the caller may call.
fn listed_servers(gateway: &Gateway, allow: &[String], tools: &[ToolEntry]) -> Vec<Value> {
    gateway
        .servers
        .list()
        .into_iter()
        .filter_map(|entry| {
            let count = tools.iter().filter(|t| t.server_id == entry.spec.id).count();
            (count > 0 || allows_server(allow, &entry.spec.id)).then(|| {
                json!({
                    "id": entry.spec.id,
                    "name": entry.spec.name,
                    "state": entry.status.state,
                    "tools": count,
                })
            })
        })
        .collect()
}

async fn servers(gateway: &Gateway, client: &str) -> Result<Value, ErrorObject> {
    let record = gateway.client(client)?;
    let tools = gateway.tools(client).await?;
    Ok(json!({ "servers": listed_servers(gateway, &record.allow, &tools) }))
}

async fn server(gateway: &Gateway, client: &str, id: &str) -> Result<Value, ErrorObject> {
    let record = gateway.client(client)?;
    let tools = gateway.tools(client).await?;
    let found = listed_servers(gateway, &record.allow, &tools).into_iter().find(|s| s["id"] == id);
    let Some(mut found) = found else {
        return Err(ErrorObject::new(ErrorCode::NotInstalled, format!("there is no server {id:?} you may use")));
    };
    found["tools"] = tools.iter().filter(|t| t.server_id == id).map(tool_json).collect();
    Ok(found)
}

/// The annotation a tag stands for.
fn tag_hint(tag: &str) -> Option<&'static str> {
    Some(match tag {
        "read-only" => "readOnlyHint",
        "destructive" => "destructiveHint",
        "idempotent" => "idempotentHint",
        "open-world" => "openWorldHint",
        _ => return None,
    })
}

async fn tools(gateway: &Gateway, client: &str, query: &Map<String, Value>) -> Result<Value, ErrorObject> {
    let server = query.get("server").and_then(Value::as_str);
    let hint = match query.get("tag").and_then(Value::as_str) {
        Some(tag) => Some(tag_hint(tag).ok_or_else(|| {
            ErrorObject::invalid(format!("{tag:?} is not a tag: use read-only, destructive, idempotent or open-world"))
        })?),
        None => None,
    };
    let listed: Vec<Value> = gateway
        .tools(client)
        .await?
        .iter()
        .filter(|t| server.is_none_or(|s| t.server_id == s))
        .filter(|t| hint.is_none_or(|h| t.annotations.as_ref().and_then(|a| a.get(h)) == Some(&Value::Bool(true))))
        .map(tool_json)
        .collect();
    Ok(json!({ "tools": listed }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CallBody {
    tool: String,
    #[serde(default)]
    server: Option<String>,
    #[serde(default)]
    arguments: Option<Map<String, Value>>,
}

/// Which of the caller's tools `tool` (and `server`) names: `Err` is the reply saying why none.
fn route(tools: &[ToolEntry], tool: &str, server: Option<&str>) -> Result<String, Reply> {
    let found: Vec<&ToolEntry> = match (server, names::split_namespaced(tool)) {
        (Some(server), _) => tools.iter().filter(|t| t.server_id == server && own_name(t) == tool).collect(),
        (None, Some(_)) => tools.iter().filter(|t| t.name == tool).collect(),
        (None, None) => tools.iter().filter(|t| own_name(t) == tool || t.model_name == tool).collect(),
    };
    match found.as_slice() {
        [one] => Ok(one.name.clone()),
        [] => Err(Reply::error(
            StatusCode::NOT_FOUND,
            ErrorCode::ToolNotFound,
            format!(
                "no tool you may call is named {tool:?}{}; GET /api/v1/tools lists yours",
                match server {
                    Some(server) => format!(" on {server:?}"),
                    None => String::new(),
                }
            ),
        )),
        many => {
            let candidates: Vec<&str> = many.iter().map(|t| t.name.as_str()).collect();
            let mut reply = Reply::error(
                StatusCode::CONFLICT,
                ErrorCode::InvalidRequest,
                format!("{tool:?} is the name of more than one tool; name the server (or use server/tool)"),
            );
            reply.body["error"]["candidates"] = json!(candidates);
            Err(reply)
        }
    }
}

async fn call(gateway: &Gateway, client: &str, body: &[u8]) -> Reply {
    let asked: CallBody = match serde_json::from_slice(body) {
        Ok(asked) => asked,
        Err(error) => {
            return Reply::error(
                StatusCode::BAD_REQUEST,
                ErrorCode::InvalidRequest,
                format!("the body is not {{\"tool\", \"server\"?, \"arguments\"?}}: {error}"),
            )
        }
    };
    let tools = match gateway.tools(client).await {
        Ok(tools) => tools,
        Err(error) => return Reply::failed(error),
    };
    let name = match route(&tools, &asked.tool, asked.server.as_deref()) {
        Ok(name) => name,
        Err(reply) => return reply,
    };
    let ticket = match gateway.admit(client).await {
        Ok(Ok(ticket)) => ticket,
        Ok(Err(limited)) => {
            let seconds = limited.retry_after.as_secs().max(1);
            let mut reply = Reply::failed(ErrorObject::from(super::rate_limited(client, limited)));
            reply.rate =
                Some(Rate { limit: limited.limit, remaining: 0, reset_seconds: seconds, retry_after: Some(seconds) });
            return reply;
        }
        Err(error) => return Reply::failed(error),
    };
    // A caller that goes away stops its call.
    let cancel = CancellationToken::new();
    let _stop_on_drop = cancel.clone().drop_guard();
    let outcome = gateway.call(client, &name, asked.arguments, true, cancel, Reach::default()).await;
    let mut reply = match outcome {
        Ok(result) => Reply::ok(json!({ "tool": name, "result": result })),
        Err(error) => Reply::failed(error),
    };
    reply.rate = Some(Rate {
        limit: ticket.limit,
        remaining: ticket.remaining,
        reset_seconds: ticket.reset.as_secs(),
        retry_after: None,
    });
    reply
}

async fn requests(gateway: &Gateway, client: &str, query: &Map<String, Value>) -> Result<Value, ErrorObject> {
    let limit = match query.get("limit").and_then(Value::as_str) {
        Some(raw) => raw
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=1000).contains(n))
            .ok_or_else(|| ErrorObject::invalid(format!("limit {raw:?} is not a number from 1 to 1000")))?,
        None => 100,
    };
    let origin = gateway.who(client).origin;
    // With replicas, the caller's calls are wherever they were served: the shared trail has all.
    let entries: Vec<(AuditEntry, Option<String>)> = match gateway.shared.get() {
        Some(shared) => shared
            .audit_of(&origin, limit)
            .await
            .map_err(|why| ErrorObject::new(ErrorCode::ServerUnavailable, why))?
            .into_iter()
            .map(|(entry, replica)| (entry, Some(replica)))
            .collect(),
        None => {
            gateway.store.audit(Some(&origin), limit).map_err(super::internal)?.into_iter().map(|e| (e, None)).collect()
        }
    };
    let listed: Vec<Value> = entries
        .into_iter()
        .map(|(e, replica)| {
            json!({
                "at": e.at,
                "method": e.method,
                "tool": e.tool,
                "outcome": e.outcome,
                "durationMs": e.duration_ms,
                "replica": replica,
            })
        })
        .collect();
    Ok(json!({ "requests": listed }))
}

fn metrics(gateway: &Gateway, client: &str) -> Value {
    let traffic = gateway.traffic.lock().unwrap_or_else(|p| p.into_inner()).get(client).copied().unwrap_or_default();
    json!({
        "client": client,
        "calls": traffic.calls,
        "errors": traffic.errors,
        "rateLimited": traffic.rate_limited,
        "servers": gateway.server_counts(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mcp::registry::ToolEntry;

    fn entry(server: &str, tool: &str) -> ToolEntry {
        ToolEntry {
            name: names::namespaced(server, tool),
            model_name: format!("{server}__{tool}"),
            server_id: server.into(),
            title: None,
            description: String::new(),
            input_schema: json!({"type": "object"}),
            annotations: None,
            imitates: None,
            page_origin: None,
            ui: None,
        }
    }

    #[test]
    fn a_plain_name_is_routed_to_its_one_server_and_an_ambiguous_one_lists_the_candidates() {
        let tools = [entry("everything", "echo"), entry("probe", "echo"), entry("probe", "stats")];
        assert_eq!(route(&tools, "stats", None).ok().unwrap(), "probe/stats");
        assert_eq!(route(&tools, "probe/echo", None).ok().unwrap(), "probe/echo");
        assert_eq!(route(&tools, "probe__echo", None).ok().unwrap(), "probe/echo");
        assert_eq!(route(&tools, "echo", Some("everything")).ok().unwrap(), "everything/echo");
        let Err(ambiguous) = route(&tools, "echo", None) else { panic!("two servers have echo") };
        assert_eq!(ambiguous.status, StatusCode::CONFLICT);
        assert_eq!(ambiguous.body["error"]["candidates"], json!(["everything/echo", "probe/echo"]));
        let Err(missing) = route(&tools, "wipe", None) else { panic!("nobody has wipe") };
        assert_eq!(missing.status, StatusCode::NOT_FOUND);
        assert!(route(&tools, "stats", Some("everything")).is_err());
        assert!(route(&tools, "everything/stats", None).is_err());
    }

    #[test]
    fn errors_have_the_status_their_code_means() {
        assert_eq!(status_of(ErrorCode::ToolNotAllowed), StatusCode::FORBIDDEN);
        assert_eq!(status_of(ErrorCode::RateLimited), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(status_of(ErrorCode::ToolTimeout), StatusCode::GATEWAY_TIMEOUT);
        assert_eq!(status_of(ErrorCode::InvalidRequest), StatusCode::BAD_REQUEST);
    }
}
