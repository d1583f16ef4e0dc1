//! A server's log: its stderr, what it logged over MCP and Harbor's lifecycle lines, the last [`KEPT_LINES`] in memory for
//! the sidebar and `servers logs`, and all of them appended to `logs/servers/<id>.log`.
//!
//! Only what the server itself printed or logged and Harbor's own status lines go here — never
//! tool arguments or results (Harbor's own log, `logs/bridge.log`, gets none of it).

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

/// How many lines a server's log keeps in memory.
pub const KEPT_LINES: usize = 500;

/// Longest line kept; longer ones are cut (a server printing a huge line must not fill memory).
const MAX_LINE: usize = 4096;

pub use harbor_protocol::api::servers::{LogLine, LogStream as Stream};

pub struct ServerLog {
    lines: Mutex<VecDeque<LogLine>>,
    file: Mutex<Option<File>>,
}

impl ServerLog {
    /// A log that also appends to `file` (best effort: a log that cannot be written is kept in
    /// memory only).
    pub fn new(file: Option<&Path>) -> ServerLog {
        let file = file.and_then(|path| {
            if let Some(dir) = path.parent() {
                let _ = std::fs::create_dir_all(dir);
            }
            OpenOptions::new().create(true).append(true).open(path).ok()
        });
        ServerLog { lines: Mutex::new(VecDeque::with_capacity(64)), file: Mutex::new(file) }
    }

    pub fn push(&self, stream: Stream, text: &str) {
        let mut text = text.trim_end().to_owned();
        if text.len() > MAX_LINE {
            let mut cut = MAX_LINE;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            text.truncate(cut);
            text.push('…');
        }
        let line = LogLine { at: crate::unix_ms(), stream, text };
        if let Some(file) = self.file.lock().unwrap_or_else(|p| p.into_inner()).as_mut() {
            let _ = writeln!(file, "{} {} {}", line.at, stream.as_str(), line.text);
        }
        let mut lines = self.lines.lock().unwrap_or_else(|p| p.into_inner());
        if lines.len() == KEPT_LINES {
            lines.pop_front();
        }
        lines.push_back(line);
    }

    /// The last `n` lines, oldest first.
    pub fn tail(&self, n: usize) -> Vec<LogLine> {
        let lines = self.lines.lock().unwrap_or_else(|p| p.into_inner());
        lines.iter().skip(lines.len().saturating_sub(n)).cloned().collect()
    }

    /// The last `n` stderr lines, joined: what a crashed server last said.
    pub fn last_stderr(&self, n: usize) -> String {
        let lines = self.lines.lock().unwrap_or_else(|p| p.into_inner());
        let stderr: Vec<&str> = lines.iter().filter(|l| l.stream == Stream::Stderr).map(|l| l.text.as_str()).collect();
        stderr[stderr.len().saturating_sub(n)..].join("\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_last_lines_and_cuts_long_ones() {
        let log = ServerLog::new(None);
        for i in 0..KEPT_LINES + 10 {
            log.push(Stream::Stderr, &format!("line {i}\n"));
        }
        let tail = log.tail(3);
        assert_eq!(tail.iter().map(|l| l.text.as_str()).collect::<Vec<_>>(), ["line 507", "line 508", "line 509"]);
        assert_eq!(log.tail(10_000).len(), KEPT_LINES);
        log.push(Stream::Harbor, &"é".repeat(5000));
        assert!(log.tail(1)[0].text.len() <= MAX_LINE + '…'.len_utf8());
        assert_eq!(log.last_stderr(1), "line 509");
    }
}
