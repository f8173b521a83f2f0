//! [`Automations`]: storing and managing automations and scenes (issue 14), for the CLI
//! and the HTTP API alike. The hub's engine (`engine`) runs them; `requests` is how a
//! process outside the hub (the CLI) asks for a run now or applies a scene.
//!
//! A separate service rather than more methods on `Registry`: its refusals name a path
//! into a document (`actions[0].on_failure[1].device`), which `RegistryError`'s static
//! field names cannot hold, and the engine will sit beside it, not beside users and
//! applications.
//!
//! Every change runs the document's own check (`AutomationSpec::check`), then what
//! needs the registry (`references`): each device named anywhere in the document exists
//! and belongs to an application of the automation's group, a `scene` action names a
//! scene of that group, and a `publish` goes to one of the group's devices.

pub mod engine;
pub(crate) mod references;
pub mod requests;
mod webhooks;

use hearth_model::{
    Automation, AutomationSpec, FieldError, GroupId, NewAuditEntry, Scene, SceneSpec, now_millis,
};
use hearth_store::{AutomationRun, Store, StoreError};
use serde_json::json;
use std::sync::Arc;

use crate::secret::random_string;

/// Random characters after the `a-` / `s-` prefix of an id.
const ID_RANDOM_LEN: usize = 12;

/// Why a change was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AutomationError {
    /// The document is wrong at a field (`triggers[0].device: no device "x" in group "home"`).
    #[error(transparent)]
    Invalid(#[from] FieldError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl AutomationError {
    fn invalid(field: impl Into<String>, message: impl Into<String>) -> AutomationError {
        AutomationError::Invalid(FieldError {
            field: field.into(),
            message: message.into(),
        })
    }
}

pub type AutomationResult<T> = Result<T, AutomationError>;

/// Automations and scenes over the store. Cheap to clone.
#[derive(Clone)]
pub struct Automations {
    store: Arc<dyn Store>,
}

impl Automations {
    pub fn new(store: Arc<dyn Store>) -> Automations {
        Automations { store }
    }

    /// Checks and stores a new automation; `actor` is recorded as its creator.
    pub async fn create(&self, actor: &str, spec: AutomationSpec) -> AutomationResult<Automation> {
        self.check_automation(&spec).await?;
        let now = now_millis();
        let automation = Automation {
            id: format!("a-{}", random_string(ID_RANDOM_LEN).to_lowercase()),
            spec,
            created_by: actor.to_string(),
            created_at_ms: now,
            updated_at_ms: now,
            failures_in_row: 0,
        };
        let audit = audit(
            actor,
            "automation.add",
            &automation.id,
            &automation.spec.group,
        )
        .with_detail(json!({"group": automation.spec.group, "name": automation.spec.name}));
        self.store.insert_automation(&automation, &audit).await?;
        Ok(automation)
    }

    /// Replaces an automation's document; it stays in its group.
    pub async fn update(
        &self,
        actor: &str,
        id: &str,
        spec: AutomationSpec,
    ) -> AutomationResult<Automation> {
        let mut automation = self.store.automation(id).await?;
        if spec.group != automation.spec.group {
            return Err(AutomationError::invalid(
                "group",
                format!(
                    "an automation stays in its group ({:?}); create a new one in the other",
                    automation.spec.group.as_str()
                ),
            ));
        }
        self.check_automation(&spec).await?;
        automation.spec = spec;
        automation.updated_at_ms = now_millis();
        let audit = audit(actor, "automation.update", id, &automation.spec.group);
        self.store.update_automation(&automation, &audit).await?;
        Ok(automation)
    }

    /// Enables or disables an automation.
    pub async fn set_enabled(
        &self,
        actor: &str,
        id: &str,
        enabled: bool,
    ) -> AutomationResult<Automation> {
        let mut automation = self.store.automation(id).await?;
        let action = if enabled {
            "automation.enable"
        } else {
            "automation.disable"
        };
        let now = now_millis();
        let audit = audit(actor, action, id, &automation.spec.group);
        self.store
            .set_automation_enabled(id, enabled, now, &audit)
            .await?;
        automation.spec.enabled = enabled;
        automation.updated_at_ms = now;
        Ok(automation)
    }

    /// Removes an automation with its runs and timers.
    pub async fn remove(&self, actor: &str, id: &str) -> AutomationResult<()> {
        let automation = self.store.automation(id).await?;
        let audit = audit(actor, "automation.remove", id, &automation.spec.group);
        self.store.delete_automation(id, &audit).await?;
        Ok(())
    }

    pub async fn get(&self, id: &str) -> AutomationResult<Automation> {
        Ok(self.store.automation(id).await?)
    }

    /// A group's automations, or every group's.
    pub async fn list(&self, group: Option<&GroupId>) -> AutomationResult<Vec<Automation>> {
        Ok(self.store.automations(group).await?)
    }

    /// An automation's runs, newest first (none until the engine exists).
    pub async fn runs(&self, id: &str, limit: u32) -> AutomationResult<Vec<AutomationRun>> {
        self.store.automation(id).await?;
        Ok(self.store.runs(id, limit).await?)
    }

    /// Checks and stores a new scene.
    pub async fn create_scene(&self, actor: &str, spec: SceneSpec) -> AutomationResult<Scene> {
        self.check_scene(&spec).await?;
        let now = now_millis();
        let scene = Scene {
            id: format!("s-{}", random_string(ID_RANDOM_LEN).to_lowercase()),
            spec,
            created_by: actor.to_string(),
            created_at_ms: now,
            updated_at_ms: now,
        };
        let audit = audit(actor, "scene.add", &scene.id, &scene.spec.group)
            .with_detail(json!({"group": scene.spec.group, "name": scene.spec.name}));
        self.store.insert_scene(&scene, &audit).await?;
        Ok(scene)
    }

    /// Replaces a scene's document; it stays in its group.
    pub async fn update_scene(
        &self,
        actor: &str,
        id: &str,
        spec: SceneSpec,
    ) -> AutomationResult<Scene> {
        let mut scene = self.store.scene(id).await?;
        if spec.group != scene.spec.group {
            return Err(AutomationError::invalid(
                "group",
                format!(
                    "a scene stays in its group ({:?}); create a new one in the other",
                    scene.spec.group.as_str()
                ),
            ));
        }
        self.check_scene(&spec).await?;
        scene.spec = spec;
        scene.updated_at_ms = now_millis();
        let audit = audit(actor, "scene.update", id, &scene.spec.group);
        self.store.update_scene(&scene, &audit).await?;
        Ok(scene)
    }

    pub async fn remove_scene(&self, actor: &str, id: &str) -> AutomationResult<()> {
        let scene = self.store.scene(id).await?;
        let audit = audit(actor, "scene.remove", id, &scene.spec.group);
        self.store.delete_scene(id, &audit).await?;
        Ok(())
    }

    pub async fn scene(&self, id: &str) -> AutomationResult<Scene> {
        Ok(self.store.scene(id).await?)
    }

    pub async fn scenes(&self, group: Option<&GroupId>) -> AutomationResult<Vec<Scene>> {
        Ok(self.store.scenes(group).await?)
    }

    async fn check_automation(&self, spec: &AutomationSpec) -> AutomationResult<()> {
        spec.check()?;
        references::check_automation(&self.store, spec).await
    }

    async fn check_scene(&self, spec: &SceneSpec) -> AutomationResult<()> {
        spec.check()?;
        references::check_scene(&self.store, spec).await
    }
}

/// The audit entry of a change, with the group in its detail (who may read it).
fn audit(actor: &str, action: &str, id: &str, group: &GroupId) -> NewAuditEntry {
    NewAuditEntry::new(actor, action, id).with_detail(json!({ "group": group }))
}

#[cfg(test)]
mod tests;
