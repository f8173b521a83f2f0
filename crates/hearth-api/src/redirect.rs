//! The HTTP-to-HTTPS redirect listener (`--http-redirect`): every request is answered
//! `301 Moved Permanently` to the same path and query on the hub's HTTPS address.
//!
//! The redirect must not become an open redirect. The target's scheme is always
//! `https`, its path and query are the request's own (an absolute-form request target
//! such as `GET http://elsewhere/x` contributes only `/x`), and its host is:
//!
//! 1. the configured `redirect_host` when there is one (recommended for a hub reached
//!    under a public name), else
//! 2. the request's `Host` header, only when it is a plain DNS name or an IP address
//!    (letters, digits, `-` and `.`; or an IPv4/bracketed IPv6 literal), with its port
//!    replaced by the HTTPS listener's. Anything else (`user@host`, `/`, `\`, spaces,
//!    a missing Host) is answered 400 without a `Location`.

use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::convert::Infallible;
use std::future::Future;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Duration;

/// Where the redirect listener sends browsers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedirectTarget {
    /// `host` or `host:port` to name in every redirect; `None`: the request's own host
    /// (when it is a valid host name) with `https_port`.
    pub host: Option<String>,
    /// The HTTPS listener's port, used with the request's host (443 is left out).
    pub https_port: u16,
}

impl RedirectTarget {
    /// The `Location` for a request with this `Host` header and request target, or
    /// `None` when the host cannot be trusted into a URL.
    pub fn location(&self, host_header: Option<&str>, uri: &hyper::Uri) -> Option<String> {
        let authority = match &self.host {
            Some(host) => host.clone(),
            None => {
                let host = plain_host(host_header?)?;
                if self.https_port == 443 {
                    host
                } else {
                    format!("{host}:{}", self.https_port)
                }
            }
        };
        let path = uri
            .path_and_query()
            .map(|path| path.as_str())
            .filter(|path| path.starts_with('/'))
            .unwrap_or("/");
        Some(format!("https://{authority}{path}"))
    }
}

/// The host part of a `Host` header value if it is a DNS name or an IP literal,
/// lowercased and without its port.
fn plain_host(value: &str) -> Option<String> {
    let value = value.trim();
    if let Some(rest) = value.strip_prefix('[') {
        let (literal, after) = rest.split_once(']')?;
        literal.parse::<Ipv6Addr>().ok()?;
        if !(after.is_empty() || after.strip_prefix(':').is_some_and(is_port)) {
            return None;
        }
        return Some(format!("[{}]", literal.to_ascii_lowercase()));
    }
    let host = match value.rsplit_once(':') {
        Some((host, port)) if is_port(port) => host,
        Some(_) => return None,
        None => value,
    };
    if host.parse::<Ipv4Addr>().is_ok() || is_dns_name(host) {
        Some(host.to_ascii_lowercase())
    } else {
        None
    }
}

fn is_port(text: &str) -> bool {
    !text.is_empty() && text.len() <= 5 && text.bytes().all(|byte| byte.is_ascii_digit())
}

fn is_dns_name(host: &str) -> bool {
    let host = host.strip_suffix('.').unwrap_or(host);
    !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-')
        })
}

fn answer(target: &RedirectTarget, request: &Request<Incoming>) -> Response<String> {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|value| value.to_str().ok());
    let location = target.location(host, request.uri()).and_then(|location| {
        HeaderValue::from_str(&location)
            .ok()
            .map(|value| (location, value))
    });
    let mut response = Response::new(String::new());
    match location {
        Some((location, value)) => {
            *response.status_mut() = StatusCode::MOVED_PERMANENTLY;
            response.headers_mut().insert(header::LOCATION, value);
            *response.body_mut() = format!("This hub is served over HTTPS: {location}\n");
        }
        None => {
            *response.status_mut() = StatusCode::BAD_REQUEST;
            *response.body_mut() =
                "This hub is served over HTTPS; the Host header is not a host name.\n".into();
        }
    }
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// Answers every request on `listener` with a redirect to `target` until `shutdown`.
pub async fn serve_redirect(
    listener: tokio::net::TcpListener,
    target: RedirectTarget,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(10))
        .max_header_size(crate::server::MAX_HEAD_BYTES)
        .max_buf_size(crate::server::MAX_HEAD_BYTES.max(8192));
    let target = std::sync::Arc::new(target);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::warn!(%error, "cannot accept an HTTP connection (redirect)");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => return Ok(()),
        };
        let target = target.clone();
        let service = hyper::service::service_fn(move |request: Request<Incoming>| {
            let response = answer(&target, &request);
            async move { Ok::<_, Infallible>(response) }
        });
        let connection = builder.serve_connection(TokioIo::new(stream), service);
        tokio::spawn(async move {
            let _ = connection.await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(host: Option<&str>, port: u16) -> RedirectTarget {
        RedirectTarget {
            host: host.map(str::to_owned),
            https_port: port,
        }
    }

    fn at(target: &RedirectTarget, host: Option<&str>, uri: &str) -> Option<String> {
        target.location(host, &uri.parse().unwrap())
    }

    #[test]
    fn path_and_query_are_kept_and_the_port_is_the_https_one() {
        let t = target(None, 8443);
        assert_eq!(
            at(&t, Some("hub.local:8080"), "/devices?page=2").as_deref(),
            Some("https://hub.local:8443/devices?page=2")
        );
        assert_eq!(
            at(&target(None, 443), Some("Hub.Example.org"), "/").as_deref(),
            Some("https://hub.example.org/")
        );
        assert_eq!(
            at(&t, Some("[::1]:80"), "/x").as_deref(),
            Some("https://[::1]:8443/x")
        );
        assert_eq!(
            at(&t, Some("192.168.1.5"), "/").as_deref(),
            Some("https://192.168.1.5:8443/")
        );
    }

    #[test]
    fn hosts_that_are_not_host_names_get_no_redirect() {
        let t = target(None, 8443);
        for bad in [
            "evil.com@hub",
            "evil.com/x",
            "evil.com\\x",
            "hub:80:80",
            "hub:port",
            "-hub",
            "",
            "a b",
            "[::1",
            "javascript:alert(1)",
        ] {
            assert_eq!(at(&t, Some(bad), "/"), None, "{bad:?}");
        }
        assert_eq!(at(&t, None, "/"), None);
    }

    #[test]
    fn an_absolute_request_target_contributes_only_its_path() {
        let t = target(None, 8443);
        assert_eq!(
            at(&t, Some("hub"), "http://evil.example/steal?x=1").as_deref(),
            Some("https://hub:8443/steal?x=1")
        );
    }

    #[test]
    fn a_configured_host_wins_over_the_request() {
        let t = target(Some("hub.example.org"), 8443);
        assert_eq!(
            at(&t, Some("evil.example"), "/a").as_deref(),
            Some("https://hub.example.org/a")
        );
        assert_eq!(
            at(&t, Some("not a host"), "/a").as_deref(),
            Some("https://hub.example.org/a")
        );
    }
}
