//! Automations and scenes over HTTP (issue 14): the issue's example accepted, fields named
//! on bad documents, and who may read and change them.

use super::*;
use hearth_model::Role;

both_backends!(
    the_issues_example_is_accepted_and_managed,
    scenes_are_managed_like_automations,
    automation_intruders_are_refused,
);

fn example() -> Value {
    json!({"group": "home", "name": "Hall light on motion after dark",
     "triggers": [{"type": "reading", "device": "hall-motion", "metric": "motion", "eq": true}],
     "conditions": [{"type": "time", "after": "20:00", "before": "06:00"}],
     "actions": [{"type": "command", "device": "hall-lamp", "name": "switch", "params": {"on": true}}]})
}

async fn hall_hub(store: Arc<dyn Store>) -> (Hub, Auth) {
    let hub = start(store).await;
    hub.add_device("hall-motion", "default").await;
    hub.add_device("hall-lamp", "default").await;
    let admin = hub.admin().await;
    (hub, admin)
}

async fn the_issues_example_is_accepted_and_managed(store: Arc<dyn Store>) {
    let (hub, admin) = hall_hub(store).await;
    let created = hub
        .call("POST", "/api/v1/automations", &admin, Some(example()))
        .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let created = created.json();
    let id = created["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("a-"));
    assert_eq!(created["created_by"], "user:admin");
    assert_eq!(created["enabled"], true);
    assert_eq!(created["triggers"], example()["triggers"]);

    let listed = hub.get("/api/v1/automations?group=home", &admin).await;
    assert_eq!(listed.status, 200);
    assert_eq!(listed.json()[0]["id"], id.as_str());

    let path = format!("/api/v1/automations/{id}");
    let disabled = hub
        .call("POST", &format!("{path}/disable"), &admin, None)
        .await;
    assert_eq!(disabled.status, 200, "{:?}", disabled.body);
    assert_eq!(hub.get(&path, &admin).await.json()["enabled"], false);
    let mut renamed = example();
    renamed["name"] = json!("Renamed");
    let updated = hub.call("PUT", &path, &admin, Some(renamed)).await;
    assert_eq!(updated.status, 200, "{:?}", updated.body);
    assert_eq!(hub.get(&path, &admin).await.json()["name"], "Renamed");
    let runs = hub.get(&format!("{path}/runs"), &admin).await;
    assert_eq!((runs.status, runs.json()), (200, json!([])));

    let mut elsewhere = example();
    elsewhere["actions"][0]["device"] = json!("ghost");
    let refused = hub
        .call("POST", "/api/v1/automations", &admin, Some(elsewhere))
        .await;
    assert_eq!(refused.status, 422, "{:?}", refused.body);
    assert_eq!(refused.field().as_deref(), Some("actions[0].device"));
    let mut bad_metric = example();
    bad_metric["triggers"][0]["metric"] = json!("");
    let refused = hub
        .call("POST", "/api/v1/automations", &admin, Some(bad_metric))
        .await;
    assert_eq!(refused.status, 422, "{:?}", refused.body);
    assert_eq!(refused.field().as_deref(), Some("triggers[0].metric"));
    let mut unknown = example();
    unknown["colour"] = json!("red");
    let refused = hub
        .call("POST", "/api/v1/automations", &admin, Some(unknown))
        .await;
    assert!(
        [400, 422].contains(&refused.status),
        "unknown field: {:?}",
        refused.body
    );

    let removed = hub.call("DELETE", &path, &admin, None).await;
    assert_eq!(removed.status, 204);
    assert_eq!(hub.get(&path, &admin).await.status, 404);
}

async fn scenes_are_managed_like_automations(store: Arc<dyn Store>) {
    let (hub, admin) = hall_hub(store).await;
    let scene = json!({"group": "home", "name": "relax",
        "targets": [{"device": "hall-lamp", "command": "switch", "params": {"on": false}}]});
    let created = hub
        .call("POST", "/api/v1/scenes", &admin, Some(scene.clone()))
        .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let id = created.json()["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("s-"));
    let mut with_scene = example();
    with_scene["actions"] = json!([{"type": "scene", "scene": id}]);
    let created = hub
        .call("POST", "/api/v1/automations", &admin, Some(with_scene))
        .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let mut bad = scene.clone();
    bad["targets"][0]["device"] = json!("ghost");
    let refused = hub
        .call("PUT", &format!("/api/v1/scenes/{id}"), &admin, Some(bad))
        .await;
    assert_eq!(refused.status, 422);
    assert_eq!(refused.field().as_deref(), Some("targets[0].device"));
    let listed = hub.get("/api/v1/scenes", &admin).await.json();
    assert_eq!(listed[0]["name"], "relax");
    let removed = hub
        .call("DELETE", &format!("/api/v1/scenes/{id}"), &admin, None)
        .await;
    assert_eq!(removed.status, 204);
    assert_eq!(
        hub.get(&format!("/api/v1/scenes/{id}"), &admin)
            .await
            .status,
        404
    );
}

async fn automation_intruders_are_refused(store: Arc<dyn Store>) {
    let (hub, admin) = hall_hub(store).await;
    let created = hub
        .call("POST", "/api/v1/automations", &admin, Some(example()))
        .await;
    let id = created.json()["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/automations/{id}");
    for (name, role) in [("viewer", Role::Viewer), ("gadmin", Role::Admin)] {
        hub.add_user(name).await;
        hub.registry
            .set_member("cli:test", &ids::group("home"), &ids::user(name), role)
            .await
            .unwrap();
    }
    hub.add_user("stranger").await;
    hub.registry
        .add_group(
            "cli:test",
            &ids::group("elsewhere"),
            None,
            Some(&ids::user("stranger")),
        )
        .await
        .unwrap();

    // A viewer reads, and may change nothing.
    let viewer = hub.login("viewer", "viewer-password").await;
    assert_eq!(hub.get(&path, &viewer).await.status, 200);
    assert_eq!(hub.get(&format!("{path}/runs"), &viewer).await.status, 200);
    let changes = [
        hub.call("POST", "/api/v1/automations", &viewer, Some(example()))
            .await,
        hub.call("PUT", &path, &viewer, Some(example())).await,
        hub.call("DELETE", &path, &viewer, None).await,
        hub.call("POST", &format!("{path}/disable"), &viewer, None)
            .await,
    ];
    for reply in changes {
        assert_eq!(reply.status, 403, "viewer: {:?}", reply.body);
    }
    // A token is the person: a viewer's token is refused the same way.
    let token = hub
        .call(
            "POST",
            "/api/v1/tokens",
            &viewer,
            Some(json!({"name": "script"})),
        )
        .await
        .json()["token_secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let token = Auth::Bearer(token);
    let by_token = hub.call("DELETE", &path, &token, None).await;
    assert_eq!(by_token.status, 403, "{:?}", by_token.body);

    // The owner of another group sees none of it: 404, as if it did not exist.
    let stranger = hub.login("stranger", "stranger-password").await;
    let unknown = hub
        .get("/api/v1/automations/a-doesnotexist", &stranger)
        .await;
    assert_eq!(unknown.status, 404);
    for reply in [
        hub.get(&path, &stranger).await,
        hub.get(&format!("{path}/runs"), &stranger).await,
        hub.call("PUT", &path, &stranger, Some(example())).await,
        hub.call("DELETE", &path, &stranger, None).await,
        hub.call("POST", &format!("{path}/enable"), &stranger, None)
            .await,
        hub.call("POST", "/api/v1/automations", &stranger, Some(example()))
            .await,
        hub.get("/api/v1/automations?group=home", &stranger).await,
    ] {
        assert_eq!(reply.status, 404, "stranger: {:?}", reply.body);
    }
    assert_eq!(
        hub.get(&path, &stranger).await.json()["error"]["message"],
        unknown.json()["error"]["message"]
            .as_str()
            .unwrap()
            .replace("a-doesnotexist", &id),
        "the same words as an id that does not exist"
    );
    let listed = hub.get("/api/v1/automations", &stranger).await;
    assert_eq!((listed.status, listed.json()), (200, json!([])));

    // A cross-site request with the group admin's cookie is refused.
    let gadmin = hub.login("gadmin", "gadmin-password").await;
    let other_origin = format!("http://127.0.0.1:{}", hub.address.port() + 1);
    let forged = hub
        .send("DELETE", &path, &gadmin, &[("origin", &other_origin)], None)
        .await;
    assert_eq!(forged.status, 403, "{:?}", forged.body);
    // Nothing above changed it; the group admin may.
    assert_eq!(hub.get(&path, &admin).await.json()["enabled"], true);
    let disabled = hub
        .call("POST", &format!("{path}/disable"), &gadmin, None)
        .await;
    assert_eq!(disabled.status, 200, "{:?}", disabled.body);
    assert_eq!(hub.call("DELETE", &path, &gadmin, None).await.status, 204);
    // Unauthenticated: nothing.
    assert_eq!(
        hub.get("/api/v1/automations", &Auth::None).await.status,
        401
    );
}
