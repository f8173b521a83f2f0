//! The work one node of a cluster does for all of them (issue 21, docs/scale.md).
//!
//! Nodes that share an external broker and PostgreSQL each store a share of the devices'
//! messages. Presence, the automation engine and the alert engine need every message of
//! a device (a heartbeat timeout, a threshold's edge, a `for` that must hold), and each
//! of their timers must fire once. So the node that holds the coordinator lease runs
//! them, over an observer that sees every device message ([`IngestRole::Observe`]), for
//! as long as it holds it: a *term*. A term begins by loading from the store what the
//! previous one left (durable timers, presence, open alerts), so a node that takes over
//! after another died resumes its work.
//!
//! A single hub has one term from start to stop ([`BrainSlot::fixed`]), with its ingest
//! in the full role: nothing changes for it.

use hearth_bus::Bus;
use hearth_services::alerts::{AlertEngine, AlertServices};
use hearth_services::automations::engine::{Clock, Engine, EngineConfig, EngineCounters};
use hearth_services::commands::Commands;
use hearth_services::ingest::{Ingest, IngestConfig, IngestRole};
use hearth_services::ota::Ota;
use hearth_store::Store;
use parking_lot::RwLock;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// `[cluster]` in hearth.toml: only nodes in external-broker mode read it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClusterConfig {
    /// How long the coordinator lease lasts without a renewal: how soon another node
    /// takes over from one that died (presence, automations and alerts pause that
    /// long). Nodes' clocks must agree to well within it (NTP).
    pub lease_secs: u32,
}

impl Default for ClusterConfig {
    fn default() -> ClusterConfig {
        ClusterConfig { lease_secs: 15 }
    }
}

/// This process's name as the lease's holder: `<node id>.<random>`. The node id alone
/// would let two processes that share one (a copied data directory) both count as the
/// holder; the random part is new at each start (a restarted node waits for its old
/// lease to expire, or takes over at once after a clean stop, which releases it).
pub fn holder_id(data_dir: &std::path::Path) -> anyhow::Result<String> {
    let mut random = [0u8; 4];
    getrandom::fill(&mut random).map_err(|error| anyhow::anyhow!("{error}"))?;
    Ok(format!(
        "{}.{}",
        crate::external_bus::node_id(data_dir)?,
        hex::encode(random)
    ))
}

/// How long a node waits before trying a term again after one failed to start.
const RESTART_DELAY: Duration = Duration::from_secs(5);

/// The engines of the current term, if this node has one.
#[derive(Clone, Default)]
pub struct BrainSlot(Arc<RwLock<Option<Brain>>>);

/// One term's engines (cheap handles).
#[derive(Clone)]
pub struct Brain {
    pub engine: Engine,
    pub alerts: AlertEngine,
}

impl BrainSlot {
    /// A slot that holds `brain` for good (a single hub).
    pub fn fixed(brain: Brain) -> BrainSlot {
        BrainSlot(Arc::new(RwLock::new(Some(brain))))
    }

    /// The running engines, `None` while this node does not coordinate.
    pub fn get(&self) -> Option<Brain> {
        self.0.read().clone()
    }

    fn set(&self, brain: Option<Brain>) {
        *self.0.write() = brain;
    }
}

/// What a term is made of, kept by the node between terms.
#[derive(Clone)]
pub struct BrainParts {
    pub store: Arc<dyn Store>,
    pub bus: Arc<dyn Bus>,
    pub commands: Commands,
    pub clock: Arc<dyn Clock>,
    pub engine_config: EngineConfig,
    pub ingest_config: IngestConfig,
    pub alert_services: AlertServices,
    /// The same counters in every term, so that `/metrics` counts across them.
    pub engine_counters: Arc<EngineCounters>,
}

/// A term in progress: its observer, engines, and the server of other nodes'
/// automation requests (engine_relay.rs).
struct Term {
    observer: Ingest,
    brain: Brain,
    relay_server: tokio::task::JoinHandle<()>,
    /// Firmware rollouts' tracker over every device's reports (when the node has OTA).
    ota_tracker: Option<tokio::task::JoinHandle<()>>,
}

impl Term {
    async fn start(parts: &BrainParts, ota: Option<&Ota>) -> anyhow::Result<Term> {
        let observer = Ingest::start_as(
            parts.store.clone(),
            parts.bus.clone(),
            None,
            parts.ingest_config.clone(),
            IngestRole::Observe,
        )
        .await?;
        let engine = match Engine::start_counting(
            parts.store.clone(),
            parts.bus.clone(),
            &observer,
            parts.commands.clone(),
            parts.clock.clone(),
            parts.engine_config.clone(),
            parts.engine_counters.clone(),
        )
        .await
        {
            Ok(engine) => engine,
            Err(error) => {
                observer.shutdown().await;
                return Err(error.into());
            }
        };
        let alerts = match AlertEngine::start(
            parts.alert_services.clone(),
            &observer,
            &parts.commands,
        )
        .await
        {
            Ok(alerts) => alerts,
            Err(error) => {
                engine.shutdown().await;
                observer.shutdown().await;
                return Err(error.into());
            }
        };
        let brain = Brain { engine, alerts };
        let runner = Arc::new(crate::adapters::EngineAdapter {
            brain: BrainSlot::fixed(brain.clone()),
            relay: None,
        });
        let relay_server = tokio::spawn(crate::engine_relay::serve(parts.bus.clone(), runner));
        let ota_tracker = ota.map(|ota| ota.track(parts.commands.outcomes(), observer.reports()));
        Ok(Term {
            observer,
            brain,
            relay_server,
            ota_tracker,
        })
    }

    async fn stop(self) {
        self.relay_server.abort();
        if let Some(tracker) = &self.ota_tracker {
            tracker.abort();
        }
        self.brain.alerts.shutdown().await;
        self.brain.engine.shutdown().await;
        self.observer.shutdown().await;
    }
}

/// Runs a term whenever `held` says this node holds the coordinator lease, until
/// `stop` is set; the current term's engines are in `slot`.
fn spawn(
    parts: BrainParts,
    ota: Option<Ota>,
    mut held: watch::Receiver<bool>,
    slot: BrainSlot,
    mut stop: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            // Wait for the lease (or the end).
            tokio::select! {
                held = until(&mut held, true) => if !held {
                    // The lease's task is gone while not held: nothing more to do here.
                    until(&mut stop, true).await;
                    return;
                },
                _ = until(&mut stop, true) => return,
            }
            let term = match Term::start(&parts, ota.as_ref()).await {
                Ok(term) => term,
                Err(error) => {
                    tracing::error!(
                        "this node holds the coordinator lease but could not start its \
                         engines (tried again in {RESTART_DELAY:?}): {error:#}"
                    );
                    tokio::time::sleep(RESTART_DELAY).await;
                    continue;
                }
            };
            tracing::info!("this node coordinates: presence, automations and alerts run here");
            slot.set(Some(term.brain.clone()));
            let stopping = tokio::select! {
                lost = until(&mut held, false) => if lost {
                    false
                } else {
                    // Held for good (a lease that can no longer change): until the end.
                    until(&mut stop, true).await;
                    true
                },
                _ = until(&mut stop, true) => true,
            };
            slot.set(None);
            term.stop().await;
            if stopping {
                return;
            }
            tracing::warn!(
                "this node lost the coordinator lease: its presence, automations and alerts \
                 stopped (another node takes over)"
            );
        }
    })
}

/// Waits until `held` says `want`; `false` when it never will (its sender is gone).
/// (A `watch::Ref` is not held across the wait: the task must be `Send`.)
async fn until(held: &mut watch::Receiver<bool>, want: bool) -> bool {
    loop {
        if *held.borrow_and_update() == want {
            return true;
        }
        if held.changed().await.is_err() {
            return *held.borrow() == want;
        }
    }
}

/// The coordinator's task on a node of a cluster, and the way to stop it.
pub struct CoordinatorTask {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl CoordinatorTask {
    /// Ends the current term (its engines stop) and the task.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        if let Err(error) = self.task.await {
            tracing::error!("the coordinator task failed: {error}");
        }
    }
}

/// A cluster node's coordinator, not yet running: it starts once the node's firmware
/// updates exist (their tracker is part of each term).
pub struct PendingCoordinator {
    parts: BrainParts,
    held: watch::Receiver<bool>,
    slot: BrainSlot,
}

impl PendingCoordinator {
    pub fn spawn(self, ota: Option<Ota>) -> CoordinatorTask {
        let (stop, stopped) = watch::channel(false);
        let task = spawn(self.parts, ota, self.held, self.slot, stopped);
        CoordinatorTask { stop, task }
    }
}

/// The engines of a hub: started at once over `ingest` on a single hub, or run in terms
/// by a coordinator while `held` (a cluster node: `Some`, to be spawned).
pub async fn start_engines(
    parts: BrainParts,
    ingest: &Ingest,
    held: Option<watch::Receiver<bool>>,
) -> anyhow::Result<(BrainSlot, Option<PendingCoordinator>)> {
    use anyhow::Context as _;
    match held {
        None => {
            let engine = Engine::start_counting(
                parts.store.clone(),
                parts.bus.clone(),
                ingest,
                parts.commands.clone(),
                parts.clock.clone(),
                parts.engine_config.clone(),
                parts.engine_counters.clone(),
            )
            .await
            .context("starting the automation engine")?;
            let alerts = AlertEngine::start(parts.alert_services.clone(), ingest, &parts.commands)
                .await
                .context("starting the alert engine")?;
            Ok((BrainSlot::fixed(Brain { engine, alerts }), None))
        }
        Some(held) => {
            let slot = BrainSlot::default();
            let pending = PendingCoordinator {
                parts,
                held,
                slot: slot.clone(),
            };
            Ok((slot, Some(pending)))
        }
    }
}
