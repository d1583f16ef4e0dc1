//! Bridge benchmarks (run with `scripts/bench`, or `cargo bench -p harbor-bridge`):
//! - framing + dispatch overhead per request, in process, over in-memory pipes;
//! - start-to-ready of the real binary (spawn → first `system.info` reply) and its idle memory,
//!   against its floor: `cat`, which answers the same frame by echoing it (a process start and a
//!   pipe round trip, nothing else).

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

mod measure;
use measure::quantile;

const REQUESTS: usize = 20_000;
const STARTS: usize = 20;

fn main() {
    // The runtime host mode uses (see cli::host).
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let per_request = runtime.block_on(in_process_round_trips());
    report("in-process request (frame → dispatch → reply frame)", &per_request, "µs");
    let (ready, rss) = start_to_ready();
    report("bridge start-to-ready (spawn → system.info reply)", &ready, "ms");
    let floor = cat_round_trips();
    report("process start-to-reply floor (cat echoing the frame)", &floor, "ms");
    println!(
        "bridge start-to-ready: {:.1}× the floor ({:+.1} ms at p50)",
        quantile(&ready, 0.5) / quantile(&floor, 0.5),
        quantile(&ready, 0.5) - quantile(&floor, 0.5)
    );
    println!("bridge idle resident memory: {rss:.1} MiB");
    let (bridge, floor) = large_replies();
    report("a 5 MiB reply to its last byte (system.echo through the bridge, in chunks)", &bridge, "ms");
    report("a 5 MiB reply to its last byte, floor (cat echoing the frame)", &floor, "ms");
    println!(
        "a 5 MiB reply: {:.2}× the floor ({:+.1} ms at p50)",
        quantile(&bridge, 0.5) / quantile(&floor, 0.5),
        quantile(&bridge, 0.5) - quantile(&floor, 0.5)
    );
}

/// A 5 MiB answer to its last byte, 20 times: `system.echo` of a 5 MiB text through one running
/// bridge (its reply comes back as chunk frames within Firefox's 1 MiB limit), against `cat`
/// echoing the same request frame whole (reading and writing 5 MiB through two pipes).
fn large_replies() -> (Vec<f64>, Vec<f64>) {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let text: String = "a quoted \"line\" of tool output, é and all\n".repeat(5 * 1024 * 1024 / 42);
    let request = serde_json::json!({"id": 1, "method": "system.echo", "params": {"text": text}}).to_string();
    let home = std::env::temp_dir().join(format!("harbor-bench-large-{}", std::process::id()));
    let spawn = |program: &str, args: &[&str]| {
        Command::new(program)
            .args(args)
            .env("HARBOR_HOME", &home)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    let measure = |child: &mut std::process::Child, chunked: bool| -> Vec<f64> {
        let mut stdin = child.stdin.take().unwrap();
        let mut stdout = child.stdout.take().unwrap();
        let mut samples = Vec::new();
        for run in 0..22 {
            let started = Instant::now();
            // Written from a thread of its own while the answer is read: `cat` answers as it
            // reads, and would stall on a full pipe otherwise.
            std::thread::scope(|scope| {
                scope.spawn(|| {
                    stdin.write_all(&(request.len() as u32).to_ne_bytes()).unwrap();
                    stdin.write_all(request.as_bytes()).unwrap();
                    stdin.flush().unwrap();
                });
                read_answer(&mut stdout, chunked);
            });
            // The first two warm the allocator and the page cache.
            if run >= 2 {
                samples.push(started.elapsed().as_secs_f64() * 1e3);
            }
        }
        samples
    };
    let mut bridge =
        spawn(env!("CARGO_BIN_EXE_harbor-bridge"), &["/path/to/harbor_rs_bridge.json", "harbor-rs@harbor-mcp.dev"]);
    let through_bridge = measure(&mut bridge, true);
    let _ = bridge.kill();
    let mut cat = spawn("cat", &[]);
    let floor = measure(&mut cat, false);
    let _ = cat.kill();
    let _ = std::fs::remove_dir_all(&home);
    (through_bridge, floor)
}

/// Reads one answer: a frame, or (`chunked`) chunk frames up to the last part.
fn read_answer(stdout: &mut impl std::io::Read, chunked: bool) {
    loop {
        let mut len = [0u8; 4];
        stdout.read_exact(&mut len).unwrap();
        let mut body = vec![0u8; u32::from_ne_bytes(len) as usize];
        stdout.read_exact(&mut body).unwrap();
        if !chunked {
            break;
        }
        // The last chunk, read from its envelope without parsing the data (a quote inside
        // the data is escaped, so `"parts":` cannot occur there).
        let (part, parts) = (number_after(&body, br#""part":"#), number_after(&body, br#""parts":"#));
        if parts.is_none() || part.zip(parts).is_some_and(|(part, parts)| part + 1 == parts) {
            break;
        }
    }
}

/// The number after the first `key` in `frame`.
fn number_after(frame: &[u8], key: &[u8]) -> Option<u64> {
    let at = frame.windows(key.len()).position(|w| w == key)? + key.len();
    let digits: Vec<u8> = frame[at..].iter().copied().take_while(u8::is_ascii_digit).collect();
    std::str::from_utf8(&digits).ok()?.parse().ok()
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

/// The bridge started as Firefox starts it (host mode: the manifest's path and the extension's
/// id), in a data folder it has used before, until its `system.info` reply; and its resident
/// memory once idle.
fn start_to_ready() -> (Vec<f64>, f64) {
    let home = std::env::temp_dir().join(format!("harbor-bench-start-{}", std::process::id()));
    let bridge = env!("CARGO_BIN_EXE_harbor-bridge");
    let host_mode = ["/path/to/harbor_rs_bridge.json", "harbor-rs@harbor-mcp.dev"];
    // The first start creates the database, as Harbor's first start does once.
    first_reply(bridge, &host_mode, &home, None);
    let mut rss = 0.0;
    let samples = (0..STARTS)
        .map(|run| {
            let idle = (run == STARTS - 1).then_some(&mut rss);
            first_reply(bridge, &host_mode, &home, idle)
        })
        .collect();
    let _ = std::fs::remove_dir_all(&home);
    (samples, rss)
}

/// `cat` started and sent a request frame, until the frame comes back: the floor of starting a
/// native host and hearing from it.
fn cat_round_trips() -> Vec<f64> {
    let home = std::env::temp_dir();
    (0..STARTS).map(|_| first_reply("cat", &[], &home, None)).collect()
}

/// Milliseconds from starting `program` to the first frame it answers a `system.info` request
/// frame with; with `idle`, its resident memory (MiB) once idle — a second after the bridge gave
/// its start's code back (`trim::AFTER_START`).
fn first_reply(program: &str, args: &[&str], home: &std::path::Path, idle: Option<&mut f64>) -> f64 {
    use std::io::{Read, Write};
    let frame = br#"{"id":1,"method":"system.info","params":{}}"#;
    let started = Instant::now();
    let mut child = std::process::Command::new(program)
        .args(args)
        .env("HARBOR_HOME", home)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(&(frame.len() as u32).to_ne_bytes()).unwrap();
    stdin.write_all(frame).unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut len = [0u8; 4];
    stdout.read_exact(&mut len).unwrap();
    let mut body = vec![0u8; u32::from_ne_bytes(len) as usize];
    stdout.read_exact(&mut body).unwrap();
    let elapsed = started.elapsed().as_secs_f64() * 1e3;
    if let Some(rss) = idle {
        std::thread::sleep(harbor_bridge::trim::AFTER_START + Duration::from_secs(1));
        *rss = measure::resident_mib(child.id());
    }
    drop(stdin);
    let _ = child.wait();
    elapsed
}

fn report(what: &str, samples: &[f64], unit: &str) {
    let (p50, p99) = (quantile(samples, 0.5), quantile(samples, 0.99));
    println!("{what}: p50 {p50:.1} {unit}, p99 {p99:.1} {unit} (n = {})", samples.len());
}
