//! `hearth simulate` against a real hub: every kind logs in with real credentials,
//! reports readings that reach the store and answers commands the hub records; a failing
//! device's commands fail; an offline period makes a device offline and online again;
//! devices from a CSV run in the real binary; the demo home registers nothing twice.

use hearth::simulate::fleet::{Behaviour, Fleet, FleetOptions, SimDevice};
use hearth::simulate::kinds::Kind;
use hearth::simulate::setup;
use hearth_model::capability::parse_capabilities;
use hearth_model::{CommandStatus, DeviceId};
use hearth_store::{DeviceFilter, TimeRange};
use hearth_testkit::{Backend, TestHub, devices::add_devices, ids};
use serde_json::{Value, json};
use std::time::Duration;

/// How long a test waits for the hub before it fails (not a measurement).
const DEADLINE: Duration = Duration::from_secs(60);

async fn until<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    tokio::time::timeout(DEADLINE, async {
        while !check().await {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("gave up waiting for {what}"));
}

fn options(hub: &TestHub, ota_dir: &std::path::Path) -> FleetOptions {
    FleetOptions {
        host: "127.0.0.1".into(),
        port: hub.mqtt().port(),
        seed: 7,
        queue: 16,
        ota_dir: ota_dir.to_owned(),
        tls: None,
        fallbacks: Vec::new(),
    }
}

fn fast(mut devices: Vec<SimDevice>, extra: &Behaviour) -> Vec<SimDevice> {
    let quick = Behaviour {
        interval_secs: Some(0.2),
        heartbeat_secs: Some(1),
        ..Behaviour::default()
    };
    for device in &mut devices {
        device.behaviour = quick.overlay(extra);
    }
    devices
}

async fn refresh(hub: &TestHub) {
    hub.authorizer()
        .refresh(hub.bus().as_ref())
        .await
        .expect("the authorizer refreshed");
}

async fn live(hub: &TestHub, id: &DeviceId) -> hearth_model::DeviceLive {
    hub.store()
        .device(id)
        .await
        .expect("the device exists")
        .live
}

async fn command(hub: &TestHub, id: &DeviceId, name: &str, params: Value) -> hearth_model::Command {
    let sent = hub
        .commands()
        .send("test", id, name, params, None)
        .await
        .expect("command accepted");
    tokio::time::timeout(DEADLINE, async {
        loop {
            let command = hub.commands().get(&sent.id).await.expect("stored");
            if !matches!(command.status, CommandStatus::Pending | CommandStatus::Sent) {
                return command;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the command finished in time")
}

fn find(devices: &[SimDevice], kind: Kind) -> DeviceId {
    devices
        .iter()
        .find(|device| device.kind == kind)
        .map(|device| device.id.clone())
        .expect("a device of the kind")
}

async fn every_kind_reports_and_answers_commands(backend: Backend) {
    let hub = hearth_testkit::start_hub(backend).await;
    // Firmware downloads of the simulated devices, removed with the test.
    let downloads = tempfile::tempdir().expect("a temporary directory");
    let devices = setup::create(hub.registry(), "test", Kind::ALL.len(), None, None, "sim")
        .await
        .expect("created");
    refresh(&hub).await;
    let kinds: Vec<Kind> = devices.iter().map(|device| device.kind).collect();
    assert_eq!(kinds, Kind::ALL.to_vec());
    // Each device declares its capabilities (retained) when it logs in.
    let mut declarations = hub
        .bus()
        .subscribe("devices/+/capabilities")
        .await
        .expect("subscribed");
    let fleet = Fleet::start(
        fast(devices.clone(), &Behaviour::default()),
        &options(&hub, downloads.path()),
    );

    // Every device is online with a reading of its kind, stored in history too.
    for device in &devices {
        let key = match device.kind {
            Kind::Temperature => "humidity",
            Kind::Switch => "power_w",
            Kind::Relay => "on",
            Kind::Dimmer => "brightness",
            Kind::Thermostat => "setpoint",
            Kind::Lock => "locked",
            Kind::Smoke => "smoke",
            Kind::Motion => "battery",
            Kind::Camera => "motion",
            Kind::ColorLight => "color_temp_k",
            Kind::Cover => "position",
        };
        until(&format!("{} reporting {key}", device.id), || async {
            let live = live(&hub, &device.id).await;
            live.is_online
                && live
                    .last_report_data
                    .is_some_and(|data| data.get(key).is_some())
        })
        .await;
        until(&format!("{} in history", device.id), || async {
            hub.store()
                .message_count(Some(&device.id))
                .await
                .expect("count")
                > 0
        })
        .await;
    }

    let mut declared = std::collections::HashMap::new();
    tokio::time::timeout(DEADLINE, async {
        while declared.len() < devices.len() {
            let message = declarations.recv().await.expect("the bus is up");
            let payload: Value = serde_json::from_slice(&message.payload).expect("JSON");
            declared.insert(message.topic.to_string(), payload);
        }
    })
    .await
    .expect("every device declared its capabilities");
    for device in &devices {
        let payload = &declared[&format!("devices/{}/capabilities", device.id)];
        let capabilities = parse_capabilities(payload).expect("a valid declaration");
        assert_eq!(capabilities, device.kind.capabilities(), "{}", device.id);
    }

    let switch = find(&devices, Kind::Switch);
    let done = command(&hub, &switch, "switch", json!({"on": true})).await;
    assert_eq!(done.status, CommandStatus::Acked);
    assert_eq!(done.reported_state.expect("state")["on"], json!(true));
    let dimmer = find(&devices, Kind::Dimmer);
    let done = command(&hub, &dimmer, "brightness", json!({"brightness": 40})).await;
    assert_eq!(done.status, CommandStatus::Acked);
    assert_eq!(
        done.reported_state,
        Some(json!({"on": true, "brightness": 40.0}))
    );
    let done = command(&hub, &dimmer, "brightness", json!({"brightness": 400})).await;
    assert_eq!(done.status, CommandStatus::Failed);
    let thermostat = find(&devices, Kind::Thermostat);
    let done = command(&hub, &thermostat, "setpoint", json!({"setpoint": 23.5})).await;
    assert_eq!(done.reported_state.expect("state")["setpoint"], json!(23.5));
    let done = command(&hub, &thermostat, "mode", json!({"mode": "off"})).await;
    assert_eq!(done.reported_state.expect("state")["mode"], json!("off"));
    let light = find(&devices, Kind::ColorLight);
    let done = command(&hub, &light, "color", json!({"r": 255, "g": 0, "b": 64})).await;
    assert_eq!(
        done.reported_state.expect("state")["color"],
        json!({"r": 255, "g": 0, "b": 64})
    );
    let done = command(&hub, &light, "color", json!({"color_temp_k": 3000})).await;
    assert_eq!(
        done.reported_state.expect("state")["color_temp_k"],
        json!(3000.0)
    );
    let blind = find(&devices, Kind::Cover);
    let done = command(&hub, &blind, "position", json!({"position": 40})).await;
    assert_eq!(done.reported_state.expect("state")["position"], json!(40.0));
    let done = command(&hub, &blind, "open", json!({})).await;
    assert_eq!(
        done.reported_state.expect("state")["position"],
        json!(100.0)
    );
    let lock = find(&devices, Kind::Lock);
    let done = command(&hub, &lock, "unlock", json!({})).await;
    assert_eq!(done.status, CommandStatus::Acked);
    // The new state is reported as data too, not only in the ack.
    until("the lock reporting unlocked", || async {
        live(&hub, &lock)
            .await
            .last_report_data
            .is_some_and(|data| data["locked"] == json!(false))
    })
    .await;
    let sensor = find(&devices, Kind::Temperature);
    let done = command(&hub, &sensor, "switch", json!({"on": true})).await;
    assert_eq!(done.status, CommandStatus::Failed);
    assert_eq!(done.result, Some(json!("unknown command switch")));

    fleet.stop().await;
    until("a stopped device offline", || async {
        !live(&hub, &switch).await.is_online
    })
    .await;
    hub.shutdown().await;
}

#[tokio::test]
async fn failing_slow_and_offline_devices_behave_as_configured() {
    let hub = hearth_testkit::start_hub(Backend::Sqlite).await;
    // Firmware downloads of the simulated devices, removed with the test.
    let downloads = tempfile::tempdir().expect("a temporary directory");
    let failing = setup::create(
        hub.registry(),
        "test",
        1,
        Some(Kind::Relay),
        None,
        "failing",
    )
    .await
    .expect("created");
    let flaky = setup::create(hub.registry(), "test", 1, Some(Kind::Switch), None, "flaky")
        .await
        .expect("created");
    refresh(&hub).await;
    let mut devices = fast(
        failing,
        &Behaviour {
            fail_rate: Some(1.0),
            answer_delay_ms: Some(300),
            ..Behaviour::default()
        },
    );
    devices.extend(fast(
        flaky,
        &Behaviour {
            offline_every_secs: Some(1.0),
            offline_for_secs: Some(1.0),
            ..Behaviour::default()
        },
    ));
    let (failing, flaky) = (devices[0].id.clone(), devices[1].id.clone());
    let fleet = Fleet::start(devices, &options(&hub, downloads.path()));

    until("the failing device online", || async {
        live(&hub, &failing).await.is_online
    })
    .await;
    let done = command(&hub, &failing, "switch", json!({"on": true})).await;
    assert_eq!(done.status, CommandStatus::Failed);
    assert_eq!(done.result, Some(json!("simulated failure")));

    until("the flaky device online", || async {
        live(&hub, &flaky).await.is_online
    })
    .await;
    // Offline (the dropped connection) and back online, in the presence history (a
    // live flag could flip back between two looks).
    until("the flaky device offline and back online", || async {
        let range = TimeRange {
            from_ms: 0,
            to_ms: i64::MAX as _,
        };
        let changes = hub
            .store()
            .status_history(&flaky, range, 100)
            .await
            .expect("presence history");
        // Newest first: an online change after an offline one.
        changes
            .iter()
            .position(|change| !change.online)
            .is_some_and(|offline| changes[..offline].iter().any(|change| change.online))
    })
    .await;
    fleet.stop().await;
    hub.shutdown().await;
}

#[tokio::test]
async fn the_binary_runs_devices_from_a_csv() {
    let hub = hearth_testkit::start_hub(Backend::Sqlite).await;
    let secrets = add_devices(&hub, &["csv-1", "csv-2"]).await;
    let dir = tempfile::tempdir().expect("a temporary directory");
    let csv = dir.path().join("devices.csv");
    std::fs::write(
        &csv,
        format!(
            "id,secret,kind\ncsv-1,{},thermostat\ncsv-2,{}\n",
            secrets["csv-1"], secrets["csv-2"]
        ),
    )
    .expect("CSV written");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_hearth"))
        .arg("simulate")
        .arg("--devices")
        .arg(&csv)
        .args(["--mqtt", &format!("127.0.0.1:{}", hub.mqtt().port())])
        .args(["--interval", "0.2", "--duration", "120"])
        .kill_on_drop(true)
        .spawn()
        .expect("hearth simulate starts");
    until("both CSV devices reporting", || async {
        let thermostat = live(&hub, &ids::device("csv-1")).await.last_report_data;
        let sensor = live(&hub, &ids::device("csv-2")).await.last_report_data;
        thermostat.is_some_and(|data| data.get("setpoint").is_some())
            && sensor.is_some_and(|data| data.get("humidity").is_some())
    })
    .await;
    // SIGTERM: every device says goodbye (retained offline, DISCONNECT) and the
    // process ends by itself.
    let pid = child.id().expect("running");
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    let status = tokio::time::timeout(DEADLINE, child.wait())
        .await
        .expect("the simulator ends after SIGTERM")
        .expect("exit status");
    assert!(status.success(), "{status:?}");
    until("the CSV devices' goodbye stored", || async {
        let sensor = live(&hub, &ids::device("csv-2")).await;
        !sensor.is_online && sensor.device_status.as_deref() == Some("offline")
    })
    .await;
    hub.shutdown().await;
}

async fn the_demo_home_is_registered_once(backend: Backend) {
    let hub = hearth_testkit::start_hub(backend).await;
    // Firmware downloads of the simulated devices, removed with the test.
    let downloads = tempfile::tempdir().expect("a temporary directory");
    let first = setup::demo_home(hub.registry(), "test")
        .await
        .expect("demo registered");
    let second = setup::demo_home(hub.registry(), "test")
        .await
        .expect("demo again");
    assert_eq!(first.len(), 13);
    assert_eq!(second.len(), 13);
    let filter = DeviceFilter {
        application: Some(ids::app(setup::DEMO_APP)),
        ..DeviceFilter::default()
    };
    let registered = hub.store().devices(&filter).await.expect("devices");
    assert_eq!(registered.len(), 13);
    let kinds: std::collections::HashSet<Kind> = first.iter().map(|device| device.kind).collect();
    assert_eq!(kinds.len(), Kind::ALL.len(), "every kind in the demo");
    assert!(registered.iter().all(|device| device.room.is_some()));
    let group = hub
        .store()
        .group(&ids::group(setup::DEMO_GROUP))
        .await
        .expect("group");
    assert_eq!(group.name, "Demo home / 演示家庭");
    let members = hub.store().members(&group.id).await.expect("members");
    assert!(members.iter().any(|member| member.user.as_str() == "admin"));

    // The second run's secrets are the ones that work now.
    refresh(&hub).await;
    let one = vec![second[0].clone()];
    let fleet = Fleet::start(
        fast(one, &Behaviour::default()),
        &options(&hub, downloads.path()),
    );
    until("a demo device online with its new secret", || async {
        live(&hub, &second[0].id).await.is_online
    })
    .await;
    fleet.stop().await;
    hub.shutdown().await;
}

hearth_testkit::both_backends_hub!(
    every_kind_reports_and_answers_commands,
    the_demo_home_is_registered_once
);

#[test]
fn a_simulation_file_layers_defaults_kinds_and_devices() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("sim.toml");
    std::fs::write(
        &path,
        "seed = 3\n[defaults]\ninterval_secs = 2.0\nfail_rate = 0.1\n\
         [kinds.lock]\nanswer_delay_ms = 1500\n\
         [devices.lock-2]\nfail_rate = 1.0\nota_fail = \"checksum\"\n",
    )
    .expect("file written");
    let file = hearth::simulate::SimulationFile::load(&path).expect("a valid file");
    let device = |id: &str, kind| SimDevice {
        id: ids::device(id),
        secret: "s".into(),
        kind,
        behaviour: Behaviour::default(),
    };
    let mut devices = vec![
        device("lock-1", Kind::Lock),
        device("lock-2", Kind::Lock),
        device("t", Kind::Temperature),
    ];
    file.apply(&mut devices);
    assert_eq!(devices[0].behaviour.answer_delay_ms, Some(1500));
    assert_eq!(devices[0].behaviour.fail_rate, Some(0.1));
    assert_eq!(devices[1].behaviour.fail_rate, Some(1.0));
    assert_eq!(devices[1].behaviour.ota_fail.as_deref(), Some("checksum"));
    assert_eq!(devices[2].behaviour.answer_delay_ms, None);
    assert_eq!(devices[2].behaviour.interval_secs, Some(2.0));

    std::fs::write(&path, "[kinds.toaster]\nfail_rate = 1.0\n").expect("file written");
    let error = hearth::simulate::SimulationFile::load(&path).expect_err("unknown kind");
    assert!(error.to_string().contains("toaster"), "{error}");
    std::fs::write(&path, "[defaults]\nfail_rat = 1.0\n").expect("file written");
    assert!(
        hearth::simulate::SimulationFile::load(&path).is_err(),
        "a misspelt field is refused"
    );
}

/// The issue's proof with the simulator: five simulated relays, one whose downloads
/// arrive damaged (`ota_fail = "checksum"`), one rollout: "4 updated, 1 failed: checksum
/// mismatch".
async fn a_rollout_to_simulated_devices(backend: Backend) {
    use hearth_services::ota::{ImageInfo, RolloutRequest};
    let hub = hearth_testkit::start_hub(backend).await;
    // Firmware downloads of the simulated devices, removed with the test.
    let downloads = tempfile::tempdir().expect("a temporary directory");
    let mut devices = setup::create(hub.registry(), "test", 5, Some(Kind::Relay), None, "ota")
        .await
        .expect("created");
    refresh(&hub).await;
    devices = fast(devices, &Behaviour::default());
    devices[1].behaviour.ota_fail = Some("checksum".into());
    let fleet = Fleet::start(devices.clone(), &options(&hub, downloads.path()));
    for device in &devices {
        until("every relay online", || async {
            live(&hub, &device.id).await.is_online
        })
        .await;
    }

    let ota = hub.ota().expect("firmware updates are on");
    let mut upload = ota.begin_upload().await.expect("upload");
    upload
        .write(&b"relay firmware 2.0.0 ".repeat(4096))
        .await
        .expect("written");
    let info = ImageInfo {
        name: "relay".into(),
        version: "2.0.0".into(),
        kind: "relay".into(),
    };
    let firmware = ota
        .finish_upload("test", upload, info)
        .await
        .expect("stored");
    let rollout = ota
        .start_rollout(RolloutRequest {
            actor: "test".into(),
            firmware: firmware.id,
            group: ids::group("home"),
            selector: "kind:relay".into(),
            devices: devices.iter().map(|device| device.id.clone()).collect(),
            first_percent: 100,
        })
        .await
        .expect("rollout started");
    let text = tokio::time::timeout(DEADLINE, async {
        loop {
            let (_, targets) = ota.rollout(&rollout.id).await.expect("rollout");
            let summary = hearth_model::RolloutSummary::of(&targets);
            if summary.pending == 0 && summary.in_flight == 0 {
                return summary.text;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("the rollout finished in time");
    assert_eq!(text, "4 updated, 1 failed: checksum mismatch");
    fleet.stop().await;
    hub.shutdown().await;
}

hearth_testkit::both_backends_hub!(a_rollout_to_simulated_devices);
