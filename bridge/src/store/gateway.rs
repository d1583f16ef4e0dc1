//! The `gateway_clients` table: the AI apps that reach Harbor's servers through the gateway —
//! each one's allowlist, rate and concurrency limits, and the SHA-256 of its key (never the key).

use anyhow::Result;
use rusqlite::{OptionalExtension, Row};
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

    pub fn gateway_client(&self, name: &str) -> Result<Option<ClientRecord>> {
        let sql = format!("SELECT {COLUMNS} FROM gateway_clients WHERE name = ?1");
        Ok(self.conn().query_row(&sql, [name], record).optional()?)
    }

    pub fn gateway_client_by_key(&self, key_sha256: &str) -> Result<Option<ClientRecord>> {
        let sql = format!("SELECT {COLUMNS} FROM gateway_clients WHERE key_sha256 = ?1");
        Ok(self.conn().query_row(&sql, [key_sha256], record).optional()?)
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
        Ok(())
    }

    pub fn remove_gateway_client(&self, name: &str) -> Result<bool> {
        Ok(self.conn().execute("DELETE FROM gateway_clients WHERE name = ?1", [name])? == 1)
    }

    pub fn touch_gateway_client(&self, name: &str) -> Result<()> {
        self.conn()
            .execute("UPDATE gateway_clients SET last_used_at = ?2 WHERE name = ?1", rusqlite::params![name, now()])?;
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
        assert!(store.gateway_clients().unwrap()[0].last_used_at.is_some());
        assert!(store.remove_gateway_client("cursor").unwrap());
        assert!(store.gateway_clients().unwrap().is_empty());
    }
}
