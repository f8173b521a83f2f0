//! The web app (`web/`, a Vue PWA) served from the API's port: the files of `web/dist`
//! are embedded at compile time (release builds; debug builds read them from disk), and
//! any other GET outside `/api/` answers `index.html` so that the app's own router
//! handles deep links such as `/devices/kitchen-temp`.
//!
//! When the app was not built, the binary still builds (`allow_missing`) and every page
//! answers a placeholder that says how to build it. Hashed files under `assets/` are
//! cached for a year; `index.html`, the service worker and the manifest are revalidated
//! on every load (ETag), so that a new binary is picked up at once.

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use rust_embed::RustEmbed;

#[derive(RustEmbed)]
#[folder = "../../web/dist/"]
#[allow_missing = true]
struct Assets;

const PLACEHOLDER: &str = "<!doctype html><html><head><meta charset=\"utf-8\">\
<title>Hearth</title></head><body style=\"font-family:sans-serif;max-width:40em;margin:4em auto\">\
<h1>Hearth</h1><p>The hub is running, but the web app not built: run <code>make run</code> \
or <code>npm --prefix web ci &amp;&amp; npm --prefix web run build</code> and rebuild \
<code>hearth</code>.</p><p>The API is at <a href=\"/api/docs\">/api/docs</a>.</p></body></html>";

/// Whether the web app's files were built into (or, in a debug build, are beside) this
/// binary.
pub fn web_app_built() -> bool {
    Assets::get("index.html").is_some()
}

/// Answers a request that no API route took: a file of the app, `index.html` for an app
/// route, `None` for what belongs to the API (so that it keeps its JSON 404).
pub(crate) fn respond(method: &Method, uri: &Uri, headers: &HeaderMap) -> Option<Response> {
    let path = uri.path();
    if (method != Method::GET && method != Method::HEAD)
        || path == "/api"
        || path.starts_with("/api/")
    {
        return None;
    }
    let name = path.trim_start_matches('/');
    if !name.is_empty()
        && let Some(file) = Assets::get(name)
    {
        return Some(file_response(name, file, headers));
    }
    // A missing file (its last segment has an extension) is a 404, not the app: a stale
    // page asking for an old hashed script must not get HTML back.
    let last = name.rsplit('/').next().unwrap_or("");
    if last.contains('.') {
        return Some((StatusCode::NOT_FOUND, "not found").into_response());
    }
    Some(match Assets::get("index.html") {
        Some(file) => file_response("index.html", file, headers),
        None => (
            StatusCode::SERVICE_UNAVAILABLE,
            [
                (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                (header::CACHE_CONTROL, "no-store"),
            ],
            PLACEHOLDER,
        )
            .into_response(),
    })
}

fn file_response(name: &str, file: rust_embed::EmbeddedFile, headers: &HeaderMap) -> Response {
    let etag = format!("\"{}\"", hex::encode(&file.metadata.sha256_hash()[..16]));
    let cache = if name.starts_with("assets/") {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    let mime = file.metadata.mimetype();
    let content_type = if mime.starts_with("text/") || mime == "application/javascript" {
        format!("{mime}; charset=utf-8")
    } else {
        mime.to_owned()
    };
    let mut response = if headers
        .get(header::IF_NONE_MATCH)
        .is_some_and(|value| value.as_bytes() == etag.as_bytes())
    {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        Response::new(Body::from(file.data.into_owned()))
    };
    let response_headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&content_type) {
        response_headers.insert(header::CONTENT_TYPE, value);
    }
    response_headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    if let Ok(value) = HeaderValue::from_str(&etag) {
        response_headers.insert(header::ETAG, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(path: &str) -> Option<Response> {
        respond(&Method::GET, &path.parse().unwrap(), &HeaderMap::new())
    }

    #[test]
    fn api_paths_are_left_to_the_api() {
        assert!(get("/api/v1/nowhere").is_none());
        assert!(get("/api").is_none());
        assert!(
            respond(
                &Method::POST,
                &"/devices".parse().unwrap(),
                &HeaderMap::new()
            )
            .is_none()
        );
    }

    #[test]
    fn app_routes_answer_html_built_or_not() {
        let response = get("/devices/kitchen-temp").unwrap();
        let content_type = response.headers()[header::CONTENT_TYPE].to_str().unwrap();
        assert!(content_type.starts_with("text/html"), "{content_type}");
        let expected = if web_app_built() {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        };
        assert_eq!(response.status(), expected);
    }

    #[test]
    fn a_missing_file_is_not_the_app() {
        let response = get("/assets/index-00000000.js").unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
    }

    #[test]
    fn index_is_revalidated_and_etagged() {
        if !web_app_built() {
            return;
        }
        let response = get("/").unwrap();
        assert_eq!(response.headers()[header::CACHE_CONTROL], "no-cache");
        let etag = response.headers()[header::ETAG].clone();
        let mut headers = HeaderMap::new();
        headers.insert(header::IF_NONE_MATCH, etag);
        let again = respond(&Method::GET, &"/".parse().unwrap(), &headers).unwrap();
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    }

    #[test]
    fn hashed_assets_are_immutable() {
        let Some(name) = Assets::iter().find(|name| name.starts_with("assets/")) else {
            return;
        };
        let response = get(&format!("/{name}")).unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let cache = response.headers()[header::CACHE_CONTROL].to_str().unwrap();
        assert!(cache.contains("immutable"), "{cache}");
    }
}
