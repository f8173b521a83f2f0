//! `topics` of `[bridge]`: which topics cross the link, in which direction, at which QoS,
//! and how their prefix is rewritten (`devices/x` at home ↔ `sites/{site}/devices/x` in
//! the cloud by default, or as configured for another broker).
//!
//! An entry is either a home filter (`"devices/+/data"`: out, QoS 1, default prefixes;
//! the form hearth.toml had before the table) or a table:
//!
//! ```toml
//! [[bridge.topics]]
//! pattern = "lights/#"              # a filter in the home's namespace
//! direction = "in"                  # out | in | both
//! qos = 1                           # 0 or 1 on the link
//! local_prefix = "lights/"          # default "devices/"
//! remote_prefix = "homes/{site}/lights/"   # default "sites/{site}/devices/"
//! ```
//!
//! Checked entry by entry while parsing, so that a mistake names the entry's line.

use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

/// The home prefix of the default rules.
pub const DEFAULT_LOCAL_PREFIX: &str = "devices/";
/// The cloud prefix of the default rules: a Hearth cloud's site namespace.
pub const DEFAULT_REMOTE_PREFIX: &str = "sites/{site}/devices/";

/// Which way a rule's messages cross the link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Home to cloud, through the durable queue.
    #[default]
    Out,
    /// Cloud to home, republished on the home bus.
    In,
    Both,
}

impl Direction {
    pub fn out(self) -> bool {
        matches!(self, Direction::Out | Direction::Both)
    }

    pub fn inbound(self) -> bool {
        matches!(self, Direction::In | Direction::Both)
    }
}

/// One checked rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawTopic", into = "RawRule")]
pub struct TopicRule {
    /// A filter in the home's namespace; starts with `local_prefix`.
    pub pattern: String,
    pub direction: Direction,
    /// The link's QoS for these messages: 0 (sent once, deleted from the queue when
    /// handed to the connection) or 1 (deleted after the cloud's PUBACK).
    pub qos: u8,
    pub local_prefix: String,
    /// May contain `{site}`, replaced by the site id.
    pub remote_prefix: String,
}

impl TopicRule {
    /// An outbound rule with QoS 1 and the default prefixes (the list form).
    pub fn out(pattern: &str) -> Result<TopicRule, String> {
        TopicRule::try_from(RawTopic::Filter(pattern.to_owned()))
    }

    /// The rule for commands from a Hearth cloud: `sites/{site}/devices/+/commands/+`
    /// in, as `devices/+/commands/+`.
    pub fn commands() -> TopicRule {
        TopicRule {
            pattern: "devices/+/commands/+".into(),
            direction: Direction::In,
            qos: 1,
            local_prefix: DEFAULT_LOCAL_PREFIX.into(),
            remote_prefix: DEFAULT_REMOTE_PREFIX.into(),
        }
    }

    pub fn remote_prefix(&self, site: &str) -> String {
        self.remote_prefix.replace("{site}", site)
    }

    /// The filter the link subscribes to in the cloud for an inbound rule.
    pub fn remote_filter(&self, site: &str) -> String {
        format!(
            "{}{}",
            self.remote_prefix(site),
            &self.pattern[self.local_prefix.len()..]
        )
    }

    /// A home topic this rule sends out, as the cloud names it; `None` when the rule does
    /// not take it.
    pub fn to_remote(&self, topic: &str, site: &str) -> Option<String> {
        if !self.direction.out() || !matches(&self.pattern, topic) {
            return None;
        }
        let rest = topic.strip_prefix(&self.local_prefix)?;
        Some(format!("{}{rest}", self.remote_prefix(site)))
    }

    /// A cloud topic this rule brings in, as the home names it; `None` when the rule
    /// does not take it.
    pub fn to_local(&self, topic: &str, site: &str) -> Option<String> {
        if !self.direction.inbound() || !matches(&self.remote_filter(site), topic) {
            return None;
        }
        let rest = topic.strip_prefix(&self.remote_prefix(site))?;
        Some(format!("{}{rest}", self.local_prefix))
    }
}

/// Whether `topic` matches the MQTT filter `filter` (`+` one level, `#` the rest).
pub fn matches(filter: &str, topic: &str) -> bool {
    let mut levels = topic.split('/');
    for part in filter.split('/') {
        match part {
            "#" => return true,
            "+" => {
                if levels.next().is_none() {
                    return false;
                }
            }
            _ => {
                if levels.next() != Some(part) {
                    return false;
                }
            }
        }
    }
    levels.next().is_none()
}

/// Whether `filter` is an MQTT filter this link can use: `+` alone in a level, `#` alone
/// in the last level, no NUL, not a `$` topic (the broker's own, or a shared
/// subscription).
fn valid_filter(filter: &str) -> bool {
    let count = filter.split('/').count();
    !filter.is_empty()
        && !filter.starts_with('$')
        && !filter.contains('\0')
        && filter.split('/').enumerate().all(|(i, level)| {
            !level.contains(['#', '+']) || level == "+" || (level == "#" && i + 1 == count)
        })
}

/// An entry as written: a filter or a table.
#[derive(Debug, Clone)]
pub enum RawTopic {
    Filter(String),
    Rule(RawRule),
}

/// A table entry as written, defaults filled in.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRule {
    pattern: String,
    #[serde(default)]
    direction: Direction,
    #[serde(default = "default_qos")]
    qos: u8,
    #[serde(default = "default_local_prefix")]
    local_prefix: String,
    #[serde(default = "default_remote_prefix")]
    remote_prefix: String,
}

fn default_qos() -> u8 {
    1
}
fn default_local_prefix() -> String {
    DEFAULT_LOCAL_PREFIX.into()
}
fn default_remote_prefix() -> String {
    DEFAULT_REMOTE_PREFIX.into()
}

impl<'de> Deserialize<'de> for RawTopic {
    /// A string or a table, by hand rather than `untagged`, so that a mistake inside a
    /// table keeps its own message ("unknown field", "unknown variant") and line.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<RawTopic, D::Error> {
        struct Entry;
        impl<'de> Visitor<'de> for Entry {
            type Value = RawTopic;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a topic filter, or a table with pattern, direction, qos, local_prefix, remote_prefix")
            }
            fn visit_str<E: de::Error>(self, filter: &str) -> Result<RawTopic, E> {
                Ok(RawTopic::Filter(filter.to_owned()))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RawTopic, A::Error> {
                RawRule::deserialize(de::value::MapAccessDeserializer::new(map)).map(RawTopic::Rule)
            }
        }
        deserializer.deserialize_any(Entry)
    }
}

impl TryFrom<RawTopic> for TopicRule {
    type Error = String;
    fn try_from(raw: RawTopic) -> Result<TopicRule, String> {
        let raw = match raw {
            RawTopic::Filter(pattern) => RawRule {
                pattern,
                direction: Direction::Out,
                qos: default_qos(),
                local_prefix: default_local_prefix(),
                remote_prefix: default_remote_prefix(),
            },
            RawTopic::Rule(rule) => rule,
        };
        let name = &raw.pattern;
        if !valid_filter(name) {
            return Err(format!(
                "[bridge] topics: {name:?} is not an MQTT filter (`+` and `#` alone in a level, `#` last, not `$...`)"
            ));
        }
        if raw.qos > 1 {
            return Err(format!(
                "[bridge] topics {name:?}: qos {}: the link delivers at most once (0) or at least once (1)",
                raw.qos
            ));
        }
        for (key, prefix) in [
            ("local_prefix", &raw.local_prefix),
            ("remote_prefix", &raw.remote_prefix),
        ] {
            let placeholders = prefix.replace("{site}", "");
            if prefix.contains(['+', '#', '\0'])
                || prefix.starts_with('$')
                || placeholders.contains(['{', '}'])
            {
                return Err(format!(
                    "[bridge] topics {name:?}: {key} {prefix:?} must be a plain topic prefix (no wildcards, not `$...`; `{{site}}` is the only placeholder)"
                ));
            }
        }
        if raw.local_prefix.contains("{site}") {
            return Err(format!(
                "[bridge] topics {name:?}: {{site}} belongs in remote_prefix"
            ));
        }
        if !raw.pattern.starts_with(&raw.local_prefix) {
            return Err(format!(
                "[bridge] topics: {name:?} does not start with its local_prefix {:?}",
                raw.local_prefix
            ));
        }
        let rule = TopicRule {
            pattern: raw.pattern,
            direction: raw.direction,
            qos: raw.qos,
            local_prefix: raw.local_prefix,
            remote_prefix: raw.remote_prefix,
        };
        let remote = rule.remote_filter("site");
        if !valid_filter(&remote) {
            return Err(format!(
                "[bridge] topics {:?}: in the cloud it becomes {remote:?}, not an MQTT filter",
                rule.pattern
            ));
        }
        Ok(rule)
    }
}

impl From<TopicRule> for RawRule {
    fn from(rule: TopicRule) -> RawRule {
        RawRule {
            pattern: rule.pattern,
            direction: rule.direction,
            qos: rule.qos,
            local_prefix: rule.local_prefix,
            remote_prefix: rule.remote_prefix,
        }
    }
}

/// The default rules: what devices report and their command acks, out with QoS 1.
pub fn default_rules() -> Vec<TopicRule> {
    ["data", "status", "heartbeat", "events", "commands/+/ack"]
        .iter()
        .map(|kind| TopicRule::out(&format!("devices/+/{kind}")).expect("a valid default"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(pattern: &str, direction: Direction, local: &str, remote: &str) -> TopicRule {
        TopicRule::try_from(RawTopic::Rule(RawRule {
            pattern: pattern.into(),
            direction,
            qos: 1,
            local_prefix: local.into(),
            remote_prefix: remote.into(),
        }))
        .unwrap()
    }

    #[test]
    fn filters_match_as_mqtt_does() {
        assert!(matches("devices/+/data", "devices/d1/data"));
        assert!(!matches("devices/+/data", "devices/d1/data/x"));
        assert!(matches(
            "devices/+/commands/+/ack",
            "devices/d1/commands/c/ack"
        ));
        assert!(matches("devices/#", "devices/d1/commands/c/ack"));
        assert!(!matches("devices/+/data", "devices/d1"));
    }

    #[test]
    fn prefixes_are_rewritten_both_ways_and_only_in_the_rules_direction() {
        let default = TopicRule::out("devices/+/data").unwrap();
        assert_eq!(
            default.to_remote("devices/d1/data", "home-1").as_deref(),
            Some("sites/home-1/devices/d1/data")
        );
        assert_eq!(default.to_remote("devices/d1/status", "home-1"), None);
        assert_eq!(
            default.to_local("sites/home-1/devices/d1/data", "home-1"),
            None,
            "out only"
        );

        let lights = rule("lights/#", Direction::Both, "lights/", "homes/{site}/l/");
        assert_eq!(lights.remote_filter("h"), "homes/h/l/#");
        assert_eq!(
            lights.to_remote("lights/porch/on", "h").as_deref(),
            Some("homes/h/l/porch/on")
        );
        assert_eq!(
            lights.to_local("homes/h/l/porch/on", "h").as_deref(),
            Some("lights/porch/on")
        );
        assert_eq!(
            lights.to_local("homes/other/l/porch/on", "h"),
            None,
            "another site's"
        );

        let everything = rule("#", Direction::In, "", "");
        assert_eq!(everything.to_local("a/b", "h").as_deref(), Some("a/b"));
        assert_eq!(
            TopicRule::commands().remote_filter("h"),
            "sites/h/devices/+/commands/+"
        );
    }

    #[test]
    fn bad_rules_are_refused_with_the_reason() {
        let raw = |pattern: &str, qos: u8, local: &str, remote: &str| {
            TopicRule::try_from(RawTopic::Rule(RawRule {
                pattern: pattern.into(),
                direction: Direction::Out,
                qos,
                local_prefix: local.into(),
                remote_prefix: remote.into(),
            }))
            .unwrap_err()
        };
        assert!(raw("devices/#/x", 1, "devices/", "r/").contains("not an MQTT filter"));
        assert!(raw("$SYS/#", 1, "", "r/").contains("not an MQTT filter"));
        assert!(raw("devices/+/data", 2, "devices/", "r/").contains("qos 2"));
        assert!(raw("lights/#", 1, "devices/", "r/").contains("local_prefix"));
        assert!(raw("devices/#", 1, "devices/", "r/+/").contains("remote_prefix"));
        assert!(raw("devices/#", 1, "devices/", "r/{site_id}/").contains("placeholder"));
        assert!(raw("devices/#", 1, "devices/", "$share/g/").contains("remote_prefix"));
        assert!(raw("devices+/x", 1, "devices", "r/").contains("not an MQTT filter"));
        assert!(raw("devices/+", 1, "devices/", "r").contains("becomes \"r+\""));
    }
}
