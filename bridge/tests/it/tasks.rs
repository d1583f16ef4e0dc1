//! Tools that run only as MCP tasks (2025-11-25): the real server-everything's
//! `simulate-research-query` is driven to its result through a plain `tools.call`, with its
//! status as progress, a form it asks mid-task, a stop by the user and a bound by the caller;
//! and a hostile task server's tasks are bounded and its nonsense refused. And the gateway's own
//! tasks (the Tasks extension, SEP-2663): a 2026-07-28 app (rmcp's client) that declares it gets
//! a task for a long call, polls it, and cancels it.

use crate::support;

use std::time::Duration;

use serde_json::{json, Value};
use support::{eventually, everything_launch, fixture_launch, Client};

const RESEARCH: &str = "everything/simulate-research-query";

async fn with_server(tag: &str, id: &str, launch: Value) -> Client {
    let client = Client::start(tag).await;
    client.ok("servers.add", json!({"id": id, "launch": launch})).await;
    client.ok("servers.start", json!({"id": id})).await;
    client.wait_for_state(id, "running", Duration::from_secs(30)).await;
    client
}

/// The tasks the last `tasks.changed` listed.
fn shown(client: &Client) -> Vec<Value> {
    client.notifications("tasks.changed").last().and_then(|n| n["tasks"].as_array().cloned()).unwrap_or_default()
}

async fn first_task(client: &Client, status: &str) -> Value {
    eventually(&format!("a task is shown {status}"), Duration::from_secs(20), || {
        shown(client).iter().any(|t| t["status"] == status)
    })
    .await;
    shown(client).into_iter().find(|t| t["status"] == status).unwrap()
}

fn text_of(result: &Value) -> String {
    result["content"].as_array().into_iter().flatten().filter_map(|c| c["text"].as_str()).collect::<Vec<_>>().join("\n")
}

fn messages(events: &[Value]) -> Vec<String> {
    events.iter().filter(|e| e["type"] == "progress").filter_map(|e| e["message"].as_str().map(str::to_owned)).collect()
}

#[tokio::test]
async fn a_tool_that_runs_only_as_a_task_is_driven_to_its_result_with_its_status_as_progress() {
    let client = with_server("tasks-run", "everything", everything_launch("stdio")).await;
    let call = client.send("tools.call", json!({"tool": RESEARCH, "args": {"topic": "tide pools"}})).await;
    let running = first_task(&client, "working").await;
    assert_eq!(running["tool"], RESEARCH);
    assert_eq!(running["serverId"], "everything");
    assert_eq!(running["callers"], json!(["you"]), "{running}");
    assert_eq!(client.ok("tasks.list", json!({})).await[0]["taskId"], running["taskId"], "tasks.list shows it too");

    let (outcome, events) = client.wait(call).await;
    let result = outcome.unwrap_or_else(|e| panic!("the task's result: {e}"));
    assert!(text_of(&result).contains("Research Report: tide pools"), "{result}");
    let said = messages(&events);
    assert!(said.iter().any(|m| m.contains("Gathering sources")), "{said:?}");
    assert!(said.iter().any(|m| m.contains("Synthesizing findings") || m.contains("Generating report")), "{said:?}");
    let progress: Vec<f64> = events.iter().filter_map(|e| e["progress"].as_f64()).collect();
    assert!(progress.windows(2).all(|w| w[0] < w[1]), "progress only grows: {progress:?}");

    let listed = client.ok("tasks.list", json!({})).await;
    assert_eq!(listed[0]["status"], "completed", "{listed}");
    // Known as a task tool now: a second call goes straight to a task, and works as well.
    let again = client.ok("tools.call", json!({"tool": RESEARCH, "args": {"topic": "kelp"}})).await;
    assert!(text_of(&again).contains("Research Report: kelp"));
    assert_eq!(client.ok("tasks.list", json!({})).await.as_array().unwrap().len(), 2);
    client.finish().await;
}

#[tokio::test]
async fn a_form_the_task_asks_reaches_the_user_and_the_answer_the_task() {
    let client = with_server("tasks-ask", "everything", everything_launch("stdio")).await;
    let args = json!({"topic": "python", "ambiguous": true});
    let call = client.send("tools.call", json!({"tool": RESEARCH, "args": args})).await;
    eventually("the task's question is shown", Duration::from_secs(20), || {
        client.notifications("asks.changed").last().is_some_and(|n| n["asks"].as_array().is_some_and(|a| !a.is_empty()))
    })
    .await;
    let ask = client.notifications("asks.changed").last().unwrap()["asks"][0].clone();
    assert_eq!((ask["serverId"].as_str(), ask["kind"].as_str()), (Some("everything"), Some("form")), "{ask}");
    let waiting = first_task(&client, "input_required").await;
    assert!(waiting["statusMessage"].as_str().unwrap().contains("multiple interpretations"), "{waiting}");
    client
        .ok("asks.answer", json!({"askId": ask["askId"], "action": "accept", "content": {"interpretation": "snake"}}))
        .await;
    let (outcome, events) = client.wait(call).await;
    let report = text_of(&outcome.unwrap());
    assert!(report.contains("Clarification**: snake"), "{report}");
    assert!(messages(&events).iter().any(|m| m.starts_with("waiting for your answer")), "{:?}", messages(&events));
    client.finish().await;
}

#[tokio::test]
async fn the_user_stops_a_running_task_and_its_server_is_told() {
    let client = with_server("tasks-stop", "everything", everything_launch("stdio")).await;
    let call = client.send("tools.call", json!({"tool": RESEARCH, "args": {"topic": "moss"}})).await;
    let running = first_task(&client, "working").await;
    let which = json!({"serverId": "everything", "taskId": running["taskId"]});

    // A web page can neither list nor stop the user's tasks.
    let page = support::page("https://evil.example", 3);
    for (method, params) in [("tasks.list", json!({})), ("tasks.cancel", which.clone())] {
        let (outcome, _) = client.call_as(&page, method, params).await;
        assert_eq!(outcome.unwrap_err()["code"], "ERR_PERMISSION_DENIED", "{method} from a page");
    }
    let unknown = client.err("tasks.cancel", json!({"serverId": "everything", "taskId": "not-a-task"})).await;
    assert_eq!(unknown["code"], "ERR_INVALID_REQUEST");

    client.ok("tasks.cancel", which.clone()).await;
    let (outcome, _) = client.wait(call).await;
    let stopped = outcome.unwrap_err();
    assert_eq!(stopped["code"], "ERR_ABORTED", "{stopped}");
    assert!(stopped["message"].as_str().unwrap().contains("stopped by the user"), "{stopped}");
    let ended = client.ok("tasks.list", json!({})).await[0].clone();
    assert_eq!(ended["status"], "cancelled", "{ended}");
    // The server confirms it holds the task as cancelled (its answer to `tasks/cancel`).
    eventually("the server's confirmation is recorded", Duration::from_secs(5), || {
        shown(&client)
            .first()
            .and_then(|t| t["statusMessage"].as_str().map(str::to_owned))
            .is_some_and(|m| m.starts_with("stopped by the user; ") && !m.contains("did not confirm"))
    })
    .await;
    let again = client.err("tasks.cancel", which).await;
    assert!(again["message"].as_str().unwrap().contains("ended already"), "{again}");

    // The server keeps serving.
    let fine = client.ok("tools.call", json!({"tool": "everything/echo", "args": {"message": "still here"}})).await;
    assert!(text_of(&fine).contains("still here"));
    client.finish().await;
}

#[tokio::test]
async fn a_caller_that_set_a_timeout_bounds_the_whole_task() {
    let client = with_server("tasks-bound", "everything", everything_launch("stdio")).await;
    let call = json!({"tool": RESEARCH, "args": {"topic": "reefs"}, "timeoutMs": 1500});
    let started = std::time::Instant::now();
    let error = client.err("tools.call", call).await;
    assert_eq!(error["code"], "ERR_TOOL_TIMEOUT", "{error}");
    assert!(started.elapsed() < Duration::from_secs(4), "the 4 s task was not waited for: {:?}", started.elapsed());
    eventually("the task is cancelled", Duration::from_secs(10), || {
        shown(&client).iter().any(|t| t["status"] == "cancelled")
    })
    .await;
    client.finish().await;
}

#[tokio::test]
async fn a_hostile_task_server_is_bounded_and_its_nonsense_refused() {
    let client = with_server("tasks-hostile", "tasky", fixture_launch("task_server.py")).await;
    // A task that never ends, with no timeout of the caller's: the server's own request
    // timeout bounds each poll, and the caller's stop ends it and tells the server.
    let call = client.send("tools.call", json!({"tool": "tasky/forever", "args": {}})).await;
    let running = first_task(&client, "working").await;
    assert_eq!(running["statusMessage"].as_str().unwrap().chars().count(), 1001, "a huge message is cut");
    let seen = || async { text_of(&client.ok("tools.call", json!({"tool": "tasky/seen", "args": {}})).await) };
    let task_id = running["taskId"].as_str().unwrap().to_owned();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert!(seen().await.contains(&format!("tasks/get {task_id}")), "it is polled");
    client.cancel(call).await;
    let (outcome, _) = client.wait(call).await;
    assert_eq!(outcome.unwrap_err()["code"], "ERR_ABORTED");
    let mut told = String::new();
    for _ in 0..50 {
        told = seen().await;
        if told.contains(&format!("tasks/cancel {task_id}")) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(told.contains(&format!("tasks/cancel {task_id}")), "the server is told: {told}");
    eventually("the task is recorded as cancelled, with the server's word", Duration::from_secs(5), || {
        shown(&client).iter().any(|t| {
            t["status"] == "cancelled" && t["statusMessage"].as_str().is_some_and(|m| m.contains("cancelled as asked"))
        })
    })
    .await;

    // A task handle that is not one: a clear error, and nothing is tracked.
    let bogus = client.err("tools.call", json!({"tool": "tasky/bogus", "args": {}})).await;
    assert_eq!(bogus["code"], "ERR_TOOL_FAILED");
    assert!(bogus["message"].as_str().unwrap().contains("neither a task nor a result"), "{bogus}");
    // A tool the server does not know stays "not found", not a task.
    let missing = client.err("tools.call", json!({"tool": "tasky/gone", "args": {}})).await;
    assert_eq!(missing["code"], "ERR_TOOL_FAILED", "{missing}");
    assert!(missing["message"].as_str().unwrap().contains("unknown tool"), "{missing}");
    assert_eq!(client.ok("tasks.list", json!({})).await.as_array().unwrap().len(), 1, "only the real task");
    client.finish().await;
}

/// An app: rmcp's client, on the gateway's HTTP face.
type App = rmcp::service::RunningService<rmcp::RoleClient, rmcp::model::ClientConfig>;

/// An rmcp client on 2026-07-28 (`server/discover`), declaring the Tasks extension when `tasks`.
async fn app_on_2026(url: &str, key: &str, tasks: bool) -> App {
    use rmcp::model::{ClientCapabilities, ClientConfig, Implementation, ProtocolVersion};
    use rmcp::service::{ClientLifecycleMode, ClientServiceExt};
    use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
    let capabilities =
        if tasks { ClientCapabilities::builder().enable_tasks().build() } else { ClientCapabilities::default() };
    let info = ClientConfig::new(capabilities, Implementation::new("app", "1"));
    let http = harbor_bridge::http::client_builder().build().unwrap();
    let config = StreamableHttpClientTransportConfig::with_uri(url.to_owned()).auth_header(key.to_owned());
    let lifecycle = ClientLifecycleMode::Discover { preferred_versions: vec![ProtocolVersion::V_2026_07_28] };
    info.serve_with_lifecycle(rmcp::transport::StreamableHttpClientTransport::with_client(http, config), lifecycle)
        .await
        .expect("the gateway answers server/discover")
}

async fn call_once(app: &App, tool: &str, arguments: Value) -> rmcp::model::CallToolResponse {
    let params =
        rmcp::model::CallToolRequestParams::new(tool.to_owned()).with_arguments(arguments.as_object().unwrap().clone());
    app.call_tool_once(params).await.unwrap_or_else(|e| panic!("{tool}: {e}"))
}

/// Polls `tasks/get` until the task leaves `working`, returning every status message seen.
async fn poll_to_end(app: &App, id: &str) -> (Value, Vec<String>) {
    let mut said = Vec::new();
    for _ in 0..300 {
        let got = app.get_task(rmcp::model::GetTaskParams::new(id)).await.unwrap();
        let got = serde_json::to_value(got).unwrap();
        if let Some(message) = got["statusMessage"].as_str() {
            said.push(message.to_owned());
        }
        if got["status"] != "working" {
            return (got, said);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the task never ended");
}

#[tokio::test]
async fn a_2026_app_that_takes_tasks_gets_one_for_a_long_call_and_polls_it_to_its_result() {
    use rmcp::model::CallToolResponse;
    let client = with_server("tasks-gateway", "everything", everything_launch("stdio")).await;
    let url = client.ok("gateway.http.set", json!({"enabled": true, "port": 0})).await["http"]["url"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut keys = Vec::new();
    for name in ["app", "other"] {
        let added =
            client.ok("gateway.clients.add", json!({"name": name, "allow": ["everything"], "ratePerMin": 600})).await;
        keys.push(added["key"].as_str().unwrap().to_owned());
    }
    let app = app_on_2026(&url, &keys[0], true).await;
    let other = app_on_2026(&url, &keys[1], true).await;
    let declares = app.peer_info().unwrap().capabilities.supports_tasks();
    assert!(declares, "the gateway declares the Tasks extension: {:?}", app.peer_info());

    // A quick call is answered at once.
    let quick = call_once(&app, "everything__echo", json!({"message": "at once"})).await;
    assert!(matches!(quick, CallToolResponse::Complete(_)), "{quick:?}");

    // A long one becomes a task, polled to its result; its progress reads as its status.
    let long = json!({"duration": 4, "steps": 4});
    let CallToolResponse::Task(created) =
        call_once(&app, "everything__trigger-long-running-operation", long.clone()).await
    else {
        panic!("a four-second call becomes a task");
    };
    let id = created.task.task_id.clone();
    assert_eq!(created.task.ttl_ms, Some(3_600_000));
    // Another app is told there is no such task, and cannot stop it.
    let foreign = other.get_task(rmcp::model::GetTaskParams::new(id.clone())).await.unwrap_err();
    assert!(foreign.to_string().contains("no task"), "{foreign}");
    assert!(other.cancel_task(rmcp::model::CancelTaskParams::new(id.clone())).await.is_err());

    let (ended, said) = poll_to_end(&app, &id).await;
    assert_eq!(ended["status"], "completed", "{ended}");
    let report = text_of(&ended["result"]);
    assert!(report.contains("Long running operation completed"), "{ended}");
    assert!(said.iter().any(|m| m.contains(" of 4") || m.contains("step")), "progress as status: {said:?}");

    // An app without the extension waits for the same call's result, as before.
    let plain = app_on_2026(&url, &keys[1], false).await;
    let waited =
        call_once(&plain, "everything__trigger-long-running-operation", json!({"duration": 2, "steps": 2})).await;
    assert!(matches!(waited, CallToolResponse::Complete(_)), "{waited:?}");

    // A cancelled task ends cancelled, and the server keeps serving.
    let CallToolResponse::Task(created) =
        call_once(&app, "everything__trigger-long-running-operation", json!({"duration": 60, "steps": 60})).await
    else {
        panic!("a minute-long call becomes a task");
    };
    app.cancel_task(rmcp::model::CancelTaskParams::new(created.task.task_id.clone())).await.unwrap();
    let (stopped, _) = poll_to_end(&app, &created.task.task_id).await;
    assert_eq!(stopped["status"], "cancelled", "{stopped}");
    let fine = call_once(&app, "everything__echo", json!({"message": "still here"})).await;
    assert!(matches!(fine, CallToolResponse::Complete(_)), "{fine:?}");

    // Each call is audited as the app's, the task's too.
    let audit = client.ok("audit.list", json!({"origin": "gateway:app"})).await;
    let long_calls = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["tool"].as_str().is_some_and(|t| t.contains("trigger-long-running-operation")))
        .count();
    assert_eq!(long_calls, 2, "{audit}");
    client.finish().await;
}
