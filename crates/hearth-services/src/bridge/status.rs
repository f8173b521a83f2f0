//! What the bridge reports: the link's state and the queue's, for `GET /api/v1/bridge`
//! and `/metrics`.

use super::intercept::Inbox;
use super::queue::BridgeQueue;
use parking_lot::Mutex;
use serde::Serialize;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// A snapshot of the bridge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BridgeStatus {
    /// The site id this hub is in the cloud.
    pub site: String,
    /// The cloud's address (`mqtt[s]://host:port`).
    pub url: String,
    /// Whether the link to the cloud is connected now.
    pub up: bool,
    /// Since when the link is down (epoch ms); `None` while up.
    pub down_since_ms: Option<i64>,
    /// Messages and bytes waiting in the queue for the cloud's acknowledgement.
    pub queued_messages: u64,
    pub queued_bytes: u64,
    pub queue_max_messages: u64,
    pub queue_max_bytes: u64,
    /// `drop-oldest` or `refuse`.
    pub overflow: String,
    /// Since the hub started: messages queued, sent to the cloud (each attempt),
    /// acknowledged by the cloud, dropped (overflow, too large, QoS 0 backlog), refused
    /// (`refuse` while full), rejected by the cloud (not authorized, invalid topic...).
    pub queued_total: u64,
    pub sent_total: u64,
    pub acked_total: u64,
    pub dropped_total: u64,
    pub refused_total: u64,
    pub rejected_total: u64,
    /// Commands from the cloud published to home devices.
    pub commands_total: u64,
    /// Successful connections to the cloud.
    pub connects_total: u64,
    /// When the cloud last acknowledged a message (epoch ms).
    pub last_sent_at_ms: Option<i64>,
    /// The registry mirror (revision, last_sync_ms, conflicts...); `None` without one.
    pub mirror: Option<super::MirrorStatus>,
}

/// The link's live state, shared by the link task and the readers.
#[derive(Debug, Default)]
pub struct LinkState {
    pub(crate) link: Mutex<LinkFlags>,
    pub(crate) sent: AtomicU64,
    pub(crate) acked: AtomicU64,
    pub(crate) rejected: AtomicU64,
    pub(crate) commands: AtomicU64,
    pub(crate) connects: AtomicU64,
}

#[derive(Debug, Default)]
pub(crate) struct LinkFlags {
    pub up: bool,
    pub down_since_ms: Option<i64>,
    pub last_sent_at_ms: Option<i64>,
}

impl LinkState {
    pub(crate) fn new() -> LinkState {
        LinkState {
            link: Mutex::new(LinkFlags {
                up: false,
                down_since_ms: Some(hearth_model::now_millis()),
                last_sent_at_ms: None,
            }),
            ..LinkState::default()
        }
    }

    pub(crate) fn set_up(&self, up: bool) {
        let mut link = self.link.lock();
        if up {
            link.up = true;
            link.down_since_ms = None;
        } else if link.up || link.down_since_ms.is_none() {
            link.up = false;
            link.down_since_ms = Some(hearth_model::now_millis());
        }
    }
}

/// Reads a [`BridgeStatus`] whenever asked.
#[derive(Clone)]
pub struct StatusReader {
    pub(crate) site: String,
    pub(crate) url: String,
    /// Weak: a reader kept by the API must not hold the queue's file open after the
    /// bridge stopped (a restarted hub opens it again).
    pub(crate) queue: std::sync::Weak<BridgeQueue>,
    pub(crate) limits: super::QueueLimits,
    pub(crate) inbox: Arc<Inbox>,
    pub(crate) link: Arc<LinkState>,
    pub(crate) mirror: Option<Arc<super::Mirror>>,
}

impl StatusReader {
    pub fn status(&self) -> BridgeStatus {
        let link = self.link.link.lock();
        let (up, down_since_ms, last_sent_at_ms) =
            (link.up, link.down_since_ms, link.last_sent_at_ms);
        drop(link);
        let queue = self.queue.upgrade();
        let (queued_messages, queued_bytes, appended, dropped, refused) = match &queue {
            Some(queue) => (
                queue.len(),
                queue.bytes(),
                queue.counters.appended.load(Ordering::Relaxed),
                queue.counters.dropped.load(Ordering::Relaxed),
                queue.counters.refused.load(Ordering::Relaxed),
            ),
            None => (0, 0, 0, 0, 0),
        };
        let limits = self.limits;
        BridgeStatus {
            site: self.site.clone(),
            url: self.url.clone(),
            up,
            down_since_ms,
            queued_messages,
            queued_bytes,
            queue_max_messages: limits.max_messages,
            queue_max_bytes: limits.max_bytes,
            overflow: match limits.overflow {
                super::Overflow::DropOldest => "drop-oldest".into(),
                super::Overflow::Refuse => "refuse".into(),
            },
            queued_total: appended,
            sent_total: self.link.sent.load(Ordering::Relaxed),
            acked_total: self.link.acked.load(Ordering::Relaxed),
            dropped_total: dropped + self.inbox.qos0_dropped.load(Ordering::Relaxed),
            refused_total: refused,
            rejected_total: self.link.rejected.load(Ordering::Relaxed),
            commands_total: self.link.commands.load(Ordering::Relaxed),
            connects_total: self.link.connects.load(Ordering::Relaxed),
            last_sent_at_ms,
            mirror: self.mirror.as_ref().map(|mirror| mirror.status()),
        }
    }
}
