//! The alert engine: one task fed by the same events as the automation engine (ingest's
//! committed readings and events, presence changes, command outcomes), stepping each
//! rule's condition per device with the automations' trigger steps (edge, hysteresis,
//! `for`), and raising or clearing alerts (`raise.rs`). An index from device to the
//! rules watching it keeps a message's cost to the rules that concern its device.
//!
//! A rule applies to the device its condition names, or to the devices it selects (a
//! list, a kind, an application, or the whole group), re-read whenever the registry or
//! the rules change (the audit sequence moves). Active alerts live in the store, so
//! they survive a restart; a `for` that was counting starts again after one.

use crate::automations::engine::Clock;
use crate::automations::engine::conditions::{Latest, metric_of, passes};
use crate::automations::engine::triggers::{
    Step, TriggerState, event_matches, presence_step, reading_step,
};
use crate::commands::Commands;
use crate::ingest::{DeviceReport, Ingest, PresenceEvent};
use crate::notify::delivery::Delivery;
use hearth_bus::Bus;
use hearth_model::{
    AlertCondition, AlertRule, Command, CommandStatus, DeviceId, MessageKind, Millis,
};
use hearth_store::{DeviceFilter, Store, StoreError};
use serde_json::Value;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::{broadcast, mpsc, oneshot};

/// How often the task looks at the audit sequence for changed rules and devices.
const RELOAD_POLL: Duration = Duration::from_secs(1);

/// A webhook defined once in hearth.toml (`[alerts.webhooks.NAME]`) and named by rules.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NamedWebhook {
    pub url: String,
    pub secret: String,
    /// The groups whose rules may send to it; empty: every group (the hub's operator
    /// wrote it, but any group's admin can name it, so restrict it when groups are
    /// different households).
    #[serde(default)]
    pub groups: Vec<hearth_model::GroupId>,
}

/// `[alerts]` in hearth.toml.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlertConfig {
    pub webhooks: HashMap<String, NamedWebhook>,
}

/// What the engine did, for `/metrics`.
#[derive(Debug, Default)]
pub struct AlertCounters {
    pub raised: AtomicU64,
    /// Notifications not queued because their channel's queue was full.
    pub dropped: AtomicU64,
    /// Feed messages missed because the engine fell behind.
    pub lagged: AtomicU64,
}

/// What raising and clearing need.
#[derive(Clone)]
pub struct AlertServices {
    pub store: Arc<dyn Store>,
    pub bus: Arc<dyn Bus>,
    pub clock: Arc<dyn Clock>,
    pub delivery: Delivery,
    pub config: Arc<AlertConfig>,
    pub counters: Arc<AlertCounters>,
}

enum Request {
    Reload(oneshot::Sender<()>),
    Stop,
}

/// The running engine (a handle on its task).
#[derive(Clone)]
pub struct AlertEngine {
    requests: mpsc::UnboundedSender<Request>,
    counters: Arc<AlertCounters>,
    task: Arc<parking_lot::Mutex<Option<tokio::task::JoinHandle<()>>>>,
}

struct Task {
    services: AlertServices,
    rules: Vec<Arc<AlertRule>>,
    /// Device to the rules (indices) that watch it.
    index: HashMap<Arc<str>, Vec<usize>>,
    /// By (rule id, device): kept across reloads.
    states: HashMap<(String, Arc<str>), TriggerState>,
    /// Whether the condition held at the last message (to count repeats).
    passing: HashMap<(String, Arc<str>), bool>,
    deadlines: BTreeSet<(Millis, String, Arc<str>)>,
    latest: Latest,
    audit_seq: i64,
}

impl AlertEngine {
    pub async fn start(
        services: AlertServices,
        ingest: &Ingest,
        commands: &Commands,
    ) -> Result<AlertEngine, StoreError> {
        let counters = services.counters.clone();
        let mut task = Task {
            services,
            rules: Vec::new(),
            index: HashMap::new(),
            states: HashMap::new(),
            passing: HashMap::new(),
            deadlines: BTreeSet::new(),
            latest: Latest::default(),
            audit_seq: -1,
        };
        task.load().await?;
        let (requests, requests_rx) = mpsc::unbounded_channel();
        let feeds = (
            ingest.reports(),
            ingest.presence_events(),
            commands.outcomes(),
            requests_rx,
        );
        let handle = tokio::spawn(task.run(feeds));
        Ok(AlertEngine {
            requests,
            counters,
            task: Arc::new(parking_lot::Mutex::new(Some(handle))),
        })
    }

    pub fn counters(&self) -> &Arc<AlertCounters> {
        &self.counters
    }

    /// Re-reads rules and devices now (the API calls it after a change).
    pub async fn reload(&self) {
        let (reply, done) = oneshot::channel();
        if self.requests.send(Request::Reload(reply)).is_ok() {
            let _ = done.await;
        }
    }

    pub async fn shutdown(&self) {
        let _ = self.requests.send(Request::Stop);
        let task = self.task.lock().take();
        if let Some(task) = task {
            let _ = task.await;
        }
    }
}

impl Task {
    /// Rules, the devices each applies to, and the devices' latest data and presence.
    async fn load(&mut self) -> Result<(), StoreError> {
        let store = &self.services.store;
        self.audit_seq = store.last_audit_seq().await?;
        let devices = store.devices(&DeviceFilter::default()).await?;
        let app_groups: HashMap<String, hearth_model::GroupId> = store
            .apps(None)
            .await?
            .into_iter()
            .map(|app| (app.id.to_string(), app.group))
            .collect();
        let rules: Vec<Arc<AlertRule>> = store
            .alert_rules(None)
            .await?
            .into_iter()
            .filter(|rule| rule.spec.enabled)
            .map(Arc::new)
            .collect();
        let now_ms = self.services.clock.now_ms();
        let mut index: HashMap<Arc<str>, Vec<usize>> = HashMap::new();
        for device in &devices {
            let id: Arc<str> = device.id.as_str().into();
            self.latest.online.insert(id.clone(), device.live.is_online);
            if let Some(data) = &device.live.last_report_data {
                self.latest.data.insert(id.clone(), Arc::new(data.clone()));
            }
            let Some(group) = app_groups.get(device.application.as_str()) else {
                continue;
            };
            for (at, rule) in rules.iter().enumerate() {
                let spec = &rule.spec;
                let applies = spec.group == *group
                    && match spec.condition.device() {
                        Some(named) => *named == device.id,
                        None if !spec.devices.is_empty() => spec.devices.contains(&device.id),
                        None => {
                            spec.kind.as_ref().is_none_or(|kind| *kind == device.kind)
                                && spec
                                    .app
                                    .as_ref()
                                    .is_none_or(|app| *app == device.application)
                        }
                    };
                if applies {
                    index.entry(id.clone()).or_default().push(at);
                    // A device already offline when the rule (or the hub) starts counts
                    // from now.
                    if let AlertCondition::Offline { for_secs, .. } = spec.condition
                        && !device.live.is_online
                    {
                        let key = (rule.id.clone(), id.clone());
                        let state = self.states.entry(key).or_default();
                        if state.holding_since.is_none() {
                            state.holding_since = Some(now_ms);
                            self.deadlines.insert((
                                now_ms + Millis::from(for_secs) * 1000,
                                rule.id.clone(),
                                id.clone(),
                            ));
                        }
                    }
                }
            }
        }
        let ids: std::collections::HashSet<&str> =
            rules.iter().map(|rule| rule.id.as_str()).collect();
        self.states
            .retain(|(rule, _), _| ids.contains(rule.as_str()));
        self.passing
            .retain(|(rule, _), _| ids.contains(rule.as_str()));
        self.deadlines
            .retain(|(_, rule, _)| ids.contains(rule.as_str()));
        self.index = index;
        self.rules = rules;
        Ok(())
    }

    async fn run(
        mut self,
        (mut reports, mut presence, mut outcomes, mut requests): (
            broadcast::Receiver<DeviceReport>,
            broadcast::Receiver<PresenceEvent>,
            broadcast::Receiver<Command>,
            mpsc::UnboundedReceiver<Request>,
        ),
    ) {
        let mut poll = tokio::time::interval(RELOAD_POLL);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let lagged = |services: &AlertServices, n: u64| {
            services.counters.lagged.fetch_add(n, Ordering::Relaxed);
        };
        loop {
            let next = self.deadlines.first().map(|(due, _, _)| *due);
            let clock = self.services.clock.clone();
            let sleep = async move {
                match next {
                    Some(due) => clock.sleep_until(due).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                request = requests.recv() => match request {
                    Some(Request::Reload(reply)) => {
                        if let Err(error) = self.load().await {
                            tracing::warn!("alert rules not reloaded: {error}");
                        }
                        let _ = reply.send(());
                    }
                    Some(Request::Stop) | None => break,
                },
                report = reports.recv() => match report {
                    Ok(report) => self.on_report(report).await,
                    Err(broadcast::error::RecvError::Lagged(n)) => lagged(&self.services, n),
                    Err(broadcast::error::RecvError::Closed) => break,
                },
                event = presence.recv() => match event {
                    Ok(event) => self.on_presence(event).await,
                    Err(broadcast::error::RecvError::Lagged(n)) => lagged(&self.services, n),
                    Err(broadcast::error::RecvError::Closed) => break,
                },
                outcome = outcomes.recv() => match outcome {
                    Ok(command) => self.on_command(command).await,
                    Err(broadcast::error::RecvError::Lagged(n)) => lagged(&self.services, n),
                    Err(broadcast::error::RecvError::Closed) => break,
                },
                () = sleep => self.on_deadlines().await,
                _ = poll.tick() => {
                    let seq = self.services.store.last_audit_seq().await;
                    if seq.is_ok_and(|seq| seq != self.audit_seq)
                        && let Err(error) = self.load().await
                    {
                        tracing::warn!("alert rules not reloaded: {error}");
                    }
                }
            }
        }
    }

    fn rules_of(&self, device: &str) -> Vec<Arc<AlertRule>> {
        self.index
            .get(device)
            .map(|rules| rules.iter().map(|at| self.rules[*at].clone()).collect())
            .unwrap_or_default()
    }

    async fn on_report(&mut self, report: DeviceReport) {
        // A queued reading from long ago is history, not a condition holding now.
        if report.late {
            return;
        }
        if report.kind == MessageKind::Data {
            self.latest
                .data
                .insert(report.device.clone(), report.payload.clone());
        }
        let now_ms = self.services.clock.now_ms();
        let device = match DeviceId::new(&report.device) {
            Ok(device) => device,
            Err(_) => return,
        };
        for rule in self.rules_of(&report.device) {
            let key = (rule.id.clone(), report.device.clone());
            match &rule.spec.condition {
                AlertCondition::Reading {
                    metric, hysteresis, ..
                }
                | AlertCondition::Battery {
                    metric, hysteresis, ..
                } if report.kind == MessageKind::Data => {
                    let Some(value) = metric_of(&report.payload, metric).cloned() else {
                        continue;
                    };
                    let test = rule.spec.condition.comparison().unwrap_or_default();
                    let margin = match &rule.spec.condition {
                        AlertCondition::Battery { .. } => Some(hysteresis.unwrap_or(5.0)),
                        _ => *hysteresis,
                    };
                    let for_secs = match &rule.spec.condition {
                        AlertCondition::Reading { for_secs, .. } => *for_secs,
                        _ => None,
                    };
                    let passing_now = passes(&test, &value);
                    let was_passing = self
                        .passing
                        .insert(key.clone(), passing_now)
                        .unwrap_or(false);
                    let state = self.states.entry(key.clone()).or_default();
                    let was_armed = state.armed;
                    let step = reading_step(state, &test, margin, for_secs, &value, now_ms);
                    let rearmed = !was_armed && state.armed;
                    let still_raised = !state.armed;
                    match step {
                        Step::Fire => self.services.raise(&rule, &device, Some(value)).await,
                        Step::Hold { due_at_ms } => {
                            self.deadlines.insert((due_at_ms, key.0, key.1));
                        }
                        Step::Cancel => {
                            self.deadlines
                                .retain(|(_, rule_id, id)| !(*rule_id == key.0 && *id == key.1));
                        }
                        Step::Nothing if rearmed => self.services.clear(&rule, &device).await,
                        // Crossed again without leaving by the margin: a repeat.
                        Step::Nothing if passing_now && !was_passing && still_raised => {
                            self.services.raise(&rule, &device, Some(value)).await;
                        }
                        Step::Nothing => {}
                    }
                }
                AlertCondition::Event {
                    matches,
                    clear_matches,
                    ..
                } if report.kind == MessageKind::Event => {
                    if event_matches(matches, &report.payload) {
                        let value = Some((*report.payload).clone());
                        self.services.raise(&rule, &device, value).await;
                    } else if clear_matches
                        .as_ref()
                        .is_some_and(|clear| event_matches(clear, &report.payload))
                    {
                        self.services.clear(&rule, &device).await;
                    }
                }
                _ => {}
            }
        }
    }

    async fn on_presence(&mut self, event: PresenceEvent) {
        self.latest
            .online
            .insert(event.device.clone(), event.online);
        let now_ms = self.services.clock.now_ms();
        let Ok(device) = DeviceId::new(&event.device) else {
            return;
        };
        for rule in self.rules_of(&event.device) {
            let AlertCondition::Offline { for_secs, .. } = rule.spec.condition else {
                continue;
            };
            let key = (rule.id.clone(), event.device.clone());
            let state = self.states.entry(key.clone()).or_default();
            match presence_step(state, false, Some(for_secs), event.online, now_ms) {
                Step::Fire => self.services.raise(&rule, &device, None).await,
                Step::Hold { due_at_ms } => {
                    self.deadlines.insert((due_at_ms, key.0, key.1));
                }
                Step::Cancel | Step::Nothing => {
                    self.deadlines
                        .retain(|(_, rule_id, id)| !(*rule_id == key.0 && *id == key.1));
                    if event.online {
                        self.services.clear(&rule, &device).await;
                    }
                }
            }
        }
    }

    async fn on_command(&mut self, command: Command) {
        if !command.status.is_final() {
            return;
        }
        for rule in self.rules_of(command.device.as_str()) {
            let AlertCondition::Command { name, status, .. } = &rule.spec.condition else {
                continue;
            };
            if name.as_ref().is_some_and(|name| *name != command.name) {
                continue;
            }
            if status.contains(&command.status) {
                let value = Some(Value::String(format!(
                    "{} {}",
                    command.name,
                    command.status.as_str()
                )));
                self.services.raise(&rule, &command.device, value).await;
            } else if command.status == CommandStatus::Acked {
                self.services.clear(&rule, &command.device).await;
            }
        }
    }

    /// `for` deadlines that came: the alert is raised if the condition still holds.
    async fn on_deadlines(&mut self) {
        let now_ms = self.services.clock.now_ms();
        while let Some((due, rule_id, device)) = self.deadlines.first().cloned() {
            if due > now_ms {
                break;
            }
            self.deadlines.pop_first();
            let Some(rule) = self.rules.iter().find(|rule| rule.id == rule_id).cloned() else {
                continue;
            };
            let key = (rule_id, device.clone());
            let Some(state) = self.states.get_mut(&key) else {
                continue;
            };
            if state.holding_since.take().is_none() {
                continue;
            }
            let (still, value) = match &rule.spec.condition {
                AlertCondition::Offline { .. } => (
                    !self.latest.online.get(&device).copied().unwrap_or(false),
                    None,
                ),
                condition => {
                    let test = condition.comparison().unwrap_or_default();
                    let metric = match condition {
                        AlertCondition::Reading { metric, .. } => metric.as_str(),
                        _ => "",
                    };
                    let value = self.latest.reading(&device, metric).cloned();
                    (
                        value.as_ref().is_some_and(|value| passes(&test, value)),
                        value,
                    )
                }
            };
            if !still {
                continue;
            }
            if !matches!(rule.spec.condition, AlertCondition::Offline { .. }) {
                state.armed = false;
            }
            if let Ok(device) = DeviceId::new(&device) {
                self.services.raise(&rule, &device, value).await;
            }
        }
    }
}
