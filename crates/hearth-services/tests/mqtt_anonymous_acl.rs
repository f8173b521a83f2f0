//! Anonymous clients on a hub with anonymous access on, as real clients see them (raw
//! sockets, `auth_clients.py`): with a broker ACL file, they get its anonymous section
//! (the `topic` lines before the first `user` line) and its `pattern` lines, as in
//! Mosquitto; without one, anything (development mode). The registry authorizer is wired
//! as `hearth serve` wires it, with the broker's file authorizer as its fallback.
//!
//! SQLite only: the registry holds nothing these rules read.

mod acl_hub;

use acl_hub::*;
use hearth_broker::file_auth::{FileAuthConfig, FileAuthorizer};
use hearth_broker::{Broker, BrokerConfig};
use hearth_bus::{Authorizer, Bus};
use hearth_services::{Registry, RegistryAuthorizer};
use serde_json::json;
use std::sync::Arc;

const ACL: &str = "\
# Anonymous clients: nothing under secret/, read public/.
topic deny secret/#
topic read public/#

user ann
topic readwrite secret/#

# Everyone, anonymous clients included: their own status topic.
pattern write clients/%c/status
";

/// A hub with anonymous access on and the given broker ACL file (none: no fallback, as
/// `hearth serve` without `--password-file` or `--acl-file`).
async fn start_hub(acl: Option<&str>) -> (Hub, hearth_testkit::TestStore) {
    let test_store = hearth_testkit::test_store(hearth_testkit::Backend::Sqlite).await;
    let store = test_store.store();
    let registry = Registry::new(store.clone());
    registry
        .ensure_owner(Some(ADMIN_PASSWORD.into()))
        .await
        .expect("owner account");
    let fallback = acl.map(|acl| {
        let acl_file = std::env::temp_dir().join(format!(
            "hearth-anonymous-{}-{}.acl",
            std::process::id(),
            std::time::UNIX_EPOCH
                .elapsed()
                .unwrap_or_default()
                .as_nanos()
        ));
        std::fs::write(&acl_file, acl).expect("ACL file written");
        let file_auth = FileAuthorizer::load(&FileAuthConfig {
            password_file: None,
            acl_file: Some(acl_file.clone()),
            allow_anonymous: true,
        })
        .expect("ACL file loads");
        let _ = std::fs::remove_file(&acl_file);
        Arc::new(file_auth) as Arc<dyn Authorizer>
    });
    let authorizer = RegistryAuthorizer::load(store, true, fallback)
        .await
        .expect("authorizer loads");
    let broker = Broker::start(BrokerConfig::ephemeral(), authorizer.clone())
        .await
        .expect("broker starts");
    let bus: Arc<dyn Bus> = Arc::new(broker.handle());
    let watcher = authorizer.watch(bus);
    let hub = Hub {
        broker,
        registry,
        authorizer,
        _watcher: watcher,
        secrets: Default::default(),
        default_app: Default::default(),
        other_app: Default::default(),
    };
    (hub, test_store)
}

#[tokio::test]
async fn anonymous_clients_follow_the_anonymous_section_of_the_acl_file() {
    let (hub, _store) = start_hub(Some(ACL)).await;
    for version in [5, 4] {
        let result = hub
            .session(
                version,
                "anon1",
                None,
                &[
                    "secret/#",
                    "secret/plans",
                    "public/#",
                    "public/news",
                    "#",
                    "other/#",
                ],
                &[
                    "secret/plans",
                    "public/news",
                    "other/topic",
                    "clients/anon1/status",
                    "clients/anon2/status",
                ],
            )
            .await;
        assert_eq!(result["connack"], 0, "v{version}: {result}");
        // 3.1.1 has no reason code in PUBACK: a refused publish is acknowledged and
        // dropped, which the observer shows.
        let refused = if version == 5 { NOT_AUTHORIZED } else { 0 };
        assert_eq!(
            codes(&result, "suback"),
            json!({
                "secret/#": if version == 5 { NOT_AUTHORIZED } else { 0x80 },
                "secret/plans": if version == 5 { NOT_AUTHORIZED } else { 0x80 },
                "public/#": GRANTED_QOS1,
                "public/news": GRANTED_QOS1,
                "#": if version == 5 { NOT_AUTHORIZED } else { 0x80 },
                "other/#": if version == 5 { NOT_AUTHORIZED } else { 0x80 },
            }),
            "v{version}: {result}"
        );
        assert_eq!(
            codes(&result, "puback"),
            json!({
                "secret/plans": refused,
                "public/news": refused,
                "other/topic": refused,
                "clients/anon1/status": 0,
                "clients/anon2/status": refused,
            }),
            "v{version}: {result}"
        );
        assert_eq!(
            result["observer_got"],
            json!(["clients/anon1/status"]),
            "v{version}: only the granted publish may reach anyone: {result}"
        );
    }
}

#[tokio::test]
async fn without_an_acl_file_anonymous_clients_may_do_anything() {
    let (hub, _store) = start_hub(None).await;
    let result = hub
        .session(
            5,
            "anon1",
            None,
            &["secret/#", "#"],
            &["secret/plans", "other/topic"],
        )
        .await;
    assert_eq!(result["connack"], 0, "{result}");
    assert_eq!(
        codes(&result, "suback"),
        json!({"secret/#": GRANTED_QOS1, "#": GRANTED_QOS1}),
        "{result}"
    );
    assert_eq!(
        codes(&result, "puback"),
        json!({"secret/plans": 0, "other/topic": 0}),
        "{result}"
    );
}
