//! The contract holds together: every method the bridge answers is declared in
//! `harbor_protocol::api` with the same access, and PROTOCOL.md documents exactly those methods,
//! with the access the bridge enforces.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use harbor_bridge::rpc::Access;
use harbor_bridge::Bridge;

/// The methods PROTOCOL.md's tables name, with the access a table says when it has that column.
/// Rows of the notification tables are not methods; a cell's `name(…)` is the page's JavaScript
/// call, not a method; `a.b.get` / `.set` names both.
fn documented() -> BTreeMap<String, Option<Access>> {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../PROTOCOL.md")).unwrap();
    let mut found = BTreeMap::new();
    let mut in_notifications = false;
    for line in text.lines() {
        if line.starts_with('#') {
            in_notifications = line.to_lowercase().contains("notification");
            continue;
        }
        if in_notifications || !line.starts_with("| `") {
            continue;
        }
        let cells: Vec<&str> = line.split(" | ").collect();
        let access = cells.get(1).and_then(|cell| match cell.trim() {
            "page" => Some(Access::Page),
            "extension" => Some(Access::Extension),
            _ => None,
        });
        // The method is the first cell, or the second where the first is the page's JS call.
        let scanned = if cells[0].contains('(') { 2 } else { 1 };
        for cell in cells.iter().take(scanned) {
            let mut last = String::new();
            for (i, span) in cell.split('`').enumerate() {
                if i % 2 == 0 || span.contains('(') || span.contains(' ') {
                    continue;
                }
                let name = match span.strip_prefix('.') {
                    Some(tail) => format!("{}.{tail}", last.rsplit_once('.').map_or("", |(head, _)| head)),
                    None => span.to_owned(),
                };
                let shaped = name.split('.').count() >= 2
                    && name.split('.').all(|part| !part.is_empty() && part.chars().all(|c| c.is_ascii_alphanumeric()));
                if shaped {
                    found.entry(name.clone()).or_insert(access);
                    last = name;
                }
            }
        }
    }
    found
}

#[tokio::test]
async fn every_method_is_declared_and_documented_with_its_access() {
    let home = std::env::temp_dir().join(format!("harbor-contract-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&home);
    std::fs::create_dir_all(&home).unwrap();
    let bridge = Bridge::open(&home).unwrap();
    let router = bridge.router();
    let served: BTreeSet<&str> = router.methods().into_iter().collect();
    let declared: BTreeMap<&str, Access> = harbor_protocol::api::all().into_iter().collect();

    let undeclared: Vec<_> = served.iter().filter(|m| !declared.contains_key(*m)).collect();
    assert!(undeclared.is_empty(), "served but not in harbor_protocol::api: {undeclared:?}");
    let unserved: Vec<_> = declared.keys().filter(|m| !served.contains(*m)).collect();
    assert!(unserved.is_empty(), "declared but not served: {unserved:?}");
    for method in &served {
        assert_eq!(router.get(method).unwrap().access, declared[method], "{method}'s access");
    }

    let docs = documented();
    let undocumented: Vec<_> = served.iter().filter(|m| !docs.contains_key(**m)).collect();
    assert!(undocumented.is_empty(), "served but not in PROTOCOL.md: {undocumented:?}");
    let phantom: Vec<_> = docs.keys().filter(|m| !served.contains(m.as_str())).collect();
    assert!(phantom.is_empty(), "in PROTOCOL.md but not served: {phantom:?}");
    for (method, access) in &docs {
        if let Some(access) = access {
            assert_eq!(*access, declared[method.as_str()], "PROTOCOL.md gives {method} the wrong access");
        }
    }
    // Pages reach only what the contract marks as theirs.
    let page: BTreeSet<&str> = declared.iter().filter(|(_, a)| **a == Access::Page).map(|(m, _)| *m).collect();
    let page_areas = ["agent.", "ai.", "system.", "webmcp."];
    assert!(page.iter().all(|m| page_areas.iter().any(|area| m.starts_with(area))), "{page:?}");
    assert!(!page.contains("system.doctor") && page.contains("agent.tools.call"));
    bridge.shutdown().await;
}

/// A typo in the sidebar's params is refused with what is wrong, not ignored.
#[tokio::test]
async fn a_misspelled_field_is_refused_and_says_which() {
    let client = crate::support::Client::start("contract-typo").await;
    let refused = client.err("servers.update", serde_json::json!({"id": "x", "autostart": true})).await;
    assert_eq!(refused["code"], "ERR_INVALID_REQUEST");
    assert!(refused["message"].as_str().unwrap().contains("unknown field `autostart`"), "{refused}");
    // Page methods, like the web platform's dictionaries, ignore fields they do not know.
    let page = crate::support::page("https://news.example", 1);
    let (answer, _) = client.call_as(&page, "agent.permissions.list", serde_json::json!({"future": 1})).await;
    assert!(answer.is_ok(), "{answer:?}");
    client.finish().await;
}
