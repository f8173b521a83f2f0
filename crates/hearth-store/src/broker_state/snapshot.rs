//! Copies of the broker state for backups, taken while the broker writes.
//!
//! A running broker holds `broker.redb` open, and redb locks the file, so no other
//! process can open it. The hub therefore keeps a [`BrokerSnapshotter`] (a second
//! handle on the same `Database`) and, when asked, copies one read transaction, a
//! consistent state as of one commit, into a new redb file. redb readers never block
//! the writer, so the broker keeps acknowledging while the copy runs. When no hub runs,
//! [`snapshot_file`] opens the file itself and does the same.
//!
//! The broker core knows nothing of this: it only sees the `BrokerStore` trait.

use super::{MESSAGES, META, RETAINED, SESSIONS};
use hearth_bus::broker_state::PersistError;
use redb::{
    Database, DatabaseError, Durability, ReadTransaction, ReadableDatabase, ReadableTable,
    TableDefinition,
};
use std::fmt::Display;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Entries per write transaction of the copy: bounds the memory a big state needs
/// (redb keeps a transaction's dirty pages until commit). The source is one read
/// transaction throughout, so the copy stays consistent however it is split.
const ENTRIES_PER_COMMIT: usize = 10_000;

/// What a snapshot holds, for the operator's summary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SnapshotCounts {
    pub retained: u64,
    pub sessions: u64,
    pub messages: u64,
}

/// A handle that copies the live broker state to a file; cheap to clone, usable from
/// any thread while the broker writes.
#[derive(Clone)]
pub struct BrokerSnapshotter {
    pub(super) db: Arc<Database>,
    pub(super) path: PathBuf,
}

impl std::fmt::Debug for BrokerSnapshotter {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("BrokerSnapshotter")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl BrokerSnapshotter {
    /// Writes the state as of the latest commit to a new redb file at `dest` (which
    /// must not exist).
    pub fn write_to(&self, dest: &Path) -> Result<SnapshotCounts, PersistError> {
        let txn = self
            .db
            .begin_read()
            .map_err(|error| failure(&self.path, "begin read", error))?;
        copy(&txn, dest)
    }
}

/// What [`snapshot_file`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OfflineSnapshot {
    /// The copy was written.
    Written(SnapshotCounts),
    /// Another process (a running hub) holds the file: ask it instead.
    InUse,
}

/// Copies the broker state file `source` to `dest` when no hub holds it.
pub fn snapshot_file(source: &Path, dest: &Path) -> Result<OfflineSnapshot, PersistError> {
    let db = match Database::builder().open(source) {
        Ok(db) => db,
        Err(DatabaseError::DatabaseAlreadyOpen) => return Ok(OfflineSnapshot::InUse),
        Err(error) => return Err(failure(source, "cannot open", error)),
    };
    let txn = db
        .begin_read()
        .map_err(|error| failure(source, "begin read", error))?;
    copy(&txn, dest).map(OfflineSnapshot::Written)
}

fn copy(txn: &ReadTransaction, dest: &Path) -> Result<SnapshotCounts, PersistError> {
    if dest.exists() {
        return Err(failure(dest, "snapshot", "the file exists already"));
    }
    let out = Database::create(dest).map_err(|error| failure(dest, "cannot create", error))?;
    // Every table exists in a file the store opened once (init_schema creates them).
    let counts = SnapshotCounts {
        retained: copy_table(txn, &out, RETAINED, dest)?,
        sessions: copy_table(txn, &out, SESSIONS, dest)?,
        messages: copy_table(txn, &out, MESSAGES, dest)?,
    };
    copy_table(txn, &out, META, dest)?;
    drop(out);
    Ok(counts)
}

/// Copies one table in batches of [`ENTRIES_PER_COMMIT`]; returns how many entries.
fn copy_table<K, V>(
    txn: &ReadTransaction,
    out: &Database,
    table: TableDefinition<K, V>,
    dest: &Path,
) -> Result<u64, PersistError>
where
    K: redb::Key + 'static,
    V: redb::Value + 'static,
{
    let name = table.to_string();
    let source = txn
        .open_table(table)
        .map_err(|error| failure(dest, &format!("open source table {name}"), error))?;
    let mut rows = source
        .iter()
        .map_err(|error| failure(dest, &format!("read table {name}"), error))?
        .peekable();
    let mut copied = 0u64;
    loop {
        let mut write = out
            .begin_write()
            .map_err(|error| failure(dest, "begin write", error))?;
        // Few, large commits: each is synced, so the finished file is on disk.
        write
            .set_durability(Durability::Immediate)
            .map_err(|error| failure(dest, "set durability", error))?;
        {
            let mut target = write
                .open_table(table)
                .map_err(|error| failure(dest, &format!("create table {name}"), error))?;
            for _ in 0..ENTRIES_PER_COMMIT {
                let Some(row) = rows.next() else { break };
                let (key, value) =
                    row.map_err(|error| failure(dest, &format!("read table {name}"), error))?;
                target
                    .insert(key.value(), value.value())
                    .map_err(|error| failure(dest, &format!("write table {name}"), error))?;
                copied += 1;
            }
        }
        write
            .commit()
            .map_err(|error| failure(dest, "commit", error))?;
        if rows.peek().is_none() {
            return Ok(copied);
        }
    }
}

fn failure(path: &Path, action: &str, error: impl Display) -> PersistError {
    PersistError(format!("{}: {action}: {error}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RedbBrokerStore;
    use bytes::Bytes;
    use hearth_bus::broker_state::{BrokerStore, PersistOp};

    fn ops(range: std::ops::Range<u64>) -> Vec<PersistOp> {
        range
            .flat_map(|n| {
                [
                    PersistOp::PutRetained {
                        topic: Arc::from(format!("t/{n}")),
                        record: Bytes::from(format!("r{n}")),
                    },
                    PersistOp::PutMessage {
                        client_id: Arc::from("c"),
                        seq: n,
                        record: Bytes::from(format!("m{n}")),
                    },
                ]
            })
            .collect()
    }

    #[test]
    fn a_snapshot_of_an_open_store_holds_its_last_commit_and_reopens() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = RedbBrokerStore::open(&dir.path().join("broker.redb")).unwrap();
        // More than one batch of the copy.
        store.apply(&ops(0..ENTRIES_PER_COMMIT as u64 + 7)).unwrap();
        store
            .apply(&[PersistOp::PutSession {
                client_id: Arc::from("c"),
                record: Bytes::from_static(b"session"),
            }])
            .unwrap();
        let dest = dir.path().join("copy.redb");
        let counts = store.snapshotter().write_to(&dest).unwrap();
        assert_eq!(counts.retained, ENTRIES_PER_COMMIT as u64 + 7);
        assert_eq!(counts.messages, ENTRIES_PER_COMMIT as u64 + 7);
        assert_eq!(counts.sessions, 1);
        // The original keeps working; the copy is a store of its own with the same state.
        store.apply(&ops(100_000..100_001)).unwrap();
        let expected = {
            let mut state = store.load().unwrap();
            state.retained.retain(|(topic, _)| topic != "t/100000");
            state.messages.retain(|(_, seq, _)| *seq != 100_000);
            state
        };
        let mut copy = RedbBrokerStore::open(&dest).unwrap();
        assert_eq!(copy.load().unwrap(), expected);
    }

    #[test]
    fn an_open_store_is_in_use_for_an_offline_snapshot_and_a_closed_one_is_copied() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("broker.redb");
        let mut store = RedbBrokerStore::open(&path).unwrap();
        store.apply(&ops(0..3)).unwrap();
        let dest = dir.path().join("copy.redb");
        assert_eq!(snapshot_file(&path, &dest).unwrap(), OfflineSnapshot::InUse);
        drop(store);
        let OfflineSnapshot::Written(counts) = snapshot_file(&path, &dest).unwrap() else {
            panic!("the closed file is copied");
        };
        assert_eq!(counts.retained, 3);
        // An existing destination is never overwritten.
        assert!(snapshot_file(&path, &dest).is_err());
    }
}
