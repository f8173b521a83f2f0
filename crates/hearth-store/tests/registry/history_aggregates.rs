//! History: aggregates and latest values over plain points (compaction, tiers and
//! retention: `history_compaction.rs`).

use super::history::*;
use super::*;
use hearth_model::Millis;
use hearth_store::TimeRange;

both_backends!(aggregates_per_bucket, latest_points_per_metric,);

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
