//! The embedded backend: one SQLite file in WAL mode, shared by the running hub and the
//! CLI (another process), hence the busy timeout and `BEGIN IMMEDIATE` for writes.
//!
//! The queries are not here: the files under `src/sql/` are included below against
//! `type Db = sqlx::Sqlite` (see `sql/mod.rs` for why). Only what differs from
//! PostgreSQL lives in this file: how to connect, the DDL (`migrations/sqlite/`) and how
//! to begin a transaction.

use crate::StoreResult;
use crate::sql::{EmbeddedMigration, SeriesCache, backend, migrator};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use std::path::Path;
use std::time::Duration;

type Db = sqlx::Sqlite;
type ThisStore = SqliteStore;

/// What [`crate::Store::backend`] says.
const BACKEND: &str = "sqlite";
/// Take the write lock when the transaction starts: a deferred transaction that reads
/// first fails with `SQLITE_BUSY` (ignoring the busy timeout) if another connection
/// wrote in between.
const BEGIN_WRITE: &str = "BEGIN IMMEDIATE";
/// A deferred transaction reads one WAL snapshot from its first read on.
const BEGIN_SNAPSHOT: &str = "BEGIN";
/// A row's own address, for tables without a key (compaction takes `points` in slices).
const ROW_ID: Option<&str> = Some("rowid");

/// What [`statement`] makes, for functions that return one.
type Statement<'q> = sqlx::query::Query<'q, Db, <Db as sqlx::Database>::Arguments>;

/// A query of the shared files: this backend takes them as written (MariaDB's
/// translates them, see `mysql/dialect.rs`).
fn statement<'a>(
    sql: impl sqlx::SqlSafeStr,
) -> sqlx::query::Query<'a, Db, <Db as sqlx::Database>::Arguments> {
    sqlx::query(sql)
}

/// [`statement`] for one column.
fn scalar<'a, O>(
    sql: impl sqlx::SqlSafeStr,
) -> sqlx::query::QueryScalar<'a, Db, O, <Db as sqlx::Database>::Arguments>
where
    (O,): for<'r> sqlx::FromRow<'r, <Db as sqlx::Database>::Row>,
{
    sqlx::query_scalar(sql)
}

/// A fragment pushed into a `QueryBuilder`, as written.
fn dialect(sql: &'static str) -> &'static str {
    sql
}

// The shared query files, compiled here against `Db` (and again in the other backends:
// the repeated inclusion is the point, see `sql/mod.rs`).
crate::sql::include_shared_queries!();
/// The multi-row INSERTs of ingest, shared with the other backend that uses them.
#[allow(clippy::duplicate_mod)]
#[path = "../sql/ingest_rows.rs"]
mod ingest_rows;

/// This backend's half of `write_batch` (bulk inserts differ most between the two).
mod ingest;
/// SQLite's memory: one limit for the process, released when ingest stops.
mod memory;

/// Connections in the pool. WAL lets readers run beside the single writer; more would
/// only queue on the write lock.
const POOL_SIZE: u32 = 4;

/// Page cache per connection, in KiB when negative (SQLite's default is 2 MiB). An
/// ingest batch of 10,000 messages from 1,000 devices dirties a leaf page per device in
/// the messages index and per series in the points index (~3,000 pages, 12 MiB): with
/// the default cache, SQLite spills them to the WAL mid-transaction and reads them back,
/// which halved the write ceiling (`examples/write_ceiling.rs`). 64 MiB is an upper
/// bound for one connection: the pool's total is held to [`memory::HEAP_LIMIT_BYTES`]
/// (see `memory.rs`: before that limit, every connection in turn wrote batches and
/// filled its own 64 MiB). `temp_store = memory` keeps the statement journals of
/// multi-row INSERTs off the disk.
const CACHE_SIZE: &str = "-65536";

/// WAL pages after which a commit copies the WAL back into the database file (SQLite's
/// default is 1,000). An ingest batch writes ~4,000 pages, so with the default every
/// commit was followed by a checkpoint that wrote the same hot index leaves again; at
/// 16,384 (a 64 MiB WAL) a leaf rewritten by several batches is copied back once. Hub
/// CPU per message 5 % lower over 10 million messages (docs/history-performance.md).
const WAL_AUTOCHECKPOINT_PAGES: &str = "16384";

/// How long a statement waits for another connection's (or process's) write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The schema (registry, then history), oldest first. Append new migrations; never edit applied ones.
pub const MIGRATIONS: &[EmbeddedMigration] = &[
    (
        1,
        "registry",
        include_str!("../../migrations/sqlite/0001_registry.sql"),
    ),
    (
        2,
        "history",
        include_str!("../../migrations/sqlite/0002_history.sql"),
    ),
    (
        3,
        "auth",
        include_str!("../../migrations/sqlite/0003_auth.sql"),
    ),
    (
        4,
        "commands",
        include_str!("../../migrations/sqlite/0004_commands.sql"),
    ),
    (
        5,
        "automations",
        include_str!("../../migrations/sqlite/0005_automations.sql"),
    ),
    (
        6,
        "automation_gates",
        include_str!("../../migrations/sqlite/0006_automation_gates.sql"),
    ),
    (
        7,
        "alerts",
        include_str!("../../migrations/sqlite/0007_alerts.sql"),
    ),
    (
        8,
        "notification_prefs",
        include_str!("../../migrations/sqlite/0008_notification_prefs.sql"),
    ),
    (
        9,
        "device_certs",
        include_str!("../../migrations/sqlite/0009_device_certs.sql"),
    ),
    (
        10,
        "firmware",
        include_str!("../../migrations/sqlite/0010_firmware.sql"),
    ),
    (
        11,
        "device_time",
        include_str!("../../migrations/sqlite/0011_device_time.sql"),
    ),
    (
        12,
        "layouts",
        include_str!("../../migrations/sqlite/0012_layouts.sql"),
    ),
    (
        13,
        "discovery",
        include_str!("../../migrations/sqlite/0013_discovery.sql"),
    ),
    (
        14,
        "history blocks",
        include_str!("../../migrations/sqlite/0014_history_blocks.sql"),
    ),
    (
        15,
        "message_retention",
        include_str!("../../migrations/sqlite/0015_message_retention.sql"),
    ),
    (
        16,
        "sites",
        include_str!("../../migrations/sqlite/0016_sites.sql"),
    ),
    (
        17,
        "registry mirror",
        include_str!("../../migrations/sqlite/0017_registry_mirror.sql"),
    ),
    (
        18,
        "claims",
        include_str!("../../migrations/sqlite/0018_claims.sql"),
    ),
    (
        19,
        "user identities",
        include_str!("../../migrations/sqlite/0019_user_identities.sql"),
    ),
    (
        20,
        "leases",
        include_str!("../../migrations/sqlite/0020_leases.sql"),
    ),
    (
        21,
        "device main",
        include_str!("../../migrations/sqlite/0021_device_main.sql"),
    ),
];

/// The embedded backend (a pool over one database file).
pub struct SqliteStore {
    pool: sqlx::SqlitePool,
    /// The one connection every write transaction runs on (see [`SqliteStore::write_pool`]).
    writer: sqlx::SqlitePool,
    series: SeriesCache,
    /// The task that releases SQLite's cache once ingest stops.
    idle_release: tokio::task::AbortHandle,
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        self.idle_release.abort();
    }
}

impl SqliteStore {
    /// SQLite's heap across the whole process (every connection's page cache and
    /// prepared statements), bytes: what the hub's memory bound counts for SQLite.
    pub const HEAP_LIMIT_BYTES: i64 = memory::HEAP_LIMIT_BYTES;

    /// Connections in the pool.
    pub const POOL_SIZE: u32 = POOL_SIZE;

    /// Where write transactions run: always the same connection. SQLite writes one at a
    /// time anyway, and a connection that starts a transaction after another connection
    /// wrote discards its whole page cache (the WAL changed under it). With the pool
    /// handing ingest batches to each of its connections in turn, every batch began
    /// with a cold cache and read its ~4,000 pages back from the file, which grew with
    /// the indexes: 22 -> 29 µs of hub CPU per message from 1 to 10 million stored
    /// (docs/history-performance.md, "Memory").
    pub(crate) fn write_pool(&self) -> &sqlx::SqlitePool {
        &self.writer
    }

    /// Opens (creating if missing) the database file at `path` and applies every
    /// pending migration.
    pub async fn open(path: &Path) -> StoreResult<SqliteStore> {
        SqliteStore::open_with_migrations(path, MIGRATIONS).await
    }

    /// [`SqliteStore::open`] with an explicit migration list: for tests of upgrades.
    pub async fn open_with_migrations(
        path: &Path,
        migrations: &[EmbeddedMigration],
    ) -> StoreResult<SqliteStore> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT)
            .pragma("cache_size", CACHE_SIZE)
            .pragma("soft_heap_limit", memory::HEAP_LIMIT_BYTES.to_string())
            .pragma("temp_store", "memory")
            .pragma("wal_autocheckpoint", WAL_AUTOCHECKPOINT_PAGES);
        let pool = SqlitePoolOptions::new()
            .max_connections(POOL_SIZE)
            .connect_with(options.clone())
            .await
            .map_err(|error| backend(format!("cannot open {}: {error}", path.display())))?;
        migrator(migrations)
            .run(&pool)
            .await
            .map_err(|error| backend(format!("cannot migrate {}: {error}", path.display())))?;
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await
            .map_err(|error| backend(format!("cannot open {}: {error}", path.display())))?;
        let idle_release = memory::spawn_idle_release(pool.clone());
        Ok(SqliteStore {
            pool,
            writer,
            series: SeriesCache::default(),
            idle_release,
        })
    }
}
