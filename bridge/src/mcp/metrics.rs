//! Tool-call metrics per server and tool, and the Prometheus text format they are read in.
//!
//! Every call through the registry counts, whoever made it (the sidebar, the chat, a page or a
//! gateway client): calls, errors and a latency histogram. [`Text`] writes the exposition
//! format (version 0.0.4) with its label escaping, for the gateway's `/metrics`.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds of the latency histogram's buckets, in seconds.
pub const BUCKETS: [f64; 12] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

#[derive(Clone, Debug, Default)]
struct ToolStats {
    calls: u64,
    errors: u64,
    /// Per bucket of [`BUCKETS`], not cumulative.
    buckets: [u64; BUCKETS.len()],
    sum_seconds: f64,
}

/// Counters of tool calls by `(server, tool)`.
#[derive(Debug, Default)]
pub struct Metrics {
    tools: Mutex<BTreeMap<(String, String), ToolStats>>,
    /// Secrets redacted from tool traffic, by server.
    redactions: Mutex<BTreeMap<String, u64>>,
}

impl Metrics {
    /// One finished call: `failed` when the caller got an error instead of a tool result.
    pub fn record(&self, server: &str, tool: &str, took: Duration, failed: bool) {
        let mut tools = self.tools.lock().unwrap_or_else(|p| p.into_inner());
        let stats = tools.entry((server.to_owned(), tool.to_owned())).or_default();
        stats.calls += 1;
        stats.errors += u64::from(failed);
        let seconds = took.as_secs_f64();
        stats.sum_seconds += seconds;
        if let Some(bucket) = BUCKETS.iter().position(|&bound| seconds <= bound) {
            stats.buckets[bucket] += 1;
        }
    }

    /// One secret redacted from a call to or from `server`.
    pub fn redacted(&self, server: &str) {
        *self.redactions.lock().unwrap_or_else(|p| p.into_inner()).entry(server.to_owned()).or_default() += 1;
    }

    /// Calls and errors of one server and tool (for tests and the sidebar).
    pub fn counts(&self, server: &str, tool: &str) -> (u64, u64) {
        let tools = self.tools.lock().unwrap_or_else(|p| p.into_inner());
        tools.get(&(server.to_owned(), tool.to_owned())).map(|s| (s.calls, s.errors)).unwrap_or_default()
    }

    /// Writes the tool families.
    pub fn write(&self, text: &mut Text) {
        let tools = self.tools.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let redactions = self.redactions.lock().unwrap_or_else(|p| p.into_inner()).clone();
        text.family("harbor_secrets_redacted_total", "counter", "Secrets redacted from tool traffic, by server.");
        for (server, count) in &redactions {
            text.sample("harbor_secrets_redacted_total", &[("server", server)], *count as f64);
        }
        text.family("harbor_tool_calls_total", "counter", "Tool calls, by server and tool.");
        for ((server, tool), stats) in &tools {
            text.sample("harbor_tool_calls_total", &[("server", server), ("tool", tool)], stats.calls as f64);
        }
        text.family("harbor_tool_errors_total", "counter", "Tool calls that failed (timeout, server gone, error).");
        for ((server, tool), stats) in &tools {
            text.sample("harbor_tool_errors_total", &[("server", server), ("tool", tool)], stats.errors as f64);
        }
        let name = "harbor_tool_call_duration_seconds";
        text.family(name, "histogram", "How long tool calls took, by server and tool.");
        for ((server, tool), stats) in &tools {
            let mut cumulative = 0;
            for (bound, count) in BUCKETS.iter().zip(stats.buckets) {
                cumulative += count;
                let le = bound.to_string();
                text.sample(
                    &format!("{name}_bucket"),
                    &[("server", server), ("tool", tool), ("le", &le)],
                    cumulative as f64,
                );
            }
            text.sample(
                &format!("{name}_bucket"),
                &[("server", server), ("tool", tool), ("le", "+Inf")],
                stats.calls as f64,
            );
            text.sample(&format!("{name}_sum"), &[("server", server), ("tool", tool)], stats.sum_seconds);
            text.sample(&format!("{name}_count"), &[("server", server), ("tool", tool)], stats.calls as f64);
        }
    }
}

/// A Prometheus text exposition being written.
#[derive(Default)]
pub struct Text(String);

impl Text {
    pub fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.0.push_str(name);
        if !labels.is_empty() {
            self.0.push('{');
            for (i, (key, value)) in labels.iter().enumerate() {
                if i > 0 {
                    self.0.push(',');
                }
                let escaped = value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n");
                let _ = write!(self.0, "{key}=\"{escaped}\"");
            }
            self.0.push('}');
        }
        let _ = writeln!(self.0, " {value}");
    }

    pub fn finish(self) -> String {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_histogram_is_cumulative_and_ends_in_the_count() {
        let metrics = Metrics::default();
        metrics.record("time", "now", Duration::from_millis(3), false);
        metrics.record("time", "now", Duration::from_millis(40), true);
        metrics.record("time", "now", Duration::from_secs(60), true);
        let mut text = Text::default();
        metrics.write(&mut text);
        let text = text.finish();
        assert!(text.contains("harbor_tool_calls_total{server=\"time\",tool=\"now\"} 3\n"), "{text}");
        assert!(text.contains("harbor_tool_errors_total{server=\"time\",tool=\"now\"} 2\n"));
        assert!(
            text.contains("harbor_tool_call_duration_seconds_bucket{server=\"time\",tool=\"now\",le=\"0.005\"} 1\n")
        );
        assert!(text.contains("harbor_tool_call_duration_seconds_bucket{server=\"time\",tool=\"now\",le=\"0.05\"} 2\n"));
        assert!(text.contains("harbor_tool_call_duration_seconds_bucket{server=\"time\",tool=\"now\",le=\"30\"} 2\n"));
        assert!(text.contains("harbor_tool_call_duration_seconds_bucket{server=\"time\",tool=\"now\",le=\"+Inf\"} 3\n"));
        assert!(text.contains("harbor_tool_call_duration_seconds_count{server=\"time\",tool=\"now\"} 3\n"));
    }

    #[test]
    fn label_values_are_escaped() {
        let mut text = Text::default();
        text.sample("x", &[("tool", "a\"b\\c\nd")], 1.0);
        assert_eq!(text.finish(), "x{tool=\"a\\\"b\\\\c\\nd\"} 1\n");
    }
}
