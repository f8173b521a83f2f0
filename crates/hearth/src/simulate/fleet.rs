//! The fleet: one [`hearth_device::DeviceClient`] per simulated device, a task that
//! ticks its [`Sim`] and publishes, and a command handler that answers as configured
//! (slowly, failing at a rate, or not at all while offline).

use super::kinds::{Kind, Sim};
use async_trait::async_trait;
use hearth_device::ota::{OtaHandler, SimulatedInstaller};
use hearth_device::{
    Ack, Command, CommandHandler, DeviceClient, DeviceConfig, DeviceId, SplitMix, dispatch,
};
use parking_lot::Mutex;
use serde::Deserialize;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;
use tokio::task::JoinHandle;

/// How a device behaves beyond its kind. Every field is optional so that a simulation
/// file can layer them: defaults, then per kind, then per device.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Behaviour {
    /// Seconds between readings.
    pub interval_secs: Option<f64>,
    /// Seconds between heartbeats (0: none).
    pub heartbeat_secs: Option<u64>,
    /// How long the device takes to answer a command, in milliseconds.
    pub answer_delay_ms: Option<u64>,
    /// The share of commands it answers `failed` (0.0 to 1.0).
    pub fail_rate: Option<f64>,
    /// Every this many seconds the device drops off the air without a goodbye (the
    /// hub sends its will)...
    pub offline_every_secs: Option<f64>,
    /// ... for this many seconds.
    pub offline_for_secs: Option<f64>,
    /// `"checksum"`: firmware downloads arrive damaged, so that updates of this device
    /// fail with `checksum mismatch` (for rollout tests and demos).
    pub ota_fail: Option<String>,
}

impl Behaviour {
    /// `self`, with `over`'s fields where `over` sets them.
    pub fn overlay(&self, over: &Behaviour) -> Behaviour {
        Behaviour {
            interval_secs: over.interval_secs.or(self.interval_secs),
            heartbeat_secs: over.heartbeat_secs.or(self.heartbeat_secs),
            answer_delay_ms: over.answer_delay_ms.or(self.answer_delay_ms),
            fail_rate: over.fail_rate.or(self.fail_rate),
            offline_every_secs: over.offline_every_secs.or(self.offline_every_secs),
            offline_for_secs: over.offline_for_secs.or(self.offline_for_secs),
            ota_fail: over.ota_fail.clone().or(self.ota_fail.clone()),
        }
    }

    fn interval(&self) -> Duration {
        Duration::from_secs_f64(self.interval_secs.unwrap_or(5.0).max(0.05))
    }
}

/// One device to simulate: who it is, what it is, how it behaves.
#[derive(Debug, Clone)]
pub struct SimDevice {
    pub id: DeviceId,
    pub secret: String,
    pub kind: Kind,
    pub behaviour: Behaviour,
}

/// Where the hub is and what every device shares.
#[derive(Debug, Clone)]
pub struct FleetOptions {
    pub host: String,
    pub port: u16,
    /// Seeds every device's randomness (with its id), so that a run can be repeated.
    pub seed: u64,
    /// Requests a device may queue in its client; small for big fleets.
    pub queue: usize,
    /// Where firmware updates are downloaded to (a directory per device).
    pub ota_dir: PathBuf,
    /// MQTTS (`--tls-ca`): every device checks the hub's certificate with it.
    pub tls: Option<std::sync::Arc<rustls::ClientConfig>>,
    /// More hubs after `host:port`, in order of preference (issue 20: `--mqtt
    /// home:1883,cloud:1883`): each device moves to the next when its hub is gone and
    /// back when a preferred one answers again.
    pub fallbacks: Vec<hearth_device::Endpoint>,
}

/// What the fleet did so far (for the periodic log line and tests).
#[derive(Debug, Default)]
pub struct FleetCounters {
    pub readings: AtomicU64,
    pub events: AtomicU64,
    pub acked: AtomicU64,
    pub failed: AtomicU64,
    pub offline_periods: AtomicU64,
}

/// A running fleet; [`Fleet::stop`] says goodbye for every device.
pub struct Fleet {
    clients: Vec<DeviceClient>,
    tasks: Vec<JoinHandle<()>>,
    pub counters: Arc<FleetCounters>,
}

impl Fleet {
    /// Connects every device (each in its own tasks) and starts reporting.
    pub fn start(devices: Vec<SimDevice>, options: &FleetOptions) -> Fleet {
        let counters = Arc::new(FleetCounters::default());
        let mut clients = Vec::with_capacity(devices.len());
        let mut tasks = Vec::with_capacity(devices.len() * 2);
        for device in devices {
            let mut config = DeviceConfig::new(
                options.host.clone(),
                options.port,
                device.id.clone(),
                device.secret.clone(),
            );
            config.heartbeat_secs = device.behaviour.heartbeat_secs.unwrap_or(60);
            config.queue = options.queue;
            config.tls = options.tls.clone();
            config.fallbacks = options.fallbacks.clone();
            config.backoff.initial = Duration::from_millis(500);
            config.backoff.max = Duration::from_secs(30);
            let (client, commands) = DeviceClient::connect(config);
            let seed = SplitMix::from_text(device.id.as_str(), options.seed);
            let sim = Arc::new(Mutex::new(Sim::new(device.kind, seed.clone())));
            let handler = Arc::new(SimHandler {
                sim: sim.clone(),
                behaviour: device.behaviour.clone(),
                random: Mutex::new(SplitMix::new(seed.clone().next_u64() ^ 0x5eed)),
                counters: counters.clone(),
            });
            // Firmware updates first (hearth-device's `ota` handler with the simulator's
            // installer), then the kind's own commands.
            let corrupt = device.behaviour.ota_fail.as_deref() == Some("checksum");
            let ota = OtaHandler::new(
                options.ota_dir.join(device.id.as_str()),
                Arc::new(SimulatedInstaller::new(Duration::from_secs(2))),
            )
            .corrupting_downloads(Arc::new(AtomicBool::new(corrupt)));
            let chain: Vec<Arc<dyn CommandHandler>> = vec![Arc::new(ota), handler];
            tasks.push(tokio::spawn(dispatch(client.clone(), commands, chain)));
            tasks.push(tokio::spawn(report(
                client.clone(),
                sim,
                device.behaviour,
                seed,
                counters.clone(),
            )));
            clients.push(client);
        }
        Fleet {
            clients,
            tasks,
            counters,
        }
    }

    /// The devices' handles.
    pub fn clients(&self) -> &[DeviceClient] {
        &self.clients
    }

    /// How many devices are logged in now.
    pub fn connected(&self) -> usize {
        self.clients
            .iter()
            .filter(|client| client.is_connected())
            .count()
    }

    /// Stops reporting, then says `offline` and disconnects every device cleanly.
    pub async fn stop(self) {
        for task in &self.tasks {
            task.abort();
        }
        for client in &self.clients {
            client.shutdown().await;
        }
    }
}

/// The reporting loop of one device: a tick every interval (the first at a random
/// point of it, so that a fleet spreads its load), data and events while connected,
/// and the configured offline periods.
async fn report(
    client: DeviceClient,
    sim: Arc<Mutex<Sim>>,
    behaviour: Behaviour,
    mut random: SplitMix,
    counters: Arc<FleetCounters>,
) {
    let interval = behaviour.interval();
    // What the device can do, declared (retained) at every login: the web app draws its
    // controls from it.
    let capabilities = serde_json::to_value(sim.lock().kind().capabilities()).unwrap_or_default();
    if client.wait_connected().await.is_err() {
        return;
    }
    let mut announced = client
        .publish_capabilities(capabilities.clone())
        .await
        .is_ok();
    tokio::time::sleep(interval.mul_f64(random.next_f64())).await;
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let offline = behaviour
        .offline_every_secs
        .filter(|every| *every > 0.0)
        .map(|every| {
            let period = Duration::from_secs_f64(every);
            let away = Duration::from_secs_f64(behaviour.offline_for_secs.unwrap_or(10.0));
            (tokio::time::Instant::now() + period, period, away)
        });
    let mut next_offline = offline.map(|(first, _, _)| first);
    loop {
        let go_offline = async {
            match next_offline {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = ticker.tick() => {
                let tick = sim.lock().tick();
                if !client.is_connected() {
                    announced = false;
                    continue;
                }
                if !announced {
                    announced = client.publish_capabilities(capabilities.clone()).await.is_ok();
                }
                if let Some(data) = tick.data
                    && client.publish_data(data).await.is_ok()
                {
                    counters.readings.fetch_add(1, Ordering::Relaxed);
                }
                for event in tick.events {
                    if client.publish_event(event).await.is_ok() {
                        counters.events.fetch_add(1, Ordering::Relaxed);
                    }
                }
                if let Some(jpeg) = tick.snapshot {
                    let _ = client.publish_snapshot(jpeg).await;
                }
            }
            _ = go_offline => {
                if let Some((_, period, away)) = offline {
                    tracing::info!(device = %client.id(), secs = away.as_secs_f64(), "going offline");
                    counters.offline_periods.fetch_add(1, Ordering::Relaxed);
                    client.go_offline(away);
                    next_offline = Some(tokio::time::Instant::now() + away + period);
                }
            }
        }
    }
}

/// Answers a simulated device's commands as its behaviour says.
struct SimHandler {
    sim: Arc<Mutex<Sim>>,
    behaviour: Behaviour,
    random: Mutex<SplitMix>,
    counters: Arc<FleetCounters>,
}

#[async_trait]
impl CommandHandler for SimHandler {
    async fn handle(&self, device: &DeviceClient, command: &Command) -> Option<Ack> {
        if let Some(delay) = self.behaviour.answer_delay_ms.filter(|delay| *delay > 0) {
            tokio::time::sleep(Duration::from_millis(delay)).await;
        }
        let fail_rate = self.behaviour.fail_rate.unwrap_or(0.0);
        if fail_rate > 0.0 && self.random.lock().chance(fail_rate) {
            self.counters.failed.fetch_add(1, Ordering::Relaxed);
            return Some(Ack::failed("simulated failure"));
        }
        let outcome = self.sim.lock().apply(&command.name, &command.params)?;
        match outcome {
            Ok(state) => {
                self.counters.acked.fetch_add(1, Ordering::Relaxed);
                // The change is news for history and the web app, not only for the ack.
                let _ = device.publish_data(state.clone()).await;
                Some(Ack::ok().with_state(state))
            }
            Err(error) => {
                self.counters.failed.fetch_add(1, Ordering::Relaxed);
                Some(Ack::failed(error))
            }
        }
    }
}
