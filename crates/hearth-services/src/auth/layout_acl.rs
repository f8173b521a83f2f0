//! The ACL of devices with a topic layout (issue 18), from the snapshot's
//! [`LayoutDirectory`] (never the database):
//!
//! - a mapped device may publish exactly the topics its inbound rules match with `{id}`
//!   = itself (not when its messages come through an application, `via_app`), and
//!   subscribe to filters within its command topics (`{id}` = itself, other variables
//!   as `+`); it keeps its rights under `devices/{id}/`;
//! - nobody but the hub publishes on a mapped device's command topic
//!   ([`hub_only`]), whatever else their rules allow (administrators, the password
//!   file's users and anonymous clients included).
//!
//! Also the authorizer's side of the layouts: where the translator and the commands'
//! encoder read them, and the hook that sees each reloaded directory.

use super::RegistryAuthorizer;
use super::acl::filter_within;
use crate::layouts::LayoutDirectory;
use hearth_bus::{Action, Principal, PrincipalKind};
use std::sync::Arc;

/// Called with the layouts of a reloaded snapshot before it takes effect (the
/// translator registers its filters there and disconnects devices whose layout changed).
pub type LayoutsHook = Arc<dyn Fn(&Arc<LayoutDirectory>) + Send + Sync>;

impl RegistryAuthorizer {
    /// The topic layouts of the current snapshot (the translator and the commands'
    /// encoder read them here, so they agree with the ACL).
    pub fn layouts(&self) -> Arc<LayoutDirectory> {
        self.snapshot.read().layouts.clone()
    }

    /// Calls `hook` with the layouts of every reloaded snapshot, before the snapshot
    /// takes effect.
    pub fn on_layouts(&self, hook: LayoutsHook) {
        *self.layouts_hook.write() = Some(hook);
    }

    /// Whether device `device` may do `action` on `topic` by its layout (asked only
    /// after Hearth's own device rule said no, so a device on `devices/{id}/...` pays
    /// nothing for layouts).
    pub(super) fn layout_allows(&self, device: &str, action: Action, topic: &str) -> bool {
        let snapshot = self.snapshot.read();
        match action {
            Action::Publish => device_may_publish(&snapshot.layouts, device, topic),
            Action::Subscribe => device_may_subscribe(&snapshot.layouts, device, topic),
        }
    }

    /// Whether `principal` is refused `action` on `topic` because it is a mapped
    /// device's command topic (the hub's own service principal is not).
    pub(super) fn hub_only(&self, principal: &Principal, action: Action, topic: &str) -> bool {
        action == Action::Publish
            && principal.kind != PrincipalKind::Service
            && !topic.starts_with("devices/")
            && hub_only(&self.snapshot.read().layouts, topic)
    }
}

/// Whether `device` may publish `topic` by its layout.
pub(crate) fn device_may_publish(layouts: &LayoutDirectory, device: &str, topic: &str) -> bool {
    let Some(mapped) = layouts.devices.get(device) else {
        return false;
    };
    mapped.via_app.is_none()
        && mapped
            .layout
            .inbound
            .iter()
            .any(|pattern| pattern.matches_device(topic, device))
        && layouts.command_topic_of(topic).is_none()
}

/// Whether `device` may subscribe to `filter` by its layout.
pub(crate) fn device_may_subscribe(layouts: &LayoutDirectory, device: &str, filter: &str) -> bool {
    layouts.devices.get(device).is_some_and(|mapped| {
        mapped
            .command_filters
            .iter()
            .any(|commands| filter_within(filter, commands))
    })
}

/// Whether `topic` is a mapped device's command topic, which only the hub publishes.
pub(crate) fn hub_only(layouts: &LayoutDirectory, topic: &str) -> bool {
    layouts.command_topic_of(topic).is_some()
}
