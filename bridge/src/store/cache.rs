//! What the policy layer reads on every page call, kept in memory: a site's decisions, its tool
//! allowlist and pins, its limits, the settings, and the gateway's clients (read on every
//! gateway call: by key, then by name). Each entry is filled on first read and
//! dropped by the store's own write of that table, so a read never sees a stale value and a page
//! call reaches SQLite only to spend a budget.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Tool → (fingerprint, approved definition as JSON text).
pub type Pins = HashMap<String, (String, Option<String>)>;

/// `(scope, decision)` of one origin.
pub type Decisions = Vec<(String, String)>;

#[derive(Default)]
pub struct Cache {
    grants: Mutex<HashMap<String, Arc<Decisions>>>,
    allowed: Mutex<HashMap<String, Arc<Vec<String>>>>,
    pins: Mutex<HashMap<String, Arc<Pins>>>,
    limits: Mutex<HashMap<String, Option<Arc<str>>>>,
    settings: Mutex<HashMap<String, Option<Arc<str>>>>,
    /// Every gateway client, by name.
    clients: Mutex<Option<Arc<HashMap<String, super::gateway::ClientRecord>>>>,
}

/// One table's entries, by key.
fn entry<T: Clone>(
    map: &Mutex<HashMap<String, T>>,
    key: &str,
    load: impl FnOnce() -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    if let Some(found) = map.lock().unwrap_or_else(|p| p.into_inner()).get(key) {
        return Ok(found.clone());
    }
    // Loaded without the lock held: a slow read never holds up another origin's lookup.
    let loaded = load()?;
    map.lock().unwrap_or_else(|p| p.into_inner()).insert(key.to_owned(), loaded.clone());
    Ok(loaded)
}

fn forget<T>(map: &Mutex<HashMap<String, T>>, key: Option<&str>) {
    let mut map = map.lock().unwrap_or_else(|p| p.into_inner());
    match key {
        Some(key) => drop(map.remove(key)),
        None => map.clear(),
    }
}

impl Cache {
    pub fn grants(
        &self,
        origin: &str,
        load: impl FnOnce() -> anyhow::Result<Decisions>,
    ) -> anyhow::Result<Arc<Decisions>> {
        entry(&self.grants, origin, || load().map(Arc::new))
    }

    pub fn allowed(
        &self,
        origin: &str,
        load: impl FnOnce() -> anyhow::Result<Vec<String>>,
    ) -> anyhow::Result<Arc<Vec<String>>> {
        entry(&self.allowed, origin, || load().map(Arc::new))
    }

    pub fn pins(&self, origin: &str, load: impl FnOnce() -> anyhow::Result<Pins>) -> anyhow::Result<Arc<Pins>> {
        entry(&self.pins, origin, || load().map(Arc::new))
    }

    pub fn limits(
        &self,
        origin: &str,
        load: impl FnOnce() -> anyhow::Result<Option<String>>,
    ) -> anyhow::Result<Option<Arc<str>>> {
        entry(&self.limits, origin, || load().map(|t| t.map(Arc::from)))
    }

    pub fn setting(
        &self,
        key: &str,
        load: impl FnOnce() -> anyhow::Result<Option<String>>,
    ) -> anyhow::Result<Option<Arc<str>>> {
        entry(&self.settings, key, || load().map(|t| t.map(Arc::from)))
    }

    pub fn clients(
        &self,
        load: impl FnOnce() -> anyhow::Result<Vec<super::gateway::ClientRecord>>,
    ) -> anyhow::Result<Arc<HashMap<String, super::gateway::ClientRecord>>> {
        if let Some(found) = self.clients.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
            return Ok(found.clone());
        }
        let loaded: Arc<HashMap<_, _>> = Arc::new(load()?.into_iter().map(|c| (c.name.clone(), c)).collect());
        *self.clients.lock().unwrap_or_else(|p| p.into_inner()) = Some(loaded.clone());
        Ok(loaded)
    }

    pub fn forget_clients(&self) {
        *self.clients.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    pub fn forget_grants(&self, origin: &str) {
        forget(&self.grants, Some(origin));
    }

    pub fn forget_allowed(&self, origin: Option<&str>) {
        forget(&self.allowed, origin);
    }

    pub fn forget_pins(&self, origin: Option<&str>) {
        forget(&self.pins, origin);
    }

    pub fn forget_limits(&self, origin: &str) {
        forget(&self.limits, Some(origin));
    }

    pub fn forget_setting(&self, key: &str) {
        forget(&self.settings, Some(key));
    }
}
