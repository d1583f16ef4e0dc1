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

fn text(result: &Value) -> String {
    result["content"][0]["text"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn a_rest_apis_operations_are_tools_called_with_its_token_and_from_code() {
    let port = free_port();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/rest_api.py");
    let mut command = tokio::process::Command::new(test_servers().join("venv/bin/python"));
    command.arg(script).arg(port.to_string()).arg("s3cret-api-token");
    let (_api, ready) = first_line(command, Duration::from_secs(20)).await;
    assert_eq!(ready, "ready");
    let (_serving, home, _) = serve_headless("openapi").await;
    let http = harbor_bridge::http::client_builder().build().unwrap();
    let document =
        http.get(format!("http://127.0.0.1:{port}/openapi.json")).send().await.unwrap().text().await.unwrap();
    let file = home.join("pets.json");
    std::fs::write(&file, &document).unwrap();

    // A document Harbor cannot use is refused, and nothing is added.
    let swagger = home.join("swagger.json");
    std::fs::write(&swagger, r#"{"swagger": "2.0", "paths": {}}"#).unwrap();
    let refused = cli(&home, &["servers", "add", "old", "--openapi", swagger.to_str().unwrap()]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("Swagger 2.0"), "{refused:?}");
    let mut link = Link::open(&home).await.unwrap();
    assert!(admin(&mut link, "servers.list", json!({})).await.as_array().unwrap().is_empty());

    // The service, its token in the keychain.
    let added = cli(
        &home,
        &["servers", "add", "pets", "--openapi", file.to_str().unwrap(), "--secret", "HARBOR_API_TOKEN=pets-token"],
    );
    assert!(added.status.success(), "{}", String::from_utf8_lossy(&added.stderr));
    admin(&mut link, "secrets.set", json!({"id": "pets-token", "value": "s3cret-api-token"})).await;
    admin(&mut link, "servers.start", json!({"id": "pets"})).await;
    let tools = admin(&mut link, "tools.list", json!({"serverId": "pets"})).await;
    let names: Vec<&str> = tools.as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["pets/listPets", "pets/createPet", "pets/getPet", "pets/deletePet"], "{tools}");
    let create = tools.as_array().unwrap().iter().find(|t| t["name"] == "pets/createPet").unwrap();
    assert_eq!(create["inputSchema"]["properties"]["body"]["properties"]["kind"]["enum"], json!(["cat", "dog"]));
    assert_eq!(create["inputSchema"]["required"], json!(["body"]));
    let list = tools.as_array().unwrap().iter().find(|t| t["name"] == "pets/listPets").unwrap();
    assert_eq!(list["annotations"]["readOnlyHint"], true);

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
    app.cancel().await.unwrap();
    link.close().await;
}
