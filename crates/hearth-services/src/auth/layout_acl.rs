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

use super::acl::filter_within;
use crate::layouts::LayoutDirectory;

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
