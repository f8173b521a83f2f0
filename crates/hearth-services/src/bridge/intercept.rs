//! From the home broker into the queue: an interceptor on the bridged topics and the
//! writer task that appends everything waiting in one transaction (group commit) and
//! only then lets the broker acknowledge, so that a home PUBACK means "on disk for the
//! cloud". QoS 0 messages hold nobody: they are queued when there is room in memory,
//! else dropped and counted.
//!
//! Under `overflow = "refuse"` a full queue refuses a QoS 1/2 publish on admission
//! (before the broker routes it or ingest sees it) with MQTT 5 reason 0x97 "quota
//! exceeded", so that the device's resend is the only copy stored at home too. The
//! count it checks is exact: what is queued plus what waits for the writer (the router
//! asks and hands over one message at a time).

use super::queue::{BridgeQueue, NewMessage, Overflow, record_size};
use super::topics::matches;
use hearth_bus::{AckToken, Envelope, Interceptor, Qos};
use parking_lot::Mutex;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use tokio::sync::Notify;

/// QoS 0 messages waiting for the writer, at most (beyond: dropped, counted).
const MAX_QOS0_BACKLOG: usize = 10_000;
/// Messages appended in one transaction, at most.
const MAX_BATCH: usize = 4096;
/// MQTT 5 "quota exceeded": the queue is full under `refuse`.
pub const QUOTA_EXCEEDED: u8 = 0x97;

/// Messages waiting for the writer.
pub struct Inbox {
    items: Mutex<VecDeque<(NewMessage, Option<AckToken>)>>,
    ready: Notify,
    /// Rung after each commit (the link waits on it for new messages).
    pub committed: Arc<Notify>,
    /// QoS 0 messages dropped because the writer was behind.
    pub qos0_dropped: AtomicU64,
    /// Batches that failed to commit (their QoS 1/2 publishers were refused).
    pub failed_batches: AtomicU64,
    filters: Vec<String>,
    /// Weak, as the status reader's: the inbox lives as long as the bus's interceptors
    /// and readers, which must not keep the queue's file open after the bridge stopped.
    queue: Weak<BridgeQueue>,
    /// Messages and record bytes handed over and not yet committed (or refused): with
    /// the queue's own count, what admission under `refuse` checks.
    pending: AtomicU64,
    pending_bytes: AtomicU64,
}

impl Inbox {
    /// An inbox for the outbound home filters `filters`, writing into `queue`.
    pub fn new(filters: Vec<String>, queue: &Arc<BridgeQueue>) -> Arc<Inbox> {
        Arc::new(Inbox {
            items: Mutex::new(VecDeque::new()),
            ready: Notify::new(),
            committed: Arc::new(Notify::new()),
            qos0_dropped: AtomicU64::new(0),
            failed_batches: AtomicU64::new(0),
            filters,
            queue: Arc::downgrade(queue),
            pending: AtomicU64::new(0),
            pending_bytes: AtomicU64::new(0),
        })
    }

    /// One interceptor per bridged filter, to register on the bus. A message matching
    /// several filters is taken by the first only.
    pub fn interceptors(self: &Arc<Inbox>) -> Vec<(String, Arc<dyn Interceptor>)> {
        (0..self.filters.len())
            .map(|index| {
                let interceptor: Arc<dyn Interceptor> = Arc::new(FilterInterceptor {
                    inbox: self.clone(),
                    index,
                });
                (self.filters[index].clone(), interceptor)
            })
            .collect()
    }

    fn new_message(message: &Envelope) -> NewMessage {
        NewMessage {
            topic: message.topic.clone(),
            payload: message.payload.clone(),
            received_at_ms: message
                .received_at_ms
                .unwrap_or_else(hearth_model::now_millis),
            qos: match message.qos {
                Qos::AtMostOnce => 0,
                Qos::AtLeastOnce => 1,
                Qos::ExactlyOnce => 2,
            },
        }
    }

    /// Under `refuse`: whether the queue (with what waits for the writer) has room for
    /// `message`; a refusal is counted. A record larger than the queue may ever hold is
    /// admitted and dropped by the queue (counted there), as under `drop-oldest`.
    fn admit(&self, message: &Envelope) -> Result<(), u8> {
        let Some(queue) = self.queue.upgrade() else {
            return Ok(());
        };
        let limits = queue.limits();
        if limits.overflow != Overflow::Refuse {
            return Ok(());
        }
        let size = record_size(&Inbox::new_message(message));
        let count = queue.len() + self.pending.load(Ordering::Acquire);
        let bytes = queue.bytes() + self.pending_bytes.load(Ordering::Acquire);
        if size <= limits.max_bytes
            && (count >= limits.max_messages || bytes + size > limits.max_bytes)
        {
            queue.counters.refused.fetch_add(1, Ordering::Relaxed);
            return Err(QUOTA_EXCEEDED);
        }
        Ok(())
    }

    fn push(&self, message: &Envelope, ack: Option<AckToken>) {
        let item = Inbox::new_message(message);
        {
            let mut items = self.items.lock();
            if ack.is_none() && items.len() >= MAX_QOS0_BACKLOG {
                drop(items);
                self.qos0_dropped.fetch_add(1, Ordering::Relaxed);
                return;
            }
            self.pending.fetch_add(1, Ordering::AcqRel);
            self.pending_bytes
                .fetch_add(record_size(&item), Ordering::AcqRel);
            items.push_back((item, ack));
        }
        self.ready.notify_one();
    }

    /// Appends what is waiting, batch after batch, until `stop` is set and nothing is
    /// left. Runs on its own task; the appends on the blocking pool.
    pub async fn run_writer(
        self: Arc<Inbox>,
        queue: Arc<BridgeQueue>,
        stop: Arc<std::sync::atomic::AtomicBool>,
    ) {
        loop {
            let batch: Vec<_> = {
                let mut items = self.items.lock();
                let n = items.len().min(MAX_BATCH);
                items.drain(..n).collect()
            };
            if batch.is_empty() {
                if stop.load(Ordering::Acquire) {
                    return;
                }
                // Wakes on a push, or re-checks `stop` now and then.
                let _ = tokio::time::timeout(
                    std::time::Duration::from_millis(200),
                    self.ready.notified(),
                )
                .await;
                continue;
            }
            let (messages, tokens): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
            let count = messages.len() as u64;
            let bytes: u64 = messages.iter().map(record_size).sum();
            let appending = queue.clone();
            let result = tokio::task::spawn_blocking(move || appending.append(&messages)).await;
            // Committed (now in the queue's count) or failed: no longer pending. Before
            // the tokens, so that a device's next publish is admitted on exact counts.
            self.pending.fetch_sub(count, Ordering::AcqRel);
            self.pending_bytes.fetch_sub(bytes, Ordering::AcqRel);
            match result {
                Ok(Ok(queued)) => {
                    let refuse = queue.limits().overflow == Overflow::Refuse;
                    for (token, queued) in tokens.into_iter().zip(queued) {
                        match (token, queued) {
                            (Some(token), true) => token.accept(),
                            // Full under `refuse` (a race admission cannot see, e.g. a
                            // QoS 0 burst): the device sends it again later.
                            (Some(token), false) if refuse => token.refuse(QUOTA_EXCEEDED),
                            _ => {}
                        }
                    }
                    self.committed.notify_one();
                }
                Ok(Err(error)) => {
                    self.failed_batches.fetch_add(1, Ordering::Relaxed);
                    tracing::error!(%error, "bridge queue: a batch failed to commit");
                }
                Err(error) => {
                    self.failed_batches.fetch_add(1, Ordering::Relaxed);
                    tracing::error!(%error, "bridge queue: the append task failed");
                }
            }
        }
    }
}

struct FilterInterceptor {
    inbox: Arc<Inbox>,
    index: usize,
}

impl FilterInterceptor {
    /// Whether an earlier filter takes `topic` (then this one lets it pass).
    fn earlier_takes(&self, topic: &str) -> bool {
        let earlier = &self.inbox.filters[..self.index];
        earlier.iter().any(|filter| matches(filter, topic))
    }
}

impl Interceptor for FilterInterceptor {
    fn admit(&self, message: &Envelope) -> Result<(), u8> {
        if self.earlier_takes(&message.topic) {
            return Ok(());
        }
        self.inbox.admit(message)
    }

    fn intercept(&self, message: &Envelope, ack: Option<AckToken>) {
        if self.earlier_takes(&message.topic) {
            if let Some(token) = ack {
                token.accept();
            }
            return;
        }
        self.inbox.push(message, ack);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bridge::queue::QueueLimits;
    use std::sync::atomic::AtomicBool;

    type Seen = Arc<Mutex<Vec<(String, Result<(), u8>)>>>;

    fn token(seen: &Seen, name: &str) -> AckToken {
        let seen = seen.clone();
        let name = name.to_owned();
        AckToken::with_reason(move |result| seen.lock().push((name, result)))
    }

    fn queue(dir: &tempfile::TempDir, overflow: Overflow) -> Arc<BridgeQueue> {
        let limits = QueueLimits {
            max_messages: 2,
            max_bytes: 1 << 20,
            overflow,
        };
        Arc::new(BridgeQueue::open(&dir.path().join("bridge.redb"), limits).unwrap())
    }

    fn qos1(topic: &str) -> Envelope {
        Envelope::new(topic.to_owned(), "{}").with_qos(Qos::AtLeastOnce)
    }

    #[tokio::test]
    async fn tokens_are_accepted_after_the_commit_and_refused_with_0x97_when_full() {
        let dir = tempfile::tempdir().unwrap();
        let queue = queue(&dir, Overflow::Refuse);
        let inbox = Inbox::new(vec!["devices/+/data".into(), "devices/#".into()], &queue);
        let interceptors = inbox.interceptors();
        let seen = Seen::default();
        // Matches both filters: queued once, by the first; the second accepts at once.
        interceptors[0]
            .1
            .intercept(&qos1("devices/d1/data"), Some(token(&seen, "a")));
        interceptors[1]
            .1
            .intercept(&qos1("devices/d1/data"), Some(token(&seen, "a-again")));
        interceptors[1]
            .1
            .intercept(&qos1("devices/d1/events"), Some(token(&seen, "b")));
        // Past admission (as in a race admission cannot see): refused by the queue.
        interceptors[1]
            .1
            .intercept(&qos1("devices/d1/status"), Some(token(&seen, "c")));
        interceptors[0]
            .1
            .intercept(&Envelope::new("devices/d2/data", "{}"), None);
        assert_eq!(*seen.lock(), vec![("a-again".to_owned(), Ok(()))]);
        assert!(queue.is_empty(), "nothing accepted before the commit");

        let stop = Arc::new(AtomicBool::new(true));
        inbox.clone().run_writer(queue.clone(), stop).await;
        let mut seen = seen.lock().clone();
        seen.sort();
        assert_eq!(
            seen,
            vec![
                ("a".to_owned(), Ok(())),
                ("a-again".to_owned(), Ok(())),
                ("b".to_owned(), Ok(())),
                ("c".to_owned(), Err(QUOTA_EXCEEDED))
            ]
        );
        let queued: Vec<_> = queue
            .read(None, 10)
            .unwrap()
            .into_iter()
            .map(|q| q.message.topic.to_string())
            .collect();
        assert_eq!(queued, vec!["devices/d1/data", "devices/d1/events"]);
        assert_eq!(
            queue.counters.refused.load(Ordering::Relaxed),
            2,
            "c and the QoS 0"
        );
    }

    #[tokio::test]
    async fn admission_counts_what_waits_for_the_writer_and_only_under_refuse() {
        let dir = tempfile::tempdir().unwrap();
        let queue = queue(&dir, Overflow::Refuse);
        let inbox = Inbox::new(vec!["devices/#".into()], &queue);
        let (_, interceptor) = inbox.interceptors().remove(0);
        let seen = Seen::default();
        for name in ["a", "b"] {
            let message = qos1(&format!("devices/{name}/data"));
            assert_eq!(interceptor.admit(&message), Ok(()));
            interceptor.intercept(&message, Some(token(&seen, name)));
        }
        // Two wait for the writer, none queued yet: full all the same.
        assert_eq!(
            interceptor.admit(&qos1("devices/c/data")),
            Err(QUOTA_EXCEEDED)
        );
        inbox
            .clone()
            .run_writer(queue.clone(), Arc::new(AtomicBool::new(true)))
            .await;
        assert_eq!(queue.len(), 2);
        assert_eq!(
            interceptor.admit(&qos1("devices/c/data")),
            Err(QUOTA_EXCEEDED)
        );
        assert_eq!(queue.counters.refused.load(Ordering::Relaxed), 2);
        queue
            .remove(&[queue.read(None, 1).unwrap()[0].seq])
            .unwrap();
        assert_eq!(
            interceptor.admit(&qos1("devices/c/data")),
            Ok(()),
            "room again"
        );

        let dir = tempfile::tempdir().unwrap();
        let queue = self::queue(&dir, Overflow::DropOldest);
        let inbox = Inbox::new(vec!["devices/#".into()], &queue);
        let (_, interceptor) = inbox.interceptors().remove(0);
        for name in ["a", "b", "c"] {
            let message = qos1(&format!("devices/{name}/data"));
            assert_eq!(
                interceptor.admit(&message),
                Ok(()),
                "drop-oldest admits all"
            );
            interceptor.intercept(&message, None);
        }
    }
}
