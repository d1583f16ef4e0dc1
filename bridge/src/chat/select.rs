//! Tool selection for small models: when more tools are available than a model should be shown,
//! offer the ones most relevant to the message.
//!
//! Relevance is BM25 (k1 = 1.2, b = 0.75) over each tool's words: its name (counted three
//! times), title and parameter names (twice), server id, description and parameter descriptions
//! (once). Words are split at case changes, digits and punctuation (`get_current_time`,
//! `listDirectory`), lowercased, stripped of common English endings (`files` → `file`,
//! `searching` → `search`) and of stop words. Each word of the message also looks for a few
//! common synonyms at half weight (`add` finds `sum`, `folder` finds `directory`), since tool
//! authors and users rarely pick the same verb. Ties keep the catalog's order, so the choice is
//! stable. The index (an inverted one: each word's tools) is kept per catalog by [`Selector`], so
//! a turn scores only the tools that share a word with the message.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde_json::Value;

use crate::mcp::registry::ToolEntry;

const K1: f64 = 1.2;
const B: f64 = 0.75;

const STOP_WORDS: &[&str] = &[
    "a", "an", "and", "are", "as", "at", "be", "by", "can", "could", "do", "does", "for", "from", "give", "has",
    "have", "how", "i", "in", "into", "is", "it", "its", "me", "my", "of", "on", "or", "please", "should", "tell",
    "that", "the", "this", "to", "use", "was", "what", "when", "where", "which", "who", "will", "with", "would", "you",
    "your",
];

/// Words users and tool authors use for the same thing, each group read as synonyms.
const SYNONYMS: &[&[&str]] = &[
    &["add", "sum", "plus", "total"],
    &["find", "search", "lookup"],
    &["delete", "remove"],
    &["show", "list", "get"],
    &["folder", "directory"],
    &["file", "document"],
    &["email", "mail"],
    &["run", "execute", "invoke"],
    &["calculate", "compute", "evaluate"],
    &["weather", "forecast"],
    &["picture", "image", "screenshot"],
    &["web", "internet", "online"],
];

/// The query's words with their weights: its own at 1, their synonyms at ½.
fn query_words(text: &str) -> Vec<(String, f64)> {
    let mut own = words(text);
    // A file name (`notes.txt`, `report.pdf`) means the message is about a file.
    if text.split_whitespace().any(looks_like_file_name) {
        own.push("file".into());
    }
    own.sort();
    own.dedup();
    let mut weighted: Vec<(String, f64)> = own.iter().map(|w| (w.clone(), 1.0)).collect();
    for word in &own {
        for group in SYNONYMS.iter().filter(|g| g.contains(&word.as_str())) {
            for synonym in group.iter().map(|s| stem(s)) {
                if !weighted.iter().any(|(w, _)| *w == synonym) {
                    weighted.push((synonym, 0.5));
                }
            }
        }
    }
    weighted
}

/// The indices of the `limit` tools most relevant to `query`, best first (an index built for
/// this call alone; [`Selector`] keeps one per catalog).
pub fn select(tools: &[ToolEntry], query: &str, limit: usize) -> Vec<usize> {
    if tools.len() <= limit {
        return (0..tools.len()).collect();
    }
    Index::build(tools).select(query, limit)
}

/// Selection with its index kept between turns: built once per catalog, and used by every turn
/// until the catalog changes. The caller names the catalog with a key that changes whenever it
/// does (the chat's: the registry's revision, the page's own tools and the tools asked for);
/// walking 10,000 tools to fingerprint them would itself cost what the index saves. Building an
/// index over 10,000 tools takes tens of milliseconds; a turn with it built, tens of microseconds.
#[derive(Default)]
pub struct Selector {
    cached: Mutex<Option<(u64, Arc<Index>)>>,
}

impl Selector {
    /// As [`select`], with the index kept for the catalog `key` names.
    pub fn select(&self, key: u64, tools: &[ToolEntry], query: &str, limit: usize) -> Vec<usize> {
        if tools.len() <= limit {
            return (0..tools.len()).collect();
        }
        let index = {
            let cached = self.cached.lock().unwrap_or_else(|p| p.into_inner());
            // (The count too: an index must never name a tool past the list's end.)
            cached.as_ref().filter(|(k, index)| *k == key && index.tools == tools.len()).map(|(_, index)| index.clone())
        };
        let index = index.unwrap_or_else(|| {
            let built = Arc::new(Index::build(tools));
            *self.cached.lock().unwrap_or_else(|p| p.into_inner()) = Some((key, built.clone()));
            built
        });
        index.select(query, limit)
    }
}

/// BM25's view of a catalog, worked out when it is built: for each word, the tools that have it
/// with the word's whole BM25 term for that tool (its idf, its count and the tool's length all
/// fixed by the catalog), so a query only adds up the terms of its words.
pub struct Index {
    terms: HashMap<String, Vec<(u32, f64)>>,
    tools: usize,
}

impl Index {
    pub fn build(tools: &[ToolEntry]) -> Index {
        let documents: Vec<HashMap<String, u32>> = tools.iter().map(document).collect();
        let lengths: Vec<f64> = documents.iter().map(|d| d.values().sum::<u32>() as f64).collect();
        let average = (lengths.iter().sum::<f64>() / lengths.len().max(1) as f64).max(1.0);
        let mut postings: HashMap<String, Vec<(u32, u32)>> = HashMap::new();
        for (i, document) in documents.into_iter().enumerate() {
            for (word, count) in document {
                postings.entry(word).or_default().push((i as u32, count));
            }
        }
        let count = tools.len() as f64;
        let terms = postings
            .into_iter()
            .map(|(word, posting)| {
                let df = posting.len() as f64;
                let idf = (1.0 + (count - df + 0.5) / (df + 0.5)).ln();
                let terms = posting
                    .into_iter()
                    .map(|(doc, tf)| {
                        let norm = K1 * (1.0 - B + B * lengths[doc as usize] / average);
                        let tf = f64::from(tf);
                        (doc, idf * tf * (K1 + 1.0) / (tf + norm))
                    })
                    .collect();
                (word, terms)
            })
            .collect();
        Index { terms, tools: tools.len() }
    }

    /// The indices of the `limit` tools most relevant to `query`, best first; ties (tools no
    /// query word matches among them) keep the catalog's order.
    pub fn select(&self, query: &str, limit: usize) -> Vec<usize> {
        let mut scores = vec![0.0f64; self.tools];
        for (word, weight) in query_words(query) {
            for &(doc, term) in self.terms.get(&word).into_iter().flatten() {
                scores[doc as usize] += weight * term;
            }
        }
        let mut scored: Vec<(f64, usize)> =
            scores.into_iter().enumerate().filter(|(_, score)| *score > 0.0).map(|(i, score)| (score, i)).collect();
        let better = |a: &(f64, usize), b: &(f64, usize)| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1));
        // Only the best `limit` need ordering.
        if scored.len() > limit && limit > 0 {
            scored.select_nth_unstable_by(limit - 1, better);
            scored.truncate(limit);
        }
        scored.sort_by(better);
        let mut picked: Vec<usize> = scored.into_iter().take(limit).map(|(_, i)| i).collect();
        // Fewer matches than the limit: the rest in the catalog's order, as a score of 0 would.
        let mut next = 0;
        while picked.len() < limit.min(self.tools) {
            if !picked.contains(&next) {
                picked.push(next);
            }
            next += 1;
        }
        picked
    }
}

fn looks_like_file_name(word: &str) -> bool {
    let word = word.trim_end_matches(|c: char| !c.is_alphanumeric());
    word.rsplit_once('.').is_some_and(|(stem, ext)| {
        !stem.is_empty() && (1..=4).contains(&ext.len()) && ext.chars().all(|c| c.is_ascii_alphanumeric())
    })
}

/// A tool's words with their weights.
fn document(tool: &ToolEntry) -> HashMap<String, u32> {
    let mut counts = HashMap::new();
    let mut add = |text: &str, weight: u32| {
        for word in words(text) {
            *counts.entry(word).or_insert(0) += weight;
        }
    };
    let tool_name = tool.name.split_once('/').map_or(tool.name.as_str(), |(_, t)| t);
    add(tool_name, 3);
    add(&tool.server_id, 1);
    if let Some(title) = &tool.title {
        add(title, 2);
    }
    add(&tool.description, 1);
    if let Some(properties) = tool.input_schema["properties"].as_object() {
        for (name, schema) in properties {
            add(name, 2);
            if let Some(description) = schema.get("description").and_then(Value::as_str) {
                add(description, 1);
            }
        }
    }
    counts
}

/// The search words of `text`.
pub fn words(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut previous: Option<char> = None;
    for c in text.chars() {
        let boundary = match previous {
            _ if !c.is_alphanumeric() => true,
            Some(p) => (p.is_lowercase() && c.is_uppercase()) || (p.is_alphabetic() != c.is_alphabetic()),
            None => false,
        };
        if boundary && !current.is_empty() {
            words.push(std::mem::take(&mut current));
        }
        if c.is_alphanumeric() {
            current.extend(c.to_lowercase());
        }
        previous = Some(c);
    }
    if !current.is_empty() {
        words.push(current);
    }
    words.into_iter().filter(|w| !STOP_WORDS.contains(&w.as_str())).map(|w| stem(&w)).collect()
}

/// Strips a few English endings, enough for `files`/`file`, `searching`/`search`,
/// `directories`/`directory`, `created`/`create`.
fn stem(word: &str) -> String {
    if word.len() <= 3 || !word.is_ascii() {
        return word.to_owned();
    }
    for (suffix, replacement) in [("ies", "y"), ("ing", ""), ("ed", "e"), ("es", ""), ("s", "")] {
        if let Some(stem) = word.strip_suffix(suffix) {
            let sibilant = ["s", "x", "z", "ch", "sh"].iter().any(|end| stem.ends_with(end));
            let fits = match suffix {
                "es" => sibilant,
                "s" => !stem.ends_with('s'),
                _ => true,
            };
            if stem.len() >= 3 && fits {
                let stem = format!("{stem}{replacement}");
                // `created` → `create`, but `listed` → `list`: drop a doubled-up `e`.
                return if suffix == "ed" && !stem.ends_with("ate") && !stem.ends_with("ize") {
                    stem.trim_end_matches('e').to_owned()
                } else {
                    stem
                };
            }
        }
    }
    word.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tool(name: &str, description: &str) -> ToolEntry {
        ToolEntry {
            name: format!("s/{name}"),
            model_name: format!("s__{name}"),
            server_id: "s".into(),
            title: None,
            description: description.into(),
            input_schema: serde_json::json!({"type": "object"}),
            annotations: None,
            imitates: None,
            page_origin: None,
            ui: None,
        }
    }

    #[test]
    fn the_kept_index_picks_as_a_fresh_one_and_is_rebuilt_when_the_catalog_changes() {
        let mut tools: Vec<ToolEntry> = (0..50).map(|i| tool(&format!("noise{i}"), "does something else")).collect();
        tools.push(tool("get_weather", "The weather forecast for a city"));
        tools.push(tool("send_mail", "Sends an email"));
        let selector = Selector::default();
        for query in ["what's the weather in Oslo", "email Ada", "nothing matches this"] {
            assert_eq!(selector.select(1, &tools, query, 5), select(&tools, query, 5), "{query}");
        }
        assert_eq!(selector.select(1, &tools, "forecast", 3)[0], 50);
        let first = selector.cached.lock().unwrap().as_ref().unwrap().1.clone();
        selector.select(1, &tools, "mail", 3);
        assert!(Arc::ptr_eq(&first, &selector.cached.lock().unwrap().as_ref().unwrap().1), "kept for the same catalog");
        tools[51] = tool("send_mail", "Sends an email, or a letter by post");
        assert_eq!(selector.select(2, &tools, "letter post", 3)[0], 51, "the changed catalog counts");
        assert!(!Arc::ptr_eq(&first, &selector.cached.lock().unwrap().as_ref().unwrap().1), "rebuilt");
    }

    #[test]
    fn words_split_names_and_share_stems() {
        assert_eq!(words("get_current_time"), vec!["get", "current", "time"]);
        assert_eq!(words("listDirectory"), vec!["list", "directory"]);
        assert_eq!(words("What files are in my directories?"), vec!["file", "directory"]);
        assert_eq!(words("search"), words("searching"));
        assert_eq!(words("created"), words("create"));
        assert_eq!(words("listed"), words("list"));
        assert_eq!(words("sha256 hashes"), vec!["sha", "256", "hash"]);
    }
}
