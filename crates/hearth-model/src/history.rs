//! What devices send and the hub keeps: messages, time-series points, status changes.

use crate::{DeviceId, Millis};
use serde::{Deserialize, Serialize};

/// The topic a device message arrived on (`devices/{id}/{kind}`, SPEC §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MessageKind {
    Data,
    Status,
    Heartbeat,
    Event,
}

impl MessageKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MessageKind::Data => "data",
            MessageKind::Status => "status",
            MessageKind::Heartbeat => "heartbeat",
            MessageKind::Event => "event",
        }
    }

    /// The kind for a topic's last level (`events` is the topic, `event` the kind).
    pub fn from_topic_level(level: &str) -> Option<MessageKind> {
        crate::topic::TopicKind::parse(level)?.message_kind()
    }

    pub fn parse(text: &str) -> Option<MessageKind> {
        match text {
            "data" => Some(MessageKind::Data),
            "status" => Some(MessageKind::Status),
            "heartbeat" => Some(MessageKind::Heartbeat),
            "event" => Some(MessageKind::Event),
            _ => None,
        }
    }
}

/// One message as stored: the payload exactly as received, and whether it was JSON
/// (a device that sends broken JSON has it kept raw and flagged, never dropped).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredMessage {
    /// Increases in arrival order.
    pub seq: i64,
    pub device: DeviceId,
    pub kind: MessageKind,
    pub received_at_ms: Millis,
    pub payload: Vec<u8>,
    pub json_ok: bool,
    /// The payload's `ts` lay outside the hub's skew window: `received_at_ms` is the
    /// receive time, not the device's (a device cannot file readings far in the past
    /// or future).
    #[serde(default)]
    pub ts_clamped: bool,
}

/// One numeric reading of a data message (`{"temperature": 21.5}` gives metric
/// `temperature`; nested objects give dotted names, `{"env": {"t": 1}}` → `env.t`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Point {
    pub device: DeviceId,
    pub metric: String,
    pub at_ms: Millis,
    pub value: f64,
}

/// Why a device's presence changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PresenceReason {
    /// It connected, or sent data, heartbeat or `online`.
    Activity,
    /// It published `offline` (its will, or on purpose).
    Status,
    /// Its connection ended.
    Disconnect,
    /// Nothing arrived within its heartbeat timeout.
    Timeout,
    /// The hub restarted and found it silent.
    Restart,
}

impl PresenceReason {
    pub fn as_str(self) -> &'static str {
        match self {
            PresenceReason::Activity => "activity",
            PresenceReason::Status => "status",
            PresenceReason::Disconnect => "disconnect",
            PresenceReason::Timeout => "timeout",
            PresenceReason::Restart => "restart",
        }
    }

    pub fn parse(text: &str) -> Option<PresenceReason> {
        [
            PresenceReason::Activity,
            PresenceReason::Status,
            PresenceReason::Disconnect,
            PresenceReason::Timeout,
            PresenceReason::Restart,
        ]
        .into_iter()
        .find(|reason| reason.as_str() == text)
    }
}

/// A presence change, kept as status history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusChange {
    pub device: DeviceId,
    pub at_ms: Millis,
    pub online: bool,
    pub reason: PresenceReason,
}

/// Min, max, average and count of a metric over one time bucket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Aggregate {
    pub bucket_start_ms: Millis,
    pub min: f64,
    pub max: f64,
    pub avg: f64,
    pub count: u64,
}
