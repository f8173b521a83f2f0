//! The topic rules of SPEC §5, as pure functions of a principal's name and a topic.
//!
//! They run on every PUBLISH and every SUBSCRIBE filter, so they allocate nothing and
//! walk each topic once. What the topics mean (which are orders, answers, the hub's
//! announcements) is `hearth_model::topic`'s; what each principal may do with them is here.

use hearth_model::topic::{self, TopicKind};
use std::collections::HashSet;
use std::sync::Arc;

/// Whether every topic that `filter` can match is also matched by `pattern`: a
/// subscription to `filter` can then never deliver a message outside `pattern`.
/// Both are MQTT topic filters (`+` one level, `#` the rest, including the parent level).
pub fn filter_within(filter: &str, pattern: &str) -> bool {
    let mut filter_levels = filter.split('/');
    let mut pattern_levels = pattern.split('/');
    loop {
        match (filter_levels.next(), pattern_levels.next()) {
            (_, Some("#")) => return true,
            (None, None) => return true,
            (Some(_), None) => return false,
            // `a/b/#` matches `a/b`, but a filter that stops early matches nothing deeper.
            (None, Some(_)) => return false,
            (Some("#"), Some(_)) => return false,
            (Some(_), Some("+")) => {}
            (Some("+"), Some(_)) => return false,
            (Some(filter_level), Some(pattern_level)) => {
                if filter_level != pattern_level {
                    return false;
                }
            }
        }
    }
}

/// A device publishes only under `devices/{its id}/`, and there not on what the hub
/// says to it or about it (its commands, `command-status`): a device that could would
/// fake its own orders or the hub's announcements of their outcome.
pub fn device_may_publish(device: &str, topic: &str) -> bool {
    topic::below(topic, device).is_some_and(|rest| !rest.is_empty() && !topic::hub_owned(rest))
}

/// A device subscribes only to its own commands: `devices/{its id}/commands/#` or
/// narrower.
pub fn device_may_subscribe(device: &str, filter: &str) -> bool {
    topic::below(filter, device).is_some_and(|rest| filter_within(rest, "commands/#"))
}

/// An application sends commands to the devices it holds: `devices/{id}/commands/...`,
/// but not what ends in `/ack`, so that it cannot fake a device's answer.
pub fn app_may_publish(devices: &HashSet<Arc<str>>, topic: &str) -> bool {
    match topic::split(topic) {
        Some((device, Some(tail))) => {
            matches!(TopicKind::parse(tail), Some(TopicKind::Command { .. }))
                && devices.contains(device)
        }
        _ => false,
    }
}

/// An application reads anything under `devices/{id}/` of the devices it holds; a filter
/// with a wildcard in place of the device id could reach other devices and is refused.
pub fn app_may_subscribe(devices: &HashSet<Arc<str>>, filter: &str) -> bool {
    topic::split(filter).is_some_and(|(device, _)| devices.contains(device))
}

/// What an application (or a person's browser, with the devices they may view) may
/// subscribe to: `devices/{id}/...` of a device it holds, and filters with a wildcard in
/// place of the device id (`devices/+/data`, `devices/+/+`, `devices/#`), which could
/// reach any device and are therefore checked per delivery with [`app_may_receive`].
/// Every grant is `Filtered`, the literal ones too, so that a device taken from the
/// application stops flowing at once on subscriptions made while it held it. Anything
/// not under `devices/` (`#`, `+/+/data`, `$SYS/#`) is refused.
pub fn app_subscribe_verdict(
    devices: &HashSet<Arc<str>>,
    filter: &str,
) -> hearth_bus::SubscribeVerdict {
    let wildcard_device =
        filter == "devices/#" || filter == "devices/+" || filter.starts_with("devices/+/");
    if wildcard_device || app_may_subscribe(devices, filter) {
        hearth_bus::SubscribeVerdict::Filtered
    } else {
        hearth_bus::SubscribeVerdict::Deny
    }
}

/// The group of a hub topic that a group's people read: `hearth/notifications/{group}`
/// (the automations' notify action), `hearth/confirmations/{group}` (requests of the
/// confirmation gate), `hearth/alerts/{group}` (alerts as they change) and
/// `hearth/rollouts/{group}` (firmware rollouts' devices as they change). `None` for any other topic or filter (wildcards included).
pub fn group_topic(topic: &str) -> Option<&str> {
    let group = topic
        .strip_prefix("hearth/notifications/")
        .or_else(|| topic.strip_prefix("hearth/confirmations/"))
        .or_else(|| topic.strip_prefix("hearth/alerts/"))
        .or_else(|| topic.strip_prefix("hearth/rollouts/"))?;
    (!group.is_empty() && !group.contains(['/', '+', '#'])).then_some(group)
}

/// Whether a message on `topic` (a topic name, no wildcards) may reach an application
/// holding `devices`: one hash lookup of the topic's device id in the set.
pub fn app_may_receive(devices: &HashSet<Arc<str>>, topic: &str) -> bool {
    app_may_subscribe(devices, topic)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_filter_is_within_a_pattern_only_if_it_cannot_match_more() {
        let yes = [
            ("a/b", "a/b"),
            ("a/b", "a/+"),
            ("a/+", "a/+"),
            ("a/b/c", "a/#"),
            ("a", "a/#"),
            ("a/#", "a/#"),
            ("a/+/c", "a/#"),
            ("commands", "commands/#"),
            ("commands/+/ack", "commands/#"),
        ];
        for (filter, pattern) in yes {
            assert!(filter_within(filter, pattern), "{filter} within {pattern}");
        }
        let no = [
            ("a/#", "a/+"),
            ("a/+", "a/b"),
            ("#", "a/#"),
            ("+/b", "a/b"),
            ("a/b/c", "a/b"),
            ("a", "a/b"),
            ("a/b", "a/b/+"),
            ("status", "commands/#"),
        ];
        for (filter, pattern) in no {
            assert!(
                !filter_within(filter, pattern),
                "{filter} not within {pattern}"
            );
        }
    }

    #[test]
    fn devices_publish_under_their_own_prefix_only() {
        assert!(device_may_publish("d1", "devices/d1/data"));
        assert!(device_may_publish("d1", "devices/d1/commands/relay/ack"));
        assert!(device_may_publish("d1", "devices/d1/events"));
        // What the hub says to the device or about it is not the device's to say.
        assert!(!device_may_publish("d1", "devices/d1/command-status"));
        assert!(!device_may_publish("d1", "devices/d1/command-status/x"));
        assert!(!device_may_publish("d1", "devices/d1/commands/relay"));
        assert!(!device_may_publish("d1", "devices/d1/commands/light/set"));
        assert!(!device_may_publish("d1", "devices/d1/commands"));
        assert!(device_may_publish(
            "d1",
            "devices/d1/commands/light/set/ack"
        ));
        assert!(!device_may_publish("d1", "devices/d1"));
        assert!(!device_may_publish("d1", "devices/d1/"));
        assert!(!device_may_publish("d1", "devices/d10/data"));
        assert!(!device_may_publish("d1", "devices/d2/data"));
        assert!(!device_may_publish("d1", "other/d1/data"));
    }

    #[test]
    fn devices_subscribe_to_their_commands_only() {
        assert!(device_may_subscribe("d1", "devices/d1/commands/#"));
        assert!(device_may_subscribe("d1", "devices/d1/commands/+"));
        assert!(device_may_subscribe("d1", "devices/d1/commands/relay"));
        assert!(!device_may_subscribe("d1", "devices/d1/#"));
        assert!(!device_may_subscribe("d1", "devices/d1/data"));
        assert!(!device_may_subscribe("d1", "devices/+/commands/#"));
        assert!(!device_may_subscribe("d1", "devices/d2/commands/#"));
        assert!(!device_may_subscribe("d1", "#"));
    }

    #[test]
    fn applications_read_and_command_their_devices_only() {
        let devices: HashSet<Arc<str>> = ["d1".into(), "d2".into()].into_iter().collect();
        assert!(app_may_publish(&devices, "devices/d1/commands/relay"));
        assert!(!app_may_publish(&devices, "devices/d1/commands/"));
        assert!(app_may_publish(&devices, "devices/d1/commands/light/set"));
        assert!(!app_may_publish(&devices, "devices/d1/commands/relay/ack"));
        assert!(!app_may_publish(&devices, "devices/d1/commands/ack"));
        assert!(!app_may_publish(&devices, "devices/d1/command-status"));
        assert!(!app_may_publish(&devices, "devices/d1/data"));
        assert!(!app_may_publish(&devices, "devices/d3/commands/relay"));
        assert!(app_may_subscribe(&devices, "devices/d1/#"));
        assert!(app_may_subscribe(&devices, "devices/d2/data"));
        assert!(app_may_subscribe(&devices, "devices/d2"));
        assert!(!app_may_subscribe(&devices, "devices/+/data"));
        assert!(!app_may_subscribe(&devices, "devices/#"));
        assert!(!app_may_subscribe(&devices, "devices/d3/data"));
        assert!(!app_may_subscribe(&devices, "#"));
    }

    #[test]
    fn application_subscriptions_are_granted_filtered_by_device() {
        use hearth_bus::SubscribeVerdict::{Deny, Filtered};
        let devices: HashSet<Arc<str>> = ["d1".into(), "d2".into()].into_iter().collect();
        let cases = [
            ("devices/d1/#", Filtered),
            ("devices/d2/data", Filtered),
            ("devices/+/data", Filtered),
            ("devices/+/+", Filtered),
            ("devices/+", Filtered),
            ("devices/#", Filtered),
            ("devices/d3/data", Deny),
            ("devices", Deny),
            ("devices/", Deny),
            ("#", Deny),
            ("+/+/data", Deny),
            ("+/d1/data", Deny),
            ("$SYS/#", Deny),
            ("other/+/data", Deny),
        ];
        for (filter, verdict) in cases {
            assert_eq!(app_subscribe_verdict(&devices, filter), verdict, "{filter}");
        }
        // With no devices yet, a wildcard is still granted: devices added later flow.
        assert_eq!(
            app_subscribe_verdict(&HashSet::new(), "devices/+/data"),
            Filtered
        );
        assert!(app_may_receive(&devices, "devices/d1/data"));
        assert!(app_may_receive(&devices, "devices/d2/status"));
        assert!(app_may_receive(&devices, "devices/d2"));
        assert!(!app_may_receive(&devices, "devices/d3/data"));
        assert!(!app_may_receive(&devices, "devices/d10/data"));
        assert!(!app_may_receive(&devices, "devices"));
        assert!(!app_may_receive(&devices, "home/d1/data"));
    }
}
