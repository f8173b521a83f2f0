//! Devices with X.509 client certificates (seed 001): issued by `hearth device add
//! --cert` from the hub's device CA, logging in over MQTTS and WSS without a secret;
//! and the intruders of docs/security.md ("Device client certificates").

use crate::wire::{self, DEADLINE};
use crate::{TlsHub, client_config, start, tls_connect};
use hearth_testkit::Backend;
use rcgen::{CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

/// Runs `hearth ARGS` on the hub's data directory and database.
pub(crate) async fn hearth(tls: &TlsHub, args: &[&str]) -> Output {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_hearth"))
        .arg("--data-dir")
        .arg(&tls.data_dir)
        .arg(format!("--database={}", tls.database))
        .args(args)
        .env_remove("HEARTH_CONFIG")
        .output()
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "hearth {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// A device's certificate and key files.
pub(crate) struct Identity {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl Identity {
    fn in_dir(dir: &Path, id: &str) -> Identity {
        Identity {
            cert: dir.join(format!("{id}.cert.pem")),
            key: dir.join(format!("{id}.key.pem")),
        }
    }
}

/// Registers `id` with a certificate written into `dir`.
pub(crate) async fn add_with_cert(tls: &TlsHub, id: &str, dir: &Path) -> Identity {
    let out = dir.to_str().unwrap();
    hearth(tls, &["device", "add", id, "--cert", "--out", out]).await;
    let identity = Identity::in_dir(dir, id);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&identity.key)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "the key is private");
    }
    identity
}

/// Logs in over MQTTS with `identity` (if any); the CONNACK code, `None` if the
/// connection ended without one (a certificate the TLS layer refused).
async fn mqtts_login(
    tls: &TlsHub,
    identity: Option<&Identity>,
    client_id: &str,
    username: Option<&str>,
) -> (
    Option<u8>,
    Option<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>,
) {
    let config = client_config(
        &tls.certs.ca_cert,
        identity.map(|identity| (identity.cert.as_path(), identity.key.as_path())),
    );
    let Ok(mut stream) = tls_connect(tls.hub.addrs().mqtts.unwrap(), config).await else {
        return (None, None);
    };
    let code = wire::login(&mut stream, client_id, username).await;
    (code, Some(stream))
}

async fn code(tls: &TlsHub, identity: Option<&Identity>, client_id: &str) -> Option<u8> {
    mqtts_login(tls, identity, client_id, None).await.0
}

async fn a_device_logs_in_with_its_certificate(backend: Backend) {
    let tls = start(backend).await;
    let dir = tempfile::tempdir().unwrap();
    let therm = add_with_cert(&tls, "therm", dir.path()).await;

    // MQTTS, no user name, no password: the certificate is the credential.
    let (code, stream) = mqtts_login(&tls, Some(&therm), "therm", None).await;
    assert_eq!(code, Some(0));
    let mut stream = stream.unwrap();
    wire::publish_acked(
        &mut stream,
        "devices/therm/data",
        r#"{"temperature": 21.5}"#,
    )
    .await;
    let device = tls
        .hub
        .store()
        .device(&"therm".parse().unwrap())
        .await
        .unwrap();
    assert_eq!(
        device.live.last_report_data.expect("a stored reading")["temperature"],
        serde_json::json!(21.5)
    );
    // The user name may be given, as the device id.
    let (code, _) = mqtts_login(&tls, Some(&therm), "therm", Some("therm")).await;
    assert_eq!(code, Some(0));

    // WSS: the same certificate on the secure WebSocket listener.
    let config = client_config(
        &tls.certs.ca_cert,
        Some((therm.cert.as_path(), therm.key.as_path())),
    );
    let mut stream = tls_connect(tls.hub.addrs().wss.unwrap(), config)
        .await
        .unwrap();
    wire::ws::upgrade(&mut stream, "localhost").await;
    assert_eq!(wire::ws::login(&mut stream, "therm").await, Some(0));

    // Clients without a certificate are asked for one, not required to have one.
    let config = client_config(&tls.certs.ca_cert, None);
    let mut stream = tls_connect(tls.hub.addrs().mqtts.unwrap(), config)
        .await
        .unwrap();
    assert_eq!(wire::login(&mut stream, "therm", None).await, Some(5));
    tls.hub.shutdown().await;
}

#[tokio::test]
async fn a_device_logs_in_with_its_certificate_sqlite() {
    a_device_logs_in_with_its_certificate(Backend::Sqlite).await;
}

#[tokio::test]
async fn a_device_logs_in_with_its_certificate_postgres() {
    a_device_logs_in_with_its_certificate(Backend::Postgres).await;
}

#[tokio::test]
async fn a_device_logs_in_with_its_certificate_mariadb() {
    a_device_logs_in_with_its_certificate(Backend::MariaDb).await;
}

/// A certificate for `common_name` signed by the CA in `ca_cert`/`ca_key`, written to `dir`.
fn sign(ca_cert: &Path, ca_key: &Path, common_name: &str, dir: &Path) -> Identity {
    let ca_key = KeyPair::from_pem(&std::fs::read_to_string(ca_key).unwrap()).unwrap();
    let issuer =
        Issuer::from_ca_cert_pem(&std::fs::read_to_string(ca_cert).unwrap(), ca_key).unwrap();
    let mut params = CertificateParams::default();
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &issuer).unwrap();
    let identity = Identity::in_dir(dir, &format!("forged-{common_name}"));
    std::fs::write(&identity.cert, cert.pem()).unwrap();
    std::fs::write(&identity.key, key.serialize_pem()).unwrap();
    identity
}

/// A CA nobody told the hub about, and a certificate from it naming `common_name`.
fn foreign(common_name: &str, dir: &Path) -> Identity {
    let ca_key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::default();
    params
        .distinguished_name
        .push(DnType::CommonName, "Intruder CA");
    params.is_ca = IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = params.self_signed(&ca_key).unwrap();
    let (ca_cert, ca_key_path) = (dir.join("intruder-ca.pem"), dir.join("intruder-ca.key"));
    std::fs::write(&ca_cert, ca.pem()).unwrap();
    std::fs::write(&ca_key_path, ca_key.serialize_pem()).unwrap();
    sign(&ca_cert, &ca_key_path, common_name, dir)
}

#[tokio::test]
async fn intruders_with_certificates_are_refused() {
    let tls = start(Backend::Sqlite).await;
    let dir = tempfile::tempdir().unwrap();
    let therm = add_with_cert(&tls, "therm", dir.path()).await;
    add_with_cert(&tls, "lock", dir.path()).await;

    // A certificate from another CA, naming a real device: the TLS layer refuses it.
    let forged = foreign("therm", dir.path());
    assert_eq!(code(&tls, Some(&forged), "therm").await, None);

    // Device therm's certificate, used as device lock: identifier rejected (2).
    assert_eq!(code(&tls, Some(&therm), "lock").await, Some(2));
    // ... or with another user name: not authorized (5).
    let (code_seen, _) = mqtts_login(&tls, Some(&therm), "therm", Some("lock")).await;
    assert_eq!(code_seen, Some(5));
    let (code_seen, _) = mqtts_login(&tls, Some(&therm), "therm", Some("admin")).await;
    assert_eq!(code_seen, Some(5));

    // Certificates from the hub's own device CA (as a stolen CA key or a CA in
    // client_ca_file would make) naming a person, an application, or a device whose
    // certificate on file is another one: not authorized.
    let (ca_cert, ca_key) = (
        tls.data_dir.join("tls/device-ca.pem"),
        tls.data_dir.join("tls/device-ca.key.pem"),
    );
    let app = tls.hub.store().apps(None).await.unwrap().remove(0);
    for (name, client_id) in [
        ("admin", "admin"),
        (app.id.as_str(), app.id.as_str()),
        (app.mqtt_key.as_str(), app.mqtt_key.as_str()),
        ("therm", "therm"),
    ] {
        let forged = sign(&ca_cert, &ca_key, name, dir.path());
        assert_eq!(
            code(&tls, Some(&forged), client_id).await,
            Some(5),
            "a device-CA certificate naming {name}"
        );
    }

    // A device that has a certificate gains nothing on the plain listener: without its
    // secret it is refused there.
    let mut plain = tokio::net::TcpStream::connect(tls.hub.mqtt())
        .await
        .unwrap();
    assert_ne!(wire::login(&mut plain, "therm", None).await, Some(0));
    let mut plain = tokio::net::TcpStream::connect(tls.hub.mqtt())
        .await
        .unwrap();
    assert_ne!(
        wire::login(&mut plain, "therm", Some("therm")).await,
        Some(0)
    );
    tls.hub.shutdown().await;
}

#[tokio::test]
async fn reissuing_disabling_and_removing_refuse_the_certificate() {
    let tls = start(Backend::Sqlite).await;
    let dir = tempfile::tempdir().unwrap();
    let old = add_with_cert(&tls, "therm", dir.path()).await;

    // A new certificate: the session on the old one is cut, the old one refused.
    let (code_seen, live) = mqtts_login(&tls, Some(&old), "therm", None).await;
    assert_eq!(code_seen, Some(0));
    let mut live = live.unwrap();
    let newer = tempfile::tempdir().unwrap();
    hearth(
        &tls,
        &[
            "device",
            "cert",
            "therm",
            "--out",
            newer.path().to_str().unwrap(),
        ],
    )
    .await;
    assert!(
        wire::closed_by_broker(&mut live).await,
        "the old session is cut"
    );
    assert_eq!(code(&tls, Some(&old), "therm").await, Some(5));
    let new = Identity::in_dir(newer.path(), "therm");
    let (code_seen, live) = mqtts_login(&tls, Some(&new), "therm", None).await;
    assert_eq!(code_seen, Some(0));

    // Disabled: cut and refused; enabled again: back.
    let mut live = live.unwrap();
    hearth(&tls, &["device", "disable", "therm"]).await;
    assert!(
        wire::closed_by_broker(&mut live).await,
        "disabling cuts the session"
    );
    assert_eq!(code(&tls, Some(&new), "therm").await, Some(5));
    hearth(&tls, &["device", "enable", "therm"]).await;
    tokio::time::timeout(DEADLINE, async {
        while code(&tls, Some(&new), "therm").await != Some(0) {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("an enabled device logs in again");

    // Revoked certificate: refused once the hub has read the change (another process
    // made it; the hub polls the registry, as for a new secret).
    hearth(&tls, &["device", "cert", "therm", "--revoke"]).await;
    refused_soon(&tls, &new).await;

    // Removed: refused, even with a certificate re-issued just before.
    let last = tempfile::tempdir().unwrap();
    hearth(
        &tls,
        &[
            "device",
            "cert",
            "therm",
            "--out",
            last.path().to_str().unwrap(),
        ],
    )
    .await;
    let last = Identity::in_dir(last.path(), "therm");
    hearth(&tls, &["device", "remove", "therm"]).await;
    refused_soon(&tls, &last).await;
    tls.hub.shutdown().await;
}

/// Waits until `identity` is refused (5): the hub reads changes other processes make
/// within its registry poll.
async fn refused_soon(tls: &TlsHub, identity: &Identity) {
    tokio::time::timeout(DEADLINE, async {
        loop {
            match code(tls, Some(identity), "therm").await {
                Some(5) => break,
                Some(0) => tokio::time::sleep(Duration::from_millis(50)).await,
                other => panic!("neither accepted nor refused as not authorized: {other:?}"),
            }
        }
    })
    .await
    .expect("the certificate is refused");
}

#[tokio::test]
async fn mosquitto_pub_publishes_with_a_client_certificate() {
    let tls = start(Backend::Sqlite).await;
    let dir = tempfile::tempdir().unwrap();
    let therm = add_with_cert(&tls, "therm", dir.path()).await;
    let port = tls.hub.addrs().mqtts.unwrap().port().to_string();
    let publish = |client_id: &'static str| {
        tokio::process::Command::new("mosquitto_pub")
            .args(["-h", "127.0.0.1", "-p", &port, "-q", "1", "-i", client_id])
            .arg("--cafile")
            .arg(&tls.certs.ca_cert)
            .arg("--cert")
            .arg(&therm.cert)
            .arg("--key")
            .arg(&therm.key)
            .args(["-t", "devices/therm/data", "-m", r#"{"humidity": 40}"#])
            .output()
    };
    let output = publish("therm").await.expect("mosquitto_pub is installed");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let device = tls
        .hub
        .store()
        .device(&"therm".parse().unwrap())
        .await
        .unwrap();
    assert_eq!(
        device.live.last_report_data.expect("a stored reading")["humidity"],
        serde_json::json!(40)
    );
    // The same certificate with another client id: refused.
    let output = publish("someone-else").await.unwrap();
    assert!(!output.status.success());
    tls.hub.shutdown().await;
}
