//! Trigger-to-command latency, for `hearth bench automations`: a sensor publishes a
//! reading that fires an automation, whose action is a command to an actuator; the time
//! from the sensor's PUBLISH to the actuator reading the command.
//!
//! Both devices are real MQTT connections logged in with their own credentials, in this
//! process, so one clock times both ends. The actuator subscribes to
//! `devices/{id}/commands/#` at QoS 1, acknowledges each command's PUBLISH and answers it
//! on `.../ack` (`{"id": ..., "ok": true}`), as SPEC §4 devices do. The sensor then
//! publishes the opposite value (which fires nothing and re-arms the edge-triggered
//! reading trigger) and waits for its PUBACK, so that every measured trigger starts from
//! an idle hub: one trigger at a time, closed loop.

use crate::client::Conn;
use crate::error::BenchError;
use crate::histogram::Histogram;
use bytes::Bytes;
use hearth_mqtt::{ByteStr, Packet, PubResponse, Publish, QoS, ReasonCode};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Consecutive triggers without a command after which the run stops (the automation
/// is not running: a loop bound, a rate limit, a broken hub).
const MAX_MISSED_IN_ROW: u64 = 10;

/// What to measure.
#[derive(Debug, Clone)]
pub struct TriggerLatencyOptions {
    pub addr: SocketAddr,
    /// (device id, secret) of the sensor that publishes `{metric: true|false}`.
    pub sensor: (String, String),
    /// (device id, secret) of the device the automation commands.
    pub actuator: (String, String),
    /// The boolean field of the sensor's data that the automation's trigger reads.
    pub metric: String,
    /// Triggers measured.
    pub triggers: u64,
    /// Triggers sent first and not measured (the actuator's presence, caches).
    pub warmup: u64,
    /// How long one command may take before the trigger counts as missed.
    pub timeout: Duration,
}

/// What was measured.
#[derive(Debug, Clone)]
pub struct TriggerLatency {
    /// Nanoseconds from the sensor's PUBLISH to the command at the actuator.
    pub histogram: Histogram,
    /// Nanoseconds from the sensor's PUBLISH of the value that fires nothing to its
    /// PUBACK: one durable ingest (the commit), the first part of every trigger.
    pub puback: Histogram,
    /// Triggers whose command did not come within the timeout.
    pub missed: u64,
    pub elapsed: Duration,
}

/// Runs `warmup + triggers` triggers one after the other.
pub async fn measure(options: &TriggerLatencyOptions) -> Result<TriggerLatency, BenchError> {
    let (sensor_id, sensor_secret) = &options.sensor;
    let (actuator_id, actuator_secret) = &options.actuator;
    let mut actuator = Conn::connect_as(
        options.addr,
        actuator_id,
        60,
        Some((actuator_id, actuator_secret)),
    )
    .await?;
    actuator
        .subscribe(
            &format!("devices/{actuator_id}/commands/#"),
            QoS::AtLeastOnce,
        )
        .await?;
    let mut sensor = Conn::connect_as(
        options.addr,
        sensor_id,
        60,
        Some((sensor_id, sensor_secret)),
    )
    .await?;
    let data_topic = ByteStr::from(format!("devices/{sensor_id}/data").as_str());
    let on = Bytes::from(format!(r#"{{"{}":true}}"#, options.metric));
    let off = Bytes::from(format!(r#"{{"{}":false}}"#, options.metric));
    let mut histogram = Histogram::new();
    let mut puback = Histogram::new();
    let (mut missed, mut missed_in_row) = (0, 0);
    let mut packet_id = 0u16;
    let started = Instant::now();
    for index in 0..options.warmup + options.triggers {
        packet_id = next_id(packet_id);
        let sent = publish(&mut sensor, &data_topic, on.clone(), packet_id).await?;
        match tokio::time::timeout(options.timeout, next_command(&mut actuator)).await {
            Ok(command) => {
                let (arrived, command) = command?;
                if index >= options.warmup {
                    histogram.record(arrived.duration_since(sent).as_nanos() as u64);
                }
                missed_in_row = 0;
                answer(&mut actuator, command).await?;
            }
            Err(_) => {
                missed += 1;
                missed_in_row += 1;
                if missed_in_row >= MAX_MISSED_IN_ROW {
                    return Err(BenchError::Timeout(
                        options.timeout,
                        "the automation's command, 10 triggers in a row",
                    ));
                }
            }
        }
        wait_for_puback(&mut sensor, packet_id).await?;
        packet_id = next_id(packet_id);
        let sent = publish(&mut sensor, &data_topic, off.clone(), packet_id).await?;
        wait_for_puback(&mut sensor, packet_id).await?;
        if index >= options.warmup {
            puback.record(sent.elapsed().as_nanos() as u64);
        }
    }
    let elapsed = started.elapsed();
    sensor.disconnect().await;
    actuator.disconnect().await;
    Ok(TriggerLatency {
        histogram,
        puback,
        missed,
        elapsed,
    })
}

fn next_id(id: u16) -> u16 {
    id.checked_add(1).unwrap_or(1)
}

/// Sends one QoS 1 PUBLISH; returns when it was handed to the socket.
async fn publish(
    conn: &mut Conn,
    topic: &ByteStr,
    payload: Bytes,
    packet_id: u16,
) -> Result<Instant, BenchError> {
    let publish = Publish {
        qos: QoS::AtLeastOnce,
        topic: topic.clone(),
        packet_id,
        payload,
        ..Publish::default()
    };
    conn.queue(&Packet::Publish(publish))?;
    let sent = Instant::now();
    conn.flush().await?;
    Ok(sent)
}

/// The actuator's next command, with the moment it was decoded. Its own answers come
/// back too (`commands/#` matches `commands/switch/ack`, and 3.1.1 has no "no local"):
/// they are skipped.
async fn next_command(actuator: &mut Conn) -> Result<(Instant, Publish), BenchError> {
    loop {
        match actuator.next_packet().await? {
            Packet::Publish(publish) if publish.topic.as_str().ends_with("/ack") => {}
            Packet::Publish(publish) => return Ok((Instant::now(), publish)),
            Packet::PubAck(_) => {}
            other => return Err(BenchError::Unexpected(other.kind())),
        }
    }
}

/// Acknowledges the command's PUBLISH and answers it on its `ack` topic.
async fn answer(actuator: &mut Conn, command: Publish) -> Result<(), BenchError> {
    if command.qos != QoS::AtMostOnce {
        actuator.queue(&Packet::PubAck(PubResponse::new(
            command.packet_id,
            ReasonCode::SUCCESS,
        )))?;
    }
    let id = serde_json::from_slice::<serde_json::Value>(&command.payload)
        .ok()
        .and_then(|params| params.get("id").cloned())
        .unwrap_or(serde_json::Value::Null);
    let answer = serde_json::json!({"id": id, "ok": true});
    let topic = format!("{}/ack", command.topic.as_str());
    actuator.queue(&Packet::Publish(Publish {
        qos: QoS::AtMostOnce,
        topic: ByteStr::from(topic.as_str()),
        payload: Bytes::from(answer.to_string()),
        ..Publish::default()
    }))?;
    actuator.flush().await
}

async fn wait_for_puback(conn: &mut Conn, packet_id: u16) -> Result<(), BenchError> {
    let wait = async {
        loop {
            match conn.next_packet().await? {
                Packet::PubAck(ack) if ack.packet_id == packet_id => {
                    return if ack.reason.is_error() {
                        Err(BenchError::Unexpected("a refused PUBACK"))
                    } else {
                        Ok(())
                    };
                }
                Packet::PubAck(_) | Packet::Publish(_) => {}
                other => return Err(BenchError::Unexpected(other.kind())),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(30), wait)
        .await
        .map_err(|_| BenchError::Timeout(Duration::from_secs(30), "PUBACK"))?
}
