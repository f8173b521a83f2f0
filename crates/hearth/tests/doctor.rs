//! `hearth doctor` (issue 16) as an operator runs it: the real binary with `--json`
//! against a good deployment (every check ok) and against broken ones, each asserting
//! the check that fails and the exit code.

use serde_json::Value;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A deployment: a 0700 data dir with a migrated SQLite store and a certificate pair.
struct Deployment {
    dir: tempfile::TempDir,
}

impl Deployment {
    async fn new() -> Deployment {
        let dir = tempfile::tempdir().unwrap();
        let deployment = Deployment { dir };
        std::fs::create_dir(deployment.data()).unwrap();
        chmod(&deployment.data(), 0o700);
        // Opening the store migrates it, as `hearth serve` does.
        let store = hearth_store::open(&hearth_store::sqlite_url(&deployment.data()))
            .await
            .unwrap();
        drop(store);
        deployment.write_cert(365);
        deployment
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }
    fn cert(&self) -> PathBuf {
        self.dir.path().join("server.pem")
    }
    fn key(&self) -> PathBuf {
        self.dir.path().join("server-key.pem")
    }

    /// A self-signed certificate for localhost valid until `days` from now (negative:
    /// expired that many days ago), key mode 0600.
    fn write_cert(&self, days: i64) {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["localhost".into()]).unwrap();
        let now = time::OffsetDateTime::now_utc();
        params.not_before = now - time::Duration::days(400);
        params.not_after = now + time::Duration::days(days);
        let cert = params.self_signed(&key).unwrap();
        std::fs::write(self.cert(), cert.pem()).unwrap();
        std::fs::write(self.key(), key.serialize_pem()).unwrap();
        chmod(&self.key(), 0o600);
    }

    /// Runs `hearth doctor --json` with every listener on port 0 (unless `extra` names
    /// it) and the TLS pair; the exit code and the findings.
    fn doctor(&self, extra: &[&str]) -> (i32, Vec<Value>) {
        let output = Command::new(env!("CARGO_BIN_EXE_hearth"))
            .env_remove("HEARTH_DATABASE")
            .env_remove("HEARTH_CONFIG")
            .current_dir(self.dir.path())
            .arg("doctor")
            .arg("--json")
            .arg("--data-dir")
            .arg(self.data())
            .args(
                ["--http", "--mqtt", "--ws", "--mqtts"]
                    .into_iter()
                    .filter(|flag| !extra.contains(flag))
                    .flat_map(|flag| [flag, "127.0.0.1:0"]),
            )
            .arg("--tls-cert")
            .arg(self.cert())
            .arg("--tls-key")
            .arg(self.key())
            .args(extra)
            .output()
            .unwrap();
        let findings: Vec<Value> = serde_json::from_slice(&output.stdout).unwrap_or_else(|error| {
            panic!(
                "not JSON ({error}): {}\n{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            )
        });
        (output.status.code().unwrap(), findings)
    }
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn finding<'a>(findings: &'a [Value], check: &str) -> &'a Value {
    findings
        .iter()
        .find(|finding| finding["check"] == check)
        .unwrap_or_else(|| panic!("no {check} check in {findings:#?}"))
}

/// `check` failed with a remedy, and the exit code says so.
fn assert_fails(code: i32, findings: &[Value], check: &str, says: &str) {
    let found = finding(findings, check);
    assert_eq!(found["status"], "fail", "{found}");
    assert!(found["message"].as_str().unwrap().contains(says), "{found}");
    assert!(
        !found["remedy"].as_str().unwrap_or("").is_empty(),
        "{found}"
    );
    assert_eq!(code, 1, "{findings:#?}");
}

#[tokio::test]
async fn a_good_deployment_passes_every_check() {
    let deployment = Deployment::new().await;
    let (code, findings) = deployment.doctor(&[]);
    assert_eq!(code, 0, "{findings:#?}");
    for check in [
        "config",
        "data_dir",
        "data_secrets",
        "tls_cert",
        "tls_key",
        "listener.http",
        "listener.mqtt",
        "listener.ws",
        "listener.mqtts",
        "database",
        "clock",
    ] {
        assert_eq!(
            finding(&findings, check)["status"],
            "ok",
            "{check}: {findings:#?}"
        );
    }
    // The free space is the machine's, not the test's: it may warn, never fail.
    assert_ne!(finding(&findings, "disk")["status"], "fail");
    assert!(
        finding(&findings, "database")["message"]
            .as_str()
            .unwrap()
            .contains("migrated"),
    );
}

#[tokio::test]
async fn an_expired_certificate_fails() {
    let deployment = Deployment::new().await;
    deployment.write_cert(-3);
    let (code, findings) = deployment.doctor(&[]);
    assert_fails(code, &findings, "tls_cert", "expired");

    // Soon to expire: a warning, and the exit code stays 0.
    deployment.write_cert(10);
    let (code, findings) = deployment.doctor(&[]);
    assert_eq!(finding(&findings, "tls_cert")["status"], "warn");
    assert_eq!(code, 0, "{findings:#?}");
}

#[tokio::test]
async fn a_key_others_can_read_or_that_does_not_match_fails() {
    let deployment = Deployment::new().await;
    chmod(&deployment.key(), 0o644);
    let (code, findings) = deployment.doctor(&[]);
    assert_fails(code, &findings, "tls_key", "readable by others");

    // A key from another issuance.
    let other = rcgen::KeyPair::generate().unwrap();
    std::fs::write(deployment.key(), other.serialize_pem()).unwrap();
    chmod(&deployment.key(), 0o600);
    let (code, findings) = deployment.doctor(&[]);
    assert_fails(code, &findings, "tls_key", "is not the key of");
}

#[tokio::test]
async fn open_data_dirs_and_readable_secrets_fail() {
    let deployment = Deployment::new().await;
    let secret = deployment.data().join("vapid.pem");
    std::fs::write(&secret, "-----BEGIN PRIVATE KEY-----\n").unwrap();
    chmod(&secret, 0o644);
    let (code, findings) = deployment.doctor(&[]);
    assert_fails(code, &findings, "data_secrets", "vapid.pem");

    chmod(&secret, 0o600);
    chmod(&deployment.data(), 0o755);
    let (code, findings) = deployment.doctor(&[]);
    assert_fails(code, &findings, "data_dir", "open to every user");
}

#[tokio::test]
async fn an_unreachable_database_fails() {
    let deployment = Deployment::new().await;
    // Nothing listens on port 1.
    let (code, findings) = deployment.doctor(&[
        "--database",
        "postgres://hearth:secret-password@127.0.0.1:1/hearth",
    ]);
    assert_fails(code, &findings, "database", "127.0.0.1:1");
    let message = finding(&findings, "database")["message"].as_str().unwrap();
    assert!(!message.contains("secret-password"), "{message}");
}

#[tokio::test]
async fn an_edited_migration_fails_and_nothing_is_migrated() {
    let deployment = Deployment::new().await;
    let db = deployment.data().join("hearth.db");
    {
        use sqlx::Connection;
        let mut connection = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display()))
            .await
            .unwrap();
        sqlx::query("UPDATE _sqlx_migrations SET checksum = X'00' WHERE version = 3")
            .execute(&mut connection)
            .await
            .unwrap();
        connection.close().await.unwrap();
    }
    let (code, findings) = deployment.doctor(&[]);
    assert_fails(code, &findings, "database", "migrations 3 were changed");

    // A store that does not exist yet: a warning, and doctor does not create it.
    std::fs::remove_dir_all(deployment.data()).unwrap();
    std::fs::create_dir(deployment.data()).unwrap();
    chmod(&deployment.data(), 0o700);
    let (code, findings) = deployment.doctor(&[]);
    assert_eq!(finding(&findings, "database")["status"], "warn");
    assert_eq!(code, 0, "{findings:#?}");
    assert!(!db.exists(), "doctor created the database");
}

#[tokio::test]
async fn a_listener_address_in_use_by_something_else_fails() {
    let deployment = Deployment::new().await;
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let (code, findings) = deployment.doctor(&["--mqtt", &addr]);
    assert_fails(code, &findings, "listener.mqtt", &addr);
}

#[tokio::test]
async fn an_expired_client_ca_fails_and_https_is_checked() {
    let deployment = Deployment::new().await;
    // The CA from hearth.toml (there is no flag for it); an expired one.
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::days(800);
    params.not_after = now - time::Duration::days(1);
    let ca = deployment.dir.path().join("partner-ca.pem");
    std::fs::write(&ca, params.self_signed(&key).unwrap().pem()).unwrap();
    std::fs::write(
        deployment.dir.path().join("hearth.toml"),
        format!(
            "[mqtt.tls]\ncert_file = {:?}\nkey_file = {:?}\nclient_ca_file = {:?}\n",
            deployment.cert(),
            deployment.key(),
            ca
        ),
    )
    .unwrap();
    let (code, findings) = deployment.doctor(&["--https", "127.0.0.1:0"]);
    assert_fails(code, &findings, "tls_client_ca", "expired");
    assert_eq!(finding(&findings, "listener.https")["status"], "ok");
}

/// The same database checks on PostgreSQL (`HEARTH_TEST_POSTGRES`): an empty database
/// has every migration pending (a warning; doctor applies none), a migrated one is ok,
/// an edited migration fails.
#[tokio::test]
async fn postgres_pending_migrated_and_edited() {
    server_pending_migrated_and_edited(hearth_testkit::Backend::Postgres).await;
}

/// The same on MariaDB (`HEARTH_TEST_MARIADB`); the password is never printed.
#[tokio::test]
async fn mariadb_pending_migrated_and_edited() {
    server_pending_migrated_and_edited(hearth_testkit::Backend::MariaDb).await;
}

async fn server_pending_migrated_and_edited(backend: hearth_testkit::Backend) {
    let deployment = Deployment::new().await;
    let (url, _guard) = hearth_testkit::database_url(backend);
    // Where the URL holds a password (MariaDB's test URL has one), doctor never shows it.
    let password = url
        .split_once("://")
        .and_then(|(_, rest)| rest.split('@').next())
        .and_then(|userinfo| userinfo.split_once(':'))
        .map(|(_, password)| format!(":{password}@"));
    assert_eq!(
        password.is_some(),
        backend == hearth_testkit::Backend::MariaDb,
        "{url}"
    );
    let doctor = || {
        let (code, findings) = deployment.doctor(&["--database", &url]);
        let shown = serde_json::to_string(&findings).unwrap();
        if let Some(password) = &password {
            assert!(
                !shown.contains(password.as_str()),
                "the password shown: {shown}"
            );
            assert!(shown.contains(":***@"), "the URL shown redacted: {shown}");
        }
        (code, findings)
    };
    let (code, findings) = doctor();
    let database = finding(&findings, "database");
    assert_eq!(database["status"], "warn", "{database}");
    assert!(database["message"].as_str().unwrap().contains("pending"));
    assert_eq!(code, 0);
    let (_, findings) = doctor();
    assert_eq!(
        finding(&findings, "database")["status"],
        "warn",
        "still pending"
    );

    drop(hearth_store::open(&url).await.unwrap());
    let (code, findings) = doctor();
    assert_eq!(
        finding(&findings, "database")["status"],
        "ok",
        "{findings:#?}"
    );
    assert_eq!(code, 0);

    edit_migration_2(backend, &url).await;
    let (code, findings) = doctor();
    assert_fails(code, &findings, "database", "migrations 2 were changed");
}

/// Changes the recorded checksum of migration 2, as an edited migration file would.
async fn edit_migration_2(backend: hearth_testkit::Backend, url: &str) {
    use sqlx::Connection;
    if backend == hearth_testkit::Backend::MariaDb {
        let mut connection = sqlx::MySqlConnection::connect(url).await.unwrap();
        sqlx::query("UPDATE _sqlx_migrations SET checksum = X'00' WHERE version = 2")
            .execute(&mut connection)
            .await
            .unwrap();
        connection.close().await.unwrap();
    } else {
        let mut connection = sqlx::PgConnection::connect(url).await.unwrap();
        sqlx::query("UPDATE _sqlx_migrations SET checksum = '\\x00' WHERE version = 2")
            .execute(&mut connection)
            .await
            .unwrap();
        connection.close().await.unwrap();
    }
}

/// With the hub running, its own ports are in use: by the running hub (its `/healthz`
/// answers on the HTTP listener), ok, not "another program".
#[tokio::test]
async fn a_running_hubs_own_ports_are_ok() {
    use tokio::io::AsyncBufReadExt;
    let deployment = Deployment::new().await;
    let mut hub = tokio::process::Command::new(env!("CARGO_BIN_EXE_hearth"))
        .kill_on_drop(true)
        .current_dir(deployment.dir.path())
        .arg("serve")
        .arg("--data-dir")
        .arg(deployment.data())
        .args([
            "--print-addrs",
            "--http",
            "127.0.0.1:0",
            "--mqtt",
            "127.0.0.1:0",
        ])
        .args(["--ws", "127.0.0.1:0", "--log", "warn"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(hub.stdout.take().unwrap()).lines();
    let mut addrs = std::collections::HashMap::new();
    while let Some(line) = lines.next_line().await.unwrap() {
        if line == "ready" {
            break;
        }
        if let Some((name, addr)) = line.split_once('=') {
            addrs.insert(name.to_owned(), addr.to_owned());
        }
    }
    let (http, mqtt, ws) = (&addrs["http"], &addrs["mqtt"], &addrs["ws"]);
    let (code, findings) = tokio::task::spawn_blocking({
        let args = [
            "--http".to_owned(),
            http.clone(),
            "--mqtt".to_owned(),
            mqtt.clone(),
            "--ws".to_owned(),
            ws.clone(),
        ];
        move || {
            let refs: Vec<&str> = args.iter().map(String::as_str).collect();
            deployment.doctor(&refs)
        }
    })
    .await
    .unwrap();
    for check in ["listener.http", "listener.mqtt", "listener.ws"] {
        let found = finding(&findings, check);
        assert_eq!(found["status"], "ok", "{found}");
        assert!(
            found["message"].as_str().unwrap().contains("running hub"),
            "{found}"
        );
    }
    assert_eq!(code, 0, "{findings:#?}");
    hub.kill().await.unwrap();
}
