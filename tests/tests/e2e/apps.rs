//! MCP Apps in the sidebar's chat, in real Firefox: the model calls a tool that has a view, the
//! view renders in a sandboxed frame under the tool card, and what the view does goes through
//! Harbor — against real App servers from npm and the Python SDK's Apps extension.

use std::time::Duration;

use harbor_e2e::firefox::{Harbor, Options};
use harbor_model_double::{Model, ScriptedModel, Turn};
use serde_json::{json, Value};

fn app_server(name: &str) -> String {
    let entry = harbor_e2e::paths::test_servers()
        .unwrap()
        .join(format!("apps/node_modules/@modelcontextprotocol/{name}/dist/index.js"));
    assert!(entry.is_file(), "{name} is not installed: run scripts/setup --test");
    entry.to_string_lossy().into_owned()
}

/// Runs `expression` inside the app frame `index` until it is truthy; returns its value.
async fn in_frame(harbor: &Harbor, index: u32, expression: &str, what: &str) -> Value {
    harbor.session.switch_to_top().await.unwrap();
    harbor.session.switch_to_frame(index).await.unwrap();
    let seen = harbor.wait_for(expression, Duration::from_secs(20)).await;
    harbor.session.switch_to_top().await.unwrap();
    seen.unwrap_or_else(|e| panic!("{what}: {e}"))
}

/// Clicks `selector` inside app frame `index`, as the user would.
async fn click_in_frame(harbor: &Harbor, index: u32, selector: &str) {
    harbor.session.switch_to_top().await.unwrap();
    harbor.session.switch_to_frame(index).await.unwrap();
    let element = harbor.session.find(selector).await.unwrap();
    harbor.session.click(&element).await.unwrap();
    harbor.session.switch_to_top().await.unwrap();
}

#[tokio::test]
async fn an_mcp_app_renders_in_the_chat_and_its_clicks_reach_its_own_server_only() {
    let model = ScriptedModel::start(vec![Model::new("llama3.2:3b")]).await;
    let python = harbor_e2e::paths::test_servers().unwrap().join("venv/bin/python");
    let fixture = harbor_e2e::paths::repo_root().join("tests/fixtures/app_server.py");
    let harbor = Harbor::launch(Options::default()).await.unwrap();
    harbor.set_viewport(360, 900).await.unwrap();
    harbor.session.goto(&harbor.extension_url("sidebar/index.html")).await.unwrap();
    harbor.wait_for("document.querySelector('#tab-chat')", Duration::from_secs(10)).await.unwrap();
    harbor.add_server("board", &[python.to_str().unwrap(), fixture.to_str().unwrap()]).unwrap();
    harbor.add_server("clock", &["node", &app_server("server-basic-vanillajs"), "--stdio"]).unwrap();
    harbor.add_server("time", &[python.to_str().unwrap(), "-m", "mcp_server_time", "--local-timezone", "UTC"]).unwrap();
    harbor.use_ollama(&model.url(), "llama3.2:3b").await.unwrap();
    harbor.session.execute("document.querySelector('#tab-chat').click();", json!([])).await.unwrap();

    // The model calls the board's tool; its view renders under the card and gets the result.
    model.push(Turn::new().tool_call("board__board", json!({})));
    model.push(Turn::new().text("Here is the board."));
    harbor.send_chat("Show me the board").await.unwrap();
    let painted = harbor
        .wait_for(
            "document.querySelector('.tool-card[data-tool=\"board/board\"] .app-view[data-painted] iframe') && document.querySelector('.app-view').dataset.painted",
            Duration::from_secs(30),
        )
        .await
        .unwrap();
    let frame = harbor
        .session
        .execute(
            "const f = document.querySelector('.app-view iframe');
             return { sandbox: f.getAttribute('sandbox'), src: f.src, height: f.style.height, title: f.title };",
            json!([]),
        )
        .await
        .unwrap();
    assert_eq!(frame["sandbox"], "allow-scripts", "no allow-same-origin: {frame}");
    assert!(frame["src"].as_str().unwrap().starts_with("http://127.0.0.1:"), "{frame}");
    assert_eq!(frame["title"], "board's app");
    assert_eq!(
        in_frame(&harbor, 0, "document.querySelector('#result').textContent === 'apps supported'", "the tool result")
            .await,
        true
    );
    assert_eq!(in_frame(&harbor, 0, "document.querySelector('#theme').textContent", "the host context").await, "light");
    // The view asked for 321 px and got it.
    harbor
        .wait_for("document.querySelector('.app-view iframe').style.height === '321px'", Duration::from_secs(5))
        .await
        .unwrap();

    // The view is on an opaque origin: no extension API, no storage, no way into the sidebar.
    let escape = in_frame(
        &harbor,
        0,
        "(() => {
           const tries = {};
           tries.origin = self.origin;
           tries.browser = typeof browser;
           tries.chrome = typeof chrome;
           try { localStorage.length; tries.storage = 'read'; } catch (e) { tries.storage = e.name; }
           try { parent.document.title; tries.parent = 'read'; } catch (e) { tries.parent = e.name; }
           try { tries.top = top.location.href; } catch (e) { tries.top = e.name; }
           return tries;
         })()",
        "the frame's reach",
    )
    .await;
    assert_eq!(escape["origin"], "null", "{escape}");
    assert_eq!(escape["browser"], "undefined", "{escape}");
    assert_eq!(escape["chrome"], "undefined", "{escape}");
    assert_eq!(escape["storage"], "SecurityError", "{escape}");
    assert_eq!(escape["parent"], "SecurityError", "{escape}");
    assert_eq!(escape["top"], "SecurityError", "{escape}");

    // Clicks in the view: its own app-only tool runs; the model's tool and another server's do not.
    click_in_frame(&harbor, 0, "#move").await;
    let moved = in_frame(&harbor, 0, "document.querySelector('[data-label=move]')?.textContent", "move").await;
    assert!(moved.as_str().unwrap().contains("moved 1"), "{moved}");
    click_in_frame(&harbor, 0, "#reset").await;
    let reset = in_frame(&harbor, 0, "document.querySelector('[data-label=reset]')?.textContent", "reset").await;
    assert!(reset.as_str().unwrap().contains("only to models") && reset.as_str().unwrap().contains("error"), "{reset}");
    click_in_frame(&harbor, 0, "#other").await;
    let other = in_frame(&harbor, 0, "document.querySelector('[data-label=other]')?.textContent", "other").await;
    assert!(other.as_str().unwrap().contains("error") && !other.as_str().unwrap().contains("UTC\\\""), "{other}");
    // A message that claims to be the view but comes from elsewhere (here, the sidebar's own
    // window) is ignored: the next real move is the second.
    harbor
        .session
        .execute(
            "window.postMessage({ jsonrpc: '2.0', id: 900, method: 'tools/call', params: { name: 'move', arguments: {} } }, '*');",
            json!([]),
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    click_in_frame(&harbor, 0, "#move").await;
    let second = in_frame(
        &harbor,
        0,
        "document.querySelectorAll('[data-label=move]').length === 2 && document.querySelectorAll('[data-label=move]')[1].textContent",
        "the second move",
    )
    .await;
    assert!(second.as_str().unwrap().contains("moved 2"), "a forged message ran a tool: {second}");
    let audit = harbor.admin("audit.list", json!({"origin": "app:board"})).await.unwrap();
    let calls: Vec<(String, String)> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (e["tool"].as_str().unwrap_or_default().to_owned(), e["outcome"].as_str().unwrap_or_default().to_owned())
        })
        .collect();
    assert_eq!(calls.iter().filter(|(tool, outcome)| tool == "board/move" && outcome == "ok").count(), 2, "{audit}");
    assert!(!calls.iter().any(|(tool, _)| tool.starts_with("time/")), "another server was reached: {audit}");
    harbor.save_screenshot("sidebar-chat-app.png").await.unwrap();

    // A real App from npm: its button calls its server's tool through Harbor, it asks to open a
    // link (the user sees the address and says no) and sends a message into the chat.
    model.push(Turn::new().tool_call("clock__get-time", json!({})));
    model.push(Turn::new().text("That is the server's time."));
    harbor.send_chat("What time is it on the server?").await.unwrap();
    harbor
        .wait_for("document.querySelectorAll('.app-view[data-painted] iframe').length === 2", Duration::from_secs(30))
        .await
        .unwrap();
    let shown = in_frame(&harbor, 1, "/^\\d{4}-\\d\\d-\\d\\dT/.test(document.querySelector('#server-time').textContent) && document.querySelector('#server-time').textContent", "the npm app's time").await;
    let before = audit_count(&harbor, "app:clock").await;
    click_in_frame(&harbor, 1, "#get-time-btn").await;
    in_frame(&harbor, 1, &format!("document.querySelector('#server-time').textContent !== {shown}"), "a new time")
        .await;
    assert_eq!(audit_count(&harbor, "app:clock").await, before + 1, "the click's call went through Harbor");
    click_in_frame(&harbor, 1, "#open-link-btn").await;
    let asked =
        harbor.wait_for("document.querySelector('.app-link')?.innerText", Duration::from_secs(10)).await.unwrap();
    assert!(asked.as_str().unwrap().contains("https://modelcontextprotocol.io/"), "{asked}");
    let handles = harbor.session.window_handles().await.unwrap().len();
    harbor
        .session
        .execute(
            "[...document.querySelectorAll('.app-link button')].find(b => b.textContent === \"Don't open\").click();",
            json!([]),
        )
        .await
        .unwrap();
    harbor.wait_for("!document.querySelector('.app-link')", Duration::from_secs(5)).await.unwrap();
    assert_eq!(harbor.session.window_handles().await.unwrap().len(), handles, "nothing opened");
    model.push(Turn::new().text("Got your message."));
    click_in_frame(&harbor, 1, "#send-message-btn").await;
    harbor
        .wait_for(
            "[...document.querySelectorAll('.msg.user')].some(m => m.textContent.includes('This is message text.'))",
            Duration::from_secs(10),
        )
        .await
        .unwrap();
    harbor
        .wait_for(
            "[...document.querySelectorAll('.msg.assistant')].some(m => m.textContent === 'Got your message.')",
            Duration::from_secs(10),
        )
        .await
        .unwrap();
    // A richer App from npm: the budget allocator draws its sliders and totals from the tool's
    // structured result, which only the host's tool-result notification gives it.
    harbor.add_server("budget", &["node", &app_server("server-budget-allocator"), "--stdio"]).unwrap();
    model.push(Turn::new().tool_call("budget__get-budget-data", json!({})));
    model.push(Turn::new().text("Here is your budget."));
    harbor.send_chat("Show my budget").await.unwrap();
    harbor
        .wait_for("document.querySelectorAll('.app-view[data-painted] iframe').length === 3", Duration::from_secs(30))
        .await
        .unwrap();
    let drawn = in_frame(
        &harbor,
        2,
        "document.querySelectorAll('#sliders-container input[type=range]').length >= 5 && document.querySelector('#status-bar').textContent.trim()",
        "the budget app's sliders",
    )
    .await;
    assert!(drawn.as_str().unwrap().contains("100,000"), "the default budget from the result: {drawn}");
    harbor.session.execute("document.querySelectorAll('.app-view')[2].scrollIntoView();", json!([])).await.unwrap();
    harbor.save_screenshot("sidebar-chat-app-budget.png").await.unwrap();
    eprintln!("app view first paint after the tool result: {painted} ms");
    harbor.close().await;
}

async fn audit_count(harbor: &Harbor, origin: &str) -> usize {
    let audit = harbor.admin("audit.list", json!({ "origin": origin })).await.unwrap();
    audit.as_array().map_or(0, Vec::len)
}
