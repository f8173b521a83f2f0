//! A service's message that cannot travel as MQTT is refused by the in-process handle,
//! whole, with the field named; it never reaches the router, whose panic would take the
//! broker down for every client.

mod common;

use bytes::Bytes;
use common::TestBroker;
use hearth_bus::{Bus, BusError, Envelope};
use std::sync::Arc;
use std::time::Duration;

fn envelope() -> Envelope {
    Envelope::new("t/ok", "payload")
}

#[tokio::test]
async fn bad_envelopes_are_errors_naming_the_field_and_the_broker_goes_on() {
    let broker = TestBroker::start().await;
    let mut subscription = broker.handle.subscribe("t/#").await.unwrap();
    let long = "x".repeat(70_000);
    let cases: Vec<(&str, Envelope)> = vec![
        ("response_topic", {
            let mut e = envelope();
            e.response_topic = Some(Arc::from("reply\0here"));
            e
        }),
        ("response_topic", {
            let mut e = envelope();
            e.response_topic = Some(Arc::from("reply/+"));
            e
        }),
        ("content_type", {
            let mut e = envelope();
            e.content_type = Some(Arc::from("text/\0plain"));
            e
        }),
        ("user_properties", {
            let mut e = envelope();
            e.user_properties = vec![(Arc::from("k\0"), Arc::from("v"))];
            e
        }),
        ("user_properties", {
            let mut e = envelope();
            e.user_properties = vec![(Arc::from("k"), Arc::from(long.as_str()))];
            e
        }),
        ("correlation_data", {
            let mut e = envelope();
            e.correlation_data = Some(Bytes::from(long.clone().into_bytes()));
            e
        }),
    ];
    for (field, bad) in cases {
        match broker.handle.publish(bad).await {
            Err(BusError::InvalidMessage { field: named, .. }) => assert_eq!(named, field),
            other => panic!("{field}: expected InvalidMessage, got {other:?}"),
        }
    }
    assert!(matches!(
        broker.handle.publish(Envelope::new("t/\0", "x")).await,
        Err(BusError::InvalidTopic(_))
    ));
    // The router is alive and routes the next good message.
    broker.handle.publish(envelope()).await.unwrap();
    let delivered = tokio::time::timeout(Duration::from_secs(10), subscription.recv())
        .await
        .expect("delivered in time")
        .expect("the broker still runs");
    assert_eq!(&*delivered.topic, "t/ok");
    broker.stop().await;
}
