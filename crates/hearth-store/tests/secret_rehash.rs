//! `CredentialStore::rehash_secrets`: replacing a stored secret hash by another of the
//! same secret, only where the stored one is still the old hash, without an audit entry.
//! Every test runs on SQLite and on PostgreSQL (`HEARTH_TEST_POSTGRES`).

use hearth_model::{AppId, Application, DeviceId, Group, GroupId, NewAuditEntry, NewDevice};
use hearth_store::{AuditFilter, SecretOwner, SecretRehash, Store};
use hearth_testkit::both_backends;
use std::sync::Arc;

both_backends!(
    a_rehash_replaces_only_the_hash_it_was_computed_against,
    rehashes_write_no_audit_entry,
);

fn audit(action: &str, target: &str) -> NewAuditEntry {
    NewAuditEntry::new("cli:test", action, target)
}

fn did(id: &str) -> DeviceId {
    DeviceId::new(id).unwrap()
}

fn aid(id: &str) -> AppId {
    AppId::new(id).unwrap()
}

/// Group `home`, application `lights` (key `app-lights`, hash `old-app`), devices
/// `lamp-1` and `lamp-2` (hashes `old-lamp-1`, `old-lamp-2`).
async fn seed(store: &Arc<dyn Store>) {
    let home = GroupId::new("home").unwrap();
    store
        .create_group(
            &Group {
                id: home.clone(),
                name: "Home".into(),
                created_at_ms: 1,
            },
            &audit("group.create", "home"),
        )
        .await
        .unwrap();
    let lights = Application {
        id: aid("lights"),
        group: home,
        name: "Lights".into(),
        description: String::new(),
        mqtt_key: "app-lights".into(),
        created_at_ms: 1,
        discovery: false,
        message_retention_days: None,
    };
    store
        .create_app(&lights, "old-app", &audit("app.create", "lights"))
        .await
        .unwrap();
    let devices: Vec<(NewDevice, String)> = ["lamp-1", "lamp-2"]
        .into_iter()
        .map(|id| {
            let device = NewDevice {
                id: did(id),
                application: aid("lights"),
                name: id.into(),
                kind: "light".into(),
                room: None,
                firmware: None,
                metadata: serde_json::json!({}),
                heartbeat_timeout_secs: None,
            };
            (device, format!("old-{id}"))
        })
        .collect();
    store.create_devices(&devices, "cli:test").await.unwrap();
}

fn rehash(owner: SecretOwner, old: &str, new: &str) -> SecretRehash {
    SecretRehash {
        owner,
        old_hash: old.into(),
        new_hash: new.into(),
    }
}

async fn stored_hashes(store: &Arc<dyn Store>) -> Vec<(String, String)> {
    let credentials = store.credentials().await.unwrap();
    credentials
        .devices
        .into_iter()
        .map(|device| (device.id.to_string(), device.secret_hash))
        .chain(
            credentials
                .apps
                .into_iter()
                .map(|app| (app.id.to_string(), app.secret_hash)),
        )
        .collect()
}

async fn a_rehash_replaces_only_the_hash_it_was_computed_against(store: Arc<dyn Store>) {
    seed(&store).await;
    // lamp-2's secret was rotated after its login: the rehash must not undo that.
    store
        .set_device_secret(
            &did("lamp-2"),
            "rotated-lamp-2",
            &audit("device.rotate_secret", "lamp-2"),
        )
        .await
        .unwrap();
    let replaced = store
        .rehash_secrets(&[
            rehash(
                SecretOwner::Device(did("lamp-1")),
                "old-lamp-1",
                "new-lamp-1",
            ),
            rehash(
                SecretOwner::Device(did("lamp-2")),
                "old-lamp-2",
                "new-lamp-2",
            ),
            rehash(SecretOwner::Device(did("gone")), "old-gone", "new-gone"),
            rehash(SecretOwner::App(aid("lights")), "old-app", "new-app"),
        ])
        .await
        .unwrap();
    assert_eq!(replaced, vec![true, false, false, true]);
    assert_eq!(
        stored_hashes(&store).await,
        vec![
            ("lamp-1".to_owned(), "new-lamp-1".to_owned()),
            ("lamp-2".to_owned(), "rotated-lamp-2".to_owned()),
            ("lights".to_owned(), "new-app".to_owned()),
        ]
    );
    // Again with the same old hash: it is no longer stored, so nothing changes.
    let again = store
        .rehash_secrets(&[rehash(
            SecretOwner::Device(did("lamp-1")),
            "old-lamp-1",
            "newer-lamp-1",
        )])
        .await
        .unwrap();
    assert_eq!(again, vec![false]);
    assert_eq!(stored_hashes(&store).await[0].1, "new-lamp-1");
    assert!(store.rehash_secrets(&[]).await.unwrap().is_empty());
}

async fn rehashes_write_no_audit_entry(store: Arc<dyn Store>) {
    seed(&store).await;
    let seq_before = store.last_audit_seq().await.unwrap();
    let entries_before = store.audit(&AuditFilter::default()).await.unwrap().len();
    let replaced = store
        .rehash_secrets(&[
            rehash(
                SecretOwner::Device(did("lamp-1")),
                "old-lamp-1",
                "new-lamp-1",
            ),
            rehash(SecretOwner::App(aid("lights")), "old-app", "new-app"),
        ])
        .await
        .unwrap();
    assert_eq!(replaced, vec![true, true]);
    assert_eq!(store.last_audit_seq().await.unwrap(), seq_before);
    assert_eq!(
        store.audit(&AuditFilter::default()).await.unwrap().len(),
        entries_before
    );
}
