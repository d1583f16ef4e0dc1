//! "Bring your own chatbot" in real Firefox: a page declares its MCP server (the real
//! server-everything over Streamable HTTP on loopback) with `<link rel="mcp-server">`, finds it
//! with `agent.mcp.discover()`, registers it after the user allows it in Harbor's prompt, and
//! `agent.run` uses its tools; unregistering takes them away. A page opens Harbor's chat for its
//! tab with `agent.chat.open`: it comes up beside the page with the site's first message waiting,
//! and the model is offered the site's server's tools.

use std::time::Duration;

use harbor_e2e::firefox::{free_port, Harbor, Options};
use harbor_e2e::site::{Page, Site};
use harbor_model_double::{Model, ScriptedModel, Turn};
use serde_json::json;

/// server-everything over Streamable HTTP on a free loopback port.
fn everything_http() -> (u16, tokio::process::Child) {
    let port = free_port().unwrap();
    let everything = harbor_e2e::paths::everything().unwrap();
    let server = tokio::process::Command::new("node")
        .arg(everything)
        .arg("streamableHttp")
        .env("PORT", port.to_string())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    (port, server)
}

/// A shop page declaring the server on `port`.
fn shop_page(port: u16) -> String {
    format!(
        r#"<!doctype html><html><head>
        <link rel="mcp-server" href="http://127.0.0.1:{port}/mcp" title="Everything Shop"
              data-description="Echoes and adds" data-tools="echo, get-sum">
        </head><body><p>shop</p></body></html>"#
    )
}

#[tokio::test]
async fn a_page_brings_its_mcp_server_after_consent_and_agent_run_uses_it() {
    let (port, _server) = everything_http();
    let site = Site::start(vec![("/shop", Page::html(&shop_page(port)))]).await;
    let model = ScriptedModel::start(vec![Model::new("m")]).await;
    let harbor = Harbor::launch(Options::default()).await.unwrap();
    harbor.use_ollama(&model.url(), "m").await.unwrap();
    harbor.allow_always(&site.origin, "model:tools").await.unwrap();
    harbor.allow_always(&site.origin, "mcp:tools.list").await.unwrap();
    harbor.session.goto(&site.url("/shop")).await.unwrap();
    let page_tab = harbor.session.window_handle().await.unwrap();

    let found = harbor.page("return await agent.mcp.discover();").await.unwrap();
    assert_eq!(
        found["ok"],
        json!([{"url": format!("http://127.0.0.1:{port}/mcp"), "title": "Everything Shop",
                "description": "Echoes and adds", "tools": ["echo", "get-sum"]}])
    );

    // Registering asks the user, who sees the server's name and address in the prompt.
    let known = harbor.session.window_handles().await.unwrap();
    harbor
        .on_click(
            "__registered",
            r#"const [server] = await agent.mcp.discover();
               return await agent.mcp.register({ url: server.url, name: server.title, description: server.description, tools: server.tools });"#,
        )
        .await
        .unwrap();
    harbor.open_prompt(&known).await.unwrap();
    let shown = harbor
        .session
        .execute(
            "return { scopes: [...document.querySelectorAll('.scopes li')].map(li => li.dataset.scope),
                      reason: document.querySelector('.reason').textContent };",
            json!([]),
        )
        .await
        .unwrap();
    assert_eq!(shown["scopes"], json!(["mcp:servers.register"]), "{shown}");
    let reason = shown["reason"].as_str().unwrap();
    assert!(reason.contains("Everything Shop") && reason.contains(&format!("127.0.0.1:{port}/mcp")), "{reason}");
    harbor.session.execute("document.querySelector('#allow-once').click();", json!([])).await.unwrap();
    harbor.session.switch_to_window(&page_tab).await.unwrap();
    let registered = harbor.wait_for("window.__registered", Duration::from_secs(30)).await.unwrap();
    assert_eq!(
        (registered["ok"]["success"].as_bool(), registered["ok"]["serverId"].as_str()),
        (Some(true), Some("everything-shop")),
        "{registered}"
    );

    let listed = harbor.admin("site.servers.list", json!({})).await.unwrap();
    let echo =
        listed[0]["tools"].as_array().unwrap().iter().find(|t| t["name"] == "everything-shop/echo").unwrap().clone();
    model.push(Turn::new().tool_call(echo["modelName"].as_str().unwrap(), json!({"message": "from the shop"})));
    model.push(Turn::words("The shop says hello."));
    let run = harbor
        .page(
            r#"const events = [];
               for await (const event of agent.run({ task: "say hello through the shop" })) events.push(event);
               return events.filter((e) => e.type === "tool_call" || e.type === "tool_result" || e.type === "final");"#,
        )
        .await
        .unwrap();
    let events = run["ok"].as_array().unwrap_or_else(|| panic!("{run}"));
    assert_eq!(events[0]["tool"], "everything-shop/echo", "{run}");
    assert!(events[1].to_string().contains("Echo: from the shop"), "{run}");
    assert_eq!(events.last().unwrap()["output"], "The shop says hello.", "{run}");

    // Unregistered, its tools are gone from the page's list; unknown ids say so.
    let after = harbor
        .page(
            r#"const gone = await agent.mcp.unregister("everything-shop");
               const again = await agent.mcp.unregister("everything-shop");
               await new Promise((r) => setTimeout(r, 300));
               const tools = (await agent.tools.list()).map((t) => t.name);
               return { gone, again, tools };"#,
        )
        .await
        .unwrap();
    assert_eq!(after["ok"], json!({"gone": {"success": true}, "again": {"success": false}, "tools": []}), "{after}");
    harbor.close().await;
}

#[tokio::test]
async fn a_page_opens_harbors_chat_for_its_tab_with_its_own_tools() {
    let (port, _server) = everything_http();
    let site = Site::start(vec![("/shop", Page::html(&shop_page(port)))]).await;
    let model = ScriptedModel::start(vec![Model::new("m")]).await;
    let harbor = Harbor::launch(Options::default()).await.unwrap();
    harbor.use_ollama(&model.url(), "m").await.unwrap();
    harbor.allow_always(&site.origin, "mcp:servers.register").await.unwrap();
    harbor.allow_always(&site.origin, "chat:open").await.unwrap();
    harbor.session.goto(&site.url("/shop")).await.unwrap();
    let known = harbor.session.window_handles().await.unwrap();
    let opened = harbor
        .page(
            r#"const [server] = await agent.mcp.discover();
               const registered = await agent.mcp.register({ url: server.url, name: server.title });
               const can = await agent.chat.canOpen();
               const opened = await agent.chat.open({ systemPrompt: "You help people shop here.", initialMessage: "Echo my order" });
               return { registered: registered.success, can, opened: opened.success };"#,
        )
        .await
        .unwrap();
    assert_eq!(opened["ok"], json!({"registered": true, "can": "readily", "opened": true}), "{opened}");

    // Firefox opens the sidebar only from a click in Harbor's own UI, so the chat comes up in a
    // Harbor tab beside the page, on its Chat panel, the site's first message waiting.
    let chat_tab = harbor.new_window(&known, Duration::from_secs(10)).await.unwrap();
    harbor.session.switch_to_window(&chat_tab).await.unwrap();
    let banner = format!("document.querySelector('.site-chat[data-origin=\"{}\"]')?.textContent", site.origin);
    let shown = harbor.wait_for(&banner, Duration::from_secs(10)).await.unwrap();
    assert!(shown.as_str().unwrap().contains("You help people shop here."), "{shown}");
    let waiting =
        harbor.wait_for("document.querySelector('#chat-input').value", Duration::from_secs(10)).await.unwrap();
    assert_eq!(waiting, "Echo my order");
    let panel = harbor
        .session
        .execute("return document.querySelector('#tab-chat').getAttribute('aria-selected');", json!([]))
        .await
        .unwrap();
    assert_eq!(panel, "true");
    harbor.save_screenshot("sidebar-site-chat.png").await.unwrap();

    let listed = harbor.admin("site.servers.list", json!({})).await.unwrap();
    let echo =
        listed[0]["tools"].as_array().unwrap().iter().find(|t| t["name"] == "everything-shop/echo").unwrap().clone();
    model.push(Turn::new().tool_call(echo["modelName"].as_str().unwrap(), json!({"message": "two socks"})));
    model.push(Turn::words("Your order: two socks."));
    harbor.session.switch_to_window(&chat_tab).await.unwrap();
    harbor
        .session
        .execute("document.querySelector('.composer button[type=submit]').click();", json!([]))
        .await
        .unwrap();
    let card =
        "document.querySelector('.tool-card.done[data-tool=\"everything-shop/echo\"] .tool-result')?.textContent";
    let result = harbor.wait_for(card, Duration::from_secs(20)).await.unwrap();
    assert!(result.as_str().unwrap().contains("Echo: two socks"), "{result}");
    let offered = model.requests().last().unwrap().body.to_string();
    assert!(offered.contains("You help people shop here."), "the model was told the site's instructions");
    harbor.close().await;
}
