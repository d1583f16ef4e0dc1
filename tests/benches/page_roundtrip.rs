//! Page → content relay → background → native host → back, in real headless Firefox: 1,000
//! sequential `window.harbor.system.echo({})` calls timed in the page, first through the real
//! bridge, then through `tests/fixtures/floor_host.py` (a host that does nothing but echo) to
//! show Firefox's own floor on this machine. Run through `scripts/bench`, which points
//! HARBOR_BRIDGE_BIN at a release build.

use harbor_e2e::firefox::{Harbor, NativeHost, Options};
use harbor_e2e::paths;
use harbor_e2e::site::{Page, Site};

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
        let outcome = harbor
            .page(&format!(
                "await window.harbor.system.info();
                 for (let i = 0; i < 100; i++) await window.harbor.system.echo({{}});
                 const samples = [];
                 for (let i = 0; i < {CALLS}; i++) {{
                   const t = performance.now();
                   await window.harbor.system.echo({{ i }});
                   samples.push(performance.now() - t);
                 }}
                 return samples;"
            ))
            .await
            .unwrap();
        let mut samples: Vec<f64> = outcome["ok"]
            .as_array()
            .expect("the page returns its samples")
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        samples.sort_by(f64::total_cmp);
        let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
        println!(
            "page round trip via {label}: p50 {:.2} ms, p95 {:.2} ms (n = {CALLS}); Firefox launch + add-on {launch_ms} ms",
            at(0.5),
            at(0.95)
        );
        harbor.close().await;
    }
}
