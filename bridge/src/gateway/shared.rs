//! State that gateway replicas share, in PostgreSQL (`database: postgres://…` in the team config).
//!
//! Replicas behind one load balancer must enforce one rate limit, and the team wants one audit
//! trail. So, with a database configured:
//! - each caller's rate window is a row counted atomically by the database (`INSERT … ON CONFLICT
//!   DO UPDATE … RETURNING count`): windows are the clock's minutes, the same on every replica,
//!   and of a burst split across replicas exactly the limit is admitted;
//! - every gateway audit row is written there too (by a writer task, in batches), with the
//!   replica that served it;
//! - Harbor's own clients (name, key hash, allowlist, limits) live there: one added, changed,
//!   re-keyed or removed on any replica is so on all — each replica looks a key up there and
//!   keeps the answer [`KEY_TTL`], so a removed or rotated key stops working everywhere within it.
//!   A replica's own clients from before the database was configured are added at start (never
//!   over a shared record of the same name).
//!
//! What stays on each replica: the concurrency slots (calls in flight are a replica's own). When
//! the database cannot be reached, a call is counted in the replica's own window and a key looked
//! up in its own copy instead — each replica still holds the limit, and the gateway keeps serving
//! — and a warning says so; every database request is bounded by [`QUERY_TIMEOUT`].

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::{mpsc, Mutex};
use tokio_postgres::{Client, NoTls};

use super::limits::{Limited, Ticket};
use crate::store::gateway::ClientRecord;
use crate::store::permissions::AuditEntry;

/// How long a replica trusts what the database said about a key.
pub const KEY_TTL: Duration = Duration::from_secs(5);
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
CREATE TABLE IF NOT EXISTS harbor_gateway_clients (
    name TEXT PRIMARY KEY,
    key_sha256 TEXT NOT NULL UNIQUE,
    key_hint TEXT NOT NULL,
    allow TEXT NOT NULL,
    rate_per_min BIGINT NOT NULL,
    concurrency BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    plain_names BOOLEAN NOT NULL,
    code_mode BOOLEAN NOT NULL
);
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

    /// Adds or replaces a client (`replace: false`: only adds, leaving a shared one as it is).
    pub async fn put_client(&self, record: &ClientRecord, replace: bool) -> Result<(), String> {
        let client = self.client().await?;
        let conflict = match replace {
            true => {
                "DO UPDATE SET key_sha256 = $2, key_hint = $3, allow = $4, rate_per_min = $5, concurrency = $6,
                     plain_names = $8, code_mode = $9"
            }
            false => "DO NOTHING",
        };
        let sql = format!(
            "INSERT INTO harbor_gateway_clients
             (name, key_sha256, key_hint, allow, rate_per_min, concurrency, created_at, plain_names, code_mode)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (name) {conflict}"
        );
        let allow = serde_json::to_string(&record.allow).unwrap_or_else(|_| "[]".into());
        let (rate, concurrency) = (i64::from(record.rate_per_min), i64::from(record.concurrency));
        bounded(client.execute(
            sql.as_str(),
            &[
                &record.name,
                &record.key_sha256,
                &record.key_hint,
                &allow,
                &rate,
                &concurrency,
                &record.created_at,
                &record.plain_names,
                &record.code_mode,
            ],
        ))
        .await
        .map(|_| ())
        .map_err(|e| format!("cannot share the client {:?}: {e}", record.name))
    }

    pub async fn remove_client(&self, name: &str) -> Result<(), String> {
        let client = self.client().await?;
        bounded(client.execute("DELETE FROM harbor_gateway_clients WHERE name = $1", &[&name]))
            .await
            .map(|_| ())
            .map_err(|e| format!("cannot remove the shared client {name:?}: {e}"))
    }

    /// The client whose key has this SHA-256, on any replica.
    pub async fn client_by_key(&self, key_sha256: &str) -> Result<Option<ClientRecord>, String> {
        let client = self.client().await?;
        let row = bounded(client.query_opt(
            "SELECT name, key_sha256, key_hint, allow, rate_per_min, concurrency, created_at, plain_names, code_mode
             FROM harbor_gateway_clients WHERE key_sha256 = $1",
            &[&key_sha256],
        ))
        .await
        .map_err(|e| format!("cannot look the key up in the shared database: {e}"))?;
        Ok(row.map(|row| ClientRecord {
            name: row.get(0),
            key_sha256: row.get(1),
            key_hint: row.get(2),
            allow: serde_json::from_str(row.get::<_, &str>(3)).unwrap_or_default(),
            rate_per_min: row.get::<_, i64>(4).clamp(0, i64::from(u32::MAX)) as u32,
            concurrency: row.get::<_, i64>(5).clamp(1, i64::from(u32::MAX)) as u32,
            created_at: row.get(6),
            last_used_at: None,
            plain_names: row.get(7),
            code_mode: row.get(8),
        }))
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
