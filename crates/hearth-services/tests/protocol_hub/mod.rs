//! The hub the device-protocol tests share: registry, broker, ingest and commands on a
//! fresh store, with real MQTT clients.
#![allow(dead_code)] // each test binary uses its own part of it

pub mod failing_store;

use hearth_broker::{Broker, BrokerConfig};
use hearth_bus::Bus;
use hearth_model::{DeviceId, MessageKind};
use hearth_services::commands::{CommandConfig, Commands};
use hearth_services::ingest::{Ingest, IngestConfig};
use hearth_services::{Registry, RegistryAuthorizer, registry::DeviceSpec};
use hearth_store::{MessageQuery, Store, TimeRange};
use hearth_testkit::ids;
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::Packet;
use rumqttc::v5::{AsyncClient, Event, EventLoop, MqttOptions};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

pub const ADMIN_PASSWORD: &str = "admin-password-1";
pub const DEADLINE: Duration = Duration::from_secs(30);

pub struct Hub {
    pub store: Arc<dyn Store>,
    pub broker: Broker,
    pub ingest: Ingest,
    pub commands: Commands,
    pub secrets: HashMap<String, String>,
    pub _watcher: tokio::task::JoinHandle<()>,
}

impl Hub {
    /// A hub with devices `d0..d{n}`; `slow` gets a 5-second heartbeat timeout.
    pub async fn start(store: Arc<dyn Store>, n_devices: usize) -> Hub {
        let registry = Registry::new(store.clone());
        registry
            .ensure_owner(Some(ADMIN_PASSWORD.into()))
            .await
            .unwrap();
        let mut secrets = HashMap::new();
        let mut specs: Vec<DeviceSpec> = (0..n_devices)
            .map(|index| DeviceSpec {
                ..DeviceSpec::new(ids::device(&format!("d{index}")))
            })
            .collect();
        specs.push(DeviceSpec {
            heartbeat_timeout_secs: Some(5),
            ..DeviceSpec::new(ids::device("slow"))
        });
        for (id, secret) in registry.add_devices("test", specs, &|_| {}).await.unwrap() {
            secrets.insert(id.to_string(), secret);
        }
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
            ack_timeout_secs: 2,
            ..CommandConfig::default()
        };
        let commands =
            Commands::start(store.clone(), bus, ingest.presence_events(), command_config)
                .await
                .unwrap();
        Hub {
            store,
            broker,
            ingest,
            commands,
            secrets,
            _watcher: watcher,
        }
    }

    pub fn port(&self) -> u16 {
        self.broker.local_addrs().mqtt.unwrap().port()
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
        self.store
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
        self.store
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
