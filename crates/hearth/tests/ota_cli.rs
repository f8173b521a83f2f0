//! The firmware CLI against a running hub (issue 17): `hearth serve` and `hearth
//! firmware add` / `hearth rollout start|show` as separate processes on one store, with
//! a real MQTT device running hearth-device's `OtaHandler`. The rollout's `ota` command is
//! recorded by the CLI; the hub adopts it, the device downloads the image from the hub,
//! and the hub's tracker (not the CLI) records the device's new version.

use hearth_device::ota::{OtaHandler, SimulatedInstaller};
use hearth_device::{CommandHandler, DeviceClient, DeviceConfig, dispatch};
use serde_json::Value;
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// Only against a hang (not a measurement).
const DEADLINE: Duration = Duration::from_secs(60);

/// `hearth serve` with MQTT and HTTP on free ports; returns them.
async fn serve(data_dir: &Path, database: &str) -> (Child, u16, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_hearth"))
        .args(["serve", "--print-addrs", "--mqtt", "127.0.0.1:0"])
        .args(["--ws", "off", "--http", "127.0.0.1:0"])
        .arg(format!("--database={database}"))
        .arg("--data-dir")
        .arg(data_dir)
        .current_dir(data_dir)
        .env_remove("HEARTH_LOG")
        .kill_on_drop(true)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("hearth starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let (mut mqtt, mut http) = (None, None);
    tokio::time::timeout(DEADLINE, async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some(addr) = line.strip_prefix("mqtt=") {
                mqtt = addr.rsplit(':').next().and_then(|p| p.parse().ok());
            }
            if let Some(addr) = line.strip_prefix("http=") {
                http = Some(addr.to_owned());
            }
            if line == "ready" {
                break;
            }
        }
    })
    .await
    .expect("hearth prints its addresses");
    (
        child,
        mqtt.expect("an mqtt= line"),
        http.expect("an http= line"),
    )
}

/// An administrative command with `--json`; its output.
async fn cli(data_dir: &Path, database: &str, args: &[&str]) -> Value {
    let output = Command::new(env!("CARGO_BIN_EXE_hearth"))
        .arg(format!("--database={database}"))
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .arg("--json")
        .current_dir(data_dir)
        .env_remove("HEARTH_LOG")
        .env("USER", "tester")
        .output()
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("JSON output")
}

#[tokio::test]
async fn a_rollout_started_from_the_cli_is_delivered_and_followed_by_the_hub() {
    let data = tempfile::tempdir().unwrap();
    let (database, _guard) = hearth_testkit::database_url(hearth_testkit::Backend::Sqlite);
    let dir = data.path();
    let (mut hub, mqtt, http) = serve(dir, &database).await;
    // The CLI names the hub's HTTP address in download links (it binds no listener).
    std::fs::write(
        dir.join("hearth.toml"),
        format!("[firmware]\npublic_url = \"http://{http}\"\n"),
    )
    .unwrap();

    cli(dir, &database, &["group", "add", "lab"]).await;
    cli(dir, &database, &["app", "add", "lights", "--group", "lab"]).await;
    let device = cli(
        dir,
        &database,
        &["device", "add", "r1", "--app", "lights", "--kind", "relay"],
    )
    .await;
    let secret = device["secret"].as_str().unwrap().to_owned();
    let image: Vec<u8> = (0..70_000u32).map(|n| (n % 253) as u8).collect();
    std::fs::write(dir.join("relay.bin"), &image).unwrap();
    let firmware = cli(
        dir,
        &database,
        &[
            "firmware",
            "add",
            "relay.bin",
            "--version",
            "3.1.0",
            "--kind",
            "relay",
        ],
    )
    .await;
    assert_eq!(firmware["size"], image.len());

    let mut config = DeviceConfig::new("127.0.0.1", mqtt, "r1".parse().unwrap(), &secret);
    config.backoff.initial = Duration::from_millis(100);
    let (client, commands) = DeviceClient::connect(config);
    let installer = Arc::new(SimulatedInstaller::new(Duration::from_millis(100)));
    let handler = OtaHandler::new(dir.join("device-r1"), installer.clone());
    let handlers: Vec<Arc<dyn CommandHandler>> = vec![Arc::new(handler)];
    tokio::spawn(dispatch(client.clone(), commands, handlers));
    // The hub learns of r1 from the audit log; the device retries until it may log in.
    tokio::time::timeout(DEADLINE, client.wait_connected())
        .await
        .expect("r1 logs in")
        .unwrap();

    let id = firmware["id"].as_str().unwrap();
    let started = cli(
        dir,
        &database,
        &["rollout", "start", "--firmware", id, "--device", "r1"],
    )
    .await;
    let rollout = started["rollout"]["id"].as_str().unwrap().to_owned();
    let shown = tokio::time::timeout(DEADLINE, async {
        loop {
            let shown = cli(dir, &database, &["rollout", "show", &rollout]).await;
            if shown["summary"]["succeeded"] == 1 {
                return shown;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await
    .expect("the hub followed r1 to the new version");
    assert_eq!(shown["summary"]["text"], "1 updated");
    assert_eq!(shown["targets"][0]["reported_version"], "3.1.0");
    assert_eq!(installer.version().as_deref(), Some("3.1.0"));
    client.shutdown().await;
    hub.kill().await.unwrap();
}
