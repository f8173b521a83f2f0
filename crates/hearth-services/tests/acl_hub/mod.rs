//! The hub the MQTT auth tests share: a broker authorized by the registry, with the
//! raw-socket session helper and the revocation helpers.
#![allow(dead_code)] // each test binary uses its own part of it

use hearth_broker::{Broker, BrokerConfig};
use hearth_bus::Bus;
use hearth_services::{Registry, RegistryAuthorizer, registry::DeviceSpec};
use hearth_store::Store;
use hearth_testkit::ids;
use serde_json::Value;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub const ADMIN_PASSWORD: &str = "admin-password-1";

/// A broker authorized by the registry, with two applications and three devices:
/// `default` holds d1 and d2, `other` holds d3.
pub struct Hub {
    pub broker: Broker,
    pub registry: Registry,
    pub authorizer: Arc<RegistryAuthorizer>,
    pub _watcher: tokio::task::JoinHandle<()>,
    pub secrets: std::collections::HashMap<&'static str, String>,
    pub default_app: (String, String),
    pub other_app: (String, String),
}

impl Hub {
    pub async fn start(store: Arc<dyn Store>) -> Hub {
        let registry = Registry::new(store.clone());
        registry
            .ensure_owner(Some(ADMIN_PASSWORD.into()))
            .await
            .expect("owner account");
        let (default_app, default_secret) = registry
            .rotate_app_secret("test", &ids::app("default"))
            .await
            .map(|secret| ("default".to_owned(), secret))
            .expect("rotate default app secret");
        let (other, other_secret) = registry
            .add_app("test", &ids::app("other"), &ids::group("home"), None, None)
            .await
            .expect("second app");
        let default_key = store
            .app(&"default".parse().unwrap())
            .await
            .expect("default app")
            .mqtt_key;
        assert_eq!(default_app, "default");
        let mut secrets = std::collections::HashMap::new();
        for (id, app) in [("d1", "default"), ("d2", "default"), ("d3", "other")] {
            let (_, secret) = registry
                .add_device(
                    "test",
                    DeviceSpec {
                        app: Some(ids::app(app)),
                        ..DeviceSpec::new(ids::device(id))
                    },
                )
                .await
                .expect("device added");
            secrets.insert(id, secret);
        }
        let authorizer = RegistryAuthorizer::load(store, false, None)
            .await
            .expect("authorizer loads");
        let broker = Broker::start(BrokerConfig::ephemeral(), authorizer.clone())
            .await
            .expect("broker starts");
        let bus: Arc<dyn Bus> = Arc::new(broker.handle());
        let watcher = authorizer.watch(bus);
        let registry = registry.with_change_notifier(authorizer.change_notifier());
        Hub {
            broker,
            registry,
            authorizer,
            _watcher: watcher,
            secrets,
            default_app: (default_key, default_secret),
            other_app: (other.mqtt_key, other_secret),
        }
    }

    pub fn port(&self) -> u16 {
        self.broker.local_addrs().mqtt.expect("tcp listener").port()
    }

    pub fn secret(&self, device: &str) -> &str {
        &self.secrets[device]
    }

    /// Runs one raw-socket session: connect, subscribe each filter, publish each topic
    /// (QoS 1), with the admin observing `#`.
    pub async fn session(
        &self,
        version: u8,
        client_id: &str,
        credentials: Option<(&str, &str)>,
        subscribe: &[&str],
        publish: &[&str],
    ) -> Value {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../hearth-broker/tests/clients/auth_clients.py");
        let mut command = tokio::process::Command::new("python3");
        command
            .arg(script)
            .args(["--port", &self.port().to_string(), "--case", "session"])
            .args(["--version", &version.to_string(), "--client-id", client_id])
            .args(["--observer", &format!("admin:{ADMIN_PASSWORD}")]);
        if let Some((username, password)) = credentials {
            command.args(["--username", username, "--password", password]);
        }
        for filter in subscribe {
            command.args(["--subscribe", filter]);
        }
        for topic in publish {
            command.args(["--publish", topic]);
        }
        let output = tokio::time::timeout(Duration::from_secs(60), command.output())
            .await
            .expect("auth_clients.py finished")
            .expect("python3 runs");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "auth_clients.py failed: {stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_str(stdout.lines().last().unwrap_or_default())
            .unwrap_or_else(|error| panic!("bad JSON from auth_clients.py ({error}): {stdout}"))
    }
}

pub const GRANTED_QOS1: u64 = 1;
pub const NOT_AUTHORIZED: u64 = 0x87;

pub fn codes(result: &Value, key: &str) -> Value {
    result[key].clone()
}

/// A v5 device client; returns once its CONNACK arrived.
pub async fn connected_device(
    hub: &Hub,
    device: &str,
) -> (rumqttc::v5::AsyncClient, rumqttc::v5::EventLoop) {
    let mut options = rumqttc::v5::MqttOptions::new(device, "127.0.0.1", hub.port());
    options.set_credentials(device, hub.secret(device));
    options.set_keep_alive(Duration::from_secs(30));
    let (client, mut eventloop) = rumqttc::v5::AsyncClient::new(options, 16);
    loop {
        match eventloop.poll().await {
            Ok(rumqttc::v5::Event::Incoming(rumqttc::v5::mqttbytes::v5::Packet::ConnAck(ack))) => {
                assert_eq!(
                    ack.code,
                    rumqttc::v5::mqttbytes::v5::ConnectReturnCode::Success
                );
                return (client, eventloop);
            }
            Ok(_) => {}
            Err(error) => panic!("{device} could not connect: {error:?}"),
        }
    }
}

/// Polls until the server closes the client's connection, then waits for the
/// authorizer to count the kick (the DISCONNECT's 0x98 reason code itself is checked by
/// the broker's `handle` tests; rumqttc may report the close before the packet).
pub async fn wait_until_kicked(hub: &Hub, eventloop: &mut rumqttc::v5::EventLoop, kicks: u64) {
    let wait = async {
        loop {
            if let Err(error) = eventloop.poll().await {
                return error;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(30), wait)
        .await
        .expect("the revoked client was disconnected");
    let counted = || {
        hub.authorizer
            .counters()
            .clients_kicked
            .load(std::sync::atomic::Ordering::Relaxed)
    };
    for _ in 0..300 {
        if counted() >= kicks {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(counted(), kicks, "kicks counted by the authorizer");
}
