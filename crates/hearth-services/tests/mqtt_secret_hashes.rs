//! How device and application secrets are stored and checked: a salted HMAC
//! (`$hearth-hmac-sha256$`) for every secret the registry generates, and a secret
//! still stored as argon2id rehashed at its first login over real MQTT, without an
//! audit entry and without cutting the connection when the snapshot catches up.
//! Every test runs on SQLite and PostgreSQL.

mod acl_hub;

use acl_hub::*;
use hearth_model::{DeviceId, NewAuditEntry};
use hearth_services::registry::DeviceSpec;
use hearth_services::secret;
use hearth_store::{AuditFilter, Store};
use hearth_testkit::{Backend, ids};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

hearth_testkit::both_backends_hub!(
    generated_secrets_are_stored_as_fast_hashes,
    an_argon2_device_is_rehashed_at_its_first_login,
);

const FAST_PREFIX: &str = "$hearth-hmac-sha256$v=1$";

async fn generated_secrets_are_stored_as_fast_hashes(backend: Backend) {
    // Devices added one by one, an application added and one rotated (AclHub::start).
    let hub = AclHub::start(backend).await;
    let store = hub.store();
    // A CSV-style import and a rotation.
    let imported = hub
        .registry()
        .add_devices(
            "test",
            vec![
                DeviceSpec {
                    app: Some(ids::app("default")),
                    ..DeviceSpec::new(ids::device("i1"))
                },
                DeviceSpec {
                    app: Some(ids::app("other")),
                    ..DeviceSpec::new(ids::device("i2"))
                },
            ],
            &|_| {},
        )
        .await
        .expect("import");
    let rotated = hub
        .registry()
        .rotate_device_secret("test", &ids::device("d3"))
        .await
        .expect("rotation");
    let credentials = store.credentials().await.expect("credentials");
    assert_eq!(credentials.devices.len(), 5);
    for device in &credentials.devices {
        assert!(
            device.secret_hash.starts_with(FAST_PREFIX),
            "{}: {}",
            device.id,
            device.secret_hash
        );
    }
    assert_eq!(credentials.apps.len(), 2);
    for app in &credentials.apps {
        assert!(
            app.secret_hash.starts_with(FAST_PREFIX),
            "{}: {}",
            app.id,
            app.secret_hash
        );
    }
    // The hashes are of the secrets handed out.
    let hash_of = |id: &str| {
        credentials
            .devices
            .iter()
            .find(|device| device.id.as_str() == id)
            .map(|device| device.secret_hash.clone())
            .unwrap()
    };
    assert!(secret::verify(hub.secret("d1").as_bytes(), &hash_of("d1")));
    assert!(secret::verify(rotated.as_bytes(), &hash_of("d3")));
    assert!(secret::verify(imported[0].1.as_bytes(), &hash_of("i1")));
    assert!(!secret::verify(hub.secret("d1").as_bytes(), &hash_of("d2")));
    // People's passwords keep argon2id.
    let admin = &credentials.admins[0];
    assert!(
        admin.password_hash.starts_with("$argon2id$"),
        "{}",
        admin.password_hash
    );
    // And every one of them logs in over MQTT.
    for device in ["d1", "d2"] {
        let (client, _eventloop) = connected_device(&hub, device).await;
        let _ = client.disconnect().await;
    }
}

async fn stored_device_hash(store: &Arc<dyn Store>, id: &str) -> String {
    store
        .credentials()
        .await
        .expect("credentials")
        .devices
        .into_iter()
        .find(|device| device.id.as_str() == id)
        .expect("device stored")
        .secret_hash
}

async fn an_argon2_device_is_rehashed_at_its_first_login(backend: Backend) {
    let hub = AclHub::start(backend).await;
    let store = hub.store();
    let device_secret = hub.secret("d1").to_owned();
    // d1's secret as a hub that hashed secrets with argon2id stored it.
    let argon2_hash = secret::hash_password(&device_secret);
    store
        .set_device_secret(
            &DeviceId::new("d1").unwrap(),
            &argon2_hash,
            &NewAuditEntry::new("test", "device.rotate_secret", "d1"),
        )
        .await
        .expect("old hash written");
    hub.authorizer()
        .refresh(hub.bus().as_ref())
        .await
        .expect("snapshot reloaded");
    let seq_before = store.last_audit_seq().await.unwrap();
    let audit_rows_before = store.audit(&AuditFilter::default()).await.unwrap().len();

    let (client, mut eventloop) = connected_device(&hub, "d1").await;
    let mut rehashed = String::new();
    for _ in 0..1000 {
        rehashed = stored_device_hash(&store, "d1").await;
        if rehashed != argon2_hash {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(rehashed.starts_with(FAST_PREFIX), "{rehashed}");
    assert!(secret::verify(device_secret.as_bytes(), &rehashed));
    assert_eq!(store.last_audit_seq().await.unwrap(), seq_before);
    assert_eq!(
        store.audit(&AuditFilter::default()).await.unwrap().len(),
        audit_rows_before,
        "the rehash wrote an audit row"
    );

    // Another change makes the hub reload its snapshot, which now holds the new hash:
    // that is the same secret, so d1's live connection stays.
    let kicked_before = hub
        .authorizer()
        .counters()
        .clients_kicked
        .load(Ordering::Relaxed);
    hub.registry()
        .add_device(
            "test",
            DeviceSpec {
                app: Some(ids::app("default")),
                ..DeviceSpec::new(ids::device("d9"))
            },
        )
        .await
        .expect("d9 added");
    hub.authorizer()
        .refresh(hub.bus().as_ref())
        .await
        .expect("snapshot reloaded");
    assert_eq!(hub.authorizer().device_enabled("d9"), Some(true));
    assert_eq!(
        hub.authorizer()
            .counters()
            .clients_kicked
            .load(Ordering::Relaxed),
        kicked_before,
        "a rehash is not a new secret"
    );
    // The connection still answers.
    client
        .publish(
            "devices/d1/data",
            rumqttc::v5::mqttbytes::QoS::AtLeastOnce,
            false,
            "{}",
        )
        .await
        .expect("publish queued");
    let acked = async {
        loop {
            match eventloop.poll().await {
                Ok(rumqttc::v5::Event::Incoming(rumqttc::v5::mqttbytes::v5::Packet::PubAck(
                    ack,
                ))) => return ack,
                Ok(_) => {}
                Err(error) => panic!("d1 lost its connection: {error:?}"),
            }
        }
    };
    let ack = tokio::time::timeout(Duration::from_secs(30), acked)
        .await
        .expect("PUBACK");
    assert_eq!(
        ack.reason,
        rumqttc::v5::mqttbytes::v5::PubAckReason::Success
    );
    client.disconnect().await.expect("disconnect queued");
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        while eventloop.poll().await.is_ok() {}
    })
    .await;

    // And it logs in again, now against the fast hash; a wrong secret still fails.
    let (client, _eventloop) = connected_device(&hub, "d1").await;
    let _ = client.disconnect().await;
    assert_eq!(stored_device_hash(&store, "d1").await, rehashed);
    assert!(!secret::verify(b"not the secret", &rehashed));
}
