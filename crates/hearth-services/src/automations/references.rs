//! What an automation or scene names outside itself, checked against the registry:
//! devices (in triggers, conditions, actions, `on_failure`, `wait_for`, scene targets and
//! `publish` topics) must be devices of the document's group, and `scene` actions must
//! name a scene of that group (by id, or by name within the group).
//!
//! A device of another group is refused with the same words as a missing one, so a
//! document cannot be used to probe which ids exist elsewhere.

use super::{AutomationError, AutomationResult};
use hearth_model::{
    Action, AppId, AutomationSpec, Condition, DeviceId, GroupId, SceneSpec, Trigger, topic,
};
use hearth_store::{Store, StoreError};
use std::collections::HashMap;
use std::sync::Arc;

/// A device named at a field of the document.
enum Reference {
    Device(String, DeviceId),
    /// A device id as written in a `publish` topic (not yet parsed).
    PublishDevice(String, String),
    Scene(String, String),
}

pub(super) async fn check_automation(
    store: &Arc<dyn Store>,
    spec: &AutomationSpec,
) -> AutomationResult<()> {
    let mut references = Vec::new();
    for (index, trigger) in spec.triggers.iter().enumerate() {
        trigger_references(&format!("triggers[{index}]"), trigger, &mut references);
    }
    for (index, condition) in spec.conditions.iter().enumerate() {
        condition_references(&format!("conditions[{index}]"), condition, &mut references);
    }
    action_references("actions", &spec.actions, &mut references);
    resolve(store, &spec.group, references).await
}

/// Every device id an automation's document names (triggers, conditions, actions,
/// `on_failure`, `wait_for`, `publish` topics), for the engine to check they are still
/// the group's: a device removed and registered again in another group must not drive,
/// nor be driven by, the first group's automations.
pub(crate) fn devices_named(spec: &AutomationSpec) -> Vec<String> {
    let mut references = Vec::new();
    for (index, trigger) in spec.triggers.iter().enumerate() {
        trigger_references(&format!("triggers[{index}]"), trigger, &mut references);
    }
    for (index, condition) in spec.conditions.iter().enumerate() {
        condition_references(&format!("conditions[{index}]"), condition, &mut references);
    }
    action_references("actions", &spec.actions, &mut references);
    references
        .into_iter()
        .filter_map(|reference| match reference {
            Reference::Device(_, device) => Some(device.to_string()),
            Reference::PublishDevice(_, device) => Some(device),
            Reference::Scene(..) => None,
        })
        .collect()
}

/// Whether `device` is now a device of `group` (the registry's answer, for actions
/// about to touch it).
pub(crate) async fn device_in_group(store: &Arc<dyn Store>, device: &str, group: &GroupId) -> bool {
    let Ok(device) = DeviceId::new(device) else {
        return false;
    };
    match store.device(&device).await {
        Ok(found) => store
            .app(&found.application)
            .await
            .is_ok_and(|app| &app.group == group),
        Err(_) => false,
    }
}

pub(super) async fn check_scene(store: &Arc<dyn Store>, spec: &SceneSpec) -> AutomationResult<()> {
    let references = spec
        .targets
        .iter()
        .enumerate()
        .map(|(index, target)| {
            Reference::Device(format!("targets[{index}].device"), target.device.clone())
        })
        .collect();
    resolve(store, &spec.group, references).await
}

fn trigger_references(field: &str, trigger: &Trigger, out: &mut Vec<Reference>) {
    match trigger {
        Trigger::Reading { device, .. }
        | Trigger::Event { device, .. }
        | Trigger::Presence { device, .. }
        | Trigger::Command {
            device: Some(device),
            ..
        } => out.push(Reference::Device(format!("{field}.device"), device.clone())),
        _ => {}
    }
}

fn condition_references(field: &str, condition: &Condition, out: &mut Vec<Reference>) {
    match condition {
        Condition::Reading { device, .. } | Condition::Presence { device, .. } => {
            out.push(Reference::Device(format!("{field}.device"), device.clone()))
        }
        Condition::All { conditions } | Condition::Any { conditions } => {
            for (index, inner) in conditions.iter().enumerate() {
                condition_references(&format!("{field}.conditions[{index}]"), inner, out);
            }
        }
        Condition::Not { condition } => {
            condition_references(&format!("{field}.condition"), condition, out)
        }
        Condition::Time { .. } => {}
    }
}

fn action_references(field: &str, actions: &[Action], out: &mut Vec<Reference>) {
    for (index, action) in actions.iter().enumerate() {
        let field = format!("{field}[{index}]");
        match action {
            Action::Command {
                device, on_failure, ..
            } => {
                out.push(Reference::Device(format!("{field}.device"), device.clone()));
                action_references(&format!("{field}.on_failure"), on_failure, out);
            }
            Action::Scene { scene } => {
                out.push(Reference::Scene(format!("{field}.scene"), scene.clone()))
            }
            Action::Publish { topic, .. } => {
                let device = topic::split(topic).map_or("", |(device, _)| device);
                out.push(Reference::PublishDevice(
                    format!("{field}.topic"),
                    device.to_string(),
                ));
            }
            Action::WaitFor { trigger, .. } => {
                trigger_references(&format!("{field}.trigger"), trigger, out)
            }
            Action::Notify { .. }
            | Action::Webhook { .. }
            | Action::Delay { .. }
            | Action::Confirm { .. } => {}
        }
    }
}

/// Checks every reference, in document order; the first wrong one is the error.
async fn resolve(
    store: &Arc<dyn Store>,
    group: &GroupId,
    references: Vec<Reference>,
) -> AutomationResult<()> {
    // An unknown group is the document's `group` field, not a 404 of the request.
    match store.group(group).await {
        Err(StoreError::NotFound { .. }) => {
            return Err(AutomationError::invalid(
                "group",
                format!("no group {:?}", group.as_str()),
            ));
        }
        other => other?,
    };
    let mut app_groups: HashMap<AppId, GroupId> = HashMap::new();
    let mut scenes = None;
    for reference in references {
        match reference {
            Reference::Device(field, device) => {
                require_device(store, group, &mut app_groups, &field, &device).await?
            }
            Reference::PublishDevice(field, text) => {
                let device = DeviceId::new(&text).map_err(|_| {
                    AutomationError::invalid(
                        &field,
                        format!("no device {text:?} in group {:?}", group.as_str()),
                    )
                })?;
                require_device(store, group, &mut app_groups, &field, &device).await?
            }
            Reference::Scene(field, scene) => {
                if scenes.is_none() {
                    scenes = Some(store.scenes(Some(group)).await?);
                }
                let known = scenes
                    .as_deref()
                    .unwrap_or_default()
                    .iter()
                    .any(|known| known.id == scene || known.spec.name == scene);
                if !known {
                    return Err(AutomationError::invalid(
                        field,
                        format!("no scene {scene:?} in group {:?}", group.as_str()),
                    ));
                }
            }
        }
    }
    Ok(())
}

async fn require_device(
    store: &Arc<dyn Store>,
    group: &GroupId,
    app_groups: &mut HashMap<AppId, GroupId>,
    field: &str,
    device: &DeviceId,
) -> AutomationResult<()> {
    let missing = || {
        AutomationError::invalid(
            field,
            format!(
                "no device {:?} in group {:?}",
                device.as_str(),
                group.as_str()
            ),
        )
    };
    let application = match store.device(device).await {
        Ok(found) => found.application,
        Err(StoreError::NotFound { .. }) => return Err(missing()),
        Err(other) => return Err(other.into()),
    };
    let device_group = match app_groups.get(&application) {
        Some(device_group) => device_group.clone(),
        None => {
            let device_group = store.app(&application).await?.group;
            app_groups.insert(application, device_group.clone());
            device_group
        }
    };
    if &device_group == group {
        Ok(())
    } else {
        Err(missing())
    }
}
