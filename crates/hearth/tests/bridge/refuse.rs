//! `overflow = "refuse"` with a full queue: the device is told 0x97 "quota exceeded"
//! before the home routes or stores the message, so that its resend is the only copy
//! at home as well as in the cloud.

use crate::harness::*;
use crate::proxy::Proxy;
use hearth_model::MessageKind;
use hearth_services::bridge::Overflow;
use hearth_store::{MessageQuery, Store, TimeRange};
use hearth_testkit::devices::TestDevice;
use hearth_testkit::ids;
use rumqttc::v5::mqttbytes::v5::PubAckReason;
use std::sync::Arc;
use std::time::Duration;

/// The `n`s of a device's stored readings, in store order.
async fn stored(store: &Arc<dyn Store>, device: &str) -> Vec<u64> {
    let mut messages = store
        .messages(&MessageQuery {
            device: ids::device(device),
            kind: Some(MessageKind::Data),
            range: TimeRange {
                from_ms: 0,
                to_ms: i64::MAX,
            },
            limit: u32::MAX,
        })
        .await
        .unwrap();
    messages.sort_by_key(|message| message.seq);
    messages
        .iter()
        .map(|message| {
            let value: serde_json::Value = serde_json::from_slice(&message.payload).unwrap();
            value["n"].as_u64().unwrap()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_reading_is_told_quota_exceeded_and_stored_once_at_home_and_in_the_cloud() {
    let dir = tempfile::tempdir().unwrap();
    let cloud_addr = free_port();
    let cloud = start_cloud(cloud_addr, dir.path()).await;
    let proxy = Proxy::start(None).await;
    let mut bridge = bridge_config(proxy.addr);
    bridge.queue_max_messages = 3;
    bridge.overflow = Overflow::Refuse;
    let home = start_home(bridge).await;
    let secrets = add_site_devices(&cloud, &home, &["d1"]).await;
    let mut device = TestDevice::connect(&home, "d1", &secrets["d1"]).await;
    for n in 0..3 {
        assert_eq!(publish(&mut device, n).await, PubAckReason::Success);
    }
    // Full: refused with 0x97, twice (the device tries again while the link is down).
    for _ in 0..2 {
        assert_eq!(publish(&mut device, 3).await, PubAckReason::QuotaExceeded);
    }
    let status = home.bridge_status().unwrap();
    assert_eq!(
        (status.queued_messages, status.refused_total),
        (3, 2),
        "{status:?}"
    );
    assert_eq!(
        stored(&home.store(), "d1").await,
        vec![0, 1, 2],
        "not stored at home"
    );

    proxy.set_target(Some(cloud_addr));
    wait_status(&home, "the queue empty", |status| {
        status.queued_messages == 0
    })
    .await;
    assert_eq!(publish(&mut device, 3).await, PubAckReason::Success);
    assert_eq!(
        stored(&home.store(), "d1").await,
        vec![0, 1, 2, 3],
        "each reading once at home"
    );
    let cloud_store = cloud.store();
    let start = std::time::Instant::now();
    loop {
        let in_cloud = stored(&cloud_store, "d1").await;
        if in_cloud.len() >= 4 {
            assert_eq!(in_cloud, vec![0, 1, 2, 3], "each once in the cloud");
            break;
        }
        assert!(start.elapsed() < DEADLINE, "the cloud stored {in_cloud:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    device.disconnect().await;
    home.shutdown().await;
    cloud.shutdown().await;
}
