//! Sessions coming and going: connect, takeover, disconnect, wills, expiry.

use hearth_bus::{Action, Principal};
use hearth_mqtt::{Packet, ReasonCode, Will};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

use super::event::{ConnId, ConnectEvent};
use super::session::{Link, Session, SessionId};
use super::{Router, Timer};
use crate::connection::queue::OutItem;
use crate::message::Message;
use crate::stats::SharedStats;

impl Router {
    pub(super) fn on_connect(&mut self, event: ConnectEvent) {
        let ConnectEvent {
            conn,
            client_id,
            protocol,
            clean_start,
            session_expiry,
            will,
            principal,
            receive_maximum,
            max_packet_size,
            mut connack,
            outbound,
            verdict,
        } = event;
        let existing = self.by_client_id.get(&client_id).copied();
        if let Some(session_id) = existing
            && let Some(session) = self.sessions.get(&session_id)
            && let Some(owner) = &session.principal
            && *owner != principal
        {
            // A client id names one principal's session (SPEC §5): another principal
            // may neither take over its connection nor read what is queued for it.
            if session.conn().is_some() {
                tracing::warn!(%client_id, kind = ?principal.kind, name = %principal.name,
                    owner = %owner.name, "client id in use by another principal: refused");
                let _ = verdict.send(Err(ReasonCode::CLIENT_IDENTIFIER_NOT_VALID));
                return;
            }
            // Offline: the session is not handed over; it ends (its will, if still
            // pending, is due now) and the newcomer starts afresh.
            tracing::info!(%client_id, owner = %owner.name,
                "stored session of another principal discarded");
            self.end_session(session_id);
        }
        if verdict.send(Ok(())).is_err() {
            // The connection is already gone; it will send `Closed`, which finds nothing.
            return;
        }
        let existing = self.by_client_id.get(&client_id).copied();
        if let Some(session_id) = existing {
            self.take_over(session_id);
            if clean_start {
                self.end_session(session_id);
            }
        }
        let (session_id, session_present) = match self.by_client_id.get(&client_id) {
            Some(&id) => (id, true),
            None => {
                let id = self.next_session;
                self.next_session += 1;
                self.sessions.insert(
                    id,
                    Box::new(Session::new(id, client_id.clone(), Link::Offline)),
                );
                self.by_client_id.insert(client_id.clone(), id);
                (id, false)
            }
        };
        self.by_conn.insert(conn, session_id);
        let session = self
            .sessions
            .get_mut(&session_id)
            .expect("session just found or made");
        session.link = Link::Connected {
            conn,
            outbound: outbound.clone(),
        };
        session.protocol = protocol;
        session.principal = Some(principal);
        session.expiry = session_expiry;
        session.will = will.map(Box::new);
        session.generation += 1;
        session.receive_maximum = receive_maximum;
        session.max_packet_size = max_packet_size;
        session.last_progress = Instant::now();
        // QoS 2 messages received but not released stay in `incoming`: the client will
        // resend PUBREL for them (or the PUBLISH, which is then recognised as a duplicate).
        connack.session_present = session_present;
        let resend = if session_present {
            session.resend_items()
        } else {
            Vec::new()
        };
        self.push(
            &outbound,
            OutItem::Control(Box::new(Packet::ConnAck(connack))),
        );
        for item in resend {
            self.push(&outbound, item);
        }
        self.fill_window(session_id);
        self.persist_session(session_id);
        tracing::debug!(%client_id, session_present, "client connected");
    }

    /// Detaches whatever connection holds `session_id` because a new one claims it.
    fn take_over(&mut self, session_id: SessionId) {
        let Some(session) = self.sessions.get_mut(&session_id) else {
            return;
        };
        if let Link::Connected { conn, outbound } =
            std::mem::replace(&mut session.link, Link::Offline)
        {
            self.by_conn.remove(&conn);
            // v5 §3.1.4: the old connection gets DISCONNECT 0x8E; its will is published
            // unless it has a delay (the new connection then cancels it).
            let will = session.will.take();
            let client_id = session.client_id.clone();
            self.push(&outbound, OutItem::Close(ReasonCode::SESSION_TAKEN_OVER));
            if let Some(will) = will.filter(|will| will_delay(will) == 0) {
                self.publish_will(&client_id, session_id, will);
            }
            tracing::info!(%client_id, "session taken over by a new connection");
        }
    }

    pub(super) fn on_disconnect(
        &mut self,
        conn: ConnId,
        publish_will: bool,
        session_expiry: Option<u32>,
    ) {
        let Some(&session_id) = self.by_conn.get(&conn) else {
            return;
        };
        if let Some(session) = self.sessions.get_mut(&session_id) {
            if !publish_will {
                session.will = None;
            }
            if let Some(expiry) = session_expiry {
                session.expiry = expiry.min(self.limits.max_session_expiry_secs);
            }
        }
        self.on_closed(conn);
    }

    pub(super) fn on_closed(&mut self, conn: ConnId) {
        let Some(session_id) = self.by_conn.remove(&conn) else {
            return;
        };
        let now = Instant::now();
        let Some(session) = self.sessions.get_mut(&session_id) else {
            return;
        };
        session.link = Link::Offline;
        // Nobody drains the queue now: publishers held back by it are released.
        session.release_queue();
        self.unpause_for(session_id);
        self.stalled.remove(&session_id);
        let Some(session) = self.sessions.get_mut(&session_id) else {
            return;
        };
        let generation = session.generation;
        let expiry = session.expiry;
        let will = session.will.take();
        let client_id = session.client_id.clone();
        if let Some(will) = will {
            let delay = will_delay(&will).min(expiry);
            if delay == 0 {
                self.publish_will(&client_id, session_id, will);
            } else {
                self.sessions.get_mut(&session_id).expect("present").will = Some(will);
                self.add_timer(
                    now + Duration::from_secs(u64::from(delay)),
                    Timer::Will {
                        session: session_id,
                        generation,
                    },
                );
            }
        }
        if expiry > 0 {
            self.persist_session(session_id);
        }
        match expiry {
            0 => self.end_session(session_id),
            u32::MAX => {}
            secs => self.add_timer(
                now + Duration::from_secs(u64::from(secs)),
                Timer::Expire {
                    session: session_id,
                    generation,
                },
            ),
        }
        tracing::debug!(%client_id, "client disconnected");
    }

    pub(super) fn fire_will(&mut self, session_id: SessionId, generation: u64) {
        let Some(session) = self.sessions.get_mut(&session_id) else {
            return;
        };
        if session.generation != generation || session.conn().is_some() {
            return;
        }
        if let Some(will) = session.will.take() {
            let client_id = session.client_id.clone();
            self.publish_will(&client_id, session_id, will);
        }
    }

    pub(super) fn fire_expiry(&mut self, session_id: SessionId, generation: u64) {
        let Some(session) = self.sessions.get(&session_id) else {
            return;
        };
        if session.generation != generation || session.conn().is_some() {
            return;
        }
        tracing::debug!(client_id = %session.client_id, "session expired");
        self.end_session(session_id);
    }

    /// Forgets a session: its subscriptions, queue and any will still pending (which is
    /// published now, as the session's end is one of the will's two deadlines).
    pub(super) fn end_session(&mut self, session_id: SessionId) {
        let Some(mut session) = self.sessions.remove(&session_id) else {
            return;
        };
        if self.by_client_id.get(&session.client_id) == Some(&session_id) {
            self.by_client_id.remove(&session.client_id);
        }
        if let Some(conn) = session.conn() {
            self.by_conn.remove(&conn);
        }
        for filter in session.subscriptions.keys() {
            self.remove_subscription(session_id, filter);
        }
        // Publishers waiting on this session's queue are released: it no longer exists,
        // so nothing they sent is being held for it.
        session.release_queue();
        if let Some(will) = session.will.take() {
            self.publish_will(&session.client_id, session_id, will);
        }
        self.forget_session(&session);
    }

    fn publish_will(&mut self, client_id: &Arc<str>, session_id: SessionId, will: Box<Will>) {
        let principal = self
            .sessions
            .get(&session_id)
            .and_then(|session| session.principal.clone());
        if !self.will_allowed(client_id, principal.as_ref(), &will) {
            return;
        }
        let message = Message::from_will(
            *will,
            Some(session_id),
            Some(client_id.clone()),
            principal,
            Instant::now(),
        );
        tracing::debug!(%client_id, topic = %message.topic, "publishing will");
        let message = Arc::new(message);
        self.accept_message(message.clone());
        // A will is its owner's last publish: services that watch client publishes (the
        // hub's ingest records a device's `offline` status from it) see it too. Nobody
        // waits for an acknowledgement, so none is asked for.
        self.offer_unacknowledged(&message);
    }

    /// Whether a will may be published now: it is a publish by its session's owner, so
    /// it passes the same rule as a PUBLISH, checked again when it is sent because the
    /// owner's rights may have changed since CONNECT (a device revoked, an application
    /// that lost the target device). A will whose owner is unknown (a session stored
    /// before owners were kept) is not sent: nobody can vouch for it.
    pub(super) fn will_allowed(
        &mut self,
        client_id: &Arc<str>,
        owner: Option<&Principal>,
        will: &Will,
    ) -> bool {
        let allowed = owner.is_some_and(|owner| {
            self.authorizer
                .authorize(owner, client_id, Action::Publish, &will.topic)
        });
        if !allowed {
            SharedStats::add(&self.shared_stats.publish_denied, 1);
            tracing::warn!(%client_id, topic = %will.topic, "will not published: not authorized");
        }
        allowed
    }

    /// Disconnects the client with this id, if connected. Returns whether it was.
    pub(super) fn kick(&mut self, client_id: &str, reason: ReasonCode) -> bool {
        let Some(&session_id) = self.by_client_id.get(client_id) else {
            return false;
        };
        let Some(outbound) = self
            .sessions
            .get(&session_id)
            .and_then(|s| s.outbound().cloned())
        else {
            return false;
        };
        self.push(&outbound, OutItem::Close(reason));
        true
    }
}

fn will_delay(will: &Will) -> u32 {
    will.properties.will_delay_interval.unwrap_or(0)
}
