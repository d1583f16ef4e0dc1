//! The team gateway's config file (`harbor-bridge gateway serve --config team.yaml`).
//!
//! YAML, or JSON (which YAML reads as it is). Every key is known: a misspelt one is an error, and
//! every error names the key's path and the line (`roles.dev: unknown field `alow` … at line 4`).
//! Strings may say `${VAR}` or `${VAR:-default}`; the environment fills them in as the file is
//! read, inside the string, so a value can never change the file's structure. A secret (an
//! introspection client's) must be such a reference: a secret written into the file is refused.
//!
//! ```yaml
//! listen: 0.0.0.0:8443              # beyond loopback only with TLS and an https resource
//! resource: https://gw.example.com/mcp   # the URI tokens are issued for (default: from listen)
//! tls:                              # PEM files; read again on SIGHUP (certificate renewals)
//!   cert: /etc/harbor/tls/cert.pem
//!   key: /etc/harbor/tls/key.pem
//! cors:                             # web apps that may call the gateway from a browser
//!   origins: [https://app.example.com]
//! auth:
//!   keys: true                      # Harbor's own gateway keys too (default)
//!   issuers:
//!     - issuer: https://idp.example.com
//!       audience: [https://gw.example.com/mcp]   # default: the resource
//!       algorithms: [RS256, ES256, EdDSA]        # default: all of jwt::Alg
//!       leeway_seconds: 60
//!       introspection:                           # for opaque tokens (RFC 7662)
//!         client_id: gateway
//!         client_secret: ${INTROSPECTION_SECRET}
//! limits:                          # for roles that set none (default 120 a minute, 4 at once)
//!   rate_per_min: 300
//!   concurrency: 8
//! roles:
//!   dev: { allow: [time, everything/echo], rate_per_min: 60, concurrency: 2 }
//!   admin: { allow: ["*"] }
//! mappings:
//!   - { claim: groups, value: Admin, role: admin }
//!   - { claim: scope, value: tools:call, role: dev }
//! database: ${DATABASE_URL}        # postgres://…: replicas share rate windows and audit
//! telemetry:                        # traces over OTLP/HTTP (default: OTEL_EXPORTER_OTLP_ENDPOINT)
//!   otlp_endpoint: http://collector:4318
//!   service_name: harbor-gateway
//! servers:                          # run and kept as written here (`kind` as in servers.add)
//!   time:
//!     launch: { kind: process, command: uvx, args: [mcp-server-time] }
//!   everything:
//!     launch: { kind: remote, url: "http://everything:3001/mcp" }
//!     tool_timeout_ms: 30000
//! ```

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;

use serde::{de, Deserialize, Deserializer};

use super::jwt::Alg;
use crate::store::servers::Launch;

/// The loaded file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TeamConfig {
    #[serde(default = "default_listen", deserialize_with = "address")]
    pub listen: SocketAddr,
    /// The gateway's resource URI: the audience its tokens carry and what RFC 9728 names.
    #[serde(default)]
    pub resource: Option<Text>,
    #[serde(default)]
    pub tls: Option<Tls>,
    #[serde(default)]
    pub cors: Cors,
    #[serde(default)]
    pub auth: Auth,
    #[serde(default)]
    pub limits: Limits,
    #[serde(default)]
    pub roles: BTreeMap<String, Role>,
    #[serde(default)]
    pub mappings: Vec<Mapping>,
    #[serde(default)]
    pub servers: BTreeMap<String, ConfigServer>,
    /// A PostgreSQL URL (a secret: its password): replicas share rate windows and audit there.
    #[serde(default)]
    pub database: Option<Secret>,
    #[serde(default)]
    pub telemetry: Telemetry,
}

/// Where traces go.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Telemetry {
    /// An OTLP/HTTP receiver's base URL (`/v1/traces` is added).
    #[serde(default)]
    pub otlp_endpoint: Option<Text>,
    #[serde(default)]
    pub service_name: Option<Text>,
}

impl Telemetry {
    /// The receiver: the file's, else the environment's `OTEL_EXPORTER_OTLP_ENDPOINT`.
    pub fn endpoint(&self) -> Option<String> {
        self.otlp_endpoint
            .as_ref()
            .map(|t| t.0.clone())
            .or_else(|| std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT").ok().filter(|v| !v.is_empty()))
    }

    pub fn service(&self) -> String {
        self.service_name.as_ref().map_or_else(|| "harbor-gateway".to_owned(), |t| t.0.clone())
    }
}

/// A server the gateway runs because the file names it.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigServer {
    #[serde(default)]
    pub name: Option<Text>,
    /// As `servers.add` takes it; `${VAR}` filled in in every string.
    #[serde(deserialize_with = "launch")]
    pub launch: Launch,
    #[serde(default, deserialize_with = "some_number")]
    pub tool_timeout_ms: Option<u64>,
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], super::super::DEFAULT_PORT))
}

/// The certificate chain and private key the listener serves TLS with (PEM files).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tls {
    pub cert: Text,
    pub key: Text,
}

/// The web origins whose pages may call the gateway (CORS); none by default.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cors {
    #[serde(default)]
    pub origins: Vec<Text>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Auth {
    /// Whether Harbor's own client keys are accepted beside the issuers' tokens.
    #[serde(default = "yes")]
    pub keys: bool,
    #[serde(default)]
    pub issuers: Vec<IssuerConfig>,
}

impl Default for Auth {
    fn default() -> Self {
        Auth { keys: true, issuers: Vec::new() }
    }
}

fn yes() -> bool {
    true
}

/// An identity provider whose access tokens the gateway accepts.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssuerConfig {
    /// Its issuer identifier, exactly as its tokens' `iss` say it.
    pub issuer: Text,
    /// What its callers are named by (`<name>:<sub>`); needed when there is more than one issuer.
    #[serde(default)]
    pub name: Option<String>,
    /// Accepted `aud` values; default: the gateway's resource URI.
    #[serde(default, deserialize_with = "one_or_many")]
    pub audience: Vec<Text>,
    #[serde(default)]
    pub algorithms: Option<Vec<Algorithm>>,
    #[serde(default = "default_leeway", deserialize_with = "number")]
    pub leeway_seconds: u64,
    #[serde(default)]
    pub introspection: Option<Introspection>,
}

fn default_leeway() -> u64 {
    60
}

/// How opaque tokens are checked (RFC 7662): the gateway's own credentials at the issuer.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Introspection {
    pub client_id: Text,
    pub client_secret: Secret,
    /// Default: the issuer metadata's `introspection_endpoint`.
    #[serde(default)]
    pub endpoint: Option<Text>,
}

/// The limits a role has when it sets none of its own.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    #[serde(default = "default_rate", deserialize_with = "number")]
    pub rate_per_min: u32,
    #[serde(default = "default_concurrency", deserialize_with = "number")]
    pub concurrency: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { rate_per_min: default_rate(), concurrency: default_concurrency() }
    }
}

fn default_rate() -> u32 {
    crate::gateway::DEFAULT_RATE_PER_MIN
}

fn default_concurrency() -> u32 {
    crate::gateway::DEFAULT_CONCURRENCY
}

/// What a role may do.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Role {
    /// `*`, `server` (or `server/*`) and `server/tool` entries.
    pub allow: Vec<AllowEntry>,
    #[serde(default, deserialize_with = "some_number")]
    pub rate_per_min: Option<u32>,
    #[serde(default, deserialize_with = "some_number")]
    pub concurrency: Option<u32>,
}

/// A claim value that gives a caller a role.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mapping {
    /// A claim name or a dotted path into nested claims (`realm_access.roles`).
    pub claim: String,
    pub value: String,
    pub role: String,
}

/// A string with `${VAR}` and `${VAR:-default}` filled in from the environment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Text(pub String);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Text, D::Error> {
        let raw = String::deserialize(deserializer)?;
        substitute(&raw, |name| std::env::var(name).ok()).map(Text).map_err(de::Error::custom)
    }
}

/// A secret: only ever a reference to the environment, never written into the file.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(…)")
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Secret, D::Error> {
        let raw = String::deserialize(deserializer)?;
        let reference = raw.trim();
        if !(reference.starts_with("${") && reference.ends_with('}') && reference.matches("${").count() == 1) {
            return Err(de::Error::custom(
                "the secret is not written in the file: put it in an environment variable and write ${VARIABLE}",
            ));
        }
        substitute(reference, |name| std::env::var(name).ok()).map(Secret).map_err(de::Error::custom)
    }
}

/// One allowlist entry, checked as it is read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AllowEntry(pub String);

impl<'de> Deserialize<'de> for AllowEntry {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<AllowEntry, D::Error> {
        let raw = String::deserialize(deserializer)?;
        allow_entry(&raw).map(AllowEntry).map_err(de::Error::custom)
    }
}

/// A signing algorithm by its JOSE name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Algorithm(pub Alg);

impl<'de> Deserialize<'de> for Algorithm {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Algorithm, D::Error> {
        let raw = String::deserialize(deserializer)?;
        Alg::parse(&raw).map(Algorithm).map_err(|e| de::Error::custom(format!("{raw:?}: {e}")))
    }
}

/// An address such as `127.0.0.1:8080` or `${LISTEN:-127.0.0.1:8080}`.
fn address<'de, D: Deserializer<'de>>(deserializer: D) -> Result<SocketAddr, D::Error> {
    let Text(raw) = Text::deserialize(deserializer)?;
    raw.parse().map_err(|_| de::Error::custom(format!("{raw:?} is not an address such as 127.0.0.1:8080")))
}

/// A number, written as one or as a string such as `${RATE:-60}`.
fn number<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + std::str::FromStr,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Written<T> {
        Number(T),
        Text(Text),
    }
    match Written::<T>::deserialize(deserializer)? {
        Written::Number(n) => Ok(n),
        Written::Text(Text(raw)) => {
            raw.trim().parse().map_err(|_| de::Error::custom(format!("{raw:?} is not a whole number")))
        }
    }
}

fn some_number<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + std::str::FromStr,
{
    number(deserializer).map(Some)
}

/// A server's launch, with `${VAR}` filled in in each of its strings.
fn launch<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Launch, D::Error> {
    fn fill(value: &mut serde_json::Value) -> Result<(), String> {
        match value {
            serde_json::Value::String(text) => *text = substitute(text, |name| std::env::var(name).ok())?,
            serde_json::Value::Array(items) => items.iter_mut().try_for_each(fill)?,
            serde_json::Value::Object(fields) => fields.values_mut().try_for_each(fill)?,
            _ => {}
        }
        Ok(())
    }
    let mut value = serde_json::Value::deserialize(deserializer)?;
    fill(&mut value).map_err(de::Error::custom)?;
    serde_json::from_value(value).map_err(|e| {
        de::Error::custom(format!(
            "not a launch ({e}); write kind: process (command, args, env), docker (image) or remote (url)"
        ))
    })
}

fn one_or_many<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<Text>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(Text),
        Many(Vec<Text>),
    }
    Ok(match OneOrMany::deserialize(deserializer)? {
        OneOrMany::One(one) => vec![one],
        OneOrMany::Many(many) => many,
    })
}

/// `*`, a server id, `server/*` (as the server id) or `server/tool`.
fn allow_entry(raw: &str) -> Result<String, String> {
    let entry = raw.strip_suffix("/*").unwrap_or(raw);
    let server_ok = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    let ok = entry == "*"
        || match entry.split_once('/') {
            Some((server, tool)) => server_ok(server) && !tool.is_empty() && !tool.contains('*'),
            None => server_ok(entry),
        };
    if ok {
        Ok(entry.to_owned())
    } else {
        Err(format!("{raw:?} is not an allowlist entry: write *, a server id, server/* or server/tool"))
    }
}

/// Fills in `${VAR}` and `${VAR:-default}`; `$$` is a literal `$`.
pub fn substitute(raw: &str, env: impl Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        if let Some(after) = rest.strip_prefix("$$") {
            out.push('$');
            rest = after;
            continue;
        }
        let Some(body) = rest.strip_prefix("${") else {
            out.push('$');
            rest = &rest[1..];
            continue;
        };
        let end = body.find('}').ok_or_else(|| format!("{raw:?} has a ${{ without its closing }}"))?;
        let (name, default) = match body[..end].split_once(":-") {
            Some((name, default)) => (name, Some(default)),
            None => (&body[..end], None),
        };
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!("${{{name}}} does not name an environment variable"));
        }
        match (env(name).filter(|v| !v.is_empty()), default) {
            (Some(value), _) => out.push_str(&value),
            (None, Some(default)) => out.push_str(default),
            (None, None) => {
                return Err(format!(
                    "the environment variable {name} is not set (write ${{{name}:-default}} for a default)"
                ))
            }
        }
        rest = &body[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// A config file that cannot be used, with where and why.
#[derive(Debug)]
pub struct ConfigError(pub String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

impl TeamConfig {
    /// Reads and checks `path`.
    pub fn load(path: &Path) -> Result<TeamConfig, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError(format!("cannot read the config file {}: {e}", path.display())))?;
        TeamConfig::parse(&text).map_err(|ConfigError(why)| ConfigError(format!("{}: {why}", path.display())))
    }

    /// Parses and checks a config file's text.
    pub fn parse(text: &str) -> Result<TeamConfig, ConfigError> {
        let config: TeamConfig = serde_norway::from_str(text).map_err(|e| ConfigError(e.to_string()))?;
        config.check(text)?;
        Ok(config)
    }

    /// What the types alone cannot say: references between sections, and safe serving.
    fn check(&self, text: &str) -> Result<(), ConfigError> {
        let at = |needle: &str| line_of(text, needle).map(|line| format!(" at line {line}")).unwrap_or_default();
        if !self.listen.ip().is_loopback() {
            if self.tls.is_none() {
                return Err(ConfigError(format!(
                    "listen: {} is not a loopback address{}; serving beyond this machine needs `tls` (cert and key)",
                    self.listen,
                    at("listen")
                )));
            }
            if self.resource.is_none() {
                return Err(ConfigError(format!(
                    "resource: serving on {} needs the URI callers reach it by (https://…/mcp){}",
                    self.listen,
                    at("listen")
                )));
            }
        }
        if let Some(Text(resource)) = &self.resource {
            let scheme = url::Url::parse(resource).map(|u| u.scheme().to_owned()).unwrap_or_default();
            let wanted = if self.tls.is_some() { "https" } else { "http" };
            if scheme != wanted && !(scheme == "https" && self.tls.is_none()) {
                return Err(ConfigError(format!(
                    "resource: {resource:?} is not an {wanted} URL{}{}",
                    at("resource"),
                    if self.tls.is_some() { " (the listener serves TLS)" } else { "" }
                )));
            }
        }
        for Text(origin) in &self.cors.origins {
            let parsed = url::Url::parse(origin).ok().filter(|u| {
                matches!(u.scheme(), "http" | "https")
                    && u.origin().ascii_serialization() == origin.trim_end_matches('/')
            });
            if parsed.is_none() {
                return Err(ConfigError(format!(
                    "cors.origins: {origin:?} is not an origin such as https://app.example.com (no path, no wildcard){}",
                    at(origin)
                )));
            }
        }
        if !self.auth.keys && self.auth.issuers.is_empty() {
            return Err(ConfigError(format!(
                "auth: with keys off and no issuers nobody could use the gateway{}; add an issuer or turn keys on",
                at("auth")
            )));
        }
        let mut names = std::collections::HashSet::new();
        for (i, issuer) in self.auth.issuers.iter().enumerate() {
            let path = format!("auth.issuers[{i}]");
            if url::Url::parse(&issuer.issuer.0).is_err() {
                return Err(ConfigError(format!("{path}.issuer: {:?} is not a URL{}", issuer.issuer.0, at("issuer"))));
            }
            if self.auth.issuers.len() > 1 && issuer.name.is_none() {
                return Err(ConfigError(format!(
                    "{path}: with more than one issuer each needs a `name` (its callers are named <name>:<sub>){}",
                    at(&issuer.issuer.0)
                )));
            }
            let name = self.issuer_name(i);
            if !names.insert(name.clone()) {
                return Err(ConfigError(format!("{path}.name: {name:?} is used twice{}", at(&name))));
            }
        }
        if let Some(Secret(url)) = &self.database {
            if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
                return Err(ConfigError(format!("database: the URL is not postgres://…{}", at("database"))));
            }
        }
        if let Some(Text(endpoint)) = &self.telemetry.otlp_endpoint {
            if url::Url::parse(endpoint).map_or(true, |u| !matches!(u.scheme(), "http" | "https")) {
                return Err(ConfigError(format!(
                    "telemetry.otlp_endpoint: {endpoint:?} is not an http(s) URL{}",
                    at("otlp_endpoint")
                )));
            }
        }
        for id in self.servers.keys() {
            if let Err(why) = crate::mcp::names::check_server_id(id) {
                return Err(ConfigError(format!("servers.{id}: {why}{}", at(&format!("{id}:")))));
            }
        }
        for (i, mapping) in self.mappings.iter().enumerate() {
            if !self.roles.contains_key(&mapping.role) {
                let known: Vec<&str> = self.roles.keys().map(String::as_str).collect();
                return Err(ConfigError(format!(
                    "mappings[{i}].role: there is no role {:?}{} (the roles are: {})",
                    mapping.role,
                    at(&format!("role: {}", mapping.role)),
                    if known.is_empty() { "none".to_owned() } else { known.join(", ") }
                )));
            }
            if mapping.claim.is_empty() {
                return Err(ConfigError(format!("mappings[{i}].claim: name a claim{}", at("claim"))));
            }
        }
        Ok(())
    }

    /// The name the `i`th issuer's callers are named by.
    pub fn issuer_name(&self, i: usize) -> String {
        self.auth.issuers[i].name.clone().unwrap_or_else(|| "idp".to_owned())
    }

    /// The gateway's resource URI.
    pub fn resource(&self) -> String {
        match &self.resource {
            Some(Text(resource)) => resource.clone(),
            None if self.tls.is_some() => format!("https://{}/mcp", self.listen),
            None => format!("http://{}/mcp", self.listen),
        }
    }

    /// The CORS origins, as a browser writes them.
    pub fn cors_origins(&self) -> Vec<String> {
        self.cors.origins.iter().map(|Text(o)| o.trim_end_matches('/').to_owned()).collect()
    }
}

/// The first line (from 1) that holds `needle`.
fn line_of(text: &str, needle: &str) -> Option<usize> {
    text.lines().position(|line| line.contains(needle)).map(|i| i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variables_are_filled_in_with_defaults_and_missing_ones_named() {
        let env = |name: &str| match name {
            "HOST" => Some("idp.test".to_owned()),
            "EMPTY" => Some(String::new()),
            _ => None,
        };
        assert_eq!(substitute("https://${HOST}/x", env).unwrap(), "https://idp.test/x");
        assert_eq!(substitute("${PORT:-8080}", env).unwrap(), "8080");
        assert_eq!(substitute("${EMPTY:-fallback}", env).unwrap(), "fallback");
        assert_eq!(substitute("cost $5 and $$HOME", env).unwrap(), "cost $5 and $HOME");
        assert!(substitute("${MISSING}", env).unwrap_err().contains("MISSING is not set"));
        assert!(substitute("${HOST", env).unwrap_err().contains("closing"));
        assert!(substitute("${a b}", env).is_err());
    }

    #[test]
    fn a_value_from_the_environment_cannot_change_the_files_structure() {
        std::env::set_var("HARBOR_TEST_CONFIG_VALUE", "x\nroles:\n  evil: {allow: ['*']}");
        let config = TeamConfig::parse("resource: http://127.0.0.1:1/${HARBOR_TEST_CONFIG_VALUE}\n").unwrap();
        assert!(config.roles.is_empty());
        assert!(config.resource().contains("evil"), "the value stays inside its string");
        std::env::set_var("HARBOR_TEST_CONFIG_PORT", "9123");
        let config = TeamConfig::parse("listen: 127.0.0.1:${HARBOR_TEST_CONFIG_PORT}\n").unwrap();
        assert_eq!(config.resource(), "http://127.0.0.1:9123/mcp");
        let config = TeamConfig::parse("listen: ${HARBOR_TEST_CONFIG_UNSET:-[::1]:9124}\n").unwrap();
        assert_eq!(config.resource(), "http://[::1]:9124/mcp");
        let text = "roles:\n  dev: {allow: [x], rate_per_min: '${HARBOR_TEST_CONFIG_PORT}', concurrency: 3}\n";
        let config = TeamConfig::parse(text).unwrap();
        assert_eq!((config.roles["dev"].rate_per_min, config.roles["dev"].concurrency), (Some(9123), Some(3)));
        let error = TeamConfig::parse("roles:\n  dev: {allow: [x], rate_per_min: lots}\n").unwrap_err().0;
        assert!(error.contains("roles.dev") && error.contains("\"lots\"") && error.contains("line 2"), "{error}");
    }

    #[test]
    fn errors_name_the_key_and_the_line() {
        let text = "listen: 127.0.0.1:9000\nroles:\n  dev:\n    alow: [time]\n";
        let error = TeamConfig::parse(text).unwrap_err().0;
        assert!(error.contains("roles.dev") && error.contains("alow") && error.contains("line 4"), "{error}");
        let text = "roles:\n  dev:\n    allow: [time]\nmappings:\n  - claim: groups\n    value: dev\n    role: devs\n";
        let error = TeamConfig::parse(text).unwrap_err().0;
        assert!(error.contains("mappings[0].role") && error.contains("line 7") && error.contains("dev"), "{error}");
        let text = "roles:\n  dev:\n    allow: ['time/*', 'every thing']\n";
        let error = TeamConfig::parse(text).unwrap_err().0;
        assert!(error.contains("roles.dev.allow") && error.contains("line 3"), "{error}");
        let error = TeamConfig::parse("listen: 0.0.0.0:80\n").unwrap_err().0;
        assert!(error.contains("loopback") && error.contains("tls") && error.contains("line 1"), "{error}");
    }

    #[test]
    fn serving_beyond_loopback_needs_tls_and_an_https_resource_and_cors_takes_only_origins() {
        let tls = "tls: {cert: /c.pem, key: /k.pem}\n";
        let error = TeamConfig::parse(&format!("listen: 0.0.0.0:8443\n{tls}")).unwrap_err().0;
        assert!(error.contains("resource") && error.contains("https"), "{error}");
        let text = format!("listen: 0.0.0.0:8443\nresource: http://gw.test/mcp\n{tls}");
        let error = TeamConfig::parse(&text).unwrap_err().0;
        assert!(error.contains("not an https URL") && error.contains("line 2"), "{error}");
        let text = format!("listen: 0.0.0.0:8443\nresource: https://gw.test/mcp\n{tls}");
        assert_eq!(TeamConfig::parse(&text).unwrap().resource(), "https://gw.test/mcp");
        let config = TeamConfig::parse(&format!("listen: 127.0.0.1:8443\n{tls}")).unwrap();
        assert_eq!(config.resource(), "https://127.0.0.1:8443/mcp");
        for bad in ["'*'", "https://app.test/path", "app.test", "'null'", "ftp://app.test"] {
            let error = TeamConfig::parse(&format!("cors:\n  origins: [{bad}]\n")).unwrap_err().0;
            assert!(error.contains("cors.origins") && error.contains("line 2"), "{bad}: {error}");
        }
        let config = TeamConfig::parse("cors:\n  origins: [https://app.test, 'http://localhost:3000/']\n").unwrap();
        assert_eq!(config.cors_origins(), ["https://app.test", "http://localhost:3000"]);
    }

    #[test]
    fn servers_take_any_launch_with_variables_filled_in() {
        std::env::set_var("HARBOR_TEST_EVERYTHING_URL", "http://everything:3001/mcp");
        let text = "servers:\n  time:\n    launch: {kind: process, command: uvx, args: [mcp-server-time, '--tz=${HARBOR_TEST_TZ:-UTC}']}\n  everything:\n    launch: {kind: remote, url: '${HARBOR_TEST_EVERYTHING_URL}'}\n    tool_timeout_ms: 30000\n";
        let config = TeamConfig::parse(text).unwrap();
        match &config.servers["time"].launch {
            Launch::Process { command, args, .. } => {
                assert_eq!((command.as_str(), args[1].as_str()), ("uvx", "--tz=UTC"))
            }
            other => panic!("{other:?}"),
        }
        assert!(
            matches!(&config.servers["everything"].launch, Launch::Remote { url, .. } if url == "http://everything:3001/mcp")
        );
        assert_eq!(config.servers["everything"].tool_timeout_ms, Some(30_000));
        let error = TeamConfig::parse("servers:\n  time:\n    launch: {kind: teleport}\n").unwrap_err().0;
        assert!(
            error.contains("servers.time") && error.contains("not a launch") && error.contains("line 3"),
            "{error}"
        );
        let error =
            TeamConfig::parse("servers:\n  Bad/Id:\n    launch: {kind: remote, url: 'http://x'}\n").unwrap_err().0;
        assert!(error.contains("servers.Bad/Id") && error.contains("line 2"), "{error}");
    }

    #[test]
    fn secrets_are_only_references() {
        let text = "auth:\n  issuers:\n    - issuer: https://idp.test\n      introspection:\n        client_id: gw\n        client_secret: hunter2\n";
        let error = TeamConfig::parse(text).unwrap_err().0;
        // The error is placed at the section holding the secret (where serde_norway reports a
        // value's own refusal).
        assert!(error.contains("introspection") && error.contains("environment variable"), "{error}");
        assert!(error.contains("line 5"), "{error}");
        assert!(!error.contains("hunter2"), "the error does not repeat the secret: {error}");
        std::env::set_var("HARBOR_TEST_SECRET", "s3cret");
        let text = text.replace("hunter2", "${HARBOR_TEST_SECRET}");
        let config = TeamConfig::parse(&text).unwrap();
        let introspection = config.auth.issuers[0].introspection.as_ref().unwrap();
        assert_eq!(introspection.client_secret.0, "s3cret");
        assert!(!format!("{config:?}").contains("s3cret"), "secrets stay out of debug output");
    }

    #[test]
    fn json_is_read_too_and_allow_entries_are_normalised() {
        let config = TeamConfig::parse(r#"{"roles": {"dev": {"allow": ["time/*", "everything/echo", "*"]}}}"#).unwrap();
        let allow: Vec<&str> = config.roles["dev"].allow.iter().map(|e| e.0.as_str()).collect();
        assert_eq!(allow, ["time", "everything/echo", "*"]);
        assert_eq!(config.resource(), format!("http://127.0.0.1:{}/mcp", crate::gateway::DEFAULT_PORT));
    }
}
