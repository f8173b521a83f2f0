//! `hearth simulate`: a fleet of virtual devices that log in to a hub with real device
//! credentials, built on the device runtime (`hearth-device`).
//!
//! Devices come from `--demo` (a home registered if missing), `--create N` / `--count N`
//! (registered through the registry with the audit log, as `hearth device add`), or a
//! CSV of `id,secret[,kind]` (`--devices`, nothing written to the store). Behaviour
//! (reading interval, heartbeats, slow or failing answers, offline periods) comes from
//! flags and an optional simulation file (TOML) with layers for defaults, kinds and
//! single devices. See docs/simulate.md.
//!
//! # Layout
//! - `kinds`: [`kinds::Kind`] and [`kinds::Sim`], readings and commands per kind.
//! - `fleet`: [`fleet::Fleet`], the devices running on the runtime, and
//!   [`fleet::Behaviour`].
//! - `setup`: who the devices are (demo home, created, CSV).

pub mod fleet;
pub mod kinds;
pub mod setup;
pub mod snapshot;

use crate::cli::StoreArgs;
use crate::config::HearthConfig;
use anyhow::{Context, bail};
use fleet::{Behaviour, Fleet, FleetOptions, SimDevice};
use hearth_model::AppId;
use hearth_services::Registry;
use kinds::Kind;
use serde::Deserialize;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// `hearth simulate`.
#[derive(Debug, clap::Args)]
pub struct SimulateArgs {
    /// The hub's MQTT (TCP) address; its MQTTS address with --tls-ca. Several,
    /// comma-separated, in order of preference (a home hub, then the cloud): each device
    /// moves to the next when its hub is gone, and back when a preferred one answers.
    #[arg(
        long,
        value_name = "HOST:PORT[,HOST:PORT...]",
        default_value = "127.0.0.1:1883"
    )]
    pub mqtt: String,
    /// Connect over MQTTS, trusting the CA in this PEM file (`hearth tls dev-cert`'s
    /// hearth-ca.pem); the host in --mqtt must be a name the certificate carries.
    #[arg(long, value_name = "FILE")]
    pub tls_ca: Option<PathBuf>,
    /// Register the demo home (group "Demo home / 演示家庭", application demo, 13
    /// devices of every kind) if it is missing, and run it.
    #[arg(long, conflicts_with_all = ["create", "count", "devices"])]
    pub demo: bool,
    /// Register N devices PREFIX-1 … PREFIX-N (existing ones get new secrets) and run them.
    #[arg(long, value_name = "N", conflicts_with_all = ["count", "devices"])]
    pub create: Option<usize>,
    /// For load: like --create N, with small-footprint defaults (temperature sensors
    /// unless --kind says otherwise, no heartbeats, a small queue per device).
    #[arg(long, value_name = "N", conflicts_with = "devices")]
    pub count: Option<usize>,
    /// Run the devices of a CSV file of `id,secret[,kind]` (nothing is registered).
    #[arg(long, value_name = "FILE")]
    pub devices: Option<PathBuf>,
    /// The kind of created devices, and of CSV rows without one (default: every kind in
    /// turn for --create, temperature for CSV rows and --count).
    #[arg(long, value_enum)]
    pub kind: Option<Kind>,
    /// The application created devices go into (default: the hub's only one).
    #[arg(long)]
    pub app: Option<String>,
    /// Id prefix of created devices.
    #[arg(long, default_value = "sim")]
    pub prefix: String,
    /// Print `id,secret` of registered devices on stdout (a CSV for --devices).
    #[arg(long)]
    pub print_secrets: bool,
    /// A simulation file (TOML): `[defaults]`, `[kinds.<kind>]`, `[devices.<id>]`
    /// behaviour tables and `seed`.
    #[arg(long, value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Stop after this many seconds (default: run until Ctrl-C).
    #[arg(long, value_name = "SECS")]
    pub duration: Option<f64>,
    /// Seconds between one device's readings.
    #[arg(long, value_name = "SECS")]
    pub interval: Option<f64>,
    /// Readings per second for the whole fleet (sets the interval from the fleet size).
    #[arg(long, value_name = "PER_SEC", conflicts_with = "interval")]
    pub rate: Option<f64>,
    /// Seconds between heartbeats (0: none).
    #[arg(long, value_name = "SECS")]
    pub heartbeat: Option<u64>,
    /// Milliseconds every device takes to answer a command.
    #[arg(long, value_name = "MS")]
    pub answer_delay: Option<u64>,
    /// The share of commands answered `failed` (0.0 to 1.0).
    #[arg(long, value_name = "RATE")]
    pub fail_rate: Option<f64>,
    /// Every this many seconds each device drops off the air without a goodbye...
    #[arg(long, value_name = "SECS")]
    pub offline_every: Option<f64>,
    /// ... for this many seconds (default 10).
    #[arg(long, value_name = "SECS")]
    pub offline_for: Option<f64>,
    /// Seed of every device's randomness (with its id): the same seed, the same run.
    #[arg(long)]
    pub seed: Option<u64>,
}

/// A simulation file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimulationFile {
    pub seed: Option<u64>,
    #[serde(default)]
    pub defaults: Behaviour,
    /// By simulator kind name (`thermostat`, `lock`...).
    #[serde(default)]
    pub kinds: HashMap<String, Behaviour>,
    /// By device id.
    #[serde(default)]
    pub devices: HashMap<String, Behaviour>,
}

impl SimulationFile {
    /// Reads and checks a simulation file (unknown kinds and fields are errors).
    pub fn load(path: &std::path::Path) -> anyhow::Result<SimulationFile> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let file: SimulationFile =
            toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
        if let Some(name) = file.kinds.keys().find(|name| Kind::parse(name).is_none()) {
            bail!("{}: unknown kind {name:?}", path.display());
        }
        Ok(file)
    }

    /// Each device's behaviour: defaults, then its kind's, then its own.
    pub fn apply(&self, devices: &mut [SimDevice]) {
        for device in devices {
            let mut behaviour = self.defaults.overlay(&device.behaviour);
            if let Some(kind) = self.kinds.get(device.kind.name()) {
                behaviour = behaviour.overlay(kind);
            }
            if let Some(own) = self.devices.get(device.id.as_str()) {
                behaviour = behaviour.overlay(own);
            }
            device.behaviour = behaviour;
        }
    }
}

/// Runs `hearth simulate` until `--duration` passes or Ctrl-C.
pub async fn run(args: SimulateArgs, store_args: &StoreArgs) -> anyhow::Result<()> {
    let ((host, port), fallbacks) = split_hubs(&args.mqtt)?;
    let mut file = match &args.file {
        Some(path) => SimulationFile::load(path)?,
        None => SimulationFile::default(),
    };
    let mut devices = load_devices(&args, store_args).await?;
    if devices.is_empty() {
        bail!("no devices: use --demo, --create N, --count N or --devices FILE");
    }
    // Flags are the defaults' last word; the file's kinds and devices still refine them.
    let flags = Behaviour {
        interval_secs: args
            .interval
            .or(args.rate.map(|rate| devices.len() as f64 / rate.max(1e-6))),
        heartbeat_secs: args.heartbeat.or(args.count.map(|_| 0)),
        answer_delay_ms: args.answer_delay,
        fail_rate: args.fail_rate,
        offline_every_secs: args.offline_every,
        offline_for_secs: args.offline_for,
        ota_fail: None,
    };
    if args.demo && file.defaults.interval_secs.is_none() {
        file.defaults.interval_secs = Some(3.0);
    }
    file.defaults = file.defaults.overlay(&flags);
    file.apply(&mut devices);
    let tls = match &args.tls_ca {
        Some(ca) => Some(
            hearth_device::DeviceTls {
                ca_file: Some(ca.clone()),
                identity: None,
            }
            .client_config()
            .context("--tls-ca")?,
        ),
        None => None,
    };
    let options = FleetOptions {
        host,
        port,
        seed: args.seed.or(file.seed).unwrap_or(0),
        queue: if args.count.is_some() { 8 } else { 64 },
        ota_dir: std::env::temp_dir().join(format!("hearth-simulate-{}", std::process::id())),
        // Every hub is reached the same way (--tls-ca applies to each).
        fallbacks: fallbacks
            .into_iter()
            .map(|endpoint| hearth_device::Endpoint {
                tls: tls.clone(),
                ..endpoint
            })
            .collect(),
        tls,
    };
    let total = devices.len();
    let fleet = Fleet::start(devices, &options);
    tracing::info!(devices = total, mqtt = %args.mqtt, "simulating");
    let deadline = async {
        match args.duration {
            Some(secs) => tokio::time::sleep(Duration::from_secs_f64(secs.max(0.0))).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(deadline);
    // SIGTERM (systemd, `kill`) ends the run like Ctrl-C: every device says goodbye.
    let mut terminate = Terminate::new()?;
    let mut summary = tokio::time::interval(Duration::from_secs(10));
    summary.tick().await;
    loop {
        tokio::select! {
            _ = &mut deadline => break,
            _ = tokio::signal::ctrl_c() => break,
            _ = terminate.recv() => break,
            _ = summary.tick() => {
                let counters = &fleet.counters;
                tracing::info!(
                    connected = fleet.connected(),
                    devices = total,
                    readings = counters.readings.load(Ordering::Relaxed),
                    events = counters.events.load(Ordering::Relaxed),
                    acked = counters.acked.load(Ordering::Relaxed),
                    failed = counters.failed.load(Ordering::Relaxed),
                    "fleet"
                );
            }
        }
    }
    fleet.stop().await;
    let _ = std::fs::remove_dir_all(&options.ota_dir);
    Ok(())
}

async fn load_devices(
    args: &SimulateArgs,
    store_args: &StoreArgs,
) -> anyhow::Result<Vec<SimDevice>> {
    if let Some(path) = &args.devices {
        return setup::read_csv(path, args.kind.unwrap_or(Kind::Temperature));
    }
    if !args.demo && args.create.is_none() && args.count.is_none() {
        return Ok(Vec::new());
    }
    let config = HearthConfig::load_store(store_args)?;
    let store = hearth_store::open(&config.database_url()?).await?;
    let registry = Registry::new(store.clone());
    let actor = format!("{}:simulate", crate::admin::actor());
    let app = args
        .app
        .as_deref()
        .map(str::parse::<AppId>)
        .transpose()
        .context("--app")?;
    let devices = if args.demo {
        setup::demo_home(&registry, &actor).await
    } else if let Some(count) = args.create {
        setup::create(&registry, &actor, count, args.kind, app, &args.prefix).await
    } else {
        let count = args.count.unwrap_or(0);
        let kind = Some(args.kind.unwrap_or(Kind::Temperature));
        setup::create(&registry, &actor, count, kind, app, &args.prefix).await
    };
    store.close().await;
    let devices = devices?;
    // A running hub reloads its credentials when it sees the registry change (it polls
    // every 250 ms); logging in before that fails, and a burst of failed logins from one
    // address gets the address locked out for a while (issue 16's login limits).
    tokio::time::sleep(Duration::from_secs(2)).await;
    if args.print_secrets {
        println!("id,secret,kind");
        for device in &devices {
            println!("{},{},{}", device.id, device.secret, device.kind.name());
        }
    } else {
        eprintln!(
            "registered or renewed {} simulated devices (secrets not shown: --print-secrets)",
            devices.len()
        );
    }
    Ok(devices)
}

/// `--mqtt HOST:PORT[,HOST:PORT...]`: the preferred hub and the others in order.
fn split_hubs(arg: &str) -> anyhow::Result<((String, u16), Vec<hearth_device::Endpoint>)> {
    let mut hubs = arg.split(',').map(str::trim);
    let first = split_addr(hubs.next().unwrap_or_default())?;
    let fallbacks = hubs
        .map(|addr| split_addr(addr).map(|(host, port)| hearth_device::Endpoint::new(host, port)))
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok((first, fallbacks))
}

fn split_addr(addr: &str) -> anyhow::Result<(String, u16)> {
    let (host, port) = addr
        .rsplit_once(':')
        .with_context(|| format!("--mqtt {addr:?}: expected HOST:PORT"))?;
    let port = port
        .parse()
        .with_context(|| format!("--mqtt {addr:?}: bad port"))?;
    Ok((host.trim_matches(['[', ']']).to_owned(), port))
}

/// SIGTERM where there is one.
struct Terminate {
    #[cfg(unix)]
    signal: tokio::signal::unix::Signal,
}

impl Terminate {
    fn new() -> anyhow::Result<Terminate> {
        Ok(Terminate {
            #[cfg(unix)]
            signal: tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?,
        })
    }

    async fn recv(&mut self) {
        #[cfg(unix)]
        self.signal.recv().await;
        #[cfg(not(unix))]
        std::future::pending::<()>().await;
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn several_hubs_in_order_of_preference() {
        let ((host, port), more) = super::split_hubs("home.local:1883, [::1]:1884").unwrap();
        assert_eq!((host.as_str(), port), ("home.local", 1883));
        assert_eq!(more.len(), 1);
        assert_eq!((more[0].host.as_str(), more[0].port), ("::1", 1884));
        let ((host, _), more) = super::split_hubs("127.0.0.1:1883").unwrap();
        assert_eq!(host, "127.0.0.1");
        assert!(more.is_empty());
        let error = super::split_hubs("home.local:1883,cloud").unwrap_err();
        assert!(error.to_string().contains("cloud"), "{error}");
    }
}
