//! Issue 7 from end to end against the real binary on SQLite, PostgreSQL and MariaDB: log in as
//! the owner, create a group, an application and a device over the HTTP API, connect
//! the device with its secret, send it a command and see it `acked` with the state the
//! device reports, receive the device's data in a browser-style MQTT-over-WebSocket
//! client holding API-issued credentials, and see that client cut off on logout. The
//! HTTP and MQTT clients are Python's urllib and paho (`tests/clients/api_e2e.py`).

use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

const ADMIN_PASSWORD: &str = "correct horse battery";

async fn whole_path(backend: hearth_testkit::Backend) {
    let dir = tempfile::tempdir().unwrap();
    let password_file = dir.path().join("admin-password");
    std::fs::write(&password_file, format!("{ADMIN_PASSWORD}\n")).unwrap();
    let (database, _guard) = hearth_testkit::database_url(backend);
    let mut hub = Command::new(env!("CARGO_BIN_EXE_hearth"))
        .args([
            "serve",
            "--print-addrs",
            "--mqtt",
            "127.0.0.1:0",
            "--ws",
            "127.0.0.1:0",
        ])
        .args([
            "--http",
            "127.0.0.1:0",
            "--database",
            &database,
            "--data-dir",
        ])
        .arg(dir.path())
        .arg("--admin-password-file")
        .arg(&password_file)
        .current_dir(dir.path())
        .env_remove("HEARTH_LOG")
        .kill_on_drop(true)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(hub.stdout.take().unwrap()).lines();
    let (mut http, mut mqtt) = (None, None);
    tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some(addr) = line.strip_prefix("http=") {
                http = Some(addr.to_owned());
            }
            if let Some(addr) = line.strip_prefix("mqtt=") {
                mqtt = addr.rsplit(':').next().map(str::to_owned);
            }
            if line == "ready" {
                break;
            }
        }
    })
    .await
    .expect("the hub prints its addresses");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients/api_e2e.py");
    let output = tokio::time::timeout(
        Duration::from_secs(120),
        Command::new("python3")
            .arg(script)
            .args([
                "--http",
                &format!("http://{}", http.expect("an http= line")),
            ])
            .args(["--mqtt-port", &mqtt.expect("an mqtt= line")])
            .args(["--admin-password", ADMIN_PASSWORD])
            .output(),
    )
    .await
    .expect("api_e2e.py finished")
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "api_e2e.py failed: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut out: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    // One command shape on the wire: the `command-status` message a browser received over
    // MQTT decodes into the type the API returned, and says the same.
    let from_api: hearth_model::Command =
        serde_json::from_value(out["command_from_api"].take()).expect("the API's command");
    let from_mqtt: hearth_model::Command =
        serde_json::from_value(out["command_from_mqtt"].take()).expect("the MQTT command");
    assert_eq!(from_mqtt, from_api);
    assert_eq!(from_mqtt.status, hearth_model::CommandStatus::Acked);
    let object = out.as_object_mut().unwrap();
    object.remove("command_from_api");
    object.remove("command_from_mqtt");
    let expected = serde_json::json!({
        "bad_login": 401,
        "login": 200,
        "group": 201,
        "app": 201,
        "device": 201,
        "bad_device": 422,
        "bad_device_field": "id",
        "device_connected": true,
        "credentials": 200,
        "browser_subscribed": true,
        "browser_granted": [1],
        "browser_saw_data": true,
        "command": 202,
        "command_status": "acked",
        "command_state": {"on": true},
        "browser_saw_command_status": true,
        "device_online": true,
        "last_report": {"temperature": 20.5},
        "logout": 204,
        "browser_cut_on_logout": true,
        "after_logout": 401,
    });
    assert_eq!(out, expected);
    hub.start_kill().unwrap();
}

#[tokio::test]
async fn the_whole_path_on_sqlite() {
    whole_path(hearth_testkit::Backend::Sqlite).await;
}

#[tokio::test]
async fn the_whole_path_on_postgres() {
    whole_path(hearth_testkit::Backend::Postgres).await;
}

#[tokio::test]
async fn the_whole_path_on_mariadb() {
    whole_path(hearth_testkit::Backend::MariaDb).await;
}
