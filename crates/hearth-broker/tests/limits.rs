//! Configured limits, observed by a real client (rumqttc, MQTT 3.1.1).

mod common;

use common::{TestBroker, eventually};
use hearth_broker::BrokerConfig;
use hearth_bus::AllowAll;
use rumqttc::{
    AsyncClient, ConnectReturnCode, ConnectionError, Event, EventLoop, MqttOptions, Packet,
};
use std::sync::Arc;
use std::time::Duration;

const DEADLINE: Duration = Duration::from_secs(10);

/// Polls until CONNACK (Ok) or the connection fails (Err).
async fn connect(eventloop: &mut EventLoop) -> Result<(), ConnectionError> {
    tokio::time::timeout(DEADLINE, async {
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(_))) => return Ok(()),
                Ok(_) => {}
                Err(error) => return Err(error),
            }
        }
    })
    .await
    .expect("an answer to CONNECT")
}

fn client(broker: &TestBroker, id: &str) -> (AsyncClient, EventLoop) {
    AsyncClient::new(MqttOptions::new(id, "127.0.0.1", broker.port()), 16)
}

#[tokio::test]
async fn connections_beyond_max_connections_are_refused_as_server_unavailable() {
    let mut config = BrokerConfig::ephemeral();
    config.limits.max_connections = 2;
    let broker = TestBroker::start_with(config, Arc::new(AllowAll)).await;
    let (_first, mut first_loop) = client(&broker, "first");
    connect(&mut first_loop).await.expect("first connects");
    let first_pump = tokio::spawn(async move { while first_loop.poll().await.is_ok() {} });
    let (_second, mut second_loop) = client(&broker, "second");
    connect(&mut second_loop).await.expect("second connects");

    let (_third, mut third_loop) = client(&broker, "third");
    match connect(&mut third_loop).await {
        Err(ConnectionError::ConnectionRefused(code)) => {
            assert_eq!(code, ConnectReturnCode::ServiceUnavailable)
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(broker.handle.stats().await.unwrap().connect_refused, 1);

    // Room again once a client leaves.
    first_pump.abort();
    drop(_first);
    let counted_down = eventually(DEADLINE, || async {
        broker.handle.stats().await.unwrap().clients_connected == 1
    })
    .await;
    assert!(counted_down);
    let (_fourth, mut fourth_loop) = client(&broker, "fourth");
    connect(&mut fourth_loop)
        .await
        .expect("a client connects once there is room");
    broker.stop().await;
}
