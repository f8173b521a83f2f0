//! `[mqtt.rate_limits]` in a whole hub: a registered device over its rate (set low in the
//! config) is slowed, every reading it was acknowledged for is stored, a device with an
//! override in the config is not slowed, and `/metrics` counts the slowed publishes.

use hearth_testkit::devices::{TestDevice, add_devices};
use hearth_testkit::{Backend, TestHub, start_hub_with};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn metrics(hub: &TestHub) -> String {
    let mut stream = tokio::net::TcpStream::connect(hub.http()).await.unwrap();
    let request = format!(
        "GET /metrics HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        hub.http()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    response
}

fn slowed_devices(metrics: &str) -> u64 {
    metrics
        .lines()
        .find_map(|line| {
            line.strip_prefix(r#"hearth_mqtt_rate_limited_total{kind="device",reason="slowed"} "#)
        })
        .map_or(0, |value| value.trim().parse::<f64>().unwrap() as u64)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_over_its_rate_is_slowed_loses_nothing_and_is_counted_in_metrics() {
    let hub = start_hub_with(Backend::Sqlite, |config| {
        let limits = &mut config.mqtt.rate_limits;
        limits.max_delay_secs = 600.0;
        limits.device.messages_rate = Some(10.0);
        limits.device.messages_burst = Some(2);
        limits.principals.insert(
            "meter".into(),
            hearth_broker::rate_limit::ClientRate {
                messages_rate: Some(0.0),
                ..Default::default()
            },
        );
    })
    .await;
    let secrets = add_devices(&hub, &["lamp", "meter"]).await;
    assert_eq!(slowed_devices(&metrics(&hub).await), 0);

    // The override: 20 readings at once, nothing slowed.
    let mut meter = TestDevice::connect(&hub, "meter", &secrets["meter"]).await;
    for i in 0..20 {
        meter.data(&format!(r#"{{"power": {i}}}"#)).await;
    }
    // Each reading is acknowledged once stored: after the burst of 2, the lamp's wait.
    let mut lamp = TestDevice::connect(&hub, "lamp", &secrets["lamp"]).await;
    for i in 0..8 {
        lamp.data(&format!(r#"{{"level": {i}}}"#)).await;
    }
    let stored = hub.store().device(&"lamp".parse().unwrap()).await.unwrap();
    assert_eq!(
        stored.live.last_report_data.expect("a report")["level"],
        serde_json::json!(7)
    );
    // The broker's counters reach /metrics with its $SYS interval.
    let slowed = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let slowed = slowed_devices(&metrics(&hub).await);
            if slowed > 0 {
                return slowed;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("the slowed publishes in /metrics");
    // 8 publishes with a burst of 2: at most 6 waited (fewer if storing a reading took
    // as long as a token's refill), none of the meter's.
    assert!(slowed <= 6, "{slowed}");
    hub.shutdown().await;
}
