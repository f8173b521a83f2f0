//! SIGKILL in the middle of a compaction (issue 19): after reopening, every point and
//! message is still there exactly once (plain or in a block), charts count each once,
//! and the next compaction finishes the job.
//!
//! The test re-executes its own binary with [`CHILD_ENV`] set to the database URL; in
//! that mode it compacts, one series per transaction, until the parent kills it. The
//! parent kills it as soon as the first batch is visible, so that the kill lands with
//! most of the work still to do. A separate process is the only honest way: a store
//! dropped in-process still runs destructors and closes its connections cleanly.

use bytes::Bytes;
use hearth_model::{DeviceId, MessageKind, Millis, Point};
use hearth_store::{CompactRequest, IngestBatch, NewMessage, Store, TimeRange};
use hearth_testkit::{Backend, database_url};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const CHILD_ENV: &str = "HEARTH_COMPACTION_KILL_CHILD";
const HOUR: Millis = 3_600_000;
const T0: Millis = 1_700_000_000_000 - 1_700_000_000_000 % HOUR;
const DEVICES: usize = 40;
const METRICS: [&str; 3] = ["temperature", "humidity", "power"];
/// Six hours of a reading every 10 s.
const READINGS: i64 = 6 * 360;
const ALL: TimeRange = TimeRange {
    from_ms: 0,
    to_ms: Millis::MAX,
};

fn request() -> CompactRequest {
    CompactRequest {
        before_ms: T0 + 7 * HOUR,
        block_ms: HOUR,
        tiers: vec![HOUR, 24 * HOUR],
        batch_series: 1,
    }
}

fn device(index: usize) -> DeviceId {
    DeviceId::new(&format!("sensor-{index:03}")).unwrap()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn write_history(store: &Arc<dyn Store>) {
    for index in 0..DEVICES {
        let mut batch = IngestBatch::default();
        for i in 0..READINGS {
            let at_ms = T0 + i * 10_000 + (i * 7919 % 41);
            for (m, metric) in METRICS.iter().enumerate() {
                batch.points.push(Point {
                    device: device(index),
                    metric: (*metric).into(),
                    at_ms,
                    value: ((i * 37 + m as i64 * 11) % 500) as f64 / 10.0,
                });
            }
            batch.messages.push(NewMessage {
                device: device(index),
                kind: MessageKind::Data,
                received_at_ms: at_ms,
                payload: Bytes::from(format!(r#"{{"temperature":{},"n":{i}}}"#, i % 300)),
                json_ok: true,
                ts_clamped: false,
            });
        }
        store.write_batch(&batch).await.unwrap();
    }
}

/// Every series' point count as charts see it (hourly buckets, so tier rows and raw
/// points both take part).
async fn counts(store: &Arc<dyn Store>) -> Vec<u64> {
    let mut counts = Vec::new();
    for index in 0..DEVICES {
        for metric in METRICS {
            let buckets = store
                .aggregates(&device(index), metric, ALL, HOUR)
                .await
                .unwrap();
            counts.push(buckets.iter().map(|bucket| bucket.count).sum());
        }
    }
    counts
}

/// How many point blocks are committed, straight from the database.
async fn block_rows(url: &str) -> u64 {
    use sqlx::Connection;
    let sql = "SELECT COUNT(*) FROM point_blocks";
    let count: i64 = if url.starts_with("sqlite:") {
        let mut conn = sqlx::SqliteConnection::connect(url).await.unwrap();
        sqlx::query_scalar(sql).fetch_one(&mut conn).await.unwrap()
    } else if url.starts_with("mysql:") {
        let mut conn = sqlx::MySqlConnection::connect(url).await.unwrap();
        sqlx::query_scalar(sql).fetch_one(&mut conn).await.unwrap()
    } else {
        let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
        sqlx::query_scalar(sql).fetch_one(&mut conn).await.unwrap()
    };
    count as u64
}

fn sigkill_mid_compaction(backend: Backend) {
    if let Ok(url) = std::env::var(CHILD_ENV) {
        runtime().block_on(async {
            let store = hearth_store::open(&url).await.unwrap();
            store.compact(&request()).await.unwrap();
        });
        // Finishing means the parent was too slow to kill: it says so.
        return;
    }
    let (url, _guard) = database_url(backend);
    let runtime = runtime();
    let store: Arc<dyn Store> = runtime.block_on(async {
        let store: Arc<dyn Store> = hearth_store::open(&url).await.unwrap();
        write_history(&store).await;
        store
    });
    let total_points = (DEVICES * METRICS.len()) as u64 * READINGS as u64;
    let total_messages = DEVICES as u64 * READINGS as u64;
    let before = runtime.block_on(counts(&store));
    assert_eq!(before.iter().sum::<u64>(), total_points);

    let test_name = match backend {
        Backend::Sqlite => "sigkill_mid_compaction_loses_nothing_sqlite",
        Backend::Postgres => "sigkill_mid_compaction_loses_nothing_postgres",
        Backend::MariaDb => "sigkill_mid_compaction_loses_nothing_mariadb",
    };
    let child = Command::new(std::env::current_exe().unwrap())
        .args([test_name, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, &url)
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn the compacting child");
    let mut child = KillOnDrop(child);
    let deadline = Instant::now() + Duration::from_secs(60);
    // Probe with one cheap query, not `history_size` (ten, some scanning whole tables):
    // a slow probe let the child finish before the kill now and then on PostgreSQL.
    let blocks_at_kill = loop {
        let blocks = runtime.block_on(block_rows(&url));
        if blocks > 0 {
            child.0.kill().unwrap();
            child.0.wait().unwrap();
            break blocks;
        }
        assert!(
            child.0.try_wait().unwrap().is_none(),
            "the child ended before a batch was visible"
        );
        assert!(Instant::now() < deadline, "no compaction batch within 60 s");
        std::thread::sleep(Duration::from_millis(5));
    };
    drop(store);

    runtime.block_on(async {
        let store: Arc<dyn Store> = hearth_store::open(&url).await.unwrap();
        let size = store.history_size().await.unwrap();
        assert!(
            size.plain_points > 0 && size.point_blocks >= blocks_at_kill,
            "killed mid-way: {size:?}"
        );
        assert_eq!(
            size.plain_points + size.block_points,
            total_points,
            "{size:?}"
        );
        assert_eq!(
            size.plain_messages + size.block_messages,
            total_messages,
            "{size:?}"
        );
        assert_eq!(counts(&store).await, before, "every point counted once");

        // The next round finishes the job with the same answers.
        store.compact(&request()).await.unwrap();
        let size = store.history_size().await.unwrap();
        assert_eq!((size.plain_points, size.block_points), (0, total_points));
        assert_eq!(
            (size.plain_messages, size.block_messages),
            (0, total_messages)
        );
        assert_eq!(counts(&store).await, before);
    });
}

#[test]
fn sigkill_mid_compaction_loses_nothing_sqlite() {
    sigkill_mid_compaction(Backend::Sqlite);
}

#[test]
fn sigkill_mid_compaction_loses_nothing_postgres() {
    sigkill_mid_compaction(Backend::Postgres);
}

#[test]
fn sigkill_mid_compaction_loses_nothing_mariadb() {
    sigkill_mid_compaction(Backend::MariaDb);
}
