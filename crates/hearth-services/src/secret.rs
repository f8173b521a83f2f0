//! Secrets and passwords: generated, hashed with argon2id, checked.
//!
//! Two cost settings. People's passwords are guessable, so they get argon2's default
//! cost (19 MiB, 2 passes). Device and application secrets are 190 random bits made here,
//! so no cost setting changes how hard they are to guess; they get a light argon2id
//! (4 MiB, 1 pass), which keeps a thousand devices reconnecting after a power cut from
//! costing the hub a minute of CPU on a small board.

use argon2::{Algorithm, Argon2, Params, PasswordHash, PasswordHasher, PasswordVerifier, Version};
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// Length of generated secrets: 32 characters of 62 gives 190 bits.
pub const SECRET_LEN: usize = 32;

const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// A new random secret of letters and digits (safe in shells, URLs and config files).
pub fn generate_secret() -> String {
    random_string(SECRET_LEN)
}

/// A random string of `len` letters and digits, drawn without modulo bias.
pub fn random_string(len: usize) -> String {
    let mut out = String::with_capacity(len);
    let mut buf = [0u8; 64];
    while out.len() < len {
        getrandom::fill(&mut buf).expect("the operating system's random source failed");
        for byte in buf {
            // 62 * 4 = 248: bytes above that would favour the first characters.
            if byte < 248 && out.len() < len {
                out.push(ALPHABET[(byte % 62) as usize] as char);
            }
        }
    }
    out
}

/// Hashes a person's password (argon2id, default cost).
pub fn hash_password(password: &str) -> String {
    hash_with(&Argon2::default(), password)
}

/// Hashes a generated secret (argon2id, light cost; see the module docs).
pub fn hash_secret(secret: &str) -> String {
    let params = Params::new(4096, 1, 1, None).expect("constant argon2 parameters are valid");
    hash_with(
        &Argon2::new(Algorithm::Argon2id, Version::V0x13, params),
        secret,
    )
}

fn hash_with(argon2: &Argon2, text: &str) -> String {
    argon2
        .hash_password(text.as_bytes())
        .expect("argon2 fails only if the operating system's random source does")
        .to_string()
}

/// Checks `candidate` against a PHC hash string; the cost comes from the string. A
/// malformed hash never matches.
pub fn verify(candidate: &[u8], hash: &str) -> bool {
    match PasswordHash::new(hash) {
        Ok(parsed) => Argon2::default()
            .verify_password(candidate, &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// A password hash of a random password, made once with the same parameters as
/// [`hash_password`], for [`dummy_verify`].
static DUMMY_HASH: LazyLock<String> = LazyLock::new(|| hash_password(&generate_secret()));

/// How many times [`dummy_verify`] ran (tests check that the unknown-name path takes it).
static DUMMY_VERIFIES: AtomicU64 = AtomicU64::new(0);

/// Costs what checking a person's password costs, and matches nothing: run it when the
/// user name is unknown, so that a failed login takes as long whether or not the name
/// exists (otherwise timing tells which names exist). The first call also pays for
/// making the dummy hash, once per process.
pub fn dummy_verify(candidate: &[u8]) {
    DUMMY_VERIFIES.fetch_add(1, Ordering::Relaxed);
    let _ = verify(candidate, &DUMMY_HASH);
}

/// How many times [`dummy_verify`] has run in this process.
pub fn dummy_verify_count() -> u64 {
    DUMMY_VERIFIES.load(Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_secrets_are_long_distinct_and_alphanumeric() {
        let first = generate_secret();
        let second = generate_secret();
        assert_eq!(first.len(), SECRET_LEN);
        assert_ne!(first, second);
        assert!(first.bytes().all(|byte| byte.is_ascii_alphanumeric()));
    }

    #[test]
    fn hashes_verify_only_their_own_secret() {
        let secret = generate_secret();
        let hash = hash_secret(&secret);
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(hash.contains("m=4096,t=1,p=1"), "{hash}");
        assert!(verify(secret.as_bytes(), &hash));
        assert!(!verify(b"wrong", &hash));
        assert!(!verify(secret.as_bytes(), "not a hash"));
        let password_hash = hash_password("correct horse");
        assert!(password_hash.contains("m=19456,t=2,p=1"), "{password_hash}");
        assert!(verify(b"correct horse", &password_hash));
    }

    #[test]
    fn the_dummy_hash_costs_what_a_password_costs() {
        assert!(DUMMY_HASH.contains("m=19456,t=2,p=1"), "{}", *DUMMY_HASH);
        let before = dummy_verify_count();
        dummy_verify(b"anything");
        assert!(dummy_verify_count() > before);
    }
}
