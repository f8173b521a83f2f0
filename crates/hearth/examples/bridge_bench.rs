//! The bridge's benchmark (issue 20, docs/bridge.md): messages per second through the
//! link, and the catch-up time after an outage, with two real hubs on loopback in this
//! process (the home one bridged to the cloud one, a real MQTT subscriber on the cloud).
//!
//! 1. Catch-up: `<data_dir>/bridge.redb` of a home hub filled with `BRIDGE_BENCH_QUEUED`
//!    messages (default 100,000) of 100 devices before it starts, as an outage leaves
//!    it; the time from the hub's start until the cloud's subscriber has them all and
//!    the queue is empty.
//! 2. Live: `BRIDGE_BENCH_DEVICES` devices (default 50) at home each publishing
//!    `BRIDGE_BENCH_PER_DEVICE` readings (default 200) with QoS 1, one at a time; the
//!    time until the cloud's subscriber has them all.
//!
//! `BRIDGE_BENCH_SITE_LIMIT=off` turns the cloud's rate limits off (a site's default is
//! 5,000 messages/s after a burst of 50,000). The link's window is
//! `BRIDGE_BENCH_WINDOW` (default 1,024, as `[bridge] window`); the cloud stores every
//! message before its PUBACK, as a real site's are.
//!
//! Run it with `bench/bridge.sh` (a release build). Every wait is bounded (10 minutes).

#[allow(dead_code)]
#[path = "../tests/bridge/harness.rs"]
mod harness;

use harness::*;
use hearth_services::bridge::{BridgeQueue, NewMessage};
use hearth_testkit::devices::TestDevice;
use hearth_testkit::{Backend, start_hub_with};
use std::time::{Duration, Instant};

const LIMIT: Duration = Duration::from_secs(600);

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let queued = env("BRIDGE_BENCH_QUEUED", 100_000);
    let devices = env("BRIDGE_BENCH_DEVICES", 50) as usize;
    let per_device = env("BRIDGE_BENCH_PER_DEVICE", 200);
    let dir = tempfile::tempdir().unwrap();
    let cloud_addr = free_port();
    // The cloud limits a site to 5,000 messages/s after a burst of 50,000 (docs/limits.md),
    // which is what a catch-up meets; `BRIDGE_BENCH_SITE_LIMIT=off` measures the link
    // without it.
    let limited = std::env::var("BRIDGE_BENCH_SITE_LIMIT").as_deref() != Ok("off");
    let cloud = start_cloud_with(cloud_addr, dir.path(), |config| {
        config.mqtt.rate_limits.enabled = limited;
    })
    .await;
    println!(
        "the cloud's rate limits: {}",
        if limited { "on (defaults)" } else { "off" }
    );
    let queued_ids: Vec<String> = (0..100).map(|i| format!("d{i:03}")).collect();
    let queued_refs: Vec<&str> = queued_ids.iter().map(String::as_str).collect();
    add_cloud_devices(&cloud, &queued_refs, None).await;
    let mut watcher = Watcher::start(cloud_addr).await;

    // 1. Catch-up after an outage.
    let home_dir = tempfile::tempdir().unwrap();
    let mut bridge = bridge_config(cloud_addr);
    // The tests' small window makes short tests; the benchmark measures the default.
    bridge.window = env("BRIDGE_BENCH_WINDOW", 1024) as u16;
    let fill = Instant::now();
    {
        let queue =
            BridgeQueue::open(&home_dir.path().join("bridge.redb"), bridge.limits()).unwrap();
        let now = hearth_model::now_millis();
        for chunk in 0..queued.div_ceil(10_000) {
            let batch: Vec<NewMessage> = (chunk * 10_000..((chunk + 1) * 10_000).min(queued))
                .map(|n| NewMessage {
                    topic: format!("devices/d{:03}/data", n % 100).into(),
                    payload: format!("{{\"temperature\":21.5,\"humidity\":40,\"n\":{n}}}").into(),
                    received_at_ms: now,
                    qos: 1,
                })
                .collect();
            queue.append(&batch).unwrap();
        }
    }
    let fill = fill.elapsed();
    let home_data = home_dir.path().to_owned();
    let start = Instant::now();
    let home = start_hub_with(Backend::Sqlite, |config| {
        config.data_dir = home_data;
        config.bridge = Some(bridge);
    })
    .await;
    watcher
        .until_within(LIMIT, "the queued messages", |seen| {
            seen.len() as u64 >= queued
        })
        .await;
    let delivered = start.elapsed();
    let start_wait = Instant::now();
    while home.bridge_status().unwrap().queued_messages > 0 {
        assert!(start_wait.elapsed() < LIMIT, "the queue never emptied");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let emptied = start.elapsed();
    let status = home.bridge_status().unwrap();
    println!(
        "catch-up: {queued} queued messages (filled in {:.2} s): at the cloud after {:.2} s \
         ({:.0} messages/s), queue empty after {:.2} s; sent {} acked {}",
        fill.as_secs_f64(),
        delivered.as_secs_f64(),
        queued as f64 / delivered.as_secs_f64(),
        emptied.as_secs_f64(),
        status.sent_total,
        status.acked_total
    );

    // 2. Live: devices at home, the link up.
    watcher.seen.clear();
    let ids: Vec<String> = (0..devices).map(|i| format!("live{i:03}")).collect();
    let id_refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let secrets = add_site_devices(&cloud, &home, &id_refs).await;
    let mut connected = Vec::new();
    for id in &ids {
        connected.push(TestDevice::connect(&home, id, &secrets[id]).await);
    }
    let total = devices as u64 * per_device;
    let start = Instant::now();
    let tasks: Vec<_> = connected
        .into_iter()
        .map(|mut device| {
            tokio::spawn(async move {
                for n in 0..per_device {
                    publish(&mut device, n).await;
                }
                device
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let acknowledged = start.elapsed();
    watcher
        .until_within(LIMIT, "the live messages", |seen| {
            seen.len() as u64 >= total
        })
        .await;
    let delivered = start.elapsed();
    println!(
        "live: {devices} devices x {per_device} QoS 1 readings = {total}: acknowledged at home \
         in {:.2} s ({:.0}/s), at the cloud after {:.2} s ({:.0} messages/s through the link)",
        acknowledged.as_secs_f64(),
        total as f64 / acknowledged.as_secs_f64(),
        delivered.as_secs_f64(),
        total as f64 / delivered.as_secs_f64()
    );
    drop(watcher);
    home.shutdown().await;
    cloud.shutdown().await;
}
