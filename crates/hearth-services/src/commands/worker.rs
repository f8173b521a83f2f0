//! The commands task: one task owns every open command and one ordered set of
//! deadlines, so that status changes are serialized without locks and a command waiting
//! days for its device costs one map entry and one set entry, not a task or a timer.
//!
//! The working set only ever holds what the store holds: a change is written first and
//! applied and announced only once the write succeeded. A failed write is logged and
//! counted and leaves the command as it was, to be tried again (a timeout or a delivery
//! after [`RETRY_MS`], an answer when the device resends it: its PUBACK is refused).
//! Every write is a compare and set on the status the task last saw, so that a task
//! sharing its database with other Hearth nodes never overwrites what another stored
//! (see `shared`).

mod shared;

use super::service::{
    CommandConfig, CommandCounters, CommandError, CommandOptions, NewCommand, record_new,
};
use crate::ingest::PresenceEvent;
use hearth_bus::{AckToken, Bus, Envelope, Qos};
use hearth_model::topic::{self, TopicKind};
use hearth_model::{Command, CommandStatus, DeviceId, Millis, now_millis};
use hearth_store::Store;
use serde_json::{Value, json};
use shared::Write;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::sync::{broadcast, mpsc, oneshot};

/// How often the store is read for commands another process (the CLI, another node)
/// recorded or finished.
const ADOPT_INTERVAL: Duration = Duration::from_secs(1);

/// How long after a failed write (or a failed read of the device) the step is retried.
pub(super) const RETRY_MS: Millis = 1_000;

/// How many times an answer is applied to a command that other nodes keep changing
/// before it is refused (the device sends it again).
const MAX_ANSWER_ATTEMPTS: usize = 3;

/// What reaches the task.
pub(super) enum Event {
    /// A command to record; the reply is the command as stored and announced (and
    /// delivered, if the device is online). Recorded by the task itself, so that the
    /// adopt loop can never take it for one that another process recorded.
    Send {
        request: NewCommand,
        reply: oneshot::Sender<Result<Command, CommandError>>,
    },
    /// A device's answer on `devices/{id}/commands/{name}/ack`, not yet acknowledged.
    Answer {
        topic: Arc<str>,
        payload: bytes::Bytes,
        correlation: Option<bytes::Bytes>,
        ack: Option<AckToken>,
    },
    /// A foreign device's acknowledgement: its oldest sent command is acked.
    ForeignAck {
        device: Arc<str>,
        state: Option<Value>,
    },
    /// Stop after what is queued before this.
    Stop,
}

/// A command not yet final and the one deadline it is waiting for.
struct Open {
    command: Command,
    deadline_ms: Millis,
}

pub(super) struct Worker {
    store: Arc<dyn Store>,
    bus: Arc<dyn Bus>,
    config: CommandConfig,
    counters: Arc<CommandCounters>,
    /// Stored changes, for in-process listeners (automations).
    outcomes: broadcast::Sender<Command>,
    open: HashMap<String, Open>,
    /// Every open command's deadline, soonest first: the task sleeps until the first.
    deadlines: BTreeSet<(Millis, String)>,
    /// Puts commands in the form of devices with a topic layout.
    encoder: Option<Arc<dyn super::CommandEncoder>>,
    /// Other Hearth nodes share the store and run a task like this one: a command is
    /// claimed in the store before it is published (see `shared`).
    cluster: bool,
    /// The device the last cluster-mode round of online checks stopped at (see
    /// `shared`).
    online_cursor: Option<DeviceId>,
}

impl Worker {
    /// A task state holding the commands the store says are open.
    pub fn new(
        store: Arc<dyn Store>,
        bus: Arc<dyn Bus>,
        config: CommandConfig,
        counters: Arc<CommandCounters>,
        outcomes: broadcast::Sender<Command>,
        open: Vec<Command>,
        options: CommandOptions,
    ) -> Worker {
        let mut worker = Worker {
            store,
            bus,
            config,
            counters,
            outcomes,
            open: HashMap::new(),
            deadlines: BTreeSet::new(),
            encoder: options.encoder,
            cluster: options.cluster,
            online_cursor: None,
        };
        for command in open {
            worker.put(command);
        }
        worker
    }

    pub async fn run(
        mut self,
        mut events: mpsc::UnboundedReceiver<Event>,
        mut presence: broadcast::Receiver<PresenceEvent>,
    ) {
        let mut adopt = tokio::time::interval(ADOPT_INTERVAL);
        adopt.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        adopt.tick().await;
        let mut presence_open = true;
        loop {
            self.counters
                .armed_deadlines
                .store(self.deadlines.len() as u64, Ordering::Relaxed);
            let next = self.deadlines.first().map(|(deadline, _)| *deadline);
            tokio::select! {
                event = events.recv() => match event {
                    Some(Event::Send { request, reply }) => {
                        let _ = reply.send(self.send(request).await);
                    }
                    Some(Event::Answer { topic, payload, correlation, ack }) => {
                        let stored = self.answer(&topic, &payload, correlation.as_deref()).await;
                        // Acknowledged once the outcome is stored (or there was nothing to
                        // store); refused otherwise, so that the device sends it again.
                        if stored && let Some(token) = ack {
                            token.accept();
                        }
                    }
                    Some(Event::ForeignAck { device, state }) => {
                        self.foreign_ack(&device, state).await;
                    }
                    Some(Event::Stop) | None => return,
                },
                event = presence.recv(), if presence_open => match event {
                    Ok(event) if event.online => self.device_online(&event.device).await,
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Lagged(_)) => self.recheck_pending().await,
                    Err(broadcast::error::RecvError::Closed) => presence_open = false,
                },
                _ = adopt.tick() => self.adopt_stored().await,
                _ = sleep_until(next) => self.due(now_millis()).await,
            }
        }
    }

    /// The deadline a command's status waits for: its expiry while pending, the end of
    /// the acknowledgement window once sent.
    fn natural_deadline(command: &Command) -> Option<Millis> {
        match command.status {
            CommandStatus::Pending => Some(command.expires_at_ms),
            CommandStatus::Sent => {
                Some(command.sent_at_ms.unwrap_or(command.created_at_ms) + command.ack_timeout_ms)
            }
            _ => None,
        }
    }

    fn arm(&mut self, id: &str, deadline_ms: Millis) {
        let Some(open) = self.open.get_mut(id) else {
            return;
        };
        self.deadlines.remove(&(open.deadline_ms, id.to_owned()));
        open.deadline_ms = deadline_ms;
        self.deadlines.insert((deadline_ms, id.to_owned()));
    }

    /// Takes a stored version of a command into the working set (or out of it, once final).
    fn put(&mut self, command: Command) {
        let id = command.id.clone();
        match Worker::natural_deadline(&command) {
            None => {
                if let Some(open) = self.open.remove(&id) {
                    self.deadlines.remove(&(open.deadline_ms, id));
                }
            }
            Some(deadline_ms) => {
                let previous = self.open.insert(
                    id.clone(),
                    Open {
                        command,
                        deadline_ms,
                    },
                );
                if let Some(previous) = previous {
                    self.deadlines.remove(&(previous.deadline_ms, id.clone()));
                }
                self.deadlines.insert((deadline_ms, id));
            }
        }
    }

    /// Stores a changed command if the store still holds it as `expected` (the status
    /// this task last saw); only then takes it into the working set and announces it.
    /// `true` when stored, and when another node had changed it first (its version is
    /// taken instead, see [`Worker::write`]); `false` when the store refused (logged,
    /// counted, nothing changed).
    async fn commit(&mut self, command: Command, expected: CommandStatus) -> bool {
        match self.write(&command, expected).await {
            Write::Stored => {
                self.stored(command).await;
                true
            }
            Write::Superseded(_) => true,
            Write::Failed => false,
        }
    }

    /// Counts, announces and takes in a change the store took.
    async fn stored(&mut self, command: Command) {
        let counter = match command.status {
            CommandStatus::Sent => Some(&self.counters.sent),
            CommandStatus::Acked => Some(&self.counters.acked),
            CommandStatus::Failed => Some(&self.counters.failed),
            CommandStatus::Timeout => Some(&self.counters.timeout),
            CommandStatus::Pending => None,
        };
        if let Some(counter) = counter {
            counter.fetch_add(1, Ordering::Relaxed);
        }
        self.announce(&command).await;
        self.put(command);
    }

    /// Publishes a stored command on `devices/{id}/command-status`.
    async fn announce(&self, command: &Command) {
        let _ = self.outcomes.send(command.clone());
        let json = match serde_json::to_string(command) {
            Ok(json) => json,
            Err(error) => {
                self.counters
                    .publish_failures
                    .fetch_add(1, Ordering::Relaxed);
                tracing::error!(command = %command.id, "command status not encoded: {error}");
                return;
            }
        };
        let envelope =
            Envelope::new(topic::command_status(&command.device), json).with_qos(Qos::AtLeastOnce);
        if let Err(error) = self.bus.publish(envelope).await {
            self.counters
                .publish_failures
                .fetch_add(1, Ordering::Relaxed);
            tracing::warn!(command = %command.id, "command status not announced: {error}");
        }
    }

    /// Records a new command, announces it as pending and delivers it if the device is
    /// online.
    async fn send(&mut self, request: NewCommand) -> Result<Command, CommandError> {
        let recorded = record_new(
            self.store.as_ref(),
            &self.config,
            &request.issued_by,
            &request.device,
            &request.name,
            request.params,
            request.ttl_secs,
        )
        .await;
        let (command, online) = match recorded {
            Ok(recorded) => recorded,
            Err(CommandError::Store(error)) => {
                if !matches!(error, hearth_store::StoreError::NotFound { .. }) {
                    self.counters.store_failures.fetch_add(1, Ordering::Relaxed);
                }
                return Err(CommandError::Store(error));
            }
            Err(error) => return Err(error),
        };
        let id = command.id.clone();
        self.announce(&command).await;
        self.put(command.clone());
        if online {
            self.deliver(&id).await;
        }
        Ok(self
            .open
            .get(&id)
            .map(|open| open.command.clone())
            .unwrap_or(command))
    }

    /// Whether the store says the device is online; `None` (logged, counted) when it
    /// could not be read.
    async fn is_online(&self, device: &DeviceId) -> Option<bool> {
        match self.store.device(device).await {
            Ok(found) => Some(found.live.is_online),
            Err(hearth_store::StoreError::NotFound { .. }) => Some(false),
            Err(error) => {
                self.counters.store_failures.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(%device, "device not read for its commands: {error}");
                None
            }
        }
    }

    /// Publishes a pending command, then records it as sent. If that record fails the
    /// command stays pending and is published again after [`RETRY_MS`] (a device may see
    /// a command twice, as QoS 1 allows; it carries its id). With other nodes on the
    /// store the order is the other way round (see [`Worker::claim_and_publish`]).
    async fn deliver(&mut self, id: &str) {
        let Some(command) = self
            .open
            .get(id)
            .map(|open| &open.command)
            .filter(|command| command.status == CommandStatus::Pending)
            .cloned()
        else {
            return;
        };
        let envelope = match self.envelope(&command) {
            Ok(envelope) => envelope,
            Err(reason) => {
                let mut failed = command.clone();
                failed.status = CommandStatus::Failed;
                failed.result = Some(json!({ "reason": reason }));
                failed.finished_at_ms = Some(now_millis());
                if !self.commit(failed, CommandStatus::Pending).await {
                    self.retry(&command);
                }
                return;
            }
        };
        let mut sent = command.clone();
        sent.status = CommandStatus::Sent;
        sent.sent_at_ms = Some(now_millis());
        if self.cluster {
            self.claim_and_publish(command, sent, envelope).await;
            return;
        }
        if !self.publish_command(&command, envelope).await {
            self.retry(&command);
            return;
        }
        if !self.commit(sent, CommandStatus::Pending).await {
            self.retry(&command);
        }
    }

    /// Publishes a command's envelope; `false` (logged, counted) when the bus refused.
    async fn publish_command(&self, command: &Command, envelope: Envelope) -> bool {
        match self.bus.publish(envelope).await {
            Ok(()) => true,
            Err(error) => {
                self.counters
                    .publish_failures
                    .fetch_add(1, Ordering::Relaxed);
                tracing::warn!(command = %command.id, "command not published: {error}");
                false
            }
        }
    }

    /// The message that carries `command` to its device: Hearth's topic, a site's, or
    /// the device's own layout. `Err(reason)` when the layout cannot express it.
    fn envelope(&self, command: &Command) -> Result<Envelope, String> {
        let site = self
            .encoder
            .as_ref()
            .and_then(|encoder| encoder.site_of(command.device.as_str()));
        let encoded = match site {
            // A site's device gets Hearth's form through the site; its home applies
            // the device's own layout.
            Some(_) => None,
            None => self
                .encoder
                .as_ref()
                .and_then(|encoder| encoder.encode(command)),
        };
        let mut envelope = match encoded {
            None => {
                let (topic, ack_topic) = (
                    topic::command(&command.device, &command.name),
                    topic::command_ack(&command.device, &command.name),
                );
                let (topic, ack_topic) = match &site {
                    Some(site) => (
                        topic::site_topic(site, &topic),
                        topic::site_topic(site, &ack_topic),
                    ),
                    None => (topic, ack_topic),
                };
                let mut envelope = Envelope::new(topic.as_str(), command.params.to_string())
                    .with_qos(Qos::AtLeastOnce);
                envelope.response_topic = Some(ack_topic.into());
                envelope.content_type = Some("application/json".into());
                envelope
            }
            Some(Ok(rendered)) => {
                let mut envelope =
                    Envelope::new(rendered.topic, rendered.payload).with_qos(Qos::AtLeastOnce);
                if rendered.json {
                    envelope.content_type = Some("application/json".into());
                }
                envelope
            }
            Some(Err(reason)) => return Err(reason),
        };
        envelope.correlation_data = Some(bytes::Bytes::from(command.id.clone()));
        Ok(envelope)
    }

    /// Tries a failed step again soon, but never past the command's own deadline.
    fn retry(&mut self, command: &Command) {
        let natural = Worker::natural_deadline(command).unwrap_or(Millis::MAX);
        self.arm(&command.id, natural.min(now_millis() + RETRY_MS));
    }

    /// Handles every deadline that has come: timeouts, and delivery retries.
    async fn due(&mut self, now_ms: Millis) {
        while let Some((deadline_ms, id)) = self.deadlines.first().cloned() {
            if deadline_ms > now_ms {
                return;
            }
            let Some(command) = self.open.get(&id).map(|open| open.command.clone()) else {
                self.deadlines.remove(&(deadline_ms, id));
                continue;
            };
            let natural = Worker::natural_deadline(&command).unwrap_or(deadline_ms);
            if now_ms >= natural {
                self.time_out(command).await;
            } else {
                // A retry of a delivery that failed: back to waiting for the expiry, and
                // out now if the device is online.
                self.arm(&id, natural);
                match self.is_online(&command.device).await {
                    Some(true) => self.deliver(&id).await,
                    Some(false) => {}
                    None => self.retry(&command),
                }
            }
        }
    }

    async fn time_out(&mut self, mut command: Command) {
        let reason = match command.status {
            CommandStatus::Pending => "the device did not come online before the command expired",
            _ => "the device did not answer in time",
        };
        let original = command.clone();
        command.status = CommandStatus::Timeout;
        command.result = Some(json!({ "reason": reason }));
        command.finished_at_ms = Some(now_millis());
        if !self.commit(command, original.status).await {
            self.arm(&original.id, now_millis() + RETRY_MS);
        }
    }

    /// Applies a device's answer to the command it names; `false` when it was for an
    /// open command but could not be stored. A command this task does not hold (another
    /// node sent it, or recorded it since the last adoption) is looked up in the store.
    async fn answer(&mut self, topic: &str, payload: &[u8], correlation: Option<&[u8]>) -> bool {
        let Some(parsed) = topic::parse(topic) else {
            return true;
        };
        if !matches!(parsed.kind, TopicKind::CommandAck { .. }) {
            return true;
        }
        let body: Option<Value> = serde_json::from_slice(payload).ok();
        let id = body
            .as_ref()
            .and_then(|body| body.get("id"))
            .and_then(Value::as_str)
            .or_else(|| correlation.and_then(|data| std::str::from_utf8(data).ok()));
        let Some(id) = id else {
            tracing::debug!(
                device = parsed.device,
                "command answer without an id ignored"
            );
            return true;
        };
        let held = self.open.get(id).map(|open| open.command.clone());
        let mut current = match held {
            Some(command) => command,
            None => match self.read_command(id).await {
                Ok(Some(command)) => command,
                Ok(None) => return true,
                Err(()) => return false,
            },
        };
        let body = body.unwrap_or(Value::Null);
        let ok = body.get("ok").and_then(Value::as_bool).unwrap_or(true);
        // Another node may change it between the read and the write (claim it, time it
        // out): then the answer applies to the version it stored, if still open.
        for _ in 0..MAX_ANSWER_ATTEMPTS {
            if current.status.is_final() || current.device.as_str() != parsed.device {
                return true;
            }
            let mut command = current.clone();
            command.status = if ok {
                CommandStatus::Acked
            } else {
                CommandStatus::Failed
            };
            command.result = body
                .get("result")
                .cloned()
                .or_else(|| body.get("error").cloned());
            command.reported_state = body.get("state").cloned();
            command.finished_at_ms = Some(now_millis());
            match self.write(&command, current.status).await {
                Write::Stored => {
                    self.stored(command).await;
                    return true;
                }
                Write::Failed | Write::Superseded(None) => return false,
                Write::Superseded(Some(stored)) => current = *stored,
            }
        }
        false
    }

    /// Acks `device`'s oldest sent command (a foreign device's answer names none).
    async fn foreign_ack(&mut self, device: &str, state: Option<Value>) {
        let Some(mut command) = self
            .open
            .values()
            .map(|open| &open.command)
            .filter(|command| {
                command.device.as_str() == device && command.status == CommandStatus::Sent
            })
            .min_by_key(|command| (command.sent_at_ms, command.created_at_ms))
            .cloned()
        else {
            return;
        };
        command.status = CommandStatus::Acked;
        command.reported_state = state;
        command.finished_at_ms = Some(now_millis());
        // A failed write leaves it sent: the device's next report acks it again, or it
        // times out.
        self.commit(command, CommandStatus::Sent).await;
    }

    async fn device_online(&mut self, device: &str) {
        let pending: Vec<String> = self
            .open
            .values()
            .map(|open| &open.command)
            .filter(|command| {
                command.device.as_str() == device && command.status == CommandStatus::Pending
            })
            .map(|command| command.id.clone())
            .collect();
        for id in pending {
            self.deliver(&id).await;
        }
    }

    /// After missed presence events: delivers what is pending for devices now online.
    async fn recheck_pending(&mut self) {
        let devices: HashSet<DeviceId> = self
            .open
            .values()
            .filter(|open| open.command.status == CommandStatus::Pending)
            .map(|open| open.command.device.clone())
            .collect();
        for device in devices {
            if self.is_online(&device).await == Some(true) {
                self.device_online(device.as_str()).await;
            }
        }
    }
}

/// Sleeps until a wall-clock deadline in [`Millis`], or forever without one.
async fn sleep_until(deadline_ms: Option<Millis>) {
    match deadline_ms {
        Some(deadline_ms) => {
            let wait = (deadline_ms - now_millis()).max(0) as u64;
            tokio::time::sleep(Duration::from_millis(wait)).await;
        }
        None => std::future::pending().await,
    }
}
