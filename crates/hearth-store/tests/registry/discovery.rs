//! Discovered devices and discovery applications (migration 0013).

use super::*;
use hearth_model::{DiscoveredComponent, DiscoveredDevice};
use hearth_store::AuditFilter;

both_backends!(
    discovered_devices_are_upserted_without_duplicates_and_keep_adoption,
    listings_filter_by_group_and_hide_adopted,
    forgetting_and_the_discovery_flag_are_audited,
);

fn entry(app: &str, id: &str, seen: i64) -> DiscoveredDevice {
    DiscoveredDevice {
        app: aid(app),
        id: did(id),
        group: gid("home"),
        name: Some("Kitchen plug".into()),
        manufacturer: Some("Tasmota".into()),
        model: None,
        sw_version: None,
        kind: "switch".into(),
        components: vec![DiscoveredComponent {
            component: "switch".into(),
            object_id: "ABBD20_RL_1".into(),
            config_topic: "homeassistant/switch/ABBD20_RL_1/config".into(),
            name: None,
            unique_id: Some("ABBD20_RL_1".into()),
            device_class: None,
            unit: None,
            config: serde_json::json!({"command_topic": "kitchen/cmnd/POWER"}),
            unsupported: vec![],
        }],
        capabilities: vec![serde_json::json!({"type": "switch"})],
        online: None,
        first_seen_ms: seen,
        last_seen_ms: seen,
        adopted_device: None,
    }
}

async fn discovered_devices_are_upserted_without_duplicates_and_keep_adoption(
    store: Arc<dyn Store>,
) {
    seed(&store).await;
    store
        .upsert_discovered(&entry("lights", "ABBD20", 10))
        .await
        .unwrap();
    let mut again = entry("lights", "ABBD20", 20);
    again.online = Some(true);
    store.upsert_discovered(&again).await.unwrap();
    let all = store.discovered_list(None, true).await.unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].first_seen_ms, 10, "the first sighting stays");
    assert_eq!(all[0].last_seen_ms, 20);
    assert_eq!(all[0].online, Some(true));
    store
        .mark_discovered_adopted(
            &aid("lights"),
            &did("ABBD20"),
            &did("plug"),
            &audit("discovered.adopt", "plug"),
        )
        .await
        .unwrap();
    // A re-announce after adoption neither un-adopts nor duplicates.
    store
        .upsert_discovered(&entry("lights", "ABBD20", 30))
        .await
        .unwrap();
    let got = store
        .discovered(&aid("lights"), &did("ABBD20"))
        .await
        .unwrap();
    assert_eq!(got.adopted_device, Some(did("plug")));
    assert_eq!(store.discovered_list(None, true).await.unwrap().len(), 1);
    assert!(
        store
            .delete_discovered(&aid("lights"), &did("ABBD20"))
            .await
            .unwrap()
    );
    assert!(
        !store
            .delete_discovered(&aid("lights"), &did("ABBD20"))
            .await
            .unwrap()
    );
    assert!(matches!(
        store.discovered(&aid("lights"), &did("ABBD20")).await,
        Err(StoreError::NotFound { .. })
    ));
    // Unknown application: NotFound, nothing written.
    assert!(matches!(
        store.upsert_discovered(&entry("nope", "X1", 1)).await,
        Err(StoreError::NotFound { .. })
    ));
}

async fn listings_filter_by_group_and_hide_adopted(store: Arc<dyn Store>) {
    seed(&store).await;
    store
        .create_group(&group("cabin"), &audit("group.create", "cabin"))
        .await
        .unwrap();
    store
        .create_app(
            &app("cabin-ha", "cabin"),
            "hash",
            &audit("app.create", "cabin-ha"),
        )
        .await
        .unwrap();
    store
        .upsert_discovered(&entry("lights", "B1", 1))
        .await
        .unwrap();
    store
        .upsert_discovered(&entry("lights", "A1", 1))
        .await
        .unwrap();
    let mut cabin = entry("cabin-ha", "A1", 1);
    cabin.group = gid("cabin");
    store.upsert_discovered(&cabin).await.unwrap();
    let home = store
        .discovered_list(Some(&gid("home")), false)
        .await
        .unwrap();
    assert_eq!(
        home.iter().map(|d| d.id.to_string()).collect::<Vec<_>>(),
        vec!["A1", "B1"]
    );
    assert_eq!(store.discovered_list(None, false).await.unwrap().len(), 3);
    store
        .mark_discovered_adopted(
            &aid("lights"),
            &did("A1"),
            &did("a1"),
            &audit("discovered.adopt", "a1"),
        )
        .await
        .unwrap();
    assert_eq!(
        store
            .discovered_list(Some(&gid("home")), false)
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        store
            .discovered_list(Some(&gid("home")), true)
            .await
            .unwrap()
            .len(),
        2
    );
    assert!(matches!(
        store
            .mark_discovered_adopted(
                &aid("lights"),
                &did("ZZ"),
                &did("zz"),
                &audit("discovered.adopt", "zz")
            )
            .await,
        Err(StoreError::NotFound { .. })
    ));
}

async fn forgetting_and_the_discovery_flag_are_audited(store: Arc<dyn Store>) {
    seed(&store).await;
    assert!(!store.app(&aid("lights")).await.unwrap().discovery);
    let before = store.last_audit_seq().await.unwrap();
    store
        .set_app_discovery(&aid("lights"), true, &audit("app.discovery", "lights"))
        .await
        .unwrap();
    assert!(store.last_audit_seq().await.unwrap() > before);
    assert!(store.app(&aid("lights")).await.unwrap().discovery);
    assert!(store.apps(None).await.unwrap()[0].discovery);
    assert!(matches!(
        store
            .set_app_discovery(&aid("nope"), true, &audit("app.discovery", "nope"))
            .await,
        Err(StoreError::NotFound { .. })
    ));
    store
        .upsert_discovered(&entry("lights", "ABBD20", 1))
        .await
        .unwrap();
    store
        .forget_discovered(
            &aid("lights"),
            &did("ABBD20"),
            &audit("discovered.forget", "ABBD20"),
        )
        .await
        .unwrap();
    let last = store
        .audit(&AuditFilter {
            limit: Some(1),
            ..AuditFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(last[0].action, "discovered.forget");
    assert!(matches!(
        store
            .forget_discovered(
                &aid("lights"),
                &did("ABBD20"),
                &audit("discovered.forget", "ABBD20")
            )
            .await,
        Err(StoreError::NotFound { .. })
    ));
    // Deleting the application takes its discovered devices with it.
    store
        .upsert_discovered(&entry("lights", "ABBD21", 1))
        .await
        .unwrap();
    store
        .delete_app(&aid("lights"), &audit("app.remove", "lights"))
        .await
        .unwrap();
    assert!(store.discovered_list(None, true).await.unwrap().is_empty());
}
