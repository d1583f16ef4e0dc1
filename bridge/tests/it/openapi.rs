//! REST APIs as services: a real REST API on loopback (`tests/fixtures/rest_api.py`, Python's
//! http.server, serving its own OpenAPI 3.1 document) added from the command line with
//! `servers add pets --openapi DOCUMENT`, its token from the keychain: each operation is a tool,
//! calls reach the API with the token and the arguments where the document puts them, the API's
//! errors come back as tool errors the model can read, an unusable document is refused with
//! nothing added, and code mode calls the operations as `api.pets.<operationId>`.

use crate::support;

use std::path::Path;
use std::time::Duration;

use harbor_bridge::link::Link;
use serde_json::{json, Value};
use support::{admin, first_line, free_port, serve_headless, test_servers};

const BRIDGE: &str = env!("CARGO_BIN_EXE_harbor-bridge");

fn cli(home: &Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(BRIDGE).args(args).env("HARBOR_HOME", home).output().unwrap()
}

const SKILL: &str = "---\nname: pets-howto\ndescription: How to add pets and find them again with the Pets API.\n---\n\
# Pets\nCreate a pet with createPet, then read it back with getPet using the id it returns.\n";

/// The REST API fixture on `port` (`rest_api.py PORT ARGS…`), once it listens.
async fn start_api(port: u16, args: &[&str]) -> tokio::process::Child {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/rest_api.py");
    let mut command = tokio::process::Command::new(test_servers().join("venv/bin/python"));
    command.arg(script).arg(port.to_string()).args(args);
    let (api, ready) = first_line(command, Duration::from_secs(20)).await;
    assert_eq!(ready, "ready");
    api
}

/// The API's OpenAPI document, saved in `home` as the user would before adding it.
async fn save_document(http: &reqwest::Client, port: u16, home: &Path) -> std::path::PathBuf {
    let document =
        http.get(format!("http://127.0.0.1:{port}/openapi.json")).send().await.unwrap().text().await.unwrap();
    let file = home.join("pets.json");
    std::fs::write(&file, &document).unwrap();
    file
}

fn text(result: &Value) -> String {
    result["content"][0]["text"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn a_rest_apis_operations_are_tools_called_with_its_token_and_from_code() {
    let port = free_port();
    let _api = start_api(port, &["s3cret-api-token"]).await;
    let (_serving, home, _) = serve_headless("openapi").await;
    let http = harbor_bridge::http::client_builder().build().unwrap();
    let file = save_document(&http, port, &home).await;

    // A document Harbor cannot use is refused, and nothing is added.
    let swagger = home.join("swagger.json");
    std::fs::write(&swagger, r#"{"swagger": "2.0", "paths": {}}"#).unwrap();
    let refused = cli(&home, &["servers", "add", "old", "--openapi", swagger.to_str().unwrap()]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("Swagger 2.0"), "{refused:?}");
    let mut link = Link::open(&home).await.unwrap();
    assert!(admin(&mut link, "servers.list", json!({})).await.as_array().unwrap().is_empty());

    // The service, its token in the keychain, a skill saying how to use it.
    let skill = home.join("pets-howto.md");
    std::fs::write(&skill, SKILL).unwrap();
    let no_skill = home.join("notes.md");
    std::fs::write(&no_skill, "# Notes\nNo frontmatter, so no skill.").unwrap();
    let refused = cli(
        &home,
        &["servers", "add", "pets", "--openapi", file.to_str().unwrap(), "--skills", no_skill.to_str().unwrap()],
    );
    assert!(String::from_utf8_lossy(&refused.stderr).contains("no frontmatter"), "{refused:?}");
    let added = cli(
        &home,
        &[
            "servers",
            "add",
            "pets",
            "--openapi",
            file.to_str().unwrap(),
            "--secret",
            "HARBOR_API_TOKEN=pets-token",
            "--skills",
            skill.to_str().unwrap(),
        ],
    );
    assert!(added.status.success(), "{}", String::from_utf8_lossy(&added.stderr));
    admin(&mut link, "secrets.set", json!({"id": "pets-token", "value": "s3cret-api-token"})).await;
    admin(&mut link, "servers.start", json!({"id": "pets"})).await;
    let tools = admin(&mut link, "tools.list", json!({"serverId": "pets"})).await;
    let names: Vec<&str> = tools.as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        ["pets/listPets", "pets/createPet", "pets/getPet", "pets/deletePet", "pets/getStatus"],
        "{tools}"
    );
    let create = tools.as_array().unwrap().iter().find(|t| t["name"] == "pets/createPet").unwrap();
    assert_eq!(create["inputSchema"]["properties"]["body"]["properties"]["kind"]["enum"], json!(["cat", "dog"]));
    assert_eq!(create["inputSchema"]["required"], json!(["body"]));
    let list = tools.as_array().unwrap().iter().find(|t| t["name"] == "pets/listPets").unwrap();
    assert_eq!(list["annotations"]["readOnlyHint"], true);
    let entry = admin(&mut link, "servers.get", json!({"id": "pets"})).await;
    assert_eq!(entry["name"], "Pets", "the document's title names it: {entry}");
    assert_eq!(entry["source"]["kind"], "openapi", "{entry}");
    let skills = admin(&mut link, "skills.list", json!({"serverId": "pets"})).await;
    assert!(skills.to_string().contains("pets-howto"), "{skills}");

    // Calls reach the API with its token, the body, path and query where the document says.
    let call = |tool: &str, args: Value| json!({"tool": format!("pets/{tool}"), "args": args});
    let made = admin(&mut link, "tools.call", call("createPet", json!({"body": {"name": "Rex", "kind": "dog"}}))).await;
    assert_eq!(made["structuredContent"]["name"], "Rex", "{made}");
    let id = made["structuredContent"]["id"].as_str().unwrap().to_owned();
    let got = admin(&mut link, "tools.call", call("getPet", json!({"petId": id}))).await;
    assert_eq!(got["structuredContent"]["kind"], "dog", "{got}");
    admin(&mut link, "tools.call", call("createPet", json!({"body": {"name": "Tom", "kind": "cat"}}))).await;
    let listed = admin(&mut link, "tools.call", call("listPets", json!({"limit": 1}))).await;
    assert_eq!(listed["structuredContent"]["pets"].as_array().unwrap().len(), 1, "{listed}");
    let seen: Value = http.get(format!("http://127.0.0.1:{port}/v1/seen")).send().await.unwrap().json().await.unwrap();
    assert_eq!(seen, json!({"method": "GET", "path": "/v1/pets", "query": {"limit": ["1"]}, "authorized": true}));

    // The API's own errors come back as tool errors saying what it said.
    let missing = admin(&mut link, "tools.call", call("getPet", json!({"petId": "99"}))).await;
    assert_eq!(missing["isError"], true, "{missing}");
    assert!(text(&missing).contains("404") && text(&missing).contains("no pet 99"), "{missing}");
    let incomplete = admin(&mut link, "tools.call", call("getPet", json!({}))).await;
    assert!(incomplete["isError"] == true && text(&incomplete).contains("petId"), "{incomplete}");
    // A path argument cannot walk out of its segment.
    let sly = admin(&mut link, "tools.call", call("getPet", json!({"petId": "../pets"}))).await;
    assert_eq!(sly["isError"], true, "{sly}");
    let seen: Value = http.get(format!("http://127.0.0.1:{port}/v1/seen")).send().await.unwrap().json().await.unwrap();
    assert_eq!(seen["path"], "/v1/pets/..%2Fpets", "{seen}");

    // Without the token, the API refuses, and the tool says so.
    admin(&mut link, "secrets.set", json!({"id": "pets-token", "value": "wrong"})).await;
    admin(&mut link, "servers.restart", json!({"id": "pets"})).await;
    let refused = admin(&mut link, "tools.call", call("listPets", json!({}))).await;
    assert!(refused["isError"] == true && text(&refused).contains("401"), "{refused}");
    admin(&mut link, "secrets.set", json!({"id": "pets-token", "value": "s3cret-api-token"})).await;
    admin(&mut link, "servers.restart", json!({"id": "pets"})).await;

    // An endpoint that keeps failing is let be after five failures in a row, saying why; the
    // service's other endpoints go on.
    for _ in 0..5 {
        let down = admin(&mut link, "tools.call", call("getStatus", json!({}))).await;
        assert!(down["isError"] == true && text(&down).contains("503"), "{down}");
    }
    let held = admin(&mut link, "tools.call", call("getStatus", json!({}))).await;
    assert!(held["isError"] == true && text(&held).contains("Harbor stopped calling getStatus"), "{held}");
    assert!(text(&held).contains("5 times in a row") && text(&held).contains("503"), "{held}");
    let hits: Value = http.get(format!("http://127.0.0.1:{port}/v1/hits")).send().await.unwrap().json().await.unwrap();
    assert_eq!(hits["/v1/status"], 5, "the sixth call never reached the API: {hits}");
    let listed = admin(&mut link, "tools.call", call("listPets", json!({}))).await;
    assert!(listed["isError"] != true, "{listed}");

    // In code mode the operations are `api.<service>.<operationId>`.
    let http_on = admin(&mut link, "gateway.http.set", json!({"enabled": true, "port": 0})).await;
    let url = http_on["http"]["url"].as_str().unwrap().to_owned();
    let coder = json!({"name": "coder", "allow": ["pets"], "ratePerMin": 600, "codeMode": true});
    let added = admin(&mut link, "gateway.clients.add", coder).await;
    let app = support::mcp_http_client(&url, added["key"].as_str().unwrap()).await;
    let code = "const pet = await api.pets.createPet({ body: { name: 'Kit', kind: 'cat' } });\n\
                const again = await api.pets.getPet({ petId: pet.structuredContent.id });\n\
                return again.structuredContent.name;";
    let params = rmcp::model::CallToolRequestParams::new("execute_code")
        .with_arguments(json!({"code": code}).as_object().unwrap().clone());
    let ran = serde_json::to_value(app.call_tool(params).await.unwrap()).unwrap();
    assert!(ran["isError"] != true && ran.to_string().contains("Kit"), "{ran}");
    // The service's skill is there to read before writing code.
    let listed =
        serde_json::to_value(app.call_tool(rmcp::model::CallToolRequestParams::new("list_skills")).await.unwrap())
            .unwrap();
    let uri = listed["structuredContent"]["skills"][0]["uri"].as_str().unwrap_or_default().to_owned();
    assert!(uri.ends_with("pets-howto/SKILL.md"), "{listed}");
    let params = rmcp::model::CallToolRequestParams::new("get_skill")
        .with_arguments(json!({"uri": uri}).as_object().unwrap().clone());
    let read = serde_json::to_value(app.call_tool(params).await.unwrap()).unwrap();
    assert!(read.to_string().contains("read it back with getPet"), "{read}");
    app.cancel().await.unwrap();
    link.close().await;
}

/// A service whose document asks for OAuth client credentials: installed as the sidebar does
/// (`install.restService`, the client's secret given as a value that goes to the keychain), it
/// gets its access token from a real OAuth provider on loopback (npm's oidc-provider) and the API
/// checks that token by the provider's introspection; a wrong secret is the provider's refusal,
/// told as the tool's error.
#[tokio::test]
async fn a_service_signs_in_with_client_credentials_at_a_real_provider() {
    let (api_port, provider_port) = (free_port(), free_port());
    let (_provider, issuer) = support::provider_pages::start_fixture(
        &test_servers().join("oauth"),
        "team_provider.mjs",
        provider_port,
        &format!("http://127.0.0.1:{api_port}/v1"),
        &[],
    )
    .await
    .unwrap();
    let _api = start_api(api_port, &["--issuer", &issuer]).await;
    let (_serving, home, _) = serve_headless("openapi-cc").await;
    let http = harbor_bridge::http::client_builder().build().unwrap();
    let file = save_document(&http, api_port, &home).await;

    let mut link = Link::open(&home).await.unwrap();
    let install = |id: &str, secret: &str| {
        json!({"source": file.display().to_string(), "id": id, "secrets": {
            "HARBOR_API_CLIENT_ID": "opaque-app", "HARBOR_API_CLIENT_SECRET": secret}})
    };
    let added = admin(&mut link, "install.restService", install("pets", "opaque-app-secret")).await;
    assert_eq!(added["source"]["kind"], "openapi", "{added}");
    admin(&mut link, "servers.start", json!({"id": "pets"})).await;
    let made = admin(
        &mut link,
        "tools.call",
        json!({"tool": "pets/createPet", "args": {"body": {"name": "Rex", "kind": "dog"}}}),
    )
    .await;
    assert_eq!(made["structuredContent"]["name"], "Rex", "{made}");
    let seen: Value =
        http.get(format!("http://127.0.0.1:{api_port}/v1/seen")).send().await.unwrap().json().await.unwrap();
    assert_eq!(seen["authorized"], true, "the provider vouched for the token: {seen}");

    // The same service with a wrong secret: the provider refuses, the tool says so.
    admin(&mut link, "install.restService", install("wrong", "not-the-secret")).await;
    admin(&mut link, "servers.start", json!({"id": "wrong"})).await;
    let refused = admin(&mut link, "tools.call", json!({"tool": "wrong/listPets", "args": {}})).await;
    assert_eq!(refused["isError"], true, "{refused}");
    assert!(text(&refused).contains("refused the service's client credentials"), "{refused}");
    link.close().await;
}
