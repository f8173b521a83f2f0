//! A message as services see it: no packet ids, no aliases, no dialects.

use bytes::Bytes;
use std::sync::Arc;

use crate::auth::Principal;

/// Delivery guarantee, mirroring MQTT's QoS without depending on the codec crate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Qos {
    #[default]
    AtMostOnce,
    AtLeastOnce,
    ExactlyOnce,
}

/// One application message travelling through the bus.
///
/// Cheap to clone: the payload is shared `Bytes` and strings are `Arc<str>`, because one
/// message is often handed to several consumers.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    pub topic: Arc<str>,
    pub payload: Bytes,
    pub qos: Qos,
    pub retain: bool,
    /// MQTT client id of the publisher, `None` when a service inside the hub published it.
    pub client_id: Option<Arc<str>>,
    /// Who published it, as the authorizer identified them.
    pub principal: Option<Principal>,
    /// MQTT 5 request/response: where the publisher wants a reply.
    pub response_topic: Option<Arc<str>>,
    /// MQTT 5 request/response: opaque data to echo back in the reply.
    pub correlation_data: Option<Bytes>,
    /// MQTT 5 content type.
    pub content_type: Option<Arc<str>>,
    /// MQTT 5 user properties, in order.
    pub user_properties: Vec<(Arc<str>, Arc<str>)>,
    /// Seconds the message stays deliverable (MQTT 5 message expiry).
    pub message_expiry: Option<u32>,
    /// When the broker received it (epoch milliseconds), set on what interceptors see:
    /// one reading of the clock for all of them, so that the history and the cloud link
    /// file a message at the same time. `None` elsewhere.
    pub received_at_ms: Option<i64>,
}

impl Envelope {
    /// A plain QoS 0, non-retained message from inside the hub.
    pub fn new(topic: impl Into<Arc<str>>, payload: impl Into<Bytes>) -> Envelope {
        Envelope {
            topic: topic.into(),
            payload: payload.into(),
            qos: Qos::AtMostOnce,
            retain: false,
            client_id: None,
            principal: None,
            response_topic: None,
            correlation_data: None,
            content_type: None,
            user_properties: Vec::new(),
            message_expiry: None,
            received_at_ms: None,
        }
    }

    pub fn with_qos(mut self, qos: Qos) -> Envelope {
        self.qos = qos;
        self
    }

    pub fn with_retain(mut self, retain: bool) -> Envelope {
        self.retain = retain;
        self
    }
}
