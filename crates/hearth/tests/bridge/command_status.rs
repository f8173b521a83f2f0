//! Commands sent through the cloud's API for a device at home: sent while the link is
//! down, the command reaches the device when the link returns, and the device's answer
//! at home makes it `acked` in the cloud's command log. One whose TTL runs out before the
//! device is heard of ends `timeout` in the cloud and never reaches the device.

use crate::harness::*;
use crate::proxy::Proxy;
use hearth_testkit::client::{Api, eventually};
use hearth_testkit::devices::TestDevice;
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::Packet;
use serde_json::{Value, json};
use std::time::Duration;

async fn send(api: &Api, body: Value) -> String {
    let (status, _, command) = api
        .send("POST", "/api/v1/devices/d1/commands", Some(body))
        .await;
    assert_eq!(status, 202, "{command}");
    command["id"].as_str().unwrap().to_owned()
}

async fn state(api: &Api, id: &str) -> String {
    let (status, _, command) = api
        .send("GET", &format!("/api/v1/commands/{id}"), None)
        .await;
    assert_eq!(status, 200, "{command}");
    command["status"].as_str().unwrap().to_owned()
}

async fn subscribed(hub: &hearth_testkit::TestHub, secret: &str) -> TestDevice {
    let mut device = TestDevice::connect(hub, "d1", secret).await;
    device
        .client
        .subscribe("devices/d1/commands/#", QoS::AtLeastOnce)
        .await
        .unwrap();
    device
        .next(|packet| matches!(packet, Packet::SubAck(_)), "SUBACK")
        .await;
    device
}

async fn online_in_cloud(api: &Api) {
    eventually("the device online in the cloud", || async {
        let (_, _, body) = api.send("GET", "/api/v1/devices/d1", None).await;
        (body["live"]["is_online"] == true).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cloud_command_sent_while_the_link_is_down_is_acked_through_it() {
    let dir = tempfile::tempdir().unwrap();
    let cloud_addr = free_port();
    let cloud = start_cloud(cloud_addr, dir.path()).await;
    let proxy = Proxy::start(Some(cloud_addr)).await;
    let home = start_home(bridge_config(proxy.addr)).await;
    let secrets = add_site_devices(&cloud, &home, &["d1"]).await;
    wait_status(&home, "up", |status| status.up).await;
    let mut device = subscribed(&home, &secrets["d1"]).await;
    let api = Api::login(&cloud).await;
    // The cloud knows the device is at home from what the site relays of it.
    device.data("{\"t\":21}").await;
    online_in_cloud(&api).await;

    proxy.set_target(None);
    proxy.cut();
    wait_status(&home, "down", |status| !status.up).await;
    let id = send(
        &api,
        json!({"name": "switch", "params": {"on": true}, "ttl_secs": 600}),
    )
    .await;
    let before = state(&api, &id).await;
    assert_ne!(before, "acked", "nothing answered yet");

    proxy.set_target(Some(cloud_addr));
    let command = loop {
        let Packet::Publish(publish) = device
            .next(|packet| matches!(packet, Packet::Publish(_)), "the command")
            .await
        else {
            unreachable!()
        };
        let body: Value = serde_json::from_slice(&publish.payload).unwrap();
        if body["id"] == id.as_str() {
            break (publish, body);
        }
    };
    assert_eq!(&command.0.topic[..], b"devices/d1/commands/switch");
    assert_eq!(command.1["on"], true, "{}", command.1);

    device
        .client
        .publish(
            "devices/d1/commands/switch/ack",
            QoS::AtLeastOnce,
            false,
            json!({"id": id, "ok": true}).to_string(),
        )
        .await
        .unwrap();
    device
        .next(|packet| matches!(packet, Packet::PubAck(_)), "PUBACK")
        .await;
    eventually("the command acked in the cloud", || async {
        (state(&api, &id).await == "acked").then_some(())
    })
    .await;
    device.disconnect().await;
    home.shutdown().await;
    cloud.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cloud_command_whose_ttl_runs_out_before_the_device_is_heard_of_never_arrives() {
    let dir = tempfile::tempdir().unwrap();
    let cloud_addr = free_port();
    let cloud = start_cloud(cloud_addr, dir.path()).await;
    let proxy = Proxy::start(Some(cloud_addr)).await;
    let home = start_home(bridge_config(proxy.addr)).await;
    let secrets = add_site_devices(&cloud, &home, &["d1"]).await;
    wait_status(&home, "up", |status| status.up).await;
    let api = Api::login(&cloud).await;
    // The device has not been heard of since the cloud started: it is offline there.
    let id = send(
        &api,
        json!({"name": "switch", "params": {"on": true}, "ttl_secs": 1}),
    )
    .await;
    eventually("the command timed out in the cloud", || async {
        (state(&api, &id).await == "timeout").then_some(())
    })
    .await;
    let mut device = subscribed(&home, &secrets["d1"]).await;
    device.data("{\"t\":21}").await;
    online_in_cloud(&api).await;
    // What the device gets in the next seconds: not that command.
    let got = tokio::time::timeout(
        Duration::from_secs(2),
        device.next(|packet| matches!(packet, Packet::Publish(_)), "a command"),
    )
    .await;
    assert!(got.is_err(), "an expired command arrived: {got:?}");
    device.disconnect().await;
    home.shutdown().await;
    cloud.shutdown().await;
}
