//! `hearth agent`: the same binary as a device on a Linux board (issue 17, seed 003).
//! See docs/agent.md for the configuration and examples.
//!
//! The connection (login with will and retained status, heartbeats, commands and acks,
//! reconnection with back-off) is `hearth-device`'s [`DeviceClient`]; the agent adds
//! what a board has: buttons and relays on GPIO lines ([`gpio`]), its own numbers and
//! `exec` programs ([`sources`]), a bounded on-disk queue ([`queue`]) for readings
//! made while the hub is away, sent later in order with their original `ts`, and
//! firmware updates (`[ota]`: `hearth-device`'s `OtaHandler` with an install command).
//!
//! Every reading goes through one sender task: published at once while connected and
//! nothing is queued, appended to the queue otherwise (so order is kept), and the
//! queue drained on every (re)connect.

pub mod config;
pub mod gpio;
pub mod hubs;
pub mod queue;
pub mod sources;

use anyhow::Context;
use config::{AgentConfig, GpioBackend};
use gpio::Gpio;
use hearth_device::{DeviceClient, DeviceConfig, DeviceError, DeviceId};
use queue::{DiskQueue, Kind, Reading};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

/// Readings published per round while draining the queue. The queue file is rewritten
/// once per round, so a full queue (10,000 readings, 4 MiB) costs some 20 rewrites of a
/// shrinking file rather than one per reading; a crash within a round sends that round
/// again (at least once, never lost).
const DRAIN_ROUND: usize = 500;

/// A running agent.
pub struct Agent {
    client: DeviceClient,
    tasks: JoinSet<()>,
    sender: Option<tokio::task::JoinHandle<()>>,
    stats: Arc<AgentStats>,
    /// Dropped at shutdown so the sender queues what is left and stops.
    readings: Option<sources::Readings>,
}

/// Counters, for tests and the log.
#[derive(Debug, Default)]
pub struct AgentStats {
    /// Readings published.
    pub sent: AtomicU64,
    /// Readings waiting in the queue now.
    pub queued: AtomicU64,
    /// Readings dropped because the queue was full, since start.
    pub dropped: AtomicU64,
}

impl Agent {
    /// Requests the GPIO lines, opens the queue, connects and starts every source.
    pub async fn start(config: AgentConfig, gpio: Arc<dyn Gpio>) -> anyhow::Result<Agent> {
        let hubs = config.hub_endpoints().map_err(anyhow::Error::msg)?;
        let secret = config.read_secret().map_err(anyhow::Error::msg)?;
        let tls = config.device_tls().map_err(anyhow::Error::msg)?;
        let id = DeviceId::new(&config.device).map_err(|e| anyhow::anyhow!("{e}"))?;
        let queue = DiskQueue::open(
            &config.queue.path,
            config.queue.max_readings,
            config.queue.max_bytes,
        )
        .map_err(|e| anyhow::anyhow!("queue {}: {e}", config.queue.path.display()))?;
        if queue.skipped_at_start > 0 {
            tracing::warn!(
                lines = queue.skipped_at_start,
                "unreadable lines in the queue skipped (a write cut short)"
            );
        }
        let (readings, inbox) = mpsc::unbounded_channel();
        let relays = Arc::new(sources::Relays::new(
            gpio.as_ref(),
            &config.relays,
            readings.clone(),
        )?);
        let mut tasks = JoinSet::new();
        for button in &config.buttons {
            tasks.spawn(sources::button(
                gpio.as_ref(),
                button.clone(),
                readings.clone(),
            )?);
        }
        // The hubs in order of preference (issue 20): the first is the client's own,
        // the others its fallbacks; each mqtts:// one with the [tls] settings.
        let mut endpoints = hubs
            .into_iter()
            .map(|(host, port, mqtts)| hearth_device::Endpoint {
                host,
                port,
                tls: if mqtts { tls.clone() } else { None },
            });
        let first = endpoints.next().context("no hub")?;
        let mut device = DeviceConfig::new(first.host, first.port, id, secret);
        device.tls = first.tls;
        device.fallbacks = endpoints.collect();
        device.return_probe = std::time::Duration::from_secs(config.return_probe_secs.max(1));
        device.heartbeat_secs = config.heartbeat_secs;
        device.backoff = hearth_device::Backoff {
            initial: std::time::Duration::from_millis(config.reconnect_min_ms.max(10)),
            max: std::time::Duration::from_millis(
                config.reconnect_max_ms.max(config.reconnect_min_ms),
            ),
        };
        let (client, commands) = DeviceClient::connect(device);
        let mut handlers: Vec<Arc<dyn hearth_device::CommandHandler>> = vec![relays.clone()];
        if let Some(ota) = &config.ota {
            let installer = Arc::new(sources::CommandInstaller {
                config: ota.clone(),
            });
            let mut handler = hearth_device::ota::OtaHandler::new(ota.dir.clone(), installer);
            // Firmware comes from the hub's HTTPS with the same trust as its MQTTS.
            if let Some(tls) = &tls {
                handler = handler.with_tls(tls.clone());
            }
            handlers.push(Arc::new(handler));
            let version = ota
                .version_file
                .as_ref()
                .and_then(|path| std::fs::read_to_string(path).ok())
                .map(|text| text.trim().to_owned())
                .filter(|version| !version.is_empty());
            if let Some(version) = version {
                let _ = readings.send(Reading {
                    kind: Kind::Data,
                    ts: hearth_device::now_millis(),
                    body: serde_json::json!({"firmware_version": version}),
                });
            }
        }
        tasks.spawn(hearth_device::dispatch(client.clone(), commands, handlers));
        relays.report_all();
        if let Some(system) = config.system.clone() {
            tasks.spawn(sources::system(system, client.clone(), readings.clone()));
        }
        for exec in &config.execs {
            tasks.spawn(sources::exec(exec.clone(), readings.clone()));
        }
        let stats = Arc::new(AgentStats::default());
        stats.queued.store(queue.len() as u64, Ordering::Relaxed);
        let sender = tokio::spawn(sender(client.clone(), queue, inbox, stats.clone()));
        Ok(Agent {
            client,
            tasks,
            sender: Some(sender),
            stats,
            readings: Some(readings),
        })
    }

    /// The connection (its state, for tests and the log).
    pub fn client(&self) -> &DeviceClient {
        &self.client
    }

    pub fn stats(&self) -> &Arc<AgentStats> {
        &self.stats
    }

    /// Stops the sources, queues what they made and was not sent, says `offline` and
    /// disconnects.
    pub async fn shutdown(mut self) {
        self.tasks.shutdown().await;
        self.readings.take();
        if let Some(sender) = self.sender.take() {
            let _ = sender.await;
        }
        self.client.shutdown().await;
    }
}

/// Publishes readings, or queues them while the hub is away; drains the queue on every
/// connect. Ends when every reading sender is gone, with what is left on disk.
async fn sender(
    client: DeviceClient,
    mut queue: DiskQueue,
    mut inbox: mpsc::UnboundedReceiver<Reading>,
    stats: Arc<AgentStats>,
) {
    let mut state = client.state_changes();
    loop {
        if client.is_connected() && !queue.is_empty() {
            drain(&client, &mut queue, &stats).await;
        }
        tokio::select! {
            reading = inbox.recv() => {
                let Some(reading) = reading else { return };
                let mut batch = vec![reading];
                while let Ok(more) = inbox.try_recv() {
                    batch.push(more);
                }
                let mut rest = batch.into_iter();
                if queue.is_empty() {
                    // Nothing older waits: publish directly until the link fails.
                    for reading in rest.by_ref() {
                        if publish(&client, &reading).await.is_err() {
                            queue_up(&mut queue, &[reading], &stats);
                            break;
                        }
                        stats.sent.fetch_add(1, Ordering::Relaxed);
                    }
                }
                let rest: Vec<Reading> = rest.collect();
                queue_up(&mut queue, &rest, &stats);
            }
            changed = state.changed() => {
                if changed.is_err() {
                    return;
                }
            }
        }
    }
}

fn queue_up(queue: &mut DiskQueue, readings: &[Reading], stats: &AgentStats) {
    if readings.is_empty() {
        return;
    }
    let before = queue.dropped;
    if let Err(error) = queue.push(readings) {
        tracing::error!("readings not queued: {error}");
    }
    if queue.dropped > before {
        tracing::warn!(
            dropped = queue.dropped - before,
            "the queue is full: oldest readings dropped"
        );
    }
    stats.dropped.store(queue.dropped, Ordering::Relaxed);
    stats.queued.store(queue.len() as u64, Ordering::Relaxed);
}

/// Sends what is queued, oldest first, in rounds, until it is empty or the link fails.
async fn drain(client: &DeviceClient, queue: &mut DiskQueue, stats: &AgentStats) {
    while !queue.is_empty() {
        let round = queue.peek(DRAIN_ROUND);
        let mut sent = 0;
        for reading in &round {
            if publish(client, reading).await.is_err() {
                break;
            }
            sent += 1;
        }
        if let Err(error) = queue.remove(sent) {
            tracing::error!("the queue could not be rewritten: {error}");
        }
        stats.sent.fetch_add(sent as u64, Ordering::Relaxed);
        stats.queued.store(queue.len() as u64, Ordering::Relaxed);
        if sent < round.len() {
            return;
        }
        tracing::info!(sent, left = queue.len(), "queued readings sent");
    }
}

/// Publishes one reading with its `ts`; `Err` only when the link is down (a reading
/// that can never be sent, not a JSON object, is logged and counts as done, so that it
/// cannot block the queue).
async fn publish(client: &DeviceClient, reading: &Reading) -> Result<(), DeviceError> {
    let result = match reading.kind {
        Kind::Data => {
            client
                .publish_data_at(reading.body.clone(), reading.ts)
                .await
        }
        Kind::Event => {
            client
                .publish_event_at(reading.body.clone(), reading.ts)
                .await
        }
    };
    match result {
        Err(DeviceError::NotAnObject) => {
            tracing::warn!(body = %reading.body, "a queued reading that is not an object dropped");
            Ok(())
        }
        other => other,
    }
}

/// `hearth agent --config FILE`: runs until Ctrl-C or SIGTERM.
pub async fn run(path: &std::path::Path) -> anyhow::Result<()> {
    let config = AgentConfig::load(path).map_err(anyhow::Error::msg)?;
    if config.secret.is_some()
        && let Some(warning) = config::loose_permissions(path)
    {
        // The secret is inline: the whole file is a secret (secret_file is better).
        tracing::warn!("{warning}");
    }
    let gpio: Arc<dyn Gpio> = match config.gpio.backend {
        GpioBackend::Cdev => Arc::new(gpio::CdevGpio),
        GpioBackend::Sim => {
            tracing::warn!("[gpio] backend = \"sim\": no real lines are driven");
            Arc::new(gpio::SimGpio::new())
        }
    };
    let agent = Agent::start(config, gpio).await?;
    tracing::info!(device = %agent.client().id(), "agent started");
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
    tracing::info!("agent stopping");
    agent.shutdown().await;
    Ok(())
}
