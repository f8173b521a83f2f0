//! From the home broker into the queue: an interceptor on the bridged topics and the
//! writer task that appends everything waiting in one transaction (group commit) and
//! only then lets the broker acknowledge, so that a home PUBACK means "on disk for the
//! cloud". QoS 0 messages hold nobody: they are queued when there is room in memory,
//! else dropped and counted.

use super::queue::{BridgeQueue, NewMessage};
use hearth_bus::{AckToken, Envelope, Interceptor, Qos};
use parking_lot::Mutex;
use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::Notify;

/// QoS 0 messages waiting for the writer, at most (beyond: dropped, counted).
const MAX_QOS0_BACKLOG: usize = 10_000;
/// Messages appended in one transaction, at most.
const MAX_BATCH: usize = 4096;

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
}

impl Inbox {
    pub fn new(filters: Vec<String>) -> Arc<Inbox> {
        Arc::new(Inbox {
            items: Mutex::new(VecDeque::new()),
            ready: Notify::new(),
            committed: Arc::new(Notify::new()),
            qos0_dropped: AtomicU64::new(0),
            failed_batches: AtomicU64::new(0),
            filters,
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

    fn push(&self, message: &Envelope, ack: Option<AckToken>) {
        let item = NewMessage {
            topic: message.topic.clone(),
            payload: message.payload.clone(),
            received_at_ms: message.received_at_ms.unwrap_or_else(hearth_model::now_millis),
            qos: match message.qos {
                Qos::AtMostOnce => 0,
                Qos::AtLeastOnce => 1,
                Qos::ExactlyOnce => 2,
            },
        };
        {
            let mut items = self.items.lock();
            if ack.is_none() && items.len() >= MAX_QOS0_BACKLOG {
                drop(items);
                self.qos0_dropped.fetch_add(1, Ordering::Relaxed);
                return;
            }
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
            let appending = queue.clone();
            let result = tokio::task::spawn_blocking(move || appending.append(&messages)).await;
            match result {
                Ok(Ok(queued)) => {
                    for (token, queued) in tokens.into_iter().zip(queued) {
                        // Refused (queue full, `refuse`): dropping the token makes the
                        // broker answer with a failure, so the device sends it again.
                        if let (Some(token), true) = (token, queued) {
                            token.accept();
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

impl Interceptor for FilterInterceptor {
    fn intercept(&self, message: &Envelope, ack: Option<AckToken>) {
        let earlier = &self.inbox.filters[..self.index];
        if earlier.iter().any(|filter| matches(filter, &message.topic)) {
            if let Some(token) = ack {
                token.accept();
            }
            return;
        }
        self.inbox.push(message, ack);
    }
}

/// Whether `topic` matches the MQTT filter `filter` (`+` one level, `#` the rest).
pub fn matches(filter: &str, topic: &str) -> bool {
    let mut levels = topic.split('/');
    for part in filter.split('/') {
        match part {
            "#" => return true,
            "+" => {
                if levels.next().is_none() {
                    return false;
                }
            }
            _ => {
                if levels.next() != Some(part) {
                    return false;
                }
            }
        }
    }
    levels.next().is_none()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bridge::queue::{Overflow, QueueLimits};
    use std::sync::atomic::AtomicBool;

    fn token(seen: &Arc<Mutex<Vec<(String, bool)>>>, name: &str) -> AckToken {
        let seen = seen.clone();
        let name = name.to_owned();
        AckToken::new(move |ok| seen.lock().push((name, ok)))
    }

    #[test]
    fn filters_match_as_mqtt_does() {
        assert!(matches("devices/+/data", "devices/d1/data"));
        assert!(!matches("devices/+/data", "devices/d1/data/x"));
        assert!(matches(
            "devices/+/commands/+/ack",
            "devices/d1/commands/c/ack"
        ));
        assert!(matches("devices/#", "devices/d1/commands/c/ack"));
        assert!(!matches("devices/+/data", "devices/d1"));
    }

    #[tokio::test]
    async fn tokens_are_accepted_after_the_commit_and_refused_when_full() {
        let dir = tempfile::tempdir().unwrap();
        let limits = QueueLimits {
            max_messages: 2,
            max_bytes: 1 << 20,
            overflow: Overflow::Refuse,
        };
        let queue = Arc::new(BridgeQueue::open(&dir.path().join("bridge.redb"), limits).unwrap());
        let inbox = Inbox::new(vec!["devices/+/data".into(), "devices/#".into()]);
        let interceptors = inbox.interceptors();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let qos1 = |topic: &str| Envelope::new(topic.to_owned(), "{}").with_qos(Qos::AtLeastOnce);
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
        interceptors[1]
            .1
            .intercept(&qos1("devices/d1/status"), Some(token(&seen, "c")));
        interceptors[0]
            .1
            .intercept(&Envelope::new("devices/d2/data", "{}"), None);
        assert_eq!(*seen.lock(), vec![("a-again".to_owned(), true)]);
        assert!(queue.is_empty(), "nothing accepted before the commit");

        let stop = Arc::new(AtomicBool::new(true));
        inbox.clone().run_writer(queue.clone(), stop).await;
        let mut seen = seen.lock().clone();
        seen.sort();
        assert_eq!(
            seen,
            vec![
                ("a".to_owned(), true),
                ("a-again".to_owned(), true),
                ("b".to_owned(), true),
                ("c".to_owned(), false)
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
}
