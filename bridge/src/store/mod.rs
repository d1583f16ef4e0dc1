//! The store: Harbor's SQLite database (`harbor.db` in the data folder), the only code that
//! touches it.
//!
//! [`Store::open`] opens the file in WAL mode and applies the [`migrations`] it has not seen yet
//! (tracked by `PRAGMA user_version`), each in its own transaction, so a crash mid-upgrade leaves
//! the previous version intact. Tables are reached through one submodule each ([`servers`],
//! [`settings`], [`chat`], [`permissions`]).
//! Secrets never enter the database: server records hold only the *names* of their secrets.
//!
//! What the policy layer reads on every page call is kept in memory ([`cache`]) and dropped by
//! the writes that change it, and the audit log is written by a thread of its own ([`audit`]), so
//! a page call touches SQLite only to spend a budget.

mod audit;
mod cache;
pub mod chat;
pub mod gateway;
mod migrations;
pub mod permissions;
pub mod secrets;
pub mod servers;
pub mod settings;

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use anyhow::{Context, Result};
use rusqlite::Connection;

/// A shared handle to the database. Statements are short, so one connection behind a mutex
/// serves the rest; the hot reads are cached and the audit log has a writer of its own.
#[derive(Clone)]
pub struct Store {
    conn: Arc<Mutex<Connection>>,
    cache: Arc<cache::Cache>,
    audit: audit::AuditWriter,
}

impl Store {
    pub fn open(path: &Path) -> Result<Store> {
        let mut conn =
            Connection::open(path).with_context(|| format!("cannot open the database {}", path.display()))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        migrations::apply(&mut conn).with_context(|| format!("cannot upgrade the database {}", path.display()))?;
        Store::with(conn)
    }

    /// An in-memory database, for tests.
    pub fn in_memory() -> Result<Store> {
        let mut conn = Connection::open_in_memory()?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        migrations::apply(&mut conn)?;
        Store::with(conn)
    }

    fn with(conn: Connection) -> Result<Store> {
        let conn = Arc::new(Mutex::new(conn));
        let audit = audit::AuditWriter::start(conn.clone())?;
        Ok(Store { conn, cache: Arc::default(), audit })
    }

    /// Waits until every audit record sent so far is written (the bridge is stopping).
    pub fn flush(&self) {
        self.audit.flush();
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave SQLite inconsistent (every write is one
        // statement or one transaction), so a poisoned lock is still safe to use.
        self.conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Seconds since the Unix epoch: the stores' timestamps.
pub(crate) fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}
