//! The outbox's sender: one task that sends the notifications that are due through
//! their channels, records each attempt, and retries failures with back-off (1 s, 5 s,
//! 30 s, 2 min, 10 min, 30 min...) until [`MAX_ATTEMPTS`]. Being in the store before the
//! first attempt is what makes delivery survive a restart; a receiver that must not act
//! twice on a retry of one message uses its delivery id (sent with every attempt).
//!
//! With several Hearth nodes on one database (issue 21), every node would send the same
//! due notifications: only the coordinator (the lease holder, `crate::lease`) sends
//! ([`Delivery::start_gated`]); what the others write waits in the outbox for its poll.

use super::{Channels, Failure};
use crate::automations::engine::Clock;
use crate::lease::Leadership;
use hearth_model::{Millis, Notification, NotificationState};
use hearth_store::Store;
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

/// Attempts before a notification is given up as failed.
pub const MAX_ATTEMPTS: usize = 8;
/// Back-off after the n-th failed attempt (the last repeats).
const BACKOFF_SECS: [i64; 6] = [1, 5, 30, 120, 600, 1_800];
/// Notifications sent at once.
const BATCH: u32 = 32;
/// How often the outbox is looked at when nothing wakes the sender (notifications
/// written by another process, retries coming due).
const POLL: Duration = Duration::from_secs(1);

/// What the sender did, for `/metrics`.
#[derive(Debug, Default)]
pub struct DeliveryCounters {
    pub sent: AtomicU64,
    pub retried: AtomicU64,
    pub failed: AtomicU64,
}

/// The running sender. [`Delivery::wake`] after writing notifications sends them now.
#[derive(Clone)]
pub struct Delivery {
    wake: Arc<Notify>,
    stop: Arc<Notify>,
    counters: Arc<DeliveryCounters>,
    task: Arc<parking_lot::Mutex<Option<JoinHandle<()>>>>,
}

impl Delivery {
    /// A single hub's sender: always sends.
    pub fn start(store: Arc<dyn Store>, channels: Channels, clock: Arc<dyn Clock>) -> Delivery {
        Delivery::start_gated(store, channels, clock, Leadership::always())
    }

    /// A sender that sends only while `leadership` is held (the coordinator of several
    /// nodes); otherwise it leaves the outbox to the node that holds it.
    pub fn start_gated(
        store: Arc<dyn Store>,
        channels: Channels,
        clock: Arc<dyn Clock>,
        leadership: Leadership,
    ) -> Delivery {
        let wake = Arc::new(Notify::new());
        let stop = Arc::new(Notify::new());
        let counters = Arc::new(DeliveryCounters::default());
        let task = tokio::spawn(run(
            store,
            channels,
            clock,
            wake.clone(),
            stop.clone(),
            counters.clone(),
            leadership,
        ));
        Delivery {
            wake,
            stop,
            counters,
            task: Arc::new(parking_lot::Mutex::new(Some(task))),
        }
    }

    pub fn wake(&self) {
        self.wake.notify_one();
    }

    pub fn counters(&self) -> &Arc<DeliveryCounters> {
        &self.counters
    }

    /// Stops after the attempts in flight; what is pending stays pending.
    pub async fn shutdown(&self) {
        self.stop.notify_one();
        let task = self.task.lock().take();
        if let Some(task) = task {
            let _ = task.await;
        }
    }
}

async fn run(
    store: Arc<dyn Store>,
    channels: Channels,
    clock: Arc<dyn Clock>,
    wake: Arc<Notify>,
    stop: Arc<Notify>,
    counters: Arc<DeliveryCounters>,
    leadership: Leadership,
) {
    loop {
        let now_ms = clock.now_ms();
        let due = match leadership.is_held() {
            true => store.due_notifications(now_ms, BATCH).await,
            false => Ok(Vec::new()),
        };
        match due {
            Ok(due) => {
                let mut attempts = tokio::task::JoinSet::new();
                for notification in due {
                    let channel = channels.get(&notification.channel).cloned();
                    let store = store.clone();
                    let clock = clock.clone();
                    let counters = counters.clone();
                    attempts.spawn(async move {
                        attempt(&*store, channel, notification, &*clock, &counters).await;
                    });
                }
                while attempts.join_next().await.is_some() {}
            }
            Err(error) => tracing::warn!("the notification outbox is not readable: {error}"),
        }
        let next_tick = clock.sleep_until(clock.now_ms() + 1_000);
        tokio::select! {
            () = stop.notified() => return,
            () = wake.notified() => {}
            () = next_tick => {}
            () = tokio::time::sleep(POLL) => {}
        }
    }
}

/// One attempt of one notification, recorded.
async fn attempt(
    store: &dyn Store,
    channel: Option<Arc<dyn super::Channel>>,
    mut notification: Notification,
    clock: &dyn Clock,
    counters: &DeliveryCounters,
) {
    let at_ms = clock.now_ms();
    let outcome = match channel {
        Some(channel) => channel.deliver(&notification).await,
        None => Err(Failure::permanent(format!(
            "the {} channel is not configured on this hub",
            notification.channel
        ))),
    };
    match outcome {
        Ok(answer) => {
            notification
                .attempts
                .push(json!({"at_ms": at_ms, "ok": true, "answer": answer}));
            notification.state = NotificationState::Sent;
            counters.sent.fetch_add(1, Ordering::Relaxed);
        }
        Err(failure) => {
            notification
                .attempts
                .push(json!({"at_ms": at_ms, "ok": false, "error": failure.message}));
            let tries = notification.attempts.len();
            if failure.permanent || tries >= MAX_ATTEMPTS {
                notification.state = NotificationState::Failed;
                counters.failed.fetch_add(1, Ordering::Relaxed);
            } else {
                let wait = BACKOFF_SECS[(tries - 1).min(BACKOFF_SECS.len() - 1)];
                notification.next_attempt_at_ms = clock.now_ms() + wait * 1000 as Millis;
                counters.retried.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    if let Err(error) = store.update_notification(&notification).await {
        tracing::warn!(notification = %notification.id, "delivery not recorded: {error}");
    }
}
