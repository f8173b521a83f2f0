//! Device time stamps (issue 17) over real MQTT clients on SQLite and PostgreSQL: a
//! payload's `ts` (epoch seconds, milliseconds or RFC 3339) files the message and its
//! points at the device's time when it lies within `[ingest] max_past_secs` /
//! `max_future_secs` (7 days / 60 s by default); outside it the receive time is used and
//! the message is flagged `ts_clamped`. A late, older reading never replaces a newer live
//! value, and one that arrives after its hour was rolled up is counted in the rollup.

mod protocol_hub;

use hearth_model::{DeviceId, MessageKind, Millis, now_millis};
use hearth_store::{PointQuery, TimeRange};
use hearth_testkit::Backend;
use protocol_hub::*;
use std::sync::atomic::Ordering;

const HOUR_MS: Millis = 3_600_000;
const ALL: TimeRange = TimeRange {
    from_ms: 0,
    to_ms: i64::MAX,
};

async fn points(hub: &ProtocolHub, metric: &str) -> Vec<(Millis, f64)> {
    hub.store()
        .points(&PointQuery {
            device: DeviceId::new("d0").unwrap(),
            metric: metric.into(),
            range: ALL,
            limit: 1000,
        })
        .await
        .unwrap()
        .into_iter()
        .map(|point| (point.at_ms, point.value))
        .collect()
}

async fn send(
    client: &rumqttc::v5::AsyncClient,
    eventloop: &mut rumqttc::v5::EventLoop,
    payload: &str,
) {
    assert_eq!(
        publish_acked(client, eventloop, "devices/d0/data", payload.as_bytes()).await,
        0
    );
}

async fn an_hour_old_reading_lands_at_its_time_and_keeps_the_newer_live_value(backend: Backend) {
    let hub = ProtocolHub::start(backend, 1).await;
    let (client, mut eventloop) = hub.client(Some("d0"), "d0").await;
    send(&client, &mut eventloop, r#"{"temperature": 22.0}"#).await;
    let hour_ago = now_millis() - HOUR_MS;
    let late = format!(r#"{{"temperature": 18.0, "ts": {hour_ago}}}"#);
    send(&client, &mut eventloop, &late).await;

    let stored = hub.messages("d0", Some(MessageKind::Data)).await;
    assert_eq!(stored.len(), 2);
    // Newest first by time: the queued reading is the older one although it came last.
    assert_eq!(stored[1].received_at_ms, hour_ago);
    assert!(!stored[1].ts_clamped);
    assert!(stored[0].received_at_ms > hour_ago + HOUR_MS / 2);
    let temperature = points(&hub, "temperature").await;
    assert_eq!(temperature.first(), Some(&(hour_ago, 18.0)));
    assert_eq!(temperature.len(), 2);
    assert_eq!(temperature[1].1, 22.0);
    assert!(points(&hub, "ts").await.is_empty(), "ts is not a metric");

    let device = hub.device("d0").await;
    assert_eq!(
        device.live.last_report_data,
        Some(serde_json::json!({"temperature": 22.0})),
        "the late, older reading did not replace the live value"
    );
    // A newer reading still does.
    let now = now_millis();
    let newer = format!(r#"{{"temperature": 23.0, "ts": {now}}}"#);
    send(&client, &mut eventloop, &newer).await;
    assert_eq!(
        hub.device("d0").await.live.last_report_data,
        Some(serde_json::json!({"temperature": 23.0, "ts": now}))
    );
}

async fn seconds_milliseconds_and_rfc3339_give_the_same_time(backend: Backend) {
    let hub = ProtocolHub::start(backend, 1).await;
    let (client, mut eventloop) = hub.client(Some("d0"), "d0").await;
    // A whole second, two hours ago, so that the three forms mean the same instant.
    let at_ms = (now_millis() - 2 * HOUR_MS) / 1000 * 1000;
    // The same instant written in local time two hours east of UTC.
    let rfc3339 = jiff::Timestamp::from_millisecond(at_ms + 2 * HOUR_MS)
        .unwrap()
        .to_string()
        .replace('Z', "+02:00");
    let forms = [
        format!(r#"{{"n": 1, "ts": {}}}"#, at_ms / 1000),
        format!(r#"{{"n": 2, "ts": {at_ms}}}"#),
        format!(r#"{{"n": 3, "ts": "{rfc3339}"}}"#),
        format!(r#"{{"n": 4, "ts": {}.5}}"#, at_ms / 1000),
    ];
    for payload in &forms {
        assert_eq!(
            publish_acked(
                &client,
                &mut eventloop,
                "devices/d0/events",
                payload.as_bytes()
            )
            .await,
            0
        );
    }
    let mut stored: Vec<(Millis, bool)> = hub
        .messages("d0", Some(MessageKind::Event))
        .await
        .iter()
        .map(|message| (message.received_at_ms, message.ts_clamped))
        .collect();
    stored.sort();
    assert_eq!(
        stored,
        vec![
            (at_ms, false),
            (at_ms, false),
            (at_ms, false),
            (at_ms + 500, false)
        ]
    );
}

async fn a_ts_far_in_the_past_or_future_is_clamped_and_flagged(backend: Backend) {
    let hub = ProtocolHub::start(backend, 1).await;
    let (client, mut eventloop) = hub.client(Some("d0"), "d0").await;
    let before = now_millis();
    let cases = [
        // Eight days ago (the window is seven), ten minutes ahead (it is one), nonsense.
        format!(r#"{{"v": 1, "ts": {}}}"#, before - 8 * 24 * HOUR_MS),
        format!(r#"{{"v": 2, "ts": {}}}"#, (before + 10 * 60_000) / 1000),
        r#"{"v": 3, "ts": "1999-01-01T00:00:00Z"}"#.to_owned(),
        r#"{"v": 4, "ts": "last tuesday"}"#.to_owned(),
    ];
    for payload in &cases {
        assert_eq!(
            publish_acked(
                &client,
                &mut eventloop,
                "devices/d0/data",
                payload.as_bytes()
            )
            .await,
            0
        );
    }
    let after = now_millis();
    let stored = hub.messages("d0", Some(MessageKind::Data)).await;
    assert_eq!(stored.len(), 4);
    for message in &stored {
        assert!(message.ts_clamped, "{:?} flagged", message.payload);
        assert!(
            (before..=after).contains(&message.received_at_ms),
            "stored at the receive time"
        );
    }
    for (at_ms, _) in points(&hub, "v").await {
        assert!((before..=after).contains(&at_ms));
    }
    assert_eq!(hub.ingest_counters().ts_clamped.load(Ordering::Relaxed), 4);
    // Without `ts` nothing is flagged.
    assert_eq!(
        publish_acked(&client, &mut eventloop, "devices/d0/data", br#"{"v": 5}"#).await,
        0
    );
    let newest = &hub.messages("d0", Some(MessageKind::Data)).await[0];
    assert_eq!(newest.payload, br#"{"v": 5}"#);
    assert!(!newest.ts_clamped);
}

async fn a_reading_for_an_hour_already_compacted_is_counted_once(backend: Backend) {
    let hub = ProtocolHub::start(backend, 1).await;
    let (client, mut eventloop) = hub.client(Some("d0"), "d0").await;
    let three_hours_ago = now_millis() - 3 * HOUR_MS;
    let hour_start = three_hours_ago / HOUR_MS * HOUR_MS;
    let reading = |value: f64| format!(r#"{{"w": {value}, "ts": {three_hours_ago}}}"#);
    send(&client, &mut eventloop, &reading(5.0)).await;
    let store = hub.store();
    let compact = hearth_store::CompactRequest {
        before_ms: now_millis(),
        block_ms: HOUR_MS,
        tiers: vec![HOUR_MS],
        batch_series: 64,
    };
    assert_eq!(store.compact(&compact).await.unwrap().points, 1);
    // The agent's queued reading for the same hour arrives after the compaction.
    send(&client, &mut eventloop, &reading(7.0)).await;
    assert_eq!(store.compact(&compact).await.unwrap().points, 1, "merged");
    // Raw points of that hour pruned: only the hour tier remains to count them.
    let deleted = store
        .prune_points(None, hour_start + HOUR_MS, None)
        .await
        .unwrap();
    assert_eq!(deleted, 1, "the hour's one block, holding both");
    let buckets = store
        .aggregates(&DeviceId::new("d0").unwrap(), "w", ALL, HOUR_MS)
        .await
        .unwrap();
    let bucket = buckets
        .iter()
        .find(|bucket| bucket.bucket_start_ms == hour_start)
        .expect("the hour has its tier row");
    assert_eq!(bucket.count, 2);
    assert_eq!(bucket.min, 5.0);
    assert_eq!(bucket.max, 7.0);
}

hearth_testkit::both_backends_hub!(
    an_hour_old_reading_lands_at_its_time_and_keeps_the_newer_live_value,
    seconds_milliseconds_and_rfc3339_give_the_same_time,
    a_ts_far_in_the_past_or_future_is_clamped_and_flagged,
    a_reading_for_an_hour_already_compacted_is_counted_once,
);
