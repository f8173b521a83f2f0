//! The link to the cloud: one MQTT 5 client (rumqttc, rustls on ring) that sends the
//! queue in order (QoS 1: deleted after the cloud's PUBACK; a QoS 0 rule: deleted once
//! handed to the client), and republishes what the inbound rules bring in (by default
//! the cloud's commands for this site) on the home bus.
//!
//! Inbound messages are acknowledged to the cloud (manual acks) only after the home bus
//! took them; when it did not, the connection is ended unacknowledged so that the cloud
//! sends them again on the resumed session. Loop guard: the link subscribes with "no
//! local" (the cloud does not return what the link itself published), and what it
//! republishes at home is a service publish, which no interceptor (so not the queue)
//! sees: a message that came in is not sent back out.
//!
//! Sessions: clean start false with a session expiry, so the cloud keeps the command
//! subscription (and the commands queued for it) while the link is down. A new rumqttc
//! event loop per connection: rumqttc would replay its unacknowledged publishes in
//! packet-id order, not in queue order, so instead the link resends from the head of
//! the queue after each reconnect (at least once, order per device kept; the cloud may
//! see a message twice when its PUBACK was lost).

use super::config::BridgeConfig;
use super::queue::{BridgeQueue, QueuedMessage};
use super::status::LinkState;
use super::topics::TopicRule;
use hearth_bus::{Bus, Envelope, Qos};
use rumqttc::Outgoing;
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::{
    Filter, Packet, PubAckReason, Publish, PublishProperties, SubscribeReasonCode,
};
use rumqttc::v5::{AsyncClient, Event, MqttOptions};
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::sync::{Notify, mpsc, watch};

/// The MQTT 5 user property carrying the home's receive time (epoch ms, decimal).
pub const RECEIVED_AT: &str = "hearth-received-at";

/// Everything the link task needs.
pub(crate) struct Link {
    pub config: BridgeConfig,
    pub secret: String,
    pub tls: Option<Arc<rustls::ClientConfig>>,
    pub queue: Arc<BridgeQueue>,
    pub committed: Arc<Notify>,
    pub bus: Arc<dyn Bus>,
    pub state: Arc<LinkState>,
    /// The registry mirror (mirror.rs), when the hub has a store to mirror into.
    pub mirror: Option<Arc<super::mirror::Mirror>>,
}

/// Where one connection stands in the queue.
struct Window {
    /// The last sequence number handed to the client (`None`: from the head).
    cursor: Option<u64>,
    /// Handed to the client, packet id not yet known (in order).
    unassigned: VecDeque<u64>,
    /// Sent, waiting for the PUBACK: packet id → sequence number.
    in_flight: HashMap<u16, u64>,
    /// The queue may hold messages after `cursor`.
    more: bool,
}

/// What the link does with each queued message and each message from the cloud.
struct Rules {
    site: String,
    all: Vec<TopicRule>,
}

fn link_qos(rule: &TopicRule) -> QoS {
    if rule.qos == 0 {
        QoS::AtMostOnce
    } else {
        QoS::AtLeastOnce
    }
}

impl Rules {
    /// The cloud topic and the link's QoS for a queued home topic: the first outbound
    /// rule that takes it.
    fn outbound(&self, topic: &str) -> Option<(String, QoS)> {
        self.all.iter().find_map(|rule| {
            let remote = rule.to_remote(topic, &self.site)?;
            Some((remote, link_qos(rule)))
        })
    }

    /// The home topic for a message from the cloud: the first inbound rule that takes it.
    fn inbound(&self, topic: &str) -> Option<String> {
        self.all
            .iter()
            .find_map(|rule| rule.to_local(topic, &self.site))
    }

    /// A response topic from the cloud, as the home names it (the first rule whose cloud
    /// prefix it has), so that the device's answer goes back up by an outbound rule.
    fn response(&self, topic: &str) -> String {
        self.all
            .iter()
            .find_map(|rule| {
                let rest = topic.strip_prefix(&rule.remote_prefix(&self.site))?;
                Some(format!("{}{rest}", rule.local_prefix))
            })
            .unwrap_or_else(|| topic.to_owned())
    }

    /// The link's subscriptions: each inbound rule's cloud filter, "no local".
    fn subscriptions(&self) -> Vec<Filter> {
        self.all
            .iter()
            .filter(|rule| rule.direction.inbound())
            .map(|rule| {
                let mut filter = Filter::new(rule.remote_filter(&self.site), link_qos(rule));
                filter.nolocal = true;
                filter
            })
            .collect()
    }
}

impl Link {
    /// Connects, sends and reconnects with jittered exponential back-off until `stop`.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let (acked_tx, acked_rx) = mpsc::unbounded_channel();
        let deleter = tokio::spawn(delete_acked(self.queue.clone(), acked_rx));
        let mut attempt = 0u32;
        loop {
            if *stop.borrow() {
                break;
            }
            let connected = self.connection(&mut stop, &acked_tx).await;
            self.state.set_up(false);
            if *stop.borrow() {
                break;
            }
            if connected {
                attempt = 0;
            }
            let delay = backoff(&self.config, attempt);
            attempt = attempt.saturating_add(1);
            tracing::info!(delay_ms = delay.as_millis() as u64, "bridge: reconnecting");
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                // An error: the bridge is gone without a word; stop too.
                changed = stop.changed() => if changed.is_err() { break },
            }
        }
        drop(acked_tx);
        let _ = deleter.await;
    }

    /// One connection, from CONNECT until it fails or `stop`; whether it got a CONNACK.
    async fn connection(
        &self,
        stop: &mut watch::Receiver<bool>,
        acked: &mpsc::UnboundedSender<u64>,
    ) -> bool {
        let config = &self.config;
        let mut options = MqttOptions::new(
            config.link_client_id(),
            config.url.host.clone(),
            config.url.port,
        );
        options
            .set_credentials(config.site.clone(), self.secret.clone())
            .set_clean_start(false)
            .set_session_expiry_interval(Some(config.session_expiry_secs))
            .set_keep_alive(Duration::from_secs(u64::from(
                config.keep_alive_secs.max(5),
            )))
            .set_connection_timeout(10)
            .set_manual_acks(true)
            .set_outgoing_inflight_upper_limit(config.window)
            .set_max_packet_size(Some(super::mirror::MAX_PACKET_BYTES));
        if let Some(tls) = &self.tls {
            options.set_transport(rumqttc::Transport::tls_with_config(
                rumqttc::TlsConfiguration::Rustls(tls.clone()),
            ));
        }
        let (client, mut events) = AsyncClient::new(options, usize::from(config.window) + 64);
        let rules = Rules {
            site: config.site.clone(),
            all: config.rules(),
        };
        let subscriptions = rules.subscriptions();
        // The packet id of the link's own SUBSCRIBE (the first after the CONNACK).
        let mut subscribe_pkid: Option<u16> = None;
        // Inbound messages the home bus took whose acknowledgement did not fit in the
        // client's request channel yet.
        let mut unacked: VecDeque<Publish> = VecDeque::new();
        let mut window = Window {
            cursor: None,
            unassigned: VecDeque::new(),
            in_flight: HashMap::new(),
            more: true,
        };
        let mut connected = false;
        loop {
            while let Some(publish) = unacked.front() {
                if client.try_ack(publish).is_err() {
                    break;
                }
                unacked.pop_front();
            }
            if connected {
                self.fill(&client, &rules, &mut window, acked).await;
            }
            tokio::select! {
                event = events.poll() => match event {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        connected = true;
                        self.state.set_up(true);
                        self.state.connects.fetch_add(1, Ordering::Relaxed);
                        tracing::info!(url = %String::from(config.url.clone()), "bridge: link up");
                        if !subscriptions.is_empty()
                            && let Err(error) = client.try_subscribe_many(subscriptions.clone())
                        {
                            tracing::warn!(%error, "bridge: cannot subscribe");
                        }
                        if let Some(mirror) = &self.mirror {
                            mirror.on_connect(&client);
                        }
                    }
                    // Packet id 0: a QoS 0 publish of the mirror's, not the queue's.
                    Ok(Event::Outgoing(Outgoing::Publish(pkid))) if pkid != 0 => {
                        if let Some(seq) = window.unassigned.pop_front() {
                            window.in_flight.insert(pkid, seq);
                        }
                    }
                    Ok(Event::Incoming(Packet::PubAck(ack))) => {
                        let Some(seq) = window.in_flight.remove(&ack.pkid) else { continue };
                        match ack.reason {
                            PubAckReason::Success | PubAckReason::NoMatchingSubscribers => {
                                self.state.acked.fetch_add(1, Ordering::Relaxed);
                                self.state.link.lock().last_sent_at_ms =
                                    Some(hearth_model::now_millis());
                                let _ = acked.send(seq);
                            }
                            // The cloud will never take it: resending would stop the queue.
                            PubAckReason::NotAuthorized
                            | PubAckReason::TopicNameInvalid
                            | PubAckReason::PayloadFormatInvalid => {
                                self.state.rejected.fetch_add(1, Ordering::Relaxed);
                                tracing::warn!(seq, reason = ?ack.reason, "bridge: the cloud rejected a message; deleted");
                                let _ = acked.send(seq);
                            }
                            // Not stored in the cloud (yet): send it again after a back-off.
                            other => {
                                tracing::warn!(seq, reason = ?other, "bridge: the cloud refused a message; reconnecting");
                                return connected;
                            }
                        }
                    }
                    Ok(Event::Outgoing(Outgoing::Subscribe(pkid))) if subscribe_pkid.is_none() => {
                        subscribe_pkid = Some(pkid);
                    }
                    Ok(Event::Incoming(Packet::SubAck(suback))) if Some(suback.pkid) == subscribe_pkid => {
                        // A Hearth cloud allows a site only its commands: say which rule
                        // it refused rather than wait for messages that never come.
                        for (filter, code) in subscriptions.iter().zip(&suback.return_codes) {
                            if !matches!(code, SubscribeReasonCode::Success(_)) {
                                tracing::warn!(filter = %filter.path, reason = ?code, "bridge: the cloud refused a subscription");
                            }
                        }
                    }
                    Ok(Event::Incoming(Packet::Publish(publish))) => {
                        let taken = self.mirror.as_ref().is_some_and(|mirror| mirror.on_publish(&publish));
                        if !taken && !self.inbound(&rules, &publish).await {
                            // Not acknowledged: the cloud sends it again on the resumed
                            // session after the back-off.
                            return connected;
                        }
                        if publish.qos != QoS::AtMostOnce && client.try_ack(&publish).is_err() {
                            unacked.push_back(publish);
                        }
                    }
                    Ok(Event::Incoming(Packet::Disconnect(disconnect))) => {
                        tracing::warn!(reason = ?disconnect.reason_code, "bridge: the cloud disconnected the link");
                    }
                    Ok(_) => {}
                    Err(error) => {
                        tracing::warn!(%error, "bridge: link down");
                        return connected;
                    }
                },
                _ = self.committed.notified() => window.more = true,
                _ = stop.changed() => {
                    let _ = client.try_disconnect();
                    // Lets the DISCONNECT out (the session stays in the cloud).
                    let _ = tokio::time::timeout(Duration::from_millis(500), async {
                        while events.poll().await.is_ok() {}
                    })
                    .await;
                    return connected;
                }
            }
        }
    }

    /// Hands queued messages to the client until the window is full or the queue ends.
    async fn fill(
        &self,
        client: &AsyncClient,
        rules: &Rules,
        window: &mut Window,
        acked: &mpsc::UnboundedSender<u64>,
    ) {
        let window_size = usize::from(self.config.window);
        while window.more {
            let used = window.unassigned.len() + window.in_flight.len();
            // Refills once half the window is acknowledged: one queue read per half
            // window rather than one per PUBACK.
            if used * 2 > window_size || used >= window_size {
                return;
            }
            let want = window_size - used;
            let queue = self.queue.clone();
            let after = window.cursor;
            let read = tokio::task::spawn_blocking(move || queue.read(after, want)).await;
            let batch: Vec<QueuedMessage> = match read {
                Ok(Ok(batch)) => batch,
                Ok(Err(error)) => {
                    tracing::error!(%error, "bridge: cannot read the queue");
                    return;
                }
                Err(_) => return,
            };
            if batch.len() < want {
                window.more = false;
            }
            for queued in batch {
                let Some((topic, qos)) = rules.outbound(&queued.message.topic) else {
                    // Queued under an earlier configuration no rule now takes.
                    self.state.rejected.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(seq = queued.seq, topic = %queued.message.topic, "bridge: no outbound rule takes this queued message; deleted");
                    window.cursor = Some(queued.seq);
                    let _ = acked.send(queued.seq);
                    continue;
                };
                let properties = PublishProperties {
                    user_properties: vec![(
                        RECEIVED_AT.to_owned(),
                        queued.message.received_at_ms.to_string(),
                    )],
                    ..PublishProperties::default()
                };
                let sent = client.try_publish_with_properties(
                    topic,
                    qos,
                    false,
                    queued.message.payload.clone(),
                    properties,
                );
                if sent.is_err() {
                    window.more = true;
                    return;
                }
                self.state.sent.fetch_add(1, Ordering::Relaxed);
                window.cursor = Some(queued.seq);
                if qos == QoS::AtMostOnce {
                    // At most once: nothing will acknowledge it, and its packet id 0 is
                    // no key for the window.
                    self.state.link.lock().last_sent_at_ms = Some(hearth_model::now_millis());
                    let _ = acked.send(queued.seq);
                } else {
                    window.unassigned.push_back(queued.seq);
                }
            }
        }
    }

    /// A message from the cloud (by default a command for one of this site's devices)
    /// onto the home bus, as the home's own services would publish it. Whether the home
    /// bus took it (or it is for no rule and is dropped): only then is it acknowledged.
    async fn inbound(&self, rules: &Rules, publish: &Publish) -> bool {
        let Ok(topic) = std::str::from_utf8(&publish.topic) else {
            return true;
        };
        let Some(home) = rules.inbound(topic) else {
            tracing::debug!(topic, "bridge: a message from the cloud no rule takes");
            return true;
        };
        let qos = match publish.qos {
            QoS::AtMostOnce => Qos::AtMostOnce,
            _ => Qos::AtLeastOnce,
        };
        let mut message = Envelope::new(home.clone(), publish.payload.clone()).with_qos(qos);
        if let Some(properties) = publish.properties.clone() {
            message.response_topic = properties
                .response_topic
                .map(|response| Arc::from(rules.response(&response)));
            message.correlation_data = properties.correlation_data;
            message.content_type = properties.content_type.map(Arc::from);
            message.message_expiry = properties.message_expiry_interval;
            message.user_properties = properties
                .user_properties
                .into_iter()
                .map(|(key, value)| (Arc::from(key), Arc::from(value)))
                .collect();
        }
        match self.bus.publish(message).await {
            Ok(()) => {
                self.state.commands.fetch_add(1, Ordering::Relaxed);
                true
            }
            Err(error) => {
                tracing::warn!(%error, topic = home, "bridge: not published at home; the cloud will send it again");
                false
            }
        }
    }
}

/// Deletes acknowledged messages: everything waiting in one transaction.
async fn delete_acked(queue: Arc<BridgeQueue>, mut acked: mpsc::UnboundedReceiver<u64>) {
    let mut seqs = Vec::new();
    while acked.recv_many(&mut seqs, 65_536).await > 0 {
        let batch = std::mem::take(&mut seqs);
        let queue = queue.clone();
        match tokio::task::spawn_blocking(move || queue.remove(&batch)).await {
            Ok(Ok(_)) => {}
            // Left in the queue: sent again after the next reconnect.
            Ok(Err(error)) => {
                tracing::error!(%error, "bridge: cannot delete acknowledged messages")
            }
            Err(error) => tracing::error!(%error, "bridge: the delete task failed"),
        }
    }
}

/// The wait before connection attempt `attempt + 1`: `reconnect_min_ms` doubled per
/// failed attempt up to `reconnect_max_ms`, then a random point in its upper half, so
/// that many homes do not return to a restarted cloud in step.
pub fn backoff(config: &BridgeConfig, attempt: u32) -> Duration {
    let base = config
        .reconnect_min_ms
        .saturating_mul(1u64 << attempt.min(32))
        .min(config.reconnect_max_ms);
    let mut random = [0u8; 8];
    let _ = getrandom::fill(&mut random);
    let half = base / 2;
    let jitter = if half == 0 {
        0
    } else {
        u64::from_le_bytes(random) % (half + 1)
    };
    Duration::from_millis(base - half + jitter)
}

/// The rustls client configuration for `mqtts://`: `ca_file`'s CAs, else the system's.
pub fn tls_config(config: &BridgeConfig) -> Result<Arc<rustls::ClientConfig>, String> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    match &config.ca_file {
        Some(path) => {
            let certs = CertificateDer::pem_file_iter(path)
                .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                .map_err(|error| format!("[bridge] ca_file {}: {error}", path.display()))?;
            if certs.is_empty() {
                return Err(format!(
                    "[bridge] ca_file {}: no PEM certificate",
                    path.display()
                ));
            }
            for cert in certs {
                roots
                    .add(cert)
                    .map_err(|error| format!("[bridge] ca_file {}: {error}", path.display()))?;
            }
        }
        None => {
            for cert in rustls_native_certs::load_native_certs().certs {
                let _ = roots.add(cert);
            }
            if roots.is_empty() {
                return Err("[bridge]: no system CA certificates: give ca_file".into());
            }
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|error| error.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_pick_the_first_match_and_answer_on_the_homes_topics() {
        use crate::bridge::topics::{Direction, TopicRule};
        let lights = TopicRule {
            pattern: "lights/#".into(),
            direction: Direction::Both,
            qos: 0,
            local_prefix: "lights/".into(),
            remote_prefix: "homes/{site}/lights/".into(),
        };
        let rules = Rules {
            site: "h".into(),
            all: vec![
                TopicRule::out("devices/+/data").unwrap(),
                TopicRule::out("devices/#").unwrap(),
                lights,
                TopicRule::commands(),
            ],
        };
        assert_eq!(
            rules.outbound("devices/d/data"),
            Some(("sites/h/devices/d/data".into(), QoS::AtLeastOnce))
        );
        assert_eq!(
            rules.outbound("lights/porch"),
            Some(("homes/h/lights/porch".into(), QoS::AtMostOnce))
        );
        assert_eq!(rules.outbound("other/x"), None);
        assert_eq!(
            rules
                .inbound("sites/h/devices/d/commands/reboot")
                .as_deref(),
            Some("devices/d/commands/reboot")
        );
        assert_eq!(rules.inbound("sites/h/devices/d/data"), None, "out only");
        assert_eq!(rules.inbound("sites/h2/devices/d/commands/reboot"), None);
        assert_eq!(
            rules.response("sites/h/devices/d/commands/reboot/ack"),
            "devices/d/commands/reboot/ack"
        );
        assert_eq!(rules.response("elsewhere/x"), "elsewhere/x");
        let filters: Vec<_> = rules
            .subscriptions()
            .into_iter()
            .map(|filter| (filter.path, filter.qos, filter.nolocal))
            .collect();
        assert_eq!(
            filters,
            vec![
                ("homes/h/lights/#".into(), QoS::AtMostOnce, true),
                (
                    "sites/h/devices/+/commands/+".into(),
                    QoS::AtLeastOnce,
                    true
                )
            ]
        );
    }

    #[test]
    fn backoff_doubles_within_bounds_with_jitter() {
        let mut config = BridgeConfig::new("mqtt://127.0.0.1:1", "home-1", "s").unwrap();
        config.reconnect_min_ms = 100;
        config.reconnect_max_ms = 1000;
        for (attempt, base) in [
            (0, 100),
            (1, 200),
            (2, 400),
            (3, 800),
            (4, 1000),
            (40, 1000),
        ] {
            for _ in 0..20 {
                let delay = backoff(&config, attempt).as_millis() as u64;
                assert!(delay >= base / 2 && delay <= base, "{attempt}: {delay}");
            }
        }
    }
}
