//! History: batches written all or nothing, message/point/status reads. Aggregates,
//! rollups and retention are in `history_aggregates.rs`.

use super::*;
use bytes::Bytes;
use hearth_model::{Aggregate, MessageKind, Millis, Point, PresenceReason, StatusChange};
use hearth_store::{IngestBatch, LiveUpdate, MessageQuery, NewMessage, PointQuery, TimeRange};
use hearth_testkit::{Backend, database_url};

both_backends!(
    batch_round_trip_keeps_payloads_byte_exact,
    live_updates_keep_what_is_none_and_ignore_unknown_devices,
    a_failed_batch_writes_nothing,
    an_empty_batch_is_a_no_op,
    message_order_kinds_ranges_and_limits,
    points_and_status_history_order_and_limits,
    twenty_thousand_messages_in_one_batch,
);

pub const T0: Millis = 1_700_000_000_000 - 1_700_000_000_000 % HOUR;
pub const HOUR: Millis = 3_600_000;
pub const ALL: TimeRange = TimeRange {
    from_ms: 0,
    to_ms: Millis::MAX,
};

pub fn message(device: &str, kind: MessageKind, at_ms: Millis, payload: &[u8]) -> NewMessage {
    NewMessage {
        device: did(device),
        kind,
        received_at_ms: at_ms,
        payload: Bytes::copy_from_slice(payload),
        json_ok: serde_json::from_slice::<serde_json::Value>(payload).is_ok(),
        ts_clamped: false,
    }
}

pub fn point(device: &str, metric: &str, at_ms: Millis, value: f64) -> Point {
    Point {
        device: did(device),
        metric: metric.into(),
        at_ms,
        value,
    }
}

pub fn status(device: &str, at_ms: Millis, online: bool, reason: PresenceReason) -> StatusChange {
    StatusChange {
        device: did(device),
        at_ms,
        online,
        reason,
    }
}

pub fn messages_of(device: &str, limit: u32) -> MessageQuery {
    MessageQuery {
        device: did(device),
        kind: None,
        range: ALL,
        limit,
    }
}

pub fn points_of(device: &str, metric: &str, range: TimeRange, limit: u32) -> PointQuery {
    PointQuery {
        device: did(device),
        metric: metric.into(),
        range,
        limit,
    }
}

pub fn aggregate(bucket_start_ms: Millis, min: f64, max: f64, avg: f64, count: u64) -> Aggregate {
    Aggregate {
        bucket_start_ms,
        min,
        max,
        avg,
        count,
    }
}

pub fn points_batch(points: Vec<Point>) -> IngestBatch {
    IngestBatch {
        points,
        ..IngestBatch::default()
    }
}

async fn batch_round_trip_keeps_payloads_byte_exact(store: Arc<dyn Store>) {
    let not_utf8: &[u8] = &[0xff, 0xfe, 0x00, 0x80, b'{'];
    let batch = IngestBatch {
        messages: vec![
            message("lamp", MessageKind::Data, T0, br#"{"t":21.5,"h":40}"#),
            message("lamp", MessageKind::Event, T0 + 1, not_utf8),
            message("lamp", MessageKind::Status, T0 + 2, b"{not json"),
            message("fan", MessageKind::Heartbeat, T0 + 3, b""),
        ],
        points: vec![
            point("lamp", "t", T0, 21.5),
            point("lamp", "h", T0, 40.0),
            point("fan", "rpm", T0 + 3, -1.25e300),
        ],
        status_changes: vec![
            status("lamp", T0, true, PresenceReason::Activity),
            status("fan", T0 + 3, false, PresenceReason::Timeout),
        ],
        live: vec![],
    };
    // Devices need not be registered: history has no foreign keys.
    store.write_batch(&batch).await.unwrap();

    let lamp = store.messages(&messages_of("lamp", 10)).await.unwrap();
    let got: Vec<(MessageKind, Millis, &[u8], bool)> = lamp
        .iter()
        .map(|m| (m.kind, m.received_at_ms, &m.payload[..], m.json_ok))
        .collect();
    assert_eq!(
        got,
        vec![
            (MessageKind::Status, T0 + 2, &b"{not json"[..], false),
            (MessageKind::Event, T0 + 1, not_utf8, false),
            (MessageKind::Data, T0, &br#"{"t":21.5,"h":40}"#[..], true),
        ]
    );
    assert!(lamp.iter().all(|m| m.device == did("lamp")));
    assert!(lamp[0].seq > lamp[1].seq && lamp[1].seq > lamp[2].seq);
    let fan = store.messages(&messages_of("fan", 10)).await.unwrap();
    assert_eq!(fan.len(), 1);
    assert_eq!(
        (fan[0].kind, fan[0].payload.len()),
        (MessageKind::Heartbeat, 0)
    );
    assert!(fan[0].seq > lamp[0].seq, "seq follows arrival order");

    assert_eq!(store.message_count(None).await.unwrap(), 4);
    assert_eq!(store.message_count(Some(&did("lamp"))).await.unwrap(), 3);
    assert_eq!(store.message_count(Some(&did("ghost"))).await.unwrap(), 0);
    assert_eq!(
        store
            .points(&points_of("fan", "rpm", ALL, 10))
            .await
            .unwrap(),
        vec![point("fan", "rpm", T0 + 3, -1.25e300)]
    );
    assert_eq!(
        store.status_history(&did("fan"), ALL, 10).await.unwrap(),
        vec![status("fan", T0 + 3, false, PresenceReason::Timeout)]
    );
}

async fn live_updates_keep_what_is_none_and_ignore_unknown_devices(store: Arc<dyn Store>) {
    seed(&store).await;
    add_devices(
        &store,
        &[new_device("lamp", "lights"), new_device("fan", "lights")],
    )
    .await;
    let first = IngestBatch {
        messages: vec![message("lamp", MessageKind::Data, T0, br#"{"t":1}"#)],
        live: vec![
            LiveUpdate {
                device: Some(did("lamp")),
                is_online: Some(true),
                last_seen_ms: Some(T0),
                last_report_data: Some(r#"{"t":1}"#.into()),
                ..LiveUpdate::default()
            },
            LiveUpdate {
                device: Some(did("ghost")),
                is_online: Some(true),
                last_seen_ms: Some(T0),
                ..LiveUpdate::default()
            },
        ],
        ..IngestBatch::default()
    };
    store.write_batch(&first).await.unwrap();
    let lamp = store.device(&did("lamp")).await.unwrap().live;
    assert!(lamp.is_online);
    assert_eq!(lamp.last_seen_ms, Some(T0));
    assert_eq!(lamp.last_heartbeat_ms, None);
    assert_eq!(lamp.device_status, None);
    assert_eq!(lamp.last_report_data, Some(serde_json::json!({"t": 1})));
    assert_eq!(
        store.message_count(None).await.unwrap(),
        1,
        "the unknown device did not fail the batch"
    );
    assert_not_found(store.device(&did("ghost")).await, "device", "ghost");

    let second = IngestBatch {
        live: vec![
            LiveUpdate {
                device: Some(did("lamp")),
                is_online: Some(false),
                last_heartbeat_ms: Some(T0 + 5),
                device_status: Some("offline".into()),
                ..LiveUpdate::default()
            },
            LiveUpdate {
                device: Some(did("fan")),
                last_seen_ms: Some(T0 + 7),
                ..LiveUpdate::default()
            },
        ],
        ..IngestBatch::default()
    };
    store.write_batch(&second).await.unwrap();
    let lamp = store.device(&did("lamp")).await.unwrap().live;
    assert!(!lamp.is_online);
    assert_eq!(lamp.last_seen_ms, Some(T0), "None keeps the column");
    assert_eq!(lamp.last_heartbeat_ms, Some(T0 + 5));
    assert_eq!(lamp.device_status.as_deref(), Some("offline"));
    assert_eq!(lamp.last_report_data, Some(serde_json::json!({"t": 1})));
    let fan = store.device(&did("fan")).await.unwrap().live;
    assert!(!fan.is_online);
    assert_eq!(fan.last_seen_ms, Some(T0 + 7));
}

async fn a_failed_batch_writes_nothing(store: Arc<dyn Store>) {
    seed(&store).await;
    add_devices(&store, &[new_device("lamp", "lights")]).await;
    // NaN cannot be stored (SQLite stores it as NULL, PostgreSQL has a CHECK): the last
    // point of the batch fails after everything else was inserted.
    let mut points: Vec<Point> = (0..100).map(|i| point("lamp", "t", T0 + i, 1.0)).collect();
    points.push(point("lamp", "t", T0 + 100, f64::NAN));
    let batch = IngestBatch {
        messages: (0..100)
            .map(|i| message("lamp", MessageKind::Data, T0 + i, b"{}"))
            .collect(),
        points,
        status_changes: vec![status("lamp", T0, true, PresenceReason::Activity)],
        live: vec![LiveUpdate {
            device: Some(did("lamp")),
            is_online: Some(true),
            last_seen_ms: Some(T0),
            ..LiveUpdate::default()
        }],
    };
    let result = store.write_batch(&batch).await;
    assert!(matches!(result, Err(StoreError::Backend(_))), "{result:?}");
    assert_eq!(store.message_count(None).await.unwrap(), 0);
    assert_eq!(
        store
            .points(&points_of("lamp", "t", ALL, 1000))
            .await
            .unwrap(),
        vec![]
    );
    assert_eq!(
        store.status_history(&did("lamp"), ALL, 10).await.unwrap(),
        vec![]
    );
    let live = store.device(&did("lamp")).await.unwrap().live;
    assert!(!live.is_online);
    assert_eq!(live.last_seen_ms, None);

    // The store is usable afterwards (the transaction was ended, not leaked).
    let mut batch = batch;
    batch.points.pop();
    store.write_batch(&batch).await.unwrap();
    assert_eq!(store.message_count(None).await.unwrap(), 100);
    // The series the failed batch created was rolled back, and not remembered.
    assert_eq!(
        store
            .points(&points_of("lamp", "t", ALL, 1000))
            .await
            .unwrap()
            .len(),
        100
    );
}

/// Series ids are cached per process: a second store on the same database (a restart)
/// finds the existing series instead of creating them again.
async fn series_survive_a_restart(backend: Backend) {
    let (url, _guard) = database_url(backend);
    let first = hearth_store::open(&url).await.unwrap();
    first
        .write_batch(&points_batch(vec![point("lamp", "t", T0, 1.0)]))
        .await
        .unwrap();
    first.close().await;
    let second = hearth_store::open(&url).await.unwrap();
    second
        .write_batch(&points_batch(vec![
            point("lamp", "t", T0 + 1, 2.0),
            point("lamp", "h", T0 + 1, 3.0),
        ]))
        .await
        .unwrap();
    let values: Vec<f64> = second
        .points(&points_of("lamp", "t", ALL, 10))
        .await
        .unwrap()
        .iter()
        .map(|p| p.value)
        .collect();
    assert_eq!(values, vec![1.0, 2.0]);
    assert_eq!(second.latest_points(&did("lamp")).await.unwrap().len(), 2);
    second.close().await;
}

#[tokio::test]
async fn series_survive_a_restart_sqlite() {
    series_survive_a_restart(Backend::Sqlite).await;
}

#[tokio::test]
async fn series_survive_a_restart_postgres() {
    series_survive_a_restart(Backend::Postgres).await;
}

#[tokio::test]
async fn series_survive_a_restart_mariadb() {
    series_survive_a_restart(Backend::MariaDb).await;
}

async fn an_empty_batch_is_a_no_op(store: Arc<dyn Store>) {
    store.write_batch(&IngestBatch::default()).await.unwrap();
    assert_eq!(store.message_count(None).await.unwrap(), 0);
}

async fn message_order_kinds_ranges_and_limits(store: Arc<dyn Store>) {
    let kinds = [
        MessageKind::Data,
        MessageKind::Event,
        MessageKind::Heartbeat,
    ];
    let mut messages: Vec<NewMessage> = (0..9)
        .map(|i| message("lamp", kinds[i as usize % 3], T0 + i * 10, b"{}"))
        .collect();
    // Two in the same millisecond: newest first means the later one (higher seq) first.
    messages.push(message("lamp", MessageKind::Status, T0 + 80, b"\"second\""));
    messages.push(message("other", MessageKind::Data, T0 + 50, b"{}"));
    store
        .write_batch(&IngestBatch {
            messages,
            ..IngestBatch::default()
        })
        .await
        .unwrap();

    let times = |found: Vec<hearth_model::StoredMessage>| -> Vec<(Millis, MessageKind)> {
        found.iter().map(|m| (m.received_at_ms, m.kind)).collect()
    };
    assert_eq!(
        times(store.messages(&messages_of("lamp", 3)).await.unwrap()),
        vec![
            (T0 + 80, MessageKind::Status),
            (T0 + 80, MessageKind::Heartbeat),
            (T0 + 70, MessageKind::Event),
        ]
    );
    let events = MessageQuery {
        kind: Some(MessageKind::Event),
        ..messages_of("lamp", 100)
    };
    assert_eq!(
        times(store.messages(&events).await.unwrap()),
        vec![
            (T0 + 70, MessageKind::Event),
            (T0 + 40, MessageKind::Event),
            (T0 + 10, MessageKind::Event),
        ]
    );
    let ranged = MessageQuery {
        range: TimeRange {
            from_ms: T0 + 20,
            to_ms: T0 + 50,
        },
        ..messages_of("lamp", 100)
    };
    assert_eq!(
        times(store.messages(&ranged).await.unwrap()),
        vec![
            (T0 + 40, MessageKind::Event),
            (T0 + 30, MessageKind::Data),
            (T0 + 20, MessageKind::Heartbeat),
        ],
        "from inclusive, to exclusive"
    );
    assert_eq!(
        store.messages(&messages_of("lamp", 0)).await.unwrap(),
        vec![]
    );
    assert_eq!(
        store.messages(&messages_of("nope", 10)).await.unwrap(),
        vec![]
    );
}

async fn points_and_status_history_order_and_limits(store: Arc<dyn Store>) {
    let mut points: Vec<Point> = (0..10)
        .rev()
        .map(|i| point("lamp", "t", T0 + i * 1000, i as f64))
        .collect();
    points.push(point("lamp", "h", T0, 99.0));
    points.push(point("fan", "t", T0, 98.0));
    let status_changes = vec![
        status("lamp", T0, true, PresenceReason::Activity),
        status("lamp", T0 + 10, false, PresenceReason::Disconnect),
        status("lamp", T0 + 20, true, PresenceReason::Restart),
        status("lamp", T0 + 30, false, PresenceReason::Status),
        status("fan", T0 + 15, true, PresenceReason::Activity),
    ];
    store
        .write_batch(&IngestBatch {
            points,
            status_changes,
            ..IngestBatch::default()
        })
        .await
        .unwrap();

    let range = TimeRange {
        from_ms: T0 + 2000,
        to_ms: T0 + 9000,
    };
    let values: Vec<f64> = store
        .points(&points_of("lamp", "t", range, 3))
        .await
        .unwrap()
        .iter()
        .map(|p| p.value)
        .collect();
    assert_eq!(values, vec![2.0, 3.0, 4.0], "oldest first, limited");
    let all = store
        .points(&points_of("lamp", "t", range, 100))
        .await
        .unwrap();
    assert_eq!(all.len(), 7, "to is exclusive");
    assert_eq!(all[0], point("lamp", "t", T0 + 2000, 2.0));

    let history = store
        .status_history(
            &did("lamp"),
            TimeRange {
                from_ms: T0 + 10,
                to_ms: T0 + 30,
            },
            10,
        )
        .await
        .unwrap();
    assert_eq!(
        history,
        vec![
            status("lamp", T0 + 20, true, PresenceReason::Restart),
            status("lamp", T0 + 10, false, PresenceReason::Disconnect),
        ]
    );
    let newest = store.status_history(&did("lamp"), ALL, 1).await.unwrap();
    assert_eq!(
        newest,
        vec![status("lamp", T0 + 30, false, PresenceReason::Status)]
    );
}

async fn twenty_thousand_messages_in_one_batch(store: Arc<dyn Store>) {
    seed(&store).await;
    let devices: Vec<NewDevice> = (0..100)
        .map(|i| new_device(&format!("dev-{i:03}"), "lights"))
        .collect();
    add_devices(&store, &devices).await;
    let mut batch = IngestBatch::default();
    for i in 0..20_000_i64 {
        let device = format!("dev-{:03}", i % 100);
        let at = T0 + i;
        let payload = format!(r#"{{"t":{i},"h":{}}}"#, i % 7);
        batch
            .messages
            .push(message(&device, MessageKind::Data, at, payload.as_bytes()));
        batch.points.push(point(&device, "t", at, i as f64));
        batch.points.push(point(&device, "h", at, (i % 7) as f64));
    }
    batch.live = devices
        .iter()
        .map(|device| LiveUpdate {
            device: Some(device.id.clone()),
            is_online: Some(true),
            last_seen_ms: Some(T0 + 20_000),
            last_report_data: Some(r#"{"t":1}"#.into()),
            ..LiveUpdate::default()
        })
        .collect();
    store.write_batch(&batch).await.unwrap();

    assert_eq!(store.message_count(None).await.unwrap(), 20_000);
    assert_eq!(
        store.message_count(Some(&did("dev-007"))).await.unwrap(),
        200
    );
    let t = store
        .aggregates(&did("dev-007"), "t", ALL, Millis::MAX / 2)
        .await
        .unwrap();
    assert_eq!(t.len(), 1);
    assert_eq!((t[0].count, t[0].min, t[0].max), (200, 7.0, 19_907.0));
    let newest = store.messages(&messages_of("dev-099", 1)).await.unwrap();
    assert_eq!(newest[0].payload, br#"{"t":19999,"h":0}"#.to_vec());
    let live = store.device(&did("dev-042")).await.unwrap().live;
    assert_eq!(live.last_seen_ms, Some(T0 + 20_000));
    assert_eq!(
        store.latest_points(&did("dev-099")).await.unwrap(),
        vec![
            point("dev-099", "h", T0 + 19_999, (19_999 % 7) as f64),
            point("dev-099", "t", T0 + 19_999, 19_999.0),
        ]
    );
}
