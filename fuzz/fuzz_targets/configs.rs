//! Other apps' config files (Claude Desktop, Cursor, VS Code, Windsurf, Claude Code, Zed), as
//! the importer reads them: comments and trailing commas stripped, then each dialect's reading.
//! Whatever the file holds, the answer is entries or a clear error — never a panic.

#![no_main]

use harbor_bridge::import::dialects::{read, Dialect};
use harbor_bridge::import::jsonc;
use libfuzzer_sys::fuzz_target;

const DIALECTS: [Dialect; 6] =
    [Dialect::ClaudeDesktop, Dialect::Cursor, Dialect::VsCode, Dialect::Windsurf, Dialect::ClaudeCode, Dialect::Zed];

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let stripped = jsonc::strip(text);
    let Ok(config) = serde_json::from_str::<serde_json::Value>(&stripped) else { return };
    for dialect in DIALECTS {
        let _ = read(dialect, &config);
    }
});
