//! One trusted identity provider: its metadata, its signing keys and its introspection endpoint.
//!
//! The metadata (RFC 8414 or OpenID discovery, as [`crate::oauth::discovery`] reads it) gives
//! `jwks_uri` and `introspection_endpoint`. Keys are kept and fetched again when a token names a
//! `kid` not among them (the provider rotated its keys) or when they are an hour old; a flood of
//! tokens with made-up `kid`s costs the provider at most one fetch every [`REFETCH_GAP`], and a
//! fetch in progress is shared by every request that needs it. Every request to the provider is
//! bounded by [`PROVIDER_TIMEOUT`]. Introspection answers (RFC 7662) are kept for a short while
//! under the token's SHA-256, never the token.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::config::IssuerConfig;
use super::jwt::{self, Alg, Jwk, JwtError};

/// How long fetched keys are trusted before they are fetched again.
const KEYS_TTL: Duration = Duration::from_secs(3600);
/// The least time between two fetches of the keys.
pub const REFETCH_GAP: Duration = Duration::from_secs(5);
/// How long any request to the provider may take.
const PROVIDER_TIMEOUT: Duration = Duration::from_secs(10);
/// How long an introspection answer is reused.
const INTROSPECTION_TTL: Duration = Duration::from_secs(30);
/// The most introspection answers kept.
const INTROSPECTION_KEPT: usize = 4096;

/// Why a token could not be checked against this issuer.
#[derive(Debug)]
pub enum IssuerError {
    /// The token is not acceptable.
    Token(JwtError),
    /// The provider could not be asked (it is down, or its answers are not metadata or keys).
    Provider(String),
}

impl From<JwtError> for IssuerError {
    fn from(error: JwtError) -> Self {
        IssuerError::Token(error)
    }
}

#[derive(Default)]
struct Keys {
    keys: Vec<Jwk>,
    fetched: Option<Instant>,
}

#[derive(Clone, Deserialize)]
struct Metadata {
    #[serde(default)]
    jwks_uri: Option<String>,
    #[serde(default)]
    introspection_endpoint: Option<String>,
}

/// A configured issuer and what was learnt from it.
pub struct Issuer {
    pub config: IssuerConfig,
    /// What its callers are named by.
    pub name: String,
    /// Accepted audiences.
    pub audiences: Vec<String>,
    accepted: Vec<Alg>,
    http: crate::http::Lazy,
    metadata: tokio::sync::OnceCell<Metadata>,
    keys: Mutex<Keys>,
    /// Held while the keys are fetched, so concurrent requests share one fetch.
    fetching: tokio::sync::Mutex<()>,
    introspected: Mutex<HashMap<[u8; 32], Introspected>>,
}

/// An introspection answer kept under the token's SHA-256: when, and the claims if active.
type Introspected = (Instant, Option<Map<String, Value>>);

impl Issuer {
    pub fn new(config: IssuerConfig, name: String, resource: &str) -> Issuer {
        let audiences = match config.audience.is_empty() {
            true => vec![resource.to_owned()],
            false => config.audience.iter().map(|a| a.0.clone()).collect(),
        };
        let accepted = match &config.algorithms {
            Some(algorithms) => algorithms.iter().map(|a| a.0).collect(),
            None => vec![
                Alg::Rs256,
                Alg::Rs384,
                Alg::Rs512,
                Alg::Ps256,
                Alg::Ps384,
                Alg::Ps512,
                Alg::Es256,
                Alg::Es384,
                Alg::EdDsa,
            ],
        };
        Issuer {
            config,
            name,
            audiences,
            accepted,
            http: crate::http::Lazy::new(|builder| {
                builder.timeout(PROVIDER_TIMEOUT).redirect(reqwest::redirect::Policy::none())
            }),
            metadata: tokio::sync::OnceCell::new(),
            keys: Mutex::default(),
            fetching: tokio::sync::Mutex::new(()),
            introspected: Mutex::default(),
        }
    }

    pub fn issuer(&self) -> &str {
        &self.config.issuer.0
    }

    /// A JWT's claims once its signature, algorithm and claims are checked.
    pub async fn check_jwt(&self, parsed: &jwt::Parsed, now: u64) -> Result<Map<String, Value>, IssuerError> {
        if !self.accepted.contains(&parsed.alg) {
            return Err(JwtError::AlgorithmNotAccepted(parsed.alg.name().to_owned()).into());
        }
        let key = self.key_for(parsed).await?;
        jwt::verify(parsed, &key)?;
        let expected = jwt::Expected {
            issuer: self.issuer(),
            audiences: &self.audiences,
            leeway_seconds: self.config.leeway_seconds,
            now,
        };
        jwt::check_claims(&parsed.claims, &expected)?;
        Ok(parsed.claims.clone())
    }

    /// The key that signed `parsed`: by its `kid`, or the one key that fits when it names none.
    async fn key_for(&self, parsed: &jwt::Parsed) -> Result<Jwk, IssuerError> {
        let pick = |keys: &Keys| -> Option<Jwk> {
            let mut fitting = keys.keys.iter().filter(|k| k.fits(parsed.alg));
            match &parsed.kid {
                Some(kid) => fitting.find(|k| k.kid.as_deref() == Some(kid)).cloned(),
                None => {
                    let first = fitting.next().cloned();
                    first.filter(|_| fitting.next().is_none())
                }
            }
        };
        let fresh = |keys: &Keys| keys.fetched.is_some_and(|at| at.elapsed() < KEYS_TTL);
        {
            let keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
            if fresh(&keys) {
                if let Some(key) = pick(&keys) {
                    return Ok(key);
                }
                if keys.fetched.is_some_and(|at| at.elapsed() < REFETCH_GAP) {
                    return Err(self.missing(parsed));
                }
            }
        }
        let _fetching = self.fetching.lock().await;
        // Another request may have fetched them while this one waited.
        {
            let keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
            if keys.fetched.is_some_and(|at| at.elapsed() < REFETCH_GAP) {
                return pick(&keys).ok_or_else(|| self.missing(parsed));
            }
        }
        let fetched = self.fetch_keys().await?;
        let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        *keys = Keys { keys: fetched, fetched: Some(Instant::now()) };
        pick(&keys).ok_or_else(|| self.missing(parsed))
    }

    fn missing(&self, parsed: &jwt::Parsed) -> IssuerError {
        match &parsed.kid {
            Some(kid) => JwtError::UnknownKey(kid.chars().take(64).collect()).into(),
            None => JwtError::KeyMismatch.into(),
        }
    }

    async fn metadata(&self) -> Result<&Metadata, IssuerError> {
        self.metadata
            .get_or_try_init(|| async {
                let http = self.http.get().map_err(IssuerError::Provider)?;
                let (url, found) = crate::oauth::discovery::issuer_metadata(&http, self.issuer())
                    .await
                    .map_err(|e| IssuerError::Provider(e.to_string()))?;
                serde_json::from_value::<Metadata>(found)
                    .map_err(|e| IssuerError::Provider(format!("{url} is not issuer metadata: {e}")))
            })
            .await
    }

    async fn fetch_keys(&self) -> Result<Vec<Jwk>, IssuerError> {
        let Some(jwks_uri) = self.metadata().await?.jwks_uri.clone() else {
            return Err(IssuerError::Provider(format!("{} publishes no jwks_uri", self.issuer())));
        };
        crate::oauth::discovery::check_secure(&jwks_uri).map_err(IssuerError::Provider)?;
        #[derive(Deserialize)]
        struct JwkSet {
            keys: Vec<Value>,
        }
        let http = self.http.get().map_err(IssuerError::Provider)?;
        let answer = http.get(&jwks_uri).send().await.map_err(|e| unanswered(&jwks_uri, &e))?;
        if !answer.status().is_success() {
            return Err(IssuerError::Provider(format!("{jwks_uri} answered {}", answer.status())));
        }
        let set: JwkSet =
            answer.json().await.map_err(|e| IssuerError::Provider(format!("{jwks_uri} is not a JWK Set: {e}")))?;
        // A key of a type not known here is skipped, not fatal: the others still work.
        let keys: Vec<Jwk> = set.keys.into_iter().filter_map(|k| serde_json::from_value(k).ok()).collect();
        tracing::info!(issuer = self.issuer(), keys = keys.len(), "fetched the issuer's signing keys");
        Ok(keys)
    }

    /// Whether this issuer can check opaque tokens.
    pub fn introspects(&self) -> bool {
        self.config.introspection.is_some()
    }

    /// An opaque token's claims by introspection; `None` when the provider says it is not active.
    pub async fn introspect(&self, token: &str, now: u64) -> Result<Option<Map<String, Value>>, IssuerError> {
        let Some(config) = &self.config.introspection else { return Ok(None) };
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if let Some((at, kept)) = self.introspected.lock().unwrap_or_else(|p| p.into_inner()).get(&digest) {
            if at.elapsed() < INTROSPECTION_TTL {
                return self.accept_introspected(kept.clone(), now);
            }
        }
        let endpoint = match &config.endpoint {
            Some(endpoint) => endpoint.0.clone(),
            None => self.metadata().await?.introspection_endpoint.clone().ok_or_else(|| {
                IssuerError::Provider(format!(
                    "{} publishes no introspection_endpoint; set auth.issuers[].introspection.endpoint",
                    self.issuer()
                ))
            })?,
        };
        crate::oauth::discovery::check_secure(&endpoint).map_err(IssuerError::Provider)?;
        let http = self.http.get().map_err(IssuerError::Provider)?;
        let form = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs([("token", token), ("token_type_hint", "access_token")])
            .finish();
        let answer = http
            .post(&endpoint)
            .basic_auth(&config.client_id.0, Some(&config.client_secret.0))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("accept", "application/json")
            .body(form)
            .send()
            .await
            .map_err(|e| unanswered(&endpoint, &e))?;
        if !answer.status().is_success() {
            return Err(IssuerError::Provider(format!(
                "{endpoint} refused to introspect ({}); check the gateway's introspection credentials",
                answer.status()
            )));
        }
        let answer: Map<String, Value> = answer
            .json()
            .await
            .map_err(|e| IssuerError::Provider(format!("{endpoint} did not answer with JSON: {e}")))?;
        let claims = (answer.get("active") == Some(&Value::Bool(true))).then_some(answer);
        let mut kept = self.introspected.lock().unwrap_or_else(|p| p.into_inner());
        if kept.len() >= INTROSPECTION_KEPT {
            kept.retain(|_, (at, _)| at.elapsed() < INTROSPECTION_TTL);
            if kept.len() >= INTROSPECTION_KEPT {
                kept.clear();
            }
        }
        kept.insert(digest, (Instant::now(), claims.clone()));
        drop(kept);
        self.accept_introspected(claims, now)
    }

    /// An active token's claims, held to what a JWT's are where the answer says them.
    fn accept_introspected(
        &self,
        claims: Option<Map<String, Value>>,
        now: u64,
    ) -> Result<Option<Map<String, Value>>, IssuerError> {
        let Some(mut claims) = claims else { return Ok(None) };
        if claims.get("iss").and_then(Value::as_str).is_some_and(|iss| iss != self.issuer()) {
            return Err(JwtError::WrongIssuer.into());
        }
        if claims.contains_key("aud") && !jwt::audience_matches(claims.get("aud"), &self.audiences) {
            return Err(JwtError::WrongAudience.into());
        }
        if let Some(exp) = claims.get("exp").and_then(Value::as_u64) {
            if exp.saturating_add(self.config.leeway_seconds) <= now {
                return Err(JwtError::Expired.into());
            }
        }
        // A service's token names no user: RFC 9068 makes its client the subject.
        if !claims.contains_key("sub") {
            if let Some(client) = claims.get("client_id").cloned() {
                claims.insert("sub".into(), client);
            }
        }
        Ok(Some(claims))
    }
}

fn unanswered(url: &str, error: &reqwest::Error) -> IssuerError {
    IssuerError::Provider(format!("the identity provider did not answer at {url}: {error}"))
}
