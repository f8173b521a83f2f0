//! Several Hearth nodes on one PostgreSQL database (issue 21) write their ingest batches
//! at the same time, and the first readings of a fleet make new series in all of them at
//! once. Each store below is a node's own (its own pool and series cache); every batch
//! must commit, none may be lost to a deadlock between two nodes inserting the same new
//! series in different orders (found by bench/scale-out.sh: "deadlock detected", a
//! refused batch and hundreds of redelivered, twice-stored readings).

use hearth_model::{DeviceId, Point};
use hearth_store::{IngestBatch, PointQuery, Store, TimeRange};
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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nodes_making_the_same_new_series_at_once_all_commit() {
    let (url, _guard) = database_url(Backend::Postgres);
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
