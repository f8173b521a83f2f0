//! `hearth scene ...` (issue 14) as people and scripts run it: the real binary, a fresh
//! store per test, on SQLite and PostgreSQL.

#[macro_use]
mod admin;

use admin::*;
use serde_json::Value;

both_backends!(
    a_scene_is_added_listed_shown_updated_and_removed,
    a_bad_scene_file_exits_1_naming_the_field,
    a_scene_applied_with_no_hub_records_its_commands_and_exits_3,
);

const READING: &str = r#"{"group": "home", "name": "Reading",
 "targets": [{"device": "desk-lamp", "command": "switch", "params": {"on": true}},
             {"device": "ceiling", "command": "switch", "params": {"on": false}}]}"#;

fn living_room(hub: Hub) -> Hub {
    let hub = hub.with_home_and_lights();
    hub.ok(&["device", "add", "desk-lamp", "--app", "lights"]);
    hub.ok(&["device", "add", "ceiling", "--app", "lights"]);
    hub
}

fn write(hub: &Hub, name: &str, text: &str) -> String {
    let file = hub.path(name);
    std::fs::write(&file, text).unwrap();
    file.display().to_string()
}

fn a_scene_is_added_listed_shown_updated_and_removed(hub: Hub) {
    let hub = living_room(hub);
    let file = write(&hub, "reading.json", READING);
    let added = hub.json(&["scene", "add", &file]);
    let id = added["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("s-"), "{added}");
    assert_eq!(added["created_by"], "cli:tester");
    assert_eq!(added["targets"][1]["device"], "ceiling");

    let list = hub.json(&["scene", "list", "--group", "home"]);
    assert_eq!(ids(&list), [id.as_str()]);
    assert_eq!(list[0]["name"], "Reading");
    let table = hub.ok(&["scene", "list"]);
    assert!(table.starts_with("ID "), "{table}");
    assert!(table.contains(&id) && table.contains("Reading"), "{table}");

    let shown = hub.json(&["scene", "show", &id]);
    assert_eq!(
        shown["targets"][0]["params"],
        serde_json::json!({"on": true})
    );
    let text = hub.ok(&["scene", "show", &id]);
    assert!(
        text.contains("desk-lamp") && text.contains("switch"),
        "{text}"
    );

    let relax = write(&hub, "relax.json", &READING.replace("Reading", "Relax"));
    let updated = hub.json(&["scene", "update", &id, &relax]);
    assert_eq!(updated["id"], id.as_str());
    assert_eq!(updated["name"], "Relax");
    assert_eq!(hub.json(&["scene", "show", &id])["name"], "Relax");

    hub.ok(&["scene", "remove", &id]);
    assert_eq!(hub.json(&["scene", "list"]), Value::Array(vec![]));
    let error = hub.json_error(&["scene", "show", &id]);
    assert_eq!(error["code"], "not_found");
    let error = hub.json_error(&["scene", "remove", &id]);
    assert_eq!(error["code"], "not_found");
}

fn a_bad_scene_file_exits_1_naming_the_field(hub: Hub) {
    let hub = living_room(hub);
    // A device that is not the group's is answered like a missing one.
    let ghost = write(&hub, "ghost.json", &READING.replace("ceiling", "ghost"));
    let error = hub.json_error(&["scene", "add", &ghost]);
    assert_eq!(error["code"], "invalid");
    assert_eq!(error["field"], "targets[1].device");
    let stderr = hub.fails(&["scene", "add", &ghost]);
    assert!(stderr.contains("targets[1].device"), "{stderr}");
    assert!(stderr.contains("ghost"), "{stderr}");

    let params = write(
        &hub,
        "params.json",
        &READING.replace(r#"{"on": true}"#, "[true]"),
    );
    let error = hub.json_error(&["scene", "add", &params]);
    assert_eq!(error["field"], "targets[0].params");

    // What serde refuses is blamed on the file, with serde's words.
    let unknown = write(&hub, "unknown.json", &READING.replace("targets", "devices"));
    let error = hub.json_error(&["scene", "add", &unknown]);
    assert_eq!(error["field"], "file");
    assert!(
        error["message"].as_str().unwrap().contains("devices"),
        "{error}"
    );

    // A usage error is clap's exit 2.
    let usage = hub.run(&["scene", "add"]);
    assert_eq!(usage.status.code(), Some(2), "{}", describe(&usage));
    assert_eq!(hub.json(&["scene", "list"]), Value::Array(vec![]));
}

fn a_scene_applied_with_no_hub_records_its_commands_and_exits_3(hub: Hub) {
    let hub = living_room(hub);
    let file = write(&hub, "reading.json", READING);
    let id = hub.json(&["scene", "add", &file])["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // No hub delivers: both commands stay pending, the wait ends, exit status 3 with
    // the outcome so far on stdout.
    let output = hub.run(&["scene", "apply", &id, "--wait", "1", "--json"]);
    assert_eq!(output.status.code(), Some(3), "{}", describe(&output));
    let outcome: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(outcome["scene"], id.as_str());
    assert_eq!(
        outcome["result"],
        "0/2 confirmed, ceiling pending, desk-lamp pending"
    );
    assert_eq!(
        (outcome["confirmed"].as_u64(), outcome["total"].as_u64()),
        (Some(0), Some(2))
    );
    assert_eq!(outcome["devices"]["desk-lamp"], "pending");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("not finished after 1 s"), "{stderr}");

    let commands = with_store(&hub, async |store| {
        let device = hearth_model::DeviceId::new("desk-lamp").unwrap();
        store.commands(&device, 10).await.unwrap()
    });
    assert_eq!(commands.len(), 1, "{commands:?}");
    assert_eq!(commands[0].name, "switch");
    assert_eq!(commands[0].params["on"], true);
    assert_eq!(commands[0].issued_by, "cli:tester");
    assert_eq!(commands[0].status, hearth_model::CommandStatus::Pending);

    // A disabled device is refused alone; --wait 0 only sends and exits 0.
    hub.ok(&["device", "disable", "ceiling"]);
    let outcome = hub.json(&["scene", "apply", &id, "--wait", "0"]);
    let refused = outcome["devices"]["ceiling"].as_str().unwrap();
    assert!(refused.starts_with("refused: "), "{outcome}");
    assert!(refused.contains("disabled"), "{outcome}");
    let text = hub.ok(&["scene", "apply", &id, "--wait", "0"]);
    assert!(
        text.starts_with(&format!("applying scene {id}: 2 commands")),
        "{text}"
    );

    let error = hub.json_error(&["scene", "apply", "s-nothing", "--wait", "0"]);
    assert_eq!(error["code"], "not_found");
}
