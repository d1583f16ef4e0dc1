//! Launching headless Firefox ESR with Harbor, the way a user has it: the extension loaded, the
//! bridge registered through its own `install` command, its packages from the local registries,
//! all inside a scratch `HOME`.
//!
//! [`Harbor::launch`] starts geckodriver, opens a session with a fixed extension UUID (so the
//! sidebar has a known `moz-extension://` URL), and installs the unpacked extension as a
//! temporary add-on. Dropping a [`Harbor`] ends Firefox, its bridges and the scratch folders.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use serde_json::{json, Value};
use tokio::process::{Child, Command};

use crate::paths;
use crate::registries;
use crate::webdriver::Session;

/// The fixed internal UUID the tests give Harbor's extension.
pub const EXTENSION_UUID: &str = "5e1f0b6a-4c2d-4f7e-9a3b-7d8c1e2f3a4b";

/// Which native-messaging host Firefox finds.
pub enum NativeHost {
    /// The real bridge, registered by its own `harbor-bridge install --in-place`.
    Bridge,
    /// No host at all: the bridge is "not installed".
    Missing,
    /// Another program under the bridge's name (the benchmarks' floor host).
    Program(PathBuf),
}

pub struct Options {
    pub host: NativeHost,
    /// Ask pages (the sidebar included) for the dark colour scheme.
    pub dark: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options { host: NativeHost::Bridge, dark: false }
    }
}

pub struct Harbor {
    pub session: Session,
    /// Firefox's `HOME`: where it looks for native-messaging manifests.
    pub home: PathBuf,
    /// The bridge's `HARBOR_HOME`.
    pub data_dir: PathBuf,
    scratch: PathBuf,
    driver: Child,
    /// The tab where [`Harbor::admin`] sends Harbor's privileged requests, once opened.
    admin_tab: tokio::sync::Mutex<Option<String>>,
}

static LAUNCHES: AtomicU32 = AtomicU32::new(0);

impl Harbor {
    pub async fn launch(options: Options) -> Result<Harbor> {
        let scratch = std::env::temp_dir().join(format!(
            "harbor-e2e-{}-{}",
            std::process::id(),
            LAUNCHES.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&scratch);
        let home = scratch.join("home");
        let data_dir = scratch.join("harbor");
        std::fs::create_dir_all(&home)?;
        std::fs::create_dir_all(&data_dir)?;
        let extension = paths::extension_dir()?;
        let bridge = paths::bridge_binary()?;
        match &options.host {
            NativeHost::Bridge => {
                let out = std::process::Command::new(&bridge)
                    .args(["install", "--in-place"])
                    .env("HOME", &home)
                    .env("HARBOR_HOME", &data_dir)
                    .output()
                    .context("running harbor-bridge install")?;
                ensure!(out.status.success(), "harbor-bridge install failed: {}", String::from_utf8_lossy(&out.stderr));
                // Installs from the sidebar come from the local registries, never the live ones.
                let out = std::process::Command::new(&bridge)
                    .args(["registries", "--npm", &registries::npm(), "--pypi", &registries::pypi()])
                    .env("HOME", &home)
                    .env("HARBOR_HOME", &data_dir)
                    .output()
                    .context("running harbor-bridge registries")?;
                ensure!(
                    out.status.success(),
                    "harbor-bridge registries failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            NativeHost::Missing => {}
            NativeHost::Program(program) => {
                let dir = home.join(".mozilla/native-messaging-hosts");
                std::fs::create_dir_all(&dir)?;
                let manifest = json!({
                    "name": harbor_protocol::NATIVE_HOST_NAME,
                    "description": "a stand-in host for measurements",
                    "path": program,
                    "type": "stdio",
                    "allowed_extensions": [harbor_protocol::EXTENSION_ID],
                });
                std::fs::write(dir.join(format!("{}.json", harbor_protocol::NATIVE_HOST_NAME)), manifest.to_string())?;
            }
        }

        let port = free_port()?;
        let driver_log = std::fs::File::create(scratch.join("geckodriver.log"))?;
        let driver = Command::new(geckodriver()?)
            .args(["--port", &port.to_string(), "--allow-system-access"])
            // geckodriver passes only MOZ_* variables from the capabilities, so Firefox (and the
            // bridge it starts) get HOME and HARBOR_HOME by inheriting them from geckodriver.
            .env("HOME", &home)
            .env("HARBOR_HOME", &data_dir)
            .stdout(driver_log.try_clone()?)
            .stderr(driver_log)
            .kill_on_drop(true)
            .spawn()
            .context("starting geckodriver")?;
        let driver_url = format!("http://127.0.0.1:{port}");
        wait_for_driver(&driver_url).await?;

        let uuids = json!({ harbor_protocol::EXTENSION_ID: EXTENSION_UUID }).to_string();
        // 0 = dark, 1 = light, for `prefers-color-scheme` in pages and extension pages.
        let scheme = if options.dark { 0 } else { 1 };
        let capabilities = json!({"alwaysMatch": {
            "browserName": "firefox",
            "moz:firefoxOptions": {
                "binary": firefox()?,
                "args": ["-headless"],
                "prefs": {
                    "extensions.webextensions.uuids": uuids,
                    "browser.shell.checkDefaultBrowser": false,
                    "datareporting.policy.dataSubmissionEnabled": false,
                    "browser.aboutwelcome.enabled": false,
                    "devtools.console.stdout.chrome": true,
                    // Firefox rounds performance.now() to 1 ms by default; tests time in-page.
                    "privacy.reduceTimerPrecision": false,
                    "ui.systemUsesDarkTheme": i32::from(options.dark),
                    "layout.css.prefers-color-scheme.content-override": scheme,
                    "devtools.console.stdout.content": true,
                },
                "env": { "MOZ_HEADLESS": "1" },
            },
        }});
        let session = Session::new(&driver_url, capabilities).await?;
        session.set_timeouts(60_000).await?;
        session.install_temporary_addon(&extension).await.context("installing Harbor as a temporary add-on")?;
        Ok(Harbor { session, home, data_dir, scratch, driver, admin_tab: Default::default() })
    }

    /// `moz-extension://<uuid>/<path>`.
    pub fn extension_url(&self, path: &str) -> String {
        format!("moz-extension://{EXTENSION_UUID}/{path}")
    }

    /// Runs `body` (the body of an async function) in the current page. Returns
    /// `{"ok": value}` or `{"err": {"code", "message"}}`, as the page saw it.
    pub async fn page(&self, body: &str) -> Result<Value> {
        let script = format!(
            "const done = arguments[arguments.length - 1];
             (async () => {{ {body} }})().then(
               (ok) => done({{ ok: ok === undefined ? null : ok }}),
               (e) => done({{ err: {{ code: e && e.code, message: String(e && e.message) }} }}));"
        );
        self.session.execute_async(&script, json!([])).await
    }

    /// Starts `body` (the body of an async function) from a click on a button in the current
    /// page or frame, as a page does in answer to a user action (which Harbor needs before it
    /// opens a prompt), without waiting for it; its outcome lands in `window[name]` as
    /// `{ok}` or `{err: code}`.
    pub async fn on_click(&self, name: &str, body: &str) -> Result<()> {
        let id = format!("harbor-test-{name}");
        let script = format!(
            "window.{name} = undefined;
             const button = document.createElement('button');
             button.id = '{id}';
             button.textContent = 'go';
             button.style = 'position: fixed; top: 0; left: 0; z-index: 2147483647';
             button.onclick = () => {{
               button.remove();
               (async () => {{ {body} }})().then((ok) => window.{name} = {{ ok }}, (e) => window.{name} = {{ err: e.code, data: e.data }});
             }};
             document.body.append(button);"
        );
        self.session.execute(&script, json!([])).await?;
        let button = self.session.find(&format!("#{id}")).await?;
        self.session.click(&button).await
    }

    /// Posts `message` (which must have `id: "raw"`) to the content relay the way a page's own
    /// script can, skipping the page API, and returns the relay's answer to it.
    pub async fn post_to_relay(&self, message: Value) -> Result<Value> {
        let outcome = self
            .page(&format!(
                r#"return await new Promise((resolve) => {{
                     addEventListener("message", (e) => {{
                       const d = e.data;
                       if (d && d["harbor-rs:v1"] === "to-page" && d.msg && d.msg.id === "raw") resolve(d.msg);
                     }});
                     postMessage({{ "harbor-rs:v1": "to-relay", msg: {message} }}, "*");
                   }});"#
            ))
            .await?;
        outcome.get("ok").cloned().with_context(|| format!("the page failed: {outcome}"))
    }

    /// Sends a privileged request to the bridge the way the sidebar does (a `harbor-ui` port from
    /// an extension page, in a tab of its own), then comes back to the current tab. For setting
    /// up what a test needs, as a user would in the sidebar.
    /// Makes the Ollama-speaking server at `base_url` the user's model provider, with `model`
    /// selected (the scripted model double, in tests and benchmarks).
    pub async fn use_ollama(&self, base_url: &str, model: &str) -> Result<()> {
        self.admin("llm.setProvider", json!({"id": "scripted", "kind": "ollama", "baseUrl": base_url})).await?;
        self.admin("llm.select", json!({"provider": "scripted", "model": model})).await?;
        Ok(())
    }

    /// Sizes the window so the page's viewport is `width` × `height` CSS pixels (the sidebar's
    /// width is about 360): the window's own frame is measured and added.
    pub async fn set_viewport(&self, width: u32, height: u32) -> Result<()> {
        let (mut outer_w, mut outer_h) = (width, height);
        let mut seen = Vec::new();
        for _ in 0..4 {
            self.session.set_window_size(outer_w, outer_h).await?;
            let inner = self.session.execute("return [innerWidth, innerHeight];", json!([])).await?;
            let (w, h) = (inner[0].as_i64().unwrap_or(0), inner[1].as_i64().unwrap_or(0));
            seen.push((outer_w, outer_h, w, h));
            if w == width as i64 && h == height as i64 {
                return Ok(());
            }
            outer_w = (outer_w as i64 + width as i64 - w).max(1) as u32;
            outer_h = (outer_h as i64 + height as i64 - h).max(1) as u32;
        }
        anyhow::bail!("the viewport cannot be made {width}×{height}: (window, viewport) sizes tried {seen:?}")
    }

    /// Adds server `id` running `command` and starts it, from the terminal (`harbor-bridge servers
    /// add` and `start`), in the bridge this Firefox runs — as a user would beside the sidebar.
    pub fn add_server<S: AsRef<std::ffi::OsStr>>(&self, id: &str, command: &[S]) -> Result<()> {
        for args in [vec!["servers", "add", id, "--"], vec!["servers", "start", id]] {
            let mut run = std::process::Command::new(paths::bridge_binary()?);
            run.args(&args).env("HOME", &self.home).env("HARBOR_HOME", &self.data_dir);
            if args[1] == "add" {
                run.args(command);
            }
            let output = run.output()?;
            ensure!(output.status.success(), "{args:?}: {}", String::from_utf8_lossy(&output.stderr));
        }
        Ok(())
    }

    /// Opens `url` in a new tab and makes it the current window; returns the tab's handle.
    pub async fn open_tab(&self, url: &str) -> Result<String> {
        let handle = self.session.new_tab().await?;
        self.session.switch_to_window(&handle).await?;
        self.session.goto(url).await?;
        Ok(handle)
    }

    /// Types `text` into the open sidebar's chat and sends it, as the user would.
    pub async fn send_chat(&self, text: &str) -> Result<()> {
        self.page(&format!(
            r##"const input = document.querySelector("#chat-input");
               input.value = {text}; input.dispatchEvent(new Event("input", {{ bubbles: true }}));
               document.querySelector(".composer button[type=submit]").click();"##,
            text = serde_json::to_string(text)?,
        ))
        .await?;
        Ok(())
    }

    /// Allows `origin` `scope` always, as the user would in the Sites panel.
    pub async fn allow_always(&self, origin: &str, scope: &str) -> Result<()> {
        self.admin("permissions.set", json!({"origin": origin, "scope": scope, "grant": "ALLOW_ALWAYS"})).await?;
        Ok(())
    }

    /// Waits for Harbor's prompt window (a window not in `known`, the windows before the page
    /// asked), switches to it, and waits until its decision buttons arm.
    pub async fn open_prompt(&self, known: &[String]) -> Result<String> {
        let prompt = self.new_window(known, Duration::from_secs(10)).await?;
        self.arm_prompt(&prompt).await?;
        Ok(prompt)
    }

    /// Switches to the prompt window `prompt` and waits until its decision buttons arm, which
    /// they do once it has been shown and focused for a moment. Focus can go elsewhere while
    /// windows open and close (another prompt closing, say), so it switches again — as a user
    /// would click the window — until the deadline.
    pub async fn arm_prompt(&self, prompt: &str) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            self.session.switch_to_window(prompt).await?;
            // The page may still be loading: no body yet.
            match self.wait_for("document.body?.dataset.armed === 'true'", Duration::from_secs(3)).await {
                Ok(_) => return Ok(()),
                Err(error) if Instant::now() > deadline => {
                    let shown = self
                        .session
                        .execute("return [location.href, document.body && document.body.innerText];", json!([]))
                        .await;
                    bail!("the prompt did not show its request ({error}): {shown:?}");
                }
                Err(_) => {}
            }
        }
    }

    pub async fn admin(&self, method: &str, params: Value) -> Result<Value> {
        let back = self.session.window_handle().await?;
        let mut admin = self.admin_tab.lock().await;
        let handle = match admin.as_ref() {
            Some(handle) => handle.clone(),
            None => {
                let handle = self.open_tab(&self.extension_url("sidebar/index.html")).await?;
                *admin = Some(handle.clone());
                handle
            }
        };
        self.session.switch_to_window(&handle).await?;
        let outcome = self
            .page(&format!(
                r#"const port = browser.runtime.connect({{ name: "harbor-ui" }});
                   return await new Promise((resolve, reject) => {{
                     port.onMessage.addListener((m) => {{
                       if (m.id !== "admin" || m.event !== undefined) return;
                       port.disconnect();
                       if (m.error) reject(m.error); else resolve(m.result);
                     }});
                     port.postMessage({{ id: "admin", method: {method}, params: {params} }});
                   }});"#,
                method = serde_json::to_string(method)?,
            ))
            .await;
        self.session.switch_to_window(&back).await?;
        let outcome = outcome?;
        match outcome.get("ok") {
            Some(result) => Ok(result.clone()),
            None => bail!("{method} failed: {}", outcome["err"]),
        }
    }

    /// Waits for a window that is not one of `known` (a prompt Harbor opened) and returns it.
    pub async fn new_window(&self, known: &[String], timeout: Duration) -> Result<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let handles = self.session.window_handles().await?;
            if let Some(new) = handles.into_iter().find(|h| !known.contains(h)) {
                return Ok(new);
            }
            if Instant::now() > deadline {
                bail!("no new window within {timeout:?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Polls a page expression until it is truthy, returning its value.
    pub async fn wait_for(&self, expression: &str, timeout: Duration) -> Result<Value> {
        let deadline = Instant::now() + timeout;
        loop {
            let value = self.session.execute(&format!("return ({expression});"), json!([])).await?;
            if !(value.is_null() || value == json!(false)) {
                return Ok(value);
            }
            if Instant::now() > deadline {
                bail!("timed out after {timeout:?} waiting for {expression}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The bridge processes this Firefox started (found by their `HARBOR_HOME`).
    pub fn bridge_pids(&self) -> Vec<u32> {
        bridge_pids_for(&self.data_dir)
    }

    pub async fn save_screenshot(&self, name: &str) -> Result<PathBuf> {
        let png = self.session.screenshot().await?;
        let path = paths::artifacts_dir().join(name);
        std::fs::write(&path, png)?;
        Ok(path)
    }

    /// Ends Firefox and cleans up.
    pub async fn close(mut self) {
        let _ = self.session.quit().await;
        let _ = self.driver.kill().await;
    }
}

impl Drop for Harbor {
    fn drop(&mut self) {
        // Firefox outlives a killed geckodriver, so a test that panicked before `close` would
        // leave its browser running: end it by its pid.
        if let Some(pid) = self.session.browser_pid {
            if Path::new(&format!("/proc/{pid}")).exists() {
                let _ = std::process::Command::new("kill").args(["-9", &pid.to_string()]).status();
            }
        }
        let _ = self.driver.start_kill();
        for pid in bridge_pids_for(&self.data_dir) {
            let _ = std::process::Command::new("kill").args(["-9", &pid.to_string()]).status();
        }
        // HARBOR_E2E_KEEP=1 keeps the scratch folder (geckodriver.log, the bridge's logs) for a look.
        if std::env::var_os("HARBOR_E2E_KEEP").is_none() {
            let _ = std::fs::remove_dir_all(&self.scratch);
        }
    }
}

/// Processes whose environment holds `HARBOR_HOME=<data_dir>` and whose program is the bridge.
pub fn bridge_pids_for(data_dir: &Path) -> Vec<u32> {
    let needle = format!("HARBOR_HOME={}", data_dir.display());
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let exe_is_bridge = std::fs::read_link(format!("/proc/{pid}/exe"))
                .map(|exe| exe.file_name().is_some_and(|n| n == "harbor-bridge"))
                .unwrap_or(false);
            exe_is_bridge
                && std::fs::read(format!("/proc/{pid}/environ"))
                    .map(|env| env.split(|b| *b == 0).any(|kv| kv == needle.as_bytes()))
                    .unwrap_or(false)
        })
        .collect()
}

/// A loopback port nothing listens on now.
/// A port nothing listens on (see [`crate::ports`]).
pub fn free_port() -> Result<u16> {
    crate::ports::free_port().context("no free port below 32000")
}

async fn wait_for_driver(url: &str) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if reqwest::get(format!("{url}/status")).await.is_ok() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!("geckodriver did not start listening on {url}")
}

fn geckodriver() -> Result<PathBuf> {
    find_program(
        "GECKODRIVER",
        "geckodriver",
        &[dirs_cargo_bin()],
        "cargo install geckodriver --version 0.37.1 (scripts/test does this)",
    )
}

fn firefox() -> Result<String> {
    let path = find_program(
        "FIREFOX_BIN",
        "firefox-esr",
        &[PathBuf::from("/usr/bin")],
        "apt-get install firefox-esr (scripts/test does this)",
    )?;
    Ok(path.display().to_string())
}

fn dirs_cargo_bin() -> PathBuf {
    std::env::var_os("HOME").map(PathBuf::from).unwrap_or_default().join(".cargo/bin")
}

fn find_program(env: &str, name: &str, extra: &[PathBuf], fix: &str) -> Result<PathBuf> {
    if let Some(path) = std::env::var_os(env) {
        return Ok(PathBuf::from(path));
    }
    let path_dirs = std::env::var_os("PATH").map(|p| std::env::split_paths(&p).collect::<Vec<_>>()).unwrap_or_default();
    path_dirs
        .iter()
        .chain(extra)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
        .with_context(|| format!("{name} is not installed: {fix}"))
}
