//! `hearth history stats|compact` (issue 19): the real binary reports what the history
//! holds, compacts closed ranges (the same answers before and after), and applies the
//! retention of `[history]` unless told not to; SQLite and PostgreSQL.

#[macro_use]
mod admin;

use admin::*;
use bytes::Bytes;
use hearth_model::{DeviceId, MessageKind, Millis, Point, now_millis};
use hearth_store::{IngestBatch, NewMessage, TimeRange};

both_backends!(stats_and_compaction_from_the_command_line);

const HOUR: Millis = 3_600_000;
const DAY: Millis = 24 * HOUR;

fn lamp() -> DeviceId {
    DeviceId::new("lamp").unwrap()
}

fn message(at_ms: Millis) -> NewMessage {
    NewMessage {
        device: lamp(),
        kind: MessageKind::Data,
        received_at_ms: at_ms,
        payload: Bytes::from_static(br#"{"t":21.5}"#),
        json_ok: true,
        ts_clamped: false,
    }
}

fn hourly_counts(hub: &Hub) -> Vec<(Millis, u64)> {
    with_store(hub, async |store| {
        let all = TimeRange {
            from_ms: 0,
            to_ms: Millis::MAX,
        };
        store
            .aggregates(&lamp(), "t", all, HOUR)
            .await
            .unwrap()
            .iter()
            .map(|bucket| (bucket.bucket_start_ms, bucket.count))
            .collect()
    })
}

fn stats_and_compaction_from_the_command_line(hub: Hub) {
    let now = now_millis();
    let three_hours_ago = now - 3 * HOUR;
    // Two hours of a reading a minute, three hours ago; one reading now; and one
    // message older than the default raw-message retention (7 days).
    let mut batch = IngestBatch::default();
    for minute in 0..120 {
        let at_ms = three_hours_ago + minute * 60_000;
        batch.points.push(Point {
            device: lamp(),
            metric: "t".into(),
            at_ms,
            value: 20.0 + minute as f64 / 100.0,
        });
        batch.messages.push(message(at_ms));
    }
    batch.points.push(Point {
        device: lamp(),
        metric: "t".into(),
        at_ms: now,
        value: 22.0,
    });
    batch.messages.push(message(now - 10 * DAY));
    // The registry must exist first: any command creates it.
    hub.ok(&["group", "list"]);
    with_store(&hub, async |store| store.write_batch(&batch).await.unwrap());
    let before = hourly_counts(&hub);

    let stats = hub.json(&["history", "stats"]);
    assert_eq!(stats["size"]["plain_points"], 121, "{stats}");
    assert_eq!(stats["size"]["block_points"], 0, "{stats}");
    assert!(stats["ratios"]["block_bytes_per_point"].is_null());

    let done = hub.json(&["history", "compact", "--no-retention"]);
    // Every reading of a closed hour at least 5 minutes ago (compact_delay_secs).
    let closed = (now - 300_000) / HOUR * HOUR;
    let moved = batch
        .points
        .iter()
        .filter(|point| point.at_ms < closed)
        .count();
    assert_eq!(done["points"], moved as u64, "{done}");
    assert_eq!(done["pruned"], 0, "{done}");
    assert!(done["message_blocks"].as_u64().unwrap() >= 3, "{done}");

    let stats = hub.json(&["history", "stats"]);
    assert_eq!(stats["size"]["block_points"], moved as u64, "{stats}");
    assert_eq!(stats["size"]["plain_points"], 121 - moved as u64, "{stats}");
    let per_point = stats["ratios"]["block_bytes_per_point"].as_f64().unwrap();
    assert!(per_point < 8.0, "a minute apart, 0.01 steps: {per_point} B");
    assert_eq!(
        hourly_counts(&hub),
        before,
        "the same answers after compaction"
    );
    let text = hub.ok(&["history", "stats"]);
    assert!(text.contains("compacted points"), "{text}");

    // With retention: the 10-day-old message goes, the readings stay.
    let done = hub.json(&["history", "compact"]);
    assert_eq!(done["pruned"], 1, "{done}");
    assert_eq!(hourly_counts(&hub), before);
    let stats = hub.json(&["history", "stats"]);
    assert_eq!(
        stats["size"]["block_messages"].as_u64().unwrap()
            + stats["size"]["plain_messages"].as_u64().unwrap(),
        120
    );
}
