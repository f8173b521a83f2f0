//! Scenes: a named set of device target states, applied concurrently.

use super::run::Services;
use serde_json::{Value, json};

/// Applies a scene: every target's command at once, then waits for all; the result says
/// `n/m confirmed` and each device's outcome. For a run's `scene` action and for a
/// person's tap in the web app alike (`issued_by` says which). For a run, `group` is the
/// automation's: the scene must be that group's, and each target still a device of it
/// (the person's route checks their rights on each device instead).
pub async fn apply_scene(
    services: &Services,
    scene_id: &str,
    issued_by: &str,
    group: Option<&hearth_model::GroupId>,
) -> (bool, Value) {
    let scene = match services.store.scene(scene_id).await {
        Ok(scene) => scene,
        Err(error) => {
            return (
                false,
                json!({"type": "scene", "scene": scene_id, "result": "failed",
                    "error": error.to_string()}),
            );
        }
    };
    if let Some(group) = group
        && scene.spec.group != *group
    {
        return (
            false,
            json!({"type": "scene", "scene": scene_id, "result": "failed",
                "error": format!("the scene is not of group {:?}", group.as_str())}),
        );
    }
    let mut tasks = tokio::task::JoinSet::new();
    for target in scene.spec.targets.clone() {
        let services = services.clone();
        let issued_by = issued_by.to_owned();
        let group = group.cloned();
        tasks.spawn(async move {
            if let Some(group) = &group
                && !crate::automations::references::device_in_group(
                    &services.store,
                    target.device.as_str(),
                    group,
                )
                .await
            {
                return (target.device, "refused: not in the group".to_owned());
            }
            let outcome = super::run::send_and_wait(
                &services,
                &issued_by,
                &target.device,
                &target.command,
                target.params.clone(),
                true,
            )
            .await;
            let status = match outcome {
                Ok(command) => command.status.as_str().to_owned(),
                Err(error) => format!("refused: {error}"),
            };
            (target.device, status)
        });
    }
    let mut devices = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        if let Ok(outcome) = joined {
            devices.push(outcome);
        }
    }
    devices.sort();
    let total = scene.spec.targets.len();
    let confirmed = devices
        .iter()
        .filter(|(_, status)| status == "acked")
        .count();
    let mut summary = format!("{confirmed}/{total} confirmed");
    for (device, status) in devices.iter().filter(|(_, status)| status != "acked") {
        summary.push_str(&format!(", {device} {status}"));
    }
    let per_device: serde_json::Map<String, Value> = devices
        .into_iter()
        .map(|(device, status)| (device.to_string(), Value::String(status)))
        .collect();
    (
        confirmed == total,
        json!({"type": "scene", "scene": scene_id, "result": summary, "confirmed": confirmed,
            "total": total, "devices": per_device}),
    )
}
