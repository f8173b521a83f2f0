//! `/api/v1/scenes`: scenes stored and checked, and applied by the automation engine
//! (issue 14). The same rules as automations: members of the group read, its `admin`s
//! and `owner`s change, other groups' ids answer 404; applying one needs `control` on
//! every device it sets, as sending each command would.

use crate::caller::Caller;
use crate::error::ApiResult;
use crate::extract::{ApiJson, ApiQuery};
use crate::routes::automations::{
    GroupQuery, object_schema, require_reader, require_writer, service, visible_groups,
};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use hearth_model::{Role, Scene, SceneSpec};
use serde::Serialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_scenes, create_scene))
        .routes(routes!(get_scene, update_scene, remove_scene))
        .routes(routes!(apply_scene))
}

/// The document a person sends (`hearth_model::SceneSpec`).
pub struct SceneDocument;
object_schema!(
    SceneDocument,
    "A scene document: `group`, `name`, and `targets`, each \
     `{\"device\", \"command\", \"params\"}`."
);

/// A stored scene.
#[derive(Serialize)]
#[serde(transparent)]
pub struct SceneView(pub Scene);
object_schema!(
    SceneView,
    "A stored scene: the document's fields plus `id`, `created_by`, `created_at_ms` \
     and `updated_at_ms`."
);

/// A group's scenes, or those of every group the caller is in.
#[utoipa::path(get, path = "/scenes", tag = "automations", params(GroupQuery),
    responses((status = 200, body = Vec<SceneView>), (status = 404, body = crate::error::ErrorBody)))]
async fn list_scenes(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<GroupQuery>,
) -> ApiResult<axum::Json<Vec<SceneView>>> {
    let group = visible_groups(&caller, query.group)?;
    let scenes = service(&state).scenes(group.as_ref()).await?;
    Ok(axum::Json(
        scenes
            .into_iter()
            .filter(|scene| caller.role_in(&scene.spec.group).is_some())
            .map(SceneView)
            .collect(),
    ))
}

/// Checks and stores a scene (group `admin` or `owner`).
#[utoipa::path(post, path = "/scenes", tag = "automations", request_body = SceneDocument,
    responses((status = 201, body = SceneView), (status = 403, body = crate::error::ErrorBody),
        (status = 404, description = "The group named in the body is not one the caller is in", body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
async fn create_scene(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(spec): ApiJson<SceneSpec>,
) -> ApiResult<(StatusCode, axum::Json<SceneView>)> {
    caller.require_role(&spec.group, Role::Admin, "creating a scene")?;
    let scene = service(&state).create_scene(&caller.actor(), spec).await?;
    Ok((StatusCode::CREATED, axum::Json(SceneView(scene))))
}

/// One scene (members of its group).
#[utoipa::path(get, path = "/scenes/{id}", tag = "automations", params(("id" = String, Path)),
    responses((status = 200, body = SceneView), (status = 404, body = crate::error::ErrorBody)))]
async fn get_scene(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<SceneView>> {
    let scene = service(&state).scene(&id).await?;
    require_reader(&caller, &scene.spec.group, "scene", &id)?;
    Ok(axum::Json(SceneView(scene)))
}

/// Replaces a scene's document (group `admin` or `owner`; it stays in its group).
#[utoipa::path(put, path = "/scenes/{id}", tag = "automations", params(("id" = String, Path)),
    request_body = SceneDocument,
    responses((status = 200, body = SceneView), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
async fn update_scene(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(spec): ApiJson<SceneSpec>,
) -> ApiResult<axum::Json<SceneView>> {
    let scenes = service(&state);
    let scene = scenes.scene(&id).await?;
    require_writer(
        &caller,
        &scene.spec.group,
        ("scene", &id),
        "changing a scene",
    )?;
    let scene = scenes.update_scene(&caller.actor(), &id, spec).await?;
    Ok(axum::Json(SceneView(scene)))
}

/// Removes a scene (group `admin` or `owner`).
#[utoipa::path(delete, path = "/scenes/{id}", tag = "automations", params(("id" = String, Path)),
    responses((status = 204), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody)))]
async fn remove_scene(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let scenes = service(&state);
    let scene = scenes.scene(&id).await?;
    require_writer(
        &caller,
        &scene.spec.group,
        ("scene", &id),
        "removing a scene",
    )?;
    scenes.remove_scene(&caller.actor(), &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// What applying a scene did: `4/5 confirmed, lamp-3 timeout`, with each device's outcome.
#[derive(Serialize)]
#[serde(transparent)]
pub struct SceneOutcome(pub serde_json::Value);
object_schema!(
    SceneOutcome,
    "`scene`, `result` (`4/5 confirmed, lamp-3 timeout`), `confirmed`, `total`, and \
     `devices`: each device's final command status (`acked`, `failed`, `timeout`, or \
     `refused: ...`)."
);

/// Applies a scene: every target's command at once; answers when every device has a
/// final status (each command's own timeout bounds the wait). Needs `control` on every
/// device the scene sets.
#[utoipa::path(post, path = "/scenes/{id}/apply", tag = "automations", params(("id" = String, Path)),
    responses((status = 200, body = SceneOutcome), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody), (status = 503, body = crate::error::ErrorBody)))]
async fn apply_scene(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<SceneOutcome>> {
    let scene = service(&state).scene(&id).await?;
    require_reader(&caller, &scene.spec.group, "scene", &id)?;
    for target in &scene.spec.targets {
        crate::routes::devices::device_for(
            &state,
            &caller,
            target.device.as_str(),
            hearth_model::Permission::Control,
            "applying a scene",
        )
        .await?;
    }
    let Some(runner) = &state.automation_runner else {
        return Err(crate::error::ApiError::unavailable(
            "the automation engine is not running on this hub",
        ));
    };
    let outcome = runner.apply_scene(&id, &caller.actor()).await?;
    Ok(axum::Json(SceneOutcome(outcome)))
}
