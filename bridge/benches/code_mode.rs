//! Code mode's benchmark (run with `scripts/bench`):
//! - what a model is offered: the plain tool list for 200 and 1,000 tools against code mode's
//!   three tools, in the chat's own token estimate (the floor is code mode's list);
//! - a sandbox run: start and a trivial `execute_code` (`return 1`), against handing a no-op to
//!   the blocking pool and back (the floor every run pays);
//! - a tool call made from code against the same call made directly on the host (the floor).

use std::time::Instant;

use futures::future::BoxFuture;
use harbor_bridge::chat::agent::spec;
use harbor_bridge::chat::history::estimate_tools;
use harbor_bridge::code_mode::meta_tools;
use harbor_bridge::sandbox::{Host, Limits, Sandbox};
use serde_json::{json, Value};

mod measure;
use measure::{catalog, quantile};

/// One tool, `t/echo`, answered in memory.
struct Echo;

impl Host for Echo {
    fn tools(&self) -> Vec<(String, String)> {
        vec![("t".into(), "echo".into())]
    }

    fn call<'a>(&'a self, _tool: String, arguments: Value) -> BoxFuture<'a, Result<Value, (String, String)>> {
        Box::pin(async move { Ok(json!({ "content": [{ "type": "text", "text": arguments.to_string() }] })) })
    }
}

fn main() {
    let offered = estimate_tools(&meta_tools(false).iter().map(spec).collect::<Vec<_>>());
    for count in [200usize, 1_000] {
        let plain = estimate_tools(&catalog(count).iter().map(spec).collect::<Vec<_>>());
        println!(
            "code mode, tokens offered to the model for {count} tools: plain list {plain}, code mode {offered} ({:.1}× fewer)",
            plain as f64 / offered as f64
        );
    }

    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    runtime.block_on(async {
        let sandbox = Sandbox::default();
        let mut floor = Vec::new();
        let mut trivial = Vec::new();
        for _ in 0..200 {
            let started = Instant::now();
            tokio::task::spawn_blocking(|| 1).await.unwrap();
            floor.push(started.elapsed().as_secs_f64() * 1e6);
            let started = Instant::now();
            let ran = sandbox.run("return 1", &Echo, Limits::default()).await.unwrap();
            trivial.push(started.elapsed().as_secs_f64() * 1e6);
            assert_eq!(ran.value, json!(1));
        }
        println!(
            "code mode, a trivial execute_code (a fresh runtime and context, `return 1`): p50 {:.0} µs, p99 {:.0} µs; the blocking pool's round trip p50 {:.0} µs ({:.0}×)",
            quantile(&trivial, 0.5),
            quantile(&trivial, 0.99),
            quantile(&floor, 0.5),
            quantile(&trivial, 0.5) / quantile(&floor, 0.5)
        );

        const CALLS: usize = 45;
        let code = format!("for (let i = 0; i < {CALLS}; i++) await tools.t.echo({{ i }}); return 1;");
        let mut from_code = Vec::new();
        let mut direct = Vec::new();
        for _ in 0..50 {
            let started = Instant::now();
            for i in 0..CALLS {
                let _ = Echo.call("t/echo".into(), json!({ "i": i })).await;
            }
            direct.push(started.elapsed().as_secs_f64() * 1e6 / CALLS as f64);
            let empty = Instant::now();
            sandbox.run("return 1", &Echo, Limits::default()).await.unwrap();
            let start_cost = empty.elapsed().as_secs_f64() * 1e6;
            let started = Instant::now();
            sandbox.run(&code, &Echo, Limits::default()).await.unwrap();
            from_code.push(((started.elapsed().as_secs_f64() * 1e6) - start_cost).max(0.0) / CALLS as f64);
        }
        println!(
            "code mode, a tool call from code (an in-memory tool): p50 {:.1} µs per call; called directly p50 {:.2} µs (+{:.1} µs)",
            quantile(&from_code, 0.5),
            quantile(&direct, 0.5),
            quantile(&from_code, 0.5) - quantile(&direct, 0.5)
        );
    });
}
