//! Conversions between the bridge's internal records and the contract's wire types
//! (`harbor_protocol::api`). Only `methods` calls these: below it, nothing speaks the wire.

use harbor_protocol::api::servers as api;

use crate::mcp::registry::ServerEntry;
use crate::store::servers::{Launch, ServerSpec};

pub fn entry(entry: ServerEntry) -> api::ServerEntry {
    api::ServerEntry { spec: spec(entry.spec), status: entry.status, tool_count: entry.tool_count }
}

pub fn entries(entries: Vec<ServerEntry>) -> Vec<api::ServerEntry> {
    entries.into_iter().map(entry).collect()
}

pub fn spec(spec: ServerSpec) -> api::ServerSpec {
    api::ServerSpec {
        id: spec.id,
        name: spec.name,
        source: spec.source,
        launch: launch(spec.launch),
        secret_env: spec.secret_env,
        auto_start: spec.auto_start,
        version: spec.version,
        install_path: spec.install_path,
        tool_timeout_ms: spec.tool_timeout_ms,
        sandbox: spec.sandbox,
        account: spec.account,
    }
}

pub fn launch(launch: Launch) -> api::Launch {
    match launch {
        Launch::Process { command, args, env, cwd } => api::Launch::Process { command, args, env, cwd },
        Launch::Docker { image, args, env, network, mounts, limits, user, entrypoint, wraps } => api::Launch::Docker {
            image,
            args,
            env,
            network,
            mounts,
            limits,
            user,
            entrypoint,
            wraps: wraps.map(|w| Box::new(self::launch(*w))),
        },
        Launch::Remote { url, headers } => api::Launch::Remote { url, headers },
    }
}

pub fn stored_launch(launch: api::Launch) -> Launch {
    match launch {
        api::Launch::Process { command, args, env, cwd } => Launch::Process { command, args, env, cwd },
        api::Launch::Docker { image, args, env, network, mounts, limits, user, entrypoint, wraps } => Launch::Docker {
            image,
            args,
            env,
            network,
            mounts,
            limits,
            user,
            entrypoint,
            wraps: wraps.map(|w| Box::new(stored_launch(*w))),
        },
        api::Launch::Remote { url, headers } => Launch::Remote { url, headers },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_launch_survives_the_wire_and_back() {
        let native =
            Launch::Process { command: "node".into(), args: vec!["x.js".into()], env: Default::default(), cwd: None };
        let wrapped = native.clone().in_container("node:22-slim", false, Some("/srv/x")).unwrap();
        for launch in
            [native, wrapped, Launch::Remote { url: "https://x.example/mcp".into(), headers: Default::default() }]
        {
            assert_eq!(stored_launch(super::launch(launch.clone())), launch);
            // The stored JSON and the wire JSON are the same today; the types may part later.
            assert_eq!(serde_json::to_value(&launch).unwrap(), serde_json::to_value(super::launch(launch)).unwrap());
        }
    }
}
