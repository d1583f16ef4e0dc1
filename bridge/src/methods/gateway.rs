//! The gateway's methods, for the sidebar and the command line (`Access::Extension`):
//! `gateway.status`, `gateway.http.set`, `gateway.clients.add|update|rotateKey|remove`,
//! `gateway.connect`, and `gateway.tools` / `gateway.call`, through which `harbor-bridge mcp`
//! serves an app from another process. A client's key is in the answer of `add` and `rotateKey`
//! only: Harbor keeps its SHA-256, never the key.

use std::path::PathBuf;
use std::sync::Arc;

use rmcp::model::JsonObject;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{invalid, params, to_value, with};
use crate::gateway::{connect, Backend, ClientChanges, Gateway, GatewaySettings};
use crate::import::export::Target;
use crate::rpc::{Access, Router};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ClientParams {
    name: String,
    #[serde(flatten)]
    changes: ClientChanges,
}

#[derive(Deserialize)]
struct NameParams {
    name: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct HttpParams {
    enabled: bool,
    port: Option<u16>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConnectParams {
    app: Target,
    client: String,
    path: Option<PathBuf>,
    #[serde(default)]
    dry_run: bool,
}

#[derive(Deserialize)]
struct ToolsParams {
    client: String,
}

#[derive(Deserialize)]
struct CallParams {
    client: String,
    tool: String,
    args: Option<JsonObject>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ApproveParams {
    name: String,
    tool: String,
}

async fn status(gateway: &Gateway) -> Result<Value, harbor_protocol::ErrorObject> {
    let port = gateway.http_port().await;
    let mut clients = to_value(gateway.clients()?)?;
    for client in clients.as_array_mut().into_iter().flatten() {
        let name = client["name"].as_str().unwrap_or_default().to_owned();
        client["changedTools"] = Value::Array(gateway.changed_tools(&name)?);
    }
    Ok(json!({
        "settings": gateway.settings(),
        "http": {
            "listening": port.is_some(),
            "port": port,
            "url": port.map(|port| format!("http://127.0.0.1:{port}/mcp")),
        },
        "clients": clients,
    }))
}

/// Registers `gateway.*`.
pub fn routes(router: Router, gateway: Arc<Gateway>) -> Router {
    router
        .route("gateway.status", Access::Extension, with(&gateway, |g, _call| async move { status(&g).await }))
        .route(
            "gateway.http.set",
            Access::Extension,
            with(&gateway, |g, call| async move {
                let p: HttpParams = params("gateway.http.set", call.params)?;
                let port = p.port.unwrap_or(g.settings().port);
                if p.enabled {
                    let bound = g.start_http(port).await?;
                    // Port 0 means "any": remember the one chosen so apps keep their URL.
                    g.save_settings(GatewaySettings { http: true, port: bound })?;
                } else {
                    g.stop_http().await;
                    g.save_settings(GatewaySettings { http: false, port })?;
                }
                status(&g).await
            }),
        )
        .route(
            "gateway.clients.add",
            Access::Extension,
            with(&gateway, |g, call| async move {
                let p: ClientParams = params("gateway.clients.add", call.params)?;
                let (client, key) = g.add_client(&p.name, p.changes)?;
                Ok(json!({ "client": to_value(client)?, "key": key }))
            }),
        )
        .route(
            "gateway.clients.update",
            Access::Extension,
            with(&gateway, |g, call| async move {
                let p: ClientParams = params("gateway.clients.update", call.params)?;
                Ok(json!({ "client": to_value(g.update_client(&p.name, p.changes)?)? }))
            }),
        )
        .route(
            "gateway.clients.rotateKey",
            Access::Extension,
            with(&gateway, |g, call| async move {
                let p: NameParams = params("gateway.clients.rotateKey", call.params)?;
                let (client, key) = g.rotate_key(&p.name)?;
                Ok(json!({ "client": to_value(client)?, "key": key }))
            }),
        )
        .route(
            "gateway.clients.approveTool",
            Access::Extension,
            with(&gateway, |g, call| async move {
                let p: ApproveParams = params("gateway.clients.approveTool", call.params)?;
                g.approve_tool(&p.name, &p.tool)?;
                status(&g).await
            }),
        )
        .route(
            "gateway.clients.remove",
            Access::Extension,
            with(&gateway, |g, call| async move {
                let p: NameParams = params("gateway.clients.remove", call.params)?;
                g.remove_client(&p.name)?;
                Ok(json!({ "removed": p.name }))
            }),
        )
        .route(
            "gateway.connect",
            Access::Extension,
            with(&gateway, |g, call| async move {
                let p: ConnectParams = params("gateway.connect", call.params)?;
                g.clients()?
                    .iter()
                    .find(|c| c.record.name == p.client)
                    .ok_or_else(|| invalid(format!("there is no gateway client {:?}; add it first", p.client)))?;
                let program =
                    std::env::current_exe().map_err(|e| invalid(format!("cannot tell where harbor-bridge is: {e}")))?;
                // A bridge on a data folder of its own (HARBOR_HOME) tells the app's entry where.
                let moved = std::env::var_os(crate::paths::HOME_VAR).is_some_and(|v| !v.is_empty());
                let data_dir = moved.then_some(g.data_dir.as_path());
                let done =
                    connect::connect(p.app, p.path, &p.client, &program, data_dir, p.dry_run).map_err(invalid)?;
                to_value(done)
            }),
        )
        .route(
            "gateway.tools",
            Access::Extension,
            with(&gateway, |g, call| async move {
                let p: ToolsParams = params("gateway.tools", call.params)?;
                Ok(json!({ "tools": to_value(g.tools(&p.client).await?)? }))
            }),
        )
        .route(
            "gateway.call",
            Access::Extension,
            with(&gateway, |g, call| async move {
                let p: CallParams = params("gateway.call", call.params)?;
                g.call(&p.client, &p.tool, p.args, false, call.cancel.clone()).await
            }),
        )
}
