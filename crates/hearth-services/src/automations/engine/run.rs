//! A run: its actions, one after another, and its record in `automation_runs`.

use super::confirm::Gates;
use super::{Clock, EngineCounters};
use crate::automations::references::device_in_group;
use crate::commands::Commands;
use crate::ingest::Ingest;
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
    /// For `wait_for`: the same feeds as the engine's task.
    pub ingest: Ingest,
    /// Confirmation requests waiting for people.
    pub gates: Arc<Gates>,
    pub http: crate::outbound::HttpClient,
}

/// A run about to start, or to resume after a restart.
pub struct RunStart {
    pub run_id: String,
    pub automation: Arc<Automation>,
    pub trigger: Value,
    pub conditions: Vec<Value>,
    pub started_at_ms: Millis,
    /// Resuming: the top-level action to go on from, the trace so far, and the stored
    /// end of the delay, wait or confirmation it was in.
    pub resume: Option<Resume>,
}

pub struct Resume {
    pub at_action: usize,
    pub actions: Vec<Value>,
    pub due_at_ms: Millis,
    /// What the action had stored (a confirmation's id).
    pub state: Value,
}

/// The id of the stored timer of a run's delay, wait or confirmation (one at a time:
/// only top-level actions are stored).
pub fn delay_timer_id(run_id: &str) -> String {
    format!("delay-{run_id}")
}

/// An in-app message to a group's people (`hearth/notifications/{group}`).
pub async fn tell_group(services: &Services, message: &Value) {
    let group = message["group"].as_str().unwrap_or_default();
    let envelope = Envelope::new(format!("hearth/notifications/{group}"), message.to_string())
        .with_qos(Qos::AtLeastOnce);
    if let Err(error) = services.bus.publish(envelope).await {
        tracing::warn!(group, "notification not published: {error}");
    }
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
    let mut recording = None;
    let (first, mut trace, resumed) = match start.resume {
        Some(resume) => (
            resume.at_action,
            resume.actions,
            Some((resume.due_at_ms, resume.state)),
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
            // Written beside the first actions, not before them: the record's commit
            // is off the path from trigger to command (a crash in between leaves the
            // command, `issued_by` the automation, without its run's record).
            let store = services.store.clone();
            recording = Some(tokio::spawn(async move {
                if let Err(error) = store.insert_run(&run).await {
                    tracing::warn!(automation = %run.automation_id, "run not recorded: {error}");
                }
            }));
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
        recording: tokio::sync::Mutex::new(recording),
    };
    let ok = context
        .actions(&automation.spec.actions, true, first, resumed, &mut trace)
        .await;
    if !ok {
        services.counters.failures.fetch_add(1, Ordering::Relaxed);
    }
    let status = if ok { "done" } else { "failed" };
    context.recorded().await;
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
    /// The run's record being written; what refers to it waits for it.
    recording: tokio::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
}

type Step<'a> = Pin<Box<dyn Future<Output = bool> + Send + 'a>>;

impl RunContext<'_> {
    /// Waits until the run's record is written (once; at once after that).
    async fn recorded(&self) {
        if let Some(recording) = self.recording.lock().await.take() {
            let _ = recording.await;
        }
    }

    /// Runs `actions` from `first`; false when one failed (the run stops there).
    /// Top-level delays, waits and confirmations are stored, so that a restart resumes
    /// them (`resumed`: the stored deadline and state of the first).
    fn actions<'a>(
        &'a self,
        actions: &'a [Action],
        top_level: bool,
        first: usize,
        mut resumed: Option<(Millis, Value)>,
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
                        let due_at_ms = resumed
                            .take()
                            .map_or(started + Millis::from(*seconds) * 1000, |(due, _)| due);
                        if top_level {
                            self.store_resume("delay", index, due_at_ms, trace, Value::Null)
                                .await;
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
                    Action::Notify { message, severity } => self.notify(message, *severity).await,
                    Action::Scene { scene } => {
                        let issued_by = format!("automation:{}", self.automation.id);
                        let group = Some(&self.automation.spec.group);
                        super::scene::apply_scene(self.services, scene, &issued_by, group).await
                    }
                    Action::Publish {
                        topic,
                        payload,
                        retain,
                    } => self.publish(topic, payload, *retain).await,
                    Action::Webhook {
                        url,
                        body,
                        timeout_secs,
                        retries,
                    } => {
                        self.webhook(url, body.as_ref(), *timeout_secs, *retries)
                            .await
                    }
                    Action::WaitFor {
                        trigger,
                        timeout_secs,
                        continue_on_timeout,
                    } => {
                        let due_at_ms = resumed
                            .take()
                            .map_or(started + Millis::from(*timeout_secs) * 1000, |(due, _)| due);
                        if top_level {
                            self.store_resume("wait", index, due_at_ms, trace, Value::Null)
                                .await;
                        }
                        let outcome = super::wait::wait_for(
                            self.services,
                            &self.automation.spec.group,
                            trigger,
                            due_at_ms,
                        )
                        .await;
                        self.clear_resume(top_level).await;
                        match outcome {
                            Some(seen) => (
                                true,
                                json!({"type": "wait_for", "result": "triggered", "seen": seen}),
                            ),
                            None => (
                                *continue_on_timeout,
                                json!({"type": "wait_for", "result": "timed out",
                                    "timeout_secs": timeout_secs}),
                            ),
                        }
                    }
                    Action::Confirm {
                        people,
                        users,
                        roles,
                        within_secs,
                        prompt,
                    } => {
                        let rule = super::confirm::Rule {
                            people: *people,
                            users: users.clone(),
                            roles: roles.clone(),
                            within_secs: *within_secs,
                            prompt: prompt.clone(),
                        };
                        let resumed_id = resumed.take().and_then(|(_, state)| {
                            state["confirmation"].as_str().map(str::to_owned)
                        });
                        let so_far: &[Value] = trace;
                        let outcome = super::confirm::ask(
                            self.services,
                            self.automation,
                            self.start,
                            &rule,
                            resumed_id,
                            |id: &str, due_at_ms| {
                                let state = json!({"confirmation": id});
                                async move {
                                    if top_level {
                                        self.store_resume(
                                            "confirm", index, due_at_ms, so_far, state,
                                        )
                                        .await;
                                    }
                                }
                            },
                        )
                        .await;
                        self.clear_resume(top_level).await;
                        outcome
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

    /// Stores a top-level delay, wait or confirmation with what the run needs to resume
    /// after a restart.
    async fn store_resume(
        &self,
        kind: &str,
        index: usize,
        due_at_ms: Millis,
        trace: &[Value],
        extra: Value,
    ) {
        // The timer refers to the run's record.
        self.recorded().await;
        let timer = AutomationTimer {
            id: delay_timer_id(self.start),
            automation_id: self.automation.id.clone(),
            run_id: Some(self.start.to_owned()),
            kind: kind.into(),
            due_at_ms,
            state: json!({"action": index, "trigger": self.trigger,
                "conditions": self.conditions, "actions": trace,
                "started_at_ms": self.started_at_ms, "extra": extra}),
        };
        if let Err(error) = self.services.store.put_timer(&timer).await {
            tracing::warn!(automation = %self.automation.id, "{kind} not stored: {error}");
        }
    }

    async fn clear_resume(&self, top_level: bool) {
        if top_level {
            let _ = self
                .services
                .store
                .delete_timer(&delay_timer_id(self.start))
                .await;
        }
    }

    /// Publishes to one of the group's devices (the document's check made sure of it).
    async fn publish(&self, topic: &str, payload: &Value, retain: bool) -> (bool, Value) {
        let group = &self.automation.spec.group;
        let device = hearth_model::topic::split(topic).map_or("", |(device, _)| device);
        if !device_in_group(&self.services.store, device, group).await {
            return (
                false,
                json!({"type": "publish", "topic": topic, "result": "refused",
                    "error": format!("device {device:?} is not in group {:?}", group.as_str())}),
            );
        }
        let body = match payload {
            Value::String(text) => text.clone(),
            other => other.to_string(),
        };
        let envelope = Envelope::new(topic.to_owned(), body)
            .with_qos(Qos::AtLeastOnce)
            .with_retain(retain);
        match self.services.bus.publish(envelope).await {
            Ok(()) => (
                true,
                json!({"type": "publish", "topic": topic, "result": "published"}),
            ),
            Err(error) => (
                false,
                json!({"type": "publish", "topic": topic, "result": "failed",
                    "error": error.to_string()}),
            ),
        }
    }

    /// POSTs `body` (the run's context when none) to `url`, with retries.
    async fn webhook(
        &self,
        url: &str,
        body: Option<&Value>,
        timeout_secs: u32,
        retries: u32,
    ) -> (bool, Value) {
        let body = body.cloned().unwrap_or_else(|| {
            json!({"automation": self.automation.id, "name": self.automation.spec.name,
                "group": self.automation.spec.group, "run": self.start,
                "trigger": self.trigger})
        });
        let timeout = std::time::Duration::from_secs(u64::from(timeout_secs.max(1)));
        let mut attempts = Vec::new();
        for attempt in 0..=retries {
            if attempt > 0 {
                // 1 s, 2 s, 4 s... up to 30 s between attempts.
                let wait = 1_000 * (1i64 << (attempt - 1).min(5)).min(30);
                let until = self.services.clock.now_ms() + wait;
                self.services.clock.sleep_until(until).await;
            }
            let outcome = self.services.http.post_json(url, &body, &[], timeout).await;
            match outcome {
                Ok(status) if (200..300).contains(&status) => {
                    attempts.push(json!({"status": status}));
                    return (
                        true,
                        json!({"type": "webhook", "url": url, "result": format!("HTTP {status}"),
                            "attempts": attempts}),
                    );
                }
                Ok(status) => attempts.push(json!({"status": status})),
                Err(error) => attempts.push(json!({"error": error.to_string()})),
            }
        }
        (
            false,
            json!({"type": "webhook", "url": url, "result": "failed", "attempts": attempts}),
        )
    }

    async fn command(
        &self,
        device: &DeviceId,
        name: &str,
        params: Value,
        wait: bool,
    ) -> (bool, Value) {
        let issued_by = format!("automation:{}", self.automation.id);
        let group = &self.automation.spec.group;
        if !device_in_group(&self.services.store, device.as_str(), group).await {
            return (
                false,
                json!({"type": "command", "device": device, "name": name, "result": "refused",
                    "error": format!("device {:?} is not in group {:?}", device.as_str(), group.as_str())}),
            );
        }
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
    async fn notify(&self, message: &str, severity: hearth_model::Severity) -> (bool, Value) {
        let group = &self.automation.spec.group;
        let now_ms = self.services.clock.now_ms();
        let payload = json!({"automation": self.automation.id, "run": self.start,
            "group": group, "message": message, "severity": severity, "at_ms": now_ms});
        let envelope = Envelope::new(format!("hearth/notifications/{group}"), payload.to_string())
            .with_qos(Qos::AtLeastOnce);
        if let Err(error) = self.services.bus.publish(envelope).await {
            return (
                false,
                json!({"type": "notify", "message": message, "result": "failed",
                    "error": error.to_string()}),
            );
        }
        // The people's own channels, as their preferences say for this severity.
        let mut notes = Vec::new();
        for channel in ["email", "push"] {
            let targets = crate::notify::people::recipients(
                &*self.services.store,
                group,
                severity,
                channel,
                now_ms,
            )
            .await
            .unwrap_or_default();
            for target in targets {
                notes.push(hearth_model::Notification {
                    id: format!("n-{}", crate::secret::random_string(12).to_lowercase()),
                    alert: String::new(),
                    group: group.clone(),
                    channel: channel.to_owned(),
                    target,
                    event: "notify".into(),
                    payload: json!({"event": "notify", "message": message,
                        "severity": severity, "group": group,
                        "automation": {"id": self.automation.id, "name": self.automation.spec.name},
                        "run": self.start, "at_ms": now_ms}),
                    state: hearth_model::NotificationState::Pending,
                    attempts: Vec::new(),
                    next_attempt_at_ms: now_ms,
                    created_at_ms: now_ms,
                });
            }
        }
        let queued = notes.len();
        if let Err(error) = self.services.store.queue_notifications(&notes).await {
            return (
                false,
                json!({"type": "notify", "message": message, "result": "failed",
                    "error": error.to_string()}),
            );
        }
        (
            true,
            json!({"type": "notify", "message": message, "result": "published",
                "queued": queued}),
        )
    }
}

/// Sends a command and, with `wait`, waits for its final status (from the commands
/// service's outcomes; the store answers if the feed lagged).
pub(super) async fn send_and_wait(
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
