//! The engine's task: it owns the automations, the index, the triggers' states, the
//! deadlines and the runs in flight.

use super::conditions::{Latest, evaluate, passes};
use super::run::{self, RunStart, Services};
use super::schedule::Places;
use super::triggers::{Index, TriggerState};
use super::{EngineConfig, EngineError, Request};
use crate::ingest::{DeviceReport, PresenceEvent};
use hearth_model::{Automation, Command, Millis, RunMode, Trigger};
use hearth_store::DeviceFilter;
use serde_json::{Value, json};
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::sync::{broadcast, mpsc};
use tokio::task::JoinHandle;

mod events;
mod limits;
mod loading;
mod schedules;

use schedules::Missed;

/// How often the task looks at the audit sequence for changes made elsewhere (the CLI).
const RELOAD_POLL: Duration = Duration::from_secs(1);

/// Runs waiting or going at once under `queued` / `parallel` when `max_runs` is unset.
const DEFAULT_MAX_RUNS: usize = 10;

pub struct Feeds {
    pub reports: broadcast::Receiver<DeviceReport>,
    pub presence: broadcast::Receiver<PresenceEvent>,
    pub outcomes: broadcast::Receiver<Command>,
    pub requests: mpsc::UnboundedReceiver<Request>,
}

pub struct EngineTask {
    services: Services,
    config: EngineConfig,
    automations: Vec<Arc<Automation>>,
    by_id: HashMap<String, usize>,
    index: Index,
    /// By (automation id, trigger index): kept across reloads of unchanged automations.
    states: HashMap<(String, usize), TriggerState>,
    /// `for` deadlines, soonest first.
    deadlines: BTreeSet<(Millis, String, usize)>,
    latest: Latest,
    audit_seq: i64,
    /// Runs in flight and waiting, by automation id.
    running: HashMap<String, Vec<(String, JoinHandle<()>)>>,
    queued: HashMap<String, VecDeque<RunStart>>,
    done_tx: mpsc::UnboundedSender<(String, String)>,
    done_rx: mpsc::UnboundedReceiver<(String, String)>,
    /// Delays stored by the last run of the hub, resumed when the task starts.
    resumes: Vec<RunStart>,
    /// Schedules that fell while the hub was down, handled when the task starts.
    missed: Vec<Missed>,
    places: Places,
    limits: limits::Limits,
    /// Manual runs asked for from outside the hub (the CLI), started by `run` or at the
    /// next reload.
    requested: Vec<crate::automations::requests::RunRequest>,
    /// Requests already started whose timers may still be read (their deletion is not
    /// waited for): a reload soon after must not start them twice.
    started_requests: std::collections::HashSet<String>,
    /// Automations naming a device that is no longer in their group (removed, or
    /// registered again elsewhere), with that device: not indexed, not run.
    stale: HashMap<String, String>,
}

fn for_timer_id(automation_id: &str, trigger: usize) -> String {
    format!("for-{automation_id}-{trigger}")
}

fn new_run_id() -> String {
    format!("r-{}", crate::secret::random_string(12).to_lowercase())
}

impl EngineTask {
    pub async fn load(services: Services, config: EngineConfig) -> Result<EngineTask, EngineError> {
        let (done_tx, done_rx) = mpsc::unbounded_channel();
        let zone = config.zone().map_err(EngineError::Config)?;
        let mut task = EngineTask {
            places: Places::new(zone),
            requested: Vec::new(),
            started_requests: std::collections::HashSet::new(),
            stale: HashMap::new(),
            limits: limits::Limits::default(),
            missed: Vec::new(),
            services,
            config,
            automations: Vec::new(),
            by_id: HashMap::new(),
            index: Index::default(),
            states: HashMap::new(),
            deadlines: BTreeSet::new(),
            latest: Latest::default(),
            audit_seq: -1,
            running: HashMap::new(),
            queued: HashMap::new(),
            done_tx,
            done_rx,
            resumes: Vec::new(),
        };
        for device in task
            .services
            .store
            .devices(&DeviceFilter::default())
            .await?
        {
            let id: Arc<str> = device.id.as_str().into();
            task.latest.online.insert(id.clone(), device.live.is_online);
            if let Some(data) = device.live.last_report_data {
                task.latest.data.insert(id, Arc::new(data));
            }
        }
        // Stored timers first, then the schedules that have none: planning stores
        // timers, which must not overwrite a missed schedule's before it is read.
        task.load_automations().await?;
        for timer in task.services.store.timers().await? {
            task.restore_timer(timer);
        }
        task.plan_schedules();
        Ok(task)
    }

    pub async fn run(mut self, mut feeds: Feeds) {
        for start in std::mem::take(&mut self.resumes) {
            let id = start.automation.id.clone();
            self.spawn_run(&id, start);
        }
        let missed = std::mem::take(&mut self.missed);
        self.catch_up(missed);
        self.start_requested();
        let mut poll = tokio::time::interval(RELOAD_POLL);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let next = self.deadlines.first().map(|(due, _, _)| *due);
            let sleep = async {
                match next {
                    Some(due) => self.services.clock.sleep_until(due).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                request = feeds.requests.recv() => match request {
                    Some(Request::Reload(reply)) => {
                        if let Err(error) = self.reload().await {
                            tracing::warn!("automations not reloaded: {error}");
                        }
                        let _ = reply.send(());
                    }
                    Some(Request::RunNow { automation_id, actor, reply }) => {
                        let _ = reply.send(self.run_now(&automation_id, &actor).await);
                    }
                    Some(Request::Hook { automation_id, body, reply }) => {
                        let _ = reply.send(self.hook(&automation_id, body));
                    }
                    Some(Request::Stop) | None => break,
                },
                report = feeds.reports.recv() => match report {
                    Ok(report) => self.on_report(report),
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        self.services.counters.lagged.fetch_add(n, Ordering::Relaxed);
                    }
                    Err(broadcast::error::RecvError::Closed) => break,
                },
                presence = feeds.presence.recv() => match presence {
                    Ok(event) => self.on_presence(event),
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        self.services.counters.lagged.fetch_add(n, Ordering::Relaxed);
                    }
                    Err(broadcast::error::RecvError::Closed) => break,
                },
                outcome = feeds.outcomes.recv() => match outcome {
                    Ok(command) => self.on_command(command),
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        self.services.counters.lagged.fetch_add(n, Ordering::Relaxed);
                    }
                    Err(broadcast::error::RecvError::Closed) => break,
                },
                Some((automation_id, run_id)) = self.done_rx.recv() => {
                    self.on_done(&automation_id, &run_id);
                }
                _ = sleep => self.on_deadlines().await,
                _ = poll.tick() => {
                    match self.services.store.last_audit_seq().await {
                        Ok(seq) if seq != self.audit_seq => {
                            if let Err(error) = self.reload().await {
                                tracing::warn!("automations not reloaded: {error}");
                            }
                        }
                        _ => {}
                    }
                }
            }
        }
        // Runs in flight stop here; their stored delays resume at the next start.
        for (_, runs) in self.running.drain() {
            for (_, task) in runs {
                task.abort();
            }
        }
    }

    async fn run_now(&mut self, automation_id: &str, actor: &str) -> Result<String, EngineError> {
        let Some(&index) = self.by_id.get(automation_id) else {
            return Err(EngineError::Store(hearth_store::StoreError::NotFound {
                what: "automation",
                id: automation_id.to_owned(),
            }));
        };
        let trigger = json!({"type": "manual", "by": actor, "at_ms": self.services.clock.now_ms()});
        Ok(self.fire(index, trigger, 0))
    }

    /// A call to the automation's webhook URL: its (first) `webhook` trigger fires.
    fn hook(&mut self, automation_id: &str, body: Value) -> Result<String, EngineError> {
        let not_found = || {
            EngineError::Store(hearth_store::StoreError::NotFound {
                what: "automation webhook",
                id: automation_id.to_owned(),
            })
        };
        let &index = self.by_id.get(automation_id).ok_or_else(not_found)?;
        let automation = &self.automations[index];
        if !automation.spec.enabled {
            return Err(not_found());
        }
        let trigger = automation
            .spec
            .triggers
            .iter()
            .position(|trigger| matches!(trigger, Trigger::Webhook))
            .ok_or_else(not_found)?;
        let description = json!({"type": "webhook", "index": trigger, "body": body,
            "at_ms": self.services.clock.now_ms()});
        Ok(self.fire(index, description, 0))
    }

    /// `for` deadlines that came: the trigger fires if its state still holds.
    async fn on_deadlines(&mut self) {
        let now_ms = self.services.clock.now_ms();
        while let Some((due, automation_id, trigger_idx)) = self.deadlines.first().cloned() {
            if due > now_ms {
                break;
            }
            self.deadlines.pop_first();
            let Some(&automation_idx) = self.by_id.get(&automation_id) else {
                continue;
            };
            let automation = self.automations[automation_idx].clone();
            let Some(trigger) = automation.spec.triggers.get(trigger_idx) else {
                continue;
            };
            if matches!(trigger, Trigger::Time { .. } | Trigger::Sun { .. }) {
                self.on_schedule(automation_idx, trigger_idx, due);
                continue;
            }
            let _ = self
                .services
                .store
                .delete_timer(&for_timer_id(&automation_id, trigger_idx))
                .await;
            let state = self
                .states
                .entry((automation_id.clone(), trigger_idx))
                .or_default();
            let Some(since) = state.holding_since.take() else {
                continue;
            };
            let still = match trigger {
                Trigger::Reading { device, metric, .. } => {
                    let test = trigger.comparison().unwrap_or_default();
                    self.latest
                        .reading(device.as_str(), metric)
                        .is_some_and(|value| passes(&test, value))
                }
                Trigger::Presence { device, online, .. } => {
                    self.latest
                        .online
                        .get(device.as_str())
                        .copied()
                        .unwrap_or(false)
                        == *online
                }
                _ => false,
            };
            if !still {
                continue;
            }
            if matches!(trigger, Trigger::Reading { .. }) {
                state.armed = false;
            }
            let description = json!({"type": trigger_kind(trigger), "index": trigger_idx,
                "held_since_ms": since, "at_ms": now_ms});
            self.fire(automation_idx, description, 0);
        }
    }

    /// Evaluates the conditions and starts (or records as skipped) a run; returns its
    /// id. `depth` is how many automations led to this trigger (0: none).
    fn fire(&mut self, automation_idx: usize, trigger: Value, depth: u32) -> String {
        self.fire_as(automation_idx, trigger, depth, new_run_id())
    }

    /// [`Self::fire`] under a given run id.
    fn fire_as(
        &mut self,
        automation_idx: usize,
        mut trigger: Value,
        depth: u32,
        run_id: String,
    ) -> String {
        if depth > 0 {
            trigger["chain_depth"] = json!(depth);
        }
        let timer = std::time::Instant::now();
        let automation = self.automations[automation_idx].clone();
        let now_ms = self.services.clock.now_ms();
        if let Some(run_id) = self.refuse_if_looping(&automation, &trigger, depth, now_ms) {
            return run_id;
        }
        if let Some(device) = self.stale.get(&automation.id) {
            let start = RunStart {
                run_id: run_id.clone(),
                automation: automation.clone(),
                trigger,
                conditions: Vec::new(),
                started_at_ms: now_ms,
                resume: None,
            };
            let services = self.services.clone();
            let why = format!(
                "device {device:?} is no longer in group {:?}: edit the automation",
                automation.spec.group.as_str()
            );
            tokio::spawn(async move {
                run::record_skipped(&services, start, "failed", &why).await;
            });
            return run_id;
        }
        let zone = self.places.zone(&automation.spec.group).clone();
        let mut conditions = Vec::new();
        let mut passed = true;
        for (index, condition) in automation.spec.conditions.iter().enumerate() {
            let path = format!("conditions[{index}]");
            passed &= evaluate(
                condition,
                &self.latest,
                now_ms,
                &zone,
                &path,
                &mut conditions,
            );
        }
        self.count_evaluation(timer);
        let start = RunStart {
            run_id,
            automation: automation.clone(),
            trigger,
            conditions,
            started_at_ms: now_ms,
            resume: None,
        };
        let run_id = start.run_id.clone();
        if !passed {
            let services = self.services.clone();
            tokio::spawn(async move {
                run::record_skipped(&services, start, "skipped", "a condition did not hold").await;
            });
            return run_id;
        }
        self.start_run(&automation, start);
        run_id
    }

    /// Starts a run as the automation's mode says.
    fn start_run(&mut self, automation: &Automation, start: RunStart) {
        // Runs that ended but whose end the loop has not handled yet (another branch
        // of its select won) do not count as running: a "run now" right after a run
        // was stored as done must not be ignored.
        while let Ok((automation_id, run_id)) = self.done_rx.try_recv() {
            self.on_done(&automation_id, &run_id);
        }
        let max = automation
            .spec
            .max_runs
            .map_or(DEFAULT_MAX_RUNS, |max| max as usize);
        let id = automation.id.clone();
        let active = self.running.get(&id).map_or(0, Vec::len);
        let ignore = match automation.spec.mode {
            RunMode::Single => active > 0,
            RunMode::Restart => {
                for (run_id, task) in self.running.remove(&id).unwrap_or_default() {
                    task.abort();
                    let services = self.services.clone();
                    tokio::spawn(async move {
                        let _ = services
                            .store
                            .delete_timer(&run::delay_timer_id(&run_id))
                            .await;
                        let now_ms = services.clock.now_ms();
                        let trace = json!({"reason": "restarted by a new trigger"});
                        let _ = services
                            .store
                            .finish_run(&run_id, now_ms, "stopped", &trace)
                            .await;
                    });
                }
                false
            }
            RunMode::Queued => {
                if active > 0 {
                    let queue = self.queued.entry(id.clone()).or_default();
                    if queue.len() < max {
                        queue.push_back(start);
                        return;
                    }
                    true
                } else {
                    false
                }
            }
            RunMode::Parallel => active >= max,
        };
        if ignore {
            let services = self.services.clone();
            tokio::spawn(async move {
                run::record_skipped(
                    &services,
                    start,
                    "ignored",
                    "the automation was already running (run mode)",
                )
                .await;
            });
            return;
        }
        self.spawn_run(&id, start);
    }

    fn spawn_run(&mut self, automation_id: &str, start: RunStart) {
        let services = self.services.clone();
        let done = self.done_tx.clone();
        let run_id = start.run_id.clone();
        let ids = (automation_id.to_owned(), run_id.clone());
        let task = tokio::spawn(async move {
            run::execute(services, start).await;
            let _ = done.send(ids);
        });
        self.running
            .entry(automation_id.to_owned())
            .or_default()
            .push((run_id, task));
    }

    fn on_done(&mut self, automation_id: &str, run_id: &str) {
        if let Some(runs) = self.running.get_mut(automation_id) {
            runs.retain(|(id, _)| id != run_id);
            if runs.is_empty() {
                self.running.remove(automation_id);
            }
        }
        let next = self
            .queued
            .get_mut(automation_id)
            .and_then(VecDeque::pop_front);
        if let Some(start) = next {
            self.spawn_run(automation_id, start);
        }
    }

    fn count_evaluation(&self, timer: std::time::Instant) {
        self.services
            .counters
            .evaluation_ns
            .fetch_add(timer.elapsed().as_nanos() as u64, Ordering::Relaxed);
    }
}

fn trigger_kind(trigger: &Trigger) -> Value {
    serde_json::to_value(trigger)
        .ok()
        .and_then(|value| value.get("type").cloned())
        .unwrap_or(Value::Null)
}
