//! A node killed (SIGKILL) while devices publish: every reading Mosquitto acknowledged
//! to a device ends up stored. With Mosquitto 2, what a shared subscription gave the
//! killed node's session (in flight or queued while it is away) waits in that session
//! and is delivered when the node comes back with the same client id; it does not go
//! to the other node (docs/scale.md).

use crate::harness::*;
use rumqttc::v5::mqttbytes::v5::PubAckReason;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_killed_mid_stream_loses_nothing_mosquitto_acknowledged() {
    let broker = Mosquitto::start(&["ext-k"]).await;
    let (database, _guard) = hearth_testkit::database_url(hearth_testkit::Backend::Postgres);
    let store = prepare(&database, &["ext-k"]).await;
    let (first_dir, second_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    write_config(first_dir.path(), broker.addr, HEARTH_PASSWORD);
    write_config(second_dir.path(), broker.addr, HEARTH_PASSWORD);
    let first = serve(first_dir.path(), &database).await.unwrap();
    let second = serve(second_dir.path(), &database).await.unwrap();

    let mut device = Device::connect(broker.addr, "ext-k").await;
    let mut acknowledged = 0u64;
    let publish = async |device: &mut Device, n: u64| {
        let reason = device
            .publish("devices/ext-k/data", format!("{{\"n\":{n}}}"))
            .await;
        assert_eq!(reason, PubAckReason::Success);
    };
    // Mid-stream: the kill lands while readings are on their way to both nodes.
    for n in 0..150 {
        publish(&mut device, n).await;
        acknowledged += 1;
        if n == 100 {
            let killer = first.child.id().unwrap();
            std::process::Command::new("kill")
                .args(["-KILL", &killer.to_string()])
                .status()
                .unwrap();
        }
    }
    let _ = first.kill().await;
    // Some of the killed node's share waits in its session at Mosquitto.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut before_restart = stored_numbers(&store, "ext-k").await;
    before_restart.dedup();
    println!(
        "stored before the killed node is back: {} of {acknowledged}",
        before_restart.len()
    );
    // Mosquitto 2 goes on giving the killed node's session its turn: those readings
    // wait there, not at the other node.
    assert!(
        (before_restart.len() as u64) < acknowledged,
        "the killed node's share waits for it"
    );
    // The same data directory: the same node id, client id and session.
    let first = serve(first_dir.path(), &database).await.unwrap();
    eventually("every acknowledged reading is stored", || async {
        let mut numbers = stored_numbers(&store, "ext-k").await;
        numbers.dedup();
        numbers.len() as u64 == acknowledged
    })
    .await;
    let numbers = stored_numbers(&store, "ext-k").await;
    let mut distinct = numbers.clone();
    distinct.dedup();
    assert_eq!(distinct, (0..acknowledged).collect::<Vec<_>>());
    println!(
        "stored {} rows for {acknowledged} readings ({} stored twice: committed by the \
         killed node, not yet acknowledged to Mosquitto)",
        numbers.len(),
        numbers.len() - distinct.len()
    );
    first.kill().await;
    second.kill().await;
}
