//! JSON Web Tokens as a resource server checks them (RFC 7519, RFC 7515, RFC 9068).
//!
//! A token is three base64url parts; its signature is checked with one of the issuer's public
//! keys (RFC 7517 JWKs) by ring: RSA (`RS256/384/512`, `PS256/384/512`), ECDSA (`ES256`,
//! `ES384`) and Ed25519 (`EdDSA`). What attacks on JWT libraries have used is refused before any
//! key is looked at: `alg: none`, every `HS*` (a public key is not an HMAC secret), an algorithm
//! that does not fit the key's type or the key's own `alg`, a key not meant for signatures, and
//! any `crit` header (nothing here understands an extension). Then the claims: `iss` exactly,
//! `aud` containing the resource, `exp` required and `nbf` honoured with a small leeway.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::signature::{self, RsaPublicKeyComponents, UnparsedPublicKey, VerificationAlgorithm};
use serde::Deserialize;
use serde_json::{Map, Value};

/// The longest token looked at: real ones are under 4 KiB.
pub const MAX_TOKEN: usize = 16 << 10;

/// Why a token is refused; each becomes a 401 `invalid_token` with this as its description.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JwtError {
    Malformed(&'static str),
    /// `alg: none`.
    Unsigned,
    /// `HS256` and its kin.
    Symmetric(String),
    UnsupportedAlgorithm(String),
    /// An algorithm this issuer's configuration does not accept.
    AlgorithmNotAccepted(String),
    /// A `crit` header names extensions.
    Critical,
    /// No key of the issuer has this `kid` (after fetching its keys again).
    UnknownKey(String),
    /// The key's type or `alg` does not fit the token's algorithm.
    KeyMismatch,
    BadSignature,
    WrongIssuer,
    WrongAudience,
    Expired,
    NotYetValid,
}

/// What the client is told, as the 401's `error_description`.
impl std::fmt::Display for JwtError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JwtError::Malformed(what) => write!(f, "the token is not a JWT: {what}"),
            JwtError::Unsigned => write!(f, "the token is unsigned (alg none)"),
            JwtError::Symmetric(alg) => write!(f, "{alg} tokens are not accepted: only the issuer's public keys sign"),
            JwtError::UnsupportedAlgorithm(alg) => write!(f, "the signing algorithm {alg:?} is not supported"),
            JwtError::AlgorithmNotAccepted(alg) => {
                write!(f, "the signing algorithm {alg} is not accepted for this issuer")
            }
            JwtError::Critical => {
                write!(f, "the token has critical header extensions this gateway does not understand")
            }
            JwtError::UnknownKey(kid) => write!(f, "the issuer has no signing key {kid:?}"),
            JwtError::KeyMismatch => write!(f, "the token's algorithm does not fit the issuer's key"),
            JwtError::BadSignature => write!(f, "the token's signature is not valid"),
            JwtError::WrongIssuer => write!(f, "the token is from an issuer this gateway does not trust"),
            JwtError::WrongAudience => write!(f, "the token is not meant for this gateway (its audience)"),
            JwtError::Expired => write!(f, "the token has expired"),
            JwtError::NotYetValid => write!(f, "the token is not valid yet"),
        }
    }
}

impl std::error::Error for JwtError {}

/// The signing algorithms accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Alg {
    Rs256,
    Rs384,
    Rs512,
    Ps256,
    Ps384,
    Ps512,
    Es256,
    Es384,
    EdDsa,
}

impl Alg {
    pub fn parse(name: &str) -> Result<Alg, JwtError> {
        Ok(match name {
            "RS256" => Alg::Rs256,
            "RS384" => Alg::Rs384,
            "RS512" => Alg::Rs512,
            "PS256" => Alg::Ps256,
            "PS384" => Alg::Ps384,
            "PS512" => Alg::Ps512,
            "ES256" => Alg::Es256,
            "ES384" => Alg::Es384,
            "EdDSA" => Alg::EdDsa,
            "none" | "None" | "NONE" => return Err(JwtError::Unsigned),
            other if other.to_ascii_uppercase().starts_with("HS") => return Err(JwtError::Symmetric(other.to_owned())),
            other => return Err(JwtError::UnsupportedAlgorithm(other.chars().take(20).collect())),
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Alg::Rs256 => "RS256",
            Alg::Rs384 => "RS384",
            Alg::Rs512 => "RS512",
            Alg::Ps256 => "PS256",
            Alg::Ps384 => "PS384",
            Alg::Ps512 => "PS512",
            Alg::Es256 => "ES256",
            Alg::Es384 => "ES384",
            Alg::EdDsa => "EdDSA",
        }
    }

    /// The JWK `kty` a key for this algorithm has.
    fn key_type(self) -> &'static str {
        match self {
            Alg::Rs256 | Alg::Rs384 | Alg::Rs512 | Alg::Ps256 | Alg::Ps384 | Alg::Ps512 => "RSA",
            Alg::Es256 | Alg::Es384 => "EC",
            Alg::EdDsa => "OKP",
        }
    }
}

/// One public key of an issuer's JWK Set; the fields of the key types above.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct Jwk {
    pub kty: String,
    #[serde(default)]
    pub kid: Option<String>,
    #[serde(default)]
    pub alg: Option<String>,
    #[serde(default, rename = "use")]
    pub usage: Option<String>,
    #[serde(default)]
    pub n: Option<String>,
    #[serde(default)]
    pub e: Option<String>,
    #[serde(default)]
    pub crv: Option<String>,
    #[serde(default)]
    pub x: Option<String>,
    #[serde(default)]
    pub y: Option<String>,
}

impl Jwk {
    /// Whether this key may check a token signed with `alg`.
    pub fn fits(&self, alg: Alg) -> bool {
        self.kty == alg.key_type()
            && self.alg.as_deref().is_none_or(|own| own == alg.name())
            && self.usage.as_deref().is_none_or(|usage| usage == "sig")
    }
}

/// A token taken apart, its signature not yet checked.
#[derive(Debug)]
pub struct Parsed {
    pub alg: Alg,
    pub kid: Option<String>,
    pub claims: Map<String, Value>,
    signed: String,
    signature: Vec<u8>,
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    crit: Option<Value>,
}

/// Whether `token` looks like a JWS (three base64url parts), as opposed to an opaque token.
pub fn looks_like_jwt(token: &str) -> bool {
    token.len() <= MAX_TOKEN
        && token.split('.').count() == 3
        && token.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// Takes a compact JWS apart and refuses what no key could make acceptable.
pub fn parse(token: &str) -> Result<Parsed, JwtError> {
    if token.len() > MAX_TOKEN {
        return Err(JwtError::Malformed("it is too long"));
    }
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwtError::Malformed("it does not have three parts"));
    };
    let decode = |part: &str| URL_SAFE_NO_PAD.decode(part).map_err(|_| JwtError::Malformed("a part is not base64url"));
    let header: Header =
        serde_json::from_slice(&decode(header)?).map_err(|_| JwtError::Malformed("its header is not a JOSE header"))?;
    let alg = Alg::parse(&header.alg)?;
    if header.crit.is_some() {
        return Err(JwtError::Critical);
    }
    let claims: Map<String, Value> = serde_json::from_slice(&decode(payload)?)
        .map_err(|_| JwtError::Malformed("its claims are not a JSON object"))?;
    let signature = decode(signature)?;
    let signed = token[..token.len() - parts_len(token)].to_owned();
    Ok(Parsed { alg, kid: header.kid, claims, signed, signature })
}

/// The length of the signature part with its dot.
fn parts_len(token: &str) -> usize {
    token.rsplit_once('.').map_or(0, |(_, signature)| signature.len() + 1)
}

/// Checks `parsed`'s signature with `key`.
pub fn verify(parsed: &Parsed, key: &Jwk) -> Result<(), JwtError> {
    if !key.fits(parsed.alg) {
        return Err(JwtError::KeyMismatch);
    }
    let field = |value: &Option<String>| {
        value.as_deref().and_then(|v| URL_SAFE_NO_PAD.decode(v).ok()).ok_or(JwtError::KeyMismatch)
    };
    let message = parsed.signed.as_bytes();
    let checked = match parsed.alg {
        Alg::Rs256 | Alg::Rs384 | Alg::Rs512 | Alg::Ps256 | Alg::Ps384 | Alg::Ps512 => {
            let params = match parsed.alg {
                Alg::Rs256 => &signature::RSA_PKCS1_2048_8192_SHA256,
                Alg::Rs384 => &signature::RSA_PKCS1_2048_8192_SHA384,
                Alg::Rs512 => &signature::RSA_PKCS1_2048_8192_SHA512,
                Alg::Ps256 => &signature::RSA_PSS_2048_8192_SHA256,
                Alg::Ps384 => &signature::RSA_PSS_2048_8192_SHA384,
                _ => &signature::RSA_PSS_2048_8192_SHA512,
            };
            let (n, e) = (field(&key.n)?, field(&key.e)?);
            RsaPublicKeyComponents { n: &n, e: &e }.verify(params, message, &parsed.signature)
        }
        Alg::Es256 | Alg::Es384 => {
            let (curve, algorithm): (&str, &dyn VerificationAlgorithm) = match parsed.alg {
                Alg::Es256 => ("P-256", &signature::ECDSA_P256_SHA256_FIXED),
                _ => ("P-384", &signature::ECDSA_P384_SHA384_FIXED),
            };
            if key.crv.as_deref() != Some(curve) {
                return Err(JwtError::KeyMismatch);
            }
            let mut point = vec![0x04];
            point.extend(field(&key.x)?);
            point.extend(field(&key.y)?);
            UnparsedPublicKey::new(algorithm, point).verify(message, &parsed.signature)
        }
        Alg::EdDsa => {
            if key.crv.as_deref() != Some("Ed25519") {
                return Err(JwtError::KeyMismatch);
            }
            UnparsedPublicKey::new(&signature::ED25519, field(&key.x)?).verify(message, &parsed.signature)
        }
    };
    checked.map_err(|_| JwtError::BadSignature)
}

/// What a token's claims must say.
pub struct Expected<'a> {
    pub issuer: &'a str,
    /// Any one of these in `aud`.
    pub audiences: &'a [String],
    pub leeway_seconds: u64,
    pub now: u64,
}

/// Checks `iss`, `aud`, `exp` (required) and `nbf` (when present).
pub fn check_claims(claims: &Map<String, Value>, expected: &Expected) -> Result<(), JwtError> {
    if claims.get("iss").and_then(Value::as_str) != Some(expected.issuer) {
        return Err(JwtError::WrongIssuer);
    }
    if !audience_matches(claims.get("aud"), expected.audiences) {
        return Err(JwtError::WrongAudience);
    }
    let time = |name: &str| claims.get(name).and_then(Value::as_f64).map(|t| t.max(0.0) as u64);
    match time("exp") {
        Some(exp) if exp.saturating_add(expected.leeway_seconds) > expected.now => {}
        _ => return Err(JwtError::Expired),
    }
    if time("nbf").is_some_and(|nbf| nbf > expected.now.saturating_add(expected.leeway_seconds)) {
        return Err(JwtError::NotYetValid);
    }
    Ok(())
}

/// Whether `aud` (a string or an array of them) names one of `audiences`.
pub fn audience_matches(aud: Option<&Value>, audiences: &[String]) -> bool {
    let named = |a: &str| audiences.iter().any(|wanted| wanted.trim_end_matches('/') == a.trim_end_matches('/'));
    match aud {
        Some(Value::String(a)) => named(a),
        Some(Value::Array(all)) => all.iter().filter_map(Value::as_str).any(named),
        _ => false,
    }
}

/// The issuer a token says it is from, read before anything is checked (to pick its keys).
pub fn claimed_issuer(parsed: &Parsed) -> Option<&str> {
    parsed.claims.get("iss").and_then(Value::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::rand::SystemRandom;
    use ring::signature::{Ed25519KeyPair, KeyPair};
    use serde_json::json;

    fn b64(value: &Value) -> String {
        URL_SAFE_NO_PAD.encode(value.to_string())
    }

    /// A fresh Ed25519 key and its JWK.
    fn ed_key(kid: &str) -> (Ed25519KeyPair, Jwk) {
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
        let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
        let jwk = Jwk {
            kty: "OKP".into(),
            kid: Some(kid.into()),
            crv: Some("Ed25519".into()),
            x: Some(URL_SAFE_NO_PAD.encode(pair.public_key().as_ref())),
            ..Jwk::default()
        };
        (pair, jwk)
    }

    fn signed(pair: &Ed25519KeyPair, header: Value, claims: Value) -> String {
        let input = format!("{}.{}", b64(&header), b64(&claims));
        let signature = URL_SAFE_NO_PAD.encode(pair.sign(input.as_bytes()).as_ref());
        format!("{input}.{signature}")
    }

    fn claims(now: u64) -> Value {
        json!({"iss": "https://idp.test", "aud": ["https://gw.test/mcp"], "sub": "alice", "exp": now + 60})
    }

    fn expected(now: u64) -> (Vec<String>, u64) {
        (vec!["https://gw.test/mcp".to_owned()], now)
    }

    #[test]
    fn a_token_signed_by_the_key_passes_and_one_signed_by_another_key_does_not() {
        let (pair, jwk) = ed_key("a");
        let (other, _) = ed_key("a");
        let token = signed(&pair, json!({"alg": "EdDSA", "kid": "a"}), claims(1000));
        let parsed = parse(&token).unwrap();
        assert_eq!(parsed.kid.as_deref(), Some("a"));
        verify(&parsed, &jwk).unwrap();
        let forged = signed(&other, json!({"alg": "EdDSA", "kid": "a"}), claims(1000));
        assert_eq!(verify(&parse(&forged).unwrap(), &jwk), Err(JwtError::BadSignature));
        // The claims changed after signing.
        let (head, rest) = token.split_once('.').unwrap();
        let signature = rest.split_once('.').unwrap().1;
        let tampered = format!("{head}.{}.{signature}", b64(&json!({"iss": "https://idp.test", "sub": "admin"})));
        assert_eq!(verify(&parse(&tampered).unwrap(), &jwk), Err(JwtError::BadSignature));
    }

    #[test]
    fn unsigned_symmetric_and_critical_tokens_are_refused_before_any_key() {
        let claims = b64(&claims(1000));
        let none = format!("{}.{claims}.", b64(&json!({"alg": "none"})));
        assert_eq!(parse(&none).unwrap_err(), JwtError::Unsigned);
        let hs = format!("{}.{claims}.AAAA", b64(&json!({"alg": "HS256", "kid": "a"})));
        assert_eq!(parse(&hs).unwrap_err(), JwtError::Symmetric("HS256".into()));
        let crit = format!("{}.{claims}.AAAA", b64(&json!({"alg": "RS256", "crit": ["exp"]})));
        assert_eq!(parse(&crit).unwrap_err(), JwtError::Critical);
        assert!(matches!(parse("a.b"), Err(JwtError::Malformed(_))));
        assert!(matches!(parse(&"a".repeat(MAX_TOKEN + 1)), Err(JwtError::Malformed(_))));
    }

    #[test]
    fn a_key_of_another_type_or_algorithm_or_use_does_not_fit() {
        let (pair, mut jwk) = ed_key("a");
        let token = signed(&pair, json!({"alg": "EdDSA"}), claims(1000));
        let parsed = parse(&token).unwrap();
        jwk.usage = Some("enc".into());
        assert_eq!(verify(&parsed, &jwk), Err(JwtError::KeyMismatch));
        jwk.usage = None;
        jwk.alg = Some("ES256".into());
        assert_eq!(verify(&parsed, &jwk), Err(JwtError::KeyMismatch));
        let rsa = Jwk { kty: "RSA".into(), n: Some("AQAB".into()), e: Some("AQAB".into()), ..Jwk::default() };
        assert_eq!(verify(&parsed, &rsa), Err(JwtError::KeyMismatch));
    }

    #[test]
    fn issuer_audience_and_lifetime_are_checked_with_leeway() {
        let (audiences, now) = expected(1000);
        let check = |claims: Value, leeway| {
            check_claims(
                claims.as_object().unwrap(),
                &Expected { issuer: "https://idp.test", audiences: &audiences, leeway_seconds: leeway, now },
            )
        };
        assert_eq!(check(claims(now), 0), Ok(()));
        let mut c = claims(now);
        c["iss"] = json!("https://evil.test");
        assert_eq!(check(c, 0), Err(JwtError::WrongIssuer));
        let mut c = claims(now);
        c["aud"] = json!("https://other.test/mcp");
        assert_eq!(check(c, 0), Err(JwtError::WrongAudience));
        let mut c = claims(now);
        c.as_object_mut().unwrap().remove("aud");
        assert_eq!(check(c, 0), Err(JwtError::WrongAudience));
        let mut c = claims(now);
        c["exp"] = json!(now - 5);
        assert_eq!(check(c.clone(), 0), Err(JwtError::Expired));
        assert_eq!(check(c, 30), Ok(()), "within the leeway");
        let mut c = claims(now);
        c.as_object_mut().unwrap().remove("exp");
        assert_eq!(check(c, 30), Err(JwtError::Expired), "exp is required");
        let mut c = claims(now);
        c["nbf"] = json!(now + 100);
        assert_eq!(check(c, 30), Err(JwtError::NotYetValid));
    }

    #[test]
    fn opaque_tokens_are_told_from_jwts() {
        assert!(looks_like_jwt("eyJh.eyJz.c2ln"));
        assert!(!looks_like_jwt("w45-7TxWtMfrUyR7MzLsu02ZrFEVA6KwOl7SLoy_MSP"));
        assert!(!looks_like_jwt("hbk_abc"));
    }
}
