//! Whether a database answers and its schema is the one this build expects, found
//! without changing anything (for `hearth doctor`: a check must never migrate, create
//! or lock a database another hub is using). [`crate::open`] is what migrates.

use crate::error::{StoreError, StoreResult};
use crate::sql::{EmbeddedMigration, migrator};
use sqlx::Connection;
use std::path::Path;
use std::time::Duration;

/// How long a check waits for the database to answer.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The schema of a database compared with this build's migrations.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SchemaState {
    /// `sqlite`, `postgres` or `mysql`.
    pub backend: &'static str,
    /// The SQLite file does not exist yet (`hearth serve` creates it).
    pub missing: bool,
    /// Migrations applied and unchanged.
    pub applied: usize,
    /// Known migrations not applied yet (the next `hearth serve` applies them).
    pub pending: Vec<i64>,
    /// Applied migrations whose SQL differs from this build's: an edited migration
    /// file, or a database made by another build. `hearth serve` refuses it.
    pub edited: Vec<i64>,
    /// Migrations recorded as failed, half applied.
    pub failed: Vec<i64>,
    /// Applied migrations this build does not know: a newer build made the database.
    pub unknown: Vec<i64>,
    /// The newest time recorded in the store (audit log, messages), for a clock check.
    pub newest_ms: Option<i64>,
}

/// Reads the schema state at `url` (`sqlite://PATH`, `postgres://...` or `mysql://...`)
/// without writing: SQLite is opened read-only and not created.
pub async fn check_schema(url: &str) -> StoreResult<SchemaState> {
    if let Some(path) = url.strip_prefix("sqlite://") {
        check_sqlite(Path::new(path), crate::sqlite::MIGRATIONS).await
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        check_postgres(url, crate::postgres::MIGRATIONS).await
    } else if url.starts_with("mysql://") || url.starts_with("mariadb://") {
        check_mariadb(url, crate::mysql::MIGRATIONS).await
    } else {
        Err(crate::open::unsupported(url))
    }
}

type Recorded = Vec<(i64, Vec<u8>, bool)>;

async fn check_sqlite(path: &Path, migrations: &[EmbeddedMigration]) -> StoreResult<SchemaState> {
    if !path.exists() {
        return Ok(SchemaState {
            backend: "sqlite",
            missing: true,
            pending: migrations.iter().map(|m| m.0).collect(),
            ..SchemaState::default()
        });
    }
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(path)
        .read_only(true)
        .busy_timeout(CONNECT_TIMEOUT);
    let mut connection = tokio::time::timeout(
        CONNECT_TIMEOUT,
        sqlx::SqliteConnection::connect_with(&options),
    )
    .await
    .map_err(|_| StoreError::Backend(format!("{} did not answer in time", path.display())))?
    .map_err(|error| StoreError::Backend(format!("cannot open {}: {error}", path.display())))?;
    let has_table: Option<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
    )
    .fetch_optional(&mut connection)
    .await
    .map_err(read_error)?;
    let recorded: Recorded = if has_table.is_some() {
        sqlx::query_as("SELECT version, checksum, success FROM _sqlx_migrations")
            .fetch_all(&mut connection)
            .await
            .map_err(read_error)?
    } else {
        Vec::new()
    };
    let newest_ms = if recorded.is_empty() {
        None
    } else {
        newest_sqlite(&mut connection).await
    };
    Ok(compare("sqlite", migrations, &recorded, newest_ms))
}

/// The check of a database server: connect under a deadline, find the migration table
/// with `$has_table` (a count, 0 or 1), read what it recorded and compare. One function
/// per backend: the steps are the same, the connection type and that query are not.
macro_rules! check_server_fn {
    ($name:ident, $connection:ty, $backend:literal, $has_table:literal, $newest:ident) => {
        async fn $name(url: &str, migrations: &[EmbeddedMigration]) -> StoreResult<SchemaState> {
            let mut connection = tokio::time::timeout(CONNECT_TIMEOUT, <$connection>::connect(url))
                .await
                .map_err(|_| StoreError::Backend("the database did not answer in time".into()))?
                .map_err(|error| StoreError::Backend(format!("cannot connect: {error}")))?;
            let has_table: i64 = sqlx::query_scalar($has_table)
                .fetch_one(&mut connection)
                .await
                .map_err(read_error)?;
            let recorded: Recorded = if has_table > 0 {
                sqlx::query_as("SELECT version, checksum, success FROM _sqlx_migrations")
                    .fetch_all(&mut connection)
                    .await
                    .map_err(read_error)?
            } else {
                Vec::new()
            };
            let newest_ms = if recorded.is_empty() {
                None
            } else {
                $newest(&mut connection).await
            };
            Ok(compare($backend, migrations, &recorded, newest_ms))
        }
    };
}
check_server_fn!(
    check_postgres,
    sqlx::PgConnection,
    "postgres",
    // `to_regclass` follows the connection's search_path (the tests' schema).
    "SELECT COUNT(to_regclass('_sqlx_migrations'))",
    newest_postgres
);
check_server_fn!(
    check_mariadb,
    sqlx::MySqlConnection,
    "mysql",
    "SELECT COUNT(*) FROM information_schema.tables \
     WHERE table_schema = DATABASE() AND table_name = '_sqlx_migrations'",
    newest_mariadb
);

/// The newest audit entry or message time; `None` if neither table can be read.
/// One function per backend: the query is the same, the connection type is not.
macro_rules! newest_fn {
    ($name:ident, $connection:ty) => {
        async fn $name(connection: &mut $connection) -> Option<i64> {
            let mut newest = None;
            for sql in [
                "SELECT MAX(at_ms) FROM audit_log",
                "SELECT MAX(received_at_ms) FROM messages",
            ] {
                if let Ok(Some(value)) = sqlx::query_scalar::<_, Option<i64>>(sql)
                    .fetch_one(&mut *connection)
                    .await
                {
                    newest = newest.max(Some(value));
                }
            }
            newest
        }
    };
}
newest_fn!(newest_sqlite, sqlx::SqliteConnection);
newest_fn!(newest_postgres, sqlx::PgConnection);
newest_fn!(newest_mariadb, sqlx::MySqlConnection);

fn compare(
    backend: &'static str,
    migrations: &[EmbeddedMigration],
    recorded: &Recorded,
    newest_ms: Option<i64>,
) -> SchemaState {
    let expected = migrator(migrations);
    let mut state = SchemaState {
        backend,
        newest_ms,
        ..SchemaState::default()
    };
    for migration in expected.iter() {
        match recorded
            .iter()
            .find(|(version, ..)| *version == migration.version)
        {
            None => state.pending.push(migration.version),
            Some((version, _, false)) => state.failed.push(*version),
            Some((version, checksum, true)) if checksum[..] != migration.checksum[..] => {
                state.edited.push(*version)
            }
            Some(_) => state.applied += 1,
        }
    }
    state.unknown = recorded
        .iter()
        .map(|(version, ..)| *version)
        .filter(|version| expected.iter().all(|m| m.version != *version))
        .collect();
    state
}

fn read_error(error: sqlx::Error) -> StoreError {
    StoreError::Backend(format!("cannot read the migration table: {error}"))
}
