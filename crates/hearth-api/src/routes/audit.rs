//! `/api/v1/audit`: the audit log. Hub administrators read all of it; group owners and
//! admins read the entries about their group, its applications and their devices (they
//! must say which with `target`).
//!
//! Groups, applications, devices and users have separate id spaces, and an id can be
//! reused after a delete, so an entry is identified by its target's **kind** (the
//! action's prefix: `group.`, `app.`, `device.`, `user.`/`token.`) and id, and a
//! non-administrator reads only the entries of the kinds they manage under that id,
//! and only from the `*.add` that created the object that has the id now: a viewer who
//! makes a group named like another group's device, or re-creates a deleted device's
//! id, sees nothing of the other's history.

use crate::caller::Caller;
use crate::dto::AuditEntryView;
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiQuery;
use crate::state::AppState;
use axum::extract::State;
use hearth_model::{AppId, AuditEntry, DeviceId, GroupId, Permission, Role};
use hearth_store::{AuditFilter, StoreError};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(audit_log))
}

/// What an audit entry is about, told by its action's prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TargetKind {
    Group,
    App,
    Device,
    User,
}

impl TargetKind {
    fn parse(text: &str) -> ApiResult<TargetKind> {
        match text {
            "group" => Ok(TargetKind::Group),
            "app" => Ok(TargetKind::App),
            "device" => Ok(TargetKind::Device),
            "user" => Ok(TargetKind::User),
            other => Err(ApiError::bad_request(
                "kind",
                format!("kind: {other:?} is not one of group, app, device, user"),
            )),
        }
    }

    /// The prefixes of the actions about a target of this kind.
    fn action_prefixes(self) -> Vec<String> {
        let prefixes: &[&str] = match self {
            TargetKind::Group => &["group."],
            TargetKind::App => &["app."],
            TargetKind::Device => &["device."],
            TargetKind::User => &["user.", "token."],
        };
        prefixes.iter().map(|prefix| (*prefix).to_owned()).collect()
    }

    /// The action that creates a target of this kind.
    fn creation(self) -> &'static str {
        match self {
            TargetKind::Group => "group.add",
            TargetKind::App => "app.add",
            TargetKind::Device => "device.add",
            TargetKind::User => "user.add",
        }
    }
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(default, deny_unknown_fields)]
pub struct AuditQuery {
    /// Only entries about this id (a group, application, device or user).
    pub target: Option<String>,
    /// What `target` is: `group`, `app`, `device` or `user` (each kind has its own ids).
    /// Absent: every kind (for non-administrators, every kind they manage).
    pub kind: Option<String>,
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
    let kind = query.kind.as_deref().map(TargetKind::parse).transpose()?;
    let filter = AuditFilter {
        target: query.target.clone(),
        actor: query.actor.clone(),
        before_seq: query.before,
        limit: Some(limit),
        action_prefixes: kind.map(TargetKind::action_prefixes).unwrap_or_default(),
        from_seq: None,
    };
    if caller.is_admin() {
        let entries = state.store.audit(&filter).await?;
        return Ok(axum::Json(
            entries.into_iter().map(AuditEntryView::from).collect(),
        ));
    }
    let Some(target) = query.target.as_deref() else {
        return Err(ApiError::forbidden(
            "the whole audit log is for hub administrators; group owners and admins \
             pass ?target=<group, application or device id>",
        ));
    };
    let kinds = match kind {
        Some(kind) => vec![kind],
        None => vec![TargetKind::Group, TargetKind::App, TargetKind::Device],
    };
    let mut entries: Vec<AuditEntry> = Vec::new();
    let mut readable = false;
    for kind in kinds {
        if !manages_target(&state, &caller, kind, target).await? {
            continue;
        }
        readable = true;
        let from_seq = created_at_seq(&state, kind, target).await?;
        entries.extend(
            state
                .store
                .audit(&AuditFilter {
                    action_prefixes: kind.action_prefixes(),
                    from_seq,
                    ..filter.clone()
                })
                .await?,
        );
    }
    if !readable {
        return Err(ApiError::forbidden(format!(
            "reading the audit log of {target:?} needs the admin role in its group"
        )));
    }
    entries.sort_by_key(|entry| std::cmp::Reverse(entry.seq));
    entries.dedup_by_key(|entry| entry.seq);
    entries.truncate(limit as usize);
    Ok(axum::Json(
        entries.into_iter().map(AuditEntryView::from).collect(),
    ))
}

/// The sequence number of the entry that created the `kind` object now called `target`
/// (its latest `*.add`); `None` if the log has none.
async fn created_at_seq(
    state: &AppState,
    kind: TargetKind,
    target: &str,
) -> ApiResult<Option<i64>> {
    let created = state
        .store
        .audit(&AuditFilter {
            target: Some(target.to_owned()),
            action_prefixes: vec![kind.creation().to_owned()],
            limit: Some(1),
            ..AuditFilter::default()
        })
        .await?;
    Ok(created
        .into_iter()
        .find(|entry| entry.action == kind.creation())
        .map(|entry| entry.seq))
}

/// Whether `target`, read as a `kind`, is a group the caller administers, or an
/// application or device they manage as its group's owner or admin. Users are read
/// only by hub administrators.
async fn manages_target(
    state: &AppState,
    caller: &Caller,
    kind: TargetKind,
    target: &str,
) -> ApiResult<bool> {
    let administers = |group: &GroupId| {
        caller
            .role_in(group)
            .is_some_and(|role| role >= Role::Admin)
    };
    Ok(match kind {
        TargetKind::Group => target
            .parse::<GroupId>()
            .is_ok_and(|group| administers(&group)),
        TargetKind::App => {
            let Ok(app) = target.parse::<AppId>() else {
                return Ok(false);
            };
            match found(state.store.app(&app).await)? {
                Some(app) => {
                    administers(&app.group)
                        && caller.permission_on(&app) == Some(Permission::Manage)
                }
                None => false,
            }
        }
        TargetKind::Device => {
            let Ok(device) = target.parse::<DeviceId>() else {
                return Ok(false);
            };
            let Some(device) = found(state.store.device(&device).await)? else {
                return Ok(false);
            };
            found(state.store.app(&device.application).await)?
                .is_some_and(|app| administers(&app.group))
        }
        TargetKind::User => false,
    })
}

/// `None` for a store's NotFound; other store errors stay errors.
fn found<T>(result: Result<T, StoreError>) -> ApiResult<Option<T>> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(StoreError::NotFound { .. }) => Ok(None),
        Err(error) => Err(error.into()),
    }
}
