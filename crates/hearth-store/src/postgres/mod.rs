//! PLACEHOLDER: the PostgreSQL backend is being written.
use crate::StoreResult;

/// The server backend.
pub struct PostgresStore;

impl PostgresStore {
    pub async fn connect(_url: &str) -> StoreResult<PostgresStore> {
        todo!("postgres backend")
    }
}
