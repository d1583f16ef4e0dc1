//! `servers.*`, `tools.*`, `resources.*` and `prompts.*`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use harbor_protocol::ErrorObject;
use rmcp::model::JsonObject;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::{error, invalid, params, to_value, with};
use crate::mcp::client::Progress;
use crate::mcp::registry::Servers;
use crate::rpc::{Access, Call, Router};
use crate::store::servers::{Launch, Sandbox, ServerSpec, Source};

/// The longest timeout a caller may ask for a single call.
const MAX_CALL_TIMEOUT_MS: u64 = 10 * 60 * 1000;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct AddParams {
    id: String,
    name: Option<String>,
    launch: Launch,
    #[serde(default)]
    source: Option<Source>,
    /// Variable → secret id (set with `secrets.set` or `servers.secrets.set`).
    #[serde(default)]
    secret_env: BTreeMap<String, String>,
    #[serde(default)]
    auto_start: bool,
    tool_timeout_ms: Option<u64>,
    sandbox: Option<Sandbox>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct UpdateParams {
    id: String,
    name: Option<String>,
    launch: Option<Launch>,
    auto_start: Option<bool>,
    tool_timeout_ms: Option<u64>,
    /// The OS sandbox; `{"enabled": false}` turns it off.
    sandbox: Option<Sandbox>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuntimeParams {
    id: String,
    /// `docker` or `native`.
    runtime: String,
    /// The base image, for `docker`.
    image: Option<String>,
    #[serde(default)]
    network: bool,
}

#[derive(Deserialize)]
struct IdParams {
    id: String,
}

#[derive(Deserialize)]
struct LogsParams {
    id: String,
    lines: Option<usize>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ServerFilter {
    server_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CallParams {
    tool: String,
    #[serde(default)]
    args: Option<JsonObject>,
    timeout_ms: Option<u64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReadParams {
    server_id: String,
    uri: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PromptParams {
    server_id: String,
    name: String,
    #[serde(default)]
    arguments: Option<JsonObject>,
}

/// Registers every method of the MCP host.
pub fn routes(router: Router, servers: Arc<Servers>) -> Router {
    let s = servers;
    router
        .route("servers.list", Access::Extension, with(&s, |servers, _call| async move { to_value(servers.list()) }))
        .route(
            "servers.get",
            Access::Extension,
            with(&s, |servers, call| async move {
                let p: IdParams = params("servers.get", call.params)?;
                to_value(servers.entry(&p.id).map_err(error)?)
            }),
        )
        .route(
            "servers.add",
            Access::Extension,
            with(&s, |servers, call| async move {
                let p: AddParams = params("servers.add", call.params)?;
                let spec = ServerSpec {
                    name: p.name.unwrap_or_else(|| p.id.clone()),
                    id: p.id,
                    source: p.source.unwrap_or(Source::Manual),
                    launch: p.launch,
                    secret_env: p.secret_env,
                    auto_start: p.auto_start,
                    version: None,
                    install_path: None,
                    tool_timeout_ms: p.tool_timeout_ms,
                    sandbox: p.sandbox,
                };
                to_value(servers.add(spec).map_err(error)?)
            }),
        )
        .route(
            "servers.update",
            Access::Extension,
            with(&s, |servers, call| async move {
                let p: UpdateParams = params("servers.update", call.params)?;
                let mut spec = servers.entry(&p.id).map_err(error)?.spec;
                if let Some(name) = p.name {
                    spec.name = name;
                }
                if let Some(launch) = p.launch {
                    spec.launch = launch;
                }
                if let Some(auto_start) = p.auto_start {
                    spec.auto_start = auto_start;
                }
                if p.tool_timeout_ms.is_some() {
                    spec.tool_timeout_ms = p.tool_timeout_ms;
                }
                if p.sandbox.is_some() {
                    spec.sandbox = p.sandbox;
                }
                to_value(servers.update(spec).map_err(error)?)
            }),
        )
        .route(
            "servers.remove",
            Access::Extension,
            with(&s, |servers, call| async move {
                let p: IdParams = params("servers.remove", call.params)?;
                servers.remove(&p.id).await.map_err(error)?;
                Ok(json!({ "removed": p.id }))
            }),
        )
        .route(
            "servers.start",
            Access::Extension,
            with(&s, |servers, call| async move {
                let p: IdParams = params("servers.start", call.params)?;
                to_value(servers.start(&p.id).await.map_err(error)?)
            }),
        )
        .route(
            "servers.stop",
            Access::Extension,
            with(&s, |servers, call| async move {
                let p: IdParams = params("servers.stop", call.params)?;
                to_value(servers.stop(&p.id).await.map_err(error)?)
            }),
        )
        .route(
            "servers.restart",
            Access::Extension,
            with(&s, |servers, call| async move {
                let p: IdParams = params("servers.restart", call.params)?;
                to_value(servers.restart(&p.id).await.map_err(error)?)
            }),
        )
        .route(
            "servers.runtime",
            Access::Extension,
            with(&s, |servers, call| async move {
                let p: RuntimeParams = params("servers.runtime", call.params.clone())?;
                let entry = servers.entry(&p.id).map_err(error)?;
                let mut spec = entry.spec;
                spec.launch = match p.runtime.as_str() {
                    "docker" => {
                        let image =
                            p.image.ok_or_else(|| invalid("name the base image to run it in, e.g. node:22-slim"))?;
                        crate::runtimes::docker::ensure_image(&image, |_| {})
                            .await
                            .map_err(|e| invalid(e.to_string()))?;
                        spec.launch.in_container(&image, p.network, spec.install_path.as_deref()).map_err(invalid)?
                    }
                    "native" => spec.launch.native().map_err(invalid)?,
                    other => return Err(invalid(format!("{other:?} is not a runtime; use docker or native"))),
                };
                let updated = servers.update(spec).map_err(error)?;
                // A running server moves at once; a stopped one at its next start.
                if entry.status.state == crate::mcp::server::ServerState::Running {
                    return to_value(servers.restart(&p.id).await.map_err(error)?);
                }
                to_value(updated)
            }),
        )
        .route(
            "servers.logs",
            Access::Extension,
            with(&s, |servers, call| async move {
                let p: LogsParams = params("servers.logs", call.params)?;
                let server = servers.get(&p.id).map_err(error)?;
                to_value(server.log.tail(p.lines.unwrap_or(200)))
            }),
        )
        .route(
            "tools.list",
            Access::Extension,
            with(&s, |servers, call| async move {
                let p: ServerFilter = params("tools.list", call.params)?;
                // Looks are compared across every server, then the list is narrowed.
                let mut tools = servers.tools(None).map_err(error)?;
                crate::mcp::registry::flag_imitations(&mut tools);
                if let Some(id) = p.server_id.as_deref() {
                    servers.get(id).map_err(error)?;
                    tools.retain(|t| t.server_id == id);
                }
                to_value(tools)
            }),
        )
        .route("tools.call", Access::Extension, with(&s, call_tool))
        .route(
            "resources.list",
            Access::Extension,
            with(&s, |servers, call| async move {
                let p: ServerFilter = params("resources.list", call.params)?;
                to_value(servers.resources(p.server_id.as_deref()).await.map_err(error)?)
            }),
        )
        .route(
            "resources.read",
            Access::Extension,
            with(&s, |servers, call| async move {
                let p: ReadParams = params("resources.read", call.params)?;
                servers.read_resource(&p.server_id, &p.uri, &call.cancel).await.map_err(error)
            }),
        )
        .route(
            "prompts.list",
            Access::Extension,
            with(&s, |servers, call| async move {
                let p: ServerFilter = params("prompts.list", call.params)?;
                to_value(servers.prompts(p.server_id.as_deref()).await.map_err(error)?)
            }),
        )
        .route(
            "prompts.get",
            Access::Extension,
            with(&s, |servers, call| async move {
                let p: PromptParams = params("prompts.get", call.params)?;
                servers.get_prompt(&p.server_id, &p.name, p.arguments, &call.cancel).await.map_err(error)
            }),
        )
}

/// `tools.call`: the result, with progress reports as stream events before it.
async fn call_tool(servers: Arc<Servers>, call: Call) -> Result<Value, ErrorObject> {
    let p: CallParams = params("tools.call", call.params)?;
    let timeout = p.timeout_ms.map(|ms| Duration::from_millis(ms.clamp(1, MAX_CALL_TIMEOUT_MS)));
    let (progress, mut reports) = mpsc::channel(crate::mcp::client::PROGRESS_QUEUE);
    let running = servers.call_tool(&p.tool, p.args, timeout, &call.cancel, Some(progress));
    tokio::pin!(running);
    let progress_event = |report: Progress| json!({"type": "progress", "progress": report.progress, "total": report.total, "message": report.message});
    let outcome = loop {
        tokio::select! {
            biased;
            Some(report) = reports.recv() => {
                call.events.send(progress_event(report)).await;
            }
            outcome = &mut running => break outcome,
        }
    };
    // rmcp hands each notification to a task of its own; on the bridge's single thread those
    // tasks run before the call's answer is seen, so what the server reported before its result
    // is in the queue now and goes out before the final reply.
    while let Ok(report) = reports.try_recv() {
        call.events.send(progress_event(report)).await;
    }
    outcome.map_err(error)
}
