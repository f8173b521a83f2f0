//! Turning queued items into bytes for one client: its dialect, its topic aliases, its
//! Maximum Packet Size.

use hearth_mqtt::{Disconnect, Packet, Properties, PubResponse, Publish, QoS};
use tokio::time::Instant;

use super::queue::{AckKind, Delivery, OutItem};
use super::{Connection, ConnectionError};
use crate::stats::SharedStats;

impl Connection {
    /// Encodes everything in `pending` into the write buffer.
    pub(super) fn encode_pending(&mut self) {
        let now = Instant::now();
        while let Some(item) = self.pending.pop_front() {
            if self.closing.is_some() && !matches!(item, OutItem::Close(_)) {
                // After a DISCONNECT nothing else may follow; whatever was queued stays
                // in the session (QoS 1/2) and is resent on the next connection.
                continue;
            }
            let packet = match item {
                OutItem::Publish(delivery) => match self.publish_packet(delivery, now) {
                    Some(packet) => packet,
                    None => continue,
                },
                OutItem::Ack {
                    kind,
                    packet_id,
                    reason,
                } => {
                    let frees_slot = match kind {
                        AckKind::PubAck | AckKind::PubComp => true,
                        AckKind::PubRec => reason.is_error(),
                        AckKind::PubRel => false,
                    };
                    if frees_slot {
                        self.inflight_in = self.inflight_in.saturating_sub(1);
                    }
                    let response = PubResponse::new(packet_id, reason);
                    match kind {
                        AckKind::PubAck => Packet::PubAck(response),
                        AckKind::PubRec => Packet::PubRec(response),
                        AckKind::PubRel => Packet::PubRel(response),
                        AckKind::PubComp => Packet::PubComp(response),
                    }
                }
                OutItem::Control(packet) => {
                    let refused =
                        matches!(&*packet, Packet::ConnAck(connack) if connack.reason.is_error());
                    if refused {
                        self.closing = Some(Box::new(ConnectionError::Refused(match &*packet {
                            Packet::ConnAck(connack) => connack.reason,
                            _ => unreachable!(),
                        })));
                    }
                    *packet
                }
                OutItem::Close(reason) => {
                    self.closed_by_broker = true;
                    if self.closing.is_none() {
                        self.closing = Some(Box::new(ConnectionError::ClosedByBroker(reason)));
                    }
                    self.pending.clear();
                    if !self.version.is_v5() {
                        break;
                    }
                    Packet::Disconnect(Disconnect {
                        reason,
                        properties: Properties::default(),
                    })
                }
            };
            self.write_packet(&packet);
        }
        // Give the queue's memory back once it is drained: an idle connection should own
        // no buffers (one allocation per burst is cheaper than 10,000 idle ones).
        self.pending = Default::default();
    }

    fn write_packet(&mut self, packet: &Packet) {
        match hearth_mqtt::encode(packet, self.version, &mut self.write_buf) {
            Ok(()) => SharedStats::add(&self.context.stats.packets_sent, 1),
            Err(error) => {
                tracing::warn!(client_id = %self.client_id, %error, "could not encode {}", packet.kind())
            }
        }
    }

    /// Builds the PUBLISH for one delivery, or `None` when it must not be sent (expired,
    /// or larger than the client accepts: v5 §3.1.2.11.4 says to drop it as if sent).
    fn publish_packet(&mut self, delivery: Delivery, now: Instant) -> Option<Packet> {
        let Delivery {
            message,
            packet_id,
            qos,
            retain,
            dup,
            subscription_ids,
        } = delivery;
        if qos == QoS::AtMostOnce && message.is_expired(now) {
            return None;
        }
        let mut properties = if self.version.is_v5() {
            message.properties.clone()
        } else {
            Properties::default()
        };
        let mut topic = message.topic.clone();
        if self.version.is_v5() {
            properties.message_expiry_interval = message.remaining_expiry(now);
            properties.subscription_identifiers = subscription_ids;
            if self.client_alias_maximum > 0 {
                self.apply_outbound_alias(&mut topic, &mut properties);
            }
        }
        let packet = Packet::Publish(Publish {
            dup,
            qos,
            retain,
            topic,
            packet_id,
            properties,
            payload: message.payload.clone(),
        });
        if hearth_mqtt::encoded_len(&packet, self.version) > self.client_max_packet_size as usize {
            tracing::debug!(client_id = %self.client_id, "message larger than the client's maximum packet size dropped");
            return None;
        }
        Some(packet)
    }

    /// Uses (or assigns) a topic alias for `topic`. Aliases are assigned first come,
    /// first served until the client's maximum is reached; a busy sensor topic is
    /// usually among the first, so no replacement policy is needed.
    fn apply_outbound_alias(
        &mut self,
        topic: &mut hearth_mqtt::ByteStr,
        properties: &mut Properties,
    ) {
        let aliases = self.outbound_aliases.get_or_insert_with(Default::default);
        if let Some(&alias) = aliases.get(topic) {
            properties.topic_alias = Some(alias);
            *topic = hearth_mqtt::ByteStr::default();
            return;
        }
        let next = aliases.len() + 1;
        if next <= usize::from(self.client_alias_maximum) {
            let alias = next as u16;
            aliases.insert(topic.clone(), alias);
            properties.topic_alias = Some(alias);
        }
    }
}
