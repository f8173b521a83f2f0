//! The browser's side of a sign-in between `start` and `callback`: state, nonce and the
//! PKCE verifier, kept in a short-lived cookie (`hearth_oidc`, HttpOnly, SameSite=Lax,
//! Path `/api/v1/auth/oidc/`) with an HMAC-SHA256 under a key derived from the
//! provider's client secret, so that every node sharing hearth.toml accepts it and
//! nobody without the secret can make or alter one.
//!
//! The cookie binds the sign-in to the browser that started it: a callback is taken
//! only with the cookie whose `state` equals the one the provider sends back (a login
//! CSRF, sending someone to the callback with the attacker's code, has no cookie to
//! match), and the ID token must carry the cookie's nonce.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The flow cookie's name.
pub const FLOW_COOKIE: &str = "hearth_oidc";
/// How long a person has at the provider before the sign-in must start again.
pub const FLOW_TTL_MS: i64 = 10 * 60 * 1000;

/// What the callback needs to finish a sign-in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Flow {
    /// The provider's id.
    #[serde(rename = "p")]
    pub provider: String,
    #[serde(rename = "s")]
    pub state: String,
    #[serde(rename = "n")]
    pub nonce: String,
    /// The PKCE code verifier (its S256 challenge went to the provider).
    #[serde(rename = "v")]
    pub verifier: String,
    /// The redirect URI sent with the authorization request (sent again at the token
    /// endpoint, which compares them).
    #[serde(rename = "r")]
    pub redirect_uri: String,
    /// Where the web app goes after signing in (a path of the hub's own, see
    /// [`safe_return_path`]), e.g. the claim page the person came from.
    #[serde(rename = "t", default, skip_serializing_if = "Option::is_none")]
    pub return_to: Option<String>,
    /// Epoch ms after which the cookie is refused.
    #[serde(rename = "e")]
    pub expires_at_ms: i64,
}

type HmacSha256 = hmac::Hmac<Sha256>;

/// 256 random bits, base64url.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the operating system's random source failed");
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The S256 challenge of a PKCE verifier (RFC 7636 4.2).
pub fn challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// The cookie key of a provider: derived from its client secret.
pub fn cookie_key(client_secret: &str) -> [u8; 32] {
    let mut mac = <HmacSha256 as KeyInit>::new_from_slice(client_secret.as_bytes())
        .expect("HMAC takes any key length");
    mac.update(b"hearth oidc flow cookie v1");
    mac.finalize().into_bytes().into()
}

/// `path` when it is a path on the hub itself (`/claim?device=...`): it starts with one
/// `/` (not `//` or `/\\`, which browsers take for another host), has no control
/// characters and at most 512 bytes. Anything else is dropped, so that the sign-in
/// cannot be used to send people to another site.
pub fn safe_return_path(path: &str) -> Option<String> {
    let ok = path.starts_with('/')
        && !path.starts_with("//")
        && !path.starts_with("/\\")
        && path.len() <= 512
        && !path.chars().any(|c| c.is_control() || c == '\\');
    ok.then(|| path.to_owned())
}

impl Flow {
    /// A new flow for `provider`, valid for [`FLOW_TTL_MS`] from `now_ms`.
    pub fn new(provider: &str, redirect_uri: &str, now_ms: i64) -> Flow {
        Flow {
            provider: provider.to_owned(),
            state: random_token(),
            nonce: random_token(),
            verifier: random_token(),
            redirect_uri: redirect_uri.to_owned(),
            return_to: None,
            expires_at_ms: now_ms + FLOW_TTL_MS,
        }
    }

    /// The cookie's value: `payload.mac`, both base64url.
    pub fn seal(&self, key: &[u8; 32]) -> String {
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).expect("a flow serializes"));
        let mut mac = <HmacSha256 as KeyInit>::new_from_slice(key).expect("any key length");
        mac.update(payload.as_bytes());
        let tag = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        format!("{payload}.{tag}")
    }

    /// The flow a cookie holds, if its MAC is right and it has not expired.
    pub fn open(value: &str, key: &[u8; 32], now_ms: i64) -> Option<Flow> {
        let (payload, tag) = value.split_once('.')?;
        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        let mut mac = <HmacSha256 as KeyInit>::new_from_slice(key).ok()?;
        mac.update(payload.as_bytes());
        mac.verify_slice(&tag).ok()?;
        let flow: Flow = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
        (flow.expires_at_ms > now_ms).then_some(flow)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_flow_opens_only_unaltered_with_its_key_and_in_time() {
        let key = cookie_key("secret");
        let flow = Flow::new("kc", "http://127.0.0.1/cb", 1_000);
        let sealed = flow.seal(&key);
        assert_eq!(Flow::open(&sealed, &key, 2_000), Some(flow.clone()));
        assert_eq!(Flow::open(&sealed, &cookie_key("other"), 2_000), None);
        assert_eq!(Flow::open(&sealed, &key, 1_000 + FLOW_TTL_MS), None);
        let (payload, tag) = sealed.split_once('.').unwrap();
        let mut altered = flow.clone();
        altered.expires_at_ms += FLOW_TTL_MS;
        let altered_payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&altered).unwrap());
        assert_ne!(altered_payload, payload);
        assert_eq!(
            Flow::open(&format!("{altered_payload}.{tag}"), &key, 2_000),
            None
        );
        assert_eq!(
            safe_return_path("/claim?device=d1&code=x").as_deref(),
            Some("/claim?device=d1&code=x")
        );
        for bad in [
            "//evil.example/",
            "/\\evil.example",
            "https://evil.example/",
            "evil",
            "/a\nb",
            "/a\\b",
        ] {
            assert_eq!(safe_return_path(bad), None, "{bad}");
        }
        // S256: base64url of SHA-256 of the verifier's ASCII, checked against ring's
        // digest (another implementation than the one used).
        let verifier = random_token();
        assert_eq!(verifier.len(), 43);
        assert_eq!(
            challenge(&verifier),
            URL_SAFE_NO_PAD.encode(ring::digest::digest(
                &ring::digest::SHA256,
                verifier.as_bytes()
            ))
        );
    }
}
