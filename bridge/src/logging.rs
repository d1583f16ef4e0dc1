//! Logging through `tracing`: to `logs/bridge.log` in the data directory and to stderr — never
//! to stdout, which belongs to native messaging.
//!
//! `HARBOR_LOG` sets the filter (default `info,rmcp=warn`: rmcp's debug output carries MCP
//! messages, so it stays off unless asked for). What Harbor logs is metadata only: methods,
//! codes and timings, never params, tool arguments or results.

use std::fs::OpenOptions;
use std::path::Path;
use std::sync::Mutex;

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{fmt, EnvFilter, Layer};

/// Starts logging. Logging is best effort: if the log file cannot be opened, stderr alone is
/// used and a warning says so.
pub fn init(log_dir: &Path) {
    let filter = || EnvFilter::try_from_env("HARBOR_LOG").unwrap_or_else(|_| EnvFilter::new("info,rmcp=warn"));
    let stderr = fmt::layer().with_writer(std::io::stderr).with_ansi(false).with_filter(filter());
    let file = std::fs::create_dir_all(log_dir)
        .and_then(|()| OpenOptions::new().create(true).append(true).open(log_dir.join("bridge.log")));
    match file {
        Ok(file) => {
            let file_layer = fmt::layer().with_writer(Mutex::new(file)).with_ansi(false).with_filter(filter());
            let _ = tracing_subscriber::registry().with(stderr).with(file_layer).try_init();
        }
        Err(error) => {
            let _ = tracing_subscriber::registry().with(stderr).try_init();
            tracing::warn!(%error, dir = %log_dir.display(), "cannot open the log file; logging to stderr only");
        }
    }
}
