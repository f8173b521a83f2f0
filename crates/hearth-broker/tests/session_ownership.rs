//! A session belongs to the principal that created it (SPEC §5): another principal
//! with the same client id neither takes over its live connection (CONNACK 0x85, the
//! owner untouched) nor resumes its stored session and reads what was queued for it,
//! also after a restart. Principals here come from `AllowAll` (one per user name), as
//! administrators, password-file users and anonymous clients share the free-form ids.

mod common;

use common::TestBroker;
use hearth_broker::persist::MemoryStore;
use hearth_bus::AllowAll;
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::{ConnectReturnCode, Packet};
use rumqttc::v5::{AsyncClient, ConnectionError, Event, EventLoop, MqttOptions};
use std::sync::Arc;
use std::time::Duration;

const DEADLINE: Duration = Duration::from_secs(10);

async fn start(store: &MemoryStore) -> TestBroker {
    TestBroker::start_with_store(Arc::new(AllowAll), store).await
}

/// Connects `user` as `client_id` with a session that outlives the connection.
async fn connect(
    broker: &TestBroker,
    client_id: &str,
    user: &str,
    clean_start: bool,
) -> Result<(AsyncClient, EventLoop, bool), ConnectReturnCode> {
    let mut options = MqttOptions::new(client_id, "127.0.0.1", broker.port());
    options.set_credentials(user, "x");
    options.set_keep_alive(Duration::from_secs(30));
    options.set_clean_start(clean_start);
    options.set_session_expiry_interval(Some(3_600));
    let (client, mut eventloop) = AsyncClient::new(options, 16);
    let connack = tokio::time::timeout(DEADLINE, async {
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(ack))) => return Ok(ack),
                Ok(_) => {}
                Err(ConnectionError::ConnectionRefused(code)) => return Err(code),
                Err(error) => panic!("{user} as {client_id}: {error:?}"),
            }
        }
    })
    .await
    .expect("CONNACK in time")?;
    Ok((client, eventloop, connack.session_present))
}

/// Polls until a PUBLISH arrives; its topic.
async fn next_topic(eventloop: &mut EventLoop) -> String {
    tokio::time::timeout(DEADLINE, async {
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::Publish(publish))) => {
                    return String::from_utf8_lossy(&publish.topic).into_owned();
                }
                Ok(_) => {}
                Err(error) => panic!("connection failed: {error:?}"),
            }
        }
    })
    .await
    .expect("a message in time")
}

/// Polls until the SUBACK (so that the subscription is in place).
async fn subscribed(eventloop: &mut EventLoop) {
    tokio::time::timeout(DEADLINE, async {
        loop {
            if let Ok(Event::Incoming(Packet::SubAck(_))) = eventloop.poll().await {
                return;
            }
        }
    })
    .await
    .expect("SUBACK in time");
}

async fn publish(broker: &TestBroker, topic: &str) {
    let (client, mut eventloop, _) = connect(broker, "publisher", "publisher", true)
        .await
        .expect("publisher connects");
    client
        .publish(topic, QoS::AtLeastOnce, false, "x")
        .await
        .unwrap();
    tokio::time::timeout(DEADLINE, async {
        loop {
            if let Ok(Event::Incoming(Packet::PubAck(_))) = eventloop.poll().await {
                return;
            }
        }
    })
    .await
    .expect("PUBACK in time");
}

#[tokio::test]
async fn another_principal_neither_takes_over_nor_resumes_a_session() {
    let store = MemoryStore::default();
    let broker = start(&store).await;
    let (alice, mut alice_loop, _) = connect(&broker, "shared", "alice", true)
        .await
        .expect("alice connects");
    alice.subscribe("t/#", QoS::AtLeastOnce).await.unwrap();
    subscribed(&mut alice_loop).await;

    // Live: bob is refused and alice keeps her connection.
    for clean_start in [true, false] {
        let refused = connect(&broker, "shared", "bob", clean_start).await;
        assert_eq!(
            refused.err(),
            Some(ConnectReturnCode::ClientIdentifierNotValid)
        );
    }
    publish(&broker, "t/live").await;
    assert_eq!(next_topic(&mut alice_loop).await, "t/live");

    // Offline, across a restart: what is queued for alice stays hers.
    alice.disconnect().await.unwrap();
    let _ =
        tokio::time::timeout(DEADLINE, async { while alice_loop.poll().await.is_ok() {} }).await;
    publish(&broker, "t/queued").await;
    broker.stop().await;
    let broker = start(&store).await;

    let (bob, mut bob_loop, session_present) = connect(&broker, "shared", "bob", false)
        .await
        .expect("bob gets a session of his own");
    assert!(!session_present, "bob was handed alice's stored session");
    // Anything alice's session owed would be resent before bob's own message returns.
    bob.subscribe("b", QoS::AtLeastOnce).await.unwrap();
    bob.publish("b", QoS::AtLeastOnce, false, "x")
        .await
        .unwrap();
    assert_eq!(next_topic(&mut bob_loop).await, "b");
    broker.stop().await;
}

#[tokio::test]
async fn the_owner_resumes_its_own_session_after_a_restart() {
    let store = MemoryStore::default();
    let broker = start(&store).await;
    let (alice, mut alice_loop, _) = connect(&broker, "mine", "alice", true)
        .await
        .expect("alice connects");
    alice.subscribe("t/#", QoS::AtLeastOnce).await.unwrap();
    subscribed(&mut alice_loop).await;
    alice.disconnect().await.unwrap();
    let _ =
        tokio::time::timeout(DEADLINE, async { while alice_loop.poll().await.is_ok() {} }).await;
    publish(&broker, "t/queued").await;
    broker.stop().await;
    let broker = start(&store).await;
    let (_alice, mut alice_loop, session_present) = connect(&broker, "mine", "alice", false)
        .await
        .expect("alice resumes");
    assert!(session_present);
    assert_eq!(next_topic(&mut alice_loop).await, "t/queued");
    broker.stop().await;
}
