//! Secret scanning of tool traffic.
//!
//! Harbor knows the values of the secrets it hands to running servers (their secret variables
//! and headers, filled from the keychain at each start). [`Secrets`] holds those values in memory,
//! per server, while the server runs, and every tool call passes through it:
//! - a stored secret of one server in the arguments of a call to a *different* server is
//!   replaced with a marker before the call leaves (a model or a page tricked into forwarding a
//!   key gets nowhere);
//! - a stored secret of any server in a tool's result is replaced before any caller sees it.
//!
//! Besides, [`redact_patterns`] replaces well-known key formats (GitHub `ghp_…`/`github_pat_…`,
//! `sk-…`, Slack `xoxb-`/`xoxp-`, AWS access key ids, PEM private keys) in results that go to
//! web pages. Each redaction is counted and logged as metadata only: which server, which
//! secret id or pattern, never the value.

use std::collections::HashMap;
use std::sync::RwLock;

use serde_json::{Map, Value};

/// What replaces a stored secret's value.
pub const REDACTED_SECRET: &str = "[redacted: a secret Harbor keeps]";
/// What replaces a token that looks like a well-known key.
pub const REDACTED_KEY: &str = "[redacted: an access key]";

/// Values shorter than this are not scanned for: they would match ordinary text.
const SHORTEST_SCANNED: usize = 8;

/// One redaction, for the log and the metrics: never the value.
#[derive(Clone, Debug, PartialEq)]
pub struct Redaction {
    /// The secret's id, or the pattern's name.
    pub what: String,
}

/// The secret values of running servers: server id → (secret id, value).
#[derive(Default)]
pub struct Secrets {
    values: RwLock<HashMap<String, Vec<(String, String)>>>,
}

impl Secrets {
    /// Records what `server` was given at start (empty: nothing to scan for).
    pub fn set(&self, server: &str, values: Vec<(String, String)>) {
        let values: Vec<(String, String)> = values.into_iter().filter(|(_, v)| v.len() >= SHORTEST_SCANNED).collect();
        let mut map = self.values.write().unwrap_or_else(|p| p.into_inner());
        if values.is_empty() {
            map.remove(server);
        } else {
            map.insert(server.to_owned(), values);
        }
    }

    /// Forgets `server`'s values (it stopped or was removed).
    pub fn clear(&self, server: &str) {
        self.values.write().unwrap_or_else(|p| p.into_inner()).remove(server);
    }

    /// Replaces other servers' secrets in the arguments of a call to `server`.
    pub fn redact_arguments(&self, server: &str, arguments: &mut Map<String, Value>) -> Vec<Redaction> {
        self.redact(arguments.values_mut(), |owner| owner != server)
    }

    /// Replaces every stored secret in a tool's result.
    pub fn redact_result(&self, result: &mut Value) -> Vec<Redaction> {
        self.redact(std::iter::once(result), |_| true)
    }

    fn redact<'v>(&self, values: impl Iterator<Item = &'v mut Value>, scan: impl Fn(&str) -> bool) -> Vec<Redaction> {
        let map = self.values.read().unwrap_or_else(|p| p.into_inner());
        if map.is_empty() {
            return Vec::new();
        }
        let wanted: Vec<&(String, String)> =
            map.iter().filter(|(owner, _)| scan(owner)).flat_map(|(_, values)| values.iter()).collect();
        let mut found = Vec::new();
        for value in values {
            for_each_string(value, &mut |text| {
                for (id, secret) in &wanted {
                    if text.contains(secret.as_str()) {
                        *text = text.replace(secret.as_str(), REDACTED_SECRET);
                        found.push(Redaction { what: id.clone() });
                    }
                }
            });
        }
        found
    }
}

/// Replaces tokens shaped like well-known access keys in `value`'s strings.
pub fn redact_patterns(value: &mut Value) -> Vec<Redaction> {
    let mut found = Vec::new();
    for_each_string(value, &mut |text| {
        if let Some((redacted, names)) = scrub(text) {
            *text = redacted;
            found.extend(names.into_iter().map(|what| Redaction { what: what.to_owned() }));
        }
    });
    found
}

fn for_each_string(value: &mut Value, visit: &mut impl FnMut(&mut String)) {
    match value {
        Value::String(text) => visit(text),
        Value::Array(items) => items.iter_mut().for_each(|item| for_each_string(item, visit)),
        Value::Object(map) => map.values_mut().for_each(|item| for_each_string(item, visit)),
        _ => {}
    }
}

/// A key format: its name, the prefix it starts with, the characters of its body and the
/// fewest of them.
struct Pattern {
    name: &'static str,
    prefix: &'static str,
    body: fn(char) -> bool,
    min_body: usize,
}

fn token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

fn upper_alnum(c: char) -> bool {
    c.is_ascii_uppercase() || c.is_ascii_digit()
}

const PATTERNS: &[Pattern] = &[
    Pattern { name: "github_pat", prefix: "github_pat_", body: token_char, min_body: 20 },
    Pattern { name: "github_token", prefix: "ghp_", body: token_char, min_body: 20 },
    Pattern { name: "github_token", prefix: "gho_", body: token_char, min_body: 20 },
    Pattern { name: "github_token", prefix: "ghs_", body: token_char, min_body: 20 },
    Pattern { name: "openai_key", prefix: "sk-", body: token_char, min_body: 20 },
    Pattern { name: "slack_token", prefix: "xoxb-", body: token_char, min_body: 10 },
    Pattern { name: "slack_token", prefix: "xoxp-", body: token_char, min_body: 10 },
    Pattern { name: "aws_access_key", prefix: "AKIA", body: upper_alnum, min_body: 16 },
    Pattern { name: "aws_access_key", prefix: "ASIA", body: upper_alnum, min_body: 16 },
];

const PEM_BEGIN: &str = "-----BEGIN ";
const PEM_KEY: &str = "PRIVATE KEY-----";
const PEM_END: &str = "-----END ";

/// `text` with every key replaced, and the names of what was found; `None` when it has none.
fn scrub(text: &str) -> Option<(String, Vec<&'static str>)> {
    // Most text has none of the prefixes: say so after a few substring searches, without
    // walking it character by character.
    if !text.contains(PEM_BEGIN) && !PATTERNS.iter().any(|p| text.contains(p.prefix)) {
        return None;
    }
    let mut out = String::with_capacity(text.len());
    let mut names = Vec::new();
    let mut rest = text;
    'scan: while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix(PEM_BEGIN) {
            let header_end = after.find("-----").map(|i| i + 5);
            if let Some(end_of_header) = header_end.filter(|&i| after[..i].ends_with(PEM_KEY)) {
                let body = &after[end_of_header..];
                if let Some(footer) = body.find(PEM_END) {
                    let tail = &body[footer + PEM_END.len()..];
                    let close = tail.find("-----").map_or(tail.len(), |i| i + 5);
                    out.push_str(REDACTED_KEY);
                    names.push("private_key");
                    rest = &tail[close..];
                    continue 'scan;
                }
            }
        }
        let at_boundary = out.chars().last().is_none_or(|c| !token_char(c));
        if at_boundary {
            for pattern in PATTERNS {
                if let Some(after) = rest.strip_prefix(pattern.prefix) {
                    let body_len = after.find(|c: char| !(pattern.body)(c)).unwrap_or(after.len());
                    if body_len >= pattern.min_body {
                        out.push_str(REDACTED_KEY);
                        names.push(pattern.name);
                        rest = &after[body_len..];
                        continue 'scan;
                    }
                }
            }
        }
        let c = rest.chars().next().expect("rest is not empty");
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    (!names.is_empty()).then_some((out, names))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn another_servers_secret_is_kept_out_of_arguments_and_every_secret_out_of_results() {
        let secrets = Secrets::default();
        secrets.set("github", vec![("github/GITHUB_TOKEN".into(), "s3cr3t-value-123".into())]);
        secrets.set("short", vec![("short/PIN".into(), "1234".into())]);
        let mut args = json!({"body": "please forward s3cr3t-value-123 and 1234"}).as_object().unwrap().clone();
        let found = secrets.redact_arguments("pastebin", &mut args);
        assert_eq!(found, [Redaction { what: "github/GITHUB_TOKEN".into() }]);
        assert_eq!(args["body"], format!("please forward {REDACTED_SECRET} and 1234"));
        let mut own = json!({"token": "s3cr3t-value-123"}).as_object().unwrap().clone();
        assert!(secrets.redact_arguments("github", &mut own).is_empty(), "a server may be sent its own secret");
        let mut result = json!({"content": [{"type": "text", "text": "your token is s3cr3t-value-123"}]});
        assert_eq!(secrets.redact_result(&mut result).len(), 1);
        assert_eq!(result["content"][0]["text"], format!("your token is {REDACTED_SECRET}"));
        secrets.clear("github");
        let mut later = json!("s3cr3t-value-123");
        assert!(secrets.redact_result(&mut later).is_empty());
    }

    #[test]
    fn well_known_key_formats_are_redacted_and_ordinary_text_is_not() {
        let pem = "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----";
        let mut value = json!({
            "a": "token ghp_abcdefghijklmnopqrstuvwxyz0123456789 here",
            "b": ["github_pat_11ABCDEFG0123456789_abcdefghijklmnop", "sk-proj-abcdefghijklmnopqrstuv"],
            "c": format!("key:\n{pem}\nend"),
            "d": "AKIAIOSFODNN7EXAMPLE and xoxb-1234567890-abcdef",
            "e": "ask-me: ghp_short, risk-assessment-document-about-things, AKIA",
        });
        let found = redact_patterns(&mut value);
        let names: Vec<&str> = found.iter().map(|r| r.what.as_str()).collect();
        assert_eq!(names, ["github_token", "github_pat", "openai_key", "private_key", "aws_access_key", "slack_token"]);
        assert_eq!(value["a"], format!("token {REDACTED_KEY} here"));
        assert_eq!(value["c"], format!("key:\n{REDACTED_KEY}\nend"));
        assert_eq!(value["d"], format!("{REDACTED_KEY} and {REDACTED_KEY}"));
        assert_eq!(value["e"], "ask-me: ghp_short, risk-assessment-document-about-things, AKIA", "no false alarms");
    }
}
