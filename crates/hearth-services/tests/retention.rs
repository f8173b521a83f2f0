//! The hub's history upkeep (issue 19): one round compacts closed ranges, then keeps each
//! level as long as `[history]` says, per metric and device kind, and raw messages as
//! long as each device's application says; on SQLite and PostgreSQL.

use bytes::Bytes;
use hearth_model::{
    AppId, Application, DeviceId, Group, GroupId, MessageKind, Millis, NewAuditEntry, NewDevice,
    Point,
};
use hearth_services::retention::{RetentionConfig, RetentionPolicy, Span, run_once};
use hearth_store::{IngestBatch, NewMessage, PointQuery, Store, TimeRange};
use std::collections::BTreeMap;
use std::sync::Arc;

hearth_testkit::both_backends!(policies_per_metric_and_kind_and_messages_per_application);

const HOUR: Millis = 3_600_000;
const DAY: Millis = 24 * HOUR;
/// Midnight UTC, 2026-01-01.
const NOW: Millis = 1_767_225_600_000;

fn audit(action: &str) -> NewAuditEntry {
    NewAuditEntry::new("cli:test", action, "test")
}

async fn registry(store: &Arc<dyn Store>) {
    let home = GroupId::new("home").unwrap();
    store
        .create_group(
            &Group {
                id: home.clone(),
                name: "Home".into(),
                created_at_ms: 1,
            },
            &audit("group.create"),
        )
        .await
        .unwrap();
    for (app, days) in [("lights", None), ("meters", Some(3))] {
        let app = Application {
            id: AppId::new(app).unwrap(),
            group: home.clone(),
            name: app.into(),
            description: String::new(),
            mqtt_key: format!("key-{app}"),
            created_at_ms: 1,
            discovery: false,
            message_retention_days: days,
        };
        store
            .create_app(&app, "hash", &audit("app.create"))
            .await
            .unwrap();
    }
    let device = |id: &str, app: &str, kind: &str| {
        (
            NewDevice {
                id: DeviceId::new(id).unwrap(),
                application: AppId::new(app).unwrap(),
                name: id.into(),
                kind: kind.into(),
                room: None,
                firmware: None,
                metadata: serde_json::json!({}),
                heartbeat_timeout_secs: None,
            },
            "hash".to_owned(),
        )
    };
    store
        .create_devices(
            &[
                device("thermo", "lights", "sensor"),
                device("plug", "meters", "plug"),
            ],
            "cli:test",
        )
        .await
        .unwrap();
}

/// 40 days of hourly readings of `temperature` and `power` from both devices, and a
/// message every 6 hours over the last 10 days.
fn history() -> IngestBatch {
    let mut batch = IngestBatch::default();
    for device in ["thermo", "plug"] {
        for hour in 1..=40 * 24 {
            for metric in ["temperature", "power"] {
                batch.points.push(Point {
                    device: DeviceId::new(device).unwrap(),
                    metric: metric.into(),
                    at_ms: NOW - hour * HOUR,
                    value: hour as f64,
                });
            }
        }
        for quarter in 1..=10 * 4 {
            batch.messages.push(NewMessage {
                device: DeviceId::new(device).unwrap(),
                kind: MessageKind::Data,
                received_at_ms: NOW - quarter * 6 * HOUR,
                payload: Bytes::from_static(b"{}"),
                json_ok: true,
                ts_clamped: false,
            });
        }
    }
    batch
}

async fn raw_between(
    store: &Arc<dyn Store>,
    device: &str,
    metric: &str,
    days: (i64, i64),
) -> usize {
    store
        .points(&PointQuery {
            device: DeviceId::new(device).unwrap(),
            metric: metric.into(),
            range: TimeRange {
                from_ms: NOW - days.0 * DAY,
                to_ms: NOW - days.1 * DAY,
            },
            limit: 10_000,
        })
        .await
        .unwrap()
        .len()
}

async fn policies_per_metric_and_kind_and_messages_per_application(store: Arc<dyn Store>) {
    registry(&store).await;
    store.write_batch(&history()).await.unwrap();
    let config = RetentionConfig {
        raw_retention_days: 30,
        tier_retention_days: BTreeMap::from([(Span(HOUR), 365)]),
        policies: vec![RetentionPolicy {
            metrics: vec!["pow*".into()],
            device_kinds: vec!["plug".into()],
            raw_retention_days: Some(7),
            tier_retention_days: BTreeMap::new(),
        }],
        ..RetentionConfig::default()
    };
    config.validate().unwrap();

    let done = run_once(store.as_ref(), &config, NOW).await.unwrap();
    // The last hour is not closed `compact_delay_secs` (5 min) before NOW: it stays plain.
    assert_eq!(done.compacted.points, 4 * (40 * 24 - 1));
    assert_eq!(done.compacted.messages, 2 * 40);

    // Raw readings: 30 days by default, 7 for a plug's power.
    assert_eq!(
        raw_between(&store, "thermo", "temperature", (40, 31)).await,
        0
    );
    assert_eq!(
        raw_between(&store, "thermo", "temperature", (29, 0)).await,
        29 * 24
    );
    assert_eq!(
        raw_between(&store, "thermo", "power", (29, 0)).await,
        29 * 24,
        "not a plug"
    );
    assert_eq!(
        raw_between(&store, "plug", "temperature", (29, 0)).await,
        29 * 24
    );
    assert_eq!(raw_between(&store, "plug", "power", (29, 8)).await, 0);
    assert_eq!(raw_between(&store, "plug", "power", (6, 0)).await, 6 * 24);
    // The hour tier keeps every hour of all of them.
    for (device, metric) in [("thermo", "temperature"), ("plug", "power")] {
        let all = TimeRange {
            from_ms: 0,
            to_ms: NOW,
        };
        let hourly = store
            .aggregates(&DeviceId::new(device).unwrap(), metric, all, HOUR)
            .await
            .unwrap();
        assert_eq!(hourly.len(), 40 * 24, "{device} {metric}");
    }

    // Messages: 3 days for the meters application, 7 (the default) for the others.
    let count = |device: &'static str| {
        let store = store.clone();
        async move {
            store
                .message_count(Some(&DeviceId::new(device).unwrap()))
                .await
                .unwrap()
        }
    };
    // Blocks straddling the cut-off are kept whole: at most one range more.
    let plug = count("plug").await;
    let thermo = count("thermo").await;
    assert!((3 * 4..=3 * 4 + 1).contains(&plug), "{plug}");
    assert!((7 * 4..=7 * 4 + 1).contains(&thermo), "{thermo}");

    // A second round has nothing left to do.
    let again = run_once(store.as_ref(), &config, NOW).await.unwrap();
    assert_eq!(again.compacted, Default::default());
    assert_eq!(again.pruned, 0);
}

/// With several nodes on one store, rounds run only on the coordinator (the lease
/// holder, docs/scale.md): a node whose lease another node holds skips them, a single
/// hub (`Leadership::always`) runs them.
async fn upkeep_runs_only_where_the_lease_is_held(store: Arc<dyn Store>) {
    use hearth_services::lease::{COORDINATOR, Leadership};
    use hearth_services::retention::{UpkeepCounters, spawn};
    use std::sync::atomic::Ordering;
    use std::time::Duration;

    let taken = store
        .acquire_lease(COORDINATOR, "other-node", hearth_model::now_millis(), HOUR)
        .await
        .unwrap();
    assert!(taken.is_some());
    let standby = Leadership::start(
        store.clone(),
        COORDINATOR,
        "this-node".into(),
        Duration::from_secs(2),
    );
    let skipped = Arc::new(UpkeepCounters::default());
    let skipping = spawn(
        store.clone(),
        RetentionConfig::default(),
        skipped.clone(),
        standby.clone(),
    );
    let single = Arc::new(UpkeepCounters::default());
    let running = spawn(
        store.clone(),
        RetentionConfig::default(),
        single.clone(),
        Leadership::always(),
    );
    // The first round is due at once on both.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while single.rounds.load(Ordering::SeqCst) == 0 {
        assert!(tokio::time::Instant::now() < deadline, "no round ran");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(skipped.rounds.load(Ordering::SeqCst), 0);
    assert_eq!(skipped.failures.load(Ordering::SeqCst), 0);
    assert!(!standby.is_held());
    skipping.abort();
    running.abort();
    standby.shutdown().await;
}

hearth_testkit::both_backends!(upkeep_runs_only_where_the_lease_is_held);
