//! The Web Agent API under Harbor's permissions, in real headless Firefox: pages on loopback
//! origins ask, Harbor's prompt window opens, the test clicks its buttons like a user, and the
//! pages get exactly what was allowed. The probe server (tests/fixtures/probe_server.py) says
//! from its side what ran and what was cancelled; a scripted model drives `agent.run`.

use std::time::{Duration, Instant};

use harbor_e2e::firefox::{Harbor, Options};
use harbor_e2e::site::{Page, Site};
use harbor_model_double::{Model, ScriptedModel, Turn};
use serde_json::{json, Value};

const PAGE: &str = "<!doctype html><html><head><title>Harbor test page</title></head>\
    <body><main><h1>Field notes</h1><p>The heron waited by the reeds.</p></main></body></html>";

/// A page that embeds `frame_url` and records what the framed page was granted.
fn embedding_page(frame_url: &str) -> String {
    format!(
        r#"<!doctype html><html><body><p>outer</p><script>
           window.__framed = null;
           addEventListener("message", (e) => {{ if (e.data && e.data.framed !== undefined) window.__framed = e.data.framed; }});
           </script><iframe src="{frame_url}"></iframe></body></html>"#
    )
}

/// A framed page that asks for a scope as soon as the API is ready and tells its parent.
const FRAMED: &str = r#"<!doctype html><html><body><p>inner</p><script>
  addEventListener("agent-ready", async () => {
    let framed;
    try { framed = await window.agent.requestPermissions({ scopes: ["mcp:tools.list"], reason: "framed widget" }); }
    catch (e) { framed = { error: e.code }; }
    parent.postMessage({ framed }, "*");
  });
</script></body></html>"#;

async fn harbor_with_probe() -> Harbor {
    let harbor = Harbor::launch(Options::default()).await.unwrap();
    let python = harbor_e2e::paths::test_servers().unwrap().join("venv/bin/python");
    let probe = harbor_e2e::paths::repo_root().join("tests/fixtures/probe_server.py");
    let launch = json!({"kind": "process", "command": python, "args": [probe]});
    harbor.admin("servers.add", json!({"id": "probe", "launch": launch})).await.unwrap();
    harbor.admin("servers.start", json!({"id": "probe"})).await.unwrap();
    harbor
}

/// Starts `script` in the page without waiting for it; its outcome lands in `window[name]`.
async fn start_in_page(harbor: &Harbor, name: &str, script: &str) {
    let body = format!(
        "window.{name} = undefined;
         (async () => {{ {script} }})().then((ok) => window.{name} = {{ ok }}, (e) => window.{name} = {{ err: e.code }});"
    );
    harbor.session.execute(&body, json!([])).await.unwrap();
}

async fn outcome_in_page(harbor: &Harbor, name: &str) -> Value {
    harbor.wait_for(&format!("window.{name}"), Duration::from_secs(20)).await.unwrap()
}

/// Waits for Harbor's prompt window (a window not in `known`, the windows before the page
/// asked), switches to it, and waits until it shows its request.
async fn open_prompt(harbor: &Harbor, known: &[String]) -> String {
    let prompt = harbor.new_window(known, Duration::from_secs(10)).await.unwrap();
    harbor.session.switch_to_window(&prompt).await.unwrap();
    if let Err(error) = harbor.wait_for("document.querySelector('#allow-once')", Duration::from_secs(10)).await {
        let shown = harbor
            .session
            .execute("return [location.href, document.body && document.body.innerText];", json!([]))
            .await;
        panic!("the prompt did not show its request ({error}): {shown:?}");
    }
    prompt
}

fn probe_stats(result: &Value) -> Value {
    serde_json::from_str(result["content"][0]["text"].as_str().unwrap()).unwrap()
}

#[tokio::test]
async fn a_page_asks_the_user_chooses_tools_and_the_page_gets_exactly_those() {
    let harbor = harbor_with_probe().await;
    let site = Site::start(vec![("/", Page::html(PAGE))]).await;
    harbor.session.goto(&site.url("/")).await.unwrap();
    let page_tab = harbor.session.window_handle().await.unwrap();
    let before = harbor.page("return await window.agent.tools.list();").await.unwrap();
    assert_eq!(before["err"]["code"], "ERR_SCOPE_REQUIRED", "{before}");

    let known = harbor.session.window_handles().await.unwrap();
    start_in_page(
        &harbor,
        "__asked",
        r#"return await window.agent.requestPermissions({
             scopes: ["mcp:tools.list", "mcp:tools.call"], tools: ["probe/echo", "probe/wipe"], reason: "to test echo" });"#,
    )
    .await;
    open_prompt(&harbor, &known).await;
    let shown = harbor
        .session
        .execute(
            "return { origin: document.querySelector('#origin').textContent,
                      scopes: [...document.querySelectorAll('.scopes li')].map(li => li.dataset.scope),
                      reason: document.querySelector('.reason').textContent,
                      echo: document.querySelector('[data-tool=\"probe/echo\"] input').checked,
                      wipe: document.querySelector('[data-tool=\"probe/wipe\"] input').checked };",
            json!([]),
        )
        .await
        .unwrap();
    assert_eq!(
        shown,
        json!({"origin": site.origin, "scopes": ["mcp:tools.list", "mcp:tools.call"], "reason": "“to test echo”", "echo": true, "wipe": false})
    );
    harbor.save_screenshot("prompt.png").await.unwrap();
    harbor.session.execute("document.querySelector('#allow-once').click();", json!([])).await.unwrap();
    harbor.session.switch_to_window(&page_tab).await.unwrap();
    let asked = outcome_in_page(&harbor, "__asked").await;
    assert_eq!(asked["ok"]["granted"], true, "{asked}");
    assert_eq!(asked["ok"]["allowedTools"], json!(["probe/echo"]));

    let used = harbor
        .page(
            r#"const tools = (await window.agent.tools.list()).map(t => t.name);
               const echo = await window.agent.tools.call({ tool: "probe/echo", args: { text: "from the page" } });
               let wipe;
               try { await window.agent.tools.call({ tool: "probe/wipe", args: { target: "/" } }); } catch (e) { wipe = e.code; }
               return { tools, echo: echo.content[0].text, wipe };"#,
        )
        .await
        .unwrap();
    assert_eq!(
        used["ok"],
        json!({"tools": ["probe/echo"], "echo": "echo: from the page", "wipe": "ERR_TOOL_NOT_ALLOWED"})
    );

    // "Allow once" is this tab's: the same site in another tab has nothing.
    let other_tab = harbor.session.new_tab().await.unwrap();
    harbor.session.switch_to_window(&other_tab).await.unwrap();
    harbor.session.goto(&site.url("/")).await.unwrap();
    let elsewhere = harbor
        .page("return await window.agent.tools.call({ tool: 'probe/echo', args: { text: 'x' } });")
        .await
        .unwrap();
    assert_eq!(elsewhere["err"]["code"], "ERR_SCOPE_REQUIRED", "{elsewhere}");
    // The user sees the grant in the sidebar's list, for that one tab; it ends when the tab closes.
    let sites = harbor.admin("permissions.sites", json!({})).await.unwrap();
    assert_eq!(sites[0]["origin"], site.origin.as_str(), "{sites}");
    assert_eq!(sites[0]["once"][0]["tools"], json!(["probe/echo"]));
    assert_eq!(sites[0]["scopes"]["mcp:tools.call"], "NOT_GRANTED", "nothing persisted for once");
    harbor.session.switch_to_window(&page_tab).await.unwrap();
    harbor.session.close_window().await.unwrap();
    harbor.session.switch_to_window(&other_tab).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !harbor.admin("permissions.sites", json!({})).await.unwrap().as_array().unwrap().is_empty() {
        assert!(Instant::now() < deadline, "the closed tab's grant is still there");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // A page that claims another origin or the extension's identity in its own message is
    // answered as itself.
    let forged = harbor
        .post_to_relay(json!({"id": "raw", "method": "agent.permissions.list", "params": {},
                              "caller": {"kind": "page", "origin": "https://bank.example", "tabId": 1}}))
        .await
        .unwrap();
    assert_eq!(forged["result"]["origin"], site.origin.as_str(), "{forged}");

    // Nothing the page sent or got back is in Harbor's files.
    let mut leaked = Vec::new();
    for file in files_under(&harbor.data_dir) {
        let bytes = std::fs::read(&file).unwrap_or_default();
        if bytes.windows(13).any(|w| w == b"from the page") {
            leaked.push(file);
        }
    }
    assert!(leaked.is_empty(), "tool payloads written to {leaked:?}");
    harbor.close().await;
}

#[tokio::test]
async fn a_framed_site_asks_as_itself_deny_sticks_and_closing_the_prompt_answers_at_once() {
    let harbor = harbor_with_probe().await;
    let inner = Site::start(vec![("/frame", Page::html(FRAMED))]).await;
    let outer =
        Site::start(vec![("/", Page::html(&embedding_page(&inner.url("/frame")))), ("/plain", Page::html(PAGE))]).await;
    let known = harbor.session.window_handles().await.unwrap();
    harbor.session.goto(&outer.url("/")).await.unwrap();
    let page_tab = harbor.session.window_handle().await.unwrap();

    open_prompt(&harbor, &known).await;
    let shown = harbor
        .session
        .execute(
            "return [document.querySelector('#origin').textContent, document.querySelector('#embedded').textContent];",
            json!([]),
        )
        .await
        .unwrap();
    assert_eq!(shown, json!([inner.origin, format!("inside the page {}", outer.origin)]));
    harbor.session.execute("document.querySelector('#deny').click();", json!([])).await.unwrap();
    harbor.session.switch_to_window(&page_tab).await.unwrap();
    let framed = harbor.wait_for("window.__framed", Duration::from_secs(10)).await.unwrap();
    assert_eq!(framed["granted"], false);
    assert_eq!(framed["scopes"]["mcp:tools.list"], "DENY");
    // The outer page's own origin was not touched.
    let sites = harbor.admin("permissions.sites", json!({})).await.unwrap();
    let origins: Vec<&str> = sites.as_array().unwrap().iter().map(|s| s["origin"].as_str().unwrap()).collect();
    assert_eq!(origins, [inner.origin.as_str()]);

    // Reloaded, the frame is refused at once, with no prompt.
    let windows = harbor.session.window_handles().await.unwrap().len();
    harbor.session.goto(&outer.url("/")).await.unwrap();
    let again = harbor.wait_for("window.__framed", Duration::from_secs(10)).await.unwrap();
    assert_eq!(again["granted"], false);
    assert_eq!(harbor.session.window_handles().await.unwrap().len(), windows, "no new prompt");

    // The user clears the denial in the sidebar's Sites panel; the frame may ask again.
    let sidebar = harbor.session.new_tab().await.unwrap();
    harbor.session.switch_to_window(&sidebar).await.unwrap();
    harbor.session.goto(&harbor.extension_url("sidebar/index.html")).await.unwrap();
    harbor.wait_for("document.querySelector('#tab-sites')", Duration::from_secs(10)).await.unwrap();
    harbor.session.execute("document.querySelector('#tab-sites').click();", json!([])).await.unwrap();
    let select =
        format!("document.querySelector('[data-origin=\"{}\"] [data-scope=\"mcp:tools.list\"] select')", inner.origin);
    let shown = harbor.wait_for(&format!("{select}?.value"), Duration::from_secs(10)).await.unwrap();
    assert_eq!(shown, "DENY");
    harbor.save_screenshot("sidebar-sites.png").await.unwrap();
    harbor
        .session
        .execute(&format!("const s = {select}; s.value = 'NOT_GRANTED'; s.dispatchEvent(new Event('change', {{ bubbles: true }}));"), json!([]))
        .await
        .unwrap();
    harbor.wait_for(&format!("{select}?.value === 'NOT_GRANTED'"), Duration::from_secs(10)).await.unwrap();
    harbor.session.switch_to_window(&page_tab).await.unwrap();
    let known = harbor.session.window_handles().await.unwrap();
    harbor.session.goto(&outer.url("/")).await.unwrap();
    open_prompt(&harbor, &known).await;
    harbor.session.execute("document.querySelector('#allow-always').click();", json!([])).await.unwrap();
    harbor.session.switch_to_window(&page_tab).await.unwrap();
    let allowed = harbor.wait_for("window.__framed", Duration::from_secs(10)).await.unwrap();
    assert_eq!(allowed["scopes"]["mcp:tools.list"], "ALLOW_ALWAYS", "{allowed}");

    // Closing the prompt answers "not now" at once, and the page may not reopen it right away.
    harbor.session.goto(&outer.url("/plain")).await.unwrap();
    let known = harbor.session.window_handles().await.unwrap();
    start_in_page(&harbor, "__closed", "return await window.agent.requestPermissions({ scopes: ['model:list'] });")
        .await;
    open_prompt(&harbor, &known).await;
    let closed_at = Instant::now();
    harbor.session.close_window().await.unwrap();
    harbor.session.switch_to_window(&page_tab).await.unwrap();
    let closed = outcome_in_page(&harbor, "__closed").await;
    assert!(closed_at.elapsed() < Duration::from_secs(3), "answered at once");
    assert_eq!(closed["ok"]["granted"], false, "{closed}");
    let retry = harbor.page("return await window.agent.requestPermissions({ scopes: ['model:list'] });").await.unwrap();
    assert_eq!(retry["err"]["code"], "ERR_PERMISSION_DENIED", "cool-down: {retry}");
    harbor.close().await;
}

#[tokio::test]
async fn agent_run_streams_its_steps_reads_the_tab_and_an_abort_cancels_the_tool_at_the_server() {
    let model = ScriptedModel::start(vec![Model::new("m")]).await;
    let harbor = harbor_with_probe().await;
    let site = Site::start(vec![("/", Page::html(PAGE))]).await;
    harbor.admin("llm.setProvider", json!({"id": "scripted", "kind": "ollama", "baseUrl": model.url()})).await.unwrap();
    harbor.admin("llm.select", json!({"provider": "scripted", "model": "m"})).await.unwrap();
    harbor
        .admin("permissions.setTools", json!({"origin": site.origin, "tools": ["probe/echo", "probe/slow"]}))
        .await
        .unwrap();
    for scope in ["model:tools", "browser:activeTab.read"] {
        harbor
            .admin("permissions.set", json!({"origin": site.origin, "scope": scope, "grant": "ALLOW_ALWAYS"}))
            .await
            .unwrap();
    }
    harbor.session.goto(&site.url("/")).await.unwrap();

    model.push(Turn::new().tool_call("probe__echo", json!({"text": "step one"})));
    model.push(Turn::words("All done here."));
    let run = harbor
        .page(
            r#"const events = [];
               for await (const event of window.agent.run({ task: "echo step one" })) events.push(event);
               return events;"#,
        )
        .await
        .unwrap();
    let events = run["ok"].as_array().unwrap_or_else(|| panic!("{run}"));
    let kinds: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["tool_call", "tool_result", "token", "token", "token", "final"], "{events:?}");
    assert_eq!(events[1]["result"]["content"][0]["text"], "echo: step one");
    assert_eq!(events[5]["output"], "All done here.");

    let read = harbor.page("return await window.agent.browser.activeTab.readability();").await.unwrap();
    assert_eq!(read["ok"]["title"], "Harbor test page", "{read}");
    assert!(read["ok"]["text"].as_str().unwrap().contains("The heron waited by the reeds."), "{read}");

    // window.ai: Harbor's text sessions stream token events; Chrome-shaped ones stream strings.
    harbor
        .admin("permissions.set", json!({"origin": site.origin, "scope": "model:prompt", "grant": "ALLOW_ALWAYS"}))
        .await
        .unwrap();
    model.push(Turn::words("Hello there"));
    model.push(Turn::words("Again then"));
    model.push(Turn::words("Third."));
    let ai = harbor
        .page(
            r#"const session = await window.ai.createTextSession({ systemPrompt: "Be brief." });
               const events = [];
               for await (const event of session.promptStreaming("hi")) events.push(event);
               const lm = await window.ai.languageModel.create({
                 initialPrompts: [{ role: "user", content: "earlier" }, { role: "assistant", content: "noted" }] });
               const chunks = [];
               for await (const chunk of lm.promptStreaming("again")) chunks.push(chunk);
               const text = await lm.prompt("third");
               await lm.destroy();
               let destroyed;
               try { await lm.prompt("x"); } catch (e) { destroyed = e.code; }
               return { events, chunks, text, destroyed, availability: await window.ai.languageModel.availability() };"#,
        )
        .await
        .unwrap();
    assert_eq!(
        ai["ok"],
        json!({
            "events": [{"type": "token", "token": "Hello "}, {"type": "token", "token": "there"}, {"type": "done"}],
            "chunks": ["Again ", "then"], "text": "Third.", "destroyed": "ERR_INVALID_REQUEST", "availability": "available"
        }),
        "{ai}"
    );
    let requests = model.chat_requests();
    let history = &requests[requests.len() - 1].body["messages"];
    let contents: Vec<&str> = history.as_array().unwrap().iter().map(|m| m["content"].as_str().unwrap()).collect();
    assert_eq!(contents, ["earlier", "noted", "again", "Again then", "third"]);

    // 50 calls at once from the page: never more than 2 in flight at the server.
    harbor
        .admin("permissions.set", json!({"origin": site.origin, "scope": "mcp:tools.call", "grant": "ALLOW_ALWAYS"}))
        .await
        .unwrap();
    let burst = harbor
        .page(
            r#"const calls = [];
               for (let n = 0; n < 50; n++) calls.push(window.agent.tools.call({ tool: "probe/slow", args: { ms: 30, tag: String(n) } }));
               return (await Promise.allSettled(calls)).filter(r => r.status === "fulfilled").length;"#,
        )
        .await
        .unwrap();
    assert_eq!(burst["ok"], 50, "{burst}");
    let stats = probe_stats(&harbor.admin("tools.call", json!({"tool": "probe/stats"})).await.unwrap());
    assert_eq!(stats["maxInFlight"], 2, "{stats}");

    // Abort while the tool runs: the run ends with ERR_ABORTED and the server cancels the call.
    model.push(Turn::new().tool_call("probe__slow", json!({"ms": 20000, "tag": "run-abort"})));
    start_in_page(
        &harbor,
        "__aborted",
        r#"const controller = new AbortController();
           for await (const event of window.agent.run({ task: "wait", signal: controller.signal })) {
             if (event.type === "tool_call") setTimeout(() => controller.abort(), 500);
           }"#,
    )
    .await;
    let aborted = outcome_in_page(&harbor, "__aborted").await;
    assert_eq!(aborted["err"], "ERR_ABORTED", "{aborted}");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let stats = probe_stats(&harbor.admin("tools.call", json!({"tool": "probe/stats"})).await.unwrap());
        if stats["cancelled"].as_array().unwrap().contains(&json!("run-abort")) {
            break;
        }
        assert!(Instant::now() < deadline, "the server never saw the cancellation: {stats}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let audit = harbor.admin("audit.list", json!({"origin": site.origin})).await.unwrap();
    let methods: Vec<&str> = audit.as_array().unwrap().iter().map(|a| a["method"].as_str().unwrap()).collect();
    assert!(methods.contains(&"agent.run") && methods.contains(&"agent.browser.activeTab.readability"), "{methods:?}");
    harbor.close().await;
}

fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(files_under(&path));
        } else {
            files.push(path);
        }
    }
    files
}
