//! Short-lived MQTT passwords for people's browsers (seed 004, SPEC §5).
//!
//! The web app asks the HTTP API for MQTT credentials; the API asks
//! [`UserTokens::issue`] for a token and hands it over as the MQTT password. A token
//! names the user, the login session it was issued for and when it expires, signed with
//! HMAC-SHA256 under a key that lives only in this process: nothing is stored, a token
//! cannot be forged or stretched, and a hub restart simply makes browsers ask again.
//! Revoking a session (logout) or a user refuses their tokens from then on.
//!
//! Format: `hbt1.<user>.<session>.<issued_ms>.<expires_ms>.<nonce>.<hex mac>`. User
//! names may contain dots (`jane.doe`), so fields are split from the right.

use hearth_model::Millis;
use hmac::{Hmac, KeyInit, Mac};
use parking_lot::Mutex;
use sha2::Sha256;
use std::collections::HashMap;

const PREFIX: &str = "hbt1";

/// A verified token's contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserToken {
    pub user: String,
    pub session: String,
    pub expires_at_ms: Millis,
}

/// Issues and checks browser tokens; remembers revocations until the tokens they
/// cover have expired anyway.
pub struct UserTokens {
    /// Random per process, or shared by every node of an external broker
    /// ([`UserTokens::use_key`]).
    key: parking_lot::RwLock<[u8; 32]>,
    /// Session id → revoked at (ms); user → tokens issued before this are void.
    revoked_sessions: Mutex<HashMap<String, Millis>>,
    revoked_users: Mutex<HashMap<String, Millis>>,
    /// Longest lifetime a token may have (revocations are kept this long).
    max_ttl_ms: Millis,
}

impl UserTokens {
    pub fn new(max_ttl_ms: Millis) -> UserTokens {
        let mut key = [0u8; 32];
        getrandom::fill(&mut key).expect("the operating system's random source failed");
        UserTokens {
            key: parking_lot::RwLock::new(key),
            revoked_sessions: Mutex::new(HashMap::new()),
            revoked_users: Mutex::new(HashMap::new()),
            max_ttl_ms,
        }
    }

    /// Signs with `key` from now on, so that several hubs check each other's tokens
    /// (an external broker asks whichever node it likes). Tokens signed before stop
    /// verifying: call it at start.
    pub fn use_key(&self, key: [u8; 32]) {
        *self.key.write() = key;
    }

    fn mac(&self, body: &str) -> String {
        let key = *self.key.read();
        let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("any key length works");
        mac.update(body.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// A token for `user`'s login `session`, valid for `ttl_ms` (capped).
    pub fn issue(&self, user: &str, session: &str, now_ms: Millis, ttl_ms: Millis) -> String {
        let expires = now_ms + ttl_ms.clamp(1, self.max_ttl_ms);
        let session: String = session
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .collect();
        let nonce = crate::secret::random_string(12);
        let body = format!("{PREFIX}.{user}.{session}.{now_ms}.{expires}.{nonce}");
        let mac = self.mac(&body);
        format!("{body}.{mac}")
    }

    /// Checks a presented password; `None` unless it is an untampered, unexpired,
    /// unrevoked token of ours.
    pub fn verify(&self, token: &str, now_ms: Millis) -> Option<UserToken> {
        let (body, mac) = token.rsplit_once('.')?;
        let expected = self.mac(body);
        // Constant-time comparison: the MAC must not leak through timing.
        if expected.len() != mac.len()
            || expected
                .bytes()
                .zip(mac.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                != 0
        {
            return None;
        }
        let rest = body.strip_prefix(PREFIX)?.strip_prefix('.')?;
        let mut fields = rest.rsplitn(5, '.');
        let _nonce = fields.next()?;
        let expires_at_ms: Millis = fields.next()?.parse().ok()?;
        let issued_at_ms: Millis = fields.next()?.parse().ok()?;
        let session = fields.next()?.to_owned();
        let user = fields.next()?.to_owned();
        if expires_at_ms <= now_ms {
            return None;
        }
        let issued_after =
            |revoked: Option<&Millis>| revoked.is_none_or(|revoked_at| issued_at_ms > *revoked_at);
        if self.revoked_sessions.lock().contains_key(&session)
            || !issued_after(self.revoked_users.lock().get(&user))
        {
            return None;
        }
        Some(UserToken {
            user,
            session,
            expires_at_ms,
        })
    }

    /// Voids every token of a login session (logout).
    pub fn revoke_session(&self, session: &str, now_ms: Millis) {
        let session: String = session
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .collect();
        let mut revoked = self.revoked_sessions.lock();
        revoked.retain(|_, at| *at + self.max_ttl_ms > now_ms);
        revoked.insert(session, now_ms);
    }

    /// Voids every token issued to `user` so far (password change, removal).
    pub fn revoke_user(&self, user: &str, now_ms: Millis) {
        let mut revoked = self.revoked_users.lock();
        revoked.retain(|_, at| *at + self.max_ttl_ms > now_ms);
        revoked.insert(user.to_owned(), now_ms);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: Millis = 3_600_000;

    #[test]
    fn an_issued_token_verifies_with_its_contents() {
        let tokens = UserTokens::new(HOUR);
        let token = tokens.issue("jane.doe", "s3ss10n", 1_000, 600_000);
        let verified = tokens.verify(&token, 2_000).unwrap();
        assert_eq!(verified.user, "jane.doe");
        assert_eq!(verified.session, "s3ss10n");
        assert_eq!(verified.expires_at_ms, 601_000);
    }

    #[test]
    fn expired_tampered_and_foreign_tokens_are_refused() {
        let tokens = UserTokens::new(HOUR);
        let token = tokens.issue("alice", "s1", 0, 1_000);
        assert!(tokens.verify(&token, 1_000).is_none(), "expired");
        let token = tokens.issue("alice", "s1", 0, 10_000);
        let forged = token.replacen("alice", "admin", 1);
        assert!(tokens.verify(&forged, 1).is_none(), "user changed");
        let stretched = token.replace(".10000.", ".99999999.");
        assert!(tokens.verify(&stretched, 1).is_none(), "expiry changed");
        let other_hub = UserTokens::new(HOUR);
        assert!(other_hub.verify(&token, 1).is_none(), "another key");
        assert!(tokens.verify("a device secret", 1).is_none());
        assert!(tokens.verify("", 1).is_none());
    }

    #[test]
    fn hubs_sharing_a_key_check_each_others_tokens_and_no_one_else_does() {
        let (node_a, node_b, stranger) = (
            UserTokens::new(HOUR),
            UserTokens::new(HOUR),
            UserTokens::new(HOUR),
        );
        let token = node_a.issue("alice", "s1", 0, 10_000);
        assert!(node_b.verify(&token, 1).is_none(), "random keys differ");
        node_a.use_key([7; 32]);
        node_b.use_key([7; 32]);
        stranger.use_key([8; 32]);
        assert!(
            node_a.verify(&token, 1).is_none(),
            "signed with the old key"
        );
        let token = node_a.issue("alice", "s1", 0, 10_000);
        assert_eq!(node_b.verify(&token, 1).unwrap().user, "alice");
        assert!(stranger.verify(&token, 1).is_none(), "another key");
        let forged = stranger.issue("alice", "s1", 0, 10_000);
        assert!(node_b.verify(&forged, 1).is_none());
    }

    #[test]
    fn ttl_is_capped() {
        let tokens = UserTokens::new(HOUR);
        let token = tokens.issue("alice", "s1", 0, 100 * HOUR);
        assert_eq!(tokens.verify(&token, 1).unwrap().expires_at_ms, HOUR);
    }

    #[test]
    fn revoked_sessions_and_users_are_refused_but_new_tokens_work() {
        let tokens = UserTokens::new(HOUR);
        let first = tokens.issue("alice", "s1", 0, HOUR);
        let other_session = tokens.issue("alice", "s2", 0, HOUR);
        tokens.revoke_session("s1", 10);
        assert!(tokens.verify(&first, 20).is_none());
        assert!(tokens.verify(&other_session, 20).is_some());
        tokens.revoke_user("alice", 30);
        assert!(tokens.verify(&other_session, 40).is_none());
        let fresh = tokens.issue("alice", "s3", 50, 60_000);
        assert!(tokens.verify(&fresh, 60).is_some());
    }
}
