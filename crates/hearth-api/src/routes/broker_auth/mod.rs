//! Authentication and ACL for an external MQTT broker (issue 21, docs/scale.md "Broker
//! authentication over HTTP"): in scale-out mode EMQX, VerneMQ or Mosquitto (with
//! mosquitto-go-auth) is the broker, and it asks these endpoints whether a client may
//! connect, publish and subscribe. Each answer comes from the registry's authorizer
//! through the [`BrokerAuthority`] seam, so that a device, an application, a person's
//! browser, a site and an administrator get exactly what the built-in broker gives them.
//!
//! - `emqx.rs`: EMQX 5 HTTP authentication and authorization.
//! - `vernemq.rs`: VerneMQ webhooks (`auth_on_register`, `auth_on_publish`,
//!   `auth_on_subscribe` and their `_m5` forms).
//! - `go_auth.rs`: mosquitto-go-auth's HTTP backend.
//!
//! The endpoints must not answer strangers: they would be a password oracle without the
//! broker's own limits. So they answer only when `[broker_auth] secret` is set (404
//! otherwise, before anything is read), and every call must carry that secret, as
//! `Authorization: Bearer <secret>` (EMQX sends configured headers) or as the query
//! parameter `secret` (VerneMQ's webhooks and go-auth send no headers of their own). It
//! is compared in constant time; failures are counted per client address in a
//! [`LoginLimiter`] like the login's (`[api] login_failures_per_minute`), and past the
//! limit even the right secret gets 429 for up to a minute from that address. The
//! addresses the right secret came from are "known" to the limiter, so that guessers on
//! many other addresses (past the per-name ceiling) do not lock the brokers out.

mod emqx;
mod go_auth;
mod vernemq;

use crate::error::ApiError;
use crate::routes::auth::ClientAddr;
use crate::seams::BrokerAuthority;
use crate::state::AppState;
use axum::extract::FromRequestParts;
use axum::http::HeaderMap;
use axum::http::request::Parts;
use hearth_services::LoginLimiter;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::Instant;
use utoipa_axum::router::OpenApiRouter;

/// The shortest secret accepted: a broker's secret is a password for every login.
pub const MIN_SECRET_LEN: usize = 24;

/// The limiter's key: one name for every broker, counted per address.
const LIMIT_NAME: &str = "broker-auth";

/// `[broker_auth]` of hearth.toml: present, the endpoints answer callers with `secret`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BrokerAuthConfig {
    /// What the broker sends, at least [`MIN_SECRET_LEN`] characters of `A-Z a-z 0-9 .
    /// _ ~ -` (it may travel in a URL's query).
    #[serde(deserialize_with = "checked_secret")]
    pub secret: String,
}

impl std::fmt::Debug for BrokerAuthConfig {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("BrokerAuthConfig")
            .field("secret", &"<hidden>")
            .finish()
    }
}

impl BrokerAuthConfig {
    /// Checks a secret as the configuration file's parser does; the error says why.
    pub fn new(secret: &str) -> Result<BrokerAuthConfig, String> {
        check_secret(secret)?;
        Ok(BrokerAuthConfig {
            secret: secret.to_owned(),
        })
    }
}

fn check_secret(secret: &str) -> Result<(), String> {
    let url_safe = secret
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '~' | '-'));
    if secret.len() < MIN_SECRET_LEN || !url_safe {
        return Err(format!(
            "broker_auth.secret: at least {MIN_SECRET_LEN} characters of A-Z a-z 0-9 . _ ~ - \
             (it may travel in a URL), e.g. from `openssl rand -hex 32`"
        ));
    }
    Ok(())
}

fn checked_secret<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    let secret = String::deserialize(deserializer)?;
    check_secret(&secret).map_err(serde::de::Error::custom)?;
    Ok(secret)
}

/// The running endpoints' state (in [`AppState`]): the authority, the secret's digest
/// and the limiter of wrong secrets.
#[derive(Clone)]
pub struct BrokerAuthState {
    authority: Arc<dyn BrokerAuthority>,
    secret_digest: [u8; 32],
    limiter: Arc<LoginLimiter>,
}

impl BrokerAuthState {
    pub fn new(
        authority: Arc<dyn BrokerAuthority>,
        config: &BrokerAuthConfig,
        failures_per_minute: u32,
    ) -> BrokerAuthState {
        BrokerAuthState {
            authority,
            secret_digest: Sha256::digest(config.secret.as_bytes()).into(),
            limiter: Arc::new(LoginLimiter::new(failures_per_minute)),
        }
    }

    /// Digests of equal length compared with every byte visited: the time taken says
    /// nothing about how much of a guess was right.
    fn matches(&self, presented: &str) -> bool {
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        digest
            .iter()
            .zip(self.secret_digest.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
    }
}

/// A request that carried the broker secret: handlers take it first, so nothing is
/// parsed or asked for anyone else.
pub struct Broker(pub Arc<dyn BrokerAuthority>);

impl FromRequestParts<AppState> for Broker {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Broker, ApiError> {
        let Some(broker) = &state.broker_auth else {
            return Err(ApiError::not_found(
                "authentication for an external broker is off on this hub ([broker_auth] secret)",
            ));
        };
        let Ok(ClientAddr(address)) = ClientAddr::from_request_parts(parts, state).await;
        let now = Instant::now();
        if let Err(wait) = broker.limiter.check(LIMIT_NAME, address, now) {
            return Err(ApiError::RateLimited {
                retry_after_secs: wait.as_secs().max(1),
            });
        }
        let presented = crate::session::bearer_token(&parts.headers).or_else(|| {
            form_urlencoded::parse(parts.uri.query().unwrap_or_default().as_bytes())
                .find(|(name, _)| name == "secret")
                .map(|(_, value)| value.into_owned())
        });
        if !presented.is_some_and(|secret| broker.matches(&secret)) {
            broker.limiter.fail(LIMIT_NAME, address, now);
            tracing::warn!(
                ?address,
                path = parts.uri.path(),
                "broker auth call without the right secret"
            );
            return Err(ApiError::Unauthenticated(
                "the broker secret ([broker_auth] secret) is missing or wrong".into(),
            ));
        }
        // The broker's address becomes known: guessers elsewhere, however many, cannot
        // push the limiter's per-name ceiling onto it and lock the broker out.
        broker.limiter.succeed(LIMIT_NAME, address, now);
        Ok(Broker(broker.authority.clone()))
    }
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(emqx::router())
        .merge(vernemq::router())
        .merge(go_auth::router())
}

/// A broker's body: a form (go-auth's `http_params_mode form`) when it says so, else
/// JSON. A body that does not parse is a 400 naming what is wrong (brokers log it; EMQX
/// takes a 4xx as "ignore", VerneMQ and go-auth as a refusal).
fn parse_body<T: DeserializeOwned>(headers: &HeaderMap, body: &[u8]) -> Result<T, ApiError> {
    let form = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/x-www-form-urlencoded"));
    let parsed = if form {
        serde_urlencoded::from_bytes(body).map_err(|error| error.to_string())
    } else {
        serde_json::from_slice(body).map_err(|error| error.to_string())
    };
    parsed.map_err(|message| ApiError::bad_request("body", message))
}

/// The filter a shared subscription stands for: `$share/{group}/{filter}` (and EMQX's
/// `$queue/{filter}`) are checked as `{filter}`, as the built-in broker does.
fn unshared(filter: &str) -> &str {
    if let Some(rest) = filter.strip_prefix("$share/") {
        return rest.split_once('/').map_or(rest, |(_, filter)| filter);
    }
    filter.strip_prefix("$queue/").unwrap_or(filter)
}

/// An empty user name is no user name: brokers render an absent one as `""`.
fn username(name: &Option<String>) -> Option<&str> {
    name.as_deref().filter(|name| !name.is_empty())
}

/// A client address as brokers send it (`127.0.0.1`, `::1`, or with a port).
fn peer_ip(text: Option<&str>) -> Option<std::net::IpAddr> {
    let text = text?.trim();
    text.parse().ok().or_else(|| {
        text.parse::<std::net::SocketAddr>()
            .ok()
            .map(|addr| addr.ip())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_subscriptions_are_checked_as_their_filter() {
        assert_eq!(unshared("$share/hearth/devices/+/data"), "devices/+/data");
        assert_eq!(unshared("$queue/devices/d1/data"), "devices/d1/data");
        assert_eq!(unshared("devices/d1/#"), "devices/d1/#");
        assert_eq!(unshared("$SYS/#"), "$SYS/#");
    }

    #[test]
    fn short_or_unsafe_secrets_are_refused() {
        assert!(BrokerAuthConfig::new("too-short").is_err());
        assert!(BrokerAuthConfig::new("a secret with spaces in it!!").is_err());
        assert!(BrokerAuthConfig::new(&"x".repeat(MIN_SECRET_LEN)).is_ok());
        let config = BrokerAuthConfig::new(&"k".repeat(40)).unwrap();
        assert!(!format!("{config:?}").contains("kkkk"));
    }

    #[test]
    fn peers_parse_with_or_without_a_port() {
        assert_eq!(peer_ip(Some("10.0.0.7")), "10.0.0.7".parse().ok());
        assert_eq!(peer_ip(Some("10.0.0.7:5000")), "10.0.0.7".parse().ok());
        assert_eq!(peer_ip(Some("::1")), "::1".parse().ok());
        assert_eq!(peer_ip(Some("undefined")), None);
    }
}
