//! The service's checks against the registry, on SQLite (the store's own suite covers
//! both backends).

use super::*;
use hearth_model::{Application, Group, NewDevice};
use hearth_testkit::{Backend, TestStore, ids, test_store};
use serde_json::{Value, json};

async fn registry_with_two_groups() -> TestStore {
    let store = test_store(Backend::Sqlite).await;
    for (group, app, devices) in [
        ("home", "lights", &["hall-motion", "hall-lamp"][..]),
        ("work", "office", &["office-lamp"][..]),
    ] {
        let group_record = Group {
            id: ids::group(group),
            name: group.into(),
            created_at_ms: 1,
        };
        store
            .create_group(
                &group_record,
                &NewAuditEntry::new("test", "group.create", group),
            )
            .await
            .unwrap();
        let application = Application {
            id: ids::app(app),
            group: ids::group(group),
            name: app.into(),
            description: String::new(),
            mqtt_key: format!("key-{app}"),
            created_at_ms: 1,
            discovery: false,
            message_retention_days: None,
        };
        store
            .create_app(
                &application,
                "hash",
                &NewAuditEntry::new("test", "app.create", app),
            )
            .await
            .unwrap();
        let new_devices: Vec<(NewDevice, String)> = devices
            .iter()
            .map(|device| {
                let new_device = NewDevice {
                    id: ids::device(device),
                    application: ids::app(app),
                    name: device.to_string(),
                    kind: "sensor".into(),
                    room: None,
                    firmware: None,
                    metadata: json!({}),
                    heartbeat_timeout_secs: None,
                };
                (new_device, "hash".to_string())
            })
            .collect();
        store.create_devices(&new_devices, "test").await.unwrap();
    }
    store
}

fn example() -> Value {
    json!({"group": "home", "name": "Hall light on motion after dark",
     "triggers": [{"type": "reading", "device": "hall-motion", "metric": "motion", "eq": true}],
     "conditions": [{"type": "time", "after": "20:00", "before": "06:00"}],
     "actions": [{"type": "command", "device": "hall-lamp", "name": "switch", "params": {"on": true}}]})
}

fn spec(value: Value) -> AutomationSpec {
    serde_json::from_value(value).unwrap()
}

fn refused_at(result: AutomationResult<impl std::fmt::Debug>) -> String {
    match result {
        Err(AutomationError::Invalid(error)) => error.field,
        other => panic!("expected a refused field, got {other:?}"),
    }
}

#[tokio::test]
async fn the_issues_example_is_stored_with_an_id_and_its_creator() {
    let store = test_store_with_registry().await;
    let automations = Automations::new(store.store());
    let automation = automations
        .create("user:alice", spec(example()))
        .await
        .unwrap();
    assert!(automation.id.starts_with("a-") && automation.id.len() > 8);
    assert_eq!(automation.created_by, "user:alice");
    assert_eq!(automations.get(&automation.id).await.unwrap(), automation);
    let disabled = automations
        .set_enabled("user:alice", &automation.id, false)
        .await
        .unwrap();
    assert!(!disabled.spec.enabled);
    assert_eq!(
        automations.list(Some(&ids::group("home"))).await.unwrap(),
        vec![disabled]
    );
    let entries = store
        .audit(&hearth_store::AuditFilter {
            target: Some(automation.id.clone()),
            ..Default::default()
        })
        .await
        .unwrap();
    let actions: Vec<&str> = entries.iter().map(|entry| entry.action.as_str()).collect();
    assert_eq!(actions, ["automation.disable", "automation.add"]);
    assert_eq!(entries[1].actor, "user:alice");
}

async fn test_store_with_registry() -> TestStore {
    registry_with_two_groups().await
}

#[tokio::test]
async fn devices_anywhere_in_the_document_must_be_the_groups() {
    let store = registry_with_two_groups().await;
    let automations = Automations::new(store.store());
    let mut other_groups = example();
    other_groups["actions"][0]["device"] = json!("office-lamp");
    assert_eq!(
        refused_at(automations.create("t", spec(other_groups)).await),
        "actions[0].device"
    );
    let mut missing = example();
    missing["triggers"][0]["device"] = json!("ghost");
    assert_eq!(
        refused_at(automations.create("t", spec(missing)).await),
        "triggers[0].device"
    );
    let mut nested = example();
    nested["actions"][0]["on_failure"] = json!([
        {"type": "notify", "message": "no"},
        {"type": "command", "device": "office-lamp", "name": "switch"}]);
    assert_eq!(
        refused_at(automations.create("t", spec(nested)).await),
        "actions[0].on_failure[1].device"
    );
    let mut waiting = example();
    waiting["actions"] = json!([{"type": "wait_for", "timeout_secs": 5,
        "trigger": {"type": "presence", "device": "office-lamp", "online": true}}]);
    assert_eq!(
        refused_at(automations.create("t", spec(waiting)).await),
        "actions[0].trigger.device"
    );
    let mut condition = example();
    condition["conditions"] = json!([{"type": "not", "condition":
        {"type": "presence", "device": "office-lamp", "online": true}}]);
    assert_eq!(
        refused_at(automations.create("t", spec(condition)).await),
        "conditions[0].condition.device"
    );
    let mut publish = example();
    publish["actions"] =
        json!([{"type": "publish", "topic": "devices/office-lamp/commands/x", "payload": 1}]);
    assert_eq!(
        refused_at(automations.create("t", spec(publish)).await),
        "actions[0].topic"
    );
    let mut unknown_group = example();
    unknown_group["group"] = json!("nowhere");
    assert_eq!(
        refused_at(automations.create("t", spec(unknown_group)).await),
        "group"
    );
    let mut bad_document = example();
    bad_document["triggers"][0]["metric"] = json!("");
    assert_eq!(
        refused_at(automations.create("t", spec(bad_document)).await),
        "triggers[0].metric"
    );
    assert_eq!(
        automations.list(None).await.unwrap(),
        vec![],
        "nothing stored"
    );
}

#[tokio::test]
async fn scene_actions_name_a_scene_of_the_group() {
    let store = registry_with_two_groups().await;
    let automations = Automations::new(store.store());
    let scene_spec = |group: &str, device: &str| -> SceneSpec {
        serde_json::from_value(json!({"group": group, "name": "relax",
            "targets": [{"device": device, "command": "switch", "params": {"on": false}}]}))
        .unwrap()
    };
    assert_eq!(
        refused_at(
            automations
                .create_scene("t", scene_spec("home", "office-lamp"))
                .await
        ),
        "targets[0].device"
    );
    let relax = automations
        .create_scene("t", scene_spec("home", "hall-lamp"))
        .await
        .unwrap();
    assert!(relax.id.starts_with("s-"));
    let office = automations
        .create_scene("t", scene_spec("work", "office-lamp"))
        .await
        .unwrap();
    let mut by_id = example();
    by_id["actions"] = json!([{"type": "scene", "scene": relax.id}]);
    automations.create("t", spec(by_id)).await.unwrap();
    let mut by_name = example();
    by_name["actions"] = json!([{"type": "scene", "scene": "relax"}]);
    automations.create("t", spec(by_name)).await.unwrap();
    let mut other_groups = example();
    other_groups["actions"] = json!([{"type": "scene", "scene": office.id}]);
    assert_eq!(
        refused_at(automations.create("t", spec(other_groups)).await),
        "actions[0].scene"
    );
}

#[tokio::test]
async fn an_update_keeps_the_group_and_is_checked_again() {
    let store = registry_with_two_groups().await;
    let automations = Automations::new(store.store());
    let automation = automations.create("t", spec(example())).await.unwrap();
    let mut moved = example();
    moved["group"] = json!("work");
    assert_eq!(
        refused_at(automations.update("t", &automation.id, spec(moved)).await),
        "group"
    );
    let mut renamed = example();
    renamed["name"] = json!("Renamed");
    let updated = automations
        .update("t", &automation.id, spec(renamed))
        .await
        .unwrap();
    assert_eq!(updated.spec.name, "Renamed");
    assert_eq!(updated.created_by, "t");
    assert_eq!(automations.get(&automation.id).await.unwrap(), updated);
    automations.remove("t", &automation.id).await.unwrap();
    assert!(matches!(
        automations.get(&automation.id).await,
        Err(AutomationError::Store(StoreError::NotFound { .. }))
    ));
}

#[tokio::test]
async fn a_run_request_is_a_manual_timer_written_with_its_audit_entry() {
    use super::requests::{MANUAL_TIMER, RunRequest};
    let store = registry_with_two_groups().await;
    let automations = Automations::new(store.store());
    let automation = automations.create("t", spec(example())).await.unwrap();
    let seq = store.last_audit_seq().await.unwrap();
    let request = automations
        .request_run("cli:alice", &automation.id)
        .await
        .unwrap();
    assert!(request.run_id.starts_with("r-") && request.run_id.len() == 14);
    assert_eq!(request.by, "cli:alice");
    let timers = store.timers().await.unwrap();
    assert_eq!(timers.len(), 1);
    assert_eq!(timers[0].kind, MANUAL_TIMER);
    assert_eq!(timers[0].run_id, None, "the run has no record yet");
    assert_eq!(RunRequest::from_timer(&timers[0]), Some(request.clone()));
    let entries = store
        .audit(&hearth_store::AuditFilter {
            from_seq: Some(seq + 1),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].action, "automation.run_requested");
    assert_eq!(entries[0].detail["run"], json!(request.run_id));

    // The asker sees the run once the engine records it under the chosen id.
    assert_eq!(automations.requested_run(&request).await.unwrap(), None);
    let run = AutomationRun {
        id: request.run_id.clone(),
        automation_id: automation.id.clone(),
        started_at_ms: 1,
        finished_at_ms: None,
        status: "running".into(),
        trigger: json!({"type": "manual", "by": "cli:alice"}),
        trace: json!({}),
    };
    store.insert_run(&run).await.unwrap();
    assert_eq!(
        automations.requested_run(&request).await.unwrap(),
        Some(run)
    );

    // Another kind of timer is not a request.
    let mut delay = timers[0].clone();
    delay.kind = "delay".into();
    assert_eq!(RunRequest::from_timer(&delay), None);

    // A disabled automation is refused at `enabled`; a timer that cannot be stored
    // writes no audit entry either (one transaction).
    automations
        .set_enabled("t", &automation.id, false)
        .await
        .unwrap();
    assert_eq!(
        refused_at(automations.request_run("t", &automation.id).await),
        "enabled"
    );
    let seq = store.last_audit_seq().await.unwrap();
    let orphan = hearth_store::AutomationTimer {
        automation_id: "a-nothing".into(),
        ..timers[0].clone()
    };
    let entry = NewAuditEntry::new("t", "automation.run_requested", "a-nothing");
    assert!(matches!(
        store.put_timer_audited(&orphan, &entry).await,
        Err(StoreError::NotFound { .. })
    ));
    assert_eq!(store.last_audit_seq().await.unwrap(), seq);
    assert!(matches!(
        automations.request_run("t", "a-nothing").await,
        Err(AutomationError::Store(StoreError::NotFound { .. }))
    ));
}
