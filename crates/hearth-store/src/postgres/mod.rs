//! The server backend: a PostgreSQL database given by URL (`--database postgres://...`).
//!
//! The queries are not here: the files under `src/sql/` are included below against
//! `type Db = sqlx::Postgres` (see `sql/mod.rs` for why). Only what differs from SQLite
//! lives in this file: how to connect, the DDL (`migrations/postgres/`) and how to begin
//! a transaction.

use crate::StoreResult;
use crate::sql::{EmbeddedMigration, backend, migrator};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use std::str::FromStr;

type Db = sqlx::Postgres;
type ThisStore = PostgresStore;

/// What [`crate::Store::backend`] says.
const BACKEND: &str = "postgres";
/// Row locks and unique indexes serialize writers; READ COMMITTED is enough.
const BEGIN_WRITE: &str = "BEGIN";
/// One snapshot for every statement of the transaction.
const BEGIN_SNAPSHOT: &str = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY";

// The shared query files, compiled here against `Db` (and again in the other backend:
// the double inclusion is the point, see `sql/mod.rs`).
#[allow(clippy::duplicate_mod)]
#[path = "../sql/audit.rs"]
mod audit;
#[allow(clippy::duplicate_mod)]
#[path = "../sql/devices.rs"]
mod devices;
#[allow(clippy::duplicate_mod)]
#[path = "../sql/registry.rs"]
mod registry;

/// Connections in the pool (opened on demand).
const POOL_SIZE: u32 = 8;

/// The registry's schema, oldest first. Append new migrations; never edit applied ones.
pub const MIGRATIONS: &[EmbeddedMigration] = &[(
    1,
    "registry",
    include_str!("../../migrations/postgres/0001_registry.sql"),
)];

/// The server backend (a connection pool).
pub struct PostgresStore {
    pool: sqlx::PgPool,
}

impl PostgresStore {
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
        let pool = PgPoolOptions::new()
            .max_connections(POOL_SIZE)
            .connect_with(options)
            .await
            .map_err(|error| backend(format!("cannot connect to PostgreSQL: {error}")))?;
        migrator(migrations)
            .run(&pool)
            .await
            .map_err(|error| backend(format!("cannot migrate the PostgreSQL database: {error}")))?;
        Ok(PostgresStore { pool })
    }
}
