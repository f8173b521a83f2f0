//! PLACEHOLDER: the SQLite backend is being written.
use crate::StoreResult;
use std::path::Path;

/// The embedded backend.
pub struct SqliteStore;

impl SqliteStore {
    pub async fn open(_path: &Path) -> StoreResult<SqliteStore> {
        todo!("sqlite backend")
    }
}
