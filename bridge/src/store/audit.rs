//! The audit log's writer: a thread that writes the records, so recording a call never waits for
//! the database on the thread that answers pages. It shares the store's connection — a second
//! connection would contend with it for SQLite's write lock, and SQLite's busy handler sleeps a
//! whole millisecond where a mutex waits microseconds — and writes what is queued in one
//! transaction. Entries are written in the order they were sent; reading the log first waits
//! (briefly) for what was sent before.

use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
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
    /// Starts the writer thread on the store's connection.
    pub fn start(conn: Arc<Mutex<Connection>>) -> Result<AuditWriter> {
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

fn write(conn: Arc<Mutex<Connection>>, queue: Receiver<Job>) {
    while let Ok(first) = queue.recv() {
        // Everything queued by now goes in one transaction.
        let mut jobs = vec![first];
        jobs.extend(queue.try_iter().take(QUEUE));
        let mut flushed = Vec::new();
        let mut conn = conn.lock().unwrap_or_else(|p| p.into_inner());
        let written = (|| -> Result<()> {
            let tx = conn.transaction().context("cannot begin the audit batch")?;
            for job in jobs {
                match job {
                    Job::Record(entry) => super::permissions::insert_audit(&tx, &entry)?,
                    Job::Flush(done) => flushed.push(done),
                }
            }
            tx.commit().context("cannot commit the audit batch")
        })();
        drop(conn);
        if let Err(error) = written {
            tracing::warn!("cannot write the audit log: {error:#}");
        }
        for done in flushed {
            let _ = done.send(());
        }
    }
}
