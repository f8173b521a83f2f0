//! [`RegistryError`]: a refused change, with the field to blame when there is one.

use hearth_store::StoreError;

/// Why a registry change was refused. `Invalid` names the field (a CLI flag or a JSON
/// property) so that the person or script can fix exactly that; the store's errors pass
/// through (NotFound, Conflict, Refused, Backend).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl RegistryError {
    pub fn invalid(field: &'static str, message: impl Into<String>) -> RegistryError {
        RegistryError::Invalid {
            field,
            message: message.into(),
        }
    }

    /// Whether the error is the caller's (bad input, unknown or duplicate id), as
    /// opposed to a fault of the database.
    pub fn is_user_error(&self) -> bool {
        !matches!(self, RegistryError::Store(StoreError::Backend(_)))
    }
}

/// Parses an id, blaming `field` if it is not valid.
pub(crate) fn parse_id<T>(field: &'static str, value: &str) -> Result<T, RegistryError>
where
    T: std::str::FromStr<Err = hearth_model::IdError>,
{
    value.parse().map_err(|error: hearth_model::IdError| {
        RegistryError::invalid(field, format!("{}: {}", error.value, error.why))
    })
}
