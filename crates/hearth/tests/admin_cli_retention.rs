//! `hearth app add|update --message-retention-days` (issue 19): the real binary sets how
//! long an application's raw messages are kept, shows it, goes back to the hub's
//! default, and refuses a value out of range naming the field (nothing stored); SQLite
//! and PostgreSQL.

#[macro_use]
mod admin;

use admin::*;
use serde_json::Value;

both_backends!(message_retention_from_the_command_line);

fn message_retention_from_the_command_line(hub: Hub) {
    let hub = hub.with_home_and_lights();
    assert_eq!(
        hub.json(&["app", "show", "lights"])["message_retention_days"],
        Value::Null,
        "the hub's default until set"
    );
    let text = hub.ok(&["app", "show", "lights"]);
    assert!(text.contains("7 days (the hub's default"), "{text}");

    let added = hub.json(&[
        "app",
        "add",
        "meters",
        "--group",
        "home",
        "--message-retention-days",
        "30",
    ]);
    assert_eq!(added["message_retention_days"], 30, "{added}");
    assert_eq!(
        hub.json(&["app", "show", "meters"])["message_retention_days"],
        30
    );

    let updated = hub.json(&[
        "app",
        "update",
        "lights",
        "--message-retention-days",
        "3650",
    ]);
    assert_eq!(updated["message_retention_days"], 3650, "{updated}");
    let text = hub.ok(&["app", "show", "lights"]);
    assert!(text.contains("3650 days"), "{text}");

    for bad in ["0", "3651"] {
        let error = hub.json_error(&["app", "update", "lights", "--message-retention-days", bad]);
        assert_eq!(error["field"], "message_retention_days", "{bad}: {error}");
        let error = hub.json_error(&[
            "app",
            "add",
            &format!("refused-{bad}"),
            "--group",
            "home",
            "--message-retention-days",
            bad,
        ]);
        assert_eq!(error["field"], "message_retention_days", "{bad}: {error}");
    }
    assert_eq!(
        hub.json(&["app", "show", "lights"])["message_retention_days"],
        3650,
        "a refused value changes nothing"
    );
    let ids: Vec<String> = hub
        .json(&["app", "list"])
        .as_array()
        .unwrap()
        .iter()
        .map(|app| app["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids, ["lights", "meters"], "a refused add creates nothing");

    // Neither a number nor the way back to the default: clap refuses (usage error).
    let output = hub.run(&["app", "update", "lights"]);
    assert_eq!(output.status.code(), Some(2));

    let back = hub.json(&["app", "update", "lights", "--default-message-retention"]);
    assert_eq!(back["message_retention_days"], Value::Null, "{back}");
    let actions = with_store(&hub, async |store| {
        store
            .audit(&hearth_store::AuditFilter::default())
            .await
            .unwrap()
            .into_iter()
            .filter(|entry| entry.action == "app.message_retention")
            .count()
    });
    assert_eq!(actions, 2, "each change is audited");
}
