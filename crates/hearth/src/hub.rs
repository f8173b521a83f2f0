//! [`Hub`]: every service of a running hub, started in order and stopped in reverse.
//!
//! The order is the dependency order: the store, the registry and its authorizer, the
//! broker (which needs the authorizer), the services that reach the broker through the
//! bus (ingest, commands, retention), and last the HTTP API, which needs them all.
//! Shutdown walks back: the HTTP server stops taking requests and finishes those in
//! flight, the background tasks end, the broker closes every connection and hands over
//! what it holds, commands and ingest write what they were given, and the store closes.

use anyhow::Context;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::task::JoinHandle;

use crate::adapters::{
    AlertAdapter, CommandAdapter, CredentialAdapter, EngineAdapter, feed_alert_metrics,
    feed_metrics,
};
use crate::config::HearthConfig;
use crate::startup::{add_notification_channels, first_start, redact};
use hearth_api::AppState;
use hearth_broker::persist::BrokerStore;
use hearth_bus::{Bus, ClientEvents};
use hearth_services::automations::engine::{Clock, Engine, EngineCounters, SystemClock};
use hearth_services::commands::Commands;
use hearth_services::ingest::{Ingest, IngestCounters, IngestRole};
use hearth_services::lease::Leadership;
use hearth_services::{LoginLimiter, Registry, RegistryAuthorizer};
use hearth_store::{RedbBrokerStore, Store};

/// Where a started hub listens (`None`: that listener is off).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HubAddrs {
    pub mqtt: Option<SocketAddr>,
    pub ws: Option<SocketAddr>,
    pub mqtts: Option<SocketAddr>,
    pub wss: Option<SocketAddr>,
    pub http: Option<SocketAddr>,
    /// The API and web app over TLS (`--https`).
    pub https: Option<SocketAddr>,
    /// The listener that answers 301 to the HTTPS address (`--http-redirect`).
    pub http_redirect: Option<SocketAddr>,
}

/// The HTTP server's task and the way to stop it.
struct HttpServer {
    stop: tokio::sync::watch::Sender<bool>,
    task: JoinHandle<()>,
}

/// A running hub. Dropping it without [`Hub::shutdown`] aborts nothing in order: call
/// `shutdown` so that everything acknowledged is written before the process ends.
pub struct Hub {
    addrs: HubAddrs,
    store: Arc<dyn Store>,
    registry: Registry,
    authorizer: Arc<RegistryAuthorizer>,
    /// The built-in broker or the external one (`[mqtt] mode`).
    broker: crate::hub_broker::MessageBroker,
    ingest: Ingest,
    commands: Commands,
    /// The automation and alert engines (on a cluster's node, while it coordinates).
    brain: crate::coordinator::BrainSlot,
    /// A cluster node's coordinator task and lease (`None` on a single hub).
    coordinator: Option<crate::coordinator::CoordinatorTask>,
    leadership: Option<Leadership>,
    alert_services: hearth_services::alerts::AlertServices,
    delivery: hearth_services::notify::delivery::Delivery,
    /// Firmware rollouts (only with the HTTP API, which serves the downloads).
    ota: Option<hearth_services::ota::Ota>,
    /// Home Assistant discovery (`None` when `[discovery] enabled = false`).
    discovery: Option<hearth_services::discovery::Discovery>,
    /// The link to a cloud hub (`None` without `[bridge]`).
    bridge: Option<hearth_services::bridge::Bridge>,
    /// The Mosquitto dynamic-security sync (`None` without `[dynsec]`).
    dynsec: Option<hearth_services::dynsec::DynsecSync>,
    http: Option<HttpServer>,
    /// Tasks that only react (watchers, retention, the heap trimmer, the `/metrics`
    /// feed): nothing is lost when they are aborted.
    background: Vec<JoinHandle<()>>,
}

impl Hub {
    /// Opens the store, creates the owner account on an empty registry (with
    /// `admin_password`, or a generated one that is logged once), and starts every
    /// service with `config`.
    pub async fn start(
        config: HearthConfig,
        admin_password: Option<String>,
    ) -> anyhow::Result<Hub> {
        Hub::start_with_clock(config, admin_password, Arc::new(SystemClock)).await
    }

    /// [`Hub::start`] with the automation engine on `clock` (tests move time by hand).
    pub async fn start_with_clock(
        mut config: HearthConfig,
        admin_password: Option<String>,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Hub> {
        std::fs::create_dir_all(&config.data_dir)
            .with_context(|| format!("creating data directory {}", config.data_dir.display()))?;
        let database_url = config.database_url()?;
        let store = hearth_store::open(&database_url)
            .await
            .with_context(|| format!("opening the database {}", redact(&database_url)))?;
        tracing::info!(backend = store.backend(), "registry store ready");

        let registry = Registry::new(store.clone());
        first_start(&registry, admin_password).await?;
        let applied = hearth_services::layouts::apply_configured(&registry, &config.layouts)
            .await
            .map_err(|error| anyhow::anyhow!("applying the configured layouts: {error}"))?;
        if applied > 0 {
            tracing::info!(applied, "topic layouts from the configuration stored");
        }

        if config.mqtt.auth.allow_anonymous {
            tracing::warn!(
                "anonymous MQTT access is enabled: any client may connect (development mode)"
            );
        }
        let mut background = Vec::new();
        let fallback = crate::hub_broker::file_authorizer(&config, &mut background)?;
        let authorizer =
            RegistryAuthorizer::load(store.clone(), config.mqtt.auth.allow_anonymous, fallback)
                .await
                .context("loading the registry for MQTT auth")?;
        // Discovery logins' rights (set before the broker restores sessions that use them).
        if config.discovery.enabled {
            config
                .discovery
                .check()
                .map_err(anyhow::Error::msg)
                .context("[discovery]")?;
            authorizer
                .discovery_acl()
                .set_prefix(Some(&config.discovery.prefix));
        }
        // One count of failed logins for HTTP and MQTT: neither is a way around the other.
        let login_limiter = Arc::new(LoginLimiter::new(config.api.login_failures_per_minute));
        authorizer.use_login_limiter(login_limiter.clone());

        // The snapshotter reads the broker state for `hearth backup` (control socket).
        let mut snapshotter = None;
        let broker_store: Option<Box<dyn BrokerStore>> = if config.mqtt.persistence {
            let path = config.data_dir.join("broker.redb");
            let store = RedbBrokerStore::open(&path)?;
            snapshotter = Some(store.snapshotter());
            Some(Box::new(store))
        } else {
            None
        };
        // Presence (ingest) and revocation (the authorizer's watcher) subscribe to the
        // broker's client events before it starts, so that no connection goes unseen.
        let client_events = Arc::new(ClientEvents::new());
        let for_presence = client_events.subscribe();
        client_events.observe(authorizer.client_observer());
        crate::https::prepare(&mut config)?;
        let broker = crate::hub_broker::MessageBroker::start(
            &config,
            authorizer.clone(),
            broker_store,
            client_events,
        )
        .await?;
        let bus: Arc<dyn Bus> = broker.bus();
        if let (Some(certificate), Some(tls)) = (broker.certificate(), &config.mqtt.tls) {
            let every = std::time::Duration::from_secs(tls.reload_check_secs.max(1));
            background.extend(crate::https::watch_certificate(certificate, every));
        }
        background.push(authorizer.watch_registry(bus.clone()));
        // A node of a cluster stores its share; presence and the engines are the
        // coordinator's (coordinator.rs).
        let external = broker.builtin().is_none();
        // One node of a cluster at a time coordinates (coordinator.rs, docs/scale.md).
        let leadership = match external {
            true => Some(Leadership::start(
                store.clone(),
                hearth_services::lease::COORDINATOR,
                crate::coordinator::holder_id(&config.data_dir)?,
                std::time::Duration::from_secs(u64::from(config.cluster.lease_secs)),
            )),
            false => None,
        };
        let ingest = Ingest::start_as(
            store.clone(),
            bus.clone(),
            Some(for_presence),
            config.ingest.clone(),
            if external {
                IngestRole::Store
            } else {
                IngestRole::Full
            },
        )
        .await
        .context("starting ingest")?;
        let upkeep = Arc::new(hearth_services::retention::UpkeepCounters::default());
        // The cloud link's interceptors, beside ingest's, before devices publish.
        let bridge = crate::hub_links::start_bridge(&config, &bus, &store, &authorizer)?;
        // Once per cluster: the coordinator's (always a single hub's).
        let once = leadership.clone().unwrap_or_else(Leadership::always);
        let dynsec = crate::hub_links::start_dynsec(&config, &store, once.clone())?;
        background.push(hearth_services::retention::spawn(
            store.clone(),
            config.history.clone(),
            upkeep.clone(),
            once.clone(),
        ));
        // Devices with a topic layout get their commands in their own form.
        let commands = Commands::start_with_options(
            store.clone(),
            bus.clone(),
            ingest.presence_events(),
            config.commands.clone(),
            hearth_services::commands::CommandOptions {
                encoder: Some(Arc::new(hearth_services::layouts::LayoutEncoder {
                    authorizer: authorizer.clone(),
                    // A site's device connected here itself gets its commands here.
                    attachments: Some(ingest.attachments()),
                })),
                // Nodes of a cluster share the store (docs/scale.md).
                cluster: external,
            },
        )
        .await
        .context("starting the commands service")?;
        // Foreign topics of the layouts into ingest and onto devices/{id}/...
        let (translator, translating) = hearth_services::layouts::Translator::start(
            authorizer.clone(),
            bus.clone(),
            ingest.interceptor(),
            Some(commands.clone()),
        );
        background.push(translating);
        // Sites' links (issue 20): their devices' messages into ingest with the home's
        // time, their answers to the commands service.
        let (site_relay, relaying) = ingest
            .start_site_relay(bus.clone(), authorizer.clone(), Some(commands.clone()))
            .context("starting the sites' relay")?;
        background.push(relaying);
        // Sites' registry mirror (docs/sites.md "Registry mirror"): snapshots down,
        // devices created at a home up.
        let (_site_mirror, mirroring) = hearth_services::registry::SiteMirror::start(
            store.clone(),
            bus.clone(),
            Some(authorizer.change_notifier()),
            once.clone(),
        )
        .context("starting the sites' registry mirror")?;
        background.push(mirroring);
        // Home Assistant discovery: announced devices listed until adopted.
        let discovery = if config.discovery.enabled {
            let acl = authorizer.discovery_acl();
            Some(
                hearth_services::discovery::Discovery::start(
                    store.clone(),
                    bus.clone(),
                    config.discovery.clone(),
                    Some(acl),
                    Some(ingest.interceptor()),
                )
                .await
                .context("starting Home Assistant discovery")?,
            )
        } else {
            None
        };
        let http_client = hearth_services::outbound::HttpClient::default();
        let mut channels = hearth_services::notify::Channels::new(http_client.clone());
        let push_key = add_notification_channels(&config, &store, http_client, &mut channels)?;
        let delivery = hearth_services::notify::delivery::Delivery::start_gated(
            store.clone(),
            channels,
            clock.clone(),
            once.clone(),
        );
        let alert_services = hearth_services::alerts::AlertServices {
            store: store.clone(),
            bus: bus.clone(),
            clock: clock.clone(),
            delivery: delivery.clone(),
            config: Arc::new(config.alerts.clone()),
            counters: Arc::default(),
        };
        // A cluster node's automation requests go to the coordinator (engine_relay.rs).
        let relay = match &leadership {
            Some(leadership) => Some(
                crate::engine_relay::RelayClient::start(bus.clone(), leadership.holder_id())
                    .await
                    .context("subscribing to the coordinator's answers")?,
            ),
            None => None,
        };
        let engine_counters = Arc::new(EngineCounters::default());
        let (brain, coordinator) = crate::coordinator::start_engines(
            crate::coordinator::BrainParts {
                store: store.clone(),
                bus: bus.clone(),
                commands: commands.clone(),
                clock,
                engine_config: config.automations.clone(),
                ingest_config: config.ingest.clone(),
                alert_services: alert_services.clone(),
                engine_counters: engine_counters.clone(),
            },
            &ingest,
            leadership.as_ref().map(Leadership::subscribe),
        )
        .await?;
        background.push(crate::memory::spawn_trimmer());
        background.extend(
            crate::backup::control::start(&config.data_dir, snapshotter)
                .context("starting the control socket")?,
        );

        // Every interceptor is in place: MQTT clients may come in (waiting in the
        // listeners' backlog until now).
        broker.accept_connections();
        let broker_addrs = broker.local_addrs();
        let mut addrs = HubAddrs {
            mqtt: broker_addrs.mqtt,
            ws: broker_addrs.ws,
            mqtts: broker_addrs.mqtts,
            wss: broker_addrs.wss,
            ..HubAddrs::default()
        };
        let web =
            crate::https::WebListeners::bind(&config, broker.certificate(), &mut addrs).await?;
        let ota = match web {
            Some(_) => Some(crate::hub_ota::start(
                &config, &addrs, &store, &bus, &commands, &ingest, external,
            )?),
            None => None,
        };
        let coordinator = coordinator.map(|pending| pending.spawn(ota.clone()));
        let http = match web {
            Some(web) => {
                let mut state = AppState::new(
                    store.clone(),
                    registry
                        .clone()
                        .with_change_notifier(authorizer.change_notifier()),
                    config.api.clone(),
                )
                .with_login_limiter(login_limiter)
                .with_log_levels_if(crate::logging::levels())
                .with_commands(Arc::new(CommandAdapter(commands.clone())))
                .with_automation_runner(Arc::new(EngineAdapter {
                    brain: brain.clone(),
                    relay: relay.clone(),
                }))
                .with_push_key_if(push_key)
                .with_alert_desk(Arc::new(AlertAdapter {
                    services: alert_services.clone(),
                    brain: brain.clone(),
                }))
                .with_mqtt_credentials(Arc::new(CredentialAdapter {
                    authorizer: authorizer.clone(),
                    bus: bus.clone(),
                    ws_url: crate::browser_mqtt::browser_ws_url(
                        &config,
                        &authorizer,
                        crate::browser_mqtt::BuiltinListeners {
                            https: addrs.https,
                            ws: broker_addrs.ws,
                            wss: broker_addrs.wss,
                        },
                    )?,
                }));
                // An external broker asks the registry over HTTP (issue 21).
                if let Some(broker_auth) = &config.broker_auth {
                    state = state.with_broker_auth(
                        Arc::new(crate::broker_auth::BrokerAuthAdapter(authorizer.clone())),
                        broker_auth,
                    );
                }
                // Sign-in with identity providers (issue 23, `[oidc]`).
                if !config.oidc.providers.is_empty() {
                    let oidc = hearth_services::oidc::Oidc::new(
                        &config.oidc,
                        state.store.clone(),
                        state.registry.clone(),
                        Default::default(),
                    )
                    .map_err(anyhow::Error::msg)?;
                    state = state.with_oidc(Arc::new(oidc));
                }
                if let Some(ota) = &ota {
                    state = state.with_ota(ota.clone());
                }
                background.push(feed_metrics(
                    &state,
                    broker.builtin(),
                    &authorizer,
                    &ingest,
                    &commands,
                    &engine_counters,
                ));
                crate::adapters::feed_layout_metrics(&state, translator.clone());
                // Devices' live.attached_via (issue 20, devices that move).
                state = state.with_attachments(ingest.attachments());
                if let Some(bridge) = &bridge {
                    state = state.with_bridge(bridge.status_reader());
                    crate::bridge_metrics::feed(&state, bridge.status_reader());
                }
                if let Some(dynsec) = &dynsec {
                    crate::dynsec_metrics::feed(&state, dynsec.status_reader());
                }
                crate::lease_metrics::feed(&state, once.clone());
                crate::history_metrics::feed(&state, upkeep.clone());
                crate::site_metrics::feed(&state, site_relay.clone());
                state = state.with_site_relay(site_relay.clone());
                background.push(feed_alert_metrics(
                    &state,
                    &store,
                    &alert_services,
                    &delivery,
                ));
                let (stop, stopped) = tokio::sync::watch::channel(false);
                let task = web.spawn(state, stopped);
                tracing::info!(
                    http = ?addrs.http,
                    https = ?addrs.https,
                    redirect = ?addrs.http_redirect,
                    "HTTP API listening (docs at /api/docs)"
                );
                Some(HttpServer { stop, task })
            }
            None => None,
        };
        Ok(Hub {
            addrs,
            store,
            registry: registry.with_change_notifier(authorizer.change_notifier()),
            authorizer,
            broker,
            ingest,
            commands,
            brain,
            coordinator,
            leadership,
            alert_services,
            delivery,
            ota,
            discovery,
            bridge,
            dynsec,
            http,
            background,
        })
    }

    pub fn addrs(&self) -> HubAddrs {
        self.addrs
    }

    /// The hub's store (tests read what the hub wrote).
    pub fn store(&self) -> Arc<dyn Store> {
        self.store.clone()
    }

    /// The registry, wired so that its changes reach the running hub at once.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The in-process way to the broker, as services have it.
    pub fn bus(&self) -> Arc<dyn Bus> {
        self.broker.bus()
    }

    pub fn authorizer(&self) -> &Arc<RegistryAuthorizer> {
        &self.authorizer
    }

    pub fn commands(&self) -> &Commands {
        &self.commands
    }

    /// The automation engine.
    pub fn engine(&self) -> Engine {
        self.brain
            .get()
            .expect("a single hub's engines run from start to stop")
            .engine
    }

    /// Firmware rollouts (`None` without the HTTP API).
    pub fn ota(&self) -> Option<&hearth_services::ota::Ota> {
        self.ota.as_ref()
    }

    /// The alert engine.
    pub fn alerts(&self) -> hearth_services::alerts::AlertEngine {
        self.brain
            .get()
            .expect("a single hub's engines run from start to stop")
            .alerts
    }

    /// Raising, acknowledging and clearing alerts, as the API does.
    pub fn alert_services(&self) -> &hearth_services::alerts::AlertServices {
        &self.alert_services
    }

    /// Ingest's counters (messages stored, bad JSON, unknown devices, ...), the ones
    /// `/metrics` reports.
    pub fn ingest_counters(&self) -> &Arc<IngestCounters> {
        self.ingest.counters()
    }

    /// Where each online device is attached (issue 20: its own connection or its
    /// site), for tests and the API.
    pub fn attachments(&self) -> hearth_services::ingest::Attachments {
        self.ingest.attachments()
    }

    /// The bridge's status (`None` without `[bridge]`).
    pub fn bridge_status(&self) -> Option<hearth_services::bridge::BridgeStatus> {
        self.bridge.as_ref().map(|bridge| bridge.status())
    }

    /// Stops every service in reverse order and waits for each.
    pub async fn shutdown(self) {
        if let Some(http) = self.http {
            let _ = http.stop.send(true);
            if let Err(error) = http.task.await {
                tracing::warn!("the HTTP server task failed: {error}");
            }
        }
        for task in &self.background {
            task.abort();
        }
        if let Some(ota) = &self.ota {
            ota.shutdown();
        }
        if let Some(discovery) = &self.discovery {
            discovery.shutdown();
        }
        for task in self.background {
            let _ = task.await;
        }
        // Before commands: a run in flight stops before the service it sends through.
        match self.coordinator {
            Some(coordinator) => {
                coordinator.shutdown().await;
                // Another node takes over at once rather than after the lease's ttl.
                if let Some(leadership) = &self.leadership {
                    leadership.shutdown().await;
                }
            }
            None => {
                if let Some(brain) = self.brain.get() {
                    brain.engine.shutdown().await;
                    brain.alerts.shutdown().await;
                }
            }
        }
        // Attempts in flight finish; what is pending stays for the next start.
        self.delivery.shutdown().await;
        self.broker.shutdown().await;
        // After the broker: what it handed to the bridge is queued on disk.
        if let Some(bridge) = self.bridge {
            bridge.shutdown().await;
        }
        if let Some(dynsec) = self.dynsec {
            dynsec.shutdown().await;
        }
        // After the broker: what it handed over is written before the store closes.
        self.commands.shutdown().await;
        self.ingest.shutdown().await;
        self.store.close().await;
    }
}
