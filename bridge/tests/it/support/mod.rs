//! A test client for the bridge: it serves a session over in-memory pipes with the same framing
//! Firefox uses, matches replies to requests, keeps each request's stream events, and records
//! every notification.

#[path = "../../../../tests/src/registries.rs"]
pub mod registries;

#[path = "../../../../tests/src/ports.rs"]
mod ports;
#[path = "../../../../tests/src/postgres.rs"]
mod postgres;
#[path = "../../../../tests/src/provider_pages.rs"]
pub mod provider_pages;
pub use postgres::Postgres;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use harbor_bridge::Bridge;
use serde_json::{json, Value};
use std::process::Stdio;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, DuplexStream, WriteHalf};
use tokio::sync::oneshot;

type Outcome = (Result<Value, Value>, Vec<Value>);

#[derive(Default)]
struct Inbox {
    waiting: HashMap<i64, oneshot::Sender<Outcome>>,
    events: HashMap<i64, Vec<Value>>,
    notifications: Vec<(String, Value)>,
    /// Every message the bridge sent, as sent.
    transcript: Vec<String>,
}

pub struct Client {
    pub home: PathBuf,
    bridge: Arc<Bridge>,
    writer: tokio::sync::Mutex<Option<WriteHalf<DuplexStream>>>,
    inbox: Arc<Mutex<Inbox>>,
    /// Outcomes not yet waited for, by request id.
    outcomes: Mutex<HashMap<i64, oneshot::Receiver<Outcome>>>,
    next_id: AtomicI64,
    session: tokio::task::JoinHandle<()>,
    /// This session stands for Firefox's, whose sidebar the user answers servers' asks in.
    _present: harbor_bridge::asks::Presence,
}

impl Client {
    /// A bridge with a fresh data folder.
    pub async fn start(tag: &str) -> Client {
        let home = std::env::temp_dir().join(format!("harbor-host-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&home);
        std::fs::create_dir_all(&home).unwrap();
        Client::open(home).await
    }

    /// A bridge on an existing data folder (as after a restart).
    pub async fn open(home: PathBuf) -> Client {
        let bridge = Arc::new(Bridge::open(&home).expect("the bridge opens"));
        let (ours, theirs) = tokio::io::duplex(1 << 20);
        let (their_read, their_write) = tokio::io::split(theirs);
        let (mut our_read, our_write) = tokio::io::split(ours);
        let serving = bridge.clone();
        let session = tokio::spawn(async move {
            serving.serve(their_read, their_write, std::future::pending()).await.unwrap();
        });
        let inbox = Arc::new(Mutex::new(Inbox::default()));
        let reading = inbox.clone();
        tokio::spawn(async move {
            loop {
                let mut len = [0u8; 4];
                if our_read.read_exact(&mut len).await.is_err() {
                    return;
                }
                let mut body = vec![0u8; u32::from_ne_bytes(len) as usize];
                our_read.read_exact(&mut body).await.unwrap();
                let message: Value = serde_json::from_slice(&body).unwrap();
                let mut inbox = reading.lock().unwrap();
                inbox.transcript.push(String::from_utf8_lossy(&body).into_owned());
                if let Some(method) = message["notify"].as_str() {
                    inbox.notifications.push((method.to_owned(), message["params"].clone()));
                    continue;
                }
                let Some(id) = message["id"].as_i64() else { continue };
                if !message["event"].is_null() {
                    inbox.events.entry(id).or_default().push(message["event"].clone());
                    continue;
                }
                let outcome = match message.get("error") {
                    Some(error) => Err(error.clone()),
                    None => Ok(message["result"].clone()),
                };
                let events = inbox.events.remove(&id).unwrap_or_default();
                if let Some(waiter) = inbox.waiting.remove(&id) {
                    let _ = waiter.send((outcome, events));
                }
            }
        });
        Client {
            home,
            bridge: bridge.clone(),
            writer: tokio::sync::Mutex::new(Some(our_write)),
            inbox,
            outcomes: Mutex::default(),
            next_id: AtomicI64::new(1),
            session,
            _present: bridge.asks.present(),
        }
    }

    async fn frame(&self, message: Value) {
        let bytes = message.to_string().into_bytes();
        let mut writer = self.writer.lock().await;
        let writer = writer.as_mut().expect("the session is open");
        writer.write_all(&(bytes.len() as u32).to_ne_bytes()).await.unwrap();
        writer.write_all(&bytes).await.unwrap();
    }

    /// Sends a request and returns its id; [`Client::wait`] gets its outcome.
    pub async fn send(&self, method: &str, params: Value) -> i64 {
        let id = self.next_id.fetch_add(1, Ordering::SeqCst);
        let (tx, rx) = oneshot::channel();
        self.inbox.lock().unwrap().waiting.insert(id, tx);
        self.outcomes.lock().unwrap().insert(id, rx);
        self.frame(json!({"id": id, "method": method, "params": params})).await;
        id
    }

    /// Sends a request as `caller` (what the background adds from `port.sender`).
    pub async fn send_as(&self, caller: &Value, method: &str, params: Value) -> i64 {
        let id = self.next_id.fetch_add(1, Ordering::SeqCst);
        let (tx, rx) = oneshot::channel();
        self.inbox.lock().unwrap().waiting.insert(id, tx);
        self.outcomes.lock().unwrap().insert(id, rx);
        self.frame(json!({"id": id, "method": method, "params": params, "caller": caller})).await;
        id
    }

    pub async fn call_as(&self, caller: &Value, method: &str, params: Value) -> Outcome {
        let id = self.send_as(caller, method, params).await;
        self.wait(id).await
    }

    /// The final outcome of request `id` and the events that came before it.
    pub async fn wait(&self, id: i64) -> Outcome {
        let rx = self.outcomes.lock().unwrap().remove(&id).expect("a request that was sent");
        tokio::time::timeout(Duration::from_secs(120), rx).await.expect("every request is answered").unwrap()
    }

    pub async fn call(&self, method: &str, params: Value) -> Outcome {
        let id = self.send(method, params).await;
        self.wait(id).await
    }

    /// The result of a call that must succeed.
    pub async fn ok(&self, method: &str, params: Value) -> Value {
        match self.call(method, params.clone()).await.0 {
            Ok(result) => result,
            Err(error) => panic!("{method} {params} failed: {error}"),
        }
    }

    /// The error of a call that must fail.
    pub async fn err(&self, method: &str, params: Value) -> Value {
        match self.call(method, params.clone()).await.0 {
            Ok(result) => panic!("{method} {params} succeeded: {result}"),
            Err(error) => error,
        }
    }

    /// The stream events of request `id` received so far (empty once it is answered).
    pub fn events_so_far(&self, id: i64) -> Vec<Value> {
        self.inbox.lock().unwrap().events.get(&id).cloned().unwrap_or_default()
    }

    pub async fn cancel(&self, id: i64) {
        self.frame(json!({ "cancel": id })).await;
    }

    /// The params of every notification `method` received so far.
    /// Every message the bridge sent in this session, joined.
    pub fn transcript(&self) -> String {
        self.inbox.lock().unwrap().transcript.join("\n")
    }

    pub fn notifications(&self, method: &str) -> Vec<Value> {
        self.inbox.lock().unwrap().notifications.iter().filter(|(m, _)| m == method).map(|(_, p)| p.clone()).collect()
    }

    /// Polls a server until it reaches `state`; returns its status.
    pub async fn wait_for_state(&self, id: &str, state: &str, timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let entry = self.ok("servers.get", json!({ "id": id })).await;
            if entry["status"]["state"] == state {
                return entry["status"].clone();
            }
            assert!(Instant::now() < deadline, "{id} did not reach {state} within {timeout:?}: {entry}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Points this bridge's npm and PyPI installs at the local registries ([`registries`]).
    pub async fn use_local_registries(&self) {
        self.ok("install.registries.set", json!({ "npm": registries::npm(), "pypi": registries::pypi() })).await;
    }

    /// Waits for request `id`'s first stream event (an installer's first line, say).
    pub async fn first_event(&self, id: i64, timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(event) = self.events_so_far(id).into_iter().next() {
                return event;
            }
            assert!(Instant::now() < deadline, "request {id} streamed nothing within {timeout:?}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Ends the session (end-of-input, as when Firefox closes the port) and stops every server.
    pub async fn finish(self) {
        // Dropping one half of a split stream does not close it; shutting it down does.
        if let Some(mut writer) = self.writer.lock().await.take() {
            writer.shutdown().await.unwrap();
        }
        self.session.await.unwrap();
        self.bridge.shutdown().await;
    }
}

/// Where `scripts/setup --test` put the real test servers.
pub fn test_servers() -> PathBuf {
    let dir = std::env::var_os("HARBOR_TEST_SERVERS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/test-servers"));
    let everything = dir.join("npm/node_modules/@modelcontextprotocol/server-everything/dist/index.js");
    assert!(everything.is_file(), "the test servers are not installed in {}: run scripts/setup --test", dir.display());
    dir
}

/// Sets `origin`'s grant of `scope` (`ALLOW_ALWAYS` or `DENY`), as the Sites panel would.
pub async fn set_grant(client: &Client, origin: &str, scope: &str, grant: &str) {
    client.ok("permissions.set", json!({"origin": origin, "scope": scope, "grant": grant})).await;
}

/// server-everything serving Streamable HTTP on `port` (its `/mcp`), stopped when dropped.
pub fn everything_http(port: u16) -> tokio::process::Child {
    tokio::process::Command::new("node")
        .arg(test_servers().join("npm/node_modules/@modelcontextprotocol/server-everything/dist/index.js"))
        .arg("streamableHttp")
        .env("PORT", port.to_string())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("node runs")
}

/// The launch of server-everything in `mode` (`stdio`).
pub fn everything_launch(mode: &str) -> Value {
    let entry = test_servers().join("npm/node_modules/@modelcontextprotocol/server-everything/dist/index.js");
    json!({ "kind": "process", "command": "node", "args": [entry, mode] })
}

/// What the probe server (`probe_launch`) saw: `inFlight`, `maxInFlight`, `calls`, `cancelled`.
pub async fn probe_stats(client: &Client) -> Value {
    let stats = client.ok("tools.call", json!({"tool": "probe/stats"})).await;
    let text = stats["content"][0]["text"].as_str().unwrap_or_else(|| panic!("stats answered {stats}"));
    serde_json::from_str(text).unwrap_or_else(|_| panic!("stats answered {stats}"))
}

/// Waits until `calls` of the probe's tools are running at the server itself (not only sent).
pub async fn probe_busy(client: &Client, calls: u64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while probe_stats(client).await["inFlight"].as_u64() < Some(calls) {
        assert!(Instant::now() < deadline, "the probe never had {calls} calls in flight");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Waits (with a deadline) until `done` holds.
pub async fn eventually(what: &str, within: Duration, done: impl Fn() -> bool) {
    let deadline = Instant::now() + within;
    while !done() {
        assert!(Instant::now() < deadline, "{what} within {within:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The caller context of a page of `origin` in tab `tab`.
/// A page's top frame calling right after a click (with transient user activation).
pub fn page(origin: &str, tab: i64) -> Value {
    json!({ "kind": "page", "origin": origin, "tabId": tab, "frameId": 0, "topOrigin": origin, "userActivation": true })
}

/// A frame of `origin` inside the page `top` in `tab`, calling with or without a gesture.
pub fn frame(origin: &str, top: &str, tab: i64, frame: i64, gesture: bool) -> Value {
    json!({ "kind": "page", "origin": origin, "tabId": tab, "frameId": frame, "topOrigin": top, "userActivation": gesture })
}

/// The launch of the probe server (tests/fixtures/probe_server.py): it reports how many calls
/// were in flight at once and which were cancelled.
pub fn probe_launch() -> Value {
    fixture_launch("probe_server.py")
}

/// The launch of a Python fixture server in tests/fixtures, on the test servers' venv.
pub fn fixture_launch(script: &str) -> Value {
    let python = test_servers().join("venv/bin/python");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures").join(script);
    json!({ "kind": "process", "command": python, "args": [script] })
}

/// The launch of `mcp-server-time` (PyPI) with UTC as its local zone.
pub fn time_launch() -> Value {
    let python = test_servers().join("venv/bin/python");
    json!({ "kind": "process", "command": python, "args": ["-m", "mcp_server_time", "--local-timezone", "UTC"] })
}

/// The launch of `@modelcontextprotocol/server-filesystem` serving `root`.
pub fn filesystem_launch(root: &Path) -> Value {
    let entry = test_servers().join("npm/node_modules/@modelcontextprotocol/server-filesystem/dist/index.js");
    json!({ "kind": "process", "command": "node", "args": [entry, root] })
}

/// Every file under `dir`, as bytes (for looking for values that must not be there).
pub fn files_under(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(files_under(&path));
        } else if let Ok(bytes) = std::fs::read(&path) {
            found.push((path, bytes));
        }
    }
    found
}

/// Processes whose environment holds `HARBOR_TEST_MARK=<marker>`.
pub fn process_tree(marker: &str) -> Vec<u32> {
    let needle = format!("HARBOR_TEST_MARK={marker}");
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/environ"))
                .map(|env| env.split(|b| *b == 0).any(|kv| kv == needle.as_bytes()))
                .unwrap_or(false)
        })
        .collect()
}

/// A port nothing listens on (see `tests/src/ports.rs`).
pub fn free_port() -> u16 {
    ports::free_port().expect("a free port below 32000")
}

pub async fn wait_for_port(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
        assert!(Instant::now() < deadline, "nothing listens on port {port}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Serves `files` (path → bytes) over HTTP on a loopback port; returns `http://127.0.0.1:<port>`.
pub async fn serve_files(files: Vec<(&str, Vec<u8>)>) -> String {
    serve_files_at(0, files).await
}

/// [`serve_files`] on a chosen port (0: any), for files that must name their own address.
pub async fn serve_files_at(port: u16, files: Vec<(&str, Vec<u8>)>) -> String {
    use tokio::io::AsyncWriteExt as _;
    let files: Arc<HashMap<String, Vec<u8>>> = Arc::new(files.into_iter().map(|(p, b)| (p.to_owned(), b)).collect());
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let files = files.clone();
            tokio::spawn(async move {
                let mut buffer = vec![0u8; 4096];
                let Ok(n) = stream.read(&mut buffer).await else { return };
                let head = String::from_utf8_lossy(&buffer[..n]).into_owned();
                let path = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
                // `Range: bytes=N-` is honoured (206 with the rest), as file servers do.
                let from = head
                    .lines()
                    .find_map(|l| l.to_ascii_lowercase().strip_prefix("range: bytes=").map(str::to_owned))
                    .and_then(|r| r.trim_end_matches('-').trim().parse::<usize>().ok());
                let response = match files.get(&path) {
                    Some(body) if from.is_some_and(|f| f > 0 && f < body.len()) => {
                        let from = from.unwrap();
                        let mut out = format!(
                            "HTTP/1.1 206 Partial Content\r\nContent-Length: {}\r\nContent-Range: bytes {from}-{}/{}\r\nConnection: close\r\n\r\n",
                            body.len() - from,
                            body.len() - 1,
                            body.len()
                        )
                        .into_bytes();
                        out.extend_from_slice(&body[from..]);
                        out
                    }
                    Some(body) => {
                        let mut out =
                            format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len())
                                .into_bytes();
                        out.extend_from_slice(body);
                        out
                    }
                    None => b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec(),
                };
                let _ = stream.write_all(&response).await;
            });
        }
    });
    url
}

/// `harbor-bridge gateway serve --port 0` in a home of its own: the child, its home and the
/// endpoint's URL.
pub async fn serve_headless(tag: &str) -> (tokio::process::Child, PathBuf, String) {
    let home = std::env::temp_dir().join(format!("harbor-gw-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&home);
    std::fs::create_dir_all(&home).unwrap();
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_harbor-bridge"));
    command.args(["gateway", "serve", "--port", "0"]).env("HARBOR_HOME", &home).env("HARBOR_TEST_MARK", tag);
    let (child, line) = first_line(command, Duration::from_secs(20)).await;
    let url = line.strip_prefix("Harbor gateway on ").expect("the URL comes first").to_owned();
    (child, home, url)
}

/// Starts `command` (stdout piped, killed when dropped) and waits `within` for its first line.
pub async fn first_line(mut command: tokio::process::Command, within: Duration) -> (tokio::process::Child, String) {
    let mut child = command.stdout(Stdio::piped()).kill_on_drop(true).spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = tokio::time::timeout(within, lines.next_line()).await.expect("it says something in time").unwrap();
    (child, line.unwrap_or_default())
}

/// A call over the bridge's own protocol that must succeed (an admin step of a test).
pub async fn admin(link: &mut harbor_bridge::link::Link, method: &str, params: Value) -> Value {
    link.call(method, params).await.unwrap().unwrap_or_else(|e| panic!("{method}: {e}"))
}

/// rmcp's client, declaring no capabilities, on the gateway's HTTP face with a client's key.
pub async fn mcp_http_client(url: &str, key: &str) -> rmcp::service::RunningService<rmcp::RoleClient, ()> {
    use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
    use rmcp::ServiceExt;
    let http = harbor_bridge::http::client_builder().build().unwrap();
    let config = StreamableHttpClientTransportConfig::with_uri(url.to_owned()).auth_header(key.to_owned());
    ().serve(rmcp::transport::StreamableHttpClientTransport::with_client(http, config))
        .await
        .expect("the gateway answers initialize")
}

/// One raw HTTP request (to the gateway): `(status, headers, body)`.
pub async fn raw(
    method: reqwest::Method,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> (u16, reqwest::header::HeaderMap, String) {
    let http = harbor_bridge::http::client_builder().build().unwrap();
    let mut request = http.request(method, url).header("accept", "application/json, text/event-stream");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, headers, response.text().await.unwrap())
}

/// A 2025-06-18 `initialize` request.
pub fn initialize() -> Value {
    json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "raw", "version": "1"}}})
}

/// An MCP client that reports each `tools/list_changed` it hears.
#[derive(Clone)]
pub struct Listener(pub tokio::sync::mpsc::UnboundedSender<()>);

impl rmcp::ClientHandler for Listener {
    async fn on_tool_list_changed(&self, _context: rmcp::service::NotificationContext<rmcp::RoleClient>) {
        let _ = self.0.send(());
    }
}

pub type McpClient = rmcp::service::RunningService<rmcp::RoleClient, Listener>;

/// rmcp's client on the gateway's HTTP face with a bearer (a key or a token), and what it hears.
pub async fn http_client(url: &str, key: &str) -> (McpClient, tokio::sync::mpsc::UnboundedReceiver<()>) {
    use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
    use rmcp::ServiceExt;
    let http = harbor_bridge::http::client_builder().build().unwrap();
    let config = StreamableHttpClientTransportConfig::with_uri(url.to_owned()).auth_header(key.to_owned());
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let client = Listener(tx)
        .serve(rmcp::transport::StreamableHttpClientTransport::with_client(http, config))
        .await
        .expect("the gateway answers initialize");
    (client, rx)
}
