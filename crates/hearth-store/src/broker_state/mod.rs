//! The broker's durable state in one redb file: retained messages, persistent sessions
//! and the QoS 1/2 messages queued for them.
//!
//! redb is an embedded, copy-on-write B-tree store with no dependencies of its own. The
//! broker's state is a plain key-value mapping of opaque records, so it needs no SQL; a
//! whole batch of [`PersistOp`]s becomes one write transaction, and one fsync makes the
//! batch durable (group commit). A commit either lands whole or not at all, also when
//! the process is killed mid-write.
//!
//! Tables:
//! - `retained`: topic → record.
//! - `sessions`: client id → record.
//! - `messages`: (client id, seq) → record. redb compares tuple keys element by element,
//!   so one session's messages are contiguous and ordered by seq, and deleting a session
//!   removes them with one range delete instead of a scan of the whole table.
//! - `meta`: `schema_version`, so a future layout change can recognise old files.

#[cfg(test)]
mod kill_tests;
mod snapshot;
#[cfg(test)]
mod tests;

use bytes::Bytes;
use hearth_bus::broker_state::{BrokerStore, PersistError, PersistOp, PersistedState};
use redb::{
    Database, DatabaseError, Durability, ReadableDatabase, ReadableTable, ReadableTableMetadata,
    TableDefinition,
};
use std::fmt::Display;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use snapshot::{BrokerSnapshotter, OfflineSnapshot, SnapshotCounts, snapshot_file};

const RETAINED: TableDefinition<&str, &[u8]> = TableDefinition::new("retained");
const SESSIONS: TableDefinition<&str, &[u8]> = TableDefinition::new("sessions");
const MESSAGES: TableDefinition<(&str, u64), &[u8]> = TableDefinition::new("messages");
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");

/// The key layout this code reads and writes. Records themselves are versioned by the
/// broker, which alone knows their encoding.
const SCHEMA_VERSION: u64 = 1;
const SCHEMA_VERSION_KEY: &str = "schema_version";

/// A [`BrokerStore`] backed by one redb file.
///
/// The file is locked while the store is open: a second hub (or a second store in the
/// same process) on the same file gets an error from [`RedbBrokerStore::open`] instead
/// of two writers corrupting each other's state.
pub struct RedbBrokerStore {
    /// Shared with [`BrokerSnapshotter`]s, which read while the broker writes.
    db: Arc<Database>,
    /// Kept so that every error names the file, which is what an operator needs to act.
    path: PathBuf,
}

/// Upper bound of redb's page cache for the broker state.
const CACHE_BYTES: usize = 16 * 1024 * 1024;

impl RedbBrokerStore {
    /// Opens the store at `path`, creating the file if it does not exist (the parent
    /// directory must exist). After a crash, redb repairs the file here, walking all of
    /// it (about 15 ms more than a clean start for 34 MiB of state); only committed
    /// transactions are visible afterwards.
    pub fn open(path: &Path) -> Result<Self, PersistError> {
        let db = Database::builder()
            // redb's default cache may grow to 1 GiB; a home board has less than that in
            // all. The broker reads the file only at start-up, so a small cache suffices.
            .set_cache_size(CACHE_BYTES)
            .create(path)
            .map_err(|error| match error {
                DatabaseError::DatabaseAlreadyOpen => PersistError(format!(
                    "{}: the file is in use by another process (is another hub running on \
                 this data directory?)",
                    path.display()
                )),
                other => PersistError(format!("{}: cannot open: {other}", path.display())),
            })?;
        let store = Self {
            db: Arc::new(db),
            path: path.to_owned(),
        };
        store.init_schema()?;
        Ok(store)
    }

    /// A handle that copies the state to a new file while this store keeps writing
    /// (for `hearth backup` beside a running hub).
    pub fn snapshotter(&self) -> BrokerSnapshotter {
        BrokerSnapshotter {
            db: self.db.clone(),
            path: self.path.clone(),
        }
    }

    /// The file this store writes.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Creates the tables on a new file, so that [`BrokerStore::load`] never meets a
    /// missing table, and refuses a file written with another key layout.
    fn init_schema(&self) -> Result<(), PersistError> {
        let txn = self
            .db
            .begin_write()
            .map_err(|error| self.failure("begin write", error))?;
        {
            let mut meta = txn
                .open_table(META)
                .map_err(|error| self.failure("open table meta", error))?;
            let version = meta
                .get(SCHEMA_VERSION_KEY)
                .map_err(|error| self.failure("read schema version", error))?
                .map(|guard| guard.value());
            match version {
                Some(SCHEMA_VERSION) => {}
                Some(other) => {
                    return Err(self.failure(
                        "schema",
                        format!("schema version {other}, this build knows {SCHEMA_VERSION}"),
                    ));
                }
                None => {
                    meta.insert(SCHEMA_VERSION_KEY, SCHEMA_VERSION)
                        .map_err(|error| self.failure("write schema version", error))?;
                }
            }
            txn.open_table(RETAINED)
                .map_err(|error| self.failure("create table retained", error))?;
            txn.open_table(SESSIONS)
                .map_err(|error| self.failure("create table sessions", error))?;
            txn.open_table(MESSAGES)
                .map_err(|error| self.failure("create table messages", error))?;
        }
        txn.commit()
            .map_err(|error| self.failure("commit schema", error))
    }

    fn failure(&self, action: &str, error: impl Display) -> PersistError {
        PersistError(format!("{}: {action}: {error}", self.path.display()))
    }
}

impl std::fmt::Debug for RedbBrokerStore {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("RedbBrokerStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl BrokerStore for RedbBrokerStore {
    fn load(&mut self) -> Result<PersistedState, PersistError> {
        let txn = self
            .db
            .begin_read()
            .map_err(|error| self.failure("begin read", error))?;
        let mut state = PersistedState::default();

        let retained = txn
            .open_table(RETAINED)
            .map_err(|error| self.failure("open table retained", error))?;
        state.retained =
            read_string_keyed(&retained).map_err(|e| self.failure("read retained", e))?;

        let sessions = txn
            .open_table(SESSIONS)
            .map_err(|error| self.failure("open table sessions", error))?;
        state.sessions =
            read_string_keyed(&sessions).map_err(|e| self.failure("read sessions", e))?;

        let messages = txn
            .open_table(MESSAGES)
            .map_err(|error| self.failure("open table messages", error))?;
        state.messages = read_messages(&messages).map_err(|e| self.failure("read messages", e))?;
        Ok(state)
    }

    fn apply(&mut self, ops: &[PersistOp]) -> Result<(), PersistError> {
        // Nothing to make durable: skip the fsync.
        if ops.is_empty() {
            return Ok(());
        }
        let mut txn = self
            .db
            .begin_write()
            .map_err(|error| self.failure("begin write", error))?;
        // Immediate is redb's default; said explicitly because the broker acknowledges
        // publishes on the strength of it.
        txn.set_durability(Durability::Immediate)
            .map_err(|error| self.failure("set durability", error))?;
        // Quick repair stays off: it halved single-op commits (4,400 → 2,400/s) to save
        // ~15 ms of repair on the first start after a crash with 34 MiB of state
        // (examples/broker_state_load.rs).
        {
            let mut retained = txn
                .open_table(RETAINED)
                .map_err(|error| self.failure("open table retained", error))?;
            let mut sessions = txn
                .open_table(SESSIONS)
                .map_err(|error| self.failure("open table sessions", error))?;
            let mut messages = txn
                .open_table(MESSAGES)
                .map_err(|error| self.failure("open table messages", error))?;
            // An error returns early and drops `txn`, which aborts it: a batch lands whole
            // or not at all.
            for op in ops {
                let result = match op {
                    PersistOp::PutRetained { topic, record } => {
                        retained.insert(topic.as_ref(), record.as_ref()).map(drop)
                    }
                    PersistOp::DeleteRetained { topic } => {
                        retained.remove(topic.as_ref()).map(drop)
                    }
                    PersistOp::PutSession { client_id, record } => sessions
                        .insert(client_id.as_ref(), record.as_ref())
                        .map(drop),
                    PersistOp::DeleteSession { client_id } => {
                        let client_id: &str = client_id;
                        sessions.remove(client_id).and_then(|_| {
                            messages.retain_in((client_id, 0)..=(client_id, u64::MAX), |_, _| false)
                        })
                    }
                    PersistOp::PutMessage {
                        client_id,
                        seq,
                        record,
                    } => messages
                        .insert((client_id.as_ref(), *seq), record.as_ref())
                        .map(drop),
                    PersistOp::DeleteMessage { client_id, seq } => {
                        messages.remove((client_id.as_ref(), *seq)).map(drop)
                    }
                };
                result.map_err(|error| self.failure("write", error))?;
            }
        }
        txn.commit().map_err(|error| self.failure("commit", error))
    }
}

/// Reads a whole `&str → bytes` table. Each record gets its own allocation so that a
/// long-lived retained message does not pin the memory of everything loaded with it.
fn read_string_keyed(
    table: &impl ReadableTable<&'static str, &'static [u8]>,
) -> Result<Vec<(String, Bytes)>, redb::StorageError> {
    let mut entries = Vec::with_capacity(capacity(table)?);
    for entry in table.iter()? {
        let (key, value) = entry?;
        entries.push((
            key.value().to_owned(),
            Bytes::copy_from_slice(value.value()),
        ));
    }
    Ok(entries)
}

fn read_messages(
    table: &impl ReadableTable<(&'static str, u64), &'static [u8]>,
) -> Result<Vec<(String, u64, Bytes)>, redb::StorageError> {
    let mut entries = Vec::with_capacity(capacity(table)?);
    for entry in table.iter()? {
        let (key, value) = entry?;
        let (client_id, seq) = key.value();
        entries.push((
            client_id.to_owned(),
            seq,
            Bytes::copy_from_slice(value.value()),
        ));
    }
    Ok(entries)
}

fn capacity(table: &impl ReadableTableMetadata) -> Result<usize, redb::StorageError> {
    // A capacity hint only: saturate rather than fail on a 32-bit target.
    Ok(usize::try_from(table.len()?).unwrap_or(usize::MAX))
}
