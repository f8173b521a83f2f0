//! MQTT auth and ACL from the registry, as real clients see them (SPEC §5): every
//! principal × allowed and forbidden topics, publish and subscribe, wildcards included,
//! with exact reason codes (raw-socket client `auth_clients.py` of the broker's tests)
//! and an observer proving that denied publishes reach nobody; revocations (disable,
//! rotate, delete) cutting live connections, made in-process and from "another process"
//! (a second `Registry` on the same store, as the CLI is). Every test runs on SQLite and
//! PostgreSQL.

use hearth_broker::{Broker, BrokerConfig};
use hearth_bus::Bus;
use hearth_services::{Registry, RegistryAuthorizer, registry::DeviceSpec};
use hearth_store::Store;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

const ADMIN_PASSWORD: &str = "admin-password-1";

/// A broker authorized by the registry, with two applications and three devices:
/// `default` holds d1 and d2, `other` holds d3.
struct Hub {
    broker: Broker,
    registry: Registry,
    authorizer: Arc<RegistryAuthorizer>,
    _watcher: tokio::task::JoinHandle<()>,
    secrets: std::collections::HashMap<&'static str, String>,
    default_app: (String, String),
    other_app: (String, String),
}

impl Hub {
    async fn start(store: Arc<dyn Store>) -> Hub {
        let registry = Registry::new(store.clone());
        registry
            .ensure_owner(Some(ADMIN_PASSWORD.into()))
            .await
            .expect("owner account");
        let (default_app, default_secret) = registry
            .rotate_app_secret("test", "default")
            .await
            .map(|secret| ("default".to_owned(), secret))
            .expect("rotate default app secret");
        let (other, other_secret) = registry
            .add_app("test", "other", "home", None, None)
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
                        id: id.into(),
                        app: Some(app.into()),
                        ..DeviceSpec::default()
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

    fn port(&self) -> u16 {
        self.broker.local_addrs().mqtt.expect("tcp listener").port()
    }

    fn secret(&self, device: &str) -> &str {
        &self.secrets[device]
    }

    /// Runs one raw-socket session: connect, subscribe each filter, publish each topic
    /// (QoS 1), with the admin observing `#`.
    async fn session(
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

const GRANTED_QOS1: u64 = 1;
const NOT_AUTHORIZED: u64 = 0x87;

fn codes(result: &Value, key: &str) -> Value {
    result[key].clone()
}

async fn device_may_touch_only_its_own_topics(store: Arc<dyn Store>) {
    let hub = Hub::start(store).await;
    let result = hub
        .session(
            5,
            "d1",
            Some(("d1", hub.secret("d1"))),
            &[
                "devices/d1/commands/#",
                "devices/d1/commands/+",
                "devices/d1/commands/relay",
                "devices/d1/#",
                "devices/d1/data",
                "devices/+/commands/#",
                "devices/d2/commands/#",
                "#",
                "$SYS/#",
            ],
            &[
                "devices/d1/data",
                "devices/d1/status",
                "devices/d1/commands/relay/ack",
                "devices/d2/data",
                "devices/d1",
                "home/lights",
            ],
        )
        .await;
    assert_eq!(result["connack"], 0, "{result}");
    assert_eq!(
        codes(&result, "suback"),
        json!({
            "devices/d1/commands/#": GRANTED_QOS1,
            "devices/d1/commands/+": GRANTED_QOS1,
            "devices/d1/commands/relay": GRANTED_QOS1,
            "devices/d1/#": NOT_AUTHORIZED,
            "devices/d1/data": NOT_AUTHORIZED,
            "devices/+/commands/#": NOT_AUTHORIZED,
            "devices/d2/commands/#": NOT_AUTHORIZED,
            "#": NOT_AUTHORIZED,
            "$SYS/#": NOT_AUTHORIZED,
        })
    );
    assert_eq!(
        codes(&result, "puback"),
        json!({
            "devices/d1/data": 0,
            "devices/d1/status": 0,
            "devices/d1/commands/relay/ack": 0,
            "devices/d2/data": NOT_AUTHORIZED,
            "devices/d1": NOT_AUTHORIZED,
            "home/lights": NOT_AUTHORIZED,
        })
    );
    assert_eq!(
        result["observer_got"],
        json!([
            "devices/d1/data",
            "devices/d1/status",
            "devices/d1/commands/relay/ack"
        ])
    );
    let counters = hub.authorizer.counters();
    assert_eq!(
        counters
            .subscribes_denied
            .load(std::sync::atomic::Ordering::Relaxed),
        6
    );
    assert_eq!(
        counters
            .publishes_denied
            .load(std::sync::atomic::Ordering::Relaxed),
        3
    );
}

async fn a_3_1_1_device_is_refused_the_same_way(store: Arc<dyn Store>) {
    let hub = Hub::start(store).await;
    let result = hub
        .session(
            4,
            "d2",
            Some(("d2", hub.secret("d2"))),
            &["devices/d2/commands/#", "devices/d1/commands/#"],
            &["devices/d2/data", "devices/d1/data"],
        )
        .await;
    assert_eq!(result["connack"], 0, "{result}");
    assert_eq!(
        codes(&result, "suback"),
        json!({"devices/d2/commands/#": 1, "devices/d1/commands/#": 0x80})
    );
    // MQTT 3.1.1 has no PUBACK reason: the forbidden message is acknowledged and dropped.
    assert_eq!(result["observer_got"], json!(["devices/d2/data"]));
}

async fn applications_read_and_command_only_their_devices(store: Arc<dyn Store>) {
    let hub = Hub::start(store).await;
    let (key, secret) = &hub.default_app;
    let result = hub
        .session(
            5,
            "integration-1",
            Some((key, secret)),
            &[
                "devices/d1/#",
                "devices/d2/data",
                "devices/d3/#",
                "devices/+/data",
                "devices/#",
                "#",
            ],
            &[
                "devices/d1/commands/relay",
                "devices/d2/commands/light/set",
                "devices/d3/commands/relay",
                "devices/d1/data",
                "apps/default/out",
            ],
        )
        .await;
    assert_eq!(result["connack"], 0, "{result}");
    assert_eq!(
        codes(&result, "suback"),
        json!({
            "devices/d1/#": GRANTED_QOS1,
            "devices/d2/data": GRANTED_QOS1,
            "devices/d3/#": NOT_AUTHORIZED,
            "devices/+/data": NOT_AUTHORIZED,
            "devices/#": NOT_AUTHORIZED,
            "#": NOT_AUTHORIZED,
        })
    );
    assert_eq!(
        codes(&result, "puback"),
        json!({
            "devices/d1/commands/relay": 0,
            "devices/d2/commands/light/set": 0,
            "devices/d3/commands/relay": NOT_AUTHORIZED,
            "devices/d1/data": NOT_AUTHORIZED,
            "apps/default/out": NOT_AUTHORIZED,
        })
    );
    let (key, secret) = &hub.other_app;
    let result = hub
        .session(
            5,
            "integration-2",
            Some((key, secret)),
            &["devices/d3/#", "devices/d1/#"],
            &["devices/d3/commands/relay", "devices/d1/commands/relay"],
        )
        .await;
    assert_eq!(
        codes(&result, "suback"),
        json!({"devices/d3/#": GRANTED_QOS1, "devices/d1/#": NOT_AUTHORIZED})
    );
    assert_eq!(
        codes(&result, "puback"),
        json!({"devices/d3/commands/relay": 0, "devices/d1/commands/relay": NOT_AUTHORIZED})
    );
}

async fn admins_may_do_anything(store: Arc<dyn Store>) {
    let hub = Hub::start(store).await;
    let result = hub
        .session(
            5,
            "admin-console",
            Some(("admin", ADMIN_PASSWORD)),
            // `$SYS/#` last: its retained messages follow its SUBACK.
            &["#", "devices/+/data", "$SYS/#"],
            &["devices/d1/commands/relay", "anything/at/all"],
        )
        .await;
    assert_eq!(result["connack"], 0, "{result}");
    assert_eq!(
        codes(&result, "suback"),
        json!({"#": 1, "$SYS/#": 1, "devices/+/data": 1})
    );
    assert_eq!(
        codes(&result, "puback"),
        json!({"devices/d1/commands/relay": 0, "anything/at/all": 0})
    );
}

async fn bad_credentials_are_refused_with_the_right_code(store: Arc<dyn Store>) {
    let hub = Hub::start(store).await;
    type Case<'a> = (&'a str, Option<(&'a str, &'a str)>, u64);
    let cases: Vec<Case> = vec![
        // Wrong secret: bad user name or password.
        ("d1", Some(("d1", "not-the-secret")), 0x86),
        // Another device's secret.
        ("d1", Some(("d1", hub.secret("d2"))), 0x86),
        // The right secret under a foreign client id.
        ("impostor", Some(("d1", hub.secret("d1"))), 0x87),
        // Unknown user name.
        ("ghost", Some(("ghost", "whatever")), 0x86),
        // No credentials while anonymous access is off.
        ("anon", None, 0x87),
        // A person's password is not an application secret.
        (
            "x",
            Some((hub.default_app.0.as_str(), ADMIN_PASSWORD)),
            0x86,
        ),
    ];
    for (client_id, credentials, expected) in cases {
        let result = hub.session(5, client_id, credentials, &[], &[]).await;
        assert_eq!(
            result["connack"], expected,
            "{client_id} {credentials:?}: {result}"
        );
    }
    // The 3.1.1 return codes: 4 bad user name or password, 5 not authorized.
    let result = hub
        .session(4, "d1", Some(("d1", "not-the-secret")), &[], &[])
        .await;
    assert_eq!(result["connack"], 4, "{result}");
    let result = hub.session(4, "anon", None, &[], &[]).await;
    assert_eq!(result["connack"], 5, "{result}");
}

/// A v5 device client; returns once its CONNACK arrived.
async fn connected_device(
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
async fn wait_until_kicked(hub: &Hub, eventloop: &mut rumqttc::v5::EventLoop, kicks: u64) {
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

async fn revocations_disconnect_live_clients_at_once(store: Arc<dyn Store>) {
    let hub = Hub::start(store).await;
    // Disabling.
    let (_client, mut eventloop) = connected_device(&hub, "d1").await;
    hub.registry
        .set_device_enabled("test", "d1", false)
        .await
        .unwrap();
    wait_until_kicked(&hub, &mut eventloop, 1).await;
    let result = hub
        .session(5, "d1", Some(("d1", hub.secret("d1"))), &[], &[])
        .await;
    assert_eq!(result["connack"], NOT_AUTHORIZED, "disabled: {result}");

    // Rotating the secret: the old one stops working, the new one works.
    let (_client, mut eventloop) = connected_device(&hub, "d2").await;
    let new_secret = hub
        .registry
        .rotate_device_secret("test", "d2")
        .await
        .unwrap();
    wait_until_kicked(&hub, &mut eventloop, 2).await;
    let old = hub
        .session(5, "d2", Some(("d2", hub.secret("d2"))), &[], &[])
        .await;
    assert_eq!(old["connack"], 0x86, "old secret: {old}");
    let new = hub
        .session(
            5,
            "d2",
            Some(("d2", &new_secret)),
            &[],
            &["devices/d2/data"],
        )
        .await;
    assert_eq!(new["connack"], 0, "new secret: {new}");

    // Deleting.
    let (_client, mut eventloop) = connected_device(&hub, "d3").await;
    hub.registry.remove_device("test", "d3").await.unwrap();
    wait_until_kicked(&hub, &mut eventloop, 3).await;
}

async fn changes_from_another_process_reach_the_hub(store: Arc<dyn Store>) {
    let hub = Hub::start(store.clone()).await;
    // The CLI is another process: its Registry rings no notifier of ours; only the
    // audit log tells the hub. A new device can connect once the hub has caught up...
    let cli = Registry::new(store);
    let (_, secret) = cli
        .add_device(
            "cli:test",
            DeviceSpec {
                id: "late".into(),
                app: Some("default".into()),
                ..DeviceSpec::default()
            },
        )
        .await
        .unwrap();
    let mut accepted = false;
    for _ in 0..100 {
        let result = hub
            .session(5, "late", Some(("late", &secret)), &[], &[])
            .await;
        if result["connack"] == 0 {
            accepted = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        accepted,
        "a device added by another process could not connect"
    );
    // ...and a disabled one is cut off without any notification.
    let (_client, mut eventloop) = connected_device(&hub, "d1").await;
    cli.set_device_enabled("cli:test", "d1", false)
        .await
        .unwrap();
    wait_until_kicked(&hub, &mut eventloop, 1).await;
}

/// Adds people: alice (member, control on `default`), bob (viewer), carol (no group).
async fn add_people(hub: &Hub) {
    use hearth_model::{Permission, Role};
    use hearth_services::registry::NewUser;
    for name in ["alice", "bob", "carol"] {
        hub.registry
            .add_user(
                "test",
                NewUser {
                    name: name.into(),
                    password: Some(format!("{name}-password")),
                    ..NewUser::default()
                },
            )
            .await
            .unwrap();
    }
    hub.registry
        .set_member("test", "home", "alice", Role::Member)
        .await
        .unwrap();
    hub.registry
        .set_member("test", "home", "bob", Role::Viewer)
        .await
        .unwrap();
    hub.registry
        .set_grant("test", "default", "alice", Permission::Control)
        .await
        .unwrap();
    hub.registry
        .set_grant("test", "default", "bob", Permission::Control)
        .await
        .unwrap();
}

/// Waits until the authorizer's snapshot includes everything registered so far.
async fn caught_up(hub: &Hub) {
    let bus = hub.broker.handle();
    hub.authorizer.refresh(&bus).await.unwrap();
}

async fn browsers_see_what_their_roles_and_grants_allow(store: Arc<dyn Store>) {
    let hub = Hub::start(store).await;
    add_people(&hub).await;
    caught_up(&hub).await;
    let token = |user: &str| hub.authorizer.issue_user_token(user, "session1", 600_000).0;
    let alice = hub
        .session(
            5,
            "web-alice",
            Some(("alice", &token("alice"))),
            &["devices/d1/#", "devices/d3/data", "devices/+/data", "#"],
            &[
                "devices/d1/commands/relay",
                "devices/d3/commands/relay",
                "devices/d1/data",
            ],
        )
        .await;
    assert_eq!(alice["connack"], 0, "{alice}");
    // A member without a grant on `other` still sees its devices (view), but only
    // the control grant on `default` lets her switch.
    assert_eq!(
        codes(&alice, "suback"),
        json!({"devices/d1/#": 1, "devices/d3/data": 1, "devices/+/data": NOT_AUTHORIZED, "#": NOT_AUTHORIZED})
    );
    assert_eq!(
        codes(&alice, "puback"),
        json!({
            "devices/d1/commands/relay": 0,
            "devices/d3/commands/relay": NOT_AUTHORIZED,
            "devices/d1/data": NOT_AUTHORIZED,
        })
    );
    // A viewer never switches, whatever the grant says.
    let bob = hub
        .session(
            5,
            "web-bob",
            Some(("bob", &token("bob"))),
            &["devices/d1/#"],
            &["devices/d1/commands/relay"],
        )
        .await;
    assert_eq!(codes(&bob, "suback"), json!({"devices/d1/#": 1}));
    assert_eq!(
        codes(&bob, "puback"),
        json!({"devices/d1/commands/relay": NOT_AUTHORIZED})
    );
    // Outside every group: nothing.
    let carol = hub
        .session(
            5,
            "web-carol",
            Some(("carol", &token("carol"))),
            &["devices/d1/#"],
            &[],
        )
        .await;
    assert_eq!(
        codes(&carol, "suback"),
        json!({"devices/d1/#": NOT_AUTHORIZED})
    );
    // Someone else's token, a forged one, a password instead of a token.
    let cases: [(&str, String); 3] = [
        ("bob", token("alice")),
        ("alice", token("alice").replace("alice", "admin")),
        ("alice", "alice-password".to_owned()),
    ];
    for (user, password) in cases {
        let result = hub
            .session(5, "web-x", Some((user, &password)), &[], &[])
            .await;
        assert_eq!(result["connack"], 0x86, "{user} {password}: {result}");
    }
}

async fn logout_and_lost_grants_cut_browsers_off(store: Arc<dyn Store>) {
    let hub = Hub::start(store).await;
    add_people(&hub).await;
    caught_up(&hub).await;
    let connect = |user: &'static str, session: &'static str| {
        let (token, _) = hub.authorizer.issue_user_token(user, session, 600_000);
        let mut options =
            rumqttc::v5::MqttOptions::new(format!("web-{user}-{session}"), "127.0.0.1", hub.port());
        options.set_credentials(user, token);
        rumqttc::v5::AsyncClient::new(options, 16)
    };
    async fn connack(eventloop: &mut rumqttc::v5::EventLoop) {
        loop {
            match eventloop.poll().await {
                Ok(rumqttc::v5::Event::Incoming(rumqttc::v5::mqttbytes::v5::Packet::ConnAck(
                    _,
                ))) => return,
                Ok(_) => {}
                Err(error) => panic!("browser could not connect: {error:?}"),
            }
        }
    }
    // Logging out of one session cuts that session's browser only.
    let (_one, mut one_loop) = connect("alice", "s1");
    connack(&mut one_loop).await;
    let (_two, mut two_loop) = connect("alice", "s2");
    connack(&mut two_loop).await;
    let bus = hub.broker.handle();
    assert_eq!(hub.authorizer.revoke_session("s1", &bus).await, 1);
    wait_until_kicked(&hub, &mut one_loop, 1).await;
    // Losing the control grant cuts her remaining browser.
    hub.registry
        .set_grant("test", "default", "alice", hearth_model::Permission::View)
        .await
        .unwrap();
    wait_until_kicked(&hub, &mut two_loop, 2).await;
    // A revoked session's token no longer works.
    let (_again, mut again_loop) = connect("alice", "s1");
    let refused = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            if let Err(error) = again_loop.poll().await {
                return format!("{error:?}");
            }
        }
    })
    .await
    .unwrap();
    assert!(refused.contains("BadUserNamePassword"), "{refused}");
}

hearth_testkit::both_backends!(
    browsers_see_what_their_roles_and_grants_allow,
    logout_and_lost_grants_cut_browsers_off,
    device_may_touch_only_its_own_topics,
    a_3_1_1_device_is_refused_the_same_way,
    applications_read_and_command_only_their_devices,
    admins_may_do_anything,
    bad_credentials_are_refused_with_the_right_code,
    revocations_disconnect_live_clients_at_once,
    changes_from_another_process_reach_the_hub,
);
