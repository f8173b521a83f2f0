//! Asking the hub's engine to run an automation now, from outside the hub (the CLI),
//! durably through the store.
//!
//! A request is a row of `automation_timers` of kind [`MANUAL_TIMER`], due at once,
//! written with an audit entry (`automation.run_requested`) in one transaction: a
//! running hub's engine polls the audit sequence every second and picks the timer up
//! when it reloads; a stopped hub finds it among the stored timers at its next start.
//! The engine runs the automation as its `manual` trigger under the run id chosen here
//! ([`RunRequest::run_id`]) and deletes the timer, so that whoever asked can wait for
//! that run's record.
//!
//! The run id travels in the timer's `state`, not in its `run_id` column: that column
//! references `automation_runs`, and the run has no record until the engine starts it.
//! [`RunRequest::from_timer`] reads a request back, for the engine.
//!
//! Applying a scene from outside the hub needs no engine: a timer cannot hold it (its
//! `automation_id` references `automations`), and a scene is only its targets' commands.
//! [`Automations::request_scene`] records each as a pending command, which a running
//! hub's commands service adopts from the store within a second (as for `hearth device
//! command`) and delivers when the device is online; [`Automations::scene_progress`]
//! reads their statuses into the engine's words (`4/5 confirmed, lamp-3 timeout`).

use super::{AutomationError, AutomationResult, Automations, audit};
use crate::commands::{CommandConfig, record_new};
use crate::secret::random_string;
use hearth_model::{CommandStatus, DeviceId, Millis, now_millis};
use hearth_store::{AutomationRun, AutomationTimer};
use serde_json::{Value, json};

/// The `kind` of a stored timer that asks for a manual run.
pub const MANUAL_TIMER: &str = "manual";

/// How many of an automation's newest runs [`Automations::requested_run`] looks through.
const RUNS_LOOKED_AT: u32 = 100;

/// A manual run asked for and not yet started.
#[derive(Debug, Clone, PartialEq)]
pub struct RunRequest {
    /// The stored timer's id (`manual-` and random characters).
    pub timer_id: String,
    pub automation_id: String,
    /// The id the run will have (`r-` and 12 random lowercase characters, like the
    /// engine's own).
    pub run_id: String,
    /// Who asked (`cli:alice`), for the run's trigger.
    pub by: String,
    pub requested_at_ms: Millis,
}

impl RunRequest {
    /// The request a stored timer holds; `None` for a timer of another kind or one whose
    /// state lacks the run id.
    pub fn from_timer(timer: &AutomationTimer) -> Option<RunRequest> {
        if timer.kind != MANUAL_TIMER {
            return None;
        }
        Some(RunRequest {
            timer_id: timer.id.clone(),
            automation_id: timer.automation_id.clone(),
            run_id: timer.state["run_id"].as_str()?.to_owned(),
            by: timer.state["by"].as_str().unwrap_or_default().to_owned(),
            requested_at_ms: timer.due_at_ms,
        })
    }

    fn to_timer(&self) -> AutomationTimer {
        AutomationTimer {
            id: self.timer_id.clone(),
            automation_id: self.automation_id.clone(),
            run_id: None,
            kind: MANUAL_TIMER.to_owned(),
            due_at_ms: self.requested_at_ms,
            state: json!({"by": self.by, "run_id": self.run_id}),
        }
    }
}

/// A scene being applied from outside the hub: each target's recorded command.
#[derive(Debug, Clone, PartialEq)]
pub struct SceneRequest {
    pub scene_id: String,
    pub targets: Vec<SceneTargetRequest>,
}

/// One target of a [`SceneRequest`]: its command's id, or why none was recorded (a
/// disabled device).
#[derive(Debug, Clone, PartialEq)]
pub struct SceneTargetRequest {
    pub device: DeviceId,
    pub command: Result<String, String>,
}

/// How far a [`SceneRequest`] got.
#[derive(Debug, Clone, PartialEq)]
pub struct SceneProgress {
    /// Every device has a final status (or was refused).
    pub finished: bool,
    /// As the engine reports an applied scene: `scene`, `result` (`1/2 confirmed,
    /// ceiling timeout`), `confirmed`, `total` and each device's status (`acked`,
    /// `failed`, `timeout`, `refused: ...`, or while it goes `pending`, `sent`).
    pub outcome: Value,
}

impl Automations {
    /// Asks the hub's engine to run an automation now, as its `manual` trigger (its
    /// conditions still apply). A disabled automation is refused, naming `enabled`, as
    /// the API's run-now refuses it.
    pub async fn request_run(&self, actor: &str, id: &str) -> AutomationResult<RunRequest> {
        let automation = self.store.automation(id).await?;
        if !automation.spec.enabled {
            return Err(AutomationError::invalid(
                "enabled",
                format!("automation {id:?} is disabled (`enabled` is false): enable it to run it"),
            ));
        }
        let request = RunRequest {
            timer_id: format!("manual-{}", random_string(12).to_lowercase()),
            automation_id: automation.id.clone(),
            run_id: format!("r-{}", random_string(12).to_lowercase()),
            by: actor.to_owned(),
            requested_at_ms: now_millis(),
        };
        let audit = audit(
            actor,
            "automation.run_requested",
            id,
            &automation.spec.group,
        )
        .with_detail(json!({"group": automation.spec.group, "run": request.run_id}));
        self.store
            .put_timer_audited(&request.to_timer(), &audit)
            .await?;
        Ok(request)
    }

    /// Applies a scene from outside the hub: records every target's command at once,
    /// issued by `actor`; a running hub delivers them (see the module's comment).
    pub async fn request_scene(
        &self,
        actor: &str,
        scene_id: &str,
        config: &CommandConfig,
    ) -> AutomationResult<SceneRequest> {
        let scene = self.store.scene(scene_id).await?;
        let mut targets = Vec::new();
        for target in scene.spec.targets {
            let recorded = record_new(
                self.store.as_ref(),
                config,
                actor,
                &target.device,
                &target.command,
                target.params,
                None,
            )
            .await;
            targets.push(SceneTargetRequest {
                device: target.device,
                command: recorded
                    .map(|(command, _)| command.id)
                    .map_err(|error| format!("refused: {error}")),
            });
        }
        Ok(SceneRequest {
            scene_id: scene.id,
            targets,
        })
    }

    /// Reads the statuses of a scene's commands.
    pub async fn scene_progress(&self, request: &SceneRequest) -> AutomationResult<SceneProgress> {
        let mut finished = true;
        let mut devices = Vec::new();
        for target in &request.targets {
            let status = match &target.command {
                Ok(id) => {
                    let status = self.store.command(id).await?.status;
                    finished &= status.is_final();
                    status.as_str().to_owned()
                }
                Err(refused) => refused.clone(),
            };
            devices.push((target.device.clone(), status));
        }
        Ok(SceneProgress {
            finished,
            outcome: scene_outcome(&request.scene_id, devices),
        })
    }

    /// The run a request asked for, once the engine has recorded it (`None` before).
    pub async fn requested_run(
        &self,
        request: &RunRequest,
    ) -> AutomationResult<Option<AutomationRun>> {
        let runs = self
            .store
            .runs(&request.automation_id, RUNS_LOOKED_AT)
            .await?;
        Ok(runs.into_iter().find(|run| run.id == request.run_id))
    }
}

/// A scene's outcome from each device's status, in the engine's words.
fn scene_outcome(scene_id: &str, mut devices: Vec<(DeviceId, String)>) -> Value {
    devices.sort();
    let acked = CommandStatus::Acked.as_str();
    let total = devices.len();
    let confirmed = devices.iter().filter(|(_, status)| status == acked).count();
    let mut summary = format!("{confirmed}/{total} confirmed");
    for (device, status) in devices.iter().filter(|(_, status)| status != acked) {
        summary.push_str(&format!(", {device} {status}"));
    }
    let per_device: serde_json::Map<String, Value> = devices
        .into_iter()
        .map(|(device, status)| (device.to_string(), Value::String(status)))
        .collect();
    json!({"type": "scene", "scene": scene_id, "result": summary, "confirmed": confirmed,
        "total": total, "devices": per_device})
}
