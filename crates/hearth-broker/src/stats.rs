//! Counters every part of the broker bumps, read by `$SYS` and metrics.
//!
//! Connection tasks on every core touch the byte counters, so they are relaxed atomics;
//! everything the router alone changes lives in the router and is copied into a
//! [`StatsSnapshot`] on request.

use std::sync::atomic::{AtomicU64, Ordering};

/// Counters shared by connection tasks.
#[derive(Debug, Default)]
pub struct SharedStats {
    pub bytes_received: AtomicU64,
    pub bytes_sent: AtomicU64,
    pub packets_received: AtomicU64,
    pub packets_sent: AtomicU64,
    pub connections_current: AtomicU64,
    pub connections_total: AtomicU64,
    pub publish_denied: AtomicU64,
    pub subscribe_denied: AtomicU64,
    pub connect_refused: AtomicU64,
    pub protocol_errors: AtomicU64,
    /// Publishes and connections held back by `[mqtt.rate_limits]`.
    pub rate_limited: crate::rate_limit::Counters,
}

impl SharedStats {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

/// A point-in-time copy of every counter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    pub uptime_secs: u64,
    pub clients_connected: u64,
    pub clients_total: u64,
    pub clients_disconnected: u64,
    pub sessions: u64,
    pub subscriptions: u64,
    /// Nodes of the subscription indexes (ordinary and shared), roots included: what
    /// subscriptions cost in structure; back to its earlier value once they are gone.
    pub subscription_nodes: u64,
    pub retained: u64,
    pub messages_received: u64,
    pub messages_sent: u64,
    pub bytes_received: u64,
    pub bytes_sent: u64,
    pub publish_denied: u64,
    pub subscribe_denied: u64,
    pub connect_refused: u64,
    pub protocol_errors: u64,
    /// QoS 0 messages dropped because a client's write backlog was full.
    pub dropped_qos0_backlog: u64,
    /// QoS 1/2 messages dropped because a session queue was full.
    pub dropped_queue_full: u64,
    /// Messages not delivered because they exceed the client's Maximum Packet Size.
    pub dropped_too_large: u64,
    /// Messages that expired before they could be delivered.
    pub expired: u64,
    /// Messages queued for sessions, in flight or waiting.
    pub queued: u64,
    /// Times a publisher was paused because a subscriber's backlog was long.
    pub publishers_paused: u64,
    /// Publishes and connections held back by `[mqtt.rate_limits]`, by kind and reason.
    pub rate_limited: Vec<crate::rate_limit::RateLimitedCount>,
}
