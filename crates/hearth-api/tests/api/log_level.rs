//! `/api/v1/admin/log-level` (issue 16): a hub administrator reads and changes the log
//! filter; everyone else is refused, and so is a cross-site request carrying the
//! administrator's cookie. The binary's real reload handle is tested in
//! `crates/hearth/tests/logging.rs`; here a stand-in records what it was told.

use super::*;
use std::sync::Mutex;

both_backends!(
    an_admin_changes_the_log_filter_and_it_is_audited,
    intruders_cannot_read_or_change_the_log_filter,
    without_the_hubs_logger_the_endpoint_says_so,
);

/// The filter as a string; anything with `=loud` in it does not parse.
struct FakeLevels(Mutex<String>);

impl hearth_api::LogLevels for FakeLevels {
    fn current(&self) -> String {
        self.0.lock().unwrap().clone()
    }
    fn set(&self, filter: &str) -> Result<String, String> {
        if filter.contains("=loud") {
            return Err("invalid level `loud`".into());
        }
        *self.0.lock().unwrap() = filter.to_owned();
        Ok(filter.to_owned())
    }
}

async fn hub_with_levels(store: Arc<dyn Store>) -> (Hub, Arc<FakeLevels>) {
    let levels = Arc::new(FakeLevels(Mutex::new("info".into())));
    let seam: Arc<dyn hearth_api::LogLevels> = levels.clone();
    let hub = start_with(store, move |state| state.with_log_levels_if(Some(seam))).await;
    (hub, levels)
}

const PATH: &str = "/api/v1/admin/log-level";

async fn an_admin_changes_the_log_filter_and_it_is_audited(store: Arc<dyn Store>) {
    let (hub, levels) = hub_with_levels(store).await;
    let admin = hub.admin().await;
    let reply = hub.get(PATH, &admin).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json(), json!({"filter": "info"}));

    let filter = "info,hearth_broker=debug";
    let reply = hub
        .call("PUT", PATH, &admin, Some(json!({ "filter": filter })))
        .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert_eq!(reply.json()["filter"], filter);
    assert_eq!(levels.current_value(), filter);
    assert_eq!(hub.get(PATH, &admin).await.json()["filter"], filter);

    let audit = hub.get("/api/v1/audit", &admin).await.json();
    let entry = audit
        .as_array()
        .unwrap()
        .iter()
        .find(|entry| entry["action"] == "log_level.set")
        .expect("the change is audited");
    assert_eq!(entry["actor"], "user:admin");
    assert_eq!(entry["detail"], json!({"from": "info", "to": filter}));

    // A filter that does not parse: 400 naming `filter`, nothing changes, nothing audited.
    for body in [
        json!({"filter": "info,hearth=loud"}),
        json!({"filter": "  "}),
        json!({"filter": "x".repeat(1_001)}),
    ] {
        let reply = hub.call("PUT", PATH, &admin, Some(body.clone())).await;
        assert_eq!(reply.status, 400, "{body}");
        assert_eq!(reply.field().as_deref(), Some("filter"), "{body}");
        assert_eq!(levels.current_value(), filter);
    }
    let reply = hub
        .call("PUT", PATH, &admin, Some(json!({"level": "debug"})))
        .await;
    assert_eq!(reply.status, 400);
    let audited = hub.get("/api/v1/audit", &admin).await.json();
    let changes = audited
        .as_array()
        .unwrap()
        .iter()
        .filter(|entry| entry["action"] == "log_level.set")
        .count();
    assert_eq!(changes, 1);
}

async fn intruders_cannot_read_or_change_the_log_filter(store: Arc<dyn Store>) {
    let (hub, levels) = hub_with_levels(store).await;
    let admin = hub.admin().await;
    hub.add_user("mallory").await;
    let mallory = hub.login("mallory", "mallory-password").await;
    let body = json!({"filter": "trace"}).to_string().into_bytes();

    // Not logged in.
    assert_eq!(hub.get(PATH, &Auth::None).await.status, 401);
    let reply = hub.raw("PUT", PATH, &Auth::None, Some(body.clone())).await;
    assert_eq!(reply.status, 401);

    // A user who is not a hub administrator, by session and by their own API token.
    assert_eq!(hub.get(PATH, &mallory).await.status, 403);
    let reply = hub.raw("PUT", PATH, &mallory, Some(body.clone())).await;
    assert_eq!(reply.status, 403);
    let token = hub
        .call(
            "POST",
            "/api/v1/tokens",
            &mallory,
            Some(json!({"name": "script"})),
        )
        .await;
    assert_eq!(token.status, 201, "{:?}", token.body);
    let token = Auth::Bearer(token.json()["token_secret"].as_str().unwrap().to_owned());
    assert_eq!(hub.get(PATH, &token).await.status, 403);
    let reply = hub.raw("PUT", PATH, &token, Some(body.clone())).await;
    assert_eq!(reply.status, 403);

    // An application's MQTT credentials are not an API credential.
    let app = hub
        .call(
            "POST",
            "/api/v1/apps",
            &admin,
            Some(json!({"id": "sensors", "name": "Sensors", "group": "home"})),
        )
        .await;
    assert_eq!(app.status, 201, "{:?}", app.body);
    let key = app.json()["mqtt_key"].as_str().unwrap().to_owned();
    let secret = app.json()["mqtt_secret"].as_str().unwrap().to_owned();
    for credential in [secret.clone(), key.clone(), format!("{key}:{secret}")] {
        let app_auth = Auth::Bearer(credential);
        assert_eq!(hub.get(PATH, &app_auth).await.status, 401);
        let reply = hub.raw("PUT", PATH, &app_auth, Some(body.clone())).await;
        assert_eq!(reply.status, 401);
    }

    // The administrator's cookie sent by another site's page, or with no Origin at all.
    let Auth::Cookie(cookie) = &admin else {
        unreachable!()
    };
    let admin_cookie = Auth::Cookie(cookie.clone());
    for headers in [
        &[
            ("origin", "http://evil.example"),
            ("content-type", "application/json"),
        ][..],
        &[("content-type", "application/json")],
        &[
            ("sec-fetch-site", "cross-site"),
            ("content-type", "application/json"),
        ],
    ] {
        let reply = hub
            .send("PUT", PATH, &admin_cookie, headers, Some(body.clone()))
            .await;
        assert_eq!(reply.status, 403, "{headers:?}");
    }
    assert_eq!(levels.current_value(), "info", "nothing changed the filter");
}

async fn without_the_hubs_logger_the_endpoint_says_so(store: Arc<dyn Store>) {
    let hub = start(store).await;
    let admin = hub.admin().await;
    let reply = hub.get(PATH, &admin).await;
    assert_eq!(reply.status, 503);
    assert_eq!(reply.code(), "unavailable");
    let reply = hub
        .call("PUT", PATH, &admin, Some(json!({"filter": "debug"})))
        .await;
    assert_eq!(reply.status, 503);
}

impl FakeLevels {
    fn current_value(&self) -> String {
        self.0.lock().unwrap().clone()
    }
}
