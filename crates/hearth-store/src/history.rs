//! The history's storage trait: what ingest writes in batches and what charts read.
//!
//! Ingest hands over one [`IngestBatch`] per group commit; the store writes all of it in
//! one transaction (multi-row inserts, PostgreSQL may use COPY) so that the cost of a
//! commit, an fsync, is shared by every message in the batch. The batch's live-state
//! updates are already coalesced to one per device, so that a device sending 100
//! readings in a batch costs one upsert, not 100 round trips.

use crate::StoreResult;
use async_trait::async_trait;
use hearth_model::{
    Aggregate, AppId, DeviceId, MessageKind, Millis, Point, StatusChange, StoredMessage,
};

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

/// One compaction round (see [`HistoryStore::compact`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompactRequest {
    /// Ranges that end at or before this are closed and get compacted.
    pub before_ms: Millis,
    /// The width of a block's range (ranges are multiples of it since the epoch): an
    /// hour or a day. Between a minute and a day, and a day must be a multiple of it.
    pub block_ms: Millis,
    /// The aggregate tiers to keep (bucket widths); a tier missing here that the store
    /// kept is dropped.
    pub tiers: Vec<Millis>,
    /// Series (for points) or devices (for messages) per transaction.
    pub batch_series: u32,
}

impl CompactRequest {
    /// The longest block: reads look this far before a range for blocks overlapping it.
    pub const MAX_BLOCK_MS: Millis = 86_400_000;
}

/// What one compaction round did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CompactStats {
    pub points: u64,
    pub point_blocks: u64,
    pub messages: u64,
    pub message_blocks: u64,
}

/// Counts and sizes of the history (bytes of encoded blocks; what the tables and their
/// indexes take on disk is the backend's business and the benchmark measures it).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct HistorySize {
    pub plain_points: u64,
    pub block_points: u64,
    pub point_blocks: u64,
    pub point_block_bytes: u64,
    pub plain_messages: u64,
    pub block_messages: u64,
    pub message_blocks: u64,
    pub message_block_bytes: u64,
    /// The payload bytes of the messages in blocks, before encoding.
    pub block_message_payload_bytes: u64,
    pub tier_rows: u64,
}

/// One series: a device's metric.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SeriesKey {
    pub device: DeviceId,
    pub metric: String,
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
    /// Moves the plain points and messages of ranges closed before `request.before_ms`
    /// into blocks, and folds the moved points into the aggregate tiers, a batch of
    /// series or devices per transaction (so ingest waits at most one batch, and a crash
    /// loses nothing: each batch commits whole or not at all). Plain rows of a range that
    /// already has a block (late readings) are merged into it. Idempotent.
    async fn compact(&self, request: &CompactRequest) -> StoreResult<CompactStats>;
    /// Sizes and counts of the history, for `hearth history stats` and the benchmark.
    async fn history_size(&self) -> StoreResult<HistorySize>;
    /// Every series (device and metric) the history has.
    async fn series_keys(&self) -> StoreResult<Vec<SeriesKey>>;
    /// Retention of points: deletes level `level` (`None`: raw points, plain and in
    /// blocks; `Some(bucket_ms)`: that aggregate tier) older than `before_ms` for the
    /// given series (`None`: every series), and records that the level is kept from
    /// `before_ms` on, so that charts read a coarser level for older times. A block or
    /// bucket that straddles `before_ms` is kept whole. Returns rows deleted.
    async fn prune_points(
        &self,
        level: Option<Millis>,
        before_ms: Millis,
        series: Option<&[SeriesKey]>,
    ) -> StoreResult<u64>;
    /// Retention of raw messages (plain and in blocks) older than `before_ms`: those of
    /// the devices of `app`, or with `None`, of every device that belongs to none of
    /// `except` (including deleted devices). Returns messages deleted.
    async fn prune_messages(
        &self,
        before_ms: Millis,
        app: Option<&AppId>,
        except: &[AppId],
    ) -> StoreResult<u64>;
    /// Retention of presence changes. Returns rows deleted.
    async fn prune_status(&self, before_ms: Millis) -> StoreResult<u64>;
}
