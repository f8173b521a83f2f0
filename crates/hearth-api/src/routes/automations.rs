//! `/api/v1/automations`: automations stored and checked (issue 14); the hub's engine
//! runs them, `runs` lists what it recorded, and `run` starts one now.
//!
//! Who may do what: reading needs membership of the automation's group (any role);
//! creating, changing, enabling, disabling, removing and running now need `admin` or
//! `owner` there (a hub administrator counts as an owner everywhere). An automation of a group the caller
//! is not in answers 404, as if it did not exist.

use crate::caller::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiQuery};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use hearth_model::{Automation, AutomationSpec, GroupId, Millis, Role};
use hearth_services::automations::{AutomationError, Automations};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_automations, create_automation))
        .routes(routes!(
            get_automation,
            update_automation,
            remove_automation
        ))
        .routes(routes!(enable_automation))
        .routes(routes!(disable_automation))
        .routes(routes!(list_runs))
        .routes(routes!(run_automation))
}

/// A manual run started.
#[derive(Serialize, ToSchema)]
pub struct RunStarted {
    /// The run's id; `GET /automations/{id}/runs` shows it with its trace.
    pub run: String,
}

/// A JSON object described by hand in the OpenAPI document: automations and scenes
/// are tagged unions deep enough that the model crate does not derive schemas for
/// them; the description points to their shape.
macro_rules! object_schema {
    ($name:ident, $description:expr) => {
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::schema::ObjectBuilder::new()
                    .description(Some($description))
                    .into()
            }
        }

        impl utoipa::ToSchema for $name {}
    };
}
pub(super) use object_schema;

/// The document a person sends (`hearth_model::AutomationSpec`).
pub struct AutomationDocument;
object_schema!(
    AutomationDocument,
    "An automation document: `group`, `name`, `enabled` (default true), `triggers`, \
     `conditions`, `actions`, `mode` (`single`, `restart`, `queued`, `parallel`), \
     `max_runs`. Each trigger, condition and action is an object with a `type`, e.g. \
     `{\"type\": \"reading\", \"device\": \"hall-motion\", \"metric\": \"motion\", \"eq\": true}`."
);

/// A stored automation.
#[derive(Serialize)]
#[serde(transparent)]
pub struct AutomationView(pub Automation);
object_schema!(
    AutomationView,
    "A stored automation: the document's fields plus `id`, `created_by`, \
     `created_at_ms` and `updated_at_ms`."
);

/// One run of an automation and its trace.
#[derive(Serialize, ToSchema)]
pub struct AutomationRunView {
    pub id: String,
    pub automation_id: String,
    pub started_at_ms: Millis,
    pub finished_at_ms: Option<Millis>,
    pub status: String,
    #[schema(value_type = Object)]
    pub trigger: serde_json::Value,
    #[schema(value_type = Object)]
    pub trace: serde_json::Value,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct GroupQuery {
    /// Only this group's (the caller must be a member).
    pub group: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct RunsQuery {
    /// At most this many, newest first (1..=500, default 50).
    pub limit: Option<u32>,
}

impl From<AutomationError> for ApiError {
    fn from(error: AutomationError) -> ApiError {
        match error {
            AutomationError::Invalid(error) => {
                ApiError::invalid(error.field.clone(), error.to_string())
            }
            AutomationError::Store(error) => error.into(),
        }
    }
}

pub(super) fn service(state: &AppState) -> Automations {
    Automations::new(state.store.clone())
}

/// The groups whose automations or scenes a listing shows: the one asked for (404
/// unless the caller is in it), or every group the caller is in.
pub(super) fn visible_groups(caller: &Caller, group: Option<String>) -> ApiResult<Option<GroupId>> {
    match group {
        Some(group) => {
            let group: GroupId = crate::error::parse_id("group", &group)?;
            caller.require_role(&group, Role::Viewer, "reading automations")?;
            Ok(Some(group))
        }
        None => Ok(None),
    }
}

/// `Ok` if the caller may read `group`'s automations or scenes; 404 for `what` (not 403)
/// otherwise, so that ids of other groups say nothing.
pub(super) fn require_reader(
    caller: &Caller,
    group: &GroupId,
    what: &str,
    id: &str,
) -> ApiResult<()> {
    match caller.role_in(group) {
        Some(_) => Ok(()),
        None => Err(ApiError::not_found(format!("{what} {id:?} not found"))),
    }
}

/// `Ok` if the caller may change `group`'s automations or scenes (`admin` or `owner`);
/// 404 as in [`require_reader`] for other groups, 403 for a lower role.
pub(super) fn require_writer(
    caller: &Caller,
    group: &GroupId,
    (what, id): (&str, &str),
    doing: &str,
) -> ApiResult<()> {
    require_reader(caller, group, what, id)?;
    caller.require_role(group, Role::Admin, doing)?;
    Ok(())
}

/// A group's automations, or those of every group the caller is in.
#[utoipa::path(get, path = "/automations", tag = "automations", params(GroupQuery),
    responses((status = 200, body = Vec<AutomationView>), (status = 404, body = crate::error::ErrorBody)))]
async fn list_automations(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<GroupQuery>,
) -> ApiResult<axum::Json<Vec<AutomationView>>> {
    let group = visible_groups(&caller, query.group)?;
    let automations = service(&state).list(group.as_ref()).await?;
    Ok(axum::Json(
        automations
            .into_iter()
            .filter(|automation| caller.role_in(&automation.spec.group).is_some())
            .map(AutomationView)
            .collect(),
    ))
}

/// Checks and stores an automation (group `admin` or `owner`). A wrong field answers
/// 422 naming it (`actions[0].device`).
#[utoipa::path(post, path = "/automations", tag = "automations", request_body = AutomationDocument,
    responses((status = 201, body = AutomationView), (status = 403, body = crate::error::ErrorBody),
        (status = 404, description = "The group named in the body is not one the caller is in", body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody)))]
async fn create_automation(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(spec): ApiJson<AutomationSpec>,
) -> ApiResult<(StatusCode, axum::Json<AutomationView>)> {
    caller.require_role(&spec.group, Role::Admin, "creating an automation")?;
    let automation = service(&state).create(&caller.actor(), spec).await?;
    Ok((StatusCode::CREATED, axum::Json(AutomationView(automation))))
}

/// One automation (members of its group).
#[utoipa::path(get, path = "/automations/{id}", tag = "automations", params(("id" = String, Path)),
    responses((status = 200, body = AutomationView), (status = 404, body = crate::error::ErrorBody)))]
async fn get_automation(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<AutomationView>> {
    let automation = visible(&state, &caller, &id).await?;
    Ok(axum::Json(AutomationView(automation)))
}

/// Replaces an automation's document (group `admin` or `owner`; it stays in its group).
#[utoipa::path(put, path = "/automations/{id}", tag = "automations", params(("id" = String, Path)),
    request_body = AutomationDocument,
    responses((status = 200, body = AutomationView), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
async fn update_automation(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(spec): ApiJson<AutomationSpec>,
) -> ApiResult<axum::Json<AutomationView>> {
    writable(&state, &caller, &id, "changing an automation").await?;
    let automation = service(&state).update(&caller.actor(), &id, spec).await?;
    Ok(axum::Json(AutomationView(automation)))
}

/// Removes an automation with its runs (group `admin` or `owner`).
#[utoipa::path(delete, path = "/automations/{id}", tag = "automations", params(("id" = String, Path)),
    responses((status = 204), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody)))]
async fn remove_automation(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    writable(&state, &caller, &id, "removing an automation").await?;
    service(&state).remove(&caller.actor(), &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Enables an automation (group `admin` or `owner`).
#[utoipa::path(post, path = "/automations/{id}/enable", tag = "automations", params(("id" = String, Path)),
    responses((status = 200, body = AutomationView), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody)))]
async fn enable_automation(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<AutomationView>> {
    set_enabled(state, caller, id, true).await
}

/// Disables an automation (group `admin` or `owner`).
#[utoipa::path(post, path = "/automations/{id}/disable", tag = "automations", params(("id" = String, Path)),
    responses((status = 200, body = AutomationView), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody)))]
async fn disable_automation(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<AutomationView>> {
    set_enabled(state, caller, id, false).await
}

/// An automation's runs, newest first (members of its group). Empty until the engine
/// that runs automations exists.
#[utoipa::path(get, path = "/automations/{id}/runs", tag = "automations",
    params(("id" = String, Path), RunsQuery),
    responses((status = 200, body = Vec<AutomationRunView>), (status = 404, body = crate::error::ErrorBody)))]
async fn list_runs(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<RunsQuery>,
) -> ApiResult<axum::Json<Vec<AutomationRunView>>> {
    let limit = query.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::bad_request("limit", "limit: must be 1..=500"));
    }
    visible(&state, &caller, &id).await?;
    let runs = service(&state).runs(&id, limit).await?;
    Ok(axum::Json(
        runs.into_iter()
            .map(|run| AutomationRunView {
                id: run.id,
                automation_id: run.automation_id,
                started_at_ms: run.started_at_ms,
                finished_at_ms: run.finished_at_ms,
                status: run.status,
                trigger: run.trigger,
                trace: run.trace,
            })
            .collect(),
    ))
}

/// Runs an automation now, as its `manual` trigger (its conditions still apply; group
/// `admin` or `owner`). Answers at once with the run's id; the run goes on in the hub.
/// A disabled automation answers 409 naming `enabled`.
#[utoipa::path(post, path = "/automations/{id}/run", tag = "automations", params(("id" = String, Path)),
    responses((status = 202, body = RunStarted), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody),
        (status = 503, body = crate::error::ErrorBody)))]
async fn run_automation(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<(StatusCode, axum::Json<RunStarted>)> {
    let automation = service(&state).get(&id).await?;
    require_writer(
        &caller,
        &automation.spec.group,
        ("automation", &id),
        "running an automation",
    )?;
    if !automation.spec.enabled {
        return Err(ApiError::Conflict(format!(
            "automation {id:?} is disabled (`enabled` is false): enable it to run it"
        )));
    }
    let Some(runner) = &state.automation_runner else {
        return Err(ApiError::unavailable(
            "the automation engine is not running on this hub",
        ));
    };
    let run = runner.run_now(&id, &caller.actor()).await?;
    Ok((StatusCode::ACCEPTED, axum::Json(RunStarted { run })))
}

async fn set_enabled(
    state: AppState,
    caller: Caller,
    id: String,
    enabled: bool,
) -> ApiResult<axum::Json<AutomationView>> {
    let doing = if enabled {
        "enabling an automation"
    } else {
        "disabling an automation"
    };
    writable(&state, &caller, &id, doing).await?;
    let automation = service(&state)
        .set_enabled(&caller.actor(), &id, enabled)
        .await?;
    Ok(axum::Json(AutomationView(automation)))
}

/// The automation, if the caller may read it (404 otherwise).
async fn visible(state: &AppState, caller: &Caller, id: &str) -> ApiResult<Automation> {
    let automation = service(state).get(id).await?;
    require_reader(caller, &automation.spec.group, "automation", id)?;
    Ok(automation)
}

/// The automation, if the caller may change it (404 for other groups, 403 for a role
/// below `admin`).
async fn writable(state: &AppState, caller: &Caller, id: &str, doing: &str) -> ApiResult<()> {
    let automation = service(state).get(id).await?;
    require_writer(caller, &automation.spec.group, ("automation", id), doing)
}
