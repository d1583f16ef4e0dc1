//! The Docker runtime against a real engine: `scripts/test` starts `dockerd` on a private socket,
//! points `DOCKER_HOST` at it, and imports the test image (`scripts/test-image`: there is no
//! registry here, so a root filesystem holding `tests/container-server` — a tiny MCP server that
//! reports, from inside, what its container allows — and the C library it links).

use crate::support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use harbor_bridge::mcp::redact::REDACTED_SECRET;
use serde_json::{json, Value};
use support::{time_launch, Client};

const IMAGE: &str = "harbor-test/container-server:latest";

fn docker_host() -> String {
    let host = std::env::var("DOCKER_HOST").unwrap_or_default();
    let socket = host.trim_start_matches("unix://");
    assert!(
        !socket.is_empty() && Path::new(socket).exists(),
        "these tests need a Docker engine: scripts/test starts one and sets DOCKER_HOST (got {host:?})"
    );
    host
}

fn docker(args: &[&str]) -> String {
    let out = Command::new("docker").arg("-H").arg(docker_host()).args(args).output().expect("the docker CLI runs");
    assert!(out.status.success(), "docker {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// The test image, which `scripts/test-image` imports (scripts/test runs it).
fn image() -> &'static str {
    let found = Command::new("docker").arg("-H").arg(docker_host()).args(["image", "inspect", IMAGE]).output();
    assert!(
        found.is_ok_and(|out| out.status.success()),
        "the test image {IMAGE} is missing: run scripts/test-image (scripts/test does)"
    );
    IMAGE
}

/// The containers labelled as this data folder's.
fn containers_of(home: &Path) -> Vec<String> {
    let owner = harbor_bridge::paths::owner_tag(home);
    let listed = docker(&["ps", "-aq", "--filter", &format!("label=harbor.owner={owner}")]);
    listed.lines().map(str::to_owned).filter(|l| !l.is_empty()).collect()
}

fn text(result: &Value) -> String {
    result["content"][0]["text"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_container_server_runs_hardened_answers_logs_and_is_removed_after_stop() {
    let image = image();
    let client = Client::start("docker-run").await;
    let shared = PathBuf::from(&client.home).join("shared");
    std::fs::create_dir_all(&shared).unwrap();
    let launch = json!({
        "kind": "docker", "image": image,
        "mounts": [{"host": shared, "container": "/data"}],
        "limits": {"memoryMb": 128, "cpus": 0.5, "pids": 64, "tmpMb": 16}
    });
    client.ok("servers.add", json!({"id": "boxed", "launch": launch})).await;
    client
        .ok("servers.secrets.set", json!({"id": "boxed", "name": "HARBOR_SECRET_PROBE", "value": "in-env-41c9"}))
        .await;
    client.ok("servers.start", json!({"id": "boxed"})).await;

    let tools = client.ok("tools.list", json!({"serverId": "boxed"})).await;
    assert_eq!(tools.as_array().unwrap().len(), 3, "{tools}");
    let echoed = client.ok("tools.call", json!({"tool": "boxed/echo", "args": {"text": "from the box"}})).await;
    assert_eq!(text(&echoed), "from the box");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let logs = client.ok("servers.logs", json!({"id": "boxed"})).await;
        if logs.to_string().contains("echoing 12 bytes") {
            break;
        }
        assert!(Instant::now() < deadline, "stderr reaches the log: {logs}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // The hardening, seen from inside.
    let inside: Value =
        serde_json::from_str(&text(&client.ok("tools.call", json!({"tool": "boxed/inspect"})).await)).unwrap();
    assert_eq!(inside["interfaces"], json!(["lo"]), "no network but loopback: {inside}");
    assert_eq!(inside["rootWritable"], false, "a read-only root: {inside}");
    assert_eq!(inside["tmpWritable"], true, "a writable /tmp: {inside}");
    assert_eq!(inside["capEff"], "0000000000000000", "no capabilities: {inside}");
    assert_eq!(inside["noNewPrivs"], "1");
    assert_eq!(inside["uid"], "65534", "not root: {inside}");
    assert_eq!(inside["memoryMax"], (128u64 * 1024 * 1024).to_string());
    assert_eq!(inside["pidsMax"], "64");
    // It arrives in the environment: the server reported it, and Harbor redacted it on the way
    // out, as it does with every stored secret in a tool's result.
    assert_eq!(inside["secret"], REDACTED_SECRET, "the secret arrives in the environment");

    // And from the engine.
    let ids = containers_of(&client.home);
    assert_eq!(ids.len(), 1, "one container for the server");
    let config: Value = serde_json::from_str(&docker(&["inspect", &ids[0]])).unwrap();
    let host = &config[0]["HostConfig"];
    assert_eq!(host["NetworkMode"], "none");
    assert_eq!(host["ReadonlyRootfs"], true);
    assert_eq!(host["CapDrop"], json!(["ALL"]));
    assert_eq!(host["SecurityOpt"], json!(["no-new-privileges"]));
    assert_eq!(host["NanoCpus"], 500_000_000);
    assert_eq!(host["Mounts"][0]["ReadOnly"], true, "a mount is read-only unless chosen: {host}");
    let argv: Vec<String> = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).into_owned())
        .collect();
    assert!(argv.iter().all(|a| !a.contains("in-env-41c9")), "no command line shows the secret");

    let status = client.ok("servers.stop", json!({"id": "boxed"})).await;
    assert_eq!(status["status"]["state"], "stopped", "{status}");
    assert!(containers_of(&client.home).is_empty(), "the container is removed after stop");
    client.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_container_restarts_and_a_dead_bridges_container_is_removed() {
    let image = image();
    let client = Client::start("docker-restart").await;
    client.ok("servers.add", json!({"id": "boxed", "launch": {"kind": "docker", "image": image}})).await;
    client.ok("servers.start", json!({"id": "boxed"})).await;
    let first = containers_of(&client.home);
    // The server dies in the middle of a call (a crash inside the container): the call fails at
    // once, and Harbor starts a new container.
    let crashed = Instant::now();
    let (outcome, _) = client.call("tools.call", json!({"tool": "boxed/exit", "args": {"code": 3}})).await;
    assert_eq!(outcome.unwrap_err()["code"], "ERR_SERVER_UNAVAILABLE");
    assert!(crashed.elapsed() < Duration::from_secs(3), "the call waited {:?} for a dead container", crashed.elapsed());
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let entry = client.ok("servers.get", json!({"id": "boxed"})).await;
        let now = containers_of(&client.home);
        if entry["status"]["state"] == "running" && now.len() == 1 && now != first {
            assert_eq!(entry["status"]["restarts"], 1, "{entry}");
            break;
        }
        assert!(Instant::now() < deadline, "no restart: {entry}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let home = client.home.clone();
    client.finish().await;
    assert!(containers_of(&home).is_empty(), "shutting down removes the containers");

    // A bridge killed with its container running leaves it behind; the next bridge removes it.
    let owner = harbor_bridge::paths::owner_tag(&home);
    docker(&["create", "--label", &format!("harbor.owner={owner}"), "--label", "harbor.instance=dead", image]);
    assert_eq!(containers_of(&home).len(), 1);
    let again = Client::open(home.clone()).await;
    let deadline = Instant::now() + Duration::from_secs(15);
    while !containers_of(&again.home).is_empty() {
        assert!(Instant::now() < deadline, "the orphan was not removed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    again.finish().await;
}

#[test]
fn without_docker_a_container_server_says_so_and_native_servers_keep_working() {
    let home = std::env::temp_dir().join(format!("harbor-no-docker-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&home);
    std::fs::create_dir_all(&home).unwrap();
    let bridge = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_harbor-bridge"))
            .args(args)
            .env("HOME", &home)
            .env("HARBOR_HOME", home.join("harbor"))
            .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
            .output()
            .unwrap()
    };
    assert!(bridge(&["servers", "add", "boxed", "--image", IMAGE]).status.success());
    let time = time_launch();
    let args: Vec<&str> = time["args"].as_array().unwrap().iter().map(|a| a.as_str().unwrap()).collect();
    let mut add = vec!["servers", "add", "time", "--", time["command"].as_str().unwrap()];
    add.extend(args);
    assert!(bridge(&add).status.success());

    let refused = bridge(&["call", "boxed/echo", r#"{"text": "x"}"#]);
    assert!(!refused.status.success());
    let message = String::from_utf8_lossy(&refused.stderr);
    assert!(message.contains("Docker is not available") && message.contains("/nonexistent/docker.sock"), "{message}");
    assert!(message.contains("harbor-bridge doctor"), "{message}");
    let doctor: Value = serde_json::from_slice(&bridge(&["doctor", "--json"]).stdout).unwrap();
    let engine = doctor.as_array().unwrap().iter().find(|c| c["name"] == "docker engine").cloned().unwrap();
    assert_eq!(engine["status"], "warn", "{engine}");
    assert!(engine["detail"].as_str().unwrap().contains("/nonexistent/docker.sock"), "{engine}");

    let answered = bridge(&["call", "time/get_current_time", r#"{"timezone": "UTC"}"#]);
    assert!(answered.status.success(), "a native server still works: {}", String::from_utf8_lossy(&answered.stderr));
    std::fs::remove_dir_all(&home).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oci_package_from_a_registry_server_json_installs_and_runs_in_a_container() {
    let image = image();
    let (name, tag) = image.split_once(':').unwrap();
    let document = json!({
        "name": "io.example/boxed", "description": "A server in an image", "version": "1.0.0",
        "packages": [{
            "registryType": "oci", "identifier": name, "version": tag,
            "transport": {"type": "stdio"},
            "environmentVariables": [{"name": "HARBOR_SECRET_PROBE", "isSecret": true, "isRequired": true}]
        }]
    });
    let client = Client::start("docker-oci").await;
    let described = client.ok("install.serverJson.describe", json!({"document": document})).await;
    assert!(described["options"][0]["unsupported"].is_null(), "{described}");
    let values = json!({"env:HARBOR_SECRET_PROBE": "oci-secret-77"});
    let entry = client.ok("install.serverJson", json!({"document": document, "values": values})).await;
    assert_eq!(entry["launch"]["kind"], "docker");
    assert_eq!(entry["launch"]["image"], image);
    assert_eq!(entry["launch"]["network"], false, "no network until the user allows it");
    assert!(!entry.to_string().contains("oci-secret-77"), "the secret is in the keychain: {entry}");
    client.ok("servers.start", json!({"id": "boxed"})).await;
    let inside: Value =
        serde_json::from_str(&text(&client.ok("tools.call", json!({"tool": "boxed/inspect"})).await)).unwrap();
    assert_eq!(inside["secret"], REDACTED_SECRET, "the secret arrived (and was redacted on the way out)");
    client.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_native_server_moves_into_a_base_image_and_back() {
    let image = image();
    let program = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/debug/harbor-container-server");
    let program = std::fs::canonicalize(program).unwrap();
    let client = Client::start("docker-move").await;
    let native = json!({"kind": "process", "command": program, "args": []});
    client.ok("servers.add", json!({"id": "mover", "launch": native})).await;
    client.ok("servers.start", json!({"id": "mover"})).await;
    assert_ne!(inspect(&client, "mover").await["uid"], "65534", "natively it runs as the user");

    // Into Docker, while running: the same program, from a base image, its folder mounted read-only.
    let moved = client.ok("servers.runtime", json!({"id": "mover", "runtime": "docker", "image": image})).await;
    assert_eq!(moved["launch"]["kind"], "docker", "{moved}");
    assert_eq!(moved["launch"]["entrypoint"][0], program.to_str().unwrap());
    assert_eq!(moved["launch"]["mounts"][0]["write"], false);
    client.wait_for_state("mover", "running", Duration::from_secs(30)).await;
    let inside = inspect(&client, "mover").await;
    assert_eq!((inside["uid"].as_str(), inside["interfaces"].clone()), (Some("65534"), json!(["lo"])), "{inside}");
    assert_eq!(containers_of(&client.home).len(), 1);

    // And back, exactly as it was.
    let back = client.ok("servers.runtime", json!({"id": "mover", "runtime": "native"})).await;
    assert_eq!(back["launch"]["kind"], "process", "{back}");
    assert_eq!(back["launch"]["command"], native["command"], "exactly as it was: {back}");
    client.wait_for_state("mover", "running", Duration::from_secs(30)).await;
    assert_ne!(inspect(&client, "mover").await["uid"], "65534");
    assert!(containers_of(&client.home).is_empty(), "its container is gone");
    let refused = client.err("servers.runtime", json!({"id": "mover", "runtime": "docker"})).await;
    assert!(refused["message"].as_str().unwrap().contains("base image"), "{refused}");
    client.finish().await;
}

/// The `inspect` tool's report from server `id`.
async fn inspect(client: &Client, id: &str) -> Value {
    let answer = client.ok("tools.call", json!({"tool": format!("{id}/inspect")})).await;
    serde_json::from_str(&text(&answer)).unwrap()
}

/// The team gateway's image, made by `scripts/gateway-image` from installers/container.
const GATEWAY_IMAGE: &str = "harbor/gateway:local";

#[tokio::test]
async fn the_gateway_image_serves_ready_as_a_non_root_user_and_stops_gracefully() {
    let found = Command::new("docker").arg("-H").arg(docker_host()).args(["image", "inspect", GATEWAY_IMAGE]).output();
    assert!(
        found.is_ok_and(|out| out.status.success()),
        "the gateway image {GATEWAY_IMAGE} is missing: run scripts/gateway-image (scripts/test does)"
    );
    let dir = std::env::temp_dir().join(format!("harbor-gateway-image-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let port = support::free_port();
    std::fs::write(dir.join("team.yaml"), format!("listen: 127.0.0.1:{port}\n")).unwrap();
    let mount = format!("{}:/etc/harbor/team.yaml:ro", dir.join("team.yaml").display());
    // On the host's network (loopback only here): the test reaches the port without publishing.
    let id = docker(&["run", "-d", "--network", "host", "-v", &mount, GATEWAY_IMAGE]);
    let http = harbor_bridge::http::client_builder().build().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let ready = loop {
        match http.get(format!("http://127.0.0.1:{port}/ready")).send().await {
            Ok(answer) if answer.status() == 200 => break answer.json::<Value>().await.unwrap(),
            outcome => {
                let logs = docker(&["logs", &id]);
                assert!(Instant::now() < deadline, "the image never became ready: {outcome:?}\n{logs}");
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(ready["ready"], true, "{ready}");
    // Its process runs as the image's own user, not root.
    let pid = docker(&["inspect", "--format", "{{.State.Pid}}", &id]);
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let uid = status.lines().find(|l| l.starts_with("Uid:")).unwrap().split_whitespace().nth(1).unwrap().to_owned();
    assert_eq!(uid, "10001", "{status}");
    // `docker stop` (SIGTERM) ends it cleanly, well before Docker's SIGKILL.
    let stopping = Instant::now();
    docker(&["stop", "-t", "20", &id]);
    assert!(stopping.elapsed() < Duration::from_secs(15), "it took {:?} to stop", stopping.elapsed());
    assert_eq!(docker(&["inspect", "--format", "{{.State.ExitCode}}", &id]), "0");
    docker(&["rm", &id]);
    let _ = std::fs::remove_dir_all(&dir);
}
