//! Measures what the broker's durable state costs on this disk: start-up (`open` +
//! `load`) with a large state, after a clean shutdown and after SIGKILL, and `apply`
//! throughput at several batch sizes, which is what group commit buys.
//!
//! ```text
//! cargo run --release -p hearth-store --example broker_state_load [DIR]
//! ```
//!
//! DIR must be on the disk to measure (default: a temporary directory). Not a test: it
//! asserts nothing about timings.

use bytes::Bytes;
use hearth_bus::broker_state::{BrokerStore, PersistOp};
use hearth_store::RedbBrokerStore;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const N_RETAINED: usize = 10_000;
const N_SESSIONS: usize = 10_000;
const N_MESSAGES: usize = 100_000;
const FILL_BATCH: usize = 1_000;
/// Start-up is timed this many times; the median is reported.
const STARTUP_RUNS: usize = 5;
/// Re-executes this program as a writer that the parent kills.
const HOLD_ARG: &str = "--write-and-hold";

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some(HOLD_ARG) {
        write_and_hold(Path::new(&args[2]));
        return;
    }
    let _temp_dir;
    let dir = match args.get(1) {
        Some(dir) => PathBuf::from(dir),
        None => {
            _temp_dir = tempfile::tempdir().expect("temporary directory");
            _temp_dir.path().to_owned()
        }
    };
    let path = dir.join("broker_state_load.redb");
    let _ = std::fs::remove_file(&path);

    let started = Instant::now();
    fill(&path);
    let file_mib = std::fs::metadata(&path).unwrap().len() as f64 / (1024.0 * 1024.0);
    println!(
        "fill: {N_MESSAGES} messages, {N_RETAINED} retained, {N_SESSIONS} sessions in \
         batches of {FILL_BATCH}: {} ms, file {file_mib:.1} MiB ({})",
        started.elapsed().as_millis(),
        path.display()
    );

    let clean: Vec<Duration> = (0..STARTUP_RUNS).map(|_| time_startup(&path)).collect();
    println!(
        "start-up after clean shutdown (open + load): {}",
        summary(clean)
    );

    let killed: Vec<Duration> = (0..STARTUP_RUNS)
        .map(|_| {
            kill_a_writer(&path);
            time_startup(&path)
        })
        .collect();
    println!(
        "start-up after SIGKILL (open + repair + load): {}",
        summary(killed)
    );

    let mut store = RedbBrokerStore::open(&path).unwrap();
    for (batch_size, n_ops) in [(1, 2_000), (100, 20_000), (1_000, 100_000)] {
        let elapsed = time_apply(&mut store, batch_size, n_ops);
        let ops_per_s = n_ops as f64 / elapsed.as_secs_f64();
        println!(
            "apply, batches of {batch_size:>5} PutMessage: {ops_per_s:>9.0} ops/s, \
             {:>6.0} commits/s ({n_ops} ops in {} ms)",
            ops_per_s / batch_size as f64,
            elapsed.as_millis()
        );
    }
    drop(store);
    let _ = std::fs::remove_file(&path);
}

/// Roughly what the broker writes: a retained record is a small header plus a 64-byte
/// payload, a session record holds a few subscriptions, a queued message record is a
/// topic, properties and a 64-byte payload.
fn fill(path: &Path) {
    let mut store = RedbBrokerStore::open(path).unwrap();
    let mut ops = Vec::with_capacity(N_RETAINED + N_SESSIONS + N_MESSAGES);
    for idx in 0..N_RETAINED {
        ops.push(PersistOp::PutRetained {
            topic: Arc::from(format!("home/room-{}/sensor-{idx}/state", idx % 100)),
            record: record(96, idx),
        });
    }
    for idx in 0..N_SESSIONS {
        ops.push(PersistOp::PutSession {
            client_id: Arc::from(client_id(idx)),
            record: record(192, idx),
        });
    }
    for idx in 0..N_MESSAGES {
        ops.push(PersistOp::PutMessage {
            client_id: Arc::from(client_id(idx % N_SESSIONS)),
            seq: (idx / N_SESSIONS) as u64,
            record: record(128, idx),
        });
    }
    for batch in ops.chunks(FILL_BATCH) {
        store.apply(batch).unwrap();
    }
}

fn time_startup(path: &Path) -> Duration {
    let started = Instant::now();
    let mut store = RedbBrokerStore::open(path).unwrap();
    let state = store.load().unwrap();
    let elapsed = started.elapsed();
    assert_eq!(
        (
            state.retained.len(),
            state.sessions.len(),
            state.messages.len()
        ),
        (N_RETAINED, N_SESSIONS, N_MESSAGES),
        "the state loaded is not the state written"
    );
    elapsed
}

/// Starts a child that opens the store, commits one batch and waits; kills it with
/// SIGKILL, so the next open finds a file that was not shut down cleanly.
fn kill_a_writer(path: &Path) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([HOLD_ARG, path.to_str().unwrap()])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "committed", "child writer failed");
    child.kill().unwrap();
    child.wait().unwrap();
}

fn write_and_hold(path: &Path) {
    let mut store = RedbBrokerStore::open(path).unwrap();
    // Rewrites the first queued message as `fill` wrote it: a real write that leaves
    // the counts `time_startup` checks unchanged.
    let op = PersistOp::PutMessage {
        client_id: Arc::from(client_id(0)),
        seq: 0,
        record: record(128, 0),
    };
    store.apply(&[op]).unwrap();
    println!("committed");
    std::thread::sleep(Duration::from_secs(60));
}

fn time_apply(store: &mut RedbBrokerStore, batch_size: usize, n_ops: usize) -> Duration {
    let client_id: Arc<str> = Arc::from(format!("throughput-{batch_size}"));
    let ops: Vec<PersistOp> = (0..n_ops)
        .map(|seq| PersistOp::PutMessage {
            client_id: client_id.clone(),
            seq: seq as u64,
            record: record(128, seq),
        })
        .collect();
    let started = Instant::now();
    for batch in ops.chunks(batch_size) {
        store.apply(batch).unwrap();
    }
    let elapsed = started.elapsed();
    store
        .apply(&[PersistOp::DeleteSession { client_id }])
        .unwrap();
    elapsed
}

fn client_id(idx: usize) -> String {
    format!("device-{idx:05}")
}

fn record(len: usize, idx: usize) -> Bytes {
    let mut record = format!("record {idx} ").into_bytes();
    record.resize(len, b'x');
    Bytes::from(record)
}

fn summary(mut runs: Vec<Duration>) -> String {
    runs.sort();
    let ms = |duration: &Duration| format!("{:.1}", duration.as_secs_f64() * 1000.0);
    format!(
        "median {} ms (min {}, max {}, {} runs)",
        ms(&runs[runs.len() / 2]),
        ms(&runs[0]),
        ms(&runs[runs.len() - 1]),
        runs.len()
    )
}
