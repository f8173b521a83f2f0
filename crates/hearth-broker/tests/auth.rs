//! Authentication and ACLs with the config-file authorizer (`FileAuthorizer`: a
//! Mosquitto-style password file with argon2 hashes and an ACL file), as clients see
//! them: CONNACK codes in both dialects, PUBACK/SUBACK codes, messages that must not be
//! delivered, the denial counters, and an ACL edit applied while running (SPEC §5).
//!
//! Exact codes come from `tests/clients/auth_clients.py` (raw sockets); what users see
//! comes from mosquitto_pub and mosquitto_sub.

mod common;

use common::TestBroker;
use common::clients::{SCRIPT_DEADLINE, mosquitto, run_mosquitto, run_script};
use hearth_broker::BrokerConfig;
use hearth_broker::file_auth::{FileAuthConfig, FileAuthorizer, hash_password};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::Arc;

/// Users and their passwords, written to the password file as argon2 hashes.
const USERS: [(&str, &str); 4] = [
    ("alice", "alice-secret"),
    ("bob", "bob-secret"),
    ("carol", "carol-secret"),
    ("dev1", "dev1-secret"),
];

/// alice owns home/alice; bob may write home/bob; carol reads everything (the observer);
/// dev1 has no section of its own and lives on the patterns.
const ACL: &str = "\
user alice
topic readwrite home/alice/#

user bob
topic write home/bob/#

user carol
topic read #

pattern readwrite devices/%u/#
pattern write clients/%c/out
";

/// A broker whose authorizer reads files in a temporary directory.
struct AuthBroker {
    broker: TestBroker,
    acl_file: PathBuf,
    _watcher: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

impl AuthBroker {
    async fn start(allow_anonymous: bool) -> AuthBroker {
        let dir = tempfile::tempdir().expect("temporary directory");
        let password_file = dir.path().join("passwd");
        let acl_file = dir.path().join("acl");
        let passwords: String = USERS
            .iter()
            .map(|(user, password)| format!("{user}:{}\n", hash_password(password)))
            .collect();
        std::fs::write(&password_file, passwords).expect("password file written");
        std::fs::write(&acl_file, ACL).expect("ACL file written");
        let auth = FileAuthConfig {
            password_file: Some(password_file),
            acl_file: Some(acl_file.clone()),
            allow_anonymous,
        };
        let authorizer = Arc::new(FileAuthorizer::load(&auth).expect("auth files load"));
        let watcher = authorizer.watch();
        let mut config = BrokerConfig::ephemeral();
        config.auth = auth;
        let broker = TestBroker::start_with(config, authorizer).await;
        AuthBroker {
            broker,
            acl_file,
            _watcher: watcher,
            _dir: dir,
        }
    }

    fn port(&self) -> u16 {
        self.broker.port()
    }

    /// `auth_clients.py --case CASE` with `args`, whitespace-separated (see the script's
    /// usage for the options).
    async fn script(&self, case: &str, args: &str) -> Value {
        let args: Vec<&str> = ["--case", case]
            .into_iter()
            .chain(args.split_whitespace())
            .collect();
        run_script("auth_clients.py", self.port(), &args).await
    }

    async fn session(&self, args: &str) -> Value {
        self.script("session", args).await
    }

    async fn stats(&self) -> hearth_broker::StatsSnapshot {
        self.broker.handle.stats().await.expect("stats")
    }

    async fn stop(self) {
        self.broker.stop().await;
    }
}

/// Runs a mosquitto client expected to fail; returns its stdout and stderr together.
async fn mosquitto_failure(command: tokio::process::Command) -> String {
    let description = format!("{command:?}");
    let (ok, stdout, stderr) = common::run_command(command, SCRIPT_DEADLINE).await;
    assert!(
        !ok,
        "{description} succeeded but should have been refused:\n{stdout}"
    );
    format!("{stdout}{stderr}")
}

fn mosquitto_pub(
    broker: &AuthBroker,
    version: &str,
    credentials: Option<(&str, &str)>,
    topic: &str,
) -> tokio::process::Command {
    let mut command = mosquitto("mosquitto_pub", broker.port());
    command.args(["-V", version, "-t", topic, "-m", "hello"]);
    if let Some((user, password)) = credentials {
        command.args(["-u", user, "-P", password]);
    }
    command
}

#[tokio::test]
async fn right_password_is_accepted_over_mqtt5_and_mqtt311() {
    let broker = AuthBroker::start(false).await;
    for version in ["mqttv5", "mqttv311"] {
        let alice = Some(("alice", "alice-secret"));
        run_mosquitto(mosquitto_pub(&broker, version, alice, "home/alice/x")).await;
    }
    let exact = broker
        .session("--username alice --password alice-secret")
        .await;
    assert_eq!(exact["connack"], 0, "{exact}");
    assert_eq!(broker.stats().await.connect_refused, 0);
    broker.stop().await;
}

#[tokio::test]
async fn wrong_password_gets_connack_0x86_over_mqtt5() {
    let broker = AuthBroker::start(false).await;
    let exact = broker
        .session("--version 5 --username alice --password wrong")
        .await;
    assert_eq!(exact["connack"], 0x86, "{exact}");
    assert_eq!(exact["closed_after_connack"], true, "{exact}");

    let wrong = Some(("alice", "wrong"));
    let output = mosquitto_failure(mosquitto_pub(&broker, "mqttv5", wrong, "home/alice/x")).await;
    assert!(
        output.to_lowercase().contains("bad user name or password"),
        "mosquitto_pub said: {output}"
    );
    assert_eq!(broker.stats().await.connect_refused, 2);
    broker.stop().await;
}

#[tokio::test]
async fn wrong_password_gets_return_code_4_over_mqtt311() {
    let broker = AuthBroker::start(false).await;
    let exact = broker
        .session("--version 4 --username alice --password wrong")
        .await;
    // 3.1.1 3.2.2.3: 0x04 bad user name or password.
    assert_eq!(exact["connack"], 4, "{exact}");
    assert_eq!(exact["closed_after_connack"], true, "{exact}");

    let wrong = Some(("alice", "wrong"));
    let output = mosquitto_failure(mosquitto_pub(&broker, "mqttv311", wrong, "home/alice/x")).await;
    assert!(
        output.to_lowercase().contains("bad user name or password"),
        "mosquitto_pub said: {output}"
    );
    broker.stop().await;
}

#[tokio::test]
async fn unknown_user_is_refused_like_a_wrong_password() {
    let broker = AuthBroker::start(false).await;
    let v5 = broker
        .session("--version 5 --username mallory --password alice-secret")
        .await;
    assert_eq!(v5["connack"], 0x86, "{v5}");
    let v3 = broker
        .session("--version 4 --username mallory --password alice-secret")
        .await;
    assert_eq!(v3["connack"], 4, "{v3}");
    broker.stop().await;
}

#[tokio::test]
async fn anonymous_client_is_refused_when_anonymous_access_is_off() {
    let broker = AuthBroker::start(false).await;
    let v5 = broker.session("--version 5").await;
    assert_eq!(v5["connack"], 0x87, "{v5}");
    let v3 = broker.session("--version 4").await;
    // 3.1.1 3.2.2.3: 0x05 not authorized.
    assert_eq!(v3["connack"], 5, "{v3}");

    let output = mosquitto_failure(mosquitto_pub(&broker, "mqttv311", None, "public/x")).await;
    assert!(
        output.to_lowercase().contains("not authori"),
        "mosquitto_pub said: {output}"
    );
    broker.stop().await;
}

#[tokio::test]
async fn anonymous_client_is_accepted_when_anonymous_access_is_on() {
    let broker = AuthBroker::start(true).await;
    let v5 = broker.session("--version 5").await;
    assert_eq!(v5["connack"], 0, "{v5}");
    broker.stop().await;
}

/// alice publishing to her own topic and bob's, watched by carol.
const ALICE_PUBLISHES: &str = "--username alice --password alice-secret \
    --observer carol:carol-secret --publish home/alice/x --publish home/bob/x";

#[tokio::test]
async fn publish_outside_the_acl_gets_puback_0x87_and_is_not_delivered() {
    let broker = AuthBroker::start(false).await;
    let result = broker
        .session(&format!("--version 5 {ALICE_PUBLISHES}"))
        .await;
    let expected = json!({"home/alice/x": 0, "home/bob/x": 0x87});
    assert_eq!(result["puback"], expected, "{result}");
    assert_eq!(result["observer_got"], json!(["home/alice/x"]), "{result}");
    assert_eq!(result["client_open"], true, "{result}");
    assert_eq!(broker.stats().await.publish_denied, 1);
    broker.stop().await;
}

#[tokio::test]
async fn publish_outside_the_acl_over_mqtt311_is_dropped_silently() {
    let broker = AuthBroker::start(false).await;
    let result = broker
        .session(&format!("--version 4 {ALICE_PUBLISHES}"))
        .await;
    // 3.1.1 has no way to say "denied": acknowledged as usual, never delivered.
    let expected = json!({"home/alice/x": 0, "home/bob/x": 0});
    assert_eq!(result["puback"], expected, "{result}");
    assert_eq!(result["observer_got"], json!(["home/alice/x"]), "{result}");
    assert_eq!(result["client_open"], true, "{result}");
    assert_eq!(broker.stats().await.publish_denied, 1);
    broker.stop().await;
}

#[tokio::test]
async fn subscription_beyond_the_acl_is_refused() {
    let broker = AuthBroker::start(false).await;
    let dev1 = "--username dev1 --password dev1-secret \
        --subscribe devices/dev1/# --subscribe # --subscribe devices/+/status";
    // dev1's only rule is the pattern devices/%u/#: `#` and `devices/+/status` reach
    // other devices' topics.
    let v5 = broker.session(&format!("--version 5 {dev1}")).await;
    let expected = json!({"devices/dev1/#": 1, "#": 0x87, "devices/+/status": 0x87});
    assert_eq!(v5["suback"], expected, "{v5}");
    // 3.1.1 has one failure code, 0x80.
    let v3 = broker.session(&format!("--version 4 {dev1}")).await;
    let expected = json!({"devices/dev1/#": 1, "#": 0x80, "devices/+/status": 0x80});
    assert_eq!(v3["suback"], expected, "{v3}");
    assert_eq!(broker.stats().await.subscribe_denied, 4);
    broker.stop().await;
}

#[tokio::test]
async fn mosquitto_sub_is_told_its_subscription_was_denied() {
    let broker = AuthBroker::start(false).await;
    let mut subscribe = mosquitto("mosquitto_sub", broker.port());
    subscribe.args([
        "-V",
        "mqttv5",
        "-u",
        "dev1",
        "-P",
        "dev1-secret",
        "-t",
        "#",
        "-W",
        "10",
    ]);
    let (_, stdout, stderr) = common::run_command(subscribe, SCRIPT_DEADLINE).await;
    let output = format!("{stdout}{stderr}");
    assert!(
        output.contains("All subscription requests were denied"),
        "mosquitto_sub said: {output}"
    );
    assert_eq!(broker.stats().await.subscribe_denied, 1);
    broker.stop().await;
}

#[tokio::test]
async fn pattern_rules_substitute_the_user_name_and_the_client_id() {
    let broker = AuthBroker::start(false).await;
    let result = broker
        .session(
            "--username dev1 --password dev1-secret --client-id sensor-7 \
             --observer carol:carol-secret \
             --publish devices/dev1/data --publish devices/dev2/data \
             --publish clients/sensor-7/out --publish clients/sensor-8/out",
        )
        .await;
    let expected = json!({
        "devices/dev1/data": 0,
        "devices/dev2/data": 0x87,
        "clients/sensor-7/out": 0,
        "clients/sensor-8/out": 0x87,
    });
    assert_eq!(result["puback"], expected, "{result}");
    let delivered = json!(["devices/dev1/data", "clients/sensor-7/out"]);
    assert_eq!(result["observer_got"], delivered, "{result}");
    assert_eq!(broker.stats().await.publish_denied, 2);
    broker.stop().await;
}

#[tokio::test]
async fn edited_acl_file_applies_while_the_broker_runs() {
    let broker = AuthBroker::start(false).await;
    let bob = "--username bob --password bob-secret --publish home/shared/x";
    let before = broker.session(bob).await;
    assert_eq!(before["puback"]["home/shared/x"], 0x87, "{before}");

    let edited = format!("{ACL}\nuser bob\ntopic write home/shared/#\n");
    std::fs::write(&broker.acl_file, edited).expect("ACL file rewritten");
    // The script keeps publishing on one connection until the PUBACK says success (or
    // gives up after 10 s): the watcher looks at the file about once a second.
    let after = broker.script("poll_publish", bob).await;
    assert_eq!(after["last_puback"], 0, "edited ACL never applied: {after}");
    broker.stop().await;
}
