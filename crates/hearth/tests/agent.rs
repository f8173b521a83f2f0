//! `hearth agent` (issue 17) against a real hub over real MQTT, with the in-process GPIO
//! backend (`SimGpio`; the kernel's gpio-sim is not available in containers): a button
//! press becomes an event in history; a relay command through the hub's command service
//! drives the line, is recorded as succeeded and the state is reported; an `exec`
//! program's JSON lines become events; readings made while the hub is down are queued
//! on disk (surviving an agent restart, the oldest dropped beyond the bound) and arrive
//! later in order with their original times.

use hearth::agent::Agent;
use hearth::agent::config::AgentConfig;
use hearth::agent::gpio::SimGpio;
use hearth_model::{CommandStatus, MessageKind, Millis, StoredMessage, now_millis};
use hearth_store::{MessageQuery, TimeRange};
use hearth_testkit::{Backend, TestHub, devices::add_devices, ids};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// How long a test waits for something before it fails (not a measurement).
const DEADLINE: Duration = Duration::from_secs(30);
const CHIP: &str = "gpiochip0";

async fn until<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    tokio::time::timeout(DEADLINE, async {
        while !check().await {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("gave up waiting for {what}"));
}

/// A device `pi1` on the hub and an agent configuration for it (secret in a 0600 file),
/// with `extra` TOML appended.
async fn setup(hub: &TestHub, mqtt: SocketAddr, dir: &Path, extra: &str) -> AgentConfig {
    use std::os::unix::fs::PermissionsExt;
    let secrets = add_devices(hub, &["pi1"]).await;
    let secret_file = dir.join("secret");
    std::fs::write(&secret_file, &secrets["pi1"]).unwrap();
    std::fs::set_permissions(&secret_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let text = format!(
        r#"
hub = "mqtt://{mqtt}"
device = "pi1"
secret_file = "{secret}"
reconnect_min_ms = 50
reconnect_max_ms = 500

[queue]
path = "{queue}"
{extra}"#,
        secret = secret_file.display(),
        queue = dir.join("queue.jsonl").display(),
    );
    AgentConfig::from_toml(&text).unwrap()
}

async fn messages(hub: &TestHub, kind: MessageKind) -> Vec<StoredMessage> {
    let mut found = hub
        .store()
        .messages(&MessageQuery {
            device: ids::device("pi1"),
            kind: Some(kind),
            range: TimeRange {
                from_ms: 0,
                to_ms: Millis::MAX,
            },
            limit: 1000,
        })
        .await
        .unwrap();
    found.reverse();
    found
}

fn json_of(message: &StoredMessage) -> Value {
    serde_json::from_slice(&message.payload).unwrap()
}

/// The payloads without `ts`, oldest first.
async fn events(hub: &TestHub) -> Vec<Value> {
    messages(hub, MessageKind::Event)
        .await
        .iter()
        .map(|message| {
            let mut value = json_of(message);
            value.as_object_mut().unwrap().remove("ts");
            value
        })
        .collect()
}

/// The data payloads without `ts`, oldest first.
async fn data(hub: &TestHub) -> Vec<Value> {
    messages(hub, MessageKind::Data)
        .await
        .iter()
        .map(|message| {
            let mut value = json_of(message);
            value.as_object_mut().unwrap().remove("ts");
            value
        })
        .collect()
}

/// The command once the device answered it (or it timed out).
async fn finished(hub: &TestHub, id: &str) -> hearth_model::Command {
    tokio::time::timeout(DEADLINE, async {
        loop {
            let command = hub.commands().get(id).await.unwrap();
            if !matches!(command.status, CommandStatus::Pending | CommandStatus::Sent) {
                return command;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the command finished in time")
}

async fn connected(agent: &Agent) {
    tokio::time::timeout(DEADLINE, agent.client().wait_connected())
        .await
        .expect("the agent connected in time")
        .unwrap();
}

#[tokio::test]
async fn a_button_press_is_an_event_and_a_relay_command_flips_the_line() {
    let hub = hearth_testkit::start_hub(Backend::Sqlite).await;
    let dir = tempfile::tempdir().unwrap();
    let extra = r#"
[[button]]
name = "doorbell"
line = 17
active_low = true

[[relay]]
name = "porch_light"
line = 27
command = "light"
"#;
    let config = setup(&hub, hub.mqtt(), dir.path(), extra).await;
    let gpio = SimGpio::new();
    let agent = Agent::start(config, Arc::new(gpio.clone())).await.unwrap();
    connected(&agent).await;
    assert_eq!(gpio.level(CHIP, 27), Some(false), "the initial state");

    // Active low: the button pulls the line low; its release (high) is no event.
    assert!(gpio.set_input(CHIP, 17, false));
    assert!(gpio.set_input(CHIP, 17, true));
    until("the press in history", async || {
        !events(&hub).await.is_empty()
    })
    .await;
    assert_eq!(
        events(&hub).await,
        vec![json!({"button": "doorbell", "action": "press"})]
    );

    let sent = hub
        .commands()
        .send(
            "test",
            &ids::device("pi1"),
            "light",
            json!({"on": true}),
            None,
        )
        .await
        .unwrap();
    let command = finished(&hub, &sent.id).await;
    assert_eq!(command.status, CommandStatus::Acked, "{command:?}");
    assert_eq!(gpio.level(CHIP, 27), Some(true), "the line was driven");
    until("the new state reported", async || {
        data(&hub).await.contains(&json!({"porch_light": true}))
    })
    .await;
    assert_eq!(
        data(&hub).await.first(),
        Some(&json!({"porch_light": false})),
        "the state at start came first"
    );

    // A command the agent does not know, and one without `on`, fail; the line stays.
    for (name, params) in [("fly", json!({})), ("light", json!({"on": "yes"}))] {
        let sent = hub
            .commands()
            .send("test", &ids::device("pi1"), name, params, None)
            .await
            .unwrap();
        let command = finished(&hub, &sent.id).await;
        assert_eq!(command.status, CommandStatus::Failed, "{name}: {command:?}");
    }
    assert_eq!(gpio.level(CHIP, 27), Some(true));
    agent.shutdown().await;
    hub.shutdown().await;
}

#[tokio::test]
async fn an_exec_programs_json_lines_are_events_that_automations_act_on() {
    let hub = hearth_testkit::start_hub(Backend::Sqlite).await;
    let dir = tempfile::tempdir().unwrap();
    // Seed 000's recognition program, in miniature: JSON lines, and some that are not.
    let script = dir.path().join("recognise.sh");
    std::fs::write(
        &script,
        "echo '{\"person\": \"known\", \"confidence\": 0.93}'\n\
         echo 'warming up the NPU'\n\
         echo '[1, 2]'\n\
         echo '{\"person\": \"unknown\", \"confidence\": 0.41}'\n",
    )
    .unwrap();
    let extra = format!(
        r#"
[[relay]]
name = "door"
line = 6
command = "unlock"

[[exec]]
name = "faces"
command = "/bin/sh"
args = ["{}"]
restart = "never"
"#,
        script.display()
    );
    let config = setup(&hub, hub.mqtt(), dir.path(), &extra).await;
    // A known face opens the door: the automation acts on the program's event.
    let automations = hearth_services::automations::Automations::new(hub.store());
    let spec = serde_json::from_value(json!({
        "group": "home", "name": "Open for a known face",
        "triggers": [{"type": "event", "device": "pi1", "matches": {"person": "known"}}],
        "actions": [{"type": "command", "device": "pi1", "name": "unlock",
                     "params": {"on": true}}]
    }))
    .unwrap();
    automations.create("cli:test", spec).await.unwrap();
    hub.engine().reload().await.unwrap();

    let gpio = SimGpio::new();
    let agent = Agent::start(config, Arc::new(gpio.clone())).await.unwrap();
    until("both events in history", async || {
        events(&hub).await.len() >= 2
    })
    .await;
    assert_eq!(
        events(&hub).await,
        vec![
            json!({"person": "known", "confidence": 0.93}),
            json!({"person": "unknown", "confidence": 0.41}),
        ]
    );
    let mut door = gpio.watch_output(CHIP, 6).unwrap();
    tokio::time::timeout(DEADLINE, door.wait_for(|open| *open))
        .await
        .expect("the automation unlocked the door")
        .unwrap();
    until("the door's state reported", async || {
        data(&hub).await.contains(&json!({"door": true}))
    })
    .await;
    agent.shutdown().await;
    hub.shutdown().await;
}

#[tokio::test]
async fn an_exec_program_that_exits_is_restarted_and_system_readings_are_data() {
    let hub = hearth_testkit::start_hub(Backend::Sqlite).await;
    let dir = tempfile::tempdir().unwrap();
    let extra = r#"
[system]
interval_secs = 1
as = "data"
disk_path = "/"

[[exec]]
name = "once"
command = "/bin/sh"
args = ["-c", "echo '{\"tick\": 1}'; exit 3"]
restart = "on-failure"
restart_delay_ms = 20
as = "data"
"#;
    let config = setup(&hub, hub.mqtt(), dir.path(), extra).await;
    let agent = Agent::start(config, Arc::new(SimGpio::new()))
        .await
        .unwrap();
    until("three runs of the program", async || {
        data(&hub)
            .await
            .iter()
            .filter(|v| **v == json!({"tick": 1}))
            .count()
            >= 3
    })
    .await;
    until("a system reading", async || {
        data(&hub).await.iter().any(|v| v.get("load_1m").is_some())
    })
    .await;
    let reading = data(&hub)
        .await
        .into_iter()
        .find(|v| v.get("load_1m").is_some())
        .unwrap();
    assert!(reading["mem_used_pct"].as_f64().unwrap() > 0.0, "{reading}");
    assert!(reading.get("disk_used_pct").is_some(), "{reading}");
    agent.shutdown().await;
    hub.shutdown().await;
}

/// A TCP relay in front of the hub's MQTT listener, so that the agent keeps one address
/// while the hub restarts on a new port.
async fn relay_to(target: Arc<parking_lot::Mutex<SocketAddr>>) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            let to = *target.lock();
            tokio::spawn(async move {
                if let Ok(mut outbound) = tokio::net::TcpStream::connect(to).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
    });
    address
}

#[tokio::test]
async fn readings_made_while_the_hub_is_down_arrive_later_with_their_times() {
    let mut hub = hearth_testkit::start_hub(Backend::Sqlite).await;
    let target = Arc::new(parking_lot::Mutex::new(hub.mqtt()));
    let relay = relay_to(target.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    // Three readings fit; the fourth made offline drops the oldest.
    let extra = r#"max_readings = 3

[[button]]
name = "b"
line = 5
debounce_ms = 0
release_action = "release"
"#;
    let config = setup(&hub, relay, dir.path(), extra).await;
    let gpio = SimGpio::new();
    let agent = Agent::start(config.clone(), Arc::new(gpio.clone()))
        .await
        .unwrap();
    connected(&agent).await;

    hub.shutdown_keeping_data().await;
    let mut state = agent.client().state_changes();
    tokio::time::timeout(
        DEADLINE,
        state.wait_for(|state| *state != hearth_device::ConnectionState::Connected),
    )
    .await
    .expect("the agent noticed")
    .unwrap();
    let started_offline = now_millis();
    for high in [true, false, true, false] {
        assert!(gpio.set_input(CHIP, 5, high));
        // Distinct times, so that the order in history is the order of the presses.
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    until("four readings offered to the queue", async || {
        let stats = agent.stats();
        stats.queued.load(std::sync::atomic::Ordering::Relaxed)
            + stats.dropped.load(std::sync::atomic::Ordering::Relaxed)
            == 4
    })
    .await;
    assert_eq!(
        agent
            .stats()
            .dropped
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    // The agent restarts while the hub is still away: the queue is on disk.
    agent.shutdown().await;
    let gpio = SimGpio::new();
    let agent = Agent::start(config, Arc::new(gpio.clone())).await.unwrap();
    assert_eq!(
        agent
            .stats()
            .queued
            .load(std::sync::atomic::Ordering::Relaxed),
        3
    );
    let came_back = now_millis();
    hub.restart().await;
    *target.lock() = hub.mqtt();
    until("the queued readings in history", async || {
        events(&hub).await.len() >= 3
    })
    .await;
    let stored = messages(&hub, MessageKind::Event).await;
    let actions: Vec<Value> = stored
        .iter()
        .map(|m| json_of(m)["action"].clone())
        .collect();
    assert_eq!(
        actions,
        vec![json!("release"), json!("press"), json!("release")],
        "the oldest (the first press) was dropped"
    );
    for message in &stored {
        assert!(
            (started_offline..came_back).contains(&message.received_at_ms),
            "stored at the time it was made, not when it arrived"
        );
        assert!(!message.ts_clamped);
    }
    assert!(
        stored
            .windows(2)
            .all(|w| w[0].received_at_ms < w[1].received_at_ms),
        "in order"
    );
    until("the queue emptied", async || {
        agent
            .stats()
            .queued
            .load(std::sync::atomic::Ordering::Relaxed)
            == 0
    })
    .await;
    assert_eq!(
        std::fs::metadata(dir.path().join("queue.jsonl"))
            .unwrap()
            .len(),
        0
    );
    agent.shutdown().await;
    hub.shutdown().await;
}

#[tokio::test]
async fn the_hearth_agent_command_runs_a_config_file_until_sigterm() {
    let hub = hearth_testkit::start_hub(Backend::Sqlite).await;
    let dir = tempfile::tempdir().unwrap();
    let extra = r#"
[gpio]
backend = "sim"

[[exec]]
name = "hello"
command = "/bin/sh"
args = ["-c", "echo '{\"hello\": \"from the binary\"}'; sleep 600"]
"#;
    // The file the binary reads: the same text `setup` checked.
    let _ = setup(&hub, hub.mqtt(), dir.path(), extra).await;
    let text = format!(
        "hub = \"mqtt://{}\"\ndevice = \"pi1\"\nsecret_file = \"{}\"\n\n[queue]\npath = \"{}\"\n{extra}",
        hub.mqtt(),
        dir.path().join("secret").display(),
        dir.path().join("queue.jsonl").display(),
    );
    let config = dir.path().join("agent.toml");
    std::fs::write(&config, text).unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_hearth"))
        .arg("agent")
        .arg("--config")
        .arg(&config)
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    until("the program's event in history", async || {
        events(&hub)
            .await
            .contains(&json!({"hello": "from the binary"}))
    })
    .await;
    assert!(
        hub.store()
            .device(&ids::device("pi1"))
            .await
            .unwrap()
            .live
            .is_online,
        "online while the agent runs"
    );
    // SAFETY: signalling our own child by its id.
    unsafe { libc::kill(child.id().unwrap() as i32, libc::SIGTERM) };
    let status = tokio::time::timeout(DEADLINE, child.wait())
        .await
        .expect("the agent stopped on SIGTERM")
        .unwrap();
    assert!(status.success(), "{status}");
    until("offline after a clean stop", async || {
        !hub.store()
            .device(&ids::device("pi1"))
            .await
            .unwrap()
            .live
            .is_online
    })
    .await;
    hub.shutdown().await;
}

/// Serves `body` to every GET on 127.0.0.1 (a firmware image for the `ota` command).
async fn serve_image(body: Vec<u8>) -> SocketAddr {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let body = body.clone();
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buf = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = socket.write_all(head.as_bytes()).await;
                let _ = socket.write_all(&body).await;
            });
        }
    });
    address
}

#[tokio::test]
async fn an_ota_command_is_downloaded_checked_and_installed_by_the_install_command() {
    use sha2::Digest;
    let hub = hearth_testkit::start_hub(Backend::Sqlite).await;
    let dir = tempfile::tempdir().unwrap();
    let image: Vec<u8> = (0..50_000u32).map(|i| (i % 251) as u8).collect();
    let server = serve_image(image.clone()).await;
    // The install command copies the image into place and records the version.
    let installed = dir.path().join("installed.bin");
    let version_file = dir.path().join("version");
    let script = dir.path().join("install.sh");
    std::fs::write(
        &script,
        format!(
            "cp \"$1\" '{}' && printf '%s' \"$2\" > '{}'\n",
            installed.display(),
            version_file.display()
        ),
    )
    .unwrap();
    let extra = format!(
        r#"
[ota]
dir = "{}"
install_command = "/bin/sh"
args = ["{}"]
version_file = "{}"
"#,
        dir.path().join("ota").display(),
        script.display(),
        version_file.display()
    );
    let config = setup(&hub, hub.mqtt(), dir.path(), &extra).await;
    let agent = Agent::start(config.clone(), Arc::new(SimGpio::new()))
        .await
        .unwrap();
    connected(&agent).await;
    let send = async |sha256: String, version: &str| {
        let params = json!({
            "url": format!("http://{server}/fw.bin"), "sha256": sha256,
            "size": image.len(), "version": version,
        });
        let sent = hub
            .commands()
            .send("test", &ids::device("pi1"), "ota", params, None)
            .await
            .unwrap();
        finished(&hub, &sent.id).await
    };
    // A checksum that does not match: nothing is installed, the failure is reported.
    let command = send("0".repeat(64), "2.0").await;
    assert_eq!(command.status, CommandStatus::Acked, "accepted at once");
    until("the failure reported", async || {
        events(&hub)
            .await
            .contains(&json!({"ota": "failed", "error": "checksum mismatch"}))
    })
    .await;
    assert!(!installed.exists());

    let digest = hex::encode(sha2::Sha256::digest(&image));
    let command = send(digest, "2.0").await;
    assert_eq!(command.status, CommandStatus::Acked);
    until("the new version reported", async || {
        data(&hub)
            .await
            .contains(&json!({"firmware_version": "2.0"}))
    })
    .await;
    assert_eq!(std::fs::read(&installed).unwrap(), image);
    // After a restart (the install would reboot a real board) the version is reported
    // from the version file.
    agent.shutdown().await;
    let agent = Agent::start(config, Arc::new(SimGpio::new()))
        .await
        .unwrap();
    until("the version reported at start", async || {
        data(&hub)
            .await
            .iter()
            .filter(|v| **v == json!({"firmware_version": "2.0"}))
            .count()
            >= 2
    })
    .await;
    agent.shutdown().await;
    hub.shutdown().await;
}

#[tokio::test]
async fn a_late_queued_event_is_history_but_triggers_no_automation() {
    let hub = hearth_testkit::start_hub(Backend::Sqlite).await;
    let secrets = add_devices(&hub, &["pi1"]).await;
    let automations = hearth_services::automations::Automations::new(hub.store());
    let spec = serde_json::from_value(json!({
        "group": "home", "name": "Doorbell", "mode": "parallel",
        "triggers": [{"type": "event", "device": "pi1", "matches": {"button": "doorbell"}}],
        "actions": [{"type": "notify", "message": "ding"}]
    }))
    .unwrap();
    let automation = automations.create("cli:test", spec).await.unwrap();
    hub.engine().reload().await.unwrap();
    let mut device =
        hearth_testkit::devices::TestDevice::connect(&hub, "pi1", &secrets["pi1"]).await;
    // Pressed an hour ago while the hub was away, then pressed now.
    let hour_ago = now_millis() - 3_600_000;
    device
        .event(&format!(r#"{{"button": "doorbell", "ts": {hour_ago}}}"#))
        .await;
    device.event(r#"{"button": "doorbell"}"#).await;
    until("the current press's run", async || {
        !automations
            .runs(&automation.id, 10)
            .await
            .unwrap()
            .is_empty()
    })
    .await;
    let stored = messages(&hub, MessageKind::Event).await;
    assert_eq!(stored.len(), 2, "both in history");
    assert_eq!(stored[0].received_at_ms, hour_ago);
    // Reports reach the engine in order: the late one came first and was skipped.
    let runs = automations.runs(&automation.id, 10).await.unwrap();
    assert_eq!(runs.len(), 1, "{runs:?}");
    hub.shutdown().await;
}
