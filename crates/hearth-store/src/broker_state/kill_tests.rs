//! SIGKILL in the middle of a stream of batches: the file must open afterwards and hold
//! every batch the writer reported committed, each batch whole or not at all.
//!
//! The test re-executes its own test binary with [`CHILD_ENV`] set; in that mode it is
//! the writer, printing `committed N` after each `apply` returns, until the parent kills
//! it. A separate process is the only honest way to test this: a store dropped in-process
//! still runs destructors, and redb's file lock belongs to the process.

use super::RedbBrokerStore;
use bytes::Bytes;
use hearth_bus::broker_state::{BrokerStore, PersistOp};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Set in the child to the path of the store it writes.
const CHILD_ENV: &str = "HEARTH_STORE_KILL_TEST_CHILD";
const TEST_NAME: &str = "broker_state::kill_tests::sigkill_mid_stream_keeps_every_reported_batch";
const MESSAGES_PER_BATCH: u64 = 20;
/// The parent checks the file lock once the child has reported this batch.
const CHECK_LOCK_AFTER: u64 = 10;
/// The parent kills the child as soon as it has reported this batch.
const KILL_AFTER: u64 = 60;
/// Bounds a child whose parent died without killing it.
const CHILD_DEADLINE: Duration = Duration::from_secs(30);

#[test]
fn sigkill_mid_stream_keeps_every_reported_batch() {
    if let Some(path) = std::env::var_os(CHILD_ENV) {
        write_until_killed(Path::new(&path));
        return;
    }

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broker.redb");
    let child = Command::new(std::env::current_exe().unwrap())
        .args([TEST_NAME, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, &path)
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn child writer");
    let mut child = KillOnDrop(child);
    let stdout = child.0.stdout.take().unwrap();

    let mut last_reported: Option<u64> = None;
    let mut killed = false;
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        let Some(batch_idx) = line.strip_prefix("committed ") else {
            continue; // libtest's own output
        };
        let batch_idx: u64 = batch_idx.parse().unwrap();
        last_reported = Some(batch_idx);
        if batch_idx == CHECK_LOCK_AFTER {
            let error = RedbBrokerStore::open(&path).unwrap_err().to_string();
            assert!(error.contains("in use by another process"), "{error}");
        }
        if batch_idx >= KILL_AFTER && !killed {
            // `Child::kill` sends SIGKILL on Unix. Lines already in the pipe are still
            // read below: the child reported them, so they count.
            child.0.kill().unwrap();
            killed = true;
        }
    }
    let status = child.0.wait().unwrap();
    assert!(killed, "the child exited on its own: {status}");
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(9), "{status}");
    }
    let last_reported = last_reported.unwrap();

    let mut store = RedbBrokerStore::open(&path).expect("reopen after SIGKILL");
    let state = store.load().unwrap();

    // Whole batches only: messages are exactly batches 0..=last_present.
    let n_messages = state.messages.len() as u64;
    assert_eq!(
        n_messages % MESSAGES_PER_BATCH,
        0,
        "a partial batch survived"
    );
    let n_batches = n_messages / MESSAGES_PER_BATCH;
    assert!(
        n_batches > last_reported,
        "batch {last_reported} was reported committed, only {n_batches} batches present"
    );
    // The batch in flight at the kill may have committed without being reported.
    assert!(
        n_batches <= last_reported + 2,
        "{n_batches} batches present"
    );
    let last_present = n_batches - 1;
    let mut messages = state.messages;
    messages.sort();
    for (idx, (client_id, seq, record)) in messages.into_iter().enumerate() {
        assert_eq!(client_id, "writer");
        assert_eq!(seq, idx as u64);
        assert_eq!(record, message_record(seq / MESSAGES_PER_BATCH, seq));
    }
    let mut retained = state.retained;
    retained.sort();
    let mut expected_retained: Vec<(String, Bytes)> = (0..=last_present)
        .map(|batch_idx| (format!("batch/{batch_idx}"), batch_record(batch_idx)))
        .collect();
    expected_retained.sort();
    assert_eq!(retained, expected_retained);
    assert_eq!(
        state.sessions,
        vec![("writer".to_string(), batch_record(last_present))]
    );
}

/// Kills the child if the parent's assertions fail before it does.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The child: batches of messages, a retained message per batch and a session record
/// overwritten by each batch, so a torn batch would show up in all three tables.
fn write_until_killed(path: &Path) {
    let mut store = RedbBrokerStore::open(path).expect("child: open store");
    let started = Instant::now();
    let mut stdout = std::io::stdout().lock();
    let mut batch_idx = 0;
    while started.elapsed() < CHILD_DEADLINE {
        let mut ops: Vec<PersistOp> = (0..MESSAGES_PER_BATCH)
            .map(|op_idx| {
                let seq = batch_idx * MESSAGES_PER_BATCH + op_idx;
                PersistOp::PutMessage {
                    client_id: Arc::from("writer"),
                    seq,
                    record: message_record(batch_idx, seq),
                }
            })
            .collect();
        ops.push(PersistOp::PutRetained {
            topic: Arc::from(format!("batch/{batch_idx}")),
            record: batch_record(batch_idx),
        });
        ops.push(PersistOp::PutSession {
            client_id: Arc::from("writer"),
            record: batch_record(batch_idx),
        });
        store.apply(&ops).expect("child: apply");
        writeln!(stdout, "committed {batch_idx}").unwrap();
        stdout.flush().unwrap();
        batch_idx += 1;
    }
}

/// About 1 KiB, so each commit writes several pages and a kill can land mid-write.
fn message_record(batch_idx: u64, seq: u64) -> Bytes {
    let mut record = format!("batch {batch_idx} seq {seq} ").into_bytes();
    record.resize(1024, b'.');
    Bytes::from(record)
}

fn batch_record(batch_idx: u64) -> Bytes {
    Bytes::from(format!("batch {batch_idx}"))
}
