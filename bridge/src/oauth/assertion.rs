//! `private_key_jwt` (RFC 7523 §2.2): the client proves itself at the token endpoint with a
//! short-lived JWT signed by its own key, instead of a shared secret. The key is a PKCS#8 PEM
//! (EC P-256 → ES256, or RSA → RS256, whichever the key is), signed with `ring`; it is read
//! from the keychain for each request and never logged.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{EcdsaKeyPair, RsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING, RSA_PKCS1_SHA256};
use serde_json::json;

use super::AuthError;

/// The `client_assertion_type` of a JWT assertion.
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// How long an assertion is good for.
const LIFETIME_SECS: i64 = 60;

/// A signing key read from a PKCS#8 PEM.
enum Key {
    Es256(EcdsaKeyPair),
    Rs256(RsaKeyPair),
}

fn read_key(pem: &str, rng: &SystemRandom) -> Result<Key, AuthError> {
    let invalid = |why: &str| AuthError::Invalid(format!("the private key is not usable: {why}"));
    let body: String = pem
        .lines()
        .map(str::trim)
        .skip_while(|line| !line.starts_with("-----BEGIN"))
        .skip(1)
        .take_while(|line| !line.starts_with("-----END"))
        .collect();
    if body.is_empty() {
        return Err(invalid("give it as a PKCS#8 PEM (-----BEGIN PRIVATE KEY-----)"));
    }
    let der = STANDARD.decode(body).map_err(|_| invalid("its PEM body is not base64"))?;
    if let Ok(pair) = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &der, rng) {
        return Ok(Key::Es256(pair));
    }
    RsaKeyPair::from_pkcs8(&der)
        .map(Key::Rs256)
        .map_err(|e| invalid(&format!("it is neither an EC P-256 nor an RSA PKCS#8 key ({e})")))
}

/// A signed assertion that `client_id` is asking `audience` (the authorization server's issuer)
/// for a token, at `now` (Unix seconds).
pub fn sign(private_key_pem: &str, client_id: &str, audience: &str, now: i64) -> Result<String, AuthError> {
    let rng = SystemRandom::new();
    let key = read_key(private_key_pem, &rng)?;
    let mut nonce = [0u8; 16];
    rng.fill(&mut nonce).map_err(|_| AuthError::Invalid("no randomness for the assertion's id".into()))?;
    let alg = match key {
        Key::Es256(_) => "ES256",
        Key::Rs256(_) => "RS256",
    };
    let header = json!({"alg": alg, "typ": "JWT"});
    let claims = json!({
        "iss": client_id, "sub": client_id, "aud": audience,
        "iat": now, "exp": now + LIFETIME_SECS, "jti": URL_SAFE_NO_PAD.encode(nonce),
    });
    let input =
        format!("{}.{}", URL_SAFE_NO_PAD.encode(header.to_string()), URL_SAFE_NO_PAD.encode(claims.to_string()));
    let failed = |_| AuthError::Invalid("the private key could not sign the assertion".into());
    let signature = match key {
        Key::Es256(pair) => pair.sign(&rng, input.as_bytes()).map_err(failed)?.as_ref().to_vec(),
        Key::Rs256(pair) => {
            let mut signature = vec![0; pair.public().modulus_len()];
            pair.sign(&RSA_PKCS1_SHA256, &rng, input.as_bytes(), &mut signature).map_err(failed)?;
            signature
        }
    };
    Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::signature::{KeyPair, UnparsedPublicKey, ECDSA_P256_SHA256_FIXED};

    #[test]
    fn an_es256_assertion_verifies_with_the_public_key_and_names_the_client() {
        let rng = SystemRandom::new();
        let der = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let pem =
            format!("-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n", STANDARD.encode(der.as_ref()));
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der.as_ref(), &rng).unwrap();
        let jwt = sign(&pem, "harbor-client", "https://auth.test", 1_000).unwrap();
        let parts: Vec<&str> = jwt.split('.').collect();
        assert_eq!(parts.len(), 3);
        let signed = format!("{}.{}", parts[0], parts[1]);
        let signature = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, pair.public_key().as_ref())
            .verify(signed.as_bytes(), &signature)
            .expect("the signature verifies");
        let claims: serde_json::Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        assert_eq!((claims["iss"].as_str(), claims["sub"].as_str()), (Some("harbor-client"), Some("harbor-client")));
        assert_eq!((claims["aud"].as_str(), claims["exp"].as_i64()), (Some("https://auth.test"), Some(1_060)));
        let header: serde_json::Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
        assert_eq!(header["alg"], "ES256");
    }

    #[test]
    fn a_key_that_is_not_pkcs8_is_refused_with_a_reason() {
        let error = sign("not a key", "c", "https://auth.test", 0).unwrap_err().to_string();
        assert!(error.contains("PKCS#8 PEM"), "{error}");
        let error =
            sign("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----", "c", "a", 0).unwrap_err().to_string();
        assert!(error.contains("neither an EC P-256 nor an RSA"), "{error}");
    }
}
