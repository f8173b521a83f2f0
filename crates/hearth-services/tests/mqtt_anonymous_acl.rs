//! Anonymous clients on a hub with anonymous access on, as real clients see them (raw
//! sockets, `auth_clients.py`): with a broker ACL file, they get its anonymous section
//! (the `topic` lines before the first `user` line) and its `pattern` lines, as in
//! Mosquitto; without one, anything (development mode). The hub is started as `hearth
//! serve --allow-anonymous [--acl-file]` starts it, which wires the broker's ACL file
//! behind the registry authorizer.
//!
//! SQLite only: the registry holds nothing these rules read.

mod acl_hub;

use acl_hub::*;
use serde_json::json;

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
/// `hearth serve` without `--password-file` or `--acl-file`). The file lives in the
/// hub's data directory, as long as the hub.
async fn start_hub(acl: Option<&str>) -> AclHub {
    let hub = hearth_testkit::start_hub_with(hearth_testkit::Backend::Sqlite, |config| {
        config.mqtt.auth.allow_anonymous = true;
        if let Some(acl) = acl {
            let acl_file = config.data_dir.join("broker.acl");
            std::fs::write(&acl_file, acl).expect("ACL file written");
            config.mqtt.auth.acl_file = Some(acl_file);
        }
    })
    .await;
    AclHub {
        hub,
        secrets: Default::default(),
        default_app: Default::default(),
        other_app: Default::default(),
    }
}

#[tokio::test]
async fn anonymous_clients_follow_the_anonymous_section_of_the_acl_file() {
    let hub = start_hub(Some(ACL)).await;
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
    let hub = start_hub(None).await;
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
