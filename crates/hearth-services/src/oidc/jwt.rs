//! Checking an ID token (a JWS in compact form) against the provider's keys: RS256 and
//! ES256 signatures with ring, then `iss`, `aud` (and `azp`), `exp`, `nbf`, `nonce`.
//!
//! Only those two algorithms are accepted, whatever the token's header claims, and a
//! key is used only for the algorithm its type fits (`RSA` for RS256, `EC` P-256 for
//! ES256; a key's own `alg`, when given, must agree, and its `use`, when given, must be
//! `sig`): no `none`, no HMAC with a public key as its secret.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::signature;
use serde::Deserialize;
use serde_json::Value;

/// How far the provider's clock and ours may disagree.
pub const CLOCK_LEEWAY_SECS: i64 = 60;

/// One key of a JWKS document (the fields Hearth uses).
#[derive(Debug, Clone, Deserialize)]
pub struct Jwk {
    pub kty: String,
    #[serde(default)]
    pub kid: Option<String>,
    #[serde(default)]
    pub alg: Option<String>,
    #[serde(default, rename = "use")]
    pub use_: Option<String>,
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

/// A JWKS document.
#[derive(Debug, Clone, Deserialize)]
pub struct Jwks {
    pub keys: Vec<Jwk>,
}

/// What must hold besides the signature.
pub struct Expected<'a> {
    pub issuer: &'a str,
    pub client_id: &'a str,
    pub nonce: &'a str,
    /// Seconds since the epoch.
    pub now: i64,
}

/// Why a token was refused (said in logs, never to the browser in detail).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("not a compact JWS: {0}")]
    Malformed(&'static str),
    #[error("algorithm {0:?} is not accepted (RS256, ES256)")]
    Algorithm(String),
    /// No key with the token's `kid` (the caller may fetch the keys again once).
    #[error("no key {0:?} in the provider's JWKS")]
    UnknownKey(Option<String>),
    #[error("the signature does not verify")]
    Signature,
    #[error("claim {0}: {1}")]
    Claim(&'static str, String),
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    crit: Option<Value>,
}

fn decode(part: &str, what: &'static str) -> Result<Vec<u8>, TokenError> {
    URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| TokenError::Malformed(what))
}

/// The `kid` of a token's header, to look a key up before verifying.
pub fn key_id(token: &str) -> Result<Option<String>, TokenError> {
    let header = token
        .split('.')
        .next()
        .ok_or(TokenError::Malformed("no header"))?;
    let header: Header = serde_json::from_slice(&decode(header, "header")?)
        .map_err(|_| TokenError::Malformed("header is not JSON"))?;
    Ok(header.kid)
}

/// Verifies `token`'s signature with `keys` and its claims against `expected`; the
/// claims when all hold.
pub fn verify(
    token: &str,
    keys: &Jwks,
    expected: &Expected<'_>,
) -> Result<serde_json::Map<String, Value>, TokenError> {
    let mut parts = token.split('.');
    let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenError::Malformed("not three parts"));
    };
    let header: Header = serde_json::from_slice(&decode(header_b64, "header")?)
        .map_err(|_| TokenError::Malformed("header is not JSON"))?;
    if header.crit.is_some() {
        return Err(TokenError::Malformed("crit is not understood"));
    }
    let kty = match header.alg.as_str() {
        "RS256" => "RSA",
        "ES256" => "EC",
        other => return Err(TokenError::Algorithm(other.to_owned())),
    };
    let fits = |key: &&Jwk| {
        key.kty == kty
            && key.alg.as_deref().is_none_or(|alg| alg == header.alg)
            && key.use_.as_deref().is_none_or(|use_| use_ == "sig")
    };
    let key = match &header.kid {
        Some(kid) => keys
            .keys
            .iter()
            .filter(fits)
            .find(|key| key.kid.as_deref() == Some(kid)),
        None => {
            let mut candidates = keys.keys.iter().filter(fits);
            match (candidates.next(), candidates.next()) {
                (Some(only), None) => Some(only),
                _ => None,
            }
        }
    }
    .ok_or_else(|| TokenError::UnknownKey(header.kid.clone()))?;
    let signature = decode(signature_b64, "signature")?;
    let signed = &token.as_bytes()[..header_b64.len() + 1 + payload_b64.len()];
    let field = |value: &Option<String>, what: &'static str| {
        value
            .as_deref()
            .ok_or(TokenError::Malformed(what))
            .and_then(|value| decode(value, what))
    };
    let verified = if kty == "RSA" {
        let components = signature::RsaPublicKeyComponents {
            n: field(&key.n, "key n")?,
            e: field(&key.e, "key e")?,
        };
        components.verify(&signature::RSA_PKCS1_2048_8192_SHA256, signed, &signature)
    } else {
        if key.crv.as_deref() != Some("P-256") {
            return Err(TokenError::UnknownKey(header.kid));
        }
        let (x, y) = (field(&key.x, "key x")?, field(&key.y, "key y")?);
        if x.len() != 32 || y.len() != 32 {
            return Err(TokenError::Malformed("key x/y"));
        }
        let mut point = vec![4u8];
        point.extend_from_slice(&x);
        point.extend_from_slice(&y);
        signature::UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, point)
            .verify(signed, &signature)
    };
    verified.map_err(|_| TokenError::Signature)?;
    let claims: serde_json::Map<String, Value> =
        serde_json::from_slice(&decode(payload_b64, "payload")?)
            .map_err(|_| TokenError::Malformed("payload is not a JSON object"))?;
    check_claims(&claims, expected)?;
    Ok(claims)
}

fn check_claims(
    claims: &serde_json::Map<String, Value>,
    expected: &Expected<'_>,
) -> Result<(), TokenError> {
    let text = |name: &'static str| claims.get(name).and_then(Value::as_str);
    let number = |name: &'static str| claims.get(name).and_then(Value::as_i64);
    if text("iss") != Some(expected.issuer) {
        return Err(TokenError::Claim(
            "iss",
            format!("{:?}, expected {:?}", claims.get("iss"), expected.issuer),
        ));
    }
    let audiences: Vec<&str> = match claims.get("aud") {
        Some(Value::String(one)) => vec![one.as_str()],
        Some(Value::Array(many)) => many.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    if !audiences.contains(&expected.client_id) {
        return Err(TokenError::Claim(
            "aud",
            format!("{audiences:?} does not name this client"),
        ));
    }
    // OIDC Core 3.1.3.7: with several audiences, azp must be us.
    if (audiences.len() > 1 || claims.contains_key("azp"))
        && text("azp") != Some(expected.client_id)
    {
        return Err(TokenError::Claim("azp", "is not this client".into()));
    }
    let Some(exp) = number("exp") else {
        return Err(TokenError::Claim("exp", "missing".into()));
    };
    if exp + CLOCK_LEEWAY_SECS <= expected.now {
        return Err(TokenError::Claim("exp", format!("expired at {exp}")));
    }
    if let Some(nbf) = number("nbf")
        && nbf - CLOCK_LEEWAY_SECS > expected.now
    {
        return Err(TokenError::Claim("nbf", format!("not valid before {nbf}")));
    }
    let nonce = text("nonce").unwrap_or("");
    if !ring_eq(nonce.as_bytes(), expected.nonce.as_bytes()) {
        return Err(TokenError::Claim(
            "nonce",
            "does not match this sign-in".into(),
        ));
    }
    if text("sub").is_none_or(str::is_empty) {
        return Err(TokenError::Claim("sub", "missing".into()));
    }
    Ok(())
}

/// Compares in time independent of where the values differ.
pub(crate) fn ring_eq(a: &[u8], b: &[u8]) -> bool {
    use sha2::Digest;
    // Digests first: equal lengths, so the comparison below visits every byte.
    let (a, b) = (sha2::Sha256::digest(a), sha2::Sha256::digest(b));
    a.iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::rand::SystemRandom;
    use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};

    fn es256(claims: &Value, kid: &str) -> (String, Jwks) {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
            .unwrap();
        let public = pair.public_key().as_ref();
        let jwk: Jwk = serde_json::from_value(serde_json::json!({
            "kty": "EC", "crv": "P-256", "kid": kid,
            "x": URL_SAFE_NO_PAD.encode(&public[1..33]),
            "y": URL_SAFE_NO_PAD.encode(&public[33..]),
        }))
        .unwrap();
        let header = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"ES256","kid":"{kid}"}}"#));
        let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
        let signed = format!("{header}.{payload}");
        let signature = pair.sign(&rng, signed.as_bytes()).unwrap();
        (
            format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature.as_ref())),
            Jwks { keys: vec![jwk] },
        )
    }

    #[test]
    fn es256_tokens_verify_and_their_claims_are_checked() {
        let now = 1_000_000;
        let good = serde_json::json!({"iss": "https://id", "aud": "hearth", "sub": "s1",
            "exp": now + 300, "nonce": "n1"});
        let expected = Expected {
            issuer: "https://id",
            client_id: "hearth",
            nonce: "n1",
            now,
        };
        let (token, keys) = es256(&good, "k1");
        assert_eq!(verify(&token, &keys, &expected).unwrap()["sub"], "s1");
        // Another key with the same kid: the signature fails.
        let (_, other_keys) = es256(&good, "k1");
        assert_eq!(
            verify(&token, &other_keys, &expected),
            Err(TokenError::Signature)
        );
        // A payload swapped under the same signature fails.
        let mut parts: Vec<&str> = token.split('.').collect();
        let forged = URL_SAFE_NO_PAD.encode(good.to_string().replace("s1", "s2"));
        parts[1] = &forged;
        assert_eq!(
            verify(&parts.join("."), &keys, &expected),
            Err(TokenError::Signature)
        );
        for (claims, name) in [
            (
                serde_json::json!({"iss": "https://other", "aud": "hearth", "sub": "s", "exp": now + 9, "nonce": "n1"}),
                "iss",
            ),
            (
                serde_json::json!({"iss": "https://id", "aud": "other", "sub": "s", "exp": now + 9, "nonce": "n1"}),
                "aud",
            ),
            (
                serde_json::json!({"iss": "https://id", "aud": ["hearth", "x"], "sub": "s", "exp": now + 9, "nonce": "n1"}),
                "azp",
            ),
            (
                serde_json::json!({"iss": "https://id", "aud": "hearth", "sub": "s", "exp": now - 61, "nonce": "n1"}),
                "exp",
            ),
            (
                serde_json::json!({"iss": "https://id", "aud": "hearth", "sub": "s", "exp": now + 9, "nonce": "n2"}),
                "nonce",
            ),
            (
                serde_json::json!({"iss": "https://id", "aud": "hearth", "exp": now + 9, "nonce": "n1"}),
                "sub",
            ),
        ] {
            let (token, keys) = es256(&claims, "k");
            match verify(&token, &keys, &expected) {
                Err(TokenError::Claim(claim, _)) => assert_eq!(claim, name),
                other => panic!("{name}: {other:?}"),
            }
        }
        // alg none and HS256 are refused before any key is looked at.
        for alg in ["none", "HS256"] {
            let header = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"{alg}"}}"#));
            let token = format!("{header}.{}.", URL_SAFE_NO_PAD.encode(good.to_string()));
            assert_eq!(
                verify(&token, &keys, &expected),
                Err(TokenError::Algorithm(alg.into()))
            );
        }
    }
}
