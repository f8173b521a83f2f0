//! Session cookies and bearer tokens: making them, hashing them, reading them off a
//! request.
//!
//! A session id and an API token are 256 random bits. Only their SHA-256 is stored
//! (`hearth_store::AuthStore`): a fast hash is enough for values that cannot be
//! guessed, and it keeps every request free of argon2.

use axum::http::{HeaderMap, header};
use sha2::{Digest, Sha256};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "hearth_session";

/// Prefix of personal API tokens (so that secret scanners and people recognise them).
pub const TOKEN_PREFIX: &str = "hat_";

/// 256 random bits, hex.
pub fn random_hex_256() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the operating system's random source failed");
    hex::encode(bytes)
}

/// The stored form of a session id or token.
pub fn digest(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// The session cookie's value, if the request carries one.
pub fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .find_map(|pair| {
            let (name, value) = pair.trim().split_once('=')?;
            (name == SESSION_COOKIE && !value.is_empty()).then(|| value.to_owned())
        })
}

/// The bearer token of an `Authorization` header, if any.
pub fn bearer_token(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_owned())
        .filter(|token| !token.is_empty())
}

/// A `Set-Cookie` value that sets the session cookie for `max_age_secs`.
pub fn set_cookie(value: &str, max_age_secs: u64, secure: bool) -> String {
    format!(
        "{SESSION_COOKIE}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_secs}{}",
        if secure { "; Secure" } else { "" }
    )
}

/// A `Set-Cookie` value that removes the session cookie.
pub fn clear_cookie(secure: bool) -> String {
    set_cookie("", 0, secure)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn cookies_and_bearer_tokens_are_read() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("theme=dark; hearth_session=abc; x=y"),
        );
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer hat_1"),
        );
        assert_eq!(session_cookie(&headers).as_deref(), Some("abc"));
        assert_eq!(bearer_token(&headers).as_deref(), Some("hat_1"));
        assert!(set_cookie("v", 10, true).ends_with("Max-Age=10; Secure"));
        assert_eq!(random_hex_256().len(), 64);
        assert_eq!(digest("a").len(), 64);
    }
}
