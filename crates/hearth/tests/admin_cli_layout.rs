//! `hearth app layout` (issue 18): the real binary sets an application's topic layout
//! from a file, prints it back as TOML and JSON, refuses a bad one naming the field, and
//! clears it; SQLite and PostgreSQL.

#[macro_use]
mod admin;

use admin::*;

both_backends!(app_layouts_from_the_command_line);

fn app_layouts_from_the_command_line(hub: Hub) {
    let hub = hub.with_home_and_lights();
    let seed = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../docs/layouts/seed-001-bulb.toml");
    let seed = seed.to_str().unwrap();
    assert!(
        hub.ok(&["app", "layout", "lights"])
            .contains("has no layout")
    );
    let set = hub.json(&["app", "layout", "lights", "--set", seed]);
    assert_eq!(
        set["layout"]["inbound"][0]["topic"],
        "home/{room}/bulb/{id}/state"
    );

    // Printed as TOML it is a layout file again, the same layout.
    let text = hub.ok(&["app", "layout", "lights"]);
    let copy = hub.path("copy.toml");
    std::fs::write(&copy, &text).unwrap();
    let again = hub.json(&["app", "layout", "lights", "--set", copy.to_str().unwrap()]);
    assert_eq!(again["layout"], set["layout"], "{text}");
    let shown = hub.json(&["app", "layout", "lights"]);
    assert_eq!(shown["layout"], set["layout"]);
    assert_eq!(shown["layout"]["commands"][0]["payload"]["action"], "{on}");

    let bad = hub.path("bad.toml");
    std::fs::write(&bad, "[[inbound]]\ntopic = \"home/{room}/state\"\n").unwrap();
    let error = hub.json_error(&["app", "layout", "lights", "--set", bad.to_str().unwrap()]);
    assert_eq!(error["field"], "inbound[0].topic", "{error}");
    assert_eq!(
        hub.json(&["app", "layout", "lights"])["layout"],
        set["layout"]
    );

    hub.ok(&["app", "layout", "lights", "--clear"]);
    assert_eq!(
        hub.json(&["app", "layout", "lights"])["layout"],
        serde_json::Value::Null
    );
    let actions = with_store(&hub, async |store| {
        store
            .audit(&hearth_store::AuditFilter::default())
            .await
            .unwrap()
            .into_iter()
            .map(|entry| entry.action)
            .collect::<Vec<_>>()
    });
    assert!(
        actions.iter().any(|action| action == "app.layout.set"),
        "{actions:?}"
    );
    assert!(
        actions.iter().any(|action| action == "app.layout.clear"),
        "{actions:?}"
    );
}
