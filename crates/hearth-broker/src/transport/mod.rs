//! TCP, TLS and WebSocket transports, all turned into one byte stream.
//!
//! The broker's connection code reads and writes MQTT bytes and does not care what
//! carries them, so every listener hands it something that implements [`ByteStream`]:
//! a plain `TcpStream` (1883), a [`tokio_rustls::server::TlsStream`] from [`accept_tls`]
//! (8883), a [`WsByteStream`] from [`accept_websocket`] (8083), or a `WsByteStream` over
//! a TLS stream (8084). Keeping the connection code generic means the MQTT codec, the size
//! limits and the CONNECT timeout are written once and apply to every transport alike.
//!
//! None of the accept functions has a timeout of its own: the caller wraps the TLS and
//! WebSocket handshakes in the same deadline it uses for CONNECT, so a client that opens a
//! socket and then stalls is dropped whichever step it stalls in.
//!
//! # Layout
//! - `tls`: PEM certificate and key loading into a rustls server config, [`accept_tls`].
//! - `cert_source`: [`CertificateSource`], the certificate re-read when its files change,
//!   and [`device_client_verifier`], the optional client certificate check.
//! - `websocket`: the HTTP upgrade for MQTT over WebSocket (path and subprotocol checks),
//!   [`WsConfig`].
//! - `ws_stream`: [`WsByteStream`], binary frames in and out as a byte stream.

use std::path::PathBuf;

use tokio::io::{AsyncRead, AsyncWrite};

mod cert_source;
mod tls;
mod websocket;
mod ws_stream;

#[cfg(test)]
mod tests;

pub use cert_source::{CertificateSource, DEFAULT_RELOAD_CHECK, device_client_verifier};
pub use tls::{accept_tls, load_tls_config, server_config, tls_config_from_pem};
pub use websocket::{WsConfig, accept_websocket, accept_websocket_with_config};
pub use ws_stream::WsByteStream;

/// Everything a connection can run over. The broker's connection code is generic over it.
///
/// It is a blanket-implemented alias rather than a trait object so that each listener's
/// connection task is monomorphised for its stream type and pays no dynamic dispatch per
/// read or write.
pub trait ByteStream: AsyncRead + AsyncWrite + Unpin + Send + 'static {}

impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> ByteStream for T {}

/// Why a listener could not be set up or a client's transport handshake failed.
///
/// Configuration errors ([`TransportError::TlsConfig`]) stop the hub at start-up and name
/// the file an operator has to fix; the handshake errors concern one client and are logged
/// by the accept loop, which goes on.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// Reading from or writing to the socket failed.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),

    /// A certificate or key could not be turned into a TLS server configuration.
    ///
    /// `path` is the file at fault (for [`tls_config_from_pem`], a placeholder such as
    /// `<certificate PEM>`); `problem` says what is wrong with it in words an operator
    /// can act on.
    #[error("TLS configuration from {}: {problem}", path.display())]
    TlsConfig {
        /// The certificate or key file the problem is in.
        path: PathBuf,
        /// What is wrong, e.g. "no certificate found".
        problem: String,
    },

    /// The TLS handshake with a client failed (bad client hello, no common cipher suite,
    /// the client does not trust our certificate, or the socket closed mid-handshake).
    #[error("TLS handshake failed: {0}")]
    TlsHandshake(#[source] std::io::Error),

    /// We answered the client's WebSocket upgrade request with an HTTP error: 404 for a
    /// path other than the configured one, 400 when none of the offered subprotocols is
    /// MQTT. `reason` is also the body of that response.
    #[error("WebSocket upgrade refused with HTTP {status}: {reason}")]
    WebSocketRejected {
        /// The HTTP status sent to the client.
        status: u16,
        /// Why, as sent to the client.
        reason: String,
    },

    /// The WebSocket upgrade failed for any other reason: not a valid upgrade request,
    /// a socket error, or the client went away.
    #[error("WebSocket handshake failed: {0}")]
    WebSocketHandshake(#[source] Box<tokio_tungstenite::tungstenite::Error>),
}
