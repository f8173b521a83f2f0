//! The external bus's connection task: one rumqttc event loop for the life of the bus
//! (so that rumqttc resends this node's unacknowledged publishes on the resumed
//! session), deliveries handed to their targets, and PUBACKs once every interceptor
//! accepted.
//!
//! Acknowledgements belong to the connection the delivery came on: each connection has
//! a generation, a token carries the one it was made in, and an acceptance that comes
//! after its connection ended sends nothing (the broker delivers the message again on
//! the resumed session, with a packet id that may by then name another message).
//! rumqttc drops the PUBACK requests still in its channel when a connection fails, and
//! this task, which alone writes acknowledgements, bumps the generation before it
//! writes anything else, so no acknowledgement crosses from one connection to the next.

use super::Inner;
use super::routes::{self, Target};
use bytes::Bytes;
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::{Packet, Publish};
use rumqttc::v5::{AsyncClient, ConnectionError, Event, EventLoop};
use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};

/// What the bus and the tokens ask of the connection task.
pub(crate) enum Command {
    /// Every interceptor accepted the delivery `pkid` of connection `generation`.
    Ack {
        generation: u64,
        pkid: u16,
        qos: QoS,
    },
    /// An interceptor refused a delivery of connection `generation`: reconnect, so
    /// that the broker sends it again.
    Refused { generation: u64 },
    /// A subscription was added: hand it the deliveries no subscription took yet.
    Redispatch,
}

/// How long shutdown waits for interceptors to accept what they hold.
const DRAIN: Duration = Duration::from_secs(5);

/// How long after the bus started a delivery no subscription takes waits for one (the
/// services subscribe within a second of the start). Past it, the delivery belongs to a
/// subscription the last process made and this one will not (a service turned off):
/// it is acknowledged and dropped, so that such messages do not fill the window the
/// broker keeps for this node.
const ORPHAN_GRACE: Duration = Duration::from_secs(30);

pub(crate) struct Session {
    events: EventLoop,
    client: AsyncClient,
    inner: Arc<Inner>,
    commands: mpsc::UnboundedReceiver<Command>,
    first: Option<oneshot::Sender<Result<(), String>>>,
    /// Acknowledgements that did not fit in rumqttc's request channel yet.
    unsent: VecDeque<Publish>,
    /// Deliveries of this connection no subscription of this process takes yet (the
    /// last process's, redelivered before its services registered again), unacknowledged.
    parked: Vec<Publish>,
    attempt: u32,
    started: tokio::time::Instant,
}

impl Session {
    pub(crate) fn new(
        events: EventLoop,
        client: AsyncClient,
        inner: Arc<Inner>,
        commands: mpsc::UnboundedReceiver<Command>,
        first: oneshot::Sender<Result<(), String>>,
    ) -> Session {
        Session {
            events,
            client,
            inner,
            commands,
            first: Some(first),
            unsent: VecDeque::new(),
            parked: Vec::new(),
            attempt: 0,
            started: tokio::time::Instant::now(),
        }
    }

    pub(crate) async fn run(mut self, mut stop: watch::Receiver<bool>) {
        let mut draining: Option<tokio::time::Instant> = None;
        loop {
            while let Some(ack) = self.unsent.front() {
                if self.client.try_ack(ack).is_err() {
                    break;
                }
                self.unsent.pop_front();
            }
            if let Some(deadline) = draining
                && (self.inner.outstanding.load(Ordering::Acquire) == 0
                    || tokio::time::Instant::now() >= deadline)
            {
                break;
            }
            tokio::select! {
                event = self.events.poll() => match event {
                    Ok(Event::Incoming(Packet::ConnAck(connack))) => self.connected(connack.session_present),
                    Ok(Event::Incoming(Packet::Publish(publish))) => {
                        if draining.is_none() {
                            self.deliver(publish);
                        }
                    }
                    Ok(Event::Incoming(Packet::SubAck(suback))) => refused_subscriptions(&suback),
                    Ok(Event::Incoming(Packet::Disconnect(disconnect))) => {
                        tracing::warn!(reason = ?disconnect.reason_code, "external broker: disconnected by the broker");
                    }
                    Ok(_) => {}
                    Err(error) => {
                        self.lost(&error);
                        if draining.is_some() || !self.pause(&mut stop).await {
                            return;
                        }
                    }
                },
                Some(command) = self.commands.recv() => match command {
                    Command::Ack { generation, pkid, qos } => self.ack(generation, pkid, qos),
                    Command::Refused { generation } => {
                        if generation == self.generation() {
                            tracing::warn!("external broker: a delivery was refused; reconnecting so that it comes again");
                            // Drops the connection (no DISCONNECT: the session stays).
                            self.events.clean();
                            self.lost_connection();
                            if !self.pause(&mut stop).await {
                                return;
                            }
                        }
                    }
                    Command::Redispatch => {
                        for publish in std::mem::take(&mut self.parked) {
                            self.deliver(publish);
                        }
                    }
                },
                changed = stop.changed(), if draining.is_none() => {
                    let _ = changed;
                    draining = Some(tokio::time::Instant::now() + DRAIN);
                }
                _ = tokio::time::sleep(Duration::from_millis(50)), if draining.is_some() => {}
                // Parked deliveries nobody took within the grace are let go.
                _ = tokio::time::sleep_until(self.started + ORPHAN_GRACE), if !self.parked.is_empty() => {
                    for publish in std::mem::take(&mut self.parked) {
                        self.deliver(publish);
                    }
                }
            }
        }
        // The broker keeps the session: whatever was not acknowledged comes again.
        let _ = self.client.try_disconnect();
        let _ = tokio::time::timeout(Duration::from_millis(500), async {
            while self.events.poll().await.is_ok() {}
        })
        .await;
    }

    fn generation(&self) -> u64 {
        self.inner.generation.load(Ordering::Acquire)
    }

    fn connected(&mut self, session_present: bool) {
        self.attempt = 0;
        self.inner.counters.connects.fetch_add(1, Ordering::Relaxed);
        if let Some(first) = self.first.take() {
            let _ = first.send(Ok(()));
        }
        // A new session has no subscriptions: make them all again.
        if !session_present {
            let filters = self.inner.routes.lock().filters();
            for (filter, id) in filters {
                let qos = if filter.starts_with("$share/") {
                    QoS::AtLeastOnce
                } else {
                    QoS::AtMostOnce
                };
                if super::subscribe(&self.client, &filter, id, qos, false).is_err() {
                    tracing::warn!(filter, "external broker: cannot subscribe again");
                }
            }
        }
        tracing::info!(session_present, "external broker: connected");
    }

    /// The connection failed: nothing of it may be acknowledged any more.
    fn lost(&mut self, error: &ConnectionError) {
        // What will not change by trying again fails the start at once: a refused
        // login, a certificate that does not verify.
        let fatal = match error {
            ConnectionError::ConnectionRefused(code) => Some(format!("refused this hub: {code:?}")),
            ConnectionError::Tls(error) => Some(format!("failed TLS: {error}")),
            _ => None,
        };
        if let Some(reason) = fatal
            && let Some(first) = self.first.take()
        {
            let _ = first.send(Err(reason));
        }
        tracing::warn!(%error, "external broker: connection lost");
        self.lost_connection();
    }

    fn lost_connection(&mut self) {
        self.inner.generation.fetch_add(1, Ordering::AcqRel);
        // Redelivered on the next connection, with packet ids of that connection.
        self.parked.clear();
        self.unsent.clear();
    }

    /// Waits before the next connection attempt (0.5 s doubling to 10 s); `false` when
    /// the bus is stopping.
    async fn pause(&mut self, stop: &mut watch::Receiver<bool>) -> bool {
        let delay =
            Duration::from_millis(500u64 << self.attempt.min(5)).min(Duration::from_secs(10));
        self.attempt = self.attempt.saturating_add(1);
        if *stop.borrow() {
            return false;
        }
        tokio::select! {
            _ = tokio::time::sleep(delay) => true,
            _ = stop.changed() => false,
        }
    }

    fn ack(&mut self, generation: u64, pkid: u16, qos: QoS) {
        if generation != self.generation() {
            self.inner
                .counters
                .stale_acks
                .fetch_add(1, Ordering::Relaxed);
            return;
        }
        // rumqttc needs only the packet id and QoS of the delivery to answer it.
        let mut publish = Publish::new("", qos, Bytes::new(), None);
        publish.pkid = pkid;
        self.inner.counters.acked.fetch_add(1, Ordering::Relaxed);
        if !self.unsent.is_empty() || self.client.try_ack(&publish).is_err() {
            self.unsent.push_back(publish);
        }
    }

    /// Hands one delivery to its targets; acknowledges it now when no interceptor
    /// holds it, else when the last one accepts.
    fn deliver(&mut self, publish: Publish) {
        let received_at = hearth_model::now_millis();
        let Some((message, from_service)) = routes::envelope(&publish, received_at) else {
            self.ack(self.generation(), publish.pkid, publish.qos);
            return;
        };
        let ids = routes::delivery_ids(&publish);
        let targets = self.inner.routes.lock().targets(&ids, &message.topic);
        let Some(targets) = targets else {
            // Left unacknowledged until a subscription takes it; bounded by the
            // receive maximum the broker honours.
            if publish.qos == QoS::AtMostOnce {
                return;
            }
            if self.started.elapsed() >= ORPHAN_GRACE {
                self.inner.counters.orphaned.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(topic = %message.topic, "external broker: a delivery for a subscription this node no longer has; dropped");
                self.ack(self.generation(), publish.pkid, publish.qos);
            } else if self.parked.len() < self.inner.receive_maximum {
                self.parked.push(publish);
            }
            return;
        };
        self.inner
            .counters
            .delivered
            .fetch_add(1, Ordering::Relaxed);
        let mut interceptors = Vec::new();
        for target in targets {
            match target {
                Target::Subscriber(sender) => {
                    let _ = sender.try_send(message.clone());
                }
                // A Hearth node's own publish is a service's: interceptors see client
                // publishes only.
                Target::Interceptor(interceptor) if !from_service => interceptors.push(interceptor),
                Target::Interceptor(_) => {}
            }
        }
        if publish.qos == QoS::AtMostOnce {
            for interceptor in interceptors {
                interceptor.intercept(&message, None);
            }
            return;
        }
        let generation = self.generation();
        if interceptors.is_empty() {
            self.ack(generation, publish.pkid, publish.qos);
            return;
        }
        if interceptors
            .iter()
            .any(|interceptor| interceptor.admit(&message).is_err())
        {
            self.inner.counters.refused.fetch_add(1, Ordering::Relaxed);
            let _ = self.inner.commands.send(Command::Refused { generation });
            return;
        }
        let remaining = Arc::new(AtomicUsize::new(interceptors.len()));
        let failed = Arc::new(AtomicBool::new(false));
        for interceptor in interceptors {
            let (remaining, failed) = (remaining.clone(), failed.clone());
            let inner = self.inner.clone();
            let (pkid, qos) = (publish.pkid, publish.qos);
            inner.outstanding.fetch_add(1, Ordering::AcqRel);
            let token = hearth_bus::AckToken::with_reason(move |result| {
                inner.outstanding.fetch_sub(1, Ordering::AcqRel);
                match result {
                    Ok(()) => {
                        if remaining.fetch_sub(1, Ordering::AcqRel) == 1
                            && !failed.load(Ordering::Acquire)
                        {
                            let _ = inner.commands.send(Command::Ack {
                                generation,
                                pkid,
                                qos,
                            });
                        }
                    }
                    Err(_) => {
                        if !failed.swap(true, Ordering::AcqRel) {
                            inner.counters.refused.fetch_add(1, Ordering::Relaxed);
                            let _ = inner.commands.send(Command::Refused { generation });
                        }
                    }
                }
            });
            interceptor.intercept(&message, Some(token));
        }
    }
}

/// Says loudly when the broker refused a subscription: a node whose shared
/// subscription was refused takes no share of the devices' messages and would
/// otherwise look healthy (docs/scale.md: what the nodes' login must be allowed).
fn refused_subscriptions(suback: &rumqttc::v5::mqttbytes::v5::SubAck) {
    use rumqttc::v5::mqttbytes::v5::SubscribeReasonCode;
    let refused: Vec<&SubscribeReasonCode> = suback
        .return_codes
        .iter()
        .filter(|code| !matches!(code, SubscribeReasonCode::Success(_)))
        .collect();
    if !refused.is_empty() {
        let reason = suback
            .properties
            .as_ref()
            .and_then(|properties| properties.reason_string.as_deref())
            .unwrap_or("");
        tracing::error!(
            codes = ?refused,
            reason,
            "external broker: a subscription of this node was refused; its ACL must let \
             the nodes' login subscribe to devices/#, $share/<share_group>/devices/# and \
             hearth/cluster/# (docs/scale.md)"
        );
    }
}
