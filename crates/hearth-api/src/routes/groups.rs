//! `/api/v1/groups`: groups and their members with roles.

use crate::caller::Caller;
use crate::dto::{GroupView, MembershipView};
use crate::error::{ApiError, ApiResult, parse_id};
use crate::extract::ApiJson;
use crate::routes::taken::{check_probes, taken};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use hearth_model::{GroupId, Role, UserName};
use hearth_services::registry;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_groups, create_group))
        .routes(routes!(get_group, remove_group))
        .routes(routes!(list_members))
        .routes(routes!(set_member, remove_member))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewGroupRequest {
    /// Letters, digits, `-` and `_` (it appears in URLs).
    pub id: String,
    pub name: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MemberRequest {
    /// `owner`, `admin`, `member` or `viewer`.
    #[schema(value_type = String, example = "member")]
    pub role: Role,
}

/// The groups the caller belongs to (every group for hub administrators).
#[utoipa::path(get, path = "/groups", tag = "groups",
    responses((status = 200, body = Vec<GroupView>)))]
async fn list_groups(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<axum::Json<Vec<GroupView>>> {
    let groups = state.store.groups().await?;
    Ok(axum::Json(
        groups
            .into_iter()
            .filter_map(|group| {
                let role = caller.role_in(&group.id)?;
                Some(GroupView::new(group, Some(role)))
            })
            .collect(),
    ))
}

/// Creates a group owned by the caller.
#[utoipa::path(post, path = "/groups", tag = "groups", request_body = NewGroupRequest,
    responses((status = 201, body = GroupView), (status = 409, body = crate::error::ErrorBody),
        (status = 422, description = "A value breaks a rule (e.g. the id's characters)", body = crate::error::ErrorBody),
        (status = 429, description = "Too many taken ids tried this minute (`routes::taken`); see Retry-After", body = crate::error::ErrorBody)))]
async fn create_group(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(request): ApiJson<NewGroupRequest>,
) -> ApiResult<(StatusCode, axum::Json<GroupView>)> {
    check_probes(&state, &caller)?;
    // A malformed id in the body is the registry's 422 naming `id`, as it always was.
    let id: GroupId = registry::parse_id("id", &request.id)?;
    let group = state
        .registry
        .add_group(
            &caller.actor(),
            &id,
            request.name.as_deref(),
            Some(&caller.user.name),
        )
        .await
        .map_err(|error| taken(&state, &caller, "group", &request.id, error))?;
    Ok((
        StatusCode::CREATED,
        axum::Json(GroupView::new(group, Some(Role::Owner))),
    ))
}

/// One group (members only).
#[utoipa::path(get, path = "/groups/{id}", tag = "groups", params(("id" = String, Path)),
    responses((status = 200, body = GroupView), (status = 404, body = crate::error::ErrorBody)))]
async fn get_group(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<GroupView>> {
    let id: GroupId = parse_id("id", &id)?;
    let role = caller.require_role(&id, Role::Viewer, "reading a group")?;
    let group = state.store.group(&id).await?;
    Ok(axum::Json(GroupView::new(group, Some(role))))
}

/// Deletes a group (owners only; refused while it has applications).
#[utoipa::path(delete, path = "/groups/{id}", tag = "groups", params(("id" = String, Path)),
    responses((status = 204), (status = 403, body = crate::error::ErrorBody),
        (status = 409, description = "It still has applications", body = crate::error::ErrorBody)))]
async fn remove_group(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let id: GroupId = parse_id("id", &id)?;
    caller.require_role(&id, Role::Owner, "deleting a group")?;
    state.registry.remove_group(&caller.actor(), &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The members of a group and their roles (members only).
#[utoipa::path(get, path = "/groups/{id}/members", tag = "groups", params(("id" = String, Path)),
    responses((status = 200, body = Vec<MembershipView>), (status = 404, body = crate::error::ErrorBody)))]
async fn list_members(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Vec<MembershipView>>> {
    let id: GroupId = parse_id("id", &id)?;
    caller.require_role(&id, Role::Viewer, "reading a group's members")?;
    state.store.group(&id).await?;
    let members = state.store.members(&id).await?;
    Ok(axum::Json(
        members.into_iter().map(MembershipView::from).collect(),
    ))
}

/// Adds a member or changes their role (owners and admins; only owners make or
/// change owners).
#[utoipa::path(put, path = "/groups/{id}/members/{user}", tag = "groups",
    params(("id" = String, Path), ("user" = String, Path)), request_body = MemberRequest,
    responses((status = 200, body = MembershipView), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody)))]
async fn set_member(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, user)): Path<(String, String)>,
    ApiJson(request): ApiJson<MemberRequest>,
) -> ApiResult<axum::Json<MembershipView>> {
    let id: GroupId = parse_id("id", &id)?;
    let user: UserName = parse_id("user", &user)?;
    let my_role = caller.require_role(&id, Role::Admin, "managing members")?;
    let current = current_role(&state, &id, &user).await?;
    if (request.role == Role::Owner || current == Some(Role::Owner)) && my_role < Role::Owner {
        return Err(ApiError::forbidden(
            "only owners make owners or change an owner's role",
        ));
    }
    if current == Some(Role::Owner) && request.role != Role::Owner {
        ensure_another_owner(&state, &id, &user).await?;
    }
    let membership = state
        .registry
        .set_member(&caller.actor(), &id, &user, request.role)
        .await?;
    Ok(axum::Json(membership.into()))
}

/// Removes a member (owners and admins; only owners remove owners; anyone may leave).
#[utoipa::path(delete, path = "/groups/{id}/members/{user}", tag = "groups",
    params(("id" = String, Path), ("user" = String, Path)),
    responses((status = 204), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody),
        (status = 409, description = "The group's last owner", body = crate::error::ErrorBody)))]
async fn remove_member(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, user)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let id: GroupId = parse_id("id", &id)?;
    let user: UserName = parse_id("user", &user)?;
    let leaving = user == caller.user.name;
    let my_role = if leaving {
        caller.require_role(&id, Role::Viewer, "leaving a group")?
    } else {
        caller.require_role(&id, Role::Admin, "removing members")?
    };
    let current = current_role(&state, &id, &user).await?;
    if current == Some(Role::Owner) {
        if !leaving && my_role < Role::Owner {
            return Err(ApiError::forbidden("only owners remove owners"));
        }
        ensure_another_owner(&state, &id, &user).await?;
    }
    state
        .registry
        .remove_member(&caller.actor(), &id, &user)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn current_role(
    state: &AppState,
    group: &GroupId,
    user: &UserName,
) -> ApiResult<Option<Role>> {
    Ok(state
        .store
        .members(group)
        .await?
        .into_iter()
        .find(|membership| &membership.user == user)
        .map(|membership| membership.role))
}

/// A group keeps at least one owner.
async fn ensure_another_owner(state: &AppState, group: &GroupId, user: &UserName) -> ApiResult<()> {
    let others = state
        .store
        .members(group)
        .await?
        .into_iter()
        .filter(|membership| membership.role == Role::Owner && &membership.user != user)
        .count();
    if others == 0 {
        return Err(ApiError::Conflict(format!(
            "{user} is the last owner of {group}; make someone else owner first"
        )));
    }
    Ok(())
}
