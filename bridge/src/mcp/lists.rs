//! A running server's resources, resource templates, prompts and skills as last listed, kept
//! for its session so that routing a read to the server that lists a URI (the gateway's
//! `resources/read`, subscriptions, completions, skill files) does not ask every server for its
//! lists on every read.
//!
//! A list is kept only when the server promised to say it changed (`listChanged` in its
//! `resources` or `prompts` capability); its `list_changed` notice forgets it (resources take
//! templates and skills with them, since skills are resources). A list asked for while a notice
//! came in is not kept: a generation count tells. A list that failed is never kept. A session
//! that ends takes its lists with it (they live on its `Live`).
//!
//! [`list`] is the one way Harbor lists them — for the sidebar, the chat's skills and the
//! gateway alike — each listing bounded by [`LIST_TIMEOUT`].

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

use super::client::ListChanged;
use super::error::HostError;
use super::server::Live;

/// How long one server may take to list one kind of item.
pub const LIST_TIMEOUT: Duration = Duration::from_secs(20);

/// Which list.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    Resources,
    Templates,
    Prompts,
    Skills,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Resources => "resources",
            Kind::Templates => "resource templates",
            Kind::Prompts => "prompts",
            Kind::Skills => "skills",
        }
    }

    /// The `list_changed` notice that makes this list stale.
    fn changed_by(self) -> ListChanged {
        match self {
            Kind::Resources | Kind::Templates | Kind::Skills => ListChanged::Resources,
            Kind::Prompts => ListChanged::Prompts,
        }
    }
}

/// `server`'s items of `kind` (none when it does not serve them), from its session's kept
/// lists or listed now.
pub async fn list(live: &Live, server: &str, kind: Kind) -> Result<Arc<Vec<Value>>, HostError> {
    let capabilities = live.peer.peer_info().map(|info| info.capabilities.clone()).unwrap_or_default();
    let (resources, prompts) = (capabilities.resources.as_ref(), capabilities.prompts.as_ref());
    let keepable = match kind {
        Kind::Skills if !capabilities.supports_skills() => return Ok(Arc::default()),
        Kind::Resources | Kind::Templates | Kind::Skills => match resources {
            Some(resources) => resources.list_changed == Some(true),
            None => return Ok(Arc::default()),
        },
        Kind::Prompts => match prompts {
            Some(prompts) => prompts.list_changed == Some(true),
            None => return Ok(Arc::default()),
        },
    };
    let peer = &live.peer;
    let listing = async {
        let listed = tokio::time::timeout(LIST_TIMEOUT, async {
            match kind {
                Kind::Resources => peer.list_all_resources().await.map(values),
                Kind::Templates => peer.list_all_resource_templates().await.map(values),
                Kind::Prompts => peer.list_all_prompts().await.map(values),
                Kind::Skills => peer.list_all_skills().await.map(values),
            }
        })
        .await;
        match listed {
            Ok(Ok(items)) => Ok(items),
            Ok(Err(error)) => Err(super::registry::failed(server, error)),
            Err(_) => Err(HostError::Timeout {
                what: format!("listing server {server:?}'s {}", kind.name()),
                after: LIST_TIMEOUT,
            }),
        }
    };
    live.lists.get(kind, keepable, listing).await
}

fn values<T: serde::Serialize>(items: Vec<T>) -> Vec<Value> {
    items.into_iter().filter_map(|item| serde_json::to_value(item).ok()).collect()
}

/// One session's kept lists.
#[derive(Default)]
pub struct Lists {
    kept: Mutex<HashMap<Kind, Arc<Vec<Value>>>>,
    /// Bumped by every notice, so a listing that overlapped one is not kept.
    generation: AtomicU64,
}

impl Lists {
    /// The list of `kind`, kept or listed now by `list` (kept when `keepable`: the server
    /// says when it changes). `Err` is the listing's own failure.
    pub async fn get<F, E>(&self, kind: Kind, keepable: bool, list: F) -> Result<Arc<Vec<Value>>, E>
    where
        F: Future<Output = Result<Vec<Value>, E>>,
    {
        if let Some(kept) = self.lock().get(&kind) {
            return Ok(kept.clone());
        }
        let before = self.generation.load(Ordering::Acquire);
        let listed = Arc::new(list.await?);
        if keepable && self.generation.load(Ordering::Acquire) == before {
            self.lock().insert(kind, listed.clone());
        }
        Ok(listed)
    }

    /// The server said `what` changed: the lists it covers are forgotten.
    pub fn changed(&self, what: ListChanged) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.lock().retain(|kind, _| kind.changed_by() != what);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Kind, Arc<Vec<Value>>>> {
        self.kept.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    async fn listed(items: Vec<Value>) -> Result<Vec<Value>, ()> {
        Ok(items)
    }

    #[tokio::test]
    async fn a_list_is_kept_until_its_server_says_it_changed() {
        let lists = Lists::default();
        let first = lists.get(Kind::Resources, true, listed(vec![json!({"uri": "a"})])).await.unwrap();
        let kept = lists.get(Kind::Resources, true, listed(vec![json!({"uri": "b"})])).await.unwrap();
        assert_eq!(first, kept, "the second ask is answered from what was kept");
        lists.get(Kind::Prompts, true, listed(vec![json!({"name": "p"})])).await.unwrap();

        lists.changed(ListChanged::Resources);
        let fresh = lists.get(Kind::Resources, true, listed(vec![json!({"uri": "b"})])).await.unwrap();
        assert_eq!(fresh[0]["uri"], "b", "listed again after the notice");
        let prompts = lists.get(Kind::Prompts, true, listed(vec![])).await.unwrap();
        assert_eq!(prompts.len(), 1, "a resources notice leaves prompts kept");
    }

    #[tokio::test]
    async fn a_list_is_not_kept_without_the_servers_promise_after_a_failure_or_across_a_notice() {
        let lists = Lists::default();
        lists.get(Kind::Templates, false, listed(vec![json!(1)])).await.unwrap();
        assert!(lists.get(Kind::Templates, false, listed(vec![])).await.unwrap().is_empty(), "not kept");

        assert!(lists.get(Kind::Skills, true, async { Err::<Vec<Value>, ()>(()) }).await.is_err());
        assert_eq!(lists.get(Kind::Skills, true, listed(vec![json!(2)])).await.unwrap().len(), 1);

        // A notice that arrives while a list is being asked for: that answer may be stale.
        let during = async {
            lists.changed(ListChanged::Prompts);
            Ok::<_, ()>(vec![json!("stale")])
        };
        lists.get(Kind::Prompts, true, during).await.unwrap();
        assert!(lists.get(Kind::Prompts, true, listed(vec![])).await.unwrap().is_empty(), "not kept");
    }
}
