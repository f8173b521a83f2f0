//! Ingest (issue 6) over real MQTT clients on SQLite and PostgreSQL: device messages
//! become history, points and live state; a QoS 1 message is in the store by the time
//! its PUBACK arrives; bad JSON is kept raw and flagged; unknown devices are not
//! ingested; presence follows connections, status messages and timeouts, is stored as
//! status history and announced retained on `devices/{id}/status`. Commands are in
//! `commands.rs`.

mod protocol_hub;

use hearth_model::{DeviceId, MessageKind, PresenceReason};
use hearth_services::Registry;
use hearth_store::TimeRange;
use hearth_testkit::{Backend, ids};
use protocol_hub::*;
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::Packet;
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::Duration;

async fn an_acknowledged_message_is_already_stored(backend: Backend) {
    let hub = ProtocolHub::start(backend, 1).await;
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
    let latest = hub.store().latest_points(&device.id).await.unwrap();
    let latest: HashMap<_, _> = latest.into_iter().map(|p| (p.metric, p.value)).collect();
    assert_eq!(latest.get("temperature"), Some(&39.5));
    assert_eq!(latest.get("humidity"), Some(&60.0));
    assert_eq!(hub.ingest_counters().stored.load(Ordering::Relaxed), 20);
}

async fn every_topic_of_the_protocol_updates_its_fields(backend: Backend) {
    let hub = ProtocolHub::start(backend, 1).await;
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
        hub.store()
            .latest_points(&device.id)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(hub.ingest_counters().bad_json.load(Ordering::Relaxed), 1);
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

async fn unknown_and_disabled_devices_are_not_ingested(backend: Backend) {
    let hub = ProtocolHub::start(backend, 2).await;
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
    Registry::new(hub.store())
        .set_device_enabled("test", &ids::device("d1"), false)
        .await
        .unwrap();
    // The hub notices the change within its poll; until then d1 may still be ingested.
    let mut refused = false;
    for _ in 0..200 {
        let before = hub.ingest_counters().unknown_device.load(Ordering::Relaxed);
        publish_acked(&admin, &mut admin_loop, "devices/d1/data", br#"{"t": 1}"#).await;
        if hub.ingest_counters().unknown_device.load(Ordering::Relaxed) > before {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(refused, "a disabled device's messages are not ingested");
    let d1 = hub.messages("d1", None).await.len() as u64;
    // Only what d1 sent before the hub learned it was disabled was stored.
    assert_eq!(hub.store().message_count(None).await.unwrap(), d1);
    assert!(hub.messages("ghost", None).await.is_empty());
}

async fn presence_follows_connections_status_and_timeouts(backend: Backend) {
    let hub = ProtocolHub::start(backend, 1).await;
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
        .store()
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
        .store()
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

/// SPEC §4: a device's will (`offline` on its status topic) is its last word. It reaches
/// ingest like its other publishes: the stored status says `offline` after a crash, and
/// the will is in the message history.
async fn a_devices_will_is_ingested(backend: Backend) {
    let hub = ProtocolHub::start(backend, 1).await;
    let mut options = rumqttc::v5::MqttOptions::new("d0", "127.0.0.1", hub.port());
    options.set_credentials("d0", hub.secrets["d0"].as_str());
    options.set_last_will(rumqttc::v5::mqttbytes::v5::LastWill::new(
        "devices/d0/status",
        "offline",
        QoS::AtLeastOnce,
        true,
        None,
    ));
    let (device, mut device_loop) = rumqttc::v5::AsyncClient::new(options, 16);
    wait_for(&mut device_loop, |packet| {
        matches!(packet, Packet::ConnAck(_))
    })
    .await;
    assert_eq!(
        publish_acked(
            &device,
            &mut device_loop,
            "devices/d0/status",
            br#"{"battery": 80}"#
        )
        .await,
        0
    );
    assert_eq!(
        hub.device("d0").await.live.device_status.as_deref(),
        Some(r#"{"battery": 80}"#)
    );

    // The connection ends without DISCONNECT (the device lost power): the will is sent.
    drop(device_loop);
    drop(device);
    assert!(
        eventually(|| async {
            hub.device("d0").await.live.device_status.as_deref() == Some("offline")
        })
        .await,
        "the will's status is stored"
    );
    let statuses: Vec<Vec<u8>> = hub
        .messages("d0", Some(MessageKind::Status))
        .await
        .into_iter()
        .map(|message| message.payload)
        .collect();
    assert_eq!(
        statuses,
        vec![b"offline".to_vec(), br#"{"battery": 80}"#.to_vec()]
    );
    assert!(!hub.device("d0").await.live.is_online);
}

hearth_testkit::both_backends_hub!(
    a_devices_will_is_ingested,
    an_acknowledged_message_is_already_stored,
    every_topic_of_the_protocol_updates_its_fields,
    unknown_and_disabled_devices_are_not_ingested,
    presence_follows_connections_status_and_timeouts,
);
