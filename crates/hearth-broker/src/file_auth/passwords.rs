//! The password file: one `username:hash` per line, the hash an argon2 PHC string.
//!
//! Every hash is parsed and its parameters checked when the file is loaded, so that a
//! typo is reported with its line number at startup or reload instead of turning into a
//! failed login later. Verification takes its cost parameters from each PHC string, so
//! files written with any cost keep working when the defaults change.

use std::collections::HashMap;

use argon2::{Algorithm, Argon2, Params, PasswordHash, PasswordHasher, PasswordVerifier, Version};

use super::LineError;

/// Verified against when the user name is unknown and the file has no user whose cost
/// could be borrowed. Its password is not known to anyone, and its result is ignored.
const FALLBACK_DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$pmAJcXPxIMA2tHzTBUJ2zg$hnqSWFuy332ObJQU6TeXSbAoBrKZS5RJYh/kX3laA6Q";

/// A parsed password file.
#[derive(Debug)]
pub(super) struct PasswordFile {
    users: HashMap<Box<str>, PasswordHash>,
    /// Checked for unknown user names so that they take as long as known ones: a copy of
    /// the first user's hash, so that its cost matches the file's. The result of that
    /// check is never used.
    dummy: PasswordHash,
}

impl PasswordFile {
    pub fn parse(text: &str) -> Result<PasswordFile, LineError> {
        let mut users = HashMap::new();
        let mut first_lines = HashMap::new();
        let mut dummy = None;
        for (line_idx, line) in text.lines().enumerate() {
            let line_number = line_idx + 1;
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let error = |message: String| LineError {
                line: line_number,
                message,
            };
            let Some((username, hash)) = line.split_once(':') else {
                return Err(error("expected `username:hash`".to_owned()));
            };
            if username.is_empty() {
                return Err(error("empty user name".to_owned()));
            }
            let hash = parse_hash(hash.trim())
                .map_err(|message| error(format!("user `{username}`: {message}")))?;
            if let Some(first_line) = first_lines.insert(username, line_number) {
                return Err(error(format!(
                    "user `{username}` is already defined on line {first_line}"
                )));
            }
            dummy.get_or_insert_with(|| hash.clone());
            users.insert(username.into(), hash);
        }
        let dummy = match dummy {
            Some(dummy) => dummy,
            None => PasswordHash::new(FALLBACK_DUMMY_HASH).expect("the fallback hash is valid"),
        };
        Ok(PasswordFile { users, dummy })
    }

    /// Whether `password` is `username`'s. Runs exactly one argon2 computation whether or
    /// not the user exists, so the time taken does not tell which user names are valid.
    /// CPU-heavy: call it from a blocking thread.
    pub fn verify(&self, username: &str, password: &[u8]) -> bool {
        let (hash, known) = self.hash_for(username);
        let password_matches = verify_hash(password, hash);
        // The dummy is a real user's hash: its password must not let unknown names in.
        password_matches && known
    }

    /// The hash to check `username`'s password against, and whether the user exists.
    fn hash_for(&self, username: &str) -> (&PasswordHash, bool) {
        match self.users.get(username) {
            Some(hash) => (hash, true),
            None => (&self.dummy, false),
        }
    }

    pub fn n_users(&self) -> usize {
        self.users.len()
    }
}

/// Hashes `password` as an argon2id PHC string with the argon2 crate's default cost and
/// a random salt, for `hearth passwd` to write into the password file.
///
/// # Panics
/// If the operating system's random number generator fails.
pub fn hash_password(password: &str) -> String {
    Argon2::default()
        .hash_password(password.as_bytes())
        .expect("argon2 with default parameters fails only if the OS RNG does")
        .to_string()
}

fn verify_hash(password: &[u8], hash: &PasswordHash) -> bool {
    // The algorithm, version and cost come from the PHC string, not from this instance.
    Argon2::default().verify_password(password, hash).is_ok()
}

fn parse_hash(text: &str) -> Result<PasswordHash, String> {
    if text.starts_with("$6$") || text.starts_with("$7$") {
        return Err(
            "Mosquitto's own hashes are not supported; set the password again \
             with `hearth passwd` (argon2id)"
                .to_owned(),
        );
    }
    let hash = PasswordHash::new(text).map_err(|err| format!("not a PHC string: {err}"))?;
    Algorithm::try_from(hash.algorithm.as_str()).map_err(|_| {
        format!(
            "unsupported algorithm `{}`, expected argon2id",
            hash.algorithm
        )
    })?;
    if let Some(version) = hash.version {
        Version::try_from(version).map_err(|_| format!("unsupported argon2 version {version}"))?;
    }
    Params::try_from(&hash).map_err(|err| format!("bad argon2 parameters: {err}"))?;
    if hash.salt.is_none() || hash.hash.is_none() {
        return Err("the PHC string has no salt or no hash".to_owned());
    }
    Ok(hash)
}

/// Helpers for other test modules: hashes at the lowest argon2 cost, so tests stay fast;
/// the cost is written into the PHC string like any other.
#[cfg(test)]
pub(super) fn cheap_hash(password: &str) -> String {
    let params = Params::new(Params::MIN_M_COST, 1, 1, None).unwrap();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password(password.as_bytes())
        .unwrap()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_users_comments_and_blank_lines() {
        let text = format!(
            "# users\n\nann:{}\r\n  bob:{}  \n",
            cheap_hash("ann-pw"),
            cheap_hash("bob-pw")
        );
        let file = PasswordFile::parse(&text).unwrap();
        assert_eq!(file.n_users(), 2);
        assert!(file.verify("ann", b"ann-pw"));
        assert!(file.verify("bob", b"bob-pw"));
        assert!(!file.verify("ann", b"bob-pw"));
        assert!(!file.verify("carol", b"ann-pw"));
    }

    #[test]
    fn errors_name_the_line_and_the_problem() {
        let good = cheap_hash("pw");
        let cases = [
            (format!("ann:{good}\nbob\n"), 2, "username:hash"),
            (format!("# c\n:{good}\n"), 2, "empty user name"),
            ("ann:plaintext\n".to_owned(), 1, "not a PHC string"),
            ("\n\nann:$7$101$abc$def\n".to_owned(), 3, "Mosquitto"),
            (
                "ann:$scrypt$ln=4,r=8,p=1$c2FsdHNhbHQ$aGFzaGhhc2doYXNoaGFzaA\n".to_owned(),
                1,
                "algorithm",
            ),
            (
                "ann:$argon2id$v=19$m=1,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2doYXNoaGFzaA\n".to_owned(),
                1,
                "parameters",
            ),
            (
                "ann:$argon2id$v=19$m=19456,t=2,p=1\n".to_owned(),
                1,
                "no salt",
            ),
            (
                format!("ann:{good}\nbob:{good}\nann:{good}\n"),
                3,
                "already defined on line 1",
            ),
        ];
        for (text, line, fragment) in cases {
            let err = PasswordFile::parse(&text).unwrap_err();
            assert_eq!(err.line, line, "{text:?}: {err:?}");
            assert!(err.message.contains(fragment), "{text:?}: {err:?}");
        }
    }

    #[test]
    fn unknown_users_are_checked_against_a_hash_of_the_same_cost() {
        let text = format!(
            "ann:{}\nbob:{}\n",
            cheap_hash("ann-pw"),
            hash_password("bob-pw")
        );
        let file = PasswordFile::parse(&text).unwrap();
        let (hash, known) = file.hash_for("carol");
        assert!(!known);
        assert_eq!(Params::try_from(hash).unwrap().m_cost(), Params::MIN_M_COST);
        // The dummy is ann's hash, yet ann's password does not let another name in.
        assert!(!file.verify("carol", b"ann-pw"));
        assert!(file.verify("ann", b"ann-pw"));

        let empty = PasswordFile::parse("# nobody yet\n").unwrap();
        let (fallback, known) = empty.hash_for("ann");
        assert!(!known);
        let fallback = Params::try_from(fallback).unwrap();
        assert_eq!(fallback.m_cost(), Params::DEFAULT_M_COST);
        assert_eq!(fallback.t_cost(), Params::DEFAULT_T_COST);
        assert!(!empty.verify("ann", b"pw"));
    }

    #[test]
    fn production_hashes_are_argon2id_with_default_cost_and_a_random_salt() {
        let first = hash_password("correct horse");
        let second = hash_password("correct horse");
        assert!(
            first.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{first}"
        );
        assert_ne!(first, second);
        let file = PasswordFile::parse(&format!("ann:{first}\n")).unwrap();
        assert!(file.verify("ann", b"correct horse"));
        assert!(!file.verify("ann", b"battery staple"));
    }
}
