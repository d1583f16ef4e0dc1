//! A small W3C WebDriver client over HTTP: just the commands Harbor's tests use, plus
//! geckodriver's `moz/addon/install` and `moz/context`.

use anyhow::{bail, Context, Result};
use base64::Engine;
use serde_json::{json, Value};

pub struct Session {
    http: reqwest::Client,
    base: String,
    /// The browser's process id, when the driver reports it (`moz:processID`).
    pub browser_pid: Option<u32>,
}

impl Session {
    /// Opens a session on the geckodriver at `driver_url` with these capabilities.
    pub async fn new(driver_url: &str, capabilities: Value) -> Result<Session> {
        let http = reqwest::Client::new();
        let reply = command(
            &http,
            reqwest::Method::POST,
            &format!("{driver_url}/session"),
            Some(json!({"capabilities": capabilities})),
        )
        .await
        .context("geckodriver could not start Firefox")?;
        let id = reply["sessionId"].as_str().context("no session id in geckodriver's answer")?;
        let browser_pid = reply["capabilities"]["moz:processID"].as_u64().map(|pid| pid as u32);
        Ok(Session { http, base: format!("{driver_url}/session/{id}"), browser_pid })
    }

    async fn post(&self, path: &str, body: Value) -> Result<Value> {
        command(&self.http, reqwest::Method::POST, &format!("{}/{path}", self.base), Some(body)).await
    }

    async fn get(&self, path: &str) -> Result<Value> {
        command(&self.http, reqwest::Method::GET, &format!("{}/{path}", self.base), None).await
    }

    /// Installs an unpacked extension as a temporary add-on; returns its id.
    pub async fn install_temporary_addon(&self, dir: &std::path::Path) -> Result<String> {
        let id = self.post("moz/addon/install", json!({"path": dir, "temporary": true})).await?;
        Ok(id.as_str().unwrap_or_default().to_owned())
    }

    pub async fn goto(&self, url: &str) -> Result<()> {
        self.post("url", json!({"url": url})).await.map(drop)
    }

    /// Sets the window's outer size in CSS pixels.
    pub async fn set_window_size(&self, width: u32, height: u32) -> Result<()> {
        self.post("window/rect", json!({"width": width, "height": height})).await.map(drop)
    }

    /// Runs `script` as a function body and returns what it returns.
    pub async fn execute(&self, script: &str, args: Value) -> Result<Value> {
        self.post("execute/sync", json!({"script": script, "args": args})).await
    }

    /// Runs `script`; it finishes by calling `arguments[arguments.length - 1](value)`.
    pub async fn execute_async(&self, script: &str, args: Value) -> Result<Value> {
        self.post("execute/async", json!({"script": script, "args": args})).await
    }

    /// The current window's handle.
    pub async fn window_handle(&self) -> Result<String> {
        Ok(self.get("window").await?.as_str().context("a window handle")?.to_owned())
    }

    /// Every open window's (and tab's) handle.
    pub async fn window_handles(&self) -> Result<Vec<String>> {
        let handles = self.get("window/handles").await?;
        Ok(handles.as_array().into_iter().flatten().filter_map(|h| h.as_str().map(str::to_owned)).collect())
    }

    pub async fn switch_to_window(&self, handle: &str) -> Result<()> {
        self.post("window", json!({ "handle": handle })).await.map(drop)
    }

    /// Opens a new tab (not switching to it); returns its handle.
    pub async fn new_tab(&self) -> Result<String> {
        let opened = self.post("window/new", json!({ "type": "tab" })).await?;
        Ok(opened["handle"].as_str().context("a new tab's handle")?.to_owned())
    }

    /// Closes the current window or tab.
    pub async fn close_window(&self) -> Result<()> {
        command(&self.http, reqwest::Method::DELETE, &format!("{}/window", self.base), None).await.map(drop)
    }

    pub async fn set_timeouts(&self, script_ms: u64) -> Result<()> {
        self.post("timeouts", json!({"script": script_ms})).await.map(drop)
    }

    /// Switches between the page (`content`) and Firefox's own UI (`chrome`).
    pub async fn set_context(&self, context: &str) -> Result<()> {
        self.post("moz/context", json!({"context": context})).await.map(drop)
    }

    /// A PNG of the current viewport (in `chrome` context: the whole window).
    pub async fn screenshot(&self) -> Result<Vec<u8>> {
        let data = self.get("screenshot").await?;
        let b64 = data.as_str().context("the screenshot is not a string")?;
        Ok(base64::engine::general_purpose::STANDARD.decode(b64)?)
    }

    /// The first element matching a CSS selector in the current browsing context.
    pub async fn find(&self, css: &str) -> Result<String> {
        let found = self.post("element", json!({"using": "css selector", "value": css})).await?;
        let id = found.as_object().and_then(|o| o.values().next()).and_then(Value::as_str);
        Ok(id.with_context(|| format!("no element id for {css}"))?.to_owned())
    }

    /// Clicks an element as a user would: a trusted click that gives its frame user activation.
    pub async fn click(&self, element: &str) -> Result<()> {
        self.post(&format!("element/{element}/click"), json!({})).await.map(drop)
    }

    /// Presses keys as a user would, in whatever has the focus (WebDriver key actions).
    pub async fn press_keys(&self, keys: &str) -> Result<()> {
        let mut actions = Vec::new();
        for key in keys.chars() {
            actions.push(json!({"type": "keyDown", "value": key.to_string()}));
            actions.push(json!({"type": "keyUp", "value": key.to_string()}));
        }
        let body = json!({"actions": [{"type": "key", "id": "keyboard", "actions": actions}]});
        self.post("actions", body).await.map(drop)
    }

    /// Switches into the `index`th frame of the current page.
    pub async fn switch_to_frame(&self, index: u32) -> Result<()> {
        self.post("frame", json!({ "id": index })).await.map(drop)
    }

    /// Switches back to the top-level page.
    pub async fn switch_to_top(&self) -> Result<()> {
        self.post("frame", json!({ "id": null })).await.map(drop)
    }

    pub async fn quit(&self) -> Result<()> {
        command(&self.http, reqwest::Method::DELETE, &self.base, None).await.map(drop)
    }
}

/// Sends one command and unwraps WebDriver's `{"value": …}`, turning its errors into ours.
async fn command(http: &reqwest::Client, method: reqwest::Method, url: &str, body: Option<Value>) -> Result<Value> {
    let mut request = http.request(method, url);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.with_context(|| format!("WebDriver request to {url} failed"))?;
    let status = response.status();
    let mut reply: Value = response.json().await.context("WebDriver answered with something other than JSON")?;
    let value = reply["value"].take();
    if !status.is_success() {
        bail!("WebDriver {}: {}", value["error"].as_str().unwrap_or("error"), value["message"].as_str().unwrap_or(""));
    }
    Ok(value)
}
