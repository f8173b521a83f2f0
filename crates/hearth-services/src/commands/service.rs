//! [`Commands`]: the handle, its configuration and errors, and [`record_new`], which
//! the CLI shares.

use super::worker::{Event, Worker};
use crate::ingest::PresenceEvent;
use hearth_bus::{AckToken, Bus, Envelope, Interceptor};
use hearth_model::{Command, CommandStatus, DeviceId, Millis, now_millis, topic};
use hearth_store::{Store, StoreError};
use parking_lot::Mutex;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::task::JoinHandle;

/// `[commands]` in hearth.toml.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CommandConfig {
    /// How long a sent command waits for the device's answer.
    pub ack_timeout_secs: u32,
    /// How long a command for an offline device waits for it, unless the caller says.
    pub default_ttl_secs: u32,
}

impl Default for CommandConfig {
    fn default() -> CommandConfig {
        CommandConfig {
            ack_timeout_secs: 10,
            default_ttl_secs: 3_600,
        }
    }
}

/// Why a command was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The service was shut down.
    #[error("the commands service is stopped")]
    Stopped,
}

/// What the commands service did and what went wrong, for `/metrics`. Outcomes count
/// stored transitions only; failures count every store or bus operation that did not
/// happen (each is also logged).
#[derive(Debug, Default)]
pub struct CommandCounters {
    pub sent: AtomicU64,
    pub acked: AtomicU64,
    pub failed: AtomicU64,
    pub timeout: AtomicU64,
    /// Store reads and writes that failed (the step is retried, never announced).
    pub store_failures: AtomicU64,
    /// Commands or status announcements the bus refused.
    pub publish_failures: AtomicU64,
    /// Deadlines the task is waiting for now: one per open command (a gauge).
    pub armed_deadlines: AtomicU64,
    /// Writes that found another status than the one last seen: another node (or the
    /// CLI) had changed the command first, and its version was taken instead.
    pub superseded: AtomicU64,
}

/// How the hub runs the commands service: decided by the hub, not configured.
#[derive(Clone, Default)]
pub struct CommandOptions {
    /// Asked before each delivery: devices with a topic layout get their commands in
    /// their own form.
    pub encoder: Option<Arc<dyn super::CommandEncoder>>,
    /// Other Hearth nodes share this store, each with its own commands service, and a
    /// device's answer may reach any of them (external-broker mode, docs/scale.md
    /// "Commands across nodes"). A command is then claimed in the store before it is
    /// published, so that it goes out once (a node that stops between claim and
    /// publish leaves it to time out), and each adoption tick delivers what is pending
    /// for devices the store says are online, since presence events may reach another
    /// node only. Off, a command is published and then recorded, as on one hub.
    /// Either way every status change is a compare and set on the status last seen,
    /// and changes others stored reach [`Commands::outcomes`] within a second.
    pub cluster: bool,
}

/// A command as a caller asks for it, before it is checked and recorded.
#[derive(Debug)]
pub(super) struct NewCommand {
    pub issued_by: String,
    pub device: DeviceId,
    pub name: String,
    pub params: Value,
    pub ttl_secs: Option<u32>,
}

/// Longest TTL a caller may ask for.
const MAX_TTL_SECS: u32 = 7 * 86_400;

/// The commands service: a handle on its one task. Cheap to clone; [`Commands::shutdown`]
/// stops the task for every clone.
#[derive(Clone)]
pub struct Commands {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn Store>,
    /// To the task. Unbounded: sends are as many as API requests and answers as many as
    /// commands sent, both paced by the hub itself, and the interceptor cannot wait.
    events: mpsc::UnboundedSender<Event>,
    counters: Arc<CommandCounters>,
    /// Every stored change of a command, as announced on the bus: automations wait on
    /// it for the outcome of the commands they send, without a bus subscription. With
    /// other nodes on the store, also the changes they stored to commands this service
    /// held (outcomes of answers that reached another node), as this service learns of
    /// them: at its next write or adoption tick.
    outcomes: broadcast::Sender<Command>,
    /// The task, taken by the first `shutdown`.
    task: Mutex<Option<JoinHandle<()>>>,
}

/// Sees answers on `devices/+/commands/+/ack` before the broker acknowledges them and
/// hands them to the task.
struct AnswerInterceptor {
    events: mpsc::UnboundedSender<Event>,
}

impl Interceptor for AnswerInterceptor {
    fn intercept(&self, message: &Envelope, ack: Option<AckToken>) {
        // After shutdown the token is dropped, which refuses the answer: the device
        // resends it to the next run.
        let _ = self.events.send(Event::Answer {
            topic: message.topic.clone(),
            payload: message.payload.clone(),
            correlation: message.correlation_data.clone(),
            ack,
        });
    }
}

impl Commands {
    /// Picks up the commands left open by the last run, registers the answer
    /// interceptor and starts the task. `presence` tells it when devices come back
    /// (from ingest).
    pub async fn start(
        store: Arc<dyn Store>,
        bus: Arc<dyn Bus>,
        presence: broadcast::Receiver<PresenceEvent>,
        config: CommandConfig,
    ) -> Result<Commands, CommandError> {
        Commands::start_with_options(store, bus, presence, config, CommandOptions::default()).await
    }

    /// [`Commands::start`] with an `encoder` asked before each delivery (devices with a
    /// topic layout get their commands in their own form).
    pub async fn start_with_encoder(
        store: Arc<dyn Store>,
        bus: Arc<dyn Bus>,
        presence: broadcast::Receiver<PresenceEvent>,
        config: CommandConfig,
        encoder: Option<Arc<dyn super::CommandEncoder>>,
    ) -> Result<Commands, CommandError> {
        let options = CommandOptions {
            encoder,
            cluster: false,
        };
        Commands::start_with_options(store, bus, presence, config, options).await
    }

    /// [`Commands::start`] with [`CommandOptions`]: an encoder, and whether other
    /// Hearth nodes share the store.
    pub async fn start_with_options(
        store: Arc<dyn Store>,
        bus: Arc<dyn Bus>,
        presence: broadcast::Receiver<PresenceEvent>,
        config: CommandConfig,
        options: CommandOptions,
    ) -> Result<Commands, CommandError> {
        let open = store.open_commands().await?;
        let (events, events_rx) = mpsc::unbounded_channel();
        bus.intercept(
            topic::ACKS_FILTER,
            Arc::new(AnswerInterceptor {
                events: events.clone(),
            }),
        )
        .map_err(|error| CommandError::Invalid {
            field: "bus",
            message: error.to_string(),
        })?;
        let counters = Arc::new(CommandCounters::default());
        let (outcomes, _) = broadcast::channel(4096);
        let worker = Worker::new(
            store.clone(),
            bus,
            config,
            counters.clone(),
            outcomes.clone(),
            open,
            options,
        );
        let task = tokio::spawn(worker.run(events_rx, presence));
        Ok(Commands {
            inner: Arc::new(Inner {
                store,
                events,
                counters,
                outcomes,
                task: Mutex::new(Some(task)),
            }),
        })
    }

    pub fn counters(&self) -> &CommandCounters {
        &self.inner.counters
    }

    /// Commands as each change of theirs is stored (pending, sent, then final). A change
    /// another node stored to a command this service held comes once this service
    /// learns of it: within a second (its adoption tick).
    pub fn outcomes(&self) -> broadcast::Receiver<Command> {
        self.inner.outcomes.subscribe()
    }

    /// How many deadlines the task holds: one per open command, in one ordered set.
    pub fn armed_deadlines(&self) -> u64 {
        self.inner.counters.armed_deadlines.load(Ordering::Relaxed)
    }

    /// Sends `name` with `params` to `device` on behalf of `issued_by`; returns the
    /// command as recorded (pending, or sent if the device was online).
    pub async fn send(
        &self,
        issued_by: &str,
        device: &DeviceId,
        name: &str,
        params: Value,
        ttl_secs: Option<u32>,
    ) -> Result<Command, CommandError> {
        let (reply, answer) = oneshot::channel();
        let request = NewCommand {
            issued_by: issued_by.to_owned(),
            device: device.clone(),
            name: name.to_owned(),
            params,
            ttl_secs,
        };
        self.inner
            .events
            .send(Event::Send { request, reply })
            .map_err(|_| CommandError::Stopped)?;
        answer.await.map_err(|_| CommandError::Stopped)?
    }

    /// A device's answer relayed by its site (issue 20): `topic` is the device's own
    /// `devices/{id}/commands/{name}/ack`, `message` what the site published; `ack` is
    /// completed when the answer is stored, as for a device's own.
    pub fn answer(&self, topic: &str, message: &Envelope, ack: Option<AckToken>) {
        let _ = self.inner.events.send(Event::Answer {
            topic: topic.into(),
            payload: message.payload.clone(),
            correlation: message.correlation_data.clone(),
            ack,
        });
    }

    /// A foreign acknowledgement (a message on a layout's `ack` rule): the device's
    /// oldest command in flight is acked, with `state` (what the device reported) as
    /// its reported state. Such devices cannot name the command they answer, so the
    /// oldest sent one is the one answered.
    pub fn foreign_ack(&self, device: &str, state: Option<Value>) {
        let _ = self.inner.events.send(Event::ForeignAck {
            device: device.into(),
            state,
        });
    }

    /// A command by id (from the store: final ones too).
    pub async fn get(&self, id: &str) -> Result<Command, CommandError> {
        Ok(self.inner.store.command(id).await?)
    }

    /// A device's commands, newest first.
    pub async fn list(&self, device: &DeviceId, limit: u32) -> Result<Vec<Command>, CommandError> {
        Ok(self.inner.store.commands(device, limit).await?)
    }

    /// Stops the task after what was queued before and waits for it. Commands still open
    /// stay in the store, and the next run picks them up.
    pub async fn shutdown(&self) {
        let _ = self.inner.events.send(Event::Stop);
        let task = self.inner.task.lock().take();
        if let Some(task) = task
            && let Err(error) = task.await
        {
            tracing::error!("the commands task failed: {error}");
        }
    }
}

/// Checks and records a new `pending` command in the store; returns it and whether the
/// device is online now. The service calls this before delivering; the CLI (another
/// process) calls it alone, and a running hub adopts the command from the store (see
/// [`Commands::start`]).
pub async fn record_new(
    store: &dyn Store,
    config: &CommandConfig,
    issued_by: &str,
    device: &DeviceId,
    name: &str,
    params: Value,
    ttl_secs: Option<u32>,
) -> Result<(Command, bool), CommandError> {
    check_name(name)?;
    let mut params = match params {
        Value::Null => json!({}),
        object @ Value::Object(_) => object,
        _ => {
            return Err(CommandError::Invalid {
                field: "params",
                message: "must be a JSON object".into(),
            });
        }
    };
    let ttl_secs = ttl_secs.unwrap_or(config.default_ttl_secs);
    if ttl_secs == 0 || ttl_secs > MAX_TTL_SECS {
        return Err(CommandError::Invalid {
            field: "ttl_secs",
            message: format!("must be between 1 and {MAX_TTL_SECS} seconds"),
        });
    }
    let target = store.device(device).await?;
    if !target.enabled {
        return Err(CommandError::Invalid {
            field: "device",
            message: format!("device {device} is disabled"),
        });
    }
    let now_ms = now_millis();
    let id = crate::secret::random_string(16);
    if let Value::Object(map) = &mut params {
        map.insert("id".into(), Value::String(id.clone()));
    }
    let command = Command {
        id,
        device: device.clone(),
        name: name.to_owned(),
        params,
        issued_by: issued_by.to_owned(),
        status: CommandStatus::Pending,
        result: None,
        reported_state: None,
        created_at_ms: now_ms,
        sent_at_ms: None,
        finished_at_ms: None,
        expires_at_ms: now_ms + Millis::from(ttl_secs) * 1000,
        ack_timeout_ms: Millis::from(config.ack_timeout_secs) * 1000,
    };
    store.insert_command(&command).await?;
    Ok((command, target.live.is_online))
}

fn check_name(name: &str) -> Result<(), CommandError> {
    let ok = !name.is_empty()
        && name.len() <= 32
        && name != "ack"
        && name
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_');
    if ok {
        Ok(())
    } else {
        Err(CommandError::Invalid {
            field: "name",
            message: format!(
                "{name:?} is not a command name: 1-32 letters, digits, '-' or '_' (and not \"ack\")"
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_names_are_single_topic_levels() {
        for good in ["relay", "set_brightness", "open-door", "Reboot2"] {
            assert!(check_name(good).is_ok(), "{good}");
        }
        for bad in ["", "a/b", "+", "#", "ack", "with space", &"x".repeat(33)] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }
}
