//! A session: what the broker remembers about a client id across connections, and the
//! in-flight window of QoS 1/2 messages towards it.

use hearth_bus::{Envelope, Principal};
use hearth_mqtt::{ProtocolVersion, QoS, SubscriptionOptions, Will};
use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, DefaultHasher};

/// Maps inside one session. Their keys come from that session's own client, so the
/// per-map random seed (16 bytes in every session) buys no HashDoS protection worth
/// having: a client flooding its own maps only slows itself.
pub(crate) type SessionMap<K, V> = HashMap<K, V, BuildHasherDefault<DefaultHasher>>;
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::event::ConnId;
use crate::connection::queue::{Delivery, OutItem, Outbound};
use crate::message::Message;

pub(crate) type SessionId = u64;

/// Where a session's messages go right now.
pub(crate) enum Link {
    /// A network connection is attached.
    Connected {
        conn: ConnId,
        outbound: Arc<Outbound>,
    },
    /// A persistent session whose client is away: QoS 1/2 messages queue up.
    Offline,
    /// A subscriber inside the hub (see `BrokerHandle::subscribe`).
    Local(mpsc::Sender<Envelope>),
}

/// One subscription as stored in the trie and in the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SubscriptionEntry {
    pub options: SubscriptionOptions,
    pub subscription_id: Option<u32>,
    /// Granted as `SubscribeVerdict::Filtered`: each delivery asks the authorizer's
    /// `may_receive` for the session's owner first. Unfiltered subscriptions cost the
    /// routing path nothing more than reading this flag.
    pub filtered: bool,
}

/// A message waiting for room in the in-flight window.
pub(crate) struct Queued {
    pub message: Arc<Message>,
    pub qos: QoS,
    pub retain: bool,
    pub subscription_ids: Vec<u32>,
    /// Order within the session: the send order, and the key of its durable record.
    pub seq: u64,
    /// Whether a durable record exists (to delete it once acknowledged).
    pub persisted: bool,
    /// Back-pressure: the publisher's PUBACK / PUBREC waits until this message moves
    /// into the window (see `Limits::queue_backpressure_at`).
    pub release: Option<hearth_bus::AckToken>,
}

impl Queued {
    /// Bytes this entry accounts for against `Limits::max_queued_bytes`.
    pub(crate) fn size(&self) -> usize {
        self.message.topic.len() + self.message.payload.len()
    }

    /// Lets the publisher's acknowledgement go: the message left the queue normally
    /// (into the window, expired, or its session ended).
    pub(crate) fn release(&mut self) {
        if let Some(token) = self.release.take() {
            token.accept();
        }
    }
}

/// A QoS 1/2 message sent and not yet fully acknowledged.
pub(crate) struct Inflight {
    pub queued: Queued,
    /// PUBREC received, PUBREL sent: only PUBCOMP is awaited.
    pub released: bool,
}

/// State of a QoS 2 message received from the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Incoming {
    /// Waiting for interceptors to make it durable before PUBREC.
    PendingDurable,
    /// PUBREC sent; waiting for PUBREL.
    Received,
}

pub(crate) struct Session {
    pub id: SessionId,
    pub client_id: Arc<str>,
    pub link: Link,
    pub protocol: ProtocolVersion,
    pub principal: Option<Principal>,
    /// Full filters (with any `$share/group/` prefix) and their options.
    pub subscriptions: SessionMap<Arc<str>, SubscriptionEntry>,
    pub inflight: SessionMap<u16, Inflight>,
    /// Next [`Queued::seq`].
    pub next_seq: u64,
    /// Whether the session has a durable record.
    pub persisted: bool,
    next_packet_id: u16,
    /// Change only through [`Session::enqueue`] and [`Session::dequeue`], which keep
    /// [`Session::queued_bytes`] right.
    pub queue: VecDeque<Queued>,
    pub queued_bytes: usize,
    pub incoming: SessionMap<u16, Incoming>,
    /// Seconds the session outlives its connection; `u32::MAX` forever.
    pub expiry: u32,
    /// Boxed: a will is rare and its properties make it large.
    pub will: Option<Box<Will>>,
    /// Bumped on every connect, so that timers set for an earlier connection are ignored.
    pub generation: u64,
    pub receive_maximum: u16,
    pub max_packet_size: u32,
    /// Last time the client acknowledged a message (or connected): a connected client
    /// that has not for `Limits::subscriber_stall_ms` is stalled and no longer holds
    /// publishers back.
    pub last_progress: Instant,
}

impl Session {
    pub(crate) fn new(id: SessionId, client_id: Arc<str>, link: Link) -> Session {
        Session {
            id,
            client_id,
            link,
            protocol: ProtocolVersion::V5,
            principal: None,
            subscriptions: SessionMap::default(),
            inflight: SessionMap::default(),
            next_seq: 0,
            persisted: false,
            next_packet_id: 1,
            queue: VecDeque::new(),
            queued_bytes: 0,
            incoming: SessionMap::default(),
            expiry: 0,
            will: None,
            generation: 0,
            receive_maximum: u16::MAX,
            max_packet_size: u32::MAX,
            last_progress: Instant::now(),
        }
    }

    pub(crate) fn outbound(&self) -> Option<&Arc<Outbound>> {
        match &self.link {
            Link::Connected { outbound, .. } => Some(outbound),
            _ => None,
        }
    }

    pub(crate) fn conn(&self) -> Option<ConnId> {
        match &self.link {
            Link::Connected { conn, .. } => Some(*conn),
            _ => None,
        }
    }

    /// Messages allowed in flight at once: the smaller of the client's Receive Maximum
    /// and the broker's own limit.
    pub(crate) fn window(&self, max_inflight: u16) -> usize {
        usize::from(self.receive_maximum.min(max_inflight).max(1))
    }

    /// A packet id not in use by an in-flight message.
    fn allocate_packet_id(&mut self) -> u16 {
        loop {
            let id = self.next_packet_id;
            self.next_packet_id = if id == u16::MAX { 1 } else { id + 1 };
            if !self.inflight.contains_key(&id) {
                return id;
            }
        }
    }

    /// Puts `queued` in flight and returns the item to write. The caller has checked
    /// that the window has room and a connection is attached.
    pub(crate) fn start_inflight(&mut self, mut queued: Queued) -> OutItem {
        queued.release();
        let packet_id = self.allocate_packet_id();
        let delivery = Delivery {
            message: queued.message.clone(),
            packet_id,
            qos: queued.qos,
            retain: queued.retain,
            dup: false,
            subscription_ids: queued.subscription_ids.clone(),
        };
        self.inflight.insert(
            packet_id,
            Inflight {
                queued,
                released: false,
            },
        );
        OutItem::Publish(delivery)
    }

    /// Everything in flight, in original order, for resending on a new connection:
    /// PUBLISH with DUP for those not yet acknowledged, PUBREL for those released.
    pub(crate) fn resend_items(&self) -> Vec<OutItem> {
        let mut inflight: Vec<(&u16, &Inflight)> = self.inflight.iter().collect();
        inflight.sort_unstable_by_key(|(_, inflight)| inflight.queued.seq);
        inflight
            .into_iter()
            .map(|(&packet_id, inflight)| {
                if inflight.released {
                    OutItem::Ack {
                        kind: crate::connection::queue::AckKind::PubRel,
                        packet_id,
                        reason: hearth_mqtt::ReasonCode::SUCCESS,
                    }
                } else {
                    OutItem::Publish(Delivery {
                        message: inflight.queued.message.clone(),
                        packet_id,
                        qos: inflight.queued.qos,
                        retain: inflight.queued.retain,
                        dup: true,
                        subscription_ids: inflight.queued.subscription_ids.clone(),
                    })
                }
            })
            .collect()
    }

    /// Connected and acknowledging: worth holding publishers back for.
    pub(crate) fn is_draining(&self, now: Instant, stall_after: std::time::Duration) -> bool {
        self.outbound().is_some() && now.saturating_duration_since(self.last_progress) < stall_after
    }

    /// Lets every publisher held back by this session's queue go.
    pub(crate) fn release_queue(&mut self) {
        for queued in self.queue.iter_mut() {
            queued.release();
        }
    }

    pub(crate) fn enqueue(&mut self, queued: Queued) {
        self.queued_bytes += queued.size();
        self.queue.push_back(queued);
    }

    pub(crate) fn dequeue(&mut self) -> Option<Queued> {
        let queued = self.queue.pop_front()?;
        self.queued_bytes -= queued.size();
        Some(queued)
    }

    pub(crate) fn take_seq(&mut self) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        seq
    }

    /// Persistent sessions keep their QoS 1/2 messages on disk.
    pub(crate) fn is_persistent(&self) -> bool {
        self.expiry > 0 && !matches!(self.link, Link::Local(_))
    }

    pub(crate) fn pending_messages(&self) -> usize {
        self.inflight.len() + self.queue.len()
    }
}
