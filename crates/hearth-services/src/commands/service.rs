//! [`Commands`]: sending, answers, timeouts.

use crate::ingest::PresenceEvent;
use hearth_bus::{AckToken, Bus, Envelope, Interceptor, Qos};
use hearth_model::{Command, CommandStatus, DeviceId, Millis, now_millis};
use hearth_store::{Store, StoreError};
use parking_lot::Mutex;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;
use tokio::sync::{broadcast, mpsc};

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
}

/// Command outcomes so far, for `/metrics`.
#[derive(Debug, Default)]
pub struct CommandCounters {
    pub sent: AtomicU64,
    pub acked: AtomicU64,
    pub failed: AtomicU64,
    pub timeout: AtomicU64,
}

/// How often the store is read for commands another process (the CLI) recorded.
const ADOPT_INTERVAL: Duration = Duration::from_secs(1);

/// Longest TTL a caller may ask for.
const MAX_TTL_SECS: u32 = 7 * 86_400;

/// The commands service. Cheap to clone.
#[derive(Clone)]
pub struct Commands {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn Store>,
    bus: Arc<dyn Bus>,
    config: CommandConfig,
    /// Commands not yet final, by id: the service's working set (also in the store).
    open: Mutex<HashMap<String, Command>>,
    /// Held through each status change (deliver, answer, timeout), so that a device's
    /// answer arriving while its command is being marked `sent` cannot be overwritten.
    transitions: tokio::sync::Mutex<()>,
    counters: CommandCounters,
}

struct Answer {
    topic: Arc<str>,
    payload: bytes::Bytes,
    correlation: Option<bytes::Bytes>,
    ack: Option<AckToken>,
}

/// Sees answers on `devices/+/commands/+/ack` before the broker acknowledges them.
struct AnswerInterceptor {
    answers: mpsc::UnboundedSender<Answer>,
}

impl Interceptor for AnswerInterceptor {
    fn intercept(&self, message: &Envelope, ack: Option<AckToken>) {
        // Unbounded: answers are as many as commands sent, which the hub itself paces.
        let _ = self.answers.send(Answer {
            topic: message.topic.clone(),
            payload: message.payload.clone(),
            correlation: message.correlation_data.clone(),
            ack,
        });
    }
}

impl Commands {
    /// Picks up the commands left open by the last run, registers the answer
    /// interceptor and starts the service. `presence` tells it when devices come back
    /// (from ingest).
    pub async fn start(
        store: Arc<dyn Store>,
        bus: Arc<dyn Bus>,
        presence: broadcast::Receiver<PresenceEvent>,
        config: CommandConfig,
    ) -> Result<Commands, CommandError> {
        let (answers, answer_rx) = mpsc::unbounded_channel();
        let open: HashMap<String, Command> = store
            .open_commands()
            .await?
            .into_iter()
            .map(|command| (command.id.clone(), command))
            .collect();
        let commands = Commands {
            inner: Arc::new(Inner {
                store,
                bus: bus.clone(),
                config,
                open: Mutex::new(open),
                transitions: tokio::sync::Mutex::new(()),
                counters: CommandCounters::default(),
            }),
        };
        bus.intercept(
            "devices/+/commands/+/ack",
            Arc::new(AnswerInterceptor { answers }),
        )
        .map_err(|error| CommandError::Invalid {
            field: "bus",
            message: error.to_string(),
        })?;
        let restored: Vec<Command> = commands.inner.open.lock().values().cloned().collect();
        for command in restored {
            commands.arm(&command);
        }
        tokio::spawn(commands.clone().answer_loop(answer_rx));
        tokio::spawn(commands.clone().presence_loop(presence));
        tokio::spawn(commands.clone().adopt_loop());
        Ok(commands)
    }

    pub fn counters(&self) -> &CommandCounters {
        &self.inner.counters
    }

    /// Picks up pending commands that another process recorded in the store (`hearth
    /// device command`), and delivers them like its own.
    async fn adopt_loop(self) {
        loop {
            tokio::time::sleep(ADOPT_INTERVAL).await;
            let Ok(stored) = self.inner.store.open_commands().await else {
                continue;
            };
            for command in stored {
                let adopted = {
                    let mut open = self.inner.open.lock();
                    if open.contains_key(&command.id) {
                        false
                    } else {
                        open.insert(command.id.clone(), command.clone());
                        true
                    }
                };
                if !adopted {
                    continue;
                }
                self.arm(&command);
                if command.status == CommandStatus::Pending
                    && let Ok(device) = self.inner.store.device(&command.device).await
                    && device.live.is_online
                {
                    self.deliver(&command.id).await;
                }
            }
        }
    }

    /// Sends `name` with `params` to `device` on behalf of `issued_by`; returns the
    /// command as recorded (pending, or sent if the device was online).
    pub async fn send(
        &self,
        issued_by: &str,
        device: &str,
        name: &str,
        params: Value,
        ttl_secs: Option<u32>,
    ) -> Result<Command, CommandError> {
        let (command, online) = record_new(
            self.inner.store.as_ref(),
            &self.inner.config,
            issued_by,
            device,
            name,
            params,
            ttl_secs,
        )
        .await?;
        // The adopt loop may have seen it in the store first; its entry stands.
        self.inner
            .open
            .lock()
            .entry(command.id.clone())
            .or_insert_with(|| command.clone());
        self.announce(&command).await;
        let command = if online {
            self.deliver(&command.id).await.unwrap_or(command)
        } else {
            command
        };
        self.arm(&command);
        Ok(command)
    }

    /// Publishes a pending command and records it as sent.
    async fn deliver(&self, id: &str) -> Option<Command> {
        let _transition = self.inner.transitions.lock().await;
        let mut command = {
            let open = self.inner.open.lock();
            let command = open.get(id)?;
            if command.status != CommandStatus::Pending {
                return None;
            }
            command.clone()
        };
        let topic = format!("devices/{}/commands/{}", command.device, command.name);
        let mut envelope =
            Envelope::new(topic.as_str(), command.params.to_string()).with_qos(Qos::AtLeastOnce);
        envelope.response_topic = Some(format!("{topic}/ack").into());
        envelope.correlation_data = Some(bytes::Bytes::from(command.id.clone()));
        envelope.content_type = Some("application/json".into());
        if let Err(error) = self.inner.bus.publish(envelope).await {
            tracing::warn!(command = %command.id, "command not published: {error}");
            return None;
        }
        command.status = CommandStatus::Sent;
        command.sent_at_ms = Some(now_millis());
        self.record(command.clone()).await;
        self.arm(&command);
        Some(command)
    }

    /// Stores a changed command, keeps or drops it from the working set, announces it.
    async fn record(&self, command: Command) {
        let counter = match command.status {
            CommandStatus::Sent => Some(&self.inner.counters.sent),
            CommandStatus::Acked => Some(&self.inner.counters.acked),
            CommandStatus::Failed => Some(&self.inner.counters.failed),
            CommandStatus::Timeout => Some(&self.inner.counters.timeout),
            CommandStatus::Pending => None,
        };
        if let Some(counter) = counter {
            counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        if let Err(error) = self.inner.store.update_command(&command).await {
            tracing::error!(command = %command.id, "command status not stored: {error}");
        }
        {
            let mut open = self.inner.open.lock();
            if command.status.is_final() {
                open.remove(&command.id);
            } else {
                open.insert(command.id.clone(), command.clone());
            }
        }
        self.announce(&command).await;
    }

    async fn announce(&self, command: &Command) {
        let Ok(json) = serde_json::to_string(command) else {
            return;
        };
        let envelope = Envelope::new(format!("devices/{}/command-status", command.device), json)
            .with_qos(Qos::AtLeastOnce);
        let _ = self.inner.bus.publish(envelope).await;
    }

    /// Schedules the timeout that applies to the command's current status.
    fn arm(&self, command: &Command) {
        let deadline_ms = match command.status {
            CommandStatus::Pending => command.expires_at_ms,
            CommandStatus::Sent => {
                command.sent_at_ms.unwrap_or(command.created_at_ms) + command.ack_timeout_ms
            }
            _ => return,
        };
        let status = command.status;
        let id = command.id.clone();
        let service = self.clone();
        tokio::spawn(async move {
            let wait = (deadline_ms - now_millis()).max(0) as u64;
            tokio::time::sleep(Duration::from_millis(wait)).await;
            service.time_out(&id, status).await;
        });
    }

    async fn time_out(&self, id: &str, armed_for: CommandStatus) {
        let _transition = self.inner.transitions.lock().await;
        let command = {
            let open = self.inner.open.lock();
            match open.get(id) {
                Some(command) if command.status == armed_for => command.clone(),
                _ => return,
            }
        };
        let reason = match armed_for {
            CommandStatus::Pending => "the device did not come online before the command expired",
            _ => "the device did not answer in time",
        };
        let mut command = command;
        command.status = CommandStatus::Timeout;
        command.result = Some(json!({ "reason": reason }));
        command.finished_at_ms = Some(now_millis());
        self.record(command).await;
    }

    async fn answer_loop(self, mut answers: mpsc::UnboundedReceiver<Answer>) {
        while let Some(Answer {
            topic,
            payload,
            correlation,
            ack,
        }) = answers.recv().await
        {
            self.answer(&topic, &payload, correlation.as_deref()).await;
            // Acknowledged once the outcome is stored: a device that resends an
            // unacknowledged answer finds the command already final, which is harmless.
            if let Some(token) = ack {
                token.accept();
            }
        }
    }

    /// Applies a device's answer to the command it names.
    async fn answer(&self, topic: &str, payload: &[u8], correlation: Option<&[u8]>) {
        let Some(device) = topic
            .strip_prefix("devices/")
            .and_then(|rest| rest.split('/').next())
        else {
            return;
        };
        let body: Option<Value> = serde_json::from_slice(payload).ok();
        let id = body
            .as_ref()
            .and_then(|body| body.get("id"))
            .and_then(Value::as_str)
            .map(str::to_owned)
            .or_else(|| {
                correlation
                    .and_then(|data| std::str::from_utf8(data).ok())
                    .map(str::to_owned)
            });
        let Some(id) = id else {
            tracing::debug!(device, "command answer without an id ignored");
            return;
        };
        let _transition = self.inner.transitions.lock().await;
        let command = {
            let open = self.inner.open.lock();
            match open.get(&id) {
                Some(command) if command.device.as_str() == device => command.clone(),
                _ => return,
            }
        };
        let body = body.unwrap_or(Value::Null);
        let ok = body.get("ok").and_then(Value::as_bool).unwrap_or(true);
        let mut command = command;
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
        self.record(command).await;
    }

    async fn presence_loop(self, mut presence: broadcast::Receiver<PresenceEvent>) {
        loop {
            match presence.recv().await {
                Ok(event) if event.online => self.device_online(&event.device).await,
                Ok(_) => {}
                Err(broadcast::error::RecvError::Lagged(_)) => self.recheck_pending().await,
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    }

    async fn device_online(&self, device: &str) {
        let pending: Vec<String> = self
            .inner
            .open
            .lock()
            .values()
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
    async fn recheck_pending(&self) {
        let devices: std::collections::HashSet<DeviceId> = self
            .inner
            .open
            .lock()
            .values()
            .filter(|command| command.status == CommandStatus::Pending)
            .map(|command| command.device.clone())
            .collect();
        for device in devices {
            if let Ok(found) = self.inner.store.device(&device).await
                && found.live.is_online
            {
                self.device_online(device.as_str()).await;
            }
        }
    }

    /// A command by id (from the store: final ones too).
    pub async fn get(&self, id: &str) -> Result<Command, CommandError> {
        Ok(self.inner.store.command(id).await?)
    }

    /// A device's commands, newest first.
    pub async fn list(&self, device: &str, limit: u32) -> Result<Vec<Command>, CommandError> {
        let device = DeviceId::new(device).map_err(|error| CommandError::Invalid {
            field: "device",
            message: format!("{}: {}", error.value, error.why),
        })?;
        Ok(self.inner.store.commands(&device, limit).await?)
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
    device: &str,
    name: &str,
    params: Value,
    ttl_secs: Option<u32>,
) -> Result<(Command, bool), CommandError> {
    let device = DeviceId::new(device).map_err(|error| CommandError::Invalid {
        field: "device",
        message: format!("{}: {}", error.value, error.why),
    })?;
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
    let target = store.device(&device).await?;
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
        device,
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
