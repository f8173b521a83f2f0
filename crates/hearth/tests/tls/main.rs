//! TLS everywhere it is needed (issue 16), against a whole hub with certificates from
//! `hearth tls dev-cert` and real TLS clients (tokio-rustls, mosquitto_pub):
//!
//! - HTTPS serves the API with `Strict-Transport-Security` and a `Secure` session
//!   cookie; plain HTTP has neither; the redirect listener answers 301 to the HTTPS
//!   address and refuses Host headers that are not host names.
//! - A renewed certificate is picked up by MQTTS, WSS and HTTPS without a restart; a
//!   broken renewal keeps the previous certificate.
//! - Devices log in with client certificates (`devices.rs`), and intruders with the
//!   wrong ones do not.
//! - `hearth-device`'s runtime (what `hearth agent` and `hearth simulate` run) logs in
//!   over MQTTS with a secret or a certificate, and refuses a hub it does not trust
//!   (`device_runtime.rs`).

mod device_runtime;
mod devices;
mod wire;

use hearth::tls_cmd::{DevCertFiles, dev_cert};
use hearth_testkit::{ADMIN_PASSWORD, Backend, TestHub, start_hub_with};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use sha2::{Digest, Sha256};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

/// A hub with every TLS listener and the files it was started with.
pub struct TlsHub {
    pub hub: TestHub,
    pub certs: DevCertFiles,
    pub data_dir: PathBuf,
    pub database: String,
    pub certs_dir: tempfile::TempDir,
}

/// Starts a hub with MQTTS, WSS, HTTPS and the redirect listener on port 0, with a
/// certificate for `localhost` and 127.0.0.1 from `hearth tls dev-cert`, re-read every
/// second.
pub async fn start(backend: Backend) -> TlsHub {
    let certs_dir = tempfile::tempdir().unwrap();
    let names = ["localhost".to_owned(), "127.0.0.1".to_owned()];
    let certs = dev_cert(certs_dir.path(), &names).unwrap();
    let mut seen = None;
    let hub = start_hub_with(backend, |config| {
        let any_port = SocketAddr::from(([127, 0, 0, 1], 0));
        let mut tls = hearth_broker::TlsConfig::new(certs.cert.clone(), certs.key.clone());
        tls.reload_check_secs = 1;
        config.mqtt.tls = Some(tls);
        config.mqtt.tls_listen = Some(any_port);
        config.mqtt.wss_listen = Some(any_port);
        config.https = Some(any_port);
        config.http_redirect = Some(any_port);
        seen = Some((config.data_dir.clone(), config.database.clone().unwrap()));
    })
    .await;
    let (data_dir, database) = seen.unwrap();
    TlsHub {
        hub,
        certs,
        data_dir,
        database,
        certs_dir,
    }
}

/// A TLS client trusting `ca`, presenting `identity` (certificate and key files) if given.
pub fn client_config(ca: &Path, identity: Option<(&Path, &Path)>) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots);
    let config = match identity {
        Some((cert, key)) => {
            let chain = CertificateDer::pem_file_iter(cert)
                .unwrap()
                .collect::<Result<Vec<_>, _>>()
                .unwrap();
            let key = PrivateKeyDer::from_pem_file(key).unwrap();
            builder.with_client_auth_cert(chain, key).unwrap()
        }
        None => builder.with_no_client_auth(),
    };
    Arc::new(config)
}

/// Connects to `addr` over TLS as `localhost`.
pub async fn tls_connect(
    addr: SocketAddr,
    config: Arc<rustls::ClientConfig>,
) -> std::io::Result<TlsStream<TcpStream>> {
    let stream = TcpStream::connect(addr).await?;
    tokio_rustls::TlsConnector::from(config)
        .connect(ServerName::try_from("localhost").unwrap(), stream)
        .await
}

/// The SHA-256 of the certificate the server presented.
fn presented(stream: &TlsStream<TcpStream>) -> String {
    let leaf = &stream.get_ref().1.peer_certificates().unwrap()[0];
    hex::encode(Sha256::digest(leaf.as_ref()))
}

/// The SHA-256 of the first certificate in a PEM file.
pub fn file_sha256(path: &Path) -> String {
    let der = CertificateDer::from_pem_file(path).unwrap();
    hex::encode(Sha256::digest(der.as_ref()))
}

/// Sends one HTTP/1.1 request (closing the connection) and returns the whole answer.
async fn http_exchange<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
    stream: &mut S,
    request: &str,
) -> String {
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    // A TLS peer may close without close_notify after `Connection: close`: what was read
    // is the answer.
    let _ = stream.read_to_end(&mut answer).await;
    String::from_utf8_lossy(&answer).into_owned()
}

fn header<'a>(answer: &'a str, name: &str) -> Option<&'a str> {
    let head = answer.split("\r\n\r\n").next().unwrap_or_default();
    head.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.eq_ignore_ascii_case(name).then(|| value.trim())
    })
}

fn login_request(host: &str) -> String {
    let body = format!(r#"{{"username":"admin","password":"{ADMIN_PASSWORD}"}}"#);
    format!(
        "POST /api/v1/auth/login HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

#[tokio::test]
async fn https_serves_the_api_with_hsts_and_a_secure_cookie() {
    let tls = start(Backend::Sqlite).await;
    let addrs = tls.hub.addrs();
    let https = addrs.https.expect("an HTTPS listener");
    let config = client_config(&tls.certs.ca_cert, None);

    let mut stream = tls_connect(https, config.clone()).await.unwrap();
    let answer = http_exchange(
        &mut stream,
        "GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert_eq!(
        header(&answer, "strict-transport-security"),
        Some(hearth_api::HSTS)
    );
    let mut stream = tls_connect(https, config).await.unwrap();
    let answer = http_exchange(&mut stream, &login_request("localhost")).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let cookie = header(&answer, "set-cookie").expect("a session cookie");
    assert!(cookie.contains("; Secure"), "{cookie}");
    // The browser's MQTT credential names the WSS listener: a page served over HTTPS
    // may not open ws://.
    let session = cookie.split(';').next().unwrap();
    let mut stream = tls_connect(https, client_config(&tls.certs.ca_cert, None))
        .await
        .unwrap();
    let request = format!(
        "POST /api/v1/mqtt/credentials HTTP/1.1\r\nHost: localhost\r\nOrigin: https://localhost\r\n\
         Cookie: {session}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    let answer = http_exchange(&mut stream, &request).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let wss = addrs.wss.unwrap();
    assert!(
        answer.contains(&format!("\"ws_url\":\"wss://{wss}/mqtt\"")),
        "{answer}"
    );

    // Plain HTTP: no HSTS (it would mean nothing there), no Secure cookie.
    // The keys written for it (dev-cert's CA and server key, the hub's device CA) are
    // private.
    #[cfg(unix)]
    for key in [
        &tls.certs.ca_key,
        &tls.certs.key,
        &tls.data_dir.join("tls/device-ca.key.pem"),
    ] {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{}", key.display());
    }

    let mut plain = TcpStream::connect(tls.hub.http()).await.unwrap();
    let answer = http_exchange(&mut plain, &login_request("localhost")).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert_eq!(header(&answer, "strict-transport-security"), None);
    let cookie = header(&answer, "set-cookie").expect("a session cookie");
    assert!(!cookie.contains("Secure"), "{cookie}");
    tls.hub.shutdown().await;
}

#[tokio::test]
async fn the_redirect_listener_sends_browsers_to_https_and_nowhere_else() {
    let tls = start(Backend::Sqlite).await;
    let addrs = tls.hub.addrs();
    let https_port = addrs.https.unwrap().port();
    let redirect = addrs.http_redirect.expect("a redirect listener");

    let mut stream = TcpStream::connect(redirect).await.unwrap();
    let answer = http_exchange(
        &mut stream,
        "GET /devices/lamp?tab=history HTTP/1.1\r\nHost: hub.local:80\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 301"), "{answer}");
    assert_eq!(
        header(&answer, "location"),
        Some(format!("https://hub.local:{https_port}/devices/lamp?tab=history").as_str())
    );
    assert_eq!(header(&answer, "strict-transport-security"), None);

    // An intruder's Host header (credentials, a path, another scheme) gets no redirect.
    for host in [
        "evil.example@hub.local",
        "evil.example/x",
        "javascript:alert(1)",
    ] {
        let mut stream = TcpStream::connect(redirect).await.unwrap();
        let request = format!("GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
        let answer = http_exchange(&mut stream, &request).await;
        assert!(answer.starts_with("HTTP/1.1 400"), "{host}: {answer}");
        assert_eq!(header(&answer, "location"), None, "{host}");
    }
    // An absolute request target names no host of the intruder's either.
    let mut stream = TcpStream::connect(redirect).await.unwrap();
    let answer = http_exchange(
        &mut stream,
        "GET http://evil.example/x HTTP/1.1\r\nHost: hub.local\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(
        header(&answer, "location"),
        Some(format!("https://hub.local:{https_port}/x").as_str())
    );
    tls.hub.shutdown().await;
}

/// The certificate each TLS listener presents to a new client.
async fn presented_everywhere(tls: &TlsHub) -> Vec<(&'static str, String)> {
    let addrs = tls.hub.addrs();
    let config = client_config(&tls.certs.ca_cert, None);
    let mut seen = Vec::new();
    for (name, addr) in [
        ("mqtts", addrs.mqtts),
        ("wss", addrs.wss),
        ("https", addrs.https),
    ] {
        let stream = tls_connect(addr.unwrap(), config.clone()).await.unwrap();
        seen.push((name, presented(&stream)));
    }
    seen
}

#[tokio::test]
async fn a_renewed_certificate_is_used_without_a_restart_and_a_broken_one_is_not() {
    let tls = start(Backend::Sqlite).await;
    let first = file_sha256(&tls.certs.cert);
    for (name, seen) in presented_everywhere(&tls).await {
        assert_eq!(seen, first, "{name}");
    }

    // A renewal: new files in place (same CA, as an ACME client would leave them).
    let names = ["localhost".to_owned(), "hub.local".to_owned()];
    dev_cert(tls.certs_dir.path(), &names).unwrap();
    let renewed = file_sha256(&tls.certs.cert);
    assert_ne!(renewed, first);
    tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let seen = presented_everywhere(&tls).await;
            if seen.iter().all(|(_, sha)| *sha == renewed) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await
    .expect("every listener presents the renewed certificate");

    // A broken renewal: a certificate whose key is not the one in the key file, then
    // a file that is not PEM at all. Each stays unused for several checks.
    let other = tempfile::tempdir().unwrap();
    let stranger = dev_cert(other.path(), &names).unwrap();
    std::fs::copy(&stranger.cert, &tls.certs.cert).unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    for (name, seen) in presented_everywhere(&tls).await {
        assert_eq!(seen, renewed, "{name} after a mismatched pair");
    }
    std::fs::write(&tls.certs.cert, "not a certificate").unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    for (name, seen) in presented_everywhere(&tls).await {
        assert_eq!(seen, renewed, "{name} after a file that is not PEM");
    }
    tls.hub.shutdown().await;
}
