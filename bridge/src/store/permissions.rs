//! What sites may do, as stored: persisted grants (`ALLOW_ALWAYS`, `DENY`), each origin's tool
//! allowlist, its limits, its usage (for budgets) and the audit log. "Allow once" grants are not
//! here: they belong to one tab for a few minutes and live in the bridge's memory.
//!
//! The audit log records who called what, when, the outcome and how long it took — never
//! arguments or results.

use anyhow::Result;
use rusqlite::OptionalExtension;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::usage::{self, Usage};
use super::writer::Record;
use super::{now, Store};

pub use harbor_protocol::api::permissions::{AuditCaller, AuditEntry};

impl Store {
    /// The persisted decision for `(origin, scope)`, if any.
    pub fn grant(&self, origin: &str, scope: &str) -> Result<Option<String>> {
        Ok(self.grants(origin)?.iter().find(|(s, _)| s == scope).map(|(_, decision)| decision.clone()))
    }

    /// Every persisted decision of `origin`: `(scope, decision)`.
    pub fn grants(&self, origin: &str) -> Result<Vec<(String, String)>> {
        let cached = self.cache.grants(origin, || {
            let conn = self.conn();
            let mut statement = conn.prepare("SELECT scope, decision FROM grants WHERE origin = ?1 ORDER BY scope")?;
            let rows = statement.query_map([origin], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })?;
        Ok(cached.as_ref().clone())
    }

    pub fn set_grant(&self, origin: &str, scope: &str, decision: &str) -> Result<()> {
        self.conn().execute(
            "INSERT INTO grants (origin, scope, decision, updated_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(origin, scope) DO UPDATE SET decision = excluded.decision, updated_at = excluded.updated_at",
            rusqlite::params![origin, scope, decision, now()],
        )?;
        self.cache.forget_grants(origin);
        Ok(())
    }

    /// Forgets `origin`'s decision for `scope`, or all of them.
    pub fn clear_grants(&self, origin: &str, scope: Option<&str>) -> Result<usize> {
        let conn = self.conn();
        let cleared = match scope {
            Some(scope) => conn.execute("DELETE FROM grants WHERE origin = ?1 AND scope = ?2", [origin, scope])?,
            None => conn.execute("DELETE FROM grants WHERE origin = ?1", [origin])?,
        };
        self.cache.forget_grants(origin);
        Ok(cleared)
    }

    /// Every origin with a grant, allowed tools or limits.
    pub fn known_origins(&self) -> Result<Vec<String>> {
        let conn = self.conn();
        let mut statement = conn.prepare(
            "SELECT origin FROM grants UNION SELECT origin FROM allowed_tools UNION SELECT origin FROM origin_limits
             ORDER BY origin",
        )?;
        let rows = statement.query_map([], |r| r.get(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub fn allowed_tools(&self, origin: &str) -> Result<Vec<String>> {
        let cached = self.cache.allowed(origin, || {
            let conn = self.conn();
            let mut statement = conn.prepare("SELECT tool FROM allowed_tools WHERE origin = ?1 ORDER BY tool")?;
            let rows = statement.query_map([origin], |r| r.get(0))?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })?;
        Ok(cached.as_ref().clone())
    }

    /// Replaces `origin`'s tool allowlist (empty: no tools).
    pub fn set_allowed_tools(&self, origin: &str, tools: &[String]) -> Result<()> {
        let mut conn = self.conn();
        // Immediate: it takes the write lock at once, so it waits for the audit writer instead of
        // failing when a read it began with would have to be upgraded.
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        tx.execute("DELETE FROM allowed_tools WHERE origin = ?1", [origin])?;
        for tool in tools {
            tx.execute("INSERT OR IGNORE INTO allowed_tools (origin, tool) VALUES (?1, ?2)", [origin, tool])?;
        }
        tx.commit()?;
        self.cache.forget_allowed(Some(origin));
        Ok(())
    }

    /// `origin`'s tool pins: tool → (fingerprint, the approved definition as JSON text).
    pub fn tool_pins(&self, origin: &str) -> Result<std::sync::Arc<super::cache::Pins>> {
        self.cache.pins(origin, || {
            let conn = self.conn();
            let mut statement = conn.prepare("SELECT tool, sha256, definition FROM tool_pins WHERE origin = ?1")?;
            let rows = statement.query_map([origin], |r| Ok((r.get(0)?, (r.get(1)?, r.get(2)?))))?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    /// Pins `tool` for `origin` at `sha256` (of `definition`), replacing an earlier pin.
    pub fn set_tool_pin(&self, origin: &str, tool: &str, sha256: &str, definition: Option<&str>) -> Result<()> {
        self.conn().execute(
            "INSERT INTO tool_pins (origin, tool, sha256, definition, approved_at) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT(origin, tool) DO UPDATE SET sha256 = excluded.sha256, definition = excluded.definition,
                                                     approved_at = excluded.approved_at",
            rusqlite::params![origin, tool, sha256, definition, now()],
        )?;
        self.cache.forget_pins(Some(origin));
        Ok(())
    }

    /// Forgets `origin`'s pins of tools it may no longer use.
    pub fn keep_tool_pins(&self, origin: &str, tools: &[String]) -> Result<()> {
        let keep = serde_json::to_string(tools)?;
        self.conn().execute(
            "DELETE FROM tool_pins WHERE origin = ?1 AND tool NOT IN (SELECT value FROM json_each(?2))",
            [origin, keep.as_str()],
        )?;
        self.cache.forget_pins(Some(origin));
        Ok(())
    }

    pub fn origin_limits<T: DeserializeOwned>(&self, origin: &str) -> Result<Option<T>> {
        let text = self.cache.limits(origin, || {
            Ok(self
                .conn()
                .query_row("SELECT limits FROM origin_limits WHERE origin = ?1", [origin], |r| r.get(0))
                .optional()?)
        })?;
        Ok(text.map(|t| serde_json::from_str(&t)).transpose()?)
    }

    pub fn set_origin_limits<T: Serialize>(&self, origin: &str, limits: &T) -> Result<()> {
        let text = serde_json::to_string(limits)?;
        self.conn().execute(
            "INSERT INTO origin_limits (origin, limits) VALUES (?1, ?2)
             ON CONFLICT(origin) DO UPDATE SET limits = excluded.limits",
            [origin, text.as_str()],
        )?;
        self.cache.forget_limits(origin);
        Ok(())
    }

    /// Records `amount` of `kind` (`tool_call`, `tokens`) used by `origin` now: in memory at once,
    /// in the table through the writer.
    pub fn record_usage(&self, origin: &str, kind: &str, amount: i64) -> Result<()> {
        let usage = Usage { origin: origin.to_owned(), kind: kind.to_owned(), amount, at: now() };
        self.usage.add(&usage, || usage::load(&self.conn(), origin, kind, usage.at))?;
        self.write_later(Record::Usage(usage))
    }

    /// What `origin` used of `kind` in the last `seconds` (at most a day).
    pub fn usage_since(&self, origin: &str, kind: &str, seconds: i64) -> Result<i64> {
        debug_assert!(seconds <= usage::WINDOW, "budgets count over a day at most");
        let now = now();
        self.usage.used_since(origin, kind, now - seconds, now, || usage::load(&self.conn(), origin, kind, now))
    }

    /// Records a call's metadata through the writer (it never waits for the database).
    pub fn record_audit(&self, entry: &AuditEntry) -> Result<()> {
        if let Some(mirror) = self.audit_mirror.get() {
            mirror(entry);
        }
        self.write_later(Record::Audit(entry.clone()))
    }

    /// The newest audit records, of one origin or all.
    pub fn audit(&self, origin: Option<&str>, limit: usize) -> Result<Vec<AuditEntry>> {
        self.flush();
        let conn = self.conn();
        let mut statement = conn.prepare(
            "SELECT at, origin, tab_id, method, tool, outcome, duration_ms, caller FROM audit
             WHERE ?1 IS NULL OR origin = ?1 ORDER BY id DESC LIMIT ?2",
        )?;
        let rows = statement.query_map(rusqlite::params![origin, limit as i64], |r| {
            Ok(AuditEntry {
                at: r.get(0)?,
                origin: r.get(1)?,
                tab_id: r.get(2)?,
                method: r.get(3)?,
                tool: r.get(4)?,
                outcome: r.get(5)?,
                duration_ms: r.get(6)?,
                caller: AuditCaller::parse(&r.get::<_, String>(7)?).unwrap_or_default(),
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}

/// Writes one audit record on `conn`.
pub(super) fn insert_audit(conn: &rusqlite::Connection, entry: &AuditEntry) -> Result<()> {
    conn.execute(
        "INSERT INTO audit (at, origin, tab_id, method, tool, outcome, duration_ms, caller)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        rusqlite::params![
            entry.at,
            entry.origin,
            entry.tab_id,
            entry.method,
            entry.tool,
            entry.outcome,
            entry.duration_ms,
            entry.caller.as_str()
        ],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grants_tools_and_usage_are_kept_per_origin() {
        let store = Store::in_memory().unwrap();
        let site = "http://a.test:8000";
        store.set_grant(site, "mcp:tools.call", "ALLOW_ALWAYS").unwrap();
        store.set_grant(site, "mcp:tools.call", "DENY").unwrap();
        assert_eq!(store.grant(site, "mcp:tools.call").unwrap().as_deref(), Some("DENY"));
        assert_eq!(store.grant("http://b.test", "mcp:tools.call").unwrap(), None);
        store.set_allowed_tools(site, &["time/now".into(), "time/now".into()]).unwrap();
        assert_eq!(store.allowed_tools(site).unwrap(), vec!["time/now".to_owned()]);
        store.set_allowed_tools(site, &[]).unwrap();
        assert!(store.allowed_tools(site).unwrap().is_empty());
        store.record_usage(site, "tool_call", 1).unwrap();
        store.record_usage(site, "tool_call", 1).unwrap();
        assert_eq!(store.usage_since(site, "tool_call", 3600).unwrap(), 2);
        assert_eq!(store.usage_since(site, "tokens", 3600).unwrap(), 0);
        assert_eq!(store.known_origins().unwrap(), vec![site.to_owned()]);
        assert_eq!(store.clear_grants(site, None).unwrap(), 1);
    }

    /// Budgets are counted in memory but survive a restart: what a site used is in the table
    /// once the writer has written it, and a new store counts it (and the old uses age out).
    #[test]
    fn usage_counted_in_memory_is_written_and_read_back_after_a_restart() {
        let dir = std::env::temp_dir().join(format!("harbor-usage-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("harbor.db");
        let site = "https://spender.example";
        {
            let store = Store::open(&path).unwrap();
            assert_eq!(store.usage_since(site, "tool_call", 3600).unwrap(), 0);
            for _ in 0..5 {
                store.record_usage(site, "tool_call", 1).unwrap();
            }
            store.record_usage(site, "tool_call", -1).unwrap();
            store.record_usage(site, "tokens", 700).unwrap();
            assert_eq!(store.usage_since(site, "tool_call", 3600).unwrap(), 4);
            store.flush();
            // An hour-old use counts for the day but not for the hour.
            let old = Usage { origin: site.into(), kind: "tokens".into(), amount: 50, at: now() - 4000 };
            usage::insert(&store.conn(), &old).unwrap();
        }
        let store = Store::open(&path).unwrap();
        assert_eq!(store.usage_since(site, "tool_call", 3600).unwrap(), 4);
        assert_eq!(store.usage_since(site, "tokens", 86_400).unwrap(), 750);
        assert_eq!(store.usage_since(site, "tokens", 3600).unwrap(), 700);
        assert_eq!(store.usage_since("https://other.example", "tool_call", 3600).unwrap(), 0);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// The cache never outlives the write that changes what it holds: each read below follows a
    /// read that filled the cache, then a write.
    #[test]
    fn every_write_drops_what_the_cache_held() {
        let store = Store::in_memory().unwrap();
        let site = "https://cached.example";
        assert_eq!(store.grant(site, "model:prompt").unwrap(), None);
        store.set_grant(site, "model:prompt", "ALLOW_ALWAYS").unwrap();
        assert_eq!(store.grant(site, "model:prompt").unwrap().as_deref(), Some("ALLOW_ALWAYS"));
        store.clear_grants(site, Some("model:prompt")).unwrap();
        assert_eq!(store.grant(site, "model:prompt").unwrap(), None);

        store.set_allowed_tools(site, &["time/now".into()]).unwrap();
        assert_eq!(store.allowed_tools(site).unwrap(), ["time/now"]);
        store.set_tool_pin(site, "time/now", "abc", None).unwrap();
        assert!(store.tool_pins(site).unwrap().contains_key("time/now"));
        // Removing the server takes every site's allowlist and pins of it.
        store.delete_server("time").unwrap();
        assert!(store.allowed_tools(site).unwrap().is_empty());
        assert!(store.tool_pins(site).unwrap().is_empty());

        assert_eq!(store.origin_limits::<serde_json::Value>(site).unwrap(), None);
        store.set_origin_limits(site, &serde_json::json!({"toolTimeoutMs": 500})).unwrap();
        assert_eq!(store.origin_limits::<serde_json::Value>(site).unwrap().unwrap()["toolTimeoutMs"], 500);
        assert_eq!(store.setting::<u32>("answer").unwrap(), None);
        store.set_setting("answer", &42u32).unwrap();
        assert_eq!(store.setting::<u32>("answer").unwrap(), Some(42));
    }
}
