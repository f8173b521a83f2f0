//! Time and sun triggers: each has its next time in the deadlines and in a stored
//! timer (`schedule-{automation}-{trigger}`), so that a schedule that fell while the
//! hub was down is found at the next start: run once if it is within the grace period
//! ([`super::super::EngineConfig::missed_grace_secs`]), recorded as missed otherwise.

use super::super::run::{self, RunStart};
use super::super::schedule::{next_cron, next_sun};
use super::{EngineTask, new_run_id};
use hearth_model::{Automation, Cron, Millis, Trigger};
use hearth_store::AutomationTimer;
use serde_json::{Value, json};

/// Schedules that were due when the hub started: fired or recorded by `run`.
pub struct Missed {
    pub automation_id: String,
    pub trigger: usize,
    pub due_at_ms: Millis,
}

pub fn schedule_timer_id(automation_id: &str, trigger: usize) -> String {
    format!("schedule-{automation_id}-{trigger}")
}

impl EngineTask {
    /// The next time of a time or sun trigger after `after_ms` (`None` for other
    /// triggers, a sun trigger of a group with no place, or a schedule that never comes).
    pub(super) fn next_time(
        &self,
        automation: &Automation,
        trigger: &Trigger,
        after_ms: Millis,
    ) -> Option<Millis> {
        let zone = self.places.zone(&automation.spec.group);
        match trigger {
            Trigger::Time { cron } => next_cron(&Cron::parse(cron).ok()?, after_ms, zone),
            Trigger::Sun { event, offset_secs } => {
                let place = self.places.coordinates(&automation.spec.group)?;
                next_sun(*event, *offset_secs, place, after_ms, zone)
            }
            _ => None,
        }
    }

    /// Puts every schedule of the enabled automations that has no deadline yet in the
    /// deadlines, with its stored timer (after a reload: new and changed automations).
    pub(super) fn plan_schedules(&mut self) {
        let now_ms = self.services.clock.now_ms();
        let mut planned = Vec::new();
        for automation in &self.automations {
            if !automation.spec.enabled {
                continue;
            }
            for (index, trigger) in automation.spec.triggers.iter().enumerate() {
                if !matches!(trigger, Trigger::Time { .. } | Trigger::Sun { .. }) {
                    continue;
                }
                let planned_already = self
                    .deadlines
                    .iter()
                    .any(|(_, id, at)| *id == automation.id && *at == index);
                if planned_already {
                    continue;
                }
                match self.next_time(automation, trigger, now_ms) {
                    Some(due) => planned.push((due, automation.id.clone(), index)),
                    None if matches!(trigger, Trigger::Sun { .. }) => {
                        tracing::warn!(automation = %automation.id, "a sun trigger without the group's latitude and longitude never fires");
                    }
                    None => {}
                }
            }
        }
        for (due, automation_id, index) in planned {
            self.store_schedule(&automation_id, index, due);
            self.deadlines.insert((due, automation_id, index));
        }
    }

    fn store_schedule(&self, automation_id: &str, trigger: usize, due_at_ms: Millis) {
        let timer = AutomationTimer {
            id: schedule_timer_id(automation_id, trigger),
            automation_id: automation_id.to_owned(),
            run_id: None,
            kind: "schedule".into(),
            due_at_ms,
            state: json!({"trigger": trigger}),
        };
        let store = self.services.store.clone();
        tokio::spawn(async move {
            if let Err(error) = store.put_timer(&timer).await {
                tracing::warn!(automation = %timer.automation_id, "schedule not stored: {error}");
            }
        });
    }

    /// A schedule's deadline came: it fires, and its next time is planned.
    pub(super) fn on_schedule(&mut self, automation_idx: usize, index: usize, due_at_ms: Millis) {
        let automation = self.automations[automation_idx].clone();
        let trigger = &automation.spec.triggers[index];
        let now_ms = self.services.clock.now_ms();
        let description = describe(trigger, index, due_at_ms, now_ms);
        self.fire(automation_idx, description, 0);
        if let Some(next) = self.next_time(&automation, trigger, now_ms.max(due_at_ms)) {
            self.store_schedule(&automation.id, index, next);
            self.deadlines.insert((next, automation.id.clone(), index));
        }
    }

    /// Schedules that fell while the hub was down: the last one runs if it is at most
    /// the grace period late; otherwise a `missed` run says when and how many.
    pub(super) fn catch_up(&mut self, missed: Vec<Missed>) {
        let now_ms = self.services.clock.now_ms();
        let grace_ms = Millis::from(self.config.missed_grace_secs) * 1000;
        for missed in missed {
            let Some(&automation_idx) = self.by_id.get(&missed.automation_id) else {
                continue;
            };
            let automation = self.automations[automation_idx].clone();
            if !automation.spec.enabled {
                continue;
            }
            let Some(trigger) = automation.spec.triggers.get(missed.trigger) else {
                continue;
            };
            // The last occurrence before now, and how many there were.
            let (mut last, mut count) = (missed.due_at_ms, 1u32);
            while count < 1_000 {
                match self.next_time(&automation, trigger, last) {
                    Some(next) if next <= now_ms => {
                        last = next;
                        count += 1;
                    }
                    _ => break,
                }
            }
            let late_ms = now_ms - last;
            let mut description = describe(trigger, missed.trigger, last, now_ms);
            description["late_by_ms"] = json!(late_ms);
            description["missed_while_down"] = json!(count);
            if late_ms <= grace_ms {
                self.fire(automation_idx, description, 0);
            } else {
                let start = RunStart {
                    run_id: new_run_id(),
                    automation: automation.clone(),
                    trigger: description,
                    conditions: Vec::new(),
                    started_at_ms: now_ms,
                    resume: None,
                };
                let services = self.services.clone();
                let why = format!(
                    "the hub was down: {count} scheduled time(s) passed, the last {}s ago (grace {}s)",
                    late_ms / 1000,
                    self.config.missed_grace_secs
                );
                tokio::spawn(async move {
                    run::record_skipped(&services, start, "missed", &why).await;
                });
            }
            let deadline_taken = self
                .deadlines
                .iter()
                .any(|(_, id, at)| *id == automation.id && *at == missed.trigger);
            if !deadline_taken && let Some(next) = self.next_time(&automation, trigger, now_ms) {
                self.store_schedule(&automation.id, missed.trigger, next);
                self.deadlines
                    .insert((next, automation.id.clone(), missed.trigger));
            }
        }
    }
}

fn describe(trigger: &Trigger, index: usize, due_at_ms: Millis, now_ms: Millis) -> Value {
    match trigger {
        Trigger::Time { cron } => json!({"type": "time", "index": index, "cron": cron,
            "scheduled_at_ms": due_at_ms, "at_ms": now_ms}),
        Trigger::Sun { event, offset_secs } => json!({"type": "sun", "index": index,
            "event": event, "offset_secs": offset_secs, "scheduled_at_ms": due_at_ms,
            "at_ms": now_ms}),
        _ => json!({"index": index, "at_ms": now_ms}),
    }
}
