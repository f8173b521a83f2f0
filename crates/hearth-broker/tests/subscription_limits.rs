//! What one client's subscriptions may cost (issue 12, finding 9), observed by real
//! clients over TCP (rumqttc, MQTT 5 and 3.1.1): a limit on subscriptions per session,
//! on the length and on the levels of a filter, each refused per filter in the SUBACK
//! with the reason the protocol version has for it; and the subscription index back to
//! its size once a clean session ends.

mod common;

use common::{TestBroker, eventually};
use hearth_broker::{BrokerConfig, Limits};
use hearth_bus::AllowAll;
use rumqttc::v5::mqttbytes::QoS as V5QoS;
use rumqttc::v5::mqttbytes::v5::{Filter, Packet as V5Packet, SubscribeReasonCode as V5Code};
use rumqttc::{Packet as V4Packet, QoS as V4QoS, SubscribeFilter, SubscribeReasonCode as V4Code};
use std::sync::Arc;
use std::time::Duration;

const DEADLINE: Duration = Duration::from_secs(10);

async fn start_with_limits(adjust: impl FnOnce(&mut Limits)) -> TestBroker {
    let mut config = BrokerConfig::ephemeral();
    adjust(&mut config.limits);
    TestBroker::start_with(config, Arc::new(AllowAll)).await
}

/// An MQTT 5 client that has its CONNACK.
struct V5 {
    client: rumqttc::v5::AsyncClient,
    eventloop: rumqttc::v5::EventLoop,
}

impl V5 {
    async fn connect(broker: &TestBroker, id: &str) -> V5 {
        let mut options = rumqttc::v5::MqttOptions::new(id, "127.0.0.1", broker.port());
        options.set_keep_alive(Duration::from_secs(30));
        let (client, eventloop) = rumqttc::v5::AsyncClient::new(options, 64);
        let mut v5 = V5 { client, eventloop };
        v5.next(|packet| matches!(packet, V5Packet::ConnAck(_)))
            .await;
        v5
    }

    async fn next(&mut self, wanted: impl Fn(&V5Packet) -> bool) -> V5Packet {
        tokio::time::timeout(DEADLINE, async {
            loop {
                match self.eventloop.poll().await {
                    Ok(rumqttc::v5::Event::Incoming(packet)) if wanted(&packet) => return packet,
                    Ok(_) => {}
                    Err(error) => panic!("connection failed: {error}"),
                }
            }
        })
        .await
        .expect("packet arrives before the deadline")
    }

    /// Sends one SUBSCRIBE with `filters` and returns its SUBACK's reason codes.
    async fn subscribe(&mut self, filters: &[&str]) -> Vec<V5Code> {
        let filters = filters
            .iter()
            .map(|filter| Filter::new(*filter, V5QoS::AtLeastOnce));
        self.client.subscribe_many(filters).await.unwrap();
        match self
            .next(|packet| matches!(packet, V5Packet::SubAck(_)))
            .await
        {
            V5Packet::SubAck(suback) => suback.return_codes,
            _ => unreachable!(),
        }
    }

    async fn unsubscribe(&mut self, filter: &str) {
        self.client.unsubscribe(filter).await.unwrap();
        self.next(|packet| matches!(packet, V5Packet::UnsubAck(_)))
            .await;
    }
}

/// An MQTT 3.1.1 client that has its CONNACK.
struct V4 {
    client: rumqttc::AsyncClient,
    eventloop: rumqttc::EventLoop,
}

impl V4 {
    async fn connect(broker: &TestBroker, id: &str) -> V4 {
        let mut options = rumqttc::MqttOptions::new(id, "127.0.0.1", broker.port());
        options.set_keep_alive(Duration::from_secs(30));
        let (client, eventloop) = rumqttc::AsyncClient::new(options, 64);
        let mut v4 = V4 { client, eventloop };
        v4.next(|packet| matches!(packet, V4Packet::ConnAck(_)))
            .await;
        v4
    }

    async fn next(&mut self, wanted: impl Fn(&V4Packet) -> bool) -> V4Packet {
        tokio::time::timeout(DEADLINE, async {
            loop {
                match self.eventloop.poll().await {
                    Ok(rumqttc::Event::Incoming(packet)) if wanted(&packet) => return packet,
                    Ok(_) => {}
                    Err(error) => panic!("connection failed: {error}"),
                }
            }
        })
        .await
        .expect("packet arrives before the deadline")
    }

    async fn subscribe(&mut self, filters: &[&str]) -> Vec<V4Code> {
        let filters = filters
            .iter()
            .map(|filter| SubscribeFilter::new(filter.to_string(), V4QoS::AtLeastOnce));
        self.client.subscribe_many(filters).await.unwrap();
        match self
            .next(|packet| matches!(packet, V4Packet::SubAck(_)))
            .await
        {
            V4Packet::SubAck(suback) => suback.return_codes,
            _ => unreachable!(),
        }
    }

    /// Closes the connection with DISCONNECT.
    async fn disconnect(mut self) {
        self.client.disconnect().await.unwrap();
        tokio::time::timeout(DEADLINE, async {
            while self.eventloop.poll().await.is_ok() {}
        })
        .await
        .expect("the connection closes");
    }
}

const GRANTED_V5: V5Code = V5Code::Success(V5QoS::AtLeastOnce);
const GRANTED_V4: V4Code = V4Code::Success(V4QoS::AtLeastOnce);

/// A filter of exactly `n_bytes` bytes.
fn filter_of_length(n_bytes: usize) -> String {
    let prefix = "long/";
    format!("{prefix}{}", "x".repeat(n_bytes - prefix.len()))
}

#[tokio::test]
async fn v5_subscriptions_beyond_the_limit_are_refused_with_quota_exceeded() {
    let broker = start_with_limits(|limits| limits.max_subscriptions_per_client = 3).await;
    let mut client = V5::connect(&broker, "many-v5").await;
    let codes = client.subscribe(&["a", "b", "c", "d", "e/#"]).await;
    assert_eq!(
        codes,
        [
            GRANTED_V5,
            GRANTED_V5,
            GRANTED_V5,
            V5Code::QuotaExceeded,
            V5Code::QuotaExceeded
        ]
    );
    // And in a later SUBSCRIBE too.
    assert_eq!(client.subscribe(&["f"]).await, [V5Code::QuotaExceeded]);
    assert_eq!(broker.handle.stats().await.unwrap().subscriptions, 3);
    broker.stop().await;
}

#[tokio::test]
async fn v311_subscriptions_beyond_the_limit_are_refused_with_failure() {
    let broker = start_with_limits(|limits| limits.max_subscriptions_per_client = 2).await;
    let mut client = V4::connect(&broker, "many-v4").await;
    let codes = client.subscribe(&["a", "b", "c"]).await;
    assert_eq!(codes, [GRANTED_V4, GRANTED_V4, V4Code::Failure]);
    assert_eq!(broker.handle.stats().await.unwrap().subscriptions, 2);
    broker.stop().await;
}

#[tokio::test]
async fn renewing_a_subscription_does_not_count_against_the_limit() {
    let broker = start_with_limits(|limits| limits.max_subscriptions_per_client = 2).await;
    let mut client = V5::connect(&broker, "renewer").await;
    assert_eq!(
        client.subscribe(&["a", "b"]).await,
        [GRANTED_V5, GRANTED_V5]
    );
    // At the limit, the same filters are renewed (twice in one packet, even) ...
    assert_eq!(
        client.subscribe(&["b", "a", "a"]).await,
        [GRANTED_V5, GRANTED_V5, GRANTED_V5]
    );
    // ... and they did not take the place of a new one: the limit is still 2.
    assert_eq!(client.subscribe(&["c"]).await, [V5Code::QuotaExceeded]);
    assert_eq!(broker.handle.stats().await.unwrap().subscriptions, 2);
    broker.stop().await;
}

#[tokio::test]
async fn shared_subscriptions_count_against_the_limit() {
    let broker = start_with_limits(|limits| limits.max_subscriptions_per_client = 2).await;
    let mut client = V5::connect(&broker, "sharer").await;
    assert_eq!(
        client.subscribe(&["$share/g/x", "$share/g/y"]).await,
        [GRANTED_V5, GRANTED_V5]
    );
    // Another group on the same filter is another subscription, and so is a plain one.
    assert_eq!(
        client.subscribe(&["$share/h/x", "x"]).await,
        [V5Code::QuotaExceeded, V5Code::QuotaExceeded]
    );
    assert_eq!(broker.handle.stats().await.unwrap().subscriptions, 2);
    broker.stop().await;
}

#[tokio::test]
async fn unsubscribing_makes_room_under_the_limit() {
    let broker = start_with_limits(|limits| limits.max_subscriptions_per_client = 1).await;
    let mut client = V5::connect(&broker, "swapper").await;
    assert_eq!(
        client.subscribe(&["a", "b"]).await,
        [GRANTED_V5, V5Code::QuotaExceeded]
    );
    client.unsubscribe("a").await;
    assert_eq!(client.subscribe(&["b"]).await, [GRANTED_V5]);
    broker.stop().await;
}

#[tokio::test]
async fn v5_filter_longer_than_the_limit_is_refused_as_topic_filter_invalid() {
    let broker = start_with_limits(|limits| limits.max_topic_filter_length = 64).await;
    let mut client = V5::connect(&broker, "long-v5").await;
    let at_limit = filter_of_length(64);
    let over_limit = filter_of_length(65);
    // The `$share/{group}/` prefix is part of the filter as written.
    let shared_over_limit = format!("$share/g/{}", filter_of_length(56));
    assert_eq!(shared_over_limit.len(), 65);
    let codes = client
        .subscribe(&[&at_limit, &over_limit, &shared_over_limit])
        .await;
    assert_eq!(
        codes,
        [
            GRANTED_V5,
            V5Code::TopicFilterInvalid,
            V5Code::TopicFilterInvalid
        ]
    );
    assert_eq!(broker.handle.stats().await.unwrap().subscriptions, 1);
    broker.stop().await;
}

#[tokio::test]
async fn v311_filter_longer_than_the_limit_is_refused_with_failure() {
    let broker = start_with_limits(|limits| limits.max_topic_filter_length = 64).await;
    let mut client = V4::connect(&broker, "long-v4").await;
    let codes = client
        .subscribe(&[&filter_of_length(65), &filter_of_length(64)])
        .await;
    assert_eq!(codes, [V4Code::Failure, GRANTED_V4]);
    assert_eq!(broker.handle.stats().await.unwrap().subscriptions, 1);
    broker.stop().await;
}

#[tokio::test]
async fn filter_with_more_levels_than_the_limit_is_refused_as_topic_filter_invalid() {
    let broker = start_with_limits(|limits| limits.max_topic_levels = 4).await;
    let mut client = V5::connect(&broker, "deep").await;
    let codes = client
        .subscribe(&[
            "a/b/c/d",
            "a/b/c/d/e",
            "a/+/+/#",
            "a/+/+/+/#",
            "///",
            "////",
            // Levels are counted after the `$share/{group}/` prefix.
            "$share/g/a/b/c/d",
            "$share/g/a/b/c/d/e",
        ])
        .await;
    assert_eq!(
        codes,
        [
            GRANTED_V5,
            V5Code::TopicFilterInvalid,
            GRANTED_V5,
            V5Code::TopicFilterInvalid,
            GRANTED_V5,
            V5Code::TopicFilterInvalid,
            GRANTED_V5,
            V5Code::TopicFilterInvalid,
        ]
    );
    broker.stop().await;
}

/// Filters no one else uses, deep enough to make several nodes each, and shared ones.
fn many_filters(client: &str, n_filters: usize) -> Vec<String> {
    (0..n_filters)
        .map(|index| match index % 4 {
            0 => format!("$share/{client}/spread/{index}/x/y"),
            1 => format!("spread/{client}/{index}/+/deep/#"),
            _ => format!("{client}/{index}/a/b/c/d"),
        })
        .collect()
}

async fn subscribe_in_batches(client: &mut V4, filters: &[String]) {
    for batch in filters.chunks(100) {
        let batch: Vec<&str> = batch.iter().map(String::as_str).collect();
        let codes = client.subscribe(&batch).await;
        assert!(codes.iter().all(|code| *code == GRANTED_V4), "{codes:?}");
    }
}

#[tokio::test]
async fn subscription_index_returns_to_its_baseline_when_a_clean_session_ends() {
    let broker = TestBroker::start().await;
    // A subscription that stays, sharing the first level of some of those that go.
    let mut stays = V4::connect(&broker, "stays").await;
    assert_eq!(
        stays
            .subscribe(&["spread/+/0/+/deep/#", "$share/g/spread/#"])
            .await,
        [GRANTED_V4, GRANTED_V4]
    );
    let baseline = broker.handle.stats().await.unwrap();

    let n_filters = 2_000;
    let mut polite = V4::connect(&broker, "polite").await;
    subscribe_in_batches(&mut polite, &many_filters("polite", n_filters)).await;
    let mut rude = V4::connect(&broker, "rude").await;
    subscribe_in_batches(&mut rude, &many_filters("rude", n_filters)).await;
    let subscribed = broker.handle.stats().await.unwrap();
    assert_eq!(
        subscribed.subscriptions,
        baseline.subscriptions + 2 * n_filters as u64
    );
    assert!(
        subscribed.subscription_nodes > baseline.subscription_nodes + 2 * n_filters as u64,
        "{subscribed:?}"
    );

    // One leaves with DISCONNECT, the other drops its socket.
    polite.disconnect().await;
    drop(rude);
    let back_to_baseline = eventually(DEADLINE, || async {
        let now = broker.handle.stats().await.unwrap();
        now.subscriptions == baseline.subscriptions && now.clients_connected == 1
    })
    .await;
    let after = broker.handle.stats().await.unwrap();
    assert!(back_to_baseline, "{after:?}");
    assert_eq!(after.subscription_nodes, baseline.subscription_nodes);
    broker.stop().await;
}

#[tokio::test]
async fn subscription_index_returns_to_its_baseline_after_unsubscribing() {
    let broker = TestBroker::start().await;
    let baseline = broker.handle.stats().await.unwrap();
    let mut client = V5::connect(&broker, "tidy").await;
    let filters = ["a/b/c", "a/b/+/d", "$share/g/a/#", "x/y/#", "a/b/c/d/e"];
    assert!(
        client
            .subscribe(&filters)
            .await
            .iter()
            .all(|code| *code == GRANTED_V5)
    );
    assert!(broker.handle.stats().await.unwrap().subscription_nodes > baseline.subscription_nodes);
    for filter in filters {
        client.unsubscribe(filter).await;
    }
    let after = broker.handle.stats().await.unwrap();
    assert_eq!(after.subscriptions, baseline.subscriptions);
    assert_eq!(after.subscription_nodes, baseline.subscription_nodes);
    broker.stop().await;
}
