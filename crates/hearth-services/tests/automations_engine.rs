//! The automation engine in a whole hub, with real MQTT devices and a manual clock:
//! the issue's example end to end, before and after 20:00.

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

/// 2024-01-01 (a Monday) at `hours:minutes` UTC (the hub's default offset).
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
    let (lamp, mut lamp_events) = client(port, "hall-lamp", &secrets["hall-lamp"]).await;
    lamp.subscribe("devices/hall-lamp/commands/#", QoS::AtLeastOnce)
        .await
        .unwrap();
    next(
        &mut lamp_events,
        |packet| matches!(packet, Packet::SubAck(_)),
        "SUBACK",
    )
    .await;
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
