//! Automations and scenes over HTTP (issue 14): the issue's example accepted, fields named
//! on bad documents, and who may read and change them.

use super::*;
use hearth_model::Role;

both_backends!(
    the_issues_example_is_accepted_and_managed,
    scenes_are_managed_like_automations,
    automation_intruders_are_refused,
    running_an_automation_now_is_for_its_groups_admins,
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

/// Records the manual runs it is asked for.
#[derive(Default)]
struct FakeRunner(parking_lot::Mutex<Vec<(String, String)>>);

#[async_trait::async_trait]
impl hearth_api::AutomationRunner for FakeRunner {
    async fn run_now(&self, id: &str, actor: &str) -> Result<String, hearth_api::ApiError> {
        let mut runs = self.0.lock();
        runs.push((id.to_owned(), actor.to_owned()));
        Ok(format!("r-{}", runs.len()))
    }
}

/// `POST /automations/{id}/run`: 202 with the run's id for the group's admins and the
/// hub's; 403 for a viewer, 404 for another group's owner, 403 cross-site, 409 when
/// disabled, 503 without an engine. Nobody refused reached the engine.
async fn running_an_automation_now_is_for_its_groups_admins(store: Arc<dyn Store>) {
    let runner = Arc::new(FakeRunner::default());
    let hub = start_with(store.clone(), {
        let runner = runner.clone();
        move |state| state.with_automation_runner(runner)
    })
    .await;
    hub.add_device("hall-motion", "default").await;
    hub.add_device("hall-lamp", "default").await;
    let admin = hub.admin().await;
    let created = hub
        .call("POST", "/api/v1/automations", &admin, Some(example()))
        .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let id = created.json()["id"].as_str().unwrap().to_owned();
    let run = format!("/api/v1/automations/{id}/run");
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

    let started = hub.call("POST", &run, &admin, None).await;
    assert_eq!(started.status, 202, "{:?}", started.body);
    assert_eq!(started.json(), json!({"run": "r-1"}));
    let gadmin = hub.login("gadmin", "gadmin-password").await;
    let started = hub.call("POST", &run, &gadmin, None).await;
    assert_eq!(started.status, 202, "{:?}", started.body);

    let viewer = hub.login("viewer", "viewer-password").await;
    let refused = hub.call("POST", &run, &viewer, None).await;
    assert_eq!(refused.status, 403, "viewer: {:?}", refused.body);
    let stranger = hub.login("stranger", "stranger-password").await;
    let hidden = hub.call("POST", &run, &stranger, None).await;
    assert_eq!(hidden.status, 404, "stranger: {:?}", hidden.body);
    let unknown = hub
        .call(
            "POST",
            "/api/v1/automations/a-doesnotexist/run",
            &admin,
            None,
        )
        .await;
    assert_eq!(unknown.status, 404);
    assert_eq!(
        hidden.json()["error"]["message"],
        unknown.json()["error"]["message"]
            .as_str()
            .unwrap()
            .replace("a-doesnotexist", &id),
    );
    let other_origin = format!("http://127.0.0.1:{}", hub.address.port() + 1);
    let forged = hub
        .send("POST", &run, &gadmin, &[("origin", &other_origin)], None)
        .await;
    assert_eq!(forged.status, 403, "{:?}", forged.body);
    assert_eq!(hub.call("POST", &run, &Auth::None, None).await.status, 401);
    assert_eq!(
        *runner.0.lock(),
        [
            (id.clone(), "user:admin".to_owned()),
            (id.clone(), "user:gadmin".to_owned())
        ]
    );

    let disabled = hub
        .call(
            "POST",
            &format!("/api/v1/automations/{id}/disable"),
            &admin,
            None,
        )
        .await;
    assert_eq!(disabled.status, 200);
    let conflict = hub.call("POST", &run, &admin, None).await;
    assert_eq!(conflict.status, 409, "{:?}", conflict.body);
    assert!(
        conflict.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("`enabled`"),
        "{:?}",
        conflict.body
    );
    assert_eq!(runner.0.lock().len(), 2);

    // A hub without an engine says so.
    drop(hub);
    let bare = start(store).await;
    let admin = bare.admin().await;
    bare.call(
        "POST",
        &format!("/api/v1/automations/{id}/enable"),
        &admin,
        None,
    )
    .await;
    let unavailable = bare.call("POST", &run, &admin, None).await;
    assert_eq!(unavailable.status, 503, "{:?}", unavailable.body);
}
