//! The audit log: every change to the registry, who made it and when.
//!
//! The store writes an entry in the same transaction as the change it describes, so the
//! log is also a change feed: a running hub watches its highest sequence number to learn
//! that the CLI (another process) changed something.

use crate::Millis;
use serde::{Deserialize, Serialize};

/// One recorded change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Increases with every change; never reused.
    pub seq: i64,
    pub at_ms: Millis,
    /// Who: `user:alice`, `cli:root`, `hub` ...
    pub actor: String,
    /// What: `device.add`, `device.disable`, `group.member.set` ...
    pub action: String,
    /// The id of what changed.
    pub target: String,
    /// Details (never secrets or hashes).
    pub detail: serde_json::Value,
}

/// An entry to append; the store assigns `seq` and `at_ms`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewAuditEntry {
    pub actor: String,
    pub action: String,
    pub target: String,
    pub detail: serde_json::Value,
}

impl NewAuditEntry {
    pub fn new(actor: &str, action: &str, target: impl std::fmt::Display) -> NewAuditEntry {
        NewAuditEntry {
            actor: actor.to_owned(),
            action: action.to_owned(),
            target: target.to_string(),
            detail: serde_json::Value::Null,
        }
    }

    pub fn with_detail(mut self, detail: serde_json::Value) -> NewAuditEntry {
        self.detail = detail;
        self
    }
}
