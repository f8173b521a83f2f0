//! `/api/v1/groups/{id}/place`: where a group is (issue 14): its time zone for
//! schedules and time conditions, its latitude and longitude for sunrise and sunset.
//! Members read it; the group's `admin`s and `owner`s set it (audited `group.place`).

use crate::caller::Caller;
use crate::error::{ApiError, ApiResult, parse_id};
use crate::extract::ApiJson;
use crate::routes::automations::object_schema;
use crate::state::AppState;
use axum::extract::{Path, State};
use hearth_model::{GroupId, GroupPlace, NewAuditEntry, Role};
use serde::Serialize;
use serde_json::json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_place, set_place))
}

/// `time_zone` (an IANA name such as `Asia/Shanghai`, or an offset such as `+08:00`;
/// unset: the hub's), `latitude` and `longitude` (degrees; both or neither).
#[derive(Serialize)]
#[serde(transparent)]
pub struct PlaceView(pub GroupPlace);
object_schema!(
    PlaceView,
    "`time_zone` (IANA name or `+08:00`; unset: the hub's), `latitude`, `longitude` \
     (degrees, both or neither)."
);

/// The group's place (all unset if none was set).
#[utoipa::path(get, path = "/groups/{id}/place", tag = "automations", params(("id" = String, Path)),
    responses((status = 200, body = PlaceView), (status = 404, body = crate::error::ErrorBody)))]
async fn get_place(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<PlaceView>> {
    let group: GroupId = parse_id("group", &id)?;
    caller.require_role(&group, Role::Viewer, "reading the group's place")?;
    Ok(axum::Json(PlaceView(
        state.store.group_place(&group).await?,
    )))
}

/// Sets the group's place (group `admin` or `owner`); a running engine plans the
/// group's schedules again within a second.
#[utoipa::path(put, path = "/groups/{id}/place", tag = "automations", params(("id" = String, Path)),
    request_body = PlaceView,
    responses((status = 200, body = PlaceView), (status = 400, body = crate::error::ErrorBody),
        (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody)))]
async fn set_place(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(place): ApiJson<GroupPlace>,
) -> ApiResult<axum::Json<PlaceView>> {
    let group: GroupId = parse_id("group", &id)?;
    caller.require_role(&group, Role::Admin, "setting the group's place")?;
    place
        .check()
        .map_err(|error| ApiError::invalid(error.field, error.message))?;
    if let Some(zone) = &place.time_zone {
        hearth_services::automations::engine::schedule::parse_zone(zone)
            .map_err(|message| ApiError::invalid("time_zone", message))?;
    }
    let audit = NewAuditEntry::new(&caller.actor(), "group.place", group.as_str())
        .with_detail(json!({"group": group, "place": place}));
    state.store.set_group_place(&group, &place, &audit).await?;
    Ok(axum::Json(PlaceView(place)))
}
