//! The connection: one task per device that owns the MQTT event loop, logs in with a
//! will, announces itself, subscribes to its commands, sends heartbeats, and reconnects
//! with jittered back-off, moving between its hubs when it has several (`route.rs`);
//! [`DeviceClient`] is the cheap, cloneable handle to it.

use crate::command::{Command, Commands};
use crate::config::{DeviceConfig, Endpoint, SplitMix};
use crate::route::{self, Route, mqtt_options, probe_result, sleep_until};
use crate::{DeviceError, now_millis};
use hearth_model::DeviceId;
use hearth_model::topic::{self, TopicKind};
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::{Packet, Publish};
use rumqttc::v5::{AsyncClient, ConnectionError, Event, EventLoop, Request};
use serde_json::{Map, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot, watch};

/// Where the link to the hub stands, as a [`watch`] so that a caller can wait for a
/// change (the agent queues readings on disk while it is not `Connected`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectionState {
    /// Logging in for the first time.
    Connecting,
    /// Logged in, subscribed to its commands.
    Connected,
    /// The link was lost or the hub could not be reached; retrying after a back-off.
    /// The text says why.
    Disconnected(String),
    /// The hub refused the login (bad id or secret, revoked): retrying after a back-off
    /// too, since a secret may be restored, but the caller may prefer to stop.
    Refused(String),
    /// Deliberately off the air for a while ([`DeviceClient::go_offline`]).
    Offline,
    /// Stopped for good ([`DeviceClient::shutdown`] or every handle dropped).
    Closed,
}

enum Control {
    GoOffline(Duration),
    Shutdown,
}

/// A device's handle to its connection. Clones share the connection; it stops when
/// [`DeviceClient::shutdown`] is called or the last clone is dropped.
#[derive(Clone)]
pub struct DeviceClient {
    inner: Arc<Inner>,
}

struct Inner {
    id: DeviceId,
    mqtt: AsyncClient,
    state: watch::Receiver<ConnectionState>,
    control: mpsc::UnboundedSender<Control>,
    heartbeat_fields: Arc<Mutex<Map<String, Value>>>,
    endpoint: Arc<AtomicUsize>,
}

impl DeviceClient {
    /// Starts connecting (in a task) and returns at once with the handle and the stream
    /// of commands. The will is `offline` on `devices/{id}/status`, retained, QoS 1; at
    /// every successful login the device subscribes to `devices/{id}/commands/#` and
    /// publishes a retained `online` there. Use [`DeviceClient::wait_connected`] to wait
    /// for the first login.
    pub fn connect(config: DeviceConfig) -> (DeviceClient, Commands) {
        let endpoints = config.endpoints();
        let options = mqtt_options(&config, &endpoints[0]);
        let (mqtt, events) = AsyncClient::new(options, config.queue.max(4));
        let (state_tx, state) = watch::channel(ConnectionState::Connecting);
        let (control, control_rx) = mpsc::unbounded_channel();
        let (commands_tx, rx) = mpsc::unbounded_channel();
        let heartbeat_fields = Arc::new(Mutex::new(Map::new()));
        let endpoint = Arc::new(AtomicUsize::new(0));
        let task = Connection {
            route: Route::new(endpoints.len()),
            endpoints,
            endpoint: endpoint.clone(),
            carried: Vec::new(),
            probe_at: None,
            probe: None,
            config,
            mqtt: mqtt.clone(),
            events,
            state: state_tx,
            control: control_rx,
            commands: commands_tx,
            heartbeat_fields: heartbeat_fields.clone(),
            started: Instant::now(),
        };
        let id = task.config.id.clone();
        tokio::spawn(task.run());
        let client = DeviceClient {
            inner: Arc::new(Inner {
                id,
                mqtt,
                state,
                control,
                heartbeat_fields,
                endpoint,
            }),
        };
        (client, Commands { rx })
    }

    /// The endpoint in use or being tried, as an index into
    /// [`DeviceConfig::endpoints`] (0: the preferred hub).
    pub fn endpoint(&self) -> usize {
        self.inner.endpoint.load(Ordering::Relaxed)
    }

    /// The device id.
    pub fn id(&self) -> &DeviceId {
        &self.inner.id
    }

    /// The link's state now.
    pub fn state(&self) -> ConnectionState {
        self.inner.state.borrow().clone()
    }

    /// Whether the device is logged in now.
    pub fn is_connected(&self) -> bool {
        *self.inner.state.borrow() == ConnectionState::Connected
    }

    /// A receiver of every change of state (`changed().await`), for callers that act
    /// on connects and disconnects.
    pub fn state_changes(&self) -> watch::Receiver<ConnectionState> {
        self.inner.state.clone()
    }

    /// Waits until the device is logged in; `Err(Closed)` if it stopped first. No
    /// deadline of its own: wrap it in `tokio::time::timeout`.
    pub async fn wait_connected(&self) -> Result<(), DeviceError> {
        let mut changes = self.state_changes();
        let result = changes
            .wait_for(|state| matches!(state, ConnectionState::Connected | ConnectionState::Closed))
            .await;
        match result.as_deref() {
            Ok(ConnectionState::Connected) => Ok(()),
            _ => Err(DeviceError::Closed),
        }
    }

    /// Publishes readings on `devices/{id}/data` (QoS 1), e.g.
    /// `{"temperature": 21.5}`.
    pub async fn publish_data(&self, readings: Value) -> Result<(), DeviceError> {
        self.publish(TopicKind::Data, readings, false).await
    }

    /// [`DeviceClient::publish_data`] with the time the readings were taken (`ts`, epoch
    /// milliseconds, added to the object): for readings sent late, from a queue.
    pub async fn publish_data_at(&self, readings: Value, ts_ms: u64) -> Result<(), DeviceError> {
        self.publish(TopicKind::Data, with_ts(readings, ts_ms)?, false)
            .await
    }

    /// Publishes an event on `devices/{id}/events` (QoS 1), e.g.
    /// `{"type": "button", "action": "press"}`.
    pub async fn publish_event(&self, event: Value) -> Result<(), DeviceError> {
        self.publish(TopicKind::Events, event, false).await
    }

    /// [`DeviceClient::publish_event`] with the time it happened (`ts`, epoch ms).
    pub async fn publish_event_at(&self, event: Value, ts_ms: u64) -> Result<(), DeviceError> {
        self.publish(TopicKind::Events, with_ts(event, ts_ms)?, false)
            .await
    }

    /// Sends a heartbeat now: the fields set with [`DeviceClient::set_heartbeat_field`]
    /// and `uptime_s`. The connection task sends one every `heartbeat_secs` by itself.
    pub async fn heartbeat(&self) -> Result<(), DeviceError> {
        let body = self.heartbeat_body();
        self.publish(TopicKind::Heartbeat, body, false).await
    }

    /// Adds or replaces a field of every heartbeat (`firmware`, `ip`, `rssi`...): how a
    /// device reports its firmware version after an update.
    pub fn set_heartbeat_field(&self, name: &str, value: Value) {
        if let Ok(mut fields) = self.inner.heartbeat_fields.lock() {
            fields.insert(name.to_owned(), value);
        }
    }

    /// Publishes a camera's snapshot (JPEG bytes) on `devices/{id}/snapshot`, retained
    /// (QoS 1), so that a page opened later shows the latest one. The hub keeps no
    /// history of snapshots; the broker refuses a packet over its `max_packet_size`
    /// (1 MiB by default, docs/cameras.md).
    pub async fn publish_snapshot(&self, jpeg: Vec<u8>) -> Result<(), DeviceError> {
        if !self.is_connected() {
            return Err(DeviceError::NotConnected);
        }
        self.inner
            .mqtt
            .publish(
                topic::snapshot(&self.inner.id),
                QoS::AtLeastOnce,
                true,
                jpeg,
            )
            .await
            .map_err(|_| DeviceError::Closed)
    }

    /// Declares the device's capabilities (`hearth_model::capability`, a JSON list such as
    /// `[{"type": "switch"}, {"type": "dimmer"}]`) on `devices/{id}/capabilities`,
    /// retained (QoS 1): the web app draws the device's controls from it unless the
    /// registry's metadata declares them. Not history; ingest leaves the topic alone.
    pub async fn publish_capabilities(&self, capabilities: Value) -> Result<(), DeviceError> {
        if !self.is_connected() {
            return Err(DeviceError::NotConnected);
        }
        let topic = hearth_model::capability::capabilities_topic(&self.inner.id);
        self.inner
            .mqtt
            .publish(topic, QoS::AtLeastOnce, true, capabilities.to_string())
            .await
            .map_err(|_| DeviceError::Closed)
    }

    /// Publishes a status (retained): `online`, `offline`, or a JSON status object.
    pub async fn publish_status(&self, status: Value) -> Result<(), DeviceError> {
        self.publish(TopicKind::Status, status, true).await
    }

    /// Drops the link without a DISCONNECT, as a device losing power does (so the hub
    /// publishes its will and marks it offline), stays away for `period`, then
    /// reconnects.
    pub fn go_offline(&self, period: Duration) {
        let _ = self.inner.control.send(Control::GoOffline(period));
    }

    /// Says `offline` (retained), disconnects cleanly, and stops the connection task;
    /// waits until it has stopped.
    pub async fn shutdown(&self) {
        let _ = self.inner.control.send(Control::Shutdown);
        let mut changes = self.state_changes();
        let _ = changes
            .wait_for(|state| *state == ConnectionState::Closed)
            .await;
    }

    fn heartbeat_body(&self) -> Value {
        let body = self
            .inner
            .heartbeat_fields
            .lock()
            .map(|fields| fields.clone())
            .unwrap_or_default();
        Value::Object(body)
    }

    async fn publish(
        &self,
        kind: TopicKind<'_>,
        body: Value,
        retain: bool,
    ) -> Result<(), DeviceError> {
        if !self.is_connected() {
            return Err(DeviceError::NotConnected);
        }
        let topic = topic::device_topic(&self.inner.id, kind);
        let payload = match body {
            Value::String(text) => text,
            other => other.to_string(),
        };
        self.inner
            .mqtt
            .publish(topic, QoS::AtLeastOnce, retain, payload)
            .await
            .map_err(|_| DeviceError::Closed)
    }
}

fn with_ts(body: Value, ts_ms: u64) -> Result<Value, DeviceError> {
    match body {
        Value::Object(mut map) => {
            map.insert("ts".into(), Value::from(ts_ms));
            Ok(Value::Object(map))
        }
        _ => Err(DeviceError::NotAnObject),
    }
}

/// The task behind a [`DeviceClient`].
struct Connection {
    config: DeviceConfig,
    mqtt: AsyncClient,
    events: EventLoop,
    state: watch::Sender<ConnectionState>,
    control: mpsc::UnboundedReceiver<Control>,
    commands: mpsc::UnboundedSender<Command>,
    heartbeat_fields: Arc<Mutex<Map<String, Value>>>,
    started: Instant,
    endpoints: Vec<Endpoint>,
    route: Route,
    /// Shared with the handles: the index of the endpoint in use.
    endpoint: Arc<AtomicUsize>,
    /// Readings a lost connection never had acknowledged, sent first on the next.
    carried: Vec<Publish>,
    /// When to probe the preferred endpoints next (while on a less preferred one).
    probe_at: Option<tokio::time::Instant>,
    /// A probe under way: the first preferred endpoint that answered, if any.
    probe: Option<oneshot::Receiver<Option<usize>>>,
}

impl Connection {
    async fn run(mut self) {
        let mut random = SplitMix::from_text(self.config.id.as_str(), now_millis());
        let heartbeat_every = Duration::from_secs(self.config.heartbeat_secs.max(1));
        let mut heartbeat = tokio::time::interval(heartbeat_every);
        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let connected = *self.state.borrow() == ConnectionState::Connected;
            let may_probe = connected && self.route.may_return() && self.probe.is_none();
            tokio::select! {
                control = self.control.recv() => match control {
                    Some(Control::GoOffline(period)) => {
                        // Dropping the socket without DISCONNECT: the hub sends the will.
                        self.events.clean();
                        self.events.pending.clear();
                        self.carried.clear();
                        self.state.send_replace(ConnectionState::Offline);
                        if !self.pause(period).await {
                            break;
                        }
                    }
                    Some(Control::Shutdown) | None => {
                        self.goodbye(connected).await;
                        break;
                    }
                },
                _ = heartbeat.tick(), if connected && self.config.heartbeat_secs > 0 => {
                    self.send_heartbeat();
                }
                _ = sleep_until(self.probe_at), if may_probe => self.start_probe(),
                found = probe_result(&mut self.probe) => {
                    self.probe = None;
                    match found {
                        Some(index) => self.move_back(index).await,
                        None => self.schedule_probe(&mut random),
                    }
                }
                event = self.events.poll() => match event {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        self.route.connected();
                        // What the last hub never acknowledged goes first.
                        let carried = std::mem::take(&mut self.carried);
                        self.events
                            .pending
                            .extend(carried.into_iter().map(Request::Publish));
                        self.on_connected();
                        heartbeat.reset();
                        self.schedule_probe(&mut random);
                    }
                    Ok(Event::Incoming(Packet::Publish(publish))) => self.on_publish(publish),
                    Ok(_) => {}
                    Err(error) => {
                        let state = match &error {
                            ConnectionError::ConnectionRefused(code) => {
                                ConnectionState::Refused(format!("{code:?}"))
                            }
                            other => ConnectionState::Disconnected(other.to_string()),
                        };
                        tracing::debug!(device = %self.config.id, %error, "connection lost");
                        self.state.send_replace(state);
                        // Of what was queued for the lost session only unacknowledged
                        // readings go on the next one (wherever it is).
                        self.carry_pending();
                        self.probe = None;
                        self.probe_at = None;
                        let before = self.route.current();
                        let (next, delay) =
                            self.route.failed(&self.config.backoff, random.next_f64());
                        if next != before {
                            self.use_endpoint(next);
                        }
                        if !self.pause(delay).await {
                            break;
                        }
                    }
                },
            }
        }
        self.state.send_replace(ConnectionState::Closed);
    }

    /// Keeps the reports of the lost session worth sending on the next one (bounded
    /// by what the client could hold: its queue and its publishes in flight).
    fn carry_pending(&mut self) {
        let pending = std::mem::take(&mut self.events.pending);
        self.carried.extend(route::carry_over(pending));
        let most = self.config.queue.max(4) + usize::from(self.config.inflight.max(1));
        if self.carried.len() > most {
            let extra = self.carried.len() - most;
            self.carried.drain(..extra);
        }
    }

    /// The next connection goes to endpoint `index`.
    fn use_endpoint(&mut self, index: usize) {
        let endpoint = &self.endpoints[index];
        tracing::info!(
            device = %self.config.id,
            host = %endpoint.host,
            port = endpoint.port,
            "moving to another hub"
        );
        self.events.options = mqtt_options(&self.config, endpoint);
        self.endpoint.store(index, Ordering::Relaxed);
    }

    /// Plans the next probe of the preferred endpoints, if the device is on a less
    /// preferred one.
    fn schedule_probe(&mut self, random: &mut SplitMix) {
        self.probe_at = self.route.may_return().then(|| {
            let wait = self
                .route
                .probe_delay(self.config.return_probe, random.next_f64());
            tokio::time::Instant::now() + wait
        });
    }

    /// Probes the endpoints preferred to the current one, in a task of its own.
    fn start_probe(&mut self) {
        let targets = self.endpoints[..self.route.current()]
            .iter()
            .map(|endpoint| (endpoint.host.clone(), endpoint.port))
            .collect();
        let (found, result) = oneshot::channel();
        tokio::spawn(async move {
            let _ = found.send(route::probe(targets).await);
        });
        self.probe = Some(result);
        self.probe_at = None;
    }

    /// A preferred endpoint answered: lets the hub in use acknowledge what is in
    /// flight (a few seconds at most), leaves it cleanly (DISCONNECT: no will, the
    /// device is not gone), and connects to `index`. Should that fail, the device moves
    /// on down its list as after any failure.
    async fn move_back(&mut self, index: usize) {
        // Polling again after an error would reconnect here (and a new session drops
        // what the lost one left pending), so an error ends each wait at once.
        let lost = tokio::time::timeout(Duration::from_secs(2), async {
            while self.events.state.inflight() > 0 {
                match self.events.poll().await {
                    Ok(Event::Incoming(Packet::Publish(publish))) => self.on_publish(publish),
                    Ok(_) => {}
                    Err(_) => return true,
                }
            }
            false
        })
        .await
        .unwrap_or(false);
        self.state.send_replace(ConnectionState::Disconnected(
            "moving back to a preferred hub".into(),
        ));
        if !lost {
            let _ = self.mqtt.try_disconnect();
            let _ = tokio::time::timeout(Duration::from_secs(1), async {
                loop {
                    match self.events.poll().await {
                        Ok(Event::Outgoing(rumqttc::Outgoing::Disconnect)) | Err(_) => break,
                        // A command that came meanwhile is still the device's to act on.
                        Ok(Event::Incoming(Packet::Publish(publish))) => self.on_publish(publish),
                        Ok(_) => {}
                    }
                }
            })
            .await;
        }
        self.events.clean();
        self.carry_pending();
        self.route.return_to(index);
        self.use_endpoint(index);
    }

    /// Waits `period` off the air; `false` when told to shut down meanwhile.
    async fn pause(&mut self, period: Duration) -> bool {
        let sleep = tokio::time::sleep(period);
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                _ = &mut sleep => return true,
                control = self.control.recv() => match control {
                    Some(Control::GoOffline(_)) => {}
                    Some(Control::Shutdown) | None => return false,
                },
            }
        }
    }

    fn on_connected(&mut self) {
        let id = self.config.id.clone();
        let mqtt = self.mqtt.clone();
        let announce = self.config.announce_status;
        self.state.send_replace(ConnectionState::Connected);
        tracing::debug!(device = %id, "connected");
        // Through the request queue, from a task: the event loop (this task) is what
        // empties it, so waiting for room here could wait forever.
        tokio::spawn(async move {
            let filter = format!("{}/{}/commands/#", topic::DEVICES, id.as_str());
            let _ = mqtt.subscribe(filter, QoS::AtLeastOnce).await;
            if announce {
                let _ = mqtt
                    .publish(topic::status(&id), QoS::AtLeastOnce, true, "online")
                    .await;
            }
        });
    }

    fn on_publish(&mut self, publish: rumqttc::v5::mqttbytes::v5::Publish) {
        let Ok(name) = std::str::from_utf8(&publish.topic) else {
            return;
        };
        let Some(parsed) = topic::parse(name) else {
            return;
        };
        let TopicKind::Command { name } = parsed.kind else {
            // Our own answers come back on commands/+/ack: not orders.
            return;
        };
        if parsed.device != self.config.id.as_str() {
            return;
        }
        let params: Value = serde_json::from_slice(&publish.payload).unwrap_or(Value::Null);
        let correlation = publish
            .properties
            .as_ref()
            .and_then(|properties| properties.correlation_data.clone());
        let id = params
            .get("id")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .or_else(|| {
                correlation
                    .as_ref()
                    .and_then(|data| std::str::from_utf8(data).ok())
                    .map(str::to_owned)
            });
        let command = Command {
            name: name.to_owned(),
            id,
            params,
            correlation,
            ack_topic: topic::command_ack(&self.config.id, name),
            mqtt: self.mqtt.clone(),
        };
        let _ = self.commands.send(command);
    }

    fn send_heartbeat(&mut self) {
        let mut body = self
            .heartbeat_fields
            .lock()
            .map(|fields| fields.clone())
            .unwrap_or_default();
        body.insert(
            "uptime_s".into(),
            Value::from(self.started.elapsed().as_secs()),
        );
        let topic = topic::device_topic(&self.config.id, TopicKind::Heartbeat);
        // Skipped rather than waited for when the queue is full: a heartbeat is only
        // news while it is fresh.
        let _ = self.mqtt.try_publish(
            topic,
            QoS::AtMostOnce,
            false,
            Value::Object(body).to_string(),
        );
    }

    /// A clean goodbye: retained `offline`, DISCONNECT (no will), within a second.
    async fn goodbye(&mut self, connected: bool) {
        if !connected {
            return;
        }
        if self.config.announce_status {
            let _ = self.mqtt.try_publish(
                topic::status(&self.config.id),
                QoS::AtLeastOnce,
                true,
                "offline",
            );
        }
        let _ = self.mqtt.try_disconnect();
        let _ = tokio::time::timeout(Duration::from_secs(1), async {
            loop {
                match self.events.poll().await {
                    Ok(Event::Outgoing(rumqttc::Outgoing::Disconnect)) | Err(_) => break,
                    Ok(_) => {}
                }
            }
        })
        .await;
    }
}
