//! Several Hearth nodes, one broker: only the holder of the coordinator lease writes to
//! Mosquitto (docs/scale.md "The coordinator lease"). The other nodes are played by
//! leases taken in the same store.

use super::harness::*;
use hearth_model::{Millis, now_millis};
use hearth_services::dynsec::{BrokerKey, DynsecStatus, DynsecSync};
use hearth_services::lease::{COORDINATOR, Leadership};
use hearth_services::registry::DeviceSpec;
use hearth_testkit::ids;
use std::time::Duration;

const HOUR: Millis = 3_600_000;

async fn until(sync: &DynsecSync, what: &str, condition: impl Fn(&DynsecStatus) -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let status = sync.status();
        if condition(&status) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out: {what}: {status:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_coordinator_writes_to_the_broker() {
    let hub = Hub::start().await;
    let port = hub.mosquitto.port;
    let store = hub.store.store();
    let taken = store
        .acquire_lease(COORDINATOR, "other-node", now_millis(), HOUR)
        .await
        .unwrap();
    assert!(taken.is_some());
    let leadership = Leadership::start(
        store.clone(),
        COORDINATOR,
        "this-node".into(),
        Duration::from_secs(2),
    );
    let key = BrokerKey::load_or_create(&hub.key_path).unwrap();
    let sync = DynsecSync::start(
        hub.mosquitto.config(),
        key,
        store.clone(),
        leadership.clone(),
    )
    .unwrap();

    // Another node coordinates: this one connects to nothing and writes nothing.
    until(&sync, "standby", |status| status.standby).await;
    Client::connect(port, "d1", "d1", &hub.device_password("d1").await)
        .await
        .refused("d1 while nobody wrote it");
    let status = sync.status();
    assert!(
        !status.connected && status.synced_seq.is_none() && status.commands == 0,
        "{status:?}"
    );

    // The other node leaves: this one takes the lease and writes the registry.
    assert!(
        store
            .release_lease(COORDINATOR, "other-node")
            .await
            .unwrap()
    );
    hub.wait_synced(&sync).await;
    assert!(leadership.is_held());
    assert!(!sync.status().standby);
    let mut d1 = Client::connect(port, "d1", "d1", &hub.device_password("d1").await)
        .await
        .accepted("d1 once this node coordinates");
    assert!(d1.publish("devices/d1/data", "{}", false).await);

    // A third node takes the lease over: this one lets go of the broker.
    let stolen = store
        .acquire_lease(COORDINATOR, "third-node", now_millis() + 10 * HOUR, HOUR)
        .await
        .unwrap();
    assert!(stolen.is_some());
    until(&sync, "standby again", |status| {
        status.standby && !status.connected
    })
    .await;
    assert!(!leadership.is_held());
    let commands = sync.status().commands;
    hub.registry
        .add_device(
            "test",
            DeviceSpec {
                app: Some(ids::app("default")),
                ..DeviceSpec::new(ids::device("d5"))
            },
        )
        .await
        .unwrap();
    // Several of the sync's polls later, still nothing written by this node.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(sync.status().commands, commands);
    Client::connect(port, "d5", "d5", &hub.device_password("d5").await)
        .await
        .refused("d5 is the third node's to write");
    sync.shutdown().await;
    leadership.shutdown().await;
}
