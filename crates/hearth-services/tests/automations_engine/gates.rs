//! The two-person confirmation gate (seed 004's door lock): two confirmations in time
//! send the command; one expires and sends nothing; the same person twice counts once;
//! a refusal stops the run; and a chain of automations feeding each other is cut.

use super::*;
use hearth_model::{ConfirmationState, Role, UserName};
use hearth_services::automations::engine::AnswerFailure;

/// People in group `home` with `role`.
async fn person(hub: &hearth_testkit::TestHub, name: &str, role: Role) -> UserName {
    let user = ids::user(name);
    hub.registry()
        .add_user(
            "test",
            hearth_services::registry::NewUser::new(user.clone()),
        )
        .await
        .unwrap();
    hub.registry()
        .set_member("test", &ids::group("home"), &user, role)
        .await
        .unwrap();
    user
}

const FRONT_DOOR: &str = r#"{"group": "home", "name": "Open the front door",
     "triggers": [{"type": "manual"}],
     "actions": [{"type": "confirm", "people": 2, "within_secs": 35, "prompt": "Open the front door?"},
       {"type": "command", "device": "lamp", "name": "switch", "params": {"on": true}}]}"#;

/// Waits for the run's confirmation request to be stored and returns it.
async fn request_of(hub: &hearth_testkit::TestHub, run_id: &str) -> hearth_model::Confirmation {
    tokio::time::timeout(DEADLINE, async {
        loop {
            let requests = hub.store().confirmations(None, 0, 10).await.unwrap();
            if let Some(request) = requests.into_iter().find(|request| request.run == run_id) {
                return request;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("a confirmation request in time")
}

async fn two_confirmations_open_the_door(backend: Backend) {
    let clock = Arc::new(ManualClock::new(at(12, 0)));
    let hub = hearth_testkit::start_hub_with_clock(backend, |_| {}, clock.clone()).await;
    let secrets = add_devices(&hub, &["lamp"]).await;
    let alice = person(&hub, "alice", Role::Member).await;
    let bob = person(&hub, "bob", Role::Member).await;
    let vera = person(&hub, "vera", Role::Viewer).await;
    let id = automation(&hub, FRONT_DOOR).await;
    let (lamp, mut events) = lamp(hub.mqtt().port(), &secrets["lamp"]).await;
    let run_id = hub.engine().run_now(&id, "user:alice").await.unwrap();
    let request = request_of(&hub, &run_id).await;
    assert_eq!(request.state, ConfirmationState::Pending);
    assert_eq!(request.prompt, "Open the front door?");
    assert_eq!(request.expires_at_ms, at(12, 0) + 35_000);

    let engine = hub.engine();
    // A viewer is not asked; alice twice counts once; the door stays shut until bob.
    let refused = engine
        .answer(&request.id, &vera, Some(Role::Viewer), true)
        .await;
    assert!(
        matches!(refused, Err(AnswerFailure::Refused(_))),
        "{refused:?}"
    );
    let once = engine
        .answer(&request.id, &alice, Some(Role::Member), true)
        .await
        .unwrap();
    let twice = engine
        .answer(&request.id, &alice, Some(Role::Member), true)
        .await
        .unwrap();
    assert_eq!(once.confirmed_by().len(), 1);
    assert_eq!(twice.confirmed_by().len(), 1);
    assert_eq!(twice.state, ConfirmationState::Pending);
    clock.advance(Duration::from_secs(20));
    let done = engine
        .answer(&request.id, &bob, Some(Role::Member), true)
        .await
        .unwrap();
    assert_eq!(done.state, ConfirmationState::Confirmed);

    let params = answer_command(&lamp, &mut events, true).await;
    assert_eq!(params["on"], true);
    let polling = keep_polling(events);
    let runs = runs_until(&Automations::new(hub.store()), &id, 1).await;
    let run = &runs[0];
    assert_eq!(run.status, "done", "{run:?}");
    assert_eq!(run.trace["actions"][0]["result"], "confirmed");
    assert_eq!(
        run.trace["actions"][0]["confirmed_by"],
        serde_json::json!(["alice", "bob"])
    );
    assert_eq!(run.trace["actions"][1]["result"], "acked");
    // Every answer and the request are audited.
    let audit = hub
        .store()
        .audit(&hearth_store::AuditFilter {
            action_prefixes: vec!["confirmation.".into()],
            ..Default::default()
        })
        .await
        .unwrap();
    let mut actions: Vec<&str> = audit.iter().map(|entry| entry.action.as_str()).collect();
    actions.sort();
    assert_eq!(
        actions,
        [
            "confirmation.confirm",
            "confirmation.confirm",
            "confirmation.request"
        ]
    );
    polling.abort();
    hub.shutdown().await;
}

hearth_testkit::both_backends_hub!(two_confirmations_open_the_door);

/// One confirmation and then silence: after 35 seconds the request expires, the run
/// fails, and no command was sent; a late answer is refused.
async fn one_confirmation_expires(backend: Backend) {
    let clock = Arc::new(ManualClock::new(at(12, 0)));
    let hub = hearth_testkit::start_hub_with_clock(backend, |_| {}, clock.clone()).await;
    add_devices(&hub, &["lamp"]).await;
    let alice = person(&hub, "alice", Role::Member).await;
    let bob = person(&hub, "bob", Role::Member).await;
    let id = automation(&hub, FRONT_DOOR).await;
    let run_id = hub.engine().run_now(&id, "user:alice").await.unwrap();
    let request = request_of(&hub, &run_id).await;
    hub.engine()
        .answer(&request.id, &alice, Some(Role::Member), true)
        .await
        .unwrap();
    clock.advance(Duration::from_secs(35));
    let runs = runs_until(&Automations::new(hub.store()), &id, 1).await;
    assert_eq!(runs[0].status, "failed", "{:?}", runs[0]);
    assert_eq!(runs[0].trace["actions"][0]["result"], "expired");
    assert_eq!(runs[0].trace["actions"].as_array().unwrap().len(), 1);
    let stored = hub.store().confirmation(&request.id).await.unwrap();
    assert_eq!(stored.state, ConfirmationState::Expired);
    let late = hub
        .engine()
        .answer(&request.id, &bob, Some(Role::Member), true)
        .await;
    assert!(late.is_err(), "{late:?}");
    let sent = hub
        .store()
        .commands(&ids::device("lamp"), 10)
        .await
        .unwrap();
    assert!(sent.is_empty(), "{sent:?}");
    hub.shutdown().await;
}

hearth_testkit::both_backends_hub!(one_confirmation_expires);

/// An automation whose command's outcome triggers itself: each run is one deeper than
/// the last, and the chain stops at the configured depth with a `loop_stopped` run.
async fn a_loop_between_automations_is_cut(backend: Backend) {
    let clock = Arc::new(ManualClock::new(at(12, 0)));
    let hub = hearth_testkit::start_hub_with_clock(
        backend,
        |config| config.automations.max_chain_depth = 3,
        clock,
    )
    .await;
    let secrets = add_devices(&hub, &["lamp"]).await;
    let id = automation(
        &hub,
        r#"{"group": "home", "name": "Echo", "mode": "queued",
         "triggers": [{"type": "manual"},
           {"type": "command", "device": "lamp", "name": "switch", "status": "acked"}],
         "actions": [{"type": "command", "device": "lamp", "name": "switch", "params": {"on": true}}]}"#,
    )
    .await;
    let (lamp, mut events) = lamp(hub.mqtt().port(), &secrets["lamp"]).await;
    hub.engine().run_now(&id, "user:admin").await.unwrap();
    // The manual run and three more, each started by the previous one's acked command.
    for _ in 0..4 {
        acknowledge(&lamp, &mut events).await;
    }
    let polling = keep_polling(events);
    let runs = runs_until(&Automations::new(hub.store()), &id, 5).await;
    let stopped: Vec<_> = runs
        .iter()
        .filter(|run| run.status == "loop_stopped")
        .collect();
    assert_eq!(stopped.len(), 1, "{runs:#?}");
    assert_eq!(stopped[0].trigger["chain_depth"], 4);
    assert_eq!(runs.iter().filter(|run| run.status == "done").count(), 4);
    assert_eq!(
        hub.engine()
            .counters()
            .loops_stopped
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    polling.abort();
    hub.shutdown().await;
}

hearth_testkit::both_backends_hub!(a_loop_between_automations_is_cut);

/// Acknowledges the lamp's next `switch` command (its own acks, echoed back by its
/// `commands/#` subscription, are skipped).
async fn acknowledge(lamp: &AsyncClient, events: &mut EventLoop) {
    let command = next(
        events,
        |packet| {
            matches!(packet, Packet::Publish(publish)
                if &publish.topic[..] == b"devices/lamp/commands/switch")
        },
        "command",
    )
    .await;
    let Packet::Publish(command) = command else {
        unreachable!()
    };
    let params: serde_json::Value = serde_json::from_slice(&command.payload).unwrap();
    lamp.publish(
        "devices/lamp/commands/switch/ack",
        QoS::AtLeastOnce,
        false,
        serde_json::json!({"id": params["id"], "ok": true}).to_string(),
    )
    .await
    .unwrap();
}

/// A device id removed from the group and registered again in another group (by that
/// group's owner) neither triggers the first group's automation nor receives its
/// commands: the automation stops until someone edits it, and says why.
async fn a_reused_device_id_drives_nothing_across_groups(backend: Backend) {
    let clock = Arc::new(ManualClock::new(at(12, 0)));
    let hub = hearth_testkit::start_hub_with_clock(backend, |_| {}, clock).await;
    let secrets = add_devices(&hub, &["hall-motion", "lamp"]).await;
    let id = automation(
        &hub,
        r#"{"group": "home", "name": "Lamp on motion",
         "triggers": [{"type": "reading", "device": "hall-motion", "metric": "motion", "eq": true},
           {"type": "manual"}],
         "actions": [{"type": "command", "device": "lamp", "name": "switch", "params": {"on": true}}]}"#,
    )
    .await;
    let (lamp, lamp_events) = lamp(hub.mqtt().port(), &secrets["lamp"]).await;
    let registry = hub.registry();
    registry
        .remove_device("test", &ids::device("hall-motion"))
        .await
        .unwrap();
    registry
        .add_group("test", &ids::group("other"), None, None)
        .await
        .unwrap();
    registry
        .add_app(
            "test",
            &ids::app("theirs"),
            &ids::group("other"),
            None,
            None,
        )
        .await
        .unwrap();
    let (_, secret) = registry
        .add_device(
            "test",
            DeviceSpec {
                app: Some(ids::app("theirs")),
                ..DeviceSpec::new(ids::device("hall-motion"))
            },
        )
        .await
        .unwrap();
    hub.authorizer().refresh(hub.bus().as_ref()).await.unwrap();
    hub.engine().reload().await.unwrap();
    let (motion, mut motion_events) = client(hub.mqtt().port(), "hall-motion", &secret).await;
    send_data(
        "hall-motion",
        &motion,
        &mut motion_events,
        r#"{"motion": true}"#.into(),
    )
    .await;
    // A manual run is refused and recorded with the reason; the reading above ran
    // nothing, and the lamp (still subscribed) was sent nothing.
    let run_id = hub.engine().run_now(&id, "user:admin").await.unwrap();
    let runs = runs_until(&Automations::new(hub.store()), &id, 1).await;
    assert_eq!(
        runs.len(),
        1,
        "the reading from the other group ran it: {runs:#?}"
    );
    assert_eq!(runs[0].id, run_id);
    assert_eq!(runs[0].status, "failed");
    let reason = runs[0].trace["reason"].as_str().unwrap();
    assert!(reason.contains("hall-motion"), "{reason}");
    let sent = hub
        .store()
        .commands(&ids::device("lamp"), 10)
        .await
        .unwrap();
    assert!(sent.is_empty(), "{sent:?}");
    drop((lamp, lamp_events));
    hub.shutdown().await;
}

hearth_testkit::both_backends_hub!(a_reused_device_id_drives_nothing_across_groups);
