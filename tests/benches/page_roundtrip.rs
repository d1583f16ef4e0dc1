//! Page → content relay → background → native host → back, in real headless Firefox: 1,000
//! sequential `window.harbor.system.echo({})` calls timed in the page, first through the real
//! bridge, then through `tests/fixtures/floor_host.py` (a host that does nothing but echo) to
//! show Firefox's own floor on this machine. Then, through the bridge, 1,000
//! `window.agent.tools.call` of the probe server's `echo` (allowed to the page) next to
//! `system.echo` from the same page: what the permission layer and the MCP call add. And the
//! Prompt API's `LanguageModel.promptStreaming` from the same page, against the scripted model
//! (which sends its first token as soon as it has the request): the time to the first chunk in
//! the page. And a chat turn from Harbor's own page in which the model calls the page's WebMCP
//! tool, next to one calling the probe server's tool and one calling none. Run through `scripts/bench`, which points HARBOR_BRIDGE_BIN at a release build.

use harbor_e2e::firefox::{Harbor, NativeHost, Options};
use harbor_e2e::paths;
use harbor_e2e::site::{Page, Site};
use serde_json::json;

const CALLS: usize = 1000;

#[tokio::main]
async fn main() {
    let floor_host = paths::repo_root().join("tests/fixtures/floor_host.py");
    for (label, host) in [("harbor-bridge", NativeHost::Bridge), ("floor host", NativeHost::Program(floor_host))] {
        let launched = std::time::Instant::now();
        let harbor = Harbor::launch(Options { host, ..Options::default() }).await.expect("Firefox with Harbor starts");
        let launch_ms = launched.elapsed().as_millis();
        let site = Site::start(vec![("/", Page::html("<!doctype html><p>bench</p>"))]).await;
        harbor.session.goto(&site.url("/")).await.unwrap();
        harbor.page("await window.harbor.system.info();").await.unwrap();
        let (p50, p95) = timed(&harbor, "window.harbor.system.echo({ i })").await;
        println!(
            "page round trip via {label}: p50 {p50:.2} ms, p95 {p95:.2} ms (n = {CALLS}); Firefox launch + add-on {launch_ms} ms"
        );
        if label == "harbor-bridge" {
            tools_call_from_a_page(&harbor, &site).await;
            first_chunk(&harbor, &site).await;
            page_tool_from_the_chat(&harbor).await;
            sidebar_first_paint(&harbor).await;
        }
        harbor.close().await;
    }
}

/// `agent.tools.call` from the page through the permission layer, against `system.echo`.
async fn tools_call_from_a_page(harbor: &Harbor, site: &Site) {
    let python = paths::test_servers().expect("the test servers").join("venv/bin/python");
    let probe = paths::repo_root().join("tests/fixtures/probe_server.py");
    harbor
        .admin("servers.add", json!({"id": "probe", "launch": {"kind": "process", "command": python, "args": [probe]}}))
        .await
        .unwrap();
    harbor.admin("servers.start", json!({"id": "probe"})).await.unwrap();
    harbor.admin("permissions.setTools", json!({"origin": site.origin, "tools": ["probe/echo"]})).await.unwrap();
    harbor
        .admin("permissions.set", json!({"origin": site.origin, "scope": "mcp:tools.call", "grant": "ALLOW_ALWAYS"}))
        .await
        .unwrap();
    let (p50, p95) = timed(harbor, "window.agent.tools.call({ tool: 'probe/echo', args: { text: String(i) } })").await;
    println!(
        "agent.tools.call (probe/echo, Python SDK server) from a page: p50 {p50:.2} ms, p95 {p95:.2} ms (n = {CALLS})"
    );
}

/// `LanguageModel.promptStreaming` in the page: from the call to its first chunk, and to the end,
/// against a scripted model that streams two words at once.
async fn first_chunk(harbor: &Harbor, site: &Site) {
    use harbor_model_double::{Model, ScriptedModel, Turn};
    let model = ScriptedModel::start(vec![Model::new("m")]).await;
    harbor.use_ollama(&model.url(), "m").await.unwrap();
    harbor.allow_always(&site.origin, "model:prompt").await.unwrap();
    const PROMPTS: usize = 200;
    for _ in 0..PROMPTS + 20 {
        model.push(Turn::words("first second"));
    }
    let outcome = harbor
        .page(&format!(
            "const first = [], whole = [];
             for (let i = 0; i < {total}; i++) {{
               // A fresh session each time, so every prompt sends the same request.
               const session = await LanguageModel.create();
               const t = performance.now();
               const reader = session.promptStreaming('go').getReader();
               await reader.read();
               const f = performance.now() - t;
               while (!(await reader.read()).done) {{}}
               if (i >= 20) {{ first.push(f); whole.push(performance.now() - t); }}
               session.destroy();
             }}
             return [first, whole];",
            total = PROMPTS + 20
        ))
        .await
        .unwrap();
    let (f50, f95) = quantiles(&json!({"ok": outcome["ok"][0]}));
    let (w50, w95) = quantiles(&json!({"ok": outcome["ok"][1]}));
    println!(
        "LanguageModel.promptStreaming from a page, scripted model: first chunk p50 {f50:.2} ms, p95 {f95:.2} ms; whole answer p50 {w50:.2} ms, p95 {w95:.2} ms (n = {PROMPTS})"
    );
}

/// A chat turn in which the model calls a page's own tool (WebMCP), timed in Harbor's own page
/// over its port, next to the same turn calling the probe server's `echo` and a turn without a
/// tool (the floor: one model request less). Each turn's model answers are scripted.
async fn page_tool_from_the_chat(harbor: &Harbor) {
    use harbor_model_double::{Model, ScriptedModel, Turn};
    const TURNS: usize = 100;
    let model = ScriptedModel::start(vec![Model::new("m")]).await;
    harbor.use_ollama(&model.url(), "m").await.unwrap();
    harbor
        .page("await document.modelContext.registerTool({ name: 'echo', description: 'Says it back', execute: (a) => String(a.text) });")
        .await
        .unwrap();
    let tab = harbor.admin("page.tools.list", json!({})).await.unwrap()[0]["tabId"].clone();
    let mut results = Vec::new();
    for (label, tool) in [("no tool", None), ("page tool", Some("page__echo")), ("server tool", Some("probe__echo"))] {
        for _ in 0..TURNS + 10 {
            if let Some(tool) = tool {
                model.push(Turn::new().tool_call(tool, json!({"text": "hi"})));
            }
            model.push(Turn::words("done"));
        }
        let back = harbor.session.window_handle().await.unwrap();
        harbor.open_tab(&harbor.extension_url("sidebar/index.html")).await.unwrap();
        let outcome = harbor
            .page(&format!(
                r#"const port = browser.runtime.connect({{ name: "harbor-ui" }});
                   const call = (id, method, params) => new Promise((resolve, reject) => {{
                     const on = (m) => {{
                       if (m.id !== id || m.event !== undefined) return;
                       port.onMessage.removeListener(on);
                       if (m.error) reject(m.error); else resolve(m.result);
                     }};
                     port.onMessage.addListener(on);
                     port.postMessage({{ id, method, params }});
                   }});
                   const samples = [];
                   for (let i = 0; i < {total}; i++) {{
                     // A fresh conversation each time, so every turn sends the same request.
                     const session = await call("new-" + i, "chat.sessions.create", {{}});
                     const t = performance.now();
                     await call("turn-" + i, "chat.send", {{ sessionId: session.id, text: "go", pageTab: {tab} }});
                     if (i >= 10) samples.push(performance.now() - t);
                   }}
                   port.disconnect();
                   return samples;"#,
                total = TURNS + 10,
            ))
            .await
            .unwrap();
        harbor.session.close_window().await.unwrap();
        harbor.session.switch_to_window(&back).await.unwrap();
        let (p50, p95) = quantiles(&outcome);
        results.push(format!("{label} p50 {p50:.2} ms, p95 {p95:.2} ms"));
    }
    println!("chat turn from Harbor's page, scripted model: {} (n = {TURNS} each)", results.join("; "));
}

/// The sidebar's first contentful paint and its first useful paint (the panels shown, connected:
/// boot.js's `harbor-ready` mark), from navigation start, over 10 fresh loads.
async fn sidebar_first_paint(harbor: &Harbor) {
    let url = harbor.extension_url("sidebar/index.html");
    let (mut fcp, mut ready) = (Vec::new(), Vec::new());
    for _ in 0..10 {
        harbor.session.goto("about:blank").await.unwrap();
        harbor.session.goto(&url).await.unwrap();
        let times = harbor
            .wait_for(
                "(() => { const r = performance.getEntriesByName('harbor-ready')[0];
                          const p = performance.getEntriesByName('first-contentful-paint')[0];
                          return r && p ? [p.startTime, r.startTime] : null; })()",
                std::time::Duration::from_secs(10),
            )
            .await
            .unwrap();
        fcp.push(times[0].as_f64().unwrap());
        ready.push(times[1].as_f64().unwrap());
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    println!(
        "sidebar: first contentful paint {:.0} ms, panels shown and connected {:.0} ms (median of 10 loads)",
        median(&mut fcp),
        median(&mut ready)
    );
}

/// p50 and p95 in ms of `CALLS` sequential awaits of `call` (an expression of `i`) in the page,
/// after 100 to warm up.
async fn timed(harbor: &Harbor, call: &str) -> (f64, f64) {
    let outcome = harbor
        .page(&format!(
            "for (let i = 0; i < 100; i++) await {call};
             const samples = [];
             for (let i = 0; i < {CALLS}; i++) {{
               const t = performance.now();
               await {call};
               samples.push(performance.now() - t);
             }}
             return samples;"
        ))
        .await
        .unwrap();
    quantiles(&outcome)
}

fn quantiles(outcome: &serde_json::Value) -> (f64, f64) {
    let mut samples: Vec<f64> = outcome["ok"]
        .as_array()
        .unwrap_or_else(|| panic!("the page returns its samples: {outcome}"))
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    samples.sort_by(f64::total_cmp);
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.95))
}
