//! The store's test suite (registry and history). Every test runs on SQLite and on PostgreSQL
//! (`hearth_testkit::both_backends!`; PostgreSQL needs `HEARTH_TEST_POSTGRES`, which
//! `make test` sets).
//!
//! # Layout
//! - this file: fixtures, and groups, users and memberships.
//! - `registry/apps.rs`: applications and grants.
//! - `registry/devices.rs`: registration, listing, changes.
//! - `registry/audit.rs`: the audit log and the authorizer's credentials.
//! - `registry/commands.rs`: the command log.
//! - `registry/automations.rs`: automations, scenes, runs and timers.
//! - `registry/auth.rs`: the HTTP API's login sessions and API tokens.
//! - `registry/history.rs`: ingest batches and history reads.
//! - `registry/history_aggregates.rs`: aggregates and latest values.
//! - `registry/history_compaction.rs`: compaction, tiers, late readings, retention.
//! - `registry/history_upgrade.rs`: hourly rollups of an older Hearth become tiers.
//! - `registry/notification_prefs.rs`: notification preferences, push subscriptions.
//! - `registry/layouts.rs`: topic layouts of applications and devices.
//! - `registry/discovery.rs`: discovered devices and discovery applications.
//! - `registry/sites.rs`: sites (home hubs linked to this one) and devices' sites.
//! - `registry/mirror.rs`: the registry mirror (cloud snapshot, home apply, pushes).
//! - `registry/claims.rs`: claim codes and device owners (issue 23).
//! - `registry/leases.rs`: leases (one holder at a time, renewal, expiry, release).
//! - `registry/migrations.rs`: reopening and upgrading a database.

#[path = "registry/apps.rs"]
mod apps;
#[path = "registry/audit.rs"]
mod audit;
#[path = "registry/auth.rs"]
mod auth;
#[path = "registry/automations.rs"]
mod automations;
#[path = "registry/claims.rs"]
mod claims;
#[path = "registry/commands.rs"]
mod commands;
#[path = "registry/device_main.rs"]
mod device_main;
#[path = "registry/devices.rs"]
mod devices;
#[path = "registry/discovery.rs"]
mod discovery;
#[path = "registry/history.rs"]
mod history;
#[path = "registry/history_aggregates.rs"]
mod history_aggregates;
#[path = "registry/history_compaction.rs"]
mod history_compaction;
#[path = "registry/history_upgrade.rs"]
mod history_upgrade;
#[path = "registry/identities.rs"]
mod identities;
#[path = "registry/layouts.rs"]
mod layouts;
#[path = "registry/leases.rs"]
mod leases;
#[path = "registry/migrations.rs"]
mod migrations;
#[path = "registry/mirror.rs"]
mod mirror;
#[path = "registry/notification_prefs.rs"]
mod notification_prefs;
#[path = "registry/sites.rs"]
mod sites;

use hearth_model::{
    AppId, Application, DeviceId, Grant, Group, GroupId, Membership, NewAuditEntry, NewDevice,
    Permission, Role, User, UserName,
};
use hearth_store::{Store, StoreError};
use hearth_testkit::both_backends;
use std::sync::Arc;

pub fn audit(action: &str, target: impl std::fmt::Display) -> NewAuditEntry {
    NewAuditEntry::new("cli:test", action, target)
}

pub fn gid(id: &str) -> GroupId {
    GroupId::new(id).unwrap()
}
pub fn uname(name: &str) -> UserName {
    UserName::new(name).unwrap()
}
pub fn aid(id: &str) -> AppId {
    AppId::new(id).unwrap()
}
pub fn did(id: &str) -> DeviceId {
    DeviceId::new(id).unwrap()
}

pub fn group(id: &str) -> Group {
    Group {
        id: gid(id),
        name: format!("The {id}"),
        created_at_ms: 1_700_000_000_000,
    }
}

pub fn user(name: &str, is_admin: bool) -> User {
    User {
        name: uname(name),
        display_name: name.to_uppercase(),
        email: Some(format!("{name}@example.org")),
        language: "en".into(),
        is_admin,
        created_at_ms: 1_700_000_000_001,
    }
}

pub fn app(id: &str, group: &str) -> Application {
    Application {
        id: aid(id),
        group: gid(group),
        name: format!("App {id}"),
        description: String::new(),
        mqtt_key: format!("key-{id}"),
        created_at_ms: 1_700_000_000_002,
        discovery: false,
        message_retention_days: None,
    }
}

pub fn new_device(id: &str, app: &str) -> NewDevice {
    NewDevice {
        id: did(id),
        application: aid(app),
        name: format!("Device {id}"),
        kind: "sensor".into(),
        room: None,
        firmware: None,
        metadata: serde_json::json!({}),
        heartbeat_timeout_secs: None,
    }
}

/// Group `home` with application `lights`, and user `alice`.
pub async fn seed(store: &Arc<dyn Store>) {
    store
        .create_group(&group("home"), &audit("group.create", "home"))
        .await
        .unwrap();
    store
        .create_user(
            &user("alice", false),
            "hash-alice",
            &audit("user.create", "alice"),
        )
        .await
        .unwrap();
    store
        .create_app(
            &app("lights", "home"),
            "hash-lights",
            &audit("app.create", "lights"),
        )
        .await
        .unwrap();
}

pub async fn add_devices(store: &Arc<dyn Store>, devices: &[NewDevice]) {
    let with_secrets: Vec<(NewDevice, String)> = devices
        .iter()
        .map(|device| (device.clone(), format!("hash-{}", device.id)))
        .collect();
    store
        .create_devices(&with_secrets, "cli:test")
        .await
        .unwrap();
}

pub fn assert_not_found<T: std::fmt::Debug>(result: Result<T, StoreError>, what: &str, id: &str) {
    match result {
        Err(StoreError::NotFound {
            what: got_what,
            id: got_id,
        }) => {
            assert_eq!((got_what, got_id.as_str()), (what, id));
        }
        other => panic!("expected NotFound {what} {id:?}, got {other:?}"),
    }
}

pub fn assert_conflict<T: std::fmt::Debug>(result: Result<T, StoreError>, what: &str, id: &str) {
    match result {
        Err(StoreError::Conflict {
            what: got_what,
            id: got_id,
        }) => {
            assert_eq!((got_what, got_id.as_str()), (what, id));
        }
        other => panic!("expected Conflict {what} {id:?}, got {other:?}"),
    }
}

pub fn assert_refused<T: std::fmt::Debug>(result: Result<T, StoreError>) {
    assert!(
        matches!(result, Err(StoreError::Refused(_))),
        "expected Refused, got {result:?}"
    );
}

both_backends!(
    groups_round_trip,
    users_round_trip,
    memberships_round_trip,
    delete_group_is_refused_while_it_has_applications,
    ping_and_backend_name,
);

async fn groups_round_trip(store: Arc<dyn Store>) {
    store
        .create_group(&group("work"), &audit("group.create", "work"))
        .await
        .unwrap();
    store
        .create_group(&group("home"), &audit("group.create", "home"))
        .await
        .unwrap();
    assert_eq!(store.group(&gid("home")).await.unwrap(), group("home"));
    assert_eq!(
        store.groups().await.unwrap(),
        vec![group("home"), group("work")]
    );
    assert_conflict(
        store
            .create_group(&group("home"), &audit("group.create", "home"))
            .await,
        "group",
        "home",
    );
    assert_not_found(store.group(&gid("nope")).await, "group", "nope");

    store
        .delete_group(&gid("work"), &audit("group.delete", "work"))
        .await
        .unwrap();
    assert_not_found(store.group(&gid("work")).await, "group", "work");
    assert_not_found(
        store
            .delete_group(&gid("work"), &audit("group.delete", "work"))
            .await,
        "group",
        "work",
    );
    assert_eq!(store.groups().await.unwrap(), vec![group("home")]);
}

async fn users_round_trip(store: Arc<dyn Store>) {
    assert_eq!(store.user_count().await.unwrap(), 0);
    store
        .create_user(&user("zoe", false), "hash-z", &audit("user.create", "zoe"))
        .await
        .unwrap();
    store
        .create_user(
            &user("jane.doe", true),
            "hash-j",
            &audit("user.create", "jane.doe"),
        )
        .await
        .unwrap();
    assert_eq!(store.user_count().await.unwrap(), 2);
    assert_eq!(store.user(&uname("zoe")).await.unwrap(), user("zoe", false));
    assert_eq!(
        store.users().await.unwrap(),
        vec![user("jane.doe", true), user("zoe", false)]
    );
    assert_conflict(
        store
            .create_user(&user("zoe", true), "x", &audit("user.create", "zoe"))
            .await,
        "user",
        "zoe",
    );
    assert_not_found(store.user(&uname("nobody")).await, "user", "nobody");

    let changed = User {
        display_name: "Zoë 张".into(),
        email: None,
        language: "zh-CN".into(),
        is_admin: true,
        ..user("zoe", false)
    };
    store
        .update_user(&changed, &audit("user.update", "zoe"))
        .await
        .unwrap();
    assert_eq!(store.user(&uname("zoe")).await.unwrap(), changed);
    let ghost = user("ghost", false);
    assert_not_found(
        store
            .update_user(&ghost, &audit("user.update", "ghost"))
            .await,
        "user",
        "ghost",
    );

    assert_eq!(store.password_hash(&uname("zoe")).await.unwrap(), "hash-z");
    store
        .set_password_hash(&uname("zoe"), "hash-z2", &audit("user.password", "zoe"))
        .await
        .unwrap();
    assert_eq!(store.password_hash(&uname("zoe")).await.unwrap(), "hash-z2");
    assert_not_found(store.password_hash(&uname("ghost")).await, "user", "ghost");
    let result = store
        .set_password_hash(&uname("ghost"), "h", &audit("user.password", "ghost"))
        .await;
    assert_not_found(result, "user", "ghost");
}

async fn memberships_round_trip(store: Arc<dyn Store>) {
    seed(&store).await;
    store
        .create_user(&user("bob", false), "hash-b", &audit("user.create", "bob"))
        .await
        .unwrap();
    store
        .create_group(&group("cabin"), &audit("group.create", "cabin"))
        .await
        .unwrap();
    let alice_home = Membership {
        group: gid("home"),
        user: uname("alice"),
        role: Role::Owner,
    };
    let bob_home = Membership {
        group: gid("home"),
        user: uname("bob"),
        role: Role::Viewer,
    };
    let alice_cabin = Membership {
        group: gid("cabin"),
        user: uname("alice"),
        role: Role::Member,
    };
    for membership in [&bob_home, &alice_home, &alice_cabin] {
        store
            .set_member(membership, &audit("group.member.set", &membership.group))
            .await
            .unwrap();
    }
    assert_eq!(
        store.members(&gid("home")).await.unwrap(),
        vec![alice_home.clone(), bob_home.clone()]
    );
    assert_eq!(
        store.memberships_of(&uname("alice")).await.unwrap(),
        vec![alice_cabin.clone(), alice_home.clone()]
    );

    // Setting again changes the role.
    let bob_admin = Membership {
        role: Role::Admin,
        ..bob_home.clone()
    };
    store
        .set_member(&bob_admin, &audit("group.member.set", "home"))
        .await
        .unwrap();
    assert_eq!(
        store.members(&gid("home")).await.unwrap(),
        vec![alice_home.clone(), bob_admin]
    );

    let unknown_group = Membership {
        group: gid("nope"),
        ..alice_home.clone()
    };
    assert_not_found(
        store
            .set_member(&unknown_group, &audit("group.member.set", "nope"))
            .await,
        "group",
        "nope",
    );
    let unknown_user = Membership {
        user: uname("ghost"),
        ..alice_home.clone()
    };
    assert_not_found(
        store
            .set_member(&unknown_user, &audit("group.member.set", "home"))
            .await,
        "user",
        "ghost",
    );
    assert_not_found(store.members(&gid("nope")).await, "group", "nope");
    assert_not_found(store.memberships_of(&uname("ghost")).await, "user", "ghost");

    store
        .remove_member(
            &gid("home"),
            &uname("bob"),
            &audit("group.member.remove", "home"),
        )
        .await
        .unwrap();
    assert_eq!(store.members(&gid("home")).await.unwrap(), vec![alice_home]);
    let again = store
        .remove_member(
            &gid("home"),
            &uname("bob"),
            &audit("group.member.remove", "home"),
        )
        .await;
    assert_not_found(again, "membership", "home/bob");
}

async fn delete_group_is_refused_while_it_has_applications(store: Arc<dyn Store>) {
    seed(&store).await;
    let membership = Membership {
        group: gid("home"),
        user: uname("alice"),
        role: Role::Owner,
    };
    store
        .set_member(&membership, &audit("group.member.set", "home"))
        .await
        .unwrap();
    assert_refused(
        store
            .delete_group(&gid("home"), &audit("group.delete", "home"))
            .await,
    );
    assert!(store.group(&gid("home")).await.is_ok());

    store
        .delete_app(&aid("lights"), &audit("app.delete", "lights"))
        .await
        .unwrap();
    store
        .delete_group(&gid("home"), &audit("group.delete", "home"))
        .await
        .unwrap();
    assert_eq!(store.memberships_of(&uname("alice")).await.unwrap(), vec![]);
}

async fn ping_and_backend_name(store: Arc<dyn Store>) {
    store.ping().await.unwrap();
    assert!(["sqlite", "postgres", "mysql"].contains(&store.backend()));
}
