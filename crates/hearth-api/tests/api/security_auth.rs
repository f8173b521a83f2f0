//! Issue 12's account findings: the audit log across id collisions (3), what a password
//! change ends (6), API token scope (7), and the login limit and timing (11).

use super::*;
use parking_lot::Mutex;

both_backends!(
    audit_reads_match_kind_and_only_what_the_caller_may_see,
    password_change_ends_other_logins_and_their_mqtt_credentials,
    api_tokens_cannot_manage_tokens_or_the_password,
    a_guesser_cannot_lock_the_owner_out,
    unknown_names_cost_a_dummy_verify,
);

async fn audit_reads_match_kind_and_only_what_the_caller_may_see(store: Arc<dyn Store>) {
    let hub = start(store).await;
    // The victims: the owner's group `home`, app `default`, device `bdev`, user
    // `victim`, and a device `gone` that existed and was deleted.
    hub.add_device("bdev", "default").await;
    hub.add_user("victim").await;
    hub.add_device("gone", "default").await;
    hub.registry
        .set_device_enabled("cli:test", &ids::device("gone"), false)
        .await
        .unwrap();
    hub.registry
        .remove_device("cli:test", &ids::device("gone"))
        .await
        .unwrap();

    hub.add_user("mallory").await;
    let mallory = hub.login("mallory", "mallory-password").await;
    let post = |path: &'static str, body: Value| {
        let hub = &hub;
        let mallory = mallory.clone();
        async move {
            let reply = hub.call("POST", path, &mallory, Some(body)).await;
            assert_eq!(reply.status, 201, "{path}: {:?}", reply.body);
        }
    };
    // Ids equal to the victims' ids of other kinds, and a reused device id.
    post("/api/v1/groups", json!({"id": "bdev"})).await;
    post("/api/v1/groups", json!({"id": "victim"})).await;
    post("/api/v1/groups", json!({"id": "mall"})).await;
    post("/api/v1/apps", json!({"id": "home", "group": "mall"})).await;
    post("/api/v1/devices", json!({"id": "default", "app": "home"})).await;
    post("/api/v1/devices", json!({"id": "gone", "app": "home"})).await;

    for target in ["bdev", "victim", "home", "default", "gone"] {
        let reply = hub
            .get(&format!("/api/v1/audit?target={target}"), &mallory)
            .await;
        assert_eq!(reply.status, 200, "{target}: {:?}", reply.body);
        let entries = reply.json();
        let entries = entries.as_array().unwrap();
        assert!(!entries.is_empty(), "{target}: her own entries are there");
        for entry in entries {
            assert_eq!(
                entry["actor"], "user:mallory",
                "{target}: another's entry leaked: {entry}"
            );
        }
    }
    let gone = hub.get("/api/v1/audit?target=gone", &mallory).await.json();
    assert_eq!(
        gone.as_array().unwrap().len(),
        1,
        "only her device.add, not the deleted device's history: {gone}"
    );
    let wrong_kind = hub
        .get("/api/v1/audit?target=bdev&kind=device", &mallory)
        .await;
    assert_eq!(wrong_kind.status, 403, "she does not manage device bdev");
    let bad_kind = hub
        .get("/api/v1/audit?target=bdev&kind=planet", &mallory)
        .await;
    assert_eq!(bad_kind.field().as_deref(), Some("kind"));
    let admin = hub.admin().await;
    let device_only = hub
        .get("/api/v1/audit?target=bdev&kind=device", &admin)
        .await
        .json();
    let actions: Vec<&str> = device_only
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| entry["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["device.add"], "an administrator filters by kind");
}

/// Browser MQTT credentials whose password names the session they belong to, and a
/// record of revocations.
struct RecordingIssuer {
    revoked: Mutex<Vec<String>>,
}

impl hearth_api::MqttCredentialIssuer for RecordingIssuer {
    fn issue(
        &self,
        user: &hearth_model::UserName,
        session: &str,
    ) -> Result<hearth_api::IssuedCredential, hearth_api::ApiError> {
        Ok(hearth_api::IssuedCredential {
            ws_url: "ws://127.0.0.1:8083/mqtt".into(),
            client_id: format!("web-{user}"),
            username: user.to_string(),
            password: session.to_owned(),
            expires_at_ms: 1,
        })
    }

    fn revoke_session(&self, session: &str) {
        self.revoked.lock().push(session.to_owned());
    }
}

/// The session key a login's MQTT credential is tied to.
async fn mqtt_session(hub: &Hub, auth: &Auth) -> String {
    let reply = hub
        .call("POST", "/api/v1/mqtt/credentials", auth, None)
        .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    reply.json()["password"].as_str().unwrap().to_owned()
}

async fn new_token(hub: &Hub, session: &Auth) -> (String, String) {
    let reply = hub
        .call(
            "POST",
            "/api/v1/tokens",
            session,
            Some(json!({"name": "script"})),
        )
        .await;
    assert_eq!(reply.status, 201, "{:?}", reply.body);
    let reply = reply.json();
    (
        reply["id"].as_str().unwrap().to_owned(),
        reply["token_secret"].as_str().unwrap().to_owned(),
    )
}

async fn password_change_ends_other_logins_and_their_mqtt_credentials(store: Arc<dyn Store>) {
    let issuer = Arc::new(RecordingIssuer {
        revoked: Mutex::new(Vec::new()),
    });
    let hub_issuer = issuer.clone();
    let hub = start_with(store, move |state| state.with_mqtt_credentials(hub_issuer)).await;
    hub.add_user("alice").await;
    let here = hub.login("alice", "alice-password").await;
    let elsewhere = hub.login("alice", "alice-password").await;
    let (token_id, token) = new_token(&hub, &here).await;
    let token = Auth::Bearer(token);
    let here_key = mqtt_session(&hub, &here).await;
    let elsewhere_key = mqtt_session(&hub, &elsewhere).await;
    assert_eq!(mqtt_session(&hub, &token).await, token_id);

    let changed = hub
        .call(
            "POST",
            "/api/v1/auth/password",
            &here,
            Some(json!({"current": "alice-password", "new": "a new long password"})),
        )
        .await;
    assert_eq!(changed.status, 204, "{:?}", changed.body);
    assert_eq!(hub.get("/api/v1/auth/me", &here).await.status, 200);
    assert_eq!(hub.get("/api/v1/auth/me", &elsewhere).await.status, 401);
    assert_eq!(
        hub.get("/api/v1/auth/me", &token).await.status,
        401,
        "API tokens end with the password"
    );
    let revoked = issuer.revoked.lock().clone();
    assert!(revoked.contains(&elsewhere_key), "{revoked:?}");
    assert!(revoked.contains(&token_id), "{revoked:?}");
    assert!(
        !revoked.contains(&here_key),
        "the session that changed it keeps its credential"
    );
}

async fn api_tokens_cannot_manage_tokens_or_the_password(store: Arc<dyn Store>) {
    let hub = start(store).await;
    hub.add_user("alice").await;
    let session = hub.login("alice", "alice-password").await;
    let (token_id, token) = new_token(&hub, &session).await;
    let token = Auth::Bearer(token);
    let refused = [
        hub.call(
            "POST",
            "/api/v1/tokens",
            &token,
            Some(json!({"name": "child"})),
        )
        .await,
        hub.get("/api/v1/tokens", &token).await,
        hub.call(
            "DELETE",
            &format!("/api/v1/tokens/{token_id}"),
            &token,
            None,
        )
        .await,
        hub.call(
            "POST",
            "/api/v1/auth/password",
            &token,
            Some(json!({"current": "alice-password", "new": "another long one"})),
        )
        .await,
    ];
    for reply in refused {
        assert_eq!(
            (reply.status, reply.code().as_str()),
            (403, "forbidden"),
            "{:?}",
            reply.body
        );
    }
    assert_eq!(hub.get("/api/v1/auth/me", &token).await.status, 200);
    assert_eq!(
        hub.get("/api/v1/tokens", &session).await.status,
        200,
        "a session still manages tokens"
    );
}

async fn login_from(hub: &Hub, address: &str, password: &str) -> u16 {
    let body = json!({"username": "admin", "password": password});
    hub.send(
        "POST",
        "/api/v1/auth/login",
        &Auth::None,
        &[
            ("content-type", "application/json"),
            ("x-forwarded-for", address),
        ],
        Some(body.to_string().into_bytes()),
    )
    .await
    .status
}

async fn a_guesser_cannot_lock_the_owner_out(store: Arc<dyn Store>) {
    let hub = start_with(store, |mut state| {
        Arc::make_mut(&mut state.config).trust_forwarded_for = true;
        state
    })
    .await;
    for _ in 0..5 {
        assert_eq!(login_from(&hub, "192.0.2.1", "guess").await, 401);
    }
    assert_eq!(login_from(&hub, "192.0.2.1", "guess").await, 429);
    assert_eq!(
        login_from(&hub, "192.0.2.1", ADMIN_PASSWORD).await,
        429,
        "the guesser's address waits even with the right password"
    );
    assert_eq!(
        login_from(&hub, "198.51.100.7", ADMIN_PASSWORD).await,
        200,
        "the owner elsewhere is not locked out"
    );
}

async fn unknown_names_cost_a_dummy_verify(store: Arc<dyn Store>) {
    let hub = start(store).await;
    for name in ["nobody", "not a valid name!"] {
        let before = hearth_services::secret::dummy_verify_count();
        let reply = hub
            .call(
                "POST",
                "/api/v1/auth/login",
                &Auth::None,
                Some(json!({"username": name, "password": "whatever"})),
            )
            .await;
        assert_eq!(reply.status, 401);
        assert!(
            hearth_services::secret::dummy_verify_count() > before,
            "{name:?}: an unknown name must cost a password verify"
        );
    }
}
