//! Buttons, relays, exec programs, system readings and the real binary.

use super::*;

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

#[tokio::test]
async fn system_readings_as_heartbeat_ride_on_the_heartbeat() {
    let hub = hearth_testkit::start_hub(Backend::Sqlite).await;
    let dir = tempfile::tempdir().unwrap();
    let extra = r#"
[system]
interval_secs = 1
as = "heartbeat"
"#;
    let config = setup(&hub, hub.mqtt(), dir.path(), extra).await;
    let agent = Agent::start(config, Arc::new(SimGpio::new()))
        .await
        .unwrap();
    until("a heartbeat with the board's numbers", async || {
        messages(&hub, MessageKind::Heartbeat)
            .await
            .iter()
            .any(|message| json_of(message).get("load_1m").is_some())
    })
    .await;
    assert!(
        data(&hub).await.is_empty(),
        "heartbeat readings are not data"
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
