//! Tool selection benchmark (run with `scripts/bench`): picking the 20 tools most relevant to a
//! message among 1,000 and 10,000, with the index built for each turn (the floor: what every turn
//! cost before the index was kept) and kept between turns as the chat does.

use std::time::Instant;

use harbor_bridge::chat::select::{select, Selector};
use harbor_bridge::mcp::registry::ToolEntry;

mod measure;
use measure::{catalog, quantile};

fn main() {
    for count in [1_000usize, 10_000] {
        let tools: Vec<ToolEntry> = catalog(count);
        // The index built for each turn (as before it was kept), then kept between turns as the
        // chat does: the first turn after a catalog change builds it.
        let query = "create an issue about the failing calendar sync";
        let mut rebuilt = Vec::new();
        for _ in 0..20 {
            let started = Instant::now();
            let picked = select(&tools, query, 20);
            rebuilt.push(started.elapsed().as_secs_f64() * 1e3);
            assert_eq!(picked.len(), 20);
        }
        let selector = Selector::default();
        let mut kept = Vec::new();
        for _ in 0..20 {
            let started = Instant::now();
            let picked = selector.select(count as u64, &tools, query, 20);
            kept.push(started.elapsed().as_secs_f64() * 1e3);
            assert_eq!(picked, select(&tools, query, 20));
        }
        let first = kept.remove(0);
        println!(
            "tool selection over {count} tools: index built each turn p50 {:.2} ms; index kept p50 {:.2} ms, max {:.2} ms ({:.3}× building it each turn; the turn that builds it {first:.2} ms)",
            quantile(&rebuilt, 0.5),
            quantile(&kept, 0.5),
            quantile(&kept, 1.0),
            quantile(&kept, 0.5) / quantile(&rebuilt, 0.5),
        );
    }
}
