//! MCP servers written in JavaScript, run by Harbor's own binary with no Node.js: a fixture in
//! the format Harbor's JS servers use (`MCP.readLine`/`MCP.writeLine`, `process.env`, `fetch`),
//! added from the command line with its SHA-256 to a headless bridge, started with no `node` on
//! its PATH, listing and answering tools; its `fetch` reaches a declared loopback host and is
//! refused for an undeclared one; a file whose SHA-256 differs is refused and nothing added.

use crate::support;

use std::path::Path;

use harbor_bridge::link::Link;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use support::{admin, serve_headless};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const BRIDGE: &str = env!("CARGO_BIN_EXE_harbor-bridge");

fn fixture() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/js_server.js")
}

/// A loopback HTTP server that answers every request `200 pong`.
async fn pong() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buffer = [0u8; 2048];
                let _ = stream.read(&mut buffer).await;
                let _ =
                    stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\nconnection: close\r\n\r\npong").await;
            });
        }
    });
    port
}

fn cli(home: &Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(BRIDGE).args(args).env("HARBOR_HOME", home).output().unwrap()
}

fn text(result: &Value) -> String {
    result["content"][0]["text"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn a_javascript_server_runs_with_no_node_and_fetches_only_its_declared_hosts() {
    let (_serving, home, _) = serve_headless("js-server").await;
    let digest: String = Sha256::digest(std::fs::read(fixture()).unwrap()).iter().map(|b| format!("{b:02x}")).collect();
    let file = fixture().display().to_string();

    // A changed file (here: the wrong digest) is refused, and nothing is added.
    let wrong = cli(&home, &["servers", "add", "js", "--js", &file, "--sha256", &"0".repeat(64)]);
    assert!(!wrong.status.success());
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("not the"), "{}", String::from_utf8_lossy(&wrong.stderr));
    let mut link = Link::open(&home).await.unwrap();
    assert!(admin(&mut link, "servers.list", json!({})).await.as_array().unwrap().is_empty());

    let added = cli(
        &home,
        &[
            "servers",
            "add",
            "js",
            "--js",
            &file,
            "--sha256",
            &digest,
            "--allow-host",
            "127.0.0.1",
            "--env",
            "GREETING=Ahoy",
            "--env",
            "PATH=/nonexistent",
        ],
    );
    assert!(added.status.success(), "{}", String::from_utf8_lossy(&added.stderr));
    admin(&mut link, "servers.start", json!({"id": "js"})).await;
    let tools = admin(&mut link, "tools.list", json!({"serverId": "js"})).await;
    let names: Vec<&str> = tools.as_array().unwrap().iter().filter_map(|t| t["name"].as_str()).collect();
    assert_eq!(names, ["js/greet", "js/fetch_status", "js/whoami"]);

    let call = |tool: &str, args: Value| json!({"tool": format!("js/{tool}"), "args": args});
    let greeted = admin(&mut link, "tools.call", call("greet", json!({"name": "Ada"}))).await;
    assert_eq!(text(&greeted), "Ahoy, Ada!", "process.env holds the server's settings");
    let seen = admin(&mut link, "tools.call", call("whoami", json!({}))).await;
    assert_eq!(text(&seen), r#"{"seen":[],"node":"undefined"}"#, "no require, Deno or Node");

    let port = pong().await;
    let declared =
        admin(&mut link, "tools.call", call("fetch_status", json!({"url": format!("http://127.0.0.1:{port}/")}))).await;
    assert_eq!(text(&declared), "status 200: pong");
    let other =
        admin(&mut link, "tools.call", call("fetch_status", json!({"url": format!("http://localhost:{port}/")}))).await;
    assert_eq!(other["isError"], true);
    assert!(text(&other).contains("localhost is not a host this server declared"), "{other}");

    // It is a server like any other: stopped and started again, it answers again.
    admin(&mut link, "servers.stop", json!({"id": "js"})).await;
    admin(&mut link, "servers.start", json!({"id": "js"})).await;
    let again = admin(&mut link, "tools.call", call("greet", json!({"name": "Grace"}))).await;
    assert_eq!(text(&again), "Ahoy, Grace!");
    link.close().await;
}
