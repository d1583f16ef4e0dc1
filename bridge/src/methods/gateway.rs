//! The gateway's methods, for the sidebar and the command line (`Access::Extension`):
//! `gateway.status`, `gateway.http.set`, `gateway.clients.add|update|rotateKey|remove`,
//! `gateway.connect`, and `gateway.tools` / `gateway.call`, through which `harbor-bridge mcp`
//! serves an app from another process. A client's key is in the answer of `add` and `rotateKey`
//! only: Harbor keeps its SHA-256, never the key.

use std::path::PathBuf;
use std::sync::Arc;

use harbor_protocol::api::gateway as api;
use harbor_protocol::ErrorObject;
use tokio::sync::mpsc;

use super::Area;
use crate::gateway::{connect, Backend, ClientChanges, ClientView, Gateway, GatewaySettings, Reach};
use crate::mcp::client::{relaying, Progress, PROGRESS_QUEUE};
use crate::rpc::Router;

fn changes(p: api::ClientParams) -> (String, ClientChanges) {
    let changes = ClientChanges {
        allow: p.allow,
        rate_per_min: p.rate_per_min,
        concurrency: p.concurrency,
        plain_names: p.plain_names,
        code_mode: p.code_mode,
    };
    (p.name, changes)
}

fn client(gateway: &Gateway, view: ClientView) -> Result<api::Client, ErrorObject> {
    let record = view.record;
    Ok(api::Client {
        changed_tools: gateway.changed_tools(&record.name)?,
        name: record.name,
        key_hint: record.key_hint,
        allow: record.allow,
        rate_per_min: record.rate_per_min,
        concurrency: record.concurrency,
        created_at: record.created_at,
        last_used_at: record.last_used_at,
        plain_names: record.plain_names,
        code_mode: record.code_mode,
        traffic: view.traffic,
    })
}

/// A client that was just added or changed (its traffic as it is now).
fn client_named(gateway: &Gateway, name: &str) -> Result<api::Client, ErrorObject> {
    let view = gateway
        .clients()?
        .into_iter()
        .find(|c| c.record.name == name)
        .ok_or_else(|| ErrorObject::invalid(format!("there is no gateway client {name:?}")))?;
    client(gateway, view)
}

async fn status(gateway: &Gateway) -> Result<api::Status, ErrorObject> {
    let port = gateway.http_port().await;
    let clients = gateway.clients()?.into_iter().map(|view| client(gateway, view)).collect::<Result<_, _>>()?;
    Ok(api::Status {
        settings: gateway.settings(),
        http: api::Http {
            listening: port.is_some(),
            port,
            url: port.map(|port| format!("http://127.0.0.1:{port}/mcp")),
        },
        clients,
    })
}

/// Registers `gateway.*`.
pub fn routes(router: Router, gateway: Arc<Gateway>) -> Router {
    Area::new(router, gateway)
        .on::<api::GatewayStatus, _>(|g, _, _| async move { status(&g).await })
        .on::<api::GatewayHttpSet, _>(|g, p, _| async move {
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
        })
        .on::<api::GatewayClientsAdd, _>(|g, p, _| async move {
            let (name, changes) = changes(p);
            let (_, key) = g.add_client(&name, changes)?;
            g.share_client(&name).await?;
            Ok(api::NewKey { client: client_named(&g, &name)?, key })
        })
        .on::<api::GatewayClientsUpdate, _>(|g, p, _| async move {
            let (name, changes) = changes(p);
            g.update_client(&name, changes)?;
            g.share_client(&name).await?;
            Ok(api::ClientUpdated { client: client_named(&g, &name)? })
        })
        .on::<api::GatewayClientsRotateKey, _>(|g, p, _| async move {
            let (_, key) = g.rotate_key(&p.name)?;
            g.share_client(&p.name).await?;
            Ok(api::NewKey { client: client_named(&g, &p.name)?, key })
        })
        .on::<api::GatewayClientsApproveTool, _>(|g, p, _| async move {
            g.approve_tool(&p.name, &p.tool)?;
            status(&g).await
        })
        .on::<api::GatewayClientsRemove, _>(|g, p, _| async move {
            g.remove_client(&p.name)?;
            g.share_client(&p.name).await?;
            Ok(api::ClientRemoved { removed: p.name })
        })
        .on::<api::GatewayConnect, _>(|g, p, _| async move {
            g.clients()?.iter().find(|c| c.record.name == p.client).ok_or_else(|| {
                ErrorObject::invalid(format!("there is no gateway client {:?}; add it first", p.client))
            })?;
            let program = crate::paths::own_program().map_err(ErrorObject::invalid)?;
            // A bridge on a data folder of its own (HARBOR_HOME) tells the app's entry where.
            let moved = std::env::var_os(crate::paths::HOME_VAR).is_some_and(|v| !v.is_empty());
            let data_dir = moved.then_some(g.data_dir.as_path());
            let done = connect::connect(p.app, p.path.map(PathBuf::from), &p.client, &program, data_dir, p.dry_run)?;
            Ok(api::Connected {
                path: done.path.display().to_string(),
                entry: done.entry,
                replaces: done.replaces,
                backup: done.backup.map(|b| b.display().to_string()),
                written: done.written,
            })
        })
        .on::<api::GatewayTools, _>(|g, p, _| async move {
            Ok(api::ClientTools { tools: g.tools(&p.client).await?, servers: g.servers(&p.client).await? })
        })
        .on::<api::GatewayCall, _>(|g, p, call| async move {
            let (progress, reports) = mpsc::channel(PROGRESS_QUEUE);
            let asker = (!p.answers.is_empty()).then(|| g.servers.relay.asker(call.events.clone(), p.answers));
            let reach = Reach { progress: Some(progress), asker };
            let running = g.call(&p.client, &p.tool, p.args, false, call.cancel.clone(), reach);
            let events = &call.events;
            relaying(running, reports, |report: Progress| async move { events.emit(&report.event()).await }).await
        })
        .on::<api::GatewayAnswer, _>(|g, p, _| async move {
            g.servers.relay.answer(p)?;
            Ok(harbor_protocol::api::Empty {})
        })
        .on::<api::GatewayForward, _>(|g, p, call| async move { g.answer(&p.client, p.request, &call.cancel).await })
        .done()
}
