//! The command log: insert, update through the statuses (and only from the status
//! expected), read back, list, open set.

use hearth_model::{Command, CommandStatus, DeviceId};
use hearth_store::{Store, StoreError};
use hearth_testkit::both_backends;
use serde_json::json;
use std::sync::Arc;

fn command(id: &str, device: &str, created_at_ms: i64) -> Command {
    Command {
        id: id.into(),
        device: DeviceId::new(device).unwrap(),
        name: "relay".into(),
        params: json!({"id": id, "on": true, "label": "客厅"}),
        issued_by: "user:alice".into(),
        status: CommandStatus::Pending,
        result: None,
        reported_state: None,
        created_at_ms,
        sent_at_ms: None,
        finished_at_ms: None,
        expires_at_ms: created_at_ms + 60_000,
        ack_timeout_ms: 10_000,
    }
}

async fn commands_round_trip_through_their_statuses(store: Arc<dyn Store>) {
    let mut first = command("c1", "lamp", 1_000);
    store.insert_command(&first).await.unwrap();
    assert_eq!(store.command("c1").await.unwrap(), first);
    assert!(matches!(
        store.insert_command(&first).await,
        Err(StoreError::Conflict { .. })
    ));
    first.status = CommandStatus::Sent;
    first.sent_at_ms = Some(1_500);
    store.update_command(&first).await.unwrap();
    first.status = CommandStatus::Acked;
    first.result = Some(json!({"took_ms": 12}));
    first.reported_state = Some(json!({"on": true}));
    first.finished_at_ms = Some(1_600);
    store.update_command(&first).await.unwrap();
    assert_eq!(store.command("c1").await.unwrap(), first);
    assert!(matches!(
        store.command("nope").await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        store.update_command(&command("nope", "lamp", 0)).await,
        Err(StoreError::NotFound { .. })
    ));
}

async fn listing_is_newest_first_and_open_commands_are_the_unfinished(store: Arc<dyn Store>) {
    for (id, device, at) in [
        ("a", "lamp", 1),
        ("b", "lamp", 3),
        ("c", "fan", 2),
        ("d", "lamp", 2),
    ] {
        store
            .insert_command(&command(id, device, at))
            .await
            .unwrap();
    }
    let mut done = command("d", "lamp", 2);
    done.status = CommandStatus::Timeout;
    done.finished_at_ms = Some(10);
    store.update_command(&done).await.unwrap();
    let lamp = DeviceId::new("lamp").unwrap();
    let ids: Vec<String> = store
        .commands(&lamp, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|command| command.id)
        .collect();
    assert_eq!(ids, ["b", "d", "a"]);
    assert_eq!(store.commands(&lamp, 1).await.unwrap().len(), 1);
    let open: Vec<String> = store
        .open_commands()
        .await
        .unwrap()
        .into_iter()
        .map(|command| command.id)
        .collect();
    assert_eq!(open, ["a", "c", "b"]);
}

/// The compare and set that keeps several Hearth nodes from overwriting each other's
/// outcomes: a write that expects a status the row no longer has changes nothing.
async fn a_command_is_updated_only_from_the_status_expected(store: Arc<dyn Store>) {
    let pending = command("c1", "lamp", 1_000);
    store.insert_command(&pending).await.unwrap();
    let mut sent = pending.clone();
    sent.status = CommandStatus::Sent;
    sent.sent_at_ms = Some(1_500);
    assert!(
        store
            .update_command_if(&sent, CommandStatus::Pending)
            .await
            .unwrap()
    );
    // Another node answered first: acked from sent.
    let mut acked = sent.clone();
    acked.status = CommandStatus::Acked;
    acked.reported_state = Some(json!({"on": true}));
    acked.finished_at_ms = Some(1_600);
    assert!(
        store
            .update_command_if(&acked, CommandStatus::Sent)
            .await
            .unwrap()
    );
    // This node's deadline saw it sent: its timeout loses, and the row is unchanged.
    let mut timeout = sent.clone();
    timeout.status = CommandStatus::Timeout;
    timeout.result = Some(json!({"reason": "no answer"}));
    timeout.finished_at_ms = Some(12_000);
    assert!(
        !store
            .update_command_if(&timeout, CommandStatus::Sent)
            .await
            .unwrap()
    );
    assert_eq!(store.command("c1").await.unwrap(), acked);
    // A second claim of a command already claimed loses too.
    assert!(
        !store
            .update_command_if(&sent, CommandStatus::Pending)
            .await
            .unwrap()
    );
    assert_eq!(store.command("c1").await.unwrap(), acked);
    // No such command: nothing to write.
    assert!(
        !store
            .update_command_if(&command("nope", "lamp", 0), CommandStatus::Pending)
            .await
            .unwrap()
    );
    // The expected status of another row does not matter.
    let other = command("c2", "lamp", 2_000);
    store.insert_command(&other).await.unwrap();
    let mut other_sent = other.clone();
    other_sent.status = CommandStatus::Sent;
    other_sent.sent_at_ms = Some(2_500);
    assert!(
        store
            .update_command_if(&other_sent, CommandStatus::Pending)
            .await
            .unwrap()
    );
    assert_eq!(store.command("c2").await.unwrap(), other_sent);
    assert_eq!(store.command("c1").await.unwrap(), acked);
}

both_backends!(
    a_command_is_updated_only_from_the_status_expected,
    commands_round_trip_through_their_statuses,
    listing_is_newest_first_and_open_commands_are_the_unfinished,
);
