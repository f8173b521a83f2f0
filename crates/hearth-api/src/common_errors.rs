//! The error answers that the API's shared layers give on every operation, added to the
//! OpenAPI document once instead of repeated on 85 handlers (where they were missing:
//! schemathesis found 73 operations answering statuses their documentation did not
//! list, see docs/api-fuzz.md). Each rule follows the layer that answers it:
//! - 400 `bad_request`: the path and query extractors (`error::parse_id`,
//!   `extract::ApiQuery`, unknown or malformed query parameters) and `ApiJson` (a body
//!   that is not JSON or has the wrong shape), on every `/api/v1` operation;
//! - 401 `unauthenticated`: the [`crate::Caller`] extractor, on every `/api/v1`
//!   operation except the few that take no login ([`PUBLIC`]);
//! - 403 `forbidden`: the cross-site check (`security::check_origin`) on every
//!   state-changing method;
//! - 404 `not_found`: an id in the path that names nothing the caller may see;
//! - 415 `unsupported_media_type`: `ApiJson` on every operation with a JSON body;
//! - 500 `internal`: a fault of the hub (store errors, a panicking handler), anywhere.
//!
//! An operation's own description of a status (e.g. 403 "registration is closed") is
//! kept; only missing statuses are added.

use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::{Content, OpenApi, Ref, RefOr, ResponseBuilder};

/// `/api/v1` operations that take no login: 401 is not among their answers (login's
/// own 401 is a wrong password, documented on it).
const PUBLIC: &[&str] = &[
    "/api/v1/auth/login",
    "/api/v1/auth/register",
    "/api/v1/hooks/{id}/{secret}",
    "/api/v1/firmware/download/{token}",
];

/// Adds the shared answers to every operation under `/api/v1` (see the module docs).
pub(crate) fn document(openapi: &mut OpenApi) {
    for (path, item) in openapi.paths.paths.iter_mut() {
        if !path.starts_with(crate::API_PREFIX) {
            continue;
        }
        let public = PUBLIC.contains(&path.as_str());
        let read_only = [&mut item.get, &mut item.head, &mut item.options];
        for operation in read_only.into_iter().flatten() {
            add_common(operation, public, false);
        }
        let changing = [
            &mut item.post,
            &mut item.put,
            &mut item.patch,
            &mut item.delete,
        ];
        for operation in changing.into_iter().flatten() {
            add_common(operation, public, true);
        }
    }
}

fn add_common(operation: &mut Operation, public: bool, state_changing: bool) {
    let has_path_params = operation.parameters.iter().flatten().any(|parameter| {
        matches!(parameter, RefOr::T(parameter) if parameter.parameter_in == ParameterIn::Path)
    });
    let has_body = operation.request_body.is_some();
    add(
        operation,
        400,
        "A malformed id, query parameter or body (`error.field` names it)",
    );
    if !public {
        add(operation, 401, "No valid session cookie or bearer token");
    }
    if state_changing {
        add(
            operation,
            403,
            "Refused: a cross-site request, or the caller may not do this",
        );
    }
    if has_path_params {
        add(operation, 404, "No such thing that the caller may see");
    }
    if has_body {
        add(operation, 415, "The body is not sent as application/json");
    }
    add(
        operation,
        500,
        "A fault of the hub (logged; the body says no more)",
    );
}

fn add(operation: &mut Operation, status: u16, description: &str) {
    operation
        .responses
        .responses
        .entry(status.to_string())
        .or_insert_with(|| {
            RefOr::T(
                ResponseBuilder::new()
                    .description(description)
                    .content(
                        "application/json",
                        Content::new(Some(Ref::from_schema_name("ErrorBody"))),
                    )
                    .build(),
            )
        });
}
