//! A device's site through `PATCH /api/v1/devices/{id}` (issue 20): the group's owners
//! and admins put a device in a site of its own group or in none, the device's view
//! shows it, and it is audited; members and viewers get 403, another group's site is
//! refused naming `site` (as one that does not exist), another group's device is 404.

use super::*;
use hearth_model::{Role, SiteId};

both_backends!(
    admins_put_a_device_in_a_site_and_take_it_out,
    intruders_cannot_move_a_device_between_sites
);

async fn add_site(hub: &Hub, id: &str, group: &str) {
    hub.registry
        .add_site(
            "cli:test",
            &SiteId::new(id).unwrap(),
            &ids::group(group),
            None,
        )
        .await
        .unwrap();
}

async fn admins_put_a_device_in_a_site_and_take_it_out(store: Arc<dyn Store>) {
    let hub = start(store).await;
    let admin = hub.admin().await;
    add_site(&hub, "home-1", "home").await;
    hub.add_device("lamp", "default").await;
    assert_eq!(
        hub.get("/api/v1/devices/lamp", &admin).await.json()["site"],
        Value::Null
    );

    let moved = hub
        .call(
            "PATCH",
            "/api/v1/devices/lamp",
            &admin,
            Some(json!({"site": "home-1", "room": "hall"})),
        )
        .await;
    assert_eq!(moved.status, 200, "{:?}", moved.body);
    assert_eq!(moved.json()["site"], "home-1");
    assert_eq!(moved.json()["room"], "hall");
    let site = hub.get("/api/v1/sites/home-1", &admin).await.json();
    assert_eq!(site["devices"], json!(["lamp"]));
    let listed = hub.get("/api/v1/devices", &admin).await.json();
    assert_eq!(listed["items"][0]["site"], "home-1", "{listed}");

    // An unknown site is refused naming the field, and nothing of the patch changes.
    let unknown = hub
        .call(
            "PATCH",
            "/api/v1/devices/lamp",
            &admin,
            Some(json!({"site": "nowhere", "name": "Renamed"})),
        )
        .await;
    assert_eq!(unknown.status, 422, "{:?}", unknown.body);
    assert_eq!(unknown.field().as_deref(), Some("site"));
    let bad = hub
        .call(
            "PATCH",
            "/api/v1/devices/lamp",
            &admin,
            Some(json!({"site": "a/b"})),
        )
        .await;
    assert_eq!(bad.status, 422);
    assert_eq!(bad.field().as_deref(), Some("site"));
    let shown = hub.get("/api/v1/devices/lamp", &admin).await.json();
    assert_eq!(shown["site"], "home-1");
    assert_ne!(shown["name"], "Renamed");

    let out = hub
        .call(
            "PATCH",
            "/api/v1/devices/lamp",
            &admin,
            Some(json!({"site": null})),
        )
        .await;
    assert_eq!(out.status, 200, "{:?}", out.body);
    assert_eq!(out.json()["site"], Value::Null);
    assert_eq!(out.json()["room"], "hall", "the rest is left alone");
    assert_eq!(
        hub.get("/api/v1/sites/home-1", &admin).await.json()["devices"],
        json!([])
    );
    let audit = hub
        .get("/api/v1/audit?target=lamp&limit=50", &admin)
        .await
        .json();
    let details: Vec<&Value> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|entry| entry["action"] == "device.site")
        .map(|entry| &entry["detail"]["site"])
        .collect();
    assert_eq!(details.len(), 2, "{audit}");
    assert!(details.contains(&&json!("home-1")) && details.contains(&&Value::Null));
}

async fn intruders_cannot_move_a_device_between_sites(store: Arc<dyn Store>) {
    let hub = start(store).await;
    let admin = hub.admin().await;
    add_site(&hub, "home-1", "home").await;
    hub.add_device("lamp", "default").await;
    for (name, role) in [("member", Role::Member), ("viewer", Role::Viewer)] {
        hub.add_user(name).await;
        hub.registry
            .set_member("cli:test", &ids::group("home"), &ids::user(name), role)
            .await
            .unwrap();
        let auth = hub.login(name, &format!("{name}-password")).await;
        for site in [json!("home-1"), Value::Null] {
            let reply = hub
                .call(
                    "PATCH",
                    "/api/v1/devices/lamp",
                    &auth,
                    Some(json!({ "site": site })),
                )
                .await;
            assert_eq!(reply.status, 403, "{name}: {:?}", reply.body);
        }
    }
    // A member granted `manage` on the application edits the device, but its site stays
    // the group's admins' choice.
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
    let renamed = hub
        .call(
            "PATCH",
            "/api/v1/devices/lamp",
            &member,
            Some(json!({"name": "Hall lamp"})),
        )
        .await;
    assert_eq!(renamed.status, 200, "{:?}", renamed.body);
    let reply = hub
        .call(
            "PATCH",
            "/api/v1/devices/lamp",
            &member,
            Some(json!({"site": "home-1", "name": "Moved"})),
        )
        .await;
    assert_eq!(reply.status, 403, "{:?}", reply.body);
    assert_eq!(
        hub.get("/api/v1/devices/lamp", &admin).await.json()["name"],
        "Hall lamp",
        "nothing of a refused patch is stored"
    );

    // Another group with its own site and device.
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
    hub.registry
        .add_app(
            "cli:test",
            &ids::app("theirs"),
            &ids::group("next-door"),
            None,
            None,
        )
        .await
        .unwrap();
    hub.add_device("their-lamp", "theirs").await;
    add_site(&hub, "their-home", "next-door").await;
    let neighbour = hub.login("neighbour", "neighbour-password").await;

    // The home's admin cannot put a home device in the neighbour's site: refused as a
    // site that does not exist, naming neither the other group nor its site's owner.
    let reply = hub
        .call(
            "PATCH",
            "/api/v1/devices/lamp",
            &admin,
            Some(json!({"site": "their-home"})),
        )
        .await;
    assert_eq!(reply.status, 422, "{:?}", reply.body);
    assert_eq!(reply.field().as_deref(), Some("site"));
    assert!(!String::from_utf8_lossy(&reply.body).contains("next-door"));
    let nowhere = hub
        .call(
            "PATCH",
            "/api/v1/devices/lamp",
            &admin,
            Some(json!({"site": "no-such-site"})),
        )
        .await;
    assert_eq!(
        reply.json()["error"]["message"]
            .as_str()
            .unwrap()
            .replace("their-home", "X"),
        nowhere.json()["error"]["message"]
            .as_str()
            .unwrap()
            .replace("no-such-site", "X"),
        "another group's site answers as a missing one"
    );
    // The neighbour can neither move the home's device nor put theirs in the home's site.
    let reply = hub
        .call(
            "PATCH",
            "/api/v1/devices/lamp",
            &neighbour,
            Some(json!({"site": "their-home"})),
        )
        .await;
    assert_eq!(reply.status, 404, "{:?}", reply.body);
    let reply = hub
        .call(
            "PATCH",
            "/api/v1/devices/their-lamp",
            &neighbour,
            Some(json!({"site": "home-1"})),
        )
        .await;
    assert_eq!(reply.status, 422, "{:?}", reply.body);
    assert_eq!(reply.field().as_deref(), Some("site"));
    // Their own site is fine.
    let reply = hub
        .call(
            "PATCH",
            "/api/v1/devices/their-lamp",
            &neighbour,
            Some(json!({"site": "their-home"})),
        )
        .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);

    assert_eq!(
        hub.get("/api/v1/sites/home-1", &admin).await.json()["devices"],
        json!([]),
        "nothing an intruder tried took effect"
    );
    assert_eq!(
        hub.get("/api/v1/devices/lamp", &admin).await.json()["site"],
        Value::Null
    );
}
