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
//! the writes that change it; budgets are counted in memory ([`usage`]); and the audit log and
//! usage are written by a thread of its own ([`writer`]). So a page call never touches SQLite on
//! the thread that answers pages (but the first time a site's budget is asked about).

mod cache;
pub mod chat;
pub mod gateway;
mod migrations;
pub mod permissions;
pub mod secrets;
pub mod servers;
pub mod settings;
mod usage;
mod writer;

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use anyhow::{Context, Result};
use rusqlite::Connection;

/// A shared handle to the database. Statements are short, so one connection behind a mutex
/// serves the rest: the sidebar's reads and writes, which are not on a page call's path.
#[derive(Clone)]
pub struct Store {
    conn: Arc<Mutex<Connection>>,
    cache: Arc<cache::Cache>,
    usage: Arc<usage::Ledger>,
    writer: writer::Writer,
    /// Where audit records go besides this database (a team gateway's shared trail).
    audit_mirror: Arc<std::sync::OnceLock<AuditMirror>>,
}

/// Another home for audit records, handed each as it is recorded (it must not wait).
pub type AuditMirror = Box<dyn Fn(&permissions::AuditEntry) + Send + Sync>;

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
        let writer = writer::Writer::start(conn.clone())?;
        Ok(Store { conn, cache: Arc::default(), usage: Arc::default(), writer, audit_mirror: Arc::default() })
    }

    /// Sends every audit record from now on to `mirror` too (once; a second mirror is ignored).
    pub fn mirror_audit(&self, mirror: AuditMirror) {
        let _ = self.audit_mirror.set(mirror);
    }

    /// Waits until every audit record and use sent so far is written (the bridge is stopping).
    pub fn flush(&self) {
        self.writer.flush();
    }

    /// Hands `record` to the writer thread, or writes it here when the writer is thousands behind.
    fn write_later(&self, record: writer::Record) -> Result<()> {
        match self.writer.send(record) {
            None => Ok(()),
            Some(record) => writer::insert(&self.conn(), &record),
        }
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
