//! The queue between the router and one connection.
//!
//! The router must never wait for a client, so it only ever appends to this queue and
//! rings its bell; the connection's task drains it when its socket can take more. The
//! queue is a mutex-protected `VecDeque` rather than a channel because a channel
//! preallocates a block of slots per connection, and ten thousand idle connections
//! should cost next to nothing: an empty `VecDeque` owns no memory.

use hearth_mqtt::{Packet, QoS, ReasonCode};
use parking_lot::Mutex;
use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::Notify;

use crate::message::Message;

/// One thing for the connection to write.
#[derive(Debug)]
pub(crate) enum OutItem {
    /// An application message.
    Publish(Delivery),
    /// PUBACK/PUBREC/PUBREL/PUBCOMP without properties: the common case, kept small.
    Ack {
        kind: AckKind,
        packet_id: u16,
        reason: ReasonCode,
    },
    /// Any other packet (CONNACK, SUBACK, UNSUBACK, PINGRESP...).
    Control(Box<Packet>),
    /// Write a DISCONNECT with this reason (v5 only; 3.x has none) and close.
    Close(ReasonCode),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
// The variants are named after the packets they produce.
#[allow(clippy::enum_variant_names)]
pub(crate) enum AckKind {
    PubAck,
    PubRec,
    PubRel,
    PubComp,
}

/// A message on its way to one subscriber.
#[derive(Debug)]
pub(crate) struct Delivery {
    pub message: Arc<Message>,
    /// 0 for QoS 0.
    pub packet_id: u16,
    pub qos: QoS,
    pub retain: bool,
    pub dup: bool,
    pub subscription_ids: Vec<u32>,
}

/// Shared between the router (producer) and a connection task (consumer).
#[derive(Debug, Default)]
pub(crate) struct Outbound {
    // A parking_lot mutex: held for a push or a swap only, never across an await.
    items: Mutex<VecDeque<OutItem>>,
    bell: Notify,
    /// Whether `items` is non-empty, readable without the lock: the connection looks at
    /// it on every turn of its loop and takes the lock only when there is work.
    queued: AtomicBool,
    /// Set by the router when it has pushed since the last ring, so that a burst of
    /// messages for one connection rings once.
    pending_ring: AtomicBool,
    /// Set by the connection task when it stops, so producers stop queueing.
    closed: AtomicBool,
    /// Set by the router: this client publishes into a subscriber that cannot keep up,
    /// so its connection stops reading its socket until resumed (TCP then slows it).
    paused: AtomicBool,
    /// Set by the router when it paused publishers for this (subscriber's) queue: the
    /// connection reports the next time it has written everything out.
    pressured: AtomicBool,
}

impl Outbound {
    pub(crate) fn new() -> Arc<Outbound> {
        Arc::new(Outbound::default())
    }

    /// Appends without waking the connection; the caller rings later (see
    /// [`Outbound::mark_for_ring`]). Returns false when the connection has closed.
    pub(crate) fn push(&self, item: OutItem) -> bool {
        if self.closed.load(Ordering::Acquire) {
            return false;
        }
        self.items.lock().push_back(item);
        self.queued.store(true, Ordering::Release);
        true
    }

    /// Appends a QoS 0 message unless `backlog` items are already waiting: a client that
    /// stops reading loses QoS 0 messages instead of growing the hub's memory.
    pub(crate) fn push_bounded(&self, item: OutItem, backlog: usize) -> PushOutcome {
        if self.closed.load(Ordering::Acquire) {
            return PushOutcome::Closed;
        }
        let mut items = self.items.lock();
        if items.len() >= backlog {
            return PushOutcome::Full;
        }
        items.push_back(item);
        self.queued.store(true, Ordering::Release);
        PushOutcome::Queued(items.len())
    }

    /// Appends and wakes the connection at once.
    pub(crate) fn push_and_ring(&self, item: OutItem) {
        if self.push(item) {
            self.bell.notify_one();
        }
    }

    /// Returns true the first time it is called after a ring: the caller then remembers
    /// this queue and rings it once at the end of its batch.
    pub(crate) fn mark_for_ring(&self) -> bool {
        !self.pending_ring.swap(true, Ordering::AcqRel)
    }

    pub(crate) fn ring(&self) {
        self.pending_ring.store(false, Ordering::Release);
        self.bell.notify_one();
    }

    pub(crate) async fn wait(&self) {
        self.bell.notified().await
    }

    /// Whether anything waits to be drained. A push sets this before its ring, so a
    /// connection woken by the ring always sees it.
    pub(crate) fn has_queued(&self) -> bool {
        self.queued.load(Ordering::Acquire)
    }

    /// Moves everything queued into `into`, which the connection owns.
    pub(crate) fn drain_into(&self, into: &mut VecDeque<OutItem>) {
        let mut items = self.items.lock();
        self.queued.store(false, Ordering::Release);
        if into.is_empty() {
            std::mem::swap(&mut *items, into);
        } else {
            into.extend(items.drain(..));
        }
    }

    pub(crate) fn pause(&self) {
        self.paused.store(true, Ordering::Release);
    }

    /// Rings the same bell as a push: the connection re-checks everything on any wake-up.
    pub(crate) fn unpause(&self) {
        self.paused.store(false, Ordering::Release);
        self.bell.notify_one();
    }

    pub(crate) fn is_paused(&self) -> bool {
        self.paused.load(Ordering::Acquire)
    }

    pub(crate) fn set_pressured(&self) {
        self.pressured.store(true, Ordering::Release);
    }

    /// True once after the router set the flag: the caller reports the drain.
    pub(crate) fn take_pressured(&self) -> bool {
        // A plain load first: the swap writes a cache line the router also writes, and
        // this runs on every turn of the connection's loop.
        self.pressured.load(Ordering::Acquire) && self.pressured.swap(false, Ordering::AcqRel)
    }

    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.items.lock().clear();
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PushOutcome {
    /// Queued; the queue's length afterwards.
    Queued(usize),
    Full,
    Closed,
}
