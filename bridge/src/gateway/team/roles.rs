//! Claims → roles → what a caller may do.
//!
//! A mapping gives a role when a claim holds a value: the claim is looked up by its exact name
//! first (claim names may be URLs with dots), then as a dotted path into nested objects; it holds
//! the value when it is that string, number or boolean, when it is an array with that element, or
//! — for `scope` and `scp` — when one of its space-separated scopes is it. A caller's policy is
//! the union of its roles: every entry any role allows, and the most generous rate and
//! concurrency limits among them. A caller with no role gets nothing.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::config::{Limits, Mapping, Role};

/// The roles `claims` give, sorted, each once.
pub fn roles_of(claims: &Map<String, Value>, mappings: &[Mapping]) -> Vec<String> {
    let mut roles: Vec<String> = mappings
        .iter()
        .filter(|m| claim_at(claims, &m.claim).is_some_and(|value| holds(value, &m.value, &m.claim)))
        .map(|m| m.role.clone())
        .collect();
    roles.sort();
    roles.dedup();
    roles
}

fn claim_at<'c>(claims: &'c Map<String, Value>, path: &str) -> Option<&'c Value> {
    if let Some(value) = claims.get(path) {
        return Some(value);
    }
    let mut parts = path.split('.');
    let mut value = claims.get(parts.next()?)?;
    for part in parts {
        value = value.as_object()?.get(part)?;
    }
    Some(value)
}

fn holds(value: &Value, wanted: &str, claim: &str) -> bool {
    let scalar = |v: &Value| match v {
        Value::String(s) => s == wanted,
        Value::Number(n) => n.to_string() == wanted,
        Value::Bool(b) => b.to_string() == wanted,
        _ => false,
    };
    let spaced = matches!(claim.rsplit('.').next(), Some("scope" | "scp"));
    match value {
        Value::String(s) if spaced => s.split_ascii_whitespace().any(|scope| scope == wanted),
        Value::Array(items) => items.iter().any(scalar),
        other => scalar(other),
    }
}

/// The union of `roles`' policies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Effective {
    pub allow: Vec<String>,
    pub rate_per_min: u32,
    pub concurrency: u32,
}

/// `defaults` stand for what a role does not set.
pub fn effective(roles: &[String], defined: &BTreeMap<String, Role>, defaults: &Limits) -> Effective {
    let mut allow: Vec<String> = Vec::new();
    let (mut rate, mut concurrency) = (0, 0);
    for role in roles.iter().filter_map(|name| defined.get(name)) {
        for entry in &role.allow {
            if !allow.contains(&entry.0) {
                allow.push(entry.0.clone());
            }
        }
        rate = rate.max(role.rate_per_min.unwrap_or(defaults.rate_per_min));
        concurrency = concurrency.max(role.concurrency.unwrap_or(defaults.concurrency));
    }
    Effective { allow, rate_per_min: rate, concurrency: concurrency.max(1) }
}

/// The scopes some mapping turns into a role: what a caller without one should ask for.
pub fn scopes_granting(mappings: &[Mapping]) -> Vec<String> {
    let mut scopes: Vec<String> =
        mappings.iter().filter(|m| matches!(m.claim.as_str(), "scope" | "scp")).map(|m| m.value.clone()).collect();
    scopes.sort();
    scopes.dedup();
    scopes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway::team::config::TeamConfig;
    use serde_json::json;

    fn config() -> TeamConfig {
        TeamConfig::parse(
            r#"
roles:
  dev: { allow: [time, everything/echo], rate_per_min: 10, concurrency: 1 }
  admin: { allow: ["*"], rate_per_min: 600 }
  reader: { allow: [fetch/*] }
mappings:
  - { claim: groups, value: dev, role: dev }
  - { claim: groups, value: Admin, role: admin }
  - { claim: scope, value: tools:read, role: reader }
  - { claim: realm_access.roles, value: dev, role: dev }
  - { claim: "https://example.com/tier", value: "2", role: reader }
  - { claim: staff, value: "true", role: admin }
"#,
        )
        .unwrap()
    }

    fn roles(claims: Value) -> Vec<String> {
        roles_of(claims.as_object().unwrap(), &config().mappings)
    }

    #[test]
    fn claims_of_every_shape_give_roles() {
        assert_eq!(roles(json!({"groups": ["dev", "other"]})), ["dev"]);
        assert_eq!(roles(json!({"groups": "Admin"})), ["admin"]);
        assert_eq!(roles(json!({"scope": "openid tools:read"})), ["reader"]);
        assert_eq!(roles(json!({"realm_access": {"roles": ["dev"]}})), ["dev"]);
        assert_eq!(roles(json!({"https://example.com/tier": 2})), ["reader"]);
        assert_eq!(roles(json!({"staff": true})), ["admin"]);
        assert_eq!(roles(json!({"groups": ["dev", "Admin"], "scope": "tools:read"})), ["admin", "dev", "reader"]);
    }

    #[test]
    fn near_misses_give_nothing() {
        assert!(roles(json!({"groups": ["admin"]})).is_empty(), "case matters");
        assert!(roles(json!({"groups": ["developers"]})).is_empty());
        assert!(roles(json!({"scope": "tools:reader"})).is_empty());
        assert!(roles(json!({"groups": "dev Admin"})).is_empty(), "only scopes are split at spaces");
        assert!(roles(json!({"staff": "yes"})).is_empty());
        assert!(roles(json!({"realm_access": "dev"})).is_empty());
        assert!(roles(json!({})).is_empty());
    }

    #[test]
    fn a_callers_policy_is_the_union_of_its_roles() {
        let config = config();
        let defaults = Limits { rate_per_min: 300, concurrency: 8 };
        let both = effective(&["dev".into(), "reader".into()], &config.roles, &defaults);
        assert_eq!(both.allow, ["time", "everything/echo", "fetch"]);
        assert_eq!((both.rate_per_min, both.concurrency), (300, 8), "reader sets none: the defaults");
        let dev = effective(&["dev".into()], &config.roles, &defaults);
        assert_eq!((dev.rate_per_min, dev.concurrency), (10, 1));
        assert!(effective(&[], &config.roles, &defaults).allow.is_empty());
        let unset = TeamConfig::parse("roles: {}\n").unwrap().limits;
        assert_eq!((unset.rate_per_min, unset.concurrency), (120, 4));
        assert_eq!(scopes_granting(&config.mappings), ["tools:read"]);
    }
}
