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

#[async_trait]
impl Bus for BrokerHandle {
    async fn publish(&self, envelope: Envelope) -> Result<(), BusError> {
        topic::validate_topic_name(&envelope.topic)
            .map_err(|_| BusError::InvalidTopic(envelope.topic.to_string()))?;
        self.send(Control::LocalPublish { envelope })
    }

    async fn subscribe(&self, filter: &str) -> Result<Subscription, BusError> {
        self.subscribe_with_capacity(filter, DEFAULT_LOCAL_CAPACITY)
            .await
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
