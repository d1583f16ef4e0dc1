//! The gateway for a team: callers who bring their identity provider's access tokens.
//!
//! Besides Harbor's own client keys, the HTTP face accepts bearer tokens from the issuers the
//! config file names (an OAuth 2.1 resource server): JWTs are checked here against the issuer's
//! keys ([`jwt`], [`issuer`]), opaque tokens by the issuer's introspection. The token's claims give
//! roles ([`roles`]), the roles a policy; the caller then goes through the same pipeline as any
//! gateway client, under the name `<issuer name>:<sub>` — its own rate window, concurrency slots,
//! tool pins and audit rows (which record the subject and roles, never the token).
//!
//! - [`config`] — the config file;
//! - [`jwt`] — taking a token apart and checking its signature and claims;
//! - [`issuer`] — an issuer's metadata, keys and introspection;
//! - [`roles`] — claims to roles to a policy;
//! - [`servers`] — the servers the file names, kept in the registry as it says;
//! - [`tls`] — the listener's certificate.

pub mod config;
pub mod issuer;
pub mod jwt;
pub mod roles;
pub mod servers;
pub mod tls;

use serde_json::{Map, Value};

use config::TeamConfig;
use issuer::{Issuer, IssuerError};
use jwt::JwtError;

/// A caller known by a token: who it is, its roles, and the policy they give.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    /// `<issuer name>:<sub>`: how the gateway names it (limits, pins, audit, traffic).
    pub name: String,
    pub roles: Vec<String>,
    pub policy: roles::Effective,
}

/// Why a token does not let its caller in.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// 401 `invalid_token`: not a token, not from a trusted issuer, forged, expired, or not for
    /// this gateway.
    Invalid(String),
    /// 403 `insufficient_scope`: a good token that gives no role; the scopes that would.
    NoRole { scopes: Vec<String> },
    /// 503: the issuer could not be asked about the token.
    Unavailable(String),
}

/// The loaded config, its issuers and its TLS acceptor.
pub struct Team {
    pub config: TeamConfig,
    pub issuers: Vec<Issuer>,
    pub tls: Option<tokio_rustls::TlsAcceptor>,
    /// The CORS origins, as browsers send them.
    pub cors: Vec<String>,
}

impl Team {
    /// Puts a checked config to use: its issuers, and its certificate read from disk.
    pub fn load(config: TeamConfig) -> Result<Team, config::ConfigError> {
        let resource = config.resource();
        let issuers = (0..config.auth.issuers.len())
            .map(|i| Issuer::new(config.auth.issuers[i].clone(), config.issuer_name(i), &resource))
            .collect();
        let tls = config.tls.as_ref().map(tls::acceptor).transpose()?;
        let cors = config.cors_origins();
        Ok(Team { config, issuers, tls, cors })
    }

    /// Reads, checks and loads the config file at `path`.
    pub fn from_file(path: &std::path::Path) -> Result<Team, config::ConfigError> {
        Team::load(TeamConfig::load(path)?)
    }

    /// The caller `token` stands for.
    pub async fn authenticate(&self, token: &str) -> Result<Principal, Refusal> {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let (issuer, claims) = if jwt::looks_like_jwt(token) {
            let parsed = jwt::parse(token).map_err(invalid)?;
            let claimed = jwt::claimed_issuer(&parsed).unwrap_or_default();
            let issuer = self.issuers.iter().find(|i| i.issuer() == claimed).ok_or(invalid(JwtError::WrongIssuer))?;
            (issuer, issuer.check_jwt(&parsed, now).await.map_err(refusal)?)
        } else {
            self.introspect(token, now).await?
        };
        let subject = claims.get("sub").and_then(Value::as_str).unwrap_or_default();
        if subject.is_empty() || subject.len() > 255 || subject.chars().any(char::is_control) {
            return Err(Refusal::Invalid("the token names no usable subject (sub)".into()));
        }
        let roles = roles::roles_of(&claims, &self.config.mappings);
        if roles.is_empty() {
            return Err(Refusal::NoRole { scopes: roles::scopes_granting(&self.config.mappings) });
        }
        let policy = roles::effective(&roles, &self.config.roles, &self.config.limits);
        Ok(Principal { name: format!("{}:{subject}", issuer.name), roles, policy })
    }

    /// An opaque token, asked of each issuer that introspects until one knows it.
    async fn introspect(&self, token: &str, now: u64) -> Result<(&Issuer, Map<String, Value>), Refusal> {
        if token.len() > jwt::MAX_TOKEN || token.chars().any(|c| c.is_control() || c == ' ') {
            return Err(Refusal::Invalid("the bearer token is not a token".into()));
        }
        let mut unavailable = None;
        for issuer in self.issuers.iter().filter(|i| i.introspects()) {
            match issuer.introspect(token, now).await {
                Ok(Some(claims)) => return Ok((issuer, claims)),
                Ok(None) => {}
                Err(IssuerError::Provider(why)) => unavailable = Some(why),
                Err(IssuerError::Token(why)) => return Err(invalid(why)),
            }
        }
        Err(match unavailable {
            Some(why) => Refusal::Unavailable(why),
            None => Refusal::Invalid("the token is not a key or an active token of a trusted issuer".into()),
        })
    }

    /// The issuers' identifiers, for the protected-resource metadata.
    pub fn authorization_servers(&self) -> Vec<String> {
        self.issuers.iter().map(|i| i.issuer().to_owned()).collect()
    }
}

fn invalid(error: JwtError) -> Refusal {
    Refusal::Invalid(error.to_string())
}

fn refusal(error: IssuerError) -> Refusal {
    match error {
        IssuerError::Token(error) => invalid(error),
        IssuerError::Provider(why) => Refusal::Unavailable(why),
    }
}
