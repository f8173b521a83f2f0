//! Ingest and remote control over real MQTT clients on SQLite and PostgreSQL.
//!
//! Ingest (issue 6): device messages become history, points and live state; a QoS 1
//! message is in the store by the time its PUBACK arrives; bad JSON is kept raw and
//! flagged; unknown devices are not ingested; presence follows connections, status
//! messages and timeouts, is stored as status history and announced retained on
//! `devices/{id}/status`.
//!
//! Commands (issue 7): a simulated device that acks, one that fails, one that never
//! answers, and one that is offline when the command is sent.

use hearth_broker::{Broker, BrokerConfig};
use hearth_bus::Bus;
use hearth_model::{DeviceId, MessageKind, PresenceReason};
use hearth_services::commands::{CommandConfig, Commands};
use hearth_services::ingest::{Ingest, IngestConfig};
use hearth_services::{Registry, RegistryAuthorizer, registry::DeviceSpec};
use hearth_store::{MessageQuery, Store, TimeRange};
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::Packet;
use rumqttc::v5::{AsyncClient, Event, EventLoop, MqttOptions};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

const ADMIN_PASSWORD: &str = "admin-password-1";
const DEADLINE: Duration = Duration::from_secs(30);

struct Hub {
    store: Arc<dyn Store>,
    broker: Broker,
    ingest: Ingest,
    commands: Commands,
    secrets: HashMap<String, String>,
    _watcher: tokio::task::JoinHandle<()>,
}

impl Hub {
    /// A hub with devices `d0..d{n}`; `slow` gets a 5-second heartbeat timeout.
    async fn start(store: Arc<dyn Store>, n_devices: usize) -> Hub {
        let registry = Registry::new(store.clone());
        registry
            .ensure_owner(Some(ADMIN_PASSWORD.into()))
            .await
            .unwrap();
        let mut secrets = HashMap::new();
        let mut specs: Vec<DeviceSpec> = (0..n_devices)
            .map(|index| DeviceSpec {
                id: format!("d{index}"),
                ..DeviceSpec::default()
            })
            .collect();
        specs.push(DeviceSpec {
            id: "slow".into(),
            heartbeat_timeout_secs: Some(5),
            ..DeviceSpec::default()
        });
        for (id, secret) in registry.add_devices("test", specs, &|_| {}).await.unwrap() {
            secrets.insert(id.to_string(), secret);
        }
        let authorizer = RegistryAuthorizer::load(store.clone(), false, None)
            .await
            .unwrap();
        let connections = authorizer.device_connections();
        let broker = Broker::start(BrokerConfig::ephemeral(), authorizer.clone())
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

    fn port(&self) -> u16 {
        self.broker.local_addrs().mqtt.unwrap().port()
    }

    /// A connected v5 client; `device` logs in with its secret, `None` as the admin.
    async fn client(&self, device: Option<&str>, client_id: &str) -> (AsyncClient, EventLoop) {
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

    async fn messages(
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

    async fn device(&self, device: &str) -> hearth_model::Device {
        self.store
            .device(&DeviceId::new(device).unwrap())
            .await
            .unwrap()
    }
}

async fn wait_for(eventloop: &mut EventLoop, wanted: impl Fn(&Packet) -> bool) -> Packet {
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
async fn publish_acked(
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

async fn eventually<F, Fut>(mut condition: F) -> bool
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

async fn an_acknowledged_message_is_already_stored(store: Arc<dyn Store>) {
    let hub = Hub::start(store, 1).await;
    let (client, mut eventloop) = hub.client(Some("d0"), "d0").await;
    for index in 0..20 {
        let payload = format!(r#"{{"temperature": {}.5, "humidity": 60}}"#, 20 + index);
        let reason = publish_acked(
            &client,
            &mut eventloop,
            "devices/d0/data",
            payload.as_bytes(),
        )
        .await;
        assert_eq!(reason, 0);
        // No waiting: the PUBACK came after the commit.
        let stored = hub.messages("d0", Some(MessageKind::Data)).await;
        assert_eq!(
            stored.len(),
            index + 1,
            "message {index} acknowledged but not stored"
        );
        assert_eq!(stored[0].payload, payload.as_bytes(), "newest first");
        assert!(stored[0].json_ok);
    }
    let device = hub.device("d0").await;
    assert_eq!(
        device.live.last_report_data,
        Some(serde_json::json!({"temperature": 39.5, "humidity": 60}))
    );
    assert!(device.live.last_seen_ms.is_some());
    let latest = hub.store.latest_points(&device.id).await.unwrap();
    let latest: HashMap<_, _> = latest.into_iter().map(|p| (p.metric, p.value)).collect();
    assert_eq!(latest.get("temperature"), Some(&39.5));
    assert_eq!(latest.get("humidity"), Some(&60.0));
    assert_eq!(hub.ingest.counters().stored.load(Ordering::Relaxed), 20);
}

async fn every_topic_of_the_protocol_updates_its_fields(store: Arc<dyn Store>) {
    let hub = Hub::start(store, 1).await;
    let (client, mut eventloop) = hub.client(Some("d0"), "d0").await;
    let cases: [(&str, &[u8]); 4] = [
        ("devices/d0/heartbeat", br#"{"uptime": 12, "rssi": -61}"#),
        (
            "devices/d0/events",
            br#"{"type": "button", "action": "press"}"#,
        ),
        ("devices/d0/status", br#"{"battery": 80}"#),
        ("devices/d0/data", b"{\"temperature\": broken"),
    ];
    for (topic, payload) in cases {
        assert_eq!(
            publish_acked(&client, &mut eventloop, topic, payload).await,
            0
        );
    }
    let device = hub.device("d0").await;
    assert!(device.live.last_heartbeat_ms.is_some());
    assert_eq!(
        device.live.device_status.as_deref(),
        Some(r#"{"battery": 80}"#)
    );
    assert!(device.live.is_online);
    // Bad JSON: stored byte for byte, flagged, no points, no last_report_data.
    let data = hub.messages("d0", Some(MessageKind::Data)).await;
    assert_eq!(data.len(), 1);
    assert_eq!(data[0].payload, b"{\"temperature\": broken");
    assert!(!data[0].json_ok);
    assert_eq!(device.live.last_report_data, None);
    assert!(
        hub.store
            .latest_points(&device.id)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(hub.ingest.counters().bad_json.load(Ordering::Relaxed), 1);
    let kinds: Vec<MessageKind> = hub
        .messages("d0", None)
        .await
        .iter()
        .map(|m| m.kind)
        .collect();
    assert_eq!(
        kinds,
        vec![
            MessageKind::Data,
            MessageKind::Status,
            MessageKind::Event,
            MessageKind::Heartbeat
        ]
    );
}

async fn unknown_and_disabled_devices_are_not_ingested(store: Arc<dyn Store>) {
    let hub = Hub::start(store.clone(), 2).await;
    let (admin, mut admin_loop) = hub.client(None, "admin-console").await;
    // The admin may publish anywhere; ingest still ignores ids the registry lacks.
    assert_eq!(
        publish_acked(
            &admin,
            &mut admin_loop,
            "devices/ghost/data",
            br#"{"t": 1}"#
        )
        .await,
        0
    );
    Registry::new(store)
        .set_device_enabled("test", "d1", false)
        .await
        .unwrap();
    // The hub notices the change within its poll; until then d1 may still be ingested.
    let mut refused = false;
    for _ in 0..200 {
        let before = hub.ingest.counters().unknown_device.load(Ordering::Relaxed);
        publish_acked(&admin, &mut admin_loop, "devices/d1/data", br#"{"t": 1}"#).await;
        if hub.ingest.counters().unknown_device.load(Ordering::Relaxed) > before {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(refused, "a disabled device's messages are not ingested");
    let d1 = hub.messages("d1", None).await.len() as u64;
    // Only what d1 sent before the hub learned it was disabled was stored.
    assert_eq!(hub.store.message_count(None).await.unwrap(), d1);
    assert!(hub.messages("ghost", None).await.is_empty());
}

async fn presence_follows_connections_status_and_timeouts(store: Arc<dyn Store>) {
    let hub = Hub::start(store, 1).await;
    let (watcher, mut watcher_loop) = hub.client(None, "presence-watcher").await;
    watcher
        .subscribe("devices/+/status", QoS::AtLeastOnce)
        .await
        .unwrap();
    wait_for(&mut watcher_loop, |packet| {
        matches!(packet, Packet::SubAck(_))
    })
    .await;

    // Connect: online, announced retained.
    let (device, mut device_loop) = hub.client(Some("d0"), "d0").await;
    let announced = wait_for(
        &mut watcher_loop,
        |packet| matches!(packet, Packet::Publish(publish) if publish.topic == "devices/d0/status"),
    )
    .await;
    let Packet::Publish(publish) = announced else {
        unreachable!()
    };
    assert_eq!(&publish.payload[..], b"online");
    assert!(eventually(|| async { hub.device("d0").await.live.is_online }).await);

    // Status offline from the device itself: offline (reason status), not re-announced.
    assert_eq!(
        publish_acked(&device, &mut device_loop, "devices/d0/status", b"offline").await,
        0
    );
    assert!(!hub.device("d0").await.live.is_online);
    // Data: online again.
    assert_eq!(
        publish_acked(&device, &mut device_loop, "devices/d0/data", br#"{"t": 1}"#).await,
        0
    );
    assert!(hub.device("d0").await.live.is_online);

    // Disconnect: offline.
    device.disconnect().await.unwrap();
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        while device_loop.poll().await.is_ok() {}
    })
    .await;
    assert!(eventually(|| async { !hub.device("d0").await.live.is_online }).await);

    // A device that is not connected itself (the admin relays its data) goes offline
    // when its 5-second timeout runs out.
    let (admin, mut admin_loop) = hub.client(None, "relay").await;
    assert_eq!(
        publish_acked(&admin, &mut admin_loop, "devices/slow/data", br#"{"t": 2}"#).await,
        0
    );
    assert!(hub.device("slow").await.live.is_online);
    assert!(eventually(|| async { !hub.device("slow").await.live.is_online }).await);

    let history = hub
        .store
        .status_history(
            &DeviceId::new("d0").unwrap(),
            TimeRange {
                from_ms: 0,
                to_ms: i64::MAX,
            },
            100,
        )
        .await
        .unwrap();
    let reasons: Vec<(bool, PresenceReason)> = history
        .iter()
        .rev()
        .map(|change| (change.online, change.reason))
        .collect();
    assert_eq!(
        reasons,
        vec![
            (true, PresenceReason::Activity),
            (false, PresenceReason::Status),
            (true, PresenceReason::Activity),
            (false, PresenceReason::Disconnect),
        ]
    );
    let slow = hub
        .store
        .status_history(
            &DeviceId::new("slow").unwrap(),
            TimeRange {
                from_ms: 0,
                to_ms: i64::MAX,
            },
            100,
        )
        .await
        .unwrap();
    assert_eq!(
        slow.first().map(|change| change.reason),
        Some(PresenceReason::Timeout)
    );
}

/// A simulated device: subscribes to its commands and answers each with `answer(params)`
/// (`None`: stays silent). Returns once subscribed.
async fn simulated_device(
    hub: &Hub,
    device: &'static str,
    answer: fn(&serde_json::Value) -> Option<serde_json::Value>,
) -> tokio::task::JoinHandle<()> {
    let (client, mut eventloop) = hub.client(Some(device), device).await;
    client
        .subscribe(format!("devices/{device}/commands/+"), QoS::AtLeastOnce)
        .await
        .unwrap();
    wait_for(&mut eventloop, |packet| matches!(packet, Packet::SubAck(_))).await;
    tokio::spawn(async move {
        loop {
            let Ok(event) = eventloop.poll().await else {
                return;
            };
            if let Event::Incoming(Packet::Publish(publish)) = event {
                let params: serde_json::Value =
                    serde_json::from_slice(&publish.payload).unwrap_or_default();
                if let Some(reply) = answer(&params) {
                    let topic = format!("{}/ack", String::from_utf8_lossy(&publish.topic));
                    client
                        .publish(topic, QoS::AtLeastOnce, false, reply.to_string())
                        .await
                        .unwrap();
                }
            }
        }
    })
}

/// Waits until the command is final and returns it.
async fn outcome(hub: &Hub, id: &str) -> hearth_model::Command {
    let started = tokio::time::Instant::now();
    loop {
        let command = hub.commands.get(id).await.unwrap();
        if command.status.is_final() {
            return command;
        }
        assert!(
            started.elapsed() < DEADLINE,
            "command {id} stuck in {:?}",
            command.status
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn commands_end_acked_failed_or_timed_out(store: Arc<dyn Store>) {
    use hearth_model::CommandStatus;
    let hub = Hub::start(store, 3).await;
    let _ok = simulated_device(&hub, "d0", |params| {
        Some(serde_json::json!({"id": params["id"], "ok": true, "state": {"on": params["on"]}}))
    })
    .await;
    let _broken = simulated_device(&hub, "d1", |params| {
        Some(serde_json::json!({"id": params["id"], "ok": false, "result": "relay stuck"}))
    })
    .await;
    let _silent = simulated_device(&hub, "d2", |_| None).await;
    for device in ["d0", "d1", "d2"] {
        assert!(eventually(|| async { hub.device(device).await.live.is_online }).await);
    }
    let params = serde_json::json!({"on": true});
    let acked = hub
        .commands
        .send("user:alice", "d0", "relay", params.clone(), None)
        .await
        .unwrap();
    assert_eq!(acked.status, CommandStatus::Sent, "the device is online");
    let failed = hub
        .commands
        .send("user:alice", "d1", "relay", params.clone(), None)
        .await
        .unwrap();
    let silent = hub
        .commands
        .send("user:alice", "d2", "relay", params.clone(), None)
        .await
        .unwrap();

    let acked = outcome(&hub, &acked.id).await;
    assert_eq!(acked.status, CommandStatus::Acked);
    assert_eq!(acked.reported_state, Some(serde_json::json!({"on": true})));
    assert!(acked.finished_at_ms >= acked.sent_at_ms);
    let failed = outcome(&hub, &failed.id).await;
    assert_eq!(failed.status, CommandStatus::Failed);
    assert_eq!(failed.result, Some(serde_json::json!("relay stuck")));
    assert_eq!(
        failed.reported_state, None,
        "no state the device did not report"
    );
    let silent = outcome(&hub, &silent.id).await;
    assert_eq!(silent.status, CommandStatus::Timeout);
    let log = hub.commands.list("d0", 10).await.unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].status, CommandStatus::Acked);
}

async fn commands_wait_for_an_offline_device_or_expire(store: Arc<dyn Store>) {
    use hearth_model::CommandStatus;
    let hub = Hub::start(store, 2).await;
    let waiting = hub
        .commands
        .send(
            "user:alice",
            "d0",
            "relay",
            serde_json::json!({"on": false}),
            Some(60),
        )
        .await
        .unwrap();
    assert_eq!(waiting.status, CommandStatus::Pending);
    let expiring = hub
        .commands
        .send("user:alice", "d1", "relay", serde_json::json!({}), Some(1))
        .await
        .unwrap();
    // d0 comes online: the command goes out and is answered.
    let _device = simulated_device(&hub, "d0", |params| {
        Some(serde_json::json!({"id": params["id"], "state": {"on": params["on"]}}))
    })
    .await;
    let delivered = outcome(&hub, &waiting.id).await;
    assert_eq!(delivered.status, CommandStatus::Acked);
    assert_eq!(
        delivered.reported_state,
        Some(serde_json::json!({"on": false}))
    );
    // d1 never came back.
    let expired = outcome(&hub, &expiring.id).await;
    assert_eq!(expired.status, CommandStatus::Timeout);
    assert_eq!(expired.sent_at_ms, None, "never sent");
    // Bad requests name the field.
    let error = hub
        .commands
        .send("user:alice", "d0", "a/b", serde_json::json!({}), None)
        .await
        .unwrap_err();
    assert!(error.to_string().starts_with("name:"), "{error}");
    let error = hub
        .commands
        .send("user:alice", "d0", "relay", serde_json::json!([1]), None)
        .await
        .unwrap_err();
    assert!(error.to_string().starts_with("params:"), "{error}");
}

async fn commands_recorded_by_another_process_are_delivered(store: Arc<dyn Store>) {
    use hearth_model::CommandStatus;
    let hub = Hub::start(store.clone(), 1).await;
    let _device = simulated_device(&hub, "d0", |params| {
        Some(serde_json::json!({"id": params["id"], "state": {"level": params["level"]}}))
    })
    .await;
    assert!(eventually(|| async { hub.device("d0").await.live.is_online }).await);
    // What `hearth device command` does: record it in the store, nothing else.
    let (recorded, _) = hearth_services::commands::record_new(
        store.as_ref(),
        &CommandConfig::default(),
        "cli:test",
        "d0",
        "dim",
        serde_json::json!({"level": 40}),
        None,
    )
    .await
    .unwrap();
    assert_eq!(recorded.status, CommandStatus::Pending);
    let done = outcome(&hub, &recorded.id).await;
    assert_eq!(done.status, CommandStatus::Acked);
    assert_eq!(done.reported_state, Some(serde_json::json!({"level": 40})));
    assert_eq!(hub.commands.counters().acked.load(Ordering::Relaxed), 1);
}

hearth_testkit::both_backends!(
    commands_recorded_by_another_process_are_delivered,
    commands_end_acked_failed_or_timed_out,
    commands_wait_for_an_offline_device_or_expire,
    an_acknowledged_message_is_already_stored,
    every_topic_of_the_protocol_updates_its_fields,
    unknown_and_disabled_devices_are_not_ingested,
    presence_follows_connections_status_and_timeouts,
);
