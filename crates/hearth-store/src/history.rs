//! The history's storage trait: what ingest writes in batches and what charts read.
//!
//! Ingest hands over one [`IngestBatch`] per group commit; the store writes all of it in
//! one transaction (multi-row inserts, PostgreSQL may use COPY) so that the cost of a
//! commit, an fsync, is shared by every message in the batch. The batch's live-state
//! updates are already coalesced to one per device, so that a device sending 100
//! readings in a batch costs one upsert, not 100 round trips.

use crate::StoreResult;
use async_trait::async_trait;
use hearth_model::{Aggregate, DeviceId, MessageKind, Millis, Point, StatusChange, StoredMessage};

/// One message to record (the store assigns `seq`).
#[derive(Debug, Clone, PartialEq)]
pub struct NewMessage {
    pub device: DeviceId,
    pub kind: MessageKind,
    /// The device's time (`ts` in the payload) when it lies within the hub's skew window,
    /// otherwise the receive time.
    pub received_at_ms: Millis,
    pub payload: bytes::Bytes,
    pub json_ok: bool,
    /// The payload's `ts` lay outside the hub's skew window, so `received_at_ms` is the
    /// receive time instead of the device's (issue 17).
    pub ts_clamped: bool,
}

/// The newest state of one device after a batch: each `Some` replaces the column, each
/// `None` leaves it as it is.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LiveUpdate {
    pub device: Option<DeviceId>,
    pub is_online: Option<bool>,
    pub last_seen_ms: Option<Millis>,
    pub last_heartbeat_ms: Option<Millis>,
    pub device_status: Option<String>,
    /// The last data payload that was a JSON object, as JSON text.
    pub last_report_data: Option<String>,
    /// The (device) time of `last_report_data`: the store keeps whichever of the stored
    /// and this report is newer, so a queued reading arriving late never replaces a
    /// newer live value.
    pub last_report_ms: Option<Millis>,
}

/// Everything one group commit writes, in one transaction.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IngestBatch {
    pub messages: Vec<NewMessage>,
    pub points: Vec<Point>,
    pub status_changes: Vec<StatusChange>,
    /// At most one per device (`device` is always `Some`).
    pub live: Vec<LiveUpdate>,
}

impl IngestBatch {
    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
            && self.points.is_empty()
            && self.status_changes.is_empty()
            && self.live.is_empty()
    }
}

/// A time range, `from_ms` inclusive, `to_ms` exclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeRange {
    pub from_ms: Millis,
    pub to_ms: Millis,
}

/// Which messages to read: one device, optionally one kind, a range, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageQuery {
    pub device: DeviceId,
    pub kind: Option<MessageKind>,
    pub range: TimeRange,
    pub limit: u32,
}

/// Which points to read: one device and metric over a range, oldest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PointQuery {
    pub device: DeviceId,
    pub metric: String,
    pub range: TimeRange,
    /// At most this many raw points (charts ask for aggregates beyond that).
    pub limit: u32,
}

/// History of messages, points and presence.
#[async_trait]
pub trait HistoryStore: Send + Sync {
    /// Writes a batch all or nothing, in one transaction.
    async fn write_batch(&self, batch: &IngestBatch) -> StoreResult<()>;
    async fn messages(&self, query: &MessageQuery) -> StoreResult<Vec<StoredMessage>>;
    /// How many messages a device has (all of them when `device` is `None`).
    async fn message_count(&self, device: Option<&DeviceId>) -> StoreResult<u64>;
    async fn points(&self, query: &PointQuery) -> StoreResult<Vec<Point>>;
    /// Min/max/avg/count per bucket of `bucket_ms` over the range (buckets aligned to
    /// multiples of `bucket_ms` since the epoch; empty buckets are left out). Uses raw
    /// points where they are kept and hourly rollups for older parts when `bucket_ms`
    /// is a multiple of an hour.
    async fn aggregates(
        &self,
        device: &DeviceId,
        metric: &str,
        range: TimeRange,
        bucket_ms: Millis,
    ) -> StoreResult<Vec<Aggregate>>;
    /// The newest point of every metric of a device.
    async fn latest_points(&self, device: &DeviceId) -> StoreResult<Vec<Point>>;
    /// Presence changes of a device in a range, newest first.
    async fn status_history(
        &self,
        device: &DeviceId,
        range: TimeRange,
        limit: u32,
    ) -> StoreResult<Vec<StatusChange>>;
    /// Folds raw points older than `before_ms` into hourly rollups (idempotent: hours
    /// already rolled up are not counted twice). Returns the number of rollup rows written.
    async fn roll_up(&self, before_ms: Millis) -> StoreResult<u64>;
    /// Retention: deletes raw messages, points and status changes older than
    /// `raw_before_ms` and rollups older than `rollup_before_ms`. Returns rows deleted.
    async fn prune(&self, raw_before_ms: Millis, rollup_before_ms: Millis) -> StoreResult<u64>;
}
