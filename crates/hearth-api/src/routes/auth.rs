//! `/api/v1/auth/...`: login, logout, the caller's profile and password, registration.

use crate::caller::{Caller, Credential};
use crate::dto::{GrantView, MeView, MembershipView};
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiJson;
use crate::security::RequestIsHttps;
use crate::session::{clear_cookie, digest, random_hex_256, set_cookie};
use crate::state::{AppState, RegistrationMode};
use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{AppendHeaders, IntoResponse};
use hearth_model::{NewAuditEntry, User, UserName, now_millis};
use hearth_services::registry::{self, NewUser};
use hearth_store::{Session, StoreError};
use serde::Deserialize;
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(login))
        .routes(routes!(logout))
        .routes(routes!(me, update_me))
        .routes(routes!(change_password))
        .routes(routes!(register))
}

/// The client's address, for the login rate limit: `X-Forwarded-For`'s first entry
/// when `trust_forwarded_for` is set and it parses, else the socket's peer; `None`
/// when neither is known (such attempts share one bucket per name).
pub struct ClientAddr(pub Option<IpAddr>);

impl FromRequestParts<AppState> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<ClientAddr, Self::Rejection> {
        if state.config.trust_forwarded_for
            && let Some(forwarded) = parts
                .headers
                .get("x-forwarded-for")
                .and_then(|value| value.to_str().ok())
                .and_then(|value| value.split(',').next())
            && let Ok(forwarded) = forwarded.trim().parse::<IpAddr>()
        {
            return Ok(ClientAddr(Some(forwarded)));
        }
        let address = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(address)| address.ip());
        Ok(ClientAddr(address))
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
}

async fn me_view(state: &AppState, user: User) -> ApiResult<MeView> {
    let memberships = state.store.memberships_of(&user.name).await?;
    let grants = state.store.grants_of(&user.name).await?;
    Ok(MeView {
        user: user.into(),
        memberships: memberships.into_iter().map(MembershipView::from).collect(),
        grants: grants.into_iter().map(GrantView::from).collect(),
    })
}

/// Starts a session for `user`: stores its hash, returns the `Set-Cookie` value
/// (`Secure` when the request came over HTTPS).
pub(crate) async fn start_session(
    state: &AppState,
    user: &User,
    https: RequestIsHttps,
) -> ApiResult<String> {
    let session_id = random_hex_256();
    let now = now_millis();
    state
        .store
        .create_session(&Session {
            id_hash: digest(&session_id),
            user: user.name.clone(),
            created_at_ms: now,
            expires_at_ms: now + state.session_ttl_ms(),
            last_seen_ms: now,
        })
        .await?;
    let max_age = (state.session_ttl_ms() / 1000) as u64;
    Ok(set_cookie(&session_id, max_age, https.0))
}

fn rate_limited(wait: std::time::Duration) -> ApiError {
    ApiError::RateLimited {
        retry_after_secs: wait.as_secs_f64().ceil().max(1.0) as u64,
    }
}

/// Logs in with a user name and password; sets the session cookie.
#[utoipa::path(post, path = "/auth/login", tag = "auth", request_body = LoginRequest,
    responses(
        (status = 200, description = "Logged in; `Set-Cookie: hearth_session=...`", body = MeView),
        (status = 401, description = "Wrong user name or password", body = crate::error::ErrorBody),
        (status = 429, description = "Too many failed attempts; see Retry-After", body = crate::error::ErrorBody),
    ))]
async fn login(
    State(state): State<AppState>,
    ClientAddr(address): ClientAddr,
    https: RequestIsHttps,
    ApiJson(request): ApiJson<LoginRequest>,
) -> ApiResult<impl IntoResponse> {
    if let Err(wait) = state
        .limiter
        .check(&request.username, address, Instant::now())
    {
        return Err(rate_limited(wait));
    }
    let user = state
        .registry
        .check_login(&request.username, &request.password)
        .await?;
    let Some(user) = user else {
        state
            .limiter
            .fail(&request.username, address, Instant::now());
        return Err(ApiError::Unauthenticated(
            "wrong user name or password".into(),
        ));
    };
    state
        .limiter
        .succeed(&request.username, address, Instant::now());
    let cookie = start_session(&state, &user, https).await?;
    let view = me_view(&state, user).await?;
    Ok((
        AppendHeaders([(header::SET_COOKIE, cookie)]),
        axum::Json(view),
    ))
}

/// Ends the current session (its browser MQTT credentials stop working).
#[utoipa::path(post, path = "/auth/logout", tag = "auth",
    responses((status = 204, description = "Logged out; the cookie is cleared")))]
async fn logout(
    State(state): State<AppState>,
    https: RequestIsHttps,
    caller: Caller,
) -> ApiResult<impl IntoResponse> {
    if let Credential::Session { id_hash } = &caller.credential {
        match state.store.delete_session(id_hash).await {
            Ok(()) | Err(StoreError::NotFound { .. }) => {}
            Err(error) => return Err(error.into()),
        }
    }
    if let Some(issuer) = &state.mqtt_credentials {
        issuer.revoke_session(&caller.session_key());
    }
    Ok((
        StatusCode::NO_CONTENT,
        AppendHeaders([(header::SET_COOKIE, clear_cookie(https.0))]),
    ))
}

/// The caller, their memberships and grants.
#[utoipa::path(get, path = "/auth/me", tag = "auth",
    responses((status = 200, body = MeView), (status = 401, body = crate::error::ErrorBody)))]
async fn me(State(state): State<AppState>, caller: Caller) -> ApiResult<axum::Json<MeView>> {
    Ok(axum::Json(me_view(&state, caller.user).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfilePatch {
    pub display_name: Option<String>,
    /// An empty string removes the address.
    pub email: Option<String>,
    /// `en` or `zh-CN`.
    pub language: Option<String>,
}

/// Changes the caller's display name, e-mail or language.
#[utoipa::path(patch, path = "/auth/me", tag = "auth", request_body = ProfilePatch,
    responses((status = 200, body = MeView), (status = 422, body = crate::error::ErrorBody)))]
async fn update_me(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(patch): ApiJson<ProfilePatch>,
) -> ApiResult<axum::Json<MeView>> {
    let mut user = caller.user.clone();
    if let Some(display_name) = &patch.display_name {
        user.display_name = profile_text("display_name", display_name, 100)?;
    }
    if let Some(email) = &patch.email {
        let email = email.trim();
        user.email = if email.is_empty() {
            None
        } else if email.len() > 254 || !email.contains('@') || email.contains(char::is_whitespace) {
            return Err(ApiError::invalid(
                "email",
                format!("email: {email:?} is not an e-mail address"),
            ));
        } else {
            Some(email.to_owned())
        };
    }
    if let Some(language) = &patch.language {
        if !["en", "zh-CN"].contains(&language.as_str()) {
            return Err(ApiError::invalid(
                "language",
                format!("language: {language:?} is not supported; use en or zh-CN"),
            ));
        }
        user.language = language.clone();
    }
    state
        .store
        .update_user(
            &user,
            &NewAuditEntry::new(&caller.actor(), "user.update", &user.name),
        )
        .await?;
    Ok(axum::Json(me_view(&state, user).await?))
}

fn profile_text(field: &str, value: &str, max: usize) -> ApiResult<String> {
    let value = value.trim();
    if value.is_empty() || value.chars().count() > max || value.chars().any(char::is_control) {
        return Err(ApiError::invalid(
            field,
            format!("{field}: must be 1 to {max} characters, without control characters"),
        ));
    }
    Ok(value.to_owned())
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    pub current: String,
    pub new: String,
}

/// Changes the caller's password (from a login session only, not with an API token).
/// Everything else that logged in as them ends: their other sessions, every API token,
/// and the browser MQTT credentials of both. The session that made the change stays
/// (the person at the keyboard just proved the password), with its MQTT credential.
#[utoipa::path(post, path = "/auth/password", tag = "auth", request_body = PasswordChange,
    responses(
        (status = 204, description = "Changed"),
        (status = 403, description = "The current password is wrong, or the call used an API token", body = crate::error::ErrorBody),
        (status = 422, description = "The new password is too short", body = crate::error::ErrorBody),
    ))]
async fn change_password(
    State(state): State<AppState>,
    ClientAddr(address): ClientAddr,
    caller: Caller,
    ApiJson(change): ApiJson<PasswordChange>,
) -> ApiResult<StatusCode> {
    caller.require_session("changing the password")?;
    let name = caller.user.name.as_str();
    if let Err(wait) = state.limiter.check(name, address, Instant::now()) {
        return Err(rate_limited(wait));
    }
    if state
        .registry
        .check_login(name, &change.current)
        .await?
        .is_none()
    {
        state.limiter.fail(name, address, Instant::now());
        return Err(ApiError::forbidden(
            "current: the current password is wrong",
        ));
    }
    state
        .registry
        .set_password(&caller.actor(), &caller.user.name, &change.new)
        .await
        .map_err(|error| rename_field(error.into(), "password", "new"))?;
    end_other_logins(&state, &caller).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// After a password change: ends the caller's other sessions and all their API tokens,
/// and revokes the browser MQTT credentials issued to each (as logout does for one).
async fn end_other_logins(state: &AppState, caller: &Caller) -> ApiResult<()> {
    let keep = match &caller.credential {
        Credential::Session { id_hash } => Some(id_hash.as_str()),
        Credential::Token { .. } => None,
    };
    let ended = state
        .store
        .delete_sessions_of(&caller.user.name, keep)
        .await?;
    let mut revoked: Vec<Credential> = ended
        .into_iter()
        .map(|id_hash| Credential::Session { id_hash })
        .collect();
    for token in state.store.tokens_of(&caller.user.name).await? {
        let audit = NewAuditEntry::new(&caller.actor(), "token.remove", &caller.user.name)
            .with_detail(serde_json::json!({ "token": token.id, "reason": "password changed" }));
        match state
            .store
            .delete_token(&caller.user.name, &token.id, &audit)
            .await
        {
            Ok(()) | Err(StoreError::NotFound { .. }) => {}
            Err(error) => return Err(error.into()),
        }
        revoked.push(Credential::Token { id: token.id });
    }
    if let Some(issuer) = &state.mqtt_credentials {
        for credential in &revoked {
            issuer.revoke_session(&credential.session_key());
        }
    }
    Ok(())
}

/// The registry names its fields after the CLI; the API's JSON may call them otherwise.
pub(crate) fn rename_field(error: ApiError, from: &str, to: &str) -> ApiError {
    match error {
        ApiError::Invalid {
            message,
            field: Some(field),
        } if field == from => ApiError::Invalid {
            message: message.replacen(from, to, 1),
            field: Some(to.to_owned()),
        },
        other => other,
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    pub username: String,
    pub password: String,
    pub display_name: Option<String>,
    pub email: Option<String>,
    pub language: Option<String>,
}

/// Creates an account and logs it in, when registration is `open`.
#[utoipa::path(post, path = "/auth/register", tag = "auth", request_body = RegisterRequest,
    responses(
        (status = 201, description = "Registered and logged in", body = MeView),
        (status = 403, description = "Registration is invite-only or closed", body = crate::error::ErrorBody),
        (status = 409, description = "The name is taken", body = crate::error::ErrorBody),
    ))]
async fn register(
    State(state): State<AppState>,
    https: RequestIsHttps,
    ApiJson(request): ApiJson<RegisterRequest>,
) -> ApiResult<impl IntoResponse> {
    match state.config.registration {
        RegistrationMode::Open => {}
        RegistrationMode::Invite => {
            return Err(ApiError::forbidden(
                "registration is by invitation: ask a hub administrator to create your account",
            ));
        }
        RegistrationMode::Closed => {
            return Err(ApiError::forbidden("registration is closed on this hub"));
        }
    }
    // A malformed name is the registry's 422, with its field called `username` here.
    let name: UserName = registry::parse_id("name", &request.username)
        .map_err(|error| rename_field(error.into(), "name", "username"))?;
    let (user, _) = state
        .registry
        .add_user(
            &format!("register:{name}"),
            NewUser {
                name,
                password: Some(request.password),
                display_name: request.display_name,
                email: request.email,
                language: request.language,
                is_admin: false,
            },
        )
        .await
        .map_err(|error| rename_field(error.into(), "name", "username"))?;
    let cookie = start_session(&state, &user, https).await?;
    let view: MeView = me_view(&state, user).await?;
    Ok((
        StatusCode::CREATED,
        AppendHeaders([(header::SET_COOKIE, cookie)]),
        axum::Json(view),
    ))
}
