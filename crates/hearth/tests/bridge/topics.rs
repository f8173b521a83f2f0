//! `[[bridge.topics]]` through a third-party MQTT 5 broker (mosquitto) as the cloud:
//! custom prefixes both ways, the link's QoS per rule, and the loop guard (a message
//! that came in is not sent back out, and what went out does not come back in).

use crate::harness::start_home;
use crate::mosquitto::{Client, Mosquitto};
use hearth_bus::{Envelope, Qos, Subscription};
use hearth_services::bridge::{BridgeConfig, RECEIVED_AT};
use hearth_testkit::devices::{TestDevice, add_devices};
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::Packet;
use std::time::Duration;

const DEADLINE: Duration = Duration::from_secs(10);

/// The rules of the test, as a hub administrator would write them.
const RULES: &str = r#"
[bridge]
url = "mqtt://127.0.0.1:1"
site = "home-1"
secret = "any"
commands = false

[[bridge.topics]]
pattern = "devices/+/data"
remote_prefix = "homes/{site}/dev/"

[[bridge.topics]]
pattern = "devices/+/heartbeat"
qos = 0
remote_prefix = "homes/{site}/dev/"

[[bridge.topics]]
pattern = "devices/+/events"
direction = "both"
remote_prefix = "homes/{site}/dev/"

[[bridge.topics]]
pattern = "lights/#"
direction = "in"
local_prefix = "lights/"
remote_prefix = "cloud/{site}/lights/"

[[bridge.topics]]
pattern = "devices/+/config"
direction = "in"
qos = 0
remote_prefix = "homes/{site}/dev/"
"#;

#[derive(serde::Deserialize)]
struct File {
    bridge: BridgeConfig,
}

fn config(cloud: std::net::SocketAddr) -> BridgeConfig {
    let mut config = toml::from_str::<File>(RULES).unwrap().bridge;
    config.url = format!("mqtt://{cloud}").try_into().unwrap();
    config.reconnect_min_ms = 20;
    config.reconnect_max_ms = 300;
    config
}

/// The next message on a home bus subscription.
async fn next(subscription: &mut Subscription) -> Envelope {
    tokio::time::timeout(DEADLINE, subscription.recv())
        .await
        .expect("a message at home before the deadline")
        .expect("the subscription is open")
}

/// Collects the watcher's messages until one on `topic` with `payload`.
async fn until(
    watcher: &mut Client,
    seen: &mut Vec<(String, String, QoS)>,
    topic: &str,
    payload: &str,
) {
    loop {
        let publish = watcher.message().await;
        let received_at = publish.properties.as_ref().is_some_and(|properties| {
            properties
                .user_properties
                .iter()
                .any(|(key, _)| key == RECEIVED_AT)
        });
        let message = (
            String::from_utf8(publish.topic.to_vec()).unwrap(),
            String::from_utf8(publish.payload.to_vec()).unwrap(),
            publish.qos,
        );
        assert!(
            received_at || ["from-cloud", "{\"rate\":5}"].contains(&message.1.as_str()),
            "what the link sent carries the home's receive time: {message:?}"
        );
        seen.push(message.clone());
        if message.0 == topic && message.1 == payload {
            return;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_prefixes_both_ways_with_each_rules_qos_through_mosquitto() {
    let mosquitto = Mosquitto::start().await;
    let mut watcher = mosquitto.client("watcher").await;
    watcher.subscribe("homes/#").await;
    let mut app = mosquitto.client("cloud-app").await;
    let config = config(mosquitto.addr);
    assert_eq!(
        config.rules().len(),
        5,
        "no commands rule: {:?}",
        config.rules()
    );
    let home = start_home(config).await;
    let bus = home.bus();
    let mut lights = bus.subscribe("lights/#").await.unwrap();
    let mut configs = bus.subscribe("devices/+/config").await.unwrap();
    let mut events = bus.subscribe("devices/+/events").await.unwrap();
    let mut everything = bus.subscribe("#").await.unwrap();
    let secrets = add_devices(&home, &["d1"]).await;
    let mut device = TestDevice::connect(&home, "d1", &secrets["d1"]).await;
    let wait_up = std::time::Instant::now();
    while !home.bridge_status().unwrap().up {
        assert!(wait_up.elapsed() < DEADLINE, "the link never came up");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Out: home devices/d1/... is homes/home-1/dev/d1/... at mosquitto, each rule at
    // its own QoS (the watcher subscribed at 1: what arrives at 0 was sent at 0).
    for (kind, payload) in [("data", "{\"n\":1}"), ("heartbeat", "{}"), ("events", "e1")] {
        device
            .client
            .publish(
                format!("devices/d1/{kind}"),
                QoS::AtLeastOnce,
                false,
                payload,
            )
            .await
            .unwrap();
        device
            .next(|packet| matches!(packet, Packet::PubAck(_)), "PUBACK")
            .await;
    }
    let mut seen = Vec::new();
    until(&mut watcher, &mut seen, "homes/home-1/dev/d1/events", "e1").await;
    assert_eq!(
        seen,
        vec![
            (
                "homes/home-1/dev/d1/data".into(),
                "{\"n\":1}".into(),
                QoS::AtLeastOnce
            ),
            (
                "homes/home-1/dev/d1/heartbeat".into(),
                "{}".into(),
                QoS::AtMostOnce
            ),
            (
                "homes/home-1/dev/d1/events".into(),
                "e1".into(),
                QoS::AtLeastOnce
            ),
        ]
    );

    // In: cloud/home-1/lights/... is lights/... at home (QoS 1 rule), homes/.../config
    // is devices/d1/config (QoS 0 rule: at most once at home, although sent with 1).
    app.publish("cloud/home-1/lights/porch", "on").await;
    let light = next(&mut lights).await;
    assert_eq!(
        (&*light.topic, &light.payload[..], light.qos),
        ("lights/porch", &b"on"[..], Qos::AtLeastOnce)
    );
    app.publish("homes/home-1/dev/d1/config", "{\"rate\":5}")
        .await;
    let config = next(&mut configs).await;
    assert_eq!(
        (&*config.topic, config.qos),
        ("devices/d1/config", Qos::AtMostOnce)
    );

    // Both: the cloud's events message reaches the home once and does not go back out;
    // the device's own did not come back in (only the device's copy at home).
    app.publish("homes/home-1/dev/d1/events", "from-cloud")
        .await;
    let first = next(&mut events).await;
    assert_eq!(&first.payload[..], b"e1", "the device's own, once");
    let second = next(&mut events).await;
    assert_eq!(
        (&*second.topic, &second.payload[..]),
        ("devices/d1/events", &b"from-cloud"[..])
    );
    // Barriers: the link sends in order, so a resent "from-cloud" would arrive at the
    // watcher before the device's next reading; mosquitto delivers in order, so an
    // echo of "e1" would have reached the home before this light.
    device
        .client
        .publish("devices/d1/data", QoS::AtLeastOnce, false, "{\"n\":2}")
        .await
        .unwrap();
    device
        .next(|packet| matches!(packet, Packet::PubAck(_)), "PUBACK")
        .await;
    let mut seen = Vec::new();
    until(
        &mut watcher,
        &mut seen,
        "homes/home-1/dev/d1/data",
        "{\"n\":2}",
    )
    .await;
    assert_eq!(
        seen.iter()
            .filter(|(_, payload, _)| payload == "from-cloud")
            .count(),
        1,
        "the app's own message only, not a copy from the home: {seen:?}"
    );
    // Intruders in the cloud: another site's prefix, the cloud topics of out-only
    // rules, and commands (off in this configuration) reach nothing at home.
    for topic in [
        "cloud/home-2/lights/porch",
        "homes/home-1/dev/d1/data",
        "homes/home-1/dev/d1/heartbeat",
        "sites/home-1/devices/d1/commands/reboot",
    ] {
        app.publish(topic, "intruder").await;
    }
    app.publish("cloud/home-1/lights/marker", "x").await;
    assert_eq!(&*next(&mut lights).await.topic, "lights/marker");
    loop {
        let message = next(&mut everything).await;
        assert_ne!(&message.payload[..], b"intruder", "{message:?}");
        if &*message.topic == "lights/marker" {
            break;
        }
    }
    let mut more_events = Vec::new();
    while let Ok(Some(message)) =
        tokio::time::timeout(Duration::from_millis(1), events.recv()).await
    {
        more_events.push(message);
    }
    assert!(
        more_events.is_empty(),
        "nothing came back in: {more_events:?}"
    );

    let status = home.bridge_status().unwrap();
    assert_eq!(
        status.commands_total, 4,
        "four messages came in: {status:?}"
    );
    assert_eq!(status.queued_messages, 0, "{status:?}");
    device.disconnect().await;
    home.shutdown().await;
}
