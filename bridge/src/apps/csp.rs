//! The Content-Security-Policy a view is served with, from what its resource declares
//! (`_meta.ui.csp`: `connectDomains`, `resourceDomains`, `frameDomains`, `baseUriDomains`).
//!
//! Nothing is reachable unless declared: the view's own inline script and style run (an App is
//! one HTML file), `data:` and `blob:` images and media load, and every other fetch, frame or
//! form goes nowhere. The `sandbox allow-scripts` directive gives the document an opaque origin
//! even if the frame's own `sandbox` attribute were dropped, and `frame-ancestors` lets only an
//! extension page embed it. A declared entry that is not a plain source (`https://host[:port]`,
//! with a `*.` wildcard subdomain allowed) — a keyword, a quote, a semicolon — is left out and
//! reported, and the others still apply.

use serde_json::Value;

/// What a resource's metadata declares, as read.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Declared {
    pub connect: Vec<String>,
    pub resources: Vec<String>,
    pub frames: Vec<String>,
    pub base_uris: Vec<String>,
}

impl Declared {
    /// Reads `csp` (the resource's `_meta.ui.csp`); entries that are not strings are skipped.
    pub fn read(csp: Option<&Value>) -> Declared {
        let list = |key: &str| -> Vec<String> {
            csp.and_then(|c| c.get(key))
                .and_then(Value::as_array)
                .map(|items| items.iter().filter_map(Value::as_str).map(str::to_owned).collect())
                .unwrap_or_default()
        };
        Declared {
            connect: list("connectDomains"),
            resources: list("resourceDomains"),
            frames: list("frameDomains"),
            base_uris: list("baseUriDomains"),
        }
    }
}

/// The policy, and the declared entries it left out.
pub fn policy(declared: &Declared) -> (String, Vec<String>) {
    let mut refused = Vec::new();
    let mut sources = |entries: &[String]| -> String {
        let kept: Vec<&str> = entries
            .iter()
            .filter(|entry| {
                let ok = is_source(entry);
                if !ok {
                    refused.push((*entry).clone());
                }
                ok
            })
            .map(String::as_str)
            .collect();
        kept.join(" ")
    };
    let resources = sources(&declared.resources);
    let connect = sources(&declared.connect);
    let frames = sources(&declared.frames);
    let base = sources(&declared.base_uris);
    let or = |kept: &str, fallback: &str| if kept.is_empty() { fallback.to_owned() } else { kept.to_owned() };
    let with = |fixed: &str| if resources.is_empty() { fixed.to_owned() } else { format!("{fixed} {resources}") };
    let policy = [
        "default-src 'none'".to_owned(),
        format!("script-src {}", with("'unsafe-inline'")),
        format!("style-src {}", with("'unsafe-inline'")),
        format!("img-src {}", with("data: blob:")),
        format!("font-src {}", with("data:")),
        format!("media-src {}", with("data: blob:")),
        format!("connect-src {}", or(&connect, "'none'")),
        format!("frame-src {}", or(&frames, "'none'")),
        format!("base-uri {}", or(&base, "'self'")),
        "form-action 'none'".to_owned(),
        "frame-ancestors moz-extension:".to_owned(),
        "sandbox allow-scripts".to_owned(),
    ]
    .join("; ");
    (policy, refused)
}

/// `scheme://host[:port]`, the host possibly starting with `*.`; http(s) or ws(s) only.
fn is_source(entry: &str) -> bool {
    let Some((scheme, rest)) = entry.split_once("://") else { return false };
    if !matches!(scheme, "https" | "http" | "wss" | "ws") {
        return false;
    }
    let authority = rest.strip_suffix('/').unwrap_or(rest);
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (authority, None),
    };
    let host = host.strip_prefix("*.").unwrap_or(host);
    let host_ok = !host.is_empty()
        && host
            .split('.')
            .all(|label| !label.is_empty() && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
    let port_ok = port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.chars().all(|c| c.is_ascii_digit()));
    host_ok && port_ok
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nothing_declared_means_no_network_at_all() {
        let (policy, refused) = policy(&Declared::read(None));
        assert!(refused.is_empty());
        for directive in ["default-src 'none'", "connect-src 'none'", "frame-src 'none'", "form-action 'none'"] {
            assert!(policy.contains(directive), "{directive} in {policy}");
        }
        assert!(policy.contains("script-src 'unsafe-inline';"), "{policy}");
        assert!(policy.ends_with("sandbox allow-scripts"), "{policy}");
    }

    #[test]
    fn declared_domains_open_their_directives_only() {
        let csp = json!({"connectDomains": ["https://api.example.com"], "resourceDomains": ["https://*.cdn.example"]});
        let (policy, _) = policy(&Declared::read(Some(&csp)));
        assert!(policy.contains("connect-src https://api.example.com;"), "{policy}");
        assert!(policy.contains("script-src 'unsafe-inline' https://*.cdn.example;"), "{policy}");
        assert!(policy.contains("img-src data: blob: https://*.cdn.example;"), "{policy}");
        assert!(policy.contains("frame-src 'none'"), "{policy}");
    }

    #[test]
    fn a_hostile_entry_cannot_widen_the_policy_and_the_good_ones_stay() {
        let csp = json!({"connectDomains": [
            "https://ok.example",
            "'unsafe-eval'",
            "*",
            "https://x.example; script-src *",
            "https://a.example 'unsafe-eval'",
            "data:",
            "javascript://x",
        ]});
        let (policy, refused) = policy(&Declared::read(Some(&csp)));
        assert!(policy.contains("connect-src https://ok.example;"), "{policy}");
        assert!(!policy.contains("unsafe-eval") && !policy.contains("script-src *"), "{policy}");
        assert_eq!(refused.len(), 6, "{refused:?}");
    }
}
