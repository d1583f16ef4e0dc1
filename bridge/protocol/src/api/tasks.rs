//! `tasks.*`: the tool calls Harbor runs as MCP tasks (2025-11-25 tasks, SEP-1686) — a server's
//! long-running tool that answers with a task handle and is then polled for its status and
//! fetched for its result.
//!
//! The bridge keeps every task running now and those that ended in the last
//! [`KEPT_AFTER_END_MS`], and publishes [`CHANGED`] with all of them whenever one starts,
//! changes status or ends. So a sidebar that is closed and opened again (`tasks.list`) shows the
//! tasks its chat started, and any sidebar can stop one (`tasks.cancel`).

use serde::{Deserialize, Serialize};

crate::methods! {
    /// The tasks running and those that ended lately, oldest first.
    TasksList = "tasks.list", Extension, super::Empty => Vec<TaskView>;
    /// Stops a running task: the call waiting on it fails with `ERR_ABORTED` and its server is
    /// sent `tasks/cancel`. A task that ended already (or is unknown) is refused with
    /// `ERR_INVALID_REQUEST`.
    TasksCancel = "tasks.cancel", Extension, TaskRef => TaskView;
}

/// The notification sent whenever a task starts, changes or ends: `{"tasks": [TaskView…]}`.
pub const CHANGED: &str = "tasks.changed";

/// How long an ended task stays listed.
pub const KEPT_AFTER_END_MS: u64 = 300_000;

/// `tasks.changed`'s params.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Tasks {
    pub tasks: Vec<TaskView>,
}

/// One task, as the user reads it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskView {
    pub server_id: String,
    /// The server's own id for it.
    pub task_id: String,
    /// The tool, namespaced (`serverId/toolName`).
    pub tool: String,
    /// Who the calls waiting on the server run for when it started (`you`, `Harbor's chat`, an
    /// app's name, a site's origin); more than one when calls of several waited (a server's
    /// answer does not say whose call it is).
    pub callers: Vec<String>,
    pub status: TaskStatus,
    /// The server's words on where it is (`Gathering sources…`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_message: Option<String>,
    /// When it started and when it last changed (Unix milliseconds, Harbor's clock).
    pub started_at: u64,
    pub updated_at: u64,
}

/// `{"serverId", "taskId"}`: one task.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TaskRef {
    pub server_id: String,
    pub task_id: String,
}

/// A task's status, as MCP names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    Working,
    /// The server waits for an answer from the user (its request is shown as an ask).
    InputRequired,
    Completed,
    Failed,
    Cancelled,
}

impl TaskStatus {
    /// MCP's name for it.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Working => "working",
            TaskStatus::InputRequired => "input_required",
            TaskStatus::Completed => "completed",
            TaskStatus::Failed => "failed",
            TaskStatus::Cancelled => "cancelled",
        }
    }

    /// MCP's `status` string, if it is one.
    pub fn parse(status: &str) -> Option<TaskStatus> {
        [Self::Working, Self::InputRequired, Self::Completed, Self::Failed, Self::Cancelled]
            .into_iter()
            .find(|known| known.as_str() == status)
    }

    /// Whether the task has ended: its status no longer changes.
    pub fn is_terminal(self) -> bool {
        matches!(self, TaskStatus::Completed | TaskStatus::Failed | TaskStatus::Cancelled)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_task_reads_as_mcp_names_its_status() {
        let view = TaskView {
            server_id: "everything".into(),
            task_id: "t-1".into(),
            tool: "everything/simulate-research-query".into(),
            callers: vec!["Harbor's chat".into()],
            status: TaskStatus::InputRequired,
            status_message: Some("Which one?".into()),
            started_at: 1,
            updated_at: 2,
        };
        assert_eq!(
            serde_json::to_value(&view).unwrap(),
            json!({"serverId": "everything", "taskId": "t-1", "tool": "everything/simulate-research-query",
                   "callers": ["Harbor's chat"], "status": "input_required", "statusMessage": "Which one?",
                   "startedAt": 1, "updatedAt": 2})
        );
        for status in ["working", "input_required", "completed", "failed", "cancelled"] {
            assert_eq!(TaskStatus::parse(status).map(TaskStatus::as_str), Some(status));
        }
        assert_eq!(TaskStatus::parse("done"), None);
        assert!(TaskStatus::Cancelled.is_terminal() && !TaskStatus::InputRequired.is_terminal());
    }
}
