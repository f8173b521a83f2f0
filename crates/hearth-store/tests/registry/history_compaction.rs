//! History at scale (issue 19): compaction into blocks and tiers, reads across the
//! compacted/plain boundary, late readings into compacted ranges, retention per level.

use super::history::*;
use super::*;
use hearth_model::{MessageKind, Millis, PresenceReason};
use hearth_store::{
    CompactRequest, HistorySize, IngestBatch, MessageQuery, PointQuery, SeriesKey, TimeRange,
};

both_backends!(
    compaction_moves_rows_and_every_read_sees_each_once,
    late_readings_land_in_compacted_ranges,
    retention_per_level_falls_back_to_coarser_tiers,
    a_tier_added_later_is_read_only_where_complete,
    message_retention_per_application,
    a_large_backlog_is_compacted_in_slices,
);

const MINUTE: Millis = 60_000;
const DAY: Millis = 24 * HOUR;
/// Midnight (UTC) before T0: day tiers' buckets start there.
const D0: Millis = T0 - T0 % DAY;

fn request(before_ms: Millis, tiers: &[Millis]) -> CompactRequest {
    CompactRequest {
        before_ms,
        block_ms: HOUR,
        tiers: tiers.to_vec(),
        batch_series: 1,
    }
}

/// `hours` hours of one point every 15 minutes for `lamp`'s `t` (value = index, with a
/// fraction so that the decimal encoding is exercised) and `h` (constant), and a data
/// message per point time (every third one not JSON, so the flag must survive).
fn hours_of_history(from: Millis, hours: i64) -> IngestBatch {
    let mut batch = IngestBatch::default();
    for i in 0..hours * 4 {
        let at = from + i * 15 * MINUTE;
        batch.points.push(point("lamp", "t", at, i as f64 + 0.25));
        batch.points.push(point("lamp", "h", at, 40.5));
        let payload = if i % 3 == 0 {
            b"{broken".to_vec()
        } else {
            format!(r#"{{"t":{}}}"#, i).into_bytes()
        };
        batch
            .messages
            .push(message("lamp", MessageKind::Data, at, &payload));
        batch
            .status_changes
            .push(status("lamp", at, i % 2 == 0, PresenceReason::Activity));
    }
    batch
}

/// Everything a chart, an export or the device page can read, to compare before and
/// after compaction.
async fn snapshot(store: &Arc<dyn Store>) -> String {
    let mut out = String::new();
    for bucket in [15 * MINUTE, HOUR, 2 * HOUR, DAY] {
        let aggregates = store
            .aggregates(&did("lamp"), "t", ALL, bucket)
            .await
            .unwrap();
        out += &format!("{bucket}: {aggregates:?}\n");
    }
    let edge = TimeRange {
        from_ms: T0 + HOUR + 20 * MINUTE,
        to_ms: T0 + 2 * HOUR + 40 * MINUTE,
    };
    out += &format!(
        "edge: {:?}\n",
        store
            .aggregates(&did("lamp"), "t", edge, HOUR)
            .await
            .unwrap()
    );
    for limit in [1, 6, 1_000] {
        let points = store
            .points(&PointQuery {
                device: did("lamp"),
                metric: "t".into(),
                range: TimeRange {
                    from_ms: T0 + HOUR,
                    to_ms: Millis::MAX,
                },
                limit,
            })
            .await
            .unwrap();
        out += &format!("points {limit}: {points:?}\n");
    }
    out += &format!(
        "latest: {:?}\n",
        store.latest_points(&did("lamp")).await.unwrap()
    );
    for (kind, limit) in [(None, 1_000), (Some(MessageKind::Data), 3), (None, 5)] {
        let messages = store
            .messages(&MessageQuery {
                device: did("lamp"),
                kind,
                range: TimeRange {
                    from_ms: T0 + 30 * MINUTE,
                    to_ms: T0 + 3 * HOUR,
                },
                limit,
            })
            .await
            .unwrap();
        out += &format!("messages {limit}: {messages:?}\n");
    }
    out += &format!(
        "count: {} {}\n",
        store.message_count(None).await.unwrap(),
        store.message_count(Some(&did("lamp"))).await.unwrap()
    );
    out
}

async fn compaction_moves_rows_and_every_read_sees_each_once(store: Arc<dyn Store>) {
    store.write_batch(&hours_of_history(T0, 4)).await.unwrap();
    let before = snapshot(&store).await;

    // Hours 0 and 1 are closed at T0 + 2h30 (hour 2 is not whole yet).
    let done = store
        .compact(&request(T0 + 2 * HOUR + 30 * MINUTE, &[HOUR, DAY]))
        .await
        .unwrap();
    assert_eq!(done.points, 2 * 4 * 2, "two hours of two series");
    assert_eq!(done.point_blocks, 2 * 2);
    assert_eq!((done.messages, done.message_blocks), (8, 2));
    let size = store.history_size().await.unwrap();
    assert_eq!(
        (size.plain_points, size.block_points, size.point_blocks),
        (16, 16, 4)
    );
    assert_eq!((size.plain_messages, size.block_messages), (8, 8));
    assert_eq!(
        size.tier_rows,
        2 * (2 + 1),
        "per series: hours 0 and 1, and the day"
    );
    assert!(size.point_block_bytes > 0 && size.message_block_bytes > 0);
    assert_eq!(
        size.block_message_payload_bytes,
        store
            .messages(&MessageQuery {
                device: did("lamp"),
                kind: None,
                range: TimeRange {
                    from_ms: T0,
                    to_ms: T0 + 2 * HOUR
                },
                limit: 100,
            })
            .await
            .unwrap()
            .iter()
            .map(|message| message.payload.len() as u64)
            .sum::<u64>()
    );
    assert_eq!(snapshot(&store).await, before, "reads across the boundary");

    // Idempotent: nothing left to move before that time.
    let again = store
        .compact(&request(T0 + 2 * HOUR + 30 * MINUTE, &[HOUR, DAY]))
        .await
        .unwrap();
    assert_eq!(again, Default::default());
    // Everything compacted: still the same answers, every point once.
    store
        .compact(&request(T0 + 5 * HOUR, &[HOUR, DAY]))
        .await
        .unwrap();
    let size = store.history_size().await.unwrap();
    assert_eq!((size.plain_points, size.block_points), (0, 32));
    assert_eq!(snapshot(&store).await, before);
}

async fn late_readings_land_in_compacted_ranges(store: Arc<dyn Store>) {
    store.write_batch(&hours_of_history(T0, 3)).await.unwrap();
    store
        .compact(&request(T0 + 3 * HOUR, &[HOUR, DAY]))
        .await
        .unwrap();
    let hour_0 = TimeRange {
        from_ms: T0,
        to_ms: T0 + HOUR,
    };
    let hourly = |store: Arc<dyn Store>| async move {
        store
            .aggregates(&did("lamp"), "t", ALL, HOUR)
            .await
            .unwrap()
    };
    assert_eq!(
        hourly(store.clone()).await[0],
        aggregate(T0, 0.25, 3.25, 1.75, 4)
    );

    // A device's queued reading for hour 0 arrives now, with a new extreme.
    store
        .write_batch(&IngestBatch {
            points: vec![point("lamp", "t", T0 + 7 * MINUTE, -100.0)],
            messages: vec![message("lamp", MessageKind::Data, T0 + 7 * MINUTE, b"{}")],
            ..IngestBatch::default()
        })
        .await
        .unwrap();
    let expected = aggregate(T0, -100.0, 3.25, (7.0 - 100.0) / 5.0, 5);
    assert_eq!(
        hourly(store.clone()).await[0],
        expected,
        "visible at once, once"
    );
    let points_of_hour_0 = || PointQuery {
        device: did("lamp"),
        metric: "t".into(),
        range: hour_0,
        limit: 100,
    };
    let seen: Vec<Millis> = store
        .points(&points_of_hour_0())
        .await
        .unwrap()
        .iter()
        .map(|point| point.at_ms)
        .collect();
    assert_eq!(
        seen,
        vec![
            T0,
            T0 + 7 * MINUTE,
            T0 + 15 * MINUTE,
            T0 + 30 * MINUTE,
            T0 + 45 * MINUTE
        ],
        "in time order across the block and the plain row"
    );

    // The next compaction merges it into hour 0's block and adds it to the tiers once.
    let done = store
        .compact(&request(T0 + 3 * HOUR, &[HOUR, DAY]))
        .await
        .unwrap();
    assert_eq!((done.points, done.point_blocks), (1, 1));
    assert_eq!((done.messages, done.message_blocks), (1, 1));
    let size = store.history_size().await.unwrap();
    assert_eq!(
        (size.plain_points, size.point_blocks),
        (0, 6),
        "merged, not a new block"
    );
    assert_eq!((size.plain_messages, size.block_messages), (0, 13));
    assert_eq!(hourly(store.clone()).await[0], expected);
    assert_eq!(store.points(&points_of_hour_0()).await.unwrap().len(), 5);
    let daily = store.aggregates(&did("lamp"), "t", ALL, DAY).await.unwrap();
    assert_eq!(daily.iter().map(|day| day.count).sum::<u64>(), 13);
}

async fn retention_per_level_falls_back_to_coarser_tiers(store: Arc<dyn Store>) {
    let mut batch = hours_of_history(D0, 72);
    batch
        .points
        .extend((0..72 * 4).map(|i| point("plug", "p", D0 + i * 15 * MINUTE, 1.0)));
    store.write_batch(&batch).await.unwrap();
    store
        .compact(&request(D0 + 72 * HOUR, &[HOUR, DAY]))
        .await
        .unwrap();
    let hourly_before = store
        .aggregates(&did("lamp"), "t", ALL, HOUR)
        .await
        .unwrap();
    assert_eq!(hourly_before.len(), 72);

    // Raw points of lamp/t go after a day; the plug's stay.
    let lamp_t = [SeriesKey {
        device: did("lamp"),
        metric: "t".into(),
    }];
    let deleted = store
        .prune_points(None, D0 + DAY, Some(&lamp_t))
        .await
        .unwrap();
    assert_eq!(deleted, 24, "a day of hour blocks");
    let day_0 = TimeRange {
        from_ms: D0,
        to_ms: D0 + DAY,
    };
    let raw_of = |device: &str, metric: &str| PointQuery {
        device: did(device),
        metric: metric.into(),
        range: day_0,
        limit: 1_000,
    };
    assert!(store.points(&raw_of("lamp", "t")).await.unwrap().is_empty());
    assert_eq!(store.points(&raw_of("lamp", "h")).await.unwrap().len(), 96);
    assert_eq!(store.points(&raw_of("plug", "p")).await.unwrap().len(), 96);
    // Hourly charts read the hour tier: unchanged.
    assert_eq!(
        store
            .aggregates(&did("lamp"), "t", ALL, HOUR)
            .await
            .unwrap(),
        hourly_before
    );
    // Quarter-hour charts: raw where kept, the hour tier (one bucket an hour) before.
    let quarters = store
        .aggregates(&did("lamp"), "t", ALL, 15 * MINUTE)
        .await
        .unwrap();
    assert_eq!(quarters.len(), 24 + 2 * 96);
    assert_eq!(quarters[0], hourly_before[0]);
    assert_eq!(quarters[24].count, 1);
    assert_eq!(quarters[24].bucket_start_ms, D0 + DAY);

    // The hour tier goes after two days: day 0 now comes from the day tier, day 1 from
    // raw points, day 2 from the hour tier.
    store
        .prune_points(Some(HOUR), D0 + 2 * DAY, Some(&lamp_t))
        .await
        .unwrap();
    let hourly = store
        .aggregates(&did("lamp"), "t", ALL, HOUR)
        .await
        .unwrap();
    assert_eq!(hourly.len(), 1 + 48);
    assert_eq!(hourly[0].bucket_start_ms, D0);
    assert_eq!(hourly[0].count, 96);
    assert_eq!(hourly[1..], hourly_before[24..]);
    let total: u64 = hourly.iter().map(|bucket| bucket.count).sum();
    assert_eq!(total, 72 * 4, "every point counted once");
    // Other series keep all their levels.
    assert_eq!(
        store
            .aggregates(&did("lamp"), "h", ALL, HOUR)
            .await
            .unwrap()
            .len(),
        72
    );
}

async fn a_tier_added_later_is_read_only_where_complete(store: Arc<dyn Store>) {
    store.write_batch(&hours_of_history(T0, 4)).await.unwrap();
    store
        .compact(&request(T0 + 2 * HOUR, &[HOUR]))
        .await
        .unwrap();
    let quarter_before = store
        .aggregates(&did("lamp"), "t", ALL, 30 * MINUTE)
        .await
        .unwrap();
    // A 30-minute tier from now on: hours 0 and 1 were compacted without it.
    store
        .compact(&request(T0 + 4 * HOUR, &[HOUR, 30 * MINUTE]))
        .await
        .unwrap();
    assert_eq!(
        store
            .aggregates(&did("lamp"), "t", ALL, 30 * MINUTE)
            .await
            .unwrap(),
        quarter_before,
        "raw points where the new tier has nothing"
    );
    // Dropping a tier from the request drops its rows.
    let rows = store.history_size().await.unwrap().tier_rows;
    store
        .compact(&request(T0 + 4 * HOUR, &[HOUR]))
        .await
        .unwrap();
    let HistorySize { tier_rows, .. } = store.history_size().await.unwrap();
    assert_eq!(
        rows - tier_rows,
        8,
        "two series, hours 2 and 3, two halves each"
    );
}

async fn message_retention_per_application(store: Arc<dyn Store>) {
    seed(&store).await;
    store
        .create_app(
            &app("meters", "home"),
            "hash",
            &audit("app.create", "meters"),
        )
        .await
        .unwrap();
    add_devices(
        &store,
        &[new_device("lamp", "lights"), new_device("meter", "meters")],
    )
    .await;
    let batch = IngestBatch {
        messages: ["lamp", "meter", "gone"]
            .iter()
            .flat_map(|device| {
                (0..4).map(move |hour| message(device, MessageKind::Data, T0 + hour * HOUR, b"{}"))
            })
            .collect(),
        ..IngestBatch::default()
    };
    store.write_batch(&batch).await.unwrap();
    store
        .compact(&request(T0 + 2 * HOUR, &[HOUR]))
        .await
        .unwrap();
    let count = |device: &'static str| {
        let store = store.clone();
        async move { store.message_count(Some(&did(device))).await.unwrap() }
    };
    // `meters` keeps its messages 1 hour less than everyone else here.
    assert_eq!(
        store
            .prune_messages(T0 + 3 * HOUR, Some(&aid("meters")), &[])
            .await
            .unwrap(),
        3,
        "two in blocks, one plain"
    );
    assert_eq!((count("meter").await, count("lamp").await), (1, 4));
    // The default applies to every other device, a deleted one ("gone") too.
    assert_eq!(
        store
            .prune_messages(T0 + 2 * HOUR, None, &[aid("meters")])
            .await
            .unwrap(),
        4
    );
    assert_eq!(
        (
            count("meter").await,
            count("lamp").await,
            count("gone").await
        ),
        (1, 2, 2)
    );
    assert_eq!(store.prune_status(Millis::MAX).await.unwrap(), 0);
}

async fn a_large_backlog_is_compacted_in_slices(store: Arc<dyn Store>) {
    // 120,000 readings of one series, two a second: more than one transaction moves
    // (50,000), so hours are cut between transactions and merged into their blocks.
    let count: i64 = 120_000;
    let points = (0..count)
        .map(|i| point("meter", "w", T0 + i * 500, (i % 1000) as f64 / 10.0))
        .collect();
    store.write_batch(&points_batch(points)).await.unwrap();
    let hourly = store
        .aggregates(&did("meter"), "w", ALL, HOUR)
        .await
        .unwrap();
    let done = store
        .compact(&request(T0 + 24 * HOUR, &[HOUR, DAY]))
        .await
        .unwrap();
    assert_eq!(done.points, count as u64);
    let hours = (count * 500 + HOUR - 1) as u64 / HOUR as u64;
    assert!(
        done.point_blocks > hours,
        "some hours written twice: {done:?}"
    );
    let size = store.history_size().await.unwrap();
    assert_eq!((size.plain_points, size.block_points), (0, count as u64));
    assert_eq!(
        size.point_blocks, hours,
        "one block an hour after the merges"
    );
    // The same buckets; sums added in another order may differ in the last bit.
    let after = store
        .aggregates(&did("meter"), "w", ALL, HOUR)
        .await
        .unwrap();
    assert_eq!(after.len(), hourly.len());
    for (after, before) in after.iter().zip(&hourly) {
        let key = |a: &hearth_model::Aggregate| (a.bucket_start_ms, a.min, a.max, a.count);
        assert_eq!(key(after), key(before));
        assert!(
            (after.avg - before.avg).abs() < 1e-9,
            "{after:?} {before:?}"
        );
    }
    let minutes = store
        .aggregates(&did("meter"), "w", ALL, 60_000)
        .await
        .unwrap();
    assert_eq!(minutes.iter().map(|m| m.count).sum::<u64>(), count as u64);
}
