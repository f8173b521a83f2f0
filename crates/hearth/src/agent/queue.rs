//! The offline queue: readings made while the hub is away, kept on disk, bounded, sent
//! in order with their original time stamps when the link is back.
//!
//! One append-only file of JSON lines (`{"kind": "data", "ts": ms, "body": {...}}`),
//! appended and fsynced once per batch, rewritten (to a temporary file, fsynced,
//! renamed) only when readings leave it: sent, or dropped because the queue is full.
//! Not redb, although the hub has it: the queue is small (a few MiB at most), strictly
//! first in first out, and a text file can be read and repaired with `cat` on a board
//! with no other tool; a line torn by a power cut is skipped (and counted) at start.
//!
//! All of it is also held in memory (it is bounded), so reading never touches the disk.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// What a queued reading is published as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Data,
    Event,
}

/// One reading waiting for the hub.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reading {
    pub kind: Kind,
    /// When it was taken, epoch milliseconds (sent as `ts`).
    pub ts: u64,
    pub body: Value,
}

/// The queue (see the module's documentation).
pub struct DiskQueue {
    path: PathBuf,
    file: File,
    max_readings: usize,
    max_bytes: u64,
    /// The readings with their encoded lengths (newline included).
    readings: VecDeque<(Reading, u64)>,
    bytes: u64,
    /// Readings dropped because the queue was full, since start.
    pub dropped: u64,
    /// Lines of the file that could not be read at start (a torn last write).
    pub skipped_at_start: u64,
}

impl DiskQueue {
    /// Opens (or creates, with its directory) the queue at `path` and loads what an
    /// earlier run left in it.
    pub fn open(path: &Path, max_readings: usize, max_bytes: u64) -> std::io::Result<DiskQueue> {
        if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let mut readings = VecDeque::new();
        let mut bytes = 0;
        let mut skipped = 0;
        if let Ok(text) = std::fs::read(path) {
            for line in text.split(|byte| *byte == b'\n') {
                if line.is_empty() {
                    continue;
                }
                match serde_json::from_slice::<Reading>(line) {
                    Ok(reading) => {
                        let len = line.len() as u64 + 1;
                        bytes += len;
                        readings.push_back((reading, len));
                    }
                    Err(_) => skipped += 1,
                }
            }
        }
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let mut queue = DiskQueue {
            path: path.to_owned(),
            file,
            max_readings,
            max_bytes,
            readings,
            bytes,
            dropped: 0,
            skipped_at_start: skipped,
        };
        if skipped > 0 || queue.over_bound() {
            queue.trim();
            queue.rewrite()?;
        }
        Ok(queue)
    }

    pub fn len(&self) -> usize {
        self.readings.len()
    }

    pub fn is_empty(&self) -> bool {
        self.readings.is_empty()
    }

    /// The bytes the queue holds (its file's size).
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Appends `batch` (one fsync); when the queue then holds too much, the oldest
    /// readings are dropped (counted in [`DiskQueue::dropped`]) and the file rewritten.
    pub fn push(&mut self, batch: &[Reading]) -> std::io::Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let mut encoded = Vec::new();
        for reading in batch {
            let start = encoded.len();
            serde_json::to_writer(&mut encoded, reading).map_err(std::io::Error::other)?;
            encoded.push(b'\n');
            let len = (encoded.len() - start) as u64;
            self.readings.push_back((reading.clone(), len));
            self.bytes += len;
        }
        if self.over_bound() {
            self.trim();
            return self.rewrite();
        }
        self.file.write_all(&encoded)?;
        self.file.sync_data()
    }

    /// The oldest `n` readings, without removing them.
    pub fn peek(&self, n: usize) -> Vec<Reading> {
        self.readings
            .iter()
            .take(n)
            .map(|(reading, _)| reading.clone())
            .collect()
    }

    /// Removes the oldest `n` readings (they were sent).
    pub fn remove(&mut self, n: usize) -> std::io::Result<()> {
        for _ in 0..n.min(self.readings.len()) {
            if let Some((_, len)) = self.readings.pop_front() {
                self.bytes -= len;
            }
        }
        self.rewrite()
    }

    fn over_bound(&self) -> bool {
        self.readings.len() > self.max_readings || self.bytes > self.max_bytes
    }

    fn trim(&mut self) {
        while self.over_bound() {
            let Some((_, len)) = self.readings.pop_front() else {
                break;
            };
            self.bytes -= len;
            self.dropped += 1;
        }
    }

    /// Writes what is left to a new file and renames it over the old one, so that a
    /// crash leaves one or the other, never half of each.
    fn rewrite(&mut self) -> std::io::Result<()> {
        let temporary = self.path.with_extension("tmp");
        {
            let mut out = std::io::BufWriter::new(File::create(&temporary)?);
            for (reading, _) in &self.readings {
                serde_json::to_writer(&mut out, reading).map_err(std::io::Error::other)?;
                out.write_all(b"\n")?;
            }
            out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        }
        std::fs::rename(&temporary, &self.path)?;
        if let Some(dir) = self.path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
            // The rename itself is durable once the directory is synced.
            File::open(dir)?.sync_all()?;
        }
        self.file = OpenOptions::new().append(true).open(&self.path)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn reading(n: u64) -> Reading {
        Reading {
            kind: Kind::Data,
            ts: 1_780_000_000_000 + n,
            body: json!({"n": n}),
        }
    }

    #[test]
    fn readings_survive_a_restart_in_order_and_leave_when_sent() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("q/queue.jsonl");
        let mut queue = DiskQueue::open(&path, 100, 1 << 20).unwrap();
        queue.push(&[reading(1), reading(2)]).unwrap();
        queue.push(&[reading(3)]).unwrap();
        drop(queue);
        let mut queue = DiskQueue::open(&path, 100, 1 << 20).unwrap();
        assert_eq!(queue.peek(10), vec![reading(1), reading(2), reading(3)]);
        queue.remove(2).unwrap();
        drop(queue);
        let queue = DiskQueue::open(&path, 100, 1 << 20).unwrap();
        assert_eq!(queue.peek(10), vec![reading(3)]);
        assert_eq!(queue.bytes(), std::fs::metadata(&path).unwrap().len());
    }

    #[test]
    fn a_full_queue_drops_the_oldest_and_counts_them() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("queue.jsonl");
        let mut queue = DiskQueue::open(&path, 3, 1 << 20).unwrap();
        for n in 0..5 {
            queue.push(&[reading(n)]).unwrap();
        }
        assert_eq!(queue.dropped, 2);
        assert_eq!(queue.peek(10), vec![reading(2), reading(3), reading(4)]);
        // The byte bound too: each line is about 60 bytes.
        let line = serde_json::to_vec(&reading(0)).unwrap().len() as u64 + 1;
        let mut queue = DiskQueue::open(&dir.path().join("b.jsonl"), 100, 2 * line).unwrap();
        queue.push(&[reading(5), reading(6), reading(7)]).unwrap();
        assert_eq!(queue.peek(10), vec![reading(6), reading(7)]);
        assert_eq!(queue.dropped, 1);
        drop(queue);
        let queue = DiskQueue::open(&dir.path().join("b.jsonl"), 100, 2 * line).unwrap();
        assert_eq!(queue.len(), 2);
    }

    #[test]
    fn a_torn_last_line_is_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("queue.jsonl");
        let mut queue = DiskQueue::open(&path, 100, 1 << 20).unwrap();
        queue.push(&[reading(1)]).unwrap();
        drop(queue);
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(br#"{"kind":"data","ts":17"#).unwrap();
        let queue = DiskQueue::open(&path, 100, 1 << 20).unwrap();
        assert_eq!(queue.peek(10), vec![reading(1)]);
        assert_eq!(queue.skipped_at_start, 1);
    }
}
