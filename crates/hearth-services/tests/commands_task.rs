//! The commands service's shape over real MQTT clients on SQLite and PostgreSQL: one
//! task with one set of deadlines (a command that may wait a week spawns nothing), store
//! failures counted and never announced, and a shutdown that stops the task.

mod protocol_hub;

use hearth_model::{CommandStatus, DeviceId};
use hearth_services::commands::CommandError;
use hearth_store::Store;
use hearth_testkit::Backend;
use protocol_hub::failing_store::FailingStore;
use protocol_hub::*;
use rumqttc::v5::Event;
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::Packet;
use std::sync::Arc;
use std::sync::atomic::Ordering;

fn device(id: &str) -> DeviceId {
    DeviceId::new(id).unwrap()
}

/// The longest TTL a command may have: a week.
const WEEK_SECS: u32 = 7 * 86_400;

async fn commands_waiting_for_days_hold_one_deadline_each_and_no_task(backend: Backend) {
    let hub = ProtocolHub::start(backend, 1).await;
    let runtime = tokio::runtime::Handle::current().metrics();
    let n_commands = 100;
    let tasks_before = runtime.num_alive_tasks();
    for _ in 0..n_commands {
        let command = hub
            .commands()
            .send(
                "user:alice",
                &device("d0"),
                "relay",
                serde_json::json!({}),
                Some(WEEK_SECS),
            )
            .await
            .unwrap();
        assert_eq!(command.status, CommandStatus::Pending, "d0 is offline");
    }
    let tasks_after = runtime.num_alive_tasks();
    assert!(
        tasks_after < tasks_before + n_commands / 2,
        "{} tasks for {n_commands} waiting commands",
        tasks_after.saturating_sub(tasks_before)
    );
    assert_eq!(hub.commands().armed_deadlines(), n_commands as u64);
}

/// A device that answers every command with QoS 0 (so that a refused answer is simply
/// lost, as over a flaky link) and reports `{"on": true}`.
async fn answering_device(hub: &ProtocolHub, id: &'static str) -> tokio::task::JoinHandle<()> {
    let (client, mut eventloop) = hub.client(Some(id), id).await;
    client
        .subscribe(format!("devices/{id}/commands/+"), QoS::AtLeastOnce)
        .await
        .unwrap();
    wait_for(&mut eventloop, |packet| matches!(packet, Packet::SubAck(_))).await;
    tokio::spawn(async move {
        while let Ok(event) = eventloop.poll().await {
            if let Event::Incoming(Packet::Publish(publish)) = event {
                let params: serde_json::Value =
                    serde_json::from_slice(&publish.payload).unwrap_or_default();
                let reply = serde_json::json!({"id": params["id"], "state": {"on": true}});
                let topic = format!("{}/ack", String::from_utf8_lossy(&publish.topic));
                let _ = client
                    .publish(topic, QoS::AtMostOnce, false, reply.to_string())
                    .await;
            }
        }
    })
}

// Assembled by hand (`ProtocolHub::start_on`): the hub opens its store from a URL, and
// this test needs a store that fails command writes on demand around it.
async fn a_status_the_store_refused_is_counted_and_never_announced(store: Arc<dyn Store>) {
    let failing = FailingStore::new(store);
    let hub = ProtocolHub::start_on(failing.clone(), 1).await;
    let (watcher, mut watcher_events) = hub.client(None, "watcher").await;
    watcher
        .subscribe("devices/d0/command-status", QoS::AtLeastOnce)
        .await
        .unwrap();
    wait_for(&mut watcher_events, |packet| {
        matches!(packet, Packet::SubAck(_))
    })
    .await;
    let _device = answering_device(&hub, "d0").await;
    assert!(eventually(|| async { hub.device("d0").await.live.is_online }).await);

    failing.fail_command_writes.store(true, Ordering::SeqCst);
    let command = hub
        .commands()
        .send(
            "user:alice",
            &device("d0"),
            "relay",
            serde_json::json!({"on": true}),
            None,
        )
        .await
        .unwrap();
    assert!(eventually(|| async { failing.refused.load(Ordering::SeqCst) >= 1 }).await);
    failing.fail_command_writes.store(false, Ordering::SeqCst);

    // Every announcement until the final one, in the order the hub published them.
    let mut announced = Vec::new();
    let last = loop {
        let Packet::Publish(publish) = wait_for(&mut watcher_events, |packet| {
            matches!(packet, Packet::Publish(_))
        })
        .await
        else {
            unreachable!()
        };
        let message: hearth_model::Command = serde_json::from_slice(&publish.payload).unwrap();
        assert_eq!(message.id, command.id);
        announced.push(message.status);
        if message.status.is_final() {
            break message;
        }
    };
    let committed: Vec<CommandStatus> = failing
        .committed
        .lock()
        .iter()
        .filter(|(id, _)| *id == command.id)
        .map(|(_, status)| *status)
        .collect();
    assert_eq!(announced, committed, "only what was stored is announced");
    assert_eq!(announced.last(), Some(&CommandStatus::Acked));
    // What MQTT carried is the command the API returns (`Commands::get` behind it).
    assert_eq!(hub.commands().get(&command.id).await.unwrap(), last);
    let counted = hub
        .commands()
        .counters()
        .store_failures
        .load(Ordering::Relaxed);
    assert_eq!(
        counted,
        failing.refused.load(Ordering::SeqCst),
        "every failure counted"
    );
}

async fn shutdown_stops_the_task(backend: Backend) {
    let hub = ProtocolHub::start(backend, 1).await;
    let waiting = hub
        .commands()
        .send(
            "user:alice",
            &device("d0"),
            "relay",
            serde_json::json!({}),
            None,
        )
        .await
        .unwrap();
    let other_handle = hub.commands().clone();
    hub.commands().shutdown().await;
    let error = other_handle
        .send(
            "user:alice",
            &device("d0"),
            "relay",
            serde_json::json!({}),
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(error, CommandError::Stopped);
    // What was open stays in the store for the next run.
    assert_eq!(
        hub.commands().get(&waiting.id).await.unwrap().status,
        CommandStatus::Pending
    );
    other_handle.shutdown().await;
}

hearth_testkit::both_backends_hub!(
    commands_waiting_for_days_hold_one_deadline_each_and_no_task,
    shutdown_stops_the_task,
);
hearth_testkit::both_backends!(a_status_the_store_refused_is_counted_and_never_announced);
