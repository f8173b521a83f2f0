//! Sites and devices' sites (issue 20, migration 0016).

use super::*;
use hearth_model::{AuditEntry, Site, SiteId};
use hearth_store::AuditFilter;

both_backends!(
    sites_are_created_listed_changed_and_removed_with_audit,
    devices_join_and_leave_sites,
    unknown_and_taken_ids_are_told_apart,
);

fn sid(id: &str) -> SiteId {
    SiteId::new(id).unwrap()
}

fn site(id: &str, group: &str) -> Site {
    Site {
        id: sid(id),
        group: gid(group),
        name: format!("Site {id}"),
        enabled: true,
        created_at_ms: 1_700_000_000_003,
        last_seen_ms: None,
    }
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

async fn sites_are_created_listed_changed_and_removed_with_audit(store: Arc<dyn Store>) {
    seed(&store).await;
    store
        .create_site(
            &site("home-1", "home"),
            "hash-1",
            &audit("site.create", "home-1"),
        )
        .await
        .unwrap();
    assert_eq!(last_audit(&store).await.action, "site.create");
    assert_eq!(
        store.site(&sid("home-1")).await.unwrap(),
        site("home-1", "home")
    );
    store
        .create_group(&group("cabin"), &audit("group.create", "cabin"))
        .await
        .unwrap();
    store
        .create_site(
            &site("cabin-1", "cabin"),
            "hash-2",
            &audit("site.create", "cabin-1"),
        )
        .await
        .unwrap();
    let all: Vec<String> = store
        .sites(None)
        .await
        .unwrap()
        .iter()
        .map(|site| site.id.to_string())
        .collect();
    assert_eq!(all, ["cabin-1", "home-1"]);
    let home = store.sites(Some(&gid("home"))).await.unwrap();
    assert_eq!(home.len(), 1);
    assert_eq!(home[0].id, sid("home-1"));
    assert!(matches!(
        store.sites(Some(&gid("nowhere"))).await,
        Err(StoreError::NotFound { .. })
    ));

    // Credentials carry the hash; the record never does.
    let credentials = store.site_credentials().await.unwrap();
    assert_eq!(credentials.len(), 2);
    assert_eq!(credentials[1].id, sid("home-1"));
    assert_eq!(credentials[1].secret_hash, "hash-1");
    store
        .set_site_secret(&sid("home-1"), "hash-new", &audit("site.rotate", "home-1"))
        .await
        .unwrap();
    assert_eq!(last_audit(&store).await.action, "site.rotate");
    assert_eq!(
        store.site_credentials().await.unwrap()[1].secret_hash,
        "hash-new"
    );

    store
        .set_site_enabled(&sid("home-1"), false, &audit("site.disable", "home-1"))
        .await
        .unwrap();
    assert!(!store.site(&sid("home-1")).await.unwrap().enabled);
    assert!(!store.site_credentials().await.unwrap()[1].enabled);
    store
        .set_site_seen(&sid("home-1"), 1_800_000_000_000)
        .await
        .unwrap();
    assert_eq!(
        store.site(&sid("home-1")).await.unwrap().last_seen_ms,
        Some(1_800_000_000_000)
    );

    // A group with a site cannot go.
    assert!(matches!(
        store
            .delete_group(&gid("cabin"), &audit("group.delete", "cabin"))
            .await,
        Err(StoreError::Refused(_))
    ));
    store
        .delete_site(&sid("cabin-1"), &audit("site.remove", "cabin-1"))
        .await
        .unwrap();
    assert_eq!(last_audit(&store).await.action, "site.remove");
    store
        .delete_group(&gid("cabin"), &audit("group.delete", "cabin"))
        .await
        .unwrap();
    assert!(matches!(
        store.site(&sid("cabin-1")).await,
        Err(StoreError::NotFound { .. })
    ));
}

async fn devices_join_and_leave_sites(store: Arc<dyn Store>) {
    seed(&store).await;
    store
        .create_site(
            &site("home-1", "home"),
            "hash-1",
            &audit("site.create", "home-1"),
        )
        .await
        .unwrap();
    store
        .create_devices(
            &[
                (new_device("lamp", "lights"), "h".into()),
                (new_device("plug", "lights"), "h".into()),
            ],
            "cli:test",
        )
        .await
        .unwrap();
    assert_eq!(store.device(&did("lamp")).await.unwrap().site, None);
    store
        .set_device_site(
            &did("lamp"),
            Some(&sid("home-1")),
            &audit("device.site", "lamp"),
        )
        .await
        .unwrap();
    assert_eq!(last_audit(&store).await.action, "device.site");
    assert_eq!(
        store.device(&did("lamp")).await.unwrap().site,
        Some(sid("home-1"))
    );
    assert_eq!(
        store.site_devices(&sid("home-1")).await.unwrap(),
        [did("lamp")]
    );
    let credentials = store.site_credentials().await.unwrap();
    assert_eq!(credentials[0].devices, [did("lamp")]);

    // Unknown device or site: nothing changes.
    assert!(matches!(
        store
            .set_device_site(
                &did("ghost"),
                Some(&sid("home-1")),
                &audit("device.site", "ghost")
            )
            .await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        store
            .set_device_site(
                &did("plug"),
                Some(&sid("nowhere")),
                &audit("device.site", "plug")
            )
            .await,
        Err(StoreError::NotFound { .. })
    ));
    assert_eq!(store.device(&did("plug")).await.unwrap().site, None);

    store
        .set_device_site(
            &did("plug"),
            Some(&sid("home-1")),
            &audit("device.site", "plug"),
        )
        .await
        .unwrap();
    store
        .set_device_site(&did("lamp"), None, &audit("device.site", "lamp"))
        .await
        .unwrap();
    assert_eq!(
        store.site_devices(&sid("home-1")).await.unwrap(),
        [did("plug")]
    );

    // Removing the site keeps the device, in no site.
    store
        .delete_site(&sid("home-1"), &audit("site.remove", "home-1"))
        .await
        .unwrap();
    assert_eq!(store.device(&did("plug")).await.unwrap().site, None);
    assert!(store.site_credentials().await.unwrap().is_empty());
}

async fn unknown_and_taken_ids_are_told_apart(store: Arc<dyn Store>) {
    seed(&store).await;
    let created = store
        .create_site(
            &site("home-1", "nowhere"),
            "h",
            &audit("site.create", "home-1"),
        )
        .await;
    assert!(
        matches!(created, Err(StoreError::NotFound { .. })),
        "{created:?}"
    );
    store
        .create_site(
            &site("home-1", "home"),
            "h",
            &audit("site.create", "home-1"),
        )
        .await
        .unwrap();
    let seq = store.last_audit_seq().await.unwrap();
    let again = store
        .create_site(
            &site("home-1", "home"),
            "h2",
            &audit("site.create", "home-1"),
        )
        .await;
    assert!(
        matches!(again, Err(StoreError::Conflict { .. })),
        "{again:?}"
    );
    assert_eq!(
        store.last_audit_seq().await.unwrap(),
        seq,
        "nothing audited"
    );
    assert_eq!(store.site_credentials().await.unwrap()[0].secret_hash, "h");
    for missing in [
        store
            .delete_site(&sid("ghost"), &audit("site.remove", "ghost"))
            .await,
        store
            .set_site_secret(&sid("ghost"), "x", &audit("site.rotate", "ghost"))
            .await,
        store
            .set_site_enabled(&sid("ghost"), true, &audit("site.enable", "ghost"))
            .await,
        store.set_site_seen(&sid("ghost"), 1).await,
    ] {
        assert!(
            matches!(missing, Err(StoreError::NotFound { .. })),
            "{missing:?}"
        );
    }
    assert!(matches!(
        store.site_devices(&sid("ghost")).await,
        Err(StoreError::NotFound { .. })
    ));
}
