//! MCP host benchmarks (run with `scripts/bench`):
//! - `tools/call` of server-everything's `echo` through the real bridge binary (framed requests
//!   on its stdin, as Firefox sends them) against the same call made directly with rmcp: the
//!   bridge's added time per call;
//! - start-to-ready (`servers.start` until running) of an npm server and a PyPI server, and of
//!   the Docker tests' server in its hardened container against the same binary run natively;
//! - the same call by an app through the gateway's Streamable HTTP endpoint (rmcp's client), and
//!   by the official TypeScript SDK's client against its floor, the same client straight to
//!   server-everything's own Streamable HTTP endpoint;
//! - the bridge process's resident memory with 20 servers running (its children not counted);
//! - start-to-ready of a PyPI server in the OS sandbox (bubblewrap) against the same unconfined;
//! - what tool pinning (a definition's fingerprint) and secret scanning (stored values and key
//!   patterns over a result) cost per call, in process.
//!
//! Needs the test servers from `scripts/setup --test`.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Instant;

use serde_json::{json, Value};

mod measure;
use measure::{quantile, BridgeProcess};

const CALLS: usize = 2000;

fn main() {
    let (servers, everything) = measure::test_servers();
    let python = servers.join("venv/bin/python");

    let mut bridge = BridgeProcess::start("host");
    bridge.ok(
        "servers.add",
        json!({"id": "everything", "launch": {"kind": "process", "command": "node", "args": [everything, "stdio"]}}),
    );
    bridge.ok("servers.start", json!({"id": "everything"}));
    let mut through_bridge = Vec::with_capacity(CALLS);
    for n in 0..CALLS + 200 {
        let started = Instant::now();
        bridge.ok("tools.call", json!({"tool": "everything/echo", "args": {"message": n.to_string()}}));
        if n >= 200 {
            through_bridge.push(started.elapsed().as_secs_f64() * 1e6);
        }
    }
    let mut echo = Vec::with_capacity(CALLS);
    for n in 0..CALLS + 200 {
        let started = Instant::now();
        bridge.ok("system.echo", json!({"n": n}));
        if n >= 200 {
            echo.push(started.elapsed().as_secs_f64() * 1e6);
        }
    }
    println!(
        "system.echo via the bridge binary: p50 {:.0} µs, p99 {:.0} µs",
        quantile(&echo, 0.5),
        quantile(&echo, 0.99)
    );
    let gateway = bridge.ok("gateway.http.set", json!({"enabled": true, "port": 0}));
    let key =
        bridge.ok("gateway.clients.add", json!({"name": "bench", "allow": ["everything"], "ratePerMin": 1_000_000}));
    let via_gateway = gateway_calls(gateway["http"]["url"].as_str().unwrap(), key["key"].as_str().unwrap());
    let direct = measure::direct_calls(&everything, CALLS);
    let lean = measure::lean_calls(&everything, CALLS);
    let (bridge_p50, bridge_p99) = (quantile(&through_bridge, 0.5), quantile(&through_bridge, 0.99));
    let (direct_p50, direct_p99) = (quantile(&direct, 0.5), quantile(&direct, 0.99));
    let (lean_p50, lean_p99) = (quantile(&lean, 0.5), quantile(&lean, 0.99));
    println!("tools/call echo via the bridge: p50 {bridge_p50:.0} µs, p99 {bridge_p99:.0} µs (n = {CALLS})");
    println!("tools/call echo direct (rmcp):  p50 {direct_p50:.0} µs, p99 {direct_p99:.0} µs (n = {CALLS})");
    println!("tools/call echo, lean client (JSON-RPC lines straight to the server; the floor): p50 {lean_p50:.0} µs, p99 {lean_p99:.0} µs (n = {CALLS})");
    println!(
        "bridge adds: p50 {:.0} µs ({:.2}× the lean floor; {:.2}× rmcp direct), p99 {:.0} µs",
        bridge_p50 - lean_p50,
        bridge_p50 / lean_p50,
        bridge_p50 / direct_p50,
        bridge_p99 - lean_p99
    );
    println!(
        "tools/call echo via the gateway (Streamable HTTP, rmcp client, key + limits + audit): p50 {:.0} µs, p99 {:.0} µs (n = {CALLS}; direct above is the floor)",
        quantile(&via_gateway, 0.5),
        quantile(&via_gateway, 0.99)
    );

    // The same through the official TypeScript SDK's client: straight to server-everything's
    // own Streamable HTTP endpoint (the floor), and through the gateway's.
    let (sdk_direct, sdk_gateway) =
        sdk_calls(&servers, &everything, gateway["http"]["url"].as_str().unwrap(), key["key"].as_str().unwrap());
    println!(
        "tools/call echo, TypeScript SDK client, direct to server-everything over HTTP (the floor): p50 {:.0} µs, p99 {:.0} µs (n = {CALLS})",
        sdk_direct.0, sdk_direct.1
    );
    println!(
        "tools/call echo, TypeScript SDK client, via the gateway (server-everything behind it over stdio): p50 {:.0} µs ({:.2}× the floor, {:+.0} µs), p99 {:.0} µs (n = {CALLS})",
        sdk_gateway.0,
        sdk_gateway.0 / sdk_direct.0,
        sdk_gateway.0 - sdk_direct.0,
        sdk_gateway.1
    );

    // The same call from a web page: through the permission layer (grant, allowlist, budget,
    // slot, timeout, usage and audit rows in SQLite).
    let site = "http://127.0.0.1:8000";
    bridge.ok("permissions.setTools", json!({"origin": site, "tools": ["everything/echo"]}));
    bridge.ok("permissions.set", json!({"origin": site, "scope": "mcp:tools.call", "grant": "ALLOW_ALWAYS"}));
    let page = json!({"kind": "page", "origin": site, "tabId": 1, "frameId": 0, "topOrigin": site});
    let mut from_page = Vec::with_capacity(CALLS);
    for n in 0..CALLS + 200 {
        let started = Instant::now();
        bridge.ok_as(&page, "agent.tools.call", json!({"tool": "everything/echo", "args": {"message": n.to_string()}}));
        if n >= 200 {
            from_page.push(started.elapsed().as_secs_f64() * 1e6);
        }
    }
    let (page_p50, page_p99) = (quantile(&from_page, 0.5), quantile(&from_page, 0.99));
    println!(
        "agent.tools.call echo as a page: p50 {page_p50:.0} µs, p99 {page_p99:.0} µs; the permission layer adds p50 {:.0} µs",
        page_p50 - bridge_p50
    );

    bridge.ok(
        "servers.add",
        json!({"id": "time", "launch": {"kind": "process", "command": python, "args": ["-m", "mcp_server_time"]}}),
    );
    for (id, label) in [("everything", "npm (server-everything)"), ("time", "PyPI (mcp-server-time)")] {
        start_to_ready(&mut bridge, id, label);
    }
    bridge.ok("servers.stop", json!({"id": "time"}));
    let jailed = json!({"kind": "process", "command": python, "args": ["-m", "mcp_server_time"]});
    bridge.ok("servers.add", json!({"id": "jailed", "launch": jailed, "sandbox": {"enabled": true}}));
    start_to_ready(&mut bridge, "jailed", "PyPI (mcp-server-time) in the OS sandbox");
    bridge.ok("servers.stop", json!({"id": "jailed"}));
    pinning_and_scanning();

    // Docker: the container-server image (scripts/test-image) against the same binary natively.
    assert!(std::env::var("DOCKER_HOST").is_ok(), "scripts/bench starts a Docker engine and sets DOCKER_HOST");
    let binary = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/debug/harbor-container-server");
    bridge.ok(
        "servers.add",
        json!({"id": "boxed", "launch": {"kind": "docker", "image": "harbor-test/container-server:latest"}}),
    );
    bridge.ok("servers.add", json!({"id": "unboxed", "launch": {"kind": "process", "command": binary}}));
    for (id, label) in
        [("boxed", "Docker (test server in its container)"), ("unboxed", "native (the same test server)")]
    {
        start_to_ready(&mut bridge, id, label);
        bridge.ok("servers.stop", json!({ "id": id }));
    }

    for n in 1..20 {
        bridge.ok("servers.add", json!({"id": format!("e{n}"), "launch": {"kind": "process", "command": "node", "args": [everything, "stdio"]}}));
        bridge.ok("servers.start", json!({ "id": format!("e{n}") }));
    }
    std::thread::sleep(std::time::Duration::from_secs(1));
    println!("bridge resident memory with 20 servers running: {:.1} MiB (the bridge process alone)", bridge.rss_mib());
}

/// Per call, in process: a tool's fingerprint against its pin, and scanning a result for five
/// stored secrets and the key patterns.
fn pinning_and_scanning() {
    use harbor_bridge::host::pins;
    use harbor_bridge::mcp::redact::{redact_patterns, Secrets};
    use harbor_bridge::mcp::registry::ToolEntry;
    let tool = ToolEntry {
        name: "github/search_issues".into(),
        model_name: "github__search_issues".into(),
        server_id: "github".into(),
        title: Some("Search issues".into()),
        description: "Search issues and pull requests across GitHub repositories. ".repeat(4),
        input_schema: json!({"type": "object", "properties": {"q": {"type": "string"}, "page": {"type": "integer"},
            "perPage": {"type": "integer"}, "sort": {"type": "string", "enum": ["created", "updated", "comments"]}},
            "required": ["q"]}),
        annotations: Some(json!({"readOnlyHint": true, "openWorldHint": true})),
        imitates: None,
        page_origin: None,
        ui: None,
    };
    let approved = pins::fingerprint(&pins::definition(&tool));
    let runs = 20_000;
    let started = Instant::now();
    for _ in 0..runs {
        assert_eq!(pins::fingerprint(&pins::definition(std::hint::black_box(&tool))), approved);
    }
    let pin_us = started.elapsed().as_secs_f64() * 1e6 / runs as f64;
    let secrets = Secrets::default();
    for n in 0..5 {
        secrets.set(&format!("s{n}"), vec![(format!("s{n}/TOKEN"), format!("stored-secret-value-{n}-0123456789"))]);
    }
    let text = "Issue #42: the build fails on ARM when the cache is cold; see the log below.\n".repeat(50);
    let result = json!({"content": [{"type": "text", "text": text}], "isError": false});
    let started = Instant::now();
    for _ in 0..runs / 10 {
        let mut copy = result.clone();
        assert!(secrets.redact_result(&mut copy).is_empty());
        assert!(redact_patterns(&mut copy).is_empty());
    }
    let scan_us = started.elapsed().as_secs_f64() * 1e6 / (runs / 10) as f64;
    let started = Instant::now();
    for _ in 0..runs / 10 {
        std::hint::black_box(result.clone());
    }
    let clone_us = started.elapsed().as_secs_f64() * 1e6 / (runs / 10) as f64;
    println!(
        "tool pinning: {pin_us:.1} µs a call (a definition's fingerprint); secret scanning of a {} KiB result: {:.1} µs a call (5 stored secrets and the key patterns; floor: copying the result, {clone_us:.1} µs)",
        text.len() / 1024,
        scan_us - clone_us
    );
}

/// Prints the median of 5 `servers.stop` → `servers.start` (until running) of server `id`.
fn start_to_ready(bridge: &mut BridgeProcess, id: &str, label: &str) {
    let mut samples = Vec::new();
    for _ in 0..5 {
        bridge.ok("servers.stop", json!({ "id": id }));
        let started = Instant::now();
        bridge.ok("servers.start", json!({ "id": id }));
        samples.push(started.elapsed().as_secs_f64() * 1e3);
    }
    println!("start-to-ready {label}: median {:.0} ms (n = 5)", quantile(&samples, 0.5));
}

/// The same call by an app through the gateway's HTTP endpoint.
fn gateway_calls(url: &str, key: &str) -> Vec<f64> {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(measure::mcp_echo_calls(url, key, "everything__echo", CALLS))
}

/// `(p50, p99)` in µs of the TypeScript SDK's client calling `echo`: straight to
/// server-everything's Streamable HTTP endpoint, then through the gateway at `url`.
fn sdk_calls(servers: &Path, everything: &Path, url: &str, key: &str) -> ((f64, f64), (f64, f64)) {
    let node_path = servers.join("npm/node_modules");
    let timer = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/sdk_bench.cjs");
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut server = std::process::Command::new("node")
        .arg(everything)
        .arg("streamableHttp")
        .env("PORT", port.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + std::time::Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "server-everything did not listen on {port}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let time = |url: &str, tool: &str, key: Option<&str>| {
        let mut command = std::process::Command::new("node");
        command.arg(&timer).args([url, tool, &CALLS.to_string()]).args(key).env("NODE_PATH", &node_path);
        let output = command.output().unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        let figures: Value = serde_json::from_slice(&output.stdout).unwrap();
        (figures["p50"].as_f64().unwrap(), figures["p99"].as_f64().unwrap())
    };
    let direct = time(&format!("http://127.0.0.1:{port}/mcp"), "echo", None);
    let _ = server.kill();
    let _ = server.wait();
    (direct, time(url, "everything__echo", Some(key)))
}
