//! Cameras (issue 18, seed 000; docs/cameras.md) in a whole hub with real MQTT clients:
//! a camera's JPEG on `devices/{id}/snapshot` is kept (retained) for the people who may
//! view the camera and is not history; a packet over `max_packet_size` is refused and
//! the last good snapshot stays; nobody else (a person of another group or of none, a
//! device, another application) may read or write the topic; and a camera's motion is
//! an ordinary event that raises an alert. Every test runs on SQLite and PostgreSQL.

mod acl_hub;

use acl_hub::*;
use hearth_model::{AlertRuleSpec, AlertState, Permission, Role};
use hearth_services::alerts::Alerts;
use hearth_services::registry::DeviceSpec;
use hearth_testkit::{Backend, ids};
use rumqttc::{AsyncClient, Event, EventLoop, MqttOptions, Packet, QoS};
use serde_json::json;
use std::time::Duration;

const DEADLINE: Duration = Duration::from_secs(30);

/// The simulator's picture (crates/hearth/src/simulate/snapshot.rs), as a camera sends it.
fn jpeg(padding: usize) -> Vec<u8> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../web/tests/fixtures/camera-snapshot.jpg"
    );
    let mut bytes = std::fs::read(path).expect("the fixture JPEG");
    // Decoders stop at the end-of-image marker; the rest makes it camera-sized.
    bytes.resize(bytes.len() + padding, 0);
    bytes
}

/// An MQTT 3.1.1 client (as a browser's mqtt.js or an ESP32 speaks), allowed packets of
/// 4 MiB both ways so that only the broker's limit counts.
async fn client_v4(
    port: u16,
    client_id: &str,
    username: &str,
    password: &str,
) -> (AsyncClient, EventLoop) {
    let mut options = MqttOptions::new(client_id, "127.0.0.1", port);
    options.set_credentials(username, password);
    options.set_max_packet_size(4 << 20, 4 << 20);
    options.set_keep_alive(Duration::from_secs(30));
    let (client, mut events) = AsyncClient::new(options, 16);
    next(
        &mut events,
        |packet| matches!(packet, Packet::ConnAck(_)),
        client_id,
    )
    .await;
    (client, events)
}

/// The next packet `wanted` accepts; fails the test on a connection error or timeout.
async fn next(events: &mut EventLoop, wanted: impl Fn(&Packet) -> bool, who: &str) -> Packet {
    tokio::time::timeout(DEADLINE, async {
        loop {
            match events.poll().await {
                Ok(Event::Incoming(packet)) if wanted(&packet) => return packet,
                Ok(_) => {}
                Err(error) => panic!("{who}: {error:?}"),
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{who}: nothing in time"))
}

/// Subscribes `filter` and returns the first message delivered on it.
async fn first_message(
    port: u16,
    client_id: &str,
    login: (&str, &str),
    filter: &str,
) -> rumqttc::Publish {
    let (client, mut events) = client_v4(port, client_id, login.0, login.1).await;
    client.subscribe(filter, QoS::AtLeastOnce).await.unwrap();
    let Packet::Publish(publish) = next(
        &mut events,
        |packet| matches!(packet, Packet::Publish(_)),
        client_id,
    )
    .await
    else {
        unreachable!()
    };
    let _ = client.disconnect().await;
    publish
}

fn token(hub: &AclHub, user: &str) -> String {
    hub.authorizer()
        .issue_user_token(user, "session1", 600_000)
        .0
}

async fn a_snapshot_is_kept_for_viewers_and_is_not_history(backend: Backend) {
    let hub = AclHub::start(backend).await;
    add_person(&hub, "alice", Some(Role::Member), Some(Permission::Control)).await;
    hub.authorizer().refresh(hub.bus().as_ref()).await.unwrap();
    let snapshot = jpeg(600 * 1024);
    let (camera, mut camera_events) = client_v4(hub.port(), "d1", "d1", hub.secret("d1")).await;
    camera
        .publish(
            "devices/d1/snapshot",
            QoS::AtLeastOnce,
            true,
            snapshot.clone(),
        )
        .await
        .unwrap();
    next(
        &mut camera_events,
        |packet| matches!(packet, Packet::PubAck(_)),
        "camera",
    )
    .await;
    // An event after it: acknowledged means stored, so the count below is final.
    camera
        .publish(
            "devices/d1/events",
            QoS::AtLeastOnce,
            false,
            r#"{"motion": true}"#,
        )
        .await
        .unwrap();
    next(
        &mut camera_events,
        |packet| matches!(packet, Packet::PubAck(_)),
        "camera",
    )
    .await;
    assert_eq!(
        hub.store()
            .message_count(Some(&ids::device("d1")))
            .await
            .unwrap(),
        1,
        "the motion event is history, the snapshot is not"
    );

    // A page opened later gets the last snapshot at once, byte for byte.
    let alice = token(&hub, "alice");
    let seen = first_message(
        hub.port(),
        "web:alice:cam1",
        ("alice", &alice),
        "devices/d1/snapshot",
    )
    .await;
    assert!(seen.retain, "delivered from the retained copy");
    assert_eq!(seen.payload.as_ref(), snapshot.as_slice());

    // Over the broker's 1 MiB: the camera is disconnected, the last good picture stays.
    camera
        .publish("devices/d1/snapshot", QoS::AtLeastOnce, true, jpeg(1 << 20))
        .await
        .unwrap();
    let closed = tokio::time::timeout(DEADLINE, async {
        loop {
            match camera_events.poll().await {
                Ok(Event::Incoming(Packet::PubAck(_))) => return false,
                Ok(_) => {}
                Err(_) => return true,
            }
        }
    })
    .await
    .expect("the broker answered the oversized snapshot");
    assert!(
        closed,
        "an oversized snapshot closes the camera's connection"
    );
    let seen = first_message(
        hub.port(),
        "web:alice:cam2",
        ("alice", &alice),
        "devices/d1/snapshot",
    )
    .await;
    assert_eq!(seen.payload.len(), snapshot.len());
    hub.hub.shutdown().await;
}

hearth_testkit::both_backends_hub!(a_snapshot_is_kept_for_viewers_and_is_not_history);

/// The intruders: carol (in no group), dora (owner of another group), device d2 (same
/// application as the camera), application `other` (holds d3 only). Alice may view.
async fn only_viewers_may_read_a_cameras_snapshot(backend: Backend) {
    let hub = AclHub::start(backend).await;
    add_person(&hub, "alice", Some(Role::Member), None).await;
    add_person(&hub, "carol", None, None).await;
    add_person(&hub, "dora", None, None).await;
    let away = ids::group("away");
    hub.registry()
        .add_group("test", &away, None, Some(&ids::user("dora")))
        .await
        .unwrap();
    let (_, _) = hub
        .registry()
        .add_app("test", &ids::app("away-app"), &away, None, None)
        .await
        .unwrap();
    let (_, dora_cam_secret) = hub
        .registry()
        .add_device(
            "test",
            DeviceSpec {
                app: Some(ids::app("away-app")),
                kind: Some("camera".into()),
                ..DeviceSpec::new(ids::device("dora-cam"))
            },
        )
        .await
        .unwrap();
    hub.authorizer().refresh(hub.bus().as_ref()).await.unwrap();

    let topic = "devices/d1/snapshot";
    let alice = hub
        .session(
            5,
            "web:alice:tab",
            Some(("alice", &token(&hub, "alice"))),
            &[topic],
            &[topic],
        )
        .await;
    assert_eq!(
        codes(&alice, "suback"),
        json!({ topic: GRANTED_QOS1 }),
        "{alice}"
    );
    // Viewing is not publishing: only the camera writes its picture.
    assert_eq!(codes(&alice, "puback"), json!({ topic: NOT_AUTHORIZED }));
    for (who, client_id, password) in [
        ("carol", "web:carol:tab".to_owned(), token(&hub, "carol")),
        ("dora", "web:dora:tab".to_owned(), token(&hub, "dora")),
        ("d2", "d2".to_owned(), hub.secret("d2").to_owned()),
    ] {
        let result = hub
            .session(5, &client_id, Some((who, &password)), &[topic], &[topic])
            .await;
        assert_eq!(codes(&result, "connack"), json!(0), "{who}: {result}");
        assert_eq!(
            codes(&result, "suback"),
            json!({ topic: NOT_AUTHORIZED }),
            "{who}"
        );
        assert_eq!(
            codes(&result, "puback"),
            json!({ topic: NOT_AUTHORIZED }),
            "{who}"
        );
    }
    let (other_key, other_secret) = &hub.other_app;
    let other = hub
        .session(
            5,
            other_key,
            Some((other_key, other_secret)),
            &[topic],
            &[topic],
        )
        .await;
    assert_eq!(
        codes(&other, "suback"),
        json!({ topic: NOT_AUTHORIZED }),
        "{other}"
    );
    assert_eq!(codes(&other, "puback"), json!({ topic: NOT_AUTHORIZED }));

    // A wildcard is granted to dora but filtered: with d1's snapshot retained, her own
    // camera's is the first (and only) one she gets.
    let (camera, mut camera_events) = client_v4(hub.port(), "d1", "d1", hub.secret("d1")).await;
    camera
        .publish(topic, QoS::AtLeastOnce, true, jpeg(0))
        .await
        .unwrap();
    next(
        &mut camera_events,
        |packet| matches!(packet, Packet::PubAck(_)),
        "d1",
    )
    .await;
    let (dora_cam, mut dora_cam_events) =
        client_v4(hub.port(), "dora-cam", "dora-cam", &dora_cam_secret).await;
    dora_cam
        .publish(
            "devices/dora-cam/snapshot",
            QoS::AtLeastOnce,
            true,
            jpeg(10),
        )
        .await
        .unwrap();
    next(
        &mut dora_cam_events,
        |packet| matches!(packet, Packet::PubAck(_)),
        "dora-cam",
    )
    .await;
    let seen = first_message(
        hub.port(),
        "web:dora:wild",
        ("dora", &token(&hub, "dora")),
        "devices/+/snapshot",
    )
    .await;
    assert_eq!(seen.topic, "devices/dora-cam/snapshot");
    hub.hub.shutdown().await;
}

hearth_testkit::both_backends_hub!(only_viewers_may_read_a_cameras_snapshot);

/// A camera's motion is an ordinary event: an alert rule on `{"motion": true}` raises an
/// alert, `{"motion": false}` clears it; the snapshots around them raise nothing.
async fn a_cameras_motion_raises_an_alert(backend: Backend) {
    let hub = AclHub::start(backend).await;
    let (_, secret) = hub
        .registry()
        .add_device(
            "test",
            DeviceSpec {
                app: Some(ids::app("default")),
                kind: Some("camera".into()),
                ..DeviceSpec::new(ids::device("porch-cam"))
            },
        )
        .await
        .unwrap();
    hub.authorizer().refresh(hub.bus().as_ref()).await.unwrap();
    let spec: AlertRuleSpec = serde_json::from_value(json!({
        "group": "home", "name": "Someone at the door", "severity": "warning",
        "condition": {"type": "event", "device": "porch-cam", "matches": {"motion": true},
            "clear_matches": {"motion": false}},
        "message": "Motion at {device}"}))
    .unwrap();
    let rule = Alerts::new(hub.store())
        .create("cli:test", spec)
        .await
        .unwrap()
        .id;
    hub.alerts().reload().await;
    let mut camera = client_v4(hub.port(), "porch-cam", "porch-cam", &secret).await;
    let snapshot = "devices/porch-cam/snapshot";
    let events = "devices/porch-cam/events";
    publish_acked(&mut camera, snapshot, jpeg(0), true).await;
    publish_acked(&mut camera, events, br#"{"motion": true}"#.to_vec(), false).await;
    publish_acked(&mut camera, snapshot, jpeg(1), true).await;
    let alerts = alerts_until(&hub, &rule, |alerts| !alerts.is_empty()).await;
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].message, "Motion at porch-cam");
    assert_eq!(alerts[0].state, AlertState::Open);
    publish_acked(&mut camera, events, br#"{"motion": false}"#.to_vec(), false).await;
    alerts_until(&hub, &rule, |alerts| alerts[0].state == AlertState::Cleared).await;
    hub.hub.shutdown().await;
}

hearth_testkit::both_backends_hub!(a_cameras_motion_raises_an_alert);

/// Publishes (QoS 1) and waits for the PUBACK.
async fn publish_acked(
    (client, events): &mut (AsyncClient, EventLoop),
    topic: &str,
    payload: Vec<u8>,
    retain: bool,
) {
    client
        .publish(topic, QoS::AtLeastOnce, retain, payload)
        .await
        .unwrap();
    next(events, |packet| matches!(packet, Packet::PubAck(_)), topic).await;
}

/// Waits until the rule's alerts satisfy `wanted`; returns them, newest first.
async fn alerts_until(
    hub: &AclHub,
    rule: &str,
    wanted: impl Fn(&[hearth_model::Alert]) -> bool,
) -> Vec<hearth_model::Alert> {
    tokio::time::timeout(DEADLINE, async {
        loop {
            let filter = hearth_store::AlertFilter {
                rule: Some(rule.to_owned()),
                ..Default::default()
            };
            let alerts = hub.store().alerts(&filter).await.unwrap();
            if wanted(&alerts) {
                return alerts;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the alerts in time")
}
