//! The dynsec control channel: JSON commands published to `$CONTROL/dynamic-security/v1`,
//! answers read from `$CONTROL/dynamic-security/v1/response`, as the plugin's
//! documentation gives them (https://mosquitto.org/documentation/dynamic-security/ and
//! the plugin's README in eclipse/mosquitto, `plugins/dynamic-security/README.md`):
//! `{"commands":[{"command":"createClient",...},...]}` in, `{"responses":[{"command":
//! "createClient"[,"error":"..."][,"data":{...}][,"correlationData":"..."]},...]}` out,
//! one response per command and in order.
//!
//! One request is in flight at a time, and its first command carries a
//! `correlationData` of its own, so that an answer to someone else's request (another
//! administrator on the same topic) is never taken for ours.

use super::config::DynsecConfig;
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::Packet;
use rumqttc::v5::{AsyncClient, Event, MqttOptions};
use serde_json::{Value, json};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

const COMMAND_TOPIC: &str = "$CONTROL/dynamic-security/v1";
const RESPONSE_TOPIC: &str = "$CONTROL/dynamic-security/v1/response";

/// How long the connection and a request's answer may take before the connection is
/// given up; a request gets [`PER_COMMAND`] more per command on top.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(15);

/// Mosquitto rewrites the plugin's whole file after each command that changes it, which
/// takes longer the larger the file (5 ms per command at 500 devices here, far more at
/// thousands: docs/scale.md): a big request must not be taken for a dead broker.
const PER_COMMAND: Duration = Duration::from_secs(1);

/// Commands in one request at most: Mosquitto handles a request in one go, and a big
/// resync should not hold its lock (or make a huge packet) for long.
pub const BATCH: usize = 100;

/// One command's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub command: String,
    pub error: Option<String>,
    pub data: Value,
}

/// An open control connection. Dropping it ends the connection.
pub struct Control {
    client: AsyncClient,
    answers: mpsc::Receiver<bytes::Bytes>,
    events: JoinHandle<()>,
    next_id: u64,
}

impl Drop for Control {
    fn drop(&mut self) {
        self.events.abort();
    }
}

impl Control {
    /// Connects as the dynsec administrator and subscribes to the answers.
    pub async fn connect(config: &DynsecConfig, password: &str) -> Result<Control, String> {
        let mut options = MqttOptions::new(
            config.client_id.clone(),
            config.url.host.clone(),
            config.url.port,
        );
        options
            .set_credentials(config.admin.clone(), password.to_owned())
            .set_clean_start(true)
            .set_keep_alive(Duration::from_secs(30))
            .set_connection_timeout(10)
            .set_max_packet_size(Some(64 * 1024 * 1024));
        if let Some(tls) = config.tls()? {
            options.set_transport(rumqttc::Transport::tls_with_config(
                rumqttc::TlsConfiguration::Rustls(tls),
            ));
        }
        let (client, mut events) = AsyncClient::new(options, 64);
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel::<Result<(), String>>();
        let (answer_tx, answers) = mpsc::channel(16);
        let subscriber = client.clone();
        let events = tokio::spawn(async move {
            let mut ready = Some(ready_tx);
            loop {
                match events.poll().await {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        if let Err(error) =
                            subscriber.subscribe(RESPONSE_TOPIC, QoS::AtLeastOnce).await
                            && let Some(ready) = ready.take()
                        {
                            let _ = ready.send(Err(error.to_string()));
                        }
                    }
                    Ok(Event::Incoming(Packet::SubAck(ack))) => {
                        let granted = ack.return_codes.iter().all(|code| {
                            matches!(
                                code,
                                rumqttc::v5::mqttbytes::v5::SubscribeReasonCode::Success(_)
                            )
                        });
                        if let Some(ready) = ready.take() {
                            let _ = ready.send(if granted {
                                Ok(())
                            } else {
                                Err(format!("subscribing to {RESPONSE_TOPIC} refused"))
                            });
                        }
                    }
                    Ok(Event::Incoming(Packet::Publish(publish)))
                        if publish.topic == RESPONSE_TOPIC.as_bytes() =>
                    {
                        if answer_tx.send(publish.payload).await.is_err() {
                            return;
                        }
                    }
                    Ok(_) => {}
                    Err(error) => {
                        if let Some(ready) = ready.take() {
                            let _ = ready.send(Err(error.to_string()));
                        }
                        // The channel closes: the next request fails and the sync reconnects.
                        return;
                    }
                }
            }
        });
        match tokio::time::timeout(ANSWER_TIMEOUT, ready_rx).await {
            Ok(Ok(Ok(()))) => Ok(Control {
                client,
                answers,
                events,
                next_id: 0,
            }),
            Ok(Ok(Err(error))) => {
                events.abort();
                Err(error)
            }
            _ => {
                events.abort();
                Err("no answer from the broker".into())
            }
        }
    }

    /// Sends `commands` (in requests of at most [`BATCH`]) and returns one answer per
    /// command, in order. An `Err` means the channel failed (reconnect and resync);
    /// a refused command is an `Answer` with `error`.
    pub async fn run(&mut self, commands: Vec<Value>) -> Result<Vec<Answer>, String> {
        let mut answers = Vec::with_capacity(commands.len());
        for chunk in commands.chunks(BATCH) {
            answers.extend(self.request(chunk.to_vec()).await?);
        }
        Ok(answers)
    }

    async fn request(&mut self, mut commands: Vec<Value>) -> Result<Vec<Answer>, String> {
        self.next_id += 1;
        let correlation = format!("hearth-{}-{}", std::process::id(), self.next_id);
        if let Some(Value::Object(first)) = commands.first_mut() {
            first.insert("correlationData".into(), Value::String(correlation.clone()));
        }
        let count = commands.len();
        let payload = serde_json::to_vec(&json!({ "commands": commands }))
            .map_err(|error| error.to_string())?;
        self.client
            .publish(COMMAND_TOPIC, QoS::AtLeastOnce, false, payload)
            .await
            .map_err(|error| error.to_string())?;
        let deadline = tokio::time::Instant::now() + ANSWER_TIMEOUT + PER_COMMAND * count as u32;
        loop {
            let payload = tokio::time::timeout_at(deadline, self.answers.recv())
                .await
                .map_err(|_| "no answer from the dynamic-security plugin".to_owned())?
                .ok_or_else(|| "the connection to the broker closed".to_owned())?;
            let Ok(body) = serde_json::from_slice::<Value>(&payload) else {
                continue;
            };
            let Some(responses) = body.get("responses").and_then(Value::as_array) else {
                continue;
            };
            let ours = responses
                .first()
                .and_then(|first| first.get("correlationData"))
                .and_then(Value::as_str)
                == Some(correlation.as_str());
            if !ours {
                continue;
            }
            if responses.len() != count {
                return Err(format!(
                    "{count} commands sent, {} answers",
                    responses.len()
                ));
            }
            return Ok(responses
                .iter()
                .map(|response| Answer {
                    command: response
                        .get("command")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_owned(),
                    error: response
                        .get("error")
                        .and_then(Value::as_str)
                        .map(str::to_owned),
                    data: response.get("data").cloned().unwrap_or(Value::Null),
                })
                .collect());
        }
    }

    /// Ends the connection politely.
    pub async fn close(self) {
        let _ = self.client.disconnect().await;
    }
}
