//! The HTTP API's storage trait: login sessions and personal API tokens.
//!
//! Both are bearer secrets, so neither is stored as given: the API keeps only the
//! SHA-256 of each (a 256-bit random value needs no slow hash: nothing can be guessed
//! from its digest), and a stolen database copy lets nobody in. Both belong to a user
//! and go when the user goes (`ON DELETE CASCADE`).

use crate::StoreResult;
use async_trait::async_trait;
use hearth_model::{Millis, NewAuditEntry, UserName};

/// A login session (the browser's cookie), found by the hash of its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Hex SHA-256 of the cookie's value.
    pub id_hash: String,
    pub user: UserName,
    pub created_at_ms: Millis,
    /// The session is refused from this time on (the API slides it forward on use).
    pub expires_at_ms: Millis,
    pub last_seen_ms: Millis,
}

/// A personal API token as listed; the token itself is shown once, at creation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiToken {
    /// Public id (`tok_...`), used to list and revoke it.
    pub id: String,
    pub user: UserName,
    /// What the owner called it ("backup script").
    pub name: String,
    pub created_at_ms: Millis,
    /// `None`: never expires (until revoked).
    pub expires_at_ms: Option<Millis>,
    pub last_used_ms: Option<Millis>,
}

/// Sessions and API tokens.
#[async_trait]
pub trait AuthStore: Send + Sync {
    /// Stores a new session; `NotFound` for an unknown user.
    async fn create_session(&self, session: &Session) -> StoreResult<()>;
    /// The session with this id hash if it exists and has not expired at `now_ms`;
    /// `NotFound` otherwise.
    async fn session(&self, id_hash: &str, now_ms: Millis) -> StoreResult<Session>;
    /// Records use of a session and moves its expiry (sliding sessions).
    async fn touch_session(
        &self,
        id_hash: &str,
        now_ms: Millis,
        expires_at_ms: Millis,
    ) -> StoreResult<()>;
    /// Ends one session (logout); `NotFound` if it does not exist.
    async fn delete_session(&self, id_hash: &str) -> StoreResult<()>;
    /// Ends every session of `user` but `except` (after a password change). Returns the
    /// `id_hash` of each session it ended, so that the caller can revoke what hangs off
    /// them (browser MQTT credentials).
    async fn delete_sessions_of(
        &self,
        user: &UserName,
        except: Option<&str>,
    ) -> StoreResult<Vec<String>>;
    /// Deletes expired sessions and tokens. Returns how many rows went.
    async fn prune_auth(&self, now_ms: Millis) -> StoreResult<u64>;

    /// Stores a new token with the SHA-256 of its secret; `NotFound` for an unknown user,
    /// `Conflict` if the id is taken. Audited.
    async fn create_token(
        &self,
        token: &ApiToken,
        token_hash: &str,
        audit: &NewAuditEntry,
    ) -> StoreResult<()>;
    /// The tokens of `user`, newest first.
    async fn tokens_of(&self, user: &UserName) -> StoreResult<Vec<ApiToken>>;
    /// The unexpired token with this hash; `NotFound` otherwise.
    async fn token_by_hash(&self, token_hash: &str, now_ms: Millis) -> StoreResult<ApiToken>;
    /// Records use of a token.
    async fn touch_token(&self, id: &str, now_ms: Millis) -> StoreResult<()>;
    /// Revokes `user`'s token `id`; `NotFound` if they hold no such token. Audited.
    async fn delete_token(
        &self,
        user: &UserName,
        id: &str,
        audit: &NewAuditEntry,
    ) -> StoreResult<()>;
}
