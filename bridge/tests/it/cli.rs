//! The `harbor-bridge` command line: install, doctor and uninstall, in a scratch HOME.

use crate::support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn bridge(home: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_harbor-bridge"))
        .args(args)
        .env("HOME", home)
        .env("HARBOR_HOME", home.join("harbor"))
        .output()
        .expect("the bridge binary runs")
}

fn scratch(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("harbor-cli-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn install_registers_a_copy_doctor_sees_it_and_uninstall_removes_it() {
    let home = scratch("install");
    let manifest = home.join(".mozilla/native-messaging-hosts/harbor_rs_bridge.json");

    let doctor = bridge(&home, &["doctor", "--json"]);
    assert!(!doctor.status.success(), "doctor fails while the bridge is not registered");
    let checks: serde_json::Value = serde_json::from_slice(&doctor.stdout).unwrap();
    assert_eq!(checks[0]["name"], "native messaging");
    assert_eq!(checks[0]["status"], "fail");
    assert!(checks[0]["fix"].as_str().unwrap().contains("harbor-bridge install"));

    let install = bridge(&home, &["install"]);
    assert!(install.status.success(), "{}", String::from_utf8_lossy(&install.stderr));
    let written: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&manifest).unwrap()).unwrap();
    let copy = PathBuf::from(written["path"].as_str().unwrap());
    assert_eq!(copy, home.join("harbor/bin/harbor-bridge"), "Firefox starts Harbor's own copy");
    let version = Command::new(&copy).arg("--version").output().unwrap();
    assert_eq!(String::from_utf8_lossy(&version.stdout).trim(), format!("harbor-bridge {}", env!("CARGO_PKG_VERSION")));

    let doctor = bridge(&home, &["doctor", "--json"]);
    let checks: serde_json::Value = serde_json::from_slice(&doctor.stdout).unwrap();
    assert_eq!(checks[0]["status"], "ok", "{checks}");
    let names: Vec<_> = checks.as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap().to_owned()).collect();
    for expected in ["node", "npx", "python3", "uv", "docker", "bwrap", "keychain", "ollama"] {
        assert!(names.iter().any(|n| n == expected), "doctor checks {expected}: {names:?}");
    }

    let uninstall = bridge(&home, &["uninstall"]);
    assert!(uninstall.status.success());
    assert!(!manifest.exists() && !copy.exists(), "uninstall removes the manifest and the copy");
    std::fs::remove_dir_all(&home).unwrap();
}

#[test]
fn data_dir_follows_harbor_home_and_a_mistyped_command_fails_at_once() {
    let home = scratch("data-dir");
    let out = bridge(&home, &["data-dir"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), home.join("harbor").display().to_string());
    let out = bridge(&home, &["instal", "harbor-rs@harbor-mcp.dev"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown command \"instal\""));
    std::fs::remove_dir_all(&home).unwrap();
}

/// A host-mode bridge (as Firefox starts it) whose stdin stays open while the test runs.
struct RunningBridge(std::process::Child);

impl Drop for RunningBridge {
    fn drop(&mut self) {
        drop(self.0.stdin.take());
        let _ = self.0.wait();
    }
}

#[test]
fn the_cli_adds_starts_calls_and_stops_a_real_server_in_the_running_bridge() {
    let python = support::test_servers().join("venv/bin/python");
    let home = scratch("servers");
    let python = python.display().to_string();
    let added =
        bridge(&home, &["servers", "add", "time", "--", &python, "-m", "mcp_server_time", "--local-timezone", "UTC"]);
    assert!(added.status.success(), "{}", String::from_utf8_lossy(&added.stderr));

    // With no bridge running, `call` runs the server in-process for the call.
    let called = bridge(&home, &["call", "time/get_current_time", r#"{"timezone": "Asia/Tokyo"}"#]);
    assert!(called.status.success(), "{}", String::from_utf8_lossy(&called.stderr));
    assert!(String::from_utf8_lossy(&called.stdout).contains("\"timezone\": \"Asia/Tokyo\""));

    // With a bridge running (as Firefox runs it), the CLI controls that bridge's servers.
    let running = RunningBridge(
        Command::new(env!("CARGO_BIN_EXE_harbor-bridge"))
            .arg("serve")
            .env("HOME", &home)
            .env("HARBOR_HOME", home.join("harbor"))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let socket = home.join("harbor/bridge.sock");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !socket.exists() {
        assert!(std::time::Instant::now() < deadline, "the bridge opened no control socket");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let started = bridge(&home, &["servers", "start", "time"]);
    assert!(
        String::from_utf8_lossy(&started.stdout).contains("time is running (2 tools)"),
        "{}",
        String::from_utf8_lossy(&started.stderr)
    );
    let list = bridge(&home, &["servers", "list", "--json"]);
    let list: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(list[0]["status"]["state"], "running", "the running bridge still runs it after the command ended");
    let tools = bridge(&home, &["tools", "--json"]);
    let tools: serde_json::Value = serde_json::from_slice(&tools.stdout).unwrap();
    assert_eq!(tools.as_array().unwrap().len(), 2);
    let stopped = bridge(&home, &["servers", "stop", "time"]);
    assert!(String::from_utf8_lossy(&stopped.stdout).contains("Stopped time"));
    let list = bridge(&home, &["servers", "list", "--json"]);
    let list: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(list[0]["status"]["state"], "stopped");
    let logs = bridge(&home, &["servers", "logs", "time"]);
    assert!(String::from_utf8_lossy(&logs.stdout).contains("harbor running"));
    drop(running);
    assert!(!socket.exists(), "the control socket is removed when the bridge stops");
    std::fs::remove_dir_all(&home).unwrap();
}

#[test]
fn import_shows_a_dry_run_then_imports_with_secrets_in_the_keychain() {
    let home = scratch("import");
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/import");
    let claude = fixtures.join("claude/claude_desktop_config.json");
    let shown = bridge(&home, &["import", claude.to_str().unwrap(), "--dry-run"]);
    let text = String::from_utf8_lossy(&shown.stdout);
    assert!(shown.status.success(), "{}", String::from_utf8_lossy(&shown.stderr));
    assert!(
        text.contains("filesystem → filesystem: npx -y @modelcontextprotocol/server-filesystem /Users/ada/Desktop"),
        "{text}"
    );
    assert!(text.contains("github → github: docker run -i --rm -e GITHUB_PERSONAL_ACCESS_TOKEN ghcr.io/github/github-mcp-server  [secrets: GITHUB_PERSONAL_ACCESS_TOKEN]"), "{text}");
    assert!(!text.contains("ghp_"), "no secret value is printed");
    let json = bridge(&home, &["import", claude.to_str().unwrap(), "--dry-run", "--json"]);
    let preview: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(preview["entries"].as_array().unwrap().len(), 3);
    assert_eq!(bridge(&home, &["servers", "list", "--json"]).stdout, b"[]\n", "a dry run adds nothing");

    let imported = bridge(&home, &["import", claude.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&imported.stdout);
    assert!(text.contains("added filesystem") && text.contains("added time"), "{text}");
    assert!(text.contains("added github (secrets kept in the keychain: GITHUB_PERSONAL_ACCESS_TOKEN)"), "{text}");
    let status = bridge(&home, &["secrets", "status", "--json"]);
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(status["secrets"][0]["id"], "github/GITHUB_PERSONAL_ACCESS_TOKEN", "{status}");
    for (path, bytes) in
        std::fs::read_dir(home.join("harbor")).unwrap().flatten().map(|e| (e.path(), std::fs::read(e.path())))
    {
        let bytes = bytes.unwrap_or_default();
        assert!(!bytes.windows(4).any(|w| w == b"ghp_"), "the token is in {}", path.display());
    }
    let bad =
        bridge(&home, &["import", fixtures.join("malformed/truncated.json").to_str().unwrap(), "--dialect", "cursor"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("truncated.json: not valid JSON"));
    std::fs::remove_dir_all(&home).unwrap();
}

#[test]
fn install_spec_installs_a_server_from_a_package_name() {
    let home = scratch("install-spec");
    let (npm, pypi) = (support::registries::npm(), support::registries::pypi());
    let set = bridge(&home, &["registries", "--npm", &npm, "--pypi", &pypi]);
    assert!(set.status.success(), "{}", String::from_utf8_lossy(&set.stderr));
    let shown = bridge(&home, &["registries"]);
    assert!(String::from_utf8_lossy(&shown.stdout).contains(&npm), "the setting is kept");
    let installed = bridge(&home, &["install", "npm:@modelcontextprotocol/server-memory@2026.8.31", "--id", "mem"]);
    let out = String::from_utf8_lossy(&installed.stdout);
    assert!(installed.status.success(), "{}", String::from_utf8_lossy(&installed.stderr));
    assert!(out.starts_with("installed @modelcontextprotocol/server-memory 2026.8.31 as mem: node "), "{out}");
    let list = bridge(&home, &["servers", "list", "--json"]);
    let list: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(list[0]["id"], "mem");
    assert_eq!(list[0]["version"], "2026.8.31");
    let refused = bridge(&home, &["install", "filesystem"]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("Folders it may use is needed"));

    // A bundle on disk installs by its path.
    let bundle = home.join("notes.mcpb");
    {
        use std::io::Write;
        let mut zip = zip::ZipWriter::new(std::fs::File::create(&bundle).unwrap());
        zip.start_file("manifest.json", zip::write::SimpleFileOptions::default()).unwrap();
        let manifest = r#"{"name": "notes", "version": "2.0.0", "server": {"mcp_config": {"command": "node", "args": ["${__dirname}/index.js"]}}}"#;
        zip.write_all(manifest.as_bytes()).unwrap();
        zip.finish().unwrap();
    }
    let installed = bridge(&home, &["install", bundle.to_str().unwrap()]);
    let out = String::from_utf8_lossy(&installed.stdout);
    assert!(
        out.starts_with("installed notes 2.0.0 as notes: node "),
        "{out} {}",
        String::from_utf8_lossy(&installed.stderr)
    );
    let unsigned = bridge(&home, &["install", "https://example.invalid/server-linux", "--id", "x"]);
    assert!(String::from_utf8_lossy(&unsigned.stderr).contains("needs --sha256"));
    std::fs::remove_dir_all(&home).unwrap();
}

#[test]
fn export_writes_the_servers_into_a_cursor_config_keeping_its_other_keys() {
    let home = scratch("export");
    let config = home.join("mcp.json");
    std::fs::write(&config, r#"{"mcpServers": {"mine": {"command": "x"}}, "theme": "dark"}"#).unwrap();
    let added = bridge(&home, &["servers", "add", "notes", "--env", "MODE=fast", "--", "node", "/opt/notes.js"]);
    assert!(added.status.success(), "{}", String::from_utf8_lossy(&added.stderr));
    let shown = bridge(&home, &["export", "--to", "cursor", "--file", config.to_str().unwrap(), "--dry-run"]);
    assert!(String::from_utf8_lossy(&shown.stdout).contains("notes"));
    assert!(std::fs::read_to_string(&config).unwrap().contains("\"theme\": \"dark\""), "a dry run writes nothing");
    let written = bridge(&home, &["export", "--to", "cursor", "--file", config.to_str().unwrap()]);
    assert!(written.status.success(), "{}", String::from_utf8_lossy(&written.stderr));
    let after: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&config).unwrap()).unwrap();
    assert_eq!(after["theme"], "dark");
    assert_eq!(after["mcpServers"]["mine"]["command"], "x", "other servers stay");
    assert_eq!(after["mcpServers"]["notes"]["args"][0], "/opt/notes.js");
    assert_eq!(after["mcpServers"]["notes"]["env"]["MODE"], "fast");
    assert!(home.join("mcp.json.harbor-backup").is_file());
    std::fs::remove_dir_all(&home).unwrap();
}
