//! The audit log (written with every change, in order, never for a failed one) and the
//! authorizer's credentials.

use super::*;
use hearth_store::AuditFilter;

both_backends!(
    audit_log_records_every_change_in_order,
    audit_filters_and_default_limit,
    failed_changes_write_no_audit_entries,
    credentials_hold_devices_apps_and_admins,
);

async fn audit_log_records_every_change_in_order(store: Arc<dyn Store>) {
    assert_eq!(store.last_audit_seq().await.unwrap(), 0, "empty log");
    assert_eq!(store.audit(&AuditFilter::default()).await.unwrap(), vec![]);
    let detail = serde_json::json!({"name": "客厅", "n": 1});
    let first = audit("group.create", "home").with_detail(detail.clone());
    store.create_group(&group("home"), &first).await.unwrap();
    store
        .create_user(&user("alice", false), "h", &audit("user.create", "alice"))
        .await
        .unwrap();
    let membership = Membership {
        group: gid("home"),
        user: uname("alice"),
        role: Role::Owner,
    };
    store
        .set_member(&membership, &audit("group.member.set", "home"))
        .await
        .unwrap();
    store
        .create_app(&app("lights", "home"), "h", &audit("app.create", "lights"))
        .await
        .unwrap();
    add_devices(&store, &[new_device("lamp", "lights")]).await;
    let patch = hearth_model::DevicePatch {
        name: Some("Lamp".into()),
        ..Default::default()
    };
    store
        .update_device(&did("lamp"), &patch, &audit("device.update", "lamp"))
        .await
        .unwrap();
    store
        .set_device_enabled(&did("lamp"), false, &audit("device.disable", "lamp"))
        .await
        .unwrap();
    store
        .set_device_secret(&did("lamp"), "h2", &audit("device.secret", "lamp"))
        .await
        .unwrap();
    store
        .delete_device(&did("lamp"), &audit("device.delete", "lamp"))
        .await
        .unwrap();
    store
        .set_password_hash(&uname("alice"), "h2", &audit("user.password", "alice"))
        .await
        .unwrap();

    let entries = store.audit(&AuditFilter::default()).await.unwrap();
    let actions: Vec<&str> = entries
        .iter()
        .rev()
        .map(|entry| entry.action.as_str())
        .collect();
    assert_eq!(
        actions,
        [
            "group.create",
            "user.create",
            "group.member.set",
            "app.create",
            "device.add",
            "device.update",
            "device.disable",
            "device.secret",
            "device.delete",
            "user.password",
        ]
    );
    assert!(
        entries.windows(2).all(|pair| pair[0].seq > pair[1].seq),
        "newest first, seq increasing"
    );
    assert_eq!(store.last_audit_seq().await.unwrap(), entries[0].seq);
    let oldest = entries.last().unwrap();
    assert_eq!(
        (oldest.actor.as_str(), oldest.target.as_str()),
        ("cli:test", "home")
    );
    assert_eq!(oldest.detail, detail);
    assert!(oldest.at_ms > 1_700_000_000_000);
    assert_eq!(
        entries[5].detail,
        serde_json::json!({"application": "lights", "name": "Device lamp", "kind": "sensor"})
    );
}

async fn audit_filters_and_default_limit(store: Arc<dyn Store>) {
    seed(&store).await;
    let devices: Vec<NewDevice> = (0..120)
        .map(|n| new_device(&format!("d{n:03}"), "lights"))
        .collect();
    add_devices(&store, &devices).await;
    store
        .set_device_enabled(
            &did("d007"),
            false,
            &NewAuditEntry::new("user:bob", "device.disable", "d007"),
        )
        .await
        .unwrap();

    let page = store.audit(&AuditFilter::default()).await.unwrap();
    assert_eq!(page.len(), 100, "the default page size");
    let next = store
        .audit(&AuditFilter {
            before_seq: Some(page[99].seq),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        next.len(),
        24,
        "3 seed entries + 120 devices + 1 disable = 124"
    );
    assert!(next[0].seq < page[99].seq);

    let d007 = store
        .audit(&AuditFilter {
            target: Some("d007".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    let actions: Vec<&str> = d007.iter().map(|entry| entry.action.as_str()).collect();
    assert_eq!(actions, ["device.disable", "device.add"]);
    let by_bob = store
        .audit(&AuditFilter {
            actor: Some("user:bob".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(by_bob.len(), 1);
    let three = store
        .audit(&AuditFilter {
            limit: Some(3),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        three.iter().map(|entry| entry.seq).collect::<Vec<_>>(),
        page[..3].iter().map(|entry| entry.seq).collect::<Vec<_>>()
    );
    let disables = store
        .audit(&AuditFilter {
            target: Some("d007".into()),
            action_prefixes: vec!["group.".into(), "device.dis".into()],
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(disables.len(), 1, "only the kinds asked for");
    let since = store
        .audit(&AuditFilter {
            target: Some("d007".into()),
            from_seq: Some(disables[0].seq),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(since, disables, "from_seq includes its own entry");
}

async fn failed_changes_write_no_audit_entries(store: Arc<dyn Store>) {
    seed(&store).await;
    add_devices(&store, &[new_device("lamp", "lights")]).await;
    let seq = store.last_audit_seq().await.unwrap();
    assert!(
        store
            .create_group(&group("home"), &audit("group.create", "home"))
            .await
            .is_err()
    );
    assert!(
        store
            .create_user(&user("alice", false), "h", &audit("user.create", "alice"))
            .await
            .is_err()
    );
    assert!(
        store
            .delete_app(&aid("lights"), &audit("app.delete", "lights"))
            .await
            .is_err()
    );
    assert!(
        store
            .delete_group(&gid("home"), &audit("group.delete", "home"))
            .await
            .is_err()
    );
    assert!(
        store
            .delete_device(&did("nope"), &audit("device.delete", "nope"))
            .await
            .is_err()
    );
    let membership = Membership {
        group: gid("nope"),
        user: uname("alice"),
        role: Role::Owner,
    };
    assert!(
        store
            .set_member(&membership, &audit("group.member.set", "nope"))
            .await
            .is_err()
    );
    assert_eq!(store.last_audit_seq().await.unwrap(), seq);
}

async fn credentials_hold_devices_apps_and_admins(store: Arc<dyn Store>) {
    assert_eq!(
        store.credentials().await.unwrap(),
        hearth_store::Credentials::default()
    );
    seed(&store).await;
    store
        .create_user(
            &user("root", true),
            "hash-root",
            &audit("user.create", "root"),
        )
        .await
        .unwrap();
    add_devices(
        &store,
        &[new_device("b-dev", "lights"), new_device("a-dev", "lights")],
    )
    .await;
    store
        .set_device_enabled(&did("b-dev"), false, &audit("device.disable", "b-dev"))
        .await
        .unwrap();

    let credentials = store.credentials().await.unwrap();
    assert_eq!(
        credentials.devices,
        vec![
            hearth_store::DeviceCredential {
                id: did("a-dev"),
                application: aid("lights"),
                enabled: true,
                secret_hash: "hash-a-dev".into(),
                cert_sha256: None,
            },
            hearth_store::DeviceCredential {
                id: did("b-dev"),
                application: aid("lights"),
                enabled: false,
                secret_hash: "hash-b-dev".into(),
                cert_sha256: None,
            },
        ]
    );
    assert_eq!(
        credentials.apps,
        vec![hearth_store::AppCredential {
            id: aid("lights"),
            mqtt_key: "key-lights".into(),
            secret_hash: "hash-lights".into(),
        }]
    );
    assert_eq!(
        credentials.admins,
        vec![hearth_store::AdminCredential {
            name: uname("root"),
            password_hash: "hash-root".into()
        }]
    );
}
