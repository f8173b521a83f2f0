//! Outbound HTTP: the automations' `webhook` action (and the alerts' webhook channel),
//! and an OpenID Connect provider's discovery document, keys and token endpoint
//! ([`HttpClient::fetch`], `oidc/`).
//!
//! A small client on hyper's HTTP/1 connection API rather than a full client crate:
//! one request at a time, no pooling, redirects not followed (a webhook that
//! moves is an error the person should see), a deadline over the whole exchange.
//! HTTPS uses rustls with the system's trusted roots (Debian's ca-certificates
//! bundle), read once.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use rustls_pki_types::{CertificateDer, ServerName, pem::PemObject};
use serde_json::Value;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::net::TcpStream;

/// Where Debian (and most Linux systems) keep the trusted roots.
const SYSTEM_ROOTS: &str = "/etc/ssl/certs/ca-certificates.crt";

/// Why a request did not get an answer.
#[derive(Debug, thiserror::Error)]
pub enum OutboundError {
    #[error("not an http:// or https:// URL: {0}")]
    BadUrl(String),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("connection failed: {0}")]
    Connect(String),
    #[error("TLS: {0}")]
    Tls(String),
    #[error("HTTP: {0}")]
    Http(String),
}

/// Cheap to clone.
#[derive(Clone, Default)]
pub struct HttpClient {
    tls: Arc<OnceLock<Result<tokio_rustls::TlsConnector, String>>>,
}

struct Target {
    https: bool,
    host: String,
    port: u16,
    path: String,
}

fn parse(url: &str) -> Result<Target, OutboundError> {
    let bad = || OutboundError::BadUrl(url.to_owned());
    let (https, rest) = if let Some(rest) = url.strip_prefix("https://") {
        (true, rest)
    } else if let Some(rest) = url.strip_prefix("http://") {
        (false, rest)
    } else {
        return Err(bad());
    };
    let (authority, path) = match rest.find('/') {
        Some(at) => (&rest[..at], &rest[at..]),
        None => (rest, "/"),
    };
    if authority.is_empty() || authority.contains('@') {
        return Err(bad());
    }
    let default_port = if https { 443 } else { 80 };
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6.split_once(']').ok_or_else(bad)?;
        let port = match after.strip_prefix(':') {
            Some(port) => port.parse().map_err(|_| bad())?,
            None => default_port,
        };
        (host.to_owned(), port)
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host.to_owned(), port.parse().map_err(|_| bad())?),
            None => (authority.to_owned(), default_port),
        }
    };
    Ok(Target {
        https,
        host,
        port,
        path: path.to_owned(),
    })
}

impl HttpClient {
    fn connector(&self) -> Result<tokio_rustls::TlsConnector, OutboundError> {
        self.tls
            .get_or_init(|| {
                let mut roots = rustls::RootCertStore::empty();
                let certs = CertificateDer::pem_file_iter(SYSTEM_ROOTS)
                    .map_err(|error| format!("{SYSTEM_ROOTS}: {error}"))?;
                for cert in certs.flatten() {
                    let _ = roots.add(cert);
                }
                let provider = Arc::new(rustls::crypto::ring::default_provider());
                let config = rustls::ClientConfig::builder_with_provider(provider)
                    .with_safe_default_protocol_versions()
                    .map_err(|error| error.to_string())?
                    .with_root_certificates(roots)
                    .with_no_client_auth();
                Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
            })
            .clone()
            .map_err(OutboundError::Tls)
    }

    /// POSTs `body` as JSON with extra `headers`; the answer's status code.
    pub async fn post_json(
        &self,
        url: &str,
        body: &Value,
        headers: &[(&str, &str)],
        timeout: Duration,
    ) -> Result<u16, OutboundError> {
        self.post_raw(url, body.to_string().into_bytes(), headers, timeout)
            .await
    }

    /// POSTs `body` exactly as given (what was signed is what is sent), as JSON unless
    /// `headers` name a `content-type`.
    pub async fn post_raw(
        &self,
        url: &str,
        body: Vec<u8>,
        headers: &[(&str, &str)],
        timeout: Duration,
    ) -> Result<u16, OutboundError> {
        let target = parse(url)?;
        let body = Bytes::from(body);
        let (status, _) =
            tokio::time::timeout(timeout, self.exchange("POST", &target, body, headers, 0))
                .await
                .map_err(|_| OutboundError::Timeout(timeout))??;
        Ok(status)
    }

    /// Sends `method` (`GET` without a body, or `POST` with `body` and its
    /// `content-type` among `headers`) and returns the status and at most `max_body`
    /// bytes of the answer (a longer one is an error: the caller expected a small JSON
    /// document).
    pub async fn fetch(
        &self,
        method: &str,
        url: &str,
        body: Vec<u8>,
        headers: &[(&str, &str)],
        timeout: Duration,
        max_body: usize,
    ) -> Result<(u16, Bytes), OutboundError> {
        let target = parse(url)?;
        tokio::time::timeout(
            timeout,
            self.exchange(method, &target, Bytes::from(body), headers, max_body),
        )
        .await
        .map_err(|_| OutboundError::Timeout(timeout))?
    }

    async fn exchange(
        &self,
        method: &str,
        target: &Target,
        body: Bytes,
        headers: &[(&str, &str)],
        max_body: usize,
    ) -> Result<(u16, Bytes), OutboundError> {
        let tcp = TcpStream::connect((target.host.as_str(), target.port))
            .await
            .map_err(|error| OutboundError::Connect(error.to_string()))?;
        let host = if target.port == if target.https { 443 } else { 80 } {
            target.host.clone()
        } else {
            format!("{}:{}", target.host, target.port)
        };
        let mut request = Request::builder()
            .method(method)
            .uri(target.path.as_str())
            .header("host", host)
            .header("user-agent", concat!("hearth/", env!("CARGO_PKG_VERSION")));
        // JSON unless the caller says otherwise (Web Push sends octets).
        if method == "POST"
            && !headers
                .iter()
                .any(|(name, _)| name.eq_ignore_ascii_case("content-type"))
        {
            request = request.header("content-type", "application/json");
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request
            .body(Full::new(body))
            .map_err(|error| OutboundError::Http(error.to_string()))?;
        if target.https {
            let name = ServerName::try_from(target.host.clone())
                .map_err(|error| OutboundError::Tls(error.to_string()))?;
            let tls = self
                .connector()?
                .connect(name, tcp)
                .await
                .map_err(|error| OutboundError::Tls(error.to_string()))?;
            send(TokioIo::new(tls), request, max_body).await
        } else {
            send(TokioIo::new(tcp), request, max_body).await
        }
    }
}

/// Sends `request`; the status and the answer's body when it is at most `max_body`
/// bytes (with `max_body` 0 the body is read and dropped).
async fn send<Io>(
    io: Io,
    request: Request<Full<Bytes>>,
    max_body: usize,
) -> Result<(u16, Bytes), OutboundError>
where
    Io: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let http = |error: hyper::Error| OutboundError::Http(error.to_string());
    let (mut sender, connection) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(http)?;
    let driver = tokio::spawn(connection);
    let response = sender.send_request(request).await.map_err(http)?;
    let status = response.status().as_u16();
    if max_body == 0 {
        // Read (and drop) the answer so that the server sees a complete exchange.
        let _ = response.into_body().collect().await;
        driver.abort();
        return Ok((status, Bytes::new()));
    }
    let limited = http_body_util::Limited::new(response.into_body(), max_body);
    let body = limited.collect().await;
    driver.abort();
    let body = body
        .map_err(|error| OutboundError::Http(format!("reading the answer: {error}")))?
        .to_bytes();
    Ok((status, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_split_or_refused() {
        let target = parse("http://127.0.0.1:9000/hook?x=1").unwrap();
        assert_eq!(
            (
                target.https,
                target.host.as_str(),
                target.port,
                target.path.as_str()
            ),
            (false, "127.0.0.1", 9000, "/hook?x=1")
        );
        let target = parse("https://example.com").unwrap();
        assert_eq!((target.port, target.path.as_str()), (443, "/"));
        let target = parse("http://[::1]:8080/a").unwrap();
        assert_eq!((target.host.as_str(), target.port), ("::1", 8080));
        for bad in [
            "ftp://x/",
            "http://",
            "http://user:pw@host/",
            "http://host:port/",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
