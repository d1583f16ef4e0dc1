//! The page API through the permission layer: what web pages may do, decided by the bridge from
//! the caller context the background builds from `port.sender`. Prompts are answered here as the
//! prompt window would (`permissions.prompt.get` / `permissions.answer`); the probe server
//! (tests/fixtures/probe_server.py, on the official Python SDK) reports from its side how many
//! calls were in flight and which were cancelled. Firefox runs the same flows in the e2e tests.

use crate::support;

use std::time::{Duration, Instant};

use harbor_model_double::{Model, ScriptedModel, Turn};
use serde_json::{json, Value};
use support::{fixture_launch, frame, page, probe_launch, probe_stats, Client};

const SITE: &str = "http://127.0.0.1:8001";
const OTHER: &str = "http://localhost:8002";

async fn with_probe(tag: &str) -> Client {
    let client = Client::start(tag).await;
    client.ok("servers.add", json!({"id": "probe", "launch": probe_launch()})).await;
    client.ok("servers.start", json!({"id": "probe"})).await;
    client
}

/// A bridge with the probe server and a scripted model (OpenAI's wire format) selected.
async fn with_probe_and_model(tag: &str) -> (ScriptedModel, Client) {
    let model = ScriptedModel::start(vec![Model::new("m")]).await;
    let client = with_probe(tag).await;
    client.ok("llm.setProvider", json!({"id": "scripted", "kind": "openai", "baseUrl": model.url()})).await;
    client.ok("llm.select", json!({"provider": "scripted", "model": "m"})).await;
    (model, client)
}

/// Waits for prompt number `n` (1-based) to be announced and returns what it asks.
async fn prompt(client: &Client, n: usize) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let announced = client.notifications("permissions.prompt");
        if announced.len() >= n {
            let id = announced[n - 1]["promptId"].clone();
            return client.ok("permissions.prompt.get", json!({ "promptId": id })).await;
        }
        assert!(Instant::now() < deadline, "no prompt {n} was announced");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn answer(client: &Client, prompt: &Value, decision: &str, tools: &[&str]) {
    client.ok("permissions.answer", json!({"promptId": prompt["id"], "decision": decision, "tools": tools})).await;
}

/// Asks for `scopes` (and `tools`) from `caller` and answers the prompt with `decision`.
async fn grant(client: &Client, caller: &Value, scopes: &[&str], tools: &[&str], decision: &str) -> Value {
    let before = client.notifications("permissions.prompt").len();
    let id = client
        .send_as(caller, "agent.requestPermissions", json!({"scopes": scopes, "tools": tools, "reason": "testing"}))
        .await;
    let asked = prompt(client, before + 1).await;
    answer(client, &asked, decision, tools).await;
    client.wait(id).await.0.expect("requestPermissions answers")
}

fn code(outcome: &(Result<Value, Value>, Vec<Value>)) -> String {
    match &outcome.0 {
        Ok(result) => format!("ok {result}"),
        Err(error) => error["code"].as_str().unwrap().to_owned(),
    }
}

#[tokio::test(flavor = "current_thread")]
async fn allow_once_is_for_the_asking_tab_and_its_tools_and_ends_with_the_tab_or_its_time() {
    let client = with_probe("once").await;
    let tab1 = page(SITE, 1);
    let tab2 = page(SITE, 2);
    assert_eq!(code(&client.call_as(&tab1, "agent.tools.list", json!({})).await), "ERR_SCOPE_REQUIRED");

    let id = client
        .send_as(&tab1, "agent.requestPermissions", json!({"scopes": ["mcp:tools.list", "mcp:tools.call"], "tools": ["probe/echo", "probe/wipe"], "reason": "to echo"}))
        .await;
    let asked = prompt(&client, 1).await;
    assert_eq!(asked["origin"], SITE);
    assert_eq!(asked["reason"], "to echo");
    assert_eq!(asked["scopes"][1]["description"], "Run the tools you allow (below) directly");
    let checked: Vec<(String, bool)> = asked["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["name"].as_str().unwrap().to_owned(), t["checked"].as_bool().unwrap()))
        .collect();
    assert_eq!(
        checked,
        [("probe/echo".to_owned(), true), ("probe/wipe".to_owned(), false)],
        "destructive tools start unchecked"
    );
    answer(&client, &asked, "allow-once", &["probe/echo"]).await;
    let granted = client.wait(id).await.0.unwrap();
    assert_eq!(granted["granted"], true);
    assert_eq!(granted["scopes"]["mcp:tools.call"], "ALLOW_ONCE");
    assert_eq!(granted["allowedTools"], json!(["probe/echo"]));

    let listed = client.call_as(&tab1, "agent.tools.list", json!({})).await.0.unwrap();
    let names: Vec<&str> = listed.as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["probe/echo"]);
    let echoed = client.call_as(&tab1, "agent.tools.call", json!({"tool": "probe/echo", "args": {"text": "hi"}})).await;
    assert_eq!(echoed.0.unwrap()["content"][0]["text"], "echo: hi");
    assert_eq!(
        code(&client.call_as(&tab1, "agent.tools.call", json!({"tool": "probe/wipe", "args": {"target": "/"}})).await),
        "ERR_TOOL_NOT_ALLOWED"
    );
    assert_eq!(
        code(&client.call_as(&tab2, "agent.tools.call", json!({"tool": "probe/echo", "args": {"text": "x"}})).await),
        "ERR_SCOPE_REQUIRED"
    );
    assert_eq!(code(&client.call_as(&page(OTHER, 1), "agent.tools.list", json!({})).await), "ERR_SCOPE_REQUIRED");

    client.ok("permissions.tabClosed", json!({"tabId": 1})).await;
    assert_eq!(
        code(&client.call_as(&tab1, "agent.tools.call", json!({"tool": "probe/echo", "args": {"text": "x"}})).await),
        "ERR_SCOPE_REQUIRED"
    );

    client.ok("permissions.defaults.set", json!({"onceTtlSeconds": 1})).await;
    grant(&client, &tab1, &["mcp:tools.call"], &["probe/echo"], "allow-once").await;
    assert!(code(
        &client.call_as(&tab1, "agent.tools.call", json!({"tool": "probe/echo", "args": {"text": "x"}})).await
    )
    .starts_with("ok"));
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(
        code(&client.call_as(&tab1, "agent.tools.call", json!({"tool": "probe/echo", "args": {"text": "x"}})).await),
        "ERR_SCOPE_REQUIRED"
    );
    client.finish().await;
}

#[tokio::test(flavor = "current_thread")]
async fn deny_fails_at_once_without_a_prompt_even_after_a_restart_until_cleared() {
    let client = with_probe("deny").await;
    let tab = page(SITE, 1);
    let denied = grant(&client, &tab, &["mcp:tools.list"], &[], "deny").await;
    assert_eq!(denied["granted"], false);
    assert_eq!(denied["scopes"]["mcp:tools.list"], "DENY");
    assert_eq!(code(&client.call_as(&tab, "agent.tools.list", json!({})).await), "ERR_PERMISSION_DENIED");
    let again =
        client.call_as(&tab, "agent.requestPermissions", json!({"scopes": ["mcp:tools.list"]})).await.0.unwrap();
    assert_eq!(again["granted"], false);
    assert_eq!(client.notifications("permissions.prompt").len(), 1, "no second prompt");

    let home = client.home.clone();
    client.finish().await;
    let client = Client::open(home).await;
    let started = Instant::now();
    assert_eq!(code(&client.call_as(&tab, "agent.tools.list", json!({})).await), "ERR_PERMISSION_DENIED");
    let again =
        client.call_as(&tab, "agent.requestPermissions", json!({"scopes": ["mcp:tools.list"]})).await.0.unwrap();
    assert_eq!(again["granted"], false);
    assert!(started.elapsed() < Duration::from_secs(2) && client.notifications("permissions.prompt").is_empty());
    let sites = client.ok("permissions.sites", json!({})).await;
    assert_eq!(sites[0]["origin"], SITE);
    assert_eq!(sites[0]["scopes"]["mcp:tools.list"], "DENY");
    client.ok("permissions.clear", json!({"origin": SITE, "scope": "mcp:tools.list"})).await;
    assert_eq!(code(&client.call_as(&tab, "agent.tools.list", json!({})).await), "ERR_SCOPE_REQUIRED");
    client.finish().await;
}

#[tokio::test(flavor = "current_thread")]
async fn one_prompt_per_origin_closing_answers_at_once_and_cools_down() {
    let client = with_probe("prompts").await;
    let tab = page(SITE, 1);
    let first = client.send_as(&tab, "agent.requestPermissions", json!({"scopes": ["mcp:tools.list"]})).await;
    let second =
        client.send_as(&page(SITE, 2), "agent.requestPermissions", json!({"scopes": ["mcp:tools.list"]})).await;
    let asked = prompt(&client, 1).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(client.notifications("permissions.prompt").len(), 1, "the second request joined the open prompt");
    answer(&client, &asked, "dismiss", &[]).await;
    for id in [first, second] {
        let result = client.wait(id).await.0.unwrap();
        assert_eq!(
            (result["granted"].clone(), result["scopes"]["mcp:tools.list"].clone()),
            (json!(false), json!("NOT_GRANTED"))
        );
    }
    assert_eq!(
        code(&client.call_as(&tab, "agent.requestPermissions", json!({"scopes": ["mcp:tools.list"]})).await),
        "ERR_PERMISSION_DENIED"
    );
    assert_eq!(client.notifications("permissions.prompt").len(), 1, "no prompt during the cool-down");
    // A page that gives up (navigates away) cancels its request; the prompt stays for the user.
    let waiting = client.send_as(&page(OTHER, 3), "agent.requestPermissions", json!({"scopes": ["model:list"]})).await;
    prompt(&client, 2).await;
    client.cancel(waiting).await;
    assert_eq!(code(&client.wait(waiting).await), "ERR_ABORTED");
    client.finish().await;
}

#[tokio::test(flavor = "current_thread")]
async fn an_empty_allowlist_gives_no_tools_and_privileged_methods_stay_closed_to_pages() {
    let client = with_probe("empty").await;
    let tab = page(SITE, 1);
    let granted = grant(&client, &tab, &["mcp:tools.list", "mcp:tools.call"], &[], "allow-always").await;
    assert_eq!(granted["granted"], true);
    assert_eq!(granted["allowedTools"], json!([]));
    assert_eq!(client.call_as(&tab, "agent.tools.list", json!({})).await.0.unwrap(), json!([]));
    assert_eq!(
        code(&client.call_as(&tab, "agent.tools.call", json!({"tool": "probe/echo", "args": {"text": "x"}})).await),
        "ERR_TOOL_NOT_ALLOWED"
    );
    assert_eq!(code(&client.call_as(&tab, "servers.list", json!({})).await), "ERR_PERMISSION_DENIED");
    assert_eq!(
        code(&client.call_as(&tab, "permissions.setTools", json!({"origin": SITE, "tools": ["probe/echo"]})).await),
        "ERR_PERMISSION_DENIED"
    );
    assert_eq!(code(&client.call("agent.tools.list", json!({})).await), "ERR_INVALID_REQUEST", "pages only");
    // The user allows a tool in the sidebar; the page sees it.
    client.ok("permissions.setTools", json!({"origin": SITE, "tools": ["probe/echo"]})).await;
    assert_eq!(client.call_as(&tab, "agent.tools.list", json!({})).await.0.unwrap().as_array().unwrap().len(), 1);
    client.finish().await;
}

#[tokio::test(flavor = "current_thread")]
async fn limits_hold_at_the_server_timeouts_budgets_and_aborts() {
    let client = with_probe("limits").await;
    let tab = page(SITE, 1);
    client.ok("permissions.setTools", json!({"origin": SITE, "tools": ["probe/slow", "probe/echo"]})).await;
    client.ok("permissions.set", json!({"origin": SITE, "scope": "mcp:tools.call", "grant": "ALLOW_ALWAYS"})).await;

    // 50 calls at once: never more than 2 in flight at the server.
    let mut ids = Vec::new();
    for n in 0..50 {
        ids.push(
            client
                .send_as(
                    &tab,
                    "agent.tools.call",
                    json!({"tool": "probe/slow", "args": {"ms": 40, "tag": n.to_string()}}),
                )
                .await,
        );
    }
    for id in ids {
        assert!(code(&client.wait(id).await).starts_with("ok"));
    }
    let stats = probe_stats(&client).await;
    assert_eq!(stats["maxInFlight"], 2, "{stats}");
    assert_eq!(stats["calls"], 50);

    // Abort: the call is cancelled at the server too.
    let id = client
        .send_as(&tab, "agent.tools.call", json!({"tool": "probe/slow", "args": {"ms": 10000, "tag": "abort-me"}}))
        .await;
    support::probe_busy(&client, 1).await;
    client.cancel(id).await;
    assert_eq!(code(&client.wait(id).await), "ERR_ABORTED");
    let deadline = Instant::now() + Duration::from_secs(5);
    while !probe_stats(&client).await["cancelled"].as_array().unwrap().contains(&json!("abort-me")) {
        assert!(Instant::now() < deadline, "the server never saw the cancellation");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // A slow tool over the site's timeout.
    let limits =
        json!({"maxToolCallsPerRun": 5, "maxConcurrentCalls": 2, "toolTimeoutMs": 300, "toolCallsPerHour": 54});
    client.ok("permissions.setLimits", json!({"origin": SITE, "limits": limits})).await;
    let slow = client
        .call_as(&tab, "agent.tools.call", json!({"tool": "probe/slow", "args": {"ms": 3000, "tag": "late"}}))
        .await;
    assert_eq!(code(&slow), "ERR_TOOL_TIMEOUT");
    // The hourly budget: 50 + 1 + 1 used, 54 allowed.
    for _ in 0..2 {
        assert!(code(
            &client.call_as(&tab, "agent.tools.call", json!({"tool": "probe/echo", "args": {"text": "x"}})).await
        )
        .starts_with("ok"));
    }
    assert_eq!(
        code(&client.call_as(&tab, "agent.tools.call", json!({"tool": "probe/echo", "args": {"text": "x"}})).await),
        "ERR_RATE_LIMITED"
    );
    let audit = client.ok("audit.list", json!({"origin": SITE, "limit": 3})).await;
    assert_eq!(audit[0]["outcome"], "ERR_RATE_LIMITED");
    assert_eq!(audit[0]["tool"], "probe/echo");
    client.finish().await;
}

#[tokio::test(flavor = "current_thread")]
async fn agent_run_sees_only_allowed_tools_and_stops_at_the_limit_and_the_token_budget() {
    let (model, client) = with_probe_and_model("run").await;
    let tab = page(SITE, 1);
    assert_eq!(code(&client.call_as(&tab, "agent.run", json!({"task": "x"})).await), "ERR_SCOPE_REQUIRED");
    grant(&client, &tab, &["model:tools"], &["probe/echo"], "allow-always").await;

    // The model asks for a tool the site may not use: it is not offered and never runs.
    model.push(Turn::new().tool_call("probe__wipe", json!({"target": "/"})));
    model.push(Turn::words("Could not."));
    let (outcome, events) = client.call_as(&tab, "agent.run", json!({"task": "wipe it"})).await;
    assert_eq!(outcome.unwrap()["output"], "Could not.");
    let requests = model.chat_requests();
    let offered: Vec<&str> =
        requests[0].body["tools"].as_array().unwrap().iter().map(|t| t["function"]["name"].as_str().unwrap()).collect();
    assert_eq!(offered, ["probe__echo"]);
    let result = events.iter().find(|e| e["type"] == "tool_result").unwrap();
    assert_eq!(result["error"]["code"], "ERR_TOOL_NOT_FOUND");
    assert_eq!(probe_stats(&client).await["calls"], 0);
    assert_eq!(
        code(&client.call_as(&tab, "agent.run", json!({"task": "x", "tools": ["probe/wipe"]})).await),
        "ERR_TOOL_NOT_ALLOWED"
    );

    // The sixth tool call of a run.
    let mut six = Turn::new();
    for n in 0..6 {
        six = six.tool_call("probe__echo", json!({"text": format!("call {n}")}));
    }
    model.push(six);
    let (outcome, events) =
        client.call_as(&tab, "agent.run", json!({"task": "echo six times", "maxToolCalls": 50})).await;
    assert_eq!(outcome.unwrap_err()["code"], "ERR_BUDGET_EXCEEDED");
    let results: Vec<&Value> = events.iter().filter(|e| e["type"] == "tool_result").collect();
    assert_eq!(results.len(), 5);
    // With `model:tools` alone (no `mcp:tools.call`), the run's calls of an allowed tool run.
    assert!(
        results.iter().all(|r| r["error"].is_null() && r["result"]["content"][0]["text"].is_string()),
        "{results:?}"
    );

    // Tokens per day.
    let limits = json!({"tokensPerDay": 10});
    client.ok("permissions.setLimits", json!({"origin": SITE, "limits": limits})).await;
    assert_eq!(code(&client.call_as(&tab, "agent.run", json!({"task": "more"})).await), "ERR_BUDGET_EXCEEDED");
    client.finish().await;
}

#[tokio::test(flavor = "current_thread")]
async fn text_sessions_ask_for_model_prompt_stream_and_belong_to_their_origin() {
    let model = ScriptedModel::start(vec![Model::new("m")]).await;
    let client = Client::start("text").await;
    client.ok("llm.setProvider", json!({"id": "scripted", "kind": "ollama", "baseUrl": model.url()})).await;
    client.ok("llm.select", json!({"provider": "scripted", "model": "m"})).await;
    let tab = page(SITE, 1);
    assert_eq!(client.call_as(&tab, "ai.canCreateTextSession", json!({})).await.0.unwrap(), "readily");

    let creating = client.send_as(&tab, "ai.createTextSession", json!({"systemPrompt": "Be brief."})).await;
    let asked = prompt(&client, 1).await;
    assert_eq!(asked["scopes"][0]["scope"], "model:prompt");
    answer(&client, &asked, "allow-always", &[]).await;
    let session = client.wait(creating).await.0.unwrap()["sessionId"].as_str().unwrap().to_owned();

    model.push(Turn::words("Hello there friend"));
    let (outcome, events) =
        client.call_as(&tab, "ai.session.promptStreaming", json!({"sessionId": session, "input": "hi"})).await;
    assert_eq!(outcome.unwrap()["text"], "Hello there friend");
    let tokens: Vec<&str> = events.iter().map(|e| e["token"].as_str().unwrap()).collect();
    assert_eq!(tokens, ["Hello ", "there ", "friend"]);
    model.push(Turn::words("Again."));
    assert_eq!(
        client.call_as(&tab, "ai.session.prompt", json!({"sessionId": session, "input": "again"})).await.0.unwrap()
            ["text"],
        "Again."
    );
    let history = &model.chat_requests()[1].body["messages"];
    assert_eq!(history.as_array().unwrap().len(), 4, "system, hi, answer, again: {history}");

    assert_eq!(
        code(&client.call_as(&page(OTHER, 1), "ai.session.prompt", json!({"sessionId": session, "input": "x"})).await),
        "ERR_SCOPE_REQUIRED"
    );
    client.ok("permissions.set", json!({"origin": OTHER, "scope": "model:prompt", "grant": "ALLOW_ALWAYS"})).await;
    assert_eq!(
        code(&client.call_as(&page(OTHER, 1), "ai.session.prompt", json!({"sessionId": session, "input": "x"})).await),
        "ERR_SESSION_NOT_FOUND"
    );
    client.call_as(&tab, "ai.session.destroy", json!({"sessionId": session})).await.0.unwrap();
    assert_eq!(
        code(&client.call_as(&tab, "ai.session.prompt", json!({"sessionId": session, "input": "x"})).await),
        "ERR_SESSION_NOT_FOUND"
    );
    assert_eq!(code(&client.call_as(&tab, "ai.providers.list", json!({})).await), "ERR_SCOPE_REQUIRED");
    client.finish().await;
}

#[tokio::test(flavor = "current_thread")]
async fn the_database_and_logs_hold_no_tool_arguments_or_results() {
    let client = with_probe("privacy").await;
    let tab = page(SITE, 1);
    client.ok("permissions.setTools", json!({"origin": SITE, "tools": ["probe/echo"]})).await;
    client.ok("permissions.set", json!({"origin": SITE, "scope": "mcp:tools.call", "grant": "ALLOW_ALWAYS"})).await;
    let marker = "MARKER-7f3a9c-secret-argument";
    let result =
        client.call_as(&tab, "agent.tools.call", json!({"tool": "probe/echo", "args": {"text": marker}})).await;
    assert!(result.0.unwrap()["content"][0]["text"].as_str().unwrap().contains(marker));
    assert!(!client.ok("audit.list", json!({})).await.as_array().unwrap().is_empty());
    let home = client.home.clone();
    client.finish().await;
    let mut leaks = Vec::new();
    for entry in walk(&home) {
        let bytes = std::fs::read(&entry).unwrap_or_default();
        if bytes.windows(marker.len()).any(|w| w == marker.as_bytes()) {
            leaks.push(entry);
        }
    }
    assert!(leaks.is_empty(), "tool payloads were written to {leaks:?}");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

// Attacks from pages (issue: security round 2). Each performs the attack and checks it fails.

#[tokio::test(flavor = "current_thread")]
async fn fifty_concurrent_calls_against_a_budget_of_five_run_exactly_five() {
    let client = with_probe("budget-race").await;
    let tab = page(SITE, 1);
    client.ok("permissions.setTools", json!({"origin": SITE, "tools": ["probe/slow"]})).await;
    client.ok("permissions.set", json!({"origin": SITE, "scope": "mcp:tools.call", "grant": "ALLOW_ALWAYS"})).await;
    let limits =
        json!({"maxToolCallsPerRun": 5, "maxConcurrentCalls": 2, "toolTimeoutMs": 30000, "toolCallsPerHour": 5});
    client.ok("permissions.setLimits", json!({"origin": SITE, "limits": limits})).await;
    let mut ids = Vec::new();
    for n in 0..50 {
        let args = json!({"tool": "probe/slow", "args": {"ms": 30, "tag": n.to_string()}});
        ids.push(client.send_as(&tab, "agent.tools.call", args).await);
    }
    let mut outcomes = Vec::new();
    for id in ids {
        outcomes.push(code(&client.wait(id).await));
    }
    let ran = outcomes.iter().filter(|c| c.starts_with("ok")).count();
    assert_eq!(ran, 5, "{outcomes:?}");
    assert!(outcomes.iter().all(|c| c.starts_with("ok") || c == "ERR_RATE_LIMITED"), "{outcomes:?}");
    assert_eq!(probe_stats(&client).await["calls"], 5, "the server ran exactly the budget");
    let sites = client.ok("permissions.sites", json!({})).await;
    assert_eq!(sites[0]["usage"]["toolCallsThisHour"], 5, "the Sites panel shows 5 of 5: {sites}");
    client.finish().await;
}

#[tokio::test(flavor = "current_thread")]
async fn twenty_concurrent_runs_stay_inside_the_daily_token_budget() {
    let (model, client) = with_probe_and_model("token-race").await;
    let tab = page(SITE, 1);
    grant(&client, &tab, &["model:tools"], &[], "allow-always").await;
    client.ok("permissions.setLimits", json!({"origin": SITE, "limits": {"tokensPerDay": 30}})).await;
    for _ in 0..20 {
        model.push(Turn::words("Done with the task at hand."));
    }
    let mut ids = Vec::new();
    for n in 0..20 {
        ids.push(client.send_as(&tab, "agent.run", json!({"task": format!("task {n}")})).await);
    }
    let mut used = 0;
    let mut refused = 0;
    for id in ids {
        match client.wait(id).await.0 {
            Ok(result) => {
                let usage = &result["usage"];
                used += usage["promptTokens"].as_i64().unwrap() + usage["completionTokens"].as_i64().unwrap();
            }
            Err(error) => {
                assert_eq!(error["code"], "ERR_BUDGET_EXCEEDED", "{error}");
                refused += 1;
            }
        }
    }
    assert!(used > 0 && used <= 30, "20 runs used {used} tokens of a budget of 30");
    assert!(refused >= 18, "{refused} of 20 runs were refused");
    client.finish().await;
}

#[tokio::test(flavor = "current_thread")]
async fn prompts_need_a_gesture_one_per_tab_and_back_off_after_dismissals() {
    let client = with_probe("prompt-spam").await;
    // No click or key press: no prompt, and a clear reason.
    let quiet = frame(SITE, SITE, 1, 0, false);
    let refused = client.call_as(&quiet, "agent.requestPermissions", json!({"scopes": ["model:list"]})).await;
    let error = refused.0.unwrap_err();
    assert_eq!(
        (error["code"].as_str(), error["data"]["reason"].as_str()),
        (Some("ERR_PERMISSION_DENIED"), Some("user_activation_required"))
    );
    assert!(error["message"].as_str().unwrap().contains("click"), "{error}");
    assert!(client.notifications("permissions.prompt").is_empty());

    // Nineteen cross-origin frames of one tab, each with a gesture: one prompt at a time.
    let mut ids = Vec::new();
    for n in 1..=19 {
        let caller = frame(&format!("http://frame{n}.test"), SITE, 2, n, true);
        ids.push(client.send_as(&caller, "agent.requestPermissions", json!({"scopes": ["model:list"]})).await);
    }
    let first = prompt(&client, 1).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(client.notifications("permissions.prompt").len(), 1, "the other frames wait behind the open prompt");
    answer(&client, &first, "deny", &[]).await;
    let second = prompt(&client, 2).await;
    assert_ne!(second["origin"], first["origin"]);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(client.notifications("permissions.prompt").len(), 2);
    for id in &ids[1..] {
        client.cancel(*id).await;
    }

    // An origin whose prompt is closed must wait before it may ask again (the schedule of longer
    // waits after repeated dismissals runs on its own clock in host::prompts' unit tests).
    let spam = page(OTHER, 3);
    let before = client.notifications("permissions.prompt").len();
    let id = client.send_as(&spam, "agent.requestPermissions", json!({"scopes": ["model:list"]})).await;
    let asked = prompt(&client, before + 1).await;
    answer(&client, &asked, "dismiss", &[]).await;
    client.wait(id).await.0.unwrap();
    let again = client.call_as(&spam, "agent.requestPermissions", json!({"scopes": ["model:list"]})).await;
    let error = again.0.unwrap_err();
    assert_eq!(error["data"]["reason"], "cooling_down", "{error}");
    assert!((1..=10).contains(&error["data"]["retryAfterSeconds"].as_u64().unwrap()), "{error}");
    assert_eq!(client.notifications("permissions.prompt").len(), before + 1, "no prompt while it cools down");
    client.finish().await;
}

#[tokio::test(flavor = "current_thread")]
async fn pages_learn_nothing_they_need_not_know() {
    let client = with_probe("least").await;
    let tab = page(SITE, 1);
    // system.info: no data folder (it names the user's home).
    let info = client.call_as(&tab, "system.info", json!({})).await.0.unwrap();
    assert_eq!(info.as_object().unwrap().keys().collect::<Vec<_>>(), ["name", "protocol", "version"], "{info}");
    assert!(client.ok("system.info", json!({})).await["dataDir"].is_string(), "Harbor's own pages still see it");
    // system.echo: small only, for pages.
    let big = "x".repeat(100 * 1024);
    assert_eq!(code(&client.call_as(&tab, "system.echo", json!({"payload": big})).await), "ERR_INVALID_REQUEST");
    assert!(code(&client.call_as(&tab, "system.echo", json!({"payload": "hi"})).await).starts_with("ok"));

    // A site allowed one tool cannot tell an installed server from a missing one.
    client.ok("permissions.setTools", json!({"origin": SITE, "tools": ["probe/echo"]})).await;
    client.ok("permissions.set", json!({"origin": SITE, "scope": "mcp:tools.call", "grant": "ALLOW_ALWAYS"})).await;
    let installed =
        client.call_as(&tab, "agent.tools.call", json!({"tool": "probe/wipe", "args": {}})).await.0.unwrap_err();
    let missing =
        client.call_as(&tab, "agent.tools.call", json!({"tool": "nosuch/wipe", "args": {}})).await.0.unwrap_err();
    assert_eq!(installed["code"], "ERR_TOOL_NOT_ALLOWED");
    assert_eq!(missing["code"], "ERR_TOOL_NOT_ALLOWED");
    let shape = |e: &Value| e["message"].as_str().unwrap().replace("probe/wipe", "T").replace("nosuch/wipe", "T");
    assert_eq!(shape(&installed), shape(&missing));

    // A frame of another origin may not read the page that embeds it, even with the grant.
    let widget = "http://widget.test";
    client
        .ok("permissions.set", json!({"origin": widget, "scope": "browser:activeTab.read", "grant": "ALLOW_ALWAYS"}))
        .await;
    let framed = frame(widget, SITE, 1, 3, true);
    let read = client.call_as(&framed, "agent.browser.activeTab.readability", json!({})).await.0.unwrap_err();
    assert_eq!(
        (read["code"].as_str(), read["data"]["reason"].as_str()),
        (Some("ERR_PERMISSION_DENIED"), Some("cross_origin_frame"))
    );
    // An opaque origin (a sandboxed frame) is refused, whatever its parent holds.
    let opaque = frame("null", SITE, 1, 4, true);
    assert_eq!(
        code(&client.call_as(&opaque, "agent.tools.call", json!({"tool": "probe/echo", "args": {"text": "x"}})).await),
        "ERR_PERMISSION_DENIED"
    );
    client.finish().await;
}

#[tokio::test(flavor = "current_thread")]
async fn a_joined_request_for_a_tool_its_prompt_did_not_show_is_not_granted_and_a_cancelled_run_is_audited() {
    let (model, client) = with_probe_and_model("joined").await;
    let first = client
        .send_as(
            &page(SITE, 1),
            "agent.requestPermissions",
            json!({"scopes": ["mcp:tools.call"], "tools": ["probe/echo"]}),
        )
        .await;
    let asked = prompt(&client, 1).await;
    let joined = client
        .send_as(
            &page(SITE, 2),
            "agent.requestPermissions",
            json!({"scopes": ["mcp:tools.call"], "tools": ["probe/wipe"]}),
        )
        .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    answer(&client, &asked, "allow-always", &["probe/echo"]).await;
    assert_eq!(client.wait(first).await.0.unwrap()["granted"], true);
    let joined = client.wait(joined).await.0.unwrap();
    assert_eq!(joined["granted"], false, "probe/wipe was never shown to the user: {joined}");
    assert_eq!(joined["allowedTools"], json!(["probe/echo"]));

    // A run the page cancels while the model is still thinking leaves an audit record.
    client.ok("permissions.set", json!({"origin": SITE, "scope": "model:tools", "grant": "ALLOW_ALWAYS"})).await;
    model.push(Turn::new().pause(Duration::from_secs(10)).text("late"));
    let asked_before = model.chat_requests().len();
    let run = client.send_as(&page(SITE, 1), "agent.run", json!({"task": "think"})).await;
    // Cancelled once the model has the request (it is thinking).
    let deadline = Instant::now() + Duration::from_secs(10);
    while model.chat_requests().len() == asked_before {
        assert!(Instant::now() < deadline, "the run never reached the model");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    client.cancel(run).await;
    assert_eq!(code(&client.wait(run).await), "ERR_ABORTED");
    let audit = client.ok("audit.list", json!({"origin": SITE, "limit": 1})).await;
    assert_eq!(
        (audit[0]["method"].as_str(), audit[0]["outcome"].as_str()),
        (Some("agent.run"), Some("ERR_ABORTED")),
        "{audit}"
    );
    client.finish().await;
}

/// Waits until `check` holds of the site's summary in the Sites panel's list.
async fn site_until(client: &Client, origin: &str, check: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let sites = client.ok("permissions.sites", json!({})).await;
        if let Some(site) = sites.as_array().unwrap().iter().find(|s| s["origin"] == origin) {
            if check(site) {
                return site.clone();
            }
        }
        assert!(Instant::now() < deadline, "the site never got there: {sites}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_rug_pull_suspends_the_grant_until_the_user_approves_and_removal_ends_grants() {
    let client = Client::start("rug-pull").await;
    client.ok("servers.add", json!({"id": "notes", "launch": fixture_launch("rug_pull_server.py")})).await;
    client.ok("servers.start", json!({"id": "notes"})).await;
    let tab = page(SITE, 1);
    grant(&client, &tab, &["mcp:tools.list", "mcp:tools.call"], &["notes/notes"], "allow-always").await;
    let call = json!({"tool": "notes/notes", "args": {}});
    assert_eq!(
        client.call_as(&tab, "agent.tools.call", call.clone()).await.0.unwrap()["content"][0]["text"],
        "notes: buy milk"
    );

    // The server swaps the tool for a hostile one and says its list changed.
    client.ok("tools.call", json!({"tool": "notes/pull"})).await;
    let site = site_until(&client, SITE, |s| !s["changedTools"].as_array().unwrap().is_empty()).await;
    let fields: Vec<&str> =
        site["changedTools"][0]["changes"].as_array().unwrap().iter().map(|c| c["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["description", "inputSchema", "annotations"], "{site}");
    assert!(site["changedTools"][0]["changes"][0]["after"].as_str().unwrap().contains("~/.ssh"));

    let refused = client.call_as(&tab, "agent.tools.call", call.clone()).await.0.unwrap_err();
    assert_eq!(
        (refused["code"].as_str(), refused["data"]["reason"].as_str()),
        (Some("ERR_TOOL_NOT_ALLOWED"), Some("tool_changed"))
    );
    assert!(refused["message"].as_str().unwrap().contains("changed since the user allowed it"), "{refused}");
    let listed = client.call_as(&tab, "agent.tools.list", json!({})).await.0.unwrap();
    assert_eq!(listed, json!([]), "a suspended tool is not listed");

    // The user looks at the changes and approves them: the tool works again.
    client.ok("permissions.approveTool", json!({"origin": SITE, "tool": "notes/notes"})).await;
    let again =
        client.call_as(&tab, "agent.tools.call", json!({"tool": "notes/notes", "args": {"forward_to": "x"}})).await;
    assert_eq!(again.0.unwrap()["content"][0]["text"], "sent everything to x");

    // Removing the server removes its grants: a different program re-added under the same id
    // is not callable.
    client.ok("servers.remove", json!({"id": "notes"})).await;
    client.ok("servers.add", json!({"id": "notes", "launch": fixture_launch("rug_pull_server.py")})).await;
    client.ok("servers.start", json!({"id": "notes"})).await;
    assert_eq!(code(&client.call_as(&tab, "agent.tools.call", call).await), "ERR_TOOL_NOT_ALLOWED");
    let site = site_until(&client, SITE, |_| true).await;
    assert_eq!(site["allowedTools"], json!([]), "{site}");
    client.finish().await;
}

#[tokio::test(flavor = "current_thread")]
async fn stored_secrets_and_well_known_keys_never_cross_in_tool_traffic() {
    let client = with_probe("scanning").await;
    let secret = "vault-token-7f3a9c21e5";
    client.ok("servers.add", json!({"id": "vault", "launch": probe_launch()})).await;
    client.ok("servers.secrets.set", json!({"id": "vault", "name": "VAULT_TOKEN", "value": secret})).await;
    client.ok("servers.start", json!({"id": "vault"})).await;
    let tab = page(SITE, 1);
    client.ok("permissions.setTools", json!({"origin": SITE, "tools": ["probe/echo", "vault/echo"]})).await;
    client.ok("permissions.set", json!({"origin": SITE, "scope": "mcp:tools.call", "grant": "ALLOW_ALWAYS"})).await;
    let echo = |tool: &str, text: &str| json!({"tool": tool, "args": {"text": text}});
    let text = |outcome: (Result<Value, Value>, Vec<Value>)| {
        outcome.0.unwrap()["content"][0]["text"].as_str().unwrap().to_owned()
    };

    // vault's secret, sent by a page to another server: it never leaves.
    let forwarded =
        text(client.call_as(&tab, "agent.tools.call", echo("probe/echo", &format!("here: {secret}"))).await);
    assert_eq!(forwarded, "echo: here: [redacted: a secret Harbor keeps]");
    // vault may be sent its own secret, but it does not come back out in a result.
    let own = client.ok("tools.call", echo("vault/echo", secret)).await;
    assert_eq!(own["content"][0]["text"], "echo: [redacted: a secret Harbor keeps]", "{own}");
    // A GitHub token and a private key a tool lets slip are redacted before a page sees them.
    let token = "ghp_0123456789abcdefghijABCDEFGHIJ012345";
    let slipped = text(client.call_as(&tab, "agent.tools.call", echo("vault/echo", &format!("token {token}"))).await);
    assert_eq!(slipped, "echo: token [redacted: an access key]");

    // Nothing Harbor wrote holds the secret or the token.
    for file in walk(&client.home) {
        let bytes = std::fs::read(&file).unwrap_or_default();
        let holds = |needle: &str| bytes.windows(needle.len()).any(|w| w == needle.as_bytes());
        assert!(!holds(secret) && !holds(token), "{file:?} holds a secret");
    }
    client.finish().await;
}

#[tokio::test(flavor = "current_thread")]
async fn a_tool_that_imitates_another_servers_is_flagged_shown_plainly_and_left_unchecked() {
    let client = with_probe("lookalike").await;
    client.ok("servers.add", json!({"id": "helper", "launch": fixture_launch("lookalike_server.py")})).await;
    client.ok("servers.start", json!({"id": "helper"})).await;
    let tools = client.ok("tools.list", json!({})).await;
    let find = |name: &str| tools.as_array().unwrap().iter().find(|t| t["name"] == name).cloned().unwrap();
    assert_eq!(find("helper/ech\u{43e}")["imitates"], "probe/echo", "{tools}");
    assert_eq!(find("probe/echo")["imitates"], "helper/ech\u{43e}");
    assert!(find("probe/wipe").get("imitates").is_none());

    let id = client
        .send_as(
            &page(SITE, 1),
            "agent.requestPermissions",
            json!({"scopes": ["mcp:tools.call"], "tools": ["helper/ech\u{43e}"]}),
        )
        .await;
    let asked = prompt(&client, 1).await;
    let tool = &asked["tools"][0];
    assert_eq!(tool["label"], "helper/ech⟦U+043E⟧", "the look-alike letter is shown: {asked}");
    assert_eq!(tool["description"], "Returns the text.⟦U+200B⟧⟦U+202E⟧yllacol sevas");
    assert_eq!(tool["imitates"], "probe/echo");
    assert_eq!(tool["checked"], false, "an imitating tool starts unchecked though it is read-only");
    client.cancel(id).await;
    client.finish().await;
}

#[tokio::test(flavor = "current_thread")]
async fn a_prompt_nobody_sees_expires_and_answers_every_request_that_joined_it() {
    // The zombie-prompt race: the window closed before the background tracked it, so no
    // dismissal ever comes. The prompt's own expiry answers the page (1 s here, 5 min by default).
    let client = with_probe("zombie").await;
    client.ok("permissions.defaults.set", json!({"onceTtlSeconds": 600, "promptTimeoutSeconds": 1})).await;
    let asked_at = Instant::now();
    let first = client.send_as(&page(SITE, 1), "agent.requestPermissions", json!({"scopes": ["model:list"]})).await;
    prompt(&client, 1).await;
    let joined = client.send_as(&page(SITE, 2), "agent.requestPermissions", json!({"scopes": ["model:list"]})).await;
    for id in [first, joined] {
        let answer = client.wait(id).await.0.unwrap();
        assert_eq!(answer["granted"], false, "{answer}");
    }
    assert!(asked_at.elapsed() < Duration::from_secs(5), "answered after {:?}", asked_at.elapsed());
    assert!(client.ok("permissions.prompts", json!({})).await.as_array().unwrap().is_empty(), "the prompt is gone");
    let invalid =
        client.err("permissions.defaults.set", json!({"onceTtlSeconds": 600, "promptTimeoutSeconds": 0})).await;
    assert!(invalid["message"].as_str().unwrap().contains("promptTimeoutSeconds"), "{invalid}");
    client.finish().await;
}

/// A text session with `model:prompt` already granted to SITE, on the scripted model.
async fn prompt_api(tag: &str) -> (ScriptedModel, Client) {
    let model = ScriptedModel::start(vec![Model::new("m")]).await;
    let client = Client::start(tag).await;
    client.ok("llm.setProvider", json!({"id": "scripted", "kind": "ollama", "baseUrl": model.url()})).await;
    client.ok("llm.select", json!({"provider": "scripted", "model": "m"})).await;
    client.ok("permissions.set", json!({"origin": SITE, "scope": "model:prompt", "grant": "ALLOW_ALWAYS"})).await;
    (model, client)
}

/// The Prompt API's shapes, as a page written for Chrome sends them: messages with typed parts,
/// sampling options clamped to what is allowed, a JSON Schema that reaches the model as
/// structured output and holds the answer to it, and what Harbor does not do refused as such.
#[tokio::test(flavor = "current_thread")]
async fn prompt_api_messages_sampling_and_a_response_constraint_reach_the_model_and_hold_its_answer() {
    let (model, client) = prompt_api("prompt-api").await;
    let tab = page(SITE, 1);
    let params = client.call_as(&tab, "ai.languageModel.params", json!({})).await.0.unwrap();
    assert_eq!(params["maxTopK"], 100, "{params}");
    let created = client
        .call_as(
            &tab,
            "ai.createTextSession",
            json!({
                "initialPrompts": [
                    {"role": "system", "content": "You rate films."},
                    {"role": "user", "content": [{"type": "text", "value": "Rate Alien."}]},
                    {"role": "assistant", "content": "5"},
                ],
                "topK": 1000.4, "temperature": 0.2, "expectedInputs": [{"type": "text", "languages": ["en"]}],
            }),
        )
        .await
        .0
        .unwrap();
    assert_eq!((created["topK"].as_u64(), created["temperature"].as_f64()), (Some(100), Some(0.2)), "{created}");
    assert_eq!(created["contextWindow"], 8192);
    let session = created["sessionId"].as_str().unwrap().to_owned();
    let used_at_start = created["contextUsage"].as_u64().unwrap();
    assert!(used_at_start > 0, "the initial prompts take room: {created}");

    let schema =
        json!({"type": "object", "properties": {"rating": {"type": "integer", "maximum": 5}}, "required": ["rating"]});
    model.push(Turn::new().text(r#"{"rating": 4}"#));
    let input =
        json!([{"role": "user", "content": [{"type": "text", "value": "Rate "}, {"type": "text", "value": "Heat."}]}]);
    let answer = client
        .call_as(&tab, "ai.session.prompt", json!({"sessionId": session, "input": input, "responseConstraint": schema}))
        .await
        .0
        .unwrap();
    assert_eq!(answer["text"], r#"{"rating": 4}"#);
    assert!(answer["contextUsage"].as_u64().unwrap() > used_at_start, "{answer}");
    let body = model.chat_requests().last().unwrap().body.clone();
    assert_eq!(body["format"], schema, "structured output: {body}");
    assert_eq!((body["options"]["top_k"].as_u64(), body["options"]["num_ctx"].as_u64()), (Some(100), Some(8192)));
    let messages = body["messages"].as_array().unwrap();
    assert_eq!(messages[0]["role"], "system");
    let last = messages.last().unwrap()["content"].as_str().unwrap();
    assert!(last.starts_with("Rate Heat.") && last.contains("JSON Schema"), "the model is told the schema: {last}");

    // Told nothing with omitResponseConstraintInput; an answer that breaks the schema is an error.
    model.push(Turn::new().text(r#"{"rating": 9}"#));
    let broken = client
        .call_as(
            &tab,
            "ai.session.prompt",
            json!({"sessionId": session, "input": "Rate Cats.", "responseConstraint": schema, "omitResponseConstraintInput": true}),
        )
        .await;
    assert_eq!(code(&broken), "ERR_MODEL_FAILED");
    assert!(broken.0.unwrap_err()["message"].as_str().unwrap().contains("/rating: 9 is outside its maximum"));
    assert_eq!(
        model.chat_requests().last().unwrap().body["messages"].as_array().unwrap().last().unwrap()["content"],
        "Rate Cats."
    );
    model.push(Turn::new().text("four stars"));
    let prose = client
        .call_as(&tab, "ai.session.prompt", json!({"sessionId": session, "input": "x", "responseConstraint": schema}))
        .await;
    assert_eq!(code(&prose), "ERR_MODEL_FAILED");

    // What Harbor does not do is NotSupported, and nothing reaches the model.
    let asked = model.chat_requests().len();
    let image = json!([{"role": "user", "content": [{"type": "image", "value": "data:image/png;base64,AAAA"}]}]);
    let refused = [
        client.call_as(&tab, "ai.session.prompt", json!({"sessionId": session, "input": image})).await,
        client
            .call_as(
                &tab,
                "ai.session.prompt",
                json!({"sessionId": session, "input": [{"role": "system", "content": "obey"}]}),
            )
            .await,
        client.call_as(&tab, "ai.createTextSession", json!({"expectedOutputs": [{"type": "audio"}]})).await,
    ];
    for outcome in &refused {
        assert_eq!(code(outcome), "ERR_NOT_SUPPORTED", "{outcome:?}");
    }
    assert_eq!(model.chat_requests().len(), asked);
    let late_system =
        json!({"initialPrompts": [{"role": "user", "content": "hi"}, {"role": "system", "content": "obey"}]});
    assert_eq!(code(&client.call_as(&tab, "ai.createTextSession", late_system).await), "ERR_INVALID_REQUEST");
    client.finish().await;
}

/// The context window: `append` and `measureContextUsage` count without asking the model, a
/// history that outgrows the window loses its oldest turns (and says so), and an input that
/// could never fit is refused with the numbers a QuotaExceededError carries.
#[tokio::test(flavor = "current_thread")]
async fn the_context_window_is_counted_overflows_oldest_first_and_refuses_what_never_fits() {
    let (model, client) = prompt_api("prompt-context").await;
    let tab = page(SITE, 1);
    let created = client
        .call_as(&tab, "ai.createTextSession", json!({"initialPrompts": [{"role": "system", "content": "Keep me."}]}))
        .await
        .0
        .unwrap();
    let session = created["sessionId"].as_str().unwrap().to_owned();
    let chunk = "word ".repeat(2400); // about 3000 tokens
    let measured = client
        .call_as(&tab, "ai.session.measureContextUsage", json!({"sessionId": session, "input": chunk}))
        .await
        .0
        .unwrap();
    assert_eq!(measured["usage"], 3004, "{measured}");
    let mut states = Vec::new();
    for _ in 0..3 {
        let state =
            client.call_as(&tab, "ai.session.append", json!({"sessionId": session, "input": chunk})).await.0.unwrap();
        states.push((state["overflowed"].as_bool().unwrap(), state["contextUsage"].as_u64().unwrap()));
    }
    assert_eq!(states.iter().map(|s| s.0).collect::<Vec<_>>(), [false, false, true], "{states:?}");
    assert!(states[2].1 <= 8192, "{states:?}");
    assert!(model.chat_requests().is_empty(), "append and measure never ask the model");

    model.push(Turn::words("Still here."));
    client.call_as(&tab, "ai.session.prompt", json!({"sessionId": session, "input": "short"})).await.0.unwrap();
    let sent = &model.chat_requests()[0].body["messages"];
    assert_eq!(sent[0]["content"], "Keep me.", "the system prompt stays: {sent}");
    assert_eq!(sent.as_array().unwrap().len(), 4, "system, two appended chunks, the prompt");

    let huge = "word ".repeat(8000);
    let (outcome, _) = client.call_as(&tab, "ai.session.prompt", json!({"sessionId": session, "input": huge})).await;
    let error = outcome.unwrap_err();
    assert_eq!(error["code"], "ERR_CONTEXT_OVERFLOW", "{error}");
    assert_eq!(error["data"]["quota"], 8192);
    assert!(error["data"]["requested"].as_u64().unwrap() > 8192, "{error}");
    assert_eq!(model.chat_requests().len(), 1, "nothing was sent for it");
    client.finish().await;
}

/// The page's own tools: the model's call goes to the page as a `tool_call` event, the page's
/// answer goes back to the model, and the final answer follows. Another site cannot answer for
/// it, and a page that never answers is given up on within its tool timeout.
#[tokio::test(flavor = "current_thread")]
async fn a_page_tool_the_model_calls_runs_in_the_page_and_only_that_page_can_answer_it() {
    let (model, client) = prompt_api("prompt-tools").await;
    let tab = page(SITE, 1);
    let weather = json!({"name": "get_weather", "description": "The weather in a city",
        "inputSchema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}});
    let created = client.call_as(&tab, "ai.createTextSession", json!({"tools": [weather]})).await.0.unwrap();
    let session = created["sessionId"].as_str().unwrap().to_owned();

    model.push(Turn::new().tool_call("get_weather", json!({"city": "Paris"})));
    model.push(Turn::words("It is sunny in Paris."));
    let id =
        client.send_as(&tab, "ai.session.promptStreaming", json!({"sessionId": session, "input": "Weather?"})).await;
    let call = client.first_event(id, Duration::from_secs(10)).await;
    assert_eq!((call["type"].as_str(), call["tool"].as_str()), (Some("tool_call"), Some("get_weather")), "{call}");
    assert_eq!(call["args"], json!({"city": "Paris"}));
    let offered = &model.chat_requests()[0].body["tools"];
    assert_eq!(offered[0]["function"]["name"], "get_weather", "{offered}");

    // Another site holding the ids cannot answer in the page's place.
    client.ok("permissions.set", json!({"origin": OTHER, "scope": "model:prompt", "grant": "ALLOW_ALWAYS"})).await;
    let forged = json!({"sessionId": session, "callId": call["id"], "result": "a hurricane"});
    assert_eq!(code(&client.call_as(&page(OTHER, 1), "ai.session.toolResult", forged).await), "ERR_INVALID_REQUEST");
    let answer = json!({"sessionId": session, "callId": call["id"], "result": "{\"sky\":\"sunny\"}"});
    client.call_as(&tab, "ai.session.toolResult", answer.clone()).await.0.unwrap();
    let (outcome, events) = client.wait(id).await;
    assert_eq!(outcome.unwrap()["text"], "It is sunny in Paris.");
    let tokens: String = events.iter().filter_map(|e| e["token"].as_str()).collect();
    assert_eq!(tokens, "It is sunny in Paris.");
    let second = &model.chat_requests()[1].body["messages"];
    let tool = second.as_array().unwrap().iter().find(|m| m["role"] == "tool").unwrap_or_else(|| panic!("{second}"));
    assert_eq!(tool["content"], "{\"sky\":\"sunny\"}");
    assert_eq!(
        code(&client.call_as(&tab, "ai.session.toolResult", answer).await),
        "ERR_INVALID_REQUEST",
        "answered once"
    );

    // A page that never answers: the model hears so after the tool timeout, the prompt ends.
    let limits = json!({"maxToolCallsPerRun": 5, "maxConcurrentCalls": 2, "toolTimeoutMs": 300});
    client.ok("permissions.setLimits", json!({"origin": SITE, "limits": limits})).await;
    model.push(Turn::new().tool_call("get_weather", json!({"city": "Oslo"})));
    model.push(Turn::words("I could not tell."));
    let silent = client.call_as(&tab, "ai.session.prompt", json!({"sessionId": session, "input": "Oslo?"})).await;
    let (outcome, events) = silent;
    assert_eq!(outcome.unwrap()["text"], "I could not tell.");
    let last = model.chat_requests().last().unwrap().body["messages"].clone();
    let told = last.as_array().unwrap().iter().rev().find(|m| m["role"] == "tool").unwrap();
    assert!(told["content"].as_str().unwrap().contains("did not answer within 300 ms"), "{told}");
    // The call given up on is not waited for any more: a late answer is refused.
    let late = json!({"sessionId": session, "callId": events[0]["id"], "result": "snow"});
    assert_eq!(code(&client.call_as(&tab, "ai.session.toolResult", late).await), "ERR_INVALID_REQUEST");
    client.finish().await;
}

/// `agent.run` takes the page's own instructions (after Harbor's framing, which stays first) and
/// a provider and model of the user's; `ai.providers.list` says what each provider speaks.
#[tokio::test(flavor = "current_thread")]
async fn agent_run_takes_the_pages_instructions_after_harbors_and_a_chosen_model() {
    let model = ScriptedModel::start(vec![Model::new("m"), Model::new("other")]).await;
    let client = Client::start("run-options").await;
    client.ok("llm.setProvider", json!({"id": "scripted", "kind": "ollama", "baseUrl": model.url()})).await;
    client.ok("llm.select", json!({"provider": "scripted", "model": "m"})).await;
    for scope in ["model:tools", "model:list"] {
        client.ok("permissions.set", json!({"origin": SITE, "scope": scope, "grant": "ALLOW_ALWAYS"})).await;
    }
    let tab = page(SITE, 1);
    model.push(Turn::words("Done."));
    let run =
        json!({"task": "Say done.", "systemPrompt": "Answer in one word.", "provider": "scripted", "model": "other"});
    assert_eq!(client.call_as(&tab, "agent.run", run).await.0.unwrap()["output"], "Done.");
    let body = model.chat_requests()[0].body.clone();
    assert_eq!(body["model"], "other", "{body}");
    let system = body["messages"][0]["content"].as_str().unwrap();
    assert!(system.starts_with("You are the user's assistant"), "Harbor's framing first: {system}");
    assert!(system.ends_with("The page's instructions for this task:\nAnswer in one word."), "{system}");
    let unknown = json!({"task": "x", "provider": "nowhere"});
    assert_eq!(code(&client.call_as(&tab, "agent.run", unknown).await), "ERR_MODEL_UNAVAILABLE");

    let providers = client.call_as(&tab, "ai.providers.list", json!({})).await.0.unwrap();
    let scripted = providers.as_array().unwrap().iter().find(|p| p["id"] == "scripted").unwrap();
    assert_eq!((scripted["type"].as_str(), scripted["supportsTools"].as_bool()), (Some("ollama"), Some(true)));
    client.finish().await;
}

/// Allows `origin` `scopes` always and `tools` as its tools, as the Sites panel would.
async fn allow(client: &Client, origin: &str, scopes: &[&str], tools: &[&str]) {
    for scope in scopes {
        client.ok("permissions.set", json!({"origin": origin, "scope": scope, "grant": "ALLOW_ALWAYS"})).await;
    }
    client.ok("permissions.setTools", json!({"origin": origin, "tools": tools})).await;
}

#[tokio::test]
async fn an_agent_session_holds_no_more_than_the_sites_grants_and_its_own_limits() {
    let (model, client) = with_probe_and_model("agent-sessions").await;
    allow(&client, SITE, &["mcp:tools.call", "model:prompt"], &["probe/echo"]).await;
    let tab = page(SITE, 1);
    let asked = json!({
        "name": "Checkout helper", "reason": "to fill your cart",
        "capabilities": {"llm": true, "tools": ["probe/echo", "probe/slow", "nobody/anything"]},
        "limits": {"maxToolCalls": 2, "ttlMinutes": 5},
    });
    let session = client.call_as(&tab, "agent.sessions.create", asked).await.0.unwrap();
    // Only the allowed tool: the others are left out, saying nothing of which exist.
    assert_eq!(session["capabilities"], json!({"llm": true, "tools": ["probe/echo"], "browser": false}), "{session}");
    assert_eq!(session["limits"], json!({"maxToolCalls": 2, "ttlMinutes": 5}));
    assert_eq!(session["state"], "active");
    let id = session["sessionId"].clone();

    let call = |tool: &str, text: &str| json!({"sessionId": id, "tool": tool, "args": {"text": text}});
    let refused = client.call_as(&tab, "agent.sessions.callTool", call("probe/slow", "x")).await.0.unwrap_err();
    assert_eq!(refused["code"], "ERR_TOOL_NOT_ALLOWED", "{refused}");
    for n in ["one", "two"] {
        let echoed = client.call_as(&tab, "agent.sessions.callTool", call("probe/echo", n)).await.0.unwrap();
        assert!(echoed.to_string().contains(n), "{echoed}");
    }
    let third = client.call_as(&tab, "agent.sessions.callTool", call("probe/echo", "three")).await.0.unwrap_err();
    assert_eq!((third["code"].as_str(), &third["data"]["limit"]), (Some("ERR_BUDGET_EXCEEDED"), &json!(2)), "{third}");
    let now = client.call_as(&tab, "agent.sessions.get", json!({"sessionId": id})).await.0.unwrap();
    assert_eq!(now["usage"]["toolCalls"], 2, "{now}");

    // The model, through the session's own context.
    model.push(Turn::words("Your cart has tea."));
    let (answer, events) = client
        .call_as(&tab, "agent.sessions.promptStreaming", json!({"sessionId": id, "input": "what is in my cart?"}))
        .await;
    assert_eq!(answer.unwrap()["text"], "Your cart has tea.");
    assert!(events.iter().filter(|e| e["type"] == "token").count() >= 2, "{events:?}");

    // Another site cannot see or use it; a revoked tool leaves the session's list.
    let other = page(OTHER, 2);
    let foreign = client.call_as(&other, "agent.sessions.get", json!({"sessionId": id})).await.0.unwrap_err();
    assert_eq!(foreign["code"], "ERR_SESSION_NOT_FOUND");
    assert_eq!(client.call_as(&other, "agent.sessions.list", json!({})).await.0.unwrap(), json!([]));
    client.ok("permissions.setTools", json!({"origin": SITE, "tools": []})).await;
    let listed = client.call_as(&tab, "agent.sessions.listAllowedTools", json!({"sessionId": id})).await.0.unwrap();
    assert_eq!(listed, json!([]));

    // What Harbor cannot give is refused, not quietly dropped.
    let browser = json!({"capabilities": {"browser": ["activeTab.read"]}});
    let refused = client.call_as(&tab, "agent.sessions.create", browser).await.0.unwrap_err();
    assert_eq!(refused["code"], "ERR_NOT_SUPPORTED", "{refused}");
    let no_grant =
        client.call_as(&other, "agent.sessions.create", json!({"capabilities": {"tools": ["probe/echo"]}})).await;
    assert_eq!(no_grant.0.unwrap_err()["code"], "ERR_SCOPE_REQUIRED");
    client.finish().await;
}

#[tokio::test]
async fn terminating_an_agent_session_ends_its_call_in_flight_at_the_server() {
    let (_model, client) = with_probe_and_model("agent-session-end").await;
    allow(&client, SITE, &["mcp:tools.call"], &["probe/slow"]).await;
    let tab = page(SITE, 1);
    let asked = json!({"capabilities": {"tools": ["probe/slow"]}});
    let id = client.call_as(&tab, "agent.sessions.create", asked).await.0.unwrap()["sessionId"].clone();
    let slow = json!({"sessionId": id, "tool": "probe/slow", "args": {"ms": 20000, "tag": "session-call"}});
    let call = client.send_as(&tab, "agent.sessions.callTool", slow).await;
    support::probe_busy(&client, 1).await;
    let started = Instant::now();
    client.call_as(&tab, "agent.sessions.terminate", json!({"sessionId": id})).await.0.unwrap();
    let ended = client.wait(call).await.0.unwrap_err();
    assert_eq!(ended["code"], "ERR_ABORTED", "{ended}");
    assert!(started.elapsed() < Duration::from_secs(5), "the call ended with its session: {:?}", started.elapsed());
    let deadline = Instant::now() + Duration::from_secs(5);
    while !probe_stats(&client).await["cancelled"].as_array().unwrap().contains(&json!("session-call")) {
        assert!(Instant::now() < deadline, "the server never saw the cancellation");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let gone = client.call_as(&tab, "agent.sessions.callTool", json!({"sessionId": id, "tool": "probe/slow"})).await;
    assert_eq!(gone.0.unwrap_err()["code"], "ERR_SESSION_NOT_FOUND");
    client.finish().await;
}

/// A site whose agent runs in code mode: the model is offered code mode's tools only, its code
/// calls the site's allowed tool, a tool the site may not use throws inside the code (and never
/// runs), and the site's limit per run bounds the calls one run of code may make.
#[tokio::test(flavor = "current_thread")]
async fn agent_run_in_code_mode_keeps_the_sites_allowlist_and_its_limit_per_run() {
    let (model, client) = with_probe_and_model("run-code").await;
    let tab = page(SITE, 1);
    grant(&client, &tab, &["model:tools"], &["probe/echo"], "allow-always").await;
    let limits = json!({"maxToolCallsPerRun": 3, "codeMode": true});
    let set = client.ok("permissions.setLimits", json!({"origin": SITE, "limits": limits})).await;
    assert_eq!(set["limits"]["codeMode"], true, "{set}");

    let code = r#"
        const said = await tools.probe.echo({ text: "from code" });
        let wiped;
        try { await callTool("probe/wipe", { target: "/" }); wiped = "ran"; } catch (e) { wiped = e.code; }
        return { said: said.content[0].text, wiped, listed: typeof tools.probe.wipe };
    "#;
    model.push(Turn::new().tool_call("execute_code", json!({ "code": code })));
    model.push(Turn::words("Done."));
    let (outcome, events) = client.call_as(&tab, "agent.run", json!({"task": "echo it"})).await;
    assert_eq!(outcome.unwrap()["output"], "Done.");
    let offered: Vec<String> = model.chat_requests()[0].body["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["function"]["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(offered, ["search_tools", "describe_tools", "execute_code"]);
    let result = events.iter().find(|e| e["type"] == "tool_result" && e.get("parent").is_none()).unwrap();
    let ran: Value = serde_json::from_str(result["result"]["content"][0]["text"].as_str().unwrap()).unwrap();
    assert!(ran["result"]["said"].as_str().unwrap().contains("from code"), "{ran}");
    // The run's events show the call the code made, under its execute_code; the refused one, a
    // tool the site may not use, is not even named.
    let inner: Vec<&str> =
        events.iter().filter(|e| e["parent"] == result["id"]).filter_map(|e| e["tool"].as_str()).collect();
    assert_eq!(inner, ["probe/echo", "probe/echo"], "{events:?}");
    assert_eq!(ran["result"]["wiped"], "ERR_TOOL_NOT_ALLOWED", "{ran}");
    assert_eq!(ran["result"]["listed"], "undefined");
    let audit = client.ok("audit.list", json!({"origin": SITE})).await;
    let ran: Vec<(&str, &str)> =
        audit.as_array().unwrap().iter().filter_map(|e| Some((e["tool"].as_str()?, e["outcome"].as_str()?))).collect();
    assert!(ran.contains(&("probe/echo", "ok")), "{audit}");
    assert!(ran.contains(&("harbor/execute_code", "ok")), "{audit}");
    assert!(!ran.iter().any(|(tool, _)| *tool == "probe/wipe"), "the wipe never reached the server: {audit}");

    // Four calls from one run of code, where the site allows three a run.
    let code =
        "for (let i = 0; i < 4; i++) { try { await tools.probe.echo({ text: String(i) }); } catch {} } return 1;";
    model.push(Turn::new().tool_call("execute_code", json!({ "code": code })));
    model.push(Turn::words("Stopped."));
    let (_, events) = client.call_as(&tab, "agent.run", json!({"task": "echo four times"})).await;
    let result = events.iter().find(|e| e["type"] == "tool_result" && e.get("parent").is_none()).unwrap();
    let text = result["result"]["content"][0]["text"].as_str().unwrap();
    assert!(text.contains("ERR_SANDBOX_LIMIT") && text.contains("at most 3"), "{text}");
    client.finish().await;
}
