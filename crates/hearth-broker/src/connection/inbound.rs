//! Packets after CONNECT: what the connection checks itself before the router sees them.

use hearth_bus::{Action, SubscribeVerdict};
use hearth_mqtt::{Packet, Publish, QoS, ReasonCode, Subscribe, Unsubscribe};

use super::queue::{AckKind, OutItem};
use super::{Connection, ConnectionError};
use crate::router::event::{Event, SubscribeRequest};
use crate::stats::SharedStats;
use crate::topic;

impl Connection {
    pub(super) async fn handle_packet(&mut self, packet: Packet) -> Result<(), ConnectionError> {
        match packet {
            Packet::Publish(publish) => self.handle_publish(publish).await,
            Packet::PubAck(ack) => {
                self.to_router(Event::PubAck {
                    conn: self.id,
                    packet_id: ack.packet_id,
                })
                .await
            }
            Packet::PubRec(ack) => {
                self.to_router(Event::PubRec {
                    conn: self.id,
                    packet_id: ack.packet_id,
                    reason: ack.reason,
                })
                .await
            }
            Packet::PubRel(ack) => {
                self.to_router(Event::PubRel {
                    conn: self.id,
                    packet_id: ack.packet_id,
                })
                .await
            }
            Packet::PubComp(ack) => {
                self.to_router(Event::PubComp {
                    conn: self.id,
                    packet_id: ack.packet_id,
                })
                .await
            }
            Packet::Subscribe(subscribe) => self.handle_subscribe(subscribe).await,
            Packet::Unsubscribe(unsubscribe) => self.handle_unsubscribe(unsubscribe).await,
            Packet::PingReq => {
                self.send_now(OutItem::Control(Box::new(Packet::PingResp)));
                Ok(())
            }
            Packet::Disconnect(disconnect) => {
                let session_expiry = disconnect.properties.session_expiry_interval;
                // v5 §3.14.2.2.2: a client that connected with expiry 0 may not set one now.
                if self.session_expiry == 0 && session_expiry.is_some_and(|secs| secs > 0) {
                    self.protocol_violation(
                        ReasonCode::PROTOCOL_ERROR,
                        "session expiry set on DISCONNECT after 0 at CONNECT",
                    );
                    return Ok(());
                }
                let publish_will = disconnect.reason == ReasonCode::DISCONNECT_WITH_WILL_MESSAGE;
                self.to_router(Event::Disconnect {
                    conn: self.id,
                    publish_will,
                    session_expiry,
                })
                .await?;
                self.closing = Some(Box::new(ConnectionError::ClosedByBroker(
                    ReasonCode::NORMAL_DISCONNECTION,
                )));
                Ok(())
            }
            Packet::Auth(_) => {
                // No enhanced authentication was negotiated at CONNECT (the broker refuses
                // every method), so any AUTH is out of place.
                self.protocol_violation(
                    ReasonCode::PROTOCOL_ERROR,
                    "AUTH without an authentication method",
                );
                Ok(())
            }
            Packet::Connect(_)
            | Packet::ConnAck(_)
            | Packet::SubAck(_)
            | Packet::UnsubAck(_)
            | Packet::PingResp => {
                self.protocol_violation(
                    ReasonCode::PROTOCOL_ERROR,
                    "packet only a server may send",
                );
                Ok(())
            }
        }
    }

    fn protocol_violation(&mut self, reason: ReasonCode, detail: &'static str) {
        SharedStats::add(&self.context.stats.protocol_errors, 1);
        tracing::debug!(client_id = %self.client_id, %reason, detail, "protocol violation");
        self.begin_close(reason, ConnectionError::Protocol { reason, detail });
    }

    async fn handle_publish(&mut self, mut publish: Publish) -> Result<(), ConnectionError> {
        if let Err(reason) = self.resolve_topic_alias(&mut publish) {
            self.protocol_violation(reason, "bad topic alias");
            return Ok(());
        }
        if publish.qos != QoS::AtMostOnce {
            self.inflight_in += 1;
            if self.version.is_v5()
                && self.inflight_in > u32::from(self.context.limits.receive_maximum)
            {
                self.protocol_violation(
                    ReasonCode::RECEIVE_MAXIMUM_EXCEEDED,
                    "more QoS 1/2 publishes in flight than allowed",
                );
                return Ok(());
            }
        }
        if !self.within_rate(&publish) {
            return Ok(());
        }
        if publish.retain && !self.context.limits.retain_available {
            self.protocol_violation(ReasonCode::RETAIN_NOT_SUPPORTED, "retain is not available");
            return Ok(());
        }
        let allowed = !publish.topic.starts_with("$SYS")
            && self.context.authorizer.authorize(
                &self.principal,
                &self.client_id,
                Action::Publish,
                &publish.topic,
            );
        if !allowed {
            self.deny_publish(&publish);
            return Ok(());
        }
        self.to_router(Event::Publish {
            conn: self.id,
            publish,
        })
        .await
    }

    /// Replaces an aliased empty topic by the topic it stands for and records new aliases.
    fn resolve_topic_alias(&mut self, publish: &mut Publish) -> Result<(), ReasonCode> {
        let Some(alias) = publish.properties.topic_alias.take() else {
            return Ok(());
        };
        let maximum = self.context.limits.topic_alias_maximum;
        if alias == 0 || alias > maximum {
            return Err(ReasonCode::TOPIC_ALIAS_INVALID);
        }
        let slot = usize::from(alias - 1);
        if publish.topic.is_empty() {
            let known = self
                .inbound_aliases
                .as_ref()
                .and_then(|aliases| aliases.get(slot));
            match known.and_then(Option::as_ref) {
                Some(topic) => publish.topic = topic.clone(),
                None => return Err(ReasonCode::PROTOCOL_ERROR),
            }
        } else {
            let aliases = self.inbound_aliases.get_or_insert_with(Default::default);
            if aliases.len() <= slot {
                aliases.resize(slot + 1, None);
            }
            aliases[slot] = Some(publish.topic.clone());
        }
        Ok(())
    }

    /// Answers a publish the authorizer refused. v5 says so with 0x87; 3.x has no way to
    /// say it, so the message is acknowledged as usual and dropped, as Mosquitto does.
    fn deny_publish(&mut self, publish: &Publish) {
        SharedStats::add(&self.context.stats.publish_denied, 1);
        tracing::debug!(client_id = %self.client_id, topic = %publish.topic, "publish denied");
        let reason = if self.version.is_v5() {
            ReasonCode::NOT_AUTHORIZED
        } else {
            ReasonCode::SUCCESS
        };
        let kind = match publish.qos {
            QoS::AtMostOnce => return,
            QoS::AtLeastOnce => AckKind::PubAck,
            QoS::ExactlyOnce => AckKind::PubRec,
        };
        self.send_now(OutItem::Ack {
            kind,
            packet_id: publish.packet_id,
            reason,
        });
    }

    async fn handle_subscribe(&mut self, subscribe: Subscribe) -> Result<(), ConnectionError> {
        let subscription_id = subscribe
            .properties
            .subscription_identifiers
            .first()
            .copied();
        let mut requests = Vec::with_capacity(subscribe.filters.len());
        for request in subscribe.filters {
            let mut filtered = false;
            let verdict = match topic::parse_subscription(&request.filter) {
                Err(_) => Err(ReasonCode::TOPIC_FILTER_INVALID),
                Ok((_, filter))
                    if !within_filter_limits(&self.context.limits, &request.filter, filter) =>
                {
                    tracing::debug!(
                        client_id = %self.client_id,
                        filter_bytes = request.filter.len(),
                        "topic filter beyond the configured limits"
                    );
                    Err(ReasonCode::TOPIC_FILTER_INVALID)
                }
                Ok((group, filter)) => {
                    if group.is_some() && request.options.no_local {
                        self.protocol_violation(
                            ReasonCode::PROTOCOL_ERROR,
                            "no local on a shared subscription",
                        );
                        return Ok(());
                    }
                    match self.context.authorizer.authorize_subscribe(
                        &self.principal,
                        &self.client_id,
                        filter,
                    ) {
                        SubscribeVerdict::Allow => Ok(request.options),
                        SubscribeVerdict::Filtered => {
                            filtered = true;
                            Ok(request.options)
                        }
                        SubscribeVerdict::Deny => {
                            SharedStats::add(&self.context.stats.subscribe_denied, 1);
                            tracing::debug!(client_id = %self.client_id, filter, "subscribe denied");
                            Err(ReasonCode::NOT_AUTHORIZED)
                        }
                    }
                }
            };
            requests.push(SubscribeRequest {
                filter: request.filter,
                verdict,
                filtered,
            });
        }
        self.to_router(Event::Subscribe {
            conn: self.id,
            packet_id: subscribe.packet_id,
            requests,
            subscription_id,
        })
        .await
    }

    async fn handle_unsubscribe(
        &mut self,
        unsubscribe: Unsubscribe,
    ) -> Result<(), ConnectionError> {
        self.to_router(Event::Unsubscribe {
            conn: self.id,
            packet_id: unsubscribe.packet_id,
            filters: unsubscribe.filters,
        })
        .await
    }
}

/// Whether a filter is within `Limits::max_topic_filter_length` (counted on the filter
/// as written) and `Limits::max_topic_levels` (counted on `inner`, the filter without a
/// `$share/{group}/` prefix, which is what the subscription index stores level by
/// level). The length is checked first, so that counting levels is bounded by it.
fn within_filter_limits(limits: &crate::config::Limits, written: &str, inner: &str) -> bool {
    written.len() <= limits.max_topic_filter_length
        && inner.split('/').count() <= limits.max_topic_levels
}
