//! The history's write ceiling: how many device messages a second `write_batch` stores
//! durably (one transaction, one fsync per batch) when nothing else runs, with batches
//! shaped like ingest's: each message is one `messages` row and two `points` rows
//! (`temperature`, `humidity`), and each batch carries one live update per device.
//! Ingest end to end (MQTT, parsing, acknowledgements) can only be a fraction of this.
//!
//! ```text
//! cargo run --release -p hearth-store --example write_ceiling -- \
//!     [--database URL] [--messages 200000] [--devices 1000] [--batch 10000]
//! ```
//!
//! Without `--database`, a fresh SQLite file in a temporary directory; any URL
//! `hearth_store::open` takes otherwise (`postgres://...`, `mysql://...` for MariaDB).
//! Use a fresh database (or PostgreSQL schema): the rows stay, and a store that already
//! holds millions of rows writes into larger indexes. Not a test: it asserts nothing.
//! `hearth bench ingest` measures the same ceiling beside the end-to-end rate
//! (`bench/ingest.sh`, docs/ingest-performance.md).

use bytes::Bytes;
use hearth_model::{
    AppId, Application, DeviceId, Group, GroupId, MessageKind, NewAuditEntry, NewDevice, Point,
    now_millis,
};
use hearth_store::{IngestBatch, LiveUpdate, NewMessage, Store, StoreError};
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Args {
    database: Option<String>,
    messages: usize,
    devices: usize,
    batch: usize,
}

fn parse_args() -> Args {
    let mut args = Args {
        database: None,
        messages: 200_000,
        devices: 1_000,
        batch: 10_000,
    };
    let mut iter = std::env::args().skip(1);
    while let Some(flag) = iter.next() {
        let value = iter
            .next()
            .unwrap_or_else(|| panic!("{flag} needs a value"));
        let number = || value.parse::<usize>().expect("a positive number");
        match flag.as_str() {
            "--database" => args.database = Some(value.clone()),
            "--messages" => args.messages = number(),
            "--devices" => args.devices = number().max(1),
            "--batch" => args.batch = number().max(1),
            other => panic!("unknown flag {other}: see the doc comment of write_ceiling.rs"),
        }
    }
    args
}

fn device_id(index: usize) -> DeviceId {
    DeviceId::new(&format!("sensor-{index:05}")).unwrap()
}

/// A group, an application and `count` devices (tolerating a second run on the same
/// database).
async fn register(store: &Arc<dyn Store>, count: usize) {
    let audit = |action: &str| NewAuditEntry::new("bench", action, "write_ceiling");
    let group = Group {
        id: GroupId::new("bench").unwrap(),
        name: "Bench".into(),
        created_at_ms: now_millis(),
    };
    let app = Application {
        id: AppId::new("bench").unwrap(),
        group: group.id.clone(),
        name: "Bench".into(),
        description: String::new(),
        mqtt_key: "bench".into(),
        created_at_ms: now_millis(),
        discovery: false,
        message_retention_days: None,
    };
    let devices: Vec<(NewDevice, String)> = (0..count)
        .map(|index| {
            let device = NewDevice {
                id: device_id(index),
                application: app.id.clone(),
                name: format!("Sensor {index}"),
                kind: "sensor".into(),
                room: None,
                firmware: None,
                metadata: serde_json::json!({}),
                heartbeat_timeout_secs: None,
            };
            (device, "not-a-real-hash".to_owned())
        })
        .collect();
    for result in [
        store.create_group(&group, &audit("group.create")).await,
        store.create_app(&app, "h", &audit("app.create")).await,
        store.create_devices(&devices, "bench").await,
    ] {
        match result {
            Ok(()) | Err(StoreError::Conflict { .. }) => {}
            Err(error) => panic!("cannot register the devices: {error}"),
        }
    }
}

/// Messages `first..first + len`, round-robin over the devices.
fn make_batch(first: usize, len: usize, devices: usize) -> IngestBatch {
    let now = now_millis();
    let mut batch = IngestBatch {
        messages: Vec::with_capacity(len),
        points: Vec::with_capacity(2 * len),
        status_changes: Vec::new(),
        live: Vec::with_capacity(devices.min(len)),
    };
    for n in first..first + len {
        let device = device_id(n % devices);
        let temperature = 15.0 + (n % 200) as f64 / 10.0;
        let humidity = (30 + n % 50) as f64;
        let payload = format!(r#"{{"temperature":{temperature},"humidity":{humidity}}}"#);
        batch.messages.push(NewMessage {
            device: device.clone(),
            kind: MessageKind::Data,
            received_at_ms: now,
            payload: Bytes::from(payload),
            json_ok: true,
            ts_clamped: false,
        });
        for (metric, value) in [("temperature", temperature), ("humidity", humidity)] {
            batch.points.push(Point {
                device: device.clone(),
                metric: metric.into(),
                at_ms: now,
                value,
            });
        }
    }
    for index in 0..devices.min(len) {
        let n = first + len - 1 - index;
        batch.live.push(LiveUpdate {
            device: Some(device_id(n % devices)),
            is_online: Some(true),
            last_seen_ms: Some(now),
            last_report_data: Some(r#"{"temperature":21.5,"humidity":40}"#.into()),
            ..LiveUpdate::default()
        });
    }
    batch
}

#[tokio::main]
async fn main() {
    let args = parse_args();
    let _temp_dir;
    let url = match &args.database {
        Some(url) => url.clone(),
        None => {
            _temp_dir = tempfile::tempdir().expect("temporary directory");
            hearth_store::sqlite_url(_temp_dir.path())
        }
    };
    let store = hearth_store::open(&url)
        .await
        .expect("cannot open the store");
    register(&store, args.devices).await;

    let mut written = 0;
    let mut total = Duration::ZERO;
    let mut latencies = Vec::new();
    let (mut rows, mut live) = (0, 0);
    while written < args.messages {
        let len = args.batch.min(args.messages - written);
        // Building the batch is ingest's work, not the store's: not timed.
        let batch = make_batch(written, len, args.devices);
        let started = Instant::now();
        store.write_batch(&batch).await.expect("write_batch failed");
        let elapsed = started.elapsed();
        total += elapsed;
        latencies.push(elapsed);
        rows += batch.messages.len() + batch.points.len();
        live += batch.live.len();
        written += len;
    }
    latencies.sort();
    let seconds = total.as_secs_f64();
    println!(
        "{} ({}): {} messages from {} devices in batches of {}",
        store.backend(),
        url,
        written,
        args.devices,
        args.batch
    );
    println!(
        "  {:.0} messages/s, {:.0} rows/s ({rows} message + point rows, {live} live \
         updates) in {:.2} s of write_batch",
        written as f64 / seconds,
        rows as f64 / seconds,
        seconds
    );
    println!(
        "  per batch: median {:.1} ms, max {:.1} ms",
        latencies[latencies.len() / 2].as_secs_f64() * 1000.0,
        latencies.last().unwrap().as_secs_f64() * 1000.0
    );
    store.close().await;
}
