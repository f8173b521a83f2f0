//! Sites (a home hub's link, issue 20, docs/sites.md) as dynsec clients: user name = the
//! site id, client id pinned to `site:{id}` (as the built-in broker requires), and a role
//! with the rules of `auth/site_acl.rs`: publish the reports and command answers of its
//! own devices under `sites/{site}/devices/`, its registry mirror's request and devices,
//! and subscribe to its devices' commands and its own registry snapshot, nothing else.

use super::desired::{Acl, BrokerKey, MAX_COMMAND_LEVELS, ROLE_PREFIX, Wanted, WantedClient};
use hearth_store::SiteCredential;

/// The role name of a site.
pub fn site_role(site: &str) -> String {
    format!("{ROLE_PREFIX}site-{site}")
}

fn allow(acltype: &str, topic: String) -> Acl {
    Acl {
        acltype: acltype.to_owned(),
        topic,
        priority: 1,
        allow: true,
    }
}

/// The ACLs of `site` holding `devices`.
pub fn site_acls<'d>(site: &str, devices: impl IntoIterator<Item = &'d str>) -> Vec<Acl> {
    let send = "publishClientSend";
    let mut acls = vec![
        allow(send, format!("sites/{site}/registry/request")),
        allow(send, format!("sites/{site}/registry/devices/+")),
        allow(
            "subscribePattern",
            format!("sites/{site}/devices/+/commands/#"),
        ),
        allow(
            "subscribeLiteral",
            format!("sites/{site}/registry/snapshot"),
        ),
    ];
    for device in devices {
        let prefix = format!("sites/{site}/devices/{device}");
        for kind in ["data", "status", "heartbeat", "events"] {
            acls.push(allow(send, format!("{prefix}/{kind}")));
        }
        for depth in 1..=MAX_COMMAND_LEVELS {
            let name = vec!["+"; depth].join("/");
            acls.push(allow(send, format!("{prefix}/commands/{name}/ack")));
        }
    }
    acls.sort();
    acls
}

/// Adds the sites' clients and roles to `wanted`. A site id that is already a device's
/// id or an application's key is left out with a warning (dynsec user names are one
/// namespace; Hearth's are three).
pub fn add(wanted: &mut Wanted, sites: &[SiteCredential], key: &BrokerKey) {
    for site in sites {
        let id = site.id.as_str();
        if wanted.clients.contains_key(id) {
            tracing::warn!(site = %id, "dynsec: the site's id is a device's id or an application's key; it is not given a broker client");
            continue;
        }
        let role = site_role(id);
        wanted.roles.insert(
            role.clone(),
            site_acls(id, site.devices.iter().map(|device| device.as_str())),
        );
        wanted.clients.insert(
            id.to_owned(),
            WantedClient {
                kind: "site",
                clientid: format!("site:{id}"),
                password: key.password("site", id, &site.secret_hash),
                enabled: site.enabled,
                role,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_site_may_speak_only_for_its_own_devices_and_its_own_mirror() {
        let acls = site_acls("home-1", ["lamp"]);
        let topics: Vec<(&str, &str)> = acls
            .iter()
            .map(|acl| (acl.acltype.as_str(), acl.topic.as_str()))
            .collect();
        assert!(topics.contains(&("publishClientSend", "sites/home-1/devices/lamp/data")));
        assert!(topics.contains(&(
            "publishClientSend",
            "sites/home-1/devices/lamp/commands/+/ack"
        )));
        assert!(topics.contains(&("subscribeLiteral", "sites/home-1/registry/snapshot")));
        // Every rule allows, and every one is within the site's own namespace.
        assert!(acls.iter().all(|acl| acl.allow));
        assert!(
            acls.iter()
                .all(|acl| acl.topic.starts_with("sites/home-1/"))
        );
        assert!(
            !topics
                .iter()
                .any(|(_, topic)| topic.contains("/commands/#") && topic.contains("lamp"))
        );
    }
}
