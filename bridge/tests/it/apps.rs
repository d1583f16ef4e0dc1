//! MCP Apps in the bridge (`apps.*`): a tool's `ui://` view is read from its own server and
//! served on loopback with the policy its resource declares, and the view's calls reach only its
//! own server's tools that apps may call — against the official Python SDK's Apps extension
//! (tests/fixtures/app_server.py) and a real App server from npm.

use crate::support;

use serde_json::{json, Value};
use std::time::Duration;
use support::{fixture_launch, time_launch, Client};

async fn with_board(tag: &str) -> Client {
    let client = Client::start(tag).await;
    for (id, launch) in [("board", fixture_launch("app_server.py")), ("time", time_launch())] {
        client.ok("servers.add", json!({"id": id, "launch": launch})).await;
        client.ok("servers.start", json!({"id": id})).await;
        client.wait_for_state(id, "running", Duration::from_secs(30)).await;
    }
    client
}

fn text(result: &Value) -> String {
    result["content"].as_array().into_iter().flatten().filter_map(|c| c["text"].as_str()).collect::<Vec<_>>().join(" ")
}

#[tokio::test]
async fn a_view_is_served_with_its_policy_and_calls_only_its_own_servers_app_tools() {
    let client = with_board("apps-board").await;
    // Harbor tells servers it renders App views, so UI tools can count on it.
    let board = client.ok("tools.call", json!({"tool": "board/board"})).await;
    assert_eq!(text(&board), "apps supported");
    // The catalog says which tools have a view and who may call them.
    let tools = client.ok("tools.list", json!({"serverId": "board"})).await;
    let ui = |name: &str| tools.as_array().unwrap().iter().find(|t| t["name"] == name).unwrap()["ui"].clone();
    assert_eq!(ui("board/board"), json!({"resourceUri": "ui://board/view.html"}));
    assert_eq!(ui("board/move")["visibility"], json!(["app"]));

    let view = client.ok("apps.open", json!({"tool": "board/board"})).await;
    assert_eq!(view["serverId"], "board");
    assert_eq!(view["resourceUri"], "ui://board/view.html");
    assert_eq!(view["prefersBorder"], true);
    assert_eq!(view["tool"]["name"], "board", "the tool as its server lists it: {view}");
    let url = view["url"].as_str().unwrap();
    assert!(url.starts_with("http://127.0.0.1:") && url.contains("/view/"), "{url}");
    let http = harbor_bridge::http::client_builder().build().unwrap();
    let served = http.get(url).send().await.unwrap();
    assert_eq!(served.status(), 200);
    let csp = served.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(served.text().await.unwrap().contains("<button id=\"move\">"));
    // The declared API is reachable; the injected keyword is not, and nothing else is.
    assert!(csp.contains("connect-src https://api.example.com;"), "{csp}");
    assert!(!csp.contains("unsafe-eval"), "{csp}");
    for directive in ["default-src 'none'", "frame-src 'none'", "form-action 'none'", "sandbox allow-scripts"] {
        assert!(csp.contains(directive), "{directive}: {csp}");
    }
    assert_eq!(view["csp"], csp);
    // Another name for the listener (DNS rebinding), a guessed id, and a write all get nothing.
    let port = url.split(':').nth(2).unwrap().split('/').next().unwrap();
    let rebound = http.get(url).header("Host", format!("evil.example:{port}")).send().await.unwrap();
    assert_eq!(rebound.status(), 403);
    let guessed = http.get(format!("http://127.0.0.1:{port}/view/guessed")).send().await.unwrap();
    assert_eq!(guessed.status(), 404);
    assert_eq!(http.post(url).send().await.unwrap().status(), 405);

    let view_id = view["viewId"].clone();
    // The view calls its server's app-only tool, which the model never gets.
    let moved = client.ok("apps.call", json!({"viewId": view_id, "name": "move", "arguments": {}})).await;
    assert_eq!(text(&moved), "moved 1");
    // A site the user allowed the tool to still cannot call it: a page speaks for a model.
    let site = support::page("https://board.example", 4);
    support::set_grant(&client, "https://board.example", "mcp:tools.call", "ALLOW_ALWAYS").await;
    support::set_grant(&client, "https://board.example", "mcp:tools.list", "ALLOW_ALWAYS").await;
    client
        .ok("permissions.setTools", json!({"origin": "https://board.example", "tools": ["board/move", "board/board"]}))
        .await;
    let (page_call, _) = client.call_as(&site, "agent.tools.call", json!({"tool": "board/move"})).await;
    let page_call = page_call.unwrap_err();
    assert_eq!(page_call["code"], "ERR_TOOL_NOT_ALLOWED", "{page_call}");
    assert!(page_call["message"].as_str().unwrap().contains("only to its own app views"), "{page_call}");
    let (listed, _) = client.call_as(&site, "agent.tools.list", json!({})).await;
    let listed: Vec<String> =
        listed.unwrap().as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap().to_owned()).collect();
    assert_eq!(listed, ["board/board"], "the app-only tool is not listed to the page");
    // A model-only tool is not the view's to call.
    let reset = client.err("apps.call", json!({"viewId": view_id, "name": "reset"})).await;
    assert_eq!(reset["code"], "ERR_TOOL_NOT_ALLOWED", "{reset}");
    assert!(reset["message"].as_str().unwrap().contains("only to models"), "{reset}");
    // Another server's tool is out of reach, however it is named.
    for name in ["time/get_current_time", "time__get_current_time", "../time/get_current_time"] {
        let other =
            client.err("apps.call", json!({"viewId": view_id, "name": name, "arguments": {"timezone": "UTC"}})).await;
        assert_eq!(other["code"], "ERR_TOOL_NOT_FOUND", "{name}: {other}");
    }
    // Its own server's resources are readable; the audit names the view's server.
    let read = client.ok("apps.read", json!({"viewId": view_id, "uri": "ui://board/view.html"})).await;
    assert!(read["contents"][0]["text"].as_str().unwrap().contains("Board"));
    let audit = client.ok("audit.list", json!({"origin": "app:board"})).await;
    let entries = audit.as_array().unwrap();
    assert!(
        entries.iter().any(|e| e["tool"] == "board/move" && e["outcome"] == "ok" && e["caller"] == "view"),
        "{audit}"
    );
    assert!(entries.iter().any(|e| e["tool"] == "board/reset" && e["outcome"] == "ERR_TOOL_NOT_ALLOWED"), "{audit}");

    // A web page cannot open or drive a view.
    let page = support::page("https://evil.example", 3);
    for (method, params) in
        [("apps.open", json!({"tool": "board/board"})), ("apps.call", json!({"viewId": view_id, "name": "move"}))]
    {
        let (refused, _) = client.call_as(&page, method, params).await;
        assert_eq!(refused.unwrap_err()["code"], "ERR_PERMISSION_DENIED", "{method}");
    }
    assert_eq!(text(&client.ok("apps.call", json!({"viewId": view_id, "name": "move"})).await), "moved 2");

    // Closed, the view stops serving and its calls say what to do.
    client.ok("apps.close", json!({"viewId": view_id})).await;
    assert_eq!(http.get(url).send().await.unwrap().status(), 404);
    let closed = client.err("apps.call", json!({"viewId": view_id, "name": "move"})).await;
    assert_eq!(closed["code"], "ERR_SESSION_NOT_FOUND");
    // A tool without a view, or a server that is gone, gets a clear refusal.
    let no_view = client.err("apps.open", json!({"tool": "time/get_current_time"})).await;
    assert_eq!(no_view["code"], "ERR_NOT_SUPPORTED", "{no_view}");
    client.finish().await;
}

#[tokio::test]
async fn a_real_npm_app_servers_view_opens_and_its_tool_answers_through_the_view() {
    let client = Client::start("apps-npm").await;
    let entry =
        support::test_servers().join("apps/node_modules/@modelcontextprotocol/server-basic-vanillajs/dist/index.js");
    assert!(entry.is_file(), "the App servers are not installed: run scripts/setup --test");
    let launch = json!({"kind": "process", "command": "node", "args": [entry, "--stdio"]});
    client.ok("servers.add", json!({"id": "clock", "launch": launch})).await;
    client.ok("servers.start", json!({"id": "clock"})).await;
    client.wait_for_state("clock", "running", Duration::from_secs(30)).await;
    let view = client.ok("apps.open", json!({"tool": "clock/get-time"})).await;
    let http = harbor_bridge::http::client_builder().build().unwrap();
    let html = http.get(view["url"].as_str().unwrap()).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("get-time-btn"), "the App's own document is served");
    let time = client.ok("apps.call", json!({"viewId": view["viewId"], "name": "get-time"})).await;
    assert!(time["structuredContent"]["time"].as_str().unwrap().contains('T'), "{time}");
    client.finish().await;
}
