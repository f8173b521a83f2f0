//! Consistent copies of the SQL store for `hearth backup`, taken while a hub may be
//! running on it, and the emptiness check `hearth restore` makes before it writes.
//!
//! SQLite in WAL mode lets another connection (another process, too) read a consistent
//! snapshot while the hub writes: `VACUUM INTO` runs inside one read transaction and
//! writes a compact, self-contained database file (no `-wal` beside it). So the backup
//! needs no help from the running hub for the SQL part; the redb broker state does (see
//! `RedbBrokerStore::snapshotter`). PostgreSQL is copied with its own `pg_dump` by the
//! binary, not here.

use crate::{StoreError, StoreResult};
use sqlx::{ConnectOptions, Connection};
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

/// How long the snapshot waits for a hub's write transaction to let go of the file.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// Writes a consistent copy of the SQLite database `source` to `dest` (which must not
/// exist) with `VACUUM INTO`. Migrations are not run and nothing in `source` changes, so
/// this is safe beside a running hub.
pub async fn sqlite_vacuum_into(source: &Path, dest: &Path) -> StoreResult<()> {
    if !source.is_file() {
        return Err(StoreError::Refused(format!(
            "{}: no SQLite database there",
            source.display()
        )));
    }
    let mut connection = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(source)
        .create_if_missing(false)
        .busy_timeout(BUSY_TIMEOUT)
        .connect()
        .await
        .map_err(|error| backend(format!("cannot open {}: {error}", source.display())))?;
    let dest_text = dest
        .to_str()
        .ok_or_else(|| StoreError::Refused(format!("{}: not UTF-8", dest.display())))?;
    let result = sqlx::query("VACUUM INTO ?")
        .bind(dest_text)
        .execute(&mut connection)
        .await
        .map_err(|error| backend(format!("VACUUM INTO {}: {error}", dest.display())));
    let _ = connection.close().await;
    result.map(drop)
}

/// Whether the PostgreSQL database at `url` has no tables of its own (outside the
/// system schemas): `hearth restore` refuses to restore over a database that has some
/// unless told to with `--force`.
pub async fn postgres_is_empty(url: &str) -> StoreResult<bool> {
    let options = sqlx::postgres::PgConnectOptions::from_str(url)
        .map_err(|error| backend(format!("invalid PostgreSQL URL: {error}")))?;
    let mut connection = sqlx::PgConnection::connect_with(&options)
        .await
        .map_err(|error| backend(format!("cannot connect to PostgreSQL: {error}")))?;
    let tables: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM information_schema.tables \
         WHERE table_schema NOT IN ('pg_catalog', 'information_schema') \
         AND table_schema NOT LIKE 'pg\\_%'",
    )
    .fetch_one(&mut connection)
    .await
    .map_err(|error| backend(format!("counting tables: {error}")))?;
    let _ = connection.close().await;
    Ok(tables == 0)
}

fn backend(message: String) -> StoreError {
    StoreError::Backend(message)
}
