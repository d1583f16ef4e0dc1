//! Grants: what each site may do, from the persisted decisions in the store and the "allow
//! once" grants held here, keyed by origin *and tab*, that expire after their time or when the
//! tab closes.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::scopes::{Grant, Scope};
use crate::store::Store;

struct Once {
    scopes: HashSet<Scope>,
    tools: HashSet<String>,
    expires: Instant,
}

pub struct Grants {
    store: Store,
    once: Mutex<HashMap<(String, i64), Once>>,
}

impl Grants {
    pub fn new(store: Store) -> Grants {
        Grants { store, once: Mutex::default() }
    }

    fn once(&self) -> std::sync::MutexGuard<'_, HashMap<(String, i64), Once>> {
        let mut once = self.once.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        once.retain(|_, grant| grant.expires > now);
        once
    }

    /// `origin`'s standing for `scope`, as seen from `tab`.
    pub fn grant(&self, origin: &str, tab: Option<i64>, scope: Scope) -> anyhow::Result<Grant> {
        match self.store.grant(origin, scope.as_str())?.as_deref() {
            Some("DENY") => return Ok(Grant::Deny),
            Some("ALLOW_ALWAYS") => return Ok(Grant::AllowAlways),
            _ => {}
        }
        let allowed_once = tab.is_some_and(|tab| {
            self.once().get(&(origin.to_owned(), tab)).is_some_and(|grant| grant.scopes.contains(&scope))
        });
        Ok(if allowed_once { Grant::AllowOnce } else { Grant::NotGranted })
    }

    /// Every scope's standing.
    pub fn all(&self, origin: &str, tab: Option<i64>) -> anyhow::Result<BTreeMap<Scope, Grant>> {
        Scope::ALL.into_iter().map(|scope| Ok((scope, self.grant(origin, tab, scope)?))).collect()
    }

    /// The tools `origin` may call from `tab`: its allowlist and this tab's "once" tools.
    pub fn allowed_tools(&self, origin: &str, tab: Option<i64>) -> anyhow::Result<HashSet<String>> {
        let mut tools: HashSet<String> = self.store.allowed_tools(origin)?.into_iter().collect();
        if let Some(tab) = tab {
            if let Some(grant) = self.once().get(&(origin.to_owned(), tab)) {
                tools.extend(grant.tools.iter().cloned());
            }
        }
        Ok(tools)
    }

    pub fn allow_once(&self, origin: &str, tab: i64, scopes: &[Scope], tools: &[String], ttl: Duration) {
        let mut once = self.once();
        let grant = once.entry((origin.to_owned(), tab)).or_insert_with(|| Once {
            scopes: HashSet::new(),
            tools: HashSet::new(),
            expires: Instant::now() + ttl,
        });
        grant.scopes.extend(scopes.iter().copied());
        grant.tools.extend(tools.iter().cloned());
        grant.expires = Instant::now() + ttl;
    }

    /// Persists `ALLOW_ALWAYS` for `scopes` and adds `tools` to the allowlist.
    pub fn allow_always(&self, origin: &str, scopes: &[Scope], tools: &[String]) -> anyhow::Result<()> {
        for scope in scopes {
            self.store.set_grant(origin, scope.as_str(), Grant::AllowAlways.as_str())?;
        }
        if !tools.is_empty() {
            let mut allowed = self.store.allowed_tools(origin)?;
            allowed.extend(tools.iter().cloned());
            self.store.set_allowed_tools(origin, &allowed)?;
        }
        Ok(())
    }

    pub fn deny(&self, origin: &str, scopes: &[Scope]) -> anyhow::Result<()> {
        for scope in scopes {
            self.store.set_grant(origin, scope.as_str(), Grant::Deny.as_str())?;
        }
        Ok(())
    }

    /// `origin`'s live "once" grants: `(tab, scopes, tools, seconds left)`.
    pub fn once_grants(&self, origin: &str) -> Vec<(i64, Vec<Scope>, Vec<String>, u64)> {
        let now = Instant::now();
        let mut grants: Vec<_> = self
            .once()
            .iter()
            .filter(|((o, _), _)| o == origin)
            .map(|((_, tab), grant)| {
                let mut scopes: Vec<Scope> = grant.scopes.iter().copied().collect();
                scopes.sort();
                let mut tools: Vec<String> = grant.tools.iter().cloned().collect();
                tools.sort();
                (*tab, scopes, tools, grant.expires.saturating_duration_since(now).as_secs())
            })
            .collect();
        grants.sort_by_key(|g| g.0);
        grants
    }

    /// Origins holding a live "once" grant.
    pub fn once_origins(&self) -> Vec<String> {
        let mut origins: Vec<String> = self.once().keys().map(|(origin, _)| origin.clone()).collect();
        origins.sort();
        origins.dedup();
        origins
    }

    /// Forgets every "once" grant of a closed tab.
    pub fn tab_closed(&self, tab: i64) {
        self.once().retain(|(_, grant_tab), _| *grant_tab != tab);
    }

    /// Forgets "once" grants of `origin` (all tabs), when the user revokes the site.
    pub fn forget_once(&self, origin: &str) {
        self.once().retain(|(grant_origin, _), _| grant_origin != origin);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn once_is_for_one_tab_and_expires_while_always_and_deny_persist() {
        let store = Store::in_memory().unwrap();
        let grants = Grants::new(store.clone());
        let site = "http://a.test";
        grants.allow_once(site, 7, &[Scope::ToolsCall], &["t/x".into()], Duration::from_millis(50));
        assert_eq!(grants.grant(site, Some(7), Scope::ToolsCall).unwrap(), Grant::AllowOnce);
        assert_eq!(grants.grant(site, Some(8), Scope::ToolsCall).unwrap(), Grant::NotGranted);
        assert!(grants.allowed_tools(site, Some(7)).unwrap().contains("t/x"));
        assert!(grants.allowed_tools(site, Some(8)).unwrap().is_empty());
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(grants.grant(site, Some(7), Scope::ToolsCall).unwrap(), Grant::NotGranted);

        grants.allow_once(site, 7, &[Scope::ToolsList], &[], Duration::from_secs(60));
        grants.tab_closed(7);
        assert_eq!(grants.grant(site, Some(7), Scope::ToolsList).unwrap(), Grant::NotGranted);

        grants.allow_always(site, &[Scope::ModelPrompt], &["t/y".into()]).unwrap();
        grants.deny(site, &[Scope::ActiveTabRead]).unwrap();
        let reopened = Grants::new(store);
        assert_eq!(reopened.grant(site, None, Scope::ModelPrompt).unwrap(), Grant::AllowAlways);
        assert_eq!(reopened.grant(site, Some(1), Scope::ActiveTabRead).unwrap(), Grant::Deny);
        assert!(reopened.allowed_tools(site, None).unwrap().contains("t/y"));
    }
}
