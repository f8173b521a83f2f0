//! `/api/v1/users`: accounts, managed by hub administrators (this is also how
//! `invite` registration works: an administrator creates the account).

use crate::caller::Caller;
use crate::dto::UserView;
use crate::error::{ApiResult, parse_id};
use crate::extract::ApiJson;
use crate::routes::auth::rename_field;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use hearth_model::UserName;
use hearth_services::registry::{self, NewUser};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_users, create_user))
        .routes(routes!(remove_user))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUserRequest {
    pub name: String,
    /// Absent: one is generated and returned once.
    pub password: Option<String>,
    pub display_name: Option<String>,
    pub email: Option<String>,
    pub language: Option<String>,
    #[serde(default)]
    pub is_admin: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct NewUserView {
    pub user: UserView,
    /// The generated password, when none was given (shown once).
    pub generated_password: Option<String>,
}

/// Every account (hub administrators only).
#[utoipa::path(get, path = "/users", tag = "users",
    responses((status = 200, body = Vec<UserView>), (status = 403, body = crate::error::ErrorBody)))]
async fn list_users(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<axum::Json<Vec<UserView>>> {
    caller.require_admin("listing users")?;
    let users = state.store.users().await?;
    Ok(axum::Json(users.into_iter().map(UserView::from).collect()))
}

/// Creates an account (hub administrators only).
#[utoipa::path(post, path = "/users", tag = "users", request_body = NewUserRequest,
    responses((status = 201, body = NewUserView), (status = 409, body = crate::error::ErrorBody),
        (status = 422, description = "A value breaks a rule (e.g. the name's characters)", body = crate::error::ErrorBody)))]
async fn create_user(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(request): ApiJson<NewUserRequest>,
) -> ApiResult<(StatusCode, axum::Json<NewUserView>)> {
    caller.require_admin("creating users")?;
    // A malformed name in the body is the registry's 422 naming `name`, as it always was.
    let name: UserName = registry::parse_id("name", &request.name)?;
    let (user, generated_password) = state
        .registry
        .add_user(
            &caller.actor(),
            NewUser {
                name,
                password: request.password,
                display_name: request.display_name,
                email: request.email,
                language: request.language,
                is_admin: request.is_admin,
            },
        )
        .await
        .map_err(|error| rename_field(error.into(), "name", "name"))?;
    Ok((
        StatusCode::CREATED,
        axum::Json(NewUserView {
            user: user.into(),
            generated_password,
        }),
    ))
}

/// Deletes an account with its memberships, grants, sessions and tokens (hub
/// administrators only; not themselves).
#[utoipa::path(delete, path = "/users/{name}", tag = "users",
    params(("name" = String, Path)),
    responses((status = 204), (status = 404, body = crate::error::ErrorBody),
        (status = 409, description = "One's own account", body = crate::error::ErrorBody)))]
async fn remove_user(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    caller.require_admin("removing users")?;
    let name: UserName = parse_id("name", &name)?;
    if name == caller.user.name {
        return Err(crate::error::ApiError::Conflict(
            "you cannot remove your own account".into(),
        ));
    }
    state.registry.remove_user(&caller.actor(), &name).await?;
    Ok(StatusCode::NO_CONTENT)
}
