//! [`Caller`]: who is asking (from the session cookie or a bearer token) and what their
//! roles and grants allow. Every handler that needs a login takes a `Caller`.
//!
//! What a caller may do:
//! - hub administrators (`User.is_admin`) may do anything;
//! - in a group: viewers and members read it; admins and owners manage its members and
//!   applications; only owners make or remove owners and delete the group;
//! - with an application's devices: [`effective_permission`] of their role in the
//!   application's group and their grant (`view` reads, `control` also sends commands,
//!   `manage` also edits devices and rotates secrets). Grants count only for members
//!   of the application's group.
//!
//! Things a caller may not see answer 404, not 403, so that ids do not leak.

use crate::error::{ApiError, ApiResult};
use crate::session::{bearer_token, digest, session_cookie};
use crate::state::AppState;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use hearth_model::{
    AppId, Application, GroupId, Membership, Permission, Role, User, effective_permission,
    now_millis,
};
use hearth_store::StoreError;
use std::collections::HashMap;

/// How the caller proved who they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// A login session (the hash of its cookie).
    Session { id_hash: String },
    /// A personal API token (its public id).
    Token { id: String },
}

impl Credential {
    /// The opaque id that browser MQTT credentials issued to this login are tied to
    /// (what `MqttCredentialIssuer::revoke_session` takes).
    pub fn session_key(&self) -> String {
        match self {
            Credential::Session { id_hash } => format!("s{}", &id_hash[..32.min(id_hash.len())]),
            Credential::Token { id } => id.clone(),
        }
    }
}

/// An authenticated request's user with their memberships and grants.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user: User,
    pub credential: Credential,
    pub roles: HashMap<GroupId, Role>,
    pub grants: HashMap<AppId, Permission>,
}

/// Only touch a session's row when it was last seen this long ago (a busy page does
/// not write on every request).
const TOUCH_AFTER_MS: i64 = 60_000;

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> ApiResult<Caller> {
        if let Some(caller) = parts.extensions.get::<Caller>() {
            return Ok(caller.clone());
        }
        let now = now_millis();
        let (user_name, credential) = if let Some(token) = bearer_token(&parts.headers) {
            let token = match state.store.token_by_hash(&digest(&token), now).await {
                Ok(token) => token,
                Err(StoreError::NotFound { .. }) => {
                    return Err(ApiError::Unauthenticated(
                        "the bearer token is unknown, expired or revoked".into(),
                    ));
                }
                Err(error) => return Err(error.into()),
            };
            if token
                .last_used_ms
                .is_none_or(|last| now - last > TOUCH_AFTER_MS)
            {
                state.store.touch_token(&token.id, now).await?;
            }
            (token.user, Credential::Token { id: token.id })
        } else if let Some(cookie) = session_cookie(&parts.headers) {
            let id_hash = digest(&cookie);
            let session = match state.store.session(&id_hash, now).await {
                Ok(session) => session,
                Err(StoreError::NotFound { .. }) => {
                    return Err(ApiError::Unauthenticated(
                        "the session has expired or ended; log in again".into(),
                    ));
                }
                Err(error) => return Err(error.into()),
            };
            if now - session.last_seen_ms > TOUCH_AFTER_MS {
                let expires = now + state.session_ttl_ms();
                state.store.touch_session(&id_hash, now, expires).await?;
            }
            (session.user, Credential::Session { id_hash })
        } else {
            return Err(ApiError::Unauthenticated(
                "log in first (session cookie) or send `Authorization: Bearer <token>`".into(),
            ));
        };
        let user = match state.store.user(&user_name).await {
            Ok(user) => user,
            Err(StoreError::NotFound { .. }) => {
                return Err(ApiError::Unauthenticated(
                    "the user no longer exists".into(),
                ));
            }
            Err(error) => return Err(error.into()),
        };
        let roles = state
            .store
            .memberships_of(&user.name)
            .await?
            .into_iter()
            .map(|Membership { group, role, .. }| (group, role))
            .collect();
        let grants = state
            .store
            .grants_of(&user.name)
            .await?
            .into_iter()
            .map(|grant| (grant.application, grant.permission))
            .collect();
        let caller = Caller {
            user,
            credential,
            roles,
            grants,
        };
        parts.extensions.insert(caller.clone());
        Ok(caller)
    }
}

impl AppState {
    pub(crate) fn session_ttl_ms(&self) -> i64 {
        i64::from(self.config.session_ttl_days.max(1)) * 86_400_000
    }
}

impl Caller {
    /// What the audit log records as the actor.
    pub fn actor(&self) -> String {
        format!("user:{}", self.user.name)
    }

    pub fn is_admin(&self) -> bool {
        self.user.is_admin
    }

    /// An opaque id of this login (session or token), for MQTT credentials.
    pub fn session_key(&self) -> String {
        self.credential.session_key()
    }

    /// `Ok` when the caller logged in with their password (a session); 403 for an API
    /// token. Tokens are for scripts: they may not mint, list or revoke tokens (a
    /// leaked token must not outlive its own revocation through children it made) nor
    /// change the password (which would lock the owner out).
    pub fn require_session(&self, what: &str) -> ApiResult<()> {
        match self.credential {
            Credential::Session { .. } => Ok(()),
            Credential::Token { .. } => Err(ApiError::forbidden(format!(
                "{what} needs a login session; an API token may not do it"
            ))),
        }
    }

    /// The caller's role in `group`; hub admins count as owners everywhere.
    pub fn role_in(&self, group: &GroupId) -> Option<Role> {
        if self.is_admin() {
            return Some(Role::Owner);
        }
        self.roles.get(group).copied()
    }

    /// What the caller may do with `app`'s devices (`None`: not even see them).
    pub fn permission_on(&self, app: &Application) -> Option<Permission> {
        if self.is_admin() {
            return Some(Permission::Manage);
        }
        let role = self.roles.get(&app.group)?;
        Some(effective_permission(
            *role,
            self.grants.get(&app.id).copied(),
        ))
    }

    /// `Ok` if the caller's role in `group` is at least `least`; 404 for a group they
    /// are not in, 403 for too low a role.
    pub fn require_role(&self, group: &GroupId, least: Role, what: &str) -> ApiResult<Role> {
        match self.role_in(group) {
            None => Err(ApiError::not_found(format!(
                "group {:?} not found",
                group.as_str()
            ))),
            Some(role) if role >= least => Ok(role),
            Some(role) => Err(ApiError::forbidden(format!(
                "{what} needs the {least} role in group {group:?}; you are {role}",
                group = group.as_str()
            ))),
        }
    }

    /// `Ok` if the caller has at least `least` on `app`; 404 if they cannot see it,
    /// 403 if they can but not enough.
    pub fn require_permission(
        &self,
        app: &Application,
        least: Permission,
        what: &str,
    ) -> ApiResult<Permission> {
        match self.permission_on(app) {
            None => Err(ApiError::not_found(format!(
                "application {:?} not found",
                app.id.as_str()
            ))),
            Some(permission) if permission >= least => Ok(permission),
            Some(permission) => Err(ApiError::forbidden(format!(
                "{what} needs {least} permission on application {:?}; you have {permission}",
                app.id.as_str()
            ))),
        }
    }

    /// `Ok` for hub administrators.
    pub fn require_admin(&self, what: &str) -> ApiResult<()> {
        if self.is_admin() {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!(
                "{what} is for hub administrators"
            )))
        }
    }
}
