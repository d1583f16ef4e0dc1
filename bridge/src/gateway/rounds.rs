//! A server's requests to a 2026-07-28 app: that revision has no server-to-client requests, so
//! when a server behind Harbor asks for elicitation or sampling during the app's `tools/call`,
//! the gateway answers the call with an input-required result (SEP-2322) carrying the request;
//! the app fulfils it and calls again with its `inputResponses` and the `requestState`, which
//! resumes the same call — its server still waiting — until the server's answer is the result.
//!
//! A call still running when its window (see [`Window`]) ends is handed back as
//! [`Outcome::Running`], for the face to keep as a task of the app's (see [`super::tasks`]).
//!
//! The call runs in a task of its own between rounds. Its `requestState` is an opaque random
//! handle, never data: a round is resumed only by the client it belongs to, an unknown or
//! foreign handle is refused, and a round nobody resumes within [`ROUND_TIMEOUT`] is dropped,
//! which fails the server's request and cancels the call.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use harbor_protocol::{ErrorCode, ErrorObject};
use rmcp::ErrorData;
use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::{CancellationToken, DropGuard};

use crate::mcp::askers::{Asker, ServerAsk};
use crate::mcp::client::{relaying, Progress, ProgressSink, PROGRESS_QUEUE};

/// How long a round waits for the app to come back with its answers.
pub const ROUND_TIMEOUT: Duration = Duration::from_secs(600);

/// The calls waiting for their apps' answers, by `requestState`.
#[derive(Default)]
pub struct Rounds {
    open: Mutex<HashMap<String, Round>>,
}

/// One call between rounds.
pub(super) struct Round {
    client: String,
    pub(super) steps: mpsc::Receiver<Step>,
    /// The requests the app has been sent and not answered, by key.
    pub(super) asked: BTreeMap<String, Value>,
    pub(super) waiting: HashMap<String, oneshot::Sender<Value>>,
    /// The next request's key: keys are never reused within one call.
    pub(super) next_key: u32,
    since: Instant,
    /// Dropping the round cancels its call.
    _cancel: DropGuard,
}

impl Round {
    /// Names the server's request `method` with a fresh key; its answer goes to `answer`.
    pub(super) fn ask(&mut self, method: &str, params: Value, answer: oneshot::Sender<Value>) -> String {
        let key = format!("harbor-{}", self.next_key);
        self.next_key += 1;
        self.asked.insert(key.clone(), json!({ "method": method, "params": params }));
        self.waiting.insert(key.clone(), answer);
        key
    }

    /// Hands the app's answers to the requests waiting for them; `Err` names a key nothing
    /// waits on (and nothing is handed over then).
    pub(super) fn answer(&mut self, answers: BTreeMap<String, Value>) -> Result<(), String> {
        if let Some(unknown) = answers.keys().find(|key| !self.waiting.contains_key(*key)) {
            return Err(unknown.clone());
        }
        for (key, answer) in answers {
            self.asked.remove(&key);
            if let Some(waiting) = self.waiting.remove(&key) {
                let _ = waiting.send(answer);
            }
        }
        Ok(())
    }
}

/// How long a round waits for its call's next step before handing the call back as
/// [`Outcome::Running`]; `None` waits to the end.
pub type Window = Option<Duration>;

/// What the call did next.
pub(super) enum Step {
    Progress(Progress),
    Ask { method: &'static str, params: Value, answer: oneshot::Sender<Value> },
    Done(Result<Value, ErrorObject>),
}

/// Where a call stands for its app.
#[derive(Debug)]
pub enum Outcome {
    /// The call's result (or its failure).
    Done(Result<Value, ErrorObject>),
    /// The app must fulfil `requests` (key → `{method, params}`) and call again with `state`.
    Input { requests: BTreeMap<String, Value>, state: String },
    /// The call is still running when its window ended.
    Running(Running),
}

/// A call still running, with whatever it asked and was not answered.
pub struct Running(pub(super) Round);

impl std::fmt::Debug for Running {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Running").field("asked", &self.0.asked.len()).finish()
    }
}

impl Rounds {
    /// Starts `call` — given an asker that turns the server's requests (those in `answers`)
    /// into rounds, where its progress goes, and its cancellation — and returns its first
    /// outcome within `window`; the progress reported meanwhile goes to `emit`.
    pub async fn start<F, E, G>(
        &self,
        client: &str,
        answers: Vec<&'static str>,
        cancel: &CancellationToken,
        window: Window,
        call: impl FnOnce(Arc<dyn Asker>, ProgressSink, CancellationToken) -> F,
        emit: E,
    ) -> Outcome
    where
        F: std::future::Future<Output = Result<Value, ErrorObject>> + Send + 'static,
        E: FnMut(Progress) -> G,
        G: std::future::Future<Output = ()>,
    {
        let (steps, receiver) = mpsc::channel(PROGRESS_QUEUE);
        let stop = CancellationToken::new();
        let asker: Arc<dyn Asker> = Arc::new(RoundAsker { steps: steps.clone(), answers });
        let (progress, reports) = mpsc::channel(PROGRESS_QUEUE);
        let running = call(asker, progress, stop.clone());
        tokio::spawn(async move {
            // Every report before the answer goes out before it (see `relaying`).
            let reported = |report| {
                let steps = steps.clone();
                async move {
                    let _ = steps.send(Step::Progress(report)).await;
                }
            };
            let outcome = relaying(running, reports, reported).await;
            let _ = steps.send(Step::Done(outcome)).await;
        });
        let round = Round {
            client: client.to_owned(),
            steps: receiver,
            asked: BTreeMap::new(),
            waiting: HashMap::new(),
            next_key: 1,
            since: Instant::now(),
            _cancel: stop.drop_guard(),
        };
        self.next(round, cancel, window, emit).await
    }

    /// The app's answers for round `state`: handed to the server's waiting requests, then the
    /// call's next outcome within `window` (its progress meanwhile to `emit`).
    pub async fn resume<E, G>(
        &self,
        client: &str,
        state: &str,
        answers: BTreeMap<String, Value>,
        cancel: &CancellationToken,
        window: Window,
        emit: E,
    ) -> Outcome
    where
        E: FnMut(Progress) -> G,
        G: std::future::Future<Output = ()>,
    {
        let round = {
            let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
            match open.get(state) {
                Some(round) if round.client == client => open.remove(state),
                _ => None,
            }
        };
        let Some(mut round) = round else {
            return Outcome::Done(Err(ErrorObject::invalid(
                "requestState names no call of this app that waits for input (answered already, expired, or another's)",
            )));
        };
        if let Err(unknown) = round.answer(answers) {
            self.keep(state.to_owned(), round);
            return Outcome::Done(Err(ErrorObject::invalid(format!(
                "no input request {unknown:?} waits in this call"
            ))));
        }
        if !round.waiting.is_empty() {
            // Some requests are still unanswered: the app is asked for them again.
            let requests = round.asked.clone();
            let state = state.to_owned();
            self.keep(state.clone(), round);
            return Outcome::Input { requests, state };
        }
        round.since = Instant::now();
        self.next(round, cancel, window, emit).await
    }

    /// Waits for the call's next step: its result, or the server's next request; its progress
    /// goes to `emit` meanwhile. At the end of `window` the call is handed back still running.
    async fn next<E, G>(&self, mut round: Round, cancel: &CancellationToken, window: Window, mut emit: E) -> Outcome
    where
        E: FnMut(Progress) -> G,
        G: std::future::Future<Output = ()>,
    {
        let ends = window.map(|window| tokio::time::Instant::now() + window);
        let step = loop {
            let step = tokio::select! {
                step = round.steps.recv() => step,
                // The app stopped waiting: the call is cancelled with the round.
                () = cancel.cancelled() => {
                    return Outcome::Done(Err(ErrorObject::new(ErrorCode::Aborted, "the call was cancelled")))
                }
                () = sleep_until(ends) => return Outcome::Running(Running(round)),
            };
            match step {
                Some(Step::Progress(report)) => emit(report).await,
                other => break other,
            }
        };
        match step {
            None | Some(Step::Progress(_)) => {
                Outcome::Done(Err(ErrorObject::new(ErrorCode::Internal, "the call ended without an answer")))
            }
            Some(Step::Done(outcome)) => Outcome::Done(outcome),
            Some(Step::Ask { method, params, answer }) => {
                let mut pending = vec![(method, params, answer)];
                // Requests the server sent at once go out in the same round.
                while let Ok(Step::Ask { method, params, answer }) = round.steps.try_recv() {
                    pending.push((method, params, answer));
                }
                for (method, params, answer) in pending {
                    round.ask(method, params, answer);
                }
                let state = oauth2::CsrfToken::new_random_len(24).secret().clone();
                let requests = round.asked.clone();
                self.keep(state.clone(), round);
                Outcome::Input { requests, state }
            }
        }
    }

    /// Keeps `round` for its app to resume, dropping those nobody resumed in time.
    fn keep(&self, state: String, round: Round) {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        open.retain(|_, r| r.since.elapsed() < ROUND_TIMEOUT);
        open.insert(state, round);
    }
}

/// Sleeps until `at`, or for ever without one.
async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// The asker a round's call gives the server's requests to.
struct RoundAsker {
    steps: mpsc::Sender<Step>,
    answers: Vec<&'static str>,
}

impl Asker for RoundAsker {
    fn answers(&self, method: &str) -> bool {
        self.answers.contains(&method)
    }

    fn ask(&self, ask: ServerAsk) -> BoxFuture<'static, Result<Value, ErrorData>> {
        let steps = self.steps.clone();
        Box::pin(async move {
            let (answer, answered) = oneshot::channel();
            let method = ask.method;
            if steps.send(Step::Ask { method, params: ask.params, answer }).await.is_err() {
                return Err(ErrorData::internal_error(format!("{method}: the app's call has ended"), None));
            }
            answered.await.map_err(|_| {
                ErrorData::internal_error(format!("{method}: the app did not come back with an answer"), None)
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mcp::askers::ELICITATION;

    async fn ignore(_: Progress) {}

    /// A call that asks once and answers with what it was told.
    async fn asking_call(asker: Arc<dyn Asker>) -> Result<Value, ErrorObject> {
        let ask = ServerAsk::new(ELICITATION, json!({"message": "name?"}));
        let told = asker.ask(ask).await.map_err(|e| ErrorObject::new(ErrorCode::Internal, e.message))?;
        Ok(json!({ "told": told }))
    }

    #[tokio::test]
    async fn a_call_that_asks_is_resumed_by_its_own_app_with_the_answer() {
        let rounds = Rounds::default();
        let never = CancellationToken::new();
        let first =
            rounds.start("cursor", vec![ELICITATION], &never, None, |asker, _, _| asking_call(asker), ignore).await;
        let Outcome::Input { requests, state } = first else { panic!("{first:?}") };
        let (key, request) = requests.into_iter().next().unwrap();
        assert_eq!(request["method"], ELICITATION);
        // Another app, an unknown handle or an unknown key resume nothing.
        let foreign = rounds.resume("other", &state, BTreeMap::new(), &never, None, ignore).await;
        assert!(matches!(foreign, Outcome::Done(Err(_))), "{foreign:?}");
        let forged = rounds.resume("cursor", "forged", BTreeMap::new(), &never, None, ignore).await;
        assert!(matches!(forged, Outcome::Done(Err(_))));
        let stray = BTreeMap::from([("harbor-99".to_owned(), json!({}))]);
        assert!(matches!(rounds.resume("cursor", &state, stray, &never, None, ignore).await, Outcome::Done(Err(_))));
        // Unanswered, the app is asked again; answered, the call finishes with the answer.
        let again = rounds.resume("cursor", &state, BTreeMap::new(), &never, None, ignore).await;
        assert!(matches!(again, Outcome::Input { .. }), "{again:?}");
        let answer = BTreeMap::from([(key, json!({"action": "accept", "content": {"name": "Ada"}}))]);
        let done = rounds.resume("cursor", &state, answer, &never, None, ignore).await;
        let Outcome::Done(Ok(result)) = done else { panic!("{done:?}") };
        assert_eq!(result["told"]["content"]["name"], "Ada");
        assert!(rounds.open.lock().unwrap().is_empty(), "nothing is kept once the call is done");
    }

    #[tokio::test]
    async fn a_call_that_does_not_ask_is_simply_done() {
        let rounds = Rounds::default();
        let never = CancellationToken::new();
        let outcome =
            rounds.start("cursor", vec![], &never, None, |_, _, _| async { Ok(json!({"content": []})) }, ignore).await;
        assert!(matches!(outcome, Outcome::Done(Ok(_))), "{outcome:?}");
    }
}
