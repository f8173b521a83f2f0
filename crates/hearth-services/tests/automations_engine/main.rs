//! The automation engine in a whole hub, with real MQTT devices and a manual clock:
//! the issue's example end to end, before and after 20:00; hysteresis; `for`; a failing
//! command's `on_failure`; a delay across a restart of the hub.

use hearth_model::{AutomationSpec, Millis};
use hearth_services::automations::Automations;
use hearth_services::automations::engine::ManualClock;
use hearth_services::registry::DeviceSpec;
use hearth_testkit::{Backend, ids};
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::Packet;
use rumqttc::v5::{AsyncClient, Event, EventLoop, MqttOptions};
use std::sync::Arc;
use std::time::Duration;

const DEADLINE: Duration = Duration::from_secs(30);

/// 2024-01-01 (a Monday) at `hours:minutes` UTC (the test hub's time zone).
fn at(hours: i64, minutes: i64) -> Millis {
    1_704_067_200_000 + (hours * 60 + minutes) * 60_000
}

async fn client(port: u16, device: &str, secret: &str) -> (AsyncClient, EventLoop) {
    let mut options = MqttOptions::new(device, "127.0.0.1", port);
    options.set_credentials(device, secret);
    let (client, mut eventloop) = AsyncClient::new(options, 64);
    next(
        &mut eventloop,
        |packet| matches!(packet, Packet::ConnAck(_)),
        "CONNACK",
    )
    .await;
    (client, eventloop)
}

async fn next(eventloop: &mut EventLoop, wanted: impl Fn(&Packet) -> bool, what: &str) -> Packet {
    tokio::time::timeout(DEADLINE, async {
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(packet)) if wanted(&packet) => return packet,
                Ok(_) => {}
                Err(error) => panic!("client failed: {error:?}"),
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no {what} in time"))
}

async fn runs_until(
    automations: &Automations,
    id: &str,
    n: usize,
) -> Vec<hearth_store::AutomationRun> {
    tokio::time::timeout(DEADLINE, async {
        loop {
            let runs = automations.runs(id, 50).await.unwrap();
            if runs.len() >= n && runs.iter().all(|run| run.finished_at_ms.is_some()) {
                return runs;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("runs recorded in time")
}

async fn hall_light_after_dark(backend: Backend) {
    let clock = Arc::new(ManualClock::new(at(19, 30)));
    let hub = hearth_testkit::start_hub_with_clock(backend, |_| {}, clock.clone()).await;
    let secrets: std::collections::HashMap<String, String> = hub
        .registry()
        .add_devices(
            "test",
            vec![
                DeviceSpec::new(ids::device("hall-motion")),
                DeviceSpec::new(ids::device("hall-lamp")),
            ],
            &|_| {},
        )
        .await
        .unwrap()
        .into_iter()
        .map(|(id, secret)| (id.to_string(), secret))
        .collect();
    hub.authorizer().refresh(hub.bus().as_ref()).await.unwrap();
    let automations = Automations::new(hub.store());
    let spec: AutomationSpec = serde_json::from_str(
        r#"{"group": "home", "name": "Hall light on motion after dark",
         "triggers": [{"type": "reading", "device": "hall-motion", "metric": "motion", "eq": true}],
         "conditions": [{"type": "time", "after": "20:00", "before": "06:00"}],
         "actions": [{"type": "command", "device": "hall-lamp", "name": "switch", "params": {"on": true}}]}"#,
    )
    .unwrap();
    let automation = automations.create("cli:test", spec).await.unwrap();
    hub.engine().reload().await.unwrap();

    let port = hub.mqtt().port();
    let (lamp, mut lamp_events) = lamp_named(port, "hall-lamp", &secrets["hall-lamp"]).await;
    let (motion, mut motion_events) = client(port, "hall-motion", &secrets["hall-motion"]).await;
    let publish = |payload: &'static str| {
        let motion = motion.clone();
        async move {
            motion
                .publish("devices/hall-motion/data", QoS::AtLeastOnce, false, payload)
                .await
                .unwrap();
        }
    };

    // 19:30: the condition stops it, and the run says what time it saw.
    publish(r#"{"motion": true}"#).await;
    next(
        &mut motion_events,
        |packet| matches!(packet, Packet::PubAck(_)),
        "PUBACK",
    )
    .await;
    let runs = runs_until(&automations, &automation.id, 1).await;
    assert_eq!(runs[0].status, "skipped");
    assert_eq!(runs[0].trigger["metric"], "motion");
    assert_eq!(runs[0].trace["conditions"][0]["seen"], "19:30");
    assert_eq!(runs[0].trace["conditions"][0]["passed"], false);

    // Motion ends, then comes back after dark: the lamp is switched on and acks.
    publish(r#"{"motion": false}"#).await;
    next(
        &mut motion_events,
        |packet| matches!(packet, Packet::PubAck(_)),
        "PUBACK",
    )
    .await;
    clock.set(at(21, 5));
    publish(r#"{"motion": true}"#).await;
    // rumqttc sends only while its event loop is polled.
    next(
        &mut motion_events,
        |packet| matches!(packet, Packet::PubAck(_)),
        "PUBACK",
    )
    .await;
    let command = next(
        &mut lamp_events,
        |packet| matches!(packet, Packet::Publish(_)),
        "command",
    )
    .await;
    let Packet::Publish(command) = command else {
        unreachable!()
    };
    assert_eq!(&command.topic[..], b"devices/hall-lamp/commands/switch");
    let params: serde_json::Value = serde_json::from_slice(&command.payload).unwrap();
    assert_eq!(params["on"], true);
    let answer = serde_json::json!({"id": params["id"], "ok": true, "state": {"on": true}});
    lamp.publish(
        "devices/hall-lamp/commands/switch/ack",
        QoS::AtLeastOnce,
        false,
        answer.to_string(),
    )
    .await
    .unwrap();
    let lamp_poll = tokio::spawn(async move {
        loop {
            if lamp_events.poll().await.is_err() {
                return;
            }
        }
    });
    let motion_poll = tokio::spawn(async move {
        loop {
            if motion_events.poll().await.is_err() {
                return;
            }
        }
    });
    let runs = runs_until(&automations, &automation.id, 2).await;
    let run = &runs[0];
    assert_eq!(run.status, "done", "{run:?}");
    assert_eq!(run.trigger["value"], true);
    assert_eq!(run.trace["conditions"][0]["seen"], "21:05");
    assert_eq!(run.trace["actions"][0]["type"], "command");
    assert_eq!(run.trace["actions"][0]["result"], "acked");
    lamp_poll.abort();
    motion_poll.abort();
    hub.shutdown().await;
}

hearth_testkit::both_backends_hub!(hall_light_after_dark);

/// Adds `devices` to group `test` and returns their MQTT secrets by id.
async fn add_devices(
    hub: &hearth_testkit::TestHub,
    devices: &[&str],
) -> std::collections::HashMap<String, String> {
    let specs = devices
        .iter()
        .map(|id| DeviceSpec::new(ids::device(id)))
        .collect();
    let secrets = hub
        .registry()
        .add_devices("test", specs, &|_| {})
        .await
        .unwrap()
        .into_iter()
        .map(|(id, secret)| (id.to_string(), secret))
        .collect();
    hub.authorizer().refresh(hub.bus().as_ref()).await.unwrap();
    secrets
}

/// Creates the automation of `document` and has the engine load it.
async fn automation(hub: &hearth_testkit::TestHub, document: &str) -> String {
    let spec: AutomationSpec = serde_json::from_str(document).unwrap();
    let automation = Automations::new(hub.store())
        .create("cli:test", spec)
        .await
        .unwrap();
    hub.engine().reload().await.unwrap();
    automation.id
}

/// Publishes `payload` on the device's data topic and waits for the broker's PUBACK.
async fn send_data(device: &str, client: &AsyncClient, events: &mut EventLoop, payload: String) {
    client
        .publish(
            format!("devices/{device}/data"),
            QoS::AtLeastOnce,
            false,
            payload,
        )
        .await
        .unwrap();
    next(
        events,
        |packet| matches!(packet, Packet::PubAck(_)),
        "PUBACK",
    )
    .await;
}

/// A lamp that subscribes to its commands (and has its SUBACK).
async fn lamp(port: u16, secret: &str) -> (AsyncClient, EventLoop) {
    lamp_named(port, "lamp", secret).await
}

/// A device `id` that subscribes to its commands (and has its SUBACK).
async fn lamp_named(port: u16, id: &str, secret: &str) -> (AsyncClient, EventLoop) {
    let (lamp, mut events) = client(port, id, secret).await;
    lamp.subscribe(format!("devices/{id}/commands/#"), QoS::AtLeastOnce)
        .await
        .unwrap();
    next(
        &mut events,
        |packet| matches!(packet, Packet::SubAck(_)),
        "SUBACK",
    )
    .await;
    (lamp, events)
}

/// Waits for the lamp's next command and answers it with `ok`; returns its params.
async fn answer_command(lamp: &AsyncClient, events: &mut EventLoop, ok: bool) -> serde_json::Value {
    let Packet::Publish(command) = next(
        events,
        |packet| matches!(packet, Packet::Publish(_)),
        "command",
    )
    .await
    else {
        unreachable!()
    };
    assert_eq!(&command.topic[..], b"devices/lamp/commands/switch");
    let params: serde_json::Value = serde_json::from_slice(&command.payload).unwrap();
    let answer = serde_json::json!({"id": params["id"], "ok": ok, "error": "jammed"});
    lamp.publish(
        "devices/lamp/commands/switch/ack",
        QoS::AtLeastOnce,
        false,
        answer.to_string(),
    )
    .await
    .unwrap();
    params
}

/// Keeps polling a client's event loop (so that it sends and answers pings).
fn keep_polling(mut events: EventLoop) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move { while events.poll().await.is_ok() {} })
}

/// Waits until the stored timers satisfy `wanted`.
async fn timers_until(
    hub: &hearth_testkit::TestHub,
    wanted: impl Fn(&[hearth_store::AutomationTimer]) -> bool,
) {
    tokio::time::timeout(DEADLINE, async {
        while !wanted(&hub.store().timers().await.unwrap()) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the timers stored in time");
}

/// `gt: 30, hysteresis: 1`: 30.5 fires; 29.8 does not re-arm it (not below 29), so 30.6
/// does not fire; 28.9 re-arms it and 30.5 fires again.
async fn hysteresis_fires_once_per_crossing(backend: Backend) {
    let clock = Arc::new(ManualClock::new(at(12, 0)));
    let hub = hearth_testkit::start_hub_with_clock(backend, |_| {}, clock).await;
    let secrets = add_devices(&hub, &["t1"]).await;
    let id = automation(
        &hub,
        r#"{"group": "home", "name": "Hot",
         "triggers": [{"type": "reading", "device": "t1", "metric": "temperature", "gt": 30, "hysteresis": 1}],
         "actions": [{"type": "notify", "message": "hot"}]}"#,
    )
    .await;
    let automations = Automations::new(hub.store());
    let (t1, mut events) = client(hub.mqtt().port(), "t1", &secrets["t1"]).await;

    send_data("t1", &t1, &mut events, r#"{"temperature": 30.5}"#.into()).await;
    let runs = runs_until(&automations, &id, 1).await;
    assert_eq!(runs[0].status, "done", "{:?}", runs[0]);
    assert_eq!(runs[0].trigger["value"], 30.5);

    for value in [29.8, 30.6, 28.9, 30.5] {
        send_data(
            "t1",
            &t1,
            &mut events,
            format!(r#"{{"temperature": {value}}}"#),
        )
        .await;
    }
    // The engine handles one device's reports in order: a run for 30.6 would have started
    // before the one for the last 30.5.
    let runs = runs_until(&automations, &id, 2).await;
    let values: Vec<&serde_json::Value> = runs.iter().map(|run| &run.trigger["value"]).collect();
    assert_eq!(values, [30.5, 30.5], "{runs:?}");
    assert!(runs.iter().all(|run| run.status == "done"), "{runs:?}");
    hub.shutdown().await;
}

hearth_testkit::both_backends_hub!(hysteresis_fires_once_per_crossing);

/// `for: 60`: a value that leaves after 30 s starts nothing, even once the clock passes
/// its deadline; one that holds 60 s starts one run, counted from when it began.
async fn for_fires_only_when_the_value_holds(backend: Backend) {
    let start = at(12, 0);
    let clock = Arc::new(ManualClock::new(start));
    let hub = hearth_testkit::start_hub_with_clock(backend, |_| {}, clock.clone()).await;
    let secrets = add_devices(&hub, &["t1"]).await;
    let id = automation(
        &hub,
        r#"{"group": "home", "name": "Hot for a minute",
         "triggers": [{"type": "reading", "device": "t1", "metric": "temperature", "gt": 30, "for": 60}],
         "actions": [{"type": "notify", "message": "hot for a minute"}]}"#,
    )
    .await;
    let automations = Automations::new(hub.store());
    let (t1, mut events) = client(hub.mqtt().port(), "t1", &secrets["t1"]).await;
    let holding =
        |timers: &[hearth_store::AutomationTimer]| timers.iter().any(|timer| timer.kind == "for");

    // Holds 30 s, then leaves: the stored `for` is dropped.
    send_data("t1", &t1, &mut events, r#"{"temperature": 31}"#.into()).await;
    timers_until(&hub, holding).await;
    clock.advance(Duration::from_secs(30));
    send_data("t1", &t1, &mut events, r#"{"temperature": 29}"#.into()).await;
    timers_until(&hub, |timers| !holding(timers)).await;
    // Past the first deadline (start + 60 s).
    clock.advance(Duration::from_secs(60));

    // Holds from start + 90 s for 60 s: one run.
    send_data("t1", &t1, &mut events, r#"{"temperature": 32}"#.into()).await;
    timers_until(&hub, holding).await;
    clock.advance(Duration::from_secs(60));
    let runs = runs_until(&automations, &id, 1).await;
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0].status, "done", "{:?}", runs[0]);
    assert_eq!(runs[0].trigger["held_since_ms"], start + 90_000);
    assert_eq!(runs[0].trigger["at_ms"], start + 150_000);
    timers_until(&hub, |timers| !holding(timers)).await;
    hub.shutdown().await;
}

hearth_testkit::both_backends_hub!(for_fires_only_when_the_value_holds);

/// The lamp answers `{"ok": false}`: the run takes `on_failure` (a notification) and is
/// `failed`.
async fn a_failed_command_runs_on_failure(backend: Backend) {
    let clock = Arc::new(ManualClock::new(at(12, 0)));
    let hub = hearth_testkit::start_hub_with_clock(backend, |_| {}, clock).await;
    let secrets = add_devices(&hub, &["lamp"]).await;
    let id = automation(
        &hub,
        r#"{"group": "home", "name": "Lamp on",
         "triggers": [{"type": "manual"}],
         "actions": [
           {"type": "command", "device": "lamp", "name": "switch", "params": {"on": true},
            "on_failure": [{"type": "notify", "message": "the lamp did not switch"}]},
           {"type": "notify", "message": "not reached"}]}"#,
    )
    .await;
    let (lamp, mut events) = lamp(hub.mqtt().port(), &secrets["lamp"]).await;
    let run_id = hub.engine().run_now(&id, "user:admin").await.unwrap();
    let params = answer_command(&lamp, &mut events, false).await;
    assert_eq!(params["on"], true);
    let polling = keep_polling(events);

    let runs = runs_until(&Automations::new(hub.store()), &id, 1).await;
    let run = &runs[0];
    assert_eq!(run.id, run_id);
    assert_eq!(run.status, "failed", "{run:?}");
    assert_eq!(run.trigger["type"], "manual");
    let actions = run.trace["actions"].as_array().unwrap();
    assert_eq!(
        actions.len(),
        1,
        "the run stops at the failed command: {run:?}"
    );
    assert_eq!(actions[0]["result"], "failed");
    assert_eq!(actions[0]["on_failure"][0]["type"], "notify");
    assert_eq!(
        actions[0]["on_failure"][0]["message"],
        "the lamp did not switch"
    );
    assert_eq!(actions[0]["on_failure"][0]["result"], "published");
    polling.abort();
    hub.shutdown().await;
}

hearth_testkit::both_backends_hub!(a_failed_command_runs_on_failure);

/// A run waits in a 5-minute delay; the hub restarts on the same database; once the
/// clock passes the delay's end, the command after it is sent exactly once.
async fn a_delay_resumes_after_a_restart(backend: Backend) {
    let start = at(12, 0);
    let clock = Arc::new(ManualClock::new(start));
    let mut hub = hearth_testkit::start_hub_with_clock(backend, |_| {}, clock.clone()).await;
    let secrets = add_devices(&hub, &["lamp"]).await;
    let id = automation(
        &hub,
        r#"{"group": "home", "name": "Lamp on later",
         "triggers": [{"type": "manual"}],
         "actions": [{"type": "delay", "seconds": 300},
           {"type": "command", "device": "lamp", "name": "switch", "params": {"on": true}}]}"#,
    )
    .await;
    let run_id = hub.engine().run_now(&id, "user:admin").await.unwrap();
    timers_until(&hub, |timers| {
        timers
            .iter()
            .any(|timer| timer.kind == "delay" && timer.run_id.as_deref() == Some(&run_id))
    })
    .await;

    hub.restart().await;
    let (lamp, mut events) = lamp(hub.mqtt().port(), &secrets["lamp"]).await;
    clock.advance(Duration::from_secs(301));
    let params = answer_command(&lamp, &mut events, true).await;
    assert_eq!(params["on"], true);
    let polling = keep_polling(events);

    let runs = runs_until(&Automations::new(hub.store()), &id, 1).await;
    assert_eq!(runs.len(), 1, "{runs:?}");
    let run = &runs[0];
    assert_eq!(run.id, run_id);
    assert_eq!(run.status, "done", "{run:?}");
    assert_eq!(run.trace["actions"][0]["type"], "delay");
    assert_eq!(run.trace["actions"][1]["result"], "acked", "{run:?}");
    let sent = hub
        .store()
        .commands(&ids::device("lamp"), 10)
        .await
        .unwrap();
    assert_eq!(sent.len(), 1, "{sent:?}");
    timers_until(&hub, |timers| timers.is_empty()).await;
    polling.abort();
    hub.shutdown().await;
}

hearth_testkit::both_backends_hub!(a_delay_resumes_after_a_restart);

mod actions;
mod gates;
mod schedules;
