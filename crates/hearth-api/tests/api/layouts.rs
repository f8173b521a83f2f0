//! Topic layouts (issue 18): `/api/v1/apps/{id}/layout` and `/api/v1/devices/{id}/layout`
//! set, read and cleared by the group's admins; refused layouts name the field; members,
//! viewers and outsiders are refused (403 when they see the application, 404 when not).

use super::*;
use hearth_model::Role;

both_backends!(
    group_admins_set_read_and_clear_layouts,
    refused_layouts_name_the_field,
    intruders_cannot_change_layouts,
);

/// Written as the hub writes it back (defaults included).
fn bulb() -> Value {
    json!({
        "inbound": [{"topic": "home/{room}/bulb/{id}/state", "as": "data", "ack": true,
                     "payload": "json", "fields": {"on": "is_on"}}],
        "commands": [{"name": "switch", "topic": "home/{room}/bulb/{id}/command/{name}",
                      "payload": {"action": "{on}"},
                      "map": {"on": {"true": "on", "false": "off"}}}]
    })
}

const APP: &str = "/api/v1/apps/default/layout";
const DEVICE: &str = "/api/v1/devices/plug1/layout";

async fn group_admins_set_read_and_clear_layouts(store: Arc<dyn Store>) {
    let hub = start(store).await;
    hub.add_device("plug1", "default").await;
    let admin = hub.admin().await;
    assert_eq!(hub.get(APP, &admin).await.status, 404);
    let reply = hub.call("PUT", APP, &admin, Some(bulb())).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    let reply = hub.get(APP, &admin).await;
    assert_eq!((reply.status, reply.json()), (200, bulb()));
    let audit = hub.get("/api/v1/audit", &admin).await.json();
    assert!(
        audit
            .as_array()
            .unwrap()
            .iter()
            .any(|entry| entry["action"] == "app.layout.set"),
        "{audit}"
    );

    let own = json!({"inbound": [{"topic": "stat/plug1/POWER", "as": "data", "payload": "plain",
                                  "key": "on", "values": {"ON": true, "OFF": false}}]});
    assert_eq!(
        hub.call("PUT", DEVICE, &admin, Some(own.clone()))
            .await
            .status,
        200
    );
    assert_eq!(hub.get(DEVICE, &admin).await.json(), own);
    assert_eq!(hub.call("DELETE", DEVICE, &admin, None).await.status, 204);
    assert_eq!(hub.get(DEVICE, &admin).await.status, 404);
    assert_eq!(hub.call("DELETE", APP, &admin, None).await.status, 204);
    assert_eq!(hub.get(APP, &admin).await.status, 404);
}

async fn refused_layouts_name_the_field(store: Arc<dyn Store>) {
    let hub = start(store).await;
    let admin = hub.admin().await;
    let mut no_id = bulb();
    no_id["inbound"][0]["topic"] = json!("home/{room}/bulb/state");
    let reply = hub.call("PUT", APP, &admin, Some(no_id)).await;
    assert_eq!(reply.status, 422, "{:?}", reply.body);
    assert_eq!(reply.field().as_deref(), Some("inbound[0].topic"));
    assert!(
        reply.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("must contain {id}")
    );
    // Under Hearth's own topics.
    let mut own = bulb();
    own["commands"][0]["topic"] = json!("devices/{id}/commands/{name}");
    let reply = hub.call("PUT", APP, &admin, Some(own)).await;
    assert_eq!(
        (reply.status, reply.field().as_deref()),
        (422, Some("commands[0].topic"))
    );
    // Not a layout at all: an unknown key, a wrong kind.
    let reply = hub
        .call("PUT", APP, &admin, Some(json!({"inbound": [], "extra": 1})))
        .await;
    assert_eq!(reply.status, 400, "{:?}", reply.body);
    let reply = hub
        .call(
            "PUT",
            APP,
            &admin,
            Some(json!({"inbound": [{"topic": "a/{id}", "as": "x"}]})),
        )
        .await;
    assert_eq!(reply.status, 400, "{:?}", reply.body);
    assert_eq!(hub.get(APP, &admin).await.status, 404, "nothing was stored");
}

async fn intruders_cannot_change_layouts(store: Arc<dyn Store>) {
    let hub = start(store).await;
    hub.add_device("plug1", "default").await;
    let admin = hub.admin().await;
    assert_eq!(hub.call("PUT", APP, &admin, Some(bulb())).await.status, 200);
    // A member and a viewer of the group see the application but may not change it.
    for (name, role) in [("member", Role::Member), ("viewer", Role::Viewer)] {
        hub.add_user(name).await;
        hub.registry
            .set_member("cli:test", &ids::group("home"), &ids::user(name), role)
            .await
            .unwrap();
        let auth = hub.login(name, &format!("{name}-password")).await;
        assert_eq!(hub.get(APP, &auth).await.status, 200, "{name} reads");
        for (method, path, body) in [
            ("PUT", APP, Some(json!({"inbound": [{"topic": "x/{id}"}]}))),
            ("DELETE", APP, None),
            ("PUT", DEVICE, Some(json!({"inbound": [{"topic": "x/y"}]}))),
            ("DELETE", DEVICE, None),
        ] {
            let reply = hub.call(method, path, &auth, body).await;
            assert_eq!(
                reply.status, 403,
                "{name} {method} {path}: {:?}",
                reply.body
            );
        }
    }
    // Someone outside the group does not learn that the application exists.
    hub.add_user("stranger").await;
    let stranger = hub.login("stranger", "stranger-password").await;
    for (method, path) in [
        ("GET", APP),
        ("PUT", APP),
        ("GET", DEVICE),
        ("DELETE", DEVICE),
    ] {
        let body = (method == "PUT").then(bulb);
        let reply = hub.call(method, path, &stranger, body).await;
        assert_eq!(reply.status, 404, "stranger {method} {path}");
    }
    assert_eq!(hub.get(APP, &admin).await.json(), bulb(), "unchanged");
}
