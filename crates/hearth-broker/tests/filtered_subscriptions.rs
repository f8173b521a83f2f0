//! Subscriptions the authorizer grants as filtered (`SubscribeVerdict::Filtered`): each
//! delivery asks `Authorizer::may_receive` for the subscriber first, live messages,
//! retained ones at subscribe time, shared groups and sessions restored after a restart
//! alike; unfiltered subscriptions never ask. The authorizer here knows no devices: a
//! principal (one per user name) may receive `own/{its name}/...` only.

mod common;

use async_trait::async_trait;
use common::TestBroker;
use hearth_broker::BrokerConfig;
use hearth_broker::persist::MemoryStore;
use hearth_bus::{
    Action, AllowAll, AuthError, Authorizer, ConnectRequest, Principal, SubscribeVerdict,
};
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::{Packet, SubscribeReasonCode};
use rumqttc::v5::{AsyncClient, Event, MqttOptions};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::mpsc;

const DEADLINE: Duration = Duration::from_secs(10);

/// Filters under `own/` are granted filtered; everything else is allowed outright.
#[derive(Default)]
struct OwnTopics {
    checks: AtomicU64,
}

#[async_trait]
impl Authorizer for OwnTopics {
    async fn authenticate(&self, request: &ConnectRequest) -> Result<Principal, AuthError> {
        AllowAll.authenticate(request).await
    }

    fn authorize(&self, _: &Principal, _: &str, _: Action, _: &str) -> bool {
        true
    }

    fn authorize_subscribe(&self, _: &Principal, _: &str, filter: &str) -> SubscribeVerdict {
        if filter.starts_with("own/") {
            SubscribeVerdict::Filtered
        } else {
            SubscribeVerdict::Allow
        }
    }

    fn may_receive(&self, principal: &Principal, topic: &str) -> bool {
        self.checks.fetch_add(1, Ordering::Relaxed);
        topic
            .strip_prefix("own/")
            .and_then(|rest| rest.strip_prefix(&*principal.name))
            .is_some_and(|rest| rest.starts_with('/'))
    }
}

async fn start(authorizer: Arc<OwnTopics>, store: Option<&MemoryStore>) -> TestBroker {
    match store {
        Some(store) => TestBroker::start_with_store(authorizer, store).await,
        None => TestBroker::start_with(BrokerConfig::ephemeral(), authorizer).await,
    }
}

/// A v5 client whose event loop runs in a task and forwards what it receives.
struct Client {
    client: AsyncClient,
    received: mpsc::UnboundedReceiver<Packet>,
    /// Topics of messages that arrived while waiting for an acknowledgement.
    early: Vec<String>,
}

impl Client {
    /// Connects `user` as `client_id`; `persistent` keeps the session for an hour.
    async fn connect(broker: &TestBroker, client_id: &str, user: &str, persistent: bool) -> Client {
        let mut options = MqttOptions::new(client_id, "127.0.0.1", broker.port());
        options.set_credentials(user, "x");
        options.set_keep_alive(Duration::from_secs(30));
        if persistent {
            options.set_clean_start(false);
            options.set_session_expiry_interval(Some(3_600));
        }
        let (client, mut eventloop) = AsyncClient::new(options, 64);
        let (sender, received) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok(event) = eventloop.poll().await {
                if let Event::Incoming(packet) = event
                    && sender.send(packet).is_err()
                {
                    return;
                }
            }
        });
        let mut client = Client {
            client,
            received,
            early: Vec::new(),
        };
        assert!(matches!(client.next_packet().await, Packet::ConnAck(_)));
        client
    }

    async fn next_packet(&mut self) -> Packet {
        tokio::time::timeout(DEADLINE, self.received.recv())
            .await
            .expect("a packet in time")
            .expect("the connection is open")
    }

    async fn subscribe(&mut self, filter: &str) {
        self.client
            .subscribe(filter, QoS::AtLeastOnce)
            .await
            .unwrap();
        loop {
            match self.next_packet().await {
                Packet::SubAck(ack) => {
                    assert_eq!(
                        ack.return_codes,
                        [SubscribeReasonCode::Success(QoS::AtLeastOnce)]
                    );
                    return;
                }
                Packet::Publish(publish) => self
                    .early
                    .push(String::from_utf8_lossy(&publish.topic).into_owned()),
                _ => {}
            }
        }
    }

    /// Publishes at QoS 1 and waits for the PUBACK: by then the broker has routed it.
    async fn publish(&mut self, topic: &str, retain: bool) {
        self.client
            .publish(topic, QoS::AtLeastOnce, retain, topic.as_bytes().to_vec())
            .await
            .unwrap();
        loop {
            if let Packet::PubAck(_) = self.next_packet().await {
                return;
            }
        }
    }

    /// Topics received until (and with) `last`.
    async fn topics_until(&mut self, last: &str) -> Vec<String> {
        let mut topics = std::mem::take(&mut self.early);
        if topics.iter().any(|topic| topic == last) {
            return topics;
        }
        loop {
            if let Packet::Publish(publish) = self.next_packet().await {
                let topic = String::from_utf8_lossy(&publish.topic).into_owned();
                let done = topic == last;
                topics.push(topic);
                if done {
                    return topics;
                }
            }
        }
    }
}

#[tokio::test]
async fn filtered_subscriptions_deliver_only_what_the_owner_may_receive() {
    let authorizer = Arc::new(OwnTopics::default());
    let broker = start(authorizer.clone(), None).await;
    let mut publisher = Client::connect(&broker, "publisher", "publisher", false).await;
    publisher.publish("own/bob/x", true).await;
    publisher.publish("own/alice/x", true).await;

    let mut alice = Client::connect(&broker, "alice-1", "alice", false).await;
    alice.subscribe("own/+/x").await;
    alice.subscribe("open/#").await;
    assert_eq!(
        authorizer.checks.load(Ordering::Relaxed),
        2,
        "each retained message was checked"
    );
    // The retained messages follow the first SUBACK; the marker proves nothing else is
    // on the way.
    publisher.publish("open/marker", false).await;
    assert_eq!(
        alice.topics_until("open/marker").await,
        ["own/alice/x", "open/marker"]
    );

    publisher.publish("own/bob/x", false).await;
    publisher.publish("own/alice/x", false).await;
    publisher.publish("open/end", false).await;
    assert_eq!(
        alice.topics_until("open/end").await,
        ["own/alice/x", "open/end"]
    );
    assert_eq!(
        authorizer.checks.load(Ordering::Relaxed),
        4,
        "only deliveries on the filtered subscription were checked"
    );
    broker.stop().await;
}

#[tokio::test]
async fn a_shared_group_gives_each_message_to_a_member_that_may_receive_it() {
    let authorizer = Arc::new(OwnTopics::default());
    let broker = start(authorizer, None).await;
    let mut alice = Client::connect(&broker, "alice-1", "alice", false).await;
    let mut bob = Client::connect(&broker, "bob-1", "bob", false).await;
    alice.subscribe("$share/workers/own/+/x").await;
    bob.subscribe("$share/workers/own/+/x").await;
    let mut publisher = Client::connect(&broker, "publisher", "publisher", false).await;
    for _ in 0..3 {
        publisher.publish("own/alice/x", false).await;
        publisher.publish("own/bob/x", false).await;
        // Nobody may receive this one: it goes to no member.
        publisher.publish("own/carol/x", false).await;
    }
    alice.subscribe("own/alice/end").await;
    bob.subscribe("own/bob/end").await;
    publisher.publish("own/alice/end", false).await;
    publisher.publish("own/bob/end", false).await;
    assert_eq!(
        alice.topics_until("own/alice/end").await,
        ["own/alice/x", "own/alice/x", "own/alice/x", "own/alice/end"]
    );
    assert_eq!(
        bob.topics_until("own/bob/end").await,
        ["own/bob/x", "own/bob/x", "own/bob/x", "own/bob/end"]
    );
    broker.stop().await;
}

#[tokio::test]
async fn a_restored_subscription_is_still_filtered() {
    let store = MemoryStore::default();
    let broker = start(Arc::new(OwnTopics::default()), Some(&store)).await;
    let mut alice = Client::connect(&broker, "alice-1", "alice", true).await;
    alice.subscribe("own/+/x").await;
    alice.client.disconnect().await.unwrap();
    broker.stop().await;

    let broker = start(Arc::new(OwnTopics::default()), Some(&store)).await;
    let mut publisher = Client::connect(&broker, "publisher", "publisher", false).await;
    publisher.publish("own/bob/x", false).await;
    publisher.publish("own/alice/x", false).await;
    let mut alice = Client::connect(&broker, "alice-1", "alice", true).await;
    assert_eq!(alice.topics_until("own/alice/x").await, ["own/alice/x"]);
    broker.stop().await;
}
