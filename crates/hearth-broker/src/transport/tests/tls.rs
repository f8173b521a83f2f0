//! TLS: loading certificates and keys, and what a rustls client sees.

use std::path::{Path, PathBuf};
use std::process::Command;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::TlsAcceptor;

use super::{client_config, dev_certificate, tcp_pair, tls_connect};
use crate::transport::{TransportError, accept_tls, load_tls_config, tls_config_from_pem};

fn write_file(dir: &Path, name: &str, contents: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    path
}

/// The path and problem of a [`TransportError::TlsConfig`], or a panic naming what came back.
fn config_error(result: Result<impl Sized, TransportError>) -> (PathBuf, String, String) {
    match result {
        Err(error @ TransportError::TlsConfig { .. }) => {
            let message = error.to_string();
            let TransportError::TlsConfig { path, problem } = error else {
                unreachable!()
            };
            (path, problem, message)
        }
        Err(other) => panic!("expected a TLS configuration error, got {other:?}"),
        Ok(_) => panic!("expected a TLS configuration error, got a config"),
    }
}

#[tokio::test]
async fn tls_echo_both_ways_with_files_from_disk() {
    let dir = tempfile::tempdir().unwrap();
    let certificate = dev_certificate();
    let cert_path = write_file(dir.path(), "cert.pem", &certificate.cert_pem);
    let key_path = write_file(dir.path(), "key.pem", &certificate.key_pem);
    let acceptor = TlsAcceptor::from(load_tls_config(&cert_path, &key_path).unwrap());

    for version in [&rustls::version::TLS13, &rustls::version::TLS12] {
        let (client_tcp, server_tcp) = tcp_pair().await;
        let server = tokio::spawn({
            let acceptor = acceptor.clone();
            async move {
                let mut stream = accept_tls(&acceptor, server_tcp).await.unwrap();
                let mut received = [0u8; 5];
                stream.read_exact(&mut received).await.unwrap();
                stream.write_all(b"echo:").await.unwrap();
                stream.write_all(&received).await.unwrap();
                stream.flush().await.unwrap();
                // Wait for the client to finish so the connection is not torn down early.
                let mut rest = Vec::new();
                stream.read_to_end(&mut rest).await.unwrap();
                (received, rest)
            }
        });

        let config = client_config(&certificate.cert_pem, &[version]);
        let mut client = tls_connect(config, client_tcp).await.unwrap();
        assert_eq!(
            client.get_ref().1.protocol_version(),
            Some(version.version),
            "client negotiated the version it asked for"
        );
        client.write_all(b"hello").await.unwrap();
        let mut answer = [0u8; 10];
        client.read_exact(&mut answer).await.unwrap();
        assert_eq!(&answer, b"echo:hello");
        client.write_all(b"bye").await.unwrap();
        client.shutdown().await.unwrap();

        let (received, rest) = server.await.unwrap();
        assert_eq!(&received, b"hello");
        assert_eq!(rest, b"bye");
    }
}

#[test]
fn missing_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let certificate = dev_certificate();
    let key_path = write_file(dir.path(), "key.pem", &certificate.key_pem);
    let missing = dir.path().join("no-such-cert.pem");

    let (path, problem, message) = config_error(load_tls_config(&missing, &key_path));
    assert_eq!(path, missing);
    assert!(problem.contains("cannot read"), "{problem}");
    assert!(message.contains("no-such-cert.pem"), "{message}");
}

#[test]
fn certificate_file_without_a_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let certificate = dev_certificate();
    // A common mistake: the key file given as the certificate.
    let cert_path = write_file(dir.path(), "cert.pem", &certificate.key_pem);
    let key_path = write_file(dir.path(), "key.pem", &certificate.key_pem);

    let (path, problem, message) = config_error(load_tls_config(&cert_path, &key_path));
    assert_eq!(path, cert_path);
    assert!(problem.contains("no certificate found"), "{problem}");
    assert!(message.contains("cert.pem"), "{message}");
}

#[test]
fn key_file_without_a_key() {
    let dir = tempfile::tempdir().unwrap();
    let certificate = dev_certificate();
    let cert_path = write_file(dir.path(), "cert.pem", &certificate.cert_pem);
    let key_path = write_file(dir.path(), "key.pem", &certificate.cert_pem);

    let (path, problem, _) = config_error(load_tls_config(&cert_path, &key_path));
    assert_eq!(path, key_path);
    assert!(problem.contains("no private key found"), "{problem}");
}

#[test]
fn key_that_does_not_match_the_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let certificate = dev_certificate();
    let other = dev_certificate();
    let cert_path = write_file(dir.path(), "cert.pem", &certificate.cert_pem);
    let key_path = write_file(dir.path(), "other-key.pem", &other.key_pem);

    let (path, problem, message) = config_error(load_tls_config(&cert_path, &key_path));
    assert_eq!(path, key_path);
    assert!(problem.contains("does not match"), "{problem}");
    assert!(
        problem.contains("cert.pem"),
        "names the certificate too: {problem}"
    );
    assert!(message.contains("other-key.pem"), "{message}");
}

#[test]
fn encrypted_and_malformed_pem_are_explained() {
    let certificate = dev_certificate();
    let encrypted =
        "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n";
    let (path, problem, _) = config_error(tls_config_from_pem(
        certificate.cert_pem.as_bytes(),
        encrypted.as_bytes(),
    ));
    assert_eq!(path, Path::new("<private key PEM>"));
    assert!(problem.contains("encrypted"), "{problem}");

    let truncated = &certificate.cert_pem[..certificate.cert_pem.len() / 2];
    let (path, problem, _) = config_error(tls_config_from_pem(
        truncated.as_bytes(),
        certificate.key_pem.as_bytes(),
    ));
    assert_eq!(path, Path::new("<certificate PEM>"));
    assert!(problem.contains("not valid PEM"), "{problem}");
}

#[test]
fn certificate_and_key_may_share_one_file() {
    let dir = tempfile::tempdir().unwrap();
    let certificate = dev_certificate();
    let both = format!("{}{}", certificate.cert_pem, certificate.key_pem);
    let path = write_file(dir.path(), "both.pem", &both);
    load_tls_config(&path, &path).unwrap();
}

/// PKCS#1 (RSA) and SEC1 (EC) keys, as older tools write them. rcgen only writes PKCS#8,
/// so this converts with the openssl command and fails without it.
#[test]
fn pkcs1_and_sec1_keys_load() {
    let dir = tempfile::tempdir().unwrap();
    let openssl = |args: &[&str]| {
        Command::new("openssl")
            .args(args)
            .current_dir(dir.path())
            .output()
            .ok()
            .filter(|output| output.status.success())
    };
    if openssl(&["version"]).is_none() {
        panic!("the openssl command is required (apt-get install openssl; .ci/run installs it)");
    }

    let certificate = dev_certificate();
    write_file(dir.path(), "ec-cert.pem", &certificate.cert_pem);
    write_file(dir.path(), "ec-pkcs8.pem", &certificate.key_pem);
    openssl(&["ec", "-in", "ec-pkcs8.pem", "-out", "ec-sec1.pem"]).unwrap();
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=localhost",
        "-keyout",
        "rsa-pkcs8.pem",
        "-out",
        "rsa-cert.pem",
    ])
    .unwrap();
    openssl(&[
        "rsa",
        "-in",
        "rsa-pkcs8.pem",
        "-traditional",
        "-out",
        "rsa-pkcs1.pem",
    ])
    .unwrap();

    for (cert, key, marker) in [
        ("ec-cert.pem", "ec-sec1.pem", "BEGIN EC PRIVATE KEY"),
        ("rsa-cert.pem", "rsa-pkcs1.pem", "BEGIN RSA PRIVATE KEY"),
    ] {
        let key_path = dir.path().join(key);
        let key_pem = std::fs::read_to_string(&key_path).unwrap();
        assert!(key_pem.contains(marker), "openssl wrote {key_pem}");
        load_tls_config(&dir.path().join(cert), &key_path).unwrap();
    }
}

#[tokio::test]
async fn handshake_fails_for_a_client_that_does_not_trust_us() {
    let certificate = dev_certificate();
    let config = tls_config_from_pem(
        certificate.cert_pem.as_bytes(),
        certificate.key_pem.as_bytes(),
    )
    .unwrap();
    let acceptor = TlsAcceptor::from(config);
    let (client_tcp, server_tcp) = tcp_pair().await;

    let stranger = dev_certificate();
    let client_config = client_config(&stranger.cert_pem, &[&rustls::version::TLS13]);
    let (client, server) = tokio::join!(
        tls_connect(client_config, client_tcp),
        accept_tls(&acceptor, server_tcp)
    );
    let client_error = client.expect_err("client must refuse an untrusted certificate");
    assert!(
        client_error
            .to_string()
            .contains("invalid peer certificate"),
        "{client_error}"
    );
    assert!(
        matches!(server, Err(TransportError::TlsHandshake(_))),
        "{server:?}"
    );
}

#[tokio::test]
async fn plain_mqtt_on_a_tls_port_is_a_handshake_error() {
    let certificate = dev_certificate();
    let config = tls_config_from_pem(
        certificate.cert_pem.as_bytes(),
        certificate.key_pem.as_bytes(),
    )
    .unwrap();
    let acceptor = TlsAcceptor::from(config);
    let (mut client_tcp, server_tcp) = tcp_pair().await;

    // An MQTT CONNECT sent in the clear.
    client_tcp
        .write_all(b"\x10\x10\x00\x04MQTT\x04\x02\x00\x3c\x00\x04test")
        .await
        .unwrap();
    let error = accept_tls(&acceptor, server_tcp).await.unwrap_err();
    assert!(
        matches!(error, TransportError::TlsHandshake(_)),
        "{error:?}"
    );
    assert!(
        error.to_string().starts_with("TLS handshake failed"),
        "{error}"
    );

    // The client gets a TLS alert record (content type 21) and then the end of the stream.
    let mut answer = Vec::new();
    client_tcp.read_to_end(&mut answer).await.unwrap();
    assert_eq!(answer.first(), Some(&0x15), "{answer:?}");
}
