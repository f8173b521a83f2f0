//! `hearth site add|list|show|rotate-secret|disable|enable|remove` and `hearth device
//! update --site/--no-site` (issue 20): the real binary registers a site and prints its
//! secret once (only a fast hash is stored), puts devices in it only within the site's
//! group, and removes it leaving its devices; SQLite and PostgreSQL.

#[macro_use]
mod admin;

use admin::*;
use serde_json::Value;

both_backends!(sites_from_the_command_line);

fn sites_from_the_command_line(hub: Hub) {
    let hub = hub.with_home_and_lights();
    let added = hub.json(&["site", "add", "home-1", "--group", "home"]);
    assert_eq!(added["id"], "home-1");
    assert_eq!(added["group"], "home");
    assert_eq!(added["enabled"], true);
    let secret = added["secret"].as_str().unwrap().to_owned();
    assert!(secret.len() >= 30, "{added}");
    let hash = with_store(&hub, async |store| {
        store.site_credentials().await.unwrap()[0]
            .secret_hash
            .clone()
    });
    assert!(hash.starts_with("$hearth-hmac-sha256$"), "{hash}");
    assert!(!hash.contains(&secret));
    assert!(hearth_services::secret::verify(secret.as_bytes(), &hash));

    // The secret is never shown again.
    let shown = hub.json(&["site", "show", "home-1"]);
    assert_eq!(shown["secret"], Value::Null);
    assert_eq!(shown["devices"], Value::Array(vec![]));
    // No registry mirror conflicts yet (docs/sites.md "Registry mirror").
    assert_eq!(shown["conflicts"], Value::Array(vec![]));
    let text = hub.ok(&["site", "list"]);
    assert!(text.contains("home-1") && !text.contains(&secret), "{text}");

    hub.ok(&["device", "add", "lamp", "--app", "lights"]);
    let moved = hub.json(&["device", "update", "lamp", "--site", "home-1"]);
    assert_eq!(moved["site"], "home-1");
    assert_eq!(hub.json(&["device", "show", "lamp"])["site"], "home-1");
    assert_eq!(hub.json(&["site", "show", "home-1"])["devices"][0], "lamp");
    assert_eq!(hub.json(&["site", "list"])[0]["devices"], 1);

    // Another group's site may not take the device; nothing changes.
    hub.ok(&["group", "add", "cabin"]);
    hub.ok(&["site", "add", "cabin-1", "--group", "cabin"]);
    let error = hub.json_error(&["device", "update", "lamp", "--site", "cabin-1"]);
    assert_eq!(error["code"], "invalid", "{error}");
    assert_eq!(error["field"], "site", "{error}");
    assert_eq!(hub.json(&["device", "show", "lamp"])["site"], "home-1");
    let error = hub.json_error(&["device", "update", "lamp", "--site", "nowhere"]);
    assert_eq!(error["code"], "not_found", "{error}");
    let error = hub.json_error(&["site", "add", "home-1", "--group", "home"]);
    assert_eq!(error["code"], "conflict", "{error}");
    let error = hub.json_error(&["site", "add", "a/b", "--group", "home"]);
    assert_eq!(error["field"], "id", "{error}");

    let rotated = hub.json(&["site", "rotate-secret", "home-1"]);
    let new_secret = rotated["secret"].as_str().unwrap();
    assert_ne!(new_secret, secret);
    let hash = with_store(&hub, async |store| {
        store.site_credentials().await.unwrap()[1]
            .secret_hash
            .clone()
    });
    assert!(!hearth_services::secret::verify(secret.as_bytes(), &hash));
    assert!(hearth_services::secret::verify(
        new_secret.as_bytes(),
        &hash
    ));

    assert_eq!(hub.json(&["site", "disable", "home-1"])["enabled"], false);
    assert_eq!(hub.json(&["site", "show", "home-1"])["enabled"], false);
    hub.ok(&["site", "enable", "home-1"]);

    let left = hub.json(&["device", "update", "lamp", "--no-site"]);
    assert_eq!(left["site"], Value::Null);
    hub.ok(&["device", "update", "lamp", "--site", "home-1"]);
    hub.ok(&["site", "remove", "home-1"]);
    assert_eq!(hub.json(&["device", "show", "lamp"])["site"], Value::Null);
    assert_eq!(ids(&hub.json(&["site", "list"])), ["cabin-1"]);

    let actions = with_store(&hub, async |store| {
        store
            .audit(&hearth_store::AuditFilter::default())
            .await
            .unwrap()
            .into_iter()
            .map(|entry| entry.action)
            .collect::<Vec<_>>()
    });
    for action in [
        "site.create",
        "site.remove",
        "site.rotate",
        "site.disable",
        "site.enable",
        "device.site",
    ] {
        assert!(
            actions.iter().any(|seen| seen == action),
            "{action}: {actions:?}"
        );
    }
}
