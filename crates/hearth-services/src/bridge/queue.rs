//! The bridge's durable outbound queue: messages bound for the cloud, in
//! `<data_dir>/bridge.redb`, kept until the cloud acknowledged them.
//!
//! redb, as the broker's state: the queue is an ordered map of opaque records (sequence
//! number → message), needs no SQL, and a whole batch is one write transaction with one
//! fsync (group commit); a commit lands whole or not at all, also under SIGKILL. The queue
//! lives here rather than behind a store trait in hearth-store because it is the bridge's
//! own file with one user and one implementation: a trait would only add a seam nobody
//! else fills.
//!
//! Tables: `messages` (seq → record) and `meta` (`next_seq`, `count`, `bytes`, and
//! `schema_version`), all updated in the same transaction, so the bounds hold on disk.
//! A record is `qos (1 byte) | received_at_ms (8, LE) | topic length (2, LE) | topic |
//! payload`.

use bytes::Bytes;
use redb::{Database, DatabaseError, ReadableDatabase, ReadableTable, TableDefinition};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

const MESSAGES: TableDefinition<u64, &[u8]> = TableDefinition::new("messages");
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
const SCHEMA_VERSION: u64 = 1;
/// redb's page cache: the queue is read front to back once, so a small cache suffices.
const CACHE_BYTES: usize = 8 * 1024 * 1024;
/// What a record costs besides its topic and payload.
const HEADER: usize = 1 + 8 + 2;

/// What to do with a message when the queue is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Overflow {
    /// Delete the oldest queued messages to make room (counted as dropped): the cloud
    /// gets the newest data after a long outage.
    #[default]
    DropOldest,
    /// Keep what is queued and refuse the new message: a QoS 1/2 publisher gets a
    /// failure and sends it again later (counted as refused); nothing queued is lost.
    Refuse,
}

/// The queue's bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueLimits {
    pub max_messages: u64,
    pub max_bytes: u64,
    pub overflow: Overflow,
}

/// One message to append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMessage {
    /// The home topic (`devices/{id}/...`); the link rewrites it for the cloud.
    pub topic: Arc<str>,
    pub payload: Bytes,
    /// When the home hub received it (epoch ms): the cloud stores this time.
    pub received_at_ms: i64,
    /// 0, 1 or 2 as published at home.
    pub qos: u8,
}

/// One queued message, with its place in the queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedMessage {
    pub seq: u64,
    pub message: NewMessage,
}

/// Why the queue failed; names the file.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct QueueError(String);

/// Counts since the hub started (the queue's length and bytes are on disk).
#[derive(Debug, Default)]
pub struct QueueCounters {
    /// Messages appended.
    pub appended: AtomicU64,
    /// Deleted unsent to make room (`drop-oldest`), or too large for the queue at all.
    pub dropped: AtomicU64,
    /// Refused because the queue was full (`refuse`).
    pub refused: AtomicU64,
    /// Deleted after the cloud's acknowledgement.
    pub removed: AtomicU64,
}

/// The durable queue. Cheap to share behind an `Arc`; every method blocks on disk, so
/// async callers use `spawn_blocking`.
pub struct BridgeQueue {
    db: Database,
    path: PathBuf,
    limits: QueueLimits,
    len: AtomicU64,
    bytes: AtomicU64,
    pub counters: QueueCounters,
}

impl BridgeQueue {
    /// Opens (or creates) the queue at `path`. After a crash redb repairs the file here;
    /// only committed batches are in it.
    pub fn open(path: &Path, limits: QueueLimits) -> Result<BridgeQueue, QueueError> {
        let db = Database::builder()
            .set_cache_size(CACHE_BYTES)
            .create(path)
            .map_err(|error| match error {
                DatabaseError::DatabaseAlreadyOpen => QueueError(format!(
                    "{}: the file is in use by another process (is another hub running on \
                     this data directory?)",
                    path.display()
                )),
                other => QueueError(format!("{}: cannot open: {other}", path.display())),
            })?;
        let queue = BridgeQueue {
            db,
            path: path.to_owned(),
            limits,
            len: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            counters: QueueCounters::default(),
        };
        let txn = queue.db.begin_write().map_err(|e| queue.fail("begin", e))?;
        {
            let mut meta = txn.open_table(META).map_err(|e| queue.fail("meta", e))?;
            let version = meta
                .get("schema_version")
                .map_err(|e| queue.fail("meta", e))?
                .map(|v| v.value());
            match version {
                None => {
                    meta.insert("schema_version", SCHEMA_VERSION)
                        .map_err(|e| queue.fail("meta", e))?;
                }
                Some(SCHEMA_VERSION) => {}
                Some(other) => {
                    return Err(queue.fail(
                        "schema",
                        format!("schema version {other}, this build knows {SCHEMA_VERSION}"),
                    ));
                }
            }
            let len = read_meta(&meta, "count").map_err(|e| queue.fail("meta", e))?;
            let bytes = read_meta(&meta, "bytes").map_err(|e| queue.fail("meta", e))?;
            queue.len.store(len, Ordering::Relaxed);
            queue.bytes.store(bytes, Ordering::Relaxed);
            txn.open_table(MESSAGES)
                .map_err(|e| queue.fail("messages", e))?;
        }
        txn.commit().map_err(|e| queue.fail("commit", e))?;
        Ok(queue)
    }

    /// Messages queued now.
    pub fn len(&self) -> u64 {
        self.len.load(Ordering::Relaxed)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes of the queued records.
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    pub fn limits(&self) -> QueueLimits {
        self.limits
    }

    /// Appends `batch` in one write transaction, applying the overflow policy message by
    /// message. Returns, per message, whether it was queued (`false`: refused, or larger
    /// than the queue may ever hold). Nothing is queued when it fails.
    pub fn append(&self, batch: &[NewMessage]) -> Result<Vec<bool>, QueueError> {
        let mut queued = Vec::with_capacity(batch.len());
        let mut dropped = 0u64;
        let mut refused = 0u64;
        let txn = self.db.begin_write().map_err(|e| self.fail("begin", e))?;
        let (len, bytes) = {
            let mut meta = txn.open_table(META).map_err(|e| self.fail("meta", e))?;
            let mut messages = txn
                .open_table(MESSAGES)
                .map_err(|e| self.fail("messages", e))?;
            let mut next = read_meta(&meta, "next_seq").map_err(|e| self.fail("meta", e))?;
            let mut len = read_meta(&meta, "count").map_err(|e| self.fail("meta", e))?;
            let mut bytes = read_meta(&meta, "bytes").map_err(|e| self.fail("meta", e))?;
            let mut record = Vec::new();
            for message in batch {
                encode(message, &mut record);
                let size = record.len() as u64;
                if size > self.limits.max_bytes || self.limits.max_messages == 0 {
                    dropped += 1;
                    queued.push(false);
                    continue;
                }
                let full = |len: u64, bytes: u64| {
                    len >= self.limits.max_messages || bytes + size > self.limits.max_bytes
                };
                if full(len, bytes) && self.limits.overflow == Overflow::Refuse {
                    refused += 1;
                    queued.push(false);
                    continue;
                }
                while full(len, bytes) {
                    let Some((_, oldest)) = messages
                        .pop_first()
                        .map_err(|e| self.fail("drop oldest", e))?
                    else {
                        break;
                    };
                    len -= 1;
                    bytes -= oldest.value().len() as u64;
                    dropped += 1;
                }
                messages
                    .insert(next, record.as_slice())
                    .map_err(|e| self.fail("insert", e))?;
                next += 1;
                len += 1;
                bytes += size;
                queued.push(true);
            }
            meta.insert("next_seq", next)
                .map_err(|e| self.fail("meta", e))?;
            meta.insert("count", len)
                .map_err(|e| self.fail("meta", e))?;
            meta.insert("bytes", bytes)
                .map_err(|e| self.fail("meta", e))?;
            (len, bytes)
        };
        txn.commit().map_err(|e| self.fail("commit", e))?;
        self.len.store(len, Ordering::Relaxed);
        self.bytes.store(bytes, Ordering::Relaxed);
        let appended = queued.iter().filter(|queued| **queued).count() as u64;
        self.counters
            .appended
            .fetch_add(appended, Ordering::Relaxed);
        self.counters.dropped.fetch_add(dropped, Ordering::Relaxed);
        self.counters.refused.fetch_add(refused, Ordering::Relaxed);
        Ok(queued)
    }

    /// Up to `max` messages in queue order, starting after `after` (`None`: from the
    /// oldest).
    pub fn read(&self, after: Option<u64>, max: usize) -> Result<Vec<QueuedMessage>, QueueError> {
        let txn = self
            .db
            .begin_read()
            .map_err(|e| self.fail("begin read", e))?;
        let messages = txn
            .open_table(MESSAGES)
            .map_err(|e| self.fail("messages", e))?;
        let start = match after {
            Some(seq) => seq.saturating_add(1),
            None => 0,
        };
        let mut out = Vec::new();
        for entry in messages.range(start..).map_err(|e| self.fail("read", e))? {
            if out.len() >= max {
                break;
            }
            let (seq, record) = entry.map_err(|e| self.fail("read", e))?;
            let seq = seq.value();
            let message = decode(record.value()).ok_or_else(|| {
                QueueError(format!("{}: record {seq} is corrupt", self.path.display()))
            })?;
            out.push(QueuedMessage { seq, message });
        }
        Ok(out)
    }

    /// Deletes the messages the cloud acknowledged, in one write transaction. Sequence
    /// numbers no longer queued (dropped meanwhile) are skipped. Returns how many were
    /// deleted.
    pub fn remove(&self, seqs: &[u64]) -> Result<u64, QueueError> {
        if seqs.is_empty() {
            return Ok(0);
        }
        let txn = self.db.begin_write().map_err(|e| self.fail("begin", e))?;
        let (removed, len, bytes) = {
            let mut meta = txn.open_table(META).map_err(|e| self.fail("meta", e))?;
            let mut messages = txn
                .open_table(MESSAGES)
                .map_err(|e| self.fail("messages", e))?;
            let mut len = read_meta(&meta, "count").map_err(|e| self.fail("meta", e))?;
            let mut bytes = read_meta(&meta, "bytes").map_err(|e| self.fail("meta", e))?;
            let mut removed = 0;
            for seq in seqs {
                if let Some(record) = messages.remove(*seq).map_err(|e| self.fail("remove", e))? {
                    len -= 1;
                    bytes -= record.value().len() as u64;
                    removed += 1;
                }
            }
            meta.insert("count", len)
                .map_err(|e| self.fail("meta", e))?;
            meta.insert("bytes", bytes)
                .map_err(|e| self.fail("meta", e))?;
            (removed, len, bytes)
        };
        txn.commit().map_err(|e| self.fail("commit", e))?;
        self.len.store(len, Ordering::Relaxed);
        self.bytes.store(bytes, Ordering::Relaxed);
        self.counters.removed.fetch_add(removed, Ordering::Relaxed);
        Ok(removed)
    }

    fn fail(&self, what: &str, error: impl std::fmt::Display) -> QueueError {
        QueueError(format!("{}: {what}: {error}", self.path.display()))
    }
}

/// What `message` costs against `queue_max_bytes`: its record's size.
pub(crate) fn record_size(message: &NewMessage) -> u64 {
    (HEADER + message.topic.len() + message.payload.len()) as u64
}

fn read_meta(
    meta: &impl ReadableTable<&'static str, u64>,
    key: &str,
) -> Result<u64, redb::StorageError> {
    Ok(meta.get(key)?.map(|value| value.value()).unwrap_or(0))
}

fn encode(message: &NewMessage, out: &mut Vec<u8>) {
    out.clear();
    out.push(message.qos);
    out.extend_from_slice(&message.received_at_ms.to_le_bytes());
    let topic = message.topic.as_bytes();
    out.extend_from_slice(&(topic.len() as u16).to_le_bytes());
    out.extend_from_slice(topic);
    out.extend_from_slice(&message.payload);
}

fn decode(record: &[u8]) -> Option<NewMessage> {
    if record.len() < HEADER {
        return None;
    }
    let qos = record[0];
    let received_at_ms = i64::from_le_bytes(record[1..9].try_into().ok()?);
    let topic_len = u16::from_le_bytes(record[9..11].try_into().ok()?) as usize;
    let topic = record.get(HEADER..HEADER + topic_len)?;
    let topic = std::str::from_utf8(topic).ok()?;
    Some(NewMessage {
        topic: topic.into(),
        payload: Bytes::copy_from_slice(&record[HEADER + topic_len..]),
        received_at_ms,
        qos,
    })
}

#[cfg(test)]
#[path = "queue_tests.rs"]
mod tests;
