//! Tasks the gateway keeps for its apps (the MCP Tasks extension, `io.modelcontextprotocol/tasks`,
//! SEP-2663): a 2026-07-28 app that declares the extension on its `tools/call` gets the result
//! at once when the call ends within [`TASK_AFTER`], and otherwise a task — a handle it polls
//! with `tasks/get` (status, then the result or the error inline), answers with `tasks/update`
//! when the server behind asks something (`input_required` with `inputRequests`), and stops
//! with `tasks/cancel`. The decision is the gateway's, per call, as the extension has it.
//!
//! A task is its app's alone: its id is random, and another app asking for it hears that there
//! is no such task, as for an id never given. The call keeps running in the bridge whether or
//! not the app is connected (the point of a task); a task is forgotten [`TTL`] after it was
//! created, and a call still running then is cancelled. An app holds at most
//! [`MOST_PER_APP`] running tasks: past that its calls are answered when they end, as without
//! the extension, so a flood of slow calls cannot pile up state.
//!
//! While a task runs, the server's progress reports become its `statusMessage` (the extension
//! sends no progress for tasks).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use harbor_protocol::ErrorObject;
use rmcp::model::{
    CallToolResponse, CreateTaskResult, DetailedTask, InputRequest, InputRequests, InputResponses, JsonObject, Task,
    TaskPayload, TaskStatus,
};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::rounds::{Round, Running, Step};

/// How long a call runs before its app gets a task instead of waiting for the result.
pub const TASK_AFTER: Duration = Duration::from_secs(1);

/// How long a task is kept from its creation (its `ttlMs`).
pub const TTL: Duration = Duration::from_secs(3600);

/// The interval the app is asked to poll at.
const POLL_EVERY: Duration = Duration::from_millis(500);

/// The running tasks one app may hold.
pub const MOST_PER_APP: usize = 64;

/// The tasks of every app of one gateway endpoint.
#[derive(Default)]
pub struct AppTasks {
    open: Mutex<HashMap<String, Arc<Kept>>>,
}

/// One task.
struct Kept {
    id: String,
    client: String,
    created: Instant,
    created_at: String,
    /// Ends the call (`tasks/cancel`, or the task's end of life).
    stop: CancellationToken,
    state: Mutex<State>,
}

struct State {
    status: TaskStatus,
    message: Option<String>,
    updated_at: String,
    /// The call's result (`completed`) or its JSON-RPC error (`failed`).
    ended: Option<JsonObject>,
    /// The call, while it runs: what its server asked and waits for.
    round: Option<Round>,
}

impl AppTasks {
    /// Whether `client` may be given another task now.
    pub fn has_room(&self, client: &str) -> bool {
        let mut open = self.lock();
        forget_expired(&mut open);
        let running = open.values().filter(|t| t.client == client && !t.state().status.is_terminal()).count();
        running < MOST_PER_APP
    }

    /// Keeps `running` as a task of `client`'s, driven to its end in a task of its own; `finish`
    /// turns the call's outcome into the app's answer. Returns the task as created.
    pub fn adopt(
        &self,
        client: &str,
        running: Running,
        finish: fn(Result<Value, ErrorObject>) -> Result<CallToolResponse, rmcp::ErrorData>,
    ) -> CreateTaskResult {
        let Running(mut round) = running;
        let id = oauth2::CsrfToken::new_random_len(24).secret().clone();
        let now = crate::iso_time(crate::unix_ms());
        let status = if round.waiting.is_empty() { TaskStatus::Working } else { TaskStatus::InputRequired };
        let steps = std::mem::replace(&mut round.steps, tokio::sync::mpsc::channel(1).1);
        let kept = Arc::new(Kept {
            id: id.clone(),
            client: client.to_owned(),
            created: Instant::now(),
            created_at: now.clone(),
            stop: CancellationToken::new(),
            state: Mutex::new(State { status, message: None, updated_at: now, ended: None, round: Some(round) }),
        });
        let created = CreateTaskResult::new(kept.task());
        {
            let mut open = self.lock();
            forget_expired(&mut open);
            open.insert(id, kept.clone());
        }
        tokio::spawn(drive(kept, steps, finish));
        created
    }

    /// `tasks/get`: the task as it stands, with its result, error or outstanding requests.
    pub fn get(&self, client: &str, id: &str) -> Result<DetailedTask, ErrorObject> {
        let kept = self.find(client, id)?;
        let task = kept.task();
        let state = kept.state();
        let payload = match (state.status, &state.ended, &state.round) {
            (TaskStatus::Completed, Some(result), _) => TaskPayload::Completed { result: result.clone() },
            (TaskStatus::Failed, Some(error), _) => TaskPayload::Failed { error: error.clone() },
            (TaskStatus::Cancelled, ..) => TaskPayload::Cancelled,
            (TaskStatus::InputRequired, _, Some(round)) => {
                TaskPayload::InputRequired { input_requests: requests(&round.asked) }
            }
            _ => TaskPayload::Working,
        };
        Ok(DetailedTask::new(task, payload))
    }

    /// `tasks/update`: the app's answers go to the requests waiting for them. Keys that wait
    /// for nothing (never asked, answered already) are ignored, as the extension says.
    pub fn update(&self, client: &str, id: &str, answers: InputResponses) -> Result<(), ErrorObject> {
        let kept = self.find(client, id)?;
        let mut state = kept.state();
        let Some(round) = state.round.as_mut() else { return Ok(()) };
        let waited: BTreeMap<String, Value> =
            answers.into_iter().filter(|(key, _)| round.waiting.contains_key(key)).collect();
        let _ = round.answer(waited);
        if round.waiting.is_empty() && state.status == TaskStatus::InputRequired {
            state.status = TaskStatus::Working;
            state.touch();
        }
        Ok(())
    }

    /// `tasks/cancel`: the call is stopped; the task then reads `cancelled` (or how it ended,
    /// if it ended first).
    pub fn cancel(&self, client: &str, id: &str) -> Result<(), ErrorObject> {
        let kept = self.find(client, id)?;
        kept.stop.cancel();
        Ok(())
    }

    fn find(&self, client: &str, id: &str) -> Result<Arc<Kept>, ErrorObject> {
        let mut open = self.lock();
        forget_expired(&mut open);
        match open.get(id) {
            Some(kept) if kept.client == client => Ok(kept.clone()),
            // Another app's task is not there for this one.
            _ => Err(ErrorObject::invalid(format!(
                "no task {id:?} of this app: it was never created, is another app's, or expired"
            ))),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Kept>>> {
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Drops tasks past their [`TTL`]; a call still running is stopped.
fn forget_expired(open: &mut HashMap<String, Arc<Kept>>) {
    open.retain(|_, kept| {
        let alive = kept.created.elapsed() < TTL;
        if !alive {
            kept.stop.cancel();
        }
        alive
    });
}

impl Kept {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The task's common fields.
    fn task(&self) -> Task {
        let state = self.state();
        let mut task = Task::new(self.id.clone(), state.status, self.created_at.clone(), state.updated_at.clone())
            .with_ttl_ms(TTL.as_millis() as u64)
            .with_poll_interval_ms(POLL_EVERY.as_millis() as u64);
        task.status_message = state.message.clone();
        task
    }
}

impl State {
    fn touch(&mut self) {
        self.updated_at = crate::iso_time(crate::unix_ms());
    }
}

/// Runs the task's call to its end: its progress becomes the status message, its server's
/// requests wait in the task for `tasks/update`, and its outcome (or a stop) ends the task.
async fn drive(
    kept: Arc<Kept>,
    mut steps: tokio::sync::mpsc::Receiver<Step>,
    finish: fn(Result<Value, ErrorObject>) -> Result<CallToolResponse, rmcp::ErrorData>,
) {
    let outcome = loop {
        let step = tokio::select! {
            step = steps.recv() => step,
            () = kept.stop.cancelled() => break None,
        };
        let mut state = kept.state();
        match step {
            Some(Step::Progress(report)) => {
                state.message = report.message.or_else(|| {
                    Some(match report.total {
                        Some(total) => format!("{} of {total}", report.progress),
                        None => format!("{} done", report.progress),
                    })
                });
            }
            Some(Step::Ask { method, params, answer }) => {
                if let Some(round) = state.round.as_mut() {
                    round.ask(method, params, answer);
                }
                state.status = TaskStatus::InputRequired;
            }
            Some(Step::Done(outcome)) => break Some(outcome),
            None => {
                break Some(Err(ErrorObject::new(harbor_protocol::ErrorCode::Internal, "the call ended unanswered")))
            }
        }
        state.touch();
    };
    let mut state = kept.state();
    // Dropping the round cancels a call that has not ended.
    state.round = None;
    match outcome.map(finish) {
        None => state.status = TaskStatus::Cancelled,
        Some(Ok(CallToolResponse::Complete(result))) => {
            (state.status, state.ended) = (TaskStatus::Completed, Some(object(result)));
        }
        Some(Ok(_)) => {
            let error = rmcp::ErrorData::internal_error("the call's answer was not a tool result", None);
            (state.status, state.ended) = (TaskStatus::Failed, Some(object(error)));
        }
        Some(Err(error)) => (state.status, state.ended) = (TaskStatus::Failed, Some(object(error))),
    }
    state.touch();
}

/// A result or error as the JSON object the task carries.
fn object(value: impl serde::Serialize) -> JsonObject {
    match serde_json::to_value(value) {
        Ok(Value::Object(object)) => object,
        _ => JsonObject::new(),
    }
}

/// The requests a task waits on, as MCP's `inputRequests` (those that do not decode are left
/// out: they were the server's, already checked when they were asked).
fn requests(asked: &BTreeMap<String, Value>) -> InputRequests {
    asked
        .iter()
        .filter_map(|(key, asked)| serde_json::from_value::<InputRequest>(asked.clone()).ok().map(|r| (key.clone(), r)))
        .collect()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use harbor_protocol::{ErrorCode, ErrorObject};
    use rmcp::model::{CallToolResponse, CallToolResult, ContentBlock, TaskStatus};
    use serde_json::{json, Value};
    use tokio_util::sync::CancellationToken;

    use super::AppTasks;
    use crate::gateway::rounds::{Outcome, Rounds, Running};
    use crate::mcp::askers::{Asker, ServerAsk, ELICITATION};

    fn finish(outcome: Result<Value, ErrorObject>) -> Result<CallToolResponse, rmcp::ErrorData> {
        match outcome {
            Ok(value) => Ok(serde_json::from_value::<CallToolResult>(value).unwrap().into()),
            Err(error) => Err(rmcp::ErrorData::internal_error(error.message, None)),
        }
    }

    async fn ignore(_: crate::mcp::client::Progress) {}

    /// Starts `call` (given its asker and its stop) with a 10 ms window and returns it running
    /// (each call here takes far longer than that, so that a loaded machine still sees it run).
    async fn running<F>(call: impl FnOnce(Arc<dyn Asker>, CancellationToken) -> F) -> Running
    where
        F: std::future::Future<Output = Result<Value, ErrorObject>> + Send + 'static,
    {
        let never = CancellationToken::new();
        let window = Some(std::time::Duration::from_millis(10));
        let rounds = Rounds::default();
        match rounds.start("app", vec![ELICITATION], &never, window, |asker, _, stop| call(asker, stop), ignore).await {
            Outcome::Running(running) => running,
            other => panic!("{other:?}"),
        }
    }

    async fn until(tasks: &AppTasks, id: &str, status: TaskStatus) -> rmcp::model::DetailedTask {
        for _ in 0..1000 {
            let task = tasks.get("app", id).unwrap();
            if task.status() == status {
                return task;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("the task never became {status:?}: {:?}", tasks.get("app", id));
    }

    #[tokio::test]
    async fn a_task_asks_its_app_takes_the_answer_and_ends_with_the_result() {
        let tasks = AppTasks::default();
        let call = running(|asker, _| async move {
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            let asked = ServerAsk::new(
                ELICITATION,
                json!({"mode": "form", "message": "name?",
                "requestedSchema": {"type": "object", "properties": {"name": {"type": "string"}}}}),
            );
            let told = asker.ask(asked).await.map_err(|e| ErrorObject::new(ErrorCode::Internal, e.message))?;
            let name = told["content"]["name"].as_str().unwrap_or("nobody").to_owned();
            Ok(serde_json::to_value(CallToolResult::success(vec![ContentBlock::text(format!("hello {name}"))]))
                .unwrap())
        })
        .await;
        let created = tasks.adopt("app", call, finish);
        let id = created.task.task_id.clone();
        assert_eq!(created.task.status, TaskStatus::Working);
        assert!(created.task.created_at.ends_with('Z'), "{}", created.task.created_at);

        let waiting = serde_json::to_value(until(&tasks, &id, TaskStatus::InputRequired).await).unwrap();
        let requests = waiting["inputRequests"].as_object().unwrap();
        let (key, asked) = requests.iter().next().unwrap();
        assert_eq!(asked["method"], "elicitation/create", "{waiting}");

        // Another app sees no such task, and can neither answer nor stop it.
        assert!(tasks.get("other", &id).is_err());
        assert!(tasks.update("other", &id, [(key.clone(), json!({}))].into()).is_err());
        assert!(tasks.cancel("other", &id).is_err());
        // A key that waits for nothing is ignored; the task still waits.
        tasks.update("app", &id, [("harbor-99".to_owned(), json!({"action": "accept"}))].into()).unwrap();
        assert_eq!(tasks.get("app", &id).unwrap().status(), TaskStatus::InputRequired);

        let answer = json!({"action": "accept", "content": {"name": "Ada"}});
        tasks.update("app", &id, [(key.clone(), answer)].into()).unwrap();
        let done = serde_json::to_value(until(&tasks, &id, TaskStatus::Completed).await).unwrap();
        assert_eq!(done["result"]["content"][0]["text"], "hello Ada", "{done}");
        assert!(tasks.get("app", "forged").is_err(), "an id never given");
    }

    #[tokio::test]
    async fn a_cancelled_task_stops_its_call_and_a_failed_one_carries_the_error() {
        let tasks = AppTasks::default();
        let stopped = Arc::new(tokio::sync::Notify::new());
        let told = stopped.clone();
        let call = running(|_, stop| async move {
            tokio::select! {
                () = stop.cancelled() => told.notify_one(),
                () = tokio::time::sleep(std::time::Duration::from_secs(600)) => {}
            }
            Ok(json!({"content": []}))
        })
        .await;
        let id = tasks.adopt("app", call, finish).task.task_id;
        tasks.cancel("app", &id).unwrap();
        until(&tasks, &id, TaskStatus::Cancelled).await;
        tokio::time::timeout(std::time::Duration::from_secs(5), stopped.notified())
            .await
            .expect("the call itself is stopped");

        let failing = running(|_, _| async {
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            Err(ErrorObject::new(ErrorCode::Internal, "the server broke"))
        })
        .await;
        let id = tasks.adopt("app", failing, finish).task.task_id;
        let failed = serde_json::to_value(until(&tasks, &id, TaskStatus::Failed).await).unwrap();
        assert_eq!(failed["error"]["message"], "the server broke", "{failed}");
    }

    #[tokio::test]
    async fn an_app_holds_a_bounded_number_of_running_tasks() {
        let tasks = AppTasks::default();
        for _ in 0..super::MOST_PER_APP {
            assert!(tasks.has_room("app"));
            let call = running(|_, _| async {
                tokio::time::sleep(std::time::Duration::from_secs(600)).await;
                Ok(json!({}))
            })
            .await;
            tasks.adopt("app", call, finish);
        }
        assert!(!tasks.has_room("app"), "the app's calls are answered when they end from now on");
        assert!(tasks.has_room("other"), "another app is not held back");
    }
}
