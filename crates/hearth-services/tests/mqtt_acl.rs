//! MQTT auth and ACL from the registry, as real clients see them (SPEC §5): every
//! principal × allowed and forbidden topics, publish and subscribe, wildcards included,
//! with exact reason codes (raw-socket client `auth_clients.py` of the broker's tests)
//! and an observer proving that denied publishes reach nobody; revocations (disable,
//! rotate, delete) cutting live connections, made in-process and from "another process"
//! (a second `Registry` on the same store, as the CLI is). Browser credentials are in
//! `mqtt_browser.rs`. Every test runs on SQLite, PostgreSQL and MariaDB.

mod acl_hub;

use acl_hub::*;
use hearth_services::{Registry, registry::DeviceSpec};
use hearth_testkit::{Backend, ids};
use serde_json::json;

async fn device_may_touch_only_its_own_topics(backend: Backend) {
    let hub = AclHub::start(backend).await;
    let result = hub
        .session(
            5,
            "d1",
            Some(("d1", hub.secret("d1"))),
            &[
                "devices/d1/commands/#",
                "devices/d1/commands/+",
                "devices/d1/commands/relay",
                "devices/d1/#",
                "devices/d1/data",
                "devices/+/commands/#",
                "devices/d2/commands/#",
                "#",
                "$SYS/#",
            ],
            &[
                "devices/d1/data",
                "devices/d1/status",
                "devices/d1/commands/relay/ack",
                "devices/d2/data",
                "devices/d1",
                "home/lights",
                // What the hub says to the device or about it (issue 12, finding 14).
                "devices/d1/command-status",
                "devices/d1/commands/relay",
            ],
        )
        .await;
    assert_eq!(result["connack"], 0, "{result}");
    assert_eq!(
        codes(&result, "suback"),
        json!({
            "devices/d1/commands/#": GRANTED_QOS1,
            "devices/d1/commands/+": GRANTED_QOS1,
            "devices/d1/commands/relay": GRANTED_QOS1,
            "devices/d1/#": NOT_AUTHORIZED,
            "devices/d1/data": NOT_AUTHORIZED,
            "devices/+/commands/#": NOT_AUTHORIZED,
            "devices/d2/commands/#": NOT_AUTHORIZED,
            "#": NOT_AUTHORIZED,
            "$SYS/#": NOT_AUTHORIZED,
        })
    );
    assert_eq!(
        codes(&result, "puback"),
        json!({
            "devices/d1/data": 0,
            "devices/d1/status": 0,
            "devices/d1/commands/relay/ack": 0,
            "devices/d2/data": NOT_AUTHORIZED,
            "devices/d1": NOT_AUTHORIZED,
            "home/lights": NOT_AUTHORIZED,
            "devices/d1/command-status": NOT_AUTHORIZED,
            "devices/d1/commands/relay": NOT_AUTHORIZED,
        })
    );
    assert_eq!(
        result["observer_got"],
        json!([
            "devices/d1/data",
            "devices/d1/status",
            "devices/d1/commands/relay/ack"
        ])
    );
    let counters = hub.authorizer().counters();
    assert_eq!(
        counters
            .subscribes_denied
            .load(std::sync::atomic::Ordering::Relaxed),
        6
    );
    assert_eq!(
        counters
            .publishes_denied
            .load(std::sync::atomic::Ordering::Relaxed),
        5
    );
}

async fn a_3_1_1_device_is_refused_the_same_way(backend: Backend) {
    let hub = AclHub::start(backend).await;
    let result = hub
        .session(
            4,
            "d2",
            Some(("d2", hub.secret("d2"))),
            &["devices/d2/commands/#", "devices/d1/commands/#"],
            &["devices/d2/data", "devices/d1/data"],
        )
        .await;
    assert_eq!(result["connack"], 0, "{result}");
    assert_eq!(
        codes(&result, "suback"),
        json!({"devices/d2/commands/#": 1, "devices/d1/commands/#": 0x80})
    );
    // MQTT 3.1.1 has no PUBACK reason: the forbidden message is acknowledged and dropped.
    assert_eq!(result["observer_got"], json!(["devices/d2/data"]));
}

async fn applications_read_and_command_only_their_devices(backend: Backend) {
    let hub = AclHub::start(backend).await;
    let (key, secret) = &hub.default_app;
    let client_id = format!("{key}:integration-1");
    let result = hub
        .session(
            5,
            &client_id,
            Some((key, secret)),
            &[
                "devices/d1/#",
                "devices/d2/data",
                "devices/d3/#",
                "devices/+/data",
                "devices/#",
                "#",
            ],
            &[
                "devices/d1/commands/relay",
                "devices/d2/commands/light/set",
                "devices/d3/commands/relay",
                "devices/d1/data",
                "apps/default/out",
            ],
        )
        .await;
    assert_eq!(result["connack"], 0, "{result}");
    assert_eq!(
        codes(&result, "suback"),
        json!({
            "devices/d1/#": GRANTED_QOS1,
            "devices/d2/data": GRANTED_QOS1,
            "devices/d3/#": NOT_AUTHORIZED,
            // Granted, and filtered per delivery to the devices the application holds
            // (`mqtt_device_sets.rs`).
            "devices/+/data": GRANTED_QOS1,
            "devices/#": GRANTED_QOS1,
            "#": NOT_AUTHORIZED,
        })
    );
    assert_eq!(
        codes(&result, "puback"),
        json!({
            "devices/d1/commands/relay": 0,
            "devices/d2/commands/light/set": 0,
            "devices/d3/commands/relay": NOT_AUTHORIZED,
            "devices/d1/data": NOT_AUTHORIZED,
            "apps/default/out": NOT_AUTHORIZED,
        })
    );
    let (key, secret) = &hub.other_app;
    let result = hub
        .session(
            5,
            key,
            Some((key, secret)),
            &["devices/d3/#", "devices/d1/#"],
            &["devices/d3/commands/relay", "devices/d1/commands/relay"],
        )
        .await;
    assert_eq!(
        codes(&result, "suback"),
        json!({"devices/d3/#": GRANTED_QOS1, "devices/d1/#": NOT_AUTHORIZED})
    );
    assert_eq!(
        codes(&result, "puback"),
        json!({"devices/d3/commands/relay": 0, "devices/d1/commands/relay": NOT_AUTHORIZED})
    );
}

async fn admins_may_do_anything(backend: Backend) {
    let hub = AclHub::start(backend).await;
    let result = hub
        .session(
            5,
            "admin-console",
            Some(("admin", ADMIN_PASSWORD)),
            // `$SYS/#` last: its retained messages follow its SUBACK.
            &["#", "devices/+/data", "$SYS/#"],
            &["devices/d1/commands/relay", "anything/at/all"],
        )
        .await;
    assert_eq!(result["connack"], 0, "{result}");
    assert_eq!(
        codes(&result, "suback"),
        json!({"#": 1, "$SYS/#": 1, "devices/+/data": 1})
    );
    assert_eq!(
        codes(&result, "puback"),
        json!({"devices/d1/commands/relay": 0, "anything/at/all": 0})
    );
}

async fn bad_credentials_are_refused_with_the_right_code(backend: Backend) {
    let hub = AclHub::start(backend).await;
    type Case<'a> = (&'a str, Option<(&'a str, &'a str)>, u64);
    let cases: Vec<Case> = vec![
        // Wrong secret: bad user name or password.
        ("d1", Some(("d1", "not-the-secret")), 0x86),
        // Another device's secret.
        ("d1", Some(("d1", hub.secret("d2"))), 0x86),
        // The right secret under a foreign client id.
        ("impostor", Some(("d1", hub.secret("d1"))), 0x87),
        // Unknown user name.
        ("ghost", Some(("ghost", "whatever")), 0x86),
        // No credentials while anonymous access is off.
        ("anon", None, 0x87),
        // A person's password is not an application secret.
        (
            "x",
            Some((hub.default_app.0.as_str(), ADMIN_PASSWORD)),
            0x86,
        ),
    ];
    for (client_id, credentials, expected) in cases {
        let result = hub.session(5, client_id, credentials, &[], &[]).await;
        assert_eq!(
            result["connack"], expected,
            "{client_id} {credentials:?}: {result}"
        );
    }
    // The 3.1.1 return codes: 4 bad user name or password, 5 not authorized.
    let result = hub
        .session(4, "d1", Some(("d1", "not-the-secret")), &[], &[])
        .await;
    assert_eq!(result["connack"], 4, "{result}");
    let result = hub.session(4, "anon", None, &[], &[]).await;
    assert_eq!(result["connack"], 5, "{result}");
}

async fn revocations_disconnect_live_clients_at_once(backend: Backend) {
    let hub = AclHub::start(backend).await;
    // Disabling.
    let (_client, mut eventloop) = connected_device(&hub, "d1").await;
    hub.registry()
        .set_device_enabled("test", &ids::device("d1"), false)
        .await
        .unwrap();
    wait_until_kicked(&hub, &mut eventloop, 1).await;
    let result = hub
        .session(5, "d1", Some(("d1", hub.secret("d1"))), &[], &[])
        .await;
    assert_eq!(result["connack"], NOT_AUTHORIZED, "disabled: {result}");

    // Rotating the secret: the old one stops working, the new one works.
    let (_client, mut eventloop) = connected_device(&hub, "d2").await;
    let new_secret = hub
        .registry()
        .rotate_device_secret("test", &ids::device("d2"))
        .await
        .unwrap();
    wait_until_kicked(&hub, &mut eventloop, 2).await;
    let old = hub
        .session(5, "d2", Some(("d2", hub.secret("d2"))), &[], &[])
        .await;
    assert_eq!(old["connack"], 0x86, "old secret: {old}");
    let new = hub
        .session(
            5,
            "d2",
            Some(("d2", &new_secret)),
            &[],
            &["devices/d2/data"],
        )
        .await;
    assert_eq!(new["connack"], 0, "new secret: {new}");

    // Deleting.
    let (_client, mut eventloop) = connected_device(&hub, "d3").await;
    hub.registry()
        .remove_device("test", &ids::device("d3"))
        .await
        .unwrap();
    wait_until_kicked(&hub, &mut eventloop, 3).await;
}

async fn changes_from_another_process_reach_the_hub(backend: Backend) {
    let hub = AclHub::start(backend).await;
    // The CLI is another process: its Registry rings no notifier of ours; only the
    // audit log tells the hub. A provisioning script adds a device and connects at
    // once: the hub looks an unknown name up instead of refusing it until its next
    // poll...
    let cli = Registry::new(hub.store());
    for round in 0..3 {
        let id = format!("late{round}");
        let (_, secret) = cli
            .add_device(
                "cli:test",
                DeviceSpec {
                    app: Some(ids::app("default")),
                    ..DeviceSpec::new(ids::device(&id))
                },
            )
            .await
            .unwrap();
        // A Rust client, connecting within a millisecond (a Python one takes longer to
        // start than the hub takes to poll).
        let mut options = rumqttc::v5::MqttOptions::new(&id, "127.0.0.1", hub.port());
        options.set_credentials(&id, &secret);
        let (_client, mut eventloop) = rumqttc::v5::AsyncClient::new(options, 4);
        let connack = loop {
            match eventloop.poll().await {
                Ok(rumqttc::v5::Event::Incoming(rumqttc::v5::mqttbytes::v5::Packet::ConnAck(
                    ack,
                ))) => break Ok(ack.code),
                Ok(_) => {}
                Err(rumqttc::v5::ConnectionError::ConnectionRefused(code)) => break Err(code),
                Err(error) => panic!("{id}: {error:?}"),
            }
        };
        assert!(
            connack.is_ok(),
            "a device added by another process was refused: {connack:?}"
        );
    }
    // ...and a disabled one is cut off without any notification.
    let (_client, mut eventloop) = connected_device(&hub, "d1").await;
    cli.set_device_enabled("cli:test", &ids::device("d1"), false)
        .await
        .unwrap();
    wait_until_kicked(&hub, &mut eventloop, 1).await;
}

hearth_testkit::both_backends_hub!(
    device_may_touch_only_its_own_topics,
    a_3_1_1_device_is_refused_the_same_way,
    applications_read_and_command_only_their_devices,
    admins_may_do_anything,
    bad_credentials_are_refused_with_the_right_code,
    revocations_disconnect_live_clients_at_once,
    changes_from_another_process_reach_the_hub,
);
