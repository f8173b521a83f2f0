//! Issue 12's browser- and wire-facing findings: cross-site requests (5), security
//! headers and `Secure` cookies (8), oversized and slow request heads (10), CSV formula
//! injection (12), and taken ids that must not say whose they are (13).

use super::*;
use hearth_model::{DeviceId, Point, now_millis};
use hearth_store::IngestBatch;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

both_backends!(
    cross_origin_cookie_requests_are_refused,
    json_endpoints_take_only_json,
    every_response_has_security_headers,
    cookies_are_secure_over_https,
    oversized_request_heads_are_answered_and_closed,
    slow_request_heads_are_cut_off,
    csv_export_neutralises_formulas,
    taken_ids_say_nothing_about_their_holder,
);

/// A command to the `relay` device of an admin hub with fake commands.
async fn command_hub(store: Arc<dyn Store>) -> (Hub, Auth) {
    let hub = start_with(store, |state| {
        state.with_commands(Arc::new(super::access::FakeCommands))
    })
    .await;
    hub.add_device("relay", "default").await;
    let admin = hub.admin().await;
    (hub, admin)
}

const COMMAND: &str = "/api/v1/devices/relay/commands";

fn command_body() -> Option<Vec<u8>> {
    Some(br#"{"name": "switch", "params": {"on": true}}"#.to_vec())
}

async fn cross_origin_cookie_requests_are_refused(store: Arc<dyn Store>) {
    let (hub, admin) = command_hub(store).await;
    let json = ("content-type", "application/json");
    let other_origin = format!("http://127.0.0.1:{}", hub.address.port() + 1);
    let own_origin = format!("http://{}", hub.address);

    let forged = hub
        .send(
            "POST",
            COMMAND,
            &admin,
            &[json, ("origin", &other_origin)],
            command_body(),
        )
        .await;
    assert_eq!(forged.status, 403, "another port's page: {:?}", forged.body);
    assert!(
        forged.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("cross-origin"),
        "{:?}",
        forged.body
    );
    let no_origin = hub
        .send("POST", COMMAND, &admin, &[json], command_body())
        .await;
    assert_eq!(
        no_origin.status, 403,
        "a cookie change must show its origin"
    );
    let cross_site = hub
        .send(
            "POST",
            COMMAND,
            &admin,
            &[json, ("sec-fetch-site", "same-site")],
            command_body(),
        )
        .await;
    assert_eq!(cross_site.status, 403);
    let logout = hub
        .send(
            "POST",
            "/api/v1/auth/logout",
            &admin,
            &[("origin", &other_origin)],
            None,
        )
        .await;
    assert_eq!(logout.status, 403, "bodiless changes are checked too");

    let own = hub
        .send(
            "POST",
            COMMAND,
            &admin,
            &[json, ("origin", &own_origin)],
            command_body(),
        )
        .await;
    assert_eq!(own.status, 202, "{:?}", own.body);
    let fetch_same = hub
        .send(
            "POST",
            COMMAND,
            &admin,
            &[json, ("sec-fetch-site", "same-origin")],
            command_body(),
        )
        .await;
    assert_eq!(fetch_same.status, 202);
    let reads = hub
        .send(
            "GET",
            "/api/v1/auth/me",
            &admin,
            &[("origin", &other_origin)],
            None,
        )
        .await;
    assert_eq!(reads.status, 200, "reads are not state-changing");

    let token = hub
        .call(
            "POST",
            "/api/v1/tokens",
            &admin,
            Some(json!({"name": "script"})),
        )
        .await
        .json()["token_secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let scripted = hub
        .send(
            "POST",
            COMMAND,
            &Auth::Bearer(token),
            &[json],
            command_body(),
        )
        .await;
    assert_eq!(scripted.status, 202, "bearer tokens are not cookie-borne");
}

async fn json_endpoints_take_only_json(store: Arc<dyn Store>) {
    let (hub, admin) = command_hub(store).await;
    let own_origin = format!("http://{}", hub.address);
    for content_type in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=xyz",
    ] {
        let reply = hub
            .send(
                "POST",
                COMMAND,
                &admin,
                &[("content-type", content_type), ("origin", &own_origin)],
                command_body(),
            )
            .await;
        assert_eq!(
            (reply.status, reply.code().as_str()),
            (415, "unsupported_media_type"),
            "{content_type}"
        );
        assert!(
            reply.json()["error"]["message"]
                .as_str()
                .unwrap()
                .contains("application/json"),
            "the answer names what is expected"
        );
    }
    let login = hub
        .send(
            "POST",
            "/api/v1/auth/login",
            &Auth::None,
            &[("content-type", "text/plain")],
            Some(br#"{"username": "admin", "password": "x"}"#.to_vec()),
        )
        .await;
    assert_eq!(login.status, 415);
    let charset = hub
        .send(
            "POST",
            COMMAND,
            &admin,
            &[
                ("content-type", "application/json; charset=utf-8"),
                ("origin", &own_origin),
            ],
            command_body(),
        )
        .await;
    assert_eq!(charset.status, 202);
}

fn assert_security_headers(reply: &Reply, what: &str) {
    let csp = reply
        .header("content-security-policy")
        .unwrap_or_else(|| panic!("{what}: no CSP"));
    assert!(csp.contains("frame-ancestors 'none'"), "{what}: {csp}");
    assert!(csp.contains("script-src 'self'"), "{what}: {csp}");
    assert_eq!(reply.header("x-frame-options").as_deref(), Some("DENY"));
    assert_eq!(
        reply.header("x-content-type-options").as_deref(),
        Some("nosniff")
    );
    assert_eq!(
        reply.header("referrer-policy").as_deref(),
        Some("no-referrer"),
        "{what}"
    );
}

async fn every_response_has_security_headers(store: Arc<dyn Store>) {
    let hub = start(store).await;
    let admin = hub.admin().await;
    for (path, auth) in [
        ("/healthz", &Auth::None),
        ("/api/v1/auth/me", &Auth::None),
        ("/api/v1/auth/me", &admin),
        ("/api/v1/nope", &admin),
        ("/api/docs/", &Auth::None),
        ("/api/openapi.json", &Auth::None),
        ("/", &Auth::None),
    ] {
        let reply = hub.get(path, auth).await;
        assert_security_headers(&reply, path);
    }
}

/// The session cookie of a login sent with `headers`.
async fn login_cookie(hub: &Hub, headers: &[(&str, &str)]) -> String {
    let mut all = vec![("content-type", "application/json")];
    all.extend_from_slice(headers);
    let body = json!({"username": "admin", "password": ADMIN_PASSWORD});
    let reply = hub
        .send(
            "POST",
            "/api/v1/auth/login",
            &Auth::None,
            &all,
            Some(body.to_string().into_bytes()),
        )
        .await;
    assert_eq!(reply.status, 200);
    reply.header("set-cookie").unwrap()
}

async fn cookies_are_secure_over_https(store: Arc<dyn Store>) {
    let proxied = start_with(store.clone(), |mut state| {
        Arc::make_mut(&mut state.config).trust_forwarded_for = true;
        state
    })
    .await;
    let https = [("x-forwarded-proto", "https")];
    assert!(login_cookie(&proxied, &https).await.contains("; Secure"));
    assert!(!login_cookie(&proxied, &[]).await.contains("Secure"));
    let direct = start(store).await;
    assert!(
        !login_cookie(&direct, &https).await.contains("Secure"),
        "X-Forwarded-Proto counts only from a trusted proxy"
    );
}

/// Sends `head` on a raw socket and reads until the hub closes the connection.
async fn raw_exchange(hub: &Hub, head: &[u8]) -> String {
    let mut socket = tokio::net::TcpStream::connect(hub.address).await.unwrap();
    socket.write_all(head).await.unwrap();
    let mut answer = Vec::new();
    // A guard against hanging forever, not a timing assertion: the hub must close.
    tokio::time::timeout(Duration::from_secs(60), socket.read_to_end(&mut answer))
        .await
        .expect("the hub never closed the connection")
        .ok();
    String::from_utf8_lossy(&answer).into_owned()
}

async fn oversized_request_heads_are_answered_and_closed(store: Arc<dyn Store>) {
    let hub = start(store).await;
    let long_line = format!(
        "GET /api/v1/{} HTTP/1.1\r\nHost: hub\r\n\r\n",
        "a".repeat(20 * 1024)
    );
    let answer = raw_exchange(&hub, long_line.as_bytes()).await;
    assert!(
        answer.starts_with("HTTP/1.1 414") || answer.starts_with("HTTP/1.1 431"),
        "{:?}",
        &answer[..answer.len().min(200)]
    );
    let big_header = format!(
        "GET /healthz HTTP/1.1\r\nHost: hub\r\nX-Big: {}\r\n\r\n",
        "b".repeat(20 * 1024)
    );
    let answer = raw_exchange(&hub, big_header.as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer:?}");
    let fine = raw_exchange(
        &hub,
        b"GET /healthz HTTP/1.1\r\nHost: hub\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(fine.starts_with("HTTP/1.1 200"), "{fine:?}");
}

async fn slow_request_heads_are_cut_off(store: Arc<dyn Store>) {
    let hub = start_with(store, |mut state| {
        Arc::make_mut(&mut state.config).header_read_timeout_secs = 1;
        state
    })
    .await;
    // Half a head, then nothing: the hub must close the connection on its own.
    let answer = raw_exchange(&hub, b"GET /healthz HTTP/1.1\r\nHost: hub\r\nX-Slow: a").await;
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
        "{answer:?}"
    );
}

async fn csv_export_neutralises_formulas(store: Arc<dyn Store>) {
    let hub = start(store).await;
    let admin = hub.admin().await;
    hub.add_device("thermo", "default").await;
    let at_ms = now_millis() - 60_000;
    let mut batch = IngestBatch::default();
    batch.points.push(Point {
        device: DeviceId::new("thermo").unwrap(),
        metric: "=1+2".into(),
        at_ms,
        value: -3.5,
    });
    hub.store.write_batch(&batch).await.unwrap();
    let csv = hub
        .get("/api/v1/devices/thermo/export.csv?metric=%3D1%2B2", &admin)
        .await;
    assert_eq!(csv.status, 200);
    let text = String::from_utf8_lossy(&csv.body).into_owned();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[1],
        format!("{at_ms},\"'=1+2\",-3.5"),
        "the formula is text; the negative number stays a number"
    );
}

async fn taken_ids_say_nothing_about_their_holder(store: Arc<dyn Store>) {
    let hub = start(store).await;
    hub.add_device("secret-lamp", "default").await;
    hub.add_user("alice").await;
    let alice = hub.login("alice", "alice-password").await;
    let create = |path: &'static str, body: Value| {
        let hub = &hub;
        let alice = alice.clone();
        async move { hub.call("POST", path, &alice, Some(body)).await }
    };
    assert_eq!(
        create("/api/v1/groups", json!({"id": "alices"}))
            .await
            .status,
        201
    );
    assert_eq!(
        create("/api/v1/apps", json!({"id": "alapp", "group": "alices"}))
            .await
            .status,
        201
    );
    let device = |id: &str| json!({"id": id, "app": "alapp"});
    assert_eq!(create("/api/v1/devices", device("mine")).await.status, 201);

    let hidden = create("/api/v1/devices", device("secret-lamp")).await;
    let visible = create("/api/v1/devices", device("mine")).await;
    assert_eq!((hidden.status, visible.status), (409, 409));
    let hidden_text = hidden.json()["error"]["message"]
        .as_str()
        .unwrap()
        .replace("secret-lamp", "<id>");
    let visible_text = visible.json()["error"]["message"]
        .as_str()
        .unwrap()
        .replace("mine", "<id>");
    assert_eq!(
        hidden_text, visible_text,
        "a hidden holder and a visible one look alike"
    );
    for leak in ["home", "default", "admin"] {
        assert!(!hidden_text.contains(leak), "{hidden_text}");
    }
    let group = create("/api/v1/groups", json!({"id": "home"})).await;
    assert_eq!(group.status, 409);
    assert!(
        group.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("taken")
    );
    let app = create("/api/v1/apps", json!({"id": "default", "group": "alices"})).await;
    assert_eq!(app.status, 409);

    // Probing is limited: the refusals so far count, and more soon answer 429.
    let mut statuses = Vec::new();
    for _ in 0..10 {
        statuses.push(
            create("/api/v1/devices", device("secret-lamp"))
                .await
                .status,
        );
    }
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
}
