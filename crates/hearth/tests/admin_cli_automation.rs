//! `hearth automation ...` (issue 14) as people and scripts run it: the real binary, a
//! fresh store per test, on SQLite and PostgreSQL.

#[macro_use]
mod admin;

use admin::*;

both_backends!(
    the_issues_example_is_added_from_a_file_and_listed,
    a_bad_document_exits_1_naming_the_field,
    a_run_asked_with_no_hub_is_stored_and_the_wait_ends_with_exit_3,
    a_run_of_an_unknown_or_disabled_automation_is_refused,
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

fn add_example(hub: &Hub) -> String {
    let file = hub.path("hall.json");
    std::fs::write(&file, EXAMPLE).unwrap();
    let added = hub.json(&["automation", "add", &file.display().to_string()]);
    added["id"].as_str().unwrap().to_owned()
}

fn a_run_asked_with_no_hub_is_stored_and_the_wait_ends_with_exit_3(hub: Hub) {
    let hub = hall(hub);
    let id = add_example(&hub);
    let seq_before = with_store(&hub, async |store| store.last_audit_seq().await.unwrap());

    // No hub runs: the request is stored, the wait ends, exit status 3 with the request
    // on stdout.
    let output = hub.run(&["automation", "run", &id, "--wait", "1", "--json"]);
    assert_eq!(output.status.code(), Some(3), "{}", describe(&output));
    let request: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let run_id = request["id"].as_str().unwrap().to_owned();
    assert!(run_id.starts_with("r-") && run_id.len() == 14, "{request}");
    assert_eq!(request["automation_id"], id.as_str());
    assert_eq!(request["status"], "requested");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("not finished after 1 s"), "{stderr}");
    assert!(stderr.contains(&run_id), "{stderr}");

    let (timers, audit) = with_store(&hub, async |store| {
        let timers = store.timers().await.unwrap();
        let filter = hearth_store::AuditFilter {
            from_seq: Some(seq_before + 1),
            ..Default::default()
        };
        (timers, store.audit(&filter).await.unwrap())
    });
    assert_eq!(timers.len(), 1, "{timers:?}");
    let timer = &timers[0];
    assert!(timer.id.starts_with("manual-"), "{timer:?}");
    assert_eq!(timer.kind, "manual");
    assert_eq!(timer.automation_id, id);
    assert_eq!(timer.state["run_id"], run_id.as_str());
    assert_eq!(timer.state["by"], "cli:tester");
    // The audit sequence moved, which is what a running hub's engine polls.
    let actions: Vec<(&str, &str)> = audit
        .iter()
        .map(|entry| (entry.action.as_str(), entry.target.as_str()))
        .collect();
    assert_eq!(actions, [("automation.run_requested", id.as_str())]);
    assert_eq!(audit[0].detail["run"], run_id.as_str());

    // --wait 0 only asks: exit 0, the run's id for people.
    let text = hub.ok(&["automation", "run", &id, "--wait", "0"]);
    assert!(text.starts_with("requested run r-"), "{text}");
    assert_eq!(
        with_store(&hub, async |store| store.timers().await.unwrap().len()),
        2
    );
}

fn a_run_of_an_unknown_or_disabled_automation_is_refused(hub: Hub) {
    let hub = hall(hub);
    let error = hub.json_error(&["automation", "run", "a-nothing", "--wait", "0"]);
    assert_eq!(error["code"], "not_found");
    let id = add_example(&hub);
    hub.ok(&["automation", "disable", &id]);
    let error = hub.json_error(&["automation", "run", &id, "--wait", "0"]);
    assert_eq!(error["code"], "invalid");
    assert_eq!(error["field"], "enabled");
    let stderr = hub.fails(&["automation", "run", &id]);
    assert!(stderr.contains("disabled"), "{stderr}");
    assert_eq!(
        with_store(&hub, async |store| store.timers().await.unwrap()),
        vec![]
    );
}
