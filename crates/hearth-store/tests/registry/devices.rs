//! Devices: registration all or nothing, listing (filters, sort, pages, count), changes.

use super::*;
use hearth_model::{DeviceLive, DevicePatch};
use hearth_store::{DeviceFilter, DeviceSort};
use hearth_testkit::{Backend, database_url};

both_backends!(
    device_round_trip_keeps_unicode_and_json,
    create_devices_refuses_unknown_applications,
    a_failed_batch_leaves_no_rows_and_no_audit_entries,
    update_device_patch_semantics,
    enable_disable_and_rotate_secret,
    delete_device_then_not_found,
    filters_pages_and_counts,
    bulk_create_five_thousand_devices,
    ids_differ_by_case_and_text_is_never_sql,
);

/// An intruder's attempts through names and ids: on MariaDB a case-insensitive collation
/// would make `Lamp` the same key as `lamp` (its row, its secret, its ACL), and the
/// dialect rewriting of the shared queries must never reach a value. Same answers on
/// every backend.
async fn ids_differ_by_case_and_text_is_never_sql(store: Arc<dyn Store>) {
    seed(&store).await;
    let hostile = "'; DROP TABLE devices; -- $1 $2 ON CONFLICT (id) DO NOTHING excluded.x";
    let mut lamp = new_device("lamp", "lights");
    lamp.name = hostile.into();
    lamp.room = Some("$3 AS BIGINT) \\ %_".into());
    add_devices(&store, &[lamp, new_device("Lamp", "lights")]).await;
    let stored = store.device(&did("lamp")).await.unwrap();
    assert_eq!(stored.name, hostile);
    assert_eq!(stored.room.as_deref(), Some("$3 AS BIGINT) \\ %_"));
    assert_eq!(
        store.device(&did("Lamp")).await.unwrap().name,
        "Device Lamp"
    );
    assert_not_found(store.device(&did("LAMP")).await, "device", "LAMP");
    let found = store
        .devices(&DeviceFilter {
            search: Some("drop table".into()),
            ..DeviceFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(
        found.iter().map(|d| d.id.as_str()).collect::<Vec<_>>(),
        ["lamp"]
    );
}

async fn device_round_trip_keeps_unicode_and_json(store: Arc<dyn Store>) {
    seed(&store).await;
    let metadata = serde_json::json!({
        "位置": "客厅",
        "nested": [1, 2.5, {"none": null, "yes": true}],
        "emoji": "💡",
        "quote": "it's \"lit\"",
    });
    let lamp = NewDevice {
        room: Some("客厅".into()),
        firmware: Some("1.2.3".into()),
        metadata: metadata.clone(),
        heartbeat_timeout_secs: Some(90),
        kind: "light".into(),
        ..new_device("lamp-1", "lights")
    };
    add_devices(&store, std::slice::from_ref(&lamp)).await;
    let device = store.device(&did("lamp-1")).await.unwrap();
    assert_eq!(device.id, lamp.id);
    assert_eq!(device.application, aid("lights"));
    assert_eq!(
        (device.name.as_str(), device.kind.as_str()),
        ("Device lamp-1", "light")
    );
    assert_eq!(device.room.as_deref(), Some("客厅"));
    assert_eq!(device.firmware.as_deref(), Some("1.2.3"));
    assert_eq!(device.metadata, metadata);
    assert_eq!(device.heartbeat_timeout_secs, Some(90));
    assert!(device.enabled, "new devices are enabled");
    assert!(device.created_at_ms > 1_700_000_000_000);
    assert_eq!(device.live, DeviceLive::default());
    assert_not_found(store.device(&did("nope")).await, "device", "nope");
}

async fn create_devices_refuses_unknown_applications(store: Arc<dyn Store>) {
    seed(&store).await;
    let batch = vec![
        (new_device("a", "lights"), "h".to_owned()),
        (new_device("b", "nope"), "h".to_owned()),
    ];
    assert_not_found(
        store.create_devices(&batch, "cli:test").await,
        "application",
        "nope",
    );
    assert_eq!(
        store.count_devices(&DeviceFilter::default()).await.unwrap(),
        0
    );
    store.create_devices(&[], "cli:test").await.unwrap();
}

async fn a_failed_batch_leaves_no_rows_and_no_audit_entries(store: Arc<dyn Store>) {
    seed(&store).await;
    add_devices(&store, &[new_device("taken", "lights")]).await;
    let seq_before = store.last_audit_seq().await.unwrap();

    // A duplicate within the batch, in the middle.
    let ids = ["d-0", "d-1", "d-2", "d-1", "d-3"];
    let batch: Vec<_> = ids
        .iter()
        .map(|id| (new_device(id, "lights"), "h".to_owned()))
        .collect();
    assert_conflict(
        store.create_devices(&batch, "cli:test").await,
        "device",
        "d-1",
    );

    // An id that is already registered, in the middle.
    let ids = ["e-0", "e-1", "taken", "e-2"];
    let batch: Vec<_> = ids
        .iter()
        .map(|id| (new_device(id, "lights"), "h".to_owned()))
        .collect();
    assert_conflict(
        store.create_devices(&batch, "cli:test").await,
        "device",
        "taken",
    );

    assert_eq!(
        store.count_devices(&DeviceFilter::default()).await.unwrap(),
        1
    );
    assert_eq!(store.last_audit_seq().await.unwrap(), seq_before);
}

async fn update_device_patch_semantics(store: Arc<dyn Store>) {
    seed(&store).await;
    let original = NewDevice {
        room: Some("kitchen".into()),
        firmware: Some("1.0".into()),
        heartbeat_timeout_secs: Some(60),
        metadata: serde_json::json!({"a": 1}),
        ..new_device("fan", "lights")
    };
    add_devices(&store, &[original]).await;

    // None keeps everything.
    let same = store
        .update_device(
            &did("fan"),
            &DevicePatch::default(),
            &audit("device.update", "fan"),
        )
        .await
        .unwrap();
    assert_eq!(same, store.device(&did("fan")).await.unwrap());
    assert_eq!(same.room.as_deref(), Some("kitchen"));

    // Some(value) sets, Some(None) clears, None keeps.
    let patch = DevicePatch {
        name: Some("Ceiling fan".into()),
        room: Some(None),
        heartbeat_timeout_secs: Some(Some(120)),
        metadata: Some(serde_json::json!({"b": [true]})),
        ..DevicePatch::default()
    };
    let changed = store
        .update_device(&did("fan"), &patch, &audit("device.update", "fan"))
        .await
        .unwrap();
    assert_eq!(changed.name, "Ceiling fan");
    assert_eq!(changed.kind, "sensor");
    assert_eq!(changed.room, None);
    assert_eq!(changed.firmware.as_deref(), Some("1.0"));
    assert_eq!(changed.heartbeat_timeout_secs, Some(120));
    assert_eq!(changed.metadata, serde_json::json!({"b": [true]}));
    assert_eq!(changed, store.device(&did("fan")).await.unwrap());

    let patch = DevicePatch {
        kind: Some("switch".into()),
        firmware: Some(None),
        heartbeat_timeout_secs: Some(None),
        room: Some(Some("客厅".into())),
        ..DevicePatch::default()
    };
    let changed = store
        .update_device(&did("fan"), &patch, &audit("device.update", "fan"))
        .await
        .unwrap();
    assert_eq!(
        (
            changed.kind.as_str(),
            changed.firmware,
            changed.heartbeat_timeout_secs
        ),
        ("switch", None, None)
    );
    assert_eq!(changed.room.as_deref(), Some("客厅"));
    assert_eq!(changed.name, "Ceiling fan");

    let result = store
        .update_device(
            &did("nope"),
            &DevicePatch::default(),
            &audit("device.update", "nope"),
        )
        .await;
    assert_not_found(result, "device", "nope");
}

async fn enable_disable_and_rotate_secret(store: Arc<dyn Store>) {
    seed(&store).await;
    add_devices(&store, &[new_device("lock", "lights")]).await;
    store
        .set_device_enabled(&did("lock"), false, &audit("device.disable", "lock"))
        .await
        .unwrap();
    assert!(!store.device(&did("lock")).await.unwrap().enabled);
    store
        .set_device_secret(&did("lock"), "hash-new", &audit("device.secret", "lock"))
        .await
        .unwrap();
    let credentials = store.credentials().await.unwrap();
    assert_eq!(credentials.devices.len(), 1);
    assert!(!credentials.devices[0].enabled);
    assert_eq!(credentials.devices[0].secret_hash, "hash-new");
    store
        .set_device_enabled(&did("lock"), true, &audit("device.enable", "lock"))
        .await
        .unwrap();
    assert!(store.device(&did("lock")).await.unwrap().enabled);

    assert_not_found(
        store
            .set_device_enabled(&did("nope"), true, &audit("device.enable", "nope"))
            .await,
        "device",
        "nope",
    );
    assert_not_found(
        store
            .set_device_secret(&did("nope"), "h", &audit("device.secret", "nope"))
            .await,
        "device",
        "nope",
    );
}

async fn delete_device_then_not_found(store: Arc<dyn Store>) {
    seed(&store).await;
    add_devices(
        &store,
        &[new_device("gone", "lights"), new_device("kept", "lights")],
    )
    .await;
    store
        .delete_device(&did("gone"), &audit("device.delete", "gone"))
        .await
        .unwrap();
    assert_not_found(store.device(&did("gone")).await, "device", "gone");
    assert_not_found(
        store
            .delete_device(&did("gone"), &audit("device.delete", "gone"))
            .await,
        "device",
        "gone",
    );
    let ids: Vec<DeviceId> = store
        .devices(&DeviceFilter::default())
        .await
        .unwrap()
        .into_iter()
        .map(|device| device.id)
        .collect();
    assert_eq!(ids, vec![did("kept")]);
}

fn ids(devices: Vec<hearth_model::Device>) -> Vec<String> {
    devices
        .into_iter()
        .map(|device| device.id.to_string())
        .collect()
}

async fn filters_pages_and_counts(store: Arc<dyn Store>) {
    seed(&store).await;
    store
        .create_group(&group("cabin"), &audit("group.create", "cabin"))
        .await
        .unwrap();
    store
        .create_app(&app("heat", "cabin"), "h", &audit("app.create", "heat"))
        .await
        .unwrap();
    let device = |id: &str, app: &str, name: &str, kind: &str, room: Option<&str>| NewDevice {
        name: name.into(),
        kind: kind.into(),
        room: room.map(str::to_owned),
        ..new_device(id, app)
    };
    add_devices(
        &store,
        &[
            device("lamp-1", "lights", "Desk Lamp", "light", Some("office")),
            device("lamp-2", "lights", "Floor lamp", "light", Some("客厅")),
            device("ESP_01", "lights", "Hall switch", "switch", Some("hall")),
            device("espx01", "lights", "Spare", "switch", None),
            device("boiler", "heat", "Boiler", "thermostat", Some("cellar")),
            device("stove", "heat", "Stove LAMP", "thermostat", Some("office")),
        ],
    )
    .await;
    store
        .set_device_enabled(&did("espx01"), false, &audit("device.disable", "espx01"))
        .await
        .unwrap();

    let list = |filter: DeviceFilter| {
        let store = store.clone();
        async move { ids(store.devices(&filter).await.unwrap()) }
    };
    let all = DeviceFilter::default();
    assert_eq!(
        list(all.clone()).await,
        ["ESP_01", "boiler", "espx01", "lamp-1", "lamp-2", "stove"]
    );
    assert_eq!(store.count_devices(&all).await.unwrap(), 6);

    let by_app = DeviceFilter {
        application: Some(aid("heat")),
        ..all.clone()
    };
    assert_eq!(list(by_app).await, ["boiler", "stove"]);
    let by_group = DeviceFilter {
        group: Some(gid("home")),
        ..all.clone()
    };
    assert_eq!(
        list(by_group).await,
        ["ESP_01", "espx01", "lamp-1", "lamp-2"]
    );
    let by_room = DeviceFilter {
        room: Some("office".into()),
        ..all.clone()
    };
    assert_eq!(list(by_room).await, ["lamp-1", "stove"]);
    let by_unicode_room = DeviceFilter {
        room: Some("客厅".into()),
        ..all.clone()
    };
    assert_eq!(list(by_unicode_room).await, ["lamp-2"]);
    let by_kind = DeviceFilter {
        kind: Some("switch".into()),
        ..all.clone()
    };
    assert_eq!(list(by_kind).await, ["ESP_01", "espx01"]);
    let disabled = DeviceFilter {
        enabled: Some(false),
        ..all.clone()
    };
    assert_eq!(list(disabled).await, ["espx01"]);

    // Search: case-insensitive, on id or name, wildcards taken literally.
    let search = |text: &str| DeviceFilter {
        search: Some(text.into()),
        ..all.clone()
    };
    assert_eq!(list(search("LAMP")).await, ["lamp-1", "lamp-2", "stove"]);
    assert_eq!(list(search("esp_")).await, ["ESP_01"]);
    assert_eq!(list(search("%")).await, Vec::<String>::new());
    assert_eq!(store.count_devices(&search("lamp")).await.unwrap(), 3);
    let narrow = DeviceFilter {
        search: Some("lamp".into()),
        room: Some("office".into()),
        application: Some(aid("lights")),
        ..all.clone()
    };
    assert_eq!(list(narrow).await, ["lamp-1"]);

    // Sorting by name, ties and pages stable.
    let by_name = DeviceFilter {
        sort: DeviceSort::Name,
        ..all.clone()
    };
    assert_eq!(
        list(by_name.clone()).await,
        ["boiler", "lamp-1", "lamp-2", "ESP_01", "espx01", "stove"]
    );
    let mut paged = Vec::new();
    for page in 0..3 {
        let filter = DeviceFilter {
            limit: Some(2),
            offset: page * 2,
            ..by_name.clone()
        };
        let page_ids = list(filter.clone()).await;
        assert_eq!(page_ids.len(), 2);
        assert_eq!(
            store.count_devices(&filter).await.unwrap(),
            6,
            "count ignores limit and offset"
        );
        paged.extend(page_ids);
    }
    assert_eq!(paged, list(by_name).await);
    let past_the_end = DeviceFilter {
        limit: Some(10),
        offset: 5,
        ..all.clone()
    };
    assert_eq!(list(past_the_end).await, ["stove"]);
    let offset_only = DeviceFilter {
        offset: 4,
        ..all.clone()
    };
    assert_eq!(list(offset_only).await, ["lamp-2", "stove"]);
    let zero = DeviceFilter {
        limit: Some(0),
        ..all.clone()
    };
    assert_eq!(list(zero).await, Vec::<String>::new());
}

/// Live state (online, last seen) is written by ingest, which has no store method yet:
/// set it with SQL to test the `online` filter and the `LastSeen` sort.
async fn set_live(url: &str, id: &str, online: bool, last_seen_ms: Option<i64>) {
    use sqlx::Connection;
    let sql = "UPDATE devices SET is_online = $1, last_seen_ms = $2 WHERE id = $3";
    if url.starts_with("sqlite:") {
        let mut conn = sqlx::SqliteConnection::connect(url).await.unwrap();
        sqlx::query(sql)
            .bind(online)
            .bind(last_seen_ms)
            .bind(id)
            .execute(&mut conn)
            .await
            .unwrap();
    } else if url.starts_with("mysql:") {
        let mut conn = sqlx::MySqlConnection::connect(url).await.unwrap();
        sqlx::query("UPDATE devices SET is_online = ?, last_seen_ms = ? WHERE id = ?")
            .bind(online)
            .bind(last_seen_ms)
            .bind(id)
            .execute(&mut conn)
            .await
            .unwrap();
    } else {
        let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
        sqlx::query(sql)
            .bind(online)
            .bind(last_seen_ms)
            .bind(id)
            .execute(&mut conn)
            .await
            .unwrap();
    }
}

async fn online_filter_and_last_seen_sort(backend: Backend) {
    let (url, _guard) = database_url(backend);
    let store = hearth_store::open(&url).await.unwrap();
    seed(&store).await;
    let all_ids = ["a", "b", "c", "d", "e"];
    add_devices(&store, &all_ids.map(|id| new_device(id, "lights"))).await;
    set_live(&url, "b", true, Some(3_000)).await;
    set_live(&url, "d", false, Some(5_000)).await;
    set_live(&url, "e", true, Some(3_000)).await;

    let online = DeviceFilter {
        online: Some(true),
        ..DeviceFilter::default()
    };
    assert_eq!(ids(store.devices(&online).await.unwrap()), ["b", "e"]);
    assert_eq!(store.count_devices(&online).await.unwrap(), 2);
    let offline = DeviceFilter {
        online: Some(false),
        ..DeviceFilter::default()
    };
    assert_eq!(ids(store.devices(&offline).await.unwrap()), ["a", "c", "d"]);

    // Most recent first, ties by id, never seen last (by id).
    let by_last_seen = DeviceFilter {
        sort: DeviceSort::LastSeen,
        ..DeviceFilter::default()
    };
    assert_eq!(
        ids(store.devices(&by_last_seen).await.unwrap()),
        ["d", "b", "e", "a", "c"]
    );
    let page = DeviceFilter {
        limit: Some(2),
        offset: 2,
        ..by_last_seen
    };
    assert_eq!(ids(store.devices(&page).await.unwrap()), ["e", "a"]);

    let device = store.device(&did("d")).await.unwrap();
    assert_eq!(
        (device.live.is_online, device.live.last_seen_ms),
        (false, Some(5_000))
    );
    store.close().await;
}

#[tokio::test]
async fn online_filter_and_last_seen_sort_sqlite() {
    online_filter_and_last_seen_sort(Backend::Sqlite).await;
}

#[tokio::test]
async fn online_filter_and_last_seen_sort_postgres() {
    online_filter_and_last_seen_sort(Backend::Postgres).await;
}

#[tokio::test]
async fn online_filter_and_last_seen_sort_mariadb() {
    online_filter_and_last_seen_sort(Backend::MariaDb).await;
}

async fn bulk_create_five_thousand_devices(store: Arc<dyn Store>) {
    seed(&store).await;
    let seq_before = store.last_audit_seq().await.unwrap();
    let devices: Vec<NewDevice> = (0..5_000)
        .map(|n| NewDevice {
            room: Some(format!("room-{}", n % 7)),
            metadata: serde_json::json!({"n": n, "标签": "批量"}),
            ..new_device(&format!("bulk-{n:05}"), "lights")
        })
        .collect();
    let started = std::time::Instant::now();
    add_devices(&store, &devices).await;
    eprintln!(
        "{}: 5,000 devices in {:?}",
        store.backend(),
        started.elapsed()
    );

    assert_eq!(
        store.count_devices(&DeviceFilter::default()).await.unwrap(),
        5_000
    );
    let room_3 = DeviceFilter {
        room: Some("room-3".into()),
        ..DeviceFilter::default()
    };
    assert_eq!(store.count_devices(&room_3).await.unwrap(), 714);
    let last = store.device(&did("bulk-04999")).await.unwrap();
    assert_eq!(
        last.metadata,
        serde_json::json!({"n": 4999, "标签": "批量"})
    );
    assert_eq!(store.credentials().await.unwrap().devices.len(), 5_000);

    // One `device.add` entry per device, under the given actor, in batch order.
    assert_eq!(store.last_audit_seq().await.unwrap() - seq_before, 5_000);
    let newest = store
        .audit(&hearth_store::AuditFilter {
            limit: Some(2),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(newest[0].target, "bulk-04999");
    assert_eq!(newest[1].target, "bulk-04998");
    assert!(
        newest
            .iter()
            .all(|entry| entry.action == "device.add" && entry.actor == "cli:test")
    );
    assert_eq!(newest[0].detail["application"], "lights");
}
