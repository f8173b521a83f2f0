//! Browser-facing defences that apply to every route: the cross-site request check
//! ([`check_origin`]), the security headers ([`security_headers`]) and whether a
//! request came over HTTPS ([`RequestIsHttps`], which decides the cookie's `Secure`).
//!
//! # Cross-site requests
//! A session cookie is sent by the browser with any request to the hub, including ones
//! a page on another origin makes (another port of the same host is "same site", so
//! `SameSite=Lax` does not stop it). Two rules close that:
//! - JSON bodies must be sent as `Content-Type: application/json` (`extract::ApiJson`,
//!   415 otherwise): a cross-origin page can send `text/plain`, form and multipart
//!   bodies without asking, but not JSON (that needs a CORS preflight the hub never
//!   grants).
//! - A state-changing request (POST, PUT, PATCH, DELETE) carrying the session cookie, or
//!   any `Origin`, must show it comes from the hub's own pages: `Origin` equal to the
//!   request's host (`X-Forwarded-Host` instead when `trust_forwarded_for` says a
//!   proxy sets it), or, without `Origin`, `Sec-Fetch-Site: same-origin`. With
//!   neither, it is refused: every current browser sends `Origin` on such requests,
//!   and scripts should use a bearer token. Bearer-token requests are exempt: a page
//!   cannot make a browser add an `Authorization` header to a cross-origin request.
//!   The scheme of `Origin` is not compared (behind a TLS proxy the hub sees plain
//!   HTTP); the host and port are.

use crate::error::ApiError;
use crate::session::{bearer_token, session_cookie};
use crate::state::AppState;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// The Content-Security-Policy of every response. The web app (Vue + Naive UI) and the
/// API docs (Swagger UI) load scripts only from the hub; Naive UI and ECharts set
/// inline styles, hence `'unsafe-inline'` for styles only. `connect-src` allows
/// WebSockets to any host because the browser's MQTT connection goes to the broker's
/// WebSocket listener, a different port (and, behind some proxies, host) that the API
/// does not know; scripts still come only from the hub, so nothing injected can run to
/// use it. Images and video may come from any http(s) host: a camera's MJPEG stream,
/// snapshot URL or HLS playlist (docs/cameras.md) is on the household's LAN or media
/// server, which the hub does not know and never proxies; an image or a video cannot
/// run code, and scripts stay the hub's own.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
    style-src 'self' 'unsafe-inline'; img-src 'self' data: blob: http: https:; \
    media-src 'self' blob: http: https:; font-src 'self' data:; \
    connect-src 'self' ws: wss:; worker-src 'self'; manifest-src 'self'; \
    object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'";

/// Adds the security headers to every response (API, web app, docs, errors).
pub(crate) async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    let fixed: [(HeaderName, &'static str); 4] = [
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
    ];
    for (name, value) in fixed {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

/// Refuses state-changing cookie requests from other origins (see the module docs).
pub(crate) async fn check_origin(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let headers = request.headers();
    let state_changing = matches!(
        *request.method(),
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    );
    let cookie_borne = bearer_token(headers).is_none()
        && (session_cookie(headers).is_some() || headers.contains_key(header::ORIGIN));
    if state_changing
        && cookie_borne
        && let Err(message) = same_origin(headers, state.config.trust_forwarded_for)
    {
        return ApiError::forbidden(message).into_response();
    }
    next.run(request).await
}

/// `Ok` when the request's `Origin` (or `Sec-Fetch-Site`) shows the hub's own page sent it.
fn same_origin(headers: &HeaderMap, trust_proxy: bool) -> Result<(), String> {
    let text = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
    let forwarded_host = trust_proxy
        .then(|| text("x-forwarded-host"))
        .flatten()
        .and_then(|value| value.split(',').next())
        .map(str::trim);
    let Some(host) = forwarded_host.or_else(|| text("host")) else {
        return Err("the request has no Host header, so its origin cannot be checked".into());
    };
    if let Some(origin) = text("origin") {
        let authority = origin
            .strip_prefix("https://")
            .or_else(|| origin.strip_prefix("http://"));
        return match authority {
            Some(authority) if authority.eq_ignore_ascii_case(host) => Ok(()),
            _ => Err(format!(
                "cross-origin request refused: Origin {origin:?} is not this hub ({host}); \
                 changes with the session cookie must come from the hub's own pages \
                 (scripts: use an API token)"
            )),
        };
    }
    match text("sec-fetch-site") {
        Some("same-origin") => Ok(()),
        Some(site) => Err(format!(
            "cross-origin request refused: Sec-Fetch-Site is {site:?}, not \"same-origin\""
        )),
        None => Err(
            "a change made with the session cookie must carry an Origin header showing it \
             comes from the hub's own pages (browsers send it); scripts: use an API token \
             (Authorization: Bearer)"
                .into(),
        ),
    }
}

/// Marks requests that reached the hub over TLS. A TLS listener (issue 16) adds it to
/// each request, e.g. `router.layer(axum::Extension(ServedOverTls))`, and the session
/// cookie becomes `Secure` with no setting to remember.
#[derive(Debug, Clone, Copy)]
pub struct ServedOverTls;

/// Whether the request came over HTTPS: the listener was TLS ([`ServedOverTls`]), or a
/// trusted proxy (`trust_forwarded_for`) says `X-Forwarded-Proto: https`, or
/// `secure_cookies` says the hub is only reached over HTTPS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestIsHttps(pub bool);

impl FromRequestParts<AppState> for RequestIsHttps {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<RequestIsHttps, Self::Rejection> {
        let forwarded_https = state.config.trust_forwarded_for
            && parts
                .headers
                .get("x-forwarded-proto")
                .and_then(|value| value.to_str().ok())
                .and_then(|value| value.split(',').next())
                .is_some_and(|proto| proto.trim().eq_ignore_ascii_case("https"));
        Ok(RequestIsHttps(
            state.config.secure_cookies
                || forwarded_https
                || parts.extensions.get::<ServedOverTls>().is_some(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn camera_pictures_may_come_from_anywhere_but_scripts_only_from_the_hub() {
        let directive = |name: &str| {
            CONTENT_SECURITY_POLICY
                .split(';')
                .map(str::trim)
                .find_map(|part| part.strip_prefix(name)?.strip_prefix(' '))
                .unwrap_or_else(|| panic!("no {name}"))
        };
        assert_eq!(directive("script-src"), "'self'");
        assert_eq!(directive("default-src"), "'self'");
        assert_eq!(directive("img-src"), "'self' data: blob: http: https:");
        assert_eq!(directive("media-src"), "'self' blob: http: https:");
    }

    #[test]
    fn origins_are_compared_with_the_host() {
        let same = headers(&[("host", "hub:8080"), ("origin", "http://hub:8080")]);
        assert!(same_origin(&same, false).is_ok());
        let other_port = headers(&[("host", "hub:8080"), ("origin", "http://hub:9999")]);
        assert!(same_origin(&other_port, false).is_err());
        let null = headers(&[("host", "hub:8080"), ("origin", "null")]);
        assert!(same_origin(&null, false).is_err());
        let fetch_site = headers(&[("host", "hub"), ("sec-fetch-site", "same-site")]);
        assert!(same_origin(&fetch_site, false).is_err());
        let fetch_same = headers(&[("host", "hub"), ("sec-fetch-site", "same-origin")]);
        assert!(same_origin(&fetch_same, false).is_ok());
        assert!(same_origin(&headers(&[("host", "hub")]), false).is_err());
        let proxied = headers(&[
            ("host", "127.0.0.1:8080"),
            ("x-forwarded-host", "hub.example"),
            ("origin", "https://hub.example"),
        ]);
        assert!(same_origin(&proxied, true).is_ok());
        assert!(
            same_origin(&proxied, false).is_err(),
            "X-Forwarded-Host counts only behind a trusted proxy"
        );
    }
}
