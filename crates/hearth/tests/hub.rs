//! A whole hub started and stopped in-process (`hearth_testkit::start_hub`), on every
//! backend: a device's reading goes through the broker and ingest into the store, the
//! API answers, and `shutdown` stops every listener (the HTTP server included) before it
//! returns.

use hearth_testkit::ids;
use hearth_testkit::{Backend, TestHub, start_hub};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn http_get(hub: &TestHub, path: &str) -> String {
    let mut stream = tokio::net::TcpStream::connect(hub.http()).await.unwrap();
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        hub.http()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    response
}

async fn a_hub_starts_serves_and_stops(backend: Backend) {
    let hub = start_hub(backend).await;
    let (_, secret) = hub
        .registry()
        .add_device(
            "test",
            hearth_services::registry::DeviceSpec::new(ids::device("lamp")),
        )
        .await
        .unwrap();
    let mut options = rumqttc::MqttOptions::new("lamp", "127.0.0.1", hub.mqtt().port());
    options.set_credentials("lamp", secret);
    let (client, mut eventloop) = rumqttc::AsyncClient::new(options, 8);
    client
        .publish(
            "devices/lamp/data",
            rumqttc::QoS::AtLeastOnce,
            false,
            r#"{"power": 4.5}"#,
        )
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            match eventloop.poll().await {
                Ok(rumqttc::Event::Incoming(rumqttc::Packet::PubAck(_))) => break,
                Ok(_) => {}
                Err(error) => panic!("lamp: {error:?}"),
            }
        }
    })
    .await
    .expect("PUBACK");
    // Acknowledged means stored.
    let device = hub.store().device(&"lamp".parse().unwrap()).await.unwrap();
    assert_eq!(
        device.live.last_report_data.expect("a report")["power"],
        serde_json::json!(4.5)
    );
    assert!(http_get(&hub, "/healthz").await.starts_with("HTTP/1.1 200"));

    let (mqtt, http) = (hub.mqtt(), hub.http());
    drop(client);
    drop(eventloop);
    hub.shutdown().await;
    for addr in [mqtt, http] {
        assert!(
            tokio::net::TcpStream::connect(addr).await.is_err(),
            "{addr} still accepts connections after shutdown"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hub_starts_serves_and_stops_on_sqlite() {
    a_hub_starts_serves_and_stops(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hub_starts_serves_and_stops_on_postgres() {
    a_hub_starts_serves_and_stops(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hub_starts_serves_and_stops_on_mariadb() {
    a_hub_starts_serves_and_stops(Backend::MariaDb).await;
}

/// A manual run of an automation shows in `/metrics`.
async fn an_automation_run_counts_in_metrics(backend: Backend) {
    let hub = start_hub(backend).await;
    let metric = |text: &str, name: &str| {
        text.lines().find_map(|line| {
            line.strip_prefix(name)?
                .strip_prefix(' ')
                .map(str::to_owned)
        })
    };
    let before = http_get(&hub, "/metrics").await;
    assert_eq!(
        metric(&before, "hearth_automation_runs_total").as_deref(),
        Some("0"),
        "{before}"
    );
    let automations = hearth_services::automations::Automations::new(hub.store());
    let spec = serde_json::from_str(
        r#"{"group": "home", "name": "Say hello", "triggers": [{"type": "manual"}],
         "actions": [{"type": "notify", "message": "hello"}]}"#,
    )
    .unwrap();
    let automation = automations.create("cli:test", spec).await.unwrap();
    hub.engine().reload().await.unwrap();
    hub.engine()
        .run_now(&automation.id, "user:admin")
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let runs = automations.runs(&automation.id, 10).await.unwrap();
            if runs.iter().any(|run| run.finished_at_ms.is_some()) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the run recorded");
    let after = http_get(&hub, "/metrics").await;
    assert_eq!(
        metric(&after, "hearth_automation_runs_total").as_deref(),
        Some("1"),
        "{after}"
    );
    assert_eq!(
        metric(&after, "hearth_automation_failures_total").as_deref(),
        Some("0")
    );
    assert!(after.contains("# TYPE hearth_automation_evaluation_seconds_total counter"));
    hub.shutdown().await;
}

/// The history upkeep's first round runs at start and shows in `/metrics` (issue 19).
async fn the_history_upkeep_shows_in_metrics(backend: Backend) {
    let hub = start_hub(backend).await;
    let rounds = |text: &str| {
        text.lines()
            .find_map(|line| line.strip_prefix("hearth_history_rounds_total "))
            .map(str::to_owned)
    };
    let text = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let text = http_get(&hub, "/metrics").await;
            if rounds(&text).as_deref() == Some("1") {
                return text;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the first round at start");
    assert!(
        text.contains("hearth_history_failed_rounds_total 0"),
        "{text}"
    );
    assert!(text.contains("# TYPE hearth_history_last_round_seconds gauge"));
    assert!(
        text.contains("hearth_history_compacted_points_total 0"),
        "{text}"
    );
    hub.shutdown().await;
}

hearth_testkit::both_backends_hub!(
    an_automation_run_counts_in_metrics,
    the_history_upkeep_shows_in_metrics
);
