//! Remote control (issue 7) over real MQTT clients on SQLite and PostgreSQL: a device
//! that acks, one that fails, one that never answers, one that is offline when the
//! command is sent, and a command recorded by another process (the CLI).

mod protocol_hub;

use hearth_services::commands::CommandConfig;
use hearth_testkit::Backend;
use protocol_hub::*;
use rumqttc::v5::Event;
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::Packet;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// A simulated device: subscribes to its commands and answers each with `answer(params)`
/// (`None`: stays silent). Returns once subscribed.
async fn simulated_device(
    hub: &ProtocolHub,
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

/// A device with a persistent MQTT session, as firmware that must not miss commands keeps
/// one: it subscribed to its commands on an earlier visit, so when it comes back the
/// broker has the subscription at CONNECT, before the hub sends what waited for it.
/// (A device that subscribes only after connecting can miss a command sent the moment
/// it came online; see the closing note of issue 22.) Returns once it has left again
/// and the hub saw it go.
async fn persistent_session(hub: &ProtocolHub, device: &'static str) {
    let (client, mut eventloop) = persistent_client(hub, device).await;
    client
        .subscribe(format!("devices/{device}/commands/+"), QoS::AtLeastOnce)
        .await
        .unwrap();
    wait_for(&mut eventloop, |packet| matches!(packet, Packet::SubAck(_))).await;
    assert!(eventually(|| async { hub.device(device).await.live.is_online }).await);
    client.disconnect().await.unwrap();
    while eventloop.poll().await.is_ok() {}
    assert!(eventually(|| async { !hub.device(device).await.live.is_online }).await);
}

/// The device's client, resuming its session (clean start off, kept for 5 minutes).
async fn persistent_client(
    hub: &ProtocolHub,
    device: &'static str,
) -> (rumqttc::v5::AsyncClient, rumqttc::v5::EventLoop) {
    let mut options = rumqttc::v5::MqttOptions::new(device, "127.0.0.1", hub.port());
    options.set_credentials(device, hub.secrets[device].as_str());
    options.set_clean_start(false);
    options.set_session_expiry_interval(Some(300));
    let (client, mut eventloop) = rumqttc::v5::AsyncClient::new(options, 64);
    wait_for(&mut eventloop, |packet| {
        matches!(packet, Packet::ConnAck(_))
    })
    .await;
    (client, eventloop)
}

/// [`persistent_session`]'s device back online, answering each command with `answer`.
async fn returning_device(
    hub: &ProtocolHub,
    device: &'static str,
    answer: fn(&serde_json::Value) -> Option<serde_json::Value>,
) -> tokio::task::JoinHandle<()> {
    let (client, mut eventloop) = persistent_client(hub, device).await;
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

fn device(id: &str) -> hearth_model::DeviceId {
    hearth_model::DeviceId::new(id).unwrap()
}

/// Waits until the command is final and returns it.
async fn outcome(hub: &ProtocolHub, id: &str) -> hearth_model::Command {
    let started = tokio::time::Instant::now();
    loop {
        let command = hub.commands().get(id).await.unwrap();
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

async fn commands_end_acked_failed_or_timed_out(backend: Backend) {
    use hearth_model::CommandStatus;
    let hub = ProtocolHub::start(backend, 3).await;
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
        .commands()
        .send("user:alice", &device("d0"), "relay", params.clone(), None)
        .await
        .unwrap();
    assert_eq!(acked.status, CommandStatus::Sent, "the device is online");
    let failed = hub
        .commands()
        .send("user:alice", &device("d1"), "relay", params.clone(), None)
        .await
        .unwrap();
    let silent = hub
        .commands()
        .send("user:alice", &device("d2"), "relay", params.clone(), None)
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
    let log = hub.commands().list(&device("d0"), 10).await.unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].status, CommandStatus::Acked);
}

async fn commands_wait_for_an_offline_device_or_expire(backend: Backend) {
    use hearth_model::CommandStatus;
    let hub = ProtocolHub::start(backend, 2).await;
    persistent_session(&hub, "d0").await;
    let waiting = hub
        .commands()
        .send(
            "user:alice",
            &device("d0"),
            "relay",
            serde_json::json!({"on": false}),
            Some(60),
        )
        .await
        .unwrap();
    assert_eq!(waiting.status, CommandStatus::Pending);
    let expiring = hub
        .commands()
        .send(
            "user:alice",
            &device("d1"),
            "relay",
            serde_json::json!({}),
            Some(1),
        )
        .await
        .unwrap();
    // d0 comes online: the command goes out and is answered.
    let _device = returning_device(&hub, "d0", |params| {
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
        .commands()
        .send(
            "user:alice",
            &device("d0"),
            "a/b",
            serde_json::json!({}),
            None,
        )
        .await
        .unwrap_err();
    assert!(error.to_string().starts_with("name:"), "{error}");
    let error = hub
        .commands()
        .send(
            "user:alice",
            &device("d0"),
            "relay",
            serde_json::json!([1]),
            None,
        )
        .await
        .unwrap_err();
    assert!(error.to_string().starts_with("params:"), "{error}");
}

async fn commands_recorded_by_another_process_are_delivered(backend: Backend) {
    use hearth_model::CommandStatus;
    let hub = ProtocolHub::start(backend, 1).await;
    let _device = simulated_device(&hub, "d0", |params| {
        Some(serde_json::json!({"id": params["id"], "state": {"level": params["level"]}}))
    })
    .await;
    assert!(eventually(|| async { hub.device("d0").await.live.is_online }).await);
    // What `hearth device command` does: record it in the store, nothing else.
    let (recorded, _) = hearth_services::commands::record_new(
        hub.store().as_ref(),
        &CommandConfig::default(),
        "cli:test",
        &device("d0"),
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
    assert_eq!(hub.commands().counters().acked.load(Ordering::Relaxed), 1);
}

hearth_testkit::both_backends_hub!(
    commands_recorded_by_another_process_are_delivered,
    commands_end_acked_failed_or_timed_out,
    commands_wait_for_an_offline_device_or_expire,
);
