//! The tool calls running as MCP tasks, above every panel: each names its tool, whom the call
//! runs for and where the server says it is, with a Stop button while it runs (the bridge's
//! `mcp::tasks`; every open sidebar shows the same ones, and one opened again shows them as
//! they are). A task that ended stays a minute with how it ended, then leaves.

use harbor_protocol::api::tasks::{TaskRef, TaskStatus, TaskView, TasksCancel};
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::bus::Bus;

/// How long an ended task stays shown.
const SHOWN_AFTER_END_MS: f64 = 60_000.0;

#[component]
pub fn TasksPanel(bus: Bus) -> impl IntoView {
    let tasks = bus.tasks();
    let shown = Memo::new(move |_| {
        let now = js_sys::Date::now();
        tasks
            .get()
            .into_iter()
            .filter(|t| !t.status.is_terminal() || now - (t.updated_at as f64) < SHOWN_AFTER_END_MS)
            .collect::<Vec<_>>()
    });
    view! {
        <section class="tasks" aria-label="Tasks" hidden=move || shown.get().is_empty()>
            <For each=move || shown.get() key=|t| (t.server_id.clone(), t.task_id.clone(), t.status, t.status_message.clone()) let:task>
                <TaskRow bus=bus task=task/>
            </For>
        </section>
    }
}

#[component]
fn TaskRow(bus: Bus, task: TaskView) -> impl IntoView {
    let failure = RwSignal::new(None::<String>);
    let stopping = RwSignal::new(false);
    let which = TaskRef { server_id: task.server_id.clone(), task_id: task.task_id.clone() };
    let stop = move |_| {
        let which = which.clone();
        stopping.set(true);
        spawn_local(async move {
            // On success the task ends everywhere (`tasks.changed`) and this row shows it.
            if let Err(error) = bus.call::<TasksCancel>(which).await {
                failure.set(Some(error.message));
                stopping.set(false);
            }
        });
    };
    let (state, class) = match task.status {
        TaskStatus::Working => ("Running", "task running"),
        TaskStatus::InputRequired => ("Waiting for you", "task waiting"),
        TaskStatus::Completed => ("Done", "task done"),
        TaskStatus::Failed => ("Failed", "task failed"),
        TaskStatus::Cancelled => ("Stopped", "task stopped"),
    };
    let running = !task.status.is_terminal();
    let callers = (!task.callers.is_empty()).then(|| format!(" · for {}", task.callers.join(", ")));
    let label = format!("Stop task {} of {}", task.tool, task.server_id);
    view! {
        <article class=class aria-label=format!("Task {}: {state}", task.tool)>
            <div class="task-head">
                {running.then(|| view! { <progress aria-label=format!("{}: {state}", task.tool)></progress> })}
                <span class="task-tool" title=task.tool.clone()>{task.tool.clone()}</span>
                <span class="task-state">{state}</span>
                {running.then(|| view! {
                    <button type="button" class="stop" aria-label=label on:click=stop disabled=move || stopping.get()>"Stop"</button>
                })}
            </div>
            <p class="task-message">{task.status_message.clone().unwrap_or_default()}<span class="muted">{callers}</span></p>
            {move || failure.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
        </article>
    }
}
