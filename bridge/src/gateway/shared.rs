//! State that gateway replicas share, in PostgreSQL (`database: postgres://…` in the team config).
//!
//! Replicas behind one load balancer must enforce one rate limit, and the team wants one audit
//! trail. So, with a database configured:
//! - each caller's rate window is a row counted atomically by the database (`INSERT … ON CONFLICT
//!   DO UPDATE … RETURNING count`): windows are the clock's minutes, the same on every replica,
//!   and of a burst split across replicas exactly the limit is admitted;
//! - every gateway audit row is written there too (by a writer task, in batches), with the
//!   replica that served it.
//!
//! What stays on each replica: the concurrency slots (calls in flight are a replica's own), and
//! Harbor's own client keys (a team's callers come with their identity provider's tokens, which
//! any replica checks on its own). When the database cannot be reached, a call is counted in the
//! replica's own window instead — each replica still holds the limit, and the gateway keeps
//! serving — and a warning says so; every database request is bounded by [`QUERY_TIMEOUT`].

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::{mpsc, Mutex};
use tokio_postgres::{Client, NoTls};

use super::limits::{Limited, Ticket};
use crate::store::permissions::AuditEntry;

/// The longest any database request may take.
pub const QUERY_TIMEOUT: Duration = Duration::from_secs(5);
/// The most audit rows written in one statement.
const AUDIT_BATCH: usize = 256;
/// The most audit rows waiting for the writer; past it, rows are dropped (and counted).
const AUDIT_QUEUE: usize = 10_000;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS harbor_rate_windows (
    caller TEXT NOT NULL,
    window_start BIGINT NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (caller, window_start)
);
CREATE TABLE IF NOT EXISTS harbor_audit (
    id BIGSERIAL PRIMARY KEY,
    at BIGINT NOT NULL,
    replica TEXT NOT NULL,
    origin TEXT NOT NULL,
    method TEXT NOT NULL,
    tool TEXT,
    outcome TEXT NOT NULL,
    duration_ms BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS harbor_audit_origin ON harbor_audit (origin, id);
";

/// The connection to the shared database, and the audit writer.
pub struct Shared {
    url: String,
    client: Mutex<Option<Arc<Client>>>,
    audit: mpsc::Sender<AuditEntry>,
    /// Which replica this is, in the audit rows.
    pub replica: String,
}

impl Shared {
    /// Connects, creates the tables if they are not there, and starts the audit writer.
    pub async fn connect(url: &str, replica: String) -> Result<Arc<Shared>, String> {
        let client = connect(url).await?;
        bounded(client.batch_execute(SCHEMA)).await.map_err(|e| format!("cannot create Harbor's tables: {e}"))?;
        let (audit, queue) = mpsc::channel(AUDIT_QUEUE);
        let shared =
            Arc::new(Shared { url: url.to_owned(), client: Mutex::new(Some(Arc::new(client))), audit, replica });
        tokio::spawn(write_audit(Arc::downgrade(&shared), queue));
        Ok(shared)
    }

    /// The live connection, made again when the last one broke.
    async fn client(&self) -> Result<Arc<Client>, String> {
        let mut held = self.client.lock().await;
        if let Some(client) = held.as_ref().filter(|c| !c.is_closed()) {
            return Ok(client.clone());
        }
        let client = Arc::new(connect(&self.url).await?);
        *held = Some(client.clone());
        Ok(client)
    }

    /// Counts one call of `caller` against its shared window of `limit` calls a minute.
    pub async fn admit(&self, caller: &str, limit: u32) -> Result<Result<Ticket, Limited>, String> {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        let window = now.as_secs() / 60 * 60;
        let reset = Duration::from_secs(window + 60).saturating_sub(now);
        let client = self.client().await?;
        let row = bounded(client.query_one(
            "INSERT INTO harbor_rate_windows (caller, window_start, count) VALUES ($1, $2, 1)
             ON CONFLICT (caller, window_start) DO UPDATE SET count = harbor_rate_windows.count + 1
             RETURNING count",
            &[&caller, &(window as i64)],
        ))
        .await
        .map_err(|e| format!("cannot count the call in the shared database: {e}"))?;
        let count = row.get::<_, i32>(0).max(0) as u32;
        if count % 1000 == 1 {
            // Now and then (a caller's first call of a window, mostly), old windows go.
            let _ = bounded(
                client.execute("DELETE FROM harbor_rate_windows WHERE window_start < $1", &[&(window as i64 - 3600)]),
            )
            .await;
        }
        Ok(match count <= limit {
            true => Ok(Ticket { limit, remaining: limit - count, reset }),
            false => Err(Limited { limit, retry_after: reset }),
        })
    }

    /// Queues an audit row for the shared trail; never waits.
    pub fn audit(&self, entry: &AuditEntry) {
        if self.audit.try_send(entry.clone()).is_err() {
            tracing::warn!("the shared audit trail is behind by {AUDIT_QUEUE} rows; a row was not written there");
        }
    }

    /// The newest shared audit rows of `origin` (every replica's), newest first.
    pub async fn audit_of(&self, origin: &str, limit: usize) -> Result<Vec<(AuditEntry, String)>, String> {
        let client = self.client().await?;
        let rows = bounded(client.query(
            "SELECT at, origin, method, tool, outcome, duration_ms, replica FROM harbor_audit
             WHERE origin = $1 ORDER BY id DESC LIMIT $2",
            &[&origin, &(limit as i64)],
        ))
        .await
        .map_err(|e| format!("cannot read the shared audit trail: {e}"))?;
        Ok(rows
            .iter()
            .map(|row| {
                let entry = AuditEntry {
                    at: row.get(0),
                    caller: crate::store::permissions::AuditCaller::Gateway,
                    origin: row.get(1),
                    tab_id: None,
                    method: row.get(2),
                    tool: row.get(3),
                    outcome: row.get(4),
                    duration_ms: row.get(5),
                };
                (entry, row.get(6))
            })
            .collect())
    }
}

async fn connect(url: &str) -> Result<Client, String> {
    let (client, connection) = tokio::time::timeout(QUERY_TIMEOUT, tokio_postgres::connect(url, NoTls))
        .await
        .map_err(|_| format!("the database did not answer within {} s", QUERY_TIMEOUT.as_secs()))?
        .map_err(|e| format!("cannot connect to the database: {e}"))?;
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::warn!("the shared database connection ended: {error}");
        }
    });
    Ok(client)
}

async fn bounded<T>(query: impl std::future::Future<Output = Result<T, tokio_postgres::Error>>) -> Result<T, String> {
    match tokio::time::timeout(QUERY_TIMEOUT, query).await {
        Ok(outcome) => outcome.map_err(|e| e.to_string()),
        Err(_) => Err(format!("the database did not answer within {} s", QUERY_TIMEOUT.as_secs())),
    }
}

/// Writes queued audit rows in batches until the [`Shared`] is gone.
async fn write_audit(shared: std::sync::Weak<Shared>, mut queue: mpsc::Receiver<AuditEntry>) {
    let mut batch = Vec::with_capacity(AUDIT_BATCH);
    while queue.recv_many(&mut batch, AUDIT_BATCH).await > 0 {
        let Some(shared) = shared.upgrade() else { return };
        if let Err(why) = insert_audit(&shared, &batch).await {
            tracing::warn!(rows = batch.len(), "audit rows were not written to the shared database: {why}");
        }
        batch.clear();
    }
}

async fn insert_audit(shared: &Shared, batch: &[AuditEntry]) -> Result<(), String> {
    let client = shared.client().await?;
    let mut sql =
        String::from("INSERT INTO harbor_audit (at, replica, origin, method, tool, outcome, duration_ms) VALUES ");
    let mut params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = Vec::with_capacity(batch.len() * 7);
    for (i, entry) in batch.iter().enumerate() {
        let n = i * 7;
        if i > 0 {
            sql.push(',');
        }
        sql.push_str(&format!("(${},${},${},${},${},${},${})", n + 1, n + 2, n + 3, n + 4, n + 5, n + 6, n + 7));
        params.extend([
            &entry.at as &(dyn tokio_postgres::types::ToSql + Sync),
            &shared.replica,
            &entry.origin,
            &entry.method,
            &entry.tool,
            &entry.outcome,
            &entry.duration_ms,
        ]);
    }
    bounded(client.execute(sql.as_str(), &params)).await.map(|_| ())
}
