//! The MariaDB backend (`--database mysql://...` or `mariadb://...`), for households
//! and businesses that already run one (four of the five seeds keep their data in
//! MySQL or MariaDB).
//!
//! The queries are not here: the files under `src/sql/` are included below against
//! `type Db = sqlx::MySql`, each statement passed through [`dialect::translate`] (`$N`
//! placeholders, upserts, casts). What differs otherwise lives in this directory: how to
//! connect and set up a session, the DDL (`migrations/mysql/`), how to begin a
//! transaction and the bulk inserts of ingest (`ingest.rs`).
//!
//! Every session runs with `ANSI_QUOTES,PIPES_AS_CONCAT,NO_BACKSLASH_ESCAPES` (the SQL
//! the other backends share), strict mode (an out-of-range or truncated value is an
//! error, never a warning), UTC, and READ COMMITTED: row locks and unique indexes
//! serialize writers as on PostgreSQL, without REPEATABLE READ's gap locks, which made
//! concurrent inserts into the same index range deadlock.

use crate::StoreResult;
use crate::sql::{EmbeddedMigration, SeriesCache, backend, migrator};
use sqlx::mysql::{MySqlConnectOptions, MySqlConnection, MySqlPoolOptions};
use sqlx::{Connection, Database, Executor};
use std::borrow::Cow;
use std::str::FromStr;
use std::time::Duration;

type Db = sqlx::MySql;
type ThisStore = MySqlStore;

/// What [`crate::Store::backend`] says.
const BACKEND: &str = "mysql";
/// Row locks and unique indexes serialize writers; READ COMMITTED (the session's) is enough.
const BEGIN_WRITE: &str = "BEGIN";
/// One snapshot for every statement of the transaction: REPEATABLE READ for this one
/// transaction only (the session stays READ COMMITTED).
const BEGIN_SNAPSHOT: &str = "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ; \
                              START TRANSACTION READ ONLY, WITH CONSISTENT SNAPSHOT";
/// No row id: compaction deletes with `ORDER BY ... LIMIT` instead (see `sql/compact.rs`).
const ROW_ID: Option<&str> = None;

/// The session every pooled connection gets (see the module doc).
const SESSION_SETUP: &str = "SET SESSION sql_mode = 'ANSI_QUOTES,PIPES_AS_CONCAT,\
    NO_BACKSLASH_ESCAPES,STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION,NO_ZERO_DATE,\
    NO_ZERO_IN_DATE,ERROR_FOR_DIVISION_BY_ZERO', time_zone = '+00:00'; \
    SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED";

/// What [`statement`] makes, for functions that return one.
type Statement<'q> = bound::Bound<'q>;

/// A query of the shared files, in MariaDB's dialect (see `dialect.rs`), taking its
/// values in `$N` order (see `bound.rs`).
fn statement<'q>(sql: &str) -> bound::Bound<'q> {
    let (translated, order) = dialect::translate(sql);
    bound::Bound::new(translated.into_owned(), order)
}

/// [`statement`] for one column.
fn scalar<'q, O>(sql: &str) -> bound::BoundScalar<'q, O>
where
    O: Send + Unpin,
    (O,): for<'r> sqlx::FromRow<'r, <Db as Database>::Row>,
{
    let (translated, order) = dialect::translate(sql);
    bound::BoundScalar::new(translated.into_owned(), order)
}

/// A fragment pushed into a `QueryBuilder` (which writes its own `?` placeholders), in
/// MariaDB's dialect.
fn dialect(sql: &'static str) -> Cow<'static, str> {
    dialect::fragment(sql)
}

// The shared query files, compiled here against `Db` (and again in the other backends:
// the repeated inclusion is the point, see `sql/mod.rs`).
crate::sql::include_shared_queries!();
/// The multi-row INSERTs of ingest, shared with the other backend that uses them.
#[allow(clippy::duplicate_mod)]
#[path = "../sql/ingest_rows.rs"]
mod ingest_rows;

/// Values bound in `$N` order, sent in `?` order.
mod bound;
/// The shared queries in MariaDB's dialect.
mod dialect;
/// This backend's half of `write_batch` (multi-row INSERTs, one UPDATE ... JOIN).
mod ingest;

/// Connections in the pool (opened on demand).
const POOL_SIZE: u32 = 8;

/// How long a connection given back to the pool may take to answer a ping before it is
/// closed instead (see `after_release` in [`MySqlStore::connect_with_migrations`]).
const RELEASE_PING_TIMEOUT: Duration = Duration::from_secs(2);

/// How long [`MySqlStore::connect`] waits for the server before it gives up.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The schema (registry, then history), oldest first. Append new migrations; never edit applied ones.
pub const MIGRATIONS: &[EmbeddedMigration] = &[
    (
        1,
        "registry",
        include_str!("../../migrations/mysql/0001_registry.sql"),
    ),
    (
        2,
        "history",
        include_str!("../../migrations/mysql/0002_history.sql"),
    ),
    (
        3,
        "auth",
        include_str!("../../migrations/mysql/0003_auth.sql"),
    ),
    (
        4,
        "commands",
        include_str!("../../migrations/mysql/0004_commands.sql"),
    ),
    (
        5,
        "automations",
        include_str!("../../migrations/mysql/0005_automations.sql"),
    ),
    (
        6,
        "automation_gates",
        include_str!("../../migrations/mysql/0006_automation_gates.sql"),
    ),
    (
        7,
        "alerts",
        include_str!("../../migrations/mysql/0007_alerts.sql"),
    ),
    (
        8,
        "notification_prefs",
        include_str!("../../migrations/mysql/0008_notification_prefs.sql"),
    ),
    (
        9,
        "device_certs",
        include_str!("../../migrations/mysql/0009_device_certs.sql"),
    ),
    (
        10,
        "firmware",
        include_str!("../../migrations/mysql/0010_firmware.sql"),
    ),
    (
        11,
        "device_time",
        include_str!("../../migrations/mysql/0011_device_time.sql"),
    ),
    (
        12,
        "layouts",
        include_str!("../../migrations/mysql/0012_layouts.sql"),
    ),
    (
        13,
        "discovery",
        include_str!("../../migrations/mysql/0013_discovery.sql"),
    ),
    (
        14,
        "history blocks",
        include_str!("../../migrations/mysql/0014_history_blocks.sql"),
    ),
    (
        15,
        "message_retention",
        include_str!("../../migrations/mysql/0015_message_retention.sql"),
    ),
    (
        16,
        "sites",
        include_str!("../../migrations/mysql/0016_sites.sql"),
    ),
    (
        17,
        "registry mirror",
        include_str!("../../migrations/mysql/0017_registry_mirror.sql"),
    ),
    (
        18,
        "claims",
        include_str!("../../migrations/mysql/0018_claims.sql"),
    ),
    (
        19,
        "user identities",
        include_str!("../../migrations/mysql/0019_user_identities.sql"),
    ),
    (
        20,
        "leases",
        include_str!("../../migrations/mysql/0020_leases.sql"),
    ),
    (
        21,
        "device main",
        include_str!("../../migrations/mysql/0021_device_main.sql"),
    ),
];

/// The MariaDB backend (a connection pool).
pub struct MySqlStore {
    pool: sqlx::MySqlPool,
    series: SeriesCache,
}

impl MySqlStore {
    /// Where write transactions run: the pool (the server has no single-writer lock).
    pub(crate) fn write_pool(&self) -> &sqlx::MySqlPool {
        &self.pool
    }

    /// Connects to `url` (`mysql://USER:PASSWORD@HOST:PORT/DATABASE`, or `mariadb://`)
    /// and applies every pending migration.
    pub async fn connect(url: &str) -> StoreResult<MySqlStore> {
        MySqlStore::connect_with_migrations(url, MIGRATIONS).await
    }

    /// [`MySqlStore::connect`] with an explicit migration list: for tests of upgrades.
    pub async fn connect_with_migrations(
        url: &str,
        migrations: &[EmbeddedMigration],
    ) -> StoreResult<MySqlStore> {
        let options = MySqlConnectOptions::from_str(url)
            .map_err(|error| backend(format!("invalid MariaDB URL: {error}")))?
            .charset("utf8mb4");
        if options.get_database().is_none() {
            return Err(backend(
                "the MariaDB URL names no database: mysql://USER:PASSWORD@HOST/DATABASE",
            ));
        }
        let server = format!("{}:{}", options.get_host(), options.get_port());
        // One connection first, under our own deadline and without retries (as for
        // PostgreSQL: the pool would retry for its 30 s acquire timeout).
        match tokio::time::timeout(CONNECT_TIMEOUT, MySqlConnection::connect_with(&options)).await {
            Ok(Ok(mut connection)) => {
                // The session setup too, so that a server that refuses it says so here
                // (in the pool it would only end in the 30 s acquire timeout).
                let setup = connection.execute(SESSION_SETUP).await;
                let _ = connection.close().await;
                if let Err(error) = setup {
                    return Err(backend(format!(
                        "MariaDB at {server} refuses Hearth's session settings: {error}"
                    )));
                }
            }
            Ok(Err(error)) => {
                return Err(backend(format!(
                    "cannot connect to MariaDB at {server}: {error}"
                )));
            }
            Err(_) => {
                return Err(backend(format!(
                    "cannot connect to MariaDB at {server}: no answer within {} s",
                    CONNECT_TIMEOUT.as_secs()
                )));
            }
        }
        let pool = MySqlPoolOptions::new()
            .max_connections(POOL_SIZE)
            .after_connect(|connection, _| {
                Box::pin(async move {
                    connection.execute(SESSION_SETUP).await?;
                    Ok(())
                })
            })
            // A query whose future was dropped mid-way (a task aborted at shutdown, an
            // HTTP request whose client went away) can leave the connection out of step
            // with the server, and sqlx's own check on release, a ping without a
            // deadline, then waits forever: the connection never comes back, and
            // `close()` waits for it (seen as a hung restart in the tests). Our ping has
            // a deadline; a connection that misses it is closed, not returned.
            .after_release(|connection, _| {
                Box::pin(async move {
                    Ok(matches!(
                        tokio::time::timeout(RELEASE_PING_TIMEOUT, connection.ping()).await,
                        Ok(Ok(()))
                    ))
                })
            })
            .connect_lazy_with(options);
        migrator(migrations)
            .run(&pool)
            .await
            .map_err(|error| backend(format!("cannot migrate the MariaDB database: {error}")))?;
        Ok(MySqlStore {
            pool,
            series: SeriesCache::default(),
        })
    }
}
