//! The seam for the broker's durable state: the broker describes changes, a store
//! applies them. It lives here, not in the broker, so that the store crate implements it
//! without depending on the broker (the crate graph ARCHITECTURE.md draws): the broker
//! and the store both see this crate, and neither sees the other.
//!
//! Records are opaque bytes (the broker encodes them), so a backend is a small
//! key-value mapping with no SQL or MQTT knowledge.

use bytes::Bytes;
use std::sync::Arc;

/// One change to the durable state. Keys are client ids, topics and per-session
/// sequence numbers; values are opaque records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PersistOp {
    /// Insert or replace the retained message of `topic`.
    PutRetained {
        topic: Arc<str>,
        record: Bytes,
    },
    DeleteRetained {
        topic: Arc<str>,
    },
    /// Insert or replace a persistent session (expiry, subscriptions...).
    PutSession {
        client_id: Arc<str>,
        record: Bytes,
    },
    /// Delete a session and every message queued for it.
    DeleteSession {
        client_id: Arc<str>,
    },
    /// A QoS 1/2 message owed to a session, identified by a sequence number that grows
    /// within the session.
    PutMessage {
        client_id: Arc<str>,
        seq: u64,
        record: Bytes,
    },
    /// The session acknowledged (or dropped) that message.
    DeleteMessage {
        client_id: Arc<str>,
        seq: u64,
    },
}

/// Everything a store holds, as loaded at start-up.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PersistedState {
    pub retained: Vec<(String, Bytes)>,
    pub sessions: Vec<(String, Bytes)>,
    /// (client id, seq, record), in any order.
    pub messages: Vec<(String, u64, Bytes)>,
}

/// Why the store failed. The broker logs it and answers the affected publishes with a
/// failure (v5) or by closing the connection (3.x), so clients resend.
#[derive(Debug, thiserror::Error)]
#[error("broker store: {0}")]
pub struct PersistError(pub String);

/// A durable home for broker state. Called from one dedicated thread, never from the
/// async runtime, so implementations may block on disk I/O.
pub trait BrokerStore: Send + 'static {
    /// Reads everything back (start-up).
    fn load(&mut self) -> Result<PersistedState, PersistError>;

    /// Applies `ops` in order, atomically, and returns only once they are durable
    /// (fsync or equivalent). Deleting something absent is not an error.
    fn apply(&mut self, ops: &[PersistOp]) -> Result<(), PersistError>;
}
