//! Bridge benchmarks (run with `scripts/bench`, or `cargo bench -p harbor-bridge`):
//! - framing + dispatch overhead per request, in process, over in-memory pipes;
//! - start-to-ready of the real binary (spawn → first `system.info` reply) and its idle memory.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

mod measure;
use measure::{quantile, BridgeProcess};

const REQUESTS: usize = 20_000;
const STARTS: usize = 20;

fn main() {
    // The runtime host mode uses (see cli::host).
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let per_request = runtime.block_on(in_process_round_trips());
    report("in-process request (frame → dispatch → reply frame)", &per_request, "µs");
    let (ready, rss) = start_to_ready();
    report("bridge start-to-ready (spawn → system.info reply)", &ready, "ms");
    println!("bridge idle resident memory: {rss:.1} MiB");
}

async fn in_process_round_trips() -> Vec<f64> {
    let data_dir = std::env::temp_dir().join(format!("harbor-bench-dispatch-{}", std::process::id()));
    std::fs::create_dir_all(&data_dir).unwrap();
    let (mut to_bridge, bridge_in) = tokio::io::duplex(1 << 20);
    let (bridge_out, mut from_bridge) = tokio::io::duplex(1 << 20);
    let bridge = Arc::new(harbor_bridge::Bridge::open(&data_dir).unwrap());
    let serving = bridge.clone();
    tokio::spawn(async move { serving.serve(bridge_in, bridge_out, std::future::pending()).await });
    let mut samples = Vec::with_capacity(REQUESTS);
    let mut body = Vec::new();
    for id in 0..REQUESTS + 1000 {
        let request = format!(r#"{{"id":{id},"method":"system.echo","params":{{"n":{id}}}}}"#);
        let started = Instant::now();
        to_bridge.write_all(&(request.len() as u32).to_ne_bytes()).await.unwrap();
        to_bridge.write_all(request.as_bytes()).await.unwrap();
        let mut len = [0u8; 4];
        from_bridge.read_exact(&mut len).await.unwrap();
        body.resize(u32::from_ne_bytes(len) as usize, 0);
        from_bridge.read_exact(&mut body).await.unwrap();
        // The first thousand warm the allocator and the runtime's threads.
        if id >= 1000 {
            samples.push(started.elapsed().as_secs_f64() * 1e6);
        }
    }
    samples
}

fn start_to_ready() -> (Vec<f64>, f64) {
    let mut samples = Vec::new();
    let mut rss = 0.0;
    for run in 0..STARTS {
        let started = Instant::now();
        let mut bridge = BridgeProcess::start("start");
        bridge.ok("system.info", serde_json::json!({}));
        samples.push(started.elapsed().as_secs_f64() * 1e3);
        if run == STARTS - 1 {
            std::thread::sleep(Duration::from_secs(1));
            rss = bridge.rss_mib();
        }
    }
    (samples, rss)
}

fn report(what: &str, samples: &[f64], unit: &str) {
    let (p50, p99) = (quantile(samples, 0.5), quantile(samples, 0.99));
    println!("{what}: p50 {p50:.1} {unit}, p99 {p99:.1} {unit} (n = {})", samples.len());
}
