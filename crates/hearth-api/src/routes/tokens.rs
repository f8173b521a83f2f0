//! `/api/v1/tokens`: personal API tokens for scripts (`Authorization: Bearer hat_...`).
//!
//! Tokens are managed from a login session only (403 with a token; see
//! `Caller::require_session`), and a password change revokes them all.

use crate::caller::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiJson;
use crate::session::{TOKEN_PREFIX, digest, random_hex_256};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use hearth_model::{Millis, NewAuditEntry, now_millis};
use hearth_store::ApiToken;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_tokens, create_token))
        .routes(routes!(revoke_token))
}

/// Longest lifetime a token may be given (a year); `null` means no expiry.
const MAX_TOKEN_DAYS: u32 = 366;

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenView {
    pub id: String,
    pub name: String,
    pub created_at_ms: Millis,
    pub expires_at_ms: Option<Millis>,
    pub last_used_ms: Option<Millis>,
}

impl From<ApiToken> for TokenView {
    fn from(token: ApiToken) -> TokenView {
        TokenView {
            id: token.id,
            name: token.name,
            created_at_ms: token.created_at_ms,
            expires_at_ms: token.expires_at_ms,
            last_used_ms: token.last_used_ms,
        }
    }
}

/// A new token, with its secret (shown this once).
#[derive(Debug, Serialize, ToSchema)]
pub struct NewTokenView {
    #[serde(flatten)]
    pub token: TokenView,
    /// Send as `Authorization: Bearer <token>`.
    pub token_secret: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTokenRequest {
    /// What the token is for ("backup script").
    pub name: String,
    /// Days until it expires (1..=366); absent for no expiry.
    pub expires_in_days: Option<u32>,
}

/// The caller's tokens (never their secrets).
#[utoipa::path(get, path = "/tokens", tag = "tokens",
    responses((status = 200, body = Vec<TokenView>), (status = 403, description = "Called with an API token", body = crate::error::ErrorBody)))]
async fn list_tokens(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<axum::Json<Vec<TokenView>>> {
    caller.require_session("listing API tokens")?;
    let tokens = state.store.tokens_of(&caller.user.name).await?;
    Ok(axum::Json(
        tokens.into_iter().map(TokenView::from).collect(),
    ))
}

/// Creates a token for the caller; its secret is in this response only.
#[utoipa::path(post, path = "/tokens", tag = "tokens", request_body = NewTokenRequest,
    responses((status = 201, body = NewTokenView), (status = 403, description = "Called with an API token", body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
async fn create_token(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(request): ApiJson<NewTokenRequest>,
) -> ApiResult<(StatusCode, axum::Json<NewTokenView>)> {
    caller.require_session("creating an API token")?;
    let name = request.name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(ApiError::invalid(
            "name",
            "name: must be 1 to 100 characters, without control characters",
        ));
    }
    let now = now_millis();
    let expires_at_ms = match request.expires_in_days {
        None => None,
        Some(days @ 1..=MAX_TOKEN_DAYS) => Some(now + i64::from(days) * 86_400_000),
        Some(days) => {
            return Err(ApiError::invalid(
                "expires_in_days",
                format!("expires_in_days: {days} is out of range 1..={MAX_TOKEN_DAYS}"),
            ));
        }
    };
    let secret = format!("{TOKEN_PREFIX}{}", random_hex_256());
    let token = ApiToken {
        id: format!("tok_{}", &random_hex_256()[..16]),
        user: caller.user.name.clone(),
        name: name.to_owned(),
        created_at_ms: now,
        expires_at_ms,
        last_used_ms: None,
    };
    state
        .store
        .create_token(
            &token,
            &digest(&secret),
            &NewAuditEntry::new(&caller.actor(), "token.add", &caller.user.name)
                .with_detail(json!({ "token": token.id, "name": token.name })),
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(NewTokenView {
            token: token.into(),
            token_secret: secret,
        }),
    ))
}

/// Revokes one of the caller's tokens.
#[utoipa::path(delete, path = "/tokens/{id}", tag = "tokens",
    params(("id" = String, Path, description = "The token's id (`tok_...`)")),
    responses((status = 204), (status = 404, body = crate::error::ErrorBody)))]
async fn revoke_token(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    caller.require_session("revoking an API token")?;
    state
        .store
        .delete_token(
            &caller.user.name,
            &id,
            &NewAuditEntry::new(&caller.actor(), "token.remove", &caller.user.name)
                .with_detail(json!({ "token": id })),
        )
        .await?;
    if let Some(issuer) = &state.mqtt_credentials {
        issuer.revoke_session(&id);
    }
    Ok(StatusCode::NO_CONTENT)
}
