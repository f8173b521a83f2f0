//! Extractors whose rejections are [`ApiError`]s: the same JSON shape as every other
//! error, with the offending field named where serde can tell.
//!
//! axum's own `Json` and `Query` answer with plain-text bodies; these read the raw body
//! or query string and deserialize through `serde_path_to_error`, which knows the path
//! to a value of the wrong type (`metadata.room`), and fish the name out of serde's
//! "missing field `x`" / "unknown field `x`" messages, which carry no path.

use crate::error::ApiError;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use serde::de::DeserializeOwned;

/// Largest JSON body accepted (a device's metadata, a command's parameters).
pub const MAX_JSON_BODY: usize = 256 * 1024;

/// A JSON request body.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        require_json_content_type(request.headers())?;
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                ApiError::bad_request("body", format!("cannot read the body: {rejection}"))
            })?;
        if bytes.len() > MAX_JSON_BODY {
            return Err(ApiError::bad_request(
                "body",
                format!("the body is larger than {MAX_JSON_BODY} bytes"),
            ));
        }
        let deserializer = &mut serde_json::Deserializer::from_slice(&bytes);
        match serde_path_to_error::deserialize(deserializer) {
            Ok(value) => Ok(ApiJson(value)),
            Err(error) => {
                let inner = error.inner();
                if inner.is_syntax() || inner.is_eof() {
                    return Err(ApiError::bad_request(
                        "body",
                        format!("the body is not valid JSON: {inner}"),
                    ));
                }
                Err(field_error(&error.path().to_string(), &inner.to_string()))
            }
        }
    }
}

/// 415 unless the body is declared `application/json` (parameters such as
/// `charset=utf-8` allowed). Not a formality: `text/plain`, form and multipart bodies
/// are what another origin's page can make a browser send without a CORS preflight,
/// so accepting them would let such a page act with the visitor's session cookie.
fn require_json_content_type(headers: &HeaderMap) -> Result<(), ApiError> {
    let declared = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok());
    let essence = declared
        .and_then(|value| value.split(';').next())
        .map(|value| value.trim().to_ascii_lowercase());
    if essence.as_deref() == Some("application/json") {
        return Ok(());
    }
    Err(ApiError::UnsupportedMediaType(match declared {
        Some(declared) => {
            format!("the body must be sent as Content-Type: application/json, not {declared:?}")
        }
        None => "the body must be sent as Content-Type: application/json (the header is missing)"
            .to_owned(),
    }))
}

/// A query string.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or("");
        let deserializer =
            serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        match serde_path_to_error::deserialize(deserializer) {
            Ok(value) => Ok(ApiQuery(value)),
            Err(error) => Err(field_error(
                &error.path().to_string(),
                &error.inner().to_string(),
            )),
        }
    }
}

/// A 400 naming the field: from the error's path, or for missing/unknown fields from
/// serde's message (its path is the enclosing object).
fn field_error(path: &str, message: &str) -> ApiError {
    let quoted = ["missing field `", "unknown field `"]
        .iter()
        .find_map(|prefix| {
            let rest = message.split(prefix).nth(1)?;
            Some(rest.split('`').next()?.to_owned())
        });
    let field = match (quoted, path) {
        (Some(name), "." | "") => name,
        // serde_path_to_error already ends the path with an unknown field's name.
        (Some(name), path) if path == name || path.ends_with(&format!(".{name}")) => {
            path.to_owned()
        }
        (Some(name), path) => format!("{path}.{name}"),
        (None, "." | "") => String::new(),
        (None, path) => path.to_owned(),
    };
    // serde's messages end with " at line 1 column 10" for JSON; people do not need it.
    let message = message
        .split(" at line ")
        .next()
        .unwrap_or(message)
        .to_owned();
    if field.is_empty() {
        ApiError::BadRequest {
            message,
            field: None,
        }
    } else {
        ApiError::bad_request(field.clone(), format!("{field}: {message}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_json_bodies_are_accepted() {
        let with = |value: &'static str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::CONTENT_TYPE, value.parse().unwrap());
            require_json_content_type(&headers)
        };
        assert!(with("application/json").is_ok());
        assert!(with("Application/JSON; charset=utf-8").is_ok());
        for refused in [
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "application/jsonx",
        ] {
            assert!(
                matches!(with(refused), Err(ApiError::UnsupportedMediaType(message)) if message.contains("application/json")),
                "{refused}"
            );
        }
        assert!(require_json_content_type(&HeaderMap::new()).is_err());
    }

    #[test]
    fn missing_and_unknown_fields_are_named() {
        let error = field_error(".", "missing field `username` at line 1 column 2");
        assert_eq!(
            error,
            ApiError::bad_request("username", "username: missing field `username`")
        );
        let error = field_error("spec", "missing field `colour`");
        assert!(matches!(error, ApiError::BadRequest { field: Some(f), .. } if f == "spec.colour"));
        let error = field_error("colour", "unknown field `colour`, expected one of `a`");
        assert!(matches!(error, ApiError::BadRequest { field: Some(f), .. } if f == "colour"));
        let error = field_error("limit", "invalid digit found in string");
        assert!(matches!(error, ApiError::BadRequest { field: Some(f), .. } if f == "limit"));
    }
}
