//! Alerts (issue 15): a rule watches devices for a condition (a threshold, a device
//! offline, an event such as smoke, a low battery, a failed command) and raises an alert
//! per device, which notifies people through channels, stays quiet for its cooldown, and
//! clears itself when the condition ends (or a person clears it).
//!
//! The conditions are the automations' triggers by another name (`reading`, `event`,
//! `presence`-as-`offline`, `command`), evaluated by the same steps in the engine, so
//! that there is one trigger model. What alerts add is the device selection (one, a
//! list, a kind, an application or the whole group), the clearing side, and the
//! lifecycle.
//!
//! ```json
//! {"group": "home", "name": "Freezer too warm", "severity": "major",
//!  "condition": {"type": "reading", "device": "freezer", "metric": "temperature", "gt": 60},
//!  "cooldown_secs": 900,
//!  "notify": [{"channel": "webhook", "url": "http://127.0.0.1:9000/hook", "secret": "s3cret"}]}
//! ```

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{AppId, CommandStatus, Comparison, DeviceId, FieldError, GroupId, Millis, UserName};

/// How bad it is; people choose channels per severity.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default,
)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    #[default]
    Warning,
    Minor,
    Major,
    Critical,
}

impl Severity {
    pub const ALL: [Severity; 4] = [
        Severity::Critical,
        Severity::Major,
        Severity::Minor,
        Severity::Warning,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::Major => "major",
            Severity::Minor => "minor",
            Severity::Warning => "warning",
        }
    }
}

/// What raises an alert, per device.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum AlertCondition {
    /// A reading passes the test (for `for` seconds); it clears when the reading fails
    /// the test by `hysteresis` (a temperature hovering at the threshold raises once).
    Reading {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        device: Option<DeviceId>,
        metric: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        eq: Option<Value>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ne: Option<Value>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        gt: Option<f64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        lt: Option<f64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        between: Option<[f64; 2]>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        hysteresis: Option<f64>,
        #[serde(rename = "for", default, skip_serializing_if = "Option::is_none")]
        for_secs: Option<u32>,
    },
    /// A device stays offline for `for` seconds; it clears when the device is back.
    Offline {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        device: Option<DeviceId>,
        #[serde(rename = "for", default)]
        for_secs: u32,
    },
    /// An event whose fields include `matches` (`{"smoke": true}`); it clears on an
    /// event that includes `clear_matches` (`{"smoke": false}`), else by a person.
    Event {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        device: Option<DeviceId>,
        matches: serde_json::Map<String, Value>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        clear_matches: Option<serde_json::Map<String, Value>>,
    },
    /// A battery reading (`metric`, default `battery`, in percent) below `below`; it
    /// clears at `below + hysteresis` (default 5) or more.
    Battery {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        device: Option<DeviceId>,
        #[serde(default = "battery")]
        metric: String,
        below: f64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        hysteresis: Option<f64>,
    },
    /// A command ends `failed` or `timeout`; it clears when the next command of that
    /// name to the device is acknowledged.
    Command {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        device: Option<DeviceId>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        #[serde(default = "failed_or_timeout")]
        status: Vec<CommandStatus>,
    },
}

fn battery() -> String {
    "battery".into()
}

fn failed_or_timeout() -> Vec<CommandStatus> {
    vec![CommandStatus::Failed, CommandStatus::Timeout]
}

fn yes() -> bool {
    true
}

fn fifteen_minutes() -> u32 {
    900
}

/// Where a notification goes. People's own channels (their e-mail, the phones where
/// they enabled Web Push, the web app) follow their preferences; a rule may add fixed
/// destinations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "channel", rename_all = "snake_case", deny_unknown_fields)]
pub enum ChannelTarget {
    /// The web app of the group's people (always on; listed to say so).
    InApp,
    /// The group's people by e-mail (per their preferences), or these addresses.
    Email {
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        to: Vec<String>,
    },
    /// Web Push to the devices where the group's people enabled it.
    Push,
    /// A JSON POST signed with HMAC-SHA256 of `secret` (`X-Hearth-Signature:
    /// sha256=<hex>`), with retries; `name` refers to a channel defined once in
    /// hearth.toml (`[notifications.webhooks.NAME]`) instead of `url`/`secret`.
    Webhook {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        url: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        secret: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
    },
}

/// What a person writes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertRuleSpec {
    pub group: GroupId,
    pub name: String,
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default)]
    pub severity: Severity,
    pub condition: AlertCondition,
    /// Which devices, when the condition names none: these, or those of a `kind`, or of
    /// an application; none of the three: every device of the group.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub devices: Vec<DeviceId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app: Option<AppId>,
    /// The message, with `{device}`, `{device_name}`, `{metric}`, `{value}`, `{rule}`,
    /// `{severity}` replaced; a sentence from the condition when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// After a notification, the same rule and device notify again only this much
    /// later; repeats meanwhile are counted on the alert.
    #[serde(default = "fifteen_minutes")]
    pub cooldown_secs: u32,
    #[serde(default)]
    pub notify: Vec<ChannelTarget>,
}

/// A stored rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertRule {
    /// `ar-` and random characters.
    pub id: String,
    #[serde(flatten)]
    pub spec: AlertRuleSpec,
    pub created_by: String,
    pub created_at_ms: Millis,
    pub updated_at_ms: Millis,
}

/// Where an alert stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertState {
    Open,
    /// Someone has seen it; it is still active until it clears.
    Acknowledged,
    Cleared,
}

impl AlertState {
    pub const ALL: [AlertState; 3] = [
        AlertState::Open,
        AlertState::Acknowledged,
        AlertState::Cleared,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Open => "open",
            AlertState::Acknowledged => "acknowledged",
            AlertState::Cleared => "cleared",
        }
    }

    pub fn parse(text: &str) -> Option<AlertState> {
        AlertState::ALL
            .into_iter()
            .find(|state| state.as_str() == text)
    }
}

/// One alert: a rule's condition on one device, from raised to cleared.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// `al-` and random characters.
    pub id: String,
    pub rule: String,
    pub rule_name: String,
    pub group: GroupId,
    pub device: DeviceId,
    pub severity: Severity,
    pub state: AlertState,
    pub message: String,
    /// The value that raised it (a reading, the event), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
    pub opened_at_ms: Millis,
    /// When its condition was last seen to start again (or it was raised).
    pub last_seen_at_ms: Millis,
    /// Times the condition started again while it was active.
    pub repeats: u32,
    /// When people were last notified of it (`None`: within the cooldown of the last
    /// alert of the same rule and device, so not).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notified_at_ms: Option<Millis>,
    /// When people were last told of this rule and device, this alert or an earlier one:
    /// the cooldown runs from here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_told_at_ms: Option<Millis>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acknowledged_by: Option<UserName>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acknowledged_at_ms: Option<Millis>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cleared_at_ms: Option<Millis>,
    /// `auto` when the condition ended, else `user:<name>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cleared_by: Option<String>,
}

impl AlertRuleSpec {
    /// What is wrong with the rule, naming the field.
    pub fn check(&self) -> Result<(), FieldError> {
        let fail = |field: &str, message: &str| {
            Err(FieldError {
                field: field.into(),
                message: message.into(),
            })
        };
        if self.name.trim().is_empty() || self.name.len() > 100 {
            return fail("name", "1 to 100 characters");
        }
        if self.cooldown_secs > 7 * 86_400 {
            return fail("cooldown_secs", "at most a week (604800)");
        }
        if self
            .message
            .as_ref()
            .is_some_and(|message| message.len() > 500)
        {
            return fail("message", "at most 500 characters");
        }
        match &self.condition {
            AlertCondition::Reading {
                metric,
                eq,
                ne,
                gt,
                lt,
                between,
                hysteresis,
                for_secs,
                ..
            } => {
                if metric.is_empty() {
                    return fail("condition.metric", "the reading's name, e.g. temperature");
                }
                let tests = [
                    eq.is_some(),
                    ne.is_some(),
                    gt.is_some(),
                    lt.is_some(),
                    between.is_some(),
                ]
                .into_iter()
                .filter(|set| *set)
                .count();
                if tests != 1 {
                    return fail("condition", "exactly one of eq, ne, gt, lt, between");
                }
                if let Some([low, high]) = between
                    && low > high
                {
                    return fail("condition.between", "the low bound first");
                }
                if hysteresis.is_some_and(|margin| !(0.0..=1e9).contains(&margin)) {
                    return fail("condition.hysteresis", "zero or more");
                }
                if for_secs.is_some_and(|secs| secs > 86_400) {
                    return fail("condition.for", "at most a day (86400)");
                }
            }
            AlertCondition::Offline { for_secs, .. } => {
                if *for_secs > 7 * 86_400 {
                    return fail("condition.for", "at most a week (604800)");
                }
            }
            AlertCondition::Event { matches, .. } => {
                if matches.is_empty() {
                    return fail(
                        "condition.matches",
                        "at least one field, e.g. {\"smoke\": true}",
                    );
                }
            }
            AlertCondition::Battery {
                below, hysteresis, ..
            } => {
                if !(0.0..=100.0).contains(below) {
                    return fail("condition.below", "a percentage between 0 and 100");
                }
                if hysteresis.is_some_and(|margin| !(0.0..=100.0).contains(&margin)) {
                    return fail("condition.hysteresis", "between 0 and 100");
                }
            }
            AlertCondition::Command { status, .. } => {
                if status.is_empty()
                    || status.iter().any(|status| {
                        !matches!(status, CommandStatus::Failed | CommandStatus::Timeout)
                    })
                {
                    return fail("condition.status", "failed and/or timeout");
                }
            }
        }
        if self.condition.device().is_some()
            && (!self.devices.is_empty() || self.kind.is_some() || self.app.is_some())
        {
            return fail(
                "devices",
                "the condition names its device; leave devices, kind and app out",
            );
        }
        for (index, target) in self.notify.iter().enumerate() {
            let field = format!("notify[{index}]");
            match target {
                ChannelTarget::Webhook { url, secret, name } => match (url, name) {
                    (Some(url), None) => {
                        if !(url.starts_with("http://") || url.starts_with("https://")) {
                            return fail(&format!("{field}.url"), "an http:// or https:// URL");
                        }
                        if secret.as_ref().is_none_or(|secret| secret.len() < 6) {
                            return fail(
                                &format!("{field}.secret"),
                                "a secret of 6 characters or more, to sign the requests",
                            );
                        }
                    }
                    (None, Some(_)) => {
                        if secret.is_some() {
                            return fail(
                                &format!("{field}.secret"),
                                "a named webhook has its secret in hearth.toml",
                            );
                        }
                    }
                    _ => return fail(&field, "either url (with secret) or name"),
                },
                ChannelTarget::Email { to } => {
                    if let Some(bad) = to.iter().position(|address| {
                        let at = address.find('@');
                        at.is_none_or(|at| at == 0 || at + 1 == address.len())
                    }) {
                        return fail(&format!("{field}.to[{bad}]"), "an e-mail address");
                    }
                }
                ChannelTarget::InApp | ChannelTarget::Push => {}
            }
        }
        Ok(())
    }
}

impl AlertCondition {
    /// The one device the condition names, if it does.
    pub fn device(&self) -> Option<&DeviceId> {
        match self {
            AlertCondition::Reading { device, .. }
            | AlertCondition::Offline { device, .. }
            | AlertCondition::Event { device, .. }
            | AlertCondition::Battery { device, .. }
            | AlertCondition::Command { device, .. } => device.as_ref(),
        }
    }

    /// A reading condition's test.
    pub fn comparison(&self) -> Option<Comparison> {
        match self {
            AlertCondition::Reading {
                eq,
                ne,
                gt,
                lt,
                between,
                ..
            } => Some(Comparison {
                eq: eq.clone(),
                ne: ne.clone(),
                gt: *gt,
                lt: *lt,
                between: *between,
            }),
            AlertCondition::Battery { below, .. } => Some(Comparison {
                lt: Some(*below),
                ..Comparison::default()
            }),
            _ => None,
        }
    }
}

/// Fills a message template: `{device}`, `{device_name}`, `{metric}`, `{value}`,
/// `{rule}`, `{severity}`; unknown names stay as written.
pub fn fill_template(template: &str, values: &[(&str, String)]) -> String {
    let mut out = template.to_owned();
    for (name, value) in values {
        out = out.replace(&format!("{{{name}}}"), value);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(text: &str) -> Result<AlertRuleSpec, String> {
        let spec: AlertRuleSpec = serde_json::from_str(text).map_err(|error| error.to_string())?;
        spec.check().map_err(|error| error.field)?;
        Ok(spec)
    }

    #[test]
    fn the_issues_example_is_valid() {
        let spec = rule(
            r#"{"group": "home", "name": "Freezer too warm", "severity": "major",
             "condition": {"type": "reading", "device": "freezer", "metric": "temperature", "gt": 60},
             "cooldown_secs": 900,
             "notify": [{"channel": "webhook", "url": "http://127.0.0.1:9000/hook", "secret": "s3cret"}]}"#,
        )
        .unwrap();
        assert_eq!(spec.severity, Severity::Major);
        assert_eq!(spec.condition.comparison().unwrap().gt, Some(60.0));
    }

    #[test]
    fn bad_rules_name_their_field() {
        let cases = [
            (
                r#"{"group":"home","name":"x","condition":{"type":"reading","metric":"t","gt":1,"lt":2}}"#,
                "condition",
            ),
            (
                r#"{"group":"home","name":"x","condition":{"type":"battery","below":120}}"#,
                "condition.below",
            ),
            (
                r#"{"group":"home","name":"x","condition":{"type":"event","matches":{}}}"#,
                "condition.matches",
            ),
            (
                r#"{"group":"home","name":"x","condition":{"type":"offline","device":"a","for":60},"kind":"lamp"}"#,
                "devices",
            ),
            (
                r#"{"group":"home","name":"x","condition":{"type":"offline"},"notify":[{"channel":"webhook","url":"ftp://x","secret":"123456"}]}"#,
                "notify[0].url",
            ),
            (
                r#"{"group":"home","name":"x","condition":{"type":"offline"},"notify":[{"channel":"webhook","url":"http://x"}]}"#,
                "notify[0].secret",
            ),
            (
                r#"{"group":"home","name":"x","condition":{"type":"offline"},"notify":[{"channel":"email","to":["nobody"]}]}"#,
                "notify[0].to[0]",
            ),
            (
                r#"{"group":"home","name":"x","condition":{"type":"command","status":["acked"]}}"#,
                "condition.status",
            ),
        ];
        for (text, field) in cases {
            assert_eq!(rule(text).unwrap_err(), field, "{text}");
        }
    }

    #[test]
    fn templates_fill_known_names() {
        let text = fill_template(
            "{device} {metric} is {value} ({other})",
            &[
                ("device", "freezer".into()),
                ("metric", "temperature".into()),
                ("value", "80".into()),
            ],
        );
        assert_eq!(text, "freezer temperature is 80 ({other})");
    }
}

/// Where a notification stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotificationState {
    /// Waiting for its (next) attempt.
    Pending,
    Sent,
    /// Every attempt failed.
    Failed,
    /// Not sent: its channel's queue was full, or the channel is gone.
    Dropped,
}

impl NotificationState {
    pub fn as_str(self) -> &'static str {
        match self {
            NotificationState::Pending => "pending",
            NotificationState::Sent => "sent",
            NotificationState::Failed => "failed",
            NotificationState::Dropped => "dropped",
        }
    }
}

/// One message to one destination about one alert, kept with every attempt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    /// `n-` and random characters; sent to receivers as the delivery's id, so that a
    /// receiver can tell a retry from a new message.
    pub id: String,
    /// The alert it tells of; empty for an automation's notify action.
    pub alert: String,
    pub group: GroupId,
    /// `webhook`, `email`, `push` or `in_app`.
    pub channel: String,
    /// The destination, as the channel needs it (`{"url", "secret"}`, `{"to"}`, a push
    /// subscription, a person).
    pub target: Value,
    /// `opened`, `repeated`, `cleared`, or `notify` (an automation's message).
    pub event: String,
    /// The alert as it was when this was written, and the message in the person's
    /// language where there is one.
    pub payload: Value,
    pub state: NotificationState,
    /// Each attempt: `{"at_ms", "ok", "status" | "error"}`.
    #[serde(default)]
    pub attempts: Vec<Value>,
    pub next_attempt_at_ms: Millis,
    pub created_at_ms: Millis,
}
