//! Which broker a hub's services reach through their `Arc<dyn Bus>`: the built-in one
//! (`[mqtt] mode = "builtin"`, the default) or an external broker or cluster as a
//! client (`"external"`, issue 21; docs/scale.md "External-broker mode"). The hub asks
//! this type for the bus and for what only the built-in broker has (listeners, its
//! counters); services never learn which one they have.

use anyhow::Context;
use hearth_broker::external::MqttMode;
use hearth_broker::persist::BrokerStore;
use hearth_broker::transport::CertificateSource;
use hearth_broker::{Broker, LocalAddrs};
use hearth_bus::{Authorizer, Bus, ClientEvents};
use std::sync::Arc;

use crate::config::HearthConfig;
use crate::external_bus::ExternalBus;

/// The broker a hub runs on.
pub(crate) enum MessageBroker {
    Builtin(Broker),
    External {
        bus: Arc<ExternalBus>,
        /// `[mqtt.tls]`'s certificate, for the hub's HTTPS listener (no MQTTS here).
        certificate: Option<Arc<CertificateSource>>,
    },
}

impl MessageBroker {
    /// Starts the built-in broker, or connects to the external one (which then needs
    /// neither `broker_store` nor `client_events`: nothing publishes connection events
    /// there, see `external_bus`).
    pub(crate) async fn start(
        config: &HearthConfig,
        authorizer: Arc<dyn Authorizer>,
        broker_store: Option<Box<dyn BrokerStore>>,
        client_events: Arc<ClientEvents>,
    ) -> anyhow::Result<MessageBroker> {
        let mqtt = &config.mqtt;
        hearth_broker::external::check_mode(mqtt.mode, mqtt.external.as_ref())
            .map_err(anyhow::Error::msg)?;
        match (mqtt.mode, &mqtt.external) {
            (MqttMode::External, Some(external)) => {
                drop(broker_store);
                let client_id = match &external.client_id {
                    Some(id) => id.clone(),
                    None => crate::external_bus::default_client_id(&config.data_dir)?,
                };
                let bus = ExternalBus::start(external, &client_id, mqtt.limits.max_packet_size)
                    .await
                    .context("connecting to the external MQTT broker")?;
                let certificate = match &mqtt.tls {
                    Some(tls) => Some(
                        CertificateSource::load(&tls.cert_file, &tls.key_file)
                            .context("loading the HTTPS certificate")?,
                    ),
                    None => None,
                };
                tracing::info!("external-broker mode: no MQTT or WebSocket listener on this hub");
                Ok(MessageBroker::External {
                    bus: Arc::new(bus),
                    certificate,
                })
            }
            _ => Ok(MessageBroker::Builtin(
                Broker::start_paused(mqtt.clone(), authorizer, broker_store, client_events)
                    .await
                    .context("starting the MQTT broker")?,
            )),
        }
    }

    /// Lets MQTT clients in: the hub calls it once every service has registered its
    /// interceptors, so that no acknowledged publish goes unstored (the external bus
    /// has its own answer: it subscribes where services intercept).
    pub(crate) fn accept_connections(&self) {
        if let MessageBroker::Builtin(broker) = self {
            broker.accept_connections();
        }
    }

    /// What services publish, subscribe and intercept through.
    pub(crate) fn bus(&self) -> Arc<dyn Bus> {
        match self {
            MessageBroker::Builtin(broker) => Arc::new(broker.handle()),
            MessageBroker::External { bus, .. } => bus.clone(),
        }
    }

    /// The TLS certificate the hub's HTTPS listener serves.
    pub(crate) fn certificate(&self) -> Option<&Arc<CertificateSource>> {
        match self {
            MessageBroker::Builtin(broker) => broker.certificate(),
            MessageBroker::External { certificate, .. } => certificate.as_ref(),
        }
    }

    /// The MQTT listeners (none in external mode).
    pub(crate) fn local_addrs(&self) -> LocalAddrs {
        match self {
            MessageBroker::Builtin(broker) => broker.local_addrs().clone(),
            MessageBroker::External { .. } => LocalAddrs::default(),
        }
    }

    /// The built-in broker, for what only it has (its `/metrics` counters).
    pub(crate) fn builtin(&self) -> Option<&Broker> {
        match self {
            MessageBroker::Builtin(broker) => Some(broker),
            MessageBroker::External { .. } => None,
        }
    }

    /// Stops the broker, or lets the external bus acknowledge what is committed and
    /// disconnect (its session stays at the broker).
    pub(crate) async fn shutdown(self) {
        match self {
            MessageBroker::Builtin(broker) => broker.shutdown().await,
            MessageBroker::External { bus, .. } => bus.shutdown().await,
        }
    }
}

/// The broker's password and ACL files as the registry's fallback, if configured: the
/// password file still admits the users it lists (for setups migrated from Mosquitto;
/// the registry is asked first), and with anonymous access and an ACL file but no
/// password file, the file's anonymous section still governs anonymous clients (as in
/// Mosquitto). Its watcher goes into `background`.
pub(crate) fn file_authorizer(
    config: &HearthConfig,
    background: &mut Vec<tokio::task::JoinHandle<()>>,
) -> anyhow::Result<Option<Arc<dyn Authorizer>>> {
    let auth = &config.mqtt.auth;
    if auth.password_file.is_none() && !(auth.allow_anonymous && auth.acl_file.is_some()) {
        return Ok(None);
    }
    let file_auth = Arc::new(
        hearth_broker::file_auth::FileAuthorizer::load(auth)
            .context("loading broker password/ACL files")?,
    );
    background.push(file_auth.watch());
    Ok(Some(if auth.password_file.is_some() {
        file_auth as Arc<dyn Authorizer>
    } else {
        Arc::new(AclOnly(file_auth)) as Arc<dyn Authorizer>
    }))
}

/// The broker's ACL file without a password file: it rules what anonymous clients may
/// touch, and admits nobody itself (a `FileAuthorizer` without passwords would let any
/// unknown user name in as anonymous). An unknown name costs a password check, as it
/// does in the registry, so that timing does not tell names apart.
struct AclOnly(Arc<hearth_broker::file_auth::FileAuthorizer>);

#[async_trait::async_trait]
impl Authorizer for AclOnly {
    async fn authenticate(
        &self,
        request: &hearth_bus::ConnectRequest,
    ) -> Result<hearth_bus::Principal, hearth_bus::AuthError> {
        let candidate = request.password.clone().unwrap_or_default();
        let _ =
            tokio::task::spawn_blocking(move || hearth_services::secret::dummy_verify(&candidate))
                .await;
        Err(hearth_bus::AuthError::bad_credentials("unknown user name"))
    }

    fn authorize(
        &self,
        principal: &hearth_bus::Principal,
        client_id: &str,
        action: hearth_bus::Action,
        topic: &str,
    ) -> bool {
        self.0.authorize(principal, client_id, action, topic)
    }
}
