//! Tests of [`FileAuthorizer`] through the [`Authorizer`] seam, on real files.

use std::time::Instant;

use bytes::Bytes;
use hearth_bus::Transport;
use tempfile::TempDir;

use super::passwords::cheap_hash;
use super::*;

/// A temporary directory with a password file (ann / ann-pw, bob / bob-pw) and an ACL.
struct Files {
    dir: TempDir,
}

const ACL: &str = "\
topic read public/#
user ann
topic readwrite home/ann/#
pattern write devices/%c/state
";

impl Files {
    fn new() -> Files {
        let files = Files {
            dir: tempfile::tempdir().unwrap(),
        };
        let passwords = format!(
            "# test users\nann:{}\nbob:{}\n",
            cheap_hash("ann-pw"),
            cheap_hash("bob-pw")
        );
        files.write("passwd", &passwords);
        files.write("acl", ACL);
        files
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn write(&self, name: &str, text: &str) {
        std::fs::write(self.path(name), text).unwrap();
    }

    fn config(&self, allow_anonymous: bool) -> FileAuthConfig {
        FileAuthConfig {
            password_file: Some(self.path("passwd")),
            acl_file: Some(self.path("acl")),
            allow_anonymous,
        }
    }
}

fn connect(username: Option<&str>, password: Option<&str>) -> ConnectRequest {
    ConnectRequest {
        client_id: "client-1".into(),
        username: username.map(Into::into),
        password: password.map(|password| Bytes::copy_from_slice(password.as_bytes())),
        remote_addr: None,
        transport: Transport::Tcp,
        protocol_level: 5,
        client_cert: None,
    }
}

fn user(name: &str) -> Principal {
    Principal::new(PrincipalKind::ConfigUser, name)
}

#[tokio::test]
async fn right_password_makes_a_config_user() {
    let files = Files::new();
    let authorizer = FileAuthorizer::load(&files.config(false)).unwrap();
    let principal = authorizer
        .authenticate(&connect(Some("ann"), Some("ann-pw")))
        .await
        .unwrap();
    assert_eq!(principal, user("ann"));
}

#[tokio::test]
async fn wrong_password_unknown_user_and_missing_password_are_bad_credentials() {
    let files = Files::new();
    let authorizer = FileAuthorizer::load(&files.config(true)).unwrap();
    for (username, password) in [
        ("ann", Some("bob-pw")),
        ("carol", Some("ann-pw")),
        ("ann", None),
        ("", Some("")),
    ] {
        let err = authorizer
            .authenticate(&connect(Some(username), password))
            .await
            .unwrap_err();
        assert_eq!(err.reason, 0x86, "{username}/{password:?}");
        // The same words either way, so the answer does not tell which users exist.
        assert_eq!(err.message, "bad user name or password");
    }
}

#[tokio::test]
async fn anonymous_clients_need_allow_anonymous() {
    let files = Files::new();
    let closed = FileAuthorizer::load(&files.config(false)).unwrap();
    let err = closed.authenticate(&connect(None, None)).await.unwrap_err();
    assert_eq!(err.reason, 0x87);

    let open = FileAuthorizer::load(&files.config(true)).unwrap();
    let principal = open.authenticate(&connect(None, None)).await.unwrap();
    assert_eq!(
        principal,
        Principal::new(PrincipalKind::Anonymous, "client-1")
    );
}

#[tokio::test]
async fn without_a_password_file_user_names_are_not_trusted() {
    let files = Files::new();
    let closed = FileAuthConfig {
        password_file: None,
        ..files.config(false)
    };
    let err = FileAuthorizer::load(&closed)
        .unwrap()
        .authenticate(&connect(Some("ann"), Some("anything")))
        .await
        .unwrap_err();
    assert_eq!(err.reason, 0x87);

    let open = FileAuthorizer::load(&FileAuthConfig {
        allow_anonymous: true,
        ..closed
    })
    .unwrap();
    let principal = open
        .authenticate(&connect(Some("ann"), Some("anything")))
        .await
        .unwrap();
    assert_eq!(
        principal,
        Principal::new(PrincipalKind::Anonymous, "client-1")
    );
    // ...and so gets the anonymous section, not ann's.
    assert!(open.authorize(&principal, "client-1", Action::Subscribe, "public/news"));
    assert!(!open.authorize(&principal, "client-1", Action::Publish, "home/ann/lamp"));
}

#[test]
fn config_fields_default_and_typos_are_refused() {
    let config: FileAuthConfig = toml::from_str("password_file = \"/etc/hearth/passwd\"").unwrap();
    assert_eq!(
        config.password_file,
        Some(PathBuf::from("/etc/hearth/passwd"))
    );
    assert_eq!(config.acl_file, None);
    assert!(!config.allow_anonymous);
    let err = toml::from_str::<FileAuthConfig>("allow_anonymus = true").unwrap_err();
    assert!(err.to_string().contains("allow_anonymus"), "{err}");
}

#[test]
fn load_errors_name_the_file_and_line() {
    let files = Files::new();
    files.write("acl", "user ann\ntopic read a\nallow everything\n");
    let err = FileAuthorizer::load(&files.config(false)).unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(err, FileAuthError::Syntax { line: 3, .. }),
        "{text}"
    );
    assert!(text.starts_with(&format!(
        "{}:3: unknown keyword",
        files.path("acl").display()
    )));

    let missing = FileAuthConfig {
        password_file: Some(files.path("nope")),
        ..files.config(false)
    };
    let err = FileAuthorizer::load(&missing).unwrap_err();
    assert!(matches!(err, FileAuthError::Read { .. }), "{err}");
    assert!(
        err.to_string()
            .contains(&*files.path("nope").to_string_lossy()),
        "{err}"
    );
}

#[test]
fn acl_applies_by_principal_kind() {
    let files = Files::new();
    let authorizer = FileAuthorizer::load(&files.config(true)).unwrap();
    let anonymous = Principal::new(PrincipalKind::Anonymous, "ann");
    assert!(authorizer.authorize(&user("ann"), "lamp", Action::Publish, "home/ann/x"));
    assert!(authorizer.authorize(&user("ann"), "lamp", Action::Publish, "devices/lamp/state"));
    assert!(!authorizer.authorize(&user("ann"), "lamp", Action::Publish, "devices/fan/state"));
    assert!(!authorizer.authorize(&user("bob"), "lamp", Action::Publish, "home/ann/x"));
    // An anonymous principal's name is its client id, never a user name.
    assert!(!authorizer.authorize(&anonymous, "ann", Action::Publish, "home/ann/x"));
    assert!(authorizer.authorize(&anonymous, "ann", Action::Subscribe, "public/#"));
    for kind in [PrincipalKind::Admin, PrincipalKind::Service] {
        let principal = Principal::new(kind, "hub");
        assert!(authorizer.authorize(&principal, "hub", Action::Subscribe, "#"));
        assert!(authorizer.authorize(&principal, "hub", Action::Publish, "$SYS/x"));
    }
    let device = Principal::new(PrincipalKind::Device, "ann");
    assert!(authorizer.authorize(&device, "d1", Action::Publish, "home/ann/x"));
    assert!(!authorizer.authorize(&device, "d1", Action::Publish, "home/bob/x"));
}

#[test]
fn without_an_acl_file_everything_is_allowed() {
    let files = Files::new();
    let config = FileAuthConfig {
        acl_file: None,
        ..files.config(true)
    };
    let authorizer = FileAuthorizer::load(&config).unwrap();
    let anonymous = Principal::new(PrincipalKind::Anonymous, "c");
    assert!(authorizer.authorize(&anonymous, "c", Action::Subscribe, "#"));
    assert!(authorizer.authorize(&user("bob"), "c", Action::Publish, "home/ann/x"));
}

#[test]
fn reload_applies_a_good_file_and_keeps_the_old_rules_on_a_bad_one() {
    let files = Files::new();
    let authorizer = FileAuthorizer::load(&files.config(false)).unwrap();
    let bob_may_publish = || authorizer.authorize(&user("bob"), "c", Action::Publish, "home/bob/x");
    assert!(!bob_may_publish());

    files.write("acl", &format!("{ACL}user bob\ntopic home/bob/#\n"));
    authorizer.reload().unwrap();
    assert!(bob_may_publish());

    files.write("acl", "user bob\ntopic home/bob/#\ntopic read\n");
    let err = authorizer.reload().unwrap_err();
    assert!(
        matches!(err, FileAuthError::Syntax { line: 3, .. }),
        "{err}"
    );
    assert!(bob_may_publish());
    assert!(authorizer.authorize(&user("ann"), "c", Action::Publish, "home/ann/x"));
}

#[tokio::test]
async fn reload_swaps_both_files_together() {
    let files = Files::new();
    let authorizer = FileAuthorizer::load(&files.config(false)).unwrap();
    // A good new password file with a bad ACL file changes nothing.
    files.write("passwd", &format!("ann:{}\n", cheap_hash("new-pw")));
    files.write("acl", "nonsense\n");
    assert!(authorizer.reload().is_err());
    let old = authorizer
        .authenticate(&connect(Some("ann"), Some("ann-pw")))
        .await;
    assert_eq!(old.unwrap(), user("ann"));

    files.write("acl", ACL);
    authorizer.reload().unwrap();
    let new = authorizer
        .authenticate(&connect(Some("ann"), Some("new-pw")))
        .await;
    assert_eq!(new.unwrap(), user("ann"));
    let old = authorizer
        .authenticate(&connect(Some("ann"), Some("ann-pw")))
        .await;
    assert_eq!(old.unwrap_err().reason, 0x86);
}

/// Polls `check` until it holds or `limit` passes; returns how long it took.
async fn eventually(limit: Duration, check: impl Fn() -> bool) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if check() {
            return Some(start.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}

#[tokio::test]
async fn watch_applies_edits_and_skips_bad_ones() {
    let files = Files::new();
    let authorizer = Arc::new(FileAuthorizer::load(&files.config(false)).unwrap());
    let watcher = authorizer.watch();
    let bob_may = |topic: &str| authorizer.authorize(&user("bob"), "c", Action::Publish, topic);
    assert!(!bob_may("home/bob/x"));

    files.write("acl", &format!("{ACL}user bob\ntopic home/bob/#\n"));
    // Generous deadline: this checks that the edit is applied, not how fast (the machine
    // running the tests may be loaded).
    let took = eventually(Duration::from_secs(15), || bob_may("home/bob/x")).await;
    took.expect("the edit was not applied");

    // A bad edit leaves the rules alone; the next good one is applied.
    files.write("acl", "user bob\ntopic home/bob/#\ntopic home/bob/#/x\n");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(bob_may("home/bob/x"));
    files.write("acl", "user bob\ntopic garden/#\n");
    let took = eventually(Duration::from_secs(15), || bob_may("garden/pump")).await;
    assert!(took.is_some(), "the edit after a bad one was not applied");
    assert!(!bob_may("home/bob/x"));

    watcher.abort();
}

#[tokio::test]
async fn watch_ends_when_the_authorizer_is_dropped() {
    let files = Files::new();
    let authorizer = Arc::new(FileAuthorizer::load(&files.config(false)).unwrap());
    let watcher = authorizer.watch();
    drop(authorizer);
    let ended = tokio::time::timeout(Duration::from_secs(5), watcher).await;
    assert!(matches!(ended, Ok(Ok(()))), "{ended:?}");
}
