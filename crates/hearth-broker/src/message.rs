//! A published message as the broker keeps it: shared by every queue it sits in.

use bytes::Bytes;
use hearth_bus::{Envelope, Principal, Qos};
use hearth_mqtt::{ByteStr, Properties, Publish, QoS, Will};
use std::sync::Arc;
use tokio::time::Instant;

/// The parts of a PUBLISH that travel with the message from publisher to subscribers.
/// Immutable once built and always behind an `Arc`, so a message fanned out to fifty
/// subscribers or queued for an offline session is never copied.
#[derive(Debug)]
pub struct Message {
    pub topic: ByteStr,
    pub payload: Bytes,
    pub qos: QoS,
    pub retain: bool,
    /// Forwarded properties only: payload format, content type, response topic,
    /// correlation data, user properties. Expiry is kept as [`Message::expires_at`] and
    /// rewritten on every delivery.
    pub properties: Properties,
    /// When the message stops being deliverable (MQTT 5 message expiry).
    pub expires_at: Option<Instant>,
    /// Session of the publisher, for No Local; `None` for messages from inside the hub.
    pub origin: Option<u64>,
    /// Client id and principal of the publisher, handed to interceptors.
    pub client_id: Option<Arc<str>>,
    pub principal: Option<Principal>,
}

impl Message {
    /// Builds the shared message from a client's PUBLISH (topic alias already resolved).
    pub fn from_publish(
        publish: Publish,
        origin: Option<u64>,
        client_id: Option<Arc<str>>,
        principal: Option<Principal>,
        now: Instant,
    ) -> Message {
        let Publish {
            qos,
            retain,
            topic,
            properties,
            payload,
            ..
        } = publish;
        let expires_at = properties
            .message_expiry_interval
            .map(|secs| now + std::time::Duration::from_secs(u64::from(secs)));
        let properties = forwarded_properties(properties);
        Message {
            topic,
            payload,
            qos,
            retain,
            properties,
            expires_at,
            origin,
            client_id,
            principal,
        }
    }

    /// Builds the message a will becomes when it is published.
    pub fn from_will(
        will: Will,
        origin: Option<u64>,
        client_id: Option<Arc<str>>,
        principal: Option<Principal>,
        now: Instant,
    ) -> Message {
        Message::from_publish(will_publish(will), origin, client_id, principal, now)
    }

    /// Builds a message published by a service inside the hub.
    pub fn from_envelope(envelope: Envelope, now: Instant) -> Message {
        let mut properties = Properties {
            response_topic: envelope.response_topic.as_deref().map(ByteStr::from),
            correlation_data: envelope.correlation_data,
            content_type: envelope.content_type.as_deref().map(ByteStr::from),
            ..Properties::default()
        };
        properties.user_properties = envelope
            .user_properties
            .iter()
            .map(|(key, value)| (ByteStr::from(&**key), ByteStr::from(&**value)))
            .collect();
        Message {
            topic: ByteStr::from(&*envelope.topic),
            payload: envelope.payload,
            qos: qos_from_bus(envelope.qos),
            retain: envelope.retain,
            properties,
            expires_at: envelope
                .message_expiry
                .map(|secs| now + std::time::Duration::from_secs(u64::from(secs))),
            origin: None,
            client_id: envelope.client_id,
            principal: envelope.principal,
        }
    }

    /// The message as services see it.
    pub fn to_envelope(&self) -> Envelope {
        Envelope {
            topic: Arc::from(self.topic.as_str()),
            payload: self.payload.clone(),
            qos: qos_to_bus(self.qos),
            retain: self.retain,
            client_id: self.client_id.clone(),
            principal: self.principal.clone(),
            response_topic: self.properties.response_topic.as_deref().map(Arc::from),
            correlation_data: self.properties.correlation_data.clone(),
            content_type: self.properties.content_type.as_deref().map(Arc::from),
            user_properties: self
                .properties
                .user_properties
                .iter()
                .map(|(key, value)| (Arc::from(key.as_str()), Arc::from(value.as_str())))
                .collect(),
            message_expiry: self.remaining_expiry(Instant::now()),
            received_at_ms: None,
        }
    }

    /// [`Message::to_envelope`] stamped with the wall clock now: what interceptors get,
    /// all of them the same stamp.
    pub fn to_received_envelope(&self) -> Envelope {
        let mut envelope = self.to_envelope();
        envelope.received_at_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .ok()
            .and_then(|since| i64::try_from(since.as_millis()).ok());
        envelope
    }

    /// Whether the message may still be delivered at `now`.
    pub fn is_expired(&self, now: Instant) -> bool {
        self.expires_at.is_some_and(|deadline| deadline <= now)
    }

    /// Seconds of life left, for the Message Expiry Interval of a delivery (rounded up
    /// so that a message is never delivered with 0, which would mean "no expiry").
    pub fn remaining_expiry(&self, now: Instant) -> Option<u32> {
        self.expires_at.map(|deadline| {
            let left = deadline.saturating_duration_since(now);
            let secs = left.as_secs() + u64::from(left.subsec_nanos() > 0);
            u32::try_from(secs.max(1)).unwrap_or(u32::MAX)
        })
    }

    /// Upper bound of the encoded PUBLISH size, to respect a client's Maximum Packet Size
    /// without encoding: fixed header, topic, packet id, every property, payload.
    pub fn max_wire_len(&self, n_subscription_ids: usize) -> usize {
        let props = &self.properties;
        let str_len = |s: &Option<ByteStr>| s.as_ref().map_or(0, |s| 3 + s.len());
        let properties_len = 2 // payload format indicator
            + 5 // message expiry
            + 3 // topic alias
            + str_len(&props.content_type)
            + str_len(&props.response_topic)
            + props.correlation_data.as_ref().map_or(0, |data| 3 + data.len())
            + props.user_properties.iter().map(|(k, v)| 5 + k.len() + v.len()).sum::<usize>()
            + n_subscription_ids * 5;
        let remaining = 2 + self.topic.len() + 2 + 4 + properties_len + self.payload.len();
        1 + 4 + remaining
    }
}

/// A will as the PUBLISH it stands for: same topic, payload, QoS, retain flag and
/// properties (the will delay is not a PUBLISH property; encoders leave it out).
pub(crate) fn will_publish(will: Will) -> Publish {
    let Will {
        topic,
        payload,
        qos,
        retain,
        properties,
    } = will;
    Publish {
        dup: false,
        qos,
        retain,
        topic,
        packet_id: 0,
        properties,
        payload,
    }
}

/// Keeps the properties a broker forwards (v5 §3.3.2.3) and drops the rest.
fn forwarded_properties(properties: Properties) -> Properties {
    Properties {
        payload_format_indicator: properties.payload_format_indicator,
        content_type: properties.content_type,
        response_topic: properties.response_topic,
        correlation_data: properties.correlation_data,
        user_properties: properties.user_properties,
        ..Properties::default()
    }
}

pub(crate) fn qos_from_bus(qos: Qos) -> QoS {
    match qos {
        Qos::AtMostOnce => QoS::AtMostOnce,
        Qos::AtLeastOnce => QoS::AtLeastOnce,
        Qos::ExactlyOnce => QoS::ExactlyOnce,
    }
}

pub(crate) fn qos_to_bus(qos: QoS) -> Qos {
    match qos {
        QoS::AtMostOnce => Qos::AtMostOnce,
        QoS::AtLeastOnce => Qos::AtLeastOnce,
        QoS::ExactlyOnce => Qos::ExactlyOnce,
    }
}
