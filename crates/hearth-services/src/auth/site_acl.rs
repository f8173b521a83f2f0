//! What a site's link may do (issue 20, docs/sites.md): publish, under its own
//! `sites/{site}/devices/`, the reports and command answers of the devices that belong
//! to it (`devices.site_id`), and subscribe to its own devices' commands
//! (`sites/{site}/devices/+/commands/#` or narrower). Nothing else: not another site's
//! namespace, not `devices/`, not a device that is not its own.
//!
//! The registry mirror (docs/bridge.md "Registry mirror") adds, for its own site only:
//! publishing `sites/{site}/registry/request` and `sites/{site}/registry/devices/{id}`
//! (devices created at home, going up), and subscribing to exactly
//! `sites/{site}/registry/snapshot`, which carries secret and password hashes: no
//! wildcard may reach it from another principal, and no other site may name it.

use super::acl::filter_within;
use super::snapshot::SiteEntry;
use hearth_model::topic::{self, TopicKind};

/// A site publishes `sites/{site}/devices/{id}/{data|status|heartbeat|events}` and
/// `.../commands/{name}/ack` for a device `id` of its own, and nothing else.
pub fn site_may_publish(site: &str, entry: &SiteEntry, topic_name: &str) -> bool {
    if let Some(rest) = own_registry(site, topic_name) {
        return rest == "request"
            || rest
                .strip_prefix("devices/")
                .is_some_and(|id| hearth_model::DeviceId::new(id).is_ok());
    }
    let Some((named, inner)) = topic::split_site(topic_name) else {
        return false;
    };
    let Some(parsed) = topic::parse(inner) else {
        return false;
    };
    named == site
        && entry.devices.contains(parsed.device)
        && (parsed.kind.message_kind().is_some()
            || matches!(parsed.kind, TopicKind::CommandAck { .. }))
}

/// A site subscribes to its own devices' commands: `sites/{site}/devices/+/commands/#`
/// or narrower (a wildcard in place of the device id stays within its own namespace,
/// where the hub publishes only its own devices' commands).
pub fn site_may_subscribe(site: &str, filter: &str) -> bool {
    own_registry(site, filter) == Some("snapshot")
        || filter_within(filter, &format!("sites/{site}/devices/+/commands/#"))
}

/// Whether `topic` is in some site's registry mirror (`sites/{site}/registry/...`):
/// delivered to nobody but the site's own link, whatever a filter matches.
pub fn is_registry_topic(topic: &str) -> bool {
    let mut levels = topic.split('/');
    levels.next() == Some("sites") && levels.next().is_some() && levels.next() == Some("registry")
}

/// Whether `filter` can match a registry mirror topic (`sites/+/registry/#`): such a
/// subscription by anyone but a site is filtered per delivery, so that `#` or `sites/#`
/// (a hub administrator, a broker password-file user) never receives the hashes.
pub fn may_reach_registry(filter: &str) -> bool {
    for (index, level) in filter.split('/').enumerate() {
        match (index, level) {
            (_, "#") => return true,
            (0, "sites" | "+") | (1, _) | (2, "registry" | "+") => {}
            (0..=2, _) => return false,
            _ => return true,
        }
    }
    false
}

/// The rest of `topic` after `sites/{site}/registry/`, for the site's own name only.
fn own_registry<'t>(site: &str, topic: &'t str) -> Option<&'t str> {
    topic
        .strip_prefix("sites/")?
        .strip_prefix(site)?
        .strip_prefix("/registry/")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn entry(devices: &[&str]) -> SiteEntry {
        SiteEntry {
            enabled: true,
            secret_hash: Arc::from("x"),
            devices: devices.iter().map(|device| Arc::from(*device)).collect(),
        }
    }

    #[test]
    fn a_site_publishes_only_its_own_devices_reports_and_answers() {
        let home = entry(&["lamp"]);
        for allowed in [
            "sites/home-1/devices/lamp/data",
            "sites/home-1/devices/lamp/status",
            "sites/home-1/devices/lamp/heartbeat",
            "sites/home-1/devices/lamp/events",
            "sites/home-1/devices/lamp/commands/relay/ack",
        ] {
            assert!(site_may_publish("home-1", &home, allowed), "{allowed}");
        }
        for refused in [
            "sites/home-1/devices/plug/data",
            "sites/home-2/devices/lamp/data",
            "sites/home-1/devices/lamp/commands/relay",
            "sites/home-1/devices/lamp/command-status",
            "sites/home-1/devices/lamp/snapshot",
            "sites/home-1/devices/lamp",
            "devices/lamp/data",
            "sites/home-1/other",
        ] {
            assert!(!site_may_publish("home-1", &home, refused), "{refused}");
        }
    }

    #[test]
    fn registry_topics_and_the_filters_that_reach_them() {
        for topic in [
            "sites/home-1/registry/snapshot",
            "sites/x/registry/devices/d",
        ] {
            assert!(is_registry_topic(topic), "{topic}");
        }
        for topic in [
            "sites/home-1/devices/d/data",
            "devices/d/data",
            "sites/registry",
        ] {
            assert!(!is_registry_topic(topic), "{topic}");
        }
        for filter in [
            "#",
            "sites/#",
            "+/#",
            "sites/+/#",
            "sites/+/registry/#",
            "sites/home-1/+/snapshot",
            "+/+/+/+",
            "sites/home-1/registry/snapshot",
        ] {
            assert!(may_reach_registry(filter), "{filter}");
        }
        for filter in [
            "devices/#",
            "sites/home-1/devices/#",
            "sites/+/devices/+/data",
            "sites/home-1/registry",
            "+/+/+",
            "$SYS/#",
        ] {
            assert!(!may_reach_registry(filter), "{filter}");
        }
    }

    #[test]
    fn a_site_speaks_and_listens_only_in_its_own_registry_mirror() {
        let home = entry(&[]);
        for allowed in [
            "sites/home-1/registry/request",
            "sites/home-1/registry/devices/fan",
        ] {
            assert!(site_may_publish("home-1", &home, allowed), "{allowed}");
        }
        for refused in [
            "sites/home-1/registry/snapshot",
            "sites/home-1/registry/devices/+",
            "sites/home-1/registry/devices/a/b",
            "sites/home-1/registry/devices/",
            "sites/home-2/registry/request",
            "sites/home-2/registry/devices/fan",
            "sites/home-10/registry/request",
            "sites/home-1/registry",
        ] {
            assert!(!site_may_publish("home-1", &home, refused), "{refused}");
        }
        assert!(site_may_subscribe(
            "home-1",
            "sites/home-1/registry/snapshot"
        ));
        for refused in [
            "sites/home-1/registry/#",
            "sites/home-1/registry/+",
            "sites/+/registry/snapshot",
            "sites/home-2/registry/snapshot",
            "sites/home-1/registry/devices/+",
            "sites/home-1/registry/request",
        ] {
            assert!(!site_may_subscribe("home-1", refused), "{refused}");
        }
    }

    #[test]
    fn a_site_subscribes_only_to_its_own_commands() {
        for allowed in [
            "sites/home-1/devices/+/commands/#",
            "sites/home-1/devices/+/commands/+",
            "sites/home-1/devices/lamp/commands/relay",
        ] {
            assert!(site_may_subscribe("home-1", allowed), "{allowed}");
        }
        for refused in [
            "#",
            "sites/#",
            "sites/+/devices/+/commands/#",
            "sites/home-2/devices/+/commands/#",
            "sites/home-1/devices/+/data",
            "sites/home-1/#",
            "devices/+/commands/#",
            "$SYS/#",
        ] {
            assert!(!site_may_subscribe("home-1", refused), "{refused}");
        }
    }
}
