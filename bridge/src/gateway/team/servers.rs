//! The config file's `servers`, kept in the registry as the file says.
//!
//! Each one is a server like any other (same supervisor, same policy, same store) whose source
//! says it came from the config file, so the file owns it: applying a file adds what is new,
//! updates and restarts what changed, starts what is not running, and removes the servers an
//! earlier file added that this one no longer names. Servers added any other way are left alone,
//! and a config server whose id one of them already has is refused, not taken over. One server
//! that cannot be added or started does not hold up the others: each outcome is reported.

use std::path::Path;

use crate::mcp::registry::Servers;
use crate::mcp::server::ServerState;
use crate::store::servers::{ServerSpec, Source};

use super::config::TeamConfig;

/// How a config server's source names the file (`Source::Imported`'s client).
pub const CONFIG_CLIENT: &str = "harbor-gateway-config";

/// What applying the file did to one server.
#[derive(Debug, PartialEq, Eq)]
pub enum Applied {
    Added,
    Updated,
    Kept,
    Removed,
    /// It could not be added, updated or started: why.
    Failed(String),
}

fn owned(spec: &ServerSpec) -> bool {
    matches!(&spec.source, Source::Imported { client, .. } if client == CONFIG_CLIENT)
}

/// Brings the registry in line with `config`'s servers; returns what happened to each.
pub async fn apply(servers: &Servers, config: &TeamConfig, file: &Path) -> Vec<(String, Applied)> {
    let source = Source::Imported { client: CONFIG_CLIENT.to_owned(), file: file.display().to_string() };
    let mut outcomes = Vec::new();
    let mut to_start = Vec::new();
    for (id, wanted) in &config.servers {
        let spec = ServerSpec {
            id: id.clone(),
            name: wanted.name.as_ref().map_or_else(|| id.clone(), |n| n.0.clone()),
            source: source.clone(),
            launch: wanted.launch.clone(),
            secret_env: Default::default(),
            auto_start: true,
            version: None,
            install_path: None,
            tool_timeout_ms: wanted.tool_timeout_ms,
            sandbox: None,
            account: None,
        };
        let outcome = match servers.entry(id) {
            Err(_) => servers.add(spec).map(|_| Applied::Added),
            Ok(existing) if !owned(&existing.spec) => {
                outcomes.push((
                    id.clone(),
                    Applied::Failed(format!(
                        "a server {id:?} that the config did not add exists already; remove it or rename this one"
                    )),
                ));
                continue;
            }
            Ok(existing) => {
                let same = existing.spec.launch == spec.launch
                    && existing.spec.name == spec.name
                    && existing.spec.tool_timeout_ms == spec.tool_timeout_ms;
                match same {
                    true => Ok(Applied::Kept),
                    false => servers.update(spec).map(|_| Applied::Updated),
                }
            }
        };
        match outcome {
            Ok(applied) => to_start.push((id.clone(), applied)),
            Err(error) => outcomes.push((id.clone(), Applied::Failed(error.to_string()))),
        }
    }
    // Started side by side: one slow server does not hold up the others.
    let started = futures::future::join_all(to_start.into_iter().map(|(id, applied)| async move {
        let running = servers.entry(&id).is_ok_and(|e| e.status.state == ServerState::Running);
        let outcome = match (applied, running) {
            (Applied::Kept, true) => Ok(Applied::Kept),
            (Applied::Updated, true) => servers.restart(&id).await.map(|_| Applied::Updated),
            (applied, _) => servers.start(&id).await.map(|_| applied),
        };
        (id, outcome.unwrap_or_else(|error| Applied::Failed(error.to_string())))
    }))
    .await;
    outcomes.extend(started);
    for gone in servers.list().into_iter().filter(|e| owned(&e.spec) && !config.servers.contains_key(&e.spec.id)) {
        let outcome = match servers.remove(&gone.spec.id).await {
            Ok(()) => Applied::Removed,
            Err(error) => Applied::Failed(error.to_string()),
        };
        outcomes.push((gone.spec.id, outcome));
    }
    for (id, outcome) in &outcomes {
        match outcome {
            Applied::Failed(why) => tracing::warn!(server = id.as_str(), "the config's server did not come up: {why}"),
            applied => tracing::info!(server = id.as_str(), "the config's server: {applied:?}"),
        }
    }
    outcomes
}
