//! The topic rules of discovery applications (issue 18, docs/discovery.md).
//!
//! A discovery application is the one MQTT login that devices running Tasmota,
//! Zigbee2MQTT, ESPHome or Shelly firmware share, as Home Assistant's MQTT user. Those
//! devices speak their own topics, so the login's rights are drawn around Hearth's
//! namespaces rather than inside them:
//!
//! - publish: the discovery topics under `<prefix>/` (configs, and the state topics
//!   some devices put there) except `<prefix>/status`, and any topic outside Hearth's
//!   namespaces (`devices/`, `hearth/`, `$...`), except the command topics of devices
//!   another application announced (nobody fakes orders to someone else's device);
//! - subscribe: any filter outside Hearth's namespaces, granted `Filtered`, so that
//!   every delivery is checked by [`DiscoveryAcl::may_receive`];
//! - receive: `<prefix>/status` (the hub's birth message) and the command topics of
//!   the devices it announced, nothing else: one household's login does not read
//!   another's devices.
//!
//! Who announced which command topic is kept here, replaced whole by the discovery
//! service after each change (an announcement is not a registry change and moves no
//! audit sequence). A topic claimed by two applications belongs to the one whose
//! device was adopted, else to the first announcer.

use parking_lot::RwLock;
use std::collections::HashMap;
use std::sync::Arc;

/// The discovery prefix and who announced which command topic.
#[derive(Debug, Default)]
pub struct DiscoveryAcl {
    prefix: RwLock<Option<Arc<str>>>,
    /// Command topic to the discovery application that owns it.
    commands: RwLock<HashMap<Arc<str>, Arc<str>>>,
}

/// Whether `topic` (a topic or a filter) lies in one of Hearth's own namespaces.
fn hearth_namespace(topic: &str) -> bool {
    topic == "devices"
        || topic == "hearth"
        || hearth_model::topic::under_sites(topic)
        || topic.starts_with("devices/")
        || topic.starts_with("hearth/")
        || topic.starts_with('$')
}

impl DiscoveryAcl {
    /// Sets the discovery prefix (`[discovery] prefix`); `None` turns discovery off,
    /// which leaves discovery applications with the rights of ordinary ones.
    pub fn set_prefix(&self, prefix: Option<&str>) {
        *self.prefix.write() = prefix.map(Arc::from);
    }

    /// Replaces the command topics and their owners (application ids).
    pub fn set_commands(&self, commands: HashMap<Arc<str>, Arc<str>>) {
        *self.commands.write() = commands;
    }

    fn status_topic(&self, prefix: &str, topic: &str) -> bool {
        topic
            .strip_prefix(prefix)
            .is_some_and(|rest| rest == "/status")
    }

    /// Whether discovery application `app` may publish on `topic`.
    pub fn may_publish(&self, app: &str, topic: &str) -> bool {
        let prefix = self.prefix.read();
        let Some(prefix) = prefix.as_deref() else {
            return false;
        };
        if hearth_namespace(topic) || self.status_topic(prefix, topic) {
            return false;
        }
        self.commands
            .read()
            .get(topic)
            .is_none_or(|owner| &**owner == app)
    }

    /// Whether a discovery application may subscribe to `filter` (filtered per
    /// delivery): anything outside Hearth's namespaces.
    pub fn may_subscribe(&self, filter: &str) -> bool {
        self.prefix.read().is_some() && !hearth_namespace(filter)
    }

    /// Whether a message on `topic` reaches discovery application `app`.
    pub fn may_receive(&self, app: &str, topic: &str) -> bool {
        let prefix = self.prefix.read();
        let Some(prefix) = prefix.as_deref() else {
            return false;
        };
        // A config may name any topic as its command topic: one under Hearth's namespaces
        // (another device's `devices/{id}/...`) never becomes readable by announcing it.
        self.status_topic(prefix, topic)
            || (!hearth_namespace(topic)
                && self
                    .commands
                    .read()
                    .get(topic)
                    .is_some_and(|owner| &**owner == app))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acl() -> DiscoveryAcl {
        let acl = DiscoveryAcl::default();
        acl.set_prefix(Some("homeassistant"));
        acl.set_commands(HashMap::from([
            (Arc::from("kitchen/cmnd/POWER"), Arc::from("tasmota")),
            (Arc::from("zigbee2mqtt/0x01/set"), Arc::from("z2m")),
            // Announced by a config naming a Hearth topic as its command topic.
            (
                Arc::from("devices/lamp/commands/switch"),
                Arc::from("tasmota"),
            ),
            (Arc::from("devices/lamp/data"), Arc::from("tasmota")),
        ]));
        acl
    }

    #[test]
    fn a_discovery_login_publishes_outside_hearth_and_not_on_others_commands() {
        let acl = acl();
        assert!(acl.may_publish("tasmota", "homeassistant/switch/ABBD20_RL_1/config"));
        assert!(acl.may_publish("tasmota", "kitchen/tele/STATE"));
        assert!(acl.may_publish("tasmota", "kitchen/cmnd/POWER"));
        assert!(!acl.may_publish("z2m", "kitchen/cmnd/POWER"));
        assert!(!acl.may_publish("tasmota", "homeassistant/status"));
        assert!(!acl.may_publish("tasmota", "devices/lamp/data"));
        assert!(!acl.may_publish("tasmota", "devices/lamp/commands/switch"));
        assert!(!acl.may_publish("tasmota", "hearth/alerts/home"));
        assert!(!acl.may_publish("tasmota", "$SYS/broker/uptime"));
    }

    #[test]
    fn it_subscribes_filtered_and_receives_its_own_commands_and_the_birth_only() {
        let acl = acl();
        assert!(acl.may_subscribe("#"));
        assert!(acl.may_subscribe("cmnd/kitchen/#"));
        assert!(acl.may_subscribe("homeassistant/status"));
        assert!(!acl.may_subscribe("devices/#"));
        assert!(!acl.may_subscribe("$SYS/#"));
        assert!(!acl.may_subscribe("hearth/#"));
        assert!(acl.may_receive("tasmota", "kitchen/cmnd/POWER"));
        assert!(acl.may_receive("tasmota", "homeassistant/status"));
        assert!(!acl.may_receive("z2m", "kitchen/cmnd/POWER"));
        assert!(!acl.may_receive("tasmota", "zigbee2mqtt/0x01"));
        assert!(!acl.may_receive("tasmota", "devices/lamp/data"));
        assert!(!acl.may_receive("tasmota", "devices/lamp/commands/switch"));
        assert!(!acl.may_publish("tasmota", "devices/lamp/commands/switch"));
        assert!(!acl.may_receive("tasmota", "homeassistant/switch/x/config"));
    }

    #[test]
    fn without_a_prefix_nothing_is_granted() {
        let acl = DiscoveryAcl::default();
        assert!(!acl.may_publish("tasmota", "kitchen/tele/STATE"));
        assert!(!acl.may_subscribe("#"));
        assert!(!acl.may_receive("tasmota", "homeassistant/status"));
    }
}
