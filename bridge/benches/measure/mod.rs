//! What the bridge's benchmarks share: quantiles of samples, a process's resident memory, and
//! the real bridge binary driven over its stdio ([`BridgeProcess`]), with the arrival time of
//! each stream event.

// Each benchmark uses a different part of this module.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use serde_json::{json, Value};

/// The `q` quantile (0.5 = median) of `samples`.
pub fn quantile(samples: &[f64], q: f64) -> f64 {
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

/// A process's resident memory in MiB, from `/proc/<pid>/status`.
pub fn resident_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0);
    kib / 1024.0
}

/// The real bridge binary in host mode, driven over its stdio.
pub struct BridgeProcess {
    child: Child,
    stdin: ChildStdin,
    stdout: ChildStdout,
    next_id: u64,
    _home: PathBuf,
}

impl BridgeProcess {
    pub fn start(tag: &str) -> BridgeProcess {
        let home = std::env::temp_dir().join(format!("harbor-bench-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&home);
        let mut child = Command::new(env!("CARGO_BIN_EXE_harbor-bridge"))
            .arg("serve")
            .env("HARBOR_HOME", &home)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        BridgeProcess { child, stdin, stdout, next_id: 1, _home: home }
    }

    pub fn ok(&mut self, method: &str, params: Value) -> Value {
        self.stream(method, params).0
    }

    /// [`BridgeProcess::ok`] as `caller` (what the background adds for a web page).
    pub fn ok_as(&mut self, caller: &Value, method: &str, params: Value) -> Value {
        self.send(json!({"method": method, "params": params, "caller": caller})).0
    }

    /// The result of a call that must succeed, and its stream events with when each arrived.
    pub fn stream(&mut self, method: &str, params: Value) -> (Value, Vec<(std::time::Instant, Value)>) {
        self.send(json!({"method": method, "params": params}))
    }

    fn send(&mut self, mut request: Value) -> (Value, Vec<(std::time::Instant, Value)>) {
        let method = request["method"].as_str().unwrap_or_default().to_owned();
        let mut events = Vec::new();
        let id = self.next_id;
        self.next_id += 1;
        request["id"] = json!(id);
        let bytes = request.to_string().into_bytes();
        self.stdin.write_all(&(bytes.len() as u32).to_ne_bytes()).unwrap();
        self.stdin.write_all(&bytes).unwrap();
        self.stdin.flush().unwrap();
        loop {
            let mut len = [0u8; 4];
            self.stdout.read_exact(&mut len).unwrap();
            let mut body = vec![0u8; u32::from_ne_bytes(len) as usize];
            self.stdout.read_exact(&mut body).unwrap();
            let at = std::time::Instant::now();
            let message: Value = serde_json::from_slice(&body).unwrap();
            if message["id"] != id {
                continue;
            }
            if let Some(event) = message.get("event") {
                events.push((at, event.clone()));
                continue;
            }
            if let Some(error) = message.get("error") {
                panic!("{method} failed: {error}");
            }
            return (message["result"].clone(), events);
        }
    }

    pub fn rss_mib(&self) -> f64 {
        resident_mib(self.child.id())
    }
}

impl Drop for BridgeProcess {
    fn drop(&mut self) {
        // End of input: the bridge stops every server and exits.
        let _ = self.stdin.flush();
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        let _ = self.child.wait();
    }
}

/// `count` tools for selection and code mode: the distractor fixture's, repeated under numbered
/// servers.
pub fn catalog(count: usize) -> Vec<harbor_bridge::mcp::registry::ToolEntry> {
    let base: Vec<harbor_bridge::mcp::registry::ToolEntry> =
        serde_json::from_str(include_str!("../../tests/fixtures/distractor-tools.json")).expect("the fixture");
    (0..count)
        .map(|i| {
            let mut tool = base[i % base.len()].clone();
            let server = format!("{}{}", tool.server_id, i / base.len());
            tool.name = format!("{server}/{}", tool.name.split_once('/').unwrap().1);
            tool.server_id = server;
            tool
        })
        .collect()
}

/// `calls` of server-everything's `echo` straight to it over stdio with rmcp (after 200 to warm
/// up): the floor of a tool call, in µs each.
pub fn direct_calls(everything: &std::path::Path, calls: usize) -> Vec<f64> {
    use rmcp::model::CallToolRequestParams;
    use rmcp::ServiceExt;
    use std::time::Instant;
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(async {
        let mut child = tokio::process::Command::new("node")
            .arg(everything)
            .arg("stdio")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let transport = (child.stdout.take().unwrap(), child.stdin.take().unwrap());
        let client = ().serve(transport).await.unwrap();
        let mut samples = Vec::with_capacity(calls);
        for n in 0..calls + 200 {
            let arguments = json!({"message": n.to_string()}).as_object().unwrap().clone();
            let started = Instant::now();
            client.peer().call_tool_once(CallToolRequestParams::new("echo").with_arguments(arguments)).await.unwrap();
            if n >= 200 {
                samples.push(started.elapsed().as_secs_f64() * 1e6);
            }
        }
        let _ = client.cancel().await;
        samples
    })
}

/// `calls` of server-everything's `echo` by the leanest client there is — JSON-RPC lines written
/// straight to the server's stdin and its answer read from its stdout, no SDK — after 200 to warm
/// up, in µs each: the floor a call through anything else is compared with.
pub fn lean_calls(everything: &std::path::Path, calls: usize) -> Vec<f64> {
    use std::io::BufRead;
    use std::time::Instant;
    let mut child = Command::new("node")
        .arg(everything)
        .arg("stdio")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    // Reads lines until the answer to `id` (the server may send notifications between).
    let mut answer = |id: u64, line: &mut String| loop {
        line.clear();
        assert!(lines.read_line(line).unwrap() > 0, "server-everything closed its stdout");
        if line.contains(&format!("\"id\":{id},")) || line.contains(&format!("\"id\":{id}}}")) {
            return;
        }
    };
    let initialize = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "lean", "version": "1"}}});
    writeln!(stdin, "{initialize}").unwrap();
    answer(0, &mut line);
    writeln!(stdin, r#"{{"jsonrpc":"2.0","method":"notifications/initialized"}}"#).unwrap();
    let mut samples = Vec::with_capacity(calls);
    for n in 1..=(calls + 200) as u64 {
        let call = format!(
            r#"{{"jsonrpc":"2.0","id":{n},"method":"tools/call","params":{{"name":"echo","arguments":{{"message":"{n}"}}}}}}"#
        );
        let started = Instant::now();
        writeln!(stdin, "{call}").unwrap();
        stdin.flush().unwrap();
        answer(n, &mut line);
        if n > 200 {
            samples.push(started.elapsed().as_secs_f64() * 1e6);
        }
    }
    drop(stdin);
    let _ = child.kill();
    let _ = child.wait();
    samples
}

/// `calls` of `tool` (an echo taking `message`) by rmcp's client over Streamable HTTP at `url`
/// with `bearer` (after 200 to warm up), in µs each.
pub async fn mcp_echo_calls(url: &str, bearer: &str, tool: &str, calls: usize) -> Vec<f64> {
    use rmcp::model::CallToolRequestParams;
    use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
    use rmcp::transport::StreamableHttpClientTransport;
    use rmcp::ServiceExt;
    let http = harbor_bridge::http::client_builder().build().unwrap();
    let config = StreamableHttpClientTransportConfig::with_uri(url.to_owned()).auth_header(bearer.to_owned());
    let client = ().serve(StreamableHttpClientTransport::with_client(http, config)).await.unwrap();
    let mut samples = Vec::with_capacity(calls);
    for n in 0..calls + 200 {
        let arguments = json!({"message": n.to_string()}).as_object().unwrap().clone();
        let started = std::time::Instant::now();
        let params = CallToolRequestParams::new(tool.to_owned()).with_arguments(arguments);
        client.peer().call_tool_once(params).await.unwrap();
        if n >= 200 {
            samples.push(started.elapsed().as_secs_f64() * 1e6);
        }
    }
    let _ = client.cancel().await;
    samples
}

/// The test servers `scripts/setup --test` installs (`HARBOR_TEST_SERVERS`, else beside the
/// build), and server-everything's entry point among them.
pub fn test_servers() -> (PathBuf, PathBuf) {
    let servers = std::env::var_os("HARBOR_TEST_SERVERS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/test-servers"));
    let everything = servers.join("npm/node_modules/@modelcontextprotocol/server-everything/dist/index.js");
    assert!(everything.is_file(), "run scripts/setup --test first (no test servers in {})", servers.display());
    (servers, everything)
}
