//! The MCP host against real servers: `@modelcontextprotocol/server-everything` (stdio and
//! Streamable HTTP), `server-filesystem` and `mcp-server-time` from PyPI, driven through the
//! bridge's own methods over the same framing Firefox uses. The servers come from
//! `scripts/setup --test` (HARBOR_TEST_SERVERS); a missing one fails the test with the fix.
//! Tests run on one thread, as the bridge does in host mode.

use crate::support;

use std::time::{Duration, Instant};

use serde_json::json;
use support::{everything_launch, filesystem_launch, fixture_launch, process_tree, time_launch, Client};

/// Everything a user does with a server, against server-everything registered as `id`: list,
/// call, read a resource, get a prompt, progress, cancel, timeout, stop.
async fn exercise_everything(client: &Client, id: &str) {
    let started = client.ok("servers.start", json!({ "id": id })).await;
    assert_eq!(started["status"]["state"], "running", "{started}");
    assert!(client.notifications("servers.changed").iter().any(|n| n["id"] == id && n["status"]["state"] == "running"));

    let tools = client.ok("tools.list", json!({})).await;
    let names: Vec<&str> = tools.as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    for tool in ["echo", "get-sum", "trigger-long-running-operation"] {
        let expected = format!("{id}/{tool}");
        assert!(names.contains(&expected.as_str()), "{expected} in {names:?}");
    }
    let echo = tools.as_array().unwrap().iter().find(|t| t["name"] == format!("{id}/echo")).unwrap();
    assert_eq!(echo["modelName"], format!("{id}__echo"));
    assert_eq!(echo["serverId"], id);
    assert!(echo["inputSchema"]["properties"]["message"].is_object());

    let echoed = client.ok("tools.call", json!({"tool": format!("{id}/echo"), "args": {"message": "ahoy"}})).await;
    assert_eq!(echoed["content"][0]["text"], "Echo: ahoy", "{echoed}");
    let sum = client.ok("tools.call", json!({"tool": format!("{id}__get-sum"), "args": {"a": 2, "b": 40}})).await;
    assert!(sum["content"][0]["text"].as_str().unwrap().contains("42"), "{sum}");

    let missing = client.err("tools.call", json!({"tool": format!("{id}/no-such-tool")})).await;
    assert_eq!(missing["code"], "ERR_TOOL_NOT_FOUND");
    let nowhere = client.err("tools.call", json!({"tool": "ghost/echo"})).await;
    assert_eq!(nowhere["code"], "ERR_TOOL_NOT_FOUND");

    let resources = client.ok("resources.list", json!({ "serverId": id })).await;
    let uri = resources[0]["uri"].as_str().expect("everything lists resources").to_owned();
    let read = client.ok("resources.read", json!({"serverId": id, "uri": uri})).await;
    assert_eq!(read["contents"][0]["uri"], uri, "{read}");

    let prompts = client.ok("prompts.list", json!({ "serverId": id })).await;
    assert!(prompts.as_array().unwrap().iter().any(|p| p["name"] == "simple-prompt"), "{prompts}");
    let prompt = client.ok("prompts.get", json!({"serverId": id, "name": "simple-prompt"})).await;
    assert!(prompt["messages"].as_array().is_some_and(|m| !m.is_empty()), "{prompt}");

    // Progress arrives as stream events before the result.
    let long = format!("{id}/trigger-long-running-operation");
    let (result, events) = client.call("tools.call", json!({"tool": long, "args": {"duration": 1, "steps": 4}})).await;
    assert!(result.is_ok(), "{result:?}");
    let progress: Vec<f64> =
        events.iter().filter(|e| e["type"] == "progress").map(|e| e["progress"].as_f64().unwrap()).collect();
    assert_eq!(progress, vec![1.0, 2.0, 3.0, 4.0], "{events:?}");

    // Cancelling a long call answers ERR_ABORTED at once.
    let call = client.send("tools.call", json!({"tool": long, "args": {"duration": 30, "steps": 30}})).await;
    client.first_event(call, Duration::from_secs(10)).await;
    let cancelled_at = Instant::now();
    client.cancel(call).await;
    let (outcome, events) = client.wait(call).await;
    assert_eq!(outcome.unwrap_err()["code"], "ERR_ABORTED");
    assert!(cancelled_at.elapsed() < Duration::from_secs(1));
    assert!(!events.is_empty(), "progress had started before the cancel");
    // The server still answers after the cancelled call.
    let again = client.ok("tools.call", json!({"tool": format!("{id}/echo"), "args": {"message": "still here"}})).await;
    assert_eq!(again["content"][0]["text"], "Echo: still here");

    let timed_out =
        client.err("tools.call", json!({"tool": long, "args": {"duration": 5, "steps": 5}, "timeoutMs": 300})).await;
    assert_eq!(timed_out["code"], "ERR_TOOL_TIMEOUT", "{timed_out}");

    let stopped = client.ok("servers.stop", json!({ "id": id })).await;
    assert_eq!(stopped["status"]["state"], "stopped");
    let unavailable = client.err("tools.call", json!({"tool": format!("{id}/echo"), "args": {"message": "x"}})).await;
    assert_eq!(unavailable["code"], "ERR_SERVER_UNAVAILABLE");
}

#[tokio::test]
async fn everything_over_stdio() {
    let client = Client::start("everything").await;
    let added = client.ok("servers.add", json!({"id": "everything", "launch": everything_launch("stdio")})).await;
    assert_eq!(added["status"]["state"], "stopped");
    exercise_everything(&client, "everything").await;
    client.finish().await;
}

#[tokio::test]
async fn everything_over_streamable_http() {
    let port = support::free_port();
    let mut remote = support::everything_http(port);
    support::wait_for_port(port).await;

    let client = Client::start("remote").await;
    let url = format!("http://127.0.0.1:{port}/mcp");
    client.ok("servers.add", json!({"id": "remote", "launch": {"kind": "remote", "url": url}})).await;
    exercise_everything(&client, "remote").await;
    client.finish().await;
    remote.kill().await.unwrap();
}

#[tokio::test]
async fn filesystem_and_time_servers_start_list_and_answer() {
    let client = Client::start("fs-time").await;
    let shared = client.home.join("shared");
    std::fs::create_dir_all(&shared).unwrap();
    std::fs::write(shared.join("note.txt"), "hello from harbor").unwrap();
    client.ok("servers.add", json!({"id": "fs", "launch": filesystem_launch(&shared)})).await;
    client.ok("servers.add", json!({"id": "time", "launch": time_launch()})).await;
    assert_eq!(client.ok("servers.start", json!({"id": "fs"})).await["status"]["state"], "running");
    assert_eq!(client.ok("servers.start", json!({"id": "time"})).await["status"]["state"], "running");

    let read =
        client.ok("tools.call", json!({"tool": "fs/read_text_file", "args": {"path": shared.join("note.txt")}})).await;
    assert_eq!(read["content"][0]["text"], "hello from harbor", "{read}");
    let tokyo =
        client.ok("tools.call", json!({"tool": "time/get_current_time", "args": {"timezone": "Asia/Tokyo"}})).await;
    let text = tokyo["content"][0]["text"].as_str().unwrap();
    assert!(text.contains("Asia/Tokyo"), "{text}");
    let time_tools = client.ok("tools.list", json!({"serverId": "time"})).await;
    assert!(time_tools.as_array().unwrap().iter().all(|t| t["serverId"] == "time"));
    client.finish().await;
}

#[tokio::test]
async fn killed_servers_restart_and_failing_servers_end_crashed_with_their_stderr() {
    let client = Client::start("crash").await;
    client.ok("servers.add", json!({"id": "everything", "launch": everything_launch("stdio")})).await;
    let first = client.ok("servers.start", json!({"id": "everything"})).await;
    let pid = first["status"]["pid"].as_u64().unwrap() as i32;

    // A call in flight when the server dies fails at once, not after its timeout.
    let id = client
        .send(
            "tools.call",
            json!({"tool": "everything/trigger-long-running-operation", "args": {"duration": 20, "steps": 20}}),
        )
        .await;
    // Killed once the server is at work on it (its first progress has come).
    client.first_event(id, Duration::from_secs(10)).await;
    let killed_at = Instant::now();
    unsafe { libc::kill(pid, libc::SIGKILL) };
    let (outcome, _) = client.wait(id).await;
    assert_eq!(outcome.unwrap_err()["code"], "ERR_SERVER_UNAVAILABLE");
    assert!(killed_at.elapsed() < Duration::from_secs(2), "the call failed {:?} after the kill", killed_at.elapsed());

    // It comes back by itself and serves again.
    let back = client.wait_for_state("everything", "running", Duration::from_secs(20)).await;
    assert_ne!(back["pid"].as_u64().unwrap() as i32, pid, "a new process");
    assert_eq!(back["restarts"], 1);
    let echoed = client.ok("tools.call", json!({"tool": "everything/echo", "args": {"message": "back"}})).await;
    assert_eq!(echoed["content"][0]["text"], "Echo: back");

    // A server that exits at once is restarted 3 times, then left crashed with what it said.
    client
        .ok("servers.add", json!({"id": "doomed", "launch": {"kind": "process", "command": "sh", "args": ["-c", "echo doomed-marker-7731 >&2; exit 3"]}}))
        .await;
    let failed = client.err("servers.start", json!({"id": "doomed"})).await;
    assert_eq!(failed["code"], "ERR_SERVER_UNAVAILABLE");
    let doomed = client.ok("servers.get", json!({"id": "doomed"})).await;
    assert_eq!(doomed["status"]["state"], "crashed");
    assert_eq!(doomed["status"]["restarts"], 3);
    assert!(doomed["status"]["error"].as_str().unwrap().contains("doomed-marker-7731"), "{doomed}");
    let starts = client
        .notifications("servers.changed")
        .iter()
        .filter(|n| n["id"] == "doomed" && n["status"]["state"] == "starting" && n["status"]["error"].is_null())
        .count();
    assert_eq!(starts, 4, "one start and three restarts");
    let log = client.ok("servers.logs", json!({"id": "doomed"})).await;
    assert!(log.as_array().unwrap().iter().any(|l| l["stream"] == "stderr" && l["text"] == "doomed-marker-7731"));

    // A program that is not installed is crashed at once, with a fix.
    client
        .ok("servers.add", json!({"id": "nonode", "launch": {"kind": "process", "command": "no-such-runtime-xyz"}}))
        .await;
    let missing = client.err("servers.start", json!({"id": "nonode"})).await;
    assert!(missing["message"].as_str().unwrap().contains("no-such-runtime-xyz is not installed"), "{missing}");
    client.finish().await;
}

#[tokio::test]
async fn twenty_servers_run_at_once_and_none_outlives_the_bridge() {
    let client = Client::start("twenty").await;
    let marker = format!("harbor-twenty-{}", std::process::id());
    for n in 0..20 {
        let mut launch = everything_launch("stdio");
        launch["env"] = json!({ "HARBOR_TEST_MARK": marker });
        client.ok("servers.add", json!({"id": format!("s{n}"), "launch": launch})).await;
    }
    let starts: Vec<_> = (0..20).map(|n| client.ok("servers.start", json!({"id": format!("s{n}")}))).collect();
    for started in futures::future::join_all(starts).await {
        assert_eq!(started["status"]["state"], "running");
    }
    let tools = client.ok("tools.list", json!({})).await;
    let echoes = tools.as_array().unwrap().iter().filter(|t| t["name"].as_str().unwrap().ends_with("/echo")).count();
    assert_eq!(echoes, 20);
    let calls: Vec<_> = (0..20)
        .map(|n| client.ok("tools.call", json!({"tool": format!("s{n}/echo"), "args": {"message": n.to_string()}})))
        .collect();
    for (n, result) in futures::future::join_all(calls).await.into_iter().enumerate() {
        assert_eq!(result["content"][0]["text"], format!("Echo: {n}"));
    }
    assert!(process_tree(&marker).len() >= 20, "every server runs");
    client.finish().await;
    let left = process_tree(&marker);
    assert!(left.is_empty(), "processes left after the bridge stopped: {left:?}");
}

#[tokio::test]
async fn auto_start_servers_come_back_with_the_bridge_and_bad_specs_are_refused() {
    let client = Client::start("auto").await;
    client
        .ok("servers.add", json!({"id": "everything", "launch": everything_launch("stdio"), "autoStart": true}))
        .await;
    for (params, why) in [
        (json!({"id": "Bad Id", "launch": everything_launch("stdio")}), "not valid"),
        (json!({"id": "empty", "launch": {"kind": "process", "command": " "}}), "command is empty"),
        (json!({"id": "ftp", "launch": {"kind": "remote", "url": "ftp://x"}}), "not an http"),
        (json!({"id": "everything", "launch": everything_launch("stdio")}), "exists already"),
    ] {
        let error = client.err("servers.add", params).await;
        assert_eq!(error["code"], "ERR_INVALID_REQUEST");
        assert!(error["message"].as_str().unwrap().contains(why), "{error}");
    }
    let home = client.home.clone();
    client.finish().await;

    let again = Client::open(home).await;
    let entry = again.wait_for_state("everything", "running", Duration::from_secs(20)).await;
    assert_eq!(entry["state"], "running");
    let list = again.ok("servers.list", json!({})).await;
    assert_eq!(list.as_array().unwrap().len(), 1, "refused specs left nothing behind");
    again.finish().await;
}

/// What the jail probe answered to `tool` with `args`.
async fn probe(client: &Client, server: &str, tool: &str, args: serde_json::Value) -> String {
    let answer = client.ok("tools.call", json!({"tool": format!("{server}/{tool}"), "args": args})).await;
    answer["content"][0]["text"].as_str().unwrap_or_else(|| panic!("{answer}")).to_owned()
}

#[tokio::test]
async fn a_sandboxed_server_sees_only_its_folders_and_no_network_unless_allowed() {
    let client = Client::start("sandbox").await;
    // What a hostile server would go for: a key in the user's home, Harbor's database, a file
    // elsewhere on the machine; and a listener on loopback to phone home to.
    let home = std::path::PathBuf::from(std::env::var("HOME").unwrap());
    let keys = home.join(format!(".harbor-sandbox-test-{}", std::process::id()));
    std::fs::create_dir_all(&keys).unwrap();
    std::fs::write(keys.join("id_rsa"), "PRIVATE KEY MATERIAL").unwrap();
    let elsewhere = std::env::temp_dir().join(format!("harbor-sandbox-elsewhere-{}", std::process::id()));
    std::fs::create_dir_all(&elsewhere).unwrap();
    std::fs::write(elsewhere.join("notes.txt"), "private notes").unwrap();
    let granted = client.home.join("granted");
    std::fs::create_dir_all(&granted).unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();

    let sandbox = json!({"enabled": true, "network": false, "folders": [granted]});
    let plain = Instant::now();
    client.ok("servers.add", json!({"id": "open", "launch": fixture_launch("jail_probe.py")})).await;
    client.ok("servers.start", json!({"id": "open"})).await;
    let plain = plain.elapsed();
    let boxed = Instant::now();
    client
        .ok("servers.add", json!({"id": "jailed", "launch": fixture_launch("jail_probe.py"), "sandbox": sandbox}))
        .await;
    let started = client.ok("servers.start", json!({"id": "jailed"})).await;
    assert_eq!(started["status"]["state"], "running", "{started}");
    let boxed = boxed.elapsed();
    println!("start to ready: plain {plain:?}, sandboxed {boxed:?}");

    // Unconfined, the probe reaches all of it (so the refusals below are the sandbox's doing).
    assert_eq!(
        probe(&client, "open", "read", json!({"path": keys.join("id_rsa")})).await,
        "read: PRIVATE KEY MATERIAL"
    );
    assert_eq!(probe(&client, "open", "connect", json!({"host": "127.0.0.1", "port": port})).await, "connected");

    let db = client.home.join("harbor.db");
    for secret in [keys.join("id_rsa"), db, elsewhere.join("notes.txt")] {
        let read = probe(&client, "jailed", "read", json!({"path": secret})).await;
        assert!(read.starts_with("refused"), "the sandboxed server read {secret:?}: {read}");
    }
    let outside = probe(&client, "jailed", "write", json!({"path": "/usr/harbor-sandbox-test", "text": "x"})).await;
    assert!(outside.starts_with("refused"), "{outside}");
    let own = client.home.join("servers/jailed/state.txt");
    assert_eq!(probe(&client, "jailed", "write", json!({"path": own, "text": "mine"})).await, "wrote");
    assert_eq!(std::fs::read_to_string(&own).unwrap(), "mine");
    let shared = granted.join("shared.txt");
    assert_eq!(probe(&client, "jailed", "write", json!({"path": shared, "text": "ours"})).await, "wrote");
    assert_eq!(std::fs::read_to_string(&shared).unwrap(), "ours");
    let phoned = probe(&client, "jailed", "connect", json!({"host": "127.0.0.1", "port": port})).await;
    assert!(phoned.starts_with("refused"), "no network, not even the host's loopback: {phoned}");

    // With the network allowed, the same server connects.
    let allowed = json!({"enabled": true, "network": true, "folders": [granted]});
    client.ok("servers.update", json!({"id": "jailed", "sandbox": allowed})).await;
    client.ok("servers.restart", json!({"id": "jailed"})).await;
    assert_eq!(probe(&client, "jailed", "connect", json!({"host": "127.0.0.1", "port": port})).await, "connected");

    // The filesystem server works on its granted folder from inside the sandbox.
    std::fs::write(granted.join("note.txt"), "hello from the sandbox").unwrap();
    let fs_sandbox = json!({"enabled": true, "network": false, "folders": [granted]});
    client.ok("servers.add", json!({"id": "fs", "launch": filesystem_launch(&granted), "sandbox": fs_sandbox})).await;
    assert_eq!(client.ok("servers.start", json!({"id": "fs"})).await["status"]["state"], "running");
    let read =
        client.ok("tools.call", json!({"tool": "fs/read_text_file", "args": {"path": granted.join("note.txt")}})).await;
    assert_eq!(read["content"][0]["text"], "hello from the sandbox", "{read}");
    client.finish().await;
    let _ = std::fs::remove_dir_all(&keys);
    let _ = std::fs::remove_dir_all(&elsewhere);
}
