//! Install manifests from the outside world: an MCP Registry `server.json` (described, then
//! every option planned) and a `.mcpb` bundle's `manifest.json` (read against a folder that does
//! not exist, so nothing is touched). Bad documents give errors, never panics.

#![no_main]

use std::collections::BTreeMap;
use std::path::Path;

use harbor_bridge::install::{mcpb, server_json};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(document) = serde_json::from_slice::<serde_json::Value>(data) else { return };
    let values = BTreeMap::from([("port".to_owned(), "8080".to_owned())]);
    if let Ok(described) = server_json::describe(&document) {
        for index in 0..described.options.len().min(8) {
            let _ = server_json::plan(&document, index, &values);
        }
    }
    let _ = server_json::plan(&document, 0, &BTreeMap::new());
    let _ = mcpb::read(&document, Path::new("/nonexistent/harbor-fuzz-bundle"), &values);
});
