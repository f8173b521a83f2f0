//! The server backend: a PostgreSQL database given by URL (`--database postgres://...`).
//!
//! The queries are not here: the files under `src/sql/` are included below against
//! `type Db = sqlx::Postgres` (see `sql/mod.rs` for why). Only what differs from SQLite
//! lives in this file: how to connect, the DDL (`migrations/postgres/`) and how to begin
//! a transaction.

use crate::StoreResult;
use crate::sql::{EmbeddedMigration, SeriesCache, backend, migrator};
use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPoolOptions};
use std::str::FromStr;
use std::time::Duration;

type Db = sqlx::Postgres;
type ThisStore = PostgresStore;

/// What [`crate::Store::backend`] says.
const BACKEND: &str = "postgres";
/// Row locks and unique indexes serialize writers; READ COMMITTED is enough.
const BEGIN_WRITE: &str = "BEGIN";
/// One snapshot for every statement of the transaction.
const BEGIN_SNAPSHOT: &str = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY";
/// A row's own address, for tables without a key (compaction takes `points` in slices).
const ROW_ID: Option<&str> = Some("ctid");

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

/// This backend's half of `write_batch` (bulk inserts differ most between the two).
mod ingest;

/// Connections in the pool (opened on demand).
const POOL_SIZE: u32 = 8;

/// How long [`PostgresStore::connect`] waits for the server before it gives up.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The schema (registry, then history), oldest first. Append new migrations; never edit applied ones.
pub const MIGRATIONS: &[EmbeddedMigration] = &[
    (
        1,
        "registry",
        include_str!("../../migrations/postgres/0001_registry.sql"),
    ),
    (
        2,
        "history",
        include_str!("../../migrations/postgres/0002_history.sql"),
    ),
    (
        3,
        "auth",
        include_str!("../../migrations/postgres/0003_auth.sql"),
    ),
    (
        4,
        "commands",
        include_str!("../../migrations/postgres/0004_commands.sql"),
    ),
    (
        5,
        "automations",
        include_str!("../../migrations/postgres/0005_automations.sql"),
    ),
    (
        6,
        "automation_gates",
        include_str!("../../migrations/postgres/0006_automation_gates.sql"),
    ),
    (
        7,
        "alerts",
        include_str!("../../migrations/postgres/0007_alerts.sql"),
    ),
    (
        8,
        "notification_prefs",
        include_str!("../../migrations/postgres/0008_notification_prefs.sql"),
    ),
    (
        9,
        "device_certs",
        include_str!("../../migrations/postgres/0009_device_certs.sql"),
    ),
    (
        10,
        "firmware",
        include_str!("../../migrations/postgres/0010_firmware.sql"),
    ),
    (
        11,
        "device_time",
        include_str!("../../migrations/postgres/0011_device_time.sql"),
    ),
    (
        12,
        "layouts",
        include_str!("../../migrations/postgres/0012_layouts.sql"),
    ),
    (
        13,
        "discovery",
        include_str!("../../migrations/postgres/0013_discovery.sql"),
    ),
    (
        14,
        "history blocks",
        include_str!("../../migrations/postgres/0014_history_blocks.sql"),
    ),
    (
        15,
        "message_retention",
        include_str!("../../migrations/postgres/0015_message_retention.sql"),
    ),
    (
        16,
        "sites",
        include_str!("../../migrations/postgres/0016_sites.sql"),
    ),
    (
        17,
        "registry mirror",
        include_str!("../../migrations/postgres/0017_registry_mirror.sql"),
    ),
    (
        18,
        "claims",
        include_str!("../../migrations/postgres/0018_claims.sql"),
    ),
    (
        19,
        "user identities",
        include_str!("../../migrations/postgres/0019_user_identities.sql"),
    ),
    (
        20,
        "leases",
        include_str!("../../migrations/postgres/0020_leases.sql"),
    ),
    (
        21,
        "device main",
        include_str!("../../migrations/postgres/0021_device_main.sql"),
    ),
];

/// The server backend (a connection pool).
pub struct PostgresStore {
    pool: sqlx::PgPool,
    series: SeriesCache,
}

impl PostgresStore {
    /// Where write transactions run: the pool (the server has no single-writer lock).
    pub(crate) fn write_pool(&self) -> &sqlx::PgPool {
        &self.pool
    }

    /// Connects to `url` and applies every pending migration. The URL may pick a schema
    /// with `?options=-c%20search_path%3DNAME` (the tests use one schema per test).
    pub async fn connect(url: &str) -> StoreResult<PostgresStore> {
        PostgresStore::connect_with_migrations(url, MIGRATIONS).await
    }

    /// [`PostgresStore::connect`] with an explicit migration list: for tests of upgrades.
    pub async fn connect_with_migrations(
        url: &str,
        migrations: &[EmbeddedMigration],
    ) -> StoreResult<PostgresStore> {
        let options = PgConnectOptions::from_str(url)
            .map_err(|error| backend(format!("invalid PostgreSQL URL: {error}")))?;
        let server = format!("{}:{}", options.get_host(), options.get_port());
        // One connection first, under our own deadline and without retries: the pool's
        // `connect_with` retries a refused connection and waits for its acquire timeout
        // (30 s) when the server does not answer.
        match tokio::time::timeout(CONNECT_TIMEOUT, PgConnection::connect_with(&options)).await {
            Ok(Ok(connection)) => {
                let _ = connection.close().await;
            }
            Ok(Err(error)) => {
                return Err(backend(format!(
                    "cannot connect to PostgreSQL at {server}: {error}"
                )));
            }
            Err(_) => {
                return Err(backend(format!(
                    "cannot connect to PostgreSQL at {server}: no answer within {} s",
                    CONNECT_TIMEOUT.as_secs()
                )));
            }
        }
        let pool = PgPoolOptions::new()
            .max_connections(POOL_SIZE)
            .connect_lazy_with(options);
        migrator(migrations)
            .run(&pool)
            .await
            .map_err(|error| backend(format!("cannot migrate the PostgreSQL database: {error}")))?;
        Ok(PostgresStore {
            pool,
            series: SeriesCache::default(),
        })
    }
}
