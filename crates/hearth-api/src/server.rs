//! The HTTP/1 accept loop: hyper's connection builder with limits that `axum::serve`
//! does not let us set.
//!
//! - A request's head (request line and headers) may be at most [`MAX_HEAD_BYTES`];
//!   a longer one is answered 431 (hyper answers 414 for a URI past its own 64 KiB
//!   limit) and the connection is closed. hyper's default read buffer is ~400 KB, and
//!   without a limit on the head a client could park that much per connection.
//! - A client must send a complete head within `header_read_timeout_secs` of starting
//!   one, or the connection is closed: slow clients (one header byte a second) cannot
//!   hold connections open forever. This needs hyper's timer, which `axum::serve` does
//!   not set.
//! - Each request carries `ConnectInfo<SocketAddr>` (the login limit's client address),
//!   as `into_make_service_with_connect_info` would add.
//!
//! - Over TLS ([`run_tls`]), requests also carry [`ServedOverTls`] and responses
//!   `Strict-Transport-Security` ([`HSTS`]); plain HTTP responses never do (RFC 6797:
//!   the header means nothing there, and would pin a name that has no HTTPS).
//!
//! On shutdown the listener closes at once; requests in flight finish, and idle
//! keep-alive connections are closed (hyper_util's `GracefulShutdown`).

use axum::Router;
use axum::extract::ConnectInfo;
use axum::http::{HeaderValue, header};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::time::Duration;
use tower::ServiceExt;

use crate::security::ServedOverTls;

/// The largest request head (request line plus headers) the hub reads: 16 KiB, more
/// than any browser or script sends (browsers cap cookies at 4 KB each).
pub const MAX_HEAD_BYTES: usize = 16 * 1024;

/// What HTTPS responses carry in `Strict-Transport-Security`: a year, without
/// `includeSubDomains` (other names under the hub's domain are not the hub's to pin).
/// Browsers ignore the header over plain HTTP and when the certificate is not trusted.
pub const HSTS: &str = "max-age=31536000";

/// Serves `app` on `listener` until `shutdown` completes, then lets requests in flight
/// finish.
pub(crate) async fn run(
    listener: tokio::net::TcpListener,
    app: Router,
    header_read_timeout: Duration,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    run_with(listener, None, app, header_read_timeout, shutdown).await
}

/// [`run`] over TLS: each connection's handshake happens in its own task within
/// `header_read_timeout`; requests carry [`ServedOverTls`] (the session cookie becomes
/// `Secure`) and responses [`HSTS`].
pub(crate) async fn run_tls(
    listener: tokio::net::TcpListener,
    tls: tokio_rustls::TlsAcceptor,
    app: Router,
    header_read_timeout: Duration,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    run_with(listener, Some(tls), app, header_read_timeout, shutdown).await
}

async fn run_with(
    listener: tokio::net::TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    app: Router,
    header_read_timeout: Duration,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout)
        .max_header_size(MAX_HEAD_BYTES)
        .max_buf_size(MAX_HEAD_BYTES.max(8192));
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: wait instead of spinning.
                    tracing::warn!(%error, "cannot accept an HTTP connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let over_tls = tls.is_some();
        let service = app
            .clone()
            .map_request(move |mut request: hyper::Request<Incoming>| {
                request.extensions_mut().insert(ConnectInfo(peer));
                if over_tls {
                    request.extensions_mut().insert(ServedOverTls);
                }
                request
            })
            .map_response(move |mut response: axum::response::Response| {
                if over_tls {
                    response.headers_mut().insert(
                        header::STRICT_TRANSPORT_SECURITY,
                        HeaderValue::from_static(HSTS),
                    );
                }
                response
            });
        let service = TowerToHyperService::new(service);
        let builder = builder.clone();
        let watcher = graceful.watcher();
        let tls = tls.clone();
        // No `with_upgrades()`: no route upgrades (MQTT over WebSocket is the broker's
        // own listener).
        tokio::spawn(async move {
            let result = match tls {
                None => {
                    let connection = builder.serve_connection(TokioIo::new(stream), service);
                    watcher.watch(connection).await
                }
                Some(tls) => {
                    let stream =
                        match tokio::time::timeout(header_read_timeout, tls.accept(stream)).await {
                            Ok(Ok(stream)) => stream,
                            Ok(Err(error)) => {
                                tracing::debug!(%error, %peer, "TLS handshake failed");
                                return;
                            }
                            Err(_) => {
                                tracing::debug!(%peer, "TLS handshake timed out");
                                return;
                            }
                        };
                    let connection = builder.serve_connection(TokioIo::new(stream), service);
                    watcher.watch(connection).await
                }
            };
            if let Err(error) = result {
                tracing::debug!(%error, %peer, "HTTP connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}
