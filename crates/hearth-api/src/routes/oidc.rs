//! `/api/v1/auth/oidc/...`: signing in with an OpenID Connect provider (issue 23). The
//! protocol is `hearth_services::oidc`; here are the browser's three requests:
//!
//! - `GET /auth/oidc/providers`: the configured providers' ids and names (no login:
//!   the login page shows a button for each).
//! - `GET /auth/oidc/{provider}/start`: a 303 to the provider's authorization page,
//!   with the flow cookie (`hearth_oidc`: state, nonce, PKCE verifier; MAC'd, HttpOnly,
//!   SameSite=Lax, ten minutes, only sent to `/api/v1/auth/oidc/`).
//! - `GET /auth/oidc/{provider}/callback`: where the provider sends the browser back.
//!   On success the session cookie is set exactly as the password login sets it and
//!   the browser goes to `/` (or to the hub path `start` was given as `return_to`,
//!   e.g. the claim page the person scanned; anything else is ignored); on failure to `/login?oidc_error=<code>` (and
//!   `oidc_detail=<the provider's error code>` when it gave one), which the web app
//!   words. Either way the flow cookie is cleared: a code is tried once.
//!
//! Both are GETs (browser navigations), so the cross-site check of state-changing
//! requests does not apply; what binds the callback to the browser that started the
//! sign-in is the flow cookie's state, and the provider's redirect to an address it
//! has registered.

use super::auth::start_session;
use crate::security::RequestIsHttps;
use crate::state::AppState;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hearth_services::oidc::{Callback, FLOW_COOKIE, FLOW_TTL_MS, OidcError};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(providers))
        .routes(routes!(start))
        .routes(routes!(callback))
}

/// Where the flow cookie is sent.
const FLOW_PATH: &str = "/api/v1/auth/oidc/";

/// A provider people may sign in with.
#[derive(Debug, Serialize, ToSchema)]
pub struct OidcProviderView {
    pub id: String,
    /// What the button says: "Sign in with {name}".
    pub name: String,
}

/// The identity providers configured on this hub (empty when none). No login needed.
#[utoipa::path(get, path = "/auth/oidc/providers", tag = "auth",
    responses((status = 200, body = Vec<OidcProviderView>)))]
async fn providers(State(state): State<AppState>) -> axum::Json<Vec<OidcProviderView>> {
    let list = state
        .oidc
        .as_ref()
        .map(|oidc| oidc.list())
        .unwrap_or_default();
    axum::Json(
        list.into_iter()
            .map(|(id, name)| OidcProviderView { id, name })
            .collect(),
    )
}

fn flow_cookie(value: &str, max_age_secs: i64, secure: bool) -> String {
    format!(
        "{FLOW_COOKIE}={value}; Path={FLOW_PATH}; HttpOnly; SameSite=Lax; Max-Age={max_age_secs}{}",
        if secure { "; Secure" } else { "" }
    )
}

fn read_cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .find_map(|pair| {
            let (key, value) = pair.trim().split_once('=')?;
            (key == name && !value.is_empty()).then(|| value.to_owned())
        })
}

/// A 303 to `location` with these cookies.
fn see_other(location: &str, cookies: Vec<String>) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    let headers = response.headers_mut();
    if let Ok(value) = location.parse() {
        headers.insert(header::LOCATION, value);
    }
    for cookie in cookies {
        if let Ok(value) = cookie.parse() {
            headers.append(header::SET_COOKIE, value);
        }
    }
    response
}

/// Back to the login page with the failure's code.
fn failed(error: &OidcError, provider: &str, secure: bool) -> Response {
    tracing::info!(provider, code = error.code(), %error, "OpenID Connect sign-in failed");
    let mut location = format!("/login?oidc_error={}", error.code());
    if let Some(detail) = error.provider_code() {
        location.push_str("&oidc_detail=");
        location.push_str(detail);
    }
    see_other(&location, vec![flow_cookie("", 0, secure)])
}

/// The redirect URI for `provider`: `[oidc] public_url`, or the address this request
/// came to.
fn redirect_uri(state: &AppState, headers: &HeaderMap, https: bool, provider: &str) -> String {
    let path = format!("/api/v1/auth/oidc/{provider}/callback");
    if let Some(base) = state.oidc.as_ref().and_then(|oidc| oidc.public_url()) {
        return format!("{base}{path}");
    }
    let text = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
    let host = state
        .config
        .trust_forwarded_for
        .then(|| text("x-forwarded-host"))
        .flatten()
        .and_then(|value| value.split(',').next())
        .map(str::trim)
        .or_else(|| text("host"))
        .unwrap_or("localhost");
    format!("{}://{host}{path}", if https { "https" } else { "http" })
}

/// Where to go once signed in.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StartQuery {
    /// A path on this hub (`/claim?device=...`) the web app returns to once signed in;
    /// anything that is not one (`//host`, a full URL) is ignored.
    pub return_to: Option<String>,
}

/// Starts signing in with `provider`: a 303 to its authorization page.
#[utoipa::path(get, path = "/auth/oidc/{provider}/start", tag = "auth",
    params(("provider" = String, Path, description = "The provider's id"), StartQuery),
    responses(
        (status = 303, description = "To the provider's authorization page, with the flow cookie; \
            to `/login?oidc_error=...` when the provider is unknown or unreachable"),
    ))]
async fn start(
    State(state): State<AppState>,
    Path(provider): Path<String>,
    https: RequestIsHttps,
    headers: HeaderMap,
    Query(query): Query<StartQuery>,
) -> Response {
    let secure = https.0;
    let Some(oidc) = state.oidc.clone() else {
        return failed(&OidcError::UnknownProvider, &provider, secure);
    };
    let redirect = redirect_uri(&state, &headers, secure, &provider);
    match oidc
        .start(&provider, &redirect, query.return_to.as_deref())
        .await
    {
        Ok((url, cookie)) => {
            see_other(&url, vec![flow_cookie(&cookie, FLOW_TTL_MS / 1000, secure)])
        }
        Err(error) => failed(&error, &provider, secure),
    }
}

/// What the provider sends back (other parameters, such as `iss` of RFC 9207, are
/// ignored: the ID token's `iss` is checked).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CallbackQuery {
    pub code: Option<String>,
    pub state: Option<String>,
    /// The provider's error code (`access_denied`) instead of a code.
    pub error: Option<String>,
}

/// Where the provider sends the browser back: finishes the sign-in and starts a session.
#[utoipa::path(get, path = "/auth/oidc/{provider}/callback", tag = "auth",
    params(("provider" = String, Path, description = "The provider's id"), CallbackQuery),
    responses(
        (status = 303, description = "Signed in: to `/` (or the start's `return_to`) with `Set-Cookie: hearth_session=...`; \
            otherwise to `/login?oidc_error=<code>`"),
    ))]
async fn callback(
    State(state): State<AppState>,
    Path(provider): Path<String>,
    https: RequestIsHttps,
    headers: HeaderMap,
    Query(query): Query<CallbackQuery>,
) -> Response {
    let secure = https.0;
    let Some(oidc) = state.oidc.clone() else {
        return failed(&OidcError::UnknownProvider, &provider, secure);
    };
    let cookie = read_cookie(&headers, FLOW_COOKIE);
    let answer = Callback {
        code: query.code,
        state: query.state,
        error: query.error,
    };
    let signed_in = match oidc.finish(&provider, cookie.as_deref(), &answer).await {
        Ok(signed_in) => signed_in,
        Err(error) => return failed(&error, &provider, secure),
    };
    let user = signed_in.user;
    let next = signed_in.return_to.unwrap_or_else(|| "/".to_owned());
    match start_session(&state, &user, RequestIsHttps(secure)).await {
        Ok(session) => {
            tracing::info!(provider, user = %user.name, "signed in through OpenID Connect");
            see_other(&next, vec![session, flow_cookie("", 0, secure)])
        }
        Err(error) => failed(&OidcError::Internal(error.to_string()), &provider, secure),
    }
}
