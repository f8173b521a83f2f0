//! Automations' and scenes' storage trait (issue 14), with the records the engine will
//! keep durable: runs and timers, so that a restart neither forgets what ran nor drops a
//! running `for`, delay or wait.

use crate::StoreResult;
use async_trait::async_trait;
use hearth_model::{Automation, GroupId, Millis, NewAuditEntry, Scene};

/// One run of an automation: what triggered it and what each step did (the trace the
/// web app shows). Written by the engine; the store just records it.
#[derive(Debug, Clone, PartialEq)]
pub struct AutomationRun {
    pub id: String,
    pub automation_id: String,
    pub started_at_ms: Millis,
    /// `None` while it runs.
    pub finished_at_ms: Option<Millis>,
    /// `running`, `done`, `failed`, `skipped`... (the engine's words).
    pub status: String,
    pub trigger: serde_json::Value,
    pub trace: serde_json::Value,
}

/// A deadline the engine waits for (a `for`, a delay, a wait, a confirmation window),
/// stored so that it resumes after a restart.
#[derive(Debug, Clone, PartialEq)]
pub struct AutomationTimer {
    pub id: String,
    pub automation_id: String,
    /// The run it belongs to; `None` for a trigger's `for`, which precedes any run.
    pub run_id: Option<String>,
    pub kind: String,
    pub due_at_ms: Millis,
    pub state: serde_json::Value,
}

/// Automations, scenes, runs and timers. Every change of an automation or a scene writes
/// its audit entry (`automation.add|update|enable|disable|remove`,
/// `scene.add|update|remove`) in the same transaction: the audit sequence is how a running
/// hub notices changes made by the CLI. Runs and timers are the engine's own bookkeeping
/// and are not audited.
#[async_trait]
pub trait AutomationStore: Send + Sync {
    /// `NotFound` for an unknown group, `Conflict` if the id is taken.
    async fn insert_automation(
        &self,
        automation: &Automation,
        audit: &NewAuditEntry,
    ) -> StoreResult<()>;
    /// Replaces name, enabled, the document and `updated_at_ms` (not the group, the
    /// creator or the creation time); `NotFound` for an unknown id.
    async fn update_automation(
        &self,
        automation: &Automation,
        audit: &NewAuditEntry,
    ) -> StoreResult<()>;
    async fn set_automation_enabled(
        &self,
        id: &str,
        enabled: bool,
        updated_at_ms: Millis,
        audit: &NewAuditEntry,
    ) -> StoreResult<()>;
    /// Deletes it with its runs and timers.
    async fn delete_automation(&self, id: &str, audit: &NewAuditEntry) -> StoreResult<()>;
    async fn automation(&self, id: &str) -> StoreResult<Automation>;
    /// A group's automations (every group's with `None`), by group, name and id.
    async fn automations(&self, group: Option<&GroupId>) -> StoreResult<Vec<Automation>>;

    /// `NotFound` for an unknown group, `Conflict` if the id is taken.
    async fn insert_scene(&self, scene: &Scene, audit: &NewAuditEntry) -> StoreResult<()>;
    /// Replaces name, the document and `updated_at_ms`.
    async fn update_scene(&self, scene: &Scene, audit: &NewAuditEntry) -> StoreResult<()>;
    async fn delete_scene(&self, id: &str, audit: &NewAuditEntry) -> StoreResult<()>;
    async fn scene(&self, id: &str) -> StoreResult<Scene>;
    /// A group's scenes (every group's with `None`), by group, name and id.
    async fn scenes(&self, group: Option<&GroupId>) -> StoreResult<Vec<Scene>>;

    /// `NotFound` for an unknown automation, `Conflict` if the id is taken.
    async fn insert_run(&self, run: &AutomationRun) -> StoreResult<()>;
    /// Records a run's end: its status, finish time and full trace.
    async fn finish_run(
        &self,
        id: &str,
        finished_at_ms: Millis,
        status: &str,
        trace: &serde_json::Value,
    ) -> StoreResult<()>;
    /// An automation's runs, newest first.
    async fn runs(&self, automation_id: &str, limit: u32) -> StoreResult<Vec<AutomationRun>>;

    /// Creates or replaces a timer (by id); `NotFound` for an unknown automation.
    async fn put_timer(&self, timer: &AutomationTimer) -> StoreResult<()>;
    /// [`put_timer`](Self::put_timer) with an audit entry in the same transaction: a
    /// request from outside the hub (a manual run asked by the CLI) that a running hub
    /// notices through the audit sequence and, stopped, finds at its next start.
    async fn put_timer_audited(
        &self,
        timer: &AutomationTimer,
        audit: &NewAuditEntry,
    ) -> StoreResult<()>;
    /// `NotFound` if there is no such timer.
    async fn delete_timer(&self, id: &str) -> StoreResult<()>;
    /// Every timer, soonest first: what the engine loads at start.
    async fn timers(&self) -> StoreResult<Vec<AutomationTimer>>;
}
