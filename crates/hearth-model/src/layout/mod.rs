//! Topic layouts (issue 18): how a device that speaks its own topics and payloads maps
//! onto Hearth's device model, without reflashing it.
//!
//! A [`Layout`] is attached to an application (patterns with `{id}`: every device of
//! the application speaks it) or to one device (what discovery generates). The same
//! document is JSON in the API and TOML in `hearth.toml` or a layout file:
//!
//! ```toml
//! [[inbound]]
//! topic = "home/{room}/bulb/{id}/state"
//! as = "data"
//! fields = { on = "is_on", brightness = "brightness" }
//! ack = true
//!
//! [[commands]]
//! name = "switch"
//! topic = "home/{room}/bulb/{id}/command/{name}"
//! payload = { action = "{on}" }
//! map = { on = { "true" = "on", "false" = "off" } }
//! ```
//!
//! Inbound rules turn a foreign message into a `data`, `status`, `heartbeat` or `events`
//! message of the device ([`InboundRule::translate`]); command rules say where and how a
//! Hearth command is published ([`CommandRule::render`]). The hub's side (the
//! interceptor, the commands seam, the ACL) is in `hearth-services`; this module is plain
//! data and pure functions. docs/layouts.md explains it all with two worked examples.
//!
//! # Layout
//! - this file: the document, its validation (errors name the field, e.g.
//!   `inbound[1].topic: must contain {id}`).
//! - `pattern`: topic patterns (matching, filters, rendering).
//! - `transform`: inbound payloads to Hearth's form, commands to the device's form.

mod pattern;
#[cfg(test)]
mod tests;
mod transform;

pub use pattern::{Match, Pattern, filters_overlap, is_var_name};
pub use transform::{RenderedCommand, Translated, value_key};

use crate::{AppId, MessageKind};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// Most inbound rules, and most command rules, in one layout.
pub const MAX_RULES: usize = 64;

/// A foreign topic layout (see the module docs).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Layout {
    /// What the device publishes, and what each message is for Hearth.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inbound: Vec<InboundRule>,
    /// How Hearth's commands reach the device.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub commands: Vec<CommandRule>,
    /// Only in a device's layout: the application whose connections publish the
    /// inbound topics (a discovery login the physical device uses), instead of the
    /// device's own login.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub via_app: Option<AppId>,
}

/// What an inbound message is for Hearth.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum InboundKind {
    /// Readings (`devices/{id}/data`).
    #[default]
    Data,
    /// Presence (`devices/{id}/status`).
    Status,
    /// `devices/{id}/heartbeat`.
    Heartbeat,
    /// `devices/{id}/events`.
    Event,
}

impl InboundKind {
    /// The level of Hearth's own topic for it (`devices/{id}/{level}`).
    pub fn topic_level(self) -> &'static str {
        match self {
            InboundKind::Data => "data",
            InboundKind::Status => "status",
            InboundKind::Heartbeat => "heartbeat",
            InboundKind::Event => "events",
        }
    }

    pub fn message_kind(self) -> MessageKind {
        match self {
            InboundKind::Data => MessageKind::Data,
            InboundKind::Status => MessageKind::Status,
            InboundKind::Heartbeat => MessageKind::Heartbeat,
            InboundKind::Event => MessageKind::Event,
        }
    }
}

/// How an inbound payload is read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum PayloadFormat {
    #[default]
    Json,
    /// A bare string (`1`, `ON`, `-2`), trimmed.
    Plain,
}

fn is_false(flag: &bool) -> bool {
    !flag
}

/// One foreign topic the device publishes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct InboundRule {
    /// The topic pattern (`home/{room}/bulb/{id}/state`); variables other than `{id}`
    /// match any value.
    pub topic: String,
    /// What the message is.
    #[serde(rename = "as", default)]
    pub kind: InboundKind,
    #[serde(default)]
    pub payload: PayloadFormat,
    /// JSON payloads: Hearth key to dotted path in the payload (`power =
    /// "meter.watts"`); absent, the whole object is taken.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub fields: BTreeMap<String, String>,
    /// The one Hearth key a plain payload (or a JSON scalar) becomes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Payload text to value (`"1" = true`); with a map, other payloads do not match
    /// this rule. Without one, numbers and `true`/`false` are parsed, the rest is text.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub values: BTreeMap<String, Value>,
    /// JSON `fields`: per Hearth key, the device's value (as text: `ON`, `1`) to the
    /// vocabulary's (`ON` = true); values not named are kept as they are. Tasmota's
    /// `{"POWER": "ON"}` becomes `{"on": true}`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub map: BTreeMap<String, BTreeMap<String, Value>>,
    /// Plain payloads: the rule applies only to these (the next rule with the same
    /// topic may take the rest).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub when: Vec<String>,
    /// Status rules: the device's words to Hearth's presence words (`"-2" = "offline"`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub status_values: BTreeMap<String, String>,
    /// A message here acknowledges the device's oldest command in flight.
    #[serde(default, skip_serializing_if = "is_false")]
    pub ack: bool,
}

/// How one Hearth command (or every command, `name = "*"`) reaches the device.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CommandRule {
    /// The Hearth command name, or `*` for any command without its own rule.
    pub name: String,
    /// Where to publish (`home/{room}/bulb/{id}/command/{name}`).
    pub topic: String,
    /// Absent: the params as a JSON object. A string: plain text with `{param}`
    /// substituted (`unlock`). An object or array: a JSON template whose string leaves
    /// `"{param}"` become the param's typed value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub payload: Option<Value>,
    /// Per param, its value (as text: `true`, `40`, `heat`) to what the device wants.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub map: BTreeMap<String, BTreeMap<String, Value>>,
}

/// Where a layout is attached: an application's applies to each of its devices, so its
/// patterns must name the device (`{id}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayoutScope {
    App,
    Device,
}

/// Why a layout is refused: the field (`inbound[1].topic`) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct LayoutError {
    pub field: String,
    pub message: String,
}

fn fail<T>(field: impl Into<String>, message: impl Into<String>) -> Result<T, LayoutError> {
    Err(LayoutError {
        field: field.into(),
        message: message.into(),
    })
}

/// Whether `name` may be a command name in a rule (Hearth's command-name rule).
fn is_command_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 32
        && name != "ack"
        && name
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_')
}

impl Layout {
    /// Checks the whole document; the first problem found, by field.
    pub fn validate(&self, scope: LayoutScope) -> Result<(), LayoutError> {
        if self.inbound.is_empty() && self.commands.is_empty() {
            return fail(
                "inbound",
                "a layout needs at least one inbound or command rule",
            );
        }
        if self.inbound.len() > MAX_RULES {
            return fail("inbound", format!("at most {MAX_RULES} rules"));
        }
        if self.commands.len() > MAX_RULES {
            return fail("commands", format!("at most {MAX_RULES} rules"));
        }
        if scope == LayoutScope::App && self.via_app.is_some() {
            return fail("via_app", "only a device's layout may name an application");
        }
        let mut inbound_filters = Vec::new();
        for (index, rule) in self.inbound.iter().enumerate() {
            inbound_filters.push(rule.validate(&format!("inbound[{index}]"), scope)?);
        }
        let mut names = std::collections::HashSet::new();
        for (index, rule) in self.commands.iter().enumerate() {
            let at = format!("commands[{index}]");
            let filter = rule.validate(&at, scope)?;
            if !names.insert(rule.name.as_str()) {
                return fail(format!("{at}.name"), format!("{} has two rules", rule.name));
            }
            if let Some(inbound) = inbound_filters
                .iter()
                .position(|inbound| filters_overlap(inbound, &filter))
            {
                return fail(
                    format!("{at}.topic"),
                    format!(
                        "may be the same topic as inbound[{inbound}].topic (a device may \
                         publish its inbound topics, never its commands)"
                    ),
                );
            }
        }
        Ok(())
    }

    /// The rule for command `name`: its own, else the `*` rule.
    pub fn command_rule(&self, name: &str) -> Option<&CommandRule> {
        self.commands
            .iter()
            .find(|rule| rule.name == name)
            .or_else(|| self.commands.iter().find(|rule| rule.name == "*"))
    }
}

impl InboundRule {
    /// Checks the rule; returns its topic's MQTT filter.
    fn validate(&self, at: &str, scope: LayoutScope) -> Result<String, LayoutError> {
        let pattern =
            Pattern::parse(&self.topic).or_else(|message| fail(format!("{at}.topic"), message))?;
        if scope == LayoutScope::App && !pattern.has_var("id") {
            return fail(format!("{at}.topic"), "must contain {id}");
        }
        if pattern.has_var("name") {
            return fail(format!("{at}.topic"), "{name} is for command topics");
        }
        let plain = self.payload == PayloadFormat::Plain;
        if plain && !self.fields.is_empty() {
            return fail(format!("{at}.fields"), "only for json payloads");
        }
        if !plain && !self.when.is_empty() {
            return fail(format!("{at}.when"), "only for plain payloads");
        }
        if self.kind != InboundKind::Status && !self.status_values.is_empty() {
            return fail(format!("{at}.status_values"), "only for as = \"status\"");
        }
        if !self.fields.is_empty() && self.key.is_some() {
            return fail(format!("{at}.key"), "use either fields or key");
        }
        if !self.values.is_empty() && self.key.is_none() {
            return fail(format!("{at}.values"), "needs a key to put the value under");
        }
        for (key, values) in &self.map {
            if !self.fields.contains_key(key) || values.is_empty() {
                return fail(
                    format!("{at}.map.{key}"),
                    "a key of fields and the values it maps",
                );
            }
        }
        if plain
            && self.key.is_none()
            && matches!(self.kind, InboundKind::Data | InboundKind::Event)
        {
            return fail(
                format!("{at}.key"),
                "a plain data or event payload needs the key it becomes",
            );
        }
        if let Some(key) = &self.key
            && !is_field_key(key)
        {
            return fail(
                format!("{at}.key"),
                "1-64 characters, no control characters",
            );
        }
        for (key, path) in &self.fields {
            if !is_field_key(key) {
                return fail(
                    format!("{at}.fields.{key}"),
                    "1-64 characters, no control characters",
                );
            }
            if path.is_empty() || path.split('.').any(str::is_empty) {
                return fail(
                    format!("{at}.fields.{key}"),
                    "a dotted path like \"meter.watts\"",
                );
            }
        }
        for (word, presence) in &self.status_values {
            if crate::DevicePresence::from_word(presence).is_none() {
                return fail(
                    format!("{at}.status_values.{word}"),
                    format!("{presence:?} is not a presence word (online, offline...)"),
                );
            }
        }
        Ok(pattern.filter())
    }

    /// The topic pattern (validated documents always parse).
    pub fn pattern(&self) -> Result<Pattern, String> {
        Pattern::parse(&self.topic)
    }
}

impl CommandRule {
    /// Checks the rule; returns its topic's MQTT filter.
    fn validate(&self, at: &str, scope: LayoutScope) -> Result<String, LayoutError> {
        if self.name != "*" && !is_command_name(&self.name) {
            return fail(
                format!("{at}.name"),
                "a command name (1-32 letters, digits, '-', '_') or \"*\"",
            );
        }
        let pattern =
            Pattern::parse(&self.topic).or_else(|message| fail(format!("{at}.topic"), message))?;
        if scope == LayoutScope::App && !pattern.has_var("id") {
            return fail(format!("{at}.topic"), "must contain {id}");
        }
        match &self.payload {
            None | Some(Value::String(_) | Value::Object(_) | Value::Array(_)) => {}
            Some(_) => {
                return fail(
                    format!("{at}.payload"),
                    "a text template or a JSON object/array template",
                );
            }
        }
        for (param, values) in &self.map {
            if param.is_empty() || values.is_empty() {
                return fail(format!("{at}.map.{param}"), "a param and its values");
            }
        }
        Ok(pattern.filter())
    }

    pub fn pattern(&self) -> Result<Pattern, String> {
        Pattern::parse(&self.topic)
    }
}

fn is_field_key(key: &str) -> bool {
    !key.is_empty() && key.chars().count() <= 64 && !key.chars().any(char::is_control)
}
