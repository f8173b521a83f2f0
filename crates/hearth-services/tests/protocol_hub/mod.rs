//! The hub the device-protocol tests share: a whole hub (`hearth_testkit::start_hub`,
//! commands acknowledged within 2 seconds) with devices `d0..d{n}` and `slow`, and
//! real MQTT clients.
#![allow(dead_code)] // each test binary uses its own part of it

pub mod failing_store;
mod failing_store_automations;
mod failing_store_claims;
mod failing_store_discovery;
mod failing_store_firmware;
mod failing_store_identities;
mod failing_store_layouts;
mod failing_store_leases;
mod failing_store_mirror;
mod failing_store_sites;

use hearth_broker::{Broker, BrokerConfig};
use hearth_bus::Bus;
use hearth_model::{DeviceId, MessageKind};
use hearth_services::commands::{CommandConfig, Commands};
use hearth_services::ingest::{Ingest, IngestConfig, IngestCounters};
use hearth_services::{Registry, RegistryAuthorizer, registry::DeviceSpec};
use hearth_store::{MessageQuery, Store, TimeRange};
use hearth_testkit::{Backend, TestHub, ids};
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::Packet;
use rumqttc::v5::{AsyncClient, Event, EventLoop, MqttOptions};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

pub use hearth_testkit::ADMIN_PASSWORD;

pub const DEADLINE: Duration = Duration::from_secs(30);
/// How long the commands service waits for a device's ack in these tests.
pub const ACK_TIMEOUT_SECS: u32 = 2;

pub struct ProtocolHub {
    services: Services,
    pub secrets: HashMap<String, String>,
}

enum Services {
    Hub(Box<TestHub>),
    ByHand(Box<ByHand>),
}

/// The services assembled by hand, in the order `hearth::hub::Hub` starts them, around
/// a store the hub cannot open itself (see [`ProtocolHub::start_on`]).
struct ByHand {
    store: Arc<dyn Store>,
    broker: Broker,
    ingest: Ingest,
    commands: Commands,
    _watcher: tokio::task::JoinHandle<()>,
}

/// Devices `d0..d{n}`, and `slow` with a 5-second heartbeat timeout.
fn device_specs(n_devices: usize) -> Vec<DeviceSpec> {
    let mut specs: Vec<DeviceSpec> = (0..n_devices)
        .map(|index| DeviceSpec::new(ids::device(&format!("d{index}"))))
        .collect();
    specs.push(DeviceSpec {
        heartbeat_timeout_secs: Some(5),
        ..DeviceSpec::new(ids::device("slow"))
    });
    specs
}

async fn add_devices(registry: &Registry, n_devices: usize) -> HashMap<String, String> {
    registry
        .add_devices("test", device_specs(n_devices), &|_| {})
        .await
        .unwrap()
        .into_iter()
        .map(|(id, secret)| (id.to_string(), secret))
        .collect()
}

impl ProtocolHub {
    /// A hub on `backend` with devices `d0..d{n}`; `slow` gets a 5-second heartbeat
    /// timeout.
    pub async fn start(backend: Backend, n_devices: usize) -> ProtocolHub {
        let hub = hearth_testkit::start_hub_with(backend, |config| {
            config.commands.ack_timeout_secs = ACK_TIMEOUT_SECS;
        })
        .await;
        let secrets = add_devices(hub.registry(), n_devices).await;
        // The devices are in the authorizer's snapshot before a test connects.
        hub.authorizer().refresh(hub.bus().as_ref()).await.unwrap();
        ProtocolHub {
            services: Services::Hub(Box::new(hub)),
            secrets,
        }
    }

    /// The same services and devices on `store`, assembled by hand: for a store
    /// wrapper (`failing_store`), which `hearth::hub::Hub` cannot take since it opens
    /// its store from the configuration's URL.
    pub async fn start_on(store: Arc<dyn Store>, n_devices: usize) -> ProtocolHub {
        let registry = Registry::new(store.clone());
        registry
            .ensure_owner(Some(ADMIN_PASSWORD.into()))
            .await
            .unwrap();
        let secrets = add_devices(&registry, n_devices).await;
        let authorizer = RegistryAuthorizer::load(store.clone(), false, None)
            .await
            .unwrap();
        let client_events = Arc::new(hearth_bus::ClientEvents::new());
        let connections = Some(client_events.subscribe());
        let broker = Broker::start_with_events(
            BrokerConfig::ephemeral(),
            authorizer.clone(),
            None,
            client_events,
        )
        .await
        .unwrap();
        let bus: Arc<dyn Bus> = Arc::new(broker.handle());
        let watcher = authorizer.watch(bus.clone());
        let ingest = Ingest::start(
            store.clone(),
            bus.clone(),
            connections,
            IngestConfig::default(),
        )
        .await
        .unwrap();
        let command_config = CommandConfig {
            ack_timeout_secs: ACK_TIMEOUT_SECS,
            ..CommandConfig::default()
        };
        let commands =
            Commands::start(store.clone(), bus, ingest.presence_events(), command_config)
                .await
                .unwrap();
        ProtocolHub {
            services: Services::ByHand(Box::new(ByHand {
                store,
                broker,
                ingest,
                commands,
                _watcher: watcher,
            })),
            secrets,
        }
    }

    pub fn store(&self) -> Arc<dyn Store> {
        match &self.services {
            Services::Hub(hub) => hub.store(),
            Services::ByHand(parts) => parts.store.clone(),
        }
    }

    pub fn commands(&self) -> &Commands {
        match &self.services {
            Services::Hub(hub) => hub.commands(),
            Services::ByHand(parts) => &parts.commands,
        }
    }

    pub fn ingest_counters(&self) -> &Arc<IngestCounters> {
        match &self.services {
            Services::Hub(hub) => hub.ingest_counters(),
            Services::ByHand(parts) => parts.ingest.counters(),
        }
    }

    pub fn port(&self) -> u16 {
        match &self.services {
            Services::Hub(hub) => hub.mqtt().port(),
            Services::ByHand(parts) => parts.broker.local_addrs().mqtt.unwrap().port(),
        }
    }

    /// A connected v5 client; `device` logs in with its secret, `None` as the admin.
    pub async fn client(&self, device: Option<&str>, client_id: &str) -> (AsyncClient, EventLoop) {
        let mut options = MqttOptions::new(client_id, "127.0.0.1", self.port());
        match device {
            Some(device) => options.set_credentials(device, self.secrets[device].as_str()),
            None => options.set_credentials("admin", ADMIN_PASSWORD),
        };
        let (client, mut eventloop) = AsyncClient::new(options, 64);
        wait_for(&mut eventloop, |packet| {
            matches!(packet, Packet::ConnAck(_))
        })
        .await;
        (client, eventloop)
    }

    pub async fn messages(
        &self,
        device: &str,
        kind: Option<MessageKind>,
    ) -> Vec<hearth_model::StoredMessage> {
        self.store()
            .messages(&MessageQuery {
                device: DeviceId::new(device).unwrap(),
                kind,
                range: TimeRange {
                    from_ms: 0,
                    to_ms: i64::MAX,
                },
                limit: 10_000,
            })
            .await
            .unwrap()
    }

    pub async fn device(&self, device: &str) -> hearth_model::Device {
        self.store()
            .device(&DeviceId::new(device).unwrap())
            .await
            .unwrap()
    }
}

pub async fn wait_for(eventloop: &mut EventLoop, wanted: impl Fn(&Packet) -> bool) -> Packet {
    let wait = async {
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(packet)) if wanted(&packet) => return packet,
                Ok(_) => {}
                Err(error) => panic!("client failed: {error:?}"),
            }
        }
    };
    tokio::time::timeout(DEADLINE, wait)
        .await
        .expect("packet arrived in time")
}

/// Publishes QoS 1 and returns the PUBACK's reason once it arrives.
pub async fn publish_acked(
    client: &AsyncClient,
    eventloop: &mut EventLoop,
    topic: &str,
    payload: &[u8],
) -> u8 {
    client
        .publish(topic, QoS::AtLeastOnce, false, payload.to_vec())
        .await
        .unwrap();
    match wait_for(eventloop, |packet| matches!(packet, Packet::PubAck(_))).await {
        Packet::PubAck(ack) => ack.reason as u8,
        _ => unreachable!(),
    }
}

pub async fn eventually<F, Fut>(mut condition: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = tokio::time::Instant::now();
    while started.elapsed() < DEADLINE {
        if condition().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}
