//! The registry mirror (issue 20, migration 0017): the cloud's snapshot of a site, a home
//! applying it, devices pushed up from a home, conflicts.

use super::*;
use hearth_model::{Site, SiteId};
use hearth_store::{MirrorSnapshot, PushedDevice};
use hearth_testkit::{Backend, test_store};

both_backends!(
    a_snapshot_holds_what_the_site_needs_and_applies_at_home,
    devices_pushed_up_are_created_or_recorded_as_conflicts,
);

fn sid(id: &str) -> SiteId {
    SiteId::new(id).unwrap()
}

/// `home` with `alice` (member, grant), `lights`, site `home-1` with `lamp`, and `plug`
/// in no site.
async fn cloud(store: &Arc<dyn Store>) {
    seed(store).await;
    store
        .set_member(
            &Membership {
                group: gid("home"),
                user: uname("alice"),
                role: Role::Member,
            },
            &audit("group.member", "home"),
        )
        .await
        .unwrap();
    store
        .set_grant(
            &Grant {
                application: aid("lights"),
                user: uname("alice"),
                permission: Permission::Control,
            },
            &audit("grant.set", "lights"),
        )
        .await
        .unwrap();
    store
        .create_site(
            &Site {
                id: sid("home-1"),
                group: gid("home"),
                name: "Home".into(),
                enabled: true,
                created_at_ms: 1,
                last_seen_ms: None,
            },
            "hash-site",
            &audit("site.create", "home-1"),
        )
        .await
        .unwrap();
    add_devices(
        store,
        &[new_device("lamp", "lights"), new_device("plug", "lights")],
    )
    .await;
    store
        .set_device_site(
            &did("lamp"),
            Some(&sid("home-1")),
            &audit("device.site", "lamp"),
        )
        .await
        .unwrap();
}

async fn other_store(store: &Arc<dyn Store>) -> hearth_testkit::TestStore {
    let backend = match store.backend() {
        "postgres" => Backend::Postgres,
        "mysql" => Backend::MariaDb,
        _ => Backend::Sqlite,
    };
    test_store(backend).await
}

async fn device_secret(store: &Arc<dyn Store>, id: &str) -> Option<String> {
    let credentials = store.credentials().await.unwrap();
    credentials
        .devices
        .iter()
        .find(|device| device.id.as_str() == id)
        .map(|device| device.secret_hash.clone())
}

async fn a_snapshot_holds_what_the_site_needs_and_applies_at_home(store: Arc<dyn Store>) {
    cloud(&store).await;
    let snapshot = store.mirror_snapshot(&sid("home-1")).await.unwrap();
    assert_eq!(snapshot.revision, store.last_audit_seq().await.unwrap());
    assert_eq!(snapshot.group.id, "home");
    assert_eq!(
        snapshot
            .devices
            .iter()
            .map(|d| d.id.as_str())
            .collect::<Vec<_>>(),
        ["lamp"],
        "only the site's devices"
    );
    assert_eq!(snapshot.devices[0].secret_hash, "hash-lamp");
    assert_eq!(snapshot.users.len(), 1);
    assert_eq!(snapshot.users[0].password_hash, "hash-alice");
    assert_eq!(snapshot.users[0].role.as_deref(), Some("member"));
    assert_eq!(snapshot.apps[0].secret_hash, "hash-lights");
    assert_eq!(snapshot.grants.len(), 1);
    assert_not_found(
        store.mirror_snapshot(&sid("nowhere")).await,
        "site",
        "nowhere",
    );
    // The wire format round-trips.
    let wire: MirrorSnapshot =
        serde_json::from_slice(&serde_json::to_vec(&snapshot).unwrap()).unwrap();
    assert_eq!(wire, snapshot);

    let home_store = other_store(&store).await;
    let home = home_store.store();
    assert_eq!(home.mirror_state().await.unwrap(), None);
    // A local device of a local application, and one taking a mirrored id.
    home.create_group(&group("local"), &audit("group.create", "local"))
        .await
        .unwrap();
    home.create_app(
        &app("own", "local"),
        "hash-own",
        &audit("app.create", "own"),
    )
    .await
    .unwrap();
    // A fresh hub's own application with a cloud application's id.
    home.create_app(
        &app("lights", "local"),
        "hash-local",
        &audit("app.create", "lights"),
    )
    .await
    .unwrap();
    let mut clash = new_device("lamp", "own");
    clash.name = "home lamp".into();
    add_devices(
        &home,
        &[
            clash,
            new_device("kettle", "own"),
            new_device("heater", "own"),
        ],
    )
    .await;
    // The cloud has `heater` with another secret than the home's.
    let mut with_heater = snapshot.clone();
    let mut heater = snapshot.devices[0].clone();
    heater.id = "heater".into();
    heater.secret_hash = "cloud-heater".into();
    with_heater.devices.push(heater);

    let applied = home
        .apply_mirror(&with_heater, "bridge:home-1")
        .await
        .unwrap();
    assert!(applied.applied);
    let mut clashes: Vec<&str> = applied
        .conflicts
        .iter()
        .map(|c| c.device.as_str())
        .collect();
    clashes.sort();
    assert_eq!(clashes, ["app:lights", "heater", "lamp"], "{applied:?}");
    // The home's heater keeps its secret (and stays the home's), taking the rest.
    assert_eq!(
        device_secret(&home, "heater").await.as_deref(),
        Some("hash-heater")
    );
    let heater = home.device(&did("heater")).await.unwrap();
    assert_eq!(heater.application.as_str(), "lights");
    // The cloud's definition of the application replaced the home's.
    assert_eq!(home.app(&aid("lights")).await.unwrap().group, gid("home"));
    let credentials = home.credentials().await.unwrap();
    let lights = credentials.apps.iter().find(|a| a.id.as_str() == "lights");
    assert_eq!(lights.unwrap().secret_hash, "hash-lights");
    let lamp = home.device(&did("lamp")).await.unwrap();
    assert_eq!(
        (lamp.application.as_str(), lamp.name.as_str()),
        ("lights", "Device lamp")
    );
    assert_eq!(
        device_secret(&home, "lamp").await.as_deref(),
        Some("hash-lamp")
    );
    assert_eq!(
        home.password_hash(&uname("alice")).await.unwrap(),
        "hash-alice"
    );
    assert!(!home.user(&uname("alice")).await.unwrap().is_admin);
    assert_eq!(home.members(&gid("home")).await.unwrap().len(), 1);
    assert_eq!(home.grants(&aid("lights")).await.unwrap().len(), 1);
    let credentials = home.credentials().await.unwrap();
    assert!(credentials.apps.iter().any(|a| a.id.as_str() == "lights"));
    let state = home.mirror_state().await.unwrap().unwrap();
    assert_eq!(
        (state.site.as_str(), state.revision),
        ("home-1", snapshot.revision)
    );
    assert_eq!(state.conflicts.len(), 3);

    // A device added at home under a mirrored application goes up; a local one does not.
    add_devices(&home, &[new_device("fan", "lights")]).await;
    let up = home.unmirrored_devices().await.unwrap();
    assert_eq!(
        up.iter().map(|d| d.id.as_str()).collect::<Vec<_>>(),
        ["fan", "heater"]
    );
    assert_eq!(up[0].secret_hash, "hash-fan");

    // An older revision changes nothing; a newer one without the lamp removes it, and
    // a user the cloud dropped.
    let mut older = snapshot.clone();
    older.revision -= 1;
    older.devices.clear();
    assert!(
        !home
            .apply_mirror(&older, "bridge:home-1")
            .await
            .unwrap()
            .applied
    );
    assert!(home.device(&did("lamp")).await.is_ok());
    let mut newer = snapshot.clone();
    newer.revision += 1;
    newer.devices.clear();
    newer.users.clear();
    newer.grants.clear();
    let applied = home.apply_mirror(&newer, "bridge:home-1").await.unwrap();
    assert_eq!(applied.devices_removed, 1);
    assert_not_found(home.device(&did("lamp")).await, "device", "lamp");
    assert!(home.user(&uname("alice")).await.is_err());
    assert!(
        home.device(&did("fan")).await.is_ok(),
        "a home device stays"
    );
    assert!(home.device(&did("kettle")).await.is_ok());
    home_store.close().await;
}

async fn devices_pushed_up_are_created_or_recorded_as_conflicts(store: Arc<dyn Store>) {
    cloud(&store).await;
    let snapshot = store.mirror_snapshot(&sid("home-1")).await.unwrap();
    let mut fan = snapshot.devices[0].clone();
    fan.id = "fan".into();
    fan.secret_hash = "hash-fan".into();
    let site = sid("home-1");
    assert_eq!(
        store
            .accept_site_device(&site, &fan, "site:home-1")
            .await
            .unwrap(),
        PushedDevice::Created
    );
    let created = store.device(&did("fan")).await.unwrap();
    assert_eq!(created.site, Some(site.clone()));
    assert_eq!(
        device_secret(&store, "fan").await.as_deref(),
        Some("hash-fan")
    );
    assert_eq!(
        store
            .accept_site_device(&site, &fan, "site:home-1")
            .await
            .unwrap(),
        PushedDevice::Identical
    );
    // `plug` is the cloud's (no site): not overwritten, a conflict.
    let mut plug = fan.clone();
    plug.id = "plug".into();
    assert!(matches!(
        store
            .accept_site_device(&site, &plug, "site:home-1")
            .await
            .unwrap(),
        PushedDevice::Conflict(_)
    ));
    assert_eq!(
        device_secret(&store, "plug").await.as_deref(),
        Some("hash-plug")
    );
    assert_eq!(store.device(&did("plug")).await.unwrap().site, None);
    // Another group's application: a conflict, nothing created.
    store
        .create_group(&group("work"), &audit("group.create", "work"))
        .await
        .unwrap();
    store
        .create_app(
            &app("desk", "work"),
            "hash-desk",
            &audit("app.create", "desk"),
        )
        .await
        .unwrap();
    let mut stray = fan.clone();
    stray.id = "stray".into();
    stray.app = "desk".into();
    assert!(matches!(
        store
            .accept_site_device(&site, &stray, "site:home-1")
            .await
            .unwrap(),
        PushedDevice::Conflict(_)
    ));
    assert_not_found(store.device(&did("stray")).await, "device", "stray");
    let conflicts = store.site_conflicts(&site).await.unwrap();
    let mut ids: Vec<_> = conflicts.iter().map(|c| c.device.as_str()).collect();
    ids.sort();
    assert_eq!(ids, ["plug", "stray"]);
    let snapshot = store.mirror_snapshot(&site).await.unwrap();
    assert_eq!(
        snapshot.conflicts.len(),
        2,
        "the conflicts go down to the home too"
    );
    assert!(snapshot.devices.iter().any(|d| d.id == "fan"));
    let last = store
        .audit(&hearth_store::AuditFilter {
            limit: Some(1),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(last[0].action, "site.mirror_conflict");
}
