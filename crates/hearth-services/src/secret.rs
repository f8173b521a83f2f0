//! Secrets and passwords: generated, hashed, checked.
//!
//! Two kinds of hash, told apart by the PHC string's algorithm.
//!
//! People's passwords are guessable, so they get argon2id at its default cost (19 MiB,
//! 2 passes): a leaked hash must cost an attacker as much as possible per guess.
//!
//! Device and application secrets are 190 random bits made here ([`generate_secret`]), so
//! there is nothing to guess: no cost setting changes how hard they are to find, and a
//! memory-hard hash only costs the hub CPU on every login (2.7 ms each, 27 s of one core
//! for 10,000 devices reconnecting after a restart). They get [`hash_secret`], one
//! HMAC-SHA256 keyed with a random 16-byte salt of their own
//! (`$hearth-hmac-sha256$v=1$<salt>$<digest>`, standard B64 without padding as in PHC
//! strings), checked in constant time: about a microsecond.
//!
//! No hub-wide key (pepper) is mixed in. A pepper protects low-entropy inputs when the
//! hashes leak but the key does not; here, reversing one salted HMAC of a 190-bit
//! secret is already 2^190 work with or without a key, and the salt makes every hash
//! its own target, so precomputation gains nothing. Where would the key live? In the data
//! directory or the database, beside what it protects, so a backup or a stolen disk
//! leaks both; and it would be one more thing to lose (every device locked out) or to
//! share between hubs on one PostgreSQL database. A leaked hash does not let anyone log
//! in: the broker wants the secret, not its hash.
//!
//! Light argon2id hashes of generated secrets ([`hash_secret_argon2id`]) still verify;
//! the MQTT authorizer replaces one with [`hash_secret`] at its next successful login.

use argon2::password_hash::phc::{Ident, Output, ParamsString, Salt};
use argon2::{Algorithm, Argon2, Params, PasswordHash, PasswordHasher, PasswordVerifier, Version};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
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

/// The PHC algorithm name of [`hash_secret`]'s hashes.
pub const FAST_HASH_ALGORITHM: &str = "hearth-hmac-sha256";

/// Bytes of random salt in a [`hash_secret`] hash (PHC's recommended length).
const FAST_HASH_SALT_LEN: usize = 16;

/// Hashes a generated secret: HMAC-SHA256 keyed with a fresh random salt (see the module
/// docs for why this is enough and why there is no pepper). Only for secrets made by
/// [`generate_secret`]; a person's password goes through [`hash_password`].
pub fn hash_secret(secret: &str) -> String {
    let mut salt = [0u8; FAST_HASH_SALT_LEN];
    getrandom::fill(&mut salt).expect("the operating system's random source failed");
    let digest = fast_digest(&salt, secret.as_bytes());
    PasswordHash {
        algorithm: Ident::new_unwrap(FAST_HASH_ALGORITHM),
        version: Some(1),
        params: ParamsString::new(),
        salt: Some(Salt::new(&salt).expect("16 bytes is a valid salt length")),
        hash: Some(Output::new(&digest).expect("32 bytes is a valid output length")),
    }
    .to_string()
}

/// Whether `hash` is one of [`hash_secret`]'s (as opposed to argon2id, or garbage).
pub fn is_fast_hash(hash: &str) -> bool {
    hash.strip_prefix('$')
        .and_then(|rest| rest.strip_prefix(FAST_HASH_ALGORITHM))
        .is_some_and(|rest| rest.starts_with('$'))
}

/// Hashes a generated secret with a light argon2id (4 MiB, 1 pass): the form such
/// secrets may still be stored in until their next login rehashes them. For tests and
/// the login benchmark's baseline; new secrets use [`hash_secret`].
pub fn hash_secret_argon2id(secret: &str) -> String {
    let params = Params::new(4096, 1, 1, None).expect("constant argon2 parameters are valid");
    hash_with(
        &Argon2::new(Algorithm::Argon2id, Version::V0x13, params),
        secret,
    )
}

fn mac(salt: &[u8]) -> Hmac<Sha256> {
    <Hmac<Sha256> as KeyInit>::new_from_slice(salt).expect("HMAC takes a key of any length")
}

fn fast_digest(salt: &[u8], secret: &[u8]) -> [u8; 32] {
    let mut mac = mac(salt);
    mac.update(secret);
    mac.finalize().into_bytes().into()
}

/// Checks `candidate` against a [`hash_secret`] hash in constant time (the comparison is
/// `Mac::verify_slice`'s). A hash of another version or shape never matches.
fn verify_fast(candidate: &[u8], parsed: &PasswordHash) -> bool {
    let (Some(salt), Some(digest)) = (&parsed.salt, &parsed.hash) else {
        return false;
    };
    if parsed.version != Some(1) || !parsed.params.is_empty() || digest.len() != 32 {
        return false;
    }
    let mut mac = mac(salt.as_ref());
    mac.update(candidate);
    mac.verify_slice(digest.as_bytes()).is_ok()
}

fn hash_with(argon2: &Argon2, text: &str) -> String {
    argon2
        .hash_password(text.as_bytes())
        .expect("argon2 fails only if the operating system's random source does")
        .to_string()
}

/// Checks `candidate` against a PHC hash string: a [`hash_secret`] hash or an argon2
/// one, whose cost comes from the string. A malformed hash never matches.
pub fn verify(candidate: &[u8], hash: &str) -> bool {
    match PasswordHash::new(hash) {
        Ok(parsed) if parsed.algorithm.as_str() == FAST_HASH_ALGORITHM => {
            verify_fast(candidate, &parsed)
        }
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
    fn secret_hashes_are_salted_hmacs_that_verify_only_their_own_secret() {
        let secret = generate_secret();
        let hash = hash_secret(&secret);
        assert!(hash.starts_with("$hearth-hmac-sha256$v=1$"), "{hash}");
        assert!(is_fast_hash(&hash));
        let parsed = PasswordHash::new(&hash).expect("a PHC string");
        assert_eq!(parsed.salt.map(|salt| salt.len()), Some(16));
        assert_eq!(parsed.hash.map(|digest| digest.len()), Some(32));
        assert!(verify(secret.as_bytes(), &hash));
        assert!(!verify(b"wrong", &hash));
        assert!(!verify(&secret.as_bytes()[1..], &hash));
        assert!(!verify(b"", &hash));
        // A fresh salt each time: the same secret never hashes to the same string.
        let again = hash_secret(&secret);
        assert_ne!(hash, again);
        assert!(verify(secret.as_bytes(), &again));
    }

    #[test]
    fn tampered_or_foreign_secret_hashes_never_match() {
        let secret = generate_secret();
        let hash = hash_secret(&secret);
        let other = hash_secret(&secret);
        let (head, digest) = hash.rsplit_once('$').unwrap();
        let (_, other_digest) = other.rsplit_once('$').unwrap();
        // Another salt's digest, a truncated digest, another version, parameters, junk.
        assert!(!verify(
            secret.as_bytes(),
            &format!("{head}${other_digest}")
        ));
        assert!(!verify(
            secret.as_bytes(),
            &format!("{head}${}", &digest[..20])
        ));
        assert!(!verify(secret.as_bytes(), &hash.replace("$v=1$", "$v=2$")));
        assert!(!verify(
            secret.as_bytes(),
            &hash.replace("$v=1$", "$v=1$k=1$")
        ));
        assert!(!verify(secret.as_bytes(), "$hearth-hmac-sha256$v=1$"));
        assert!(!verify(secret.as_bytes(), "not a hash"));
        assert!(!is_fast_hash("$hearth-hmac-sha256x$v=1$"));
        assert!(!is_fast_hash(&hash_password("correct horse")));
    }

    #[test]
    fn argon2_hashes_still_verify() {
        let secret = generate_secret();
        let hash = hash_secret_argon2id(&secret);
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(hash.contains("m=4096,t=1,p=1"), "{hash}");
        assert!(!is_fast_hash(&hash));
        assert!(verify(secret.as_bytes(), &hash));
        assert!(!verify(b"wrong", &hash));
        let password_hash = hash_password("correct horse");
        assert!(password_hash.contains("m=19456,t=2,p=1"), "{password_hash}");
        assert!(verify(b"correct horse", &password_hash));
        assert!(!verify(b"correct horse!", &password_hash));
    }

    #[test]
    fn the_dummy_hash_costs_what_a_password_costs() {
        assert!(DUMMY_HASH.contains("m=19456,t=2,p=1"), "{}", *DUMMY_HASH);
        let before = dummy_verify_count();
        dummy_verify(b"anything");
        assert!(dummy_verify_count() > before);
    }
}
