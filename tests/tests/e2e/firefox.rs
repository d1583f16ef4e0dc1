//! Harbor in real headless Firefox: pages reach the bridge through the page API, the sidebar
//! shows the connection, a killed bridge fails calls fast and comes back, and a missing bridge
//! says how to install it.

use std::time::Duration;

use harbor_e2e::firefox::{Harbor, NativeHost, Options};
use harbor_e2e::site::{Page, Site};
use serde_json::{json, Value};

/// Records what the page saw before any of its own scripts ran, and whether the ready events
/// fired.
const EARLY_PAGE: &str = r#"<!doctype html><html><head><script>
window.__seenAtStart = { harbor: typeof window.harbor, ai: typeof window.ai, agent: typeof window.agent };
window.__ready = [];
addEventListener("harbor-provider-ready", () => window.__ready.push("harbor-provider-ready"));
addEventListener("agent-ready", (e) => { window.__ready.push("agent-ready"); window.__detail = e.detail; });
</script></head><body><p>early</p></body></html>"#;

/// A page whose CSP forbids every script of its own.
const CSP_PAGE: &str = "<!doctype html><html><body><p>strict</p></body></html>";

async fn site() -> Site {
    Site::start(vec![
        ("/early", Page::html(EARLY_PAGE)),
        ("/csp", Page::html(CSP_PAGE).header("Content-Security-Policy", "default-src 'none'; script-src 'none'")),
    ])
    .await
}

#[tokio::test]
async fn pages_and_the_sidebar_reach_the_bridge() {
    let harbor = Harbor::launch(Options { host: NativeHost::Bridge, ..Options::default() }).await.unwrap();
    let site = site().await;

    harbor.session.goto(&site.url("/early")).await.unwrap();
    let seen = harbor.wait_for("window.__seenAtStart", Duration::from_secs(5)).await.unwrap();
    assert_eq!(
        seen,
        json!({"harbor": "object", "ai": "object", "agent": "object"}),
        "the API exists before the page's scripts"
    );
    let ready = harbor.wait_for("window.__ready.length === 2 && window.__ready", Duration::from_secs(5)).await.unwrap();
    assert_eq!(ready, json!(["harbor-provider-ready", "agent-ready"]));
    // The reference implementation's feature detection: a CustomEvent's detail, and capabilities().
    let detail = harbor.page("return [window.__detail, await window.agent.capabilities()];").await.unwrap();
    assert_eq!(detail["ok"][0], detail["ok"][1], "{detail}");
    assert_eq!(detail["ok"][0]["version"], "0.1.0");
    assert_eq!(detail["ok"][0]["features"]["textGeneration"], true, "{detail}");
    assert_eq!(detail["ok"][0]["features"]["browserControl"], false, "{detail}");

    let info = harbor.page("return await window.harbor.system.info();").await.unwrap();
    assert_eq!(info["ok"]["name"], "harbor-bridge", "{info}");
    assert_eq!(info["ok"]["version"], env!("CARGO_PKG_VERSION"));
    assert!(info["ok"].get("dataDir").is_none(), "a page is not told where Harbor keeps its data: {info}");

    // window.agent answers through the permission layer: nothing granted yet.
    let agent = harbor.page("return await window.agent.tools.list();").await.unwrap();
    assert_eq!(agent["err"]["code"], "ERR_SCOPE_REQUIRED", "{agent}");

    harbor.session.goto(&site.url("/csp")).await.unwrap();
    let info = harbor.page("return [typeof window.agent, (await window.harbor.system.info()).name];").await.unwrap();
    assert_eq!(info["ok"], json!(["object", "harbor-bridge"]), "strict CSP page: {info}");

    // A page that skips the page API and posts a privileged method to the relay itself, claiming
    // to be the extension, is refused: the background builds the caller from port.sender.
    let forged = harbor
        .post_to_relay(json!({"id": "raw", "method": "servers.list", "params": {},
                              "caller": {"kind": "extension", "origin": "moz-extension://evil"}}))
        .await
        .unwrap();
    assert_eq!(forged["error"]["code"], "ERR_PERMISSION_DENIED", "{forged}");

    // 5 MiB out and back, from Harbor's own page: the reply crosses the 1 MiB host limit in
    // chunk frames. (A web page may echo only 64 KiB.)
    let payload = "héllo \"harbor\" 😀 ".repeat(5 * 1024 * 1024 / 20 + 1);
    let echo = harbor.admin("system.echo", json!({ "payload": payload })).await.unwrap();
    assert!(echo["payload"] == payload.as_str(), "the 5 MiB echo came back changed");
    assert!(payload.len() >= 5 * 1024 * 1024);

    // The sidebar page, at its fixed URL, shows the live connection.
    harbor.session.goto(&harbor.extension_url("sidebar/index.html")).await.unwrap();
    let text = harbor
        .wait_for("document.querySelector('[data-state=connected]')?.textContent", Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(text, format!("connected to harbor-bridge {}", env!("CARGO_PKG_VERSION")));
    harbor.save_screenshot("sidebar-connected.png").await.unwrap();
    // The real sidebar panel, in Firefox's window.
    harbor.session.set_context("chrome").await.unwrap();
    harbor.save_screenshot("window-with-sidebar.png").await.unwrap();
    harbor.close().await;
}

#[tokio::test]
async fn a_killed_bridge_rejects_calls_at_once_and_comes_back() {
    let harbor = Harbor::launch(Options { host: NativeHost::Bridge, ..Options::default() }).await.unwrap();
    let site = site().await;
    harbor.session.goto(&site.url("/early")).await.unwrap();
    let first = harbor.page("return (await window.harbor.system.info()).name;").await.unwrap();
    assert_eq!(first["ok"], "harbor-bridge");
    let pids = harbor.bridge_pids();
    assert_eq!(pids.len(), 1, "one bridge runs for this Firefox: {pids:?}");

    harbor
        .session
        .execute(
            "window.__outcome = null;
             window.harbor.system.echo({ delayMs: 8000 }).then(
               () => { window.__outcome = { resolved: true }; },
               (e) => { window.__outcome = { code: e.code, message: e.message, at: performance.now() }; });",
            json!([]),
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let killed_at = harbor.session.execute("return performance.now();", json!([])).await.unwrap().as_f64().unwrap();
    let status = std::process::Command::new("kill").args(["-9", &pids[0].to_string()]).status().unwrap();
    assert!(status.success());

    let outcome = harbor.wait_for("window.__outcome", Duration::from_secs(5)).await.unwrap();
    assert_eq!(outcome["code"], "ERR_INTERNAL", "{outcome}");
    let waited = outcome["at"].as_f64().unwrap() - killed_at;
    assert!(waited < 1000.0, "the page waited {waited:.0} ms after the bridge died");

    let again = harbor.page("return (await window.harbor.system.info()).name;").await.unwrap();
    assert_eq!(again["ok"], "harbor-bridge", "the next call works after the reconnect: {again}");
    let new_pids = harbor.bridge_pids();
    assert_eq!(new_pids.len(), 1);
    assert_ne!(new_pids, pids, "a fresh bridge process serves");
    harbor.close().await;
}

#[tokio::test]
async fn without_the_bridge_calls_say_how_to_install_it() {
    let harbor = Harbor::launch(Options { host: NativeHost::Missing, ..Options::default() }).await.unwrap();
    let site = site().await;
    harbor.session.goto(&site.url("/early")).await.unwrap();
    let outcome = harbor.page("return await window.harbor.system.info();").await.unwrap();
    assert_eq!(outcome["err"]["code"], "ERR_NOT_INSTALLED", "{outcome}");
    assert!(outcome["err"]["message"].as_str().unwrap().contains("harbor-bridge install"), "{outcome}");

    harbor.session.goto(&harbor.extension_url("sidebar/index.html")).await.unwrap();
    let text = harbor
        .wait_for("document.querySelector('[data-state=not_installed]')?.textContent", Duration::from_secs(10))
        .await
        .unwrap();
    assert!(text.as_str().unwrap().contains("not installed"), "{text}");
    harbor.save_screenshot("sidebar-not-installed.png").await.unwrap();
    harbor.close().await;
}

#[tokio::test]
async fn the_sidebar_adds_starts_tries_and_stops_a_real_server() {
    let everything = harbor_e2e::paths::everything().unwrap();
    let harbor = Harbor::launch(Options { host: NativeHost::Bridge, ..Options::default() }).await.unwrap();
    harbor.session.goto(&harbor.extension_url("sidebar/index.html")).await.unwrap();
    harbor.wait_for("document.querySelector('.servers .empty')", Duration::from_secs(10)).await.unwrap();

    // Add through the form, as a user types it.
    let typed = harbor
        .page(&format!(
            r##"const set = (el, v) => {{ el.value = v; el.dispatchEvent(new Event("input", {{ bubbles: true }})); }};
               set(document.querySelector("#add-id"), "everything");
               set(document.querySelector("#add-target"), "node {} stdio");
               document.querySelector(".add-server button[type=submit]").click();"##,
            everything.display()
        ))
        .await
        .unwrap();
    assert!(typed.get("ok").is_some(), "{typed}");
    harbor
        .wait_for("document.querySelector('[data-server=everything][data-state=stopped]')", Duration::from_secs(10))
        .await
        .unwrap();

    // Start it and watch the state reach running, pushed by the bridge's notifications.
    click_server_button(&harbor, "everything", "Start").await;
    harbor
        .wait_for("document.querySelector('[data-server=everything][data-state=running]')", Duration::from_secs(20))
        .await
        .unwrap();

    // Open its tools and run echo through the form generated from its schema.
    click_server_button(&harbor, "everything", "Tools").await;
    harbor
        .wait_for("document.querySelector('[data-tool=\"everything/echo\"]')", Duration::from_secs(10))
        .await
        .unwrap();
    harbor
        .page(
            r#"const tool = document.querySelector('[data-tool="everything/echo"]');
               tool.open = true;
               const input = tool.querySelector('input[name=message]');
               input.value = "hi from the sidebar";
               input.dispatchEvent(new Event("input", { bubbles: true }));
               tool.querySelector("button[type=submit]").click();"#,
        )
        .await
        .unwrap();
    let result = harbor
        .wait_for(
            "document.querySelector('[data-tool=\"everything/echo\"] .result')?.textContent",
            Duration::from_secs(10),
        )
        .await
        .unwrap();
    assert_eq!(result, "Echo: hi from the sidebar");
    harbor.save_screenshot("sidebar-servers.png").await.unwrap();

    // Its resources: read the first; its prompts: get one.
    click_server_button(&harbor, "everything", "Resources").await;
    harbor
        .wait_for("document.querySelector('[data-server=everything] .resource button')", Duration::from_secs(10))
        .await
        .unwrap();
    harbor
        .session
        .execute("document.querySelector('[data-server=everything] .resource button').click();", json!([]))
        .await
        .unwrap();
    let contents = harbor
        .wait_for(
            "document.querySelector('[data-server=everything] .resource-contents')?.textContent",
            Duration::from_secs(10),
        )
        .await
        .unwrap();
    assert!(!contents.as_str().unwrap().is_empty(), "the resource's contents are shown");
    click_server_button(&harbor, "everything", "Prompts").await;
    harbor
        .wait_for(
            "document.querySelector('[data-prompt=\"simple-prompt\"] button[type=submit]')",
            Duration::from_secs(10),
        )
        .await
        .unwrap();
    harbor
        .session
        .execute("document.querySelector('[data-prompt=\"simple-prompt\"] button[type=submit]').click();", json!([]))
        .await
        .unwrap();
    let messages = harbor
        .wait_for(
            "document.querySelector('[data-prompt=\"simple-prompt\"] .prompt-messages')?.textContent",
            Duration::from_secs(10),
        )
        .await
        .unwrap();
    assert!(messages.as_str().unwrap().starts_with("user: "), "{messages}");

    click_server_button(&harbor, "everything", "Stop").await;
    harbor
        .wait_for("document.querySelector('[data-server=everything][data-state=stopped]')", Duration::from_secs(10))
        .await
        .unwrap();
    let raw_dump = harbor.session.execute("return document.body.innerText.includes('{\"');", json!([])).await.unwrap();
    assert_eq!(raw_dump, json!(false), "the panel shows no raw JSON");
    harbor.close().await;
}

#[tokio::test]
async fn every_sidebar_panel_reads_well_in_light_and_dark() {
    let python = harbor_e2e::paths::test_servers().unwrap().join("venv/bin/python");
    for (theme, dark, background) in [("light", false, "rgb(249, 249, 251)"), ("dark", true, "rgb(28, 27, 34)")] {
        let harbor = Harbor::launch(Options { dark, ..Options::default() }).await.unwrap();
        // At the width of Firefox's sidebar.
        harbor.set_viewport(360, 900).await.unwrap();
        // A server added from the terminal appears in the sidebar: the CLI reaches the same bridge.
        let added = std::process::Command::new(harbor_e2e::paths::bridge_binary().unwrap())
            .args(["servers", "add", "time", "--"])
            .arg(&python)
            .args(["-m", "mcp_server_time", "--local-timezone", "UTC"])
            .env("HOME", &harbor.home)
            .env("HARBOR_HOME", &harbor.data_dir)
            .output()
            .unwrap();
        assert!(added.status.success(), "{}", String::from_utf8_lossy(&added.stderr));
        harbor.session.goto(&harbor.extension_url("sidebar/index.html")).await.unwrap();
        harbor.wait_for("document.querySelector('[data-server=time]')", Duration::from_secs(10)).await.unwrap();
        // The sidebar opens on Chat, its navigation is one row, and the connection one line.
        let frame = harbor
            .session
            .execute(
                "const tabs = [...document.querySelectorAll('.tabs > button, .more-button')];
                 return { width: innerWidth, chat: document.querySelector('#tab-chat').getAttribute('aria-selected'),
                          rows: new Set(tabs.map(t => t.getBoundingClientRect().top)).size, tabs: tabs.length,
                          header: document.querySelector('.top').getBoundingClientRect().height };",
                json!([]),
            )
            .await
            .unwrap();
        assert_eq!(frame["width"], 360, "{theme}: read at the sidebar's width: {frame}");
        assert_eq!(frame["chat"], "true", "{frame}");
        assert_eq!((frame["rows"].as_u64(), frame["tabs"].as_u64()), (Some(1), Some(5)), "one navigation row: {frame}");
        assert!(frame["header"].as_f64().unwrap() < 48.0, "the header and connection take one line: {frame}");
        harbor.session.execute("document.querySelector('#tab-servers').click();", json!([])).await.unwrap();
        click_server_button(&harbor, "time", "Start").await;
        harbor
            .wait_for("document.querySelector('[data-server=time][data-state=running]')", Duration::from_secs(20))
            .await
            .unwrap();
        click_server_button(&harbor, "time", "Tools").await;
        harbor
            .wait_for("document.querySelector('[data-tool=\"time/get_current_time\"]')", Duration::from_secs(10))
            .await
            .unwrap();
        let look = harbor
            .session
            .execute(
                "return { background: getComputedStyle(document.body).backgroundColor,
                          text: document.body.innerText.length,
                          rawJson: document.body.innerText.includes('{\"') };",
                json!([]),
            )
            .await
            .unwrap();
        assert_eq!(look["background"], background, "{theme} theme: {look}");
        assert!(look["text"].as_u64().unwrap() > 100, "{theme}: the sidebar is not empty");
        assert_eq!(look["rawJson"], false, "{theme}: no raw JSON dump");
        harbor.save_screenshot(&format!("sidebar-{theme}.png")).await.unwrap();
        // Every other panel too: something to read, no raw JSON, and its own screenshot.
        for tab in ["servers", "directory", "chat", "sites", "import", "gateway", "settings"] {
            let script = format!("document.querySelector('#tab-{tab}').click();");
            harbor.session.execute(&script, json!([])).await.unwrap();
            let shown = format!(
                "(() => {{ const p = document.querySelector('[aria-labelledby=tab-{tab}]');
                   return !p.hidden && !p.innerText.includes('Loading') && p.innerText.length > 40 ? p.innerText : null; }})()"
            );
            let text = harbor.wait_for(&shown, Duration::from_secs(10)).await.unwrap();
            assert!(!text.as_str().unwrap().contains("{\""), "{theme} {tab}: no raw JSON dump");
            // Nothing is wider than the sidebar.
            let overflow = harbor
                .session
                .execute("return document.documentElement.scrollWidth - innerWidth;", json!([]))
                .await
                .unwrap();
            assert!(overflow.as_i64().unwrap() <= 0, "{theme} {tab}: {overflow} px wider than the sidebar");
            // Every control has a name a screen reader can say.
            let unnamed = harbor
                .session
                .execute(
                    &format!(
                        "const all = [...document.querySelectorAll('[aria-labelledby=tab-{tab}] :is(input, select, textarea, button)')];
                         return [all.length, all
                           .filter(el => el.type !== 'hidden' && !el.getAttribute('aria-label') && !el.getAttribute('aria-labelledby')
                                   && !(el.labels && el.labels.length) && !el.title
                                   && !(el.tagName === 'BUTTON' && el.textContent.trim()))
                           .map(el => el.outerHTML.slice(0, 160))];"
                    ),
                    json!([]),
                )
                .await
                .unwrap();
            // (Sites shows only its empty state here: no site has asked yet.)
            assert!(tab == "sites" || unnamed[0].as_u64().unwrap() > 0, "{tab}: no controls found to check");
            assert_eq!(unnamed[1], json!([]), "{tab}: controls without a name");
            harbor.save_screenshot(&format!("sidebar-{tab}-{theme}.png")).await.unwrap();
        }
        harbor.close().await;
    }
}

/// The chat panel end to end: with no model server it says what it tried and lets the user name
/// one; then a question streams its answer in, the real time server's result shows as a tool
/// card while the model is still writing, and the conversation is there again after the sidebar
/// is reopened.
#[tokio::test]
async fn the_sidebar_chats_with_a_model_that_calls_a_real_tool() {
    use harbor_model_double::{Model, ScriptedModel, Turn};
    let model = ScriptedModel::start(vec![Model::new("llama3.2:3b")]).await;
    let python = harbor_e2e::paths::test_servers().unwrap().join("venv/bin/python");
    let harbor = Harbor::launch(Options::default()).await.unwrap();
    harbor.session.goto(&harbor.extension_url("sidebar/index.html")).await.unwrap();
    harbor.wait_for("document.querySelector('#tab-chat')", Duration::from_secs(10)).await.unwrap();
    // The time server, added and started from the terminal in the bridge Firefox runs.
    let python = python.to_str().unwrap();
    harbor.add_server("time", &[python, "-m", "mcp_server_time", "--local-timezone", "UTC"]).unwrap();

    harbor.session.execute("document.querySelector('#tab-chat').click();", json!([])).await.unwrap();
    let tried =
        harbor.wait_for("document.querySelector('.no-model')?.innerText", Duration::from_secs(10)).await.unwrap();
    let tried = tried.as_str().unwrap();
    assert!(tried.contains("No model is reachable") && tried.contains("ollama serve"), "{tried}");
    harbor.save_screenshot("sidebar-chat-no-model.png").await.unwrap();

    harbor
        .page(&format!(
            r##"const url = document.querySelector("#model-url");
               url.value = "{}"; url.dispatchEvent(new Event("input", {{ bubbles: true }}));
               document.querySelector(".model-server button[type=submit]").click();"##,
            model.url()
        ))
        .await
        .unwrap();
    harbor
        .wait_for("document.querySelector('#chat-model')?.value.includes('llama3.2:3b')", Duration::from_secs(10))
        .await
        .unwrap();

    model.push(Turn::new().tool_call("time__get_current_time", serde_json::json!({"timezone": "Asia/Tokyo"})));
    model.push(Turn::new().text("In Tokyo ").pause(Duration::from_millis(1500)).text("it is evening."));
    harbor.send_chat("What time is it in Tokyo?").await.unwrap();
    let result = harbor
        .wait_for(
            "document.querySelector('.tool-card.done[data-tool=\"time/get_current_time\"] .tool-result')?.textContent",
            Duration::from_secs(20),
        )
        .await
        .unwrap();
    assert!(result.as_str().unwrap().contains("+09:00"), "the real server's answer: {result}");
    // The first words are on screen while the model is still writing (the stop button is up).
    let partial = harbor
        .wait_for(
            // (Rendered as Markdown: the paragraph so far, its trailing space trimmed.)
            "document.querySelector('.msg.assistant')?.textContent === 'In Tokyo' && !!document.querySelector('button.stop')",
            Duration::from_secs(10),
        )
        .await;
    assert!(partial.is_ok(), "the answer streamed in: {partial:?}");
    harbor
        .wait_for(
            "document.querySelector('.msg.assistant')?.textContent === 'In Tokyo it is evening.' && !document.querySelector('button.stop')",
            Duration::from_secs(10),
        )
        .await
        .unwrap();
    harbor.save_screenshot("sidebar-chat.png").await.unwrap();

    // Reopened, the sidebar lists the conversation under its first message and shows it again.
    harbor.session.goto(&harbor.extension_url("sidebar/index.html")).await.unwrap();
    harbor.wait_for("document.querySelector('#tab-chat')", Duration::from_secs(10)).await.unwrap();
    harbor.session.execute("document.querySelector('#tab-chat').click();", json!([])).await.unwrap();
    harbor
        .wait_for("[...document.querySelectorAll('#chat-session option')].some(o => o.textContent === 'What time is it in Tokyo?')", Duration::from_secs(10))
        .await
        .unwrap();
    harbor
        .page(
            r##"const pick = document.querySelector("#chat-session");
               pick.value = [...pick.options].find(o => o.textContent === "What time is it in Tokyo?").value;
               pick.dispatchEvent(new Event("change", { bubbles: true }));"##,
        )
        .await
        .unwrap();
    harbor
        .wait_for(
            "document.querySelectorAll('.conversation .msg').length === 3 && document.querySelector('.tool-card .tool-result').textContent.includes('+09:00')",
            Duration::from_secs(10),
        )
        .await
        .unwrap();

    // Renamed, then deleted (the second click confirms).
    harbor.session.execute("document.querySelector('.rename-session').click();", json!([])).await.unwrap();
    harbor.wait_for("document.querySelector('#chat-rename')", Duration::from_secs(5)).await.unwrap();
    harbor
        .page(
            r##"const input = document.querySelector("#chat-rename");
               input.value = "Tokyo time"; input.dispatchEvent(new Event("input", { bubbles: true }));
               document.querySelector(".rename button[type=submit]").click();"##,
        )
        .await
        .unwrap();
    harbor
        .wait_for(
            "[...document.querySelectorAll('#chat-session option')].some(o => o.textContent === 'Tokyo time')",
            Duration::from_secs(10),
        )
        .await
        .unwrap();
    for _ in 0..2 {
        harbor.session.execute("document.querySelector('.delete-session').click();", json!([])).await.unwrap();
    }
    harbor
        .wait_for("document.querySelectorAll('#chat-session option').length === 1 && !document.querySelector('.conversation .msg')", Duration::from_secs(10))
        .await
        .unwrap();
    harbor.close().await;
}

/// Import from the sidebar: Harbor finds the Claude Desktop config in the user's home, shows
/// each entry's exact command, leaves the one holding a token unchecked, imports the rest, and
/// the imported server starts.
#[tokio::test]
async fn the_sidebar_imports_a_claude_desktop_config_after_showing_its_commands() {
    let python = harbor_e2e::paths::test_servers().unwrap().join("venv/bin/python");
    let harbor = Harbor::launch(Options::default()).await.unwrap();
    let config_dir = harbor.home.join(".config/Claude");
    std::fs::create_dir_all(&config_dir).unwrap();
    let config = json!({"mcpServers": {
        "time": {"command": python, "args": ["-m", "mcp_server_time", "--local-timezone", "UTC"]},
        "github": {"command": "npx", "args": ["-y", "@modelcontextprotocol/server-github"], "env": {"GITHUB_PERSONAL_ACCESS_TOKEN": "ghp_e2eExample000"}}
    }});
    std::fs::write(config_dir.join("claude_desktop_config.json"), config.to_string()).unwrap();

    harbor.session.goto(&harbor.extension_url("sidebar/index.html")).await.unwrap();
    harbor.wait_for("document.querySelector('#tab-import')", Duration::from_secs(10)).await.unwrap();
    harbor.session.execute("document.querySelector('#tab-import').click();", json!([])).await.unwrap();
    let found = harbor
        .wait_for(
            "document.querySelector('.found[data-client=\"Claude Desktop\"]')?.innerText",
            Duration::from_secs(10),
        )
        .await
        .unwrap();
    assert!(found.as_str().unwrap().contains("2 servers"), "{found}");
    harbor
        .session
        .execute("document.querySelector('.found[data-client=\"Claude Desktop\"] button').click();", json!([]))
        .await
        .unwrap();
    let shown = harbor
        .wait_for(
            "document.querySelector('[data-import=time] pre') && {
               time: document.querySelector('[data-import=time] pre').textContent,
               timeChecked: document.querySelector('[data-import=time] input').checked,
               githubDisabled: document.querySelector('[data-import=github] input').disabled,
               githubNote: document.querySelector('[data-import=github] .help').textContent,
               secretShown: document.body.innerText.includes('ghp_') }",
            Duration::from_secs(10),
        )
        .await
        .unwrap();
    assert_eq!(shown["time"], format!("{} -m mcp_server_time --local-timezone UTC", python.display()));
    assert_eq!((shown["timeChecked"].clone(), shown["githubDisabled"].clone()), (json!(true), json!(false)), "{shown}");
    assert!(
        shown["githubNote"].as_str().unwrap().contains("GITHUB_PERSONAL_ACCESS_TOKEN) go to the OS keychain"),
        "{shown}"
    );
    assert_eq!(shown["secretShown"], false);
    harbor.save_screenshot("sidebar-import.png").await.unwrap();
    harbor.session.execute("document.querySelector('.do-import').click();", json!([])).await.unwrap();
    harbor
        .wait_for(
            "document.querySelector('.review .state.ok')?.textContent.startsWith('Imported') || null",
            Duration::from_secs(10),
        )
        .await
        .unwrap();
    let kept = harbor.admin("secrets.status", json!({})).await.unwrap();
    assert_eq!(
        kept["secrets"][0]["id"], "github/GITHUB_PERSONAL_ACCESS_TOKEN",
        "the token went to the keychain: {kept}"
    );

    start_in_servers_panel(&harbor, "time").await;
    harbor.close().await;
}

/// The directory in the sidebar: search, see what an entry needs, install one for real from its
/// registry with the installer's output showing, then start it.
#[tokio::test]
async fn the_sidebar_directory_installs_a_server_with_progress() {
    let harbor = Harbor::launch(Options::default()).await.unwrap();
    harbor.session.goto(&harbor.extension_url("sidebar/index.html")).await.unwrap();
    harbor.wait_for("document.querySelector('#tab-directory')", Duration::from_secs(10)).await.unwrap();
    harbor.session.execute("document.querySelector('#tab-directory').click();", json!([])).await.unwrap();
    harbor.wait_for("document.querySelectorAll('.catalog-entry').length >= 12", Duration::from_secs(10)).await.unwrap();

    // An entry that needs folders asks for them first.
    harbor
        .session
        .execute("document.querySelector('[data-entry=filesystem] button.install').click();", json!([]))
        .await
        .unwrap();
    harbor
        .wait_for("document.querySelector('[data-entry=filesystem] textarea')", Duration::from_secs(5))
        .await
        .unwrap();

    harbor
        .page(
            r##"const search = document.querySelector("#directory-search");
               search.value = "time zone"; search.dispatchEvent(new Event("input", { bubbles: true }));"##,
        )
        .await
        .unwrap();
    harbor
        .wait_for(
            "document.querySelectorAll('.catalog-entry').length === 1 && document.querySelector('[data-entry=time]')",
            Duration::from_secs(10),
        )
        .await
        .unwrap();
    harbor
        .session
        .execute("document.querySelector('[data-entry=time] button.install').click();", json!([]))
        .await
        .unwrap();
    harbor.wait_for("document.querySelector('.install-progress progress')", Duration::from_secs(10)).await.unwrap();
    harbor.save_screenshot("sidebar-directory-installing.png").await.unwrap();
    let done = harbor
        .wait_for("document.querySelector('.install-done, .install-failed')?.textContent", Duration::from_secs(180))
        .await
        .unwrap();
    assert_eq!(done, "Installed Time 2026.10.19 as time. Start it in Servers.");
    let log =
        harbor.session.execute("return document.querySelector('.install-log').textContent;", json!([])).await.unwrap();
    assert!(!log.as_str().unwrap().is_empty(), "the installer's output was shown");
    harbor
        .wait_for(
            "document.querySelector('[data-entry=time] .badge')?.textContent === 'installed as time'",
            Duration::from_secs(10),
        )
        .await
        .unwrap();

    // Something pasted that is not a package, a git URL or a server.json says what it takes.
    harbor
        .page(
            r##"const spec = document.querySelector("#install-spec");
               spec.value = "leftpad"; spec.dispatchEvent(new Event("input", { bubbles: true }));
               document.querySelector(".install-package button[type=submit]").click();"##,
        )
        .await
        .unwrap();
    let refused = harbor
        .wait_for("document.querySelector('.install-failed')?.textContent", Duration::from_secs(10))
        .await
        .unwrap();
    assert!(refused.as_str().unwrap().contains("npm:NAME[@VERSION]"), "{refused}");

    start_in_servers_panel(&harbor, "time").await;
    harbor.close().await;
}

/// A secret typed into a server's settings goes to the keychain: the sidebar shows only that it
/// is set, and the server finds it in its environment when it starts.
#[tokio::test]
async fn the_sidebar_keeps_a_server_secret_that_the_server_receives() {
    let everything = harbor_e2e::paths::everything().unwrap();
    let harbor = Harbor::launch(Options { host: NativeHost::Bridge, ..Options::default() }).await.unwrap();
    harbor.session.goto(&harbor.extension_url("sidebar/index.html")).await.unwrap();
    let launch = json!({"kind": "process", "command": "node", "args": [everything, "stdio"]});
    harbor.admin("servers.add", json!({"id": "everything", "launch": launch})).await.unwrap();
    harbor.wait_for("document.querySelector('[data-server=everything]')", Duration::from_secs(10)).await.unwrap();
    click_server_button(&harbor, "everything", "Settings").await;
    harbor
        .wait_for("document.querySelector('[data-server=everything] .add-secret')", Duration::from_secs(10))
        .await
        .unwrap();
    harbor
        .page(
            r#"const set = (el, v) => { el.value = v; el.dispatchEvent(new Event("input", { bubbles: true })); };
               const form = document.querySelector('[data-server=everything] .add-secret');
               set(form.querySelector('input[type=text]'), "API_KEY");
               set(form.querySelector('input[type=password]'), "sidebar-secret-42");
               form.querySelector('button').click();"#,
        )
        .await
        .unwrap();
    let badge = harbor
        .wait_for(
            "document.querySelector('[data-server=everything] [data-secret=API_KEY] .badge')?.textContent === 'set' || null",
            Duration::from_secs(10),
        )
        .await;
    let row =
        harbor.session.execute("return document.querySelector('[data-server=everything]').innerText;", json!([])).await;
    assert_eq!(badge.ok(), Some(json!(true)), "{row:?}");
    let shown = harbor
        .session
        .execute(
            "return document.body.innerText.includes('sidebar-secret-42') || [...document.querySelectorAll('input')].some(i => i.value.includes('sidebar-secret-42'));",
            json!([]),
        )
        .await
        .unwrap();
    assert_eq!(shown, json!(false), "the value is never shown back");
    harbor.save_screenshot("sidebar-server-settings.png").await.unwrap();

    start_in_servers_panel(&harbor, "everything").await;
    click_server_button(&harbor, "everything", "Tools").await;
    harbor
        .wait_for(
            "document.querySelector('[data-tool=\"everything/get-env\"] button[type=submit]')",
            Duration::from_secs(10),
        )
        .await
        .unwrap();
    harbor
        .page(
            r#"const tool = document.querySelector('[data-tool="everything/get-env"]');
               tool.open = true;
               tool.querySelector("button[type=submit]").click();"#,
        )
        .await
        .unwrap();
    let env = harbor
        .wait_for(
            "document.querySelector('[data-tool=\"everything/get-env\"] .result')?.textContent",
            Duration::from_secs(10),
        )
        .await
        .unwrap();
    // The server got it: its answer carried the value, which Harbor redacts from every result.
    let env = env.as_str().unwrap();
    assert!(
        env.contains("\"API_KEY\": \"[redacted: a secret Harbor keeps]\"") && !env.contains("sidebar-secret-42"),
        "the server got the secret: {env}"
    );
    harbor.close().await;
}

/// A server moves into Docker from its settings (a base image the user names) and back; inside,
/// it runs as nobody with no network. Needs the engine and image scripts/test provides.
#[tokio::test]
async fn the_sidebar_moves_a_server_into_docker_and_back() {
    assert!(std::env::var("DOCKER_HOST").is_ok(), "scripts/test starts a Docker engine and sets DOCKER_HOST");
    let program = harbor_e2e::paths::repo_root().join("target/debug/harbor-container-server");
    assert!(program.is_file(), "scripts/test-image builds {}", program.display());
    let harbor = Harbor::launch(Options { host: NativeHost::Bridge, ..Options::default() }).await.unwrap();
    harbor.session.goto(&harbor.extension_url("sidebar/index.html")).await.unwrap();
    harbor
        .admin("servers.add", json!({"id": "mover", "launch": {"kind": "process", "command": program}}))
        .await
        .unwrap();
    harbor.wait_for("document.querySelector('[data-server=mover]')", Duration::from_secs(10)).await.unwrap();
    click_server_button(&harbor, "mover", "Settings").await;
    harbor
        .wait_for("document.querySelector('[data-server=mover] .run-docker')", Duration::from_secs(10))
        .await
        .unwrap();
    harbor
        .page(
            r#"const input = document.querySelector('[data-server=mover] [id^=runtime-image]');
               input.value = "harbor-test/container-server:latest";
               input.dispatchEvent(new Event("input", { bubbles: true }));
               document.querySelector('[data-server=mover] .run-docker').click();"#,
        )
        .await
        .unwrap();
    let launch = harbor
        .wait_for(
            "document.querySelector('[data-server=mover] .launch')?.textContent.startsWith('docker:') || null",
            Duration::from_secs(20),
        )
        .await;
    let card =
        harbor.session.execute("return document.querySelector('[data-server=mover]').innerText;", json!([])).await;
    assert_eq!(launch.ok(), Some(json!(true)), "{card:?}");
    harbor.save_screenshot("sidebar-server-docker.png").await.unwrap();

    start_in_servers_panel(&harbor, "mover").await;
    click_server_button(&harbor, "mover", "Tools").await;
    harbor
        .wait_for(
            "document.querySelector('[data-tool=\"mover/inspect\"] button[type=submit]')",
            Duration::from_secs(10),
        )
        .await
        .unwrap();
    harbor
        .page(
            r#"const tool = document.querySelector('[data-tool="mover/inspect"]');
               tool.open = true;
               tool.querySelector("button[type=submit]").click();"#,
        )
        .await
        .unwrap();
    let inside = harbor
        .wait_for(
            "document.querySelector('[data-tool=\"mover/inspect\"] .result')?.textContent",
            Duration::from_secs(10),
        )
        .await
        .unwrap();
    let inside: Value = serde_json::from_str(inside.as_str().unwrap()).unwrap();
    assert_eq!((inside["uid"].clone(), inside["interfaces"].clone()), (json!("65534"), json!(["lo"])), "{inside}");

    click_server_button(&harbor, "mover", "Settings").await;
    harbor
        .wait_for("document.querySelector('[data-server=mover] .run-native')", Duration::from_secs(10))
        .await
        .unwrap();
    harbor
        .session
        .execute("document.querySelector('[data-server=mover] .run-native').click();", json!([]))
        .await
        .unwrap();
    harbor
        .wait_for(
            "(document.querySelector('[data-server=mover][data-state=running] .launch')?.textContent || '').includes('harbor-container-server') || null",
            Duration::from_secs(30),
        )
        .await
        .unwrap();
    harbor.close().await;
}

/// The Import panel writes Harbor's servers into a Cursor config after showing what it will do,
/// keeping the file's other keys and a backup.
#[tokio::test]
async fn the_sidebar_writes_harbors_servers_into_a_cursor_config() {
    let harbor = Harbor::launch(Options { host: NativeHost::Bridge, ..Options::default() }).await.unwrap();
    let dir = std::env::temp_dir().join(format!("harbor-e2e-export-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("mcp.json");
    std::fs::write(&config, r#"{"theme": "dark", "mcpServers": {"mine": {"command": "x"}}}"#).unwrap();
    harbor.session.goto(&harbor.extension_url("sidebar/index.html")).await.unwrap();
    let launch = json!({"kind": "process", "command": "node", "args": ["/opt/notes.js"]});
    harbor.admin("servers.add", json!({"id": "notes", "launch": launch})).await.unwrap();
    harbor.wait_for("document.querySelector('#tab-import')", Duration::from_secs(10)).await.unwrap();
    harbor.session.execute("document.querySelector('#tab-import').click();", json!([])).await.unwrap();
    harbor
        .page(&format!(
            r#"const input = document.querySelector('#export-file');
               input.value = {path};
               input.dispatchEvent(new Event("input", {{ bubbles: true }}));
               document.querySelector('.export-preview').click();"#,
            path = json!(config)
        ))
        .await
        .unwrap();
    harbor.wait_for("document.querySelector('[data-export=notes]')", Duration::from_secs(10)).await.unwrap();
    assert!(std::fs::read_to_string(&config).unwrap().contains("\"mine\""), "a preview writes nothing");
    harbor.session.execute("document.querySelector('.export-write').click();", json!([])).await.unwrap();
    let done =
        harbor.wait_for("document.querySelector('.export-done')?.textContent", Duration::from_secs(10)).await.unwrap();
    assert!(done.as_str().unwrap().contains("previous file is kept"), "{done}");
    let written: Value = serde_json::from_str(&std::fs::read_to_string(&config).unwrap()).unwrap();
    assert_eq!(written["theme"], "dark");
    assert_eq!(written["mcpServers"]["mine"]["command"], "x");
    assert_eq!(written["mcpServers"]["notes"]["args"][0], "/opt/notes.js");
    harbor.close().await;
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The Gateway panel end to end: an app is added (its key shown once), allowed one server, the
/// HTTP endpoint turned on; a real MCP request with that key lists and calls exactly that
/// server's tools; "Connect Cursor" writes Harbor's entry into Cursor's config in the user's home.
#[tokio::test]
async fn the_sidebar_connects_an_app_through_the_gateway() {
    let harbor = Harbor::launch(Options { host: NativeHost::Bridge, ..Options::default() }).await.unwrap();
    let python = harbor_e2e::paths::test_servers().unwrap().join("venv/bin/python");
    let time =
        json!({"kind": "process", "command": python, "args": ["-m", "mcp_server_time", "--local-timezone", "UTC"]});
    harbor.session.goto(&harbor.extension_url("sidebar/index.html")).await.unwrap();
    harbor.admin("servers.add", json!({"id": "time", "launch": time})).await.unwrap();
    harbor.admin("servers.start", json!({"id": "time"})).await.unwrap();
    harbor.wait_for("document.querySelector('#tab-gateway')", Duration::from_secs(10)).await.unwrap();
    harbor.session.execute("document.querySelector('#tab-gateway').click();", json!([])).await.unwrap();
    harbor
        .page(
            r#"const input = document.querySelector('#gateway-client-name');
               input.value = "cursor";
               input.dispatchEvent(new Event("input", { bubbles: true }));
               document.querySelector('.add-client button').click();"#,
        )
        .await
        .unwrap();
    let key = harbor
        .wait_for("document.querySelector('.fresh-key .key')?.textContent", Duration::from_secs(10))
        .await
        .unwrap();
    let key = key.as_str().unwrap().to_owned();
    assert!(key.starts_with("hbk_"), "{key}");
    harbor
        .wait_for("document.querySelector('[data-client=cursor] [data-server=time] input')", Duration::from_secs(10))
        .await
        .unwrap();
    harbor
        .session
        .execute("document.querySelector('[data-client=cursor] [data-server=time] input').click();", json!([]))
        .await
        .unwrap();
    harbor
        .page(
            r#"const port = document.querySelector('#gateway-port');
               port.value = "0";
               port.dispatchEvent(new Event("input", { bubbles: true }));
               document.querySelector('#gateway-http').click();"#,
        )
        .await
        .unwrap();
    let said = harbor
        .wait_for(
            "document.querySelector('.endpoint-url')?.textContent.match(/http:\\/\\/127\\.0\\.0\\.1:\\d+\\/mcp/)?.[0]",
            Duration::from_secs(10),
        )
        .await
        .unwrap();
    let url = said.as_str().unwrap().to_owned();
    harbor.save_screenshot("sidebar-gateway.png").await.unwrap();

    let http = reqwest::Client::new();
    let mcp = |session: Option<String>, body: Value| {
        let mut request = http
            .post(&url)
            .bearer_auth(&key)
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2025-06-18")
            .json(&body);
        if let Some(session) = session {
            request = request.header("mcp-session-id", session);
        }
        request.send()
    };
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "e2e", "version": "1"}}});
    let answer = mcp(None, init).await.unwrap();
    assert_eq!(answer.status(), 200);
    let session = answer.headers()["mcp-session-id"].to_str().unwrap().to_owned();
    mcp(Some(session.clone()), json!({"jsonrpc": "2.0", "method": "notifications/initialized"})).await.unwrap();
    let listed =
        sse_json(mcp(Some(session.clone()), json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"})).await.unwrap())
            .await;
    let mut names: Vec<&str> =
        listed["result"]["tools"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    names.sort();
    assert_eq!(names, ["time__convert_time", "time__get_current_time"]);
    let call = json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
        "params": {"name": "time__get_current_time", "arguments": {"timezone": "Asia/Tokyo"}}});
    let called = sse_json(mcp(Some(session), call).await.unwrap()).await;
    assert!(called["result"]["content"][0]["text"].as_str().unwrap().contains("Asia/Tokyo"), "{called}");

    harbor
        .session
        .execute("document.querySelector('[data-client=cursor] [data-app=cursor]').click();", json!([]))
        .await
        .unwrap();
    let notice = harbor
        .wait_for("document.querySelector('[data-client=cursor] .notice')?.textContent", Duration::from_secs(10))
        .await
        .unwrap();
    let config = harbor.home.join(".cursor/mcp.json");
    assert!(notice.as_str().unwrap().contains(&config.display().to_string()), "{notice}");
    let written: Value = serde_json::from_str(&std::fs::read_to_string(&config).unwrap()).unwrap();
    assert_eq!(written["mcpServers"]["harbor"]["args"], json!(["mcp", "--client", "cursor"]));
    harbor.close().await;
}

/// The JSON-RPC message of a Streamable HTTP answer, whether sent as JSON or as one SSE event.
async fn sse_json(response: reqwest::Response) -> Value {
    let text = response.text().await.unwrap();
    let data = text.lines().filter_map(|l| l.strip_prefix("data:")).map(str::trim).rfind(|d| !d.is_empty());
    serde_json::from_str(data.unwrap_or(&text)).unwrap_or_else(|_| panic!("not a JSON-RPC answer: {text}"))
}

/// Clicks the button labelled `label` in the sidebar's row of server `id`.
async fn click_server_button(harbor: &Harbor, id: &str, label: &str) {
    let button =
        format!("[...document.querySelectorAll('[data-server={id}] button')].find(b => b.textContent === '{label}')");
    if let Err(error) = harbor.wait_for(&button, Duration::from_secs(10)).await {
        let row = harbor
            .session
            .execute(&format!("return document.querySelector('[data-server={id}]')?.innerText;"), json!([]))
            .await;
        panic!("no {label:?} button for {id} ({error}); the row shows {row:?}");
    }
    harbor.session.execute(&format!("{button}.click();"), json!([])).await.unwrap();
}

/// Opens the Servers tab, starts server `id` there and waits until it runs.
async fn start_in_servers_panel(harbor: &Harbor, id: &str) {
    harbor.session.execute("document.querySelector('#tab-servers').click();", json!([])).await.unwrap();
    harbor.wait_for(&format!("document.querySelector('[data-server={id}]')"), Duration::from_secs(10)).await.unwrap();
    click_server_button(harbor, id, "Start").await;
    let running = format!("document.querySelector('[data-server={id}][data-state=running]')");
    harbor.wait_for(&running, Duration::from_secs(30)).await.unwrap();
}

/// Settings: a chat limit saved in the form is what the bridge uses; a provider is added and
/// listed with why it does not answer; the machine checks show with their fixes.
#[tokio::test]
async fn the_sidebar_settings_save_limits_add_providers_and_check_the_machine() {
    let harbor = Harbor::launch(Options::default()).await.unwrap();
    harbor.session.goto(&harbor.extension_url("sidebar/index.html")).await.unwrap();
    harbor.wait_for("document.querySelector('#tab-settings')", Duration::from_secs(10)).await.unwrap();
    harbor.session.execute("document.querySelector('#tab-settings').click();", json!([])).await.unwrap();
    harbor
        .wait_for("document.querySelector('#chat-maxToolCalls')?.value === '8'", Duration::from_secs(10))
        .await
        .unwrap();
    harbor
        .page(
            r##"const field = document.querySelector("#chat-maxToolCalls");
               field.value = "3"; field.dispatchEvent(new Event("input", { bubbles: true }));
               document.querySelector("[data-form=chat] button[type=submit]").click();"##,
        )
        .await
        .unwrap();
    harbor.wait_for("document.querySelector('[data-form=chat] + .saved')", Duration::from_secs(10)).await.unwrap();
    let saved = harbor.admin("chat.settings.get", json!({})).await.unwrap();
    assert_eq!(saved["maxToolCalls"], 3, "{saved}");

    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    harbor
        .page(&format!(
            r##"const set = (sel, v) => {{ const el = document.querySelector(sel); el.value = v; el.dispatchEvent(new Event("input", {{ bubbles: true }})); }};
               set("#provider-id", "lab");
               set("#provider-url", "http://127.0.0.1:{port}");
               document.querySelector(".add-provider button[type=submit]").click();"##
        ))
        .await
        .unwrap();
    let lab = harbor
        .wait_for("document.querySelector('[data-provider=lab]')?.innerText", Duration::from_secs(10))
        .await
        .unwrap();
    assert!(
        lab.as_str().unwrap().contains(&format!("127.0.0.1:{port}")) && lab.as_str().unwrap().contains("ollama serve"),
        "{lab}"
    );

    harbor.session.execute("document.querySelector('.run-doctor').click();", json!([])).await.unwrap();
    let checks = harbor
        .wait_for(
            "document.querySelectorAll('.doctor .check').length >= 5 && document.querySelector('.doctor').innerText",
            Duration::from_secs(30),
        )
        .await
        .unwrap();
    assert!(checks.as_str().unwrap().contains("node"), "{checks}");
    harbor.save_screenshot("sidebar-settings.png").await.unwrap();
    harbor.close().await;
}

/// A server asks for a form in the middle of a call the sidebar made (the real server-everything's
/// elicitation): the sidebar shows it above the panels, named and with the server's defaults
/// filled in, the toolbar button counts it, a form missing what it requires is not sent, and what
/// the user sends reaches the server, whose answer the sidebar then shows.
#[tokio::test]
async fn the_sidebar_shows_a_servers_form_and_sends_the_users_answer() {
    let everything = harbor_e2e::paths::everything().unwrap();
    let harbor = Harbor::launch(Options { host: NativeHost::Bridge, ..Options::default() }).await.unwrap();
    let launch = json!({"kind": "process", "command": "node", "args": [everything, "stdio"]});
    harbor.admin("servers.add", json!({"id": "everything", "launch": launch})).await.unwrap();
    harbor.session.goto(&harbor.extension_url("sidebar/index.html")).await.unwrap();
    harbor.wait_for("document.querySelector('#tab-servers')", Duration::from_secs(10)).await.unwrap();
    start_in_servers_panel(&harbor, "everything").await;
    click_server_button(&harbor, "everything", "Tools").await;
    let tool = "document.querySelector('[data-tool=\"everything/trigger-elicitation-request\"]')";
    harbor.wait_for(tool, Duration::from_secs(10)).await.unwrap();
    harbor
        .session
        .execute(
            &format!("const t = {tool}; t.open = true; t.querySelector('button[type=submit]').click();"),
            json!([]),
        )
        .await
        .unwrap();

    let card = harbor
        .wait_for("document.querySelector('.ask form')?.closest('.ask').innerText", Duration::from_secs(15))
        .await
        .unwrap();
    assert!(card.as_str().unwrap().contains("everything asks you"), "{card}");
    let shown = harbor
        .session
        .execute(
            "return { story: document.querySelector('#ask-field-firstLine').value,
                      integer: document.querySelector('#ask-field-integer').value,
                      hero: document.querySelector('#ask-field-titledSingleSelectEnum').value,
                      guitar: [...document.querySelectorAll('#ask-field-untitledMultipleSelectEnum input')].filter(i => i.checked).length };",
            json!([]),
        )
        .await
        .unwrap();
    assert_eq!(
        shown,
        json!({"story": "It was a dark and stormy night.", "integer": "42", "hero": "hero-1", "guitar": 1}),
        "the server's defaults are filled in"
    );
    let badge = harbor.page("return await browser.action.getBadgeText({});").await.unwrap();
    assert_eq!(badge["ok"], "1", "the toolbar button counts the open ask");
    // Every control of the form has a name a screen reader can say.
    let unnamed = harbor
        .session
        .execute(
            "return [...document.querySelectorAll('.ask :is(input, select, textarea, button, a)')]
               .filter(el => !el.getAttribute('aria-label') && !(el.labels && el.labels.length)
                             && !(['BUTTON', 'A'].includes(el.tagName) && el.textContent.trim()))
               .map(el => el.outerHTML.slice(0, 160));",
            json!([]),
        )
        .await
        .unwrap();
    assert_eq!(unnamed, json!([]), "controls without a name");
    harbor.save_screenshot("sidebar-ask.png").await.unwrap();

    // Sent without the name it requires, the form says so and nothing reaches the server.
    harbor
        .session
        .execute("document.querySelector('.ask form button[type=submit]').click();", json!([]))
        .await
        .unwrap();
    let said =
        harbor.wait_for("document.querySelector('.ask .error')?.textContent", Duration::from_secs(5)).await.unwrap();
    assert!(said.as_str().unwrap().contains("required"), "{said}");
    harbor
        .page(
            r##"const name = document.querySelector("#ask-field-name");
               name.value = "Ada Lovelace"; name.dispatchEvent(new Event("input", { bubbles: true }));
               document.querySelector(".ask form button[type=submit]").click();"##,
        )
        .await
        .unwrap();
    let result = harbor
        .wait_for(&format!("{tool}.querySelector('.result')?.textContent"), Duration::from_secs(15))
        .await
        .unwrap();
    let result = result.as_str().unwrap();
    assert!(result.contains("Name: Ada Lovelace") && result.contains("Favorite Integer: 42"), "{result}");
    harbor.wait_for("!document.querySelector('.ask')", Duration::from_secs(5)).await.unwrap();
    let badge = harbor.page("return await browser.action.getBadgeText({});").await.unwrap();
    assert_eq!(badge["ok"], "", "answered, nothing waits");
    harbor.close().await;
}

/// A local server's account, connected from the sidebar with a code (the real `oidc-provider` as
/// the provider): the server cannot start and says it needs its account; its card offers
/// "Connect account…"; the sidebar shows the provider's code and page; the user types the code
/// there; the sidebar says it is connected and the server runs with the account's token.
#[tokio::test]
async fn the_sidebar_connects_a_local_servers_account_with_a_code() {
    let servers = harbor_e2e::paths::test_servers().unwrap();
    let (_provider, issuer) =
        harbor_e2e::provider_pages::start(&servers.join("oauth"), "http://127.0.0.1:9/mcp", &[]).await.unwrap();
    let harbor = Harbor::launch(Options { host: NativeHost::Bridge, ..Options::default() }).await.unwrap();
    let script = harbor_e2e::paths::repo_root().join("tests/fixtures/account_server.py");
    let launch = json!({"kind": "process", "command": servers.join("venv/bin/python"), "args": [script]});
    let account = json!({"issuer": issuer, "clientId": "harbor-account", "scope": "openid offline_access", "env": "PROVIDER_TOKEN"});
    harbor.admin("servers.add", json!({"id": "notes", "launch": launch, "account": account})).await.unwrap();
    harbor.session.goto(&harbor.extension_url("sidebar/index.html")).await.unwrap();
    harbor.wait_for("document.querySelector('[data-server=notes]')", Duration::from_secs(10)).await.unwrap();
    click_server_button(&harbor, "notes", "Start").await;
    let said = harbor
        .wait_for(
            "document.querySelector('[data-server=notes][data-state=crashed] .error')?.textContent",
            Duration::from_secs(20),
        )
        .await
        .unwrap();
    assert!(said.as_str().unwrap().contains("needs its account"), "{said}");

    // Its card offers the connection, its settings already open on the account.
    let offered =
        "[...document.querySelectorAll('[data-server=notes] button')].some(b => b.textContent === 'Connect account…')";
    harbor.wait_for(offered, Duration::from_secs(10)).await.unwrap();
    let shown = harbor
        .wait_for(
            "document.querySelector('[data-server=notes] [data-signed-in=false]')?.textContent",
            Duration::from_secs(10),
        )
        .await
        .unwrap();
    assert_eq!(shown, "Not connected.");
    harbor
        .session
        .execute("document.querySelector('[data-server=notes] .connect-code').click();", json!([]))
        .await
        .unwrap();
    let code = harbor
        .wait_for("document.querySelector('[data-server=notes] .user-code')?.textContent", Duration::from_secs(15))
        .await
        .unwrap();
    let page = harbor
        .session
        .execute("return document.querySelector('[data-server=notes] .device-code a').href;", json!([]))
        .await
        .unwrap();
    assert!(page.as_str().unwrap().starts_with(&issuer), "{page}");
    harbor.save_screenshot("sidebar-account-code.png").await.unwrap();
    let landed = harbor_e2e::provider_pages::enter_code(page.as_str().unwrap(), code.as_str().unwrap()).await.unwrap();
    assert!(landed.to_lowercase().contains("success"), "{landed}");

    // Connected: the server starts again with the token, and its settings say so.
    harbor
        .wait_for("document.querySelector('[data-server=notes][data-state=running]')", Duration::from_secs(30))
        .await
        .unwrap();
    click_server_button(&harbor, "notes", "Settings").await;
    let connected = harbor
        .wait_for(
            "document.querySelector('[data-server=notes] [data-signed-in=true]')?.textContent",
            Duration::from_secs(10),
        )
        .await
        .unwrap();
    assert!(connected.as_str().unwrap().starts_with(&format!("Connected to {issuer}")), "{connected}");
    harbor.save_screenshot("sidebar-account-connected.png").await.unwrap();
    let called = harbor.admin("tools.call", json!({"tool": "notes/whoami", "args": {}})).await.unwrap();
    let fingerprint = called["content"][0]["text"].as_str().unwrap();
    assert!(fingerprint.len() == 64 && fingerprint != "no token", "the server got a token: {fingerprint}");
    harbor.close().await;
}

/// An answer in Markdown renders as the user expects — a table, a code block with a copy button,
/// a link that opens in a new tab — and what a hostile page could have fed the model (a script,
/// an image with an error handler, a javascript: link, a tracking image) stays inert text.
#[tokio::test]
async fn the_chat_renders_markdown_answers_and_keeps_html_as_text() {
    use harbor_model_double::{Model, ScriptedModel, Turn};
    let model = ScriptedModel::start(vec![Model::new("llama3.2:3b")]).await;
    let harbor = Harbor::launch(Options::default()).await.unwrap();
    harbor.set_viewport(360, 900).await.unwrap();
    harbor.session.goto(&harbor.extension_url("sidebar/index.html")).await.unwrap();
    harbor.wait_for("document.querySelector('#tab-chat')", Duration::from_secs(10)).await.unwrap();
    harbor.use_ollama(&model.url(), "llama3.2:3b").await.unwrap();
    let answer = "## Plan\n\n| city | time |\n|---|---|\n| Tokyo | 21:00 |\n\n```sh\necho hi\n```\n\n\
                  See [the docs](https://example.com/docs). <script>window.pwned = 1</script> \
                  <img src=x onerror=\"window.pwned = 2\"> [click](javascript:window.pwned=3) \
                  ![pixel](https://tracker.example/p.gif)";
    model.push(Turn::new().text(answer));
    harbor.send_chat("Plan my call").await.unwrap();
    harbor.wait_for("document.querySelector('.msg.assistant table')", Duration::from_secs(15)).await.unwrap();
    let shown = harbor
        .session
        .execute(
            "const a = document.querySelector('.msg.assistant');
             const link = a.querySelector('a');
             return { heading: a.querySelector('h4')?.textContent, cell: a.querySelector('td')?.textContent,
                      code: a.querySelector('.code-block code')?.textContent, copy: !!a.querySelector('.code-block button.copy'),
                      href: link?.href, target: link?.target, rel: link?.rel, links: a.querySelectorAll('a').length,
                      scripts: a.querySelectorAll('script, img, iframe').length, pwned: window.pwned ?? null,
                      text: a.textContent };",
            json!([]),
        )
        .await
        .unwrap();
    assert_eq!(shown["heading"], "Plan", "{shown}");
    assert_eq!(shown["cell"], "Tokyo", "{shown}");
    assert_eq!(shown["code"], "echo hi\n", "{shown}");
    assert_eq!(shown["copy"], true, "{shown}");
    assert_eq!((shown["href"].as_str(), shown["target"].as_str()), (Some("https://example.com/docs"), Some("_blank")));
    assert!(shown["rel"].as_str().unwrap().contains("noopener"), "{shown}");
    assert_eq!(shown["links"], 1, "the javascript: link is not a link: {shown}");
    assert_eq!(shown["scripts"], 0, "no script, image or frame element: {shown}");
    assert_eq!(shown["pwned"], Value::Null, "nothing ran: {shown}");
    let text = shown["text"].as_str().unwrap();
    assert!(text.contains("<script>window.pwned = 1</script>") && text.contains("onerror"), "shown as text: {text}");
    assert!(text.contains("tracker.example/p.gif"), "the image is named, not loaded: {text}");
    harbor.save_screenshot("sidebar-chat-markdown.png").await.unwrap();
    harbor.close().await;
}

/// A server's skill (SEP-2640) is listed in its Servers row and in the chat; the user loads it,
/// it shows as a chip, and the model's next request carries its instructions.
#[tokio::test]
async fn the_chat_loads_a_skill_the_user_picks_and_the_servers_panel_lists_it() {
    use harbor_model_double::{Model, ScriptedModel, Turn};
    let model = ScriptedModel::start(vec![Model::new("llama3.2:3b")]).await;
    let python = harbor_e2e::paths::test_servers().unwrap().join("venv/bin/python");
    let fixture = harbor_e2e::paths::repo_root().join("tests/fixtures/skills_server.py");
    let harbor = Harbor::launch(Options::default()).await.unwrap();
    harbor.set_viewport(360, 900).await.unwrap();
    harbor.session.goto(&harbor.extension_url("sidebar/index.html")).await.unwrap();
    harbor.wait_for("document.querySelector('#tab-chat')", Duration::from_secs(10)).await.unwrap();
    harbor.add_server("coffee", &[python.as_os_str(), fixture.as_os_str()]).unwrap();
    harbor.use_ollama(&model.url(), "llama3.2:3b").await.unwrap();
    harbor
        .wait_for("document.querySelector('.choose-skills')?.textContent === 'Skills (1)'", Duration::from_secs(15))
        .await
        .unwrap();
    harbor.session.execute("document.querySelector('.choose-skills').click();", json!([])).await.unwrap();
    harbor.wait_for("document.querySelector('.skill-list input')", Duration::from_secs(5)).await.unwrap();
    harbor.session.execute("document.querySelector('.skill-list input').click();", json!([])).await.unwrap();
    harbor
        .wait_for("document.querySelector('.skill-chip')?.dataset.skill === 'brew'", Duration::from_secs(5))
        .await
        .unwrap();
    harbor.save_screenshot("sidebar-chat-skills.png").await.unwrap();
    model.push(Turn::new().text("First grind the beans."));
    harbor.send_chat("How do I brew?").await.unwrap();
    harbor
        .wait_for(
            "[...document.querySelectorAll('.msg.assistant')].some(m => m.textContent === 'First grind the beans.')",
            Duration::from_secs(15),
        )
        .await
        .unwrap();
    let sent = model.chat_requests().last().unwrap().body["messages"].to_string();
    assert!(sent.contains("Grind, then pour."), "the skill's instructions reached the model: {sent}");

    // The Servers panel lists the skill in the server's row, and reads it.
    harbor.session.execute("document.querySelector('#tab-servers').click();", json!([])).await.unwrap();
    click_server_button(&harbor, "coffee", "Resources").await;
    harbor
        .wait_for(
            "document.querySelector('[data-server=coffee] .skills [data-resource$=\"SKILL.md\"] button')",
            Duration::from_secs(10),
        )
        .await
        .unwrap();
    harbor
        .session
        .execute(
            "document.querySelector('[data-server=coffee] .skills [data-resource$=\"SKILL.md\"] button').click();",
            json!([]),
        )
        .await
        .unwrap();
    let text = harbor
        .wait_for(
            "document.querySelector('[data-server=coffee] .skills .resource-contents')?.textContent",
            Duration::from_secs(10),
        )
        .await
        .unwrap();
    assert!(text.as_str().unwrap().contains("Grind, then pour."), "{text}");
    harbor.close().await;
}
