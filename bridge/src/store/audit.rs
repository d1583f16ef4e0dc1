//! The audit log's writer: a thread with a connection of its own, so recording a call never
//! waits for the database on the thread that answers pages. Entries are written in the order they
//! were sent; reading the log first waits (briefly) for what was sent before.

use std::path::Path;
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::time::Duration;

use anyhow::{Context, Result};
use rusqlite::Connection;

use super::permissions::AuditEntry;

/// How many records may wait for the writer; more are written by the caller itself.
const QUEUE: usize = 4096;

enum Job {
    Record(AuditEntry),
    Flush(mpsc::Sender<()>),
}

/// The sending side; cheap to clone.
#[derive(Clone)]
pub struct AuditWriter {
    jobs: SyncSender<Job>,
}

impl AuditWriter {
    /// Opens a second connection to `path` and starts the writer thread.
    pub fn start(path: &Path) -> Result<AuditWriter> {
        let conn =
            Connection::open(path).with_context(|| format!("cannot open {} for the audit log", path.display()))?;
        conn.busy_timeout(Duration::from_secs(5))?;
        let (jobs, queue) = mpsc::sync_channel(QUEUE);
        std::thread::Builder::new()
            .name("harbor-audit".into())
            .spawn(move || write(conn, queue))
            .context("cannot start the audit writer")?;
        Ok(AuditWriter { jobs })
    }

    /// Queues `entry`; gives it back when the queue is full or the writer is gone.
    pub fn send(&self, entry: AuditEntry) -> Option<AuditEntry> {
        match self.jobs.try_send(Job::Record(entry)) {
            Err(TrySendError::Full(Job::Record(entry)) | TrySendError::Disconnected(Job::Record(entry))) => Some(entry),
            _ => None,
        }
    }

    /// Waits until everything sent before is written (at most two seconds).
    pub fn flush(&self) {
        let (done, wait) = mpsc::channel();
        if self.jobs.send(Job::Flush(done)).is_ok() {
            let _ = wait.recv_timeout(Duration::from_secs(2));
        }
    }
}

fn write(conn: Connection, queue: Receiver<Job>) {
    while let Ok(job) = queue.recv() {
        match job {
            Job::Record(entry) => {
                if let Err(error) = super::permissions::insert_audit(&conn, &entry) {
                    tracing::warn!("cannot write the audit log: {error:#}");
                }
            }
            Job::Flush(done) => {
                let _ = done.send(());
            }
        }
    }
}
