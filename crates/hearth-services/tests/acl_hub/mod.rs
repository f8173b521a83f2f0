//! The hub the MQTT auth tests share: a whole hub (`hearth_testkit::start_hub`) with
//! two applications and three devices, the raw-socket session helper and the
//! revocation helpers.
#![allow(dead_code)] // each test binary uses its own part of it

use hearth_services::registry::DeviceSpec;
use hearth_testkit::{Backend, TestHub, ids};
use serde_json::Value;
use std::ops::Deref;
use std::path::PathBuf;
use std::time::Duration;

pub use hearth_testkit::ADMIN_PASSWORD;

/// A hub (owner `admin` with [`ADMIN_PASSWORD`], whose first start created group `home`
/// and application `default`) with a second application `other` and three devices:
/// `default` holds d1 and d2, `other` holds d3. Derefs to the running hub.
pub struct AclHub {
    pub hub: TestHub,
    pub secrets: std::collections::HashMap<&'static str, String>,
    /// The MQTT key and a fresh secret of `default` (created by the first start).
    pub default_app: (String, String),
    pub other_app: (String, String),
}

impl Deref for AclHub {
    type Target = TestHub;

    fn deref(&self) -> &TestHub {
        &self.hub
    }
}

impl AclHub {
    /// The hub's own presence announcements (`devices/{id}/status`, retained, from
    /// ingest) are off: what an observer receives is what clients published, which is
    /// what these tests check.
    pub async fn start(backend: Backend) -> AclHub {
        let hub = hearth_testkit::start_hub_with(backend, |config| {
            config.ingest.publish_presence = false;
        })
        .await;
        AclHub::with_fixtures(hub).await
    }

    /// Adds the applications' secrets and the devices to a started hub.
    pub async fn with_fixtures(hub: TestHub) -> AclHub {
        let registry = hub.registry();
        // The first start's application: its generated secret was never shown.
        let default_secret = registry
            .rotate_app_secret("test", &ids::app("default"))
            .await
            .expect("rotate default app secret");
        let (other, other_secret) = registry
            .add_app("test", &ids::app("other"), &ids::group("home"), None, None)
            .await
            .expect("second app");
        let default_key = hub
            .store()
            .app(&ids::app("default"))
            .await
            .expect("default app")
            .mqtt_key;
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
        // Everything above is in the authorizer's snapshot before a test connects.
        hub.authorizer()
            .refresh(hub.bus().as_ref())
            .await
            .expect("snapshot reloaded");
        AclHub {
            hub,
            secrets,
            default_app: (default_key, default_secret),
            other_app: (other.mqtt_key, other_secret),
        }
    }

    pub fn port(&self) -> u16 {
        self.mqtt().port()
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

/// Adds `name` (password `{name}-password`), with `role` in group `home` and `grant` on
/// application `default` when given.
pub async fn add_person(
    hub: &AclHub,
    name: &str,
    role: Option<hearth_model::Role>,
    grant: Option<hearth_model::Permission>,
) {
    let user = ids::user(name);
    hub.registry()
        .add_user(
            "test",
            hearth_services::registry::NewUser {
                password: Some(format!("{name}-password")),
                ..hearth_services::registry::NewUser::new(user.clone())
            },
        )
        .await
        .unwrap();
    if let Some(role) = role {
        hub.registry()
            .set_member("test", &ids::group("home"), &user, role)
            .await
            .unwrap();
    }
    if let Some(grant) = grant {
        hub.registry()
            .set_grant("test", &ids::app("default"), &user, grant)
            .await
            .unwrap();
    }
}

pub fn codes(result: &Value, key: &str) -> Value {
    result[key].clone()
}

/// A v5 device client; returns once its CONNACK arrived.
pub async fn connected_device(
    hub: &AclHub,
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
pub async fn wait_until_kicked(hub: &AclHub, eventloop: &mut rumqttc::v5::EventLoop, kicks: u64) {
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
        hub.authorizer()
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
