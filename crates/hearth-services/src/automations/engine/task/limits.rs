//! Loop bounds: a chain of automations, each started by the previous one's command, is
//! cut at [`EngineConfig::max_chain_depth`](super::super::EngineConfig), and an
//! automation starts at most [`EngineConfig::max_runs_per_minute`](super::super::EngineConfig)
//! runs a minute, whatever starts them. A refusal is recorded as a run (once a minute
//! per automation, so that a loop does not fill the table), counted, logged, and told
//! to the group's people.

use super::super::CAUSE_WINDOW_MS;
use super::super::run::{self, RunStart};
use super::{EngineTask, new_run_id};
use hearth_model::{Automation, Millis};
use serde_json::{Value, json};
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::Ordering;

const MINUTE_MS: Millis = 60_000;

#[derive(Default)]
pub struct Limits {
    /// Start times of each automation's runs in the last minute.
    starts: HashMap<String, VecDeque<Millis>>,
    /// When a refusal was last recorded, per automation.
    reported: HashMap<String, Millis>,
    /// The chain depth of each automation's latest run.
    depth: HashMap<String, u32>,
    /// Devices an automation commanded: the depth its reports carry, until when.
    caused: HashMap<Arc<str>, (u32, Millis)>,
}

impl EngineTask {
    /// The chain depth of a trigger from `device` now: one more than the run that
    /// commanded it within the cause window, else 0.
    pub(super) fn depth_from_device(&self, device: &str, now_ms: Millis) -> u32 {
        match self.limits.caused.get(device) {
            Some((depth, until)) if *until >= now_ms => *depth,
            _ => 0,
        }
    }

    /// A command of `automation:{id}` reached a device: what that device reports next
    /// (and the command's outcome) is one step deeper than the run that sent it.
    pub(super) fn note_command(&mut self, issued_by: &str, device: &str, now_ms: Millis) -> u32 {
        let Some(automation_id) = issued_by.strip_prefix("automation:") else {
            return 0;
        };
        let depth = self.limits.depth.get(automation_id).copied().unwrap_or(0) + 1;
        self.limits
            .caused
            .insert(device.into(), (depth, now_ms + CAUSE_WINDOW_MS));
        if self.limits.caused.len() > 10_000 {
            self.limits.caused.retain(|_, (_, until)| *until >= now_ms);
        }
        depth
    }

    /// Refuses a run that would go past the chain depth or the rate (returns the id of
    /// the refused run); otherwise counts it.
    pub(super) fn refuse_if_looping(
        &mut self,
        automation: &Arc<Automation>,
        trigger: &Value,
        depth: u32,
        now_ms: Millis,
    ) -> Option<String> {
        let starts = self.limits.starts.entry(automation.id.clone()).or_default();
        while starts.front().is_some_and(|at| *at <= now_ms - MINUTE_MS) {
            starts.pop_front();
        }
        let why = if depth > self.config.max_chain_depth {
            self.services
                .counters
                .loops_stopped
                .fetch_add(1, Ordering::Relaxed);
            format!(
                "stopped a chain of {depth} automations, each started by the previous one's command (limit {})",
                self.config.max_chain_depth
            )
        } else if starts.len() >= self.config.max_runs_per_minute as usize {
            self.services
                .counters
                .rate_limited
                .fetch_add(1, Ordering::Relaxed);
            format!(
                "more than {} runs in a minute: a loop between automations, or a trigger that flaps",
                self.config.max_runs_per_minute
            )
        } else {
            starts.push_back(now_ms);
            self.limits.depth.insert(automation.id.clone(), depth);
            return None;
        };
        let run_id = new_run_id();
        let last = self.limits.reported.get(&automation.id).copied();
        if last.is_some_and(|at| at > now_ms - MINUTE_MS) {
            return Some(run_id);
        }
        self.limits.reported.insert(automation.id.clone(), now_ms);
        tracing::warn!(automation = %automation.id, "automation refused: {why}");
        let start = RunStart {
            run_id: run_id.clone(),
            automation: automation.clone(),
            trigger: trigger.clone(),
            conditions: Vec::new(),
            started_at_ms: now_ms,
            resume: None,
        };
        let services = self.services.clone();
        let message = json!({"automation": automation.id, "group": automation.spec.group,
            "message": format!("{}: {why}", automation.spec.name), "at_ms": now_ms,
            "level": "warning"});
        tokio::spawn(async move {
            run::record_skipped(&services, start, "loop_stopped", &why).await;
            run::tell_group(&services, &message).await;
        });
        Some(run_id)
    }
}
