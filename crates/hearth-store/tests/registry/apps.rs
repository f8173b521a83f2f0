//! Applications and grants, and what deleting an application or a user does to them.

use super::*;

both_backends!(
    applications_round_trip,
    message_retention_round_trip,
    grants_round_trip,
    delete_app_is_refused_while_it_has_devices,
    delete_user_cascades_memberships_and_grants,
);

async fn applications_round_trip(store: Arc<dyn Store>) {
    seed(&store).await;
    store
        .create_group(&group("cabin"), &audit("group.create", "cabin"))
        .await
        .unwrap();
    store
        .create_app(
            &app("heat", "cabin"),
            "hash-heat",
            &audit("app.create", "heat"),
        )
        .await
        .unwrap();
    store
        .create_app(
            &app("blinds", "home"),
            "hash-blinds",
            &audit("app.create", "blinds"),
        )
        .await
        .unwrap();
    assert_eq!(store.app(&aid("heat")).await.unwrap(), app("heat", "cabin"));
    let all: Vec<AppId> = store
        .apps(None)
        .await
        .unwrap()
        .into_iter()
        .map(|app| app.id)
        .collect();
    assert_eq!(all, vec![aid("blinds"), aid("heat"), aid("lights")]);
    let home = store.apps(Some(&gid("home"))).await.unwrap();
    assert_eq!(home, vec![app("blinds", "home"), app("lights", "home")]);
    assert_not_found(store.apps(Some(&gid("nope"))).await, "group", "nope");
    assert_not_found(store.app(&aid("nope")).await, "application", "nope");

    let duplicate_id = Application {
        mqtt_key: "fresh".into(),
        ..app("heat", "home")
    };
    assert_conflict(
        store
            .create_app(&duplicate_id, "h", &audit("app.create", "heat"))
            .await,
        "application",
        "heat",
    );
    let duplicate_key = Application {
        mqtt_key: "key-heat".into(),
        ..app("other", "home")
    };
    assert_conflict(
        store
            .create_app(&duplicate_key, "h", &audit("app.create", "other"))
            .await,
        "mqtt key",
        "key-heat",
    );
    assert_not_found(
        store
            .create_app(&app("stray", "nope"), "h", &audit("app.create", "stray"))
            .await,
        "group",
        "nope",
    );

    store
        .set_app_secret(&aid("heat"), "hash-heat-2", &audit("app.secret", "heat"))
        .await
        .unwrap();
    let credentials = store.credentials().await.unwrap();
    let heat = credentials
        .apps
        .iter()
        .find(|app| app.id == aid("heat"))
        .unwrap();
    assert_eq!(
        (heat.mqtt_key.as_str(), heat.secret_hash.as_str()),
        ("key-heat", "hash-heat-2")
    );
    assert_not_found(
        store
            .set_app_secret(&aid("nope"), "h", &audit("app.secret", "nope"))
            .await,
        "application",
        "nope",
    );

    store
        .delete_app(&aid("heat"), &audit("app.delete", "heat"))
        .await
        .unwrap();
    assert_not_found(store.app(&aid("heat")).await, "application", "heat");
    assert_not_found(
        store
            .delete_app(&aid("heat"), &audit("app.delete", "heat"))
            .await,
        "application",
        "heat",
    );
}

/// `message_retention_days` (issue 19, migration 0015): stored at creation, changed,
/// cleared back to the hub's default, audited; the column itself refuses zero.
async fn message_retention_round_trip(store: Arc<dyn Store>) {
    seed(&store).await;
    let meters = Application {
        message_retention_days: Some(30),
        ..app("meters", "home")
    };
    store
        .create_app(&meters, "h", &audit("app.create", "meters"))
        .await
        .unwrap();
    assert_eq!(store.app(&aid("meters")).await.unwrap(), meters);
    let listed = store.apps(Some(&gid("home"))).await.unwrap();
    let found = listed.iter().find(|app| app.id == aid("meters")).unwrap();
    assert_eq!(found.message_retention_days, Some(30));
    assert_eq!(
        store
            .app(&aid("lights"))
            .await
            .unwrap()
            .message_retention_days,
        None,
        "an application created without one uses the hub's default"
    );

    for days in [Some(3650), Some(1), None] {
        store
            .set_app_message_retention(
                &aid("meters"),
                days,
                &audit("app.message_retention", "meters"),
            )
            .await
            .unwrap();
        assert_eq!(
            store.app(&aid("meters")).await.unwrap(),
            Application {
                message_retention_days: days,
                ..meters.clone()
            }
        );
    }
    let audited = store
        .audit(&hearth_store::AuditFilter::default())
        .await
        .unwrap()
        .into_iter()
        .filter(|entry| entry.action == "app.message_retention")
        .count();
    assert_eq!(audited, 3);
    assert_not_found(
        store
            .set_app_message_retention(&aid("nope"), Some(7), &audit("x", "nope"))
            .await,
        "application",
        "nope",
    );
    // Zero days would delete every message at once: the column refuses it even from a
    // caller that skipped the registry's range check.
    assert!(
        store
            .set_app_message_retention(&aid("meters"), Some(0), &audit("x", "meters"))
            .await
            .is_err()
    );
    assert_eq!(
        store
            .app(&aid("meters"))
            .await
            .unwrap()
            .message_retention_days,
        None
    );
}

async fn grants_round_trip(store: Arc<dyn Store>) {
    seed(&store).await;
    store
        .create_user(&user("bob", false), "hash-b", &audit("user.create", "bob"))
        .await
        .unwrap();
    store
        .create_app(&app("blinds", "home"), "h", &audit("app.create", "blinds"))
        .await
        .unwrap();
    let bob_lights = Grant {
        application: aid("lights"),
        user: uname("bob"),
        permission: Permission::View,
    };
    let alice_lights = Grant {
        application: aid("lights"),
        user: uname("alice"),
        permission: Permission::Control,
    };
    let bob_blinds = Grant {
        application: aid("blinds"),
        user: uname("bob"),
        permission: Permission::Manage,
    };
    for grant in [&bob_lights, &alice_lights, &bob_blinds] {
        store
            .set_grant(grant, &audit("app.grant.set", &grant.application))
            .await
            .unwrap();
    }
    assert_eq!(
        store.grants(&aid("lights")).await.unwrap(),
        vec![alice_lights.clone(), bob_lights.clone()]
    );
    assert_eq!(
        store.grants_of(&uname("bob")).await.unwrap(),
        vec![bob_blinds.clone(), bob_lights.clone()]
    );

    let bob_controls = Grant {
        permission: Permission::Control,
        ..bob_lights.clone()
    };
    store
        .set_grant(&bob_controls, &audit("app.grant.set", "lights"))
        .await
        .unwrap();
    assert_eq!(
        store.grants(&aid("lights")).await.unwrap(),
        vec![alice_lights.clone(), bob_controls]
    );

    let unknown_app = Grant {
        application: aid("nope"),
        ..bob_lights.clone()
    };
    assert_not_found(
        store
            .set_grant(&unknown_app, &audit("app.grant.set", "nope"))
            .await,
        "application",
        "nope",
    );
    let unknown_user = Grant {
        user: uname("ghost"),
        ..bob_lights.clone()
    };
    assert_not_found(
        store
            .set_grant(&unknown_user, &audit("app.grant.set", "lights"))
            .await,
        "user",
        "ghost",
    );
    assert_not_found(store.grants(&aid("nope")).await, "application", "nope");
    assert_not_found(store.grants_of(&uname("ghost")).await, "user", "ghost");

    store
        .remove_grant(
            &aid("lights"),
            &uname("bob"),
            &audit("app.grant.remove", "lights"),
        )
        .await
        .unwrap();
    assert_eq!(
        store.grants(&aid("lights")).await.unwrap(),
        vec![alice_lights]
    );
    let again = store
        .remove_grant(
            &aid("lights"),
            &uname("bob"),
            &audit("app.grant.remove", "lights"),
        )
        .await;
    assert_not_found(again, "grant", "lights/bob");
}

async fn delete_app_is_refused_while_it_has_devices(store: Arc<dyn Store>) {
    seed(&store).await;
    let grant = Grant {
        application: aid("lights"),
        user: uname("alice"),
        permission: Permission::Control,
    };
    store
        .set_grant(&grant, &audit("app.grant.set", "lights"))
        .await
        .unwrap();
    add_devices(&store, &[new_device("lamp", "lights")]).await;
    assert_refused(
        store
            .delete_app(&aid("lights"), &audit("app.delete", "lights"))
            .await,
    );

    store
        .delete_device(&did("lamp"), &audit("device.delete", "lamp"))
        .await
        .unwrap();
    store
        .delete_app(&aid("lights"), &audit("app.delete", "lights"))
        .await
        .unwrap();
    assert_eq!(
        store.grants_of(&uname("alice")).await.unwrap(),
        vec![],
        "grants go with the app"
    );
}

async fn delete_user_cascades_memberships_and_grants(store: Arc<dyn Store>) {
    seed(&store).await;
    let membership = Membership {
        group: gid("home"),
        user: uname("alice"),
        role: Role::Member,
    };
    store
        .set_member(&membership, &audit("group.member.set", "home"))
        .await
        .unwrap();
    let grant = Grant {
        application: aid("lights"),
        user: uname("alice"),
        permission: Permission::Control,
    };
    store
        .set_grant(&grant, &audit("app.grant.set", "lights"))
        .await
        .unwrap();

    store
        .delete_user(&uname("alice"), &audit("user.delete", "alice"))
        .await
        .unwrap();
    assert_not_found(store.user(&uname("alice")).await, "user", "alice");
    assert_eq!(store.members(&gid("home")).await.unwrap(), vec![]);
    assert_eq!(store.grants(&aid("lights")).await.unwrap(), vec![]);
    assert_eq!(store.user_count().await.unwrap(), 0);
    assert_not_found(
        store
            .delete_user(&uname("alice"), &audit("user.delete", "alice"))
            .await,
        "user",
        "alice",
    );

    // The name is free again, without stale memberships.
    store
        .create_user(&user("alice", false), "h", &audit("user.create", "alice"))
        .await
        .unwrap();
    assert_eq!(store.memberships_of(&uname("alice")).await.unwrap(), vec![]);
}
