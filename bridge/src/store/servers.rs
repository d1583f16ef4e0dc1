//! The `servers` table: every MCP server the user added, as a [`ServerSpec`].

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use rusqlite::types::Value as SqlValue;
use rusqlite::{OptionalExtension, Row};
use serde::{Deserialize, Serialize};

use super::{now, Store};
pub use crate::runtimes::docker::{Limits, Mount};
pub use harbor_protocol::api::servers::{Account, Sandbox, Source};

/// How a server runs, as stored (the wire's `api::servers::Launch` is converted from and to
/// it in `methods`, so the stored form can change without the contract, and back).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Launch {
    /// A local program speaking MCP over stdio.
    Process {
        command: String,
        #[serde(default)]
        args: Vec<String>,
        /// Non-secret environment variables.
        #[serde(default)]
        env: BTreeMap<String, String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cwd: Option<String>,
    },
    /// An image run in a hardened container, speaking MCP over its stdio.
    Docker {
        image: String,
        /// The command after the image's entrypoint.
        #[serde(default)]
        args: Vec<String>,
        /// Non-secret environment variables.
        #[serde(default)]
        env: BTreeMap<String, String>,
        /// Network access (none by default).
        #[serde(default)]
        network: bool,
        /// Host folders, read-only unless `write`.
        #[serde(default)]
        mounts: Vec<Mount>,
        #[serde(default)]
        limits: Limits,
        /// The user inside (default nobody, `65534:65534`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        user: Option<String>,
        /// Replaces the image's entrypoint (a native server moved into a base image).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        entrypoint: Option<Vec<String>>,
        /// The native launch this container runs, when the server was moved into Docker; moving
        /// it back restores it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        wraps: Option<Box<Launch>>,
    },
    /// A remote server over Streamable HTTP.
    Remote {
        url: String,
        /// Non-secret headers.
        #[serde(default)]
        headers: BTreeMap<String, String>,
    },
}

impl Launch {
    /// A server packaged as an image (an MCP Registry OCI package, a git project built into
    /// one), run with Harbor's hardened defaults: no network, no mounts, default limits.
    pub fn image(image: String, args: Vec<String>, env: BTreeMap<String, String>) -> Launch {
        Launch::Docker {
            image,
            args,
            env,
            network: false,
            mounts: Vec::new(),
            limits: Default::default(),
            user: None,
            entrypoint: None,
            wraps: None,
        }
    }

    /// A native server moved into a container of `image` (a base image with what the program
    /// needs, such as `node:22-slim` for an npm server): the program and its arguments as they
    /// were, its folder (and the program's own) mounted read-only at the same paths.
    pub fn in_container(self, image: &str, network: bool, install_path: Option<&str>) -> Result<Launch, String> {
        let Launch::Process { command, args, env, cwd } = &self else {
            return Err("only a server that runs a local program can move into Docker".into());
        };
        if cwd.is_some() {
            return Err("a server with its own working folder cannot move into Docker yet".into());
        }
        let mut folders: Vec<String> = install_path.map(str::to_owned).into_iter().collect();
        if let Some(parent) = std::path::Path::new(command).parent().filter(|p| p.is_absolute()) {
            let parent = parent.to_string_lossy().into_owned();
            if !folders.iter().any(|f| parent.starts_with(f.as_str())) {
                folders.push(parent);
            }
        }
        let mounts = folders.into_iter().map(|f| Mount { host: f.clone(), container: f, write: false }).collect();
        Ok(Launch::Docker {
            image: image.to_owned(),
            args: args.clone(),
            env: env.clone(),
            network,
            mounts,
            limits: Limits::default(),
            user: None,
            entrypoint: Some(vec![command.clone()]),
            wraps: Some(Box::new(self)),
        })
    }

    /// A server moved into Docker, back to the native launch it had.
    pub fn native(self) -> Result<Launch, String> {
        match self {
            Launch::Docker { wraps: Some(native), .. } => Ok(*native),
            Launch::Process { .. } => Ok(self),
            _ => Err("this server was not moved into Docker, so it has no native launch to go back to".into()),
        }
    }
}

/// One registered server, as stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerSpec {
    pub id: String,
    pub name: String,
    pub source: Source,
    pub launch: Launch,
    /// Environment variables (for a remote server: headers) filled from the secret store when
    /// the server starts: variable name → secret id.
    #[serde(default)]
    pub secret_env: BTreeMap<String, String>,
    #[serde(default)]
    pub auto_start: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub install_path: Option<String>,
    /// Overrides the default tool-call timeout for this server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_timeout_ms: Option<u64>,
    /// The OS sandbox a natively launched server runs in (see `runtimes::sandbox`); none: it
    /// runs as the user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<Sandbox>,
    /// The provider account whose access token a local server gets (see `oauth::account`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<Account>,
}

impl Store {
    /// Adds a server; fails if the id is taken.
    pub fn insert_server(&self, spec: &ServerSpec) -> Result<()> {
        self.conn()
            .execute(
                "INSERT INTO servers (id, name, source, launch, secret_env, auto_start, version, install_path, tool_timeout_ms,
                                      created_at, updated_at, sandbox, account)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10, ?11, ?12)",
                row(spec)?,
            )
            .with_context(|| format!("cannot add server {:?}", spec.id))?;
        Ok(())
    }

    /// Replaces a server's record; returns false when there is no such server.
    pub fn update_server(&self, spec: &ServerSpec) -> Result<bool> {
        let changed = self.conn().execute(
            "UPDATE servers SET name = ?2, source = ?3, launch = ?4, secret_env = ?5, auto_start = ?6, version = ?7,
                    install_path = ?8, tool_timeout_ms = ?9, updated_at = ?10, sandbox = ?11, account = ?12 WHERE id = ?1",
            row(spec)?,
        )?;
        Ok(changed == 1)
    }

    /// Deletes a server's record and every grant of its tools — sites' allowlists and pins, and
    /// gateway clients' allowlist entries — in one transaction, so a different program added
    /// later under the same id starts with no grants.
    pub fn delete_server(&self, id: &str) -> Result<bool> {
        let mut conn = self.conn();
        // Immediate: it takes the write lock at once, so it waits for the audit writer instead of
        // failing when a read it began with would have to be upgraded.
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let deleted = tx.execute("DELETE FROM servers WHERE id = ?1", [id])? == 1;
        let prefix = format!("{id}/");
        for table in ["allowed_tools", "tool_pins"] {
            tx.execute(&format!("DELETE FROM {table} WHERE substr(tool, 1, length(?1)) = ?1"), [&prefix])?;
        }
        tx.execute(
            "UPDATE gateway_clients SET allow = (
                 SELECT coalesce(json_group_array(value), '[]') FROM json_each(gateway_clients.allow)
                 WHERE value != ?1 AND substr(value, 1, length(?2)) != ?2)",
            [id, prefix.as_str()],
        )?;
        tx.commit()?;
        // Every site's allowlist and pins of that server went with it, and the gateway clients'.
        self.cache.forget_allowed(None);
        self.cache.forget_pins(None);
        self.cache.forget_clients();
        Ok(deleted)
    }

    pub fn server(&self, id: &str) -> Result<Option<ServerSpec>> {
        self.conn()
            .query_row(&format!("SELECT {COLUMNS} FROM servers WHERE id = ?1"), [id], read_spec)
            .optional()?
            .transpose()
    }

    pub fn servers(&self) -> Result<Vec<ServerSpec>> {
        let conn = self.conn();
        let mut statement = conn.prepare(&format!("SELECT {COLUMNS} FROM servers ORDER BY id"))?;
        let rows = statement.query_map([], read_spec)?;
        rows.map(|row| row?).collect()
    }
}

/// A spec as the statement parameters `?1`–`?12` (`?10` is the time of the change).
fn row(spec: &ServerSpec) -> Result<rusqlite::ParamsFromIter<Vec<SqlValue>>> {
    let text = |value: &str| SqlValue::Text(value.to_owned());
    let optional = |value: &Option<String>| value.as_deref().map_or(SqlValue::Null, text);
    Ok(rusqlite::params_from_iter(vec![
        text(&spec.id),
        text(&spec.name),
        SqlValue::Text(serde_json::to_string(&spec.source)?),
        SqlValue::Text(serde_json::to_string(&spec.launch)?),
        SqlValue::Text(serde_json::to_string(&spec.secret_env)?),
        SqlValue::Integer(i64::from(spec.auto_start)),
        optional(&spec.version),
        optional(&spec.install_path),
        spec.tool_timeout_ms.map_or(SqlValue::Null, |ms| SqlValue::Integer(ms as i64)),
        SqlValue::Integer(now()),
        spec.sandbox.as_ref().map_or(Ok(SqlValue::Null), |s| serde_json::to_string(s).map(SqlValue::Text))?,
        spec.account.as_ref().map_or(Ok(SqlValue::Null), |a| serde_json::to_string(a).map(SqlValue::Text))?,
    ]))
}

const COLUMNS: &str =
    "id, name, source, launch, secret_env, auto_start, version, install_path, tool_timeout_ms, sandbox, account";

fn read_spec(row: &Row<'_>) -> rusqlite::Result<Result<ServerSpec>> {
    let id: String = row.get(0)?;
    let source: String = row.get(2)?;
    let launch: String = row.get(3)?;
    let secret_env: String = row.get(4)?;
    let sandbox: Option<String> = row.get(9)?;
    let account: Option<String> = row.get(10)?;
    let parse = || -> Result<ServerSpec> {
        Ok(ServerSpec {
            name: row.get(1)?,
            source: serde_json::from_str(&source).context("source")?,
            launch: serde_json::from_str(&launch).context("launch")?,
            secret_env: serde_json::from_str(&secret_env).context("secret_env")?,
            auto_start: row.get(5)?,
            version: row.get(6)?,
            install_path: row.get(7)?,
            tool_timeout_ms: row.get::<_, Option<i64>>(8)?.map(|ms| ms as u64),
            sandbox: sandbox.as_deref().map(serde_json::from_str).transpose().context("sandbox")?,
            account: account.as_deref().map(serde_json::from_str).transpose().context("account")?,
            id: id.clone(),
        })
    };
    Ok(parse().with_context(|| format!("the stored record of server {id:?} is damaged")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(id: &str) -> ServerSpec {
        ServerSpec {
            id: id.into(),
            name: "Time".into(),
            source: Source::Pypi { package: "mcp-server-time".into() },
            launch: Launch::Process {
                command: "python3".into(),
                args: vec!["-m".into(), "mcp_server_time".into()],
                env: BTreeMap::from([("TZ".into(), "UTC".into())]),
                cwd: None,
            },
            secret_env: BTreeMap::from([("API_KEY".into(), "time/API_KEY".into())]),
            auto_start: true,
            version: Some("1.0.0".into()),
            install_path: None,
            tool_timeout_ms: Some(5000),
            sandbox: Some(Sandbox { enabled: true, network: false, folders: vec!["/srv/notes".into()] }),
            account: Some(Account {
                issuer: Some("https://id.example.test".into()),
                client_id: "harbor".into(),
                scope: Some("repo".into()),
                env: "TIME_TOKEN".into(),
                ..Account::default()
            }),
        }
    }

    #[test]
    fn servers_round_trip_and_ids_are_unique() {
        let store = Store::in_memory().unwrap();
        store.insert_server(&spec("time")).unwrap();
        assert!(store.insert_server(&spec("time")).is_err(), "a second server with the same id is refused");
        assert_eq!(store.server("time").unwrap(), Some(spec("time")));
        let mut changed = spec("time");
        changed.auto_start = false;
        assert!(store.update_server(&changed).unwrap());
        assert_eq!(store.servers().unwrap(), vec![changed]);
        assert!(store.delete_server("time").unwrap());
        assert_eq!(store.server("time").unwrap(), None);
        assert!(!store.update_server(&spec("ghost")).unwrap());
    }

    #[test]
    fn a_file_database_keeps_servers_across_opens() {
        let dir = std::env::temp_dir().join(format!("harbor-store-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("harbor.db");
        Store::open(&path).unwrap().insert_server(&spec("kept")).unwrap();
        assert_eq!(Store::open(&path).unwrap().servers().unwrap().len(), 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn secrets_stored_as_a_list_of_names_become_ids_named_after_the_server() {
        let store = Store::in_memory().unwrap();
        let mut legacy = spec("time");
        legacy.secret_env.clear();
        store.insert_server(&legacy).unwrap();
        store.conn().execute("UPDATE servers SET secret_env = '[\"API_KEY\"]'", []).unwrap();
        store
            .conn()
            .execute_batch(
                "DROP TABLE secrets; DROP TABLE sign_ins; DROP TABLE gateway_clients; DROP TABLE tool_pins;
                 ALTER TABLE servers DROP COLUMN sandbox; ALTER TABLE servers DROP COLUMN account;
                 ALTER TABLE audit DROP COLUMN caller; PRAGMA user_version = 3;",
            )
            .unwrap();
        super::super::migrations::apply(&mut store.conn()).unwrap();
        let upgraded = store.server("time").unwrap().unwrap();
        assert_eq!(upgraded.secret_env, BTreeMap::from([("API_KEY".to_owned(), "time/API_KEY".to_owned())]));
    }
}
