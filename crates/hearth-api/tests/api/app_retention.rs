//! How long an application's raw messages are kept (issue 19): `message_retention_days`
//! through `POST /api/v1/apps`, `PATCH /api/v1/apps/{id}` and `GET /api/v1/apps/{id}`;
//! refused values name the field and store nothing; only the group's admins and owners
//! (and hub administrators) change it.

use super::*;
use hearth_model::Role;

both_backends!(
    retention_is_set_read_and_cleared,
    refused_retention_names_the_field,
    intruders_cannot_change_retention,
);

const APP: &str = "/api/v1/apps/default";

async fn retention_is_set_read_and_cleared(store: Arc<dyn Store>) {
    let hub = start(store).await;
    let admin = hub.admin().await;
    assert_eq!(
        hub.get(APP, &admin).await.json()["message_retention_days"],
        Value::Null,
        "the hub's default until set"
    );
    let created = hub
        .call(
            "POST",
            "/api/v1/apps",
            &admin,
            Some(json!({"id": "meters", "group": "home", "message_retention_days": 30})),
        )
        .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    assert_eq!(created.json()["app"]["message_retention_days"], 30);
    assert_eq!(
        hub.get("/api/v1/apps/meters", &admin).await.json()["message_retention_days"],
        30
    );

    let reply = hub
        .call(
            "PATCH",
            APP,
            &admin,
            Some(json!({"message_retention_days": 90})),
        )
        .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert_eq!(reply.json()["message_retention_days"], 90);
    assert_eq!(
        hub.get(APP, &admin).await.json()["message_retention_days"],
        90
    );
    let listed = hub.get("/api/v1/apps?group=home", &admin).await.json();
    let default = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|app| app["id"] == "default")
        .unwrap();
    assert_eq!(default["message_retention_days"], 90);

    // An empty patch changes nothing; `null` goes back to the hub's default.
    let reply = hub.call("PATCH", APP, &admin, Some(json!({}))).await;
    assert_eq!(
        (reply.status, reply.json()["message_retention_days"].clone()),
        (200, json!(90))
    );
    let reply = hub
        .call(
            "PATCH",
            APP,
            &admin,
            Some(json!({"message_retention_days": null})),
        )
        .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert_eq!(
        hub.get(APP, &admin).await.json()["message_retention_days"],
        Value::Null
    );
    assert_eq!(
        hub.store
            .app(&ids::app("default"))
            .await
            .unwrap()
            .message_retention_days,
        None
    );

    let audit = hub.get("/api/v1/audit", &admin).await.json();
    let changes = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|entry| entry["action"] == "app.message_retention")
        .count();
    assert_eq!(changes, 2, "{audit}");
}

async fn refused_retention_names_the_field(store: Arc<dyn Store>) {
    let hub = start(store).await;
    let admin = hub.admin().await;
    for days in [0, 3651] {
        let reply = hub
            .call(
                "PATCH",
                APP,
                &admin,
                Some(json!({"message_retention_days": days})),
            )
            .await;
        assert_eq!(reply.status, 422, "{days}: {:?}", reply.body);
        assert_eq!(reply.field().as_deref(), Some("message_retention_days"));
        let reply = hub
            .call(
                "POST",
                "/api/v1/apps",
                &admin,
                Some(json!({"id": format!("app{days}"), "group": "home",
                            "message_retention_days": days})),
            )
            .await;
        assert_eq!(reply.status, 422, "{days}: {:?}", reply.body);
        assert_eq!(reply.field().as_deref(), Some("message_retention_days"));
        assert_eq!(
            hub.get(&format!("/api/v1/apps/app{days}"), &admin)
                .await
                .status,
            404,
            "a refused application is not created"
        );
    }
    // Not a number of days at all: 400, still naming the field.
    for body in [
        json!({"message_retention_days": -1}),
        json!({"message_retention_days": "7"}),
        json!({"message_retention_days": 1.5}),
    ] {
        let reply = hub.call("PATCH", APP, &admin, Some(body.clone())).await;
        assert_eq!(reply.status, 400, "{body}: {:?}", reply.body);
        assert_eq!(
            reply.field().as_deref(),
            Some("message_retention_days"),
            "{body}"
        );
    }
    let reply = hub
        .call("PATCH", APP, &admin, Some(json!({"name": "renamed"})))
        .await;
    assert_eq!(reply.status, 400, "an unknown field: {:?}", reply.body);
    assert_eq!(
        hub.get(APP, &admin).await.json()["message_retention_days"],
        Value::Null,
        "nothing refused was stored"
    );
}

async fn intruders_cannot_change_retention(store: Arc<dyn Store>) {
    let hub = start(store).await;
    let admin = hub.admin().await;
    let set = |days: u32| Some(json!({"message_retention_days": days}));
    assert_eq!(hub.call("PATCH", APP, &admin, set(30)).await.status, 200);

    // A member and a viewer of the group see the application but may not change it,
    // even with a `manage` grant on it (the setting is the group admins').
    for (name, role) in [("member", Role::Member), ("viewer", Role::Viewer)] {
        hub.add_user(name).await;
        hub.registry
            .set_member("cli:test", &ids::group("home"), &ids::user(name), role)
            .await
            .unwrap();
        let auth = hub.login(name, &format!("{name}-password")).await;
        assert_eq!(hub.get(APP, &auth).await.status, 200, "{name} reads");
        let reply = hub.call("PATCH", APP, &auth, set(1)).await;
        assert_eq!(reply.status, 403, "{name}: {:?}", reply.body);
    }
    hub.registry
        .set_grant(
            "cli:test",
            &ids::app("default"),
            &ids::user("member"),
            hearth_model::Permission::Manage,
        )
        .await
        .unwrap();
    let member = hub.login("member", "member-password").await;
    assert_eq!(hub.call("PATCH", APP, &member, set(1)).await.status, 403);

    // The owner of another group does not learn that the application exists.
    hub.add_user("neighbour").await;
    hub.registry
        .add_group(
            "cli:test",
            &ids::group("next-door"),
            None,
            Some(&ids::user("neighbour")),
        )
        .await
        .unwrap();
    let neighbour = hub.login("neighbour", "neighbour-password").await;
    for (method, body) in [("GET", None), ("PATCH", set(1))] {
        let reply = hub.call(method, APP, &neighbour, body).await;
        assert_eq!(reply.status, 404, "neighbour {method}: {:?}", reply.body);
    }
    // Nor can the neighbour create an application with a retention in this group.
    let reply = hub
        .call(
            "POST",
            "/api/v1/apps",
            &neighbour,
            Some(json!({"id": "sneaky", "group": "home", "message_retention_days": 1})),
        )
        .await;
    assert_eq!(reply.status, 404, "{:?}", reply.body);
    assert_eq!(
        hub.get(APP, &admin).await.json()["message_retention_days"],
        30,
        "unchanged"
    );
}
