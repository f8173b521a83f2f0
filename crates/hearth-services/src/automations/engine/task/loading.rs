//! Reading what the engine works from: automations (with the index, and which of them
//! name a device no longer in their group), groups' places, stored timers and the manual
//! runs asked for from outside the hub.

use super::super::run::{Resume, RunStart};
use super::super::triggers::Index;
use super::EngineTask;
use super::schedules::Missed;
use crate::automations::engine::EngineError;
use hearth_model::{Automation, Millis, Trigger};
use hearth_store::AutomationTimer;
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;

impl EngineTask {
    /// A stored timer of the last run: a `for` keeps counting from its stored start, a
    /// delay resumes its run.
    pub(super) fn restore_timer(&mut self, timer: AutomationTimer) {
        let Some(&automation_idx) = self.by_id.get(&timer.automation_id) else {
            return;
        };
        let automation = self.automations[automation_idx].clone();
        match timer.kind.as_str() {
            "for" => {
                let trigger = timer.state["trigger"].as_u64().unwrap_or(0) as usize;
                let since = timer.state["since"].as_i64();
                let state = self
                    .states
                    .entry((automation.id.clone(), trigger))
                    .or_default();
                state.holding_since = since;
                self.deadlines
                    .insert((timer.due_at_ms, automation.id.clone(), trigger));
            }
            crate::automations::requests::MANUAL_TIMER => {
                if let Some(request) = crate::automations::requests::RunRequest::from_timer(&timer)
                {
                    self.requested.push(request);
                }
            }
            "schedule" => {
                let trigger = timer.state["trigger"].as_u64().unwrap_or(0) as usize;
                if timer.due_at_ms <= self.services.clock.now_ms() {
                    self.missed.push(Missed {
                        automation_id: automation.id.clone(),
                        trigger,
                        due_at_ms: timer.due_at_ms,
                    });
                } else {
                    self.deadlines
                        .insert((timer.due_at_ms, automation.id.clone(), trigger));
                }
            }
            "delay" | "wait" | "confirm" => {
                let Some(run_id) = timer.run_id else { return };
                let state = timer.state;
                self.resumes.push(RunStart {
                    run_id,
                    automation,
                    trigger: state["trigger"].clone(),
                    conditions: state["conditions"].as_array().cloned().unwrap_or_default(),
                    started_at_ms: state["started_at_ms"].as_i64().unwrap_or(0),
                    resume: Some(Resume {
                        at_action: state["action"].as_u64().unwrap_or(0) as usize,
                        actions: state["actions"].as_array().cloned().unwrap_or_default(),
                        due_at_ms: timer.due_at_ms,
                        state: state["extra"].clone(),
                    }),
                });
            }
            _ => {}
        }
    }

    /// Re-reads automations and places, and plans the schedules of new and changed
    /// automations.
    pub(super) async fn reload(&mut self) -> Result<(), EngineError> {
        self.load_automations().await?;
        self.plan_schedules();
        let mut stored = std::collections::HashSet::new();
        for timer in self.services.store.timers().await? {
            if let Some(request) = crate::automations::requests::RunRequest::from_timer(&timer) {
                stored.insert(request.timer_id.clone());
                self.requested.push(request);
            }
        }
        // Forget started requests whose timers are gone; they cannot come back.
        self.started_requests.retain(|id| stored.contains(id));
        self.start_requested();
        Ok(())
    }

    /// Starts the manual runs asked for from outside, under the run ids they were given,
    /// and drops their requests.
    pub(super) fn start_requested(&mut self) {
        for request in std::mem::take(&mut self.requested) {
            if !self.started_requests.insert(request.timer_id.clone()) {
                continue;
            }
            let store = self.services.store.clone();
            let timer_id = request.timer_id.clone();
            tokio::spawn(async move {
                let _ = store.delete_timer(&timer_id).await;
            });
            let Some(&index) = self.by_id.get(&request.automation_id) else {
                continue;
            };
            let trigger = json!({"type": "manual", "by": request.by,
                "requested_at_ms": request.requested_at_ms,
                "at_ms": self.services.clock.now_ms()});
            self.fire_as(index, trigger, 0, request.run_id);
        }
    }

    pub(super) async fn load_automations(&mut self) -> Result<(), EngineError> {
        let seq = self.services.store.last_audit_seq().await?;
        let automations: Vec<Arc<Automation>> = self
            .services
            .store
            .automations(None)
            .await?
            .into_iter()
            .map(Arc::new)
            .collect();
        let previous: HashMap<String, Millis> = self
            .automations
            .iter()
            .map(|automation| (automation.id.clone(), automation.updated_at_ms))
            .collect();
        let unchanged = |automation: &Automation| {
            automation.spec.enabled
                && previous.get(&automation.id) == Some(&automation.updated_at_ms)
        };
        let kept: std::collections::HashSet<String> = automations
            .iter()
            .filter(|automation| unchanged(automation) || !previous.contains_key(&automation.id))
            .map(|automation| automation.id.clone())
            .collect();
        self.states.retain(|(id, _), _| kept.contains(id));
        self.deadlines.retain(|(_, id, _)| kept.contains(id));
        self.by_id = automations
            .iter()
            .enumerate()
            .map(|(index, automation)| (automation.id.clone(), index))
            .collect();
        let stale = self.stale_automations(&automations).await?;
        for (id, device) in &stale {
            if !self.stale.contains_key(id) {
                tracing::warn!(automation = %id, device = %device, "automation stopped: it names a device that is no longer in its group");
            }
        }
        self.stale = stale;
        self.index = Index::build(&automations, &self.stale);
        self.automations = automations;
        let places = self.services.store.group_places().await?;
        if self.places.set(places) {
            // A group moved: its schedules are planned again from now.
            let automations = &self.automations;
            let by_id = &self.by_id;
            self.deadlines.retain(|(_, id, index)| {
                by_id.get(id).is_none_or(|&at| {
                    !matches!(
                        automations[at].spec.triggers.get(*index),
                        Some(Trigger::Time { .. } | Trigger::Sun { .. })
                    )
                })
            });
        }
        self.audit_seq = seq;
        Ok(())
    }

    /// The automations that name a device not (or no longer) in their group, each with
    /// the first such device.
    pub(super) async fn stale_automations(
        &self,
        automations: &[Arc<Automation>],
    ) -> Result<HashMap<String, String>, EngineError> {
        let store = &self.services.store;
        let app_groups: HashMap<String, hearth_model::GroupId> = store
            .apps(None)
            .await?
            .into_iter()
            .map(|app| (app.id.to_string(), app.group))
            .collect();
        let device_groups: HashMap<String, &hearth_model::GroupId> = store
            .credentials()
            .await?
            .devices
            .into_iter()
            .filter_map(|device| {
                let group = app_groups.get(device.application.as_str())?;
                Some((device.id.to_string(), group))
            })
            .collect();
        Ok(automations
            .iter()
            .filter_map(|automation| {
                let device = crate::automations::references::devices_named(&automation.spec)
                    .into_iter()
                    .find(|device| device_groups.get(device) != Some(&&automation.spec.group))?;
                Some((automation.id.clone(), device))
            })
            .collect())
    }
}
