//! Broker state across restarts: a second broker on the same store sees what the first
//! one acknowledged. (The SIGKILL test of the real binary and file lives in the hearth
//! crate.)

mod common;

use common::TestBroker;
use hearth_broker::persist::MemoryStore;
use hearth_bus::AllowAll;
use rumqttc::{AsyncClient, Event, EventLoop, MqttOptions, Packet, QoS};
use std::sync::Arc;
use std::time::Duration;

const DEADLINE: Duration = Duration::from_secs(10);

async fn start(store: &MemoryStore) -> TestBroker {
    TestBroker::start_with_store(Arc::new(AllowAll), store).await
}

fn client(broker: &TestBroker, id: &str, clean: bool) -> (AsyncClient, EventLoop) {
    let mut options = MqttOptions::new(id, "127.0.0.1", broker.port());
    options
        .set_keep_alive(Duration::from_secs(30))
        .set_clean_session(clean);
    AsyncClient::new(options, 256)
}

/// Polls until `n` packets matching `wanted` arrived; returns them.
async fn collect(
    eventloop: &mut EventLoop,
    n: usize,
    wanted: impl Fn(&Packet) -> bool,
) -> Vec<Packet> {
    let mut found = Vec::new();
    tokio::time::timeout(DEADLINE, async {
        while found.len() < n {
            match eventloop.poll().await {
                Ok(Event::Incoming(packet)) if wanted(&packet) => found.push(packet),
                Ok(_) => {}
                Err(error) => panic!("connection failed: {error}"),
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("only {} of {n} packets arrived", found.len()));
    found
}

fn payloads(packets: &[Packet]) -> Vec<String> {
    packets
        .iter()
        .filter_map(|packet| match packet {
            Packet::Publish(publish) => {
                Some(String::from_utf8_lossy(&publish.payload).into_owned())
            }
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn retained_messages_survive_a_restart_and_deletes_stick() {
    let store = MemoryStore::new();
    let broker = start(&store).await;
    let (publisher, mut eventloop) = client(&broker, "pub", true);
    publisher
        .publish("home/porch/light", QoS::AtLeastOnce, true, "on")
        .await
        .unwrap();
    publisher
        .publish("home/hall/light", QoS::AtLeastOnce, true, "off")
        .await
        .unwrap();
    publisher
        .publish("home/hall/light", QoS::AtLeastOnce, true, "")
        .await
        .unwrap();
    collect(&mut eventloop, 3, |p| matches!(p, Packet::PubAck(_))).await;
    broker.stop().await;

    let broker = start(&store).await;
    let (subscriber, mut eventloop) = client(&broker, "sub", true);
    subscriber
        .subscribe("home/#", QoS::AtLeastOnce)
        .await
        .unwrap();
    collect(&mut eventloop, 1, |p| matches!(p, Packet::SubAck(_))).await;
    // A marker published after the SUBACK arrives after every retained message.
    subscriber
        .publish("home/marker", QoS::AtLeastOnce, false, "marker")
        .await
        .unwrap();
    let received = collect(&mut eventloop, 2, |p| matches!(p, Packet::Publish(_))).await;
    assert_eq!(payloads(&received), vec!["on", "marker"]);
    let Packet::Publish(retained) = &received[0] else {
        unreachable!()
    };
    assert!(retained.retain);
    assert_eq!(retained.topic, "home/porch/light");
    broker.stop().await;
}

#[tokio::test]
async fn messages_for_an_offline_persistent_session_survive_a_restart() {
    let store = MemoryStore::new();
    let broker = start(&store).await;
    let (subscriber, mut sub_loop) = client(&broker, "fridge-display", false);
    subscriber
        .subscribe("kitchen/#", QoS::AtLeastOnce)
        .await
        .unwrap();
    collect(&mut sub_loop, 1, |p| matches!(p, Packet::SubAck(_))).await;
    subscriber.disconnect().await.unwrap();
    let _ = tokio::time::timeout(DEADLINE, async { while sub_loop.poll().await.is_ok() {} }).await;

    let (publisher, mut pub_loop) = client(&broker, "sensor", true);
    for n in 0..5 {
        publisher
            .publish("kitchen/temp", QoS::AtLeastOnce, false, format!("m{n}"))
            .await
            .unwrap();
    }
    collect(&mut pub_loop, 5, |p| matches!(p, Packet::PubAck(_))).await;
    // Every PUBACK came after the batch holding its message was committed.
    assert_eq!(
        store.counts().2,
        5,
        "5 queued messages are on the store once acknowledged"
    );
    broker.stop().await;

    let broker = start(&store).await;
    let (_subscriber, mut sub_loop) = client(&broker, "fridge-display", false);
    let connack = collect(&mut sub_loop, 1, |p| matches!(p, Packet::ConnAck(_))).await;
    let Packet::ConnAck(connack) = &connack[0] else {
        unreachable!()
    };
    assert!(
        connack.session_present,
        "the persistent session was restored"
    );
    let received = collect(&mut sub_loop, 5, |p| matches!(p, Packet::Publish(_))).await;
    assert_eq!(payloads(&received), vec!["m0", "m1", "m2", "m3", "m4"]);
    // Acknowledged by the subscriber (rumqttc acks automatically): the records go.
    assert!(common::eventually(DEADLINE, || async { store.counts().2 == 0 }).await);
    broker.stop().await;
}

#[tokio::test]
async fn subscriptions_of_a_persistent_session_survive_a_restart() {
    let store = MemoryStore::new();
    let broker = start(&store).await;
    let (subscriber, mut sub_loop) = client(&broker, "logger", false);
    subscriber
        .subscribe("garden/+/moisture", QoS::AtLeastOnce)
        .await
        .unwrap();
    collect(&mut sub_loop, 1, |p| matches!(p, Packet::SubAck(_))).await;
    broker.stop().await;

    let broker = start(&store).await;
    let (_subscriber, mut sub_loop) = client(&broker, "logger", false);
    collect(&mut sub_loop, 1, |p| matches!(p, Packet::ConnAck(_))).await;
    let (publisher, mut pub_loop) = client(&broker, "probe", true);
    publisher
        .publish("garden/bed1/moisture", QoS::AtLeastOnce, false, "41")
        .await
        .unwrap();
    collect(&mut pub_loop, 1, |p| matches!(p, Packet::PubAck(_))).await;
    // No SUBSCRIBE on this connection: the restored subscription delivers it.
    let received = collect(&mut sub_loop, 1, |p| matches!(p, Packet::Publish(_))).await;
    assert_eq!(payloads(&received), vec!["41"]);
    broker.stop().await;
}

#[tokio::test]
async fn clean_sessions_leave_nothing_on_the_store() {
    let store = MemoryStore::new();
    let broker = start(&store).await;
    let (subscriber, mut sub_loop) = client(&broker, "dashboard", true);
    subscriber.subscribe("a/#", QoS::AtLeastOnce).await.unwrap();
    collect(&mut sub_loop, 1, |p| matches!(p, Packet::SubAck(_))).await;
    subscriber
        .publish("a/b", QoS::AtLeastOnce, false, "x")
        .await
        .unwrap();
    collect(&mut sub_loop, 1, |p| matches!(p, Packet::Publish(_))).await;
    assert_eq!(store.counts(), (0, 0, 0));

    // A persistent session that reconnects with a clean session is deleted.
    let (persistent, mut loop_p) = client(&broker, "switcher", false);
    persistent.subscribe("b/#", QoS::AtLeastOnce).await.unwrap();
    collect(&mut loop_p, 1, |p| matches!(p, Packet::SubAck(_))).await;
    assert!(common::eventually(DEADLINE, || async { store.counts().1 == 1 }).await);
    persistent.disconnect().await.unwrap();
    let _ = tokio::time::timeout(DEADLINE, async { while loop_p.poll().await.is_ok() {} }).await;
    let (_again, mut loop_again) = client(&broker, "switcher", true);
    collect(&mut loop_again, 1, |p| matches!(p, Packet::ConnAck(_))).await;
    assert!(common::eventually(DEADLINE, || async { store.counts().1 == 0 }).await);
    broker.stop().await;
}

#[tokio::test]
async fn a_will_pending_when_the_broker_stops_is_published_after_the_restart() {
    let store = MemoryStore::new();
    let broker = start(&store).await;
    // Connected when the broker goes away: its will is due.
    let mut options = MqttOptions::new("sensor-7", "127.0.0.1", broker.port());
    options.set_last_will(rumqttc::LastWill::new(
        "devices/sensor-7/status",
        "offline",
        QoS::AtLeastOnce,
        true,
    ));
    let (_sensor, mut sensor_loop) = AsyncClient::new(options, 16);
    collect(&mut sensor_loop, 1, |p| matches!(p, Packet::ConnAck(_))).await;
    // Left properly before: its will is void.
    let mut options = MqttOptions::new("sensor-8", "127.0.0.1", broker.port());
    options.set_last_will(rumqttc::LastWill::new(
        "devices/sensor-8/status",
        "offline",
        QoS::AtLeastOnce,
        true,
    ));
    let (polite, mut polite_loop) = AsyncClient::new(options, 16);
    collect(&mut polite_loop, 1, |p| matches!(p, Packet::ConnAck(_))).await;
    polite.disconnect().await.unwrap();
    let _ = tokio::time::timeout(DEADLINE, async {
        while polite_loop.poll().await.is_ok() {}
    })
    .await;
    assert!(common::eventually(DEADLINE, || async { store.counts().1 == 1 }).await);
    broker.stop().await;

    let broker = start(&store).await;
    let (watcher, mut watcher_loop) = client(&broker, "watcher", true);
    watcher
        .subscribe("devices/#", QoS::AtLeastOnce)
        .await
        .unwrap();
    collect(&mut watcher_loop, 1, |p| matches!(p, Packet::SubAck(_))).await;
    watcher
        .publish("devices/marker", QoS::AtLeastOnce, false, "marker")
        .await
        .unwrap();
    let received = collect(&mut watcher_loop, 2, |p| matches!(p, Packet::Publish(_))).await;
    let Packet::Publish(will) = &received[0] else {
        unreachable!()
    };
    assert_eq!(will.topic, "devices/sensor-7/status");
    assert_eq!(&will.payload[..], b"offline");
    assert!(will.retain);
    assert_eq!(payloads(&received[1..]), vec!["marker"]);
    assert_eq!(
        store.counts().1,
        0,
        "the will's session record is gone once published"
    );
    broker.stop().await;
}
