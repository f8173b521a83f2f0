//! `/api/v1/admin/log-level`: the hub's log filter, read and changed while it runs (hub
//! administrators only). A change is audited: turning on `debug` for a component makes
//! the logs say more about everyone's traffic, which other administrators should see.

use crate::caller::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiJson;
use crate::seams::LogLevels;
use crate::state::AppState;
use axum::extract::State;
use hearth_model::NewAuditEntry;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_log_level, put_log_level))
}

/// The longest filter accepted: a real one is a few directives.
const MAX_FILTER_LEN: usize = 1_000;

/// A log filter in `tracing`'s `EnvFilter` syntax.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LogLevelBody {
    /// e.g. `info` or `info,hearth_broker=debug`.
    #[schema(example = "info,hearth_broker=debug")]
    pub filter: String,
}

fn levels(state: &AppState) -> ApiResult<&Arc<dyn LogLevels>> {
    state.log_levels.as_ref().ok_or_else(|| {
        ApiError::unavailable("this process's log filter cannot be changed (not the hub's logger)")
    })
}

/// The log filter in force (hub administrators only).
#[utoipa::path(get, path = "/admin/log-level", tag = "admin",
    responses(
        (status = 200, body = LogLevelBody),
        (status = 401, body = crate::error::ErrorBody),
        (status = 403, body = crate::error::ErrorBody),
        (status = 503, body = crate::error::ErrorBody),
    ))]
async fn get_log_level(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<axum::Json<LogLevelBody>> {
    caller.require_admin("reading the log filter")?;
    Ok(axum::Json(LogLevelBody {
        filter: levels(&state)?.current(),
    }))
}

/// Replaces the log filter until the hub stops or the next change (hub administrators
/// only; audited as `log_level.set`). A filter that does not parse answers 400 naming
/// `filter`, and nothing changes.
#[utoipa::path(put, path = "/admin/log-level", tag = "admin", request_body = LogLevelBody,
    responses(
        (status = 200, description = "The filter now in force", body = LogLevelBody),
        (status = 400, body = crate::error::ErrorBody),
        (status = 401, body = crate::error::ErrorBody),
        (status = 403, body = crate::error::ErrorBody),
        (status = 503, body = crate::error::ErrorBody),
    ))]
async fn put_log_level(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(request): ApiJson<LogLevelBody>,
) -> ApiResult<axum::Json<LogLevelBody>> {
    caller.require_admin("changing the log filter")?;
    let levels = levels(&state)?;
    let filter = request.filter.trim();
    if filter.is_empty() || filter.len() > MAX_FILTER_LEN {
        return Err(ApiError::bad_request(
            "filter",
            format!(
                "a log filter has 1 to {MAX_FILTER_LEN} characters, e.g. `info,hearth_broker=debug`"
            ),
        ));
    }
    let before = levels.current();
    let now = levels.set(filter).map_err(|message| {
        ApiError::bad_request("filter", format!("not a log filter: {message}"))
    })?;
    let mut audit = NewAuditEntry::new(&caller.actor(), "log_level.set", "hub");
    audit.detail = serde_json::json!({ "from": before, "to": now });
    if let Err(error) = state.store.note(&audit).await {
        // No unaudited change: put the old filter back.
        let _ = levels.set(&before);
        return Err(ApiError::internal(error));
    }
    tracing::info!(actor = %caller.actor(), filter = %now, "log filter changed");
    Ok(axum::Json(LogLevelBody { filter: now }))
}
