//! One provider at run time: its discovery document (fetched at the first sign-in and
//! kept), its keys (fetched with it, again when a token names a key not held, at most
//! once a minute), and the token endpoint.

use super::OidcError;
use super::config::{ProviderConfig, allowed_url};
use super::jwt::{self, Jwks, TokenError};
use crate::outbound::HttpClient;
use base64::Engine;
use serde::Deserialize;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a request to the provider may take.
const TIMEOUT: Duration = Duration::from_secs(10);
/// The largest discovery, JWKS or token answer read.
const MAX_ANSWER: usize = 256 * 1024;
/// Keys are fetched again for an unknown `kid` at most this often.
const REFETCH_KEYS_AFTER: Duration = Duration::from_secs(60);

/// The fields of `/.well-known/openid-configuration` Hearth uses.
#[derive(Debug, Clone, Deserialize)]
pub struct Metadata {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub jwks_uri: String,
    #[serde(default)]
    pub token_endpoint_auth_methods_supported: Option<Vec<String>>,
    #[serde(default)]
    pub code_challenge_methods_supported: Option<Vec<String>>,
}

struct Keys {
    jwks: Arc<Jwks>,
    fetched: Instant,
}

/// A configured provider with what was learnt about it.
pub struct Provider {
    pub config: ProviderConfig,
    pub(super) client_secret: String,
    http: HttpClient,
    metadata: tokio::sync::Mutex<Option<Arc<Metadata>>>,
    keys: tokio::sync::Mutex<Option<Keys>>,
}

#[derive(Deserialize)]
struct TokenAnswer {
    #[serde(default)]
    id_token: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

/// A provider's error code as Hearth repeats it: short, ASCII letters and `_` only.
fn error_code(code: &str) -> String {
    code.chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .take(40)
        .collect()
}

impl Provider {
    pub fn new(config: ProviderConfig, client_secret: String, http: HttpClient) -> Provider {
        Provider {
            config,
            client_secret,
            http,
            metadata: tokio::sync::Mutex::new(None),
            keys: tokio::sync::Mutex::new(None),
        }
    }

    async fn get_json<T: serde::de::DeserializeOwned>(&self, url: &str) -> Result<T, OidcError> {
        let unreachable = |why: String| OidcError::Unreachable(format!("{url}: {why}"));
        let (status, body) = self
            .http
            .fetch(
                "GET",
                url,
                Vec::new(),
                &[("accept", "application/json")],
                TIMEOUT,
                MAX_ANSWER,
            )
            .await
            .map_err(|error| unreachable(error.to_string()))?;
        if status != 200 {
            return Err(unreachable(format!("HTTP {status}")));
        }
        serde_json::from_slice(&body).map_err(|error| unreachable(error.to_string()))
    }

    /// The discovery document, fetched once (a failure is tried again next time).
    pub async fn metadata(&self) -> Result<Arc<Metadata>, OidcError> {
        let mut held = self.metadata.lock().await;
        if let Some(metadata) = &*held {
            return Ok(metadata.clone());
        }
        let url = format!(
            "{}/.well-known/openid-configuration",
            self.config.issuer.trim_end_matches('/')
        );
        let metadata: Metadata = self.get_json(&url).await?;
        // OIDC Discovery 4.3: the document's issuer is exactly the one configured.
        if metadata.issuer != self.config.issuer {
            return Err(OidcError::Unreachable(format!(
                "{url}: the document names issuer {:?}, not {:?}",
                metadata.issuer, self.config.issuer
            )));
        }
        for endpoint in [
            &metadata.authorization_endpoint,
            &metadata.token_endpoint,
            &metadata.jwks_uri,
        ] {
            if !allowed_url(endpoint) {
                return Err(OidcError::Unreachable(format!(
                    "{url}: endpoint {endpoint:?} is not https://"
                )));
            }
        }
        if let Some(methods) = &metadata.code_challenge_methods_supported
            && !methods.iter().any(|method| method == "S256")
        {
            return Err(OidcError::Unreachable(format!(
                "{url}: the provider does not support PKCE with S256"
            )));
        }
        let metadata = Arc::new(metadata);
        *held = Some(metadata.clone());
        Ok(metadata)
    }

    /// The provider's keys; fetched again when `refresh` and the last fetch is older
    /// than a minute.
    async fn keys(&self, refresh: bool) -> Result<Arc<Jwks>, OidcError> {
        let mut held = self.keys.lock().await;
        if let Some(keys) = &*held
            && (!refresh || keys.fetched.elapsed() < REFETCH_KEYS_AFTER)
        {
            return Ok(keys.jwks.clone());
        }
        let metadata = self.metadata().await?;
        let jwks: Jwks = self.get_json(&metadata.jwks_uri).await?;
        let jwks = Arc::new(jwks);
        *held = Some(Keys {
            jwks: jwks.clone(),
            fetched: Instant::now(),
        });
        Ok(jwks)
    }

    /// Exchanges `code` (with the PKCE verifier) at the token endpoint; the ID token.
    pub async fn exchange(
        &self,
        code: &str,
        redirect_uri: &str,
        verifier: &str,
    ) -> Result<String, OidcError> {
        let metadata = self.metadata().await?;
        // client_secret_basic unless the provider says it takes only client_secret_post.
        let post_only = metadata
            .token_endpoint_auth_methods_supported
            .as_ref()
            .is_some_and(|methods| {
                !methods.iter().any(|m| m == "client_secret_basic")
                    && methods.iter().any(|m| m == "client_secret_post")
            });
        // Built in a block: the serializer is not Send and must not live across an await.
        let (form, authorization) = {
            let mut form = form_urlencoded::Serializer::new(String::new());
            form.append_pair("grant_type", "authorization_code")
                .append_pair("code", code)
                .append_pair("redirect_uri", redirect_uri)
                .append_pair("code_verifier", verifier)
                .append_pair("client_id", &self.config.client_id);
            let mut authorization = None;
            if post_only {
                form.append_pair("client_secret", &self.client_secret);
            } else {
                let encode = |value: &str| {
                    form_urlencoded::byte_serialize(value.as_bytes()).collect::<String>()
                };
                let pair = format!(
                    "{}:{}",
                    encode(&self.config.client_id),
                    encode(&self.client_secret)
                );
                authorization = Some(format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(pair)
                ));
            }
            (form.finish(), authorization)
        };
        let mut headers = vec![
            ("content-type", "application/x-www-form-urlencoded"),
            ("accept", "application/json"),
        ];
        if let Some(authorization) = &authorization {
            headers.push(("authorization", authorization.as_str()));
        }
        let (status, body) = self
            .http
            .fetch(
                "POST",
                &metadata.token_endpoint,
                form.into_bytes(),
                &headers,
                TIMEOUT,
                MAX_ANSWER,
            )
            .await
            .map_err(|error| OidcError::Unreachable(format!("token endpoint: {error}")))?;
        let answer: Option<TokenAnswer> = serde_json::from_slice(&body).ok();
        if status != 200 {
            let code = answer
                .and_then(|answer| answer.error)
                .map(|code| error_code(&code))
                .unwrap_or_else(|| format!("http_{status}"));
            return Err(OidcError::Refused(code));
        }
        answer
            .and_then(|answer| answer.id_token)
            .ok_or_else(|| OidcError::Refused("no_id_token".into()))
    }

    /// Verifies `id_token` (signature, issuer, audience, expiry, nonce); its claims.
    pub async fn verify(
        &self,
        id_token: &str,
        nonce: &str,
    ) -> Result<serde_json::Map<String, serde_json::Value>, OidcError> {
        let expected = jwt::Expected {
            issuer: &self.config.issuer,
            client_id: &self.config.client_id,
            nonce,
            now: hearth_model::now_millis() / 1000,
        };
        let keys = self.keys(false).await?;
        match jwt::verify(id_token, &keys, &expected) {
            // A key the provider rotated in since the last fetch.
            Err(TokenError::UnknownKey(_)) => {
                let keys = self.keys(true).await?;
                jwt::verify(id_token, &keys, &expected).map_err(OidcError::Token)
            }
            other => other.map_err(OidcError::Token),
        }
    }
}
