//! [`ExternalBus`]: `hearth_bus::Bus` over an MQTT 5 client connected to an existing
//! broker or cluster (issue 21, `[mqtt] mode = "external"`; docs/scale.md
//! "External-broker mode").
//!
//! Services keep their one seam: a publish is a client publish (user properties,
//! response topic, ... carried over, marked as a Hearth node's, see
//! [`routes::SERVICE_PROPERTY`]); a subscription is a client subscription; an
//! interceptor is a shared subscription `$share/<group>/<filter>` at QoS 1 with manual
//! acknowledgement, so that the nodes of one group split the devices' messages and a
//! message is acknowledged to the broker only when every interceptor accepted its
//! token (ingest: after the store commit). A refused or dropped token sends no PUBACK
//! and ends the connection: MQTT brokers send unacknowledged messages again only when
//! the session resumes, so the bus reconnects (clean start off, session expiry on) and
//! gets them again.
//!
//! What a generic MQTT client cannot do: [`Bus::kick`] (no broker has a standard way to
//! disconnect another client; Mosquitto's dynamic-security plugin revokes, another
//! helper's code), and [`Bus::client_events`] (nothing tells a subscriber of other
//! clients' connections; presence then comes from devices' status topics and wills,
//! their messages and heartbeat timeouts).
//!
//! # Layout
//! - `routes`: wire subscriptions, their identifiers, who gets a delivery, envelopes.
//! - `session`: the connection task (event loop, acknowledgements, reconnects).

mod routes;
mod session;

pub use routes::{ExternalCounters, SERVICE_PROPERTY};

use anyhow::Context;
use async_trait::async_trait;
use hearth_broker::external::ExternalBrokerConfig;
use hearth_bus::{Bus, BusError, ClientEvents, Envelope, Interceptor, Qos, Subscription};
use routes::{Routes, Target};
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::{Filter, RetainForwardRule, SubscribeProperties};
use rumqttc::v5::{AsyncClient, MqttOptions};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};

/// How many messages a service's subscription may fall behind by before further ones
/// are dropped for it (as the built-in broker's handle does).
const SUBSCRIPTION_CAPACITY: usize = 4096;

/// How long [`ExternalBus::start`] waits for the first connection.
const FIRST_CONNECT: Duration = Duration::from_secs(15);

/// The running client. Cheap to share behind an `Arc<dyn Bus>`.
pub struct ExternalBus {
    client: AsyncClient,
    inner: Arc<Inner>,
    stop: watch::Sender<bool>,
    task: parking_lot::Mutex<Option<tokio::task::JoinHandle<()>>>,
}

/// What the bus and its connection task share.
pub(crate) struct Inner {
    pub routes: parking_lot::Mutex<Routes>,
    /// Never published to: a generic MQTT client sees no other client's connections.
    pub events: ClientEvents,
    pub commands: mpsc::UnboundedSender<session::Command>,
    /// The connection deliveries now arrive on; a token of an earlier one is stale.
    pub generation: AtomicU64,
    /// Tokens handed out and not completed (shutdown waits for them).
    pub outstanding: AtomicUsize,
    pub counters: Arc<ExternalCounters>,
    pub share_group: String,
    pub receive_maximum: usize,
}

impl ExternalBus {
    /// Connects to `config`'s broker as `client_id` and waits for the first CONNACK
    /// (a refusal, such as bad credentials, or a certificate that does not verify is an
    /// error at once; an unreachable broker after [`FIRST_CONNECT`]). `max_packet_size`:
    /// the largest message accepted.
    pub async fn start(
        config: &ExternalBrokerConfig,
        client_id: &str,
        max_packet_size: u32,
    ) -> anyhow::Result<ExternalBus> {
        let url = String::from(config.url.clone());
        let mut options = MqttOptions::new(client_id, config.url.host.clone(), config.url.port);
        options
            .set_clean_start(false)
            .set_session_expiry_interval(Some(config.session_expiry_secs))
            .set_keep_alive(Duration::from_secs(u64::from(
                config.keep_alive_secs.max(5),
            )))
            .set_connection_timeout(10)
            .set_manual_acks(true)
            .set_receive_maximum(Some(config.receive_maximum))
            .set_max_packet_size(Some(max_packet_size));
        if let Some(username) = &config.username {
            let password = config.password().map_err(anyhow::Error::msg)?;
            options.set_credentials(username.clone(), password.unwrap_or_default());
        }
        if config.url.tls {
            let tls = tls_config(config.ca_file.as_deref()).map_err(anyhow::Error::msg)?;
            options.set_transport(rumqttc::Transport::tls_with_config(
                rumqttc::TlsConfiguration::Rustls(tls),
            ));
        }
        let capacity = usize::from(config.receive_maximum) * 2 + 1024;
        let (client, events) = AsyncClient::new(options, capacity);
        let (commands, commands_rx) = mpsc::unbounded_channel();
        let inner = Arc::new(Inner {
            routes: parking_lot::Mutex::new(Routes::default()),
            events: ClientEvents::new(),
            commands,
            generation: AtomicU64::new(0),
            outstanding: AtomicUsize::new(0),
            counters: Arc::default(),
            share_group: config.share_group.clone(),
            receive_maximum: usize::from(config.receive_maximum),
        });
        let (stop, stopped) = watch::channel(false);
        let (first_tx, first_rx) = oneshot::channel();
        let task = tokio::spawn(
            session::Session::new(events, client.clone(), inner.clone(), commands_rx, first_tx)
                .run(stopped),
        );
        let bus = ExternalBus {
            client,
            inner,
            stop,
            task: parking_lot::Mutex::new(Some(task)),
        };
        match tokio::time::timeout(FIRST_CONNECT, first_rx).await {
            Ok(Ok(Ok(()))) => {
                tracing::info!(%url, client_id, "connected to the external MQTT broker");
                Ok(bus)
            }
            Ok(Ok(Err(error))) => {
                bus.shutdown().await;
                anyhow::bail!("the external MQTT broker {url} {error}")
            }
            _ => {
                bus.shutdown().await;
                anyhow::bail!("cannot reach the external MQTT broker {url}")
            }
        }
    }

    /// What the bus counted (deliveries, PUBACKs, refusals, connections).
    pub fn counters(&self) -> Arc<ExternalCounters> {
        self.inner.counters.clone()
    }

    /// Lets the acknowledgements of what interceptors hold go out (up to 5 s), then
    /// disconnects; the broker keeps the session (and whatever was not acknowledged)
    /// for the next start.
    pub async fn shutdown(&self) {
        let _ = self.stop.send(true);
        let task = self.task.lock().take();
        if let Some(task) = task {
            let _ = task.await;
        }
    }

    /// Subscribes `filter` on the wire for `target` (once per distinct filter).
    fn route(
        &self,
        filter: &str,
        qos: QoS,
        target: Target,
        retained: bool,
    ) -> Result<(), BusError> {
        if !routes::valid_filter(filter) {
            return Err(BusError::InvalidTopic(filter.to_owned()));
        }
        let (id, new) = self.inner.routes.lock().add(filter, target);
        if new || retained {
            subscribe(&self.client, filter, id, qos, retained)?;
        }
        // A delivery the last process left unacknowledged may be waiting for this
        // subscription (see `session`).
        let _ = self.inner.commands.send(session::Command::Redispatch);
        Ok(())
    }
}

/// One SUBSCRIBE on the wire: `id` as its subscription identifier; retained messages
/// only when asked (a plain [`Bus::subscribe`] on the built-in broker gets none).
pub(crate) fn subscribe(
    client: &AsyncClient,
    filter: &str,
    id: usize,
    qos: QoS,
    retained: bool,
) -> Result<(), BusError> {
    let mut wire = Filter::new(filter, qos);
    wire.retain_forward_rule = if retained {
        RetainForwardRule::OnEverySubscribe
    } else {
        RetainForwardRule::Never
    };
    let properties = SubscribeProperties {
        id: Some(id),
        user_properties: Vec::new(),
    };
    client
        .try_subscribe_many_with_properties(vec![wire], properties)
        .map_err(|_| BusError::Closed)
}

#[async_trait]
impl Bus for ExternalBus {
    async fn publish(&self, message: Envelope) -> Result<(), BusError> {
        let topic = &*message.topic;
        if topic.is_empty() || topic.contains(['+', '#', '\0']) {
            return Err(BusError::InvalidTopic(topic.to_owned()));
        }
        let qos = match message.qos {
            Qos::AtMostOnce => QoS::AtMostOnce,
            Qos::AtLeastOnce => QoS::AtLeastOnce,
            Qos::ExactlyOnce => QoS::ExactlyOnce,
        };
        let properties = routes::properties(&message);
        self.client
            .publish_with_properties(topic, qos, message.retain, message.payload, properties)
            .await
            .map_err(|_| BusError::Closed)
    }

    async fn subscribe(&self, filter: &str) -> Result<Subscription, BusError> {
        let (sender, receiver) = mpsc::channel(SUBSCRIPTION_CAPACITY);
        self.route(filter, QoS::AtMostOnce, Target::Subscriber(sender), false)?;
        Ok(Subscription { receiver })
    }

    async fn subscribe_with_retained(&self, filter: &str) -> Result<Subscription, BusError> {
        let (sender, receiver) = mpsc::channel(SUBSCRIPTION_CAPACITY);
        self.route(filter, QoS::AtMostOnce, Target::Subscriber(sender), true)?;
        Ok(Subscription { receiver })
    }

    /// Not possible over plain MQTT: `Ok(false)`. Revoking a device at the external
    /// broker is the broker's (Mosquitto: the dynamic-security sync; EMQX: its HTTP auth
    /// answers and kick API).
    async fn kick(&self, client_id: &str) -> Result<bool, BusError> {
        tracing::debug!(
            client_id,
            "external broker: kick is not available over MQTT"
        );
        Ok(false)
    }

    fn intercept(&self, filter: &str, interceptor: Arc<dyn Interceptor>) -> Result<(), BusError> {
        let shared = format!("$share/{}/{filter}", self.inner.share_group);
        self.route(
            &shared,
            QoS::AtLeastOnce,
            Target::Interceptor(interceptor),
            false,
        )
    }

    /// Nothing arrives: a client of an external broker does not see other clients'
    /// connections (presence comes from status topics, wills and timeouts).
    fn client_events(&self) -> mpsc::UnboundedReceiver<hearth_bus::ClientEvent> {
        self.inner.events.subscribe()
    }

    fn observe_client_events(&self, observer: hearth_bus::ClientObserver) {
        self.inner.events.observe(observer);
    }
}

/// The client id a node uses when `[mqtt.external] client_id` is unset:
/// `hearth-<host name>-<node id>`, the node id made once and kept in
/// `<data_dir>/node-id`, so that a restarted node resumes its own session (and two
/// nodes on one machine with their own data directories do not take each other's).
pub fn default_client_id(data_dir: &Path) -> anyhow::Result<String> {
    Ok(format!("hearth-{}-{}", host_name(), node_id(data_dir)?))
}

/// This node's id, made once and kept in `<data_dir>/node-id`: its client id at the
/// broker and its name as the coordinator lease's holder.
pub fn node_id(data_dir: &Path) -> anyhow::Result<String> {
    let path = data_dir.join("node-id");
    match std::fs::read_to_string(&path) {
        Ok(text) if !text.trim().is_empty() => Ok(text.trim().to_owned()),
        _ => {
            let mut random = [0u8; 4];
            getrandom::fill(&mut random).map_err(|error| anyhow::anyhow!("{error}"))?;
            let node = hex::encode(random);
            std::fs::write(&path, format!("{node}\n"))
                .with_context(|| format!("writing {}", path.display()))?;
            Ok(node)
        }
    }
}

/// This machine's host name, reduced to what a client id safely holds.
fn host_name() -> String {
    let mut buffer = [0u8; 256];
    // SAFETY: the buffer is writable for its length; the result is NUL-terminated or
    // truncated, and read only up to the first NUL.
    let status = unsafe { libc::gethostname(buffer.as_mut_ptr().cast(), buffer.len()) };
    let name = if status == 0 {
        let end = buffer
            .iter()
            .position(|byte| *byte == 0)
            .unwrap_or(buffer.len());
        String::from_utf8_lossy(&buffer[..end]).into_owned()
    } else {
        String::new()
    };
    let name: String = name
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .take(40)
        .collect();
    if name.is_empty() {
        "node".to_owned()
    } else {
        name
    }
}

/// The rustls client configuration for `mqtts://`: `ca_file`'s CAs, else the system's.
fn tls_config(ca_file: Option<&Path>) -> Result<Arc<rustls::ClientConfig>, String> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    match ca_file {
        Some(path) => {
            let failed =
                |error: String| format!("[mqtt.external] ca_file {}: {error}", path.display());
            let certs = CertificateDer::pem_file_iter(path)
                .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                .map_err(|error| failed(error.to_string()))?;
            if certs.is_empty() {
                return Err(failed("no PEM certificate".into()));
            }
            for cert in certs {
                roots.add(cert).map_err(|error| failed(error.to_string()))?;
            }
        }
        None => {
            for cert in rustls_native_certs::load_native_certs().certs {
                let _ = roots.add(cert);
            }
            if roots.is_empty() {
                return Err("[mqtt.external]: no system CA certificates: give ca_file".into());
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
    fn the_default_client_id_stays_with_its_data_directory() {
        let (first, second) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let id = default_client_id(first.path()).unwrap();
        assert!(id.starts_with("hearth-"), "{id}");
        assert_eq!(
            default_client_id(first.path()).unwrap(),
            id,
            "a restart resumes"
        );
        assert_ne!(
            default_client_id(second.path()).unwrap(),
            id,
            "another node"
        );
    }
}
