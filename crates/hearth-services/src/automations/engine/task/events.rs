//! What the hub tells the engine: readings and events after ingest committed them,
//! presence changes and command outcomes, each looked up in the index and turned into
//! trigger steps.

use super::super::conditions::metric_of;
use super::super::triggers::{Step, TriggerRef, event_matches, presence_step, reading_step};
use super::{EngineTask, for_timer_id};
use crate::ingest::{DeviceReport, PresenceEvent};
use hearth_model::{Command, MessageKind, Millis, Trigger};
use hearth_store::AutomationTimer;
use serde_json::{Value, json};

impl EngineTask {
    pub(super) fn on_report(&mut self, report: DeviceReport) {
        // A queued reading from long ago is history, not something happening now.
        if report.late {
            return;
        }
        let timer = std::time::Instant::now();
        let now_ms = self.services.clock.now_ms();
        if report.kind == MessageKind::Data {
            self.latest
                .data
                .insert(report.device.clone(), report.payload.clone());
        }
        let Some(watchers) = self.index.devices.get(&report.device) else {
            return;
        };
        let mut fired: Vec<(TriggerRef, Value)> = Vec::new();
        let mut holds: Vec<(TriggerRef, Step)> = Vec::new();
        if report.kind == MessageKind::Data {
            for (metric, refs) in &watchers.metrics {
                let Some(value) = metric_of(&report.payload, metric) else {
                    continue;
                };
                for at in refs {
                    let automation = &self.automations[at.automation];
                    let trigger = &automation.spec.triggers[at.trigger];
                    let Trigger::Reading {
                        hysteresis,
                        for_secs,
                        ..
                    } = trigger
                    else {
                        continue;
                    };
                    let test = trigger.comparison().unwrap_or_default();
                    let state = self
                        .states
                        .entry((automation.id.clone(), at.trigger))
                        .or_default();
                    match reading_step(state, &test, *hysteresis, *for_secs, value, now_ms) {
                        Step::Fire => fired.push((*at, json!({"type": "reading", "index": at.trigger,
                            "device": &*report.device, "metric": metric, "value": value, "at_ms": now_ms}))),
                        step @ (Step::Hold { .. } | Step::Cancel) => holds.push((*at, step)),
                        Step::Nothing => {}
                    }
                }
            }
        } else {
            for at in &watchers.events {
                let automation = &self.automations[at.automation];
                if let Trigger::Event { matches, .. } = &automation.spec.triggers[at.trigger]
                    && event_matches(matches, &report.payload)
                {
                    fired.push((
                        *at,
                        json!({"type": "event", "index": at.trigger,
                        "device": &*report.device, "event": &*report.payload, "at_ms": now_ms}),
                    ));
                }
            }
        }
        self.count_evaluation(timer);
        let depth = self.depth_from_device(&report.device, now_ms);
        self.apply(fired, holds, now_ms, depth);
    }

    pub(super) fn on_presence(&mut self, event: PresenceEvent) {
        let now_ms = self.services.clock.now_ms();
        self.latest
            .online
            .insert(event.device.clone(), event.online);
        let Some(watchers) = self.index.devices.get(&event.device) else {
            return;
        };
        let mut fired = Vec::new();
        let mut holds = Vec::new();
        for at in &watchers.presence {
            let automation = &self.automations[at.automation];
            let Trigger::Presence {
                online, for_secs, ..
            } = &automation.spec.triggers[at.trigger]
            else {
                continue;
            };
            let state = self
                .states
                .entry((automation.id.clone(), at.trigger))
                .or_default();
            match presence_step(state, *online, *for_secs, event.online, now_ms) {
                Step::Fire => fired.push((
                    *at,
                    json!({"type": "presence", "index": at.trigger,
                    "device": &*event.device, "online": event.online, "at_ms": now_ms}),
                )),
                step @ (Step::Hold { .. } | Step::Cancel) => holds.push((*at, step)),
                Step::Nothing => {}
            }
        }
        let depth = self.depth_from_device(&event.device, now_ms);
        self.apply(fired, holds, now_ms, depth);
    }

    pub(super) fn on_command(&mut self, command: Command) {
        if !command.status.is_final() {
            return;
        }
        let now_ms = self.services.clock.now_ms();
        let depth = self.note_command(&command.issued_by, command.device.as_str(), now_ms);
        let by_device = self
            .index
            .devices
            .get(command.device.as_str())
            .map(|watchers| watchers.commands.as_slice())
            .unwrap_or_default();
        let mut fired = Vec::new();
        for at in by_device.iter().chain(&self.index.any_command) {
            let automation = &self.automations[at.automation];
            if let Trigger::Command { name, status, .. } = &automation.spec.triggers[at.trigger]
                && *status == command.status
                && name.as_ref().is_none_or(|name| *name == command.name)
            {
                fired.push((
                    *at,
                    json!({"type": "command", "index": at.trigger,
                    "device": command.device, "name": command.name, "command": command.id,
                    "status": command.status.as_str(), "at_ms": now_ms}),
                ));
            }
        }
        self.apply(fired, Vec::new(), now_ms, depth);
    }

    /// Starts the fired triggers' runs (`depth` automations deep) and stores or drops
    /// the `for` timers.
    pub(super) fn apply(
        &mut self,
        fired: Vec<(TriggerRef, Value)>,
        holds: Vec<(TriggerRef, Step)>,
        now_ms: Millis,
        depth: u32,
    ) {
        for (at, step) in holds {
            let automation_id = self.automations[at.automation].id.clone();
            let timer_id = for_timer_id(&automation_id, at.trigger);
            let store = self.services.store.clone();
            match step {
                Step::Hold { due_at_ms } => {
                    self.deadlines
                        .insert((due_at_ms, automation_id.clone(), at.trigger));
                    let timer = AutomationTimer {
                        id: timer_id,
                        automation_id,
                        run_id: None,
                        kind: "for".into(),
                        due_at_ms,
                        state: json!({"trigger": at.trigger, "since": now_ms}),
                    };
                    tokio::spawn(async move {
                        if let Err(error) = store.put_timer(&timer).await {
                            tracing::warn!(automation = %timer.automation_id, "`for` not stored: {error}");
                        }
                    });
                }
                _ => {
                    self.deadlines.retain(|(_, id, trigger)| {
                        !(*id == automation_id && *trigger == at.trigger)
                    });
                    tokio::spawn(async move {
                        let _ = store.delete_timer(&timer_id).await;
                    });
                }
            }
        }
        for (at, trigger) in fired {
            self.fire(at.automation, trigger, depth);
        }
    }
}
