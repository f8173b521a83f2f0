//! Commands from the cloud reach the home device through the link, also when sent
//! while the link was down (the cloud keeps the link's session), and the device's
//! ack goes back up.

use crate::harness::*;
use crate::proxy::Proxy;
use hearth_bus::{Envelope, Qos};
use hearth_testkit::devices::TestDevice;
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::Packet;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_sent_while_the_link_is_down_reaches_the_device_and_its_ack_the_cloud() {
    let dir = tempfile::tempdir().unwrap();
    let cloud_addr = free_port();
    let cloud = start_cloud(cloud_addr, dir.path()).await;
    let proxy = Proxy::start(Some(cloud_addr)).await;
    let mut watcher = Watcher::start(cloud_addr).await;
    let home = start_home(bridge_config(proxy.addr)).await;
    let secrets = add_site_devices(&cloud, &home, &["d1"]).await;
    let mut device = TestDevice::connect(&home, "d1", &secrets["d1"]).await;
    device
        .client
        .subscribe("devices/d1/commands/#", QoS::AtLeastOnce)
        .await
        .unwrap();
    device
        .next(|packet| matches!(packet, Packet::SubAck(_)), "SUBACK")
        .await;
    // The link's first session holds its subscription in the cloud: a command published
    // now is delivered (retried until the SUBACK has certainly happened).
    wait_status(&home, "up", |status| status.up).await;
    let command = |body: &str| {
        Envelope::new(
            format!("sites/{SITE}/devices/d1/commands/switch"),
            body.to_owned(),
        )
        .with_qos(Qos::AtLeastOnce)
    };
    let first = tokio::time::timeout(DEADLINE, async {
        loop {
            cloud.bus().publish(command("{\"on\":true}")).await.unwrap();
            let got = tokio::time::timeout(
                std::time::Duration::from_millis(300),
                device.next(|packet| matches!(packet, Packet::Publish(_)), "command"),
            )
            .await;
            if let Ok(packet) = got {
                return packet;
            }
        }
    })
    .await
    .expect("the first command reached the device");
    let Packet::Publish(first) = first else {
        unreachable!()
    };
    assert_eq!(&first.topic[..], b"devices/d1/commands/switch");

    // The link down: the cloud holds the command for the site's session.
    proxy.set_target(None);
    proxy.cut();
    wait_status(&home, "down", |status| !status.up).await;
    cloud
        .bus()
        .publish(command("{\"on\":false}"))
        .await
        .unwrap();
    proxy.set_target(Some(cloud_addr));
    let second = loop {
        let packet = device
            .next(
                |packet| matches!(packet, Packet::Publish(_)),
                "the held command",
            )
            .await;
        let Packet::Publish(publish) = packet else {
            unreachable!()
        };
        if &publish.payload[..] == b"{\"on\":false}" {
            break publish;
        }
    };
    assert_eq!(&second.topic[..], b"devices/d1/commands/switch");

    // The device's ack goes up to the cloud under the site's prefix.
    device
        .client
        .publish(
            "devices/d1/commands/switch/ack",
            QoS::AtLeastOnce,
            false,
            "{\"ok\":true}",
        )
        .await
        .unwrap();
    let ack = device
        .next(|packet| matches!(packet, Packet::PubAck(_)), "PUBACK")
        .await;
    eprintln!("ack {ack:?} {:?}", home.bridge_status());
    watcher
        .until("the ack", |seen| {
            seen.iter().any(|message| {
                message.topic == format!("sites/{SITE}/devices/d1/commands/switch/ack")
            })
        })
        .await;
    let status = home.bridge_status().unwrap();
    assert!(status.commands_total >= 2, "{status:?}");
    device.disconnect().await;
    drop(watcher);
    home.shutdown().await;
    cloud.shutdown().await;
}
