//! A tiny MCP server over stdio, for Harbor's Docker tests only (never shipped).
//!
//! It has no dependencies but serde_json so that its image is this binary and the C library
//! (the tests `docker import` a root filesystem built from it). Tools:
//! - `echo {text}` — answers the text, and writes a line to stderr (the tests look for it in
//!   the server's log);
//! - `inspect` — what the container allows, seen from inside: network interfaces, whether the
//!   root filesystem and `/tmp` are writable, the effective capabilities, the user id, the
//!   memory and pids limits of its cgroup, and the value of `HARBOR_SECRET_PROBE` (how secrets
//!   arrive);
//! - `exit {code}` — exits at once (a crash, for the restart tests).

use std::io::{BufRead, Write};

use serde_json::{json, Value};

fn main() {
    let stdin = std::io::stdin();
    let mut out = std::io::stdout().lock();
    eprintln!("container server ready");
    for line in stdin.lock().lines() {
        let Ok(line) = line else { return };
        let Ok(message) = serde_json::from_str::<Value>(&line) else { continue };
        let Some(id) = message.get("id").cloned() else { continue }; // a notification
        let result = match message["method"].as_str().unwrap_or_default() {
            "initialize" => json!({
                "protocolVersion": message["params"]["protocolVersion"].as_str().unwrap_or("2025-06-18"),
                "capabilities": {"tools": {}},
                "serverInfo": {"name": "harbor-container-server", "version": "1"}
            }),
            "tools/list" => json!({"tools": [
                {"name": "echo", "description": "Answers the text", "inputSchema": {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}},
                {"name": "inspect", "description": "Reports what the container allows", "inputSchema": {"type": "object", "properties": {}}},
                {"name": "exit", "description": "Exits with a code", "inputSchema": {"type": "object", "properties": {"code": {"type": "integer"}}}}
            ]}),
            "tools/call" => call(&message["params"]),
            "ping" => json!({}),
            other => {
                let error = json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32601, "message": format!("no method {other}")}});
                let _ = writeln!(out, "{error}");
                let _ = out.flush();
                continue;
            }
        };
        let _ = writeln!(out, "{}", json!({"jsonrpc": "2.0", "id": id, "result": result}));
        let _ = out.flush();
    }
}

fn text(value: String) -> Value {
    json!({"content": [{"type": "text", "text": value}]})
}

fn call(params: &Value) -> Value {
    match params["name"].as_str().unwrap_or_default() {
        "echo" => {
            let said = params["arguments"]["text"].as_str().unwrap_or_default();
            eprintln!("echoing {} bytes", said.len());
            text(said.to_owned())
        }
        "inspect" => text(inspect().to_string()),
        "exit" => std::process::exit(params["arguments"]["code"].as_i64().unwrap_or(1) as i32),
        other => json!({"content": [{"type": "text", "text": format!("no tool {other}")}], "isError": true}),
    }
}

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

fn writable(dir: &str) -> bool {
    let probe = format!("{dir}/.harbor-probe");
    let ok = std::fs::write(&probe, b"x").is_ok();
    let _ = std::fs::remove_file(&probe);
    ok
}

fn inspect() -> Value {
    let interfaces: Vec<String> = read("/proc/net/dev")
        .lines()
        .skip(2)
        .filter_map(|l| l.split(':').next().map(|n| n.trim().to_owned()))
        .collect();
    let status = read("/proc/self/status");
    let field = |name: &str| {
        status.lines().find(|l| l.starts_with(name)).and_then(|l| l.split_whitespace().nth(1)).unwrap_or("").to_owned()
    };
    json!({
        "interfaces": interfaces,
        "rootWritable": writable(""),
        "tmpWritable": writable("/tmp"),
        "capEff": field("CapEff:"),
        "noNewPrivs": field("NoNewPrivs:"),
        "uid": field("Uid:"),
        "memoryMax": read("/sys/fs/cgroup/memory.max").trim().to_owned()
            + read("/sys/fs/cgroup/memory/memory.limit_in_bytes").trim(),
        "pidsMax": read("/sys/fs/cgroup/pids.max").trim().to_owned()
            + read("/sys/fs/cgroup/pids/pids.max").trim(),
        "secret": std::env::var("HARBOR_SECRET_PROBE").unwrap_or_default(),
    })
}
