//! The queue's bound and its two policies, with the cloud unreachable.

use crate::harness::*;
use crate::proxy::Proxy;
use hearth_services::bridge::Overflow;
use hearth_testkit::devices::TestDevice;
use rumqttc::v5::mqttbytes::v5::PubAckReason;
use std::sync::atomic::Ordering;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refuse_answers_quota_exceeded_when_full_and_the_home_does_not_store_it() {
    let dir = tempfile::tempdir().unwrap();
    let cloud_addr = free_port();
    let cloud = start_cloud(cloud_addr, dir.path()).await;
    let proxy = Proxy::start(None).await;
    let mut watcher = Watcher::start(cloud_addr).await;
    let mut bridge = bridge_config(proxy.addr);
    bridge.queue_max_messages = 5;
    bridge.overflow = Overflow::Refuse;
    let home = start_home(bridge).await;
    let secrets = add_site_devices(&cloud, &home, &["d1"]).await;
    let mut device = TestDevice::connect(&home, "d1", &secrets["d1"]).await;
    for n in 0..5 {
        assert_eq!(publish(&mut device, n).await, PubAckReason::Success);
    }
    assert_eq!(publish(&mut device, 5).await, PubAckReason::QuotaExceeded);
    let status = home.bridge_status().unwrap();
    assert_eq!(
        (status.queued_messages, status.refused_total),
        (5, 1),
        "{status:?}"
    );
    // Refused before routing: ingest stored the five, not the refused one (its resend
    // will be stored).
    assert_eq!(home.ingest_counters().stored.load(Ordering::Relaxed), 5);

    proxy.set_target(Some(cloud_addr));
    wait_status(&home, "the queue empty", |status| {
        status.queued_messages == 0
    })
    .await;
    // Room again: the device's resend is acknowledged and forwarded.
    assert_eq!(publish(&mut device, 5).await, PubAckReason::Success);
    watcher
        .until("six messages", |seen| first_arrivals(seen).len() == 6)
        .await;
    assert_eq!(first_arrivals(&watcher.seen), vec![0, 1, 2, 3, 4, 5]);
    device.disconnect().await;
    drop(watcher);
    home.shutdown().await;
    cloud.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drop_oldest_keeps_acknowledging_and_sends_the_newest() {
    let dir = tempfile::tempdir().unwrap();
    let cloud_addr = free_port();
    let cloud = start_cloud(cloud_addr, dir.path()).await;
    let proxy = Proxy::start(None).await;
    let mut watcher = Watcher::start(cloud_addr).await;
    let mut bridge = bridge_config(proxy.addr);
    bridge.queue_max_messages = 5;
    let home = start_home(bridge).await;
    let secrets = add_site_devices(&cloud, &home, &["d1"]).await;
    let mut device = TestDevice::connect(&home, "d1", &secrets["d1"]).await;
    for n in 0..8 {
        assert_eq!(publish(&mut device, n).await, PubAckReason::Success);
    }
    let status = home.bridge_status().unwrap();
    assert_eq!(
        (status.queued_messages, status.dropped_total),
        (5, 3),
        "{status:?}"
    );

    proxy.set_target(Some(cloud_addr));
    watcher
        .until("the five newest", |seen| first_arrivals(seen).len() == 5)
        .await;
    wait_status(&home, "the queue empty", |status| {
        status.queued_messages == 0
    })
    .await;
    assert_eq!(first_arrivals(&watcher.seen), vec![3, 4, 5, 6, 7]);
    device.disconnect().await;
    drop(watcher);
    home.shutdown().await;
    cloud.shutdown().await;
}
