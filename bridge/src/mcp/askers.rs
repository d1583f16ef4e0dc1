//! Where a server's own requests go — `sampling/createMessage`, `elicitation/create` and
//! `roots/list` — while a caller waits on one of its tools.
//!
//! A server's session is shared by every caller (the browser, each gateway client), and over
//! stdio a request from the server names no call it belongs to. So a caller that can answer
//! (a gateway client whose app declared sampling or elicitation) registers an [`Asker`] for the
//! server while its call runs, and the server's request goes to it. When no caller waits with an
//! asker, or several do — Harbor cannot tell whose call the request belongs to, and handing one
//! app's prompt to another would leak it — the server gets an error that says so.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;
use rmcp::ErrorData;
use serde_json::Value;

/// `sampling/createMessage`: the server asks the client's model.
pub const SAMPLING: &str = "sampling/createMessage";
/// `elicitation/create`: the server asks the client's user.
pub const ELICITATION: &str = "elicitation/create";
/// Every request a server may send that an [`Asker`] answers.
pub const ASKED: [&str; 2] = [SAMPLING, ELICITATION];

/// `method` as one of [`ASKED`], if it is one.
pub fn asked(method: &str) -> Option<&'static str> {
    ASKED.into_iter().find(|known| *known == method)
}

/// One of a server's requests to its client.
#[derive(Clone, Debug, PartialEq)]
pub struct ServerAsk {
    /// One of [`ASKED`].
    pub method: &'static str,
    pub params: Value,
}

/// Answers a server's requests for one waiting caller.
pub trait Asker: Send + Sync {
    /// Whether the caller can answer `method` at all (its app declared the capability).
    fn answers(&self, method: &str) -> bool;
    fn ask(&self, ask: ServerAsk) -> BoxFuture<'static, Result<Value, ErrorData>>;
}

/// A registered asker and its registration's id.
type Waiting = (u64, Arc<dyn Asker>);

/// The askers waiting on each server.
#[derive(Default)]
pub struct Askers {
    waiting: Mutex<HashMap<String, Vec<Waiting>>>,
    next: AtomicU64,
}

impl Askers {
    /// Sends `server`'s requests to `asker` until the guard is dropped.
    pub fn register(self: &Arc<Self>, server: &str, asker: Arc<dyn Asker>) -> AskerGuard {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        self.waiting.lock().unwrap_or_else(|p| p.into_inner()).entry(server.to_owned()).or_default().push((id, asker));
        AskerGuard { askers: self.clone(), server: server.to_owned(), id }
    }

    /// Hands `server`'s request to the one caller waiting that can answer it.
    pub async fn ask(&self, server: &str, ask: ServerAsk) -> Result<Value, ErrorData> {
        let able: Vec<Arc<dyn Asker>> = {
            let waiting = self.waiting.lock().unwrap_or_else(|p| p.into_inner());
            let all = waiting.get(server).map(Vec::as_slice).unwrap_or_default();
            all.iter().filter(|(_, asker)| asker.answers(ask.method)).map(|(_, asker)| asker.clone()).collect()
        };
        match able.as_slice() {
            [one] => one.ask(ask).await,
            [] => Err(ErrorData::invalid_request(
                format!("{}: no app that can answer it is waiting on this server through Harbor", ask.method),
                None,
            )),
            _ => Err(ErrorData::invalid_request(
                format!(
                    "{}: several apps' calls wait on this server, and Harbor cannot tell which one this is for",
                    ask.method
                ),
                None,
            )),
        }
    }
}

/// Unregisters an asker when dropped.
pub struct AskerGuard {
    askers: Arc<Askers>,
    server: String,
    id: u64,
}

impl Drop for AskerGuard {
    fn drop(&mut self) {
        let mut waiting = self.askers.waiting.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(list) = waiting.get_mut(&self.server) {
            list.retain(|(id, _)| *id != self.id);
            if list.is_empty() {
                waiting.remove(&self.server);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::FutureExt;
    use serde_json::json;

    struct Echo(&'static str);

    impl Asker for Echo {
        fn answers(&self, method: &str) -> bool {
            method == "sampling/createMessage"
        }
        fn ask(&self, ask: ServerAsk) -> BoxFuture<'static, Result<Value, ErrorData>> {
            let who = self.0;
            async move { Ok(json!({ "who": who, "params": ask.params })) }.boxed()
        }
    }

    fn sampling() -> ServerAsk {
        ServerAsk { method: "sampling/createMessage", params: json!({"messages": []}) }
    }

    #[tokio::test]
    async fn a_request_goes_to_the_one_waiting_caller_never_to_a_guess() {
        let askers = Arc::new(Askers::default());
        assert!(askers.ask("s", sampling()).await.is_err(), "nobody waits");
        let first = askers.register("s", Arc::new(Echo("a")));
        assert_eq!(askers.ask("s", sampling()).await.unwrap()["who"], "a");
        assert!(askers.ask("other", sampling()).await.is_err(), "another server's request is not a's");
        let elicit = ServerAsk { method: "elicitation/create", params: json!({}) };
        assert!(askers.ask("s", elicit).await.is_err(), "a cannot answer elicitation");
        let second = askers.register("s", Arc::new(Echo("b")));
        let both = askers.ask("s", sampling()).await.unwrap_err();
        assert!(both.message.contains("cannot tell which"), "{both:?}");
        drop(first);
        assert_eq!(askers.ask("s", sampling()).await.unwrap()["who"], "b");
        drop(second);
        assert!(askers.ask("s", sampling()).await.is_err());
    }
}
