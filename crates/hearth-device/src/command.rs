//! Commands from the hub and the device's answers (SPEC §4).
//!
//! The hub publishes a command on `devices/{id}/commands/{name}` as a JSON object with
//! the command's `id` and its parameters (with the same id as MQTT 5 correlation data);
//! the device answers on `devices/{id}/commands/{name}/ack` with
//! `{"id", "ok", "result"?, "state"?, "error"?}`. The hub's commands service marks the
//! command `acked` (`ok` true or absent) or `failed`, and stores `result` (or `error`)
//! and the reported `state`.
//!
//! Two ways to answer: take [`Command`]s from [`Commands`] and call [`Command::ack`]
//! yourself, or give a chain of [`CommandHandler`]s to [`dispatch`], which offers each
//! command to them in order (the first that answers wins) — so a firmware-update handler
//! can sit in front of a simulated device's or an agent's own handler without either
//! knowing of the other.

use crate::DeviceError;
use crate::client::DeviceClient;
use async_trait::async_trait;
use bytes::Bytes;
use rumqttc::v5::AsyncClient;
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::PublishProperties;
use serde_json::{Map, Value};
use std::sync::Arc;
use tokio::sync::mpsc;

/// A command the hub (or an application) sent to this device.
#[derive(Debug, Clone)]
pub struct Command {
    /// The command's name: the topic levels after `commands/` (`set`, `ota`,
    /// `light/set`).
    pub name: String,
    /// The command's id (from the payload's `id`, else the correlation data); `None` for
    /// a command nobody tracks, which is acted on but whose answer the hub ignores.
    pub id: Option<String>,
    /// The whole payload: the parameters (and `id`). `Value::Null` when it was not JSON.
    pub params: Value,
    pub(crate) correlation: Option<Bytes>,
    pub(crate) ack_topic: String,
    pub(crate) mqtt: AsyncClient,
}

impl Command {
    /// A parameter by name (`command.param("brightness")`).
    pub fn param(&self, name: &str) -> Option<&Value> {
        self.params.get(name)
    }

    /// Publishes the answer on the ack topic (QoS 1) with the command's id and its
    /// correlation data. Errors only when the client has stopped.
    pub async fn ack(&self, ack: Ack) -> Result<(), DeviceError> {
        let payload = ack.to_json(self.id.as_deref());
        let properties = PublishProperties {
            correlation_data: self.correlation.clone(),
            ..PublishProperties::default()
        };
        self.mqtt
            .publish_with_properties(
                self.ack_topic.clone(),
                QoS::AtLeastOnce,
                false,
                payload.to_string(),
                properties,
            )
            .await
            .map_err(|_| DeviceError::Closed)
    }
}

/// A device's answer to a command.
#[derive(Debug, Clone, PartialEq)]
pub struct Ack {
    /// Whether the device did it: `acked` at the hub, else `failed`.
    pub ok: bool,
    /// What it returned (stored as the command's result).
    pub result: Option<Value>,
    /// The device's state after the command (the hub shows it as confirmed state).
    pub state: Option<Value>,
    /// Why it failed (stored as the result of a failed command when there is no
    /// `result`).
    pub error: Option<String>,
}

impl Ack {
    /// Done, nothing to report.
    pub fn ok() -> Ack {
        Ack {
            ok: true,
            result: None,
            state: None,
            error: None,
        }
    }

    /// Not done, and why (`checksum mismatch`, `unknown command`...).
    pub fn failed(error: impl Into<String>) -> Ack {
        Ack {
            ok: false,
            error: Some(error.into()),
            ..Ack::ok()
        }
    }

    /// With the device's state after the command.
    pub fn with_state(mut self, state: Value) -> Ack {
        self.state = Some(state);
        self
    }

    /// With a result.
    pub fn with_result(mut self, result: Value) -> Ack {
        self.result = Some(result);
        self
    }

    /// The ack payload for the command `id`.
    pub fn to_json(&self, id: Option<&str>) -> Value {
        let mut body = Map::new();
        if let Some(id) = id {
            body.insert("id".into(), Value::String(id.to_owned()));
        }
        body.insert("ok".into(), Value::Bool(self.ok));
        if let Some(result) = &self.result {
            body.insert("result".into(), result.clone());
        }
        if let Some(state) = &self.state {
            body.insert("state".into(), state.clone());
        }
        if let Some(error) = &self.error {
            body.insert("error".into(), Value::String(error.clone()));
        }
        Value::Object(body)
    }
}

/// The commands addressed to this device, in arrival order. Ends when the client has
/// stopped.
pub struct Commands {
    pub(crate) rx: mpsc::UnboundedReceiver<Command>,
}

impl Commands {
    /// The next command; `None` once the client has stopped.
    pub async fn next(&mut self) -> Option<Command> {
        self.rx.recv().await
    }
}

/// One link of a command-handling chain (see [`dispatch`]).
#[async_trait]
pub trait CommandHandler: Send + Sync + 'static {
    /// Answers `command`, or returns `None` when it is not this handler's, so that the
    /// next handler in the chain gets it. May take its time (a slow device, a
    /// download): each command is handled in a task of its own.
    async fn handle(&self, device: &DeviceClient, command: &Command) -> Option<Ack>;
}

/// Offers every command to `handlers` in order and publishes the first answer; a
/// command nobody takes is answered `failed` with `unknown command {name}`. Runs until
/// the client stops. Each command is handled in its own task, so a slow answer does
/// not hold up the next command.
pub async fn dispatch(
    device: DeviceClient,
    mut commands: Commands,
    handlers: Vec<Arc<dyn CommandHandler>>,
) {
    let handlers: Arc<[Arc<dyn CommandHandler>]> = handlers.into();
    while let Some(command) = commands.next().await {
        let device = device.clone();
        let handlers = handlers.clone();
        tokio::spawn(async move {
            let mut answer = None;
            for handler in handlers.iter() {
                answer = handler.handle(&device, &command).await;
                if answer.is_some() {
                    break;
                }
            }
            let answer =
                answer.unwrap_or_else(|| Ack::failed(format!("unknown command {}", command.name)));
            if let Err(error) = command.ack(answer).await {
                tracing::debug!(device = %device.id(), %error, "command answer not sent");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ack_payloads_are_what_the_hub_reads() {
        assert_eq!(
            Ack::ok()
                .with_state(json!({"on": true}))
                .to_json(Some("c1")),
            json!({"id": "c1", "ok": true, "state": {"on": true}})
        );
        assert_eq!(
            Ack::failed("checksum mismatch").to_json(Some("c2")),
            json!({"id": "c2", "ok": false, "error": "checksum mismatch"})
        );
        assert_eq!(Ack::ok().to_json(None), json!({"ok": true}));
    }
}
