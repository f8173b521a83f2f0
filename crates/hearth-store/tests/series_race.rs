//! Several Hearth nodes on one server database (issue 21: PostgreSQL; issue 22: MariaDB too) write their ingest batches
//! at the same time: the first readings of a fleet make new series in all of them at
//! once, and every batch updates its devices' live state. Each store below is a node's
//! own (its own pool and series cache); every batch must commit, none may be lost to a
//! deadlock between two nodes locking the same rows in different orders (found by
//! bench/scale-out.sh: "deadlock detected", a refused batch and hundreds of redelivered,
//! twice-stored readings).

use hearth_model::{AppId, Application, DeviceId, Group, GroupId, NewAuditEntry, NewDevice, Point};
use hearth_store::{IngestBatch, LiveUpdate, PointQuery, Store, TimeRange};
use hearth_testkit::{Backend, database_url};
use std::sync::Arc;

const NODES: usize = 4;
const DEVICES: usize = 40;
const ROUNDS: usize = 5;

/// One point for every device's `metric`, devices in an order of the node's own.
fn batch(node: usize, metric: &str) -> IngestBatch {
    let mut devices: Vec<usize> = (0..DEVICES).collect();
    devices.rotate_left(node * DEVICES / NODES);
    if node % 2 == 1 {
        devices.reverse();
    }
    IngestBatch {
        points: devices
            .into_iter()
            .map(|device| Point {
                device: DeviceId::new(&format!("fleet-{device:02}")).unwrap(),
                metric: metric.into(),
                at_ms: 1_700_000_000_000 + node as i64,
                value: node as f64,
            })
            .collect(),
        ..IngestBatch::default()
    }
}

async fn nodes_making_the_same_new_series_at_once_all_commit(backend: Backend) {
    let (url, _guard) = database_url(backend);
    let mut stores: Vec<Arc<dyn Store>> = Vec::new();
    for _ in 0..NODES {
        stores.push(hearth_store::open(&url).await.unwrap());
    }
    for round in 0..ROUNDS {
        // New metric names each round: every batch makes new series.
        let metric = format!("m{round}");
        let writers: Vec<_> = stores
            .iter()
            .enumerate()
            .map(|(node, store)| {
                let (store, batch) = (store.clone(), batch(node, &metric));
                tokio::spawn(async move { store.write_batch(&batch).await })
            })
            .collect();
        for (node, writer) in writers.into_iter().enumerate() {
            writer
                .await
                .unwrap()
                .unwrap_or_else(|error| panic!("round {round}, node {node}: {error}"));
        }
        for device in 0..DEVICES {
            let points = stores[0]
                .points(&PointQuery {
                    device: DeviceId::new(&format!("fleet-{device:02}")).unwrap(),
                    metric: metric.clone(),
                    range: TimeRange {
                        from_ms: 0,
                        to_ms: i64::MAX,
                    },
                    limit: 100,
                })
                .await
                .unwrap();
            assert_eq!(points.len(), NODES, "round {round}, device {device}");
        }
    }
}

/// A group, an application and [`DEVICES`] registered devices `fleet-NN` (a live-state
/// update needs the device's row).
async fn register(store: &Arc<dyn Store>, devices: usize) {
    let audit = |action: &str| NewAuditEntry::new("cli:test", action, "fleet");
    let group = Group {
        id: GroupId::new("fleet").unwrap(),
        name: "Fleet".into(),
        created_at_ms: 1_700_000_000_000,
    };
    store
        .create_group(&group, &audit("group.create"))
        .await
        .unwrap();
    let app = Application {
        id: AppId::new("fleet").unwrap(),
        group: group.id.clone(),
        name: "Fleet".into(),
        description: String::new(),
        mqtt_key: "key-fleet".into(),
        created_at_ms: 1_700_000_000_000,
        discovery: false,
        message_retention_days: None,
    };
    store
        .create_app(&app, "hash-fleet", &audit("app.create"))
        .await
        .unwrap();
    let new: Vec<(NewDevice, String)> = (0..devices)
        .map(|device| {
            let device = NewDevice {
                id: DeviceId::new(&format!("fleet-{device:03}")).unwrap(),
                application: app.id.clone(),
                name: format!("Sensor {device}"),
                kind: "sensor".into(),
                room: None,
                firmware: None,
                metadata: serde_json::json!({}),
                heartbeat_timeout_secs: None,
            };
            (device, "hash".into())
        })
        .collect();
    store.create_devices(&new, "cli:test").await.unwrap();
}

async fn nodes_updating_the_same_devices_live_state_at_once_all_commit(backend: Backend) {
    const FLEET: usize = 200;
    let (url, _guard) = database_url(backend);
    let mut stores: Vec<Arc<dyn Store>> = Vec::new();
    for _ in 0..NODES {
        stores.push(hearth_store::open(&url).await.unwrap());
    }
    register(&stores[0], FLEET).await;
    for round in 0..20i64 {
        let writers: Vec<_> = stores
            .iter()
            .enumerate()
            .map(|(node, store)| {
                // Each node's share: most of the fleet, a different slice per node.
                let live = (0..FLEET)
                    .filter(|device| !(device + node + round as usize).is_multiple_of(5))
                    .map(|device| LiveUpdate {
                        device: Some(DeviceId::new(&format!("fleet-{device:03}")).unwrap()),
                        is_online: Some(true),
                        last_seen_ms: Some(1_700_000_000_000 + round),
                        ..LiveUpdate::default()
                    })
                    .collect();
                let batch = IngestBatch {
                    live,
                    ..IngestBatch::default()
                };
                let store = store.clone();
                tokio::spawn(async move { store.write_batch(&batch).await })
            })
            .collect();
        for (node, writer) in writers.into_iter().enumerate() {
            writer
                .await
                .unwrap()
                .unwrap_or_else(|error| panic!("round {round}, node {node}: {error}"));
        }
    }
    let device = stores[1]
        .device(&DeviceId::new("fleet-001").unwrap())
        .await
        .unwrap();
    assert!(device.live.is_online);
    assert!(device.live.last_seen_ms.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nodes_making_the_same_new_series_at_once_all_commit_postgres() {
    nodes_making_the_same_new_series_at_once_all_commit(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nodes_making_the_same_new_series_at_once_all_commit_mariadb() {
    nodes_making_the_same_new_series_at_once_all_commit(Backend::MariaDb).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nodes_updating_the_same_devices_live_state_at_once_all_commit_postgres() {
    nodes_updating_the_same_devices_live_state_at_once_all_commit(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nodes_updating_the_same_devices_live_state_at_once_all_commit_mariadb() {
    nodes_updating_the_same_devices_live_state_at_once_all_commit(Backend::MariaDb).await;
}
