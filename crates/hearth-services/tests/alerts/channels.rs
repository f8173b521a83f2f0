//! Where notifications go: the automations' notify action through the alerts' outbox,
//! and a named webhook kept to its groups.

use super::*;

/// An automation's notify action goes through the same outbox: a member with an e-mail
/// address gets an e-mail notification for a `major` message (the default
/// preferences), a viewer without one gets none.
async fn an_automations_notify_action_uses_the_channels(backend: Backend) {
    let clock = Arc::new(ManualClock::new(NOON));
    let hub = hearth_testkit::start_hub_with_clock(backend, |_| {}, clock).await;
    let registry = hub.registry();
    let alice = ids::user("alice");
    registry
        .add_user(
            "test",
            hearth_services::registry::NewUser {
                email: Some("alice@example.com".into()),
                ..hearth_services::registry::NewUser::new(alice.clone())
            },
        )
        .await
        .unwrap();
    registry
        .set_member(
            "test",
            &ids::group("home"),
            &alice,
            hearth_model::Role::Member,
        )
        .await
        .unwrap();
    let spec: hearth_model::AutomationSpec = serde_json::from_value(json!({
        "group": "home", "name": "Water leak",
        "triggers": [{"type": "manual"}],
        "actions": [{"type": "notify", "message": "Water under the sink", "severity": "major"}]}))
    .unwrap();
    let automation = hearth_services::automations::Automations::new(hub.store())
        .create("cli:test", spec)
        .await
        .unwrap();
    hub.engine().reload().await.unwrap();
    hub.engine()
        .run_now(&automation.id, "user:admin")
        .await
        .unwrap();
    let notes = tokio::time::timeout(DEADLINE, async {
        loop {
            let notes = hub
                .store()
                .group_notifications(&ids::group("home"), 10)
                .await
                .unwrap();
            if !notes.is_empty() {
                return notes;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("a notification in time");
    assert_eq!(notes.len(), 1, "{notes:#?}");
    assert_eq!(notes[0].channel, "email");
    assert_eq!(notes[0].event, "notify");
    assert_eq!(notes[0].target["to"], "alice@example.com");
    assert_eq!(notes[0].payload["message"], "Water under the sink");
    hub.shutdown().await;
}

hearth_testkit::both_backends_hub!(an_automations_notify_action_uses_the_channels);

/// A webhook defined in hearth.toml for some groups only: a rule of another group that
/// names it sends nothing there; a rule of its group does.
async fn a_named_webhook_serves_only_its_groups(backend: Backend) {
    let clock = Arc::new(ManualClock::new(NOON));
    let (port, mut received) = receiver(Vec::new()).await;
    let hub = hearth_testkit::start_hub_with_clock(
        backend,
        |config| {
            for (name, group) in [("theirs", "other"), ("ours", "home")] {
                config.alerts.webhooks.insert(
                    name.into(),
                    hearth_services::alerts::NamedWebhook {
                        url: format!("http://127.0.0.1:{port}/{name}"),
                        secret: SECRET.into(),
                        groups: vec![ids::group(group)],
                    },
                );
            }
        },
        clock,
    )
    .await;
    let secrets = add_devices(&hub, &["freezer"]).await;
    let document = |name: &str| {
        json!({"group": "home", "name": format!("Freezer to {name}"),
            "condition": {"type": "reading", "device": "freezer", "metric": "temperature", "gt": 60},
            "notify": [{"channel": "webhook", "name": name}]})
    };
    let theirs = rule(&hub, document("theirs")).await;
    rule(&hub, document("ours")).await;
    let mut freezer = TestDevice::connect(&hub, "freezer", &secrets["freezer"]).await;
    freezer.data(r#"{"temperature": 80}"#).await;
    let delivered = next(&mut received).await;
    assert_eq!(delivered.body["rule"]["name"], "Freezer to ours");
    let alerts = alerts_until(&hub, &theirs, |alerts| !alerts.is_empty()).await;
    assert!(
        settled(&hub, &alerts[0].id).await.is_empty(),
        "sent to another group's webhook"
    );
    hub.shutdown().await;
}

hearth_testkit::both_backends_hub!(a_named_webhook_serves_only_its_groups);
