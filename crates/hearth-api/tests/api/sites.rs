//! `/api/v1/sites` (issue 20): a group's admins and owners register a site (its secret
//! shown once, stored as a hash), list, read, disable, rotate and remove it; members and
//! viewers get 403, another group's owner 404 for everything, as for a site that does not
//! exist; changes are audited.

use super::*;
use hearth_model::Role;

both_backends!(
    sites_are_managed_by_their_groups_admins,
    intruders_see_no_sites
);

async fn sites_are_managed_by_their_groups_admins(store: Arc<dyn Store>) {
    let hub = start(store).await;
    let admin = hub.admin().await;
    let created = hub
        .call(
            "POST",
            "/api/v1/sites",
            &admin,
            Some(json!({"id": "home-1", "group": "home", "name": "Our flat"})),
        )
        .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let body = created.json();
    assert_eq!(body["site"]["id"], "home-1");
    assert_eq!(body["site"]["name"], "Our flat");
    assert_eq!(body["site"]["enabled"], true);
    let secret = body["secret"].as_str().unwrap().to_owned();
    assert!(secret.len() >= 30);

    let shown = hub.get("/api/v1/sites/home-1", &admin).await;
    assert_eq!(shown.status, 200);
    assert!(
        !String::from_utf8_lossy(&shown.body).contains(&secret),
        "never again"
    );
    assert_eq!(shown.json()["devices"], json!([]));
    let listed = hub.get("/api/v1/sites?group=home", &admin).await.json();
    assert_eq!(listed.as_array().unwrap().len(), 1);

    let disabled = hub
        .call(
            "PATCH",
            "/api/v1/sites/home-1",
            &admin,
            Some(json!({"enabled": false})),
        )
        .await;
    assert_eq!(disabled.status, 200, "{:?}", disabled.body);
    assert_eq!(disabled.json()["enabled"], false);
    let rotated = hub
        .call("POST", "/api/v1/sites/home-1/rotate-secret", &admin, None)
        .await;
    assert_eq!(rotated.status, 200, "{:?}", rotated.body);
    assert_ne!(rotated.json()["secret"].as_str().unwrap(), secret);

    let bad = hub
        .call(
            "POST",
            "/api/v1/sites",
            &admin,
            Some(json!({"id": "a/b", "group": "home"})),
        )
        .await;
    assert_eq!(bad.status, 422);
    assert_eq!(bad.field().as_deref(), Some("id"));
    let again = hub
        .call(
            "POST",
            "/api/v1/sites",
            &admin,
            Some(json!({"id": "home-1", "group": "home"})),
        )
        .await;
    assert_eq!(again.status, 409);

    assert_eq!(
        hub.call("DELETE", "/api/v1/sites/home-1", &admin, None)
            .await
            .status,
        204
    );
    assert_eq!(hub.get("/api/v1/sites/home-1", &admin).await.status, 404);
    let audit = hub.get("/api/v1/audit?limit=50", &admin).await.json();
    for action in ["site.create", "site.disable", "site.rotate", "site.remove"] {
        assert!(
            audit
                .as_array()
                .unwrap()
                .iter()
                .any(|entry| entry["action"] == action),
            "{action}: {audit}"
        );
    }
}

async fn intruders_see_no_sites(store: Arc<dyn Store>) {
    let hub = start(store).await;
    let admin = hub.admin().await;
    let created = hub
        .call(
            "POST",
            "/api/v1/sites",
            &admin,
            Some(json!({"id": "home-1", "group": "home"})),
        )
        .await;
    assert_eq!(created.status, 201);
    for (name, role) in [("member", Role::Member), ("viewer", Role::Viewer)] {
        hub.add_user(name).await;
        hub.registry
            .set_member("cli:test", &ids::group("home"), &ids::user(name), role)
            .await
            .unwrap();
        let auth = hub.login(name, &format!("{name}-password")).await;
        assert_eq!(
            hub.get("/api/v1/sites/home-1", &auth).await.status,
            403,
            "{name}"
        );
        assert_eq!(
            hub.get("/api/v1/sites", &auth).await.json(),
            json!([]),
            "{name}"
        );
        for (method, path, body) in [
            (
                "POST",
                "/api/v1/sites",
                Some(json!({"id": "mine", "group": "home"})),
            ),
            (
                "PATCH",
                "/api/v1/sites/home-1",
                Some(json!({"enabled": false})),
            ),
            ("POST", "/api/v1/sites/home-1/rotate-secret", None),
            ("DELETE", "/api/v1/sites/home-1", None),
        ] {
            let reply = hub.call(method, path, &auth, body).await;
            assert_eq!(
                reply.status, 403,
                "{name} {method} {path}: {:?}",
                reply.body
            );
        }
    }
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
    assert_eq!(hub.get("/api/v1/sites", &neighbour).await.json(), json!([]));
    for (method, path, body) in [
        ("GET", "/api/v1/sites/home-1", None),
        (
            "PATCH",
            "/api/v1/sites/home-1",
            Some(json!({"enabled": false})),
        ),
        ("POST", "/api/v1/sites/home-1/rotate-secret", None),
        ("DELETE", "/api/v1/sites/home-1", None),
        ("GET", "/api/v1/sites?group=home", None),
        (
            "POST",
            "/api/v1/sites",
            Some(json!({"id": "theirs", "group": "home"})),
        ),
    ] {
        let reply = hub.call(method, path, &neighbour, body).await;
        assert_eq!(reply.status, 404, "{method} {path}: {:?}", reply.body);
    }
    assert_eq!(
        hub.call("GET", "/api/v1/sites", &Auth::None, None)
            .await
            .status,
        401
    );
    let shown = hub.get("/api/v1/sites/home-1", &admin).await.json();
    assert_eq!(
        shown["enabled"], true,
        "nothing an intruder tried took effect"
    );
}
