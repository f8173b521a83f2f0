//! The router: one task that owns every session, subscription and retained message.
//!
//! Connections send [`Event`]s in; the router answers by appending to each
//! connection's [`Outbound`] queue. Owning all state in one task means no locks on the
//! routing path and a total order of events, which is what gives per-topic ordering,
//! exactly-once QoS 2 bookkeeping and race-free session takeover for free. The cost is
//! one hop per message; events are drained in batches and each touched connection is
//! woken once per batch, which keeps that hop cheap.
//!
//! # Layout
//! - `event`: what comes in.
//! - `session`: per-client state and the in-flight window.
//! - `connect`: connect, takeover, disconnect, wills, session expiry.
//! - `publish`: routing, retained messages, interceptors, acknowledgements.
//! - `flow`: back-pressure towards publishers that feed a slow subscriber.
//! - `subscribe`: subscriptions, shared subscriptions, in-process subscribers.
//! - `persist`: which changes become durable records; restoring them at start-up.
//! - `sys`: `$SYS/broker/...`.

mod admission;
mod connect;
pub(crate) mod event;
mod flow;
mod persist;
mod publish;
pub(crate) mod session;
mod subscribe;
mod sys;

use hearth_bus::{Authorizer, Interceptor};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::config::Limits;
use crate::connection::queue::{OutItem, Outbound};
use crate::message::Message;
use crate::stats::{SharedStats, StatsSnapshot};
use crate::topic::{RetainedStore, SubscriptionTrie};
use event::{ConnId, Control, Event};
use session::{Session, SessionId, SubscriptionEntry};
use subscribe::SharedGroup;

/// Events handled per wake-up before the router rings the touched connections.
const BATCH: usize = 512;

/// Timers the router keeps, ordered by deadline.
#[derive(Debug, Clone, Copy)]
enum Timer {
    /// Publish the will of a session if it is still disconnected in that generation.
    Will { session: SessionId, generation: u64 },
    /// End the session if it is still disconnected in that generation.
    Expire { session: SessionId, generation: u64 },
}

/// Counters only the router changes.
#[derive(Debug, Default)]
struct RouterStats {
    messages_received: u64,
    messages_sent: u64,
    dropped_qos0_backlog: u64,
    dropped_queue_full: u64,
    dropped_too_large: u64,
    expired: u64,
    publishers_paused: u64,
}

pub(crate) struct Router {
    limits: Limits,
    shared_stats: Arc<SharedStats>,
    stats: RouterStats,
    started: Instant,
    sys_interval: Option<Duration>,
    /// Boxed: the map keeps spare capacity, and an empty slot should cost a pointer, not a
    /// whole session.
    sessions: HashMap<SessionId, Box<Session>>,
    by_client_id: HashMap<Arc<str>, SessionId>,
    by_conn: HashMap<ConnId, SessionId>,
    next_session: SessionId,
    subscriptions: SubscriptionTrie<SubscriptionEntry>,
    shared_trie: SubscriptionTrie<()>,
    shared_groups: HashMap<u64, SharedGroup>,
    shared_index: HashMap<(Arc<str>, Arc<str>), u64>,
    next_shared_group: u64,
    retained: RetainedStore<Arc<Message>>,
    interceptors: Vec<(String, Arc<dyn Interceptor>)>,
    timers: BTreeMap<(Instant, u64), Timer>,
    next_timer: u64,
    /// Outbound queues written to in the current batch, to ring once at its end.
    to_ring: Vec<Arc<Outbound>>,
    /// Reused buffer of matches for one message (no allocation per publish).
    matches: Vec<publish::Match>,
    shared_hits: Vec<u64>,
    control_sender: mpsc::UnboundedSender<Control>,
    /// Set while routing a QoS 1/2 publish from a client, whose acknowledgement can be
    /// held back when a subscriber's queue is long.
    routing_client_publish: bool,
    /// Queue entries (session, seq) that the current publish's acknowledgement waits for.
    backpressure: Vec<(SessionId, u64)>,
    /// Sessions whose queue holds publishers back, checked on every tick for stalls.
    held_back_by: std::collections::HashSet<SessionId>,
    /// QoS 0 back-pressure: subscribers with a long write backlog, and the publishers
    /// paused (not read from) until it drains.
    pausing: HashMap<SessionId, flow::Pausing>,
    /// Subscribers that stalled while pausing others: they pause nobody until they
    /// drain again.
    stalled: std::collections::HashSet<SessionId>,
    /// `None` when broker state is not persisted.
    persistence: Option<persist::Persistence>,
    /// Asked again when a will is sent (the rights its owner had at CONNECT may be
    /// gone), and before each delivery on a filtered subscription.
    authorizer: Arc<dyn Authorizer>,
}

impl Router {
    pub(crate) fn new(
        limits: Limits,
        shared_stats: Arc<SharedStats>,
        sys_interval: Option<Duration>,
        control_sender: mpsc::UnboundedSender<Control>,
        persistence: Option<mpsc::UnboundedSender<crate::persist::writer::Batch>>,
        authorizer: Arc<dyn Authorizer>,
    ) -> Router {
        Router {
            limits,
            shared_stats,
            stats: RouterStats::default(),
            started: Instant::now(),
            sys_interval,
            sessions: HashMap::new(),
            by_client_id: HashMap::new(),
            by_conn: HashMap::new(),
            next_session: 1,
            subscriptions: SubscriptionTrie::new(),
            shared_trie: SubscriptionTrie::new(),
            shared_groups: HashMap::new(),
            shared_index: HashMap::new(),
            next_shared_group: 1,
            retained: RetainedStore::new(),
            interceptors: Vec::new(),
            timers: BTreeMap::new(),
            next_timer: 0,
            to_ring: Vec::new(),
            matches: Vec::new(),
            shared_hits: Vec::new(),
            control_sender,
            routing_client_publish: false,
            backpressure: Vec::new(),
            held_back_by: std::collections::HashSet::new(),
            pausing: HashMap::new(),
            stalled: std::collections::HashSet::new(),
            persistence: persistence.map(persist::Persistence::new),
            authorizer,
        }
    }

    /// Runs until a `Control::Shutdown` arrives or every sender is gone.
    pub(crate) async fn run(
        mut self,
        mut events: mpsc::Receiver<Event>,
        mut control: mpsc::UnboundedReceiver<Control>,
    ) {
        let mut batch = Vec::with_capacity(BATCH);
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut next_sys = Instant::now();
        loop {
            tokio::select! {
                biased;
                message = control.recv() => match message {
                    Some(Control::Shutdown) | None => break,
                    Some(message) => self.handle_control(message),
                },
                n = events.recv_many(&mut batch, BATCH) => {
                    if n == 0 {
                        break;
                    }
                    for event in batch.drain(..) {
                        self.handle_event(event);
                    }
                }
                _ = tick.tick() => {
                    let now = Instant::now();
                    self.fire_timers(now);
                    self.release_stalled(now);
                    self.release_stalled_backlogs(now);
                    if let Some(interval) = self.sys_interval
                        && now >= next_sys
                    {
                        self.publish_sys();
                        next_sys = now + interval;
                    }
                }
            }
            self.flush_persistence();
            self.ring_all();
        }
        self.shutdown();
        self.flush_persistence();
    }

    fn handle_event(&mut self, event: Event) {
        match event {
            Event::Connect(connect) => self.on_connect(*connect),
            Event::Publish { conn, publish } => self.on_client_publish(conn, publish),
            Event::PubAck { conn, packet_id } => self.on_puback(conn, packet_id),
            Event::PubRec {
                conn,
                packet_id,
                reason,
            } => self.on_pubrec(conn, packet_id, reason),
            Event::PubRel { conn, packet_id } => self.on_pubrel(conn, packet_id),
            Event::PubComp { conn, packet_id } => self.on_pubcomp(conn, packet_id),
            Event::Subscribe {
                conn,
                packet_id,
                requests,
                subscription_id,
            } => self.on_subscribe(conn, packet_id, requests, subscription_id),
            Event::Unsubscribe {
                conn,
                packet_id,
                filters,
            } => self.on_unsubscribe(conn, packet_id, filters),
            Event::Disconnect {
                conn,
                publish_will,
                session_expiry,
            } => self.on_disconnect(conn, publish_will, session_expiry),
            Event::Closed { conn } => self.on_closed(conn),
        }
    }

    fn handle_control(&mut self, message: Control) {
        match message {
            Control::AckReady {
                session,
                conn,
                packet_id,
                qos2,
                reason,
            } => self.on_ack_ready(session, conn, packet_id, qos2, reason),
            Control::Drained { conn } => self.on_drained(conn),
            Control::LocalPublish { envelope } => {
                let message = Arc::new(Message::from_envelope(envelope, Instant::now()));
                self.accept_message(message);
            }
            Control::LocalSubscribe {
                filter,
                capacity,
                retained,
                reply,
            } => self.local_subscribe(filter, capacity, retained, reply),
            Control::Intercept {
                filter,
                interceptor,
            } => self.interceptors.push((filter, interceptor)),
            Control::Kick {
                client_id,
                reason,
                reply,
            } => {
                let kicked = self.kick(&client_id, reason);
                let _ = reply.send(kicked);
            }
            Control::Stats { reply } => {
                let _ = reply.send(self.snapshot());
            }
            Control::Shutdown => {}
        }
    }

    /// Appends to a connection's queue and remembers to ring it at the end of the batch.
    fn push(&mut self, outbound: &Arc<Outbound>, item: OutItem) {
        if outbound.push(item) && outbound.mark_for_ring() {
            self.to_ring.push(outbound.clone());
        }
    }

    /// Pushes to the connection currently attached to `session`, if any.
    fn push_to_session(&mut self, session: SessionId, item: OutItem) {
        if let Some(outbound) = self
            .sessions
            .get(&session)
            .and_then(|session| session.outbound().cloned())
        {
            self.push(&outbound, item);
        }
    }

    fn ring_all(&mut self) {
        for outbound in self.to_ring.drain(..) {
            outbound.ring();
        }
    }

    fn add_timer(&mut self, at: Instant, timer: Timer) {
        self.next_timer += 1;
        self.timers.insert((at, self.next_timer), timer);
    }

    fn fire_timers(&mut self, now: Instant) {
        while let Some(entry) = self.timers.first_entry() {
            if entry.key().0 > now {
                break;
            }
            match entry.remove() {
                Timer::Will {
                    session,
                    generation,
                } => self.fire_will(session, generation),
                Timer::Expire {
                    session,
                    generation,
                } => self.fire_expiry(session, generation),
            }
        }
    }

    fn snapshot(&self) -> StatsSnapshot {
        use std::sync::atomic::Ordering::Relaxed;
        let shared = &self.shared_stats;
        let connected = self
            .sessions
            .values()
            .filter(|s| matches!(s.link, session::Link::Connected { .. }))
            .count();
        let network_sessions = self
            .sessions
            .values()
            .filter(|s| !matches!(s.link, session::Link::Local(_)))
            .count();
        StatsSnapshot {
            uptime_secs: self.started.elapsed().as_secs(),
            clients_connected: connected as u64,
            clients_total: shared.connections_total.load(Relaxed),
            clients_disconnected: (network_sessions - connected) as u64,
            sessions: network_sessions as u64,
            subscriptions: (self.subscriptions.len()
                + self
                    .shared_groups
                    .values()
                    .map(|g| g.members.len())
                    .sum::<usize>()) as u64,
            subscription_nodes: (self.subscriptions.node_count() + self.shared_trie.node_count())
                as u64,
            retained: self.retained.len() as u64,
            messages_received: self.stats.messages_received,
            messages_sent: self.stats.messages_sent,
            bytes_received: shared.bytes_received.load(Relaxed),
            bytes_sent: shared.bytes_sent.load(Relaxed),
            publish_denied: shared.publish_denied.load(Relaxed),
            subscribe_denied: shared.subscribe_denied.load(Relaxed),
            connect_refused: shared.connect_refused.load(Relaxed),
            protocol_errors: shared.protocol_errors.load(Relaxed),
            dropped_qos0_backlog: self.stats.dropped_qos0_backlog,
            dropped_queue_full: self.stats.dropped_queue_full,
            dropped_too_large: self.stats.dropped_too_large,
            expired: self.stats.expired,
            publishers_paused: self.stats.publishers_paused,
            rate_limited: shared.rate_limited.snapshot(),
            queued: self
                .sessions
                .values()
                .map(|s| s.pending_messages() as u64)
                .sum(),
        }
    }

    fn shutdown(&mut self) {
        let reason = hearth_mqtt::ReasonCode::SERVER_SHUTTING_DOWN;
        let outbounds: Vec<Arc<Outbound>> = self
            .sessions
            .values()
            .filter_map(|s| s.outbound().cloned())
            .collect();
        for outbound in outbounds {
            outbound.push_and_ring(OutItem::Close(reason));
        }
    }
}
