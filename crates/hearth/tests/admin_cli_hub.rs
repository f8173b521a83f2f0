//! The automation CLI against a running hub (issue 14): `hearth serve` and the commands
//! as separate processes on one store, with real MQTT devices. `scene apply` records
//! its commands in the store; the hub adopts them, delivers them and records the
//! devices' answers, which the command reads back. `automation run` stores a request
//! that the hub's engine picks up, and waits for the run it asked for.

use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::Packet;
use rumqttc::v5::{AsyncClient, Event, EventLoop, MqttOptions};
use serde_json::{Value, json};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const DEADLINE: Duration = Duration::from_secs(30);

/// `hearth serve` on `data_dir` and `database`, MQTT on a free port; returns the port.
async fn serve(data_dir: &Path, database: &str) -> (Child, u16) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_hearth"));
    command
        .args(["serve", "--print-addrs", "--mqtt", "127.0.0.1:0"])
        .args(["--ws", "off", "--http", "off"])
        .arg(format!("--database={database}"))
        .arg("--data-dir")
        .arg(data_dir)
        .current_dir(data_dir)
        .env_remove("HEARTH_LOG")
        .kill_on_drop(true)
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = command.spawn().expect("hearth starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut port = None;
    tokio::time::timeout(DEADLINE, async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some(addr) = line.strip_prefix("mqtt=") {
                port = addr.rsplit(':').next().and_then(|p| p.parse().ok());
            }
            if line == "ready" {
                break;
            }
        }
    })
    .await
    .expect("hearth prints its addresses");
    (child, port.expect("an mqtt= line"))
}

/// Runs an administrative command on the hub's store; returns its exit status and
/// stdout.
async fn cli(data_dir: &Path, database: &str, args: &[&str]) -> (Option<i32>, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_hearth"))
        .arg(format!("--database={database}"))
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .current_dir(data_dir)
        .env_remove("HEARTH_LOG")
        .env("USER", "tester")
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(
        matches!(output.status.code(), Some(0 | 3)),
        "{args:?}: {:?}\n{stdout}\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.code(), stdout)
}

async fn next(events: &mut EventLoop, wanted: impl Fn(&Packet) -> bool, what: &str) -> Packet {
    tokio::time::timeout(DEADLINE, async {
        loop {
            match events.poll().await {
                Ok(Event::Incoming(packet)) if wanted(&packet) => return packet,
                Ok(_) => {}
                Err(error) => panic!("client failed: {error:?}"),
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no {what} in time"))
}

/// A device that subscribes to its commands and answers each with `ok`, until the test
/// ends; it sends back the params of what it received.
async fn answering_device(
    port: u16,
    id: &str,
    secret: &str,
    ok: bool,
) -> tokio::sync::mpsc::UnboundedReceiver<Value> {
    let mut options = MqttOptions::new(id, "127.0.0.1", port);
    options.set_credentials(id, secret);
    let (client, mut events) = AsyncClient::new(options, 64);
    next(&mut events, |p| matches!(p, Packet::ConnAck(_)), "CONNACK").await;
    client
        .subscribe(format!("devices/{id}/commands/#"), QoS::AtLeastOnce)
        .await
        .unwrap();
    next(&mut events, |p| matches!(p, Packet::SubAck(_)), "SUBACK").await;
    let (received, receiver) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok(event) = events.poll().await {
            let Event::Incoming(Packet::Publish(command)) = event else {
                continue;
            };
            let topic = String::from_utf8(command.topic.to_vec()).unwrap();
            let params: Value = serde_json::from_slice(&command.payload).unwrap();
            let answer = json!({"id": params["id"], "ok": ok});
            client
                .publish(
                    format!("{topic}/ack"),
                    QoS::AtLeastOnce,
                    false,
                    answer.to_string(),
                )
                .await
                .unwrap();
            let _ = received.send(params);
        }
    });
    receiver
}

async fn a_scene_applied_from_the_cli_reaches_the_devices(backend: hearth_testkit::Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (database, _guard) = hearth_testkit::database_url(backend);
    let (mut hub, port) = serve(dir.path(), &database).await;
    let data_dir = dir.path();
    // The hub's first start made group `home` and its application `default`.
    let mut secrets = Vec::new();
    for id in ["desk-lamp", "ceiling"] {
        let (_, added) = cli(data_dir, &database, &["device", "add", id, "--json"]).await;
        let added: Value = serde_json::from_str(&added).unwrap();
        secrets.push(added["secret"].as_str().unwrap().to_owned());
    }
    let scene = json!({"group": "home", "name": "Reading", "targets": [
        {"device": "desk-lamp", "command": "switch", "params": {"on": true}},
        {"device": "ceiling", "command": "switch", "params": {"on": false}}]});
    let file = data_dir.join("reading.json");
    std::fs::write(&file, scene.to_string()).unwrap();
    let (_, added) = cli(
        data_dir,
        &database,
        &["scene", "add", file.to_str().unwrap(), "--json"],
    )
    .await;
    let scene_id = serde_json::from_str::<Value>(&added).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // The desk lamp confirms, the ceiling refuses.
    let mut desk_lamp = answering_device(port, "desk-lamp", &secrets[0], true).await;
    let mut ceiling = answering_device(port, "ceiling", &secrets[1], false).await;
    let (status, stdout) = cli(
        data_dir,
        &database,
        &["scene", "apply", &scene_id, "--wait", "20", "--json"],
    )
    .await;
    assert_eq!(status, Some(0), "{stdout}");
    let outcome: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(outcome["result"], "1/2 confirmed, ceiling failed");
    assert_eq!(outcome["devices"]["desk-lamp"], "acked");
    assert_eq!(
        (outcome["confirmed"].as_u64(), outcome["total"].as_u64()),
        (Some(1), Some(2))
    );
    assert_eq!(desk_lamp.recv().await.unwrap()["on"], true);
    assert_eq!(ceiling.recv().await.unwrap()["on"], false);
    hub.start_kill().unwrap();
    hub.wait().await.unwrap();
}

#[tokio::test]
async fn a_scene_applied_from_the_cli_reaches_the_devices_on_sqlite() {
    a_scene_applied_from_the_cli_reaches_the_devices(hearth_testkit::Backend::Sqlite).await;
}

#[tokio::test]
async fn a_scene_applied_from_the_cli_reaches_the_devices_on_postgres() {
    a_scene_applied_from_the_cli_reaches_the_devices(hearth_testkit::Backend::Postgres).await;
}

#[tokio::test]
async fn a_scene_applied_from_the_cli_reaches_the_devices_on_mariadb() {
    a_scene_applied_from_the_cli_reaches_the_devices(hearth_testkit::Backend::MariaDb).await;
}

async fn an_automation_run_from_the_cli_is_run_by_the_hub(backend: hearth_testkit::Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (database, _guard) = hearth_testkit::database_url(backend);
    let (mut hub, port) = serve(dir.path(), &database).await;
    let data_dir = dir.path();
    let (_, added) = cli(
        data_dir,
        &database,
        &["device", "add", "desk-lamp", "--json"],
    )
    .await;
    let secret = serde_json::from_str::<Value>(&added).unwrap()["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let automation = json!({"group": "home", "name": "Desk lamp on",
        "triggers": [{"type": "manual"}],
        "actions": [{"type": "command", "device": "desk-lamp", "name": "switch",
            "params": {"on": true}}]});
    let file = data_dir.join("desk.json");
    std::fs::write(&file, automation.to_string()).unwrap();
    let (_, added) = cli(
        data_dir,
        &database,
        &["automation", "add", file.to_str().unwrap(), "--json"],
    )
    .await;
    let automation_id = serde_json::from_str::<Value>(&added).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let mut desk_lamp = answering_device(port, "desk-lamp", &secret, true).await;
    let (status, stdout) = cli(
        data_dir,
        &database,
        &[
            "automation",
            "run",
            &automation_id,
            "--wait",
            "20",
            "--json",
        ],
    )
    .await;
    assert_eq!(status, Some(0), "{stdout}");
    let run: Value = serde_json::from_str(&stdout).unwrap();
    assert!(run["id"].as_str().unwrap().starts_with("r-"), "{run}");
    assert_eq!(run["automation_id"], automation_id.as_str());
    assert_eq!(run["status"], "done", "{run}");
    assert_eq!(run["trigger"]["type"], "manual");
    assert_eq!(run["trigger"]["by"], "cli:tester");
    assert_eq!(run["trace"]["actions"][0]["result"], "acked", "{run}");
    assert_eq!(desk_lamp.recv().await.unwrap()["on"], true);

    // People read the same run as one line per step.
    let (status, text) = cli(
        data_dir,
        &database,
        &["automation", "run", &automation_id, "--wait", "20"],
    )
    .await;
    assert_eq!(status, Some(0), "{text}");
    assert!(text.contains(": done in "), "{text}");
    assert!(
        text.contains("action 0 command desk-lamp switch: acked"),
        "{text}"
    );
    hub.start_kill().unwrap();
    hub.wait().await.unwrap();
}

#[tokio::test]
async fn an_automation_run_from_the_cli_is_run_by_the_hub_on_sqlite() {
    an_automation_run_from_the_cli_is_run_by_the_hub(hearth_testkit::Backend::Sqlite).await;
}

#[tokio::test]
async fn an_automation_run_from_the_cli_is_run_by_the_hub_on_postgres() {
    an_automation_run_from_the_cli_is_run_by_the_hub(hearth_testkit::Backend::Postgres).await;
}

#[tokio::test]
async fn an_automation_run_from_the_cli_is_run_by_the_hub_on_mariadb() {
    an_automation_run_from_the_cli_is_run_by_the_hub(hearth_testkit::Backend::MariaDb).await;
}
