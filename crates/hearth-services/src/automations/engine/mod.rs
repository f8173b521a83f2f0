//! The automation engine (issue 14): one task that watches the hub's events and starts
//! runs.
//!
//! Fed after the fact, never on the hot path: ingest's committed data and event
//! messages ([`crate::ingest::Ingest::reports`]), presence changes, and command outcomes
//! ([`crate::commands::Commands::outcomes`]). An index from (device, what) to the
//! triggers watching it keeps the cost of a message proportional to the automations
//! that watch its device. Conditions are evaluated in the task, with the latest
//! readings and presence it holds; actions run in a task per run, so that a run waiting
//! for an acknowledgement or a delay holds up nothing else.
//!
//! Time of day and schedules are in the group's time zone (its place, else the hub's
//! [`EngineConfig::time_zone`]), with daylight saving. Every deadline comes from a
//! [`Clock`], so that tests move time instead of sleeping.
//!
//! Durable timers: a trigger's `for` and a run's `delay` are stored in
//! `automation_timers` when they start; after a restart a `for` counts from the stored
//! time of the state change and a delay resumes the run at the next action.
//!
//! # Layout
//! - `clock`: [`Clock`], the system's and a manual one for tests.
//! - `triggers`: the index and each trigger's edge state.
//! - `conditions`: tests, time windows, the trace of what was seen.
//! - `run`: a run's actions and its record.
//! - `task`: the engine's loop.

mod clock;
pub(crate) mod conditions;
mod confirm;
mod run;
mod scene;
pub mod schedule;
mod task;
pub(crate) mod triggers;
mod wait;

pub use clock::{Clock, ManualClock, SystemClock};
pub use confirm::AnswerFailure;

use crate::commands::Commands;
use crate::ingest::Ingest;
use hearth_bus::Bus;
use hearth_store::Store;
use parking_lot::Mutex;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// `[automations]` in hearth.toml.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EngineConfig {
    /// The hub's time zone (an IANA name such as `Asia/Shanghai`, `UTC`, or an offset
    /// such as `+08:00`) for groups that set none; unset: the system's.
    pub time_zone: Option<String>,
    /// A schedule (time or sun trigger) that fell while the hub was down runs once at
    /// start if it is at most this late; older ones are recorded as missed.
    pub missed_grace_secs: u32,
    /// Runs an automation may start in a minute; more are refused and reported (a
    /// loop between automations shows up here whatever path it takes).
    pub max_runs_per_minute: u32,
    /// How many automations deep a chain may go, each started by the previous one's
    /// command (its outcome, or a report of the device it commanded within
    /// [`CAUSE_WINDOW_MS`]); the next is refused and reported.
    pub max_chain_depth: u32,
}

impl Default for EngineConfig {
    fn default() -> EngineConfig {
        EngineConfig {
            time_zone: None,
            missed_grace_secs: 15 * 60,
            max_runs_per_minute: 30,
            max_chain_depth: 5,
        }
    }
}

impl EngineConfig {
    /// The hub's zone, or why the configured one is not usable.
    pub fn zone(&self) -> Result<jiff::tz::TimeZone, String> {
        match &self.time_zone {
            Some(name) => schedule::parse_zone(name),
            None => Ok(jiff::tz::TimeZone::system()),
        }
    }
}

/// A report from a device an automation commanded this recently counts as caused by
/// that run, for [`EngineConfig::max_chain_depth`].
pub const CAUSE_WINDOW_MS: hearth_model::Millis = 10_000;

/// What the engine did, for `/metrics`.
#[derive(Debug, Default)]
pub struct EngineCounters {
    pub runs: AtomicU64,
    pub failures: AtomicU64,
    /// Runs not started: conditions false, or a `single` automation already running.
    pub skipped: AtomicU64,
    /// Feed messages lost because the engine fell behind (`broadcast` lag).
    pub lagged: AtomicU64,
    /// Nanoseconds spent evaluating triggers and conditions (summed in nanoseconds:
    /// one message's share is well under a microsecond).
    pub evaluation_ns: AtomicU64,
    /// Runs refused because a chain of automations went too deep.
    pub loops_stopped: AtomicU64,
    /// Runs refused because an automation started too many in a minute.
    pub rate_limited: AtomicU64,
}

/// Why a request to the engine failed.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Store(#[from] hearth_store::StoreError),
    #[error("the automation engine is stopped")]
    Stopped,
    #[error("[automations] time_zone: {0}")]
    Config(String),
}

/// Messages to the engine's task.
pub(crate) enum Request {
    /// Re-read the automations now; the reply says it is done.
    Reload(oneshot::Sender<()>),
    /// Run an automation now (manual); the reply is the run's id.
    RunNow {
        automation_id: String,
        actor: String,
        reply: oneshot::Sender<Result<String, EngineError>>,
    },
    /// Fire an automation's `webhook` trigger with the call's body; the reply is the
    /// run's id.
    Hook {
        automation_id: String,
        body: serde_json::Value,
        reply: oneshot::Sender<Result<String, EngineError>>,
    },
    Stop,
}

/// The running engine: a handle on its one task, cheap to clone; [`Engine::shutdown`]
/// stops it for every clone.
#[derive(Clone)]
pub struct Engine {
    requests: mpsc::UnboundedSender<Request>,
    counters: Arc<EngineCounters>,
    services: run::Services,
    task: Arc<Mutex<Option<JoinHandle<()>>>>,
}

impl Engine {
    /// Loads automations and stored timers and starts the task.
    pub async fn start(
        store: Arc<dyn Store>,
        bus: Arc<dyn Bus>,
        ingest: &Ingest,
        commands: Commands,
        clock: Arc<dyn Clock>,
        config: EngineConfig,
    ) -> Result<Engine, EngineError> {
        Engine::start_counting(store, bus, ingest, commands, clock, config, Arc::default()).await
    }

    /// [`Engine::start`] counting into `counters`: a node that runs the engine only while
    /// it coordinates (issue 21) keeps one set of counters for `/metrics` across terms.
    pub async fn start_counting(
        store: Arc<dyn Store>,
        bus: Arc<dyn Bus>,
        ingest: &Ingest,
        commands: Commands,
        clock: Arc<dyn Clock>,
        config: EngineConfig,
        counters: Arc<EngineCounters>,
    ) -> Result<Engine, EngineError> {
        let (requests, requests_rx) = mpsc::unbounded_channel();
        let feeds = task::Feeds {
            reports: ingest.reports(),
            presence: ingest.presence_events(),
            outcomes: commands.outcomes(),
            requests: requests_rx,
        };
        let services = run::Services {
            store,
            bus,
            commands,
            clock,
            counters: counters.clone(),
            ingest: ingest.clone(),
            gates: Arc::default(),
            http: crate::outbound::HttpClient::default(),
        };
        let state = task::EngineTask::load(services.clone(), config).await?;
        let task = tokio::spawn(state.run(feeds));
        Ok(Engine {
            requests,
            counters,
            services,
            task: Arc::new(Mutex::new(Some(task))),
        })
    }

    pub fn counters(&self) -> &Arc<EngineCounters> {
        &self.counters
    }

    /// Re-reads the automations now (the service calls it after a change; the task also
    /// polls the audit sequence for changes from the CLI) and waits until it is done.
    pub async fn reload(&self) -> Result<(), EngineError> {
        let (reply, done) = oneshot::channel();
        self.requests
            .send(Request::Reload(reply))
            .map_err(|_| EngineError::Stopped)?;
        done.await.map_err(|_| EngineError::Stopped)
    }

    /// Runs an automation now, as its `manual` trigger (conditions still apply);
    /// returns the run's id.
    pub async fn run_now(&self, automation_id: &str, actor: &str) -> Result<String, EngineError> {
        let (reply, answer) = oneshot::channel();
        self.requests
            .send(Request::RunNow {
                automation_id: automation_id.to_owned(),
                actor: actor.to_owned(),
                reply,
            })
            .map_err(|_| EngineError::Stopped)?;
        answer.await.map_err(|_| EngineError::Stopped)?
    }

    /// Fires the automation's `webhook` trigger (the caller checked the secret) with
    /// the call's body; returns the run's id.
    pub async fn hook(
        &self,
        automation_id: &str,
        body: serde_json::Value,
    ) -> Result<String, EngineError> {
        let (reply, answer) = oneshot::channel();
        self.requests
            .send(Request::Hook {
                automation_id: automation_id.to_owned(),
                body,
                reply,
            })
            .map_err(|_| EngineError::Stopped)?;
        answer.await.map_err(|_| EngineError::Stopped)?
    }

    /// A person's answer to a confirmation request (`role`: theirs in the request's
    /// group, `None` if not a member); the request as it is afterwards.
    pub async fn answer(
        &self,
        request_id: &str,
        user: &hearth_model::UserName,
        role: Option<hearth_model::Role>,
        confirm: bool,
    ) -> Result<hearth_model::Confirmation, AnswerFailure> {
        self.services
            .gates
            .answer(&self.services, request_id, user, role, confirm)
            .await
    }

    /// Applies a scene for `actor` (`user:alice`, `cli:root`) and waits for every
    /// device's outcome (`4/5 confirmed, lamp-3 timeout`); the outcome is audited
    /// (`scene.apply`).
    pub async fn apply_scene(
        &self,
        scene_id: &str,
        actor: &str,
    ) -> Result<serde_json::Value, EngineError> {
        let scene = self.services.store.scene(scene_id).await?;
        let (_, outcome) = scene::apply_scene(&self.services, scene_id, actor, None).await;
        let entry = hearth_model::NewAuditEntry::new(actor, "scene.apply", scene_id).with_detail(
            serde_json::json!({"group": scene.spec.group, "result": outcome["result"],
                "devices": outcome["devices"]}),
        );
        self.services.store.note(&entry).await?;
        Ok(outcome)
    }

    /// Stops the task and the runs in flight; their stored timers stay, so that the
    /// next start resumes them.
    pub async fn shutdown(&self) {
        let _ = self.requests.send(Request::Stop);
        let task = self.task.lock().take();
        if let Some(task) = task
            && let Err(error) = task.await
        {
            tracing::error!("the automation engine failed: {error}");
        }
    }
}
