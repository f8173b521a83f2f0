//! Interceptors refusing a client publish before it is routed
//! ([`hearth_bus::Interceptor::admit`]): a refused message reaches no subscriber, no
//! store and no other interceptor, and the publisher is told why (v5) or disconnected
//! (3.x). Kept apart from publish.rs, which routes what is admitted.

use hearth_mqtt::{QoS, ReasonCode};
use std::sync::Arc;

use super::Router;
use super::session::SessionId;
use crate::connection::queue::{AckKind, OutItem};
use crate::message::Message;

impl Router {
    /// The first refusal of a matching interceptor's [`hearth_bus::Interceptor::admit`]:
    /// asked before routing, so that a refused message reaches nobody (no subscriber, no
    /// store, no other interceptor) and the publisher's resend is its only copy.
    pub(super) fn refused_on_admission(&self, message: &Arc<Message>) -> Option<ReasonCode> {
        let mut matching = self
            .interceptors
            .iter()
            .filter(|(filter, _)| crate::topic::matches(filter, &message.topic))
            .peekable();
        matching.peek()?;
        let envelope = message.to_received_envelope();
        matching
            .find_map(|(_, interceptor)| interceptor.admit(&envelope).err())
            .map(|reason| ReasonCode(reason.max(ReasonCode::UNSPECIFIED_ERROR.0)))
    }

    /// Answers a QoS 1/2 publish refused before routing: PUBACK / PUBREC with `reason`
    /// (v5), or closing the connection (3.x cannot report a failure), so that the client
    /// sends it again.
    pub(super) fn refuse_publish(
        &mut self,
        session_id: SessionId,
        qos: QoS,
        packet_id: u16,
        reason: ReasonCode,
    ) {
        let Some(session) = self.sessions.get(&session_id) else {
            return;
        };
        if !session.protocol.is_v5() {
            if let Some(outbound) = session.outbound().cloned() {
                self.push(&outbound, OutItem::Close(ReasonCode::UNSPECIFIED_ERROR));
            }
            return;
        }
        let kind = if qos == QoS::ExactlyOnce {
            AckKind::PubRec
        } else {
            AckKind::PubAck
        };
        self.push_ack(session_id, kind, packet_id, reason);
    }
}
