//! The gateway as the official SDKs' clients see it: the Python SDK (PyPI `mcp` 2.x, through
//! `tests/fixtures/sdk_client.py`) in its default mode — which adopts 2026-07-28 when
//! `server/discover` offers it — and in its legacy mode (the `initialize` handshake, 2025-11-25),
//! over Streamable HTTP and over `harbor-bridge mcp`'s stdio, with server-everything (npm) behind
//! the gateway; and the TypeScript SDK (npm `@modelcontextprotocol/sdk`, 2025-11-25, through
//! `tests/fixtures/sdk_client.cjs`) with the same plans. Each run is one plan of steps; the report
//! says what each step got.

use std::path::{Path, PathBuf};

use harbor_bridge::link::Link;
use serde_json::{json, Value};

use crate::support::{admin, everything_launch, serve_headless, test_servers};

const BRIDGE: &str = env!("CARGO_BIN_EXE_harbor-bridge");

/// How the SDK client reaches the gateway.
enum Over<'a> {
    Http { url: &'a str, key: &'a str },
    Stdio { home: &'a Path, client: &'a str },
}

/// Runs the Python SDK client with `plan` in `mode` (`auto` or `legacy`) and returns its report.
async fn python(over: &Over<'_>, mode: &str, plan: Value) -> Value {
    sdk(Sdk::Python, over, mode, plan).await
}

/// Which official SDK's client runs a plan.
#[derive(Clone, Copy)]
enum Sdk {
    Python,
    /// The TypeScript SDK (1.x speaks 2025-11-25 only; `mode` is ignored).
    TypeScript,
}

async fn sdk(which: Sdk, over: &Over<'_>, mode: &str, plan: Value) -> Value {
    let dir = std::env::temp_dir().join(format!("harbor-sdk-plan-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let plan_file = dir.join(format!("{mode}-{}.json", rand_suffix()));
    std::fs::write(&plan_file, plan.to_string()).unwrap();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures");
    let mut command = match which {
        Sdk::Python => {
            let mut command = tokio::process::Command::new(test_servers().join("venv/bin/python"));
            command.arg(fixtures.join("sdk_client.py")).args(["--mode", mode]);
            command
        }
        Sdk::TypeScript => {
            let mut command = tokio::process::Command::new("node");
            command.arg(fixtures.join("sdk_client.cjs")).env("NODE_PATH", test_servers().join("npm/node_modules"));
            command
        }
    };
    match over {
        Over::Http { url, key } => {
            command.args(["--url", url, "--key", key]);
        }
        Over::Stdio { home, client } => {
            command.args(["--stdio", BRIDGE, "--client", client]).env("HARBOR_HOME", home);
        }
    }
    command.arg(&plan_file).kill_on_drop(true);
    let output = tokio::time::timeout(std::time::Duration::from_secs(120), command.output())
        .await
        .expect("the SDK client finishes within 2 minutes")
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "the SDK client failed: {}\n{stdout}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("the report is JSON ({e}): {stdout}"))
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// Step `n`'s result, failing the test with the step's error if it has one.
fn ok<'a>(report: &'a Value, n: usize, what: &str) -> &'a Value {
    let step = &report["steps"][n];
    step.get("ok").unwrap_or_else(|| panic!("{what}: {}", step["error"]))
}

fn text(result: &Value) -> String {
    result["content"].as_array().into_iter().flatten().filter_map(|c| c["text"].as_str()).collect::<Vec<_>>().join("\n")
}

/// A headless gateway with server-everything behind it and a client `sdk` allowed all of it.
async fn gateway(tag: &str) -> (tokio::process::Child, PathBuf, String, String) {
    let (serving, home, url) = serve_headless(tag).await;
    let mut link = Link::open(&home).await.unwrap();
    admin(&mut link, "servers.add", json!({"id": "everything", "launch": everything_launch("stdio")})).await;
    admin(&mut link, "servers.start", json!({"id": "everything"})).await;
    let added =
        admin(&mut link, "gateway.clients.add", json!({"name": "sdk", "allow": ["everything"], "ratePerMin": 600}))
            .await;
    let key = added["key"].as_str().unwrap().to_owned();
    (serving, home, url, key)
}

fn tools_plan() -> Value {
    json!([
        {"step": "tools"},
        {"step": "call", "tool": "everything__echo", "arguments": {"message": "from the SDK"}},
        {"step": "call", "tool": "everything__get-sum", "arguments": {"a": 2, "b": 3}},
        {"step": "call", "tool": "everything__no-such-tool", "arguments": {}},
    ])
}

fn assert_tools(report: &Value, how: &str) {
    let tools = ok(report, 0, how);
    assert!(tools.as_array().unwrap().iter().any(|t| t == "everything__echo"), "{how}: {tools}");
    let echo = ok(report, 1, how);
    assert_ne!(echo["isError"], true, "{how}: {echo}");
    assert!(text(echo).contains("from the SDK"), "{how}: {echo}");
    assert!(text(ok(report, 2, how)).contains('5'), "{how}: {}", report["steps"][2]);
    // An unknown tool is an error the SDK raises, not a result that hides it.
    let unknown = &report["steps"][3];
    assert!(
        unknown.get("error").is_some() || unknown["ok"]["isError"] == true,
        "{how}: an unknown tool must fail: {unknown}"
    );
}

#[tokio::test]
async fn the_python_sdk_calls_tools_through_the_gateway_on_both_revisions_and_both_transports() {
    let (_serving, home, url, key) = gateway("sdk-py-tools").await;
    for mode in ["auto", "legacy"] {
        let http = python(&Over::Http { url: &url, key: &key }, mode, tools_plan()).await;
        let stdio = python(&Over::Stdio { home: &home, client: "sdk" }, mode, tools_plan()).await;
        let expected = if mode == "auto" { "2026-07-28" } else { "2025-11-25" };
        for (how, report) in [("http", &http), ("stdio", &stdio)] {
            let how = format!("{how} {mode}");
            assert_eq!(report["protocolVersion"], expected, "{how}: {report}");
            assert_tools(report, &how);
        }
    }
}

/// The static document every server-everything lists, and one of its templated blobs.
const DOC: &str = "demo://resource/static/document/features.md";
const BLOB: &str = "demo://resource/dynamic/blob/3";

fn primitives_plan(mode: &str) -> Value {
    let news = if mode == "auto" {
        json!({"step": "listen", "uri": DOC, "tool": "everything__toggle-subscriber-updates", "seconds": 7})
    } else {
        json!({"step": "subscribe", "uri": DOC})
    };
    let mut plan = json!([
        {"step": "resources"},
        {"step": "templates"},
        {"step": "read", "uri": DOC},
        {"step": "read", "uri": BLOB},
        {"step": "read", "uri": "demo://resource/static/document/no-such-file.md"},
        {"step": "prompts"},
        {"step": "prompt", "name": "everything__args-prompt", "arguments": {"city": "Lisbon"}},
        {"step": "complete", "prompt": "everything__completable-prompt", "argument": {"name": "department", "value": "Eng"}},
        {"step": "call", "tool": "everything__trigger-long-running-operation", "arguments": {"duration": 1, "steps": 3}},
        news,
    ]);
    if mode != "auto" {
        let steps = plan.as_array_mut().unwrap();
        steps.push(json!({"step": "call", "tool": "everything__toggle-subscriber-updates", "arguments": {}}));
        steps.push(json!({"step": "sleep", "seconds": 7}));
    }
    plan
}

fn assert_primitives(report: &Value, how: &str, mode: &str) {
    let caps = &report["capabilities"];
    for served in ["tools", "resources", "prompts", "completions"] {
        assert!(caps.get(served).is_some(), "{how}: the gateway advertises {served}: {caps}");
    }
    let resources = ok(report, 0, how).as_array().unwrap();
    assert!(resources.iter().any(|r| r == DOC), "{how}: {resources:?}");
    let templates = ok(report, 1, how);
    assert!(
        templates.as_array().unwrap().iter().any(|t| t == "demo://resource/dynamic/blob/{resourceId}"),
        "{how}: {templates}"
    );
    let doc = ok(report, 2, how);
    assert!(doc["contents"][0]["text"].as_str().unwrap_or_default().contains("Everything Server"), "{how}: {doc}");
    let blob = ok(report, 3, how);
    assert!(blob["contents"][0]["blob"].as_str().is_some_and(|b| !b.is_empty()), "{how}: binary contents: {blob}");
    assert!(report["steps"][4].get("error").is_some(), "{how}: an unknown resource fails: {}", report["steps"][4]);
    let prompts = ok(report, 5, how);
    assert!(prompts.as_array().unwrap().iter().any(|p| p == "everything__args-prompt"), "{how}: {prompts}");
    let prompt = ok(report, 6, how);
    assert!(
        prompt["messages"][0]["content"]["text"].as_str().unwrap_or_default().contains("Lisbon"),
        "{how}: {prompt}"
    );
    let complete = ok(report, 7, how);
    assert!(
        complete["completion"]["values"].as_array().unwrap().iter().any(|v| v == "Engineering"),
        "{how}: {complete}"
    );
    let long = ok(report, 8, how);
    assert!(text(long).contains("Long running operation completed"), "{how}: {long}");
    let progress = report["heard"]["progress"].as_array().unwrap();
    assert_eq!(progress.len(), 3, "{how}: the server's three progress reports reach the client: {progress:?}");
    assert_eq!(progress[2]["progress"], 3.0, "{how}: {progress:?}");
    if mode == "auto" {
        let events = ok(report, 9, how);
        assert!(
            events.as_array().unwrap().iter().any(|e| e == &json!(format!("ResourceUpdated:{DOC}"))),
            "{how}: the subscribed document's updates arrive on the listen stream: {events}"
        );
    } else {
        ok(report, 9, how);
        let updates = report["heard"]["resourceUpdates"].as_array().unwrap();
        assert!(updates.iter().any(|u| u == DOC), "{how}: the subscribed document's updates arrive: {updates:?}");
    }
}

#[tokio::test]
async fn the_python_sdk_reads_resources_prompts_completions_and_progress_through_the_gateway() {
    // A gateway each: server-everything's simulated updates are one switch for all its callers.
    for mode in ["auto", "legacy"] {
        for transport in ["http", "stdio"] {
            let (_serving, home, url, key) = gateway(&format!("sdk-py-{mode}-{transport}")).await;
            let over = match transport {
                "http" => Over::Http { url: &url, key: &key },
                _ => Over::Stdio { home: &home, client: "sdk" },
            };
            let report = python(&over, mode, primitives_plan(mode)).await;
            assert_primitives(&report, &format!("{transport} {mode}"), mode);
        }
    }
}

#[tokio::test]
async fn a_client_allowed_single_tools_gets_none_of_the_servers_resources_or_prompts() {
    let (_serving, home, url, _) = gateway("sdk-py-narrow").await;
    let mut link = Link::open(&home).await.unwrap();
    let added = admin(
        &mut link,
        "gateway.clients.add",
        json!({"name": "narrow", "allow": ["everything/echo"], "ratePerMin": 600}),
    )
    .await;
    let key = added["key"].as_str().unwrap();
    let plan = json!([
        {"step": "resources"},
        {"step": "read", "uri": DOC},
        {"step": "prompts"},
        {"step": "prompt", "name": "everything__simple-prompt"},
        {"step": "prompt", "name": "everything/simple-prompt"},
        {"step": "complete", "prompt": "everything__completable-prompt", "argument": {"name": "department", "value": "E"}},
        {"step": "subscribe", "uri": DOC},
        {"step": "tools"},
    ]);
    let report = python(&Over::Http { url: &url, key }, "legacy", plan).await;
    assert_eq!(ok(&report, 0, "resources"), &json!([]), "no resources without the whole server");
    for (n, what) in
        [(1, "read"), (3, "prompt"), (4, "prompt by its namespaced name"), (5, "completion"), (6, "subscribe")]
    {
        let step = &report["steps"][n];
        assert!(step.get("error").is_some(), "{what} is refused: {step}");
    }
    assert_eq!(ok(&report, 2, "prompts"), &json!([]));
    assert_eq!(ok(&report, 7, "tools"), &json!(["everything__echo"]), "the one tool it may use");
    // Reads and gets are audited as their MCP method, refused ones too; contents never are.
    let audit = admin(&mut link, "audit.list", json!({"origin": "gateway:narrow"})).await;
    let methods: Vec<&str> = audit.as_array().unwrap().iter().filter_map(|e| e["method"].as_str()).collect();
    assert!(methods.contains(&"resources/read") && methods.contains(&"prompts/get"), "{audit}");
}

#[tokio::test]
async fn a_servers_sampling_and_elicitation_requests_reach_the_app_whose_call_waits() {
    let (_serving, home, url, key) = gateway("sdk-py-asks").await;
    let over = Over::Http { url: &url, key: &key };
    let stdio = Over::Stdio { home: &home, client: "sdk" };
    let plan = asks_plan();
    // Over HTTP the app's own session answers; over stdio the running bridge relays the server's
    // requests to `harbor-bridge mcp` as events of the call, and its answers back. A 2026-07-28
    // app (which has no server-to-client requests) gets each as an input-required result, and
    // its retry with the answer resumes the same call (SEP-2322).
    for over in [&over, &stdio] {
        for mode in ["legacy", "auto"] {
            assert_asks_answered(&python(over, mode, plan.clone()).await);
        }
    }
}

#[tokio::test]
async fn a_tool_that_runs_only_as_a_task_works_for_an_sdk_app_that_knows_nothing_of_tasks() {
    // Harbor runs server-everything's task tool for the app as one call: the task's statuses
    // reach it as progress, and the question the task asks reaches the app's own elicitation
    // handler, whose answer the task gets.
    let (_serving, _home, url, key) = gateway("sdk-py-task").await;
    let plan = json!([
        {"step": "elicit-answer", "answer": {"action": "accept", "content": {"interpretation": "comedy"}}},
        {"step": "call", "tool": "everything__simulate-research-query", "arguments": {"topic": "python", "ambiguous": true}},
    ]);
    for mode in ["legacy", "auto"] {
        let report = python(&Over::Http { url: &url, key: &key }, mode, plan.clone()).await;
        let research = text(ok(&report, 1, mode));
        assert!(research.contains("Clarification**: comedy"), "{mode}: the app's answer reached the task: {research}");
        let heard = report["heard"]["progress"].to_string();
        assert!(heard.contains("Gathering sources"), "{mode}: the task's statuses reach the app: {heard}");
        assert_eq!(report["heard"]["elicitation"].as_array().map(Vec::len), Some(1), "{mode}");
    }
}

/// A sampling request the app answers, then an elicitation it declines.
fn asks_plan() -> Value {
    json!([
        {"step": "tools"},
        {"step": "call", "tool": "everything__trigger-sampling-request", "arguments": {"prompt": "Say hi", "maxTokens": 20}},
        {"step": "elicit-answer", "answer": {"action": "decline"}},
        {"step": "call", "tool": "everything__trigger-elicitation-request", "arguments": {}},
    ])
}

fn assert_asks_answered(report: &Value) {
    let tools = ok(report, 0, "tools");
    assert!(
        tools.as_array().unwrap().iter().any(|t| t == "everything__trigger-sampling-request"),
        "Harbor takes sampling from the servers behind it, so server-everything offers its tool: {tools}"
    );
    let sampled = ok(report, 1, "sampling");
    assert!(text(sampled).contains("sampled by the SDK client"), "the app's answer reaches the server: {sampled}");
    let seen = report["heard"]["sampling"].to_string();
    assert!(
        seen.contains("Say hi") && report["heard"]["sampling"].as_array().map(Vec::len) == Some(1),
        "the app saw the server's prompt: {seen}"
    );
    let elicited = ok(report, 3, "elicitation");
    assert!(text(elicited).contains("declined"), "the app's decline reaches the server as such: {elicited}");
    assert_eq!(report["heard"]["elicitation"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn the_typescript_sdk_uses_tools_resources_prompts_progress_and_asks_through_the_gateway() {
    for transport in ["http", "stdio"] {
        let (_serving, home, url, key) = gateway(&format!("sdk-ts-{transport}")).await;
        let over = match transport {
            "http" => Over::Http { url: &url, key: &key },
            _ => Over::Stdio { home: &home, client: "sdk" },
        };
        let how = format!("typescript {transport}");
        assert_tools(&sdk(Sdk::TypeScript, &over, "legacy", tools_plan()).await, &how);
        let report = sdk(Sdk::TypeScript, &over, "legacy", primitives_plan("legacy")).await;
        assert_primitives(&report, &how, "legacy");
        assert_asks_answered(&sdk(Sdk::TypeScript, &over, "legacy", asks_plan()).await);
    }
}
