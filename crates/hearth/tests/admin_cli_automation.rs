//! `hearth automation ...` (issue 14) as people and scripts run it: the real binary, a
//! fresh store per test, on SQLite and PostgreSQL.

#[macro_use]
mod admin;

use admin::*;

both_backends!(
    the_issues_example_is_added_from_a_file_and_listed,
    a_bad_document_exits_1_naming_the_field,
);

const EXAMPLE: &str = r#"{"group": "home", "name": "Hall light on motion after dark",
 "triggers": [{"type": "reading", "device": "hall-motion", "metric": "motion", "eq": true}],
 "conditions": [{"type": "time", "after": "20:00", "before": "06:00"}],
 "actions": [{"type": "command", "device": "hall-lamp", "name": "switch", "params": {"on": true}}]}"#;

fn hall(hub: Hub) -> Hub {
    let hub = hub.with_home_and_lights();
    hub.ok(&["device", "add", "hall-motion"]);
    hub.ok(&["device", "add", "hall-lamp"]);
    hub
}

fn the_issues_example_is_added_from_a_file_and_listed(hub: Hub) {
    let hub = hall(hub);
    let file = hub.path("hall.json");
    std::fs::write(&file, EXAMPLE).unwrap();
    let file = file.display().to_string();
    let added = hub.json(&["automation", "add", &file]);
    let id = added["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("a-"), "{added}");
    assert!(added["created_by"].as_str().unwrap().starts_with("cli"));

    let list = hub.json(&["automation", "list", "--group", "home"]);
    assert_eq!(ids(&list), [id.as_str()]);
    assert_eq!(list[0]["name"], "Hall light on motion after dark");
    assert_eq!(list[0]["triggers"][0]["device"], "hall-motion");
    assert_eq!(list[0]["enabled"], true);
    let table = hub.ok(&["automation", "list"]);
    assert!(table.starts_with("ID "), "{table}");
    assert!(table.contains(&id), "{table}");

    let disabled = hub.json(&["automation", "disable", &id]);
    assert_eq!(disabled["enabled"], false);
    assert_eq!(hub.json(&["automation", "show", &id])["enabled"], false);
    let text = hub.ok(&["automation", "show", &id]);
    assert!(text.contains("hall-lamp"), "{text}");
    assert_eq!(hub.json(&["automation", "enable", &id])["enabled"], true);
    hub.ok(&["automation", "remove", &id]);
    assert_eq!(
        hub.json(&["automation", "list"]),
        serde_json::Value::Array(vec![])
    );
    assert_eq!(
        hub.json_error(&["automation", "show", &id])["code"],
        "not_found"
    );
}

fn a_bad_document_exits_1_naming_the_field(hub: Hub) {
    let hub = hall(hub);
    let file = hub.path("bad.json");
    std::fs::write(&file, EXAMPLE.replace("hall-lamp", "ghost")).unwrap();
    let file = file.display().to_string();
    let error = hub.json_error(&["automation", "add", &file]);
    assert_eq!(error["code"], "invalid");
    assert_eq!(error["field"], "actions[0].device");
    let stderr = hub.fails(&["automation", "add", &file]);
    assert!(stderr.contains("actions[0].device"), "{stderr}");
    assert!(stderr.contains("ghost"), "{stderr}");
    // A usage error is clap's exit 2.
    let usage = hub.run(&["automation", "add"]);
    assert_eq!(usage.status.code(), Some(2), "{}", describe(&usage));
    assert_eq!(
        hub.json(&["automation", "list"]),
        serde_json::Value::Array(vec![])
    );
}
