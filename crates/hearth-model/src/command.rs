//! Remote control (SPEC §4, seed 003): a command and what became of it.

use crate::{DeviceId, Millis};
use serde::{Deserialize, Serialize};

/// Where a command stands. It moves only forward: `Pending` → `Sent` → one of the
/// three outcomes (or `Pending` → `Timeout` when it expired before the device came back).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum CommandStatus {
    /// Accepted; waiting for the device to be online.
    Pending,
    /// Published to the device; waiting for its acknowledgement.
    Sent,
    /// The device confirmed it (`"ok": true`).
    Acked,
    /// The device answered that it could not (`"ok": false`).
    Failed,
    /// No answer in time, or the device never came back before the command expired.
    Timeout,
}

impl CommandStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CommandStatus::Pending => "pending",
            CommandStatus::Sent => "sent",
            CommandStatus::Acked => "acked",
            CommandStatus::Failed => "failed",
            CommandStatus::Timeout => "timeout",
        }
    }

    pub fn parse(text: &str) -> Option<CommandStatus> {
        [
            CommandStatus::Pending,
            CommandStatus::Sent,
            CommandStatus::Acked,
            CommandStatus::Failed,
            CommandStatus::Timeout,
        ]
        .into_iter()
        .find(|status| status.as_str() == text)
    }

    /// Whether the command is over (no further change will come).
    pub fn is_final(self) -> bool {
        matches!(
            self,
            CommandStatus::Acked | CommandStatus::Failed | CommandStatus::Timeout
        )
    }
}

/// One command to one device, with its outcome: what the API returns and what the hub
/// announces on `devices/{id}/command-status`, so that both say the same thing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Command {
    /// Random, URL-safe; the device echoes it in its acknowledgement.
    pub id: String,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub device: DeviceId,
    /// The last topic level: `devices/{device}/commands/{name}`.
    pub name: String,
    /// JSON object sent to the device (with `id` added).
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub params: serde_json::Value,
    /// Who sent it (`user:alice`, `cli:root`, `automation:...`).
    pub issued_by: String,
    pub status: CommandStatus,
    /// What the device answered (`result` of its acknowledgement), or why it failed.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub result: Option<serde_json::Value>,
    /// The state the device reported with its acknowledgement (`state`): the only
    /// source of truth for what the web app shows after switching.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub reported_state: Option<serde_json::Value>,
    pub created_at_ms: Millis,
    pub sent_at_ms: Option<Millis>,
    pub finished_at_ms: Option<Millis>,
    /// A pending command still undelivered at this time times out.
    pub expires_at_ms: Millis,
    /// How long a sent command waits for the acknowledgement.
    pub ack_timeout_ms: Millis,
}
