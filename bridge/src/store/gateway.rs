//! The `gateway_clients` table: the AI apps that reach Harbor's servers through the gateway —
//! each one's allowlist, rate and concurrency limits, and the SHA-256 of its key (never the key).

use anyhow::Result;
use rusqlite::Row;
use serde::Serialize;

use super::{now, Store};

/// One gateway client as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientRecord {
    pub name: String,
    #[serde(skip)]
    pub key_sha256: String,
    /// The key's first characters, so the user can tell which key an app holds.
    pub key_hint: String,
    /// Server ids (every tool of that server) and `serverId/toolName` entries. Empty: nothing.
    pub allow: Vec<String>,
    pub rate_per_min: u32,
    pub concurrency: u32,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    /// Tools and prompts under their servers' own names where no two of its servers share one.
    pub plain_names: bool,
    /// Code mode: Harbor's search, describe and run-code tools instead of every tool.
    pub code_mode: bool,
}

/// How often (seconds) a client's `last_used_at` is written while it is in use.
const TOUCH_EVERY: i64 = 60;

const COLUMNS: &str =
    "name, key_sha256, key_hint, allow, rate_per_min, concurrency, created_at, last_used_at, plain_names, code_mode";

fn record(row: &Row) -> rusqlite::Result<ClientRecord> {
    let allow: String = row.get(3)?;
    Ok(ClientRecord {
        name: row.get(0)?,
        key_sha256: row.get(1)?,
        key_hint: row.get(2)?,
        allow: serde_json::from_str(&allow).unwrap_or_default(),
        rate_per_min: row.get(4)?,
        concurrency: row.get(5)?,
        created_at: row.get(6)?,
        last_used_at: row.get(7)?,
        plain_names: row.get(8)?,
        code_mode: row.get(9)?,
    })
}

impl Store {
    pub fn gateway_clients(&self) -> Result<Vec<ClientRecord>> {
        let conn = self.conn();
        let mut statement = conn.prepare(&format!("SELECT {COLUMNS} FROM gateway_clients ORDER BY name"))?;
        let rows = statement.query_map([], record)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The client named `name`, from memory (read from the table once, after each change).
    pub fn gateway_client(&self, name: &str) -> Result<Option<ClientRecord>> {
        Ok(self.cache.clients(|| self.gateway_clients())?.get(name).cloned())
    }

    /// The client whose key has this SHA-256, from memory. The hashes are compared whole, in
    /// constant time: how long a wrong key takes says nothing about the right one's hash.
    pub fn gateway_client_by_key(&self, key_sha256: &str) -> Result<Option<ClientRecord>> {
        let clients = self.cache.clients(|| self.gateway_clients())?;
        let same = |stored: &str| {
            stored.len() == key_sha256.len()
                && stored.bytes().zip(key_sha256.bytes()).fold(0u8, |diff, (a, b)| diff | (a ^ b)) == 0
        };
        Ok(clients.values().find(|c| same(&c.key_sha256)).cloned())
    }

    /// Adds a client, or replaces one of that name (its key included).
    pub fn put_gateway_client(&self, client: &ClientRecord) -> Result<()> {
        self.conn().execute(
            &format!(
                "INSERT INTO gateway_clients ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
                 ON CONFLICT(name) DO UPDATE SET key_sha256 = ?2, key_hint = ?3, allow = ?4, rate_per_min = ?5,
                 concurrency = ?6, plain_names = ?9, code_mode = ?10"
            ),
            rusqlite::params![
                client.name,
                client.key_sha256,
                client.key_hint,
                serde_json::to_string(&client.allow)?,
                client.rate_per_min,
                client.concurrency,
                client.created_at,
                client.last_used_at,
                client.plain_names,
                client.code_mode,
            ],
        )?;
        self.cache.forget_clients();
        Ok(())
    }

    pub fn remove_gateway_client(&self, name: &str) -> Result<bool> {
        let removed = self.conn().execute("DELETE FROM gateway_clients WHERE name = ?1", [name])? == 1;
        self.cache.forget_clients();
        Ok(removed)
    }

    /// Notes that `name` was just used. Its `last_used_at` is written at most once a minute (the
    /// Gateway panel shows it to the minute), not on every call.
    pub fn touch_gateway_client(&self, name: &str) -> Result<()> {
        let at = now();
        let known = self.cache.clients(|| self.gateway_clients())?;
        if known.get(name).and_then(|c| c.last_used_at).is_some_and(|last| at - last < TOUCH_EVERY) {
            return Ok(());
        }
        self.conn()
            .execute("UPDATE gateway_clients SET last_used_at = ?2 WHERE name = ?1", rusqlite::params![name, at])?;
        self.cache.forget_clients();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_is_found_by_its_key_hash_and_replaced_whole() {
        let store = Store::in_memory().unwrap();
        let mut client = ClientRecord {
            name: "cursor".into(),
            key_sha256: "aa".into(),
            key_hint: "hbk_12".into(),
            allow: vec!["time".into(), "everything/echo".into()],
            rate_per_min: 60,
            concurrency: 4,
            plain_names: true,
            code_mode: true,
            created_at: 1,
            last_used_at: None,
        };
        store.put_gateway_client(&client).unwrap();
        assert_eq!(store.gateway_client_by_key("aa").unwrap().unwrap(), client);
        client.key_sha256 = "bb".into();
        client.allow.clear();
        store.put_gateway_client(&client).unwrap();
        assert_eq!(store.gateway_client_by_key("aa").unwrap(), None, "the old key no longer works");
        assert_eq!(store.gateway_client("cursor").unwrap().unwrap().allow, Vec::<String>::new());
        store.touch_gateway_client("cursor").unwrap();
        let used = store.gateway_clients().unwrap()[0].last_used_at.unwrap();
        // Within the minute, using it again writes nothing.
        store.conn().execute("UPDATE gateway_clients SET last_used_at = ?1", [used - 5]).unwrap();
        store.cache.forget_clients();
        store.touch_gateway_client("cursor").unwrap();
        assert_eq!(store.gateway_clients().unwrap()[0].last_used_at, Some(used - 5));
        assert!(store.remove_gateway_client("cursor").unwrap());
        assert!(store.gateway_clients().unwrap().is_empty());
        assert_eq!(store.gateway_client("cursor").unwrap(), None, "the kept list forgets a removed client");
    }

    #[test]
    fn removing_a_server_takes_it_out_of_the_kept_clients_allowlists() {
        let store = Store::in_memory().unwrap();
        let client = ClientRecord {
            name: "app".into(),
            key_sha256: "cc".into(),
            key_hint: "hbk_34".into(),
            allow: vec!["time".into(), "everything/echo".into()],
            rate_per_min: 60,
            concurrency: 4,
            plain_names: false,
            code_mode: false,
            created_at: 1,
            last_used_at: None,
        };
        store.put_gateway_client(&client).unwrap();
        assert_eq!(store.gateway_client("app").unwrap().unwrap().allow.len(), 2, "read once, kept");
        store.delete_server("time").unwrap();
        assert_eq!(store.gateway_client("app").unwrap().unwrap().allow, ["everything/echo"]);
    }
}
