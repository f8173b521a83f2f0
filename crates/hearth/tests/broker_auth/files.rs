//! The principals that are not in the registry: anonymous clients (only with
//! `--allow-anonymous`) and the users of the broker's password file, with its ACL file,
//! asked through EMQX's endpoints as the built-in broker would decide them; a device's
//! id stays the device's. SQLite only: the registry holds nothing these rules read.

use super::SECRET;
use hearth_testkit::Backend;
use serde_json::{Value, json};

const ACL: &str = "\
topic deny secret/#
topic read public/#
user ann
topic readwrite secret/#
pattern write clients/%c/status
";

async fn call(hub: &hearth_testkit::TestHub, path: &str, body: Value) -> Value {
    let (status, text) = super::post(
        hub,
        &format!("/api/v1/broker/emqx/{path}?secret={SECRET}"),
        &[],
        "application/json",
        &body.to_string(),
    )
    .await;
    assert_eq!(status, 200, "{text}");
    serde_json::from_str::<Value>(&text).unwrap()["result"].clone()
}

#[tokio::test]
async fn anonymous_and_password_file_users_get_the_built_in_answers() {
    let hub = hearth_testkit::start_hub_with(Backend::Sqlite, |config| {
        config.broker_auth = Some(hearth_api::BrokerAuthConfig::new(SECRET).unwrap());
        config.mqtt.auth.allow_anonymous = true;
        let passwords = config.data_dir.join("broker.passwd");
        let hash = hearth_broker::file_auth::hash_password("ann-password");
        std::fs::write(&passwords, format!("ann:{hash}\n")).unwrap();
        config.mqtt.auth.password_file = Some(passwords);
        let acl = config.data_dir.join("broker.acl");
        std::fs::write(&acl, ACL).unwrap();
        config.mqtt.auth.acl_file = Some(acl);
    })
    .await;
    hearth_testkit::devices::add_devices(&hub, &["d1"]).await;
    let login = |username: &str, password: &str, clientid: &str| json!({"username": username, "password": password, "clientid": clientid, "peerhost": "10.3.3.3"});
    // EMQX renders an absent user name and password as empty strings.
    assert_eq!(call(&hub, "authn", login("", "", "anon1")).await, "allow");
    assert_eq!(call(&hub, "authn", login("", "", "d1")).await, "deny");
    assert_eq!(
        call(&hub, "authn", login("ann", "ann-password", "ann-laptop")).await,
        "allow"
    );
    assert_eq!(
        call(&hub, "authn", login("ann", "guess", "ann-laptop")).await,
        "deny"
    );
    assert_eq!(
        call(&hub, "authn", login("ann", "ann-password", "d1")).await,
        "deny"
    );
    let authz = |who: (&str, &str), action: &str, topic: &str| {
        json!({"username": who.0, "clientid": who.1, "action": action, "topic": topic,
            "qos": "0", "retain": "false"})
    };
    let anon = ("", "anon1");
    let ann = ("ann", "ann-laptop");
    for (body, expected) in [
        (authz(anon, "subscribe", "public/#"), "allow"),
        (authz(anon, "subscribe", "secret/#"), "deny"),
        (authz(anon, "publish", "clients/anon1/status"), "allow"),
        (authz(anon, "publish", "clients/other/status"), "deny"),
        (authz(ann, "subscribe", "secret/#"), "allow"),
        (authz(ann, "publish", "secret/plans"), "allow"),
        (authz(ann, "publish", "devices/d1/data"), "deny"),
        // A password-file user or an anonymous client under a device's id is nobody.
        (authz(("ann", "d1"), "subscribe", "secret/#"), "deny"),
        (authz(("", "d1"), "subscribe", "public/#"), "deny"),
    ] {
        assert_eq!(call(&hub, "authz", body.clone()).await, expected, "{body}");
    }
    hub.shutdown().await;
}
