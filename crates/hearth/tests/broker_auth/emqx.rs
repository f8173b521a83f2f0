//! EMQX 5: `POST /api/v1/broker/emqx/authn` with the authentication template's JSON
//! (`username`, `password`, `clientid`, `peerhost`), answered `{"result": "allow" |
//! "deny", "is_superuser": false}` with 5.8's `acl` and `expire_at` where they apply;
//! `POST /api/v1/broker/emqx/authz` with the authorization template's JSON (`username`,
//! `clientid`, `action`, `topic`, `qos`, `retain` as EMQX renders them: strings),
//! answered `{"result": "allow" | "deny"}`, never `ignore`.

use super::Fixture;
use hearth_testkit::{ADMIN_PASSWORD, Backend};
use serde_json::{Value, json};

const AUTHN: &str = "/api/v1/broker/emqx/authn";
const AUTHZ: &str = "/api/v1/broker/emqx/authz";

async fn authn(fixture: &Fixture, username: &str, password: &str, clientid: &str) -> Value {
    let body = json!({
        "username": username,
        "password": password,
        "clientid": clientid,
        "peerhost": "10.1.2.3",
        // A placeholder Hearth does not read is no error.
        "cert_common_name": "",
    });
    let (status, answer) = fixture.json(AUTHN, body).await;
    assert_eq!(status, 200, "{answer}");
    answer
}

/// `action` and `topic` as one client: "allow" or "deny".
async fn authz(
    fixture: &Fixture,
    who: (&str, &str),
    action: &str,
    topic: &str,
    retain: bool,
) -> String {
    let body = json!({
        "username": who.0,
        "clientid": who.1,
        "action": action,
        "topic": topic,
        "qos": "1",
        "retain": retain.to_string(),
        "peerhost": "10.1.2.3",
    });
    let (status, answer) = fixture.json(AUTHZ, body).await;
    assert_eq!(status, 200, "{answer}");
    answer["result"].as_str().unwrap().to_owned()
}

async fn emqx_logins_follow_the_registry(backend: Backend) {
    let fixture = Fixture::start(backend).await;
    // A device with its own id and secret: allowed, no superuser, and the grants it
    // always has as EMQX 5.8's acl list.
    let answer = authn(&fixture, "d1", fixture.secret("d1"), "d1").await;
    assert_eq!(answer["result"], "allow", "{answer}");
    assert_eq!(answer["is_superuser"], false);
    assert!(answer.get("expire_at").is_none(), "{answer}");
    let acl = answer["acl"].as_array().unwrap();
    for (action, topic) in [
        ("publish", "devices/d1/data"),
        ("publish", "devices/d1/status"),
        ("subscribe", "devices/d1/commands/#"),
    ] {
        assert!(
            acl.contains(&json!({"permission": "allow", "action": action, "topic": topic})),
            "{action} {topic} in {answer}"
        );
    }
    assert!(
        acl.iter().all(|rule| rule["permission"] == "allow"),
        "{answer}"
    );
    // Intruders: another device's client id, another device's secret, a made-up name.
    for (username, password, clientid) in [
        ("d1", fixture.secret("d1"), "d2"),
        ("d2", fixture.secret("d1"), "d2"),
        ("ghost", "whatever", "ghost"),
    ] {
        let answer = authn(&fixture, username, password, clientid).await;
        assert_eq!(answer["result"], "deny", "{username}/{clientid}: {answer}");
        assert!(answer.get("acl").is_none(), "{answer}");
    }
    // An application with its key, under its own client ids only.
    let (key, secret) = fixture.app.clone();
    let answer = authn(&fixture, &key, &secret, &format!("{key}:worker-1")).await;
    assert_eq!(answer["result"], "allow", "{answer}");
    assert!(answer.get("acl").is_none(), "{answer}");
    assert_eq!(authn(&fixture, &key, &secret, "d1").await["result"], "deny");
    // A person's browser token: until it expires (EMQX 5.8 disconnects then), only
    // under `web:{name}:...`, never as someone else.
    let (token, expires_ms) = fixture.token("alice");
    let answer = authn(&fixture, "alice", &token, "web:alice:tab-1").await;
    assert_eq!(answer["result"], "allow", "{answer}");
    assert_eq!(answer["expire_at"], expires_ms / 1000);
    assert_eq!(
        authn(&fixture, "alice", &token, "web:carol:tab-1").await["result"],
        "deny"
    );
    let (carols, _) = fixture.token("carol");
    assert_eq!(
        authn(&fixture, "alice", &carols, "web:alice:tab-2").await["result"],
        "deny"
    );
    // A site's link, as `site:{id}` only.
    let answer = authn(&fixture, "home-1", &fixture.site_secret, "site:home-1").await;
    assert_eq!(answer["result"], "allow", "{answer}");
    assert_eq!(
        answer["acl"],
        json!([{"permission": "allow", "action": "subscribe", "topic": "sites/home-1/devices/+/commands/#"}])
    );
    assert_eq!(
        authn(&fixture, "home-1", &fixture.site_secret, "site:home-2").await["result"],
        "deny"
    );
    // The administrator: allowed, and still no superuser.
    let answer = authn(&fixture, "admin", ADMIN_PASSWORD, "dashboard").await;
    assert_eq!(answer["result"], "allow", "{answer}");
    assert_eq!(answer["is_superuser"], false);
    fixture.hub.shutdown().await;
}

/// (user name, client id), action, topic, retain, the expected result.
type Case<'a> = ((&'a str, &'a str), &'a str, &'a str, bool, &'a str);

async fn emqx_authorization_is_the_built_in_acl(backend: Backend) {
    let fixture = Fixture::start(backend).await;
    let (key, _) = fixture.app.clone();
    let app_client = format!("{key}:worker-1");
    let cases: Vec<Case> = vec![
        // A device: its own topics; a neighbour's (a retained status, as a will or a
        // retained publish would be) and its own commands are refused.
        (("d1", "d1"), "publish", "devices/d1/data", false, "allow"),
        (("d1", "d1"), "publish", "devices/d1/status", true, "allow"),
        (("d1", "d1"), "publish", "devices/d2/data", false, "deny"),
        (("d1", "d1"), "publish", "devices/d2/status", true, "deny"),
        (
            ("d1", "d1"),
            "publish",
            "devices/d1/commands/relay",
            false,
            "deny",
        ),
        (
            ("d1", "d1"),
            "subscribe",
            "devices/d1/commands/#",
            false,
            "allow",
        ),
        (
            ("d1", "d1"),
            "subscribe",
            "devices/+/commands/#",
            false,
            "deny",
        ),
        (
            ("d1", "d1"),
            "subscribe",
            "devices/d2/commands/#",
            false,
            "deny",
        ),
        // Someone else's client id is no device at all.
        (("d1", "d2"), "publish", "devices/d1/data", false, "deny"),
        (("d2", "d1"), "publish", "devices/d1/data", false, "deny"),
        // An application: its devices by name (shared subscriptions too); a wildcard
        // over devices is refused, since EMQX never asks per delivery.
        (
            (key.as_str(), app_client.as_str()),
            "subscribe",
            "devices/d1/#",
            false,
            "allow",
        ),
        (
            (key.as_str(), app_client.as_str()),
            "subscribe",
            "$share/g/devices/d2/data",
            false,
            "allow",
        ),
        (
            (key.as_str(), app_client.as_str()),
            "subscribe",
            "devices/+/data",
            false,
            "deny",
        ),
        (
            (key.as_str(), app_client.as_str()),
            "subscribe",
            "devices/d3/data",
            false,
            "deny",
        ),
        (
            (key.as_str(), app_client.as_str()),
            "publish",
            "devices/d1/commands/relay",
            false,
            "allow",
        ),
        (
            (key.as_str(), app_client.as_str()),
            "publish",
            "devices/d3/commands/relay",
            false,
            "deny",
        ),
        (
            (key.as_str(), app_client.as_str()),
            "publish",
            "devices/d1/commands/relay/ack",
            false,
            "deny",
        ),
        // A site speaks for its own devices only.
        (
            ("home-1", "site:home-1"),
            "publish",
            "sites/home-1/devices/d1/data",
            false,
            "allow",
        ),
        (
            ("home-1", "site:home-1"),
            "publish",
            "sites/home-1/devices/d2/data",
            false,
            "deny",
        ),
        (
            ("home-1", "site:home-1"),
            "publish",
            "sites/home-2/devices/d2/data",
            false,
            "deny",
        ),
        (
            ("home-1", "site:home-1"),
            "publish",
            "devices/d1/data",
            false,
            "deny",
        ),
        (
            ("home-1", "site:home-1"),
            "subscribe",
            "sites/home-1/devices/+/commands/#",
            false,
            "allow",
        ),
        (
            ("home-1", "site:home-1"),
            "subscribe",
            "sites/home-2/devices/+/commands/#",
            false,
            "deny",
        ),
        // People's browsers: their groups' topics and devices only.
        (
            ("alice", "web:alice:tab"),
            "subscribe",
            "hearth/alerts/home",
            false,
            "allow",
        ),
        (
            ("alice", "web:alice:tab"),
            "subscribe",
            "hearth/alerts/cabin",
            false,
            "deny",
        ),
        (
            ("alice", "web:alice:tab"),
            "subscribe",
            "devices/d1/data",
            false,
            "allow",
        ),
        (
            ("alice", "web:alice:tab"),
            "subscribe",
            "devices/+/data",
            false,
            "deny",
        ),
        (
            ("alice", "web:alice:tab"),
            "publish",
            "devices/d1/commands/relay",
            false,
            "allow",
        ),
        (
            ("carol", "web:carol:tab"),
            "subscribe",
            "devices/d1/data",
            false,
            "deny",
        ),
        (
            ("carol", "web:carol:tab"),
            "publish",
            "devices/d1/commands/relay",
            false,
            "deny",
        ),
        (
            ("carol", "web:carol:tab"),
            "subscribe",
            "hearth/alerts/home",
            false,
            "deny",
        ),
        (
            ("alice", "web:carol:tab"),
            "subscribe",
            "hearth/alerts/home",
            false,
            "deny",
        ),
        // The administrator: everything but what only per-delivery checks could make
        // safe (`#` would carry the sites' registry mirrors) and the sites' mirrors.
        (
            ("admin", "dashboard"),
            "subscribe",
            "devices/#",
            false,
            "allow",
        ),
        (("admin", "dashboard"), "subscribe", "#", false, "deny"),
        (
            ("admin", "dashboard"),
            "subscribe",
            "sites/home-1/registry/snapshot",
            false,
            "deny",
        ),
        (
            ("admin", "dashboard"),
            "publish",
            "devices/d1/commands/relay",
            false,
            "allow",
        ),
        // Nobody without a user name (anonymous access is off).
        (("", "anyone"), "publish", "devices/d1/data", false, "deny"),
    ];
    for (who, action, topic, retain, expected) in cases {
        assert_eq!(
            authz(&fixture, who, action, topic, retain).await,
            expected,
            "{who:?} {action} {topic}"
        );
    }
    // A device disabled meanwhile may do nothing more.
    fixture
        .hub
        .registry()
        .set_device_enabled("test", &hearth_testkit::ids::device("d1"), false)
        .await
        .unwrap();
    fixture
        .hub
        .authorizer()
        .refresh(fixture.hub.bus().as_ref())
        .await
        .unwrap();
    assert_eq!(
        authz(&fixture, ("d1", "d1"), "publish", "devices/d1/data", false).await,
        "deny"
    );
    // So may a disabled site.
    let registry = fixture.hub.registry();
    let home_1 = hearth_model::SiteId::new("home-1").unwrap();
    registry
        .set_site_enabled("test", &home_1, false)
        .await
        .unwrap();
    fixture
        .hub
        .authorizer()
        .refresh(fixture.hub.bus().as_ref())
        .await
        .unwrap();
    let site = ("home-1", "site:home-1");
    assert_eq!(
        authz(
            &fixture,
            site,
            "publish",
            "sites/home-1/devices/d1/data",
            false
        )
        .await,
        "deny"
    );
    fixture.hub.shutdown().await;
}

hearth_testkit::both_backends_hub!(
    emqx_logins_follow_the_registry,
    emqx_authorization_is_the_built_in_acl
);
