//! Where a server's own requests go — `sampling/createMessage` and `elicitation/create` —
//! while a caller waits on one of its tools.
//!
//! A server's session is shared by every caller (the browser, each gateway client), and over
//! stdio a request from the server names no call it belongs to. So every call registers its
//! caller as a [`Waiter`] on the server while it runs — with an [`Asker`] when the caller can
//! answer itself (a gateway client whose app declared sampling or elicitation, the command
//! line's `call`) — and the server's request goes to the one waiting caller that can answer it.
//! When none can, it goes to the user (the [`Askers::ask_user_with`] fallback: Harbor's sidebar,
//! see `crate::asks`), naming the callers that wait. When several callers could answer —
//! Harbor cannot tell whose call the request belongs to, and handing one app's prompt to
//! another would leak it — or nobody can, the server gets an error that says so.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use tokio::sync::Notify;

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
    /// The server that asks.
    pub server: String,
    /// Who the calls waiting on the server run for (see [`Waiter::who`]).
    pub callers: Vec<String>,
}

impl ServerAsk {
    /// `method` with `params`, from no server Harbor knows (an app's side of the gateway).
    pub fn new(method: &'static str, params: Value) -> ServerAsk {
        ServerAsk { method, params, server: String::new(), callers: Vec::new() }
    }
}

/// Answers a server's requests for one waiting caller.
pub trait Asker: Send + Sync {
    /// Whether the caller can answer `method` at all (its app declared the capability).
    fn answers(&self, method: &str) -> bool;
    fn ask(&self, ask: ServerAsk) -> BoxFuture<'static, Result<Value, ErrorData>>;
}

/// A caller whose call waits on a server.
#[derive(Clone)]
pub struct Waiter {
    /// Who the call runs for, as the user reads it: `Harbor's chat`, an app's name, an origin.
    pub who: String,
    /// How it answers the server's requests itself, if it can.
    pub asker: Option<Arc<dyn Asker>>,
}

impl Waiter {
    /// A caller that cannot answer: the server's requests go to the user.
    pub fn named(who: impl Into<String>) -> Waiter {
        Waiter { who: who.into(), asker: None }
    }
}

/// A registered waiter and its registration's id.
type Waiting = (u64, Waiter);

/// The callers waiting on each server, and the user to ask when none of them can answer.
#[derive(Default)]
pub struct Askers {
    waiting: Mutex<HashMap<String, Vec<Waiting>>>,
    next: AtomicU64,
    user: OnceLock<Arc<dyn Asker>>,
    /// How many of each server's requests wait for an answer now.
    asking: Mutex<HashMap<String, usize>>,
    answered: Notify,
    /// Woken whenever a waiter leaves.
    left: Notify,
}

impl Askers {
    /// Asks `user` whatever no waiting caller can answer (set once, when the bridge opens).
    pub fn ask_user_with(&self, user: Arc<dyn Asker>) {
        let _ = self.user.set(user);
    }

    /// Counts `waiter` as waiting on `server` until the guard is dropped.
    pub fn register(self: &Arc<Self>, server: &str, waiter: Waiter) -> AskerGuard {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        self.waiting.lock().unwrap_or_else(|p| p.into_inner()).entry(server.to_owned()).or_default().push((id, waiter));
        AskerGuard { askers: self.clone(), server: server.to_owned(), id }
    }

    /// Hands `server`'s request to the one caller waiting that can answer it, else to the user.
    pub async fn ask(&self, server: &str, method: &'static str, params: Value) -> Result<Value, ErrorData> {
        let (able, callers) = self.waiters(server, method);
        let ask = ServerAsk { method, params, server: server.to_owned(), callers };
        let _asking = Asking::begin(self, server);
        match able.as_slice() {
            [one] => one.ask(ask).await,
            [] => match self.user.get().filter(|user| user.answers(method)) {
                // Asked for calls that all ended meanwhile, the user's ask closes with them.
                Some(user) if !ask.callers.is_empty() => tokio::select! {
                    answer = user.ask(ask) => answer,
                    () = self.deserted(server) => match method {
                        ELICITATION => Ok(serde_json::json!({ "action": "cancel" })),
                        _ => Err(ErrorData::invalid_request(format!("{method}: the call it was for ended"), None)),
                    },
                },
                Some(user) => user.ask(ask).await,
                None => Err(ErrorData::invalid_request(
                    format!(
                        "{method}: no app that can answer it is waiting on this server through Harbor, and no \
                         Harbor sidebar is open to ask the user"
                    ),
                    None,
                )),
            },
            _ => Err(ErrorData::invalid_request(
                format!(
                    "{method}: several apps' calls wait on this server, and Harbor cannot tell which one this is for"
                ),
                None,
            )),
        }
    }
}

impl Askers {
    /// A server's call failed because the user must visit its pages first (MCP's URL
    /// elicitation error): unless a waiting caller takes elicitation itself (it gets the error
    /// with the pages), each page is shown to the user, who may open it and call again. The
    /// asks outlive the failed call; they close when the user answers or they expire.
    pub fn show_visits(&self, server: &str, elicitations: &Value) {
        let (able, callers) = self.waiters(server, ELICITATION);
        let Some(user) = self.user.get().filter(|user| able.is_empty() && user.answers(ELICITATION)) else {
            return;
        };
        for page in elicitations.as_array().into_iter().flatten().filter(|e| e["mode"] == "url") {
            let ask = ServerAsk {
                method: ELICITATION,
                params: page.clone(),
                server: server.to_owned(),
                callers: callers.clone(),
            };
            tokio::spawn(user.ask(ask));
        }
    }

    /// The askers of the callers waiting on `server` that answer `method`, and who all the
    /// waiting callers are (each once, in the order they came).
    /// Who the calls waiting on `server` run for, each once.
    pub fn callers(&self, server: &str) -> Vec<String> {
        self.waiters(server, "").1
    }

    fn waiters(&self, server: &str, method: &str) -> (Vec<Arc<dyn Asker>>, Vec<String>) {
        let waiting = self.waiting.lock().unwrap_or_else(|p| p.into_inner());
        let all = waiting.get(server).map(Vec::as_slice).unwrap_or_default();
        let able = all.iter().filter_map(|(_, w)| w.asker.clone()).filter(|asker| asker.answers(method)).collect();
        let mut callers: Vec<String> = Vec::new();
        for (_, waiter) in all {
            if !callers.contains(&waiter.who) {
                callers.push(waiter.who.clone());
            }
        }
        (able, callers)
    }

    /// Returns once no caller waits on `server`.
    async fn deserted(&self, server: &str) {
        loop {
            let left = self.left.notified();
            if !self.waiting.lock().unwrap_or_else(|p| p.into_inner()).contains_key(server) {
                return;
            }
            left.await;
        }
    }

    /// Whether one of `server`'s requests waits for an answer now.
    pub fn is_asking(&self, server: &str) -> bool {
        self.asking.lock().unwrap_or_else(|p| p.into_inner()).get(server).is_some_and(|n| *n > 0)
    }

    /// Returns once none of `server`'s requests waits for an answer. A call's timeout does not
    /// run out while its server waits on a person (see `registry::request_with`).
    pub async fn answered(&self, server: &str) {
        loop {
            // Created before the look, so an answer in between still wakes it.
            let answered = self.answered.notified();
            if !self.is_asking(server) {
                return;
            }
            answered.await;
        }
    }
}

/// Counts one of a server's requests as waiting for an answer until dropped.
struct Asking<'a> {
    askers: &'a Askers,
    server: String,
}

impl<'a> Asking<'a> {
    fn begin(askers: &'a Askers, server: &str) -> Asking<'a> {
        *askers.asking.lock().unwrap_or_else(|p| p.into_inner()).entry(server.to_owned()).or_default() += 1;
        Asking { askers, server: server.to_owned() }
    }
}

impl Drop for Asking<'_> {
    fn drop(&mut self) {
        let mut asking = self.askers.asking.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = asking.get_mut(&self.server) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                asking.remove(&self.server);
            }
        }
        drop(asking);
        self.askers.answered.notify_waiters();
    }
}

/// Unregisters a waiter when dropped.
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
        drop(waiting);
        self.askers.left.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::FutureExt;
    use serde_json::json;

    struct Echo(&'static str, &'static str);

    impl Asker for Echo {
        fn answers(&self, method: &str) -> bool {
            method == self.1
        }
        fn ask(&self, ask: ServerAsk) -> BoxFuture<'static, Result<Value, ErrorData>> {
            let who = self.0;
            async move { Ok(json!({ "who": who, "params": ask.params, "callers": ask.callers })) }.boxed()
        }
    }

    fn able(who: &'static str) -> Waiter {
        Waiter { who: who.into(), asker: Some(Arc::new(Echo(who, SAMPLING))) }
    }

    async fn sampling(askers: &Askers, server: &str) -> Result<Value, ErrorData> {
        askers.ask(server, SAMPLING, json!({"messages": []})).await
    }

    #[tokio::test]
    async fn a_request_goes_to_the_one_waiting_caller_never_to_a_guess() {
        let askers = Arc::new(Askers::default());
        assert!(sampling(&askers, "s").await.is_err(), "nobody waits");
        let first = askers.register("s", able("a"));
        assert_eq!(sampling(&askers, "s").await.unwrap()["who"], "a");
        assert!(sampling(&askers, "other").await.is_err(), "another server's request is not a's");
        assert!(askers.ask("s", ELICITATION, json!({})).await.is_err(), "a cannot answer elicitation");
        let second = askers.register("s", able("b"));
        let both = sampling(&askers, "s").await.unwrap_err();
        assert!(both.message.contains("cannot tell which"), "{both:?}");
        drop(first);
        assert_eq!(sampling(&askers, "s").await.unwrap()["who"], "b");
        drop(second);
        assert!(sampling(&askers, "s").await.is_err());
    }

    #[tokio::test]
    async fn what_no_caller_can_answer_goes_to_the_user_naming_who_waits() {
        let askers = Arc::new(Askers::default());
        let _chat = askers.register("s", Waiter::named("Harbor's chat"));
        let refused = sampling(&askers, "s").await.unwrap_err();
        assert!(refused.message.contains("no Harbor sidebar is open"), "{refused:?}");
        askers.ask_user_with(Arc::new(Echo("user", SAMPLING)));
        let _app = askers.register("s", Waiter::named("Claude"));
        let answered = sampling(&askers, "s").await.unwrap();
        assert_eq!(answered["who"], "user");
        assert_eq!(answered["callers"], json!(["Harbor's chat", "Claude"]));
        // A caller that answers itself still comes first; the user is only the fallback.
        let _app = askers.register("s", able("cli"));
        assert_eq!(sampling(&askers, "s").await.unwrap()["who"], "cli");
        // Nor does the user get what it does not answer.
        assert!(askers.ask("s", ELICITATION, json!({})).await.is_err());
    }

    struct Silent;

    impl Asker for Silent {
        fn answers(&self, _: &str) -> bool {
            true
        }
        fn ask(&self, _: ServerAsk) -> BoxFuture<'static, Result<Value, ErrorData>> {
            futures::future::pending().boxed()
        }
    }

    #[tokio::test]
    async fn the_users_ask_closes_when_every_call_it_was_for_has_ended() {
        let askers = Arc::new(Askers::default());
        askers.ask_user_with(Arc::new(Silent));
        let waiting = askers.register("s", Waiter::named("Harbor's chat"));
        let asked = tokio::spawn({
            let askers = askers.clone();
            async move { askers.ask("s", ELICITATION, json!({})).await }
        });
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        assert!(askers.is_asking("s"), "the user is being asked");
        drop(waiting);
        let answer = tokio::time::timeout(std::time::Duration::from_secs(5), asked).await.unwrap().unwrap();
        assert_eq!(answer.unwrap(), json!({"action": "cancel"}));
        assert!(!askers.is_asking("s"));
    }
}
