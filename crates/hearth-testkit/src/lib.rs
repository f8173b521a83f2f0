//! Test fixtures shared by Hearth's crates: a fresh, migrated store on any backend, and
//! [`both_backends!`] to write a store test once and run it on SQLite, PostgreSQL and
//! MariaDB.
//!
//! PostgreSQL comes from the environment: `HEARTH_TEST_POSTGRES` is the URL of a database
//! the tests may create schemas in (`make test` starts a throw-away cluster with
//! `scripts/test-postgres.sh` and sets it). Each test gets its own schema `t_<unique>`,
//! selected through the connection's `search_path` and dropped afterwards, so tests run
//! in parallel without seeing each other. Without the variable, PostgreSQL tests panic
//! with instructions: they are never skipped silently. MariaDB likewise comes from
//! `HEARTH_TEST_MARIADB` (`scripts/test-mariadb.sh`), a server where the tests may create
//! databases: each test gets its own database `t_<unique>`, dropped afterwards.
//!
//! # Layout
//! - [`Backend`], [`test_store`] and [`TestStore`]: a store to test against.
//! - [`database_url`] and [`DatabaseGuard`]: a fresh database URL, for tests that open
//!   the store themselves (upgrades) or pass `--database` to the binary.
//! - [`both_backends!`]: one test, every backend (the name is older than the third).
//! - [`both_backends_hub!`]: one test that starts a hub, every backend.
//! - [`start_hub`] and [`TestHub`]: a whole hub on port 0, as `hearth serve` runs it.
//! - [`client`]: the API with a session ([`client::Api`]), an MQTT 3.1.1 client whose
//!   packets a test reads as they come ([`client::Mqtt`]), and [`client::eventually`].
//! - [`devices`]: simulated devices over real MQTT ([`devices::TestDevice`]).
//! - [`http`]: a loopback HTTP receiver for what the hub sends out.
//! - [`ids`]: `device("d1")`, `app("default")`... for the typed ids the registry takes.

pub mod client;
pub mod devices;
pub mod http;
mod hub;
pub mod ids;
pub mod mosquitto;

pub use hub::{ADMIN_PASSWORD, TestHub, start_hub, start_hub_with, start_hub_with_clock};

use hearth_store::Store;
use sqlx::Connection;
use std::ops::Deref;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// The environment variable naming the PostgreSQL database tests may use.
pub const POSTGRES_ENV: &str = "HEARTH_TEST_POSTGRES";

/// The environment variable naming the MariaDB server (as a database URL) tests may use.
pub const MARIADB_ENV: &str = "HEARTH_TEST_MARIADB";

/// Which database a test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
    MariaDb,
}

/// A fresh, migrated store and what must outlive it (its temporary directory or
/// schema). Derefs to `Arc<dyn Store>`.
pub struct TestStore {
    store: Arc<dyn Store>,
    // Dropped after `store` (fields drop in declaration order).
    _guard: DatabaseGuard,
}

impl TestStore {
    /// A handle to the store (the database lives as long as this `TestStore`).
    pub fn store(&self) -> Arc<dyn Store> {
        self.store.clone()
    }
}

impl Deref for TestStore {
    type Target = Arc<dyn Store>;

    fn deref(&self) -> &Arc<dyn Store> {
        &self.store
    }
}

/// Opens a fresh store on `backend` (a new SQLite file or a new PostgreSQL schema).
///
/// # Panics
/// If the store cannot be opened, or for PostgreSQL if `HEARTH_TEST_POSTGRES` is unset.
pub async fn test_store(backend: Backend) -> TestStore {
    let (url, guard) = database_url(backend);
    let store = hearth_store::open(&url)
        .await
        .unwrap_or_else(|error| panic!("cannot open the test store at {url}: {error}"));
    TestStore {
        store,
        _guard: guard,
    }
}

/// Keeps a test database alive: a temporary directory (SQLite) or a schema (PostgreSQL),
/// removed or dropped (best effort) when this is dropped.
pub struct DatabaseGuard {
    inner: Guarded,
}

enum Guarded {
    Directory(#[allow(dead_code)] tempfile::TempDir),
    Schema { base_url: String, schema: String },
    MariaDbDatabase { base_url: String, database: String },
}

impl Drop for DatabaseGuard {
    fn drop(&mut self) {
        match &self.inner {
            Guarded::Schema { base_url, schema } => {
                // Best effort: a leftover schema costs disk space in a throw-away
                // cluster, so give up rather than wait on a lock a leaked connection
                // still holds (say, after a panic inside a transaction).
                let sql =
                    format!("SET lock_timeout = '5s'; DROP SCHEMA IF EXISTS {schema} CASCADE");
                let _ = run_postgres(base_url, sql);
            }
            Guarded::MariaDbDatabase { base_url, database } => {
                // Best effort, as above.
                let sql = format!(
                    "SET SESSION lock_wait_timeout = 5; DROP DATABASE IF EXISTS {database}"
                );
                let _ = run_mariadb(base_url, sql);
            }
            Guarded::Directory(_) => {}
        }
    }
}

/// A URL for a fresh, empty database on `backend`, not yet migrated: `sqlite://` of a
/// file in a new temporary directory, or for PostgreSQL the `HEARTH_TEST_POSTGRES`
/// database with a new schema as `search_path` (`?options=-c search_path=t_...`).
/// Pass it to `hearth_store::open` or to the binary's `--database`. Synchronous, so that
/// tests of the binary can call it without a runtime.
///
/// # Panics
/// For PostgreSQL if `HEARTH_TEST_POSTGRES` is unset or the schema cannot be created.
pub fn database_url(backend: Backend) -> (String, DatabaseGuard) {
    match backend {
        Backend::Sqlite => {
            let directory = tempfile::tempdir().expect("cannot create a temporary directory");
            let url = format!("sqlite://{}", directory.path().join("hearth.db").display());
            let guard = DatabaseGuard {
                inner: Guarded::Directory(directory),
            };
            (url, guard)
        }
        Backend::Postgres => {
            let base_url = postgres_base_url();
            let schema = unique_schema_name();
            if let Err(error) = run_postgres(&base_url, format!("CREATE SCHEMA {schema}")) {
                panic!("cannot create schema {schema} in {POSTGRES_ENV}={base_url}: {error}");
            }
            let separator = if base_url.contains('?') { '&' } else { '?' };
            let url = format!("{base_url}{separator}options=-c%20search_path%3D{schema}");
            let guard = DatabaseGuard {
                inner: Guarded::Schema { base_url, schema },
            };
            (url, guard)
        }
        Backend::MariaDb => {
            let base_url = mariadb_base_url();
            let database = unique_schema_name();
            if let Err(error) = run_mariadb(
                &base_url,
                format!("CREATE DATABASE {database} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"),
            ) {
                panic!("cannot create database {database} in {MARIADB_ENV}={base_url}: {error}");
            }
            let url = match base_url.rsplit_once('/') {
                Some((server, _)) => format!("{server}/{database}"),
                None => panic!("{MARIADB_ENV}={base_url} is not mysql://USER:PASSWORD@HOST/DB"),
            };
            let guard = DatabaseGuard {
                inner: Guarded::MariaDbDatabase { base_url, database },
            };
            (url, guard)
        }
    }
}

/// `HEARTH_TEST_MARIADB`, or a panic that says how to get one.
fn mariadb_base_url() -> String {
    match std::env::var(MARIADB_ENV) {
        Ok(url) if !url.is_empty() => url,
        _ => panic!(
            "{MARIADB_ENV} is not set: the MariaDB tests need a server they may create \
             databases on. Run `make test` (it starts a throw-away server), or start one:\n\
             \x20   export {MARIADB_ENV}=$(scripts/test-mariadb.sh start)\n\
             \x20   cargo nextest run ...\n\
             \x20   scripts/test-mariadb.sh stop"
        ),
    }
}

/// [`run_postgres`] for MariaDB (statements separated by `;`, sent as one batch).
fn run_mariadb(url: &str, sql: String) -> Result<(), String> {
    let url = url.to_owned();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|error| error.to_string())?;
        runtime.block_on(async {
            let mut conn = sqlx::MySqlConnection::connect(&url)
                .await
                .map_err(|error| error.to_string())?;
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                .execute(&mut conn)
                .await
                .map_err(|error| error.to_string())?;
            conn.close().await.map_err(|error| error.to_string())
        })
    })
    .join()
    .unwrap_or_else(|_| Err("the MariaDB helper thread panicked".to_owned()))
}

/// `HEARTH_TEST_POSTGRES`, or a panic that says how to get one.
fn postgres_base_url() -> String {
    match std::env::var(POSTGRES_ENV) {
        Ok(url) if !url.is_empty() => url,
        _ => panic!(
            "{POSTGRES_ENV} is not set: PostgreSQL tests need a database URL.\n\
             Run `make test` (it starts a throw-away cluster), or start one yourself:\n\
             \x20   export {POSTGRES_ENV}=$(scripts/test-postgres.sh start)\n\
             \x20   cargo nextest run ...\n\
             \x20   scripts/test-postgres.sh stop"
        ),
    }
}

/// `t_<pid>_<nanos>_<counter>`: unique across the test processes nextest runs at once.
fn unique_schema_name() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.subsec_nanos())
        .unwrap_or(0);
    format!(
        "t_{}_{}_{}",
        std::process::id(),
        nanos,
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// Runs one statement on `url` from a thread of its own with its own runtime, so that
/// it works from synchronous code, from `Drop`, and inside a test's runtime alike.
fn run_postgres(url: &str, sql: String) -> Result<(), String> {
    let url = url.to_owned();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|error| error.to_string())?;
        runtime.block_on(async {
            let mut conn = sqlx::PgConnection::connect(&url)
                .await
                .map_err(|error| error.to_string())?;
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                .execute(&mut conn)
                .await
                .map_err(|error| error.to_string())?;
            conn.close().await.map_err(|error| error.to_string())
        })
    })
    .join()
    .unwrap_or_else(|_| Err("the PostgreSQL helper thread panicked".to_owned()))
}

/// Runs `async fn NAME(store: Arc<dyn Store>)` once per backend, as three tests
/// `NAME::sqlite`, `NAME::postgres` and `NAME::mariadb` (each with a fresh store). The calling crate
/// needs `tokio` with the `macros` and `rt` features.
///
/// ```ignore
/// async fn devices_round_trip(store: Arc<dyn Store>) { ... }
/// hearth_testkit::both_backends!(devices_round_trip, groups_round_trip);
/// ```
#[macro_export]
macro_rules! both_backends {
    ($($test:ident),+ $(,)?) => {$(
        // A module and a function may share a name (different namespaces).
        mod $test {
            #[::tokio::test]
            async fn sqlite() {
                let test_store = $crate::test_store($crate::Backend::Sqlite).await;
                super::$test(test_store.store()).await;
            }

            #[::tokio::test]
            async fn postgres() {
                let test_store = $crate::test_store($crate::Backend::Postgres).await;
                super::$test(test_store.store()).await;
            }

            #[::tokio::test]
            async fn mariadb() {
                let test_store = $crate::test_store($crate::Backend::MariaDb).await;
                super::$test(test_store.store()).await;
            }
        }
    )+};
}

/// Runs `async fn NAME(backend: Backend)` once per backend, as three tests
/// `NAME::sqlite`, `NAME::postgres` and `NAME::mariadb`: [`both_backends!`] for tests that start a hub ([`start_hub`]),
/// which opens a fresh store of its own on the backend it is given. The calling crate
/// needs `tokio` with the `macros` and `rt` features.
///
/// ```ignore
/// async fn devices_log_in(backend: Backend) {
///     let hub = hearth_testkit::start_hub(backend).await;
///     ...
/// }
/// hearth_testkit::both_backends_hub!(devices_log_in);
/// ```
#[macro_export]
macro_rules! both_backends_hub {
    ($($test:ident),+ $(,)?) => {$(
        mod $test {
            #[::tokio::test]
            async fn sqlite() {
                super::$test($crate::Backend::Sqlite).await;
            }

            #[::tokio::test]
            async fn postgres() {
                super::$test($crate::Backend::Postgres).await;
            }

            #[::tokio::test]
            async fn mariadb() {
                super::$test($crate::Backend::MariaDb).await;
            }
        }
    )+};
}
