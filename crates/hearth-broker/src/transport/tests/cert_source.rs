//! [`CertificateSource`]: a renewal reaches new handshakes, a broken one never does; and
//! the optional client certificate check against the device CAs.

use std::path::Path;
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio_rustls::{TlsAcceptor, TlsConnector};

use super::{DevCertificate, dev_certificate, tcp_pair};
use crate::transport::{
    CertificateSource, TransportError, accept_tls, device_client_verifier, server_config,
};

fn trusting(certificates: &[&DevCertificate]) -> rustls::RootCertStore {
    let mut roots = rustls::RootCertStore::empty();
    for certificate in certificates {
        roots
            .add(CertificateDer::from_pem_slice(certificate.cert_pem.as_bytes()).unwrap())
            .unwrap();
    }
    roots
}

fn client(
    roots: rustls::RootCertStore,
    identity: Option<(&str, &str)>,
) -> Arc<rustls::ClientConfig> {
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots);
    Arc::new(match identity {
        Some((cert, key)) => builder
            .with_client_auth_cert(
                vec![CertificateDer::from_pem_slice(cert.as_bytes()).unwrap()],
                PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap(),
            )
            .unwrap(),
        None => builder.with_no_client_auth(),
    })
}

/// Handshakes once; what the client was shown and what the server was given (after the
/// client's first write, as a TLS 1.3 server checks a client certificate only then).
async fn handshake(
    acceptor: &TlsAcceptor,
    config: Arc<rustls::ClientConfig>,
) -> (Vec<u8>, Result<Option<Vec<u8>>, TransportError>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (client_tcp, server_tcp) = tcp_pair().await;
    let server = tokio::spawn({
        let acceptor = acceptor.clone();
        async move {
            let mut stream = accept_tls(&acceptor, server_tcp).await?;
            let mut byte = [0u8; 1];
            stream.read_exact(&mut byte).await?;
            let presented = stream
                .get_ref()
                .1
                .peer_certificates()
                .map(|chain| chain[0].as_ref().to_vec());
            Ok::<_, TransportError>(presented)
        }
    });
    let name = ServerName::try_from("localhost").unwrap();
    let mut stream = TlsConnector::from(config)
        .connect(name, client_tcp)
        .await
        .unwrap();
    let shown = stream.get_ref().1.peer_certificates().unwrap()[0]
        .as_ref()
        .to_vec();
    let _ = stream.write_all(b"x").await;
    let _ = stream.flush().await;
    (shown, server.await.unwrap())
}

fn der(certificate: &DevCertificate) -> Vec<u8> {
    CertificateDer::from_pem_slice(certificate.cert_pem.as_bytes())
        .unwrap()
        .as_ref()
        .to_vec()
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
}

#[tokio::test]
async fn a_renewal_reaches_new_handshakes_and_a_broken_one_never_does() {
    let dir = tempfile::tempdir().unwrap();
    let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let (first, second) = (dev_certificate(), dev_certificate());
    write(&cert_path, &first.cert_pem);
    write(&key_path, &first.key_pem);
    let source = CertificateSource::load(&cert_path, &key_path).unwrap();
    let acceptor = TlsAcceptor::from(server_config(source.clone(), None));
    let roots = || trusting(&[&first, &second]);

    assert_eq!(
        handshake(&acceptor, client(roots(), None)).await.0,
        der(&first)
    );
    assert!(!source.reload().unwrap(), "unchanged files are no renewal");

    // Key first, then the certificate, as the docs advise.
    write(&key_path, &second.key_pem);
    write(&cert_path, &second.cert_pem);
    assert!(source.reload().unwrap());
    assert_eq!(
        handshake(&acceptor, client(roots(), None)).await.0,
        der(&second)
    );

    // The old certificate with the new key: refused, naming the key file; the renewed
    // certificate stays, and the same bad pair is not reported again.
    write(&cert_path, &first.cert_pem);
    match source.reload() {
        Err(TransportError::TlsConfig { path, problem }) => {
            assert_eq!(path, key_path);
            assert!(problem.contains("does not match"), "{problem}");
        }
        other => panic!("expected a mismatch, got {other:?}"),
    }
    assert!(!source.reload().unwrap());
    assert_eq!(
        handshake(&acceptor, client(roots(), None)).await.0,
        der(&second)
    );

    // Not PEM at all: the same.
    write(&cert_path, "-----BEGIN CERTIFICATE-----\nnot base64\n");
    assert!(source.reload().is_err());
    assert_eq!(
        handshake(&acceptor, client(roots(), None)).await.0,
        der(&second)
    );
    assert_eq!(source.current_chain()[0].as_ref(), der(&second).as_slice());
}

/// A CA and a client certificate it signed for `common_name`: (CA PEM, cert PEM, key PEM).
fn device_ca_and_client(common_name: &str) -> (String, String, String) {
    let ca_key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::default();
    params
        .distinguished_name
        .push(DnType::CommonName, "Test device CA");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(params, ca_key);
    let mut leaf = CertificateParams::default();
    leaf.distinguished_name
        .push(DnType::CommonName, common_name);
    let key = KeyPair::generate().unwrap();
    let cert = leaf.signed_by(&key, &issuer).unwrap();
    (ca.pem(), cert.pem(), key.serialize_pem())
}

#[tokio::test]
async fn client_certificates_are_optional_but_must_come_from_a_device_ca() {
    let dir = tempfile::tempdir().unwrap();
    let server = dev_certificate();
    let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    write(&cert_path, &server.cert_pem);
    write(&key_path, &server.key_pem);
    let (ca_pem, device_cert, device_key) = device_ca_and_client("therm");
    let ca_path = dir.path().join("device-ca.pem");
    write(&ca_path, &ca_pem);
    let verifier = device_client_verifier(&[ca_path]).unwrap();
    let source = CertificateSource::load(&cert_path, &key_path).unwrap();
    let acceptor = TlsAcceptor::from(server_config(source, Some(verifier)));
    let roots = || trusting(&[&server]);

    // No certificate: welcome, and the server has none to pass on.
    let (_, given) = handshake(&acceptor, client(roots(), None)).await;
    assert_eq!(given.unwrap(), None);
    // The device's: passed on as it was presented.
    let (_, given) = handshake(
        &acceptor,
        client(roots(), Some((&device_cert, &device_key))),
    )
    .await;
    let expected = CertificateDer::from_pem_slice(device_cert.as_bytes()).unwrap();
    assert_eq!(given.unwrap().as_deref(), Some(expected.as_ref()));
    // One from a CA the hub does not trust: the handshake fails on the server.
    let (_, intruder_cert, intruder_key) = device_ca_and_client("therm");
    let (_, given) = handshake(
        &acceptor,
        client(roots(), Some((&intruder_cert, &intruder_key))),
    )
    .await;
    assert!(given.is_err(), "{given:?}");

    // A device CA file that is missing or holds no certificate stops the start.
    assert!(device_client_verifier(&[]).is_err());
    let empty = dir.path().join("empty.pem");
    write(&empty, "");
    match device_client_verifier(std::slice::from_ref(&empty)) {
        Err(TransportError::TlsConfig { path, .. }) => assert_eq!(path, empty),
        other => panic!("expected a configuration error, got {other:?}"),
    }
}
