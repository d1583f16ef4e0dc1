//! The gateway as the official SDKs' clients see it: the Python SDK (PyPI `mcp` 2.x, through
//! `tests/fixtures/sdk_client.py`) in its default mode — which adopts 2026-07-28 when
//! `server/discover` offers it — and in its legacy mode (the `initialize` handshake, 2025-11-25),
//! over Streamable HTTP and over `harbor-bridge mcp`'s stdio, with server-everything (npm) behind
//! the gateway. Each run is one plan of steps; the report says what each step got.

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
    let dir = std::env::temp_dir().join(format!("harbor-sdk-plan-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let plan_file = dir.join(format!("{mode}-{}.json", rand_suffix()));
    std::fs::write(&plan_file, plan.to_string()).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/sdk_client.py");
    let mut command = tokio::process::Command::new(test_servers().join("venv/bin/python"));
    command.arg(script).args(["--mode", mode]);
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
