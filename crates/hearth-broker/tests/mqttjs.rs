//! mqtt.js, the client browsers (and Hearth's own web app) use, over WebSocket.

mod common;

use common::{TestBroker, run_command};
use std::path::PathBuf;
use std::time::Duration;

#[tokio::test]
async fn mqtt_js_over_websocket_round_trips_qos1_and_retained_messages() {
    let broker = TestBroker::start().await;
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("js");
    assert!(
        dir.join("node_modules").join("mqtt").exists(),
        "mqtt.js is not installed: run `npm ci --prefix {}` (make test does)",
        dir.display()
    );
    let mut command = tokio::process::Command::new("node");
    command
        .arg("ws_roundtrip.mjs")
        .arg(format!("ws://{}/mqtt", broker.ws()))
        .current_dir(&dir);
    let (ok, stdout, stderr) = run_command(command, Duration::from_secs(30)).await;
    assert!(ok, "mqtt.js client failed: {stderr}");
    let result: serde_json::Value =
        serde_json::from_str(stdout.trim()).expect("JSON from the client");
    assert_eq!(result["granted"], serde_json::json!([1]));
    assert_eq!(
        result["v5_connack_receive_maximum"],
        serde_json::json!(1024)
    );
    let received = result["received"].as_array().expect("received messages");
    let summary: Vec<(String, String, bool)> = received
        .iter()
        .map(|m| {
            (
                m["topic"].as_str().unwrap().to_owned(),
                m["payload"].as_str().unwrap().to_owned(),
                m["retain"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            ("js/state".to_owned(), "on".to_owned(), true),
            ("js/a".to_owned(), "hello".to_owned(), false),
            ("js/b".to_owned(), "world".to_owned(), false),
        ]
    );
    assert_eq!(received[1]["qos"], serde_json::json!(1));
    broker.stop().await;
}
