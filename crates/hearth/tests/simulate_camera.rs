//! `hearth simulate`'s camera against a real hub (docs/cameras.md): it logs in with its
//! own credentials, publishes a new JPEG every period on `devices/{id}/snapshot`
//! (retained: a subscriber that arrives later gets the latest at once), and motion events
//! that are stored in history like any device's, while the snapshots are not.

use hearth::simulate::fleet::{Behaviour, Fleet, FleetOptions};
use hearth::simulate::kinds::Kind;
use hearth::simulate::setup;
use hearth_model::MessageKind;
use hearth_store::{MessageQuery, TimeRange};
use hearth_testkit::{ADMIN_PASSWORD, Backend};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use std::time::Duration;

/// How long the test waits for the hub before it fails (not a measurement).
const DEADLINE: Duration = Duration::from_secs(60);

async fn a_simulated_camera_sends_snapshots_and_motion(backend: Backend) {
    let hub = hearth_testkit::start_hub(backend).await;
    let mut devices = setup::create(hub.registry(), "test", 1, Some(Kind::Camera), None, "cam")
        .await
        .expect("created");
    hub.authorizer()
        .refresh(hub.bus().as_ref())
        .await
        .expect("the authorizer refreshed");
    let camera = devices[0].id.clone();
    assert_eq!(
        hub.store().device(&camera).await.unwrap().kind,
        "camera",
        "the web app shows it as a camera"
    );
    devices[0].behaviour = Behaviour {
        interval_secs: Some(0.1),
        heartbeat_secs: Some(1),
        ..Behaviour::default()
    };
    let downloads = tempfile::tempdir().expect("a temporary directory");
    let fleet = Fleet::start(
        devices,
        &FleetOptions {
            host: "127.0.0.1".into(),
            port: hub.mqtt().port(),
            seed: 7,
            queue: 16,
            ota_dir: downloads.path().to_owned(),
            tls: None,
            fallbacks: Vec::new(),
        },
    );

    // Motion comes and goes (about one period in ten): wait until it is in history.
    let motion = tokio::time::timeout(DEADLINE, async {
        loop {
            let events = hub
                .store()
                .messages(&MessageQuery {
                    device: camera.clone(),
                    kind: Some(MessageKind::Event),
                    range: TimeRange {
                        from_ms: 0,
                        to_ms: i64::MAX,
                    },
                    limit: 100,
                })
                .await
                .unwrap();
            if let Some(event) = events.first() {
                return serde_json::from_slice::<serde_json::Value>(&event.payload).unwrap();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("a motion event in time");
    assert!(motion["motion"].is_boolean(), "{motion}");

    // A subscriber that arrives now gets the latest snapshot (retained), then new ones.
    let mut options = MqttOptions::new("observer", "127.0.0.1", hub.mqtt().port());
    options.set_credentials("admin", ADMIN_PASSWORD);
    options.set_max_packet_size(1 << 20, 1 << 20);
    let (client, mut events) = AsyncClient::new(options, 16);
    client
        .subscribe(format!("devices/{camera}/snapshot"), QoS::AtLeastOnce)
        .await
        .unwrap();
    let mut snapshots = Vec::new();
    tokio::time::timeout(DEADLINE, async {
        while snapshots.len() < 3 {
            match events.poll().await {
                Ok(Event::Incoming(Packet::Publish(publish))) => snapshots.push(publish),
                Ok(_) => {}
                Err(error) => panic!("observer: {error:?}"),
            }
        }
    })
    .await
    .expect("three snapshots in time");
    assert!(snapshots[0].retain, "the first is the retained copy");
    for snapshot in &snapshots {
        assert!(snapshot.payload.starts_with(&[0xff, 0xd8, 0xff]), "a JPEG");
        assert!(snapshot.payload.ends_with(&[0xff, 0xd9]));
    }
    assert_ne!(
        snapshots[1].payload, snapshots[2].payload,
        "the picture changes"
    );
    // History holds the camera's data and events, never a JPEG.
    let stored = hub
        .store()
        .messages(&MessageQuery {
            device: camera.clone(),
            kind: None,
            range: TimeRange {
                from_ms: 0,
                to_ms: i64::MAX,
            },
            limit: 10_000,
        })
        .await
        .unwrap();
    assert!(!stored.is_empty());
    assert!(
        stored
            .iter()
            .all(|message| !message.payload.starts_with(&[0xff, 0xd8])),
        "no snapshot in history"
    );
    fleet.stop().await;
    hub.shutdown().await;
}

hearth_testkit::both_backends_hub!(a_simulated_camera_sends_snapshots_and_motion);
