//! A run: its actions, one after another, and its record in `automation_runs`.

use super::{Clock, EngineCounters};
use crate::commands::Commands;
use hearth_bus::{Bus, Envelope, Qos};
use hearth_model::{Action, Automation, Command, CommandStatus, DeviceId, Millis};
use hearth_store::{AutomationRun, AutomationTimer, Store};
use serde_json::{Value, json};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use tokio::sync::broadcast;

/// What runs need from the hub.
#[derive(Clone)]
pub struct Services {
    pub store: Arc<dyn Store>,
    pub bus: Arc<dyn Bus>,
    pub commands: Commands,
    pub clock: Arc<dyn Clock>,
    pub counters: Arc<EngineCounters>,
}

/// A run about to start, or to resume after a restart.
pub struct RunStart {
    pub run_id: String,
    pub automation: Arc<Automation>,
    pub trigger: Value,
    pub conditions: Vec<Value>,
    pub started_at_ms: Millis,
    /// Resuming: the top-level action to go on from, the trace so far, and the stored
    /// end of the delay it was in.
    pub resume: Option<Resume>,
}

pub struct Resume {
    pub at_action: usize,
    pub actions: Vec<Value>,
    pub delay_due_at_ms: Millis,
}

/// The id of the stored timer of a run's delay.
pub fn delay_timer_id(run_id: &str) -> String {
    format!("delay-{run_id}")
}

/// Records a run that did not go past its conditions (or was not started at all).
pub async fn record_skipped(services: &Services, start: RunStart, status: &str, why: &str) {
    services.counters.skipped.fetch_add(1, Ordering::Relaxed);
    let now_ms = services.clock.now_ms();
    let trace = json!({"conditions": start.conditions, "actions": [], "reason": why});
    let run = AutomationRun {
        id: start.run_id.clone(),
        automation_id: start.automation.id.clone(),
        started_at_ms: start.started_at_ms,
        finished_at_ms: None,
        status: "running".into(),
        trigger: start.trigger,
        trace: trace.clone(),
    };
    let stored = async {
        services.store.insert_run(&run).await?;
        services
            .store
            .finish_run(&run.id, now_ms, status, &trace)
            .await
    };
    if let Err(error) = stored.await {
        tracing::warn!(automation = %run.automation_id, "run record not stored: {error}");
    }
}

/// Runs the actions and records the run; its status is `done` or `failed`.
pub async fn execute(services: Services, start: RunStart) {
    let automation = start.automation.clone();
    let (first, mut trace, delay_due) = match start.resume {
        Some(resume) => (
            resume.at_action,
            resume.actions,
            Some(resume.delay_due_at_ms),
        ),
        None => {
            let run = AutomationRun {
                id: start.run_id.clone(),
                automation_id: automation.id.clone(),
                started_at_ms: start.started_at_ms,
                finished_at_ms: None,
                status: "running".into(),
                trigger: start.trigger.clone(),
                trace: json!({"conditions": start.conditions, "actions": []}),
            };
            if let Err(error) = services.store.insert_run(&run).await {
                tracing::warn!(automation = %automation.id, "run not recorded: {error}");
            }
            (0, Vec::new(), None)
        }
    };
    services.counters.runs.fetch_add(1, Ordering::Relaxed);
    let context = RunContext {
        services: &services,
        start: &start.run_id,
        automation: &automation,
        trigger: &start.trigger,
        conditions: &start.conditions,
        started_at_ms: start.started_at_ms,
    };
    let ok = context
        .actions(&automation.spec.actions, true, first, delay_due, &mut trace)
        .await;
    if !ok {
        services.counters.failures.fetch_add(1, Ordering::Relaxed);
    }
    let status = if ok { "done" } else { "failed" };
    let record = json!({"conditions": start.conditions, "actions": trace});
    let now_ms = services.clock.now_ms();
    if let Err(error) = services
        .store
        .finish_run(&start.run_id, now_ms, status, &record)
        .await
    {
        tracing::warn!(automation = %automation.id, "run end not recorded: {error}");
    }
}

struct RunContext<'a> {
    services: &'a Services,
    /// The run's id.
    start: &'a str,
    automation: &'a Automation,
    trigger: &'a Value,
    conditions: &'a [Value],
    started_at_ms: Millis,
}

type Step<'a> = Pin<Box<dyn Future<Output = bool> + Send + 'a>>;

impl RunContext<'_> {
    /// Runs `actions` from `first`; false when one failed (the run stops there).
    /// Top-level delays are stored, so that a restart resumes them.
    fn actions<'a>(
        &'a self,
        actions: &'a [Action],
        top_level: bool,
        first: usize,
        mut delay_due: Option<Millis>,
        trace: &'a mut Vec<Value>,
    ) -> Step<'a> {
        Box::pin(async move {
            for (index, action) in actions.iter().enumerate().skip(first) {
                let started = self.services.clock.now_ms();
                let timer = std::time::Instant::now();
                let (ok, mut entry) = match action {
                    Action::Command {
                        device,
                        name,
                        params,
                        wait,
                        on_failure,
                    } => {
                        let (ok, mut entry) =
                            self.command(device, name, params.clone(), *wait).await;
                        if !ok && !on_failure.is_empty() {
                            let mut branch = Vec::new();
                            self.actions(on_failure, false, 0, None, &mut branch).await;
                            entry["on_failure"] = Value::Array(branch);
                        }
                        (ok, entry)
                    }
                    Action::Delay { seconds } => {
                        let due_at_ms = delay_due
                            .take()
                            .unwrap_or(started + Millis::from(*seconds) * 1000);
                        if top_level {
                            self.store_delay(index, due_at_ms, trace).await;
                        }
                        self.services.clock.sleep_until(due_at_ms).await;
                        if top_level {
                            let id = delay_timer_id(self.start);
                            let _ = self.services.store.delete_timer(&id).await;
                        }
                        (
                            true,
                            json!({"type": "delay", "seconds": seconds, "result": "waited"}),
                        )
                    }
                    Action::Notify { message } => self.notify(message).await,
                    Action::Scene { scene } => self.scene(scene).await,
                    other => {
                        let kind = serde_json::to_value(other)
                            .ok()
                            .and_then(|value| value.get("type").cloned())
                            .unwrap_or(Value::Null);
                        (
                            false,
                            json!({"type": kind, "result": "not supported by this version of the engine"}),
                        )
                    }
                };
                entry["index"] = json!(index);
                entry["duration_ms"] = json!(timer.elapsed().as_millis() as u64);
                trace.push(entry);
                if !ok {
                    return false;
                }
            }
            true
        })
    }

    /// Stores a top-level delay with what the run needs to resume after a restart.
    async fn store_delay(&self, index: usize, due_at_ms: Millis, trace: &[Value]) {
        let timer = AutomationTimer {
            id: delay_timer_id(self.start),
            automation_id: self.automation.id.clone(),
            run_id: Some(self.start.to_owned()),
            kind: "delay".into(),
            due_at_ms,
            state: json!({"action": index, "trigger": self.trigger,
                "conditions": self.conditions, "actions": trace,
                "started_at_ms": self.started_at_ms}),
        };
        if let Err(error) = self.services.store.put_timer(&timer).await {
            tracing::warn!(automation = %self.automation.id, "delay not stored: {error}");
        }
    }

    async fn command(
        &self,
        device: &DeviceId,
        name: &str,
        params: Value,
        wait: bool,
    ) -> (bool, Value) {
        let issued_by = format!("automation:{}", self.automation.id);
        let command = send_and_wait(self.services, &issued_by, device, name, params, wait).await;
        match command {
            Ok(command) => {
                let ok = !wait || command.status == CommandStatus::Acked;
                (
                    ok,
                    json!({"type": "command", "device": device, "name": name,
                        "command": command.id, "result": command.status.as_str(),
                        "answer": command.result}),
                )
            }
            Err(error) => (
                false,
                json!({"type": "command", "device": device, "name": name,
                    "result": "refused", "error": error}),
            ),
        }
    }

    /// In-app notification: a message on `hearth/notifications/{group}`, which the
    /// group's people read in the web app (the alerts issue adds channels), and the
    /// text in the run's trace.
    async fn notify(&self, message: &str) -> (bool, Value) {
        let group = &self.automation.spec.group;
        let payload = json!({"automation": self.automation.id, "run": self.start,
            "group": group, "message": message, "at_ms": self.services.clock.now_ms()});
        let envelope = Envelope::new(format!("hearth/notifications/{group}"), payload.to_string())
            .with_qos(Qos::AtLeastOnce);
        match self.services.bus.publish(envelope).await {
            Ok(()) => (
                true,
                json!({"type": "notify", "message": message, "result": "published"}),
            ),
            Err(error) => (
                false,
                json!({"type": "notify", "message": message, "result": "failed",
                    "error": error.to_string()}),
            ),
        }
    }

    /// Sends every target's command at once and waits for all: `n/m confirmed`.
    async fn scene(&self, scene_id: &str) -> (bool, Value) {
        let scene = match self.services.store.scene(scene_id).await {
            Ok(scene) => scene,
            Err(error) => {
                return (
                    false,
                    json!({"type": "scene", "scene": scene_id, "result": "failed",
                        "error": error.to_string()}),
                );
            }
        };
        let issued_by = format!("automation:{}", self.automation.id);
        let mut tasks = tokio::task::JoinSet::new();
        for target in scene.spec.targets.clone() {
            let services = self.services.clone();
            let issued_by = issued_by.clone();
            tasks.spawn(async move {
                let outcome = send_and_wait(
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
            json!({"type": "scene", "scene": scene_id, "result": summary, "devices": per_device}),
        )
    }
}

/// Sends a command and, with `wait`, waits for its final status (from the commands
/// service's outcomes; the store answers if the feed lagged).
async fn send_and_wait(
    services: &Services,
    issued_by: &str,
    device: &DeviceId,
    name: &str,
    params: Value,
    wait: bool,
) -> Result<Command, String> {
    // Subscribed before sending, so that a quick answer is not missed.
    let mut outcomes = services.commands.outcomes();
    let command = services
        .commands
        .send(issued_by, device, name, params, None)
        .await
        .map_err(|error| error.to_string())?;
    if !wait || command.status.is_final() {
        return Ok(command);
    }
    loop {
        match outcomes.recv().await {
            Ok(update) if update.id == command.id && update.status.is_final() => {
                return Ok(update);
            }
            Ok(_) => {}
            Err(broadcast::error::RecvError::Lagged(_)) => {
                services.counters.lagged.fetch_add(1, Ordering::Relaxed);
                if let Ok(stored) = services.commands.get(&command.id).await
                    && stored.status.is_final()
                {
                    return Ok(stored);
                }
            }
            Err(broadcast::error::RecvError::Closed) => {
                return Err("the commands service stopped".into());
            }
        }
    }
}
