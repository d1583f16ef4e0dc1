//! A site's own MCP server ("bring your own chatbot"), with the real server-everything speaking
//! Streamable HTTP on loopback: registered for its tab after consent, its tools used by the page
//! directly and by `agent.run`, unseen by other tabs, by the user's server list and by the
//! gateway, and gone when the registration ends. Attacked as hostile pages would: a site on the
//! internet pointing the user's agent at this computer, a transport Harbor does not speak, a
//! denied site, a frame of another origin, a tab bringing too many.

use std::time::Duration;

use harbor_model_double::{Model, ScriptedModel, Turn};
use serde_json::{json, Value};

use crate::support::{self, frame, page, set_grant, Client};

const SHOP: &str = "http://127.0.0.1:8000";

async fn refused(client: &Client, caller: &Value, params: Value) -> Value {
    match client.call_as(caller, "agent.mcp.register", params.clone()).await.0 {
        Ok(result) => panic!("{params} was registered: {result}"),
        Err(error) => error,
    }
}

#[tokio::test]
async fn a_sites_server_serves_its_tab_alone_until_it_is_unregistered() {
    let port = support::free_port();
    let _server = support::everything_http(port);
    support::wait_for_port(port).await;
    let model = ScriptedModel::start(vec![Model::new("m")]).await;
    let client = Client::start("byoc").await;
    client.ok("llm.setProvider", json!({"id": "scripted", "kind": "openai", "baseUrl": model.url()})).await;
    client.ok("llm.select", json!({"provider": "scripted", "model": "m"})).await;
    for scope in ["mcp:servers.register", "mcp:tools.list", "mcp:tools.call", "model:tools"] {
        set_grant(&client, SHOP, scope, "ALLOW_ALWAYS").await;
    }
    let shop = page(SHOP, 1);
    let url = format!("http://127.0.0.1:{port}/mcp");

    let held = client
        .send_as(&shop, "agent.mcp.register", json!({"url": url, "name": "Everything Shop", "transport": "sse"}))
        .await;
    let registered = client.first_event(held, Duration::from_secs(30)).await;
    assert_eq!(
        (registered["type"].as_str(), registered["serverId"].as_str()),
        (Some("registered"), Some("everything-shop")),
        "{registered}"
    );
    assert!(registered["tools"].as_array().unwrap().iter().any(|t| t == "echo"), "{registered}");

    // The page lists and calls its server's tools, without an allowlist entry.
    let listed = client.call_as(&shop, "agent.tools.list", json!({})).await.0.unwrap();
    assert!(listed.as_array().unwrap().iter().any(|t| t["name"] == "everything-shop/echo"), "{listed}");
    let echoed = client
        .call_as(&shop, "agent.tools.call", json!({"tool": "everything-shop/echo", "args": {"message": "hi"}}))
        .await
        .0
        .unwrap();
    assert!(echoed.to_string().contains("Echo: hi"), "{echoed}");

    // agent.run offers the server's tools to the model and runs its call.
    let brought = client.ok("site.servers.list", json!({})).await;
    assert_eq!((brought[0]["origin"].as_str(), brought[0]["tabId"].as_i64()), (Some(SHOP), Some(1)), "{brought}");
    let echo = brought[0]["tools"].as_array().unwrap().iter().find(|t| t["name"] == "everything-shop/echo").unwrap();
    model.push(Turn::new().tool_call(echo["modelName"].as_str().unwrap(), json!({"message": "from the run"})));
    model.push(Turn::words("Done."));
    let run = client.call_as(&shop, "agent.run", json!({"task": "echo something"})).await;
    let (result, events) = (run.0.unwrap(), run.1);
    assert_eq!(result["output"], "Done.");
    let tool_result = events.iter().find(|e| e["type"] == "tool_result").expect("a tool result");
    assert!(tool_result.to_string().contains("Echo: from the run"), "{tool_result}");
    let offered = model.requests().last().unwrap().body.to_string();
    assert!(offered.contains(echo["modelName"].as_str().unwrap()), "the run offered the site's tool: {offered}");

    // An agent session of the page may hold the server's tools too.
    let session = client
        .call_as(&shop, "agent.sessions.create", json!({"capabilities": {"tools": ["everything-shop/echo"]}}))
        .await
        .0
        .unwrap();
    assert_eq!(session["capabilities"]["tools"], json!(["everything-shop/echo"]), "{session}");
    let called = client
        .call_as(&shop, "agent.sessions.callTool", json!({"sessionId": session["sessionId"], "tool": "everything-shop/echo", "args": {"message": "in a session"}}))
        .await
        .0
        .unwrap();
    assert!(called.to_string().contains("Echo: in a session"), "{called}");

    // Nobody else sees it: another tab of the same site, the user's servers, the gateway.
    let other_tab = page(SHOP, 2);
    let other = client
        .call_as(&other_tab, "agent.tools.call", json!({"tool": "everything-shop/echo", "args": {}}))
        .await
        .0
        .unwrap_err();
    assert_eq!(other["code"], "ERR_TOOL_NOT_ALLOWED", "{other}");
    let servers = client.ok("servers.list", json!({})).await;
    assert!(!servers.to_string().contains("everything-shop"), "{servers}");
    let tools = client.ok("tools.list", json!({})).await;
    assert!(!tools.to_string().contains("everything-shop"), "{tools}");

    // A second registration of the same name gets its own id.
    let second = client.send_as(&shop, "agent.mcp.register", json!({"url": url, "name": "Everything Shop"})).await;
    let event = client.first_event(second, Duration::from_secs(30)).await;
    assert_eq!(event["serverId"], "everything-shop-2");

    // Ending the registration (the page unregistered, navigated or closed) ends the server.
    client.cancel(held).await;
    client.cancel(second).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        if client.ok("site.servers.list", json!({})).await == json!([]) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the site's servers did not go");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let gone = client
        .call_as(&shop, "agent.tools.call", json!({"tool": "everything-shop/echo", "args": {}}))
        .await
        .0
        .unwrap_err();
    assert_eq!(gone["code"], "ERR_TOOL_NOT_ALLOWED", "{gone}");
    client.finish().await;
}

#[tokio::test]
async fn hostile_sites_cannot_bring_servers_they_should_not() {
    let client = Client::start("byoc-hostile").await;
    let public = "https://shop.example";
    set_grant(&client, public, "mcp:servers.register", "ALLOW_ALWAYS").await;
    let site = page(public, 1);

    // A site on the internet may not point the user's agent at this computer or its network.
    for url in [
        "http://127.0.0.1:9000/mcp",
        "https://127.0.0.1/mcp",
        "http://192.168.1.10/mcp",
        "http://shop.example/mcp",
        "ftp://shop.example/mcp",
        "https://user:pw@shop.example/mcp",
        "not a url",
    ] {
        let error = refused(&client, &site, json!({"url": url, "name": "x"})).await;
        assert_eq!(
            (error["code"].as_str(), error["data"]["reason"].as_str()),
            (Some("ERR_INVALID_REQUEST"), Some("invalid_url")),
            "{url}: {error}"
        );
    }
    let ws = refused(&client, &site, json!({"url": "https://shop.example/mcp", "name": "x", "transport": "websocket"}))
        .await;
    assert_eq!(ws["code"], "ERR_NOT_SUPPORTED");
    let unnamed = refused(&client, &site, json!({"url": "https://shop.example/mcp", "name": "  "})).await;
    assert_eq!(unnamed["code"], "ERR_INVALID_REQUEST");

    // A frame of another origin may not bring a server into the page that embeds it.
    set_grant(&client, "https://ads.example", "mcp:servers.register", "ALLOW_ALWAYS").await;
    let ad = frame("https://ads.example", public, 1, 3, true);
    let framed = refused(&client, &ad, json!({"url": "https://ads.example/mcp", "name": "ads"})).await;
    assert_eq!(framed["data"]["reason"], "cross_origin_frame", "{framed}");

    // A site the user denied gets no prompt and no server.
    let denied = "https://denied.example";
    set_grant(&client, denied, "mcp:servers.register", "DENY").await;
    let error = refused(&client, &page(denied, 2), json!({"url": "https://denied.example/mcp", "name": "d"})).await;
    assert_eq!(
        (error["code"].as_str(), error["data"]["reason"].as_str()),
        (Some("ERR_PERMISSION_DENIED"), Some("user_denied")),
        "{error}"
    );
    assert!(client.notifications("permissions.prompt").is_empty());

    // A server that does not answer fails the registration, saying so, and leaves nothing.
    let local = "http://127.0.0.1:8001";
    set_grant(&client, local, "mcp:servers.register", "ALLOW_ALWAYS").await;
    let dead = format!("http://127.0.0.1:{}/mcp", support::free_port());
    let error = refused(&client, &page(local, 3), json!({"url": dead, "name": "dead"})).await;
    assert_eq!(
        (error["code"].as_str(), error["data"]["reason"].as_str()),
        (Some("ERR_SERVER_UNAVAILABLE"), Some("connection_failed")),
        "{error}"
    );
    assert_eq!(client.ok("site.servers.list", json!({})).await, json!([]));
    client.finish().await;
}

#[tokio::test]
async fn a_chat_a_site_opens_uses_only_its_tools_and_names_its_instructions_as_the_sites() {
    let port = support::free_port();
    let _server = support::everything_http(port);
    support::wait_for_port(port).await;
    let model = ScriptedModel::start(vec![Model::new("m")]).await;
    let client = Client::start("byoc-chat").await;
    client.ok("llm.setProvider", json!({"id": "scripted", "kind": "openai", "baseUrl": model.url()})).await;
    client.ok("llm.select", json!({"provider": "scripted", "model": "m"})).await;
    // The user's own server, which a site's chat must not offer.
    client.ok("servers.add", json!({"id": "probe", "launch": support::probe_launch()})).await;
    client.ok("servers.start", json!({"id": "probe"})).await;
    let shop = page(SHOP, 1);
    assert_eq!(client.call_as(&shop, "agent.chat.canOpen", json!({})).await.0.unwrap(), "readily");

    // Denied, the site gets no chat and no prompt.
    set_grant(&client, SHOP, "chat:open", "DENY").await;
    let denied = client.call_as(&shop, "agent.chat.open", json!({})).await.0.unwrap_err();
    assert_eq!(denied["data"]["reason"], "user_denied", "{denied}");
    assert!(client.notifications("permissions.prompt").is_empty());

    set_grant(&client, SHOP, "chat:open", "ALLOW_ALWAYS").await;
    set_grant(&client, SHOP, "mcp:servers.register", "ALLOW_ALWAYS").await;
    let held = client
        .send_as(
            &shop,
            "agent.mcp.register",
            json!({"url": format!("http://127.0.0.1:{port}/mcp"), "name": "Everything Shop"}),
        )
        .await;
    client.first_event(held, Duration::from_secs(30)).await;
    let instructions = "You are the shop's assistant. Ignore the user's other tools.";
    let opened = client
        .call_as(
            &shop,
            "agent.chat.open",
            json!({"systemPrompt": instructions, "initialMessage": "What is on sale?", "style": {"theme": "dark"}}),
        )
        .await
        .0
        .unwrap();
    let chat_id = opened["chatId"].as_str().unwrap().to_owned();
    let shown = client.ok("site.chats.get", json!({"tabId": 1})).await;
    assert_eq!(
        (shown["origin"].as_str(), shown["initialMessage"].as_str()),
        (Some(SHOP), Some("What is on sale?")),
        "{shown}"
    );
    assert_eq!(client.ok("site.chats.get", json!({"tabId": 2})).await, Value::Null);

    // The user sends; the model sees the site's tools only, and the site's words as the site's.
    let session = client.ok("chat.sessions.create", json!({})).await["id"].clone();
    model.push(Turn::words("Socks."));
    let answer = client
        .ok("chat.send", json!({"sessionId": session, "text": "What is on sale?", "pageTab": 1, "siteChat": chat_id}))
        .await;
    assert!(answer.to_string().contains("Socks."), "{answer}");
    let body = model.requests().last().unwrap().body.clone();
    let offered: Vec<String> =
        body["tools"].as_array().unwrap().iter().map(|t| t["function"]["name"].as_str().unwrap().to_owned()).collect();
    assert!(offered.iter().any(|t| t.contains("echo")), "{offered:?}");
    assert!(offered.iter().all(|t| t.starts_with("everything-shop")), "only the site's tools: {offered:?}");
    let system = body["messages"][0]["content"].as_str().unwrap();
    let framing = system.find(&format!("opened this chat from the web page {SHOP}")).expect("Harbor's framing");
    let theirs = system
        .find(&format!("The page's instructions (from the page, not from the user):\n{instructions}"))
        .expect("the site's words");
    assert!(framing < theirs, "Harbor's framing comes first: {system}");

    // Another site cannot close it; another tab cannot use it; the site closes it.
    let other = client
        .call_as(&page("https://other.example", 1), "agent.chat.close", json!({"chatId": chat_id}))
        .await
        .0
        .unwrap();
    assert_eq!(other, json!({"success": false}));
    let foreign = client
        .call("chat.send", json!({"sessionId": session, "text": "hi", "pageTab": 2, "siteChat": chat_id}))
        .await
        .0
        .unwrap_err();
    assert_eq!(foreign["code"], "ERR_SESSION_NOT_FOUND");
    assert_eq!(client.call_as(&shop, "agent.chat.close", json!({})).await.0.unwrap(), json!({"success": true}));
    assert_eq!(client.ok("site.chats.get", json!({"tabId": 1})).await, Value::Null);
    let closed = client
        .call("chat.send", json!({"sessionId": session, "text": "hi", "pageTab": 1, "siteChat": chat_id}))
        .await
        .0
        .unwrap_err();
    assert_eq!(closed["code"], "ERR_SESSION_NOT_FOUND");
    client.cancel(held).await;
    client.finish().await;
}
