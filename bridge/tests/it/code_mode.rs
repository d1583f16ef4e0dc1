//! Code mode through the gateway, as an MCP app sees it (rmcp's client, the official Rust SDK,
//! over the HTTP face): with server-everything (npm) and a 240-tool inventory server behind it,
//! a code-mode app lists Harbor's five tools only, finds a tool among hundreds, reads its
//! declaration, and runs code that calls several tools in one round trip — each call passing the
//! app's policy (a disallowed tool throws inside the code and is audited), within the per-run
//! cap — while the sandbox's escapes fail cleanly.

use crate::support;

use std::collections::BTreeSet;
use std::time::Duration;

use rmcp::model::CallToolRequestParams;
use serde_json::{json, Value};
use support::{everything_launch, fixture_launch, mcp_http_client, Client};

type App = rmcp::service::RunningService<rmcp::RoleClient, ()>;

/// A bridge with server-everything and the inventory server running, the gateway on, and
/// code-mode clients `coder` (both servers) and `narrow` (the inventory and `everything/echo`).
async fn bridge(tag: &str) -> (Client, App, App) {
    let client = Client::start(tag).await;
    for (id, launch) in
        [("everything", everything_launch("stdio")), ("inventory", fixture_launch("many_tools_server.py"))]
    {
        client.ok("servers.add", json!({"id": id, "launch": launch})).await;
        client.ok("servers.start", json!({"id": id})).await;
        client.wait_for_state(id, "running", Duration::from_secs(30)).await;
    }
    let url = client.ok("gateway.http.set", json!({"enabled": true, "port": 0})).await["http"]["url"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut apps = Vec::new();
    for (name, allow) in
        [("coder", json!(["everything", "inventory"])), ("narrow", json!(["inventory", "everything/echo"]))]
    {
        let added = client
            .ok("gateway.clients.add", json!({"name": name, "allow": allow, "ratePerMin": 600, "codeMode": true}))
            .await;
        apps.push(mcp_http_client(&url, added["key"].as_str().unwrap()).await);
    }
    let narrow = apps.pop().unwrap();
    (client, apps.pop().unwrap(), narrow)
}

/// Calls one of code mode's tools; the text of its answer, and whether it is an error.
async fn meta(app: &App, tool: &str, arguments: Value) -> (Value, bool) {
    let params = CallToolRequestParams::new(tool.to_owned()).with_arguments(arguments.as_object().unwrap().clone());
    let result = app.call_tool(params).await.unwrap_or_else(|e| panic!("{tool}: {e}"));
    let result = serde_json::to_value(result).unwrap();
    let text = result["content"][0]["text"].as_str().unwrap_or_default().to_owned();
    let read = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (read, result["isError"] == true)
}

#[tokio::test]
async fn a_code_mode_app_finds_one_tool_among_hundreds_and_calls_several_in_one_round_trip() {
    let (client, coder, narrow) = bridge("code-mode").await;
    let listed: BTreeSet<String> =
        coder.list_all_tools().await.unwrap().into_iter().map(|t| t.name.to_string()).collect();
    let expected: BTreeSet<String> =
        ["search_tools", "describe_tools", "execute_code", "list_skills", "get_skill"].map(String::from).into();
    assert_eq!(listed, expected, "a code-mode app sees Harbor's tools only");

    // Search: among 250-odd tools, the echo; never a tool the app may not call.
    let (found, _) = meta(&coder, "search_tools", json!({"query": "echo back the message", "limit": 5})).await;
    let names: Vec<&str> = found["tools"].as_array().unwrap().iter().filter_map(|t| t["name"].as_str()).collect();
    assert_eq!(names.first(), Some(&"everything/echo"), "{found}");
    let (found, _) = meta(&narrow, "search_tools", json!({"query": "add two numbers sum", "limit": 50})).await;
    let names: Vec<&str> = found["tools"].as_array().unwrap().iter().filter_map(|t| t["name"].as_str()).collect();
    assert!(!names.iter().any(|n| n.starts_with("everything/") && *n != "everything/echo"), "{names:?}");
    let (weigh, _) = meta(&coder, "search_tools", json!({"query": "weigh a crate", "limit": 3})).await;
    assert_eq!(weigh["tools"][0]["name"], "inventory/inventory_crate_weigh", "{weigh}");
    assert_eq!(weigh["tools"][0]["call"], "tools.inventory.inventory_crate_weigh");

    // Declarations a model can write against.
    let (declared, _) =
        meta(&coder, "describe_tools", json!({"names": ["everything/get-sum", "inventory/nope"]})).await;
    let declared = declared.as_str().unwrap().to_owned();
    assert!(declared.contains(r#"tools.everything["get-sum"](args: {"#), "{declared}");
    assert!(declared.contains("a: number;") && declared.contains("b: number;"), "{declared}");
    assert!(declared.contains("inventory/nope: no tool of that name"), "{declared}");

    // Three calls in a loop and a sum, in one round trip.
    let code = r#"
        const weighed = [];
        for (const id of ["c-1", "c-2"]) {
            const result = await tools.inventory.inventory_crate_weigh({ id });
            weighed.push(result.content[0].text);
        }
        const sum = await tools.everything["get-sum"]({ a: 2, b: 3 });
        console.log("weighed", weighed.length);
        return { weighed, sum: sum.content[0].text };
    "#;
    let (ran, failed) = meta(&coder, "execute_code", json!({"code": code})).await;
    assert!(!failed, "{ran}");
    assert_eq!(
        ran["result"]["weighed"],
        json!(["inventory_crate_weigh done for c-1", "inventory_crate_weigh done for c-2"])
    );
    assert!(ran["result"]["sum"].as_str().unwrap().contains('5'), "{ran}");
    assert_eq!((ran["logs"].clone(), ran["toolCalls"].clone()), (json!(["weighed 2"]), json!(3)));

    // A tool the app may not call is not in its `tools`, and called by name it throws inside the
    // code with the refusal's code; the refusal is audited.
    let code = r#"
        const listed = typeof tools.everything["get-sum"];
        try { await callTool("everything/get-sum", { a: 1, b: 1 }); return { listed, code: "called" }; }
        catch (e) { return { listed, code: e.code, message: e.message }; }
    "#;
    let (ran, _) = meta(&narrow, "execute_code", json!({"code": code})).await;
    assert_eq!(ran["result"]["listed"], "undefined", "{ran}");
    assert_eq!(ran["result"]["code"], "ERR_TOOL_NOT_ALLOWED", "{ran}");
    let audit = client.ok("audit.list", json!({"origin": "gateway:narrow"})).await;
    assert!(
        audit.as_array().unwrap().iter().any(|e| e["tool"] == "everything/get-sum" && e["outcome"] != "ok"),
        "the refused call is audited: {audit}"
    );

    // The per-run cap holds, even for code that swallows the refusal.
    let code = "for (let i = 0; i < 60; i++) { try { await tools.everything.echo({ message: String(i) }); } catch {} } return 1;";
    let (capped, failed) = meta(&coder, "execute_code", json!({"code": code})).await;
    assert!(failed, "{capped}");
    assert_eq!(capped["error"]["code"], "ERR_SANDBOX_LIMIT");
    assert!(capped["error"]["message"].as_str().unwrap().contains("at most 50"), "{capped}");

    // Escapes fail cleanly, and the gateway keeps serving.
    let (escape, failed) = meta(&coder, "execute_code", json!({"code": "return require('fs')"})).await;
    assert!(failed && escape["error"]["message"].as_str().unwrap().contains("require"), "{escape}");
    let (echo, _) = meta(
        &coder,
        "execute_code",
        json!({"code": "return (await tools.everything.echo({message: 'still'})).content[0].text"}),
    )
    .await;
    assert!(echo["result"].as_str().unwrap().contains("still"), "{echo}");
    client.finish().await;
}

/// The sidebar's chat in code mode, with the model double scripted to write code (a real model
/// cannot be made to here): a three-tool task — two real servers — in one `execute_code`
/// round trip, each call audited as the chat's own.
#[tokio::test]
async fn the_chat_in_code_mode_does_a_three_tool_task_in_one_round_trip() {
    use harbor_model_double::{Model, ScriptedModel, Turn};
    let model = ScriptedModel::start(vec![Model::new("coder:1b")]).await;
    let client = Client::start("code-mode-chat").await;
    client
        .ok("llm.setProvider", json!({"id": "scripted", "kind": "ollama", "name": "Scripted", "baseUrl": model.url()}))
        .await;
    client.ok("llm.select", json!({"provider": "scripted", "model": "coder:1b"})).await;
    for (id, launch) in
        [("everything", everything_launch("stdio")), ("inventory", fixture_launch("many_tools_server.py"))]
    {
        client.ok("servers.add", json!({"id": id, "launch": launch})).await;
        client.ok("servers.start", json!({"id": id})).await;
        client.wait_for_state(id, "running", Duration::from_secs(30)).await;
    }
    let settings = client.ok("chat.settings.set", json!({"codeMode": true})).await;
    assert_eq!(settings["codeMode"], true);
    let session = client.ok("chat.sessions.create", json!({})).await["id"].as_str().unwrap().to_owned();

    let code = r#"
        const sum = await tools.everything["get-sum"]({ a: 20, b: 22 });
        const weighed = await tools.inventory.inventory_parcel_weigh({ id: "p-9" });
        const labelled = await callTool("inventory/inventory_parcel_label", { id: "p-9" });
        return [sum.content[0].text, weighed.content[0].text, labelled.content[0].text];
    "#;
    model.push(Turn::new().tool_call("execute_code", json!({ "code": code })));
    model.push(Turn::words("Parcel p-9 is weighed and labelled; the sum is 42."));
    let (outcome, events) = client
        .call("chat.send", json!({"sessionId": session, "text": "Weigh and label parcel p-9, and add 20 and 22"}))
        .await;
    let reply = outcome.unwrap_or_else(|e| panic!("the turn failed: {e}"));
    assert_eq!(reply["toolCalls"], 1, "one round trip: {reply}");

    // The model was offered code mode's three tools, not the 250 tools behind them.
    let requests = model.chat_requests();
    let offered: Vec<&str> =
        requests[0].body["tools"].as_array().unwrap().iter().map(|t| t["function"]["name"].as_str().unwrap()).collect();
    assert_eq!(offered, ["search_tools", "describe_tools", "execute_code"]);
    let result = events.iter().find(|e| e["type"] == "tool_result" && e.get("parent").is_none()).unwrap();
    let text = result["result"]["content"][0]["text"].as_str().unwrap();
    let ran: Value = serde_json::from_str(text).unwrap();
    assert!(ran["result"][0].as_str().unwrap().contains("42"), "{ran}");
    assert_eq!(ran["result"][1], "inventory_parcel_weigh done for p-9");
    assert_eq!(ran["result"][2], "inventory_parcel_label done for p-9");
    assert_eq!(ran["toolCalls"], 3);
    assert_eq!(ran["calls"][2], json!({"tool": "inventory/inventory_parcel_label", "outcome": "ok"}), "{ran}");
    // The card heard each call as it was made: begun with its arguments, ended with its result,
    // each under the `execute_code` call whose code made it.
    let outer = result["id"].as_str().unwrap();
    let inner: Vec<(&str, &str)> = events
        .iter()
        .filter(|e| e["parent"] == outer)
        .map(|e| (e["type"].as_str().unwrap(), e["tool"].as_str().unwrap()))
        .collect();
    assert_eq!(
        inner,
        [
            ("tool_call", "everything/get-sum"),
            ("tool_result", "everything/get-sum"),
            ("tool_call", "inventory/inventory_parcel_weigh"),
            ("tool_result", "inventory/inventory_parcel_weigh"),
            ("tool_call", "inventory/inventory_parcel_label"),
            ("tool_result", "inventory/inventory_parcel_label")
        ],
        "{events:?}"
    );
    let sum = events.iter().find(|e| e["parent"] == outer && e["type"] == "tool_call").unwrap();
    assert_eq!(sum["args"], json!({"a": 20, "b": 22}), "{sum}");
    let weighed = events
        .iter()
        .find(|e| e["parent"] == outer && e["type"] == "tool_result" && e["tool"] == "inventory/inventory_parcel_weigh")
        .unwrap();
    assert!(weighed["result"].to_string().contains("inventory_parcel_weigh done for p-9"), "{weighed}");
    // The model's second request carries the run's answer.
    let sent_back = requests[1].body["messages"].as_array().unwrap().last().unwrap().clone();
    assert!(sent_back["content"].as_str().unwrap().contains("inventory_parcel_label done"), "{sent_back}");

    let audit = client.ok("audit.list", json!({"origin": "sidebar"})).await;
    let tools: BTreeSet<&str> = audit.as_array().unwrap().iter().filter_map(|e| e["tool"].as_str()).collect();
    for tool in [
        "harbor/execute_code",
        "everything/get-sum",
        "inventory/inventory_parcel_weigh",
        "inventory/inventory_parcel_label",
    ] {
        assert!(tools.contains(tool), "{tool} audited: {audit}");
    }
    client.finish().await;
}
