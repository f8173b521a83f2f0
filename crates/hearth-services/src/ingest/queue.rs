//! The hand-over from the broker's routing path to the ingest writer.
//!
//! The broker calls [`IngestQueue::intercept`] on its router task, which must never
//! wait, so the queue is a mutex-guarded `VecDeque` (held for a push) plus a `Notify`.
//! QoS 1/2 messages are always queued: their publishers wait for the PUBACK, which
//! waits for the commit, so the broker's receive maximum bounds how many can be
//! outstanding. QoS 0 messages carry no promise and nothing holds their publishers
//! back, so past `max_qos0` queued items they are dropped and counted.

use hearth_bus::{AckToken, Envelope, Interceptor};
use hearth_model::Millis;
use parking_lot::Mutex;
use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::Notify;

/// One intercepted device message.
pub struct Item {
    pub topic: Arc<str>,
    pub payload: bytes::Bytes,
    pub received_at_ms: Millis,
    /// The time a site's home hub received it (issue 20, `hearth-received-at`), within
    /// the ingest window: the message's time instead of `received_at_ms`.
    pub origin_ms: Option<Millis>,
    /// A site sent a home time outside the window (or unreadable): stored at
    /// `received_at_ms` and flagged `ts_clamped`.
    pub origin_clamped: bool,
    /// Published by a device logged in with registry credentials (so its id is
    /// registered, even if the writer has not reloaded the registry since).
    pub from_device: bool,
    /// The site whose link relayed it (issue 20), `None` for the device's own: presence
    /// tells the two apart (a device may move between its home and this hub).
    pub site: Option<Arc<str>>,
    /// `None` for QoS 0.
    pub ack: Option<AckToken>,
}

/// Counters shared by the queue and the writer (exported as metrics).
#[derive(Debug, Default)]
pub struct IngestCounters {
    /// Messages written to the store.
    pub stored: AtomicU64,
    /// Of those, payloads that were not valid JSON (kept raw, flagged).
    pub bad_json: AtomicU64,
    /// Messages whose `ts` lay outside the skew window (stored at the receive time,
    /// flagged `ts_clamped`).
    pub ts_clamped: AtomicU64,
    /// Messages from ids the registry does not know, or from disabled devices.
    pub unknown_device: AtomicU64,
    /// QoS 0 messages dropped because the writer was too far behind.
    pub qos0_dropped: AtomicU64,
    /// Batches committed, and failed commits (their QoS 1/2 messages were refused so
    /// that the devices send them again).
    pub batches: AtomicU64,
    pub failed_batches: AtomicU64,
    /// Microseconds spent in batch commits (committed and failed): with `batches`, the
    /// mean commit time that `/metrics` and the Grafana dashboard show.
    pub commit_micros: AtomicU64,
    /// Presence changes stored.
    pub presence_changes: AtomicU64,
}

/// The interceptor the broker sees, and the writer's inbox.
pub struct IngestQueue {
    items: Mutex<VecDeque<Item>>,
    pub(crate) ready: Notify,
    max_qos0: usize,
    pub(crate) counters: Arc<IngestCounters>,
}

impl IngestQueue {
    pub fn new(max_qos0: usize, counters: Arc<IngestCounters>) -> IngestQueue {
        IngestQueue {
            items: Mutex::new(VecDeque::new()),
            ready: Notify::new(),
            max_qos0,
            counters,
        }
    }

    /// Moves up to `max` queued items into `out`.
    pub fn take(&self, max: usize, out: &mut Vec<Item>) {
        let mut items = self.items.lock();
        let n = items.len().min(max);
        out.extend(items.drain(..n));
    }

    pub fn len(&self) -> usize {
        self.items.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Interceptor for IngestQueue {
    fn intercept(&self, message: &Envelope, ack: Option<AckToken>) {
        // Only history is the writer's to wait for. Anything else under `devices/+/+`,
        // above all a camera's snapshot (up to `max_packet_size` of JPEG, see
        // docs/cameras.md), is acknowledged at once: nothing of it is stored, so neither
        // its PUBACK nor the queue's memory should wait on a commit that is not about it.
        if !is_history(&message.topic) {
            if let Some(token) = ack {
                token.accept();
            }
            return;
        }
        let item = Item {
            topic: message.topic.clone(),
            payload: message.payload.clone(),
            received_at_ms: message
                .received_at_ms
                .unwrap_or_else(hearth_model::now_millis),
            origin_ms: None,
            origin_clamped: false,
            from_device: message
                .principal
                .as_ref()
                .is_some_and(|principal| principal.kind == hearth_bus::PrincipalKind::Device),
            site: None,
            ack,
        };
        self.push(item);
    }
}

impl IngestQueue {
    /// Queues one history item for the writer (QoS 0 ones only while the backlog is
    /// under `max_qos0`): what the interceptor does, and the sites' relay with items it
    /// made from a site's message.
    pub(crate) fn push(&self, item: Item) {
        {
            let mut items = self.items.lock();
            if item.ack.is_none() && items.len() >= self.max_qos0 {
                drop(items);
                self.counters.qos0_dropped.fetch_add(1, Ordering::Relaxed);
                return;
            }
            items.push_back(item);
        }
        self.ready.notify_one();
    }
}

/// Whether ingest stores messages on `topic` (`devices/{id}/{data|status|heartbeat|events}`).
fn is_history(topic: &str) -> bool {
    hearth_model::topic::parse(topic).is_some_and(|parsed| parsed.kind.message_kind().is_some())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;

    fn token(accepted: &Arc<AtomicBool>) -> AckToken {
        let accepted = accepted.clone();
        AckToken::new(move |ok| accepted.store(ok, Ordering::SeqCst))
    }

    #[test]
    fn snapshots_are_acknowledged_at_once_and_never_queued() {
        let queue = IngestQueue::new(10, Arc::default());
        let snapshot_accepted = Arc::new(AtomicBool::new(false));
        let jpeg = bytes::Bytes::from(vec![0xff_u8; 512 * 1024]);
        queue.intercept(
            &Envelope::new("devices/cam-1/snapshot", jpeg),
            Some(token(&snapshot_accepted)),
        );
        assert!(snapshot_accepted.load(Ordering::SeqCst));
        assert!(queue.is_empty());

        let data_accepted = Arc::new(AtomicBool::new(false));
        queue.intercept(
            &Envelope::new("devices/cam-1/events", r#"{"motion": true}"#),
            Some(token(&data_accepted)),
        );
        assert!(
            !data_accepted.load(Ordering::SeqCst),
            "waits for the commit"
        );
        assert_eq!(queue.len(), 1);
    }
}
