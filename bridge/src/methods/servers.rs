//! `servers.*`, `tools.*`, `resources.*` and `prompts.*`.

use std::sync::Arc;
use std::time::Duration;

use harbor_protocol::api::servers::{self as api, Runtime};
use harbor_protocol::api::tools::{self as tools_api, CallTool};
use harbor_protocol::ErrorObject;
use serde_json::Value;
use tokio::sync::mpsc;

use super::{error, wire, Area};
use crate::mcp::askers::Waiter;
use crate::mcp::client::{relaying, Progress};
use crate::mcp::error::HostError;
use crate::mcp::registry::Servers;
use crate::rpc::{Call, Router};
use crate::store::servers::{ServerSpec, Source};

/// The longest timeout a caller may ask for a single call.
const MAX_CALL_TIMEOUT_MS: u64 = 10 * 60 * 1000;

/// Registers every method of the MCP host.
pub fn routes(router: Router, servers: Arc<Servers>) -> Router {
    Area::new(router, servers)
        .on::<api::ServersList, _>(|servers, _, _| async move { Ok(wire::entries(servers.list())) })
        .on::<api::ServersGet, _>(|servers, p, _| async move { Ok(wire::entry(servers.entry(&p.id).map_err(error)?)) })
        .on::<api::ServersAdd, _>(|servers, p, _| async move {
            let spec = ServerSpec {
                name: p.name.unwrap_or_else(|| p.id.clone()),
                id: p.id,
                source: p.source.unwrap_or(Source::Manual),
                launch: wire::stored_launch(p.launch),
                secret_env: p.secret_env,
                auto_start: p.auto_start,
                version: None,
                install_path: None,
                tool_timeout_ms: p.tool_timeout_ms,
                sandbox: p.sandbox,
                account: p.account,
            };
            check_account(&spec).map_err(error)?;
            Ok(wire::entry(servers.add(spec).map_err(error)?))
        })
        .on::<api::ServersUpdate, _>(|servers, p, _| async move {
            let mut spec = servers.entry(&p.id).map_err(error)?.spec;
            if let Some(name) = p.name {
                spec.name = name;
            }
            if let Some(launch) = p.launch {
                spec.launch = wire::stored_launch(launch);
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
            if let Some(account) = p.account {
                spec.account = account;
            }
            check_account(&spec).map_err(error)?;
            Ok(wire::entry(servers.update(spec).map_err(error)?))
        })
        .on::<api::ServersRemove, _>(|servers, p, _| async move {
            servers.remove(&p.id).await.map_err(error)?;
            Ok(api::Removed { removed: p.id })
        })
        .on::<api::ServersStart, _>(|servers, p, _| async move {
            Ok(wire::entry(servers.start(&p.id).await.map_err(error)?))
        })
        .on::<api::ServersStop, _>(
            |servers, p, _| async move { Ok(wire::entry(servers.stop(&p.id).await.map_err(error)?)) },
        )
        .on::<api::ServersRestart, _>(|servers, p, _| async move {
            Ok(wire::entry(servers.restart(&p.id).await.map_err(error)?))
        })
        .on::<api::ServersRuntime, _>(|servers, p, _| async move {
            let entry = servers.entry(&p.id).map_err(error)?;
            let mut spec = entry.spec;
            spec.launch = match p.runtime {
                Runtime::Docker => {
                    let image = p
                        .image
                        .ok_or_else(|| ErrorObject::invalid("name the base image to run it in, e.g. node:22-slim"))?;
                    crate::runtimes::docker::ensure_image(&image, |_| {})
                        .await
                        .map_err(|e| ErrorObject::invalid(e.to_string()))?;
                    spec.launch
                        .in_container(&image, p.network, spec.install_path.as_deref())
                        .map_err(ErrorObject::invalid)?
                }
                Runtime::Native => spec.launch.native().map_err(ErrorObject::invalid)?,
            };
            let updated = servers.update(spec).map_err(error)?;
            // A running server moves at once; a stopped one at its next start.
            if entry.status.state == crate::mcp::server::ServerState::Running {
                return Ok(wire::entry(servers.restart(&p.id).await.map_err(error)?));
            }
            Ok(wire::entry(updated))
        })
        .on::<api::ServersLogs, _>(|servers, p, _| async move {
            Ok(servers.get(&p.id).map_err(error)?.log.tail(p.lines.unwrap_or(200)))
        })
        .on::<tools_api::ToolsList, _>(|servers, p, _| async move {
            // Looks are compared across every server, then the list is narrowed.
            let mut tools = servers.tools(None).map_err(error)?;
            crate::mcp::registry::flag_imitations(&mut tools);
            if let Some(id) = p.server_id.as_deref() {
                servers.get(id).map_err(error)?;
                tools.retain(|t| t.server_id == id);
            }
            Ok(tools)
        })
        .on::<tools_api::ToolsCall, _>(call_tool)
        .on::<tools_api::ToolsAnswer, _>(|servers, p, _| async move {
            servers.relay.answer(p)?;
            Ok(harbor_protocol::api::Empty {})
        })
        .on::<tools_api::ResourcesList, _>(|servers, p, _| async move {
            servers.resources(p.server_id.as_deref()).await.map_err(error)
        })
        .on::<tools_api::ResourcesRead, _>(|servers, p, call| async move {
            servers.read_resource(&p.server_id, &p.uri, &call.cancel).await.map_err(error)
        })
        .on::<tools_api::SkillsList, _>(|servers, p, _| async move {
            servers.skills(p.server_id.as_deref()).await.map_err(error)
        })
        .on::<tools_api::PromptsList, _>(|servers, p, _| async move {
            servers.prompts(p.server_id.as_deref()).await.map_err(error)
        })
        .on::<tools_api::PromptsGet, _>(|servers, p, call| async move {
            servers.get_prompt(&p.server_id, &p.name, p.arguments, &call.cancel).await.map_err(error)
        })
        .on::<harbor_protocol::api::tasks::TasksList, _>(|servers, _, _| async move { Ok(servers.tasks().list()) })
        .on::<harbor_protocol::api::tasks::TasksCancel, _>(|servers, p, _| async move {
            servers.tasks().cancel(&p.server_id, &p.task_id)
        })
        .done()
}

/// An account is for a local server (a remote one signs in to the server itself), names a
/// variable and a way to reach its provider.
fn check_account(spec: &ServerSpec) -> Result<(), HostError> {
    let Some(account) = &spec.account else { return Ok(()) };
    let invalid = |why: &str| Err(HostError::InvalidSpec(format!("{}'s account: {why}", spec.id)));
    if matches!(spec.launch, crate::store::servers::Launch::Remote { .. }) {
        return invalid("a remote server signs in to the server itself; accounts are for local servers");
    }
    if account.env.is_empty() || !account.env.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return invalid("name the environment variable the token fills (letters, digits and _)");
    }
    if account.client_id.trim().is_empty() {
        return invalid("the client id the provider issued is missing");
    }
    if account.issuer.is_none() && account.token_endpoint.is_none() {
        return invalid("name the provider's issuer, or its token endpoint");
    }
    Ok(())
}

/// `tools.call`: the result, with progress reports as stream events before it.
async fn call_tool(servers: Arc<Servers>, p: CallTool, call: Call) -> Result<Value, ErrorObject> {
    let timeout = p.timeout_ms.map(|ms| Duration::from_millis(ms.clamp(1, MAX_CALL_TIMEOUT_MS)));
    let (progress, reports) = mpsc::channel(crate::mcp::client::PROGRESS_QUEUE);
    // While the call runs, its server's own requests go to this caller when it answers them
    // (the command line), else to the user in the sidebar.
    let asker = (!p.answers.is_empty()).then(|| servers.relay.asker(call.events.clone(), p.answers));
    // The tool's server as the call resolves it (`serverId/tool` or `serverId__tool`).
    let server = servers.lookup(&p.tool).map(|t| t.server_id);
    let _waiting = server.map(|server| servers.askers().register(&server, Waiter { who: "you".into(), asker }));
    let running = servers.call_tool(&p.tool, p.args, timeout, &call.cancel, Some(progress));
    let events = &call.events;
    let outcome =
        relaying(running, reports, |report: Progress| async move { events.emit(&report.event()).await }).await;
    outcome.map_err(error)
}
