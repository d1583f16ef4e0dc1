//! What each site used of its budgets (tool calls per hour, model tokens per day), kept in memory
//! and written to the `usage` table by the store's [writer](super::writer).
//!
//! A site's ledger is read from the table the first time a budget of it is asked about, then kept
//! in memory: every later use is added to both, so checking and spending a budget on a page call
//! never touches SQLite. Entries older than [`WINDOW`] are dropped from memory as they age; the
//! table keeps them (the permissions panel's figures come from the same ledger). A crash can lose
//! the uses the writer had not written yet, a few milliseconds' worth: the budget then allows that
//! many calls again, which is the cost of not waiting for a disk on every call.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use anyhow::Result;
use rusqlite::Connection;

/// The longest window a budget counts over: a day.
pub const WINDOW: i64 = 86_400;

/// One use: `amount` of `kind` by `origin` at `at` (a negative amount gives back a reservation).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Usage {
    pub origin: String,
    pub kind: String,
    pub amount: i64,
    pub at: i64,
}

/// One site's uses of one kind, oldest first: (at, amount).
type Uses = VecDeque<(i64, i64)>;

/// Every site's uses within the last [`WINDOW`], by (origin, kind).
#[derive(Default)]
pub struct Ledger {
    sites: Mutex<HashMap<(String, String), Uses>>,
}

impl Ledger {
    /// What `origin` used of `kind` since `since`, reading its past from `load` the first time.
    pub fn used_since(
        &self,
        origin: &str,
        kind: &str,
        since: i64,
        now: i64,
        load: impl FnOnce() -> Result<Vec<(i64, i64)>>,
    ) -> Result<i64> {
        let mut sites = self.sites.lock().unwrap_or_else(|p| p.into_inner());
        let uses = entry(&mut sites, origin, kind, now, load)?;
        Ok(uses.iter().filter(|(at, _)| *at > since).map(|(_, amount)| amount).sum())
    }

    /// Adds one use (its ledger read first, when it has not been).
    pub fn add(&self, usage: &Usage, load: impl FnOnce() -> Result<Vec<(i64, i64)>>) -> Result<()> {
        let mut sites = self.sites.lock().unwrap_or_else(|p| p.into_inner());
        entry(&mut sites, &usage.origin, &usage.kind, usage.at, load)?.push_back((usage.at, usage.amount));
        Ok(())
    }
}

fn entry<'a>(
    sites: &'a mut HashMap<(String, String), Uses>,
    origin: &str,
    kind: &str,
    now: i64,
    load: impl FnOnce() -> Result<Vec<(i64, i64)>>,
) -> Result<&'a mut Uses> {
    let key = (origin.to_owned(), kind.to_owned());
    let uses = match sites.entry(key) {
        std::collections::hash_map::Entry::Occupied(uses) => uses.into_mut(),
        std::collections::hash_map::Entry::Vacant(empty) => empty.insert(load()?.into()),
    };
    while uses.front().is_some_and(|(at, _)| *at <= now - WINDOW) {
        uses.pop_front();
    }
    Ok(uses)
}

/// `origin`'s uses of `kind` in the table within the last [`WINDOW`], oldest first.
pub fn load(conn: &Connection, origin: &str, kind: &str, now: i64) -> Result<Vec<(i64, i64)>> {
    let mut statement =
        conn.prepare("SELECT at, amount FROM usage WHERE origin = ?1 AND kind = ?2 AND at > ?3 ORDER BY at")?;
    let rows = statement.query_map(rusqlite::params![origin, kind, now - WINDOW], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Writes one use on `conn`.
pub fn insert(conn: &Connection, usage: &Usage) -> Result<()> {
    conn.execute(
        "INSERT INTO usage (origin, kind, amount, at) VALUES (?1, ?2, ?3, ?4)",
        rusqlite::params![usage.origin, usage.kind, usage.amount, usage.at],
    )?;
    Ok(())
}
