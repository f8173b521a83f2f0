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

use super::{AutomationError, AutomationResult, Automations, audit};
use crate::secret::random_string;
use hearth_model::{Millis, now_millis};
use hearth_store::{AutomationRun, AutomationTimer};
use serde_json::json;

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
