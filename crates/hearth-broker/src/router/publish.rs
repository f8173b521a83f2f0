//! Routing: from one accepted message to every matching subscriber, plus retained
//! messages, interceptors and the acknowledgements of both directions.

use hearth_bus::AckToken;
use hearth_mqtt::{Publish, QoS, ReasonCode};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use tokio::time::Instant;

use super::Router;
use super::event::{ConnId, Control};
use super::session::{Incoming, Link, Queued, SessionId, SubscriptionEntry};
use super::subscribe::owner_may_receive;
use crate::config::QueueFullPolicy;
use crate::connection::queue::{AckKind, Delivery, OutItem, PushOutcome};
use crate::message::Message;

/// One subscription that matched a message.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Match {
    session: SessionId,
    qos: QoS,
    retain_as_published: bool,
    subscription_id: Option<u32>,
}

impl Match {
    pub(super) fn new(session: SessionId, entry: SubscriptionEntry) -> Match {
        Match {
            session,
            qos: entry.options.qos,
            retain_as_published: entry.options.retain_as_published,
            subscription_id: entry.subscription_id,
        }
    }
}

impl Router {
    pub(super) fn on_client_publish(&mut self, conn: ConnId, publish: Publish) {
        let Some(&session_id) = self.by_conn.get(&conn) else {
            return;
        };
        let Some(session) = self.sessions.get_mut(&session_id) else {
            return;
        };
        let qos = publish.qos;
        let packet_id = publish.packet_id;
        if qos == QoS::ExactlyOnce {
            match session.incoming.get(&packet_id) {
                // A resent QoS 2 message we already have: exactly once means not routing
                // it again, only repeating the PUBREC (or waiting for the pending one).
                Some(Incoming::Received) => {
                    self.push_ack(session_id, AckKind::PubRec, packet_id, ReasonCode::SUCCESS);
                    return;
                }
                Some(Incoming::PendingDurable) => return,
                None => {}
            }
        }
        let client_id = session.client_id.clone();
        let principal = session.principal.clone();
        let message = Arc::new(Message::from_publish(
            publish,
            Some(session_id),
            Some(client_id),
            principal,
            Instant::now(),
        ));
        if qos != QoS::AtMostOnce
            && let Some(reason) = self.refused_on_admission(&message)
        {
            self.refuse_publish(session_id, qos, packet_id, reason);
            return;
        }
        // Route (and persist) first: the acknowledgement may have to wait for both the
        // store and the interceptors.
        self.routing_client_publish = qos != QoS::AtMostOnce;
        let durable = self.accept_message(message.clone());
        self.routing_client_publish = false;
        let held = self.hold_acknowledgement(&message, session_id, conn, packet_id, durable);
        if !held {
            match qos {
                QoS::AtMostOnce => {}
                QoS::AtLeastOnce => {
                    self.push_ack(session_id, AckKind::PubAck, packet_id, ReasonCode::SUCCESS)
                }
                QoS::ExactlyOnce => {
                    if let Some(session) = self.sessions.get_mut(&session_id) {
                        session.incoming.insert(packet_id, Incoming::Received);
                    }
                    self.push_ack(session_id, AckKind::PubRec, packet_id, ReasonCode::SUCCESS);
                }
            }
        } else if qos == QoS::ExactlyOnce
            && let Some(session) = self.sessions.get_mut(&session_id)
        {
            session.incoming.insert(packet_id, Incoming::PendingDurable);
        }
    }

    /// Hands a message nobody waits to have acknowledged (a will) to every matching
    /// interceptor.
    pub(super) fn offer_unacknowledged(&self, message: &Arc<Message>) {
        let mut matching = self
            .interceptors
            .iter()
            .filter(|(filter, _)| crate::topic::matches(filter, &message.topic))
            .peekable();
        if matching.peek().is_some() {
            let envelope = message.to_received_envelope();
            for (_, interceptor) in matching {
                interceptor.intercept(&envelope, None);
            }
        }
    }

    /// Hands the message to every matching interceptor and decides whether its
    /// acknowledgement waits: for the interceptors to accept it, and for the store when
    /// routing it wrote something durable. Returns true when the acknowledgement is held.
    fn hold_acknowledgement(
        &mut self,
        message: &Arc<Message>,
        session: SessionId,
        conn: ConnId,
        packet_id: u16,
        durable: bool,
    ) -> bool {
        let matching: Vec<_> = if self.interceptors.is_empty() {
            Vec::new()
        } else {
            self.interceptors
                .iter()
                .filter(|(filter, _)| crate::topic::matches(filter, &message.topic))
                .map(|(_, interceptor)| interceptor.clone())
                .collect()
        };
        if message.qos == QoS::AtMostOnce {
            if !matching.is_empty() {
                let envelope = message.to_received_envelope();
                for interceptor in matching {
                    interceptor.intercept(&envelope, None);
                }
            }
            return false;
        }
        let waiting = std::mem::take(&mut self.backpressure);
        let holders = matching.len() + usize::from(durable) + waiting.len();
        if holders == 0 {
            return false;
        }
        let remaining = Arc::new(AtomicUsize::new(holders));
        // The publisher's reason code: 0 while nobody refused; a specific refusal (say,
        // 0x97 quota exceeded) wins over an unspecified one.
        let refusal = Arc::new(AtomicU8::new(0));
        let qos2 = message.qos == QoS::ExactlyOnce;
        let control = self.control_sender.clone();
        let token = move || {
            let remaining = remaining.clone();
            let refusal = refusal.clone();
            let control = control.clone();
            AckToken::with_reason(move |result| {
                if let Err(reason) = result {
                    let _ = refusal.fetch_update(Ordering::AcqRel, Ordering::Acquire, |now| {
                        (now == 0 || now == ReasonCode::UNSPECIFIED_ERROR.0).then_some(reason)
                    });
                }
                if remaining.fetch_sub(1, Ordering::AcqRel) == 1 {
                    let reason = ReasonCode(refusal.load(Ordering::Acquire));
                    let _ = control.send(Control::AckReady {
                        session,
                        conn,
                        packet_id,
                        qos2,
                        reason,
                    });
                }
            })
        };
        if !matching.is_empty() {
            let envelope = message.to_received_envelope();
            for interceptor in matching {
                interceptor.intercept(&envelope, Some(token()));
            }
        }
        if durable {
            self.push_durability_token(token());
        }
        for (session_id, seq) in waiting {
            let queued = self.sessions.get_mut(&session_id).and_then(|session| {
                session
                    .queue
                    .iter_mut()
                    .rev()
                    .find(|queued| queued.seq == seq)
            });
            match queued {
                Some(queued) => queued.release = Some(token()),
                // Already gone (window opened in the same pass): nothing to wait for.
                None => token().accept(),
            }
        }
        true
    }

    /// Every interceptor has answered for a held message: acknowledge it now (or report
    /// the failure so the client sends it again).
    pub(super) fn on_ack_ready(
        &mut self,
        session_id: SessionId,
        conn: ConnId,
        packet_id: u16,
        qos2: bool,
        reason: ReasonCode,
    ) {
        let ok = reason == ReasonCode::SUCCESS;
        let Some(session) = self.sessions.get_mut(&session_id) else {
            return;
        };
        if qos2 {
            if session.incoming.get(&packet_id) != Some(&Incoming::PendingDurable) {
                return;
            }
            if ok {
                session.incoming.insert(packet_id, Incoming::Received);
            } else {
                session.incoming.remove(&packet_id);
            }
        }
        let v5 = session.protocol.is_v5();
        if !ok && !v5 {
            // 3.x cannot report failure: closing makes the client resend.
            if let Some(outbound) = session.outbound().cloned() {
                self.push(&outbound, OutItem::Close(ReasonCode::UNSPECIFIED_ERROR));
            }
            return;
        }
        // An acknowledgement belongs to the connection that sent the message; after a
        // reconnect the client resends it and gets a fresh answer.
        if session.conn() != Some(conn) && !qos2 {
            return;
        }
        let kind = if qos2 {
            AckKind::PubRec
        } else {
            AckKind::PubAck
        };
        self.push_ack(session_id, kind, packet_id, reason);
    }

    pub(super) fn push_ack(
        &mut self,
        session: SessionId,
        kind: AckKind,
        packet_id: u16,
        reason: ReasonCode,
    ) {
        self.push_to_session(
            session,
            OutItem::Ack {
                kind,
                packet_id,
                reason,
            },
        );
    }

    /// Stores a retained message if it is one, then routes it. Every message, from
    /// clients, wills, `$SYS` or services inside the hub, enters here.
    /// Returns whether anything durable was written for it (a retained message, or a
    /// QoS 1/2 message owed to a persistent session).
    pub(super) fn accept_message(&mut self, message: Arc<Message>) -> bool {
        // The broker's own `$SYS` updates are not counted as messages received.
        if !message.topic.starts_with("$SYS/") {
            self.stats.messages_received += 1;
        }
        let mut durable = false;
        if message.retain {
            if message.payload.is_empty() {
                self.retained.remove(&message.topic);
            } else {
                self.retained.insert(&message.topic, message.clone());
            }
            durable |= self.persist_retained(&message);
        }
        durable |= self.route(&message);
        durable
    }

    fn route(&mut self, message: &Arc<Message>) -> bool {
        let mut durable = false;
        let mut matches = std::mem::take(&mut self.matches);
        matches.clear();
        let origin = message.origin;
        let (sessions, authorizer) = (&self.sessions, &*self.authorizer);
        self.subscriptions
            .for_each_match(&message.topic, |session, entry| {
                if entry.options.no_local && Some(session) == origin {
                    return;
                }
                // Only filtered subscriptions pay for a check (`SubscribeVerdict`).
                if entry.filtered
                    && !owner_may_receive(sessions, authorizer, session, &message.topic)
                {
                    return;
                }
                matches.push(Match::new(session, *entry));
            });
        self.match_shared(&message.topic, &mut matches);
        if matches.len() > 1 {
            matches.sort_unstable_by_key(|m| m.session);
        }
        let mut index = 0;
        while index < matches.len() {
            // A client with several matching subscriptions gets the message once, at the
            // highest QoS granted, with every subscription identifier (v5 §3.3.4).
            let first = matches[index];
            let mut qos = first.qos;
            let mut retain_as_published = first.retain_as_published;
            let mut subscription_ids = Vec::new();
            let mut end = index;
            while end < matches.len() && matches[end].session == first.session {
                let this = matches[end];
                qos = qos.max(this.qos);
                retain_as_published |= this.retain_as_published;
                subscription_ids.extend(this.subscription_id);
                end += 1;
            }
            let qos = qos.min(message.qos);
            let retain = retain_as_published && message.retain;
            durable |= self.deliver(first.session, message, qos, retain, subscription_ids);
            index = end;
        }
        self.matches = matches;
        durable
    }

    /// Sends (or queues) one message to one session.
    pub(super) fn deliver(
        &mut self,
        session_id: SessionId,
        message: &Arc<Message>,
        qos: QoS,
        retain: bool,
        subscription_ids: Vec<u32>,
    ) -> bool {
        let Some(session) = self.sessions.get_mut(&session_id) else {
            return false;
        };
        if let Link::Local(sender) = &session.link {
            // Services inside the hub: a bounded queue, and a full queue drops (counted)
            // rather than stalling every client of the broker.
            match sender.try_send(message.to_envelope()) {
                Ok(()) => self.stats.messages_sent += 1,
                Err(tokio::sync::mpsc::error::TrySendError::Full(_)) => {
                    self.stats.dropped_qos0_backlog += 1
                }
                Err(tokio::sync::mpsc::error::TrySendError::Closed(_)) => {
                    let id = session.id;
                    self.end_session(id);
                }
            }
            return false;
        }
        if message.max_wire_len(subscription_ids.len()) > session.max_packet_size as usize {
            self.stats.dropped_too_large += 1;
            return false;
        }
        if qos == QoS::AtMostOnce {
            let Some(outbound) = session.outbound().cloned() else {
                return false;
            };
            let item = OutItem::Publish(Delivery {
                message: message.clone(),
                packet_id: 0,
                qos,
                retain,
                dup: false,
                subscription_ids,
            });
            match outbound.push_bounded(item, self.limits.max_qos0_backlog) {
                PushOutcome::Queued(backlog) => {
                    self.stats.messages_sent += 1;
                    let pause_at = self.limits.queue_backpressure_at;
                    if pause_at > 0 && backlog >= pause_at {
                        self.pause_publisher(message.origin, session_id, &outbound);
                    }
                    if outbound.mark_for_ring() {
                        self.to_ring.push(outbound);
                    }
                }
                PushOutcome::Full => {
                    self.stats.dropped_qos0_backlog += 1;
                    // Logged at 1, 2, 4, 8... drops so that a stuck client cannot flood the log.
                    if self.stats.dropped_qos0_backlog.is_power_of_two() {
                        tracing::warn!(
                            client_id = %session.client_id,
                            total_dropped = self.stats.dropped_qos0_backlog,
                            "QoS 0 message dropped: the client's write backlog is full (max_qos0_backlog)"
                        );
                    }
                }
                PushOutcome::Closed => {}
            }
            return false;
        }
        let seq = session.take_seq();
        let mut queued = Queued {
            message: message.clone(),
            qos,
            retain,
            subscription_ids,
            seq,
            persisted: false,
            release: None,
        };
        let client_id = session.client_id.clone();
        let durable = self.persist_queued(session_id, &mut queued);
        let session = self.sessions.get_mut(&session_id).expect("present above");
        let window = session.window(self.limits.max_inflight);
        if session.outbound().is_some()
            && session.queue.is_empty()
            && session.inflight.len() < window
        {
            let item = session.start_inflight(queued);
            let outbound = session.outbound().cloned().expect("checked above");
            self.stats.messages_sent += 1;
            self.push(&outbound, item);
            return durable;
        }
        let max_bytes = self.limits.max_queued_bytes;
        let over_bytes = max_bytes > 0 && session.queued_bytes + queued.size() > max_bytes;
        if session.queue.len() >= self.limits.max_queued_messages || over_bytes {
            self.stats.dropped_queue_full += 1;
            // Logged at 1, 2, 4, 8... drops so that a stuck client cannot flood the log.
            if self.stats.dropped_queue_full.is_power_of_two() {
                tracing::warn!(
                    %client_id,
                    total_dropped = self.stats.dropped_queue_full,
                    policy = ?self.limits.queue_full_policy,
                    "session queue full; message dropped"
                );
            }
            let dropped = match self.limits.queue_full_policy {
                QueueFullPolicy::DropNew => queued,
                QueueFullPolicy::DropOldest => {
                    match session.dequeue() {
                        Some(oldest) => {
                            session.enqueue(queued);
                            oldest
                        }
                        // An empty queue is "full" only when this one message is larger
                        // than the byte limit: it is the one dropped.
                        None => queued,
                    }
                }
            };
            self.forget_queued(&client_id, &dropped);
            return durable && dropped.seq != seq;
        }
        let backpressure_at = self.limits.queue_backpressure_at;
        // Only a subscriber that is draining its queue holds publishers back: one that is
        // offline or has stopped reading must not slow anybody else (SPEC §5); its queue
        // limit applies instead.
        if self.routing_client_publish
            && backpressure_at > 0
            && session.queue.len() >= backpressure_at
            && session.is_draining(Instant::now(), self.limits.subscriber_stall())
        {
            self.backpressure.push((session_id, seq));
            self.held_back_by.insert(session_id);
        }
        session.enqueue(queued);
        durable
    }

    /// Moves queued messages into the in-flight window while it has room.
    pub(super) fn fill_window(&mut self, session_id: SessionId) {
        let now = Instant::now();
        let Some(session) = self.sessions.get_mut(&session_id) else {
            return;
        };
        let Some(outbound) = session.outbound().cloned() else {
            return;
        };
        let window = session.window(self.limits.max_inflight);
        let mut items = Vec::new();
        let mut expired = Vec::new();
        while session.inflight.len() < window {
            let Some(queued) = session.dequeue() else {
                break;
            };
            if queued.message.is_expired(now) {
                self.stats.expired += 1;
                let mut queued = queued;
                queued.release();
                expired.push(queued);
                continue;
            }
            items.push(session.start_inflight(queued));
        }
        let client_id = session.client_id.clone();
        for queued in expired {
            self.forget_queued(&client_id, &queued);
        }
        self.stats.messages_sent += items.len() as u64;
        for item in items {
            self.push(&outbound, item);
        }
    }

    /// The client has fully acknowledged an in-flight message: forget it and send more.
    fn complete_inflight(&mut self, session_id: SessionId, packet_id: u16) {
        let Some(session) = self.sessions.get_mut(&session_id) else {
            return;
        };
        session.last_progress = Instant::now();
        if let Some(inflight) = session.inflight.remove(&packet_id) {
            let client_id = session.client_id.clone();
            self.forget_queued(&client_id, &inflight.queued);
        }
        self.fill_window(session_id);
    }

    pub(super) fn on_puback(&mut self, conn: ConnId, packet_id: u16) {
        let Some(&session_id) = self.by_conn.get(&conn) else {
            return;
        };
        let Some(session) = self.sessions.get_mut(&session_id) else {
            return;
        };
        if session
            .inflight
            .get(&packet_id)
            .is_some_and(|inflight| inflight.queued.qos == QoS::AtLeastOnce)
        {
            self.complete_inflight(session_id, packet_id);
        }
    }

    pub(super) fn on_pubrec(&mut self, conn: ConnId, packet_id: u16, reason: ReasonCode) {
        let Some(&session_id) = self.by_conn.get(&conn) else {
            return;
        };
        let Some(session) = self.sessions.get_mut(&session_id) else {
            return;
        };
        let v5 = session.protocol.is_v5();
        match session.inflight.get_mut(&packet_id) {
            Some(inflight) if inflight.queued.qos == QoS::ExactlyOnce => {
                if reason.is_error() {
                    self.complete_inflight(session_id, packet_id);
                } else {
                    inflight.released = true;
                    self.push_ack(session_id, AckKind::PubRel, packet_id, ReasonCode::SUCCESS);
                }
            }
            _ => {
                let reason = if v5 {
                    ReasonCode::PACKET_IDENTIFIER_NOT_FOUND
                } else {
                    ReasonCode::SUCCESS
                };
                self.push_ack(session_id, AckKind::PubRel, packet_id, reason);
            }
        }
    }

    pub(super) fn on_pubcomp(&mut self, conn: ConnId, packet_id: u16) {
        let Some(&session_id) = self.by_conn.get(&conn) else {
            return;
        };
        let Some(session) = self.sessions.get_mut(&session_id) else {
            return;
        };
        if session
            .inflight
            .get(&packet_id)
            .is_some_and(|inflight| inflight.released)
        {
            self.complete_inflight(session_id, packet_id);
        }
    }

    /// The client releases a QoS 2 message it sent: forget its id and complete.
    pub(super) fn on_pubrel(&mut self, conn: ConnId, packet_id: u16) {
        let Some(&session_id) = self.by_conn.get(&conn) else {
            return;
        };
        let Some(session) = self.sessions.get_mut(&session_id) else {
            return;
        };
        let known = session.incoming.remove(&packet_id).is_some();
        let reason = if known || !session.protocol.is_v5() {
            ReasonCode::SUCCESS
        } else {
            ReasonCode::PACKET_IDENTIFIER_NOT_FOUND
        };
        self.push_ack(session_id, AckKind::PubComp, packet_id, reason);
    }
}
