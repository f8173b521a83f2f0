//! The queue's order, bounds, overflow policies and durability (reopen, SIGKILL).

use super::*;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

fn limits(max_messages: u64, max_bytes: u64, overflow: Overflow) -> QueueLimits {
    QueueLimits {
        max_messages,
        max_bytes,
        overflow,
    }
}

fn message(device: &str, n: u64) -> NewMessage {
    NewMessage {
        topic: format!("devices/{device}/data").into(),
        payload: Bytes::from(format!("{{\"n\":{n}}}")),
        received_at_ms: 1_800_000_000_000 + n as i64,
        qos: 1,
    }
}

fn payloads(queue: &BridgeQueue) -> Vec<String> {
    queue
        .read(None, usize::MAX)
        .unwrap()
        .into_iter()
        .map(|queued| String::from_utf8(queued.message.payload.to_vec()).unwrap())
        .collect()
}

#[test]
fn appends_read_in_order_and_removal_after_ack_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bridge.redb");
    let big = limits(1000, 1 << 20, Overflow::DropOldest);
    {
        let queue = BridgeQueue::open(&path, big).unwrap();
        let batch: Vec<_> = (0..10).map(|n| message("d1", n)).collect();
        assert_eq!(queue.append(&batch).unwrap(), vec![true; 10]);
        let read = queue.read(None, 4).unwrap();
        assert_eq!(read.len(), 4);
        assert_eq!(read[0].message, message("d1", 0));
        assert_eq!(read[3].message, message("d1", 3));
        let next = queue.read(Some(read[3].seq), 100).unwrap();
        assert_eq!(next.len(), 6);
        assert_eq!(next[0].message, message("d1", 4));
        // The cloud acknowledged 0..3 (out of order too).
        let acked: Vec<u64> = read.iter().rev().map(|queued| queued.seq).collect();
        assert_eq!(queue.remove(&acked).unwrap(), 4);
        assert_eq!(
            queue.remove(&acked).unwrap(),
            0,
            "removing twice removes nothing"
        );
        assert_eq!(queue.len(), 6);
    }
    let queue = BridgeQueue::open(&path, big).unwrap();
    assert_eq!(queue.len(), 6);
    let expected: Vec<String> = (4..10).map(|n| format!("{{\"n\":{n}}}")).collect();
    assert_eq!(payloads(&queue), expected);
    let bytes: u64 = (4..10)
        .map(|n| {
            let m = message("d1", n);
            (HEADER + m.topic.len() + m.payload.len()) as u64
        })
        .sum();
    assert_eq!(queue.bytes(), bytes);
    // Sequence numbers keep growing after a reopen: new messages queue behind old ones.
    queue.append(&[message("d1", 10)]).unwrap();
    assert_eq!(payloads(&queue).last().unwrap(), "{\"n\":10}");
}

#[test]
fn drop_oldest_keeps_the_newest_within_count_and_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let queue = BridgeQueue::open(
        &dir.path().join("bridge.redb"),
        limits(5, 1 << 20, Overflow::DropOldest),
    )
    .unwrap();
    let batch: Vec<_> = (0..8).map(|n| message("d1", n)).collect();
    assert_eq!(queue.append(&batch).unwrap(), vec![true; 8]);
    assert_eq!(queue.len(), 5);
    let expected: Vec<String> = (3..8).map(|n| format!("{{\"n\":{n}}}")).collect();
    assert_eq!(payloads(&queue), expected);
    assert_eq!(queue.counters.dropped.load(Ordering::Relaxed), 3);

    // By bytes: every record of d1 with a one-digit n is the same size.
    let one = (HEADER + "devices/d1/data".len() + "{\"n\":0}".len()) as u64;
    let dir = tempfile::tempdir().unwrap();
    let queue = BridgeQueue::open(
        &dir.path().join("bridge.redb"),
        limits(100, one * 3, Overflow::DropOldest),
    )
    .unwrap();
    let batch: Vec<_> = (0..5).map(|n| message("d1", n)).collect();
    queue.append(&batch).unwrap();
    assert_eq!(queue.len(), 3);
    assert_eq!(queue.bytes(), one * 3);
    assert_eq!(payloads(&queue)[0], "{\"n\":2}");
}

#[test]
fn refuse_keeps_what_is_queued_and_counts_the_refused() {
    let dir = tempfile::tempdir().unwrap();
    let queue = BridgeQueue::open(
        &dir.path().join("bridge.redb"),
        limits(3, 1 << 20, Overflow::Refuse),
    )
    .unwrap();
    let batch: Vec<_> = (0..5).map(|n| message("d1", n)).collect();
    assert_eq!(
        queue.append(&batch).unwrap(),
        vec![true, true, true, false, false]
    );
    assert_eq!(queue.counters.refused.load(Ordering::Relaxed), 2);
    let first = queue.read(None, 1).unwrap();
    queue.remove(&[first[0].seq]).unwrap();
    // Room for one again.
    assert_eq!(
        queue.append(&[message("d1", 5), message("d1", 6)]).unwrap(),
        vec![true, false]
    );
    let expected: Vec<String> = [1, 2, 5].iter().map(|n| format!("{{\"n\":{n}}}")).collect();
    assert_eq!(payloads(&queue), expected);
    // A message larger than the whole queue may hold is never queued.
    let huge = NewMessage {
        payload: Bytes::from(vec![b'x'; 2 << 20]),
        ..message("d1", 7)
    };
    assert_eq!(queue.append(&[huge]).unwrap(), vec![false]);
}

#[test]
fn a_second_open_of_the_same_file_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bridge.redb");
    let _queue = BridgeQueue::open(&path, limits(10, 1000, Overflow::Refuse)).unwrap();
    let error = BridgeQueue::open(&path, limits(10, 1000, Overflow::Refuse))
        .err()
        .unwrap()
        .to_string();
    assert!(
        error.contains("bridge.redb") && error.contains("in use"),
        "{error}"
    );
}

const CHILD_ENV: &str = "HEARTH_BRIDGE_QUEUE_KILL_CHILD";
const TEST_NAME: &str = "bridge::queue::tests::sigkill_mid_stream_keeps_every_reported_batch";
const PER_BATCH: u64 = 25;
const KILL_AFTER: u64 = 40;

/// The child appends batches (and removes the first half of each earlier one, as acks
/// would), printing `committed N` after each returns, until the parent kills it; the
/// reopened queue holds exactly what the reported batches left, each batch whole.
#[test]
fn sigkill_mid_stream_keeps_every_reported_batch() {
    if let Some(path) = std::env::var_os(CHILD_ENV) {
        let queue = BridgeQueue::open(Path::new(&path), limits(1 << 30, 1 << 40, Overflow::Refuse))
            .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        let mut batch_idx = 0u64;
        while std::time::Instant::now() < deadline {
            let batch: Vec<_> = (0..PER_BATCH)
                .map(|i| message("d1", batch_idx * PER_BATCH + i))
                .collect();
            queue.append(&batch).unwrap();
            // The first half of this batch acknowledged.
            let seqs: Vec<u64> = (0..PER_BATCH / 2)
                .map(|i| batch_idx * PER_BATCH + i)
                .collect();
            queue.remove(&seqs).unwrap();
            println!("committed {batch_idx}");
            batch_idx += 1;
        }
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bridge.redb");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([TEST_NAME, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, &path)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut last = None;
    let mut killed = false;
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        let Some(n) = line.strip_prefix("committed ") else {
            continue;
        };
        let n: u64 = n.parse().unwrap();
        last = Some(n);
        if n >= KILL_AFTER && !killed {
            child.kill().unwrap();
            killed = true;
        }
    }
    let status = child.wait().unwrap();
    assert!(killed, "the child ended on its own: {status}");
    let last = last.unwrap();
    let queue = BridgeQueue::open(&path, limits(1 << 30, 1 << 40, Overflow::Refuse))
        .expect("reopen after SIGKILL");
    let read = queue.read(None, usize::MAX).unwrap();
    let seqs: Vec<u64> = read.iter().map(|queued| queued.seq).collect();
    let final_batch = seqs.last().unwrap() / PER_BATCH;
    assert!(
        final_batch >= last,
        "batch {last} reported, final batch {final_batch}"
    );
    assert!(final_batch <= last + 1, "final batch {final_batch}");
    let halves = |upto: u64| -> Vec<u64> {
        (0..=upto)
            .flat_map(|b| (PER_BATCH / 2..PER_BATCH).map(move |i| b * PER_BATCH + i))
            .collect()
    };
    // Every batch whole; the final one's removal may not have committed yet.
    let mut whole_final = halves(final_batch.saturating_sub(1));
    if final_batch == 0 {
        whole_final.clear();
    }
    whole_final.extend((0..PER_BATCH).map(|i| final_batch * PER_BATCH + i));
    assert!(
        seqs == halves(final_batch) || seqs == whole_final,
        "not whole batches: {} messages up to {final_batch}",
        seqs.len()
    );
    for queued in &read {
        assert_eq!(queued.message, message("d1", queued.seq));
    }
    assert_eq!(queue.len(), read.len() as u64, "the count on disk matches");
    let bytes: u64 = read
        .iter()
        .map(|q| (HEADER + q.message.topic.len() + q.message.payload.len()) as u64)
        .sum();
    assert_eq!(queue.bytes(), bytes, "the bytes on disk match");
}
