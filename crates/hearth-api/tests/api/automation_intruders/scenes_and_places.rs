//! Applying a scene and a group's place against the people who should not.

use super::*;

both_backends!(
    applying_a_scene_needs_control_of_every_device,
    a_groups_place_is_read_by_members_and_set_by_its_admins,
);

/// `POST /scenes/{id}/apply`: the group's `hall-lamp` (application `default`) and
/// `porch-lamp` (application `garden`). A member with `control` on `default` alone may
/// apply a scene of the hall lamp but not one that also sets the porch lamp; a viewer
/// (by cookie or token) gets 403; another group's owner 404 with an unknown id's words;
/// a cross-site request 403; without an engine 503. The engine hears only the allowed.
async fn applying_a_scene_needs_control_of_every_device(store: Arc<dyn Store>) {
    let runner = Arc::new(RecordingRunner::default());
    let hub = start_with(store.clone(), {
        let runner = runner.clone();
        move |state| state.with_automation_runner(runner)
    })
    .await;
    hub.registry
        .add_app(
            "cli:test",
            &ids::app("garden"),
            &ids::group("home"),
            None,
            None,
        )
        .await
        .unwrap();
    hub.add_device("hall-lamp", "default").await;
    hub.add_device("porch-lamp", "garden").await;
    let admin = hub.admin().await;
    let scene = |name: &str, devices: &[&str]| {
        let targets: Vec<Value> = devices
            .iter()
            .map(|device| json!({"device": device, "command": "switch", "params": {"on": true}}))
            .collect();
        json!({"group": "home", "name": name, "targets": targets})
    };
    let mut ids = Vec::new();
    for document in [
        scene("evening", &["hall-lamp", "porch-lamp"]),
        scene("hall", &["hall-lamp"]),
    ] {
        let created = hub
            .call("POST", "/api/v1/scenes", &admin, Some(document))
            .await;
        assert_eq!(created.status, 201, "{:?}", created.body);
        ids.push(created.json()["id"].as_str().unwrap().to_owned());
    }
    let (both, hall) = (ids[0].clone(), ids[1].clone());
    let apply = |id: &str| format!("/api/v1/scenes/{id}/apply");
    member(&hub, "alice", Role::Member).await;
    hub.registry
        .set_grant(
            "cli:test",
            &ids::app("default"),
            &ids::user("alice"),
            Permission::Control,
        )
        .await
        .unwrap();
    member(&hub, "viewer", Role::Viewer).await;
    stranger(&hub, "stranger").await;
    let alice = hub.login("alice", "alice-password").await;
    let viewer = hub.login("viewer", "viewer-password").await;
    let stranger = hub.login("stranger", "stranger-password").await;

    // Control of one device of two is not enough; of the only one, it is.
    let refused = hub.call("POST", &apply(&both), &alice, None).await;
    assert_eq!(refused.status, 403, "alice, both lamps: {:?}", refused.body);
    let applied = hub.call("POST", &apply(&hall), &alice, None).await;
    assert_eq!(applied.status, 200, "alice, hall lamp: {:?}", applied.body);
    assert_eq!(applied.json()["result"], "2/2 confirmed");

    // A viewer sees the scene and may not apply it, by cookie or by token.
    assert_eq!(
        hub.get(&format!("/api/v1/scenes/{hall}"), &viewer)
            .await
            .status,
        200
    );
    let refused = hub.call("POST", &apply(&hall), &viewer, None).await;
    assert_eq!(refused.status, 403, "viewer: {:?}", refused.body);
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
    let refused = hub
        .call("POST", &apply(&hall), &Auth::Bearer(token), None)
        .await;
    assert_eq!(refused.status, 403, "viewer's token: {:?}", refused.body);

    // Another group's owner: the same 404 as a scene that does not exist.
    let hidden = hub.call("POST", &apply(&both), &stranger, None).await;
    assert_eq!(hidden.status, 404, "stranger: {:?}", hidden.body);
    let unknown = hub
        .call("POST", &apply("s-doesnotexist"), &stranger, None)
        .await;
    assert_eq!(unknown.status, 404);
    assert_eq!(
        hidden.json()["error"]["message"],
        unknown.json()["error"]["message"]
            .as_str()
            .unwrap()
            .replace("s-doesnotexist", &both),
    );

    // Cross-site with a cookie that would be allowed, and no login at all.
    let other_origin = other_origin(&hub);
    let forged = hub
        .send(
            "POST",
            &apply(&hall),
            &alice,
            &[("origin", &other_origin)],
            None,
        )
        .await;
    assert_eq!(forged.status, 403, "cross-site: {:?}", forged.body);
    let no_origin = hub.send("POST", &apply(&hall), &alice, &[], None).await;
    assert_eq!(
        no_origin.status, 403,
        "cookie without Origin: {:?}",
        no_origin.body
    );
    assert_eq!(
        hub.call("POST", &apply(&hall), &Auth::None, None)
            .await
            .status,
        401
    );
    let applied = hub.call("POST", &apply(&both), &admin, None).await;
    assert_eq!(applied.status, 200, "admin: {:?}", applied.body);

    // Only the two allowed requests reached the engine.
    assert_eq!(
        *runner.0.lock(),
        [
            (format!("apply {hall}"), "user:alice".to_owned()),
            (format!("apply {both}"), "user:admin".to_owned()),
        ]
    );

    // A hub without an engine says so (after the same checks).
    drop(hub);
    let bare = start(store).await;
    let admin = bare.admin().await;
    let unavailable = bare.call("POST", &apply(&hall), &admin, None).await;
    assert_eq!(unavailable.status, 503, "{:?}", unavailable.body);
    let alice = bare.login("alice", "alice-password").await;
    let refused = bare.call("POST", &apply(&both), &alice, None).await;
    assert_eq!(refused.status, 403, "{:?}", refused.body);
}

/// `GET/PUT /groups/{id}/place`: every member reads it; only the group's `admin` and
/// `owner` (and hub administrators) set it; another group's owner gets 404 for both;
/// a bad time zone or a latitude out of range is refused naming the field; a
/// cross-site or non-JSON change is refused. Nothing refused changed what is stored.
async fn a_groups_place_is_read_by_members_and_set_by_its_admins(store: Arc<dyn Store>) {
    let hub = start(store).await;
    member(&hub, "gadmin", Role::Admin).await;
    member(&hub, "alice", Role::Member).await;
    member(&hub, "viewer", Role::Viewer).await;
    stranger(&hub, "stranger").await;
    let gadmin = hub.login("gadmin", "gadmin-password").await;
    let alice = hub.login("alice", "alice-password").await;
    let viewer = hub.login("viewer", "viewer-password").await;
    let stranger = hub.login("stranger", "stranger-password").await;
    let path = "/api/v1/groups/home/place";
    let shanghai = json!({"time_zone": "Asia/Shanghai", "latitude": 31.23, "longitude": 121.47});

    let set = hub.call("PUT", path, &gadmin, Some(shanghai.clone())).await;
    assert_eq!(set.status, 200, "group admin: {:?}", set.body);
    for reader in [&viewer, &alice, &gadmin] {
        let read = hub.get(path, reader).await;
        assert_eq!((read.status, read.json()), (200, shanghai.clone()));
    }

    let elsewhere = json!({"time_zone": "Europe/Paris", "latitude": 48.85, "longitude": 2.35});
    let refused = hub.call("PUT", path, &alice, Some(elsewhere.clone())).await;
    assert_eq!(refused.status, 403, "member: {:?}", refused.body);
    let refused = hub
        .call("PUT", path, &viewer, Some(elsewhere.clone()))
        .await;
    assert_eq!(refused.status, 403, "viewer: {:?}", refused.body);
    // Another group's owner: 404 for reading and setting, the words of a group that
    // does not exist.
    let hidden = hub.get(path, &stranger).await;
    assert_eq!(hidden.status, 404, "stranger reads: {:?}", hidden.body);
    let unknown = hub.get("/api/v1/groups/nowhere/place", &stranger).await;
    assert_eq!(
        hidden.json()["error"]["message"],
        unknown.json()["error"]["message"]
            .as_str()
            .unwrap()
            .replace("nowhere", "home"),
    );
    let refused = hub
        .call("PUT", path, &stranger, Some(elsewhere.clone()))
        .await;
    assert_eq!(refused.status, 404, "stranger sets: {:?}", refused.body);
    // Cross-site, and a body another origin could send without a preflight.
    let other_origin = other_origin(&hub);
    let body = elsewhere.to_string().into_bytes();
    let forged = hub
        .send(
            "PUT",
            path,
            &gadmin,
            &[
                ("origin", &other_origin),
                ("content-type", "application/json"),
            ],
            Some(body.clone()),
        )
        .await;
    assert_eq!(forged.status, 403, "cross-site: {:?}", forged.body);
    let own_origin = format!("http://{}", hub.address);
    let plain = hub
        .send(
            "PUT",
            path,
            &gadmin,
            &[("origin", &own_origin), ("content-type", "text/plain")],
            Some(body),
        )
        .await;
    assert_eq!(plain.status, 415, "text/plain: {:?}", plain.body);

    // Bad values name their field.
    let cases = [
        (json!({"time_zone": "Mars/Olympus_Mons"}), "time_zone"),
        (json!({"time_zone": "+25:00"}), "time_zone"),
        (
            json!({"time_zone": "UTC", "latitude": 90.5, "longitude": 0.0}),
            "latitude",
        ),
        (json!({"latitude": -91.0, "longitude": 10.0}), "latitude"),
        (json!({"latitude": 10.0, "longitude": 180.5}), "longitude"),
    ];
    for (place, field) in cases {
        let refused = hub.call("PUT", path, &gadmin, Some(place.clone())).await;
        assert_eq!(
            (refused.status, refused.code(), refused.field().as_deref()),
            (422, "invalid".to_owned(), Some(field)),
            "{place}: {:?}",
            refused.body
        );
    }
    let read = hub.get(path, &alice).await;
    assert_eq!(read.json(), shanghai, "nothing refused was stored");
    let audit = hub
        .store
        .audit(&hearth_store::AuditFilter {
            target: Some("home".into()),
            action_prefixes: vec!["group.place".into()],
            ..Default::default()
        })
        .await
        .unwrap();
    let actors: Vec<&str> = audit.iter().map(|entry| entry.actor.as_str()).collect();
    assert_eq!(actors, ["user:gadmin"], "one change, audited");
}
