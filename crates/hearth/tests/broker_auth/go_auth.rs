//! mosquitto-go-auth's HTTP backend: `POST /api/v1/broker/go-auth/{user,superuser,acl}`
//! with its JSON (`http_params_mode json`) or form (`form`) parameters (`username`,
//! `password`, `clientid`; `username`; `username`, `clientid`, `topic`, `acc`), answered
//! by status (200 grants, 403 refuses) with `{"ok", "error"}` (`json` mode) or, with
//! `?response=text`, `ok` (`text` mode).

use super::{Fixture, SECRET, post};
use hearth_testkit::Backend;
use serde_json::{Value, json};

const READ: u8 = 1;
const WRITE: u8 = 2;
const READ_WRITE: u8 = 3;
const SUBSCRIBE: u8 = 4;

/// `text` as a form value.
fn percent(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (byte as char).to_string()
            }
            _ => format!("%{byte:02X}"),
        })
        .collect()
}

async fn call(fixture: &Fixture, path: &str, body: Value) -> (u16, Value) {
    let (status, text) = post(
        &fixture.hub,
        &format!("/api/v1/broker/go-auth/{path}?secret={SECRET}"),
        &[("User-Agent", "mosquitto-go-auth-3.0.0")],
        "application/json",
        &body.to_string(),
    )
    .await;
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// An ACL check: whether it was granted (and the JSON body agrees with the status).
async fn acl(fixture: &Fixture, who: (&str, &str), topic: &str, acc: u8) -> bool {
    let body = json!({"username": who.0, "clientid": who.1, "topic": topic, "acc": acc});
    let (status, answer) = call(fixture, "acl", body).await;
    assert!(status == 200 || status == 403, "{status} {answer}");
    assert_eq!(answer["ok"], status == 200, "{answer}");
    status == 200
}

async fn go_auth_follows_the_registry(backend: Backend) {
    let fixture = Fixture::start(backend).await;
    let d1 = fixture.secret("d1").to_owned();
    // Logins, JSON parameters.
    let login = |username: &str, password: &str, clientid: &str| json!({"username": username, "password": password, "clientid": clientid});
    let (status, answer) = call(&fixture, "user", login("d1", &d1, "d1")).await;
    assert_eq!((status, answer), (200, json!({"ok": true, "error": ""})));
    assert_eq!(call(&fixture, "user", login("d1", &d1, "d2")).await.0, 403);
    assert_eq!(call(&fixture, "user", login("d2", &d1, "d2")).await.0, 403);
    // Logins, form parameters (`http_params_mode form`), and the `text` response mode.
    let form = format!("username=d1&password={}&clientid=d1", percent(&d1));
    let (status, text) = post(
        &fixture.hub,
        &format!("/api/v1/broker/go-auth/user?secret={SECRET}&response=text"),
        &[],
        "application/x-www-form-urlencoded",
        &form,
    )
    .await;
    assert_eq!((status, text.as_str()), (200, "ok"));
    let (status, text) = post(
        &fixture.hub,
        &format!("/api/v1/broker/go-auth/user?secret={SECRET}&response=text"),
        &[],
        "application/x-www-form-urlencoded",
        "username=d1&password=guess&clientid=d1",
    )
    .await;
    assert_eq!(status, 403);
    assert_ne!(text, "ok");
    // Nobody is a superuser, not even the administrator: every action is checked.
    let (status, answer) = call(&fixture, "superuser", json!({"username": "admin"})).await;
    assert_eq!((status, answer["ok"].clone()), (403, json!(false)));

    // ACL checks: 2 write, 4 subscribe, 1 read (each delivery), 3 both.
    assert!(acl(&fixture, ("d1", "d1"), "devices/d1/data", WRITE).await);
    assert!(!acl(&fixture, ("d1", "d1"), "devices/d2/data", WRITE).await);
    assert!(acl(&fixture, ("d1", "d1"), "devices/d1/commands/#", SUBSCRIBE).await);
    assert!(!acl(&fixture, ("d1", "d1"), "devices/d2/commands/#", SUBSCRIBE).await);
    assert!(acl(&fixture, ("d1", "d1"), "devices/d1/commands/relay", READ).await);
    assert!(!acl(&fixture, ("d1", "d1"), "devices/d2/commands/relay", READ).await);
    assert!(!acl(&fixture, ("d1", "d1"), "devices/d1/data", READ_WRITE).await);
    assert!(!acl(&fixture, ("d1", "d2"), "devices/d1/data", WRITE).await);
    // Mosquitto asks before every delivery, so an application's wildcard is granted
    // as in the built-in broker and each message is checked: d1's (its own) reaches it,
    // d3's (another application's) does not.
    let (key, _) = fixture.app.clone();
    let app = (key.as_str(), key.as_str());
    assert!(acl(&fixture, app, "devices/+/data", SUBSCRIBE).await);
    assert!(acl(&fixture, app, "$share/hearth/devices/+/data", SUBSCRIBE).await);
    assert!(acl(&fixture, app, "devices/d1/data", READ).await);
    assert!(!acl(&fixture, app, "devices/d3/data", READ).await);
    assert!(!acl(&fixture, app, "#", SUBSCRIBE).await);
    // A site for another site's device; a browser of another group.
    let site = ("home-1", "site:home-1");
    assert!(acl(&fixture, site, "sites/home-1/devices/d1/data", WRITE).await);
    assert!(!acl(&fixture, site, "sites/home-1/devices/d2/data", WRITE).await);
    assert!(acl(&fixture, ("alice", "web:alice:t"), "devices/d1/data", READ).await);
    // Carol (another group) may hold a wildcard, as in the built-in broker, but no
    // delivery of the home's devices reaches her, nor a command from her.
    let carol = ("carol", "web:carol:t");
    assert!(acl(&fixture, carol, "devices/+/data", SUBSCRIBE).await);
    assert!(!acl(&fixture, carol, "devices/d1/data", READ).await);
    assert!(!acl(&fixture, carol, "devices/d1/data", SUBSCRIBE).await);
    assert!(!acl(&fixture, carol, "devices/d1/commands/relay", WRITE).await);
    // The administrator reads `#`, but never a site's registry mirror (hashes).
    let admin = ("admin", "dashboard");
    assert!(acl(&fixture, admin, "#", SUBSCRIBE).await);
    assert!(acl(&fixture, admin, "devices/d3/data", READ).await);
    assert!(!acl(&fixture, admin, "sites/home-1/registry/snapshot", READ).await);
    // The nodes' own requests between them (engine_relay.rs): no principal of the
    // registry may send one, nor read the answers, the administrator included.
    for who in [
        ("d1", "d1"),
        app,
        site,
        ("alice", "web:alice:t"),
        carol,
        admin,
    ] {
        assert!(
            !acl(&fixture, who, "hearth/cluster/engine", WRITE).await,
            "{who:?}"
        );
        assert!(
            !acl(&fixture, who, "hearth/cluster/replies/n1", READ).await,
            "{who:?}"
        );
    }
    // Not an access Mosquitto has: a 400 naming it, which go-auth takes as a refusal.
    let (status, answer) = call(
        &fixture,
        "acl",
        json!({"username": "d1", "clientid": "d1", "topic": "devices/d1/data", "acc": 9}),
    )
    .await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["error"]["field"], "acc");
    fixture.hub.shutdown().await;
}

hearth_testkit::both_backends_hub!(go_auth_follows_the_registry);
