//! `[mqtt.rate_limits]` on the connection: charging each PUBLISH to its principal's
//! budget, pausing the socket while the budget is in debt, refusing once the principal
//! has been slowed for too long (see `crate::rate_limit`).

use hearth_mqtt::{Publish, QoS, ReasonCode};
use std::pin::Pin;
use tokio::time::Sleep;

use super::queue::{AckKind, OutItem};
use super::{Connection, ConnectionError};
use crate::rate_limit::{LimitReason, Verdict};

impl Connection {
    /// Charges `publish` to the principal's budget. `false` when it was refused (and
    /// answered, or the connection is closing); `true` when it goes on, perhaps with the
    /// socket paused afterwards.
    pub(super) fn within_rate(&mut self, publish: &Publish) -> bool {
        let Some(budget) = &self.budget else {
            return true;
        };
        let size = publish.topic.len() + publish.payload.len();
        let counters = &self.context.stats.rate_limited;
        let kind = Some(budget.principal().kind);
        let refusable = self.version.is_v5() && publish.qos != QoS::AtMostOnce;
        let max_delay = self.context.rate_limiter.max_delay(refusable);
        match budget.charge(size, max_delay) {
            Verdict::Pass => true,
            Verdict::SlowUntil(until) => {
                counters.count(kind, LimitReason::Slowed);
                self.throttled_until = Some(until);
                true
            }
            Verdict::Refuse if refusable => {
                counters.count(kind, LimitReason::Refused);
                // 0x97 Quota exceeded: MQTT 5 allows it in PUBACK and PUBREC; 0x96
                // (Message rate too high) only in DISCONNECT.
                let ack = if publish.qos == QoS::AtLeastOnce {
                    AckKind::PubAck
                } else {
                    AckKind::PubRec
                };
                self.send_now(OutItem::Ack {
                    kind: ack,
                    packet_id: publish.packet_id,
                    reason: ReasonCode::QUOTA_EXCEEDED,
                });
                false
            }
            Verdict::Refuse => {
                // A QoS 0 publish cannot be answered, and MQTT 3.x has no refusal: with
                // `disconnect_over_rate` the client is told with DISCONNECT 0x96 (v5) or
                // the connection just ends.
                counters.count(kind, LimitReason::Disconnected);
                let reason = ReasonCode::MESSAGE_RATE_TOO_HIGH;
                self.begin_close(reason, ConnectionError::ClosedByBroker(reason));
                false
            }
        }
    }

    /// Makes the keep-alive timer also wake the connection when a rate-limit debt is
    /// paid: one timer per connection, re-armed only when throttling begins.
    pub(super) fn arm_throttle(&self, timer: Pin<&mut Sleep>) {
        if let Some(until) = self.throttled_until
            && until < timer.deadline()
        {
            timer.reset(until);
        }
    }
}
