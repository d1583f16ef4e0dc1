//! Installing from Harbor's directory and from package names, for real: an npm server and a PyPI
//! server install into their own folders from the registries, start and answer a tool call; their
//! launches run what was installed (no `npx` or `uvx`, so no network at start); a package that
//! does not exist fails with the installer's message and leaves nothing behind.

use crate::support;

use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};
use support::Client;

fn under(path: &str, folder: &Value) -> bool {
    Path::new(path).starts_with(folder.as_str().unwrap())
}

#[tokio::test(flavor = "current_thread")]
async fn directory_servers_install_from_npm_and_pypi_then_start_offline_and_answer() {
    let client = Client::start("install").await;
    client.use_local_registries().await;
    let found = client.ok("catalog.list", json!({"query": "knowledge graph"})).await;
    assert_eq!(found[0]["id"], "memory", "{found}");

    // npm: @modelcontextprotocol/server-memory, pinned.
    let (outcome, events) = client.call("install.catalog", json!({"entry": "memory"})).await;
    let memory = outcome.unwrap_or_else(|e| panic!("npm install failed: {e}"));
    assert!(events.len() > 1 && events.iter().all(|e| e["type"] == "progress"), "{events:?}");
    assert_eq!(memory["version"], "2026.8.31");
    assert_eq!(memory["source"], json!({"kind": "npm", "package": "@modelcontextprotocol/server-memory"}));
    assert_eq!(memory["launch"]["command"], "node");
    assert!(under(memory["launch"]["args"][0].as_str().unwrap(), &memory["installPath"]), "{memory}");
    assert_eq!(memory["status"]["state"], "stopped");
    client.ok("servers.start", json!({"id": "memory"})).await;
    let graph = client.ok("tools.call", json!({"tool": "memory/read_graph"})).await;
    assert!(graph["content"][0]["text"].as_str().unwrap().contains("entities"), "{graph}");
    let listed = client.ok("catalog.list", json!({"query": "memory"})).await;
    assert_eq!(listed[0]["installed"], "memory");

    // PyPI: mcp-server-time, in its own virtual environment.
    let (outcome, _) = client.call("install.catalog", json!({"entry": "time", "id": "clock"})).await;
    let clock = outcome.unwrap_or_else(|e| panic!("PyPI install failed: {e}"));
    assert_eq!(clock["version"], "2026.10.19");
    let command = clock["launch"]["command"].as_str().unwrap();
    assert!(under(command, &clock["installPath"]) && command.ends_with("mcp-server-time"), "{clock}");
    client.ok("servers.start", json!({"id": "clock"})).await;
    let now =
        client.ok("tools.call", json!({"tool": "clock/get_current_time", "args": {"timezone": "Asia/Tokyo"}})).await;
    assert!(now["content"][0]["text"].as_str().unwrap().contains("+09:00"), "{now}");

    // Started again, each runs what is on disk (no registry involved).
    for id in ["memory", "clock"] {
        client.ok("servers.stop", json!({ "id": id })).await;
        let started = client.ok("servers.start", json!({ "id": id })).await;
        assert_eq!(started["status"]["state"], "running");
        let launch = started["launch"].to_string();
        assert!(!["npx", "uvx", "npm install", "pip"].iter().any(|w| launch.contains(w)), "{launch}");
    }

    // Removing a server removes what was installed for it.
    let folder = clock["installPath"].as_str().unwrap().to_owned();
    assert!(Path::new(&folder).is_dir());
    client.ok("servers.remove", json!({"id": "clock"})).await;
    assert!(!Path::new(&folder).exists(), "the install folder went with the server");
    client.finish().await;
}

#[tokio::test(flavor = "current_thread")]
async fn a_failed_install_says_why_and_leaves_nothing_behind() {
    let client = Client::start("install-fail").await;
    client.use_local_registries().await;
    let missing =
        client.err("install.package", json!({"spec": "npm:@modelcontextprotocol/harbor-no-such-server@1.0.0"})).await;
    assert_eq!(missing["code"], "ERR_INVALID_REQUEST");
    let message = missing["message"].as_str().unwrap();
    assert!(
        message.contains("installing @modelcontextprotocol/harbor-no-such-server failed") && message.contains("404"),
        "{message}"
    );
    assert!(!client.home.join("servers/harbor-no-such-server").exists(), "nothing left on disk");
    assert_eq!(client.ok("servers.list", json!({})).await, json!([]));

    let bad = client.err("install.package", json!({"spec": "npm:--registry=http://evil"})).await;
    assert!(bad["message"].as_str().unwrap().contains("not a valid package"), "{bad}");
    let no_paths = client.err("install.catalog", json!({"entry": "filesystem"})).await;
    assert!(no_paths["message"].as_str().unwrap().contains("Folders it may use is needed"), "{no_paths}");
    let secret = client.err("install.catalog", json!({"entry": "github"})).await;
    assert!(secret["message"].as_str().unwrap().contains("GitHub needs a token: paste one, or give"), "{secret}");
    let unknown = client.err("install.catalog", json!({"entry": "nope"})).await;
    assert!(unknown["message"].as_str().unwrap().contains("catalog.list"), "{unknown}");

    // Cancelled mid-install: nothing is left either.
    let id = client
        .send("install.package", json!({"spec": "npm:@modelcontextprotocol/server-sequential-thinking@2026.8.31"}))
        .await;
    client.first_event(id, Duration::from_secs(30)).await;
    client.cancel(id).await;
    assert_eq!(client.wait(id).await.0.unwrap_err()["code"], "ERR_ABORTED");
    let folder = client.home.join("servers/server-sequential-thinking");
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while folder.exists() {
        let left: Vec<_> =
            std::fs::read_dir(&folder).map(|d| d.flatten().map(|e| e.file_name()).collect()).unwrap_or_default();
        assert!(std::time::Instant::now() < deadline, "a cancelled install left {left:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    client.finish().await;
}

#[tokio::test(flavor = "current_thread")]
async fn a_registry_server_json_installs_its_npm_package_or_adds_its_remote() {
    let client = Client::start("server-json").await;
    client.use_local_registries().await;
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/registry");
    let path = fixtures.join("everything.server.json");
    let described = client.ok("install.serverJson.describe", json!({"path": path})).await;
    assert_eq!(described["options"][0]["fields"][0]["key"], "var:mode");

    let (outcome, events) = client.call("install.serverJson", json!({"path": path, "option": 0})).await;
    let entry = outcome.unwrap_or_else(|e| panic!("install from server.json failed: {e}"));
    assert!(!events.is_empty());
    assert_eq!(entry["id"], "everything");
    assert_eq!(entry["launch"]["args"][1], "stdio", "{entry}");
    assert_eq!(entry["launch"]["env"], json!({"EVERYTHING_LABEL": "from-registry"}));
    client.ok("servers.start", json!({"id": "everything"})).await;
    let echoed = client.ok("tools.call", json!({"tool": "everything/echo", "args": {"message": "registry"}})).await;
    assert_eq!(echoed["content"][0]["text"], "Echo: registry");

    let needs = client.err("install.serverJson", json!({"path": path, "option": 1, "id": "remote"})).await;
    assert!(needs["message"].as_str().unwrap().contains("needed: Port"), "{needs}");
    let remote = client
        .ok("install.serverJson", json!({"path": path, "option": 1, "id": "remote", "values": {"var:port": "9"}}))
        .await;
    assert_eq!(remote["launch"], json!({"kind": "remote", "url": "http://127.0.0.1:9/mcp", "headers": {}}));

    let weather = fixtures.join("server.json");
    let oci = client.err("install.serverJson", json!({"path": weather, "option": 2})).await;
    // An image that is not on the engine is pulled; there is no registry here, so the pull fails
    // and names the image, and nothing is added.
    assert!(oci["message"].as_str().unwrap().contains("cannot pull ghcr.io/example/weather-mcp:1.4.0"), "{oci}");
    let secret =
        client.err("install.serverJson", json!({"path": weather, "option": 0, "values": {"arg:0": "/tmp/w"}})).await;
    assert!(secret["message"].as_str().unwrap().contains("needed: API key for the weather service"), "{secret}");
    client.finish().await;
}

fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// The probe MCP server (tests/fixtures/probe_server.py) and the Python that runs it.
fn probe() -> (std::path::PathBuf, std::path::PathBuf) {
    let python = support::test_servers().join("venv/bin/python");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/probe_server.py");
    (python, script)
}

#[tokio::test(flavor = "current_thread")]
async fn a_binary_installs_for_this_system_only_with_the_right_checksum() {
    let client = Client::start("binary").await;
    let (python, script) = probe();
    let program = format!("#!/bin/sh\nexec '{}' '{}'\n", python.display(), script.display()).into_bytes();
    let digest = sha256(&program);
    let base =
        support::serve_files(vec![("/probe-linux", program.clone()), ("/probe-plan9", b"not for us".to_vec())]).await;
    let assets = json!([
        {"url": format!("{base}/probe-plan9"), "sha256": sha256(b"not for us"), "os": "plan9", "arch": "mips"},
        {"url": format!("{base}/probe-linux"), "sha256": digest, "os": std::env::consts::OS}
    ]);
    let wrong = json!([{"url": format!("{base}/probe-linux"), "sha256": "0".repeat(64)}]);
    let refused = client.err("install.binary", json!({"id": "probe", "assets": wrong})).await;
    assert!(refused["message"].as_str().unwrap().contains(&format!("is {digest}, not the expected")), "{refused}");
    assert!(!client.home.join("servers/probe").exists(), "a wrong checksum leaves nothing");
    let unsigned = client
        .err("install.binary", json!({"id": "probe", "assets": [{"url": format!("{base}/probe-linux"), "sha256": ""}]}))
        .await;
    assert!(unsigned["message"].as_str().unwrap().contains("without one is refused"), "{unsigned}");

    let (outcome, events) =
        client.call("install.binary", json!({"id": "probe", "version": "1.0.0", "assets": assets})).await;
    let entry = outcome.unwrap();
    assert!(events.iter().any(|e| e["line"].as_str().unwrap_or_default().contains("SHA-256 verified")), "{events:?}");
    assert_eq!(
        entry["source"],
        json!({"kind": "binary", "url": format!("{base}/probe-linux")}),
        "the asset for this system"
    );
    assert!(entry["launch"]["command"].as_str().unwrap().starts_with(entry["installPath"].as_str().unwrap()));
    client.ok("servers.start", json!({"id": "probe"})).await;
    let echoed = client.ok("tools.call", json!({"tool": "probe/echo", "args": {"text": "binary"}})).await;
    assert_eq!(echoed["content"][0]["text"], "echo: binary");
    client.finish().await;
}

fn bundle(manifest: &serde_json::Value, extra: &[(&str, &[u8])]) -> Vec<u8> {
    use std::io::Write;
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default();
    zip.start_file("manifest.json", options).unwrap();
    zip.write_all(manifest.to_string().as_bytes()).unwrap();
    for (name, bytes) in extra {
        zip.start_file(*name, options).unwrap();
        zip.write_all(bytes).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

#[tokio::test(flavor = "current_thread")]
async fn an_mcpb_bundle_unpacks_and_runs_as_its_manifest_says() {
    let client = Client::start("bundle").await;
    let (python, script) = probe();
    let manifest = json!({
        "manifest_version": "0.2", "name": "probe-bundle", "version": "0.9.0",
        "server": {"type": "python", "entry_point": "server/probe.py",
                   "mcp_config": {"command": python, "args": ["${__dirname}/server/probe.py"], "env": {"PROBE_MODE": "${user_config.mode}"}}},
        "user_config": {"mode": {"type": "string", "title": "Mode", "default": "calm"}}
    });
    let archive = bundle(&manifest, &[("server/probe.py", &std::fs::read(&script).unwrap())]);
    let evil = bundle(&manifest, &[("../escaped.txt", b"x")]);
    let base = support::serve_files(vec![("/probe.mcpb", archive.clone()), ("/evil.mcpb", evil.clone())]).await;

    let wrong =
        client.err("install.bundle", json!({"url": format!("{base}/probe.mcpb"), "sha256": sha256(b"other")})).await;
    assert!(wrong["message"].as_str().unwrap().contains("not the expected"), "{wrong}");
    let escaping =
        client.err("install.bundle", json!({"url": format!("{base}/evil.mcpb"), "sha256": sha256(&evil)})).await;
    assert!(escaping["message"].as_str().unwrap().contains("outside its folder"), "{escaping}");
    assert!(!client.home.join("servers").join("escaped.txt").exists() && !client.home.join("servers/evil").exists());

    let entry =
        client.ok("install.bundle", json!({"url": format!("{base}/probe.mcpb"), "sha256": sha256(&archive)})).await;
    assert_eq!(
        (entry["id"].clone(), entry["name"].clone(), entry["version"].clone()),
        (json!("probe"), json!("probe-bundle"), json!("0.9.0"))
    );
    assert_eq!(entry["launch"]["env"], json!({"PROBE_MODE": "calm"}));
    assert!(entry["launch"]["args"][0].as_str().unwrap().ends_with("/servers/probe/bundle/server/probe.py"), "{entry}");
    client.ok("servers.start", json!({"id": "probe"})).await;
    let echoed = client.ok("tools.call", json!({"tool": "probe/echo", "args": {"text": "bundled"}})).await;
    assert_eq!(echoed["content"][0]["text"], "echo: bundled");

    // The same bundle named by a registry server.json, checked against its fileSha256.
    let document = json!({"name": "io.example/probe", "version": "0.9.0", "packages": [{
        "registryType": "mcpb", "identifier": format!("{base}/probe.mcpb"), "fileSha256": sha256(&archive),
        "transport": {"type": "stdio"}}]});
    let registry = client.ok("install.serverJson", json!({"document": document, "id": "registry-probe"})).await;
    assert_eq!(registry["source"]["kind"], "bundle");
    client.ok("servers.start", json!({"id": "registry-probe"})).await;
    let echoed = client.ok("tools.call", json!({"tool": "registry-probe/echo", "args": {"text": "registry"}})).await;
    assert_eq!(echoed["content"][0]["text"], "echo: registry");
    client.finish().await;
}

/// A bare repository served by `git daemon` on a loopback port, holding the hello server in
/// `servers/hello` (tests/fixtures/git-hello) and a folder with only a Dockerfile.
async fn git_daemon(home: &Path) -> (String, tokio::process::Child) {
    let git = |args: &[&str], dir: &Path| {
        let status = std::process::Command::new("git")
            .args([
                "-c",
                "user.name=Harbor Test",
                "-c",
                "user.email=test@harbor.invalid",
                "-c",
                "init.defaultBranch=main",
            ])
            .args(args)
            .current_dir(dir)
            .output()
            .expect("git runs");
        assert!(status.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&status.stderr));
    };
    let work = home.join("work");
    let hello = work.join("servers/hello");
    std::fs::create_dir_all(&hello).unwrap();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/git-hello");
    for file in ["server.js", "package.json"] {
        std::fs::copy(fixture.join(file), hello.join(file)).unwrap();
    }
    std::fs::create_dir_all(work.join("containerized")).unwrap();
    std::fs::write(work.join("containerized/Dockerfile"), "FROM scratch\nLABEL harbor.test=containerized\n").unwrap();
    std::fs::create_dir_all(work.join("broken")).unwrap();
    std::fs::write(work.join("broken/Dockerfile"), "FROM harbor-test/no-such-base:1\n").unwrap();
    git(&["init", "-q"], &work);
    git(&["add", "."], &work);
    git(&["commit", "-q", "-m", "hello"], &work);
    let served = home.join("served");
    std::fs::create_dir_all(&served).unwrap();
    git(&["clone", "-q", "--bare", work.to_str().unwrap(), served.join("tools.git").to_str().unwrap()], home);
    let port = support::free_port();
    // `git daemon` forks `git-daemon`; run that directly so dropping the child stops the server.
    let exec_path = std::process::Command::new("git").arg("--exec-path").output().expect("git runs");
    let exec_path = String::from_utf8_lossy(&exec_path.stdout).trim().to_owned();
    let daemon = tokio::process::Command::new(Path::new(&exec_path).join("git-daemon"))
        .args(["--reuseaddr", "--export-all", "--listen=127.0.0.1", &format!("--port={port}")])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .arg(format!("--base-path={}", served.display()))
        .arg(&served)
        .kill_on_drop(true)
        .spawn()
        .expect("git daemon starts");
    support::wait_for_port(port).await;
    (format!("git://127.0.0.1:{port}/tools.git"), daemon)
}

#[tokio::test(flavor = "current_thread")]
async fn a_git_repository_clones_builds_and_runs() {
    let client = Client::start("git").await;
    let (url, _daemon) = git_daemon(&client.home).await;
    let (outcome, events) = client.call("install.git", json!({"url": url, "subfolder": "servers/hello"})).await;
    let entry = outcome.unwrap_or_else(|e| panic!("the git install failed: {e}"));
    assert_eq!(entry["id"], "hello");
    assert_eq!(entry["source"], json!({"kind": "git", "url": url}));
    assert_eq!(entry["version"].as_str().unwrap().len(), 12, "the commit: {entry}");
    assert!(events.iter().any(|e| e["line"].as_str().unwrap_or_default().contains("Cloning into")), "{events:?}");
    let folder = entry["installPath"].as_str().unwrap();
    assert!(Path::new(folder).join("repo/servers/hello/built.txt").is_file(), "npm run build ran");
    client.ok("servers.start", json!({"id": "hello"})).await;
    let said = client.ok("tools.call", json!({"tool": "hello/hello", "args": {"name": "git"}})).await;
    assert_eq!(said["content"][0]["text"], "hello, git");

    // A project with only a Dockerfile is built on the Docker engine and runs as that image.
    let boxed = client.ok("install.git", json!({"url": url, "subfolder": "containerized", "id": "boxed"})).await;
    assert_eq!(boxed["launch"]["kind"], "docker", "{boxed}");
    let version = boxed["version"].as_str().unwrap();
    assert_eq!(boxed["launch"]["image"], format!("harbor-local/boxed:{version}"));
    assert_eq!(boxed["launch"]["network"], false);
    let broken = client.err("install.git", json!({"url": url, "subfolder": "broken", "id": "broken"})).await;
    assert!(broken["message"].as_str().unwrap().contains("building harbor-local/broken"), "{broken}");
    assert!(!client.home.join("servers/broken").exists(), "a failed build leaves nothing");
    let missing = client.err("install.git", json!({"url": url, "subfolder": "nowhere", "id": "nowhere"})).await;
    assert!(missing["message"].as_str().unwrap().contains("no folder nowhere"), "{missing}");
    let bad = client.err("install.git", json!({"url": "--upload-pack=touch /tmp/x"})).await;
    assert!(bad["message"].as_str().unwrap().contains("not a git URL"), "{bad}");
    client.finish().await;
}

/// A port nothing listens on.
fn closed_port() -> u16 {
    support::free_port()
}

/// An npm registry that cannot be reached and a PyPI index that cannot be reached get
/// `ERR_NETWORK` (the environment, retry); a package the registry does not have and a name that
/// is not one get `ERR_INVALID_REQUEST` (the user's input). Each says what to do, and none leaves
/// a folder or a server behind.
#[tokio::test(flavor = "current_thread")]
async fn an_unreachable_registry_and_a_wrong_package_get_codes_that_say_whose_move_it_is() {
    let client = Client::start("install-codes").await;
    let down = format!("http://127.0.0.1:{}", closed_port());
    client.ok("install.registries.set", json!({"npm": format!("{down}/"), "pypi": format!("{down}/simple")})).await;
    let npm = client.err("install.package", json!({"spec": "npm:left-pad@1.3.0"})).await;
    assert_eq!(npm["code"], "ERR_NETWORK", "{npm}");
    assert!(npm["message"].as_str().unwrap().contains("try again"), "{npm}");
    let pypi = client.err("install.package", json!({"spec": "pypi:mcp-server-time==2025.9.25"})).await;
    assert_eq!(pypi["code"], "ERR_NETWORK", "{pypi}");

    // A registry that answers, but has no such package: every path is a 404, as npm's own is.
    let empty = support::serve_files(Vec::new()).await;
    client.ok("install.registries.set", json!({"npm": format!("{empty}/")})).await;
    let missing = client.err("install.package", json!({"spec": "npm:harbor-no-such-package@1.0.0"})).await;
    assert_eq!(missing["code"], "ERR_INVALID_REQUEST", "{missing}");
    assert!(missing["message"].as_str().unwrap().contains("check its name"), "{missing}");
    let malformed = client.err("install.package", json!({"spec": "npm:--registry=http://evil"})).await;
    assert_eq!(malformed["code"], "ERR_INVALID_REQUEST", "{malformed}");
    let bad_url = client.err("install.registries.set", json!({"npm": "file:///etc"})).await;
    assert_eq!(bad_url["code"], "ERR_INVALID_REQUEST", "{bad_url}");

    assert_eq!(client.ok("servers.list", json!({})).await, json!([]));
    let folders: Vec<_> =
        std::fs::read_dir(client.home.join("servers")).map(|d| d.flatten().collect()).unwrap_or_default();
    assert!(folders.is_empty(), "left behind: {folders:?}");
    client.finish().await;
}

/// A bundle over the size cap is refused before it is read; a zip bomb (100 MiB of zeros in a
/// few hundred KiB) is refused before it is unpacked. Both say why and leave nothing behind.
#[tokio::test(flavor = "current_thread")]
async fn an_oversized_bundle_and_a_zip_bomb_are_refused_and_leave_nothing() {
    use std::io::Write;
    let client = Client::start("bundle-caps").await;
    let dir = client.home.join("incoming");
    std::fs::create_dir_all(&dir).unwrap();

    // A sparse file: 300 MiB on paper, nothing on disk.
    let huge = dir.join("huge.mcpb");
    std::fs::File::create(&huge).unwrap().set_len(300 << 20).unwrap();
    let refused = client.err("install.bundle", json!({"path": huge, "id": "huge"})).await;
    assert_eq!(refused["code"], "ERR_INVALID_REQUEST", "{refused}");
    assert!(refused["message"].as_str().unwrap().contains("larger than the 256 MiB"), "{refused}");

    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let deflated = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    zip.start_file("manifest.json", deflated).unwrap();
    zip.write_all(br#"{"manifest_version": "0.2", "name": "bomb", "version": "1", "server": {"mcp_config": {"command": "true"}}}"#).unwrap();
    zip.start_file("server/zeros.bin", deflated).unwrap();
    let block = vec![0u8; 1 << 20];
    for _ in 0..100 {
        zip.write_all(&block).unwrap();
    }
    let bomb = zip.finish().unwrap().into_inner();
    assert!(bomb.len() < 1 << 20, "the bomb is small: {} bytes", bomb.len());
    let path = dir.join("bomb.mcpb");
    std::fs::write(&path, &bomb).unwrap();
    let refused = client.err("install.bundle", json!({"path": path, "id": "bomb"})).await;
    assert_eq!(refused["code"], "ERR_INVALID_REQUEST", "{refused}");
    assert!(refused["message"].as_str().unwrap().contains("zip bomb"), "{refused}");

    for id in ["huge", "bomb"] {
        assert!(!client.home.join("servers").join(id).exists(), "{id} left a folder");
    }
    assert_eq!(client.ok("servers.list", json!({})).await, json!([]));
    client.finish().await;
}

/// While a large bundle unpacks, a page's tool call still answers in about its usual time: the
/// unpacking runs off the thread that answers pages (the bridge's one thread, as in host mode).
#[tokio::test(flavor = "current_thread")]
async fn a_page_call_answers_in_normal_time_while_a_large_bundle_unpacks() {
    use std::io::Write;
    use std::time::Instant;
    let client = Client::start("install-busy").await;
    client.ok("servers.add", json!({"id": "probe", "launch": support::probe_launch()})).await;
    client.ok("servers.start", json!({"id": "probe"})).await;
    let site = "https://busy.example";
    client.ok("permissions.setTools", json!({"origin": site, "tools": ["probe/echo"]})).await;
    client.ok("permissions.set", json!({"origin": site, "scope": "mcp:tools.call", "grant": "ALLOW_ALWAYS"})).await;
    let page = support::page(site, 7);
    let echo = || client.call_as(&page, "agent.tools.call", json!({"tool": "probe/echo", "args": {"text": "hi"}}));
    let mut idle = Vec::new();
    for _ in 0..7 {
        let started = Instant::now();
        assert!(echo().await.0.is_ok());
        idle.push(started.elapsed());
    }
    idle.sort();
    let idle = idle[3];

    // 200 MiB of incompressible bytes, stored: unpacking is all copying and hashing.
    let (python, script) = probe();
    let manifest = json!({"manifest_version": "0.2", "name": "big", "version": "1",
        "server": {"mcp_config": {"command": python, "args": ["${__dirname}/server/probe.py"]}}});
    let mut zip = zip::ZipWriter::new(std::fs::File::create(client.home.join("big.mcpb")).unwrap());
    let stored = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    zip.start_file("manifest.json", stored).unwrap();
    zip.write_all(manifest.to_string().as_bytes()).unwrap();
    zip.start_file("server/probe.py", stored).unwrap();
    zip.write_all(&std::fs::read(&script).unwrap()).unwrap();
    zip.start_file("server/data.bin", stored).unwrap();
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut block = vec![0u8; 1 << 20];
    for _ in 0..200 {
        for chunk in block.chunks_mut(8) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            chunk.copy_from_slice(&state.to_le_bytes());
        }
        zip.write_all(&block).unwrap();
    }
    zip.finish().unwrap();
    let archive = client.home.join("big.mcpb");
    let digest = sha256(&std::fs::read(&archive).unwrap());
    let install = client.send("install.bundle", json!({"path": archive, "sha256": digest, "id": "big"})).await;

    let mut busy = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while client.events_so_far(install).is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    for _ in 0..7 {
        let started = Instant::now();
        assert!(echo().await.0.is_ok());
        busy.push(started.elapsed());
    }
    let (installed, _) = client.wait(install).await;
    assert!(installed.is_ok(), "{installed:?}");
    busy.sort();
    let worst = busy[busy.len() - 1];
    eprintln!("page call during a 200 MiB install: worst {worst:?}, idle median {idle:?}");
    // Generous: the machine is busy copying 200 MiB, but no call waits for the copy to finish.
    assert!(
        worst < idle * 25 + Duration::from_millis(250),
        "a call took {worst:?} during the install; idle calls take {idle:?}"
    );
    client.finish().await;
}
