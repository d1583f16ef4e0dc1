//! Importing other clients' configs: realistic fixtures of every dialect (tests/fixtures/import)
//! previewed through the bridge's `import.preview`, malformed ones refused whole with the file and
//! the problem named, importing twice adding nothing twice, and the command line's dry run.

use crate::support;

use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use support::Client;

fn fixture(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/import").join(path)
}

async fn preview(client: &Client, path: &str, dialect: Option<&str>) -> Value {
    let mut params = json!({ "path": fixture(path) });
    if let Some(dialect) = dialect {
        params["dialect"] = json!(dialect);
    }
    client.ok("import.preview", params).await
}

fn entry<'a>(preview: &'a Value, name: &str) -> &'a Value {
    preview["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == name)
        .unwrap_or_else(|| panic!("no {name} in {preview}"))
}

fn names(values: &Value) -> Vec<&str> {
    values.as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect()
}

#[tokio::test(flavor = "current_thread")]
async fn every_dialect_reads_into_the_exact_commands_with_secrets_apart() {
    let client = Client::start("import-dialects").await;

    let claude = preview(&client, "claude/claude_desktop_config.json", None).await;
    assert_eq!(claude["client"], "Claude Desktop");
    let filesystem = entry(&claude, "filesystem");
    assert_eq!(
        filesystem["launch"],
        json!({"kind": "process", "command": "npx", "args": ["-y", "@modelcontextprotocol/server-filesystem", "/Users/ada/Desktop", "/Users/ada/Downloads"], "env": {}})
    );
    let github = entry(&claude, "github");
    assert_eq!(names(&github["secrets"]), ["GITHUB_PERSONAL_ACCESS_TOKEN"]);
    assert_eq!(github["launch"]["env"], json!({}), "the token is not in the launch");
    assert!(!claude.to_string().contains("ghp_example"), "secret values never leave the bridge");
    assert_eq!(entry(&claude, "time")["launch"]["env"], json!({"LOG_LEVEL": "info"}));

    let cursor = preview(&client, "cursor-project/.cursor/mcp.json", None).await;
    assert_eq!(cursor["client"], "Cursor");
    let docs = entry(&cursor, "docs");
    assert_eq!(docs["launch"]["url"], "https://docs.example.com/mcp");
    assert_eq!(names(&docs["secrets"]), ["Authorization"]);
    assert_eq!(docs["launch"]["headers"], json!({"X-Team": "web"}));
    assert_eq!(names(&docs["needs"]["env"]), ["DOCS_TOKEN"]);
    let notes = entry(&cursor, "local-notes");
    let project = fixture("cursor-project");
    assert_eq!(
        notes["launch"]["args"][0],
        format!("{}/tools/notes-server.js", project.display()),
        "${{workspaceFolder}} is the project"
    );
    assert!(notes["launch"]["args"][2].as_str().unwrap().ends_with("/notes"), "${{userHome}}: {notes}");
    assert_eq!(notes["launch"]["env"], json!({"NOTES_COLOR": "blue"}), "from its envFile");
    assert_eq!(names(&notes["secrets"]), ["NOTES_API_KEY"]);
    assert_eq!(entry(&cursor, "old")["disabled"], true);

    let vscode = preview(&client, "vscode-project/.vscode/mcp.json", None).await;
    let perplexity = entry(&vscode, "perplexity");
    assert_eq!(names(&perplexity["secrets"]), ["PERPLEXITY_API_KEY"], "a password input is a secret");
    assert_eq!(perplexity["launch"]["env"], json!({"REGION": "${input:region}"}));
    assert_eq!(names(&perplexity["needs"]["inputs"]), ["perplexity-key", "region"]);
    assert_eq!(
        entry(&vscode, "remote")["launch"],
        json!({"kind": "remote", "url": "http://localhost:3000/mcp", "headers": {}})
    );
    assert_eq!(entry(&vscode, "fetch")["launch"]["command"], "uvx");

    let windsurf = preview(&client, "windsurf/mcp_config.json", None).await;
    assert_eq!(entry(&windsurf, "figma")["launch"]["url"], "http://127.0.0.1:3845/sse");
    assert_eq!(entry(&windsurf, "memory")["id"], "memory");

    let claude_code = preview(&client, "claude-code-project/.mcp.json", None).await;
    let api = entry(&claude_code, "api");
    assert_eq!(api["launch"]["url"], "https://api.example.com/mcp", "${{VAR:-default}}");
    assert_eq!(names(&api["secrets"]), ["Authorization"]);
    let user_file = preview(&client, "claude-code-project/claude.json", Some("claude-code")).await;
    let ids: Vec<&str> = user_file["entries"].as_array().unwrap().iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["everything", "site-db"], "user servers and project servers");

    let zed = preview(&client, "zed/settings.json", Some("zed")).await;
    assert_eq!(entry(&zed, "postgres")["launch"]["args"][2], "postgresql://localhost/mydb");
    assert_eq!(names(&entry(&zed, "brave")["secrets"]), ["BRAVE_API_KEY"]);
    client.finish().await;
}

#[tokio::test(flavor = "current_thread")]
async fn a_malformed_file_is_refused_whole_with_the_file_and_the_problem_named() {
    let client = Client::start("import-malformed").await;
    let cases = [
        ("malformed/truncated.json", "not valid JSON"),
        ("malformed/args-not-a-list.json", "server \"bad\": args must be a list"),
        ("malformed/no-servers.json", "no \"mcpServers\" object"),
        ("malformed/both.json", "both a \"command\" and a \"url\""),
        ("missing/nowhere.json", "cannot read it"),
    ];
    for (path, says) in cases {
        let error = client.err("import.preview", json!({"path": fixture(path), "dialect": "cursor"})).await;
        assert_eq!(error["code"], "ERR_INVALID_REQUEST");
        let message = error["message"].as_str().unwrap();
        assert!(message.contains(path.rsplit('/').next().unwrap()) && message.contains(says), "{path}: {message}");
        let apply =
            client.err("import.apply", json!({"path": fixture(path), "dialect": "cursor", "names": ["good"]})).await;
        assert_eq!(apply["code"], "ERR_INVALID_REQUEST");
    }
    assert_eq!(client.ok("servers.list", json!({})).await, json!([]), "nothing was imported");
    let unknown = client.err("import.preview", json!({"path": fixture("malformed/no-servers.json")})).await;
    assert!(unknown["message"].as_str().unwrap().contains("name the dialect"), "{unknown}");
    client.finish().await;
}

#[tokio::test(flavor = "current_thread")]
async fn importing_adds_servers_once_with_their_secrets_named_for_the_keychain() {
    let client = Client::start("import-apply").await;
    let path = fixture("windsurf/mcp_config.json");
    let added = client.ok("import.apply", json!({"path": path, "names": ["figma", "memory"]})).await;
    assert_eq!(added["added"], json!(["figma", "memory"]));
    let memory = client.ok("servers.get", json!({"id": "memory"})).await;
    assert_eq!(memory["source"], json!({"kind": "imported", "client": "Windsurf", "file": path}));
    assert_eq!(memory["launch"]["args"], json!(["-y", "@modelcontextprotocol/server-memory"]));

    let again = client.ok("import.preview", json!({"path": path})).await;
    assert_eq!(entry(&again, "memory")["duplicateOf"], "memory");
    let twice = client.ok("import.apply", json!({"path": path, "names": ["figma", "memory"]})).await;
    assert_eq!(twice["added"], json!([]));
    assert_eq!(twice["skipped"].as_array().unwrap().len(), 2);
    assert_eq!(client.ok("servers.list", json!({})).await.as_array().unwrap().len(), 2);

    // A name taken by another server gets a stable suffix.
    let claude_code = fixture("claude-code-project/.mcp.json");
    client
        .ok("servers.add", json!({"id": "sequential-thinking", "launch": {"kind": "process", "command": "other"}}))
        .await;
    let clash = client.ok("import.preview", json!({"path": claude_code})).await;
    assert_eq!(entry(&clash, "sequential-thinking")["id"], "sequential-thinking-2");
    // A secret header is named for the keychain, never stored with the server.
    let imported = client.ok("import.apply", json!({"path": claude_code, "names": ["api"]})).await;
    assert_eq!(imported["added"], json!(["api"]));
    let api = client.ok("servers.get", json!({"id": "api"})).await;
    assert_eq!(api["secretEnv"], json!({"Authorization": "api/Authorization"}), "{api}");
    assert!(api["launch"]["headers"].get("Authorization").is_none(), "{api}");
    client.finish().await;
}

#[tokio::test(flavor = "current_thread")]
async fn export_keeps_unrelated_keys_and_reimports_as_the_same_servers() {
    let client = Client::start("export").await;
    let file = client.home.join("claude_desktop_config.json");
    std::fs::copy(fixture("claude/claude_desktop_config.json"), &file).unwrap();
    let launch = json!({"kind": "process", "command": "node", "args": ["/opt/notes/server.js", "--root", "/home/ada"], "env": {"NOTES_COLOR": "blue"}});
    client
        .ok(
            "servers.add",
            json!({"id": "notes", "launch": launch, "secretEnv": {"NOTES_API_KEY": "notes/NOTES_API_KEY"}}),
        )
        .await;
    client
        .ok("servers.add", json!({"id": "docs", "launch": {"kind": "remote", "url": "https://docs.example.com/mcp"}}))
        .await;

    let preview =
        client.ok("export.preview", json!({"target": "claude-desktop", "path": file, "ids": ["notes", "docs"]})).await;
    assert_eq!(preview["servers"][0]["leftOut"], json!(["NOTES_API_KEY"]), "secrets are not written");
    assert!(preview["servers"][1]["refused"].as_str().unwrap().contains("local commands only"), "{preview}");
    let refused =
        client.err("export.apply", json!({"target": "claude-desktop", "path": file, "ids": ["notes", "docs"]})).await;
    assert!(refused["message"].as_str().unwrap().starts_with("docs:"), "{refused}");

    let written = client.ok("export.apply", json!({"target": "claude-desktop", "path": file, "ids": ["notes"]})).await;
    assert_eq!(written["written"], json!(["notes"]));
    let config: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(config["globalShortcut"], "Ctrl+Space", "unrelated keys survive");
    assert_eq!(config["mcpServers"]["time"]["args"][0], "mcp-server-time", "other servers survive");
    assert_eq!(
        config["mcpServers"]["notes"],
        json!({"command": "node", "args": ["/opt/notes/server.js", "--root", "/home/ada"], "env": {"NOTES_COLOR": "blue"}})
    );
    let backup = written["backup"].as_str().unwrap();
    assert_eq!(std::fs::read(backup).unwrap(), std::fs::read(fixture("claude/claude_desktop_config.json")).unwrap());

    // Imported back, the exported server is the one Harbor has.
    let again = client.ok("import.preview", json!({"path": file})).await;
    assert_eq!(entry(&again, "notes")["duplicateOf"], "notes");
    assert_eq!(entry(&again, "notes")["launch"], launch);

    // Cursor takes remote servers too, into a file that did not exist.
    let cursor = client.home.join("project/.cursor/mcp.json");
    client.ok("export.apply", json!({"target": "cursor", "path": cursor, "ids": ["docs"]})).await;
    let back = client.ok("import.preview", json!({"path": cursor})).await;
    assert_eq!(entry(&back, "docs")["duplicateOf"], "docs");
    client.finish().await;
}

#[tokio::test(flavor = "current_thread")]
async fn an_entry_that_cannot_be_read_in_full_says_why_and_the_others_import() {
    // A team's config in the shared `mcpServers` shape, outside any app's usual folder: read in
    // that shape without naming a dialect. Its `notes` entry loads `${workspaceFolder}/.env`,
    // which has no value at user level.
    let client = Client::start("import-partial").await;
    let path = "shared/team-mcp.json";
    let shown = preview(&client, path, None).await;
    let notes = entry(&shown, "notes");
    let why = notes["needs"]["envFile"].as_str().unwrap_or_else(|| panic!("{notes}"));
    assert!(why.contains("${workspaceFolder}/.env") && why.contains("project"), "{why}");
    assert!(entry(&shown, "time")["needs"].get("envFile").is_none());
    let added = client.ok("import.apply", json!({"path": fixture(path), "names": ["notes", "time"]})).await;
    assert_eq!(added["added"], json!(["notes", "time"]), "{added}");
    let time = client.ok("servers.get", json!({"id": "time"})).await;
    assert_eq!(time["launch"]["args"], json!(["mcp-server-time", "--local-timezone", "UTC"]));
    client.finish().await;
}

/// A config file that is there but cannot be written (a read-only file system) or read (a
/// folder where a file should be) is the machine's problem, `ERR_FILE_ACCESS`, not the user's
/// input; the file is left as it was. A missing file to import is the user's wrong path.
#[tokio::test(flavor = "current_thread")]
async fn a_config_the_file_system_refuses_is_a_file_access_error_and_is_left_as_it_was() {
    let client = Client::start("import-access").await;
    let mount = client.home.join("read-only");
    std::fs::create_dir_all(&mount).unwrap();
    let mounted = std::process::Command::new("mount").args(["-t", "tmpfs", "tmpfs"]).arg(&mount).status().unwrap();
    assert!(mounted.success(), "mounting a tmpfs needs root (CI runs as root)");
    let file = mount.join("claude_desktop_config.json");
    let before = r#"{"mcpServers": {}, "theme": "dark"}"#;
    std::fs::write(&file, before).unwrap();
    let remounted = std::process::Command::new("mount").args(["-o", "remount,ro"]).arg(&mount).status().unwrap();
    assert!(remounted.success());
    client.ok("servers.add", json!({"id": "notes", "launch": {"kind": "process", "command": "node"}})).await;

    let refused = client.err("export.apply", json!({"target": "claude-desktop", "path": file, "ids": ["notes"]})).await;
    assert_eq!(refused["code"], "ERR_FILE_ACCESS", "{refused}");
    let message = refused["message"].as_str().unwrap();
    assert!(message.contains("claude_desktop_config.json") && message.contains("Read-only file system"), "{message}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), before, "the file is as it was");

    let folder = client.err("import.preview", json!({"path": mount, "dialect": "cursor"})).await;
    assert_eq!(folder["code"], "ERR_FILE_ACCESS", "{folder}");
    let missing = client.err("import.preview", json!({"path": mount.join("nowhere.json"), "dialect": "cursor"})).await;
    assert_eq!(missing["code"], "ERR_INVALID_REQUEST", "{missing}");
    assert!(std::process::Command::new("umount").arg(&mount).status().unwrap().success());
    client.finish().await;
}
