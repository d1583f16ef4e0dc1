//! MCP tasks (2025-11-25, SEP-1686): a tool its server runs only as a task, driven to its end,
//! and [`Tasks`] — every task running now, for the sidebar to show and stop.
//!
//! A server marks such a tool `execution.taskSupport: "required"` and answers a plain
//! `tools/call` of it with `-32601`. rmcp 3.11 reads neither the server's `tasks` capability nor
//! a tool's `execution` (it speaks the later Tasks extension, SEP-2663), so the registry learns
//! which tools need a task from that answer, once per session, and calls them through [`run`]:
//! `tools/call` with a `task` param answers with the task; `tasks/result` (which the server
//! holds until the task ends, and on which it sends its own requests — a form to fill in while
//! the task is `input_required`) runs beside a `tasks/get` poll that reports each new status as
//! progress; a stop (the caller's, or the user's `tasks.cancel`) sends `tasks/cancel`.
//!
//! A task is bounded: by the caller's own timeout when it gave one, else by the task's `ttl`
//! (at most [`LONGEST_TASK`]); past it Harbor cancels the task at the server. Each request
//! (`tasks/get`, `tasks/cancel`) has the server's usual request timeout.
//!
//! Tasks are kept in memory: a stdio server's tasks end with its process, and so with the
//! bridge. Re-attaching a remote server's task after a bridge restart is not done.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use harbor_protocol::api::tasks::{TaskStatus, TaskView, Tasks as Listed, CHANGED, KEPT_AFTER_END_MS};
use harbor_protocol::ErrorObject;
use rmcp::model::{ClientRequest, CustomRequest, JsonObject};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use super::client::{Progress, ProgressSink};
use super::error::HostError;
use super::registry::request_with;
use super::server::Live;
use crate::rpc::Notifier;

/// The lifetime Harbor asks a task to be kept for (the server may choose another).
const REQUESTED_TTL: Duration = Duration::from_secs(3600);

/// The longest Harbor waits for one task when its caller set no timeout.
pub const LONGEST_TASK: Duration = Duration::from_secs(3600);

/// The poll interval's bounds: a server's suggestion is kept within them.
const POLL_FASTEST: Duration = Duration::from_millis(250);
const POLL_SLOWEST: Duration = Duration::from_secs(5);
/// The interval when the server suggests none.
const POLL_DEFAULT: Duration = Duration::from_secs(1);

/// How many tasks ended tasks are kept for the list at most.
const KEPT_ENDED: usize = 20;

/// Every task running now and those that ended lately.
pub struct Tasks {
    notifier: Notifier,
    tracked: Mutex<Vec<Tracked>>,
}

struct Tracked {
    view: TaskView,
    /// Stops the call that waits on it.
    stop: CancellationToken,
    ended: Option<Instant>,
}

impl Tasks {
    pub fn new(notifier: Notifier) -> Tasks {
        Tasks { notifier, tracked: Mutex::default() }
    }

    /// The tasks running and those that ended within [`KEPT_AFTER_END_MS`], oldest first.
    pub fn list(&self) -> Vec<TaskView> {
        let mut tracked = self.lock();
        forget_old(&mut tracked);
        tracked.iter().map(|t| t.view.clone()).collect()
    }

    /// The user stops a running task (`tasks.cancel`).
    pub fn cancel(&self, server_id: &str, task_id: &str) -> Result<TaskView, ErrorObject> {
        let tracked = self.lock();
        let found = tracked.iter().find(|t| t.is(server_id, task_id));
        match found {
            Some(task) if task.ended.is_none() => {
                task.stop.cancel();
                Ok(task.view.clone())
            }
            Some(task) => Err(ErrorObject::invalid(format!(
                "task {task_id} of {server_id} has ended already ({})",
                task.view.status.as_str()
            ))),
            None => Err(ErrorObject::invalid(format!("{server_id} has no task {task_id} that Harbor runs"))),
        }
    }

    fn begin(&self, view: TaskView, stop: CancellationToken) {
        let mut tracked = self.lock();
        forget_old(&mut tracked);
        tracked.push(Tracked { view, stop, ended: None });
        self.publish(&tracked);
    }

    /// Records the task's status as the server reported it; `true` when it changed.
    fn update(&self, server_id: &str, task_id: &str, status: TaskStatus, message: Option<String>) -> bool {
        let mut tracked = self.lock();
        let Some(task) = tracked.iter_mut().find(|t| t.is(server_id, task_id)) else {
            return false;
        };
        if task.ended.is_some() || (task.view.status == status && task.view.status_message == message) {
            return false;
        }
        task.view.status = status;
        task.view.status_message = message;
        task.view.updated_at = crate::unix_ms();
        if status.is_terminal() {
            task.ended = Some(Instant::now());
        }
        self.publish(&tracked);
        true
    }

    /// Marks the task ended with `status`, whatever the server last said.
    fn end(&self, server_id: &str, task_id: &str, status: TaskStatus, message: Option<String>) {
        let mut tracked = self.lock();
        if let Some(task) = tracked.iter_mut().find(|t| t.is(server_id, task_id)) {
            if task.ended.is_none() {
                task.view.status = status;
                if message.is_some() {
                    task.view.status_message = message;
                }
                task.view.updated_at = crate::unix_ms();
                task.ended = Some(Instant::now());
                self.publish(&tracked);
            }
        }
    }

    /// Replaces an ended task's status message (the server's word after it ended here).
    fn amend(&self, server_id: &str, task_id: &str, message: String) {
        let mut tracked = self.lock();
        if let Some(task) = tracked.iter_mut().find(|t| t.is(server_id, task_id)) {
            task.view.status_message = Some(message);
            task.view.updated_at = crate::unix_ms();
            self.publish(&tracked);
        }
    }

    fn publish(&self, tracked: &[Tracked]) {
        let tasks = Listed { tasks: tracked.iter().map(|t| t.view.clone()).collect() };
        self.notifier.publish(CHANGED, serde_json::to_value(tasks).unwrap_or_default());
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Tracked>> {
        self.tracked.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Tracked {
    /// Whether this is `server_id`'s task `task_id` (a task is its server's by both ids).
    fn is(&self, server_id: &str, task_id: &str) -> bool {
        self.view.server_id == server_id && self.view.task_id == task_id
    }
}

/// Drops ended tasks older than [`KEPT_AFTER_END_MS`], and beyond the [`KEPT_ENDED`] newest.
fn forget_old(tracked: &mut Vec<Tracked>) {
    let kept = Duration::from_millis(KEPT_AFTER_END_MS);
    tracked.retain(|t| t.ended.is_none_or(|at| at.elapsed() < kept));
    let ended = tracked.iter().filter(|t| t.ended.is_some()).count();
    let mut surplus = ended.saturating_sub(KEPT_ENDED);
    tracked.retain(|t| {
        let drop = surplus > 0 && t.ended.is_some();
        surplus -= usize::from(drop);
        !drop
    });
}

/// One call of a tool that runs as a task.
pub struct TaskCall<'a> {
    pub server_id: &'a str,
    /// The tool's own name, and namespaced (for the user and for errors).
    pub tool: &'a str,
    pub name: &'a str,
    pub arguments: Option<JsonObject>,
    /// Each request's timeout.
    pub request_timeout: Duration,
    /// The caller's own bound on the whole task, if it set one.
    pub deadline: Option<Duration>,
    /// Who the calls waiting on the server run for.
    pub callers: Vec<String>,
}

/// Runs `call` as a task to its end and returns the tool's result (see the module's text).
pub async fn run(
    live: &Live,
    tasks: &Arc<Tasks>,
    call: TaskCall<'_>,
    cancel: &CancellationToken,
    progress: Option<ProgressSink>,
) -> Result<Value, HostError> {
    let what = format!("tool {}", call.name);
    let mut params = json!({ "name": call.tool, "task": { "ttl": REQUESTED_TTL.as_millis() as u64 } });
    if let Some(arguments) = call.arguments {
        params["arguments"] = Value::Object(arguments);
    }
    let created = request_with(live, custom("tools/call", params), call.request_timeout, cancel, None, &what).await?;
    let created = serde_json::to_value(created).unwrap_or_default();
    let Some(task) = created.get("task").and_then(Reported::read) else {
        // The server ran it at once after all: its answer is the tool's result.
        if created.get("content").is_some() || created.get("structuredContent").is_some() {
            return Ok(created);
        }
        return Err(HostError::Failed(format!(
            "{what}: the server answered the task request with neither a task nor a result"
        )));
    };
    let now = crate::unix_ms();
    let stop = cancel.child_token();
    tasks.begin(
        TaskView {
            server_id: call.server_id.to_owned(),
            task_id: task.id.clone(),
            tool: call.name.to_owned(),
            callers: call.callers,
            status: task.status,
            status_message: task.message.clone(),
            started_at: now,
            updated_at: now,
        },
        stop.clone(),
    );
    // Until the task ends here, whatever stops the wait (the caller's stop, the user's, the
    // bound, the caller going away) cancels it at the server too.
    let mut open = Open {
        peer: Some(live.peer.clone()),
        tasks: tasks.clone(),
        server_id: call.server_id.to_owned(),
        task_id: task.id.clone(),
        timeout: call.request_timeout,
        caller: cancel.clone(),
        why: None,
    };
    let mut reports = Reporter { progress, sent: 0 };
    reports.send(&task).await;

    let bound = call.deadline.unwrap_or_else(|| task.ttl.unwrap_or(LONGEST_TASK).min(LONGEST_TASK));
    let fetching = request_with(live, custom("tasks/result", json!({ "taskId": task.id })), bound, &stop, None, &what);
    let polling = poll(live, tasks, call.server_id, &task, call.request_timeout, &stop, &mut reports);
    let outcome = tokio::select! {
        outcome = fetching => outcome,
        never = polling => match never {},
    };
    match outcome {
        Ok(result) => {
            open.peer = None;
            let result = serde_json::to_value(result).unwrap_or_default();
            let failed = result.get("isError").and_then(Value::as_bool) == Some(true);
            let status = if failed { TaskStatus::Failed } else { TaskStatus::Completed };
            tasks.end(call.server_id, &task.id, status, None);
            Ok(result)
        }
        Err(HostError::Cancelled(_)) => {
            let why = open.why();
            Err(HostError::Cancelled(format!("{what} (a task, {why})")))
        }
        Err(error @ HostError::Timeout { after, .. }) => {
            open.why = Some(format!("stopped by Harbor after {} s", after.as_secs()));
            Err(error)
        }
        Err(error) => {
            open.peer = None;
            tasks.end(call.server_id, &task.id, TaskStatus::Failed, Some(error.to_string()));
            Err(error)
        }
    }
}

/// Whether a tool's result is a server saying the tool runs only as a task: MCP's `-32601` as
/// the official TypeScript SDK's `McpServer` wraps it into an error result ("MCP error -32601:
/// Tool … requires task augmentation"). Either way the tool did not run, so calling it again
/// as a task runs it once.
pub fn wants_a_task(result: &rmcp::model::CallToolResult) -> bool {
    result.is_error == Some(true)
        && result
            .content
            .iter()
            .filter_map(|c| c.as_text())
            .any(|t| t.text.starts_with("MCP error -32601:") && t.text.contains("task augmentation"))
}

/// A task that has not ended here: when dropped while still holding `peer`, it is cancelled at
/// its server (`tasks/cancel`, in a task of its own) and recorded as cancelled.
struct Open {
    peer: Option<rmcp::service::Peer<rmcp::service::RoleClient>>,
    tasks: Arc<Tasks>,
    server_id: String,
    task_id: String,
    timeout: Duration,
    /// The caller's own stop, to tell its stop from the user's.
    caller: CancellationToken,
    why: Option<String>,
}

impl Open {
    fn why(&self) -> String {
        match &self.why {
            Some(why) => why.clone(),
            None if self.caller.is_cancelled() => "stopped by its caller".into(),
            None => "stopped by the user".into(),
        }
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        let Some(peer) = self.peer.take() else { return };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
        let (tasks, server_id, task_id, timeout, why) =
            (self.tasks.clone(), self.server_id.clone(), self.task_id.clone(), self.timeout, self.why());
        tasks.end(&server_id, &task_id, TaskStatus::Cancelled, Some(why.clone()));
        runtime.spawn(async move {
            let asked = peer.send_request(custom("tasks/cancel", json!({ "taskId": task_id })));
            let told = match tokio::time::timeout(timeout, asked).await {
                Ok(Ok(answer)) => serde_json::to_value(answer).ok().as_ref().and_then(Reported::read),
                _ => None,
            };
            let said = match told {
                Some(task) => task.message.unwrap_or_else(|| format!("the server says it is {}", task.status.as_str())),
                None => "the server did not confirm".into(),
            };
            tasks.amend(&server_id, &task_id, format!("{why}; {said}"));
        });
    }
}

/// Polls `tasks/get` until stopped, recording and reporting each new status. Never returns on
/// its own: the result's arrival (or a stop) ends it.
async fn poll(
    live: &Live,
    tasks: &Tasks,
    server_id: &str,
    first: &Reported,
    timeout: Duration,
    stop: &CancellationToken,
    reports: &mut Reporter,
) -> std::convert::Infallible {
    let mut every = first.poll_every;
    let what = format!("task {} of {server_id}", first.id);
    loop {
        tokio::time::sleep(every).await;
        let asked = request_with(live, custom("tasks/get", json!({ "taskId": first.id })), timeout, stop, None, &what);
        // A poll that fails is tried again at the next tick: `tasks/result` decides the outcome.
        let Ok(answer) = asked.await else { continue };
        let Some(now) = Reported::read(&serde_json::to_value(answer).unwrap_or_default()) else { continue };
        every = now.poll_every;
        if now.id == first.id && tasks.update(server_id, &first.id, now.status, now.message.clone()) {
            reports.send(&now).await;
        }
    }
}

/// Each new status as a progress report: a count that only grows (MCP's progress must), no
/// total, and the status in words.
struct Reporter {
    progress: Option<ProgressSink>,
    sent: u32,
}

impl Reporter {
    async fn send(&mut self, task: &Reported) {
        let Some(sink) = &self.progress else { return };
        self.sent += 1;
        let message = match (&task.message, task.status) {
            (Some(message), TaskStatus::InputRequired) => format!("waiting for your answer: {message}"),
            (Some(message), _) => message.clone(),
            (None, status) => format!("task {}", status.as_str().replace('_', " ")),
        };
        let report = Progress::report(f64::from(self.sent), None, Some(message));
        let _ = sink.send(report).await;
    }
}

/// A task as a server reports it (`CreateTaskResult.task`, `tasks/get`, `tasks/cancel`),
/// read leniently: 2025-11-25 names (`ttl`, `pollInterval`) or SEP-2663's (`ttlMs`,
/// `pollIntervalMs`).
#[derive(Clone, Debug, PartialEq)]
struct Reported {
    id: String,
    status: TaskStatus,
    message: Option<String>,
    ttl: Option<Duration>,
    poll_every: Duration,
}

/// The longest task id or status message kept (a hostile server's megabyte id is refused).
const LONGEST_ID: usize = 256;
const LONGEST_MESSAGE: usize = 1000;

impl Reported {
    fn read(task: &Value) -> Option<Reported> {
        let id = task.get("taskId")?.as_str().filter(|id| !id.is_empty() && id.len() <= LONGEST_ID)?.to_owned();
        let status = TaskStatus::parse(task.get("status")?.as_str()?)?;
        let message = task.get("statusMessage").and_then(Value::as_str).map(|m| shorten(m, LONGEST_MESSAGE));
        let millis = |names: [&str; 2]| names.iter().find_map(|n| task.get(*n).and_then(Value::as_u64));
        let ttl = millis(["ttl", "ttlMs"]).map(Duration::from_millis);
        let poll_every = millis(["pollInterval", "pollIntervalMs"])
            .map_or(POLL_DEFAULT, Duration::from_millis)
            .clamp(POLL_FASTEST, POLL_SLOWEST);
        Some(Reported { id, status, message, ttl, poll_every })
    }
}

fn shorten(text: &str, longest: usize) -> String {
    match text.char_indices().nth(longest) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}

fn custom(method: &str, params: Value) -> ClientRequest {
    ClientRequest::CustomRequest(CustomRequest::new(method, Some(params)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_task_reads_in_either_revisions_names_and_a_hostile_one_is_refused() {
        let legacy = json!({"taskId": "t1", "status": "working", "statusMessage": "Gathering sources...",
                            "createdAt": "2025-11-25T10:30:00Z", "ttl": 300000, "pollInterval": 1000});
        let read = Reported::read(&legacy).unwrap();
        assert_eq!(read.ttl, Some(Duration::from_secs(300)));
        assert_eq!((read.status, read.poll_every), (TaskStatus::Working, Duration::from_secs(1)));
        let newer = json!({"taskId": "t2", "status": "input_required", "ttlMs": 5000, "pollIntervalMs": 1});
        let read = Reported::read(&newer).unwrap();
        assert_eq!((read.ttl, read.poll_every), (Some(Duration::from_secs(5)), POLL_FASTEST), "a 1 ms poll is slowed");
        let slow = json!({"taskId": "t3", "status": "working", "pollInterval": 86_400_000});
        assert_eq!(Reported::read(&slow).unwrap().poll_every, POLL_SLOWEST);

        assert_eq!(Reported::read(&json!({"taskId": "t4", "status": "done"})), None, "an unknown status");
        assert_eq!(Reported::read(&json!({"taskId": "", "status": "working"})), None, "an empty id");
        assert_eq!(Reported::read(&json!({"taskId": "x".repeat(10_000), "status": "working"})), None, "a huge id");
        let wordy = json!({"taskId": "t5", "status": "working", "statusMessage": "é".repeat(5000)});
        assert_eq!(Reported::read(&wordy).unwrap().message.unwrap().chars().count(), LONGEST_MESSAGE + 1);
    }

    fn view(task: &str) -> TaskView {
        TaskView {
            server_id: "s".into(),
            task_id: task.into(),
            tool: "s/t".into(),
            callers: vec!["you".into()],
            status: TaskStatus::Working,
            status_message: None,
            started_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn the_user_stops_a_running_task_but_not_an_ended_or_unknown_one() {
        let tasks = Tasks::new(Notifier::default());
        let stop = CancellationToken::new();
        tasks.begin(view("t1"), stop.clone());
        assert!(tasks.update("s", "t1", TaskStatus::Working, Some("step 1".into())));
        assert!(!tasks.update("s", "t1", TaskStatus::Working, Some("step 1".into())), "no change, no news");
        assert_eq!(tasks.cancel("s", "t1").unwrap().status_message.as_deref(), Some("step 1"));
        assert!(stop.is_cancelled());

        tasks.end("s", "t1", TaskStatus::Cancelled, Some("stopped by the user".into()));
        assert!(!tasks.update("s", "t1", TaskStatus::Completed, None), "an ended task stays ended");
        let ended = tasks.cancel("s", "t1").unwrap_err();
        assert!(ended.message.contains("ended already (cancelled)"), "{}", ended.message);
        assert!(tasks.cancel("s", "t9").unwrap_err().message.contains("no task t9"));
        assert!(tasks.cancel("other", "t1").is_err(), "a task is another server's only by both ids");
        assert_eq!(tasks.list().len(), 1, "an ended task is still listed for a while");
    }

    #[test]
    fn only_the_newest_ended_tasks_are_kept() {
        let tasks = Tasks::new(Notifier::default());
        tasks.begin(view("running"), CancellationToken::new());
        for n in 0..KEPT_ENDED + 5 {
            let id = format!("t{n}");
            tasks.begin(view(&id), CancellationToken::new());
            tasks.end("s", &id, TaskStatus::Completed, None);
        }
        let listed = tasks.list();
        assert_eq!(listed.len(), KEPT_ENDED + 1);
        assert_eq!(listed[0].task_id, "running", "a running task is never dropped");
        assert_eq!(listed[1].task_id, "t5", "the oldest ended ones went first");
    }
}
