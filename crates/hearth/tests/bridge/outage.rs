//! Outages: the link cut mid-stream, the cloud hub stopped and started again, the home
//! hub restarted with a queue; nothing acknowledged at home is lost, order per device
//! holds, and the cloud gets the home's receive times.

use crate::harness::*;
use crate::proxy::Proxy;
use hearth_testkit::devices::TestDevice;
use rumqttc::v5::mqttbytes::v5::PubAckReason;

const DEVICES: usize = 20;
const PER_PHASE: u64 = 10;

/// Every device publishes `range` (QoS 1), one after another, each acknowledged.
async fn publish_all(devices: Vec<TestDevice>, range: std::ops::Range<u64>) -> Vec<TestDevice> {
    let tasks: Vec<_> = devices
        .into_iter()
        .map(|mut device| {
            let range = range.clone();
            tokio::spawn(async move {
                for n in range {
                    assert_eq!(publish(&mut device, n).await, PubAckReason::Success);
                }
                device
            })
        })
        .collect();
    let mut devices = Vec::new();
    for task in tasks {
        devices.push(task.await.unwrap());
    }
    devices
}

fn all_arrived(seen: &[Received], devices: usize, count: u64) -> bool {
    let mut by_topic: std::collections::HashMap<&str, std::collections::HashSet<&str>> =
        Default::default();
    for message in seen {
        by_topic
            .entry(&message.topic)
            .or_default()
            .insert(&message.payload);
    }
    by_topic.len() == devices && by_topic.values().all(|set| set.len() as u64 == count)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_message_reaches_the_cloud_in_order_through_a_cut_and_a_cloud_restart() {
    let dir = tempfile::tempdir().unwrap();
    let cloud_addr = free_port();
    let mut cloud = start_cloud(cloud_addr, dir.path()).await;
    let proxy = Proxy::start(Some(cloud_addr)).await;
    let mut watcher = Watcher::start(cloud_addr).await;
    let home = start_home(bridge_config(proxy.addr)).await;
    wait_status(&home, "up", |status| status.up).await;

    let ids: Vec<String> = (0..DEVICES).map(|i| format!("d{i:02}")).collect();
    let id_refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let secrets = add_site_devices(&cloud, &home, &id_refs).await;
    let mut devices = Vec::new();
    for id in &ids {
        devices.push(TestDevice::connect(&home, id, &secrets[id]).await);
    }
    let started = hearth_model::now_millis();

    // 1. Publishing while the link is cut mid-stream.
    let publishing = tokio::spawn(publish_all(devices, 0..PER_PHASE));
    watcher
        .until("the first messages", |seen| seen.len() >= 30)
        .await;
    proxy.cut();
    let devices = publishing.await.unwrap();
    wait_status(&home, "reconnected after the cut", |status| {
        status.up && status.connects_total >= 2
    })
    .await;

    // 2. The cloud hub stopped: the home keeps acknowledging and queues.
    cloud.shutdown_keeping_data().await;
    wait_status(&home, "down", |status| !status.up).await;
    let devices = publish_all(devices, PER_PHASE..2 * PER_PHASE).await;
    let status = home.bridge_status().unwrap();
    assert!(
        status.queued_messages >= DEVICES as u64 * PER_PHASE,
        "{status:?}"
    );
    assert!(status.down_since_ms.is_some(), "{status:?}");
    let restarted_at = hearth_model::now_millis();

    // 3. The cloud back on the same address; devices go on publishing.
    cloud.restart().await;
    let devices = publish_all(devices, 2 * PER_PHASE..3 * PER_PHASE).await;
    watcher
        .until("every message", |seen| {
            all_arrived(seen, DEVICES, 3 * PER_PHASE)
        })
        .await;
    wait_status(&home, "the queue empty", |status| {
        status.up && status.queued_messages == 0
    })
    .await;

    let by_topic = watcher.by_topic();
    assert_eq!(by_topic.len(), DEVICES);
    let expected: Vec<u64> = (0..3 * PER_PHASE).collect();
    let now = hearth_model::now_millis();
    for id in &ids {
        let topic = format!("sites/{SITE}/devices/{id}/data");
        let messages = &by_topic[&topic];
        assert_eq!(first_arrivals(messages), expected, "{topic}");
        for message in messages {
            let at = message
                .received_at
                .expect("hearth-received-at on every message");
            assert!(at >= started && at <= now, "{topic}: {at}");
            let n = first_arrivals(std::slice::from_ref(message))[0];
            if (PER_PHASE..2 * PER_PHASE).contains(&n) {
                // Received at home while the cloud was down: the home's time travels.
                assert!(at < restarted_at, "{topic} n={n}: {at} >= {restarted_at}");
            }
        }
    }
    let status = home.bridge_status().unwrap();
    assert!(status.connects_total >= 3, "{status:?}");
    assert_eq!(status.acked_total, status.queued_total, "{status:?}");
    assert_eq!(status.dropped_total + status.refused_total, 0, "{status:?}");
    for device in devices {
        device.disconnect().await;
    }
    drop(watcher);
    home.shutdown().await;
    cloud.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_home_restart_with_a_queue_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let cloud_addr = free_port();
    let cloud = start_cloud(cloud_addr, dir.path()).await;
    let proxy = Proxy::start(None).await;
    let mut watcher = Watcher::start(cloud_addr).await;
    let mut home = start_home(bridge_config(proxy.addr)).await;
    let secrets = add_site_devices(&cloud, &home, &["d1"]).await;
    let mut device = TestDevice::connect(&home, "d1", &secrets["d1"]).await;
    for n in 0..20 {
        assert_eq!(publish(&mut device, n).await, PubAckReason::Success);
    }
    device.disconnect().await;
    let status = home.bridge_status().unwrap();
    assert_eq!(status.queued_messages, 20, "{status:?}");
    assert!(!status.up);

    home.restart().await;
    let status = home.bridge_status().unwrap();
    assert_eq!(status.queued_messages, 20, "the queue survived: {status:?}");

    proxy.set_target(Some(cloud_addr));
    watcher
        .until("the 20 queued messages", |seen| all_arrived(seen, 1, 20))
        .await;
    assert_eq!(first_arrivals(&watcher.seen), (0..20).collect::<Vec<u64>>());
    wait_status(&home, "the queue empty", |status| {
        status.queued_messages == 0
    })
    .await;
    drop(watcher);
    home.shutdown().await;
    cloud.shutdown().await;
}
