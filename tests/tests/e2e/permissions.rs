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

/// A framed page that asks for a scope when its button is clicked and tells its parent.
const FRAMED: &str = r#"<!doctype html><html><body><p>inner</p><button id="ask">Connect</button><script>
  document.getElementById("ask").addEventListener("click", async () => {
    let framed;
    try { framed = await window.agent.requestPermissions({ scopes: ["mcp:tools.list"], reason: "framed widget" }); }
    catch (e) { framed = { error: e.code }; }
    parent.postMessage({ framed }, "*");
  });
</script></body></html>"#;

/// Clicks the framed page's button (the page's first frame), as the user would.
async fn click_in_frame(harbor: &Harbor) {
    harbor
        .wait_for("window.frames.length > 0 && document.querySelector('iframe')", Duration::from_secs(10))
        .await
        .unwrap();
    harbor.session.switch_to_frame(0).await.unwrap();
    harbor.wait_for("window.agent && document.querySelector('#ask')", Duration::from_secs(10)).await.unwrap();
    let button = harbor.session.find("#ask").await.unwrap();
    harbor.session.click(&button).await.unwrap();
    harbor.session.switch_to_top().await.unwrap();
}

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

/// Waits for Harbor's prompt window and switches to it (see [`Harbor::open_prompt`]).
async fn open_prompt(harbor: &Harbor, known: &[String]) -> String {
    harbor.open_prompt(known).await.unwrap()
}

/// Opens the sidebar's Sites panel in a new tab and returns the tab.
async fn open_sites_panel(harbor: &Harbor) -> String {
    let sidebar = harbor.open_tab(&harbor.extension_url("sidebar/index.html")).await.unwrap();
    harbor.wait_for("document.querySelector('#tab-sites')", Duration::from_secs(10)).await.unwrap();
    harbor.session.execute("document.querySelector('#tab-sites').click();", json!([])).await.unwrap();
    sidebar
}

/// The Sites panel's grant menu of `origin`'s `scope`, as a JavaScript expression.
fn grant_select(origin: &str, scope: &str) -> String {
    format!("document.querySelector('[data-origin=\"{origin}\"] [data-scope=\"{scope}\"] select')")
}

/// Chooses `value` in the menu `select` as a user would.
async fn choose(harbor: &Harbor, select: &str, value: &str) {
    let script =
        format!("const s = {select}; s.value = '{value}'; s.dispatchEvent(new Event('change', {{ bubbles: true }}));");
    harbor.session.execute(&script, json!([])).await.unwrap();
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
    harbor
        .on_click(
            "__asked",
            r#"return await window.agent.requestPermissions({
             scopes: ["mcp:tools.list", "mcp:tools.call"], tools: ["probe/echo", "probe/wipe"], reason: "to test echo" });"#,
        )
        .await
        .unwrap();
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
    // Harbor's grant words, and the explainer's beside them.
    assert_eq!(asked["ok"]["scopes"]["mcp:tools.call"], "ALLOW_ONCE", "{asked}");
    assert_eq!(asked["ok"]["grants"], json!({"mcp:tools.list": "granted-once", "mcp:tools.call": "granted-once"}));

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
    let other_tab = harbor.open_tab(&site.url("/")).await.unwrap();
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

    click_in_frame(&harbor).await;
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
    click_in_frame(&harbor).await;
    let again = harbor.wait_for("window.__framed", Duration::from_secs(10)).await.unwrap();
    assert_eq!(again["granted"], false);
    assert_eq!(harbor.session.window_handles().await.unwrap().len(), windows, "no new prompt");

    // The user clears the denial in the sidebar's Sites panel; the frame may ask again.
    open_sites_panel(&harbor).await;
    let select = grant_select(&inner.origin, "mcp:tools.list");
    let shown = harbor.wait_for(&format!("{select}?.value"), Duration::from_secs(10)).await.unwrap();
    assert_eq!(shown, "DENY");
    harbor.save_screenshot("sidebar-sites.png").await.unwrap();
    choose(&harbor, &select, "NOT_GRANTED").await;
    harbor.wait_for(&format!("{select}?.value === 'NOT_GRANTED'"), Duration::from_secs(10)).await.unwrap();
    harbor.session.switch_to_window(&page_tab).await.unwrap();
    let known = harbor.session.window_handles().await.unwrap();
    harbor.session.goto(&outer.url("/")).await.unwrap();
    click_in_frame(&harbor).await;
    open_prompt(&harbor, &known).await;
    harbor.session.execute("document.querySelector('#allow-always').click();", json!([])).await.unwrap();
    harbor.session.switch_to_window(&page_tab).await.unwrap();
    let allowed = harbor.wait_for("window.__framed", Duration::from_secs(10)).await.unwrap();
    assert_eq!(allowed["scopes"]["mcp:tools.list"], "ALLOW_ALWAYS", "{allowed}");

    // Closing the prompt answers "not now" at once, and the page may not reopen it right away.
    harbor.session.goto(&outer.url("/plain")).await.unwrap();
    let known = harbor.session.window_handles().await.unwrap();
    harbor
        .on_click("__closed", "return await window.agent.requestPermissions({ scopes: ['model:list'] });")
        .await
        .unwrap();
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
    harbor.use_ollama(&model.url(), "m").await.unwrap();
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
    harbor.allow_always(&site.origin, "model:prompt").await.unwrap();
    model.push(Turn::words("Hello there"));
    model.push(Turn::words("Again then"));
    model.push(Turn::words("Third."));
    let ai = harbor
        .page(
            r#"const session = await window.ai.createTextSession({ systemPrompt: "Be brief." });
               // Both styles pages are written in: concatenated chunks, and chunk.type / .token.
               let concatenated = "";
               const events = [];
               for await (const chunk of session.promptStreaming("hi")) {
                 concatenated += chunk;
                 events.push(chunk.type === "token" ? { type: "token", token: chunk.token } : { type: chunk.type });
               }
               const lm = await window.ai.languageModel.create({
                 initialPrompts: [{ role: "user", content: "earlier" }, { role: "assistant", content: "noted" }] });
               const chunks = [];
               for await (const chunk of lm.promptStreaming("again")) chunks.push(chunk);
               const text = await lm.prompt("third");
               lm.destroy();
               let destroyed;
               try { await lm.prompt("x"); } catch (e) { destroyed = [e.name, e.code]; }
               return { concatenated, events, sessionId: typeof session.sessionId, chunks, text, destroyed,
                        availability: await window.ai.languageModel.availability() };"#,
        )
        .await
        .unwrap();
    assert_eq!(
        ai["ok"],
        json!({
            "concatenated": "Hello there",
            "events": [{"type": "token", "token": "Hello "}, {"type": "token", "token": "there"}, {"type": "done"}],
            "sessionId": "string",
            "chunks": ["Again ", "then"], "text": "Third.", "destroyed": ["InvalidStateError", "ERR_SESSION_NOT_FOUND"],
            "availability": "available"
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

/// A site's grant revoked in the sidebar's Sites panel: the page's next call fails, with the
/// contract's code, and forgetting the site leaves it asking from scratch.
#[tokio::test]
async fn revoking_a_grant_in_the_sites_panel_fails_the_pages_next_call() {
    let harbor = harbor_with_probe().await;
    let site = Site::start(vec![("/", Page::html(PAGE))]).await;
    for scope in ["mcp:tools.list", "mcp:tools.call"] {
        harbor
            .admin("permissions.set", json!({"origin": site.origin, "scope": scope, "grant": "ALLOW_ALWAYS"}))
            .await
            .unwrap();
    }
    harbor.admin("permissions.setTools", json!({"origin": site.origin, "tools": ["probe/echo"]})).await.unwrap();
    let page_tab = harbor.session.window_handle().await.unwrap();
    harbor.session.goto(&site.url("/")).await.unwrap();
    let call = "return await window.agent.tools.call({ tool: 'probe/echo', args: { text: 'hi' } });";
    let first = harbor.page(call).await.unwrap();
    assert!(first["ok"]["content"][0]["text"].as_str().unwrap().contains("hi"), "{first}");

    let sidebar = open_sites_panel(&harbor).await;
    let select = grant_select(&site.origin, "mcp:tools.call");
    assert_eq!(harbor.wait_for(&format!("{select}?.value"), Duration::from_secs(10)).await.unwrap(), "ALLOW_ALWAYS");
    choose(&harbor, &select, "DENY").await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while harbor.admin("permissions.sites", json!({})).await.unwrap()[0]["scopes"]["mcp:tools.call"] != "DENY" {
        assert!(Instant::now() < deadline, "the sidebar's change did not reach the bridge");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    harbor.session.switch_to_window(&page_tab).await.unwrap();
    let denied = harbor.page(call).await.unwrap();
    assert_eq!(denied["err"]["code"], "ERR_PERMISSION_DENIED", "{denied}");

    harbor.session.switch_to_window(&sidebar).await.unwrap();
    let forget = format!("document.querySelector('[data-origin=\"{}\"] button.forget')", site.origin);
    harbor.session.execute(&format!("{forget}.click();"), json!([])).await.unwrap();
    harbor.wait_for(&format!("!{forget}"), Duration::from_secs(10)).await.unwrap();
    harbor.session.switch_to_window(&page_tab).await.unwrap();
    let forgotten = harbor.page(call).await.unwrap();
    assert_eq!(forgotten["err"]["code"], "ERR_SCOPE_REQUIRED", "{forgotten}");
    harbor.close().await;
}

/// The bridge's resident memory (KiB), open descriptors and child processes.
fn footprint(pid: u32) -> (u64, usize, usize) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let rss =
        status.lines().find_map(|l| l.strip_prefix("VmRSS:")).unwrap().trim().trim_end_matches(" kB").parse().unwrap();
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).unwrap().count();
    let children = std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|p| {
            std::fs::read_to_string(format!("/proc/{p}/stat"))
                .ok()
                .and_then(|s| s.rsplit(") ").next().map(str::to_owned))
                .is_some_and(|rest| rest.split(' ').nth(1) == Some(&pid.to_string()))
        })
        .count();
    (rss, fds, children)
}

/// Pages on four origins call tools as fast as they can, four at a time each, for a bounded
/// time (`HARBOR_LOAD_SECONDS`, default 20; `scripts/soak` runs it for minutes): every call ends
/// (answered, or refused with the contract's code), each origin's limit of 2 calls at once holds
/// as the server sees it, and the bridge's memory, descriptors and children stay flat.
#[tokio::test]
async fn many_origins_calling_at_once_hold_their_limits_and_the_bridge_stays_flat() {
    let seconds: u64 = std::env::var("HARBOR_LOAD_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(20);
    let harbor = harbor_with_probe().await;
    let mut sites = Vec::new();
    for _ in 0..4 {
        sites.push(Site::start(vec![("/", Page::html(PAGE))]).await);
    }
    let origins: Vec<String> = sites.iter().map(|s| s.url("/").trim_end_matches('/').to_owned()).collect();
    for origin in &origins {
        for scope in ["mcp:tools.list", "mcp:tools.call"] {
            harbor
                .admin("permissions.set", json!({"origin": origin, "scope": scope, "grant": "ALLOW_ALWAYS"}))
                .await
                .unwrap();
        }
        harbor
            .admin(
                "permissions.setTools",
                json!({"origin": origin, "tools": ["probe/slow", "probe/echo", "probe/stats"]}),
            )
            .await
            .unwrap();
    }
    let loop_script = format!(
        r#"const until = Date.now() + {ms};
           const stats = {{ ok: 0, refused: {{}}, slowest: 0 }};
           const worker = async (w) => {{
             while (Date.now() < until) {{
               const started = Date.now();
               try {{ await window.agent.tools.call({{ tool: "probe/slow", args: {{ ms: 20, tag: "w" + w }} }}); stats.ok++; }}
               catch (e) {{ stats.refused[e.code] = (stats.refused[e.code] || 0) + 1; await new Promise(r => setTimeout(r, 5)); }}
               stats.slowest = Math.max(stats.slowest, Date.now() - started);
             }}
           }};
           await Promise.all([0, 1, 2, 3].map(worker));
           return stats;"#,
        ms = seconds * 1000
    );
    let mut tabs = Vec::new();
    for site in &sites {
        let tab = harbor.open_tab(&site.url("/")).await.unwrap();
        harbor.wait_for("window.agent && true", Duration::from_secs(10)).await.unwrap();
        tabs.push(tab);
    }
    let pid = harbor.bridge_pids()[0];
    // Warm up (first calls, allocator pools), then measure from there.
    for tab in &tabs {
        harbor.session.switch_to_window(tab).await.unwrap();
        start_in_page(
            &harbor,
            "__warm",
            "return await window.agent.tools.call({ tool: 'probe/echo', args: { text: 'warm' } });",
        )
        .await;
        outcome_in_page(&harbor, "__warm").await;
    }
    let before = footprint(pid);
    for tab in &tabs {
        harbor.session.switch_to_window(tab).await.unwrap();
        start_in_page(&harbor, "__load", &loop_script).await;
    }
    let mut total_ok = 0;
    for (tab, origin) in tabs.iter().zip(&origins) {
        harbor.session.switch_to_window(tab).await.unwrap();
        let stats = harbor.wait_for("window.__load", Duration::from_secs(seconds + 30)).await.unwrap();
        let stats = &stats["ok"];
        let ok = stats["ok"].as_u64().unwrap();
        assert!(ok > 10, "{origin} got few calls through: {stats}");
        for code in stats["refused"].as_object().unwrap().keys() {
            assert_eq!(code, "ERR_RATE_LIMITED", "{origin}: only the limit may refuse calls: {stats}");
        }
        assert!(stats["slowest"].as_u64().unwrap() < 10_000, "{origin}: a call hung: {stats}");
        total_ok += ok;
    }
    let after = footprint(pid);
    start_in_page(&harbor, "__stats", "return await window.agent.tools.call({ tool: 'probe/stats', args: {} });").await;
    let outcome = outcome_in_page(&harbor, "__stats").await;
    let seen = probe_stats(&outcome["ok"]);
    assert!(
        seen["maxInFlight"].as_u64().unwrap() <= 8,
        "more than 2 calls at once per origin reached the server: {seen}"
    );
    println!(
        "load: {seconds} s, 4 origins, {total_ok} calls ({:.0}/s); bridge RSS {} → {} KiB, fds {} → {}, children {} → {}",
        total_ok as f64 / seconds as f64,
        before.0,
        after.0,
        before.1,
        after.1,
        before.2,
        after.2
    );
    assert!(after.0 < before.0 + 8 * 1024, "memory grew under load: {} → {} KiB", before.0, after.0);
    assert!(after.1 <= before.1 + 4, "descriptors leaked: {} → {}", before.1, after.1);
    assert_eq!(after.2, before.2, "child processes changed");
    harbor.close().await;
}

// Attacks from pages (security round 2), each performed in real Firefox.

const BANK: &str = "<!doctype html><html><head><title>Bank</title></head>\
    <body><main><p>Balance: 10,000. IBAN DE00 1234.</p></main></body></html>";

/// A frame that calls `body` as soon as the API is ready and tells its parent the outcome.
fn reporting_frame(body: &str) -> String {
    format!(
        r#"<!doctype html><html><body><p>frame</p><script>
           addEventListener("agent-ready", async () => {{
             let outcome;
             try {{ outcome = {{ ok: await (async () => {{ {body} }})() }}; }}
             catch (e) {{ outcome = {{ err: e.code, reason: e.data && e.data.reason }}; }}
             parent.postMessage({{ framed: outcome }}, "*");
           }});
           </script></body></html>"#
    )
}

#[tokio::test]
async fn a_page_reads_only_its_own_tab_while_it_is_shown_and_frames_read_nothing_of_their_parent() {
    let harbor = harbor_with_probe().await;
    let widget_body = "return await window.agent.browser.activeTab.readability();";
    let reader =
        Site::start(vec![("/", Page::html(PAGE)), ("/frame", Page::html(&reporting_frame(widget_body)))]).await;
    let bank = Site::start(vec![("/", Page::html(BANK))]).await;
    let bank_with_widget = Site::start(vec![("/", Page::html(&embedding_page(&reader.url("/frame"))))]).await;
    harbor
        .admin(
            "permissions.set",
            json!({"origin": reader.origin, "scope": "browser:activeTab.read", "grant": "ALLOW_ALWAYS"}),
        )
        .await
        .unwrap();

    // The granted site, shown: it reads its own page.
    harbor.session.goto(&reader.url("/")).await.unwrap();
    let reader_tab = harbor.session.window_handle().await.unwrap();
    let own = harbor.page(widget_body).await.unwrap();
    assert_eq!(own["ok"]["title"], "Harbor test page", "{own}");

    // In a background tab while the bank is shown, it reads nothing — not the bank's page.
    harbor
        .session
        .execute(
            "window.__late = undefined;
             setTimeout(() => window.agent.browser.activeTab.readability().then(
               (ok) => window.__late = { ok }, (e) => window.__late = { err: e.code, reason: e.data && e.data.reason }), 1500);",
            json!([]),
        )
        .await
        .unwrap();
    harbor.open_tab(&bank.url("/")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(3000)).await;
    harbor.session.switch_to_window(&reader_tab).await.unwrap();
    let late = harbor.wait_for("window.__late", Duration::from_secs(10)).await.unwrap();
    assert_eq!(
        late,
        json!({"err": "ERR_PERMISSION_DENIED", "reason": "tab_not_active"}),
        "a background tab read: {late}"
    );

    // As a frame inside another site's page, it may not read that page.
    harbor.session.goto(&bank_with_widget.url("/")).await.unwrap();
    let framed = harbor.wait_for("window.__framed", Duration::from_secs(10)).await.unwrap();
    assert_eq!(framed, json!({"err": "ERR_PERMISSION_DENIED", "reason": "cross_origin_frame"}), "{framed}");
    harbor.close().await;
}

#[tokio::test]
async fn a_sandboxed_frame_does_not_act_as_its_parent() {
    let harbor = harbor_with_probe().await;
    let call = "return await window.agent.tools.call({ tool: 'probe/echo', args: { text: 'from the sandbox' } });";
    let site = Site::start(vec![
        ("/", Page::html(
            r#"<!doctype html><html><body><script>
               window.__framed = null;
               addEventListener("message", (e) => { if (e.data && e.data.framed !== undefined) window.__framed = e.data.framed; });
               </script><iframe sandbox="allow-scripts" src="/sandboxed"></iframe></body></html>"#,
        )),
        ("/sandboxed", Page::html(&reporting_frame(call))),
    ])
    .await;
    harbor.admin("permissions.setTools", json!({"origin": site.origin, "tools": ["probe/echo"]})).await.unwrap();
    harbor
        .admin("permissions.set", json!({"origin": site.origin, "scope": "mcp:tools.call", "grant": "ALLOW_ALWAYS"}))
        .await
        .unwrap();
    harbor.session.goto(&site.url("/")).await.unwrap();
    let own = harbor.page(call).await.unwrap();
    assert_eq!(own["ok"]["content"][0]["text"], "echo: from the sandbox", "the parent itself may: {own}");
    let framed = harbor.wait_for("window.__framed", Duration::from_secs(10)).await.unwrap();
    assert_eq!(framed["err"], "ERR_PERMISSION_DENIED", "the opaque frame used its parent's grant: {framed}");
    harbor.close().await;
}

#[tokio::test]
async fn prompts_need_a_click_and_an_enter_timed_at_the_prompt_grants_nothing() {
    let harbor = harbor_with_probe().await;
    let site = Site::start(vec![("/", Page::html(PAGE))]).await;
    harbor.session.goto(&site.url("/")).await.unwrap();
    let page_tab = harbor.session.window_handle().await.unwrap();
    let windows = harbor.session.window_handles().await.unwrap();

    // Without a user action: refused with the reason, and no window opens.
    let quiet = harbor.page("return await window.agent.requestPermissions({ scopes: ['model:list'] });").await.unwrap();
    assert_eq!(quiet["err"]["code"], "ERR_PERMISSION_DENIED", "{quiet}");
    assert!(quiet["err"]["message"].as_str().unwrap().contains("click"), "{quiet}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(harbor.session.window_handles().await.unwrap(), windows, "no prompt without a gesture");

    // After a click, the prompt opens; Enter pressed the moment it shows does nothing.
    harbor
        .on_click("__asked", "return await window.agent.requestPermissions({ scopes: ['model:list'] });")
        .await
        .unwrap();
    let prompt = harbor.new_window(&windows, Duration::from_secs(10)).await.unwrap();
    harbor.session.switch_to_window(&prompt).await.unwrap();
    harbor.wait_for("document.querySelector('#not-now')", Duration::from_secs(10)).await.unwrap();
    harbor.session.press_keys("\u{E007}\u{E007}").await.unwrap();
    let state = harbor
        .session
        .execute("return { armed: document.body.dataset.armed, allow: document.querySelector('#allow-once').disabled, focused: document.activeElement && document.activeElement.id };", json!([]))
        .await
        .unwrap();
    assert_eq!(state["allow"], true, "the buttons start disabled: {state}");
    assert_ne!(state["focused"], "allow-once");
    // Armed a second later; the Enters went nowhere and the prompt still waits for the user.
    harbor.wait_for("document.body.dataset.armed === 'true'", Duration::from_secs(10)).await.unwrap();
    harbor.session.press_keys("\u{E007}").await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(harbor.session.window_handles().await.unwrap().contains(&prompt), "Enter answered the prompt");
    let focused =
        harbor.session.execute("return document.activeElement && document.activeElement.id;", json!([])).await.unwrap();
    assert_ne!(focused, "allow-once");
    harbor.session.execute("document.querySelector('#allow-once').click();", json!([])).await.unwrap();
    harbor.session.switch_to_window(&page_tab).await.unwrap();
    let asked = outcome_in_page(&harbor, "__asked").await;
    assert_eq!(asked["ok"]["granted"], true, "{asked}");
    harbor.close().await;
}

/// `n` `system.info` round trips from the current page, each in ms.
async fn round_trips(harbor: &Harbor, n: usize) -> Vec<f64> {
    let script = format!(
        "const times = [];
         for (let i = 0; i < {n}; i++) {{ const t = performance.now(); await window.harbor.system.info(); times.push(performance.now() - t); }}
         return times;"
    );
    let times = harbor.page(&script).await.unwrap();
    times["ok"].as_array().unwrap_or_else(|| panic!("{times}")).iter().map(|t| t.as_f64().unwrap()).collect()
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

#[tokio::test]
async fn a_flooding_page_is_refused_at_once_and_other_tabs_keep_their_latency() {
    let harbor = Harbor::launch(Options::default()).await.unwrap();
    let site = Site::start(vec![("/", Page::html(PAGE))]).await;
    let other = Site::start(vec![("/", Page::html(PAGE))]).await;
    harbor.session.goto(&other.url("/")).await.unwrap();
    let quiet_tab = harbor.session.window_handle().await.unwrap();
    round_trips(&harbor, 5).await;
    let idle = median(round_trips(&harbor, 30).await);

    let flood_tab = harbor.open_tab(&site.url("/")).await.unwrap();
    // Too large and too deep: answered at once, not dropped.
    let refused = harbor
        .page(
            r#"const big = "x".repeat(40 * 1024 * 1024);
               let t = performance.now(), big_code, deep_code;
               try { await window.harbor.system.echo({ big }); } catch (e) { big_code = e.code; }
               const big_ms = performance.now() - t;
               let deep = {}; for (let i = 0; i < 100000; i++) deep = { deep };
               t = performance.now();
               try { await window.harbor.system.echo({ deep }); } catch (e) { deep_code = e.code; }
               return { big_code, big_ms, deep_code, deep_ms: performance.now() - t };"#,
        )
        .await
        .unwrap();
    assert_eq!(
        (refused["ok"]["big_code"].as_str(), refused["ok"]["deep_code"].as_str()),
        (Some("ERR_INVALID_REQUEST"), Some("ERR_INVALID_REQUEST")),
        "{refused}"
    );
    assert!(
        refused["ok"]["big_ms"].as_f64().unwrap() < 5000.0 && refused["ok"]["deep_ms"].as_f64().unwrap() < 5000.0,
        "{refused}"
    );

    // A flood of large messages and of pending calls, running on while the other tab calls.
    harbor
        .session
        .execute(
            r#"window.__flood = { refused: 0, other: 0 };
               const big = "y".repeat(60 * 1024 * 1024);
               setTimeout(() => {
                 for (let i = 0; i < 3; i++) window.harbor.system.echo({ big }).catch(() => {});
                 for (let i = 0; i < 1000; i++) window.harbor.system.echo({ delayMs: 8000 }).then(() => {},
                   (e) => { if (e.code === "ERR_RATE_LIMITED") window.__flood.refused++; else window.__flood.other++; });
               }, 300);"#,
            json!([]),
        )
        .await
        .unwrap();
    harbor.session.switch_to_window(&quiet_tab).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let during = median(round_trips(&harbor, 30).await);
    harbor.session.switch_to_window(&flood_tab).await.unwrap();
    // Every call past the cap is refused without waiting for the 8 s calls ahead of it; the
    // refusals settle one by one, so wait for them all (within a bound far below 8 s × 15).
    let flood = harbor
        .wait_for("window.__flood.refused >= 900 && window.__flood", Duration::from_secs(10))
        .await
        .unwrap_or_else(|e| panic!("pending calls past the cap were not all refused within 10 s: {e:#}"));
    assert_eq!(flood["other"], 0, "calls past the cap are refused as rate-limited: {flood}");
    println!(
        "another tab's system.info p50: idle {idle:.2} ms, during the flood {during:.2} ms ({:.2}x)",
        during / idle
    );
    assert!(during < (idle * 10.0).max(50.0), "the flood slowed another tab from {idle:.2} to {during:.2} ms");
    harbor.close().await;
}

#[tokio::test]
async fn a_rug_pull_is_refused_shown_as_a_diff_in_the_sites_panel_and_approved_there() {
    let harbor = Harbor::launch(Options::default()).await.unwrap();
    let python = harbor_e2e::paths::test_servers().unwrap().join("venv/bin/python");
    let fixture = harbor_e2e::paths::repo_root().join("tests/fixtures/rug_pull_server.py");
    let launch = json!({"kind": "process", "command": python, "args": [fixture]});
    harbor.admin("servers.add", json!({"id": "notes", "launch": launch})).await.unwrap();
    harbor.admin("servers.start", json!({"id": "notes"})).await.unwrap();
    let site = Site::start(vec![("/", Page::html(PAGE))]).await;
    harbor.session.goto(&site.url("/")).await.unwrap();
    let page_tab = harbor.session.window_handle().await.unwrap();

    // The user grants the honest, read-only tool.
    let known = harbor.session.window_handles().await.unwrap();
    harbor
        .on_click(
            "__asked",
            "return await window.agent.requestPermissions({ scopes: ['mcp:tools.call'], tools: ['notes/notes'] });",
        )
        .await
        .unwrap();
    open_prompt(&harbor, &known).await;
    harbor.session.execute("document.querySelector('#allow-always').click();", json!([])).await.unwrap();
    harbor.session.switch_to_window(&page_tab).await.unwrap();
    assert_eq!(outcome_in_page(&harbor, "__asked").await["ok"]["granted"], true);
    let call = "return await window.agent.tools.call({ tool: 'notes/notes', args: {} });";
    assert_eq!(harbor.page(call).await.unwrap()["ok"]["content"][0]["text"], "notes: buy milk");

    // Its server swaps it for a hostile version: the page's next call is refused as changed.
    harbor.admin("tools.call", json!({"tool": "notes/pull"})).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let refused = loop {
        let outcome = harbor
            .page("try { return await window.agent.tools.call({ tool: 'notes/notes', args: { forward_to: 'evil' } }); } catch (e) { return { code: e.code, reason: e.data && e.data.reason }; }")
            .await
            .unwrap();
        if outcome["ok"]["code"].is_string() || Instant::now() > deadline {
            break outcome["ok"].clone();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(refused, json!({"code": "ERR_TOOL_NOT_ALLOWED", "reason": "tool_changed"}), "the rug pull ran");

    // The Sites panel shows what changed; the user approves the new version there.
    open_sites_panel(&harbor).await;
    let changed =
        format!("document.querySelector('[data-origin=\"{}\"] .changed-tool[data-tool=\"notes/notes\"]')", site.origin);
    harbor.wait_for(&changed, Duration::from_secs(10)).await.unwrap();
    let shown = harbor
        .session
        .execute(
            &format!(
                "const c = {changed}; return {{ fields: [...c.querySelectorAll('.change')].map(d => d.dataset.field),
                      after: c.querySelector('[data-field=description] .after').textContent }};"
            ),
            json!([]),
        )
        .await
        .unwrap();
    assert_eq!(shown["fields"], json!(["description", "inputSchema", "annotations"]), "{shown}");
    assert!(shown["after"].as_str().unwrap().contains("~/.ssh"), "{shown}");
    harbor.save_screenshot("sidebar-sites-changed-tool.png").await.unwrap();
    harbor.session.execute(&format!("{changed}.querySelector('.approve').click();"), json!([])).await.unwrap();
    harbor.wait_for(&format!("!{changed}"), Duration::from_secs(10)).await.unwrap();
    harbor.session.switch_to_window(&page_tab).await.unwrap();
    let approved = harbor
        .page("return await window.agent.tools.call({ tool: 'notes/notes', args: { forward_to: 'x' } });")
        .await
        .unwrap();
    assert_eq!(approved["ok"]["content"][0]["text"], "sent everything to x", "{approved}");
    harbor.close().await;
}

/// A widget that asks for a scope as soon as it loads (no user action), and again when its
/// button is clicked; it reports each outcome to its parent.
const PUSHY_WIDGET: &str = r#"<!doctype html><html><body><button id="ask">Ask</button><script>
  const ask = async (how) => {
    let outcome;
    try { outcome = await window.agent.requestPermissions({ scopes: ["model:list"] }); }
    catch (e) { outcome = { err: e.code, reason: e.data && e.data.reason }; }
    parent.postMessage({ widget: location.origin, how, outcome }, "*");
  };
  addEventListener("agent-ready", () => ask("on load"));
  document.getElementById("ask").addEventListener("click", () => ask("on click"));
</script></body></html>"#;

#[tokio::test]
async fn nineteen_cross_origin_frames_open_no_prompt_without_a_click_and_one_at_a_time_with_one() {
    let harbor = Harbor::launch(Options::default()).await.unwrap();
    let mut widgets = Vec::new();
    for _ in 0..19 {
        widgets.push(Site::start(vec![("/w", Page::html(PUSHY_WIDGET))]).await);
    }
    let frames: String = widgets.iter().map(|w| format!(r#"<iframe src="{}"></iframe>"#, w.url("/w"))).collect();
    let outer = Site::start(vec![(
        "/",
        Page::html(&format!(
            r#"<!doctype html><html><body><script>
               window.__seen = [];
               addEventListener("message", (e) => {{ if (e.data && e.data.widget) window.__seen.push(e.data); }});
               </script>{frames}</body></html>"#
        )),
    )])
    .await;
    let before = harbor.session.window_handles().await.unwrap();
    harbor.session.goto(&outer.url("/")).await.unwrap();
    let page_tab = harbor.session.window_handle().await.unwrap();
    let loaded = harbor.wait_for("window.__seen.length >= 19 && window.__seen", Duration::from_secs(20)).await.unwrap();
    for seen in loaded.as_array().unwrap() {
        assert_eq!(
            seen["outcome"],
            json!({"err": "ERR_PERMISSION_DENIED", "reason": "user_activation_required"}),
            "{seen}"
        );
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(harbor.session.window_handles().await.unwrap(), before, "a prompt opened without a click");

    // The user clicks in two widgets: one prompt opens; the other waits behind it.
    for frame in [0, 1] {
        harbor.session.switch_to_frame(frame).await.unwrap();
        let button = harbor.session.find("#ask").await.unwrap();
        harbor.session.click(&button).await.unwrap();
        harbor.session.switch_to_top().await.unwrap();
    }
    let first = harbor.new_window(&before, Duration::from_secs(10)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(harbor.session.window_handles().await.unwrap().len(), before.len() + 1, "two prompts at once");
    harbor.arm_prompt(&first).await.unwrap();
    harbor.session.execute("document.querySelector('#deny').click();", json!([])).await.unwrap();
    // Then the second widget's prompt, alone.
    let mut known = before.clone();
    known.push(first);
    let second = harbor.new_window(&known, Duration::from_secs(10)).await.unwrap();
    assert_eq!(harbor.session.window_handles().await.unwrap().len(), before.len() + 1);
    harbor.arm_prompt(&second).await.unwrap();
    harbor.session.execute("document.querySelector('#deny').click();", json!([])).await.unwrap();
    harbor.session.switch_to_window(&page_tab).await.unwrap();
    let clicked = harbor
        .wait_for("window.__seen.filter(s => s.how === 'on click').length === 2 && window.__seen.filter(s => s.how === 'on click')", Duration::from_secs(10))
        .await
        .unwrap();
    for seen in clicked.as_array().unwrap() {
        assert_eq!(seen["outcome"]["granted"], false, "{seen}");
    }
    harbor.close().await;
}

#[tokio::test]
async fn fifty_calls_at_once_from_a_page_spend_exactly_a_budget_of_five_and_a_cancelled_run_is_audited() {
    let model = ScriptedModel::start(vec![Model::new("m")]).await;
    let harbor = harbor_with_probe().await;
    harbor.use_ollama(&model.url(), "m").await.unwrap();
    let site = Site::start(vec![("/", Page::html(PAGE))]).await;
    harbor.admin("permissions.setTools", json!({"origin": site.origin, "tools": ["probe/slow"]})).await.unwrap();
    for scope in ["mcp:tools.call", "model:tools"] {
        harbor
            .admin("permissions.set", json!({"origin": site.origin, "scope": scope, "grant": "ALLOW_ALWAYS"}))
            .await
            .unwrap();
    }
    let limits =
        json!({"maxToolCallsPerRun": 5, "maxConcurrentCalls": 2, "toolTimeoutMs": 30000, "toolCallsPerHour": 5});
    harbor.admin("permissions.setLimits", json!({"origin": site.origin, "limits": limits})).await.unwrap();
    harbor.session.goto(&site.url("/")).await.unwrap();
    let outcome = harbor
        .page(
            r#"const calls = [];
               for (let i = 0; i < 50; i++) {
                 calls.push(window.agent.tools.call({ tool: "probe/slow", args: { ms: 20, tag: String(i) } })
                   .then(() => "ok", (e) => e.code));
               }
               const codes = await Promise.all(calls);
               return { ok: codes.filter(c => c === "ok").length, limited: codes.filter(c => c === "ERR_RATE_LIMITED").length };"#,
        )
        .await
        .unwrap();
    assert_eq!(outcome["ok"], json!({"ok": 5, "limited": 45}), "{outcome}");
    let sites = harbor.admin("permissions.sites", json!({})).await.unwrap();
    assert_eq!(sites[0]["usage"]["toolCallsThisHour"], 5, "the Sites panel shows 5 of 5: {sites}");

    // A run the page aborts while the model is still thinking is in the audit log.
    model.push(Turn::new().pause(Duration::from_secs(10)).text("late"));
    let aborted = harbor
        .page(
            r#"const controller = new AbortController();
               setTimeout(() => controller.abort(), 300);
               try { for await (const _ of window.agent.run({ task: "think", signal: controller.signal })) {} return "finished"; }
               catch (e) { return e.code; }"#,
        )
        .await
        .unwrap();
    assert_eq!(aborted["ok"], "ERR_ABORTED", "{aborted}");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let audit = harbor.admin("audit.list", json!({"origin": site.origin, "limit": 1})).await.unwrap();
        if audit[0]["method"] == "agent.run" {
            assert_eq!(audit[0]["outcome"], "ERR_ABORTED", "{audit}");
            break;
        }
        assert!(Instant::now() < deadline, "the cancelled run left no audit record: {audit}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    harbor.close().await;
}

/// A page written exactly as Chrome's Prompt API documentation shows, run unchanged: feature
/// detection, availability and params, create with initial prompts and a monitor, prompt,
/// promptStreaming read with `for await` and with `getReader()`, append, the context counters,
/// clone, a JSON Schema responseConstraint, an abort with its AbortError, a page-defined tool the
/// model calls, and destroy.
#[tokio::test]
async fn a_page_written_for_chromes_prompt_api_runs_unchanged() {
    let model = ScriptedModel::start(vec![Model::new("m")]).await;
    let harbor = Harbor::launch(Options::default()).await.unwrap();
    let site = Site::start(vec![("/", Page::html(PAGE))]).await;
    harbor.use_ollama(&model.url(), "m").await.unwrap();
    harbor.allow_always(&site.origin, "model:prompt").await.unwrap();
    harbor.session.goto(&site.url("/")).await.unwrap();

    model.push(Turn::words("Hello."));
    model.push(Turn::words("More words here"));
    model.push(Turn::words("Again then"));
    model.push(Turn::new().text(r#"{"rating": 4}"#));
    model.push(Turn::new().pause(Duration::from_secs(10)).text("too late"));
    model.push(Turn::new().tool_call("getWeather", json!({"location": "Paris"})));
    model.push(Turn::words("Sunny in Paris."));
    let started = std::time::Instant::now();
    let outcome = harbor
        .page(
            r#"if (!("LanguageModel" in self)) return "no LanguageModel";
               const availability = await LanguageModel.availability({ expectedInputs: [{ type: "text", languages: ["en"] }] });
               const imageAvailability = await LanguageModel.availability({ expectedInputs: [{ type: "image" }] });
               const params = await LanguageModel.params();
               const progress = [];
               const session = await LanguageModel.create({
                 initialPrompts: [{ role: "system", content: "You are terse." }],
                 monitor(m) { m.addEventListener("downloadprogress", (e) => progress.push(e.loaded)); },
               });
               const first = await session.prompt("Hi");
               let streamed = "";
               for await (const chunk of session.promptStreaming("Tell me more")) streamed += chunk;
               const stream = session.promptStreaming("Again");
               const reader = stream.getReader();
               let read = "";
               for (;;) { const { done, value } = await reader.read(); if (done) break; read += value; }
               const before = session.contextUsage;
               await session.append([{ role: "user", content: [{ type: "text", value: "Remember: blue." }] }]);
               const appended = session.contextUsage > before;
               const measured = await session.measureContextUsage("How long is this?");
               const copy = await session.clone();
               const cloned = copy.contextUsage === session.contextUsage;
               const rated = JSON.parse(await session.prompt("Rate it", {
                 responseConstraint: { type: "object", properties: { rating: { type: "number" } }, required: ["rating"] } }));
               const controller = new AbortController();
               const slow = session.prompt("Take your time", { signal: controller.signal });
               setTimeout(() => controller.abort(), 300);
               let aborted;
               try { await slow; } catch (e) { aborted = [e.name, e.code, e instanceof DOMException]; }
               let regexp;
               try { await session.prompt("x", { responseConstraint: /yes|no/ }); } catch (e) { regexp = e.name; }
               const asked = [];
               const tooled = await LanguageModel.create({
                 tools: [{
                   name: "getWeather",
                   description: "Get the weather in a location.",
                   inputSchema: { type: "object", properties: { location: { type: "string" } }, required: ["location"] },
                   async execute({ location }) { asked.push(location); return JSON.stringify({ sky: "sunny" }); },
                 }],
               });
               const weather = await tooled.prompt("What is the weather in Paris?");
               session.destroy();
               let destroyed;
               try { await session.prompt("x"); } catch (e) { destroyed = e.name; }
               return { availability, imageAvailability, maxTopK: params.maxTopK, progress, first, streamed, read,
                        appended, measured, window: session.contextWindow, cloned, rated, aborted, regexp, asked,
                        weather, destroyed };"#,
        )
        .await
        .unwrap();
    assert_eq!(
        outcome["ok"],
        json!({
            "availability": "available", "imageAvailability": "unavailable", "maxTopK": 100, "progress": [0, 1],
            "first": "Hello.", "streamed": "More words here", "read": "Again then", "appended": true,
            "measured": 9, "window": 8192, "cloned": true, "rated": {"rating": 4},
            "aborted": ["AbortError", "ERR_ABORTED", true], "regexp": "NotSupportedError", "asked": ["Paris"],
            "weather": "Sunny in Paris.", "destroyed": "InvalidStateError"
        }),
        "{outcome}: the model was asked {:?}",
        model
            .chat_requests()
            .iter()
            .map(|r| r.body["messages"].as_array().unwrap().last().unwrap()["content"].clone())
            .collect::<Vec<_>>()
    );
    assert!(started.elapsed() < Duration::from_secs(8), "the abort did not wait for the slow answer");
    let requests = model.chat_requests();
    let tool_turn = requests.last().unwrap().body["messages"].as_array().unwrap().clone();
    let result = tool_turn.iter().find(|m| m["role"] == "tool").unwrap_or_else(|| panic!("{tool_turn:?}"));
    assert_eq!(result["content"], "{\"sky\":\"sunny\"}", "the page's execute answered the model");
    harbor.close().await;
}

/// `agent.sessions` from a real page: the session keeps to the site's tools and its own limit,
/// and terminating it ends its call in flight, which rejects as an `AbortError`.
#[tokio::test]
async fn an_agent_session_keeps_its_limit_and_terminate_ends_its_call() {
    let harbor = harbor_with_probe().await;
    let site = Site::start(vec![("/", Page::html("<!doctype html><p>sessions</p>"))]).await;
    harbor.allow_always(&site.origin, "mcp:tools.call").await.unwrap();
    harbor
        .admin("permissions.setTools", json!({"origin": site.origin, "tools": ["probe/echo", "probe/slow"]}))
        .await
        .unwrap();
    harbor.session.goto(&site.url("/")).await.unwrap();
    let seen = harbor
        .page(
            r#"const session = await window.agent.sessions.create({
                 name: "helper", capabilities: { tools: ["probe/echo", "probe/slow", "probe/stats"] },
                 limits: { maxToolCalls: 2 } });
               const first = await session.callTool("probe/echo", { text: "one" });
               let over;
               try { await session.callTool({ tool: "probe/echo", args: { text: "x" } });
                     await session.callTool("probe/echo", { text: "y" }); }
               catch (e) { over = [e.name, e.code]; }
               const slowSession = await window.agent.sessions.create({ capabilities: { tools: ["probe/slow"] } });
               const slow = slowSession.callTool("probe/slow", { ms: 20000, tag: "page-session" })
                 .then(() => "finished", (e) => [e.name, e.code]);
               await new Promise((r) => setTimeout(r, 500));
               const t = performance.now();
               await slowSession.terminate();
               const ended = await slow;
               return { tools: session.capabilities.tools, first: first.content[0].text, over, ended,
                        endedWithin5s: performance.now() - t < 5000,
                        listed: (await window.agent.sessions.list()).map((s) => s.name) };"#,
        )
        .await
        .unwrap();
    let seen = &seen["ok"];
    assert_eq!(seen["tools"], json!(["probe/echo", "probe/slow"]), "only the allowed tools: {seen}");
    assert!(seen["first"].as_str().unwrap().contains("one"), "{seen}");
    assert_eq!(seen["over"], json!(["QuotaExceededError", "ERR_BUDGET_EXCEEDED"]), "{seen}");
    assert_eq!(seen["ended"], json!(["AbortError", "ERR_ABORTED"]), "{seen}");
    assert_eq!((seen["endedWithin5s"].as_bool(), &seen["listed"]), (Some(true), &json!(["helper"])), "{seen}");
    harbor.close().await;
}
