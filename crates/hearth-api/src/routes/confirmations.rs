//! `/api/v1/confirmations`: the two-person confirmation gate's requests (issue 14, seed
//! 004). Members of the request's group see it (others get 404, as for any id of
//! another group); those its rule names answer it (`hearth_model::Confirmation::eligible`:
//! membership counts, not hub administration). The same requests go live to the web
//! app on `hearth/confirmations/{group}`.

use crate::caller::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiQuery;
use crate::routes::automations::{GroupQuery, object_schema, visible_groups};
use crate::state::AppState;
use axum::extract::{Path, State};
use hearth_model::{Confirmation, now_millis};
use serde::Serialize;
use serde_json::{Value, json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Requests settled longer ago than this drop out of the listing.
const RECENT_MS: i64 = 24 * 3_600_000;
const LIMIT: u32 = 100;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_confirmations))
        .routes(routes!(confirm))
        .routes(routes!(refuse))
}

/// A request as the caller sees it.
#[derive(Serialize)]
#[serde(transparent)]
pub struct ConfirmationView(pub Value);
object_schema!(
    ConfirmationView,
    "`id`, `group`, `automation`, `automation_name`, `run`, `prompt`, `people`, \
     `users`, `roles`, `within_secs`, `created_at_ms`, `expires_at_ms`, `state` \
     (`pending`, `confirmed`, `refused`, `expired`), `answers`, `confirmed_by`, \
     `refused_by`, and `eligible`: whether the caller may answer."
);

fn view(caller: &Caller, request: &Confirmation) -> ConfirmationView {
    let mut value = serde_json::to_value(request).unwrap_or(Value::Null);
    value["confirmed_by"] = json!(request.confirmed_by());
    value["refused_by"] = json!(request.refused_by());
    value["eligible"] =
        json!(request.eligible(&caller.user.name, caller.roles.get(&request.group).copied()));
    ConfirmationView(value)
}

/// Pending requests and those of the last 24 hours, newest first, of one group or of
/// every group the caller is in (at most 100 of each group).
#[utoipa::path(get, path = "/confirmations", tag = "automations", params(GroupQuery),
    responses((status = 200, body = Vec<ConfirmationView>), (status = 404, body = crate::error::ErrorBody)))]
async fn list_confirmations(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<GroupQuery>,
) -> ApiResult<axum::Json<Vec<ConfirmationView>>> {
    let group = visible_groups(&caller, query.group)?;
    let since_ms = now_millis() - RECENT_MS;
    let requests = match group {
        Some(group) => {
            state
                .store
                .confirmations(Some(&group), since_ms, LIMIT)
                .await?
        }
        // Each of the caller's groups on its own (and, for a hub administrator, every
        // group's too): read across all groups at once, the newest `LIMIT` could all be
        // another group's, and a group that keeps many requests pending would hide
        // everyone else's.
        None => {
            let mut requests = Vec::new();
            for group in caller.roles.keys() {
                requests.extend(
                    state
                        .store
                        .confirmations(Some(group), since_ms, LIMIT)
                        .await?,
                );
            }
            if caller.is_admin() {
                requests.extend(state.store.confirmations(None, since_ms, LIMIT).await?);
            }
            requests.sort_by(|a, b| (b.created_at_ms, &b.id).cmp(&(a.created_at_ms, &a.id)));
            requests.dedup_by(|a, b| a.id == b.id);
            requests
        }
    };
    Ok(axum::Json(
        requests
            .iter()
            .filter(|request| caller.role_in(&request.group).is_some())
            .map(|request| view(&caller, request))
            .collect(),
    ))
}

async fn answer(
    state: &AppState,
    caller: &Caller,
    id: &str,
    confirm: bool,
) -> ApiResult<axum::Json<ConfirmationView>> {
    let stored = state.store.confirmation(id).await?;
    if caller.role_in(&stored.group).is_none() {
        return Err(ApiError::not_found(format!(
            "confirmation {id:?} not found"
        )));
    }
    let Some(runner) = &state.automation_runner else {
        return Err(ApiError::unavailable(
            "the automation engine is not running on this hub",
        ));
    };
    let role = caller.roles.get(&stored.group).copied();
    let request = runner.answer(id, &caller.user.name, role, confirm).await?;
    Ok(axum::Json(view(caller, &request)))
}

/// Confirms: counted once per person; when enough people have, the run goes on. 403
/// for someone the request does not ask, 409 once it is settled or expired.
#[utoipa::path(post, path = "/confirmations/{id}/confirm", tag = "automations",
    params(("id" = String, Path)),
    responses((status = 200, body = ConfirmationView), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
async fn confirm(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<ConfirmationView>> {
    answer(&state, &caller, &id, true).await
}

/// Refuses: one refusal settles the request and the run stops.
#[utoipa::path(post, path = "/confirmations/{id}/refuse", tag = "automations",
    params(("id" = String, Path)),
    responses((status = 200, body = ConfirmationView), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
async fn refuse(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<ConfirmationView>> {
    answer(&state, &caller, &id, false).await
}
