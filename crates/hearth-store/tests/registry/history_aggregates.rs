//! History: aggregates over raw points and hourly rollups, latest values, roll-up and
//! retention.

use super::history::*;
use super::*;
use hearth_model::{MessageKind, Millis, PresenceReason};
use hearth_store::{IngestBatch, TimeRange};

both_backends!(
    aggregates_per_bucket,
    latest_points_per_metric,
    roll_up_is_idempotent_and_aggregates_span_pruned_raw_points,
    prune_counts_what_it_deletes,
);

async fn aggregates_per_bucket(store: Arc<dyn Store>) {
    const MINUTE: Millis = 60_000;
    let points = vec![
        // Bucket 0: 1, 2, 6.
        point("lamp", "t", T0, 1.0),
        point("lamp", "t", T0 + 10_000, 2.0),
        point("lamp", "t", T0 + MINUTE - 1, 6.0),
        // Bucket 1 is empty; bucket 2: -4, 4.
        point("lamp", "t", T0 + 2 * MINUTE, -4.0),
        point("lamp", "t", T0 + 2 * MINUTE + 59_999, 4.0),
        // Bucket 3: 10 (beyond the range below).
        point("lamp", "t", T0 + 3 * MINUTE, 10.0),
        // Other metric and device: not counted.
        point("lamp", "h", T0, 100.0),
        point("fan", "t", T0, 100.0),
    ];
    store.write_batch(&points_batch(points)).await.unwrap();
    let range = TimeRange {
        from_ms: T0,
        to_ms: T0 + 3 * MINUTE,
    };
    let buckets = store
        .aggregates(&did("lamp"), "t", range, MINUTE)
        .await
        .unwrap();
    assert_eq!(
        buckets,
        vec![
            aggregate(T0, 1.0, 6.0, 3.0, 3),
            aggregate(T0 + 2 * MINUTE, -4.0, 4.0, 0.0, 2),
        ]
    );
    // One bucket over everything, aligned to the epoch: the whole hour T0.
    let hourly = store
        .aggregates(&did("lamp"), "t", ALL, HOUR)
        .await
        .unwrap();
    assert_eq!(hourly, vec![aggregate(T0, -4.0, 10.0, 19.0 / 6.0, 6)]);
    // A range starting mid-bucket counts only the points inside the range.
    let late = TimeRange {
        from_ms: T0 + 10_000,
        to_ms: T0 + MINUTE,
    };
    assert_eq!(
        store
            .aggregates(&did("lamp"), "t", late, MINUTE)
            .await
            .unwrap(),
        vec![aggregate(T0, 2.0, 6.0, 4.0, 2)]
    );
    assert_eq!(
        store
            .aggregates(&did("lamp"), "nope", ALL, MINUTE)
            .await
            .unwrap(),
        vec![]
    );
}

async fn latest_points_per_metric(store: Arc<dyn Store>) {
    let points = vec![
        point("lamp", "t", T0, 1.0),
        point("lamp", "t", T0 + 20, 3.0),
        point("lamp", "t", T0 + 10, 2.0),
        point("lamp", "env.h", T0 + 5, 40.0),
        point("lamp", "z", T0, -1.0),
        point("fan", "t", T0 + 99, 7.0),
    ];
    store.write_batch(&points_batch(points)).await.unwrap();
    assert_eq!(
        store.latest_points(&did("lamp")).await.unwrap(),
        vec![
            point("lamp", "env.h", T0 + 5, 40.0),
            point("lamp", "t", T0 + 20, 3.0),
            point("lamp", "z", T0, -1.0),
        ]
    );
    assert_eq!(
        store.latest_points(&did("fan")).await.unwrap(),
        vec![point("fan", "t", T0 + 99, 7.0)]
    );
    assert_eq!(store.latest_points(&did("nope")).await.unwrap(), vec![]);
}

async fn roll_up_is_idempotent_and_aggregates_span_pruned_raw_points(store: Arc<dyn Store>) {
    // Four hours of points, 4 a hour (values h*10 + 0..3), for two metrics.
    let mut points = Vec::new();
    for hour in 0..4 {
        for i in 0..4 {
            let at = T0 + hour * HOUR + i * 15 * 60_000;
            points.push(point("lamp", "t", at, (hour * 10 + i) as f64));
            points.push(point("lamp", "h", at, 1.0));
        }
    }
    store.write_batch(&points_batch(points)).await.unwrap();
    let hourly_before = store
        .aggregates(&did("lamp"), "t", ALL, HOUR)
        .await
        .unwrap();
    let two_hourly_before = store
        .aggregates(&did("lamp"), "t", ALL, 2 * HOUR)
        .await
        .unwrap();
    assert_eq!(hourly_before.len(), 4);
    assert_eq!(hourly_before[1], aggregate(T0 + HOUR, 10.0, 13.0, 11.5, 4));

    // Rolls whole hours only: the hours before T0 + 3h (3 hours × 2 metrics).
    assert_eq!(store.roll_up(T0 + 3 * HOUR + HOUR / 2).await.unwrap(), 6);
    assert_eq!(store.roll_up(T0 + 3 * HOUR + HOUR / 2).await.unwrap(), 0);
    assert_eq!(store.roll_up(T0 + 3 * HOUR).await.unwrap(), 0);
    assert_eq!(store.roll_up(T0).await.unwrap(), 0, "never backwards");
    assert_eq!(
        store
            .aggregates(&did("lamp"), "t", ALL, HOUR)
            .await
            .unwrap(),
        hourly_before,
        "rollups are not read while raw points are complete"
    );

    // Retention deletes raw points up to the middle of hour 1: hours 0 and 1 now come
    // from the rollups, hours 2 and 3 from raw points, nothing twice.
    let deleted = store.prune(T0 + HOUR + HOUR / 2, 0).await.unwrap();
    assert_eq!(deleted, 2 * 4 + 2 * 2);
    assert_eq!(
        store
            .aggregates(&did("lamp"), "t", ALL, HOUR)
            .await
            .unwrap(),
        hourly_before
    );
    assert_eq!(
        store
            .aggregates(&did("lamp"), "t", ALL, 2 * HOUR)
            .await
            .unwrap(),
        two_hourly_before
    );
    // A range from hour 1 on.
    let from_hour_1 = TimeRange {
        from_ms: T0 + HOUR,
        to_ms: T0 + 3 * HOUR,
    };
    assert_eq!(
        store
            .aggregates(&did("lamp"), "t", from_hour_1, HOUR)
            .await
            .unwrap(),
        hourly_before[1..3].to_vec()
    );
    // Buckets that are not whole hours have only what raw points remain.
    let quarter = store
        .aggregates(&did("lamp"), "t", ALL, HOUR / 4)
        .await
        .unwrap();
    assert_eq!(quarter.len(), 2 + 4 + 4);
    assert_eq!(
        quarter[0],
        aggregate(T0 + HOUR + HOUR / 2, 12.0, 12.0, 12.0, 1)
    );

    // Rolling up again later adds only the new whole hour (hour 3), once.
    assert_eq!(store.roll_up(T0 + 5 * HOUR).await.unwrap(), 2);
    assert_eq!(store.roll_up(T0 + 5 * HOUR).await.unwrap(), 0);
    store.prune(T0 + 10 * HOUR, 0).await.unwrap();
    assert_eq!(
        store
            .aggregates(&did("lamp"), "t", ALL, HOUR)
            .await
            .unwrap(),
        hourly_before,
        "everything from rollups now"
    );
}

async fn prune_counts_what_it_deletes(store: Arc<dyn Store>) {
    let batch = IngestBatch {
        messages: (0..5)
            .map(|i| message("lamp", MessageKind::Data, T0 + i * HOUR, b"{}"))
            .collect(),
        points: (0..5)
            .map(|i| point("lamp", "t", T0 + i * HOUR, 1.0))
            .collect(),
        status_changes: (0..5)
            .map(|i| status("lamp", T0 + i * HOUR, i % 2 == 0, PresenceReason::Activity))
            .collect(),
        live: vec![],
    };
    store.write_batch(&batch).await.unwrap();
    assert_eq!(store.roll_up(T0 + 5 * HOUR).await.unwrap(), 5);
    // Raw rows before T0 + 2h: 2 messages, 2 points, 2 status changes; rollups before
    // T0 + 1h: 1.
    assert_eq!(store.prune(T0 + 2 * HOUR, T0 + HOUR).await.unwrap(), 7);
    assert_eq!(store.prune(T0 + 2 * HOUR, T0 + HOUR).await.unwrap(), 0);
    assert_eq!(store.message_count(None).await.unwrap(), 3);
    let oldest = store.messages(&messages_of("lamp", 10)).await.unwrap();
    assert_eq!(oldest.last().unwrap().received_at_ms, T0 + 2 * HOUR);
    assert_eq!(
        store
            .status_history(&did("lamp"), ALL, 10)
            .await
            .unwrap()
            .len(),
        3
    );
    let hourly = store
        .aggregates(&did("lamp"), "t", ALL, HOUR)
        .await
        .unwrap();
    let starts: Vec<Millis> = hourly.iter().map(|a| a.bucket_start_ms).collect();
    assert_eq!(
        starts,
        (1..5).map(|i| T0 + i * HOUR).collect::<Vec<_>>(),
        "hour 0's rollup is gone, hour 1 comes from its rollup"
    );
    // New messages after pruning everything still get higher sequence numbers.
    let last_seq = oldest[0].seq;
    store.prune(Millis::MAX, Millis::MAX).await.unwrap();
    assert_eq!(store.message_count(None).await.unwrap(), 0);
    store
        .write_batch(&IngestBatch {
            messages: vec![message("lamp", MessageKind::Data, T0 + 9 * HOUR, b"{}")],
            ..IngestBatch::default()
        })
        .await
        .unwrap();
    let newest = store.messages(&messages_of("lamp", 1)).await.unwrap();
    assert!(newest[0].seq > last_seq);
}
