//! Groups, applications, grants, devices (pagination, filters, sort, lifecycle), history,
//! commands, MQTT credentials and the audit log.

use super::*;
use hearth_model::{DeviceId, MessageKind, Point, PresenceReason, StatusChange, now_millis};
use hearth_store::{IngestBatch, NewMessage};

both_backends!(
    groups_apps_and_grants,
    devices_paginate_filter_and_sort,
    device_lifecycle_and_audit,
    history_reads_and_csv_export,
    commands_and_mqtt_credentials_through_the_seams,
);

async fn groups_apps_and_grants(store: Arc<dyn Store>) {
    let hub = start(store).await;
    hub.add_user("alice").await;
    hub.add_user("bob").await;
    let alice = hub.login("alice", "alice-password").await;
    assert_eq!(hub.get("/api/v1/groups", &alice).await.json(), json!([]));
    let created = hub
        .call(
            "POST",
            "/api/v1/groups",
            &alice,
            Some(json!({"id": "lab", "name": "Lab"})),
        )
        .await;
    assert_eq!(created.status, 201);
    assert_eq!(created.json()["my_role"], "owner");
    let app = hub
        .call(
            "POST",
            "/api/v1/apps",
            &alice,
            Some(json!({"id": "bench", "group": "lab"})),
        )
        .await;
    assert_eq!(app.status, 201);
    let app = app.json();
    assert_eq!(
        app["mqtt_secret"].as_str().unwrap().len(),
        32,
        "secret shown once"
    );
    assert_eq!(app["app"]["my_permission"], "manage");
    let listed = hub.get("/api/v1/apps", &alice).await.json();
    assert_eq!(
        listed.as_array().unwrap().len(),
        1,
        "alice sees only her group's apps"
    );
    assert!(
        String::from_utf8_lossy(&hub.get("/api/v1/apps/bench", &alice).await.body)
            .find("mqtt_secret")
            .is_none()
    );
    let rotated = hub
        .call("POST", "/api/v1/apps/bench/rotate-secret", &alice, None)
        .await;
    assert_ne!(rotated.json()["mqtt_secret"], app["mqtt_secret"]);

    let member = hub
        .call(
            "PUT",
            "/api/v1/groups/lab/members/bob",
            &alice,
            Some(json!({"role": "member"})),
        )
        .await;
    assert_eq!(
        (member.status, member.json()["role"].as_str()),
        (200, Some("member"))
    );
    let grant = hub
        .call(
            "PUT",
            "/api/v1/apps/bench/grants/bob",
            &alice,
            Some(json!({"permission": "control"})),
        )
        .await;
    assert_eq!(grant.status, 200);
    let bob = hub.login("bob", "bob-password").await;
    let bob_apps = hub.get("/api/v1/apps?group=lab", &bob).await.json();
    assert_eq!(bob_apps[0]["my_permission"], "control");
    let members = hub.get("/api/v1/groups/lab/members", &bob).await.json();
    assert_eq!(members.as_array().unwrap().len(), 2);
    let last_owner = hub
        .call("DELETE", "/api/v1/groups/lab/members/alice", &alice, None)
        .await;
    assert_eq!(last_owner.status, 409, "a group keeps an owner");
    let promote = hub
        .call(
            "PUT",
            "/api/v1/groups/lab/members/bob",
            &bob,
            Some(json!({"role": "owner"})),
        )
        .await;
    assert_eq!(promote.status, 403);
    assert_eq!(
        hub.call("DELETE", "/api/v1/apps/bench/grants/bob", &alice, None)
            .await
            .status,
        204
    );
    assert_eq!(
        hub.call("DELETE", "/api/v1/groups/lab/members/bob", &bob, None)
            .await
            .status,
        204,
        "bob leaves"
    );
    assert_eq!(hub.get("/api/v1/groups/lab", &bob).await.status, 404);
    assert_eq!(
        hub.call("DELETE", "/api/v1/apps/bench", &alice, None)
            .await
            .status,
        204
    );
    assert_eq!(
        hub.call("DELETE", "/api/v1/groups/lab", &alice, None)
            .await
            .status,
        204
    );

    let admin = hub.admin().await;
    let user = hub
        .call(
            "POST",
            "/api/v1/users",
            &admin,
            Some(json!({"name": "carol"})),
        )
        .await;
    assert_eq!(user.status, 201);
    assert_eq!(
        user.json()["generated_password"].as_str().unwrap().len(),
        16
    );
    assert_eq!(
        hub.get("/api/v1/users", &admin)
            .await
            .json()
            .as_array()
            .unwrap()
            .len(),
        4
    );
    assert_eq!(
        hub.call("DELETE", "/api/v1/users/carol", &admin, None)
            .await
            .status,
        204
    );
    assert_eq!(
        hub.call("DELETE", "/api/v1/users/admin", &admin, None)
            .await
            .status,
        409
    );
}

async fn devices_paginate_filter_and_sort(store: Arc<dyn Store>) {
    let hub = start(store).await;
    let admin = hub.admin().await;
    for (index, room) in [
        "kitchen", "hall", "kitchen", "attic", "kitchen", "hall", "hall",
    ]
    .iter()
    .enumerate()
    {
        let created = hub
            .call(
                "POST",
                "/api/v1/devices",
                &admin,
                Some(json!({
                    "id": format!("dev-{index}"),
                    "app": "default",
                    "name": format!("Device {}", 7 - index),
                    "room": room,
                    "kind": if index % 2 == 0 { "relay" } else { "sensor" },
                })),
            )
            .await;
        assert_eq!(created.status, 201, "{:?}", created.body);
        assert_eq!(created.json()["secret"].as_str().unwrap().len(), 32);
    }
    let ids = |reply: &Reply| -> Vec<String> {
        reply.json()["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|device| device["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let first = hub.get("/api/v1/devices?limit=3", &admin).await;
    assert_eq!(first.json()["total"], 7);
    assert_eq!(ids(&first), ["dev-0", "dev-1", "dev-2"]);
    let last = hub.get("/api/v1/devices?limit=3&offset=6", &admin).await;
    assert_eq!(ids(&last), ["dev-6"]);
    let by_name = hub.get("/api/v1/devices?sort=name&limit=2", &admin).await;
    assert_eq!(ids(&by_name), ["dev-6", "dev-5"]);
    let kitchen = hub
        .get("/api/v1/devices?room=kitchen&kind=relay", &admin)
        .await;
    assert_eq!(kitchen.json()["total"], 3);
    let search = hub.get("/api/v1/devices?search=DEVICE%203", &admin).await;
    assert_eq!(ids(&search), ["dev-4"]);
    let offline = hub
        .get(
            "/api/v1/devices?online=false&group=home&app=default",
            &admin,
        )
        .await;
    assert_eq!(offline.json()["total"], 7);

    // A member of two groups sees both groups' devices, merged and paged the same way.
    hub.add_user("multi").await;
    hub.registry
        .add_group(
            "cli:test",
            &ids::group("second"),
            None,
            Some(&ids::user("multi")),
        )
        .await
        .unwrap();
    hub.registry
        .add_app(
            "cli:test",
            &ids::app("other"),
            &ids::group("second"),
            None,
            None,
        )
        .await
        .unwrap();
    hub.add_device("dev-3a", "other").await;
    hub.registry
        .set_member(
            "cli:test",
            &ids::group("home"),
            &ids::user("multi"),
            hearth_model::Role::Viewer,
        )
        .await
        .unwrap();
    let multi = hub.login("multi", "multi-password").await;
    let merged = hub.get("/api/v1/devices?limit=2&offset=3", &multi).await;
    assert_eq!(merged.json()["total"], 8);
    assert_eq!(ids(&merged), ["dev-3", "dev-3a"]);
    hub.add_user("loner").await;
    let loner = hub.login("loner", "loner-password").await;
    assert_eq!(hub.get("/api/v1/devices", &loner).await.json()["total"], 0);
    assert_eq!(
        hub.get("/api/v1/devices?app=default", &loner).await.status,
        404
    );
}

async fn device_lifecycle_and_audit(store: Arc<dyn Store>) {
    let hub = start(store).await;
    let admin = hub.admin().await;
    let created = hub
        .call(
            "POST",
            "/api/v1/devices",
            &admin,
            Some(json!({"id": "lamp", "app": "default", "room": "hall", "metadata": {"v": 1}})),
        )
        .await;
    let secret = created.json()["secret"].as_str().unwrap().to_owned();
    let patched = hub
        .call(
            "PATCH",
            "/api/v1/devices/lamp",
            &admin,
            Some(json!({"name": "Hall lamp", "room": null, "heartbeat_timeout_secs": 60})),
        )
        .await;
    assert_eq!(patched.status, 200);
    let patched = patched.json();
    assert_eq!(
        (patched["name"].as_str(), patched["room"].as_null()),
        (Some("Hall lamp"), Some(()))
    );
    assert_eq!(patched["heartbeat_timeout_secs"], 60);
    assert_eq!(patched["metadata"], json!({"v": 1}), "absent fields stay");
    let disabled = hub
        .call("POST", "/api/v1/devices/lamp/disable", &admin, None)
        .await;
    assert_eq!(disabled.json()["enabled"], false);
    let enabled = hub
        .call("POST", "/api/v1/devices/lamp/enable", &admin, None)
        .await;
    assert_eq!(enabled.json()["enabled"], true);
    let rotated = hub
        .call("POST", "/api/v1/devices/lamp/rotate-secret", &admin, None)
        .await;
    assert_ne!(rotated.json()["secret"].as_str().unwrap(), secret);
    let live = hub.get("/api/v1/devices/lamp/live", &admin).await.json();
    assert_eq!(live["is_online"], false);

    let audit = hub.get("/api/v1/audit?target=lamp", &admin).await.json();
    let actions: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| entry["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "device.rotate_secret",
            "device.enable",
            "device.disable",
            "device.update",
            "device.add"
        ]
    );
    assert_eq!(audit[0]["actor"], "user:admin");
    let page = hub
        .get(
            &format!("/api/v1/audit?limit=2&before={}", audit[1]["seq"]),
            &admin,
        )
        .await;
    assert_eq!(page.json().as_array().unwrap().len(), 2);
    assert_eq!(
        hub.call("DELETE", "/api/v1/devices/lamp", &admin, None)
            .await
            .status,
        204
    );
    assert_eq!(hub.get("/api/v1/devices/lamp", &admin).await.status, 404);
}

async fn history_reads_and_csv_export(store: Arc<dyn Store>) {
    let hub = start(store).await;
    let admin = hub.admin().await;
    hub.add_device("thermo", "default").await;
    let device = DeviceId::new("thermo").unwrap();
    let base = now_millis() - 3 * 3_600_000;
    let mut batch = IngestBatch::default();
    for index in 0..6 {
        let at_ms = base + index * 1_800_000;
        batch.points.push(Point {
            device: device.clone(),
            metric: "temperature".into(),
            at_ms,
            value: 20.0 + index as f64,
        });
        batch.messages.push(NewMessage {
            device: device.clone(),
            kind: MessageKind::Data,
            received_at_ms: at_ms,
            payload: format!("{{\"temperature\": {}}}", 20 + index)
                .into_bytes()
                .into(),
            json_ok: true,
            ts_clamped: false,
        });
    }
    batch.messages.push(NewMessage {
        device: device.clone(),
        kind: MessageKind::Event,
        received_at_ms: base + 1,
        payload: b"not json".to_vec().into(),
        json_ok: false,
        ts_clamped: false,
    });
    batch.status_changes.push(StatusChange {
        device: device.clone(),
        at_ms: base,
        online: true,
        reason: PresenceReason::Activity,
    });
    hub.store.write_batch(&batch).await.unwrap();

    let messages = hub
        .get("/api/v1/devices/thermo/messages?limit=3", &admin)
        .await
        .json();
    assert_eq!(messages.as_array().unwrap().len(), 3);
    assert_eq!(messages[0]["json"]["temperature"], 25);
    let events = hub
        .get("/api/v1/devices/thermo/messages?kind=event", &admin)
        .await
        .json();
    assert_eq!(events[0]["text"], "not json");
    let points = hub
        .get("/api/v1/devices/thermo/points?metric=temperature", &admin)
        .await
        .json();
    assert_eq!(points.as_array().unwrap().len(), 6);
    assert_eq!(points[0]["value"], 20.0);
    let hourly = hub
        .get(
            "/api/v1/devices/thermo/aggregates?metric=temperature&bucket=1h",
            &admin,
        )
        .await
        .json();
    let counted: u64 = hourly
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["count"].as_u64().unwrap())
        .sum();
    assert_eq!(counted, 6);
    let latest = hub
        .get("/api/v1/devices/thermo/latest", &admin)
        .await
        .json();
    assert_eq!(latest[0]["value"], 25.0);
    let presence = hub
        .get("/api/v1/devices/thermo/status-history", &admin)
        .await
        .json();
    assert_eq!(presence[0]["reason"], "activity");
    let csv = hub
        .get(
            "/api/v1/devices/thermo/export.csv?metric=temperature",
            &admin,
        )
        .await;
    assert_eq!(csv.status, 200);
    assert!(csv.header("content-type").unwrap().starts_with("text/csv"));
    let text = String::from_utf8_lossy(&csv.body).into_owned();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "time_ms,metric,value");
    assert_eq!(lines.len(), 7);
    assert_eq!(lines[1], format!("{base},\"temperature\",20"));
}

struct FakeIssuer {
    revoked: parking_lot::Mutex<Vec<String>>,
}

impl hearth_api::MqttCredentialIssuer for FakeIssuer {
    fn issue(
        &self,
        user: &hearth_model::UserName,
        session: &str,
    ) -> Result<hearth_api::IssuedCredential, hearth_api::ApiError> {
        Ok(hearth_api::IssuedCredential {
            ws_url: "ws://127.0.0.1:8083/mqtt".into(),
            client_id: format!("web-{user}"),
            username: user.to_string(),
            password: format!("token-for-{session}"),
            expires_at_ms: 1,
        })
    }

    fn revoke_session(&self, session: &str) {
        self.revoked.lock().push(session.to_owned());
    }
}

async fn commands_and_mqtt_credentials_through_the_seams(store: Arc<dyn Store>) {
    let issuer = Arc::new(FakeIssuer {
        revoked: Default::default(),
    });
    let hub_issuer = issuer.clone();
    let hub = start_with(store, move |state| {
        state
            .with_commands(Arc::new(super::access::FakeCommands))
            .with_mqtt_credentials(hub_issuer)
    })
    .await;
    let admin = hub.admin().await;
    hub.add_device("relay", "default").await;
    let sent = hub
        .call(
            "POST",
            "/api/v1/devices/relay/commands",
            &admin,
            Some(json!({"name": "switch", "params": {"on": true}, "ttl_secs": 30})),
        )
        .await;
    assert_eq!(sent.status, 202);
    let sent = sent.json();
    assert_eq!(
        (sent["status"].as_str(), sent["issued_by"].as_str()),
        (Some("pending"), Some("user:admin"))
    );
    assert_eq!(sent["params"], json!({"on": true}));
    let bad_name = hub
        .call(
            "POST",
            "/api/v1/devices/relay/commands",
            &admin,
            Some(json!({"name": "a/#"})),
        )
        .await;
    assert_eq!(
        (bad_name.status, bad_name.field().as_deref()),
        (422, Some("name"))
    );
    let bad_params = hub
        .call(
            "POST",
            "/api/v1/devices/relay/commands",
            &admin,
            Some(json!({"name": "x", "params": [1]})),
        )
        .await;
    assert_eq!(bad_params.field().as_deref(), Some("params"));
    assert_eq!(
        hub.get("/api/v1/devices/relay/commands", &admin)
            .await
            .json(),
        json!([])
    );
    assert_eq!(hub.get("/api/v1/commands/nope", &admin).await.status, 404);

    let credential = hub
        .call("POST", "/api/v1/mqtt/credentials", &admin, None)
        .await;
    assert_eq!(credential.status, 200);
    let credential = credential.json();
    assert_eq!(credential["username"], "admin");
    let password = credential["password"].as_str().unwrap().to_owned();
    hub.call("POST", "/api/v1/auth/logout", &admin, None).await;
    let revoked = issuer.revoked.lock().clone();
    assert_eq!(revoked.len(), 1);
    assert_eq!(
        password,
        format!("token-for-{}", revoked[0]),
        "logout revokes that session's credentials"
    );
}
