//! `/api/v1/audit`: the audit log. Hub administrators read all of it; group owners and
//! admins read the entries about their group, its applications and their devices (they
//! must say which with `target`).

use crate::caller::Caller;
use crate::dto::AuditEntryView;
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiQuery;
use crate::state::AppState;
use axum::extract::State;
use hearth_model::{AppId, DeviceId, GroupId, Permission, Role};
use hearth_store::AuditFilter;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(audit_log))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(default, deny_unknown_fields)]
pub struct AuditQuery {
    /// Only entries about this id (a group, application, device or user).
    pub target: Option<String>,
    /// Only entries by this actor (`user:alice`, `cli:root`, `hub`).
    pub actor: Option<String>,
    /// Only entries older than this sequence number (the next page).
    pub before: Option<i64>,
    /// At most this many (default 100, at most 1000).
    pub limit: Option<u32>,
}

/// Audit entries, newest first.
#[utoipa::path(get, path = "/audit", tag = "audit", params(AuditQuery),
    responses((status = 200, body = Vec<AuditEntryView>), (status = 403, body = crate::error::ErrorBody)))]
async fn audit_log(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<AuditQuery>,
) -> ApiResult<axum::Json<Vec<AuditEntryView>>> {
    let limit = query.limit.unwrap_or(100);
    if !(1..=1_000).contains(&limit) {
        return Err(ApiError::bad_request("limit", "limit: must be 1..=1000"));
    }
    if !caller.is_admin() {
        let Some(target) = query.target.as_deref() else {
            return Err(ApiError::forbidden(
                "the whole audit log is for hub administrators; group owners and admins \
                 pass ?target=<group, application or device id>",
            ));
        };
        if !manages_target(&state, &caller, target).await? {
            return Err(ApiError::forbidden(format!(
                "reading the audit log of {target:?} needs the admin role in its group"
            )));
        }
    }
    let entries = state
        .store
        .audit(&AuditFilter {
            target: query.target,
            actor: query.actor,
            before_seq: query.before,
            limit: Some(limit),
        })
        .await?;
    Ok(axum::Json(
        entries.into_iter().map(AuditEntryView::from).collect(),
    ))
}

/// Whether `target` is a group the caller administers, or an application or device
/// they manage as its group's owner or admin.
async fn manages_target(state: &AppState, caller: &Caller, target: &str) -> ApiResult<bool> {
    if let Ok(group) = target.parse::<GroupId>()
        && caller
            .role_in(&group)
            .is_some_and(|role| role >= Role::Admin)
    {
        return Ok(true);
    }
    if let Ok(app) = target.parse::<AppId>()
        && let Ok(app) = state.store.app(&app).await
        && caller
            .role_in(&app.group)
            .is_some_and(|role| role >= Role::Admin)
    {
        return Ok(caller.permission_on(&app) == Some(Permission::Manage));
    }
    if let Ok(device) = target.parse::<DeviceId>()
        && let Ok(device) = state.store.device(&device).await
        && let Ok(app) = state.store.app(&device.application).await
    {
        return Ok(caller
            .role_in(&app.group)
            .is_some_and(|role| role >= Role::Admin));
    }
    Ok(false)
}
