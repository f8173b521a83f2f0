//! Ingest (SPEC §4, seed 002): device messages become durable state and history.
//!
//! The broker shows every client publish on `devices/+/+` to [`queue::IngestQueue`]
//! before acknowledging it. One writer task ([`writer`]) takes everything queued, turns it
//! into one [`hearth_store::IngestBatch`] (messages, points, presence changes, and one
//! coalesced live-state update per device), commits it in one transaction, and only then
//! lets the broker send the PUBACK / PUBREC of the QoS 1/2 messages in it: acknowledged
//! means on disk. While one batch commits the next one gathers, so the commit cost is
//! shared by everything that arrived meanwhile (group commit).
//!
//! # Layout
//! - `observe`: the coordinator's view of every device message (issue 21).
//! - `parse`: payloads to readings and presence words.
//! - `presence`: the online/offline state machine with precise timeouts, and where a
//!   device that moves between its site and this hub is attached (issue 20).
//! - `queue`: the interceptor and the writer's inbox; counters.
//! - `writer`: the batching task.
//! - `sites`: the sites' relay (issue 20): a site's messages as its devices' own.
//! - `site_links`: each site's link as this hub sees it (connected, relayed, lag).

mod observe;
mod parse;
mod presence;
mod queue;
mod site_links;
mod sites;
mod writer;

pub use presence::{Attachment, Attachments, MOVE_GRACE_MS};
pub use queue::IngestCounters;
pub use site_links::{SiteLinkStatus, SiteLinks};
pub use sites::{RECEIVED_AT_PROPERTY, RelayCounters, SITE_FILTERS, SiteRelay};

/// A device went online or offline (after the change was stored).
/// A device's connection began or ended: the part of a [`ClientEvent`] presence needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DeviceConnection {
    pub device: Arc<str>,
    /// Unique per connection: a takeover's late disconnect carries the old number.
    pub connection: u64,
    pub connected: bool,
}

impl DeviceConnection {
    /// The device connection in `event`, if a device's.
    pub(crate) fn from_event(event: ClientEvent) -> Option<DeviceConnection> {
        (event.principal.kind == PrincipalKind::Device).then_some(DeviceConnection {
            device: event.principal.name,
            connection: event.connection,
            connected: event.connected,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresenceEvent {
    pub device: Arc<str>,
    pub online: bool,
}

/// A device's data or event message, after the batch holding it was committed (what
/// automations react to: a trigger never fires on a reading the history lacks).
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceReport {
    pub device: Arc<str>,
    /// `Data` or `Event`; other kinds are not reported.
    pub kind: hearth_model::MessageKind,
    /// The device's time of the report (`ts`, within the skew window) or its receive time.
    pub received_at_ms: hearth_model::Millis,
    /// The payload as JSON (messages that are not JSON objects are not reported).
    pub payload: Arc<serde_json::Value>,
    /// Made more than [`LATE_REPORT_MS`] before it arrived (an agent's queued reading,
    /// sent after the hub was away): history, but not a reason to act now. Automations
    /// and alerts ignore late reports (a doorbell press from an hour ago must not open
    /// the door now, nor an old reading replace the current one they compare with).
    pub late: bool,
}

/// How much older than its arrival a report (by its `ts`) may be and still count as
/// happening now; beyond it the report is [`DeviceReport::late`].
pub const LATE_REPORT_MS: hearth_model::Millis = 60_000;

use hearth_bus::{Bus, BusError, ClientEvent, PrincipalKind};
use hearth_store::{Store, StoreError};
use std::sync::Arc;
use tokio::sync::{Notify, broadcast, mpsc};

/// Reports a slow receiver may fall behind by before it loses some: several of the
/// largest batches (`max_batch`, 20,000 by default), which arrive at once after a
/// commit; less lost reports whenever a batch was full.
pub const REPORTS_CAPACITY: usize = 65_536;

/// Ingest settings (`[ingest]` in hearth.toml).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IngestConfig {
    /// Most messages in one transaction.
    pub max_batch: usize,
    /// QoS 0 messages waiting beyond this are dropped (counted); QoS 1/2 are bounded by
    /// the broker's receive maximum instead.
    pub max_qos0_backlog: usize,
    /// A device that is not connected itself is offline after this long without data
    /// or heartbeat, unless it has its own `heartbeat_timeout_secs`.
    pub heartbeat_timeout_secs: u32,
    /// Publish presence changes retained on `devices/{id}/status`.
    pub publish_presence: bool,
    /// A data, event or heartbeat payload's `ts` (the device's time of the reading) is
    /// honoured up to this far in the past: an agent that was offline for a day sends
    /// its queued readings with their own times. Older is stored at the receive time
    /// and flagged (`ts_clamped`).
    pub max_past_secs: u64,
    /// Likewise into the future (a device clock running ahead).
    pub max_future_secs: u64,
}

impl Default for IngestConfig {
    fn default() -> IngestConfig {
        IngestConfig {
            max_batch: 20_000,
            max_qos0_backlog: 100_000,
            heartbeat_timeout_secs: 120,
            publish_presence: true,
            max_past_secs: 7 * 86_400,
            max_future_secs: 60,
        }
    }
}

/// What one ingest does with the device messages it is shown (issue 21).
///
/// A single hub is [`IngestRole::Full`]. Nodes that share an external broker split the
/// devices' messages through a shared subscription, so none of them sees a whole
/// device: each stores its share ([`IngestRole::Store`]), and the one node holding the
/// coordinator lease also watches all of them ([`IngestRole::Observe`]) to keep
/// presence and feed the automation and alert engines, which need every message of a
/// device to be right (a heartbeat timeout, a threshold's edge).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IngestRole {
    /// Stores messages, keeps presence, announces reports: one hub.
    #[default]
    Full,
    /// Stores messages and live values, acknowledged after the commit; no presence and
    /// no presence events (they would be each node's partial view).
    Store,
    /// Keeps presence and announces reports of every message it is shown (from a plain
    /// subscription, nothing to acknowledge), storing only presence changes.
    Observe,
}

/// Why ingest could not start.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Bus(#[from] BusError),
}

/// The running ingest: a handle on its one writer task, cheap to clone (the shape every
/// service of the hub has). Dropping it leaves the writer running; call
/// [`Ingest::shutdown`] to flush and stop, for every clone.
#[derive(Clone)]
pub struct Ingest {
    queue: Arc<queue::IngestQueue>,
    stop: Arc<Notify>,
    /// The writer, taken by the first `shutdown`.
    task: Arc<parking_lot::Mutex<Option<tokio::task::JoinHandle<()>>>>,
    /// An observer's subscription reader, aborted (unsubscribing) at shutdown.
    watcher: Arc<parking_lot::Mutex<Option<tokio::task::JoinHandle<()>>>>,
    presence: broadcast::Sender<PresenceEvent>,
    reports: broadcast::Sender<DeviceReport>,
    /// `max_past_secs` and `max_future_secs` in ms, for the sites' relay.
    window: (hearth_model::Millis, hearth_model::Millis),
    attachments: Attachments,
}

impl Ingest {
    /// Loads the devices and their last known presence, registers with the bus and
    /// starts the writer. `connections` are the broker's [`ClientEvent`]s
    /// ([`Bus::client_events`], taken before the broker starts so that none is missed);
    /// those of devices make presence.
    pub async fn start(
        store: Arc<dyn Store>,
        bus: Arc<dyn Bus>,
        connections: Option<mpsc::UnboundedReceiver<ClientEvent>>,
        config: IngestConfig,
    ) -> Result<Ingest, IngestError> {
        Ingest::start_as(store, bus, connections, config, IngestRole::Full).await
    }

    /// [`Ingest::start`] in a given role. [`IngestRole::Observe`] takes its messages
    /// from a plain subscription to `devices/+/+` (every message, none to acknowledge)
    /// instead of intercepting them; it stops watching when [`Ingest::shutdown`] is
    /// called.
    pub async fn start_as(
        store: Arc<dyn Store>,
        bus: Arc<dyn Bus>,
        connections: Option<mpsc::UnboundedReceiver<ClientEvent>>,
        config: IngestConfig,
        role: IngestRole,
    ) -> Result<Ingest, IngestError> {
        let counters = Arc::new(IngestCounters::default());
        let queue = Arc::new(queue::IngestQueue::new(
            config.max_qos0_backlog,
            counters.clone(),
        ));
        let stop = Arc::new(Notify::new());
        let window = (
            config.max_past_secs.saturating_mul(1000) as hearth_model::Millis,
            config.max_future_secs.saturating_mul(1000) as hearth_model::Millis,
        );
        // Receivers that fall behind get `Lagged` and re-read the store.
        let (presence, _) = broadcast::channel(1024);
        // Bounded like presence: a receiver that falls behind gets `Lagged` (the engine
        // counts it) rather than slowing the writer.
        let (reports, _) = broadcast::channel(REPORTS_CAPACITY);
        let attachments = Attachments::default();
        let writer = writer::Writer::load(
            store,
            bus.clone(),
            queue.clone(),
            connections,
            config,
            writer::Outputs {
                presence_events: presence.clone(),
                reports: reports.clone(),
                attachments: attachments.clone(),
            },
            role,
        )
        .await?;
        let watcher = match role {
            IngestRole::Observe => {
                let subscription = bus.subscribe("devices/+/+").await?;
                Some(tokio::spawn(observe::feed(subscription, queue.clone())))
            }
            IngestRole::Full | IngestRole::Store => {
                bus.intercept("devices/+/+", queue.clone())?;
                None
            }
        };
        let task = tokio::spawn(writer.run(stop.clone()));
        Ok(Ingest {
            queue,
            stop,
            task: Arc::new(parking_lot::Mutex::new(Some(task))),
            watcher: Arc::new(parking_lot::Mutex::new(watcher)),
            presence,
            reports,
            window,
            attachments,
        })
    }

    /// Where each online device is attached (issue 20: its own connection, or its
    /// site), as of the last committed batch.
    pub fn attachments(&self) -> Attachments {
        self.attachments.clone()
    }

    /// The interceptor the broker shows `devices/+/+` to, for other interceptors that
    /// hand it messages in Hearth's form (the topic layouts' translator) with their
    /// publisher's ack token.
    pub fn interceptor(&self) -> Arc<dyn hearth_bus::Interceptor> {
        self.queue.clone()
    }

    pub fn counters(&self) -> &Arc<IngestCounters> {
        &self.queue.counters
    }

    /// Presence changes as they are stored (commands wait for devices to come back).
    pub fn presence_events(&self) -> broadcast::Receiver<PresenceEvent> {
        self.presence.subscribe()
    }

    /// Data and event messages as they are committed, for automations.
    pub fn reports(&self) -> broadcast::Receiver<DeviceReport> {
        self.reports.subscribe()
    }

    /// Messages waiting for the writer (ingest lag, for metrics).
    pub fn backlog(&self) -> usize {
        self.queue.len()
    }

    /// [`Ingest::backlog`] as a function that outlives this handle (for `/metrics`).
    pub fn backlog_probe(&self) -> Arc<dyn Fn() -> usize + Send + Sync> {
        let queue = self.queue.clone();
        Arc::new(move || queue.len())
    }

    /// Writes what is queued, stops the writer and waits for it.
    pub async fn shutdown(&self) {
        if let Some(watcher) = self.watcher.lock().take() {
            watcher.abort();
        }
        self.stop.notify_one();
        let task = self.task.lock().take();
        if let Some(task) = task
            && let Err(error) = task.await
        {
            tracing::error!("the ingest writer failed: {error}");
        }
    }
}
