//! The store's writer: a thread that writes what the permission layer records on every call —
//! audit records and budget usage — so a page call never waits for the database on the thread
//! that answers pages. It shares the store's connection (a second connection would contend with
//! it for SQLite's write lock, and SQLite's busy handler sleeps a whole millisecond where a mutex
//! waits microseconds) and writes what is queued in one transaction. Records are written in the
//! order they were sent; reading the audit log first waits (briefly) for what was sent before.

use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use rusqlite::Connection;

use super::permissions::AuditEntry;
use super::usage::Usage;

/// How many records may wait for the writer; more are written by the caller itself.
const QUEUE: usize = 4096;

/// One write for the writer thread.
pub enum Record {
    Audit(AuditEntry),
    Usage(Usage),
}

enum Job {
    Write(Record),
    Flush(mpsc::Sender<()>),
}

/// The sending side; cheap to clone.
#[derive(Clone)]
pub struct Writer {
    jobs: SyncSender<Job>,
}

impl Writer {
    /// Starts the writer thread on the store's connection.
    pub fn start(conn: Arc<Mutex<Connection>>) -> Result<Writer> {
        let (jobs, queue) = mpsc::sync_channel(QUEUE);
        std::thread::Builder::new()
            .name("harbor-store-writer".into())
            .spawn(move || write(conn, queue))
            .context("cannot start the store's writer")?;
        Ok(Writer { jobs })
    }

    /// Queues `record`; gives it back when the queue is full or the writer is gone.
    pub fn send(&self, record: Record) -> Option<Record> {
        match self.jobs.try_send(Job::Write(record)) {
            Err(TrySendError::Full(Job::Write(record)) | TrySendError::Disconnected(Job::Write(record))) => {
                Some(record)
            }
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

/// Writes one record on `conn` (the writer's way, and a caller's when the queue is full).
pub fn insert(conn: &Connection, record: &Record) -> Result<()> {
    match record {
        Record::Audit(entry) => super::permissions::insert_audit(conn, entry),
        Record::Usage(usage) => super::usage::insert(conn, usage),
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
            let tx = conn.transaction().context("cannot begin a batch of writes")?;
            for job in jobs {
                match job {
                    Job::Write(record) => insert(&tx, &record)?,
                    Job::Flush(done) => flushed.push(done),
                }
            }
            tx.commit().context("cannot commit a batch of writes")
        })();
        drop(conn);
        if let Err(error) = written {
            tracing::warn!("cannot write the audit log and usage: {error:#}");
        }
        for done in flushed {
            let _ = done.send(());
        }
    }
}
