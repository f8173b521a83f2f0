//! Transport tests over real loopback sockets on port 0. Each test plays a client and asserts
//! what that client observes, as well as what the broker's side of the socket gets.
//!
//! - `tls`: certificate loading errors, TLS echo, handshake failures.
//! - `cert_source`: certificate reloading, optional client certificates.
//! - `websocket`: framing, subprotocols, rejections, close/ping handling, back-pressure.
//! - `third_party`: Paho (Python) over WS and WSS, mosquitto_pub over TLS; failing (not
//!   skipping) when the tool is not installed.

use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream as ClientTlsStream;

mod cert_source;
mod third_party;
mod tls;
mod websocket;

/// A self-signed certificate and its key, for `localhost` and 127.0.0.1.
///
/// Test-only: rcgen is a dev-dependency, and a `--dev-tls` option would need it at runtime.
pub(super) struct DevCertificate {
    pub cert_pem: String,
    pub key_pem: String,
}

pub(super) fn dev_certificate() -> DevCertificate {
    let generated =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .expect("rcgen generates a certificate");
    DevCertificate {
        cert_pem: generated.cert.pem(),
        key_pem: generated.signing_key.serialize_pem(),
    }
}

/// A connected pair of loopback TCP sockets: (client side, server side).
pub(super) async fn tcp_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (client, accepted) = tokio::join!(TcpStream::connect(address), listener.accept());
    (client.unwrap(), accepted.unwrap().0)
}

/// A rustls client config that trusts exactly `cert_pem`, limited to the given versions.
pub(super) fn client_config(
    cert_pem: &str,
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(cert_pem.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    Arc::new(config)
}

/// Connects a TLS client for `localhost` over an already connected socket.
pub(super) async fn tls_connect(
    config: Arc<rustls::ClientConfig>,
    tcp: TcpStream,
) -> std::io::Result<ClientTlsStream<TcpStream>> {
    let server_name = ServerName::try_from("localhost").unwrap();
    TlsConnector::from(config).connect(server_name, tcp).await
}

/// Reads one MQTT control packet (fixed header, remaining length, body) as raw bytes.
pub(super) async fn read_mqtt_packet(stream: &mut (impl AsyncRead + Unpin)) -> Vec<u8> {
    let mut packet = vec![stream.read_u8().await.unwrap()];
    let mut remaining_length = 0usize;
    for shift in [0, 7, 14, 21] {
        let byte = stream.read_u8().await.unwrap();
        packet.push(byte);
        remaining_length |= usize::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            break;
        }
    }
    let header_len = packet.len();
    packet.resize(header_len + remaining_length, 0);
    stream.read_exact(&mut packet[header_len..]).await.unwrap();
    packet
}
