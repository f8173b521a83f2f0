//! Devices that move (issue 20, docs/bridge.md "Devices that move"): a device (the
//! hearth-device client) lists the home hub first and the cloud next. The home hub
//! stops: the device moves to the cloud, reports there, the cloud shows it online
//! attached directly and its command reaches it directly. The home hub comes back: the
//! device moves home, the cloud shows it online through the site and its command goes
//! through the site. The cloud never records it offline meanwhile.

use crate::harness::*;
use hearth_device::{Ack, DeviceClient, DeviceConfig, Endpoint};
use hearth_model::{CommandStatus, DeviceId};
use hearth_services::bridge::BridgeConfig;
use hearth_services::ingest::Attachment;
use hearth_store::TimeRange;
use hearth_testkit::client::eventually;
use hearth_testkit::{Backend, TestHub, start_hub_with};
use serde_json::json;
use std::net::SocketAddr;
use std::time::Duration;

/// The home hub with `[bridge]` on a fixed MQTT address (the device's first endpoint
/// must stay valid across the home's restart).
async fn start_home_at(mqtt: SocketAddr, bridge: BridgeConfig) -> TestHub {
    start_hub_with(Backend::Sqlite, |config| {
        config.mqtt.listen = Some(mqtt);
        config.bridge = Some(bridge);
    })
    .await
}

/// Waits until the cloud holds the device attached as `wanted`, and checks that its API
/// says so (`live.attached_via`: `"direct"` or the site's id).
async fn attached(cloud: &TestHub, device: &str, wanted: Attachment) {
    let attachments = cloud.attachments();
    eventually(
        &format!("{device} attached {wanted:?} in the cloud"),
        || {
            let here = attachments.get(device) == Some(wanted.clone());
            async move { here.then_some(()) }
        },
    )
    .await;
    let api = hearth_testkit::client::Api::login(cloud).await;
    let (status, _, view) = api
        .send("GET", &format!("/api/v1/devices/{device}"), None)
        .await;
    assert_eq!(status, 200, "{view}");
    let via = match &wanted {
        Attachment::Direct => "direct".to_owned(),
        Attachment::Site(site) => site.to_string(),
    };
    assert_eq!(view["live"]["attached_via"], json!(via), "{view}");
    assert_eq!(view["live"]["is_online"], json!(true), "{view}");
}

/// Publishes `payload` on the lamp's status as the site's link would relay it, received
/// at home at `home_ms` (the home's late queue), retained as a will is; waits for the
/// cloud's PUBACK (the message is committed there).
async fn relay_status_as_site(cloud: SocketAddr, payload: &str, home_ms: i64) {
    use rumqttc::v5::mqttbytes::QoS;
    use rumqttc::v5::mqttbytes::v5::{Packet, PublishProperties};
    use rumqttc::v5::{AsyncClient, Event, MqttOptions};
    let mut options = MqttOptions::new(format!("site:{SITE}"), "127.0.0.1", cloud.port());
    options.set_credentials(SITE, SITE_SECRET);
    let (client, mut events) = AsyncClient::new(options, 8);
    let properties = PublishProperties {
        user_properties: vec![(
            hearth_services::bridge::RECEIVED_AT.to_owned(),
            home_ms.to_string(),
        )],
        ..PublishProperties::default()
    };
    client
        .publish_with_properties(
            format!("sites/{SITE}/devices/lamp/status"),
            QoS::AtLeastOnce,
            true,
            payload.to_owned(),
            properties,
        )
        .await
        .unwrap();
    tokio::time::timeout(DEADLINE, async {
        loop {
            match events.poll().await {
                Ok(Event::Incoming(Packet::PubAck(ack))) => {
                    assert_eq!(
                        ack.reason,
                        rumqttc::v5::mqttbytes::v5::PubAckReason::Success
                    );
                    return;
                }
                Ok(_) => {}
                Err(error) => panic!("the site's connection: {error}"),
            }
        }
    })
    .await
    .expect("the cloud acknowledged the site's message");
    client.disconnect().await.unwrap();
    let _ = tokio::time::timeout(Duration::from_secs(1), events.poll()).await;
}

/// The cloud's retained status of the lamp, once it is `wanted`.
async fn retained_status(cloud: &TestHub, wanted: &str) {
    let bus = cloud.bus();
    eventually(&format!("the cloud's retained status {wanted}"), || {
        let bus = bus.clone();
        async move {
            let mut subscription = bus
                .subscribe_with_retained("devices/lamp/status")
                .await
                .ok()?;
            let message = tokio::time::timeout(Duration::from_millis(200), subscription.recv())
                .await
                .ok()??;
            (&message.payload[..] == wanted.as_bytes()).then_some(())
        }
    })
    .await;
}

/// Sends a command from the cloud and answers it on the device; returns the topic the
/// device got it on (its own either way) once the cloud has recorded it acknowledged.
async fn command_round(
    cloud: &TestHub,
    device: &DeviceId,
    commands: &mut hearth_device::Commands,
    on: bool,
) {
    let sent = cloud
        .commands()
        .send("test", device, "switch", json!({ "on": on }), Some(60))
        .await
        .unwrap();
    let command = tokio::time::timeout(DEADLINE, commands.next())
        .await
        .expect("the command reached the device")
        .unwrap();
    assert_eq!(command.name, "switch");
    assert_eq!(command.param("on"), Some(&json!(on)));
    assert_eq!(command.id.as_deref(), Some(sent.id.as_str()));
    command.ack(Ack::ok()).await.unwrap();
    let store = cloud.store();
    eventually("the cloud records the answer", || {
        let store = store.clone();
        let id = sent.id.clone();
        async move {
            let command = store.command(&id).await.ok()?;
            (command.status == CommandStatus::Acked).then_some(())
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_moves_to_the_cloud_when_home_stops_and_back_and_is_never_offline_there() {
    let dir = tempfile::tempdir().unwrap();
    let cloud_addr = free_port();
    let cloud = start_cloud(cloud_addr, dir.path()).await;
    let home_addr = free_port();
    let mut home = start_home_at(home_addr, bridge_config(cloud_addr)).await;
    let secrets = add_site_devices(&cloud, &home, &["lamp"]).await;
    let lamp = DeviceId::new("lamp").unwrap();

    let mut config = DeviceConfig::new(
        "127.0.0.1",
        home_addr.port(),
        lamp.clone(),
        &secrets["lamp"],
    );
    config.fallbacks = vec![Endpoint::new("127.0.0.1", cloud_addr.port())];
    config.return_probe = Duration::from_millis(300);
    config.backoff = hearth_device::Backoff {
        initial: Duration::from_millis(50),
        max: Duration::from_millis(500),
    };
    config.heartbeat_secs = 1;
    let (client, mut commands) = DeviceClient::connect(config);
    tokio::time::timeout(DEADLINE, client.wait_connected())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(client.endpoint(), 0);
    let started_ms = hearth_model::now_millis();
    attached(&cloud, "lamp", Attachment::Site(SITE.into())).await;
    command_round(&cloud, &lamp, &mut commands, true).await;

    // Home stops: the lamp moves to the cloud and reports there itself.
    home.shutdown_keeping_data().await;
    eventually("the lamp on the cloud", || {
        let on_cloud = client.is_connected() && client.endpoint() == 1;
        async move { on_cloud.then_some(()) }
    })
    .await;
    attached(&cloud, "lamp", Attachment::Direct).await;
    client.publish_data(json!({ "where": 1 })).await.unwrap();
    let store = cloud.store();
    eventually("the cloud stores the lamp's own reading", || {
        let store = store.clone();
        let lamp = lamp.clone();
        async move {
            let device = store.device(&lamp).await.ok()?;
            let data = device.live.last_report_data?;
            (data["where"] == json!(1)).then_some(())
        }
    })
    .await;
    command_round(&cloud, &lamp, &mut commands, false).await;
    assert_eq!(cloud.attachments().get("lamp"), Some(Attachment::Direct));

    // The home's late word arrives through the site while the lamp is here: its will
    // from before the lamp came (queued at home), and an offline the home noticed only
    // after (a keep-alive running out there). Neither changes where it is, and the
    // cloud's retained status says online again.
    relay_status_as_site(cloud_addr, "offline", started_ms).await;
    relay_status_as_site(cloud_addr, "offline", hearth_model::now_millis()).await;
    assert_eq!(cloud.attachments().get("lamp"), Some(Attachment::Direct));
    assert!(store.device(&lamp).await.unwrap().live.is_online);
    retained_status(&cloud, "online").await;

    // Home is back on the same address: the lamp's probe finds it and it moves home.
    home.restart().await;
    eventually("the lamp back home", || {
        let home_again = client.is_connected() && client.endpoint() == 0;
        async move { home_again.then_some(()) }
    })
    .await;
    attached(&cloud, "lamp", Attachment::Site(SITE.into())).await;
    client.publish_data(json!({ "where": 0 })).await.unwrap();
    eventually("the cloud stores the reading relayed from home", || {
        let store = store.clone();
        let lamp = lamp.clone();
        async move {
            let device = store.device(&lamp).await.ok()?;
            let data = device.live.last_report_data?;
            (data["where"] == json!(0)).then_some(())
        }
    })
    .await;
    command_round(&cloud, &lamp, &mut commands, true).await;

    // Through it all the cloud held it online: no offline in its presence history since
    // it first came online, and online now.
    let history = store
        .status_history(
            &lamp,
            TimeRange {
                from_ms: 0,
                to_ms: i64::MAX,
            },
            100,
        )
        .await
        .unwrap();
    let offline: Vec<_> = history.iter().filter(|change| !change.online).collect();
    assert!(offline.is_empty(), "offline in the cloud: {history:?}");
    assert!(history.iter().any(|change| change.online), "{history:?}");
    assert!(store.device(&lamp).await.unwrap().live.is_online);

    client.shutdown().await;
    home.shutdown().await;
    cloud.shutdown().await;
}

/// Runs scripts/moving-device.sh once (one reading `{"n": n}`) for `device` with the
/// home hub first; returns what it printed (`sent to HOST:PORT: ...`).
async fn moving_device_once(device: &str, secret: &str, hubs: &str, n: u64) -> String {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../scripts/moving-device.sh"
    );
    let output = tokio::process::Command::new("sh")
        .arg(script)
        .env("DEVICE", device)
        .env("SECRET", secret)
        .env("HUBS", hubs)
        .env("READ_CMD", format!("echo '{{\"n\": {n}}}'"))
        .env("COUNT", "1")
        .output()
        .await
        .expect("sh runs the script (mosquitto_pub from mosquitto-clients)");
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout).unwrap()
}

/// The `n`s of the device's stored data messages on `hub`.
async fn stored_ns(hub: &TestHub, device: &str) -> Vec<u64> {
    let messages = hub
        .store()
        .messages(&hearth_store::MessageQuery {
            device: DeviceId::new(device).unwrap(),
            kind: Some(hearth_model::MessageKind::Data),
            range: TimeRange {
                from_ms: 0,
                to_ms: i64::MAX,
            },
            limit: 100,
        })
        .await
        .unwrap();
    let mut ns: Vec<u64> = messages
        .iter()
        .filter_map(|message| {
            let value: serde_json::Value = serde_json::from_slice(&message.payload).ok()?;
            value["n"].as_u64()
        })
        .collect();
    ns.sort_unstable();
    ns
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_mosquitto_pub_device_goes_home_when_it_answers_and_to_the_cloud_otherwise() {
    let dir = tempfile::tempdir().unwrap();
    let cloud_addr = free_port();
    let cloud = start_cloud(cloud_addr, dir.path()).await;
    let home_addr = free_port();
    let mut home = start_home_at(home_addr, bridge_config(cloud_addr)).await;
    let secrets = add_site_devices(&cloud, &home, &["plain"]).await;
    let hubs = format!("{home_addr} {cloud_addr}");

    // Home answers: the reading is stored there and relayed to the cloud.
    let printed = moving_device_once("plain", &secrets["plain"], &hubs, 1).await;
    assert!(
        printed.starts_with(&format!("sent to {home_addr}")),
        "{printed}"
    );
    assert_eq!(stored_ns(&home, "plain").await, vec![1]);
    eventually("the relayed reading in the cloud", || async {
        (stored_ns(&cloud, "plain").await == vec![1]).then_some(())
    })
    .await;

    // Home away: the next reading goes to the cloud itself.
    home.shutdown_keeping_data().await;
    let printed = moving_device_once("plain", &secrets["plain"], &hubs, 2).await;
    assert!(
        printed.starts_with(&format!("sent to {cloud_addr}")),
        "{printed}"
    );
    assert_eq!(stored_ns(&cloud, "plain").await, vec![1, 2]);

    // Home back: the next one goes home again, and only there first.
    home.restart().await;
    let printed = moving_device_once("plain", &secrets["plain"], &hubs, 3).await;
    assert!(
        printed.starts_with(&format!("sent to {home_addr}")),
        "{printed}"
    );
    assert_eq!(stored_ns(&home, "plain").await, vec![1, 3]);
    eventually("the third reading relayed to the cloud", || async {
        (stored_ns(&cloud, "plain").await == vec![1, 2, 3]).then_some(())
    })
    .await;
    home.shutdown().await;
    cloud.shutdown().await;
}
