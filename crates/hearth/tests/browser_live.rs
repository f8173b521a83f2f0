//! The web app's live view behind an external broker (issue 21, docs/scale.md "The web
//! app's live view"): `/api/v1/mqtt/credentials` of an external-mode hub names
//! `[mqtt.external] browser_url`, and the token it issues is what a broker that asks
//! Hearth over HTTP (EMQX, mosquitto-go-auth; `[broker_auth]`) accepts, at whichever node
//! it asks (the nodes share `browser_key_file`), for that person's devices only.
//!
//! Real parts: in-process hubs in external mode connected to Debian's Mosquitto started
//! here, the credentials endpoint over HTTP with a login cookie, the broker endpoints
//! over HTTP with EMQX's and go-auth's request bodies. Not real: the broker that would
//! call those endpoints (no EMQX or go-auth on this machine); the test calls them as it
//! would. Each node has its own SQLite database holding the same people and devices,
//! which is all a token check reads besides the key.

use hearth_broker::external::{ExternalBrokerConfig, MqttMode};
use hearth_services::registry::DeviceSpec;
use hearth_testkit::client::Api;
use hearth_testkit::mosquitto::MosquittoProcess;
use hearth_testkit::{Backend, TestHub, ids};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

const SECRET: &str = "broker-auth-test-secret-0123456789";
const BROWSER_URL: &str = "wss://broker.lan:8084/mqtt";

/// Mosquitto on a free loopback port, anonymous logins allowed (the nodes' own login);
/// the nodes only need it to start.
fn mosquitto(dir: &Path) -> (MosquittoProcess, u16) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = dir.join("mosquitto.conf");
    std::fs::write(
        &config,
        format!("listener {port} 127.0.0.1\nallow_anonymous true\nuser root\n"),
    )
    .unwrap();
    (MosquittoProcess::start(&config, &[port]), port)
}

/// An external-mode node with `[broker_auth]`, `browser_url` unless `None`, and the
/// token key in `key_file` (unset: its data directory's); holding alice (member of
/// `home`, control over app `default` with device d1) and carol (owner of `cabin`,
/// whose app `shed` holds device c1).
async fn node(port: u16, browser_url: Option<&str>, key_file: Option<PathBuf>) -> TestHub {
    let mut external = ExternalBrokerConfig::new(&format!("mqtt://127.0.0.1:{port}")).unwrap();
    external.browser_url = browser_url.map(|url| url.to_owned().try_into().unwrap());
    external.browser_key_file = key_file;
    let hub = hearth_testkit::start_hub_with(Backend::Sqlite, move |config| {
        config.mqtt.mode = MqttMode::External;
        config.mqtt.external = Some(external);
        config.broker_auth = Some(hearth_api::BrokerAuthConfig::new(SECRET).unwrap());
    })
    .await;
    hub.add_alice_and_carol().await;
    let registry = hub.registry();
    let cabin = ids::group("cabin");
    registry
        .add_app("test", &ids::app("shed"), &cabin, None, None)
        .await
        .unwrap();
    for (device, app) in [("d1", "default"), ("c1", "shed")] {
        let spec = DeviceSpec {
            app: Some(ids::app(app)),
            ..DeviceSpec::new(ids::device(device))
        };
        registry.add_device("test", spec).await.unwrap();
    }
    hub.authorizer().refresh(hub.bus().as_ref()).await.unwrap();
    hub
}

/// What `/api/v1/mqtt/credentials` answers `user` at `hub`: status and body.
async fn credentials(hub: &TestHub, user: &str) -> (u16, Value) {
    let api = Api::login_as(hub, user, &format!("{user}-password")).await;
    let (status, _, body) = api.send("POST", "/api/v1/mqtt/credentials", None).await;
    (status, body)
}

/// A broker's call: POST `body` as JSON with the secret (EMQX's header; go-auth's
/// query form is added by the caller); status and body.
async fn broker(hub: &TestHub, path: &str, body: Value) -> (u16, Value) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let address = hub.http();
    let body = body.to_string();
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\
         Authorization: Bearer {SECRET}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

/// EMQX's authentication call: "allow" or "deny".
async fn emqx_login(hub: &TestHub, username: &str, password: &str, clientid: &str) -> String {
    let body = json!({"username": username, "password": password, "clientid": clientid,
        "peerhost": "10.1.2.3"});
    let (status, answer) = broker(hub, "/api/v1/broker/emqx/authn", body).await;
    assert_eq!(status, 200, "{answer}");
    answer["result"].as_str().unwrap().to_owned()
}

/// EMQX's authorization call for `clientid` of `username`: "allow" or "deny".
async fn emqx_may(hub: &TestHub, who: (&str, &str), action: &str, topic: &str) -> String {
    let body = json!({"username": who.0, "clientid": who.1, "action": action,
        "topic": topic, "qos": "1", "retain": "false", "peerhost": "10.1.2.3"});
    let (status, answer) = broker(hub, "/api/v1/broker/emqx/authz", body).await;
    assert_eq!(status, 200, "{answer}");
    answer["result"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_token_from_one_node_passes_any_node_sharing_the_key_for_its_own_devices_only() {
    let dir = tempfile::tempdir().unwrap();
    let (_mosquitto, port) = mosquitto(dir.path());
    let key = dir.path().join("browser-token.key");
    let node_a = node(port, Some(BROWSER_URL), Some(key.clone())).await;
    let node_b = node(port, Some(BROWSER_URL), Some(key.clone())).await;
    // A node whose key is its own (the default file in its data directory).
    let stranger = node(port, Some(BROWSER_URL), None).await;
    assert_eq!(
        std::fs::read_to_string(&key).unwrap().trim().len(),
        64,
        "the shared key was made on first start"
    );

    let (status, alice) = credentials(&node_a, "alice").await;
    assert_eq!(status, 200, "{alice}");
    assert_eq!(alice["ws_url"], BROWSER_URL);
    assert_eq!(alice["username"], "alice");
    let (token, client) = (
        alice["password"].as_str().unwrap(),
        alice["client_id"].as_str().unwrap(),
    );
    assert!(client.starts_with("web:alice:"), "{client}");

    // The node that issued it and any other with the same key let it in; one with
    // another key does not.
    assert_eq!(emqx_login(&node_a, "alice", token, client).await, "allow");
    assert_eq!(emqx_login(&node_b, "alice", token, client).await, "allow");
    assert_eq!(emqx_login(&stranger, "alice", token, client).await, "deny");
    // mosquitto-go-auth's user check at the other node: 200 is "let in".
    let (status, _) = broker(
        &node_b,
        &format!("/api/v1/broker/go-auth/user?secret={SECRET}"),
        json!({"username": "alice", "password": token, "clientid": client}),
    )
    .await;
    assert_eq!(status, 200);

    // What alice's browser may do, asked at the other node: her group's devices and
    // topics; nothing of carol's group, no device's own reports.
    let alice_at = ("alice", client);
    for (action, topic, expected) in [
        ("subscribe", "devices/d1/data", "allow"),
        ("subscribe", "devices/d1/status", "allow"),
        ("subscribe", "hearth/alerts/home", "allow"),
        ("publish", "devices/d1/commands/relay", "allow"),
        ("subscribe", "devices/c1/data", "deny"),
        ("subscribe", "devices/+/data", "deny"),
        ("subscribe", "hearth/alerts/cabin", "deny"),
        ("publish", "devices/c1/commands/relay", "deny"),
        ("publish", "devices/d1/data", "deny"),
        ("publish", "devices/d1/status", "deny"),
    ] {
        assert_eq!(
            emqx_may(&node_b, alice_at, action, topic).await,
            expected,
            "alice {action} {topic}"
        );
    }

    // The intruder: carol, of another group, with her own valid token.
    let (status, carol) = credentials(&node_a, "carol").await;
    assert_eq!(status, 200, "{carol}");
    let (carols_token, carols_client) = (
        carol["password"].as_str().unwrap(),
        carol["client_id"].as_str().unwrap(),
    );
    // ... cannot log in as alice, nor under alice's client id ...
    assert_eq!(
        emqx_login(&node_b, "alice", carols_token, carols_client).await,
        "deny"
    );
    assert_eq!(
        emqx_login(&node_b, "alice", carols_token, client).await,
        "deny"
    );
    assert_eq!(
        emqx_login(&node_b, "carol", carols_token, client).await,
        "deny"
    );
    // ... and reaches only her own group's device.
    let carol_at = ("carol", carols_client);
    assert_eq!(
        emqx_login(&node_b, "carol", carols_token, carols_client).await,
        "allow"
    );
    for (action, topic, expected) in [
        ("subscribe", "devices/c1/data", "allow"),
        ("subscribe", "devices/d1/data", "deny"),
        ("subscribe", "devices/d1/#", "deny"),
        ("publish", "devices/d1/commands/relay", "deny"),
        ("publish", "devices/c1/data", "deny"),
    ] {
        assert_eq!(
            emqx_may(&node_b, carol_at, action, topic).await,
            expected,
            "carol {action} {topic}"
        );
    }

    stranger.shutdown().await;
    node_b.shutdown().await;
    node_a.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_browser_url_the_endpoint_names_no_address_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let (_mosquitto, port) = mosquitto(dir.path());
    let hub = node(port, None, None).await;
    let (status, body) = credentials(&hub, "alice").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "unavailable");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("browser_url"), "{message}");
    assert!(body.get("ws_url").is_none() && body.get("password").is_none());
    hub.shutdown().await;
}
