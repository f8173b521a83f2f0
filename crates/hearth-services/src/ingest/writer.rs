//! The ingest writer: one task that batches, commits, then acknowledges.

use super::DeviceConnection;
use super::parse;
use super::presence::{Attachments, Change, Presence};
use super::queue::{IngestQueue, Item};
use super::{IngestConfig, IngestError, IngestRole};
use crate::auth::RateLimitedLog;
use hearth_bus::ClientEvent;
use hearth_bus::{AckToken, Bus};
use hearth_model::{
    DeviceId, DevicePresence, MessageKind, Millis, Point, StatusChange, now_millis,
};
use hearth_store::{DeviceFilter, IngestBatch, LiveUpdate, NewMessage, Store};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::sync::{Notify, mpsc};

/// How often the writer looks for registry changes (devices added, disabled, or given
/// another timeout).
const DIRECTORY_POLL: Duration = Duration::from_secs(1);

/// Least time between two registry reloads caused by unknown ids (an admin publishing
/// for ids that do not exist must not cost a query per batch).
const FORCED_REFRESH: Duration = Duration::from_millis(100);

/// Longest `device_status` kept (a status payload is meant to be small).
const MAX_STATUS_LEN: usize = 1024;

/// What the writer needs to know about a registered device.
#[derive(Debug, Clone)]
struct DeviceInfo {
    /// Kept so that each message costs a reference-count bump, not a validated copy.
    id: DeviceId,
    enabled: bool,
    timeout_ms: Millis,
    /// The site that relays it (issue 20): its presence may move between that site
    /// and its own connection here.
    site: Option<Arc<str>>,
}

/// Where the writer tells others what it decided, after each commit.
pub(super) struct Outputs {
    pub presence_events: tokio::sync::broadcast::Sender<super::PresenceEvent>,
    pub reports: tokio::sync::broadcast::Sender<super::DeviceReport>,
    pub attachments: Attachments,
}

pub(super) struct Writer {
    store: Arc<dyn Store>,
    bus: Arc<dyn Bus>,
    queue: Arc<IngestQueue>,
    connections: Option<mpsc::UnboundedReceiver<ClientEvent>>,
    config: IngestConfig,
    devices: HashMap<Arc<str>, DeviceInfo>,
    directory_seq: i64,
    presence: Presence,
    started_ms: Millis,
    unknown_log: RateLimitedLog,
    /// When an unknown id last made the writer re-read the registry.
    last_forced_refresh: Option<std::time::Instant>,
    presence_events: tokio::sync::broadcast::Sender<super::PresenceEvent>,
    /// Data and event messages announced after their batch is committed.
    reports: tokio::sync::broadcast::Sender<super::DeviceReport>,
    /// Per batch: what goes to `reports` once committed.
    batch_reports: Vec<super::DeviceReport>,
    /// Per batch: the newest (by device time) JSON-object data payload of each device.
    last_data: HashMap<Arc<str>, (Millis, bytes::Bytes)>,
    /// Where each online device is attached (issue 20), for the commands' route.
    attachments: Attachments,
    /// Per batch: site devices whose `offline` was overruled (announced `online` again).
    overruled: Vec<Arc<str>>,
    /// What of a batch this writer commits (issue 21).
    role: IngestRole,
}

impl Writer {
    pub async fn load(
        store: Arc<dyn Store>,
        bus: Arc<dyn Bus>,
        queue: Arc<IngestQueue>,
        connections: Option<mpsc::UnboundedReceiver<ClientEvent>>,
        config: IngestConfig,
        outputs: Outputs,
        role: IngestRole,
    ) -> Result<Writer, IngestError> {
        let Outputs {
            presence_events,
            reports,
            attachments,
        } = outputs;
        let mut writer = Writer {
            store,
            bus,
            queue,
            connections,
            config,
            devices: HashMap::new(),
            directory_seq: -1,
            presence: Presence::default(),
            started_ms: now_millis(),
            unknown_log: RateLimitedLog::default(),
            last_forced_refresh: None,
            presence_events,
            reports,
            batch_reports: Vec::new(),
            last_data: HashMap::new(),
            attachments,
            overruled: Vec::new(),
            role,
        };
        writer.refresh_directory().await?;
        // Devices the store last saw online stay online until their timeout runs out
        // from their last sighting, unless they reconnect first.
        let online = writer
            .store
            .devices(&DeviceFilter {
                online: Some(true),
                ..DeviceFilter::default()
            })
            .await?;
        for device in online {
            let id: Arc<str> = device.id.as_str().into();
            let timeout_ms = writer.timeout_ms(&id);
            let last_seen = device.live.last_seen_ms.unwrap_or(writer.started_ms);
            writer.presence.restore(&id, last_seen, timeout_ms);
        }
        Ok(writer)
    }

    fn timeout_ms(&self, device: &str) -> Millis {
        self.devices.get(device).map_or(
            Millis::from(self.config.heartbeat_timeout_secs) * 1000,
            |info| info.timeout_ms,
        )
    }

    async fn refresh_directory(&mut self) -> Result<(), IngestError> {
        let seq = self.store.last_audit_seq().await?;
        if seq == self.directory_seq {
            return Ok(());
        }
        let default_ms = Millis::from(self.config.heartbeat_timeout_secs) * 1000;
        let devices = self.store.devices(&DeviceFilter::default()).await?;
        let previous = std::mem::take(&mut self.devices);
        for device in devices {
            let timeout_ms = device
                .heartbeat_timeout_secs
                .map_or(default_ms, |secs| Millis::from(secs) * 1000);
            self.devices.insert(
                device.id.as_str().into(),
                DeviceInfo {
                    id: device.id.clone(),
                    enabled: device.enabled,
                    timeout_ms,
                    site: device.site.as_ref().map(|site| Arc::from(site.as_str())),
                },
            );
        }
        for gone in previous.keys().filter(|id| !self.devices.contains_key(*id)) {
            self.presence.forget(gone);
            self.attachments.write().remove(gone);
        }
        self.directory_seq = seq;
        Ok(())
    }

    pub async fn run(mut self, stop: Arc<Notify>) {
        let mut directory_tick = tokio::time::interval(DIRECTORY_POLL);
        directory_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut pending_connections = Vec::new();
        let mut stopping = false;
        loop {
            if self.queue.is_empty() && !stopping {
                let next_deadline = self.presence.next_deadline().map(|deadline_ms| {
                    let wait = (deadline_ms - now_millis()).max(0) as u64;
                    tokio::time::Instant::now() + Duration::from_millis(wait)
                });
                tokio::select! {
                    _ = self.queue.ready.notified() => {}
                    Some(event) = recv(&mut self.connections) => {
                        pending_connections.extend(DeviceConnection::from_event(event));
                    }
                    _ = sleep_until(next_deadline) => {}
                    _ = directory_tick.tick() => {
                        if let Err(error) = self.refresh_directory().await {
                            tracing::warn!("ingest could not reload the device list: {error}");
                        }
                    }
                    _ = stop.notified() => stopping = true,
                }
            }
            if let Some(connections) = &mut self.connections {
                while let Ok(event) = connections.try_recv() {
                    pending_connections.extend(DeviceConnection::from_event(event));
                }
            }
            let mut items = Vec::new();
            self.queue.take(self.config.max_batch, &mut items);
            self.write(items, std::mem::take(&mut pending_connections))
                .await;
            if stopping && self.queue.is_empty() {
                return;
            }
        }
    }

    /// Builds one batch from `items`, connection events and due timeouts, commits it,
    /// then acknowledges and announces.
    async fn write(&mut self, items: Vec<Item>, connections: Vec<DeviceConnection>) {
        // A device registered a moment ago (by the CLI, another process) may publish
        // before the periodic reload: an unknown id makes the writer look again before
        // it decides, at most every FORCED_REFRESH.
        let unknown = |item: &&Item| {
            device_topic(&item.topic).is_some_and(|(device, _)| !self.devices.contains_key(device))
        };
        // A registered device's own message must never be dropped as unknown: reload
        // now. Anything else unknown (an admin writing for a made-up id) is throttled.
        let registered_but_unseen = items.iter().filter(unknown).any(|item| item.from_device)
            || connections
                .iter()
                .any(|event| !self.devices.contains_key(&*event.device));
        let has_unknown = items.iter().any(|item| unknown(&item));
        if registered_but_unseen
            || has_unknown
                && self
                    .last_forced_refresh
                    .is_none_or(|at| at.elapsed() >= FORCED_REFRESH)
        {
            self.last_forced_refresh = Some(std::time::Instant::now());
            if let Err(error) = self.refresh_directory().await {
                tracing::warn!("ingest could not reload the device list: {error}");
            }
        }
        let now_ms = now_millis();
        let mut batch = IngestBatch::default();
        let mut live: HashMap<Arc<str>, LiveUpdate> = HashMap::new();
        let mut changes: Vec<Change> = Vec::new();
        let mut tokens: Vec<AckToken> = Vec::with_capacity(items.len());
        let mut bad_json = 0u64;
        for item in items {
            let ack = item.ack;
            let item = Item { ack: None, ..item };
            match self.add_item(&item, now_ms, &mut batch, &mut live, &mut changes) {
                Added::Yes { json_ok } => {
                    bad_json += u64::from(!json_ok);
                    tokens.extend(ack);
                }
                // Not ours to store (unknown device, another topic): acknowledged as
                // the broker would without ingest.
                Added::No => {
                    if let Some(token) = ack {
                        token.accept();
                    }
                }
            }
        }
        for (device, (at_ms, payload)) in self.last_data.drain() {
            let update = live.entry(device).or_default();
            update.last_report_data = Some(String::from_utf8_lossy(&payload).into_owned());
            update.last_report_ms = Some(at_ms);
        }
        for event in connections {
            let Some(info) = self.devices.get(&*event.device).cloned() else {
                continue;
            };
            let change = if event.connected {
                live.entry(event.device.clone()).or_default().last_seen_ms = Some(now_ms);
                self.presence
                    .connected(&event.device, event.connection, now_ms, info.timeout_ms)
            } else {
                self.presence
                    .disconnected(&event.device, event.connection, now_ms, info.grace())
            };
            changes.extend(change);
        }
        changes.extend(self.presence.expire(now_ms, self.started_ms));
        if self.role == IngestRole::Store {
            // Presence is the coordinator's, which sees every message of a device.
            changes.clear();
        }
        for change in &changes {
            let Ok(device) = DeviceId::new(&change.device) else {
                continue;
            };
            batch.status_changes.push(StatusChange {
                device,
                at_ms: change.at_ms,
                online: change.online,
                reason: change.reason,
            });
            live.entry(change.device.clone()).or_default().is_online = Some(change.online);
        }
        batch.live = live
            .into_iter()
            .filter_map(|(device, mut update)| {
                update.device = Some(DeviceId::new(&device).ok()?);
                Some(update)
            })
            .collect();
        if self.role == IngestRole::Observe {
            super::observe::keep_presence_only(&mut batch);
        }
        if batch.is_empty() {
            // Observed messages that changed no presence are still reported.
            for report in self.batch_reports.drain(..) {
                let _ = self.reports.send(report);
            }
            return;
        }
        let n_messages = batch.messages.len() as u64;
        let started = std::time::Instant::now();
        let written = self.store.write_batch(&batch).await;
        self.queue
            .counters
            .commit_micros
            .fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
        match written {
            Ok(()) => {
                let counters = &self.queue.counters;
                counters.stored.fetch_add(n_messages, Ordering::Relaxed);
                counters.bad_json.fetch_add(bad_json, Ordering::Relaxed);
                counters.batches.fetch_add(1, Ordering::Relaxed);
                counters
                    .presence_changes
                    .fetch_add(changes.len() as u64, Ordering::Relaxed);
                drop(batch);
                for token in tokens {
                    token.accept();
                }
                // Nobody listening (no engine) costs nothing but the drain.
                for report in self.batch_reports.drain(..) {
                    let _ = self.reports.send(report);
                }
                for change in &changes {
                    let _ = self.presence_events.send(super::PresenceEvent {
                        device: change.device.clone(),
                        online: change.online,
                    });
                }
                self.publish_moves();
                if self.config.publish_presence {
                    self.announce(&changes).await;
                }
                self.overruled.clear();
            }
            Err(error) => {
                self.batch_reports.clear();
                self.overruled.clear();
                // Presence moved on in memory; the attachments follow it.
                self.publish_moves();
                // Dropping the tokens refuses the QoS 1/2 messages (PUBACK 0x80 on v5,
                // a closed connection on 3.x): their devices send them again.
                self.queue
                    .counters
                    .failed_batches
                    .fetch_add(1, Ordering::Relaxed);
                tracing::error!(
                    messages = n_messages,
                    "ingest could not store a batch; its QoS 1/2 messages were refused: {error}"
                );
            }
        }
    }

    /// Adds one message to the batch, with its points, its live-state update and the
    /// presence change it causes.
    fn add_item(
        &mut self,
        item: &Item,
        now_ms: Millis,
        batch: &mut IngestBatch,
        live: &mut HashMap<Arc<str>, LiveUpdate>,
        changes: &mut Vec<Change>,
    ) -> Added {
        let Some((device, kind)) = device_topic(&item.topic) else {
            return Added::No;
        };
        let info = match self.devices.get_key_value(device) {
            Some((id, info)) if info.enabled => (id.clone(), info.clone()),
            other => {
                self.queue
                    .counters
                    .unknown_device
                    .fetch_add(1, Ordering::Relaxed);
                let why = if other.is_some() {
                    "disabled"
                } else {
                    "unknown"
                };
                self.unknown_log.warn(|suppressed| {
                    tracing::warn!(
                        device,
                        suppressed,
                        "message from an {why} device not ingested"
                    )
                });
                return Added::No;
            }
        };
        let (id, info) = info;
        let device_id = info.id.clone();
        let json = parse::json(&item.payload);
        // Presence and `last_seen` go by the receive time (at home, for a site's
        // message); history by the device's.
        let seen_ms = item.origin_ms.unwrap_or(item.received_at_ms);
        let device_time = match (&json, kind) {
            (Some(value), MessageKind::Data | MessageKind::Event | MessageKind::Heartbeat) => {
                parse::device_time(
                    value,
                    seen_ms,
                    self.config.max_past_secs.saturating_mul(1000) as Millis,
                    self.config.max_future_secs.saturating_mul(1000) as Millis,
                )
            }
            _ => parse::DeviceTime::Absent,
        };
        let (at_ms, ts_clamped) = match device_time {
            parse::DeviceTime::At(at_ms) => (at_ms, false),
            parse::DeviceTime::Absent => (seen_ms, item.origin_clamped),
            parse::DeviceTime::Clamped => (seen_ms, true),
        };
        let update = live.entry(id.clone()).or_default();
        update.last_seen_ms = Some(seen_ms);
        let mut json_ok = json.is_some();
        let change = match kind {
            MessageKind::Data => {
                if let Some(value) = &json {
                    let reading = parse::data_reading(value);
                    batch
                        .points
                        .extend(reading.metrics.into_iter().map(|(metric, value)| Point {
                            device: device_id.clone(),
                            metric,
                            at_ms,
                            value,
                        }));
                    if reading.object {
                        // Only the newest per device is kept: copied out after the loop
                        // (and the store keeps it only if newer than what it has).
                        let newer = self
                            .last_data
                            .get(&id)
                            .is_none_or(|(newest_ms, _)| at_ms >= *newest_ms);
                        if newer {
                            self.last_data
                                .insert(id.clone(), (at_ms, item.payload.clone()));
                        }
                    }
                }
                self.seen(&id, &info, item, seen_ms, now_ms)
            }
            MessageKind::Heartbeat => {
                // An empty heartbeat is a heartbeat, not bad JSON.
                json_ok |= item.payload.is_empty();
                update.last_heartbeat_ms = Some(seen_ms);
                self.seen(&id, &info, item, seen_ms, now_ms)
            }
            MessageKind::Event => self.seen(&id, &info, item, seen_ms, now_ms),
            MessageKind::Status => {
                let presence = DevicePresence::from_status_payload(&item.payload);
                // `online` / `offline` as plain words are what the protocol asks for.
                json_ok |= presence.is_some();
                let text = String::from_utf8_lossy(&item.payload);
                let mut status = text.trim().to_owned();
                if status.len() > MAX_STATUS_LEN {
                    let mut cut = MAX_STATUS_LEN;
                    while !status.is_char_boundary(cut) {
                        cut -= 1;
                    }
                    status.truncate(cut);
                }
                update.device_status = Some(status);
                match (presence, &item.site) {
                    (Some(DevicePresence::Offline), Some(_)) => {
                        self.presence.site_offline(&id, seen_ms, now_ms)
                    }
                    (Some(DevicePresence::Offline), None) => {
                        self.presence.offline(&id, now_ms, info.grace())
                    }
                    _ => self.seen(&id, &info, item, seen_ms, now_ms),
                }
            }
        };
        changes.extend(change);
        let said_offline = kind == MessageKind::Status
            && DevicePresence::from_status_payload(&item.payload) == Some(DevicePresence::Offline);
        if said_offline && info.site.is_some() && self.presence.is_online(&id) {
            // Its retained status here now says what the message said (the relay's
            // live copy, or its will): say again where presence stands.
            self.overruled.push(id.clone());
        }
        if matches!(kind, MessageKind::Data | MessageKind::Event)
            && self.reports.receiver_count() > 0
            && let Some(value) = json.filter(|value| value.is_object())
        {
            self.batch_reports.push(super::DeviceReport {
                device: id.clone(),
                kind,
                received_at_ms: at_ms,
                payload: Arc::new(value),
                // Late by this hub's clock: a site's backlog is history, not news.
                late: at_ms < item.received_at_ms - super::LATE_REPORT_MS,
            });
        }
        batch.messages.push(NewMessage {
            device: device_id,
            kind,
            received_at_ms: at_ms,
            payload: item.payload.clone(),
            json_ok,
            ts_clamped,
        });
        if ts_clamped {
            self.queue
                .counters
                .ts_clamped
                .fetch_add(1, Ordering::Relaxed);
        }
        Added::Yes { json_ok }
    }
}

async fn recv(
    connections: &mut Option<mpsc::UnboundedReceiver<ClientEvent>>,
) -> Option<ClientEvent> {
    match connections {
        Some(receiver) => receiver.recv().await,
        None => std::future::pending().await,
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// Whether a message went into the batch.
enum Added {
    Yes { json_ok: bool },
    No,
}

/// A device report (`devices/{id}/{data|status|heartbeat|events}`) split into the id
/// and the kind; the command topics under the same prefix are not history.
fn device_topic(topic: &str) -> Option<(&str, MessageKind)> {
    let parsed = hearth_model::topic::parse(topic)?;
    Some((parsed.device, parsed.kind.message_kind()?))
}

// Devices that move (issue 20): presence from a site's relay or the device's own
// connection, the attachments, `online` said again when an `offline` was overruled.
#[path = "writer_moves.rs"]
mod moves;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_topics_name_the_device_and_the_kind() {
        assert_eq!(
            device_topic("devices/d1/data"),
            Some(("d1", MessageKind::Data))
        );
        assert_eq!(
            device_topic("devices/d1/events"),
            Some(("d1", MessageKind::Event))
        );
        assert_eq!(
            device_topic("devices/d1/status"),
            Some(("d1", MessageKind::Status))
        );
        assert_eq!(device_topic("devices/d1/commands"), None);
        assert_eq!(device_topic("devices/d1/command-status"), None);
        assert_eq!(device_topic("devices/d1/commands/relay/ack"), None);
        assert_eq!(device_topic("devices/d1"), None);
        assert_eq!(device_topic("other/d1/data"), None);
    }
}
