//! The sandbox: JavaScript that a model (or an app) wrote, run in the bridge with no file
//! system, no network and no host code beyond what is handed to it — QuickJS through `rquickjs`
//! (ARCHITECTURE.md says why QuickJS and not a V8 isolate).
//!
//! Every run gets a fresh runtime and context, bounded four ways: memory (QuickJS's allocator
//! limit), wall-clock time and work (an interrupt handler that QuickJS calls as it executes, so a
//! `while(true){}` ends), and output (the return value's JSON and the captured console). It runs
//! on the blocking pool, never on the runtime's threads, and at most [`PARALLEL_RUNS`] run at once
//! (the rest wait for a turn, within their own time limit).
//!
//! What the code gets: `console.*` (captured into the outcome), a `setTimeout` whose timers fire
//! in due order within the run's time, and — from the [`Host`] — `tools.<server>.<tool>(args)`
//! and `callTool(name, args)`: async functions whose every call goes to the host (which passes
//! the caller's whole policy), returning the tool's result or throwing an `Error` whose `code`
//! is the refusal's (`ERR_TOOL_NOT_ALLOWED`, …). The host objects are frozen, and the host
//! function behind them is not reachable from the code. `require`, `process`, `fetch`, `import()`
//! and the like do not exist. A host call blocks the run's own thread until it is answered (so
//! `Promise.all` over calls runs them one after another), bounded by the run's time: the call
//! itself runs in the task that awaits [`Sandbox::run`], so it may borrow what that task holds,
//! and a run whose caller goes away is interrupted.

use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use rquickjs::{Context, Ctx, Function, Promise, Runtime};
use serde_json::{json, Value};
use tokio::sync::Semaphore;

/// How many runs execute at once; more wait for a turn.
pub const PARALLEL_RUNS: usize = 2;

/// What one run may use.
#[derive(Clone, Debug)]
pub struct Limits {
    /// QuickJS's heap.
    pub memory: usize,
    /// From the start of the run (a wait for a turn counts).
    pub time: Duration,
    /// How many times QuickJS may check in (it does so every few thousand operations).
    pub work: u64,
    /// The return value's JSON, in bytes.
    pub output: usize,
    /// The captured console, in bytes.
    pub logs: usize,
    /// Host (tool) calls.
    pub calls: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            memory: 64 << 20,
            time: Duration::from_secs(30),
            work: 200_000,
            output: 1 << 20,
            logs: 64 << 10,
            calls: 50,
        }
    }
}

/// What the code may call: the tools, each passing the caller's policy.
pub trait Host: Send + Sync {
    /// The tools the code gets as `tools.<server>.<tool>`: `(server, tool)` pairs.
    fn tools(&self) -> Vec<(String, String)>;
    /// Calls `tool` (`server/tool`) with `arguments`: the tool's result, or a refusal or failure
    /// as `(code, message)`.
    fn call<'a>(&'a self, tool: String, arguments: Value) -> BoxFuture<'a, Result<Value, (String, String)>>;
}

/// A host call, from the run's thread to the task that awaits the run.
struct HostCall {
    tool: String,
    arguments: Value,
    answer: std::sync::mpsc::SyncSender<Result<Value, (String, String)>>,
}

/// A run that finished: the code's return value, what it logged, how many tools it called.
#[derive(Clone, Debug, PartialEq)]
pub struct Outcome {
    pub value: Value,
    pub logs: Vec<String>,
    pub calls: usize,
    /// Each tool call the code made, in order.
    pub made: Vec<Made>,
}

/// One tool call the code made, and how it went: `ok`, or the refusal's or failure's code.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Made {
    pub tool: String,
    pub outcome: String,
}

/// Why a run did not finish.
#[derive(Clone, Debug, PartialEq)]
pub enum SandboxError {
    /// The code threw (or its promise rejected) with this message.
    Threw {
        message: String,
        logs: Vec<String>,
    },
    TimedOut {
        after: Duration,
    },
    OutOfMemory {
        limit: usize,
    },
    TooMuchWork {
        limit: u64,
    },
    OutputTooLarge {
        limit: usize,
    },
    TooManyCalls {
        limit: usize,
    },
    /// Not JavaScript that parses.
    Syntax(String),
    Internal(String),
}

impl SandboxError {
    /// The error's code on the wire.
    pub fn code(&self) -> &'static str {
        match self {
            SandboxError::Threw { .. } => "ERR_CODE_THREW",
            SandboxError::Syntax(_) => "ERR_INVALID_REQUEST",
            SandboxError::Internal(_) => "ERR_INTERNAL",
            _ => "ERR_SANDBOX_LIMIT",
        }
    }
}

impl std::fmt::Display for SandboxError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SandboxError::Threw { message, .. } => write!(f, "the code threw: {message}"),
            SandboxError::TimedOut { after } => {
                write!(f, "the code ran out of time: it may run {} s", after.as_secs_f64())
            }
            SandboxError::OutOfMemory { limit } => {
                write!(f, "the code ran out of memory: it may use {} MiB", limit >> 20)
            }
            SandboxError::TooMuchWork { limit } => {
                // QuickJS checks in every 10,000 operations.
                write!(f, "the code did too much work: it may run about {} million operations", limit / 100)
            }
            SandboxError::OutputTooLarge { limit } => {
                write!(f, "the code's return value is too large: at most {limit} bytes of JSON")
            }
            SandboxError::TooManyCalls { limit } => {
                write!(f, "the code called too many tools: at most {limit} per run")
            }
            SandboxError::Syntax(why) => write!(f, "the code does not parse: {why}"),
            SandboxError::Internal(why) => write!(f, "the sandbox failed: {why}"),
        }
    }
}

impl std::error::Error for SandboxError {}

/// The sandbox's runs: a bound on how many at once.
pub struct Sandbox {
    turns: Arc<Semaphore>,
}

impl Default for Sandbox {
    fn default() -> Sandbox {
        Sandbox { turns: Arc::new(Semaphore::new(PARALLEL_RUNS)) }
    }
}

impl Sandbox {
    /// Runs `code` (the body of an async function: `return` gives the value) with `host`'s
    /// tools, within `limits`. Dropping the future interrupts the run.
    pub async fn run(&self, code: &str, host: &dyn Host, limits: Limits) -> Result<Outcome, SandboxError> {
        let started = Instant::now();
        let turn = tokio::time::timeout(limits.time, self.turns.clone().acquire_owned())
            .await
            .map_err(|_| SandboxError::TimedOut { after: limits.time })?
            .map_err(|_| SandboxError::Internal("the sandbox is closed".into()))?;
        let (code, tools) = (code.to_owned(), host.tools());
        let (calls, mut asked) = tokio::sync::mpsc::channel::<HostCall>(1);
        let gone = Arc::new(AtomicBool::new(false));
        let _interrupt = Interrupt(gone.clone());
        let mut ran = tokio::task::spawn_blocking(move || {
            let _turn = turn;
            execute(&code, tools, calls, &limits, started, &gone)
        });
        loop {
            tokio::select! {
                ran = &mut ran => return ran.map_err(|e| SandboxError::Internal(format!("the run stopped: {e}")))?,
                Some(call) = asked.recv() => {
                    let answer = host.call(call.tool, call.arguments).await;
                    let _ = call.answer.send(answer);
                }
            }
        }
    }
}

/// Interrupts the run when the future awaiting it is dropped.
struct Interrupt(Arc<AtomicBool>);

impl Drop for Interrupt {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// The run's bookkeeping, shared by the host functions.
struct Run {
    calls_out: tokio::sync::mpsc::Sender<HostCall>,
    tools: Vec<(String, String)>,
    limits: Limits,
    deadline: Instant,
    logs: std::cell::RefCell<Logs>,
    calls: std::cell::Cell<usize>,
    made: std::cell::RefCell<Vec<Made>>,
    /// Why the run was stopped from inside a host call.
    stopped: std::cell::RefCell<Option<SandboxError>>,
}

#[derive(Default)]
struct Logs {
    lines: Vec<String>,
    bytes: usize,
    cut: bool,
}

/// `setTimeout` and `clearTimeout` on `globalThis`; evaluates to the function the host calls
/// when nothing else is left to run: it fires the next due timer (0), says how many
/// milliseconds until one is due, or -1 when none is set.
pub(crate) const TIMERS: &str = r#"
(() => {
  const timers = [];
  let next = 1;
  globalThis.setTimeout = (fn, ms, ...args) => {
    if (typeof fn !== "function") throw new TypeError("setTimeout takes a function");
    const id = next++;
    timers.push({ id, at: Date.now() + Math.max(0, Number(ms) || 0), fn, args });
    return id;
  };
  globalThis.clearTimeout = (id) => { const at = timers.findIndex((t) => t.id === id); if (at >= 0) timers.splice(at, 1); };
  return () => {
    if (timers.length === 0) return -1;
    timers.sort((a, b) => a.at - b.at);
    const wait = timers[0].at - Date.now();
    if (wait > 0) return wait;
    const timer = timers.shift();
    timer.fn(...timer.args);
    return 0;
  };
})()
"#;

/// A function that sets a frozen `console` on `globalThis` whose methods write each line, its
/// parts as text (strings as they are, the rest as JSON), through the host function it is given
/// as `write(level, line)`.
pub(crate) const CONSOLE: &str = r#"
(write) => {
  const text = (value) => {
    if (typeof value === "string") return value;
    try { const json = JSON.stringify(value); return json === undefined ? String(value) : json; }
    catch { return String(value); }
  };
  const say = (level) => (...parts) => { write(level, parts.map(text).join(" ")); };
  globalThis.console = Object.freeze({ log: say("log"), info: say("info"), warn: say("warn"), error: say("error"), debug: say("debug") });
}
"#;

/// How the code sees the host: a frozen `tools` tree over one hidden call function.
const PRELUDE: &str = r#"
(() => {
  const call = globalThis.__harbor_call, names = globalThis.__harbor_tools;
  delete globalThis.__harbor_call; delete globalThis.__harbor_tools;
  const invoke = async (name, args) => {
    if (typeof name !== "string") throw new TypeError("a tool's name is a string");
    const answer = JSON.parse(call(name, JSON.stringify(args === undefined ? {} : args)));
    if (answer.error) {
      const error = new Error(answer.error.message);
      error.code = answer.error.code;
      throw error;
    }
    return answer.result;
  };
  const tools = {};
  for (const [server, tool] of JSON.parse(names)) {
    (tools[server] ??= {})[tool] = Object.freeze((args) => invoke(server + "/" + tool, args));
  }
  for (const server of Object.keys(tools)) Object.freeze(tools[server]);
  Object.defineProperty(globalThis, "tools", { value: Object.freeze(tools), enumerable: true });
  // A REST service's operations read as an API's: `api.<service>.<operationId>(params)`.
  Object.defineProperty(globalThis, "api", { value: globalThis.tools, enumerable: true });
  Object.defineProperty(globalThis, "callTool", { value: Object.freeze(invoke), enumerable: true });
})()
"#;

fn execute(
    code: &str,
    tools: Vec<(String, String)>,
    calls_out: tokio::sync::mpsc::Sender<HostCall>,
    limits: &Limits,
    started: Instant,
    gone: &Arc<AtomicBool>,
) -> Result<Outcome, SandboxError> {
    let deadline = started + limits.time;
    let internal = |e: rquickjs::Error| SandboxError::Internal(e.to_string());
    let js = Runtime::new().map_err(internal)?;
    js.set_memory_limit(limits.memory);
    js.set_max_stack_size(1 << 20);
    // QuickJS calls this as it runs: past the time or the work, the run is interrupted (an
    // exception the code cannot catch).
    let work = Arc::new(AtomicU64::new(0));
    let (counted, most, gone) = (work.clone(), limits.work, gone.clone());
    js.set_interrupt_handler(Some(Box::new(move || {
        counted.fetch_add(1, Ordering::Relaxed) >= most || Instant::now() >= deadline || gone.load(Ordering::Relaxed)
    })));
    let context = Context::full(&js).map_err(internal)?;
    let run = Rc::new(Run {
        calls_out,
        tools,
        limits: limits.clone(),
        deadline,
        logs: Default::default(),
        calls: Default::default(),
        made: Default::default(),
        stopped: Default::default(),
    });
    let outcome = context.with(|ctx| evaluate(&ctx, code, &run));
    // A limit a host call met ends the run whatever the code made of it.
    if let Some(stopped) = run.stopped.borrow_mut().take() {
        return Err(stopped);
    }
    outcome.map_err(|failure| match failure {
        Failure::Error(error) => error,
        Failure::Thrown(message) => {
            if Instant::now() >= deadline {
                SandboxError::TimedOut { after: limits.time }
            } else if work.load(Ordering::Relaxed) >= limits.work {
                SandboxError::TooMuchWork { limit: limits.work }
            } else if message.contains("out of memory") {
                SandboxError::OutOfMemory { limit: limits.memory }
            } else {
                SandboxError::Threw { message, logs: run.logs.borrow().lines.clone() }
            }
        }
    })
}

/// How `evaluate` failed: a limit or fault it knows, or something thrown (classified after).
enum Failure {
    Error(SandboxError),
    Thrown(String),
}

fn evaluate<'js>(ctx: &Ctx<'js>, code: &str, run: &Rc<Run>) -> Result<Outcome, Failure> {
    let internal = |e: rquickjs::Error| Failure::Error(SandboxError::Internal(e.to_string()));
    let globals = ctx.globals();
    let calling = run.clone();
    let call = Function::new(ctx.clone(), move |name: String, args: String| calling.call(name, args));
    let logging = run.clone();
    let log = Function::new(ctx.clone(), move |level: String, text: String| logging.log(&level, &text));
    let names = serde_json::to_string(&run.tools).unwrap_or_else(|_| "[]".into());
    globals.set("__harbor_call", call.map_err(internal)?).map_err(internal)?;
    globals.set("__harbor_tools", names).map_err(internal)?;
    let () = ctx.eval(PRELUDE).map_err(internal)?;
    let console: Function = ctx.eval(CONSOLE).map_err(internal)?;
    let () = console.call((log.map_err(internal)?,)).map_err(internal)?;
    let tick: Function = ctx.eval(TIMERS).map_err(internal)?;

    let wrapped = format!("(async () => {{\n{code}\n}})()");
    let promise: Promise = match ctx.eval(wrapped) {
        Ok(promise) => promise,
        Err(rquickjs::Error::Exception) => {
            let thrown = thrown(ctx);
            return Err(if thrown.starts_with("SyntaxError") {
                Failure::Error(SandboxError::Syntax(thrown))
            } else {
                Failure::Thrown(thrown)
            });
        }
        Err(rquickjs::Error::Allocation) => return Err(Failure::Thrown("out of memory".into())),
        Err(other) => return Err(internal(other)),
    };
    let value: rquickjs::Value = loop {
        match promise.finish::<rquickjs::Value>() {
            Ok(value) => break value,
            Err(rquickjs::Error::WouldBlock) => {
                // Nothing left to run but timers: the next one fires when due.
                let wait: f64 = tick.call(()).map_err(|_| Failure::Thrown(thrown(ctx)))?;
                if wait < 0.0 {
                    return Err(Failure::Thrown(
                        "the code's promise never settles: it awaits something that nothing will resolve".into(),
                    ));
                }
                if wait > 0.0 {
                    let left = run.deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Err(Failure::Thrown("interrupted".into()));
                    }
                    std::thread::sleep(Duration::from_secs_f64(wait / 1000.0).min(left));
                }
            }
            Err(rquickjs::Error::Exception) => return Err(Failure::Thrown(thrown(ctx))),
            Err(rquickjs::Error::Allocation) => return Err(Failure::Thrown("out of memory".into())),
            Err(other) => return Err(internal(other)),
        }
    };
    let json = match ctx.json_stringify(value) {
        Ok(json) => json.map(|s| s.to_string()).transpose().map_err(internal)?,
        Err(rquickjs::Error::Exception) => return Err(Failure::Thrown(thrown(ctx))),
        Err(rquickjs::Error::Allocation) => return Err(Failure::Thrown("out of memory".into())),
        Err(other) => return Err(internal(other)),
    };
    let json = json.unwrap_or_else(|| "null".into());
    if json.len() > run.limits.output {
        return Err(Failure::Error(SandboxError::OutputTooLarge { limit: run.limits.output }));
    }
    let value = serde_json::from_str(&json).map_err(|e| Failure::Error(SandboxError::Internal(e.to_string())))?;
    Ok(Outcome { value, logs: run.logs.borrow().lines.clone(), calls: run.calls.get(), made: run.made.take() })
}

/// What the code threw, in words (an `Error`'s name and message, else the value as text).
pub(crate) fn thrown(ctx: &Ctx<'_>) -> String {
    let value = ctx.catch();
    if let Some(exception) = value.as_exception() {
        let message = exception.message().unwrap_or_default();
        let name: Option<String> = exception.get("name").ok();
        return match name {
            Some(name) if !name.is_empty() => format!("{name}: {message}"),
            _ => message,
        };
    }
    ctx.json_stringify(value)
        .ok()
        .flatten()
        .and_then(|s| s.to_string().ok())
        .unwrap_or_else(|| "a value that is not an Error".into())
}

impl Run {
    /// A tool call from the code: `{result}` or `{error: {code, message}}`, as JSON.
    fn call(&self, name: String, args: String) -> String {
        let refuse = |code: &str, message: String| json!({ "error": { "code": code, "message": message } }).to_string();
        if let Some(stopped) = self.stopped.borrow().as_ref() {
            return refuse(stopped.code(), stopped.to_string());
        }
        let made = self.calls.get() + 1;
        self.calls.set(made);
        if made > self.limits.calls {
            let stopped = SandboxError::TooManyCalls { limit: self.limits.calls };
            let refused = refuse(stopped.code(), stopped.to_string());
            *self.stopped.borrow_mut() = Some(stopped);
            return refused;
        }
        let arguments: Value = serde_json::from_str(&args).unwrap_or(Value::Null);
        let (tell, answer) = std::sync::mpsc::sync_channel(1);
        let tool = name.clone();
        if self.calls_out.blocking_send(HostCall { tool: name, arguments, answer: tell }).is_err() {
            return refuse("ERR_ABORTED", "the run's caller has gone".into());
        }
        let left = self.deadline.saturating_duration_since(Instant::now());
        let answered = answer.recv_timeout(left);
        let outcome = match &answered {
            Ok(Ok(_)) => "ok".to_owned(),
            Ok(Err((code, _))) => code.clone(),
            Err(_) => "ERR_ABORTED".to_owned(),
        };
        self.made.borrow_mut().push(Made { tool, outcome });
        match answered {
            Ok(Ok(result)) => json!({ "result": result }).to_string(),
            Ok(Err((code, message))) => refuse(&code, message),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                refuse("ERR_ABORTED", "the run's caller has gone".into())
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                let stopped = SandboxError::TimedOut { after: self.limits.time };
                let refused = refuse(stopped.code(), stopped.to_string());
                *self.stopped.borrow_mut() = Some(stopped);
                refused
            }
        }
    }

    /// A console line, kept while the console's bytes last.
    fn log(&self, level: &str, text: &str) {
        let mut logs = self.logs.borrow_mut();
        if logs.cut {
            return;
        }
        let line = if level == "log" { text.to_owned() } else { format!("[{level}] {text}") };
        if logs.bytes + line.len() > self.limits.logs {
            logs.cut = true;
            let limit = self.limits.logs;
            logs.lines.push(format!("… the console was cut at {limit} bytes"));
            return;
        }
        logs.bytes += line.len();
        logs.lines.push(line);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Tools `s/echo` (answers with its arguments) and `s/secret` (always refused).
    struct Echo;

    impl Host for Echo {
        fn tools(&self) -> Vec<(String, String)> {
            vec![("s".into(), "echo".into()), ("s".into(), "secret".into())]
        }

        fn call<'a>(&'a self, tool: String, arguments: Value) -> BoxFuture<'a, Result<Value, (String, String)>> {
            Box::pin(async move {
                match tool.as_str() {
                    "s/echo" => Ok(json!({ "echoed": arguments })),
                    _ => Err(("ERR_TOOL_NOT_ALLOWED".into(), format!("{tool} is not allowed"))),
                }
            })
        }
    }

    async fn run(code: &str, limits: Limits) -> Result<Outcome, SandboxError> {
        Sandbox::default().run(code, &Echo, limits).await
    }

    fn quick() -> Limits {
        Limits { time: Duration::from_secs(5), ..Limits::default() }
    }

    #[tokio::test]
    async fn code_calls_tools_logs_and_returns_json() {
        let code = r#"
            const first = await tools.s.echo({ n: 1 });
            const second = await callTool("s/echo", { n: 2 });
            console.log("got", first.echoed.n, { second: second.echoed.n });
            let refused;
            try { await tools.s.secret({}); } catch (e) { refused = e.code; }
            await new Promise((resolve) => setTimeout(resolve, 20));
            return { sum: first.echoed.n + second.echoed.n, refused };
        "#;
        let ran = run(code, quick()).await.unwrap();
        assert_eq!(ran.value, json!({ "sum": 3, "refused": "ERR_TOOL_NOT_ALLOWED" }));
        assert_eq!(ran.logs, vec![r#"got 1 {"second":2}"#.to_owned()]);
        assert_eq!(ran.calls, 3);
        let made: Vec<(&str, &str)> = ran.made.iter().map(|m| (m.tool.as_str(), m.outcome.as_str())).collect();
        assert_eq!(made, [("s/echo", "ok"), ("s/echo", "ok"), ("s/secret", "ERR_TOOL_NOT_ALLOWED")]);
        assert_eq!(run("return undefined", quick()).await.unwrap().value, Value::Null);
    }

    #[tokio::test]
    async fn what_the_code_throws_or_cannot_parse_is_a_clear_error() {
        let thrown = run(r#"console.log("before"); throw new Error("boom")"#, quick()).await.unwrap_err();
        assert_eq!(thrown, SandboxError::Threw { message: "Error: boom".into(), logs: vec!["before".into()] });
        assert!(matches!(run("return )(", quick()).await.unwrap_err(), SandboxError::Syntax(_)));
        let never = run("await new Promise(() => {})", quick()).await.unwrap_err();
        assert!(never.to_string().contains("never settles"), "{never}");
    }

    #[tokio::test]
    async fn the_host_is_out_of_reach_and_its_objects_cannot_be_changed() {
        let code = r#"
            const missing = ["require", "process", "fetch", "Deno", "XMLHttpRequest", "__harbor_call", "__harbor_log", "std", "os"]
                .filter((name) => typeof globalThis[name] !== "undefined");
            let imported = "no";
            try { await import("os"); imported = "yes"; } catch (e) { imported = String(e.name); }
            const refused = [];
            try { tools.s.echo = () => "hijacked"; } catch (e) { refused.push(e.name); }
            try { tools.s = null; } catch (e) { refused.push(e.name); }
            try { globalThis.tools = {}; } catch (e) { refused.push(e.name); }
            Object.prototype.polluted = true;
            let redefined = "no";
            try { Object.defineProperty(tools.s, "echo", { value: 1 }); redefined = "yes"; } catch { redefined = "refused"; }
            const still = await tools.s.echo({ ok: 1 });
            return { missing, imported, refused, redefined, still: still.echoed.ok, frozen: Object.isFrozen(tools) };
        "#;
        let ran = run(code, quick()).await.unwrap();
        assert_eq!(ran.value["missing"], json!([]), "{}", ran.value);
        assert_ne!(ran.value["imported"], "yes");
        assert_eq!(ran.value["redefined"], "refused");
        assert_eq!(ran.value["refused"], json!(["TypeError", "TypeError", "TypeError"]), "{}", ran.value);
        assert_eq!(ran.value["still"], 1, "the tool the code replaced is still the host's");
        assert_eq!(ran.value["frozen"], true);
        // A second run starts clean: nothing the first one did is there.
        let clean = run("return { polluted: ({}).polluted === true }", quick()).await.unwrap();
        assert_eq!(clean.value["polluted"], false);
    }

    #[tokio::test]
    async fn a_loop_ends_at_the_time_limit_or_the_work_limit() {
        let limits = Limits { time: Duration::from_millis(300), ..Limits::default() };
        let started = Instant::now();
        let error = run("while (true) {}", limits).await.unwrap_err();
        assert_eq!(error, SandboxError::TimedOut { after: Duration::from_millis(300) });
        assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
        // A loop that catches everything still ends: the interruption cannot be caught.
        let limits = Limits { time: Duration::from_secs(20), work: 50, ..Limits::default() };
        let error = run("for (;;) { try { for (;;) {} } catch (e) {} }", limits).await.unwrap_err();
        assert_eq!(error, SandboxError::TooMuchWork { limit: 50 });
        assert!(error.to_string().contains("too much work"));
    }

    #[tokio::test]
    async fn memory_and_output_are_bounded() {
        let limits = Limits { memory: 16 << 20, ..quick() };
        let grab = "const all = []; for (;;) all.push(new Array(1e6).fill(7));";
        assert_eq!(run(grab, limits.clone()).await.unwrap_err(), SandboxError::OutOfMemory { limit: 16 << 20 });
        let huge = run(r#"return "x".repeat(100 * 1024 * 1024)"#, limits).await.unwrap_err();
        assert!(
            matches!(huge, SandboxError::OutOfMemory { .. } | SandboxError::OutputTooLarge { .. }),
            "a 100 MiB return value: {huge:?}"
        );
        let big = run(r#"return "x".repeat(2 * 1024 * 1024)"#, quick()).await.unwrap_err();
        assert_eq!(big, SandboxError::OutputTooLarge { limit: 1 << 20 });
        let chatty = run(r#"for (let i = 0; i < 100000; i++) console.log("line " + i); return 1"#, quick()).await;
        let logs = chatty.unwrap().logs;
        assert!(logs.last().unwrap().contains("cut at 65536 bytes"), "{:?}", logs.last());
        assert!(logs.iter().map(String::len).sum::<usize>() < (64 << 10) + 100);
    }

    #[tokio::test]
    async fn a_run_may_make_only_so_many_calls_even_when_it_catches_the_refusal() {
        let limits = Limits { calls: 2, ..quick() };
        let code = "for (let i = 0; i < 5; i++) { try { await tools.s.echo({ i }); } catch {} } return 'done';";
        assert_eq!(run(code, limits).await.unwrap_err(), SandboxError::TooManyCalls { limit: 2 });
    }

    #[tokio::test]
    async fn a_run_whose_caller_goes_away_is_interrupted_and_frees_its_turn() {
        let sandbox = Arc::new(Sandbox::default());
        let long = Limits { time: Duration::from_secs(60), ..Limits::default() };
        let busy: Vec<_> = (0..PARALLEL_RUNS)
            .map(|_| {
                let (sandbox, long) = (sandbox.clone(), long.clone());
                tokio::spawn(async move { sandbox.run("while (true) {}", &Echo, long).await })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(100)).await;
        for run in &busy {
            run.abort();
        }
        // Both turns were taken; they come back once the interrupted runs have ended.
        let started = Instant::now();
        let next = sandbox.run("return 'free'", &Echo, quick()).await.unwrap();
        assert_eq!(next.value, json!("free"));
        assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_busy_run_never_holds_up_the_runtime() {
        let sandbox = Arc::new(Sandbox::default());
        let limits = Limits { time: Duration::from_secs(3), ..Limits::default() };
        let busy = tokio::spawn({
            let sandbox = sandbox.clone();
            async move { sandbox.run("while (true) {}", &Echo, limits).await }
        });
        // On the one runtime thread, a timer and another run finish while the busy one spins
        // (bounds far inside its 3 s, for a loaded machine).
        let started = Instant::now();
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(started.elapsed() < Duration::from_millis(1500), "{:?}", started.elapsed());
        let other = sandbox.run("return 2 + 2", &Echo, quick()).await.unwrap();
        assert_eq!(other.value, json!(4));
        assert!(!busy.is_finished(), "the other run finished while the busy one still spun");
        assert!(matches!(busy.await.unwrap(), Err(SandboxError::TimedOut { .. })));
    }
}
