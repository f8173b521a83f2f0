//! Raising and clearing alerts: the store holds the truth (one active alert per rule
//! and device, kept by a unique index), this writes each change with the notifications
//! it causes in one transaction, tells the web app, and wakes the sender.

use super::engine::AlertServices;
use crate::notify::people;
use hearth_bus::{Envelope, Qos};
use hearth_model::{
    Alert, AlertCondition, AlertRule, AlertState, ChannelTarget, DeviceId, Millis, Notification,
    NotificationState, fill_template,
};
use serde_json::{Value, json};
use std::sync::atomic::Ordering;

/// Pending notifications a channel may hold; more are dropped (and counted) rather
/// than let an unreachable receiver grow the outbox without bound.
pub const MAX_PENDING_PER_CHANNEL: u64 = 1_000;

fn new_id(prefix: &str) -> String {
    format!(
        "{prefix}-{}",
        crate::secret::random_string(12).to_lowercase()
    )
}

/// The alert's text: the rule's template, or a sentence from the condition.
pub fn message(rule: &AlertRule, device: &DeviceId, value: Option<&Value>) -> String {
    let shown = match value {
        Some(Value::String(text)) => text.clone(),
        Some(other) => other.to_string(),
        None => String::new(),
    };
    let metric = match &rule.spec.condition {
        AlertCondition::Reading { metric, .. } | AlertCondition::Battery { metric, .. } => {
            metric.clone()
        }
        _ => String::new(),
    };
    let template = rule.spec.message.clone().unwrap_or_else(|| {
        match &rule.spec.condition {
            AlertCondition::Reading { .. } => "{device} {metric} is {value}",
            AlertCondition::Offline { .. } => "{device} is offline",
            AlertCondition::Event { .. } => "{device} reported {value}",
            AlertCondition::Battery { .. } => "{device} battery is at {value}%",
            AlertCondition::Command { .. } => "{device}: a command {value}",
        }
        .to_owned()
    });
    fill_template(
        &template,
        &[
            ("device", device.to_string()),
            ("device_name", device.to_string()),
            ("metric", metric),
            ("value", shown),
            ("rule", rule.spec.name.clone()),
            ("severity", rule.spec.severity.as_str().to_owned()),
        ],
    )
}

impl AlertServices {
    /// The condition started on `device`: a new alert, or a repeat of the active one.
    pub async fn raise(&self, rule: &AlertRule, device: &DeviceId, value: Option<Value>) {
        let now_ms = self.clock.now_ms();
        let latest = match self.store.latest_alert(&rule.id, device).await {
            Ok(latest) => latest,
            Err(error) => {
                tracing::warn!(rule = %rule.id, %device, "alert not raised: {error}");
                return;
            }
        };
        let cooldown_ms = Millis::from(rule.spec.cooldown_secs) * 1000;
        let quiet = |alert: &Alert| {
            alert
                .last_told_at_ms
                .or(alert.notified_at_ms)
                .is_some_and(|at| now_ms - at < cooldown_ms)
        };
        let result = match latest {
            Some(mut alert) if alert.state != AlertState::Cleared => {
                alert.repeats += 1;
                alert.last_seen_at_ms = now_ms;
                alert.value = value;
                alert.message = message(rule, device, alert.value.as_ref());
                let notes = if quiet(&alert) {
                    Vec::new()
                } else {
                    alert.notified_at_ms = Some(now_ms);
                    alert.last_told_at_ms = Some(now_ms);
                    self.notifications(rule, &alert, "repeated").await
                };
                self.store
                    .update_alert(&alert, &notes, None)
                    .await
                    .map(|()| alert)
            }
            previous => {
                // Within the cooldown of the last alert of this rule and device: a new
                // alert, counted as a repeat of that one, told to nobody.
                let within = previous.as_ref().is_some_and(quiet);
                let mut alert = Alert {
                    id: new_id("al"),
                    rule: rule.id.clone(),
                    rule_name: rule.spec.name.clone(),
                    group: rule.spec.group.clone(),
                    device: device.clone(),
                    severity: rule.spec.severity,
                    state: AlertState::Open,
                    message: message(rule, device, value.as_ref()),
                    value,
                    opened_at_ms: now_ms,
                    last_seen_at_ms: now_ms,
                    repeats: previous
                        .as_ref()
                        .filter(|_| within)
                        .map_or(0, |previous| previous.repeats + 1),
                    notified_at_ms: None,
                    last_told_at_ms: previous
                        .as_ref()
                        .and_then(|previous| previous.last_told_at_ms.or(previous.notified_at_ms)),
                    acknowledged_by: None,
                    acknowledged_at_ms: None,
                    cleared_at_ms: None,
                    cleared_by: None,
                };
                let notes = if within {
                    Vec::new()
                } else {
                    alert.notified_at_ms = Some(now_ms);
                    alert.last_told_at_ms = Some(now_ms);
                    self.notifications(rule, &alert, "opened").await
                };
                self.store.open_alert(&alert, &notes).await.map(|()| {
                    self.counters.raised.fetch_add(1, Ordering::Relaxed);
                    alert
                })
            }
        };
        match result {
            Ok(alert) => self.announce(&alert).await,
            Err(error) => tracing::warn!(rule = %rule.id, %device, "alert not stored: {error}"),
        }
    }

    /// The condition ended on `device`: its active alert clears (`auto`), and those who
    /// were told it opened are told it cleared.
    pub async fn clear(&self, rule: &AlertRule, device: &DeviceId) {
        let active = match self.store.latest_alert(&rule.id, device).await {
            Ok(Some(alert)) if alert.state != AlertState::Cleared => alert,
            Ok(_) => return,
            Err(error) => {
                tracing::warn!(rule = %rule.id, %device, "alert not cleared: {error}");
                return;
            }
        };
        let mut alert = active;
        alert.state = AlertState::Cleared;
        alert.cleared_at_ms = Some(self.clock.now_ms());
        alert.cleared_by = Some("auto".into());
        let notes = if alert.notified_at_ms.is_some() {
            self.notifications(rule, &alert, "cleared").await
        } else {
            Vec::new()
        };
        match self.store.update_alert(&alert, &notes, None).await {
            Ok(()) => self.announce(&alert).await,
            Err(error) => tracing::warn!(alert = %alert.id, "clearing not stored: {error}"),
        }
    }

    /// Tells the group's web apps (`hearth/alerts/{group}`) and wakes the sender.
    pub async fn announce(&self, alert: &Alert) {
        let topic = format!("hearth/alerts/{}", alert.group);
        let payload = serde_json::to_string(alert).unwrap_or_default();
        let envelope = Envelope::new(topic, payload).with_qos(Qos::AtLeastOnce);
        if let Err(error) = self.bus.publish(envelope).await {
            tracing::warn!(alert = %alert.id, "alert not published: {error}");
        }
        self.delivery.wake();
    }

    /// One notification per destination of the rule, about `event`.
    async fn notifications(
        &self,
        rule: &AlertRule,
        alert: &Alert,
        event: &str,
    ) -> Vec<Notification> {
        let now_ms = self.clock.now_ms();
        let payload = json!({"event": event, "alert": alert, "message": alert.message,
            "rule": {"id": rule.id, "name": rule.spec.name}, "group": alert.group,
            "device": alert.device, "severity": alert.severity, "at_ms": now_ms});
        let mut targets: Vec<(&'static str, Value)> = Vec::new();
        for target in &rule.spec.notify {
            match target {
                ChannelTarget::Webhook {
                    url: Some(url),
                    secret,
                    ..
                } => targets.push(("webhook", json!({"url": url, "secret": secret}))),
                ChannelTarget::Webhook {
                    name: Some(name), ..
                } => match self.config.webhooks.get(name) {
                    Some(named)
                        if named.groups.is_empty() || named.groups.contains(&alert.group) =>
                    {
                        targets.push((
                            "webhook",
                            json!({"url": named.url, "secret": named.secret, "name": name}),
                        ))
                    }
                    Some(_) => {
                        tracing::warn!(rule = %rule.id, "the webhook {name:?} is not for group {}", alert.group)
                    }
                    None => {
                        tracing::warn!(rule = %rule.id, "no webhook named {name:?} in hearth.toml")
                    }
                },
                ChannelTarget::Webhook { .. } | ChannelTarget::InApp => {}
                ChannelTarget::Email { to } if !to.is_empty() => {
                    for address in to {
                        targets.push(("email", json!({"to": address, "language": "en"})));
                    }
                }
                ChannelTarget::Email { .. } | ChannelTarget::Push => {
                    let channel = if matches!(target, ChannelTarget::Push) {
                        "push"
                    } else {
                        "email"
                    };
                    match people::recipients(
                        &*self.store,
                        &alert.group,
                        alert.severity,
                        channel,
                        now_ms,
                    )
                    .await
                    {
                        Ok(found) => {
                            targets.extend(found.into_iter().map(|target| (channel, target)))
                        }
                        Err(error) => {
                            tracing::warn!(rule = %rule.id, "{channel} recipients not read: {error}")
                        }
                    }
                }
            }
        }
        let mut notes = Vec::new();
        for (channel, target) in targets {
            let full = self
                .store
                .pending_notifications(channel)
                .await
                .is_ok_and(|pending| pending >= MAX_PENDING_PER_CHANNEL);
            if full {
                self.counters.dropped.fetch_add(1, Ordering::Relaxed);
            }
            notes.push(Notification {
                id: new_id("n"),
                alert: alert.id.clone(),
                group: alert.group.clone(),
                channel: channel.to_owned(),
                target,
                event: event.to_owned(),
                payload: payload.clone(),
                state: if full {
                    NotificationState::Dropped
                } else {
                    NotificationState::Pending
                },
                attempts: Vec::new(),
                next_attempt_at_ms: now_ms,
                created_at_ms: now_ms,
            });
        }
        notes
    }
}

/// Why a person's acknowledgement or clearing was refused.
#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    #[error("the alert is already cleared")]
    Cleared,
    #[error(transparent)]
    Store(#[from] hearth_store::StoreError),
}

impl AlertServices {
    /// A person has seen the alert: it stays active until it clears. Audited
    /// (`alert.acknowledge`) and shown live; acknowledging twice keeps the first.
    pub async fn acknowledge(
        &self,
        id: &str,
        user: &hearth_model::UserName,
    ) -> Result<Alert, ActionError> {
        let mut alert = self.store.alert(id).await?;
        match alert.state {
            AlertState::Cleared => return Err(ActionError::Cleared),
            AlertState::Acknowledged => return Ok(alert),
            AlertState::Open => {}
        }
        alert.state = AlertState::Acknowledged;
        alert.acknowledged_by = Some(user.clone());
        alert.acknowledged_at_ms = Some(self.clock.now_ms());
        let audit =
            hearth_model::NewAuditEntry::new(&format!("user:{user}"), "alert.acknowledge", id)
                .with_detail(
                    json!({"group": alert.group, "rule": alert.rule, "device": alert.device}),
                );
        self.store.update_alert(&alert, &[], Some(&audit)).await?;
        self.announce(&alert).await;
        Ok(alert)
    }

    /// A person clears the alert (the condition may still hold: it raises again only
    /// when it starts again). Audited (`alert.clear`) and shown live.
    pub async fn clear_by(
        &self,
        id: &str,
        user: &hearth_model::UserName,
    ) -> Result<Alert, ActionError> {
        let mut alert = self.store.alert(id).await?;
        if alert.state == AlertState::Cleared {
            return Err(ActionError::Cleared);
        }
        alert.state = AlertState::Cleared;
        alert.cleared_at_ms = Some(self.clock.now_ms());
        alert.cleared_by = Some(format!("user:{user}"));
        let audit = hearth_model::NewAuditEntry::new(&format!("user:{user}"), "alert.clear", id)
            .with_detail(json!({"group": alert.group, "rule": alert.rule, "device": alert.device}));
        self.store.update_alert(&alert, &[], Some(&audit)).await?;
        self.announce(&alert).await;
        Ok(alert)
    }
}
