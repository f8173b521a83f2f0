//! The in-process handle: how services inside the binary talk to the broker.

use async_trait::async_trait;
use hearth_bus::{Bus, BusError, ClientEvent, ClientEvents, Envelope, Interceptor, Subscription};
use hearth_mqtt::ReasonCode;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

use crate::router::event::Control;
use crate::stats::StatsSnapshot;
use crate::topic;

/// Queue length of an in-process subscription unless the caller picks one.
const DEFAULT_LOCAL_CAPACITY: usize = 4096;

/// A cheap, cloneable handle on a running broker. Requests go to the router on its
/// control channel, so they are ordered with respect to each other.
#[derive(Clone)]
pub struct BrokerHandle {
    control: mpsc::UnboundedSender<Control>,
    client_events: Arc<ClientEvents>,
}

impl BrokerHandle {
    pub(crate) fn new(
        control: mpsc::UnboundedSender<Control>,
        client_events: Arc<ClientEvents>,
    ) -> BrokerHandle {
        BrokerHandle {
            control,
            client_events,
        }
    }

    fn send(&self, message: Control) -> Result<(), BusError> {
        self.control.send(message).map_err(|_| BusError::Closed)
    }

    /// Subscribes with a chosen queue length (see [`Subscription`] for what happens when
    /// it fills).
    pub async fn subscribe_with_capacity(
        &self,
        filter: &str,
        capacity: usize,
    ) -> Result<Subscription, BusError> {
        check_filter(filter)?;
        let (reply, answer) = oneshot::channel();
        self.send(Control::LocalSubscribe {
            filter: filter.to_owned(),
            capacity,
            retained: false,
            reply,
        })?;
        answer.await.map_err(|_| BusError::Closed)
    }

    /// Registers `interceptor` for client publishes matching `filter`. From now on the
    /// broker acknowledges such QoS 1/2 messages only once the interceptor accepts them.
    pub fn intercept(
        &self,
        filter: &str,
        interceptor: Arc<dyn Interceptor>,
    ) -> Result<(), BusError> {
        check_filter(filter)?;
        self.send(Control::Intercept {
            filter: filter.to_owned(),
            interceptor,
        })
    }

    /// Disconnects the client with this id (v5 clients get DISCONNECT with `reason`,
    /// e.g. 0x98 administrative action). Returns whether such a client was connected.
    pub async fn disconnect_client(
        &self,
        client_id: &str,
        reason: ReasonCode,
    ) -> Result<bool, BusError> {
        let (reply, answer) = oneshot::channel();
        self.send(Control::Kick {
            client_id: client_id.to_owned(),
            reason,
            reply,
        })?;
        answer.await.map_err(|_| BusError::Closed)
    }

    /// Current counters, as `$SYS` publishes them.
    pub async fn stats(&self) -> Result<StatsSnapshot, BusError> {
        let (reply, answer) = oneshot::channel();
        self.send(Control::Stats { reply })?;
        answer.await.map_err(|_| BusError::Closed)
    }
}

fn check_filter(filter: &str) -> Result<(), BusError> {
    topic::parse_subscription(filter)
        .map(|_| ())
        .map_err(|_| BusError::InvalidTopic(filter.to_owned()))
}

/// Longest MQTT string (a two-byte length prefix) and binary field.
const MAX_MQTT_STRING: usize = u16::MAX as usize;
/// Largest payload an MQTT packet can carry (its remaining length is at most
/// 268,435,455 bytes, and the topic and properties need some of it).
const MAX_PAYLOAD: usize = 256 * 1024 * 1024 - 64 * 1024;

/// Checks a whole envelope before it reaches the router: the router turns it into MQTT
/// strings and packets, and a value that cannot be one (a NUL, a wildcard in a response
/// topic, a string past 65,535 bytes) must be the publishing service's error, never a
/// panic of the router task that every client depends on.
pub(crate) fn validate_envelope(envelope: &Envelope) -> Result<(), BusError> {
    let invalid = |field, reason| Err(BusError::InvalidMessage { field, reason });
    topic::validate_topic_name(&envelope.topic)
        .map_err(|_| BusError::InvalidTopic(envelope.topic.to_string()))?;
    if let Some(response_topic) = &envelope.response_topic
        && topic::validate_topic_name(response_topic).is_err()
    {
        return invalid(
            "response_topic",
            "not a valid topic name (empty, too long, NUL or wildcard)",
        );
    }
    let string = |field, text: &str| {
        if text.len() > MAX_MQTT_STRING {
            invalid(field, "longer than 65,535 bytes")
        } else if text.contains('\0') {
            invalid(field, "contains U+0000")
        } else {
            Ok(())
        }
    };
    if let Some(content_type) = &envelope.content_type {
        string("content_type", content_type)?;
    }
    for (key, value) in &envelope.user_properties {
        string("user_properties", key)?;
        string("user_properties", value)?;
    }
    if let Some(client_id) = &envelope.client_id {
        string("client_id", client_id)?;
    }
    if envelope
        .correlation_data
        .as_ref()
        .is_some_and(|data| data.len() > MAX_MQTT_STRING)
    {
        return invalid("correlation_data", "longer than 65,535 bytes");
    }
    if envelope.payload.len() > MAX_PAYLOAD {
        return invalid("payload", "larger than an MQTT packet can carry");
    }
    Ok(())
}

#[async_trait]
impl Bus for BrokerHandle {
    async fn publish(&self, envelope: Envelope) -> Result<(), BusError> {
        validate_envelope(&envelope)?;
        self.send(Control::LocalPublish { envelope })
    }

    async fn subscribe(&self, filter: &str) -> Result<Subscription, BusError> {
        self.subscribe_with_capacity(filter, DEFAULT_LOCAL_CAPACITY)
            .await
    }

    async fn subscribe_with_retained(&self, filter: &str) -> Result<Subscription, BusError> {
        check_filter(filter)?;
        let (reply, answer) = oneshot::channel();
        self.send(Control::LocalSubscribe {
            filter: filter.to_owned(),
            capacity: DEFAULT_LOCAL_CAPACITY,
            retained: true,
            reply,
        })?;
        answer.await.map_err(|_| BusError::Closed)
    }

    async fn kick(&self, client_id: &str) -> Result<bool, BusError> {
        self.disconnect_client(client_id, ReasonCode::ADMINISTRATIVE_ACTION)
            .await
    }

    fn intercept(&self, filter: &str, interceptor: Arc<dyn Interceptor>) -> Result<(), BusError> {
        BrokerHandle::intercept(self, filter, interceptor)
    }

    fn client_events(&self) -> mpsc::UnboundedReceiver<ClientEvent> {
        self.client_events.subscribe()
    }

    fn observe_client_events(&self, observer: hearth_bus::ClientObserver) {
        self.client_events.observe(observer);
    }
}
