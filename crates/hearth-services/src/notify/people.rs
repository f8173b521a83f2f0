//! Who among a group's people gets an alert by e-mail or push, and where: one target
//! per person and destination, in the person's language.
//!
//! Each member's preferences decide (see [`NotificationPrefs::wants`]): the channel is
//! on, the alert is at least the channel's severity floor, and it is not the person's
//! quiet hours in the group's time zone (critical alerts ignore quiet hours). E-mail
//! goes to the account's address, push to every browser where the person enabled it.
//! The target carries the language (the preferences', else the account's) and the
//! group's time zone, so that the message reads in the person's words and local time.

use crate::automations::engine::schedule::{parse_zone, time_of_day};
use hearth_model::{GroupId, Millis, NotificationPrefs, Severity};
use hearth_store::{Store, StoreError};
use jiff::tz::TimeZone;
use serde_json::{Value, json};

/// The targets of `channel` (`email` or `push`) for an alert of `severity` in `group`.
pub async fn recipients(
    store: &dyn Store,
    group: &GroupId,
    severity: Severity,
    channel: &str,
    now_ms: Millis,
) -> Result<Vec<Value>, StoreError> {
    if channel != "email" && channel != "push" {
        return Ok(Vec::new());
    }
    // The group's zone, else the machine's (the engine's default for the hub's zone).
    let zone_name = store.group_place(group).await?.time_zone;
    let zone = zone_name
        .as_deref()
        .and_then(|name| parse_zone(name).ok())
        .unwrap_or_else(TimeZone::system);
    let zone_text = zone_name.unwrap_or_else(|| zone.iana_name().unwrap_or("UTC").to_owned());
    let (minute_of_day, _) = time_of_day(now_ms, &zone);
    let mut targets = Vec::new();
    for member in store.members(group).await? {
        let user = match store.user(&member.user).await {
            Ok(user) => user,
            // Removed between the two reads.
            Err(StoreError::NotFound { .. }) => continue,
            Err(error) => return Err(error),
        };
        let prefs = match store.notification_prefs(&user.name).await {
            Ok(prefs) => prefs,
            Err(StoreError::NotFound { .. }) => continue,
            Err(error) => {
                tracing::warn!(user = %user.name, "preferences not read, using defaults: {error}");
                NotificationPrefs::default()
            }
        };
        if !prefs.wants(channel, severity, minute_of_day) {
            continue;
        }
        let language = prefs.language.clone().unwrap_or(user.language.clone());
        if channel == "email" {
            if let Some(address) = user.email.filter(|address| !address.is_empty()) {
                targets.push(
                    json!({"to": address, "user": user.name, "language": language,
                    "time_zone": zone_text}),
                );
            }
            continue;
        }
        for subscription in store.push_subscriptions(&user.name).await? {
            // `keys` as the browser gave them; the alerts API hides them.
            targets.push(json!({"endpoint": subscription.endpoint,
                "keys": {"p256dh": subscription.p256dh, "auth": subscription.auth},
                "subscription": subscription.id, "user": user.name, "language": language,
                "time_zone": zone_text}));
        }
    }
    Ok(targets)
}
