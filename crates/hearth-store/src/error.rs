//! [`StoreError`]: what can go wrong in storage, without leaking the database library.

/// Every storage failure. Callers match on the first three to answer the user (404, 409,
/// 400 in the API; exit status 1 with a message in the CLI); `Backend` is a fault of the
/// database or the disk and is logged, not shown.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The record does not exist. `what` is `device`, `group`, `user`, `application`...
    #[error("{what} {id:?} not found")]
    NotFound { what: &'static str, id: String },
    /// A record with this id (or key) already exists.
    #[error("{what} {id:?} already exists")]
    Conflict { what: &'static str, id: String },
    /// The change would break the registry's structure, e.g. deleting a group that still
    /// has applications. The message says what to do instead.
    #[error("{0}")]
    Refused(String),
    /// The database failed (connection lost, disk full, corrupt file...).
    #[error("database error: {0}")]
    Backend(String),
}

impl StoreError {
    pub fn not_found(what: &'static str, id: impl std::fmt::Display) -> StoreError {
        StoreError::NotFound {
            what,
            id: id.to_string(),
        }
    }

    pub fn conflict(what: &'static str, id: impl std::fmt::Display) -> StoreError {
        StoreError::Conflict {
            what,
            id: id.to_string(),
        }
    }
}

/// Shorthand for storage results.
pub type StoreResult<T> = Result<T, StoreError>;
