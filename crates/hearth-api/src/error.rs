//! [`ApiError`]: the one error every handler returns, and the JSON shape clients see.
//!
//! `{"error": {"code": "invalid", "message": "name: must not be empty", "field": "name"}}`.
//! `code` is stable (clients switch on it), `message` is for people, `field` names the
//! JSON property, query parameter or path segment to fix when there is one. Faults of
//! the hub (database down) are logged with their detail and answered with a bare
//! `internal` 500, so that nothing about the machine leaks.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hearth_services::RegistryError;
use hearth_store::StoreError;
use serde::Serialize;
use utoipa::ToSchema;

/// Every way a request can fail.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// 400: the request is malformed (bad JSON, wrong type, invalid id characters).
    #[error("{message}")]
    BadRequest {
        message: String,
        field: Option<String>,
    },
    /// 422: well-formed, but a value breaks a rule (too long, out of range, unknown kind).
    #[error("{message}")]
    Invalid {
        message: String,
        field: Option<String>,
    },
    /// 401: no valid session cookie or bearer token (or wrong login).
    #[error("{0}")]
    Unauthenticated(String),
    /// 403: authenticated, but the caller's roles and grants do not allow this.
    #[error("{0}")]
    Forbidden(String),
    /// 404: the thing (or the route) does not exist, or the caller may not know it does.
    #[error("{0}")]
    NotFound(String),
    /// 404 for a method and path the API does not have at all (a client bug, not a
    /// missing record).
    #[error("{0}")]
    NoRoute(String),
    /// 409: a record with this id exists, or the change would break the registry's shape.
    #[error("{0}")]
    Conflict(String),
    /// 415: the body is not in the media type the endpoint takes (it names it).
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// 429: too many failed logins; retry after this many seconds.
    #[error("too many failed attempts; retry in {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64 },
    /// 503: a service this endpoint needs is not running (or not ready).
    #[error("{0}")]
    Unavailable(String),
    /// 500: a fault of the hub; the detail is logged, never returned.
    #[error("internal error: {0}")]
    Internal(String),
}

/// The JSON body of every error response.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// What went wrong.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable: `bad_request`, `invalid`, `unauthenticated`, `forbidden`, `not_found`,
    /// `no_route`, `conflict`, `unsupported_media_type`, `rate_limited`, `unavailable`, `internal`.
    pub code: &'static str,
    pub message: String,
    /// The property, parameter or path segment to fix, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl ApiError {
    pub fn bad_request(field: impl Into<String>, message: impl Into<String>) -> ApiError {
        ApiError::BadRequest {
            message: message.into(),
            field: Some(field.into()),
        }
    }

    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> ApiError {
        ApiError::Invalid {
            message: message.into(),
            field: Some(field.into()),
        }
    }

    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::Forbidden(message.into())
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::NotFound(message.into())
    }

    pub fn unavailable(message: impl Into<String>) -> ApiError {
        ApiError::Unavailable(message.into())
    }

    pub fn internal(detail: impl std::fmt::Display) -> ApiError {
        ApiError::Internal(detail.to_string())
    }

    pub fn status_code(&self) -> StatusCode {
        match self {
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) | ApiError::NoRoute(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable code clients switch on.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest { .. } => "bad_request",
            ApiError::Invalid { .. } => "invalid",
            ApiError::Unauthenticated(_) => "unauthenticated",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::NotFound(_) => "not_found",
            ApiError::NoRoute(_) => "no_route",
            ApiError::Conflict(_) => "conflict",
            ApiError::UnsupportedMediaType(_) => "unsupported_media_type",
            ApiError::RateLimited { .. } => "rate_limited",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::Internal(_) => "internal",
        }
    }

    fn body(&self) -> ErrorBody {
        let (message, field) = match self {
            ApiError::BadRequest { message, field } | ApiError::Invalid { message, field } => {
                (message.clone(), field.clone())
            }
            ApiError::Internal(_) => ("internal error; see the hub's log".to_owned(), None),
            other => (other.to_string(), None),
        };
        ErrorBody {
            error: ErrorDetail {
                code: self.code(),
                message,
                field,
            },
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(detail) = &self {
            tracing::error!(%detail, "HTTP API request failed");
        }
        let mut response = (self.status_code(), axum::Json(self.body())).into_response();
        if let ApiError::RateLimited { retry_after_secs } = &self {
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(retry_after_secs.max(&1).to_owned()),
            );
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> ApiError {
        match error {
            StoreError::NotFound { what, id } => {
                ApiError::NotFound(format!("{what} {id:?} not found"))
            }
            StoreError::Conflict { what, id } => {
                ApiError::Conflict(format!("{what} {id:?} already exists"))
            }
            StoreError::Refused(message) => ApiError::Conflict(message),
            StoreError::Backend(detail) => ApiError::Internal(detail),
        }
    }
}

impl From<RegistryError> for ApiError {
    fn from(error: RegistryError) -> ApiError {
        match error {
            RegistryError::Invalid { field, message } => ApiError::Invalid {
                message: format!("{field}: {message}"),
                field: Some(field.into_owned()),
            },
            RegistryError::Store(store) => store.into(),
        }
    }
}

/// Shorthand for handler results.
pub type ApiResult<T> = Result<T, ApiError>;

/// Parses an id from a path segment or a body, blaming `field` (400: such an id can
/// never exist, so it is malformed rather than missing).
pub fn parse_id<T>(field: &str, value: &str) -> ApiResult<T>
where
    T: std::str::FromStr<Err = hearth_model::IdError>,
{
    value.parse().map_err(|error: hearth_model::IdError| {
        ApiError::bad_request(field, format!("{field}: {}", error))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_errors_do_not_leak_their_detail() {
        let body = ApiError::internal("password=hunter2 at /var/lib").body();
        assert_eq!(body.error.code, "internal");
        assert!(!body.error.message.contains("hunter2"));
    }

    #[test]
    fn registry_errors_name_their_field() {
        let error: ApiError = RegistryError::invalid("name", "must not be empty").into();
        assert_eq!(error.status_code(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(error.body().error.field.as_deref(), Some("name"));
        let conflict: ApiError = StoreError::conflict("device", "lamp").into();
        assert_eq!(conflict.status_code(), StatusCode::CONFLICT);
    }
}
