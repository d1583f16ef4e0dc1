//! MCP servers written in JavaScript, run by Harbor itself with no Node.js: `harbor-bridge
//! js-server FILE --allow-host HOST…` runs one over its stdin and stdout, so Harbor starts it as
//! any local server (a process launch of its own binary) and it gets the same lifecycle, log,
//! restarts and OS sandbox as the rest.
//!
//! The format is the one Harbor's JS servers have used: the file reads JSON-RPC lines with
//! `await MCP.readLine()` and answers with `MCP.writeLine(json)`, usually from an
//! `async function main()` (called for it when the file does not start reading by itself).
//! `process.env` holds the process's environment (the secrets Harbor gives the server);
//! `console.*` goes to stderr (the server's log); `setTimeout` works; and `fetch(url, init)`
//! reaches only the hosts the server declares (`--allow-host`, from its manifest) — any other
//! is refused with a `TypeError` naming the host, before a request is made. There is no file
//! system, no `require` and no `import()`. QuickJS's heap is limited to [`MEMORY`].

use std::collections::HashSet;
use std::io::{BufRead, Write};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{bail, Context as _, Result};
use rquickjs::{Context, Ctx, Function, Promise, Runtime};
use serde_json::{json, Value};

/// The server's heap.
pub const MEMORY: usize = 128 << 20;

/// The longest body a `fetch` reads.
const FETCH_BODY: usize = 8 << 20;

/// What the engine's loop waits for.
enum Event {
    Line(String),
    Closed,
    Fetched(u32, Value),
}

/// How the server sees the host (`globalThis` gets `MCP`, `process`, `console`, `fetch` and
/// timers; the host functions themselves are taken away).
const PRELUDE: &str = r#"
(() => {
  const write = globalThis.__harbor_write, ask = globalThis.__harbor_fetch;
  const env = JSON.parse(globalThis.__harbor_env);
  for (const name of ["__harbor_write", "__harbor_fetch", "__harbor_env"]) delete globalThis[name];
  const lines = [];
  let waiting = null;
  const state = { reading: false };
  globalThis.MCP = Object.freeze({
    readLine: () => { state.reading = true; return new Promise((resolve) => {
      if (lines.length > 0) resolve(lines.shift()); else waiting = resolve;
    }); },
    writeLine: (text) => { write(typeof text === "string" ? text : JSON.stringify(text)); },
  });
  globalThis.process = Object.freeze({ env: Object.freeze(env), platform: "harbor" });
  const fetches = new Map();
  let nextFetch = 1;
  globalThis.fetch = (input, init) => new Promise((resolve, reject) => {
    const id = nextFetch++;
    fetches.set(id, { resolve, reject });
    const url = typeof input === "string" ? input : String(input && input.url);
    const headers = init && init.headers ? Object.fromEntries(Object.entries(init.headers).map(([k, v]) => [k, String(v)])) : {};
    ask(id, url, JSON.stringify({ method: (init && init.method) || "GET", headers, body: init && init.body != null ? String(init.body) : null }));
  });
  return {
    deliver: (line) => { if (waiting) { const w = waiting; waiting = null; w(line); } else lines.push(line); },
    settle: (id, answer) => {
      const pending = fetches.get(id);
      if (!pending) return;
      fetches.delete(id);
      const got = JSON.parse(answer);
      if (got.error) { pending.reject(new TypeError(got.error)); return; }
      pending.resolve({
        ok: got.status >= 200 && got.status < 300, status: got.status, headers: got.headers,
        text: async () => got.body, json: async () => JSON.parse(got.body),
      });
    },
    started: () => state.reading,
  };
})()
"#;

/// Runs the server in `code` over this process's stdin and stdout until stdin closes.
pub fn serve(code: &str, allowed: Vec<String>) -> Result<()> {
    let allowed: HashSet<String> = allowed.into_iter().map(|h| h.to_ascii_lowercase()).collect();
    let (events, inbox) = mpsc::channel::<Event>();
    let reading = events.clone();
    std::thread::Builder::new().name("js-server-stdin".into()).spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if reading.send(Event::Line(line)).is_err() {
                return;
            }
        }
        let _ = reading.send(Event::Closed);
    })?;
    let fetcher = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let http = fetch_client()?;
    let fetch_handle = std::thread::Builder::new().name("js-server-fetch".into());
    let (fetches, asked) = mpsc::channel::<(u32, String, Value)>();
    let answered = events.clone();
    fetch_handle.spawn(move || {
        for (id, url, init) in asked {
            let answer = match checked(&url, &allowed) {
                Err(refusal) => json!({ "error": refusal }),
                Ok(url) => fetcher.block_on(fetch(&http, url, &init)),
            };
            if answered.send(Event::Fetched(id, answer)).is_err() {
                return;
            }
        }
    })?;

    let js = Runtime::new().context("the JavaScript runtime")?;
    js.set_memory_limit(MEMORY);
    js.set_max_stack_size(1 << 20);
    let context = Context::full(&js).context("the JavaScript context")?;
    context.with(|ctx| run(&ctx, code, &inbox, fetches))
}

/// The client `fetch` uses: no redirects followed — a declared host must not lead the server to
/// one it did not declare; the 3xx answer goes to the code, whose next `fetch` is checked again.
fn fetch_client() -> Result<reqwest::Client> {
    crate::http::client_builder()
        .timeout(Duration::from_secs(30))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .context("an HTTP client for fetch")
}

/// `url`, if its host is one the server declared.
fn checked(url: &str, allowed: &HashSet<String>) -> Result<url::Url, String> {
    let parsed = url::Url::parse(url).map_err(|e| format!("fetch: {url:?} is not a URL ({e})"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(format!("fetch: only http and https, not {}", parsed.scheme()));
    }
    let host = parsed.host_str().unwrap_or_default().to_ascii_lowercase();
    if !allowed.contains(&host) {
        return Err(format!("fetch: {host} is not a host this server declared (its manifest's network hosts)"));
    }
    Ok(parsed)
}

/// One request, as the JS side reads it: `{status, headers, body}` or `{error}`.
async fn fetch(http: &reqwest::Client, url: url::Url, init: &Value) -> Value {
    let method = init["method"].as_str().unwrap_or("GET").parse().unwrap_or(reqwest::Method::GET);
    let mut request = http.request(method, url.clone());
    for (name, value) in init["headers"].as_object().into_iter().flatten() {
        if let Some(value) = value.as_str() {
            request = request.header(name.as_str(), value);
        }
    }
    if let Some(body) = init["body"].as_str() {
        request = request.body(body.to_owned());
    }
    let answer = match request.send().await {
        Ok(answer) => answer,
        Err(error) => return json!({ "error": format!("fetch: {url} did not answer ({error})") }),
    };
    let status = answer.status().as_u16();
    let headers: serde_json::Map<String, Value> = answer
        .headers()
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_owned(), Value::String(v.to_str().ok()?.to_owned()))))
        .collect();
    match crate::http::read_capped(answer, FETCH_BODY).await {
        Ok((body, false)) => json!({ "status": status, "headers": headers, "body": String::from_utf8_lossy(&body) }),
        Ok((_, true)) => json!({ "error": format!("fetch: the answer from {url} is larger than {FETCH_BODY} bytes") }),
        Err(error) => json!({ "error": format!("fetch: reading {url} failed ({error})") }),
    }
}

fn run(
    ctx: &Ctx<'_>,
    code: &str,
    inbox: &mpsc::Receiver<Event>,
    fetches: mpsc::Sender<(u32, String, Value)>,
) -> Result<()> {
    let js = |e: rquickjs::Error| anyhow::anyhow!("{}", thrown(ctx, e));
    let globals = ctx.globals();
    let write = Function::new(ctx.clone(), |line: String| {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{}", line.replace('\n', " "));
        let _ = out.flush();
    })
    .map_err(js)?;
    let err = Function::new(ctx.clone(), |level: String, text: String| eprintln!("[{level}] {text}")).map_err(js)?;
    let pending = std::rc::Rc::new(std::cell::Cell::new(0u32));
    let asking = pending.clone();
    let ask = Function::new(ctx.clone(), move |id: u32, url: String, init: String| {
        asking.set(asking.get() + 1);
        let _ = fetches.send((id, url, serde_json::from_str(&init).unwrap_or_default()));
    })
    .map_err(js)?;
    let env: serde_json::Map<String, Value> = std::env::vars().map(|(k, v)| (k, Value::String(v))).collect();
    globals.set("__harbor_write", write).map_err(js)?;
    globals.set("__harbor_fetch", ask).map_err(js)?;
    globals.set("__harbor_env", Value::Object(env).to_string()).map_err(js)?;
    let host: rquickjs::Object = ctx.eval(PRELUDE).map_err(js)?;
    let console: Function = ctx.eval(crate::sandbox::CONSOLE).map_err(js)?;
    let () = console.call((err,)).map_err(js)?;
    let (deliver, settle, started): (Function, Function, Function) =
        (host.get("deliver").map_err(js)?, host.get("settle").map_err(js)?, host.get("started").map_err(js)?);
    let tick: Function = ctx.eval(crate::sandbox::TIMERS).map_err(js)?;
    let _: rquickjs::Value = ctx.eval(code.to_owned()).map_err(js)?;
    // The jobs promises queued (an uncaught rejection in one is dropped, not fatal).
    while ctx.execute_pending_job() {}
    // The common shape: an `async function main()` the file leaves for its host to call.
    let begun: bool = started.call(()).map_err(js)?;
    let main: Option<Function> = ctx.globals().get("main").ok();
    let mut running: Option<Promise> = None;
    if let (false, Some(main)) = (begun, main) {
        running = Some(main.call(()).map_err(js)?);
    }
    let mut closed = false;
    loop {
        while ctx.execute_pending_job() {}
        if let Some(Some(Err(error))) = running.as_ref().map(|p| p.result::<rquickjs::Value>()) {
            bail!("the server's main() failed: {}", thrown(ctx, error));
        }
        let wait: f64 = tick.call(()).map_err(js)?;
        if wait == 0.0 {
            continue;
        }
        // Stdin closed and nothing left that could move the server again (no fetch, no timer,
        // its jobs run): it is done.
        if closed && pending.get() == 0 && wait < 0.0 {
            return Ok(());
        }
        let event = if wait < 0.0 {
            inbox.recv().ok()
        } else {
            match inbox.recv_timeout(Duration::from_secs_f64(wait / 1000.0)) {
                Ok(event) => Some(event),
                Err(mpsc::RecvTimeoutError::Timeout) => continue,
                Err(mpsc::RecvTimeoutError::Disconnected) => None,
            }
        };
        match event {
            Some(Event::Line(line)) => {
                let () = deliver.call((line,)).map_err(js)?;
            }
            Some(Event::Fetched(id, answer)) => {
                pending.set(pending.get().saturating_sub(1));
                let () = settle.call((id, answer.to_string())).map_err(js)?;
            }
            Some(Event::Closed) => closed = true,
            None if closed => return Ok(()),
            None => closed = true,
        }
    }
}

/// What went wrong in the engine, in words: what JavaScript threw (as the sandbox words it), or
/// the engine's own error.
fn thrown(ctx: &Ctx<'_>, error: rquickjs::Error) -> String {
    match error {
        rquickjs::Error::Exception => crate::sandbox::thrown(ctx),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fetch_reaches_only_declared_hosts_over_http() {
        let allowed: HashSet<String> = ["api.example.com".to_owned()].into();
        assert!(checked("https://api.example.com/v1", &allowed).is_ok());
        assert!(checked("https://API.example.com/v1", &allowed).is_ok(), "hosts are not case-sensitive");
        let other = checked("https://evil.example/steal", &allowed).unwrap_err();
        assert!(other.contains("evil.example is not a host this server declared"), "{other}");
        assert!(checked("https://api.example.com.evil.example/", &allowed).is_err(), "a lookalike suffix");
        assert!(checked("file:///etc/passwd", &allowed).unwrap_err().contains("only http and https"));
        assert!(checked("not a url", &allowed).is_err());
    }

    #[tokio::test]
    async fn a_declared_host_cannot_redirect_fetch_to_an_undeclared_one() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut buffer = [0u8; 1024];
            let _ = stream.read(&mut buffer).await;
            let answer = "HTTP/1.1 302 Found\r\nlocation: http://evil.example/steal\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";
            stream.write_all(answer.as_bytes()).await.unwrap();
        });
        let got = fetch(&fetch_client().unwrap(), url::Url::parse(&url).unwrap(), &json!({})).await;
        assert_eq!(got["status"], 302, "the redirect is the code's to follow (and be checked): {got}");
        assert_eq!(got["headers"]["location"], "http://evil.example/steal");
    }
}
