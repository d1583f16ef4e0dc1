//! What a model server sends: Ollama's NDJSON lines and OpenAI's server-sent events, decoded line
//! by line; the `<tool_call>` text format of models without native tools, parsed and held back
//! while streaming; and a remote server's `WWW-Authenticate` challenge. None may panic.

#![no_main]

use harbor_bridge::chat::text_tools::{self, Holdback};
use harbor_bridge::llm::lines::Decoder;
use harbor_bridge::llm::{ollama, openai};
use harbor_bridge::oauth::discovery::Challenge;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut lines = ollama::Lines::default();
    let mut events = openai::Events::default();
    for line in text.lines() {
        let _ = lines.line(line);
        let _ = events.line(line);
    }
    let _ = lines.end();
    let _ = events.end();
    let _ = text_tools::parse(&text, 0);
    let mut holdback = Holdback::default();
    for piece in text.as_bytes().chunks(7) {
        let _ = holdback.push(&String::from_utf8_lossy(piece));
    }
    let _ = holdback.finish();
    let _ = Challenge::parse(&text);
});
