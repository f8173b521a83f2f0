//! Choosing a backend from a database URL.

use crate::{MySqlStore, PostgresStore, SqliteStore, Store, StoreError, StoreResult};
use std::path::Path;
use std::sync::Arc;

/// The URL of the embedded SQLite database in a data directory (`<dir>/hearth.db`).
pub fn sqlite_url(data_dir: &Path) -> String {
    format!("sqlite://{}", data_dir.join("hearth.db").display())
}

/// Opens the store at `url` (`sqlite://PATH`, `postgres://...` or `mysql://...` /
/// `mariadb://...`), creating the SQLite file if needed and running every pending
/// migration, so that an older database is upgraded in place before anything reads it.
pub async fn open(url: &str) -> StoreResult<Arc<dyn Store>> {
    if let Some(path) = url.strip_prefix("sqlite://") {
        Ok(Arc::new(SqliteStore::open(Path::new(path)).await?))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(PostgresStore::connect(url).await?))
    } else if url.starts_with("mysql://") || url.starts_with("mariadb://") {
        Ok(Arc::new(MySqlStore::connect(url).await?))
    } else {
        Err(unsupported(url))
    }
}

/// The refusal of a URL no backend takes. It names the scheme only: the rest of a URL
/// may hold a password, and this text reaches logs and `hearth doctor`.
pub(crate) fn unsupported(url: &str) -> StoreError {
    let scheme = url.split_once("://").map_or("(none)", |(scheme, _)| scheme);
    StoreError::Refused(format!(
        "unsupported database URL scheme {scheme:?}: use sqlite://PATH, \
         postgres://USER:PASSWORD@HOST/DB or mysql://USER:PASSWORD@HOST/DB"
    ))
}
