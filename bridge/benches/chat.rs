//! Models and chat benchmarks (run with `scripts/bench`):
//! - the bridge's added latency per token: from the moment the scripted model server writes a
//!   token to the moment its `token` event comes out of the real bridge binary's stdout, through
//!   the whole agent loop (`chat.send`);
//! - tokens per second passed through, next to the model server's own writing rate (the floor).
//!
//! The model server is `harbor-model-double` in this process, so both instants come from one
//! clock.

use std::time::{Duration, Instant};

use harbor_model_double::{Model, ScriptedModel, Turn};
use serde_json::json;

mod measure;
use measure::{quantile, BridgeProcess};

const TURNS: usize = 200;
const TOKENS_PER_TURN: usize = 5;
const STREAM_TOKENS: usize = 20_000;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let model = runtime.block_on(ScriptedModel::start(vec![Model::new("bench")]));
    let mut bridge = BridgeProcess::start("chat");
    bridge.ok("llm.setProvider", json!({"id": "scripted", "kind": "ollama", "baseUrl": model.url()}));
    bridge.ok("llm.select", json!({"provider": "scripted", "model": "bench"}));
    let mut session = bridge.ok("chat.sessions.create", json!({}))["id"].as_str().unwrap().to_owned();

    // Per-token latency: tokens a few milliseconds apart, as a model writes them.
    let mut latencies = Vec::new();
    for turn in 0..TURNS + 20 {
        let mut script = Turn::new();
        for n in 0..TOKENS_PER_TURN {
            script = script.text(&format!("t{turn}-{n} ")).pause(Duration::from_millis(2));
        }
        model.push(script);
        let before = model.sent().len();
        let (_, events) = bridge.stream("chat.send", json!({"sessionId": session, "text": "go"}));
        let sent = &model.sent()[before..];
        let received: Vec<Instant> = events.iter().filter(|(_, e)| e["type"] == "token").map(|(at, _)| *at).collect();
        assert_eq!(received.len(), sent.len());
        if turn >= 20 {
            latencies
                .extend(sent.iter().zip(&received).map(|((out, _), got)| got.duration_since(*out).as_secs_f64() * 1e6));
        }
        // A new session now and then keeps the history (and the request body) small.
        if turn % 20 == 19 {
            bridge.ok("chat.sessions.delete", json!({"id": session}));
            session = bridge.ok("chat.sessions.create", json!({}))["id"].as_str().unwrap().to_owned();
        }
    }
    println!(
        "chat token, model server write → event out of the bridge (agent loop, {} tokens): p50 {:.0} µs, p95 {:.0} µs, p99 {:.0} µs",
        latencies.len(),
        quantile(&latencies, 0.5),
        quantile(&latencies, 0.95),
        quantile(&latencies, 0.99)
    );

    // Throughput: one answer of many tokens written as fast as the model server can.
    let session = bridge.ok("chat.sessions.create", json!({}))["id"].as_str().unwrap().to_owned();
    let mut script = Turn::new();
    for n in 0..STREAM_TOKENS {
        script = script.text(&format!("w{n} "));
    }
    model.push(script);
    let before = model.sent().len();
    let (_, events) = bridge.stream("chat.send", json!({"sessionId": session, "text": "long"}));
    let sent = &model.sent()[before..];
    let received: Vec<Instant> = events.iter().filter(|(_, e)| e["type"] == "token").map(|(at, _)| *at).collect();
    assert_eq!(received.len(), STREAM_TOKENS);
    let through = STREAM_TOKENS as f64 / received[STREAM_TOKENS - 1].duration_since(sent[0].0).as_secs_f64();
    let floor = STREAM_TOKENS as f64 / sent[STREAM_TOKENS - 1].0.duration_since(sent[0].0).as_secs_f64();
    println!(
        "tokens passed through the bridge: {through:.0} tokens/s (the model server alone writes {floor:.0} tokens/s)"
    );
    println!("bridge memory after {} chat turns: {:.1} MiB resident", TURNS + 21, bridge.rss_mib());

    drop(bridge);
    drop(model);
}
