//! Topic layouts of applications and devices (migration 0012).

use super::*;
use hearth_model::AuditEntry;
use hearth_model::layout::Layout;
use hearth_store::AuditFilter;

both_backends!(
    app_layouts_are_set_read_replaced_and_cleared_with_audit,
    device_layouts_go_with_their_device,
    unknown_owners_are_not_found,
);

fn bulb_layout() -> Layout {
    serde_json::from_value(serde_json::json!({
        "inbound": [{"topic": "home/{room}/bulb/{id}/state", "as": "data", "ack": true,
                     "fields": {"on": "is_on"}}],
        "commands": [{"name": "switch", "topic": "home/{room}/bulb/{id}/command/{name}",
                      "payload": {"action": "{on}"},
                      "map": {"on": {"true": "on", "false": "off"}}}]
    }))
    .unwrap()
}

async fn last_audit(store: &Arc<dyn Store>) -> AuditEntry {
    store
        .audit(&AuditFilter {
            limit: Some(1),
            ..AuditFilter::default()
        })
        .await
        .unwrap()
        .remove(0)
}

async fn app_layouts_are_set_read_replaced_and_cleared_with_audit(store: Arc<dyn Store>) {
    seed(&store).await;
    let lights = aid("lights");
    assert_eq!(store.app_layout(&lights).await.unwrap(), None);
    let before = store.last_audit_seq().await.unwrap();
    let layout = bulb_layout();
    store
        .set_app_layout(&lights, Some(&layout), &audit("app.layout.set", "lights"))
        .await
        .unwrap();
    assert!(store.last_audit_seq().await.unwrap() > before);
    assert_eq!(last_audit(&store).await.action, "app.layout.set");
    assert_eq!(
        store.app_layout(&lights).await.unwrap(),
        Some(layout.clone())
    );
    let mut replaced = layout.clone();
    replaced.inbound[0].topic = "home/{room}/lamp/{id}/state".into();
    store
        .set_app_layout(&lights, Some(&replaced), &audit("app.layout.set", "lights"))
        .await
        .unwrap();
    let all = store.layouts().await.unwrap();
    assert_eq!(all.apps, vec![(lights.clone(), replaced)]);
    assert!(all.devices.is_empty());
    store
        .set_app_layout(&lights, None, &audit("app.layout.clear", "lights"))
        .await
        .unwrap();
    assert_eq!(last_audit(&store).await.action, "app.layout.clear");
    assert_eq!(store.app_layout(&lights).await.unwrap(), None);
    assert!(store.layouts().await.unwrap().apps.is_empty());
}

async fn device_layouts_go_with_their_device(store: Arc<dyn Store>) {
    seed(&store).await;
    add_devices(
        &store,
        &[
            new_device("plug-1", "lights"),
            new_device("plug-2", "lights"),
        ],
    )
    .await;
    let layout: Layout = serde_json::from_value(serde_json::json!({
        "via_app": "lights",
        "inbound": [{"topic": "tasmota/plug1/POWER", "payload": "plain", "key": "on",
                     "values": {"ON": true, "OFF": false}}],
        "commands": [{"name": "switch", "topic": "cmnd/plug1/POWER", "payload": "{on}",
                      "map": {"on": {"true": "ON", "false": "OFF"}}}]
    }))
    .unwrap();
    store
        .set_device_layout(
            &did("plug-1"),
            Some(&layout),
            &audit("device.layout.set", "plug-1"),
        )
        .await
        .unwrap();
    assert_eq!(
        store.device_layout(&did("plug-1")).await.unwrap(),
        Some(layout.clone())
    );
    assert_eq!(store.device_layout(&did("plug-2")).await.unwrap(), None);
    assert_eq!(
        store.layouts().await.unwrap().devices,
        vec![(did("plug-1"), layout)]
    );
    store
        .delete_device(&did("plug-1"), &audit("device.remove", "plug-1"))
        .await
        .unwrap();
    assert!(store.layouts().await.unwrap().devices.is_empty());
}

async fn unknown_owners_are_not_found(store: Arc<dyn Store>) {
    seed(&store).await;
    let before = store.last_audit_seq().await.unwrap();
    for error in [
        store.app_layout(&aid("nope")).await.unwrap_err(),
        store
            .set_app_layout(
                &aid("nope"),
                Some(&bulb_layout()),
                &audit("app.layout.set", "nope"),
            )
            .await
            .unwrap_err(),
        store.device_layout(&did("nope")).await.unwrap_err(),
        store
            .set_device_layout(&did("nope"), None, &audit("device.layout.clear", "nope"))
            .await
            .unwrap_err(),
    ] {
        assert!(matches!(error, StoreError::NotFound { .. }), "{error:?}");
    }
    // Nothing refused left an audit entry.
    assert_eq!(store.last_audit_seq().await.unwrap(), before);
}
