//! Alerts (issue 15): rules that watch devices, alerts raised per device with
//! deduplication, cooldown and auto-clear, and their notifications.
//!
//! - [`Alerts`]: storing and checking rules (for the API and the CLI); the document's
//!   own check (`AlertRuleSpec::check`), then the devices it names must be the group's.
//! - `engine`: [`AlertEngine`], the task that evaluates rules on the hub's events.
//! - `raise`: raising, repeating and clearing alerts with their notifications, and a
//!   person's acknowledgement or clearing ([`AlertServices::acknowledge`]).
//!
//! Notifications are written to the store's outbox with the alert change that causes
//! them and sent by `crate::notify::delivery`.

pub mod engine;
pub mod raise;

pub use engine::{AlertConfig, AlertCounters, AlertEngine, AlertServices, NamedWebhook};
pub use raise::ActionError;

use crate::automations::AutomationError;
use hearth_model::{AlertRule, AlertRuleSpec, ChannelTarget, GroupId, NewAuditEntry, now_millis};
use hearth_store::{Store, StoreError};
use serde_json::json;
use std::sync::Arc;

/// Rules over the store. Refusals are the automations' (`Invalid` naming a field).
#[derive(Clone)]
pub struct Alerts {
    store: Arc<dyn Store>,
}

pub type AlertResult<T> = Result<T, AutomationError>;

fn invalid(field: impl Into<String>, message: impl Into<String>) -> AutomationError {
    AutomationError::Invalid(hearth_model::FieldError {
        field: field.into(),
        message: message.into(),
    })
}

fn audit(actor: &str, action: &str, id: &str, group: &GroupId) -> NewAuditEntry {
    NewAuditEntry::new(actor, action, id).with_detail(json!({ "group": group }))
}

impl Alerts {
    pub fn new(store: Arc<dyn Store>) -> Alerts {
        Alerts { store }
    }

    pub async fn create(&self, actor: &str, spec: AlertRuleSpec) -> AlertResult<AlertRule> {
        self.check(&spec).await?;
        let now = now_millis();
        let rule = AlertRule {
            id: format!("ar-{}", crate::secret::random_string(12).to_lowercase()),
            spec,
            created_by: actor.to_owned(),
            created_at_ms: now,
            updated_at_ms: now,
        };
        let entry = audit(actor, "alert_rule.add", &rule.id, &rule.spec.group)
            .with_detail(json!({"group": rule.spec.group, "name": rule.spec.name}));
        self.store.insert_alert_rule(&rule, &entry).await?;
        Ok(rule)
    }

    /// Replaces a rule's document; it stays in its group. A webhook given without its
    /// secret keeps the secret stored for the same URL (views never show secrets).
    pub async fn update(
        &self,
        actor: &str,
        id: &str,
        mut spec: AlertRuleSpec,
    ) -> AlertResult<AlertRule> {
        let mut rule = self.store.alert_rule(id).await?;
        if spec.group != rule.spec.group {
            return Err(invalid(
                "group",
                "a rule stays in its group; create a new one in the other",
            ));
        }
        for target in &mut spec.notify {
            if let ChannelTarget::Webhook {
                url: Some(url),
                secret: secret @ None,
                ..
            } = target
            {
                *secret = rule.spec.notify.iter().find_map(|old| match old {
                    ChannelTarget::Webhook {
                        url: Some(old_url),
                        secret,
                        ..
                    } if old_url == url => secret.clone(),
                    _ => None,
                });
            }
        }
        self.check(&spec).await?;
        rule.spec = spec;
        rule.updated_at_ms = now_millis();
        let entry = audit(actor, "alert_rule.update", id, &rule.spec.group);
        self.store.update_alert_rule(&rule, &entry).await?;
        Ok(rule)
    }

    pub async fn remove(&self, actor: &str, id: &str) -> AlertResult<()> {
        let rule = self.store.alert_rule(id).await?;
        let entry = audit(actor, "alert_rule.remove", id, &rule.spec.group);
        self.store.delete_alert_rule(id, &entry).await?;
        Ok(())
    }

    pub async fn get(&self, id: &str) -> AlertResult<AlertRule> {
        Ok(self.store.alert_rule(id).await?)
    }

    pub async fn list(&self, group: Option<&GroupId>) -> AlertResult<Vec<AlertRule>> {
        Ok(self.store.alert_rules(group).await?)
    }

    /// The document's own check, then: the group exists, and every device it names is
    /// the group's (answered like a missing one, so that rules cannot probe ids).
    async fn check(&self, spec: &AlertRuleSpec) -> AlertResult<()> {
        spec.check()?;
        match self.store.group(&spec.group).await {
            Err(StoreError::NotFound { .. }) => {
                return Err(invalid(
                    "group",
                    format!("no group {:?}", spec.group.as_str()),
                ));
            }
            other => other?,
        };
        let mut named: Vec<(String, &hearth_model::DeviceId)> = spec
            .devices
            .iter()
            .enumerate()
            .map(|(index, device)| (format!("devices[{index}]"), device))
            .collect();
        if let Some(device) = spec.condition.device() {
            named.push(("condition.device".into(), device));
        }
        for (field, device) in named {
            if !crate::automations::references::device_in_group(
                &self.store,
                device.as_str(),
                &spec.group,
            )
            .await
            {
                return Err(invalid(
                    field,
                    format!(
                        "no device {:?} in group {:?}",
                        device.as_str(),
                        spec.group.as_str()
                    ),
                ));
            }
        }
        if let Some(app) = &spec.app {
            let in_group = self
                .store
                .app(app)
                .await
                .is_ok_and(|found| found.group == spec.group);
            if !in_group {
                return Err(invalid(
                    "app",
                    format!(
                        "no application {:?} in group {:?}",
                        app.as_str(),
                        spec.group.as_str()
                    ),
                ));
            }
        }
        Ok(())
    }
}
