//! A person's notification preferences (issue 15): which of their channels alerts use,
//! from which severity on, when to keep quiet, and in which language; and the Web Push
//! subscriptions of the browsers where they enabled push.

use serde::{Deserialize, Serialize};

use crate::{FieldError, Millis, Severity, UserName, parse_hh_mm};

/// The lowest severity each channel carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SeverityFloors {
    /// Default: major and critical by e-mail.
    pub email: Severity,
    /// Default: everything by push.
    pub push: Severity,
    /// Default: everything in the web app.
    pub in_app: Severity,
}

impl Default for SeverityFloors {
    fn default() -> SeverityFloors {
        SeverityFloors {
            email: Severity::Major,
            push: Severity::Warning,
            in_app: Severity::Warning,
        }
    }
}

/// From `start` to `end` (`"22:00"`–`"07:00"`, crossing midnight when `end` is the
/// earlier), in the group's time zone, alerts below critical are not sent by e-mail or
/// push (they are still in the web app).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuietHours {
    pub start: String,
    pub end: String,
}

impl QuietHours {
    /// Whether `minute_of_day` (0..1440) falls in the quiet hours; equal bounds mean
    /// never.
    pub fn contains(&self, minute_of_day: u32) -> bool {
        let (Some(start), Some(end)) = (parse_hh_mm(&self.start), parse_hh_mm(&self.end)) else {
            return false;
        };
        let (start, end) = (u32::from(start), u32::from(end));
        if start <= end {
            (start..end).contains(&minute_of_day)
        } else {
            minute_of_day >= start || minute_of_day < end
        }
    }
}

/// What a person chose; the defaults when they chose nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NotificationPrefs {
    /// Alerts by e-mail, to the account's address.
    pub email: bool,
    /// Alerts by Web Push, to every browser where push was enabled.
    pub push: bool,
    /// The web app's list and badge (always on in practice: stored for completeness).
    pub in_app: bool,
    pub severities: SeverityFloors,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quiet_hours: Option<QuietHours>,
    /// `en` or `zh-CN`; `None`: the account's language.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
}

impl Default for NotificationPrefs {
    fn default() -> NotificationPrefs {
        NotificationPrefs {
            email: true,
            push: true,
            in_app: true,
            severities: SeverityFloors::default(),
            quiet_hours: None,
            language: None,
        }
    }
}

/// The languages messages are written in.
pub const NOTIFICATION_LANGUAGES: [&str; 2] = ["en", "zh-CN"];

impl NotificationPrefs {
    /// What is wrong with the preferences, naming the field.
    pub fn check(&self) -> Result<(), FieldError> {
        let fail = |field: &str, message: &str| {
            Err(FieldError {
                field: field.into(),
                message: message.into(),
            })
        };
        if let Some(quiet) = &self.quiet_hours {
            if parse_hh_mm(&quiet.start).is_none() {
                return fail("quiet_hours.start", "a time of day as HH:MM, e.g. 22:00");
            }
            if parse_hh_mm(&quiet.end).is_none() {
                return fail("quiet_hours.end", "a time of day as HH:MM, e.g. 07:00");
            }
        }
        if let Some(language) = &self.language
            && !NOTIFICATION_LANGUAGES.contains(&language.as_str())
        {
            return fail("language", "en or zh-CN");
        }
        Ok(())
    }

    /// Whether an alert of `severity` goes out on `channel` (`email`, `push`,
    /// `in_app`) at `minute_of_day` in the group's time zone. Critical alerts ignore the
    /// quiet hours.
    pub fn wants(&self, channel: &str, severity: Severity, minute_of_day: u32) -> bool {
        let (enabled, floor) = match channel {
            "email" => (self.email, self.severities.email),
            "push" => (self.push, self.severities.push),
            "in_app" => return severity >= self.severities.in_app,
            _ => return false,
        };
        if !enabled || severity < floor {
            return false;
        }
        severity == Severity::Critical
            || !self
                .quiet_hours
                .as_ref()
                .is_some_and(|quiet| quiet.contains(minute_of_day))
    }
}

/// A browser's Web Push subscription (what `PushManager.subscribe()` returned).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushSubscription {
    /// `ps-` and random characters.
    pub id: String,
    pub user: UserName,
    /// The push service's URL for this browser; unique.
    pub endpoint: String,
    /// The browser's P-256 public key, base64url (65 bytes uncompressed).
    pub p256dh: String,
    /// The browser's authentication secret, base64url (16 bytes).
    pub auth: String,
    pub created_at_ms: Millis,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_major_email_and_all_push() {
        let prefs: NotificationPrefs = serde_json::from_str("{}").unwrap();
        assert_eq!(prefs, NotificationPrefs::default());
        assert!(prefs.wants("email", Severity::Major, 0));
        assert!(!prefs.wants("email", Severity::Minor, 0));
        assert!(prefs.wants("push", Severity::Warning, 0));
    }

    #[test]
    fn quiet_hours_cross_midnight_and_critical_ignores_them() {
        let prefs = NotificationPrefs {
            quiet_hours: Some(QuietHours {
                start: "22:00".into(),
                end: "07:00".into(),
            }),
            ..NotificationPrefs::default()
        };
        let at = |hours: u32, minutes: u32| hours * 60 + minutes;
        assert!(!prefs.wants("push", Severity::Major, at(23, 30)));
        assert!(!prefs.wants("push", Severity::Major, at(6, 59)));
        assert!(prefs.wants("push", Severity::Major, at(7, 0)));
        assert!(prefs.wants("push", Severity::Critical, at(23, 30)));
        assert!(prefs.wants("push", Severity::Major, at(21, 59)));
    }

    #[test]
    fn bad_preferences_name_their_field() {
        let check = |text: &str| {
            serde_json::from_str::<NotificationPrefs>(text)
                .unwrap()
                .check()
                .map_err(|error| error.field)
        };
        assert_eq!(
            check(r#"{"quiet_hours": {"start": "25:00", "end": "07:00"}}"#),
            Err("quiet_hours.start".into())
        );
        assert_eq!(check(r#"{"language": "fr"}"#), Err("language".into()));
        assert_eq!(check(r#"{"language": "zh-CN"}"#), Ok(()));
    }
}
