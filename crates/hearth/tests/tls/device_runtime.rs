//! `hearth-device`'s runtime over MQTTS: with the hub's CA and a secret, with a client
//! certificate alone, and never with a hub whose certificate it cannot trust (a
//! man in the middle with a certificate from another CA gets no secret and no data).

use crate::devices::{add_with_cert, hearth};
use crate::{TlsHub, start};
use hearth::tls_cmd::dev_cert;
use hearth_device::{ConnectionState, DeviceClient, DeviceConfig, DeviceId, DeviceTls};
use hearth_testkit::Backend;
use std::time::Duration;

const DEADLINE: Duration = Duration::from_secs(30);

fn config(tls: &TlsHub, id: &str, secret: &str, device_tls: DeviceTls) -> DeviceConfig {
    let addr = tls.hub.addrs().mqtts.unwrap();
    let mut config =
        DeviceConfig::new("localhost", addr.port(), DeviceId::new(id).unwrap(), secret);
    config.tls = Some(device_tls.client_config().unwrap());
    config.heartbeat_secs = 0;
    config
}

/// Publishes `reading` and waits until the hub stored it as the device's live state.
async fn reports(tls: &TlsHub, client: &DeviceClient, id: &str, reading: serde_json::Value) {
    tokio::time::timeout(DEADLINE, client.wait_connected())
        .await
        .expect("connected in time")
        .unwrap();
    client.publish_data(reading.clone()).await.unwrap();
    let id: hearth_model::DeviceId = id.parse().unwrap();
    tokio::time::timeout(DEADLINE, async {
        loop {
            let device = tls.hub.store().device(&id).await.unwrap();
            let seen = device.live.last_report_data.unwrap_or_default();
            if reading
                .as_object()
                .unwrap()
                .iter()
                .all(|(k, v)| seen.get(k) == Some(v))
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the reading reached the hub's store");
}

async fn the_runtime_logs_in_over_mqtts(backend: Backend) {
    let tls = start(backend).await;
    // With the hub's CA and a secret.
    let added = hearth(&tls, &["device", "add", "porch", "--json"]).await;
    let added: serde_json::Value = serde_json::from_slice(&added.stdout).unwrap();
    let secret = added["secret"].as_str().unwrap();
    let trust = DeviceTls {
        ca_file: Some(tls.certs.ca_cert.clone()),
        identity: None,
    };
    let (porch, _commands) = DeviceClient::connect(config(&tls, "porch", secret, trust));
    reports(
        &tls,
        &porch,
        "porch",
        serde_json::json!({"temperature": 4.5}),
    )
    .await;

    // With a certificate from `hearth device add --cert` and no secret at all.
    let dir = tempfile::tempdir().unwrap();
    let identity = add_with_cert(&tls, "gate", dir.path()).await;
    let with_cert = DeviceTls {
        ca_file: Some(tls.certs.ca_cert.clone()),
        identity: Some((identity.cert.clone(), identity.key.clone())),
    };
    let (gate, _commands) = DeviceClient::connect(config(&tls, "gate", "", with_cert));
    reports(&tls, &gate, "gate", serde_json::json!({"open": 1})).await;

    porch.shutdown().await;
    gate.shutdown().await;
    tls.hub.shutdown().await;
}

#[tokio::test]
async fn the_runtime_logs_in_over_mqtts_sqlite() {
    the_runtime_logs_in_over_mqtts(Backend::Sqlite).await;
}

#[tokio::test]
async fn the_runtime_logs_in_over_mqtts_postgres() {
    the_runtime_logs_in_over_mqtts(Backend::Postgres).await;
}

#[tokio::test]
async fn the_runtime_logs_in_over_mqtts_mariadb() {
    the_runtime_logs_in_over_mqtts(Backend::MariaDb).await;
}

/// A device that trusts only its own CA does not log in to a hub whose certificate
/// another CA signed: it says why, and the hub never sees its secret.
#[tokio::test]
async fn the_runtime_refuses_a_hub_it_does_not_trust() {
    let tls = start(Backend::Sqlite).await;
    let added = hearth(&tls, &["device", "add", "porch", "--json"]).await;
    let added: serde_json::Value = serde_json::from_slice(&added.stdout).unwrap();
    let other = tempfile::tempdir().unwrap();
    let other_ca = dev_cert(other.path(), &["localhost".to_owned()]).unwrap();
    let trust = DeviceTls {
        ca_file: Some(other_ca.ca_cert.clone()),
        identity: None,
    };
    let secret = added["secret"].as_str().unwrap();
    let (porch, _commands) = DeviceClient::connect(config(&tls, "porch", secret, trust));
    let mut changes = porch.state_changes();
    let state = tokio::time::timeout(
        DEADLINE,
        changes.wait_for(|state| !matches!(state, ConnectionState::Connecting)),
    )
    .await
    .expect("a verdict in time")
    .unwrap()
    .clone();
    match state {
        ConnectionState::Disconnected(why) => {
            assert!(why.to_lowercase().contains("certificate"), "{why}")
        }
        other => panic!("expected a TLS failure, got {other:?}"),
    }
    let device = tls
        .hub
        .store()
        .device(&"porch".parse().unwrap())
        .await
        .unwrap();
    assert!(
        device.live.last_seen_ms.is_none(),
        "the hub never saw porch"
    );
    porch.shutdown().await;
    tls.hub.shutdown().await;
}
