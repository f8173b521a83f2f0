//! Flow control: slowing publishers down to the pace of a slow subscriber instead of
//! dropping what they send, without letting a stalled subscriber slow anybody (SPEC §5).
//!
//! Two mechanisms, one per QoS: a QoS 1/2 publish that lands behind a long session queue
//! gets its PUBACK / PUBREC when it moves into the subscriber's window (the token sits
//! on the queued message); a QoS 0 publisher feeding a long write backlog is paused (its
//! connection stops reading its socket) until the backlog drains. Both are released when
//! the subscriber stalls (`Limits::subscriber_stall_ms`) or goes away.

use std::sync::Arc;
use tokio::time::Instant;

use super::Router;
use super::event::ConnId;
use super::session::SessionId;

/// Publishers paused for one subscriber's QoS 0 backlog.
pub(crate) struct Pausing {
    since: Instant,
    publishers: Vec<Arc<crate::connection::queue::Outbound>>,
}

impl Router {
    /// QoS 0 back-pressure: the subscriber `session_id` has a long write backlog, so the
    /// client that published this message stops being read until the backlog drains.
    /// Publishers inside the hub, stalled subscribers and a client feeding itself are
    /// never paused.
    pub(super) fn pause_publisher(
        &mut self,
        origin: Option<SessionId>,
        session_id: SessionId,
        subscriber: &Arc<crate::connection::queue::Outbound>,
    ) {
        let Some(origin) = origin else { return };
        if origin == session_id || self.stalled.contains(&session_id) {
            return;
        }
        let Some(publisher) = self
            .sessions
            .get(&origin)
            .and_then(|session| session.outbound().cloned())
        else {
            return;
        };
        if publisher.is_paused() {
            return;
        }
        publisher.pause();
        self.stats.publishers_paused += 1;
        subscriber.set_pressured();
        self.pausing
            .entry(session_id)
            .or_insert_with(|| Pausing {
                since: Instant::now(),
                publishers: Vec::new(),
            })
            .publishers
            .push(publisher);
    }

    /// The subscriber's connection wrote out its backlog: its publishers go on.
    pub(super) fn on_drained(&mut self, conn: ConnId) {
        let Some(&session_id) = self.by_conn.get(&conn) else {
            return;
        };
        self.stalled.remove(&session_id);
        self.unpause_for(session_id);
    }

    pub(super) fn unpause_for(&mut self, session_id: SessionId) {
        if let Some(pausing) = self.pausing.remove(&session_id) {
            for publisher in pausing.publishers {
                publisher.unpause();
            }
        }
    }

    /// A subscriber that has not drained its backlog within the stall time is stalled:
    /// its publishers go on, and it pauses nobody until it drains (SPEC §5: one client
    /// that stops reading must not slow the others).
    pub(super) fn release_stalled_backlogs(&mut self, now: Instant) {
        if self.pausing.is_empty() {
            return;
        }
        let stall_after = self.limits.subscriber_stall();
        let stalled: Vec<SessionId> = self
            .pausing
            .iter()
            .filter(|(_, pausing)| now.saturating_duration_since(pausing.since) >= stall_after)
            .map(|(&session_id, _)| session_id)
            .collect();
        for session_id in stalled {
            tracing::debug!(
                session_id,
                "subscriber stalled; its publishers are no longer paused"
            );
            self.stalled.insert(session_id);
            self.unpause_for(session_id);
        }
    }

    /// Releases the publishers held back by sessions that have stalled (see
    /// `Limits::subscriber_stall_ms`). Called on the router's tick.
    pub(super) fn release_stalled(&mut self, now: Instant) {
        if self.held_back_by.is_empty() {
            return;
        }
        let stall_after = self.limits.subscriber_stall();
        let sessions = &mut self.sessions;
        self.held_back_by.retain(|session_id| {
            let Some(session) = sessions.get_mut(session_id) else {
                return false;
            };
            if session.is_draining(now, stall_after) {
                return session.queue.iter().any(|queued| queued.release.is_some());
            }
            session.release_queue();
            false
        });
    }
}
