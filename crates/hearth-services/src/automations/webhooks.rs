//! An automation's incoming webhook: a secret URL (`/api/v1/hooks/{id}/{secret}`) that
//! fires its `webhook` trigger. The hub makes the secret and keeps only its hash (the
//! fast salted HMAC of generated secrets, `crate::secret`); the URL is shown once, when
//! it is made, and making a new one replaces it.

use super::{AutomationError, AutomationResult, Automations, audit};
use crate::secret::{generate_secret, hash_secret, verify};
use hearth_model::Trigger;
use std::sync::LazyLock;

/// Checked when the automation has no webhook, so that an unknown id costs the same.
static NO_HOOK: LazyLock<String> = LazyLock::new(|| hash_secret(&generate_secret()));

impl Automations {
    /// Makes (or replaces) the automation's webhook secret and returns it. Refused,
    /// naming `triggers`, for an automation without a `webhook` trigger.
    pub async fn make_webhook(&self, actor: &str, id: &str) -> AutomationResult<String> {
        let automation = self.store.automation(id).await?;
        if !automation
            .spec
            .triggers
            .iter()
            .any(|trigger| matches!(trigger, Trigger::Webhook))
        {
            return Err(AutomationError::invalid(
                "triggers",
                "the automation has no trigger of type \"webhook\" for a URL to fire",
            ));
        }
        let secret = generate_secret();
        let entry = audit(actor, "automation.webhook", id, &automation.spec.group);
        self.store
            .set_webhook_hash(id, Some(&hash_secret(&secret)), &entry)
            .await?;
        Ok(secret)
    }

    /// Removes the automation's webhook URL (it answers 404 from then on).
    pub async fn remove_webhook(&self, actor: &str, id: &str) -> AutomationResult<()> {
        let automation = self.store.automation(id).await?;
        let entry = audit(
            actor,
            "automation.webhook_remove",
            id,
            &automation.spec.group,
        );
        self.store.set_webhook_hash(id, None, &entry).await?;
        Ok(())
    }

    /// Whether `secret` is the automation's webhook secret. An unknown automation, one
    /// without a webhook, and a wrong secret all answer `false` after the same work.
    pub async fn webhook_matches(&self, id: &str, secret: &str) -> bool {
        match self.store.webhook_hash(id).await {
            Ok(Some(hash)) => verify(secret.as_bytes(), &hash),
            _ => {
                let _ = verify(secret.as_bytes(), &NO_HOOK);
                false
            }
        }
    }
}
