//! The device runtime against a real hub: login with a will, readings that reach the
//! store, commands answered through a handler chain, an offline period the hub notices.

use hearth_device::{Ack, Command, CommandHandler, DeviceClient, DeviceConfig, dispatch};
use hearth_model::{CommandStatus, MessageKind};
use hearth_store::{MessageQuery, TimeRange};
use hearth_testkit::{Backend, TestHub, devices::add_devices, ids};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

/// How long a test waits for the hub before it fails (not a measurement).
const DEADLINE: Duration = Duration::from_secs(30);

/// Answers `set` with the state it was given; leaves every other command to the next.
struct Switch;

#[async_trait::async_trait]
impl CommandHandler for Switch {
    async fn handle(&self, _device: &DeviceClient, command: &Command) -> Option<Ack> {
        (command.name == "set").then(|| {
            Ack::ok().with_state(json!({"on": command.param("on").cloned().unwrap_or(Value::Null)}))
        })
    }
}

async fn until<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    tokio::time::timeout(DEADLINE, async {
        while !check().await {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("gave up waiting for {what}"));
}

async fn online(hub: &TestHub, id: &str) -> bool {
    hub.store()
        .device(&ids::device(id))
        .await
        .expect("the device exists")
        .live
        .is_online
}

async fn command_ends(hub: &TestHub, name: &str, params: Value) -> hearth_model::Command {
    let sent = hub
        .commands()
        .send("test", &ids::device("rt1"), name, params, None)
        .await
        .expect("command accepted");
    tokio::time::timeout(DEADLINE, async {
        loop {
            let command = hub.commands().get(&sent.id).await.expect("command stored");
            if !matches!(command.status, CommandStatus::Pending | CommandStatus::Sent) {
                return command;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the command finished in time")
}

#[tokio::test]
async fn a_device_reports_answers_and_comes_back() {
    let hub = hearth_testkit::start_hub(Backend::Sqlite).await;
    let secrets = add_devices(&hub, &["rt1"]).await;
    let mut config = DeviceConfig::new(
        "127.0.0.1",
        hub.mqtt().port(),
        ids::device("rt1"),
        &secrets["rt1"],
    );
    config.heartbeat_secs = 1;
    config.backoff.initial = Duration::from_millis(50);
    let (device, commands) = DeviceClient::connect(config);
    tokio::time::timeout(DEADLINE, device.wait_connected())
        .await
        .expect("connected in time")
        .expect("connected");
    until("the device online", || online(&hub, "rt1")).await;

    device
        .publish_data(json!({"temperature": 21.5}))
        .await
        .expect("published");
    until("the reading in the store", || async {
        let live = hub
            .store()
            .device(&ids::device("rt1"))
            .await
            .expect("device")
            .live;
        live.last_report_data == Some(json!({"temperature": 21.5}))
    })
    .await;

    // A reading sent late keeps the time it was taken.
    let hour_ago = hearth_device::now_millis() - 3_600_000;
    device
        .publish_data_at(json!({"temperature": 18.25}), hour_ago)
        .await
        .expect("published");
    until("the late reading stored at its own time", || async {
        let query = MessageQuery {
            device: ids::device("rt1"),
            kind: Some(MessageKind::Data),
            range: TimeRange {
                from_ms: 0,
                to_ms: i64::MAX as _,
            },
            limit: 10,
        };
        let messages = hub.store().messages(&query).await.expect("messages");
        messages.iter().any(|message| {
            message.received_at_ms as u64 == hour_ago
                && String::from_utf8_lossy(&message.payload).contains("18.25")
        })
    })
    .await;
    assert_eq!(
        device.publish_data_at(json!(5), hour_ago).await,
        Err(hearth_device::DeviceError::NotAnObject)
    );

    tokio::spawn(dispatch(device.clone(), commands, vec![Arc::new(Switch)]));
    let command = command_ends(&hub, "set", json!({"on": true})).await;
    assert_eq!(command.status, CommandStatus::Acked);
    assert_eq!(command.reported_state, Some(json!({"on": true})));
    let command = command_ends(&hub, "reboot", json!({})).await;
    assert_eq!(command.status, CommandStatus::Failed);
    assert_eq!(command.result, Some(json!("unknown command reboot")));

    // Gone without a goodbye: the will makes it offline; then it logs in again.
    device.go_offline(Duration::from_millis(500));
    until("the device offline", || async {
        !online(&hub, "rt1").await
    })
    .await;
    until("the device online again", || online(&hub, "rt1")).await;
    tokio::time::timeout(DEADLINE, device.wait_connected())
        .await
        .expect("reconnected in time")
        .expect("reconnected");

    device.shutdown().await;
    assert_eq!(
        device.publish_data(json!({"temperature": 1})).await,
        Err(hearth_device::DeviceError::NotConnected)
    );
    until("the device offline after its goodbye", || async {
        !online(&hub, "rt1").await
    })
    .await;
    hub.shutdown().await;
}
