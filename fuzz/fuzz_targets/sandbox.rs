//! The sandbox's boundary: arbitrary code (the input after its first line) with arbitrary
//! arguments handed to its tool calls (the first line), under tight limits. Whatever the code
//! does, the run ends with a value or a clear error within its time — never a panic, never a
//! hang past the limit.

#![no_main]

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use harbor_bridge::sandbox::{Host, Limits, Sandbox};
use libfuzzer_sys::fuzz_target;
use serde_json::{json, Value};

/// `t/echo` answers with its arguments and the fuzzer's line; `t/no` is always refused.
struct Echo(Value);

impl Host for Echo {
    fn tools(&self) -> Vec<(String, String)> {
        vec![("t".into(), "echo".into()), ("t".into(), "no".into())]
    }

    fn call<'a>(&'a self, tool: String, arguments: Value) -> BoxFuture<'a, Result<Value, (String, String)>> {
        Box::pin(async move {
            match tool.as_str() {
                "t/echo" => Ok(json!({ "arguments": arguments, "line": self.0 })),
                _ => Err(("ERR_TOOL_NOT_ALLOWED".into(), format!("{tool} is refused"))),
            }
        })
    }
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap())
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (line, code) = text.split_once('\n').unwrap_or(("null", text));
    let line = serde_json::from_str(line).unwrap_or(Value::Null);
    let limits = Limits {
        memory: 16 << 20,
        time: Duration::from_secs(1),
        work: 5_000,
        output: 64 << 10,
        logs: 4 << 10,
        calls: 8,
    };
    let started = Instant::now();
    let sandbox = Sandbox::default();
    let outcome = runtime().block_on(sandbox.run(code, &Echo(line), limits));
    if let Err(error) = &outcome {
        assert!(!error.to_string().is_empty());
    }
    assert!(started.elapsed() < Duration::from_secs(10), "a run outlived its limit: {:?}", started.elapsed());
});
