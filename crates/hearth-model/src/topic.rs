//! The device topic grammar (SPEC §4), written once for the ACL, ingest, commands and the
//! web app's copy (checked against `web/tests/fixtures/device-protocol.json`).
//!
//! ```text
//! devices/{id}/data | status | heartbeat | events   device → hub
//! devices/{id}/snapshot                             camera → browsers (JPEG bytes, retained)
//! devices/{id}/commands/{name}                      hub or application → device
//! devices/{id}/commands/{name}/ack                  device → hub
//! devices/{id}/command-status                       hub → everyone who may read
//! ```
//!
//! [`parse`] runs on every device message, so it borrows from the topic and allocates
//! nothing; the builders allocate the one `String` a publish needs.

use crate::{DeviceId, MessageKind};
use std::fmt;

/// The first level of every device topic.
pub const DEVICES: &str = "devices";

/// What the ingest interceptor sees: every `devices/{id}/{level}` topic.
pub const REPORTS_FILTER: &str = "devices/+/+";

/// What the commands service sees: every device's answers to single-level commands.
pub const ACKS_FILTER: &str = "devices/+/commands/+/ack";

/// A topic of the device protocol, split into the device and what the topic is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceTopic<'t> {
    /// The device id level, as written in the topic (not validated as a [`DeviceId`]:
    /// the callers look it up, and an unknown one is theirs to count).
    pub device: &'t str,
    pub kind: TopicKind<'t>,
}

/// What a device topic is for: the part after `devices/{id}/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TopicKind<'t> {
    /// `data`: readings.
    Data,
    /// `status`: presence words or a JSON status (see [`crate::Presence`]).
    Status,
    /// `heartbeat`.
    Heartbeat,
    /// `events`.
    Events,
    /// `snapshot`: a camera's latest still image, JPEG bytes published retained so
    /// that a page opened later shows it. Not history (see [`TopicKind::message_kind`]).
    Snapshot,
    /// `commands/{name}`: an order to the device. The name is one level or more, so
    /// that `commands/light/set` is an order too (the ACL must keep devices off it).
    Command { name: &'t str },
    /// `commands/{name}/ack`: the device's answer.
    CommandAck { name: &'t str },
    /// `command-status`: the hub's announcement of a command's new status.
    CommandStatus,
}

impl<'t> TopicKind<'t> {
    /// Parses the part of a topic below `devices/{id}/`.
    pub fn parse(rest: &'t str) -> Option<TopicKind<'t>> {
        match rest {
            "data" => return Some(TopicKind::Data),
            "status" => return Some(TopicKind::Status),
            "heartbeat" => return Some(TopicKind::Heartbeat),
            "events" => return Some(TopicKind::Events),
            "snapshot" => return Some(TopicKind::Snapshot),
            "command-status" => return Some(TopicKind::CommandStatus),
            _ => {}
        }
        let name = rest.strip_prefix("commands/")?;
        match name.strip_suffix("/ack") {
            Some(answered) if !answered.is_empty() => {
                Some(TopicKind::CommandAck { name: answered })
            }
            Some(_) => None,
            None if name.is_empty() || name == "ack" => None,
            None => Some(TopicKind::Command { name }),
        }
    }

    /// The kind of message stored in history for a device report; `None` for the
    /// command topics, which ingest does not store, and for snapshots: a camera's JPEG
    /// is up to a megabyte every few seconds, which would swamp the history tables of a
    /// hub on an SD card, and only the latest one is worth anything (the broker keeps
    /// it as the retained message).
    pub fn message_kind(self) -> Option<MessageKind> {
        match self {
            TopicKind::Data => Some(MessageKind::Data),
            TopicKind::Status => Some(MessageKind::Status),
            TopicKind::Heartbeat => Some(MessageKind::Heartbeat),
            TopicKind::Events => Some(MessageKind::Event),
            _ => None,
        }
    }

    /// Whether the hub (or whoever commands the device) publishes it rather than the
    /// device: a device that could would fake its own orders or their outcome.
    pub fn from_hub(self) -> bool {
        matches!(self, TopicKind::Command { .. } | TopicKind::CommandStatus)
    }

    /// The name the fixture and the web app use for the kind.
    pub fn label(self) -> &'static str {
        match self {
            TopicKind::Data => "data",
            TopicKind::Status => "status",
            TopicKind::Heartbeat => "heartbeat",
            TopicKind::Events => "events",
            TopicKind::Snapshot => "snapshot",
            TopicKind::Command { .. } => "command",
            TopicKind::CommandAck { .. } => "command-ack",
            TopicKind::CommandStatus => "command-status",
        }
    }

    /// The command name, for the two command topics.
    pub fn command_name(self) -> Option<&'t str> {
        match self {
            TopicKind::Command { name } | TopicKind::CommandAck { name } => Some(name),
            _ => None,
        }
    }
}

/// Parses a topic of the device protocol; `None` for anything else (other prefixes,
/// unknown levels, an empty or wildcard device level).
pub fn parse(topic: &str) -> Option<DeviceTopic<'_>> {
    let (device, rest) = split(topic)?;
    Some(DeviceTopic {
        device,
        kind: TopicKind::parse(rest?)?,
    })
}

/// Splits `devices/{id}[/rest]` into the id and the rest; `None` unless the topic (or
/// filter) names one device literally: not under `devices/`, or an empty, `+` or `#`
/// device level.
pub fn split(topic: &str) -> Option<(&str, Option<&str>)> {
    let rest = topic.strip_prefix("devices/")?;
    let (device, tail) = match rest.split_once('/') {
        Some((device, tail)) => (device, Some(tail)),
        None => (rest, None),
    };
    if device.is_empty() || device == "+" || device == "#" {
        return None;
    }
    Some((device, tail))
}

/// The part of `topic` below `devices/{device}/`, if it is under that prefix.
pub fn below<'t>(topic: &'t str, device: &str) -> Option<&'t str> {
    topic
        .strip_prefix("devices/")?
        .strip_prefix(device)?
        .strip_prefix('/')
}

/// Whether `rest` (below `devices/{id}/`) is the hub's to publish: the command and
/// command-status topics, and the names they reserve (`commands` alone,
/// `command-status/...`), so that no device topic can be mistaken for the hub's.
pub fn hub_owned(rest: &str) -> bool {
    match TopicKind::parse(rest) {
        Some(kind) => kind.from_hub(),
        None => rest == "commands" || rest.starts_with("command-status/"),
    }
}

impl fmt::Display for DeviceTopic<'_> {
    fn fmt(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        let device = self.device;
        match self.kind {
            TopicKind::Command { name } => write!(out, "devices/{device}/commands/{name}"),
            TopicKind::CommandAck { name } => write!(out, "devices/{device}/commands/{name}/ack"),
            kind => write!(out, "devices/{device}/{}", kind.label()),
        }
    }
}

/// `devices/{device}/{kind}` for one of the report kinds or `command-status`.
pub fn device_topic(device: &DeviceId, kind: TopicKind<'_>) -> String {
    DeviceTopic {
        device: device.as_str(),
        kind,
    }
    .to_string()
}

/// `devices/{device}/commands/{name}`: where a command is published.
pub fn command(device: &DeviceId, name: &str) -> String {
    device_topic(device, TopicKind::Command { name })
}

/// `devices/{device}/commands/{name}/ack`: where the device answers (also the MQTT 5
/// response topic of the command).
pub fn command_ack(device: &DeviceId, name: &str) -> String {
    device_topic(device, TopicKind::CommandAck { name })
}

/// `devices/{device}/command-status`: where the hub announces a command's new status.
pub fn command_status(device: &DeviceId) -> String {
    device_topic(device, TopicKind::CommandStatus)
}

/// `devices/{device}/snapshot`: where a camera publishes its latest JPEG (retained).
pub fn snapshot(device: &DeviceId) -> String {
    device_topic(device, TopicKind::Snapshot)
}

/// `devices/{device}/status`: where presence is announced (retained).
pub fn status(device: &DeviceId) -> String {
    device_topic(device, TopicKind::Status)
}

/// The first level of the topics sites relay (issue 20): `sites/{site}/devices/...`.
pub const SITES_PREFIX: &str = "sites/";

/// Splits a site's relayed topic `sites/{site}/devices/{id}/...` into the site and the
/// device topic it carries (`devices/{id}/...`, read with [`parse`]); `None` for
/// anything else, and for a site level that is empty or a wildcard.
pub fn split_site(topic: &str) -> Option<(&str, &str)> {
    let rest = topic.strip_prefix(SITES_PREFIX)?;
    let (site, inner) = rest.split_once('/')?;
    if site.is_empty() || site == "+" || site == "#" || !inner.starts_with("devices/") {
        return None;
    }
    Some((site, inner))
}

/// The topic a site relays a device topic on: `sites/{site}/{devices/...}`.
pub fn site_topic(site: &str, device_topic: &str) -> String {
    format!("{SITES_PREFIX}{site}/{device_topic}")
}

/// Whether a topic or filter lies under `sites/` (the sites' namespace), or is `sites`.
pub fn under_sites(topic: &str) -> bool {
    topic == "sites" || topic.starts_with(SITES_PREFIX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(topic: &str) -> Option<TopicKind<'_>> {
        parse(topic).map(|parsed| parsed.kind)
    }

    #[test]
    fn reports_commands_and_answers_parse() {
        assert_eq!(
            parse("devices/d1/data"),
            Some(DeviceTopic {
                device: "d1",
                kind: TopicKind::Data
            })
        );
        assert_eq!(kind("devices/d1/events"), Some(TopicKind::Events));
        assert_eq!(kind("devices/d1/snapshot"), Some(TopicKind::Snapshot));
        assert_eq!(
            kind("devices/d1/command-status"),
            Some(TopicKind::CommandStatus)
        );
        assert_eq!(
            kind("devices/d1/commands/relay"),
            Some(TopicKind::Command { name: "relay" })
        );
        assert_eq!(
            kind("devices/d1/commands/light/set/ack"),
            Some(TopicKind::CommandAck { name: "light/set" })
        );
        for other in [
            "devices/d1",
            "devices/d1/",
            "devices//data",
            "devices/+/data",
            "devices/d1/event",
            "devices/d1/commands",
            "devices/d1/commands/",
            "devices/d1/commands/ack",
            "devices/d1/commands//ack",
            "devices/d1/data/x",
            "devices/d1/snapshot/x",
            "other/d1/data",
        ] {
            assert_eq!(parse(other), None, "{other}");
        }
    }

    #[test]
    fn builders_write_what_parse_reads() {
        let device = DeviceId::new("lamp-1").unwrap();
        for (built, expected) in [
            (
                command(&device, "relay"),
                TopicKind::Command { name: "relay" },
            ),
            (
                command_ack(&device, "relay"),
                TopicKind::CommandAck { name: "relay" },
            ),
            (command_status(&device), TopicKind::CommandStatus),
            (status(&device), TopicKind::Status),
            (device_topic(&device, TopicKind::Events), TopicKind::Events),
            (snapshot(&device), TopicKind::Snapshot),
        ] {
            assert_eq!(
                parse(&built),
                Some(DeviceTopic {
                    device: "lamp-1",
                    kind: expected
                }),
                "{built}"
            );
        }
        assert_eq!(command(&device, "relay"), "devices/lamp-1/commands/relay");
    }

    #[test]
    fn a_snapshot_is_the_devices_own_but_not_history() {
        assert_eq!(TopicKind::Snapshot.message_kind(), None);
        assert!(!hub_owned("snapshot"));
    }

    #[test]
    fn the_hub_owns_orders_and_announcements_and_their_names() {
        for owned in [
            "commands/relay",
            "commands/light/set",
            "commands",
            "command-status",
            "command-status/x",
        ] {
            assert!(hub_owned(owned), "{owned}");
        }
        for device_s in [
            "data",
            "commands/relay/ack",
            "commands/ack",
            "foo",
            "commands/",
        ] {
            assert!(!hub_owned(device_s), "{device_s}");
        }
    }

    #[test]
    fn site_topics_carry_a_device_topic() {
        assert_eq!(
            split_site("sites/home-1/devices/lamp/data"),
            Some(("home-1", "devices/lamp/data"))
        );
        assert_eq!(
            split_site("sites/home-1/devices/lamp/commands/relay/ack"),
            Some(("home-1", "devices/lamp/commands/relay/ack"))
        );
        for not_relayed in [
            "sites/home-1",
            "sites//devices/lamp/data",
            "sites/+/devices/lamp/data",
            "sites/home-1/other/lamp",
            "devices/lamp/data",
        ] {
            assert_eq!(split_site(not_relayed), None, "{not_relayed}");
        }
        assert_eq!(
            site_topic("home-1", "devices/lamp/commands/relay"),
            "sites/home-1/devices/lamp/commands/relay"
        );
        assert!(under_sites("sites") && under_sites("sites/#") && !under_sites("sitesx/a"));
    }
}
