//! With several Hearth nodes on one database, only the coordinator sends what is due in
//! the outbox (docs/scale.md "The coordinator lease"); each notification goes out once.
//! The other node is played by a lease taken in the same store.

use super::*;
use async_trait::async_trait;
use hearth_model::now_millis;
use hearth_services::lease::{COORDINATOR, Leadership};
use hearth_services::notify::Failure;

/// A channel that records what it was asked to deliver.
#[derive(Default)]
struct Recorder(parking_lot::Mutex<Vec<String>>);

#[async_trait]
impl Channel for Recorder {
    async fn deliver(&self, notification: &Notification) -> Result<String, Failure> {
        self.0.lock().push(notification.id.clone());
        Ok("recorded".into())
    }
}

fn channels(recorder: &Arc<Recorder>) -> Channels {
    let mut channels = Channels::new(HttpClient::default());
    channels.add("webhook", recorder.clone());
    channels
}

async fn only_the_coordinator_sends_the_outbox(backend: Backend) {
    let test_store = hearth_testkit::test_store(backend).await;
    let store = test_store.store();
    let home = seed(&store).await;
    let alert = open_alert(&store, &home, |alert| {
        (0..3)
            .map(|index| {
                notification(
                    alert,
                    &format!("n-{index}"),
                    "webhook",
                    json!({"url": "http://127.0.0.1:9/"}),
                )
            })
            .collect()
    })
    .await;

    // This node stands by: another holds the lease.
    let hour = 3_600_000;
    let taken = store
        .acquire_lease(COORDINATOR, "other-node", now_millis(), hour)
        .await
        .unwrap();
    assert!(taken.is_some());
    let standby = Leadership::start(
        store.clone(),
        COORDINATOR,
        "this-node".into(),
        Duration::from_secs(2),
    );
    let idle = Arc::new(Recorder::default());
    let waiting = Delivery::start_gated(
        store.clone(),
        channels(&idle),
        Arc::new(ManualClock::new(NOON)),
        standby.clone(),
    );
    waiting.wake();
    tokio::time::sleep(Duration::from_secs(2)).await; // two of its polls
    assert!(idle.0.lock().is_empty());
    let pending = store.notifications_of(&alert.id).await.unwrap();
    assert!(
        pending
            .iter()
            .all(|note| note.state == NotificationState::Pending),
        "{pending:?}"
    );

    // The coordinator (here a single hub's sender) sends each once.
    let sender = Arc::new(Recorder::default());
    let sending = Delivery::start(
        store.clone(),
        channels(&sender),
        Arc::new(ManualClock::new(NOON)),
    );
    sending.wake();
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let notes = store.notifications_of(&alert.id).await.unwrap();
        if notes
            .iter()
            .all(|note| note.state == NotificationState::Sent)
        {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{notes:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut sent = sender.0.lock().clone();
    sent.sort();
    assert_eq!(sent, ["n-0", "n-1", "n-2"]);
    assert!(idle.0.lock().is_empty());
    waiting.shutdown().await;
    sending.shutdown().await;
    standby.shutdown().await;
}

hearth_testkit::both_backends_hub!(only_the_coordinator_sends_the_outbox);
