//! Automations, scenes, runs and timers: round trips, audit entries in the change's
//! transaction, and what goes with an automation or a group.

use super::*;
use hearth_model::{Automation, AutomationSpec, Scene, SceneSpec};
use hearth_store::{AuditFilter, AutomationRun, AutomationTimer};
use serde_json::json;

both_backends!(
    automations_round_trip_with_their_audit_entries,
    scenes_round_trip_with_their_audit_entries,
    runs_and_timers_are_kept_and_go_with_their_automation,
    a_removed_group_takes_its_automations_and_scenes,
);

/// The example, in group `group`.
pub fn example(id: &str, group: &str) -> Automation {
    let spec: AutomationSpec = serde_json::from_value(json!({
        "group": group, "name": "Hall light on motion after dark",
        "triggers": [{"type": "reading", "device": "hall-motion", "metric": "motion", "eq": true}],
        "conditions": [{"type": "time", "after": "20:00", "before": "06:00"}],
        "actions": [{"type": "command", "device": "hall-lamp", "name": "switch", "params": {"on": true}}]
    }))
    .unwrap();
    Automation {
        id: id.into(),
        spec,
        created_by: "user:alice".into(),
        created_at_ms: 1_000,
        updated_at_ms: 1_000,
        failures_in_row: 0,
    }
}

fn scene(id: &str, group: &str, name: &str) -> Scene {
    let spec: SceneSpec = serde_json::from_value(json!({
        "group": group, "name": name,
        "targets": [{"device": "hall-lamp", "command": "switch", "params": {"on": false}}]
    }))
    .unwrap();
    Scene {
        id: id.into(),
        spec,
        created_by: "cli:root".into(),
        created_at_ms: 2_000,
        updated_at_ms: 2_000,
    }
}

async fn actions_since(store: &Arc<dyn Store>, seq: i64) -> Vec<(String, String)> {
    let mut entries = store.audit(&AuditFilter::default()).await.unwrap();
    entries.retain(|entry| entry.seq > seq);
    entries.reverse();
    entries
        .into_iter()
        .map(|entry| (entry.action, entry.target))
        .collect()
}

async fn automations_round_trip_with_their_audit_entries(store: Arc<dyn Store>) {
    seed(&store).await;
    let before = store.last_audit_seq().await.unwrap();
    let mut first = example("a-1", "home");
    store
        .insert_automation(&first, &audit("automation.add", "a-1"))
        .await
        .unwrap();
    assert_eq!(store.automation("a-1").await.unwrap(), first);
    assert_conflict(
        store
            .insert_automation(&first, &audit("automation.add", "a-1"))
            .await,
        "automation",
        "a-1",
    );
    assert_not_found(
        store
            .insert_automation(&example("a-2", "nowhere"), &audit("automation.add", "a-2"))
            .await,
        "group",
        "nowhere",
    );

    first.spec.name = "Renamed".into();
    first.updated_at_ms = 5_000;
    store
        .update_automation(&first, &audit("automation.update", "a-1"))
        .await
        .unwrap();
    store
        .set_automation_enabled("a-1", false, 6_000, &audit("automation.disable", "a-1"))
        .await
        .unwrap();
    first.spec.enabled = false;
    first.updated_at_ms = 6_000;
    assert_eq!(store.automation("a-1").await.unwrap(), first);

    let mut second = example("a-0", "home");
    second.spec.name = "Another".into();
    store
        .insert_automation(&second, &audit("automation.add", "a-0"))
        .await
        .unwrap();
    let listed = store.automations(Some(&gid("home"))).await.unwrap();
    assert_eq!(listed, vec![second.clone(), first.clone()], "by name");
    assert_eq!(store.automations(None).await.unwrap().len(), 2);
    assert_not_found(store.automations(Some(&gid("nope"))).await, "group", "nope");

    store
        .delete_automation("a-0", &audit("automation.remove", "a-0"))
        .await
        .unwrap();
    assert_not_found(store.automation("a-0").await, "automation", "a-0");
    assert_not_found(
        store
            .delete_automation("a-0", &audit("automation.remove", "a-0"))
            .await,
        "automation",
        "a-0",
    );
    assert_not_found(
        store
            .set_automation_enabled("zz", true, 1, &audit("automation.enable", "zz"))
            .await,
        "automation",
        "zz",
    );
    let expected: Vec<(String, String)> = [
        ("automation.add", "a-1"),
        ("automation.update", "a-1"),
        ("automation.disable", "a-1"),
        ("automation.add", "a-0"),
        ("automation.remove", "a-0"),
    ]
    .iter()
    .map(|(action, target)| (action.to_string(), target.to_string()))
    .collect();
    assert_eq!(
        actions_since(&store, before).await,
        expected,
        "one entry per change, none for a failed one"
    );
}

async fn scenes_round_trip_with_their_audit_entries(store: Arc<dyn Store>) {
    seed(&store).await;
    let before = store.last_audit_seq().await.unwrap();
    let mut relax = scene("s-1", "home", "relax");
    store
        .insert_scene(&relax, &audit("scene.add", "s-1"))
        .await
        .unwrap();
    assert_conflict(
        store.insert_scene(&relax, &audit("scene.add", "s-1")).await,
        "scene",
        "s-1",
    );
    relax.spec.targets[0].params = json!({"on": true, "level": 30});
    relax.updated_at_ms = 3_000;
    store
        .update_scene(&relax, &audit("scene.update", "s-1"))
        .await
        .unwrap();
    assert_eq!(store.scene("s-1").await.unwrap(), relax);
    let reading = scene("s-2", "home", "reading");
    store
        .insert_scene(&reading, &audit("scene.add", "s-2"))
        .await
        .unwrap();
    assert_eq!(
        store.scenes(Some(&gid("home"))).await.unwrap(),
        vec![reading, relax]
    );
    store
        .delete_scene("s-1", &audit("scene.remove", "s-1"))
        .await
        .unwrap();
    assert_not_found(store.scene("s-1").await, "scene", "s-1");
    assert_not_found(
        store
            .update_scene(&scene("s-9", "home", "x"), &audit("scene.update", "s-9"))
            .await,
        "scene",
        "s-9",
    );
    let actions: Vec<String> = actions_since(&store, before)
        .await
        .into_iter()
        .map(|(action, _)| action)
        .collect();
    assert_eq!(
        actions,
        ["scene.add", "scene.update", "scene.add", "scene.remove"]
    );
}

async fn runs_and_timers_are_kept_and_go_with_their_automation(store: Arc<dyn Store>) {
    seed(&store).await;
    store
        .insert_automation(&example("a-1", "home"), &audit("automation.add", "a-1"))
        .await
        .unwrap();
    for (id, started) in [("r-1", 10), ("r-2", 30), ("r-3", 20)] {
        store
            .insert_run(&AutomationRun {
                id: id.into(),
                automation_id: "a-1".into(),
                started_at_ms: started,
                finished_at_ms: None,
                status: "running".into(),
                trigger: json!({"device": "hall-motion", "motion": true}),
                trace: json!([]),
            })
            .await
            .unwrap();
    }
    let trace = json!([{"step": "actions[0]", "status": "acked", "ms": 12}]);
    store.finish_run("r-2", 40, "done", &trace).await.unwrap();
    assert_not_found(
        store.finish_run("r-9", 40, "done", &trace).await,
        "automation run",
        "r-9",
    );
    let runs = store.runs("a-1", 2).await.unwrap();
    let ids: Vec<&str> = runs.iter().map(|run| run.id.as_str()).collect();
    assert_eq!(ids, ["r-2", "r-3"], "newest first, limited");
    assert_eq!(runs[0].finished_at_ms, Some(40));
    assert_eq!(runs[0].status, "done");
    assert_eq!(runs[0].trace, trace);
    assert_eq!(runs[1].trigger["device"], "hall-motion");

    let mut delay = AutomationTimer {
        id: "t-1".into(),
        automation_id: "a-1".into(),
        run_id: Some("r-3".into()),
        kind: "delay".into(),
        due_at_ms: 500,
        state: json!({"action": 1}),
    };
    store.put_timer(&delay).await.unwrap();
    let hold = AutomationTimer {
        id: "t-0".into(),
        automation_id: "a-1".into(),
        run_id: None,
        kind: "for".into(),
        due_at_ms: 900,
        state: json!({"since_ms": 0}),
    };
    store.put_timer(&hold).await.unwrap();
    delay.due_at_ms = 1_000;
    store.put_timer(&delay).await.unwrap();
    assert_eq!(
        store.timers().await.unwrap(),
        vec![hold.clone(), delay.clone()],
        "replaced by id, soonest first"
    );
    assert_not_found(
        store
            .put_timer(&AutomationTimer {
                automation_id: "a-9".into(),
                ..hold.clone()
            })
            .await,
        "automation",
        "a-9",
    );
    store.delete_timer("t-0").await.unwrap();
    assert_not_found(store.delete_timer("t-0").await, "automation timer", "t-0");

    store
        .delete_automation("a-1", &audit("automation.remove", "a-1"))
        .await
        .unwrap();
    assert_eq!(store.runs("a-1", 10).await.unwrap(), vec![]);
    assert_eq!(store.timers().await.unwrap(), vec![]);
}

async fn a_removed_group_takes_its_automations_and_scenes(store: Arc<dyn Store>) {
    store
        .create_group(&group("work"), &audit("group.create", "work"))
        .await
        .unwrap();
    store
        .insert_automation(&example("a-1", "work"), &audit("automation.add", "a-1"))
        .await
        .unwrap();
    store
        .insert_scene(&scene("s-1", "work", "x"), &audit("scene.add", "s-1"))
        .await
        .unwrap();
    store
        .delete_group(&gid("work"), &audit("group.delete", "work"))
        .await
        .unwrap();
    assert_eq!(store.automations(None).await.unwrap(), vec![]);
    assert_eq!(store.scenes(None).await.unwrap(), vec![]);
}
