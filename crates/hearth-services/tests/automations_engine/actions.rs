//! The webhook action against a real HTTP receiver on loopback (a 500, then a retry
//! that succeeds), and `wait_for` met by a device's reading.

use super::*;

/// A loopback receiver whose requests' bodies are JSON.
async fn receiver(
    statuses: Vec<u16>,
) -> (u16, tokio::sync::mpsc::UnboundedReceiver<serde_json::Value>) {
    let (port, mut requests) = hearth_testkit::http::receiver(statuses).await;
    let (bodies, received) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(request) = requests.recv().await {
            let _ = bodies.send(serde_json::from_str(&request.text()).unwrap());
        }
    });
    (port, received)
}

async fn a_webhook_is_retried_after_a_500(backend: Backend) {
    let clock = Arc::new(ManualClock::new(at(12, 0)));
    let hub = hearth_testkit::start_hub_with_clock(backend, |_| {}, clock.clone()).await;
    let (port, mut received) = receiver(vec![500, 204]).await;
    let id = automation(
        &hub,
        &format!(
            r#"{{"group": "home", "name": "Tell the house server",
             "triggers": [{{"type": "manual"}}],
             "actions": [{{"type": "webhook", "url": "http://127.0.0.1:{port}/hook",
               "body": {{"door": "open"}}, "retries": 2, "timeout_secs": 5}}]}}"#
        ),
    )
    .await;
    hub.engine().run_now(&id, "user:admin").await.unwrap();
    let first = tokio::time::timeout(DEADLINE, received.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first["door"], "open");
    // The retry waits a second on the engine's clock, counted from when the 500 was
    // read: move the clock a second at a time until it goes.
    let second = tokio::time::timeout(DEADLINE, async {
        loop {
            clock.advance(Duration::from_secs(1));
            let polled = tokio::time::timeout(Duration::from_millis(100), received.recv());
            if let Ok(body) = polled.await {
                return body.unwrap();
            }
        }
    })
    .await
    .expect("the retry in time");
    assert_eq!(second, first);
    let runs = runs_until(&Automations::new(hub.store()), &id, 1).await;
    let action = &runs[0].trace["actions"][0];
    assert_eq!(runs[0].status, "done", "{:?}", runs[0]);
    assert_eq!(action["result"], "HTTP 204");
    assert_eq!(
        action["attempts"],
        serde_json::json!([{"status": 500}, {"status": 204}])
    );
    hub.shutdown().await;
}

hearth_testkit::both_backends_hub!(a_webhook_is_retried_after_a_500);

/// A run waits for the door to report closed, then switches the lamp; a second run
/// whose wait times out stops there (no second command).
async fn wait_for_a_reading(backend: Backend) {
    let clock = Arc::new(ManualClock::new(at(12, 0)));
    let hub = hearth_testkit::start_hub_with_clock(backend, |_| {}, clock.clone()).await;
    let secrets = add_devices(&hub, &["lamp", "door"]).await;
    let id = automation(
        &hub,
        r#"{"group": "home", "name": "Lamp when the door closes",
         "triggers": [{"type": "manual"}],
         "actions": [{"type": "wait_for", "timeout_secs": 60,
             "trigger": {"type": "reading", "device": "door", "metric": "open", "eq": false}},
           {"type": "command", "device": "lamp", "name": "switch", "params": {"on": true}}]}"#,
    )
    .await;
    let port = hub.mqtt().port();
    let (lamp, mut lamp_events) = lamp(port, &secrets["lamp"]).await;
    let (door, mut door_events) = client(port, "door", &secrets["door"]).await;
    let run_id = hub.engine().run_now(&id, "user:admin").await.unwrap();
    timers_until(&hub, |timers| {
        timers
            .iter()
            .any(|timer| timer.kind == "wait" && timer.run_id.as_deref() == Some(&run_id))
    })
    .await;
    send_data("door", &door, &mut door_events, r#"{"open": true}"#.into()).await;
    send_data("door", &door, &mut door_events, r#"{"open": false}"#.into()).await;
    let params = answer_command(&lamp, &mut lamp_events, true).await;
    assert_eq!(params["on"], true);
    let polling = keep_polling(lamp_events);
    let runs = runs_until(&Automations::new(hub.store()), &id, 1).await;
    assert_eq!(runs[0].status, "done", "{:?}", runs[0]);
    assert_eq!(runs[0].trace["actions"][0]["result"], "triggered");
    assert_eq!(runs[0].trace["actions"][0]["seen"]["value"], false);

    // Nobody closes the door this time: after 60 s the run stops, nothing is sent.
    let second = hub.engine().run_now(&id, "user:admin").await.unwrap();
    timers_until(&hub, |timers| {
        timers.iter().any(|timer| timer.kind == "wait")
    })
    .await;
    clock.advance(Duration::from_secs(61));
    let runs = runs_until(&Automations::new(hub.store()), &id, 2).await;
    // Both runs started at the same (manual) time: find the second by its id.
    let second = runs.iter().find(|run| run.id == second).unwrap();
    assert_eq!(second.status, "failed", "{second:?}");
    assert_eq!(second.trace["actions"][0]["result"], "timed out");
    let sent = hub
        .store()
        .commands(&ids::device("lamp"), 10)
        .await
        .unwrap();
    assert_eq!(sent.len(), 1, "{sent:?}");
    polling.abort();
    hub.shutdown().await;
}

hearth_testkit::both_backends_hub!(wait_for_a_reading);
