//! [`RegistryError`]: a refused change, with the field to blame when there is one.

use hearth_store::StoreError;
use std::borrow::Cow;

/// Why a registry change was refused. `Invalid` names the field (a CLI flag or a JSON
/// property) so that the person or script can fix exactly that; the store's errors pass
/// through (NotFound, Conflict, Refused, Backend). The field is usually a fixed name, but
/// may be built (`metadata.capabilities[2].type`), hence a `Cow`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    #[error("{field}: {message}")]
    Invalid {
        field: Cow<'static, str>,
        message: String,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl RegistryError {
    pub fn invalid(
        field: impl Into<Cow<'static, str>>,
        message: impl Into<String>,
    ) -> RegistryError {
        RegistryError::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }

    /// Whether the error is the caller's (bad input, unknown or duplicate id), as
    /// opposed to a fault of the database.
    pub fn is_user_error(&self) -> bool {
        !matches!(self, RegistryError::Store(StoreError::Backend(_)))
    }

    /// The same refusal, placed in row `row` (1-based) of a batch: an invalid field's
    /// message gains `row N: `, and an application that does not exist becomes an
    /// invalid `app` of that row (a CSV file names it; nothing in the URL does).
    pub fn at_row(self, row: usize) -> RegistryError {
        match self {
            RegistryError::Invalid { field, message } => RegistryError::Invalid {
                field,
                message: format!("row {row}: {message}"),
            },
            RegistryError::Store(StoreError::NotFound { what, id }) => {
                RegistryError::invalid("app", format!("row {row}: {what} {id:?} not found"))
            }
            other => other,
        }
    }
}

/// Parses an id, blaming `field` if it is not valid (`id: a/b: use only letters...`).
///
/// The registry takes ids already parsed, so this runs at the edges: the CLI and the
/// CSV import call it on what was typed, and the HTTP API on request bodies whose
/// malformed ids have always been a 422 naming the property. One function keeps that
/// message the same whichever door the id came in by.
pub fn parse_id<T>(field: &'static str, value: &str) -> Result<T, RegistryError>
where
    T: std::str::FromStr<Err = hearth_model::IdError>,
{
    value.parse().map_err(|error: hearth_model::IdError| {
        RegistryError::invalid(field, format!("{}: {}", error.value, error.why))
    })
}
