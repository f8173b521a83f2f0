//! `hearth bench login-fleet` and `hearth bench logins`: logins per second with
//! registry credentials, the same way for any broker (`bench/logins.sh` runs Hearth and
//! Mosquitto side by side).
//!
//! - `login-fleet` prepares a hub's data directory (SQLite) with N registered devices
//!   and writes their `id:secret` lines, the secrets stored as the registry stores them
//!   (`--hash fast`) or as light argon2id (`--hash argon2id`), the form a hub rehashes
//!   at the next login. `--inspect` counts the stored hashes of each kind instead.
//! - `logins` logs every user of an `id:secret` file in once against a broker on a
//!   loopback address and reports logins per second and the broker's CPU.

use anyhow::Context;
use clap::{Args, ValueEnum};
use hearth_bench::logins::{LoginOptions, run_logins};
use hearth_services::Registry;
use hearth_services::registry::DeviceSpec;
use hearth_services::secret;
use hearth_store::{SecretOwner, SecretRehash};
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Args)]
pub struct LoginFleetArgs {
    /// The hub's data directory: created (it must not hold a database yet), or with
    /// `--inspect` read.
    #[arg(long)]
    pub data_dir: PathBuf,
    /// Devices registered.
    #[arg(long, default_value_t = 1_000)]
    pub devices: usize,
    /// How their secrets are stored.
    #[arg(long, value_enum, default_value_t = StoredHash::Fast)]
    pub hash: StoredHash,
    /// Where the `id:secret` lines go (also a Mosquitto password file before
    /// `mosquitto_passwd -U`).
    #[arg(long, required_unless_present = "inspect")]
    pub credentials: Option<PathBuf>,
    /// Count the stored device hashes of each kind instead of creating anything.
    #[arg(long)]
    pub inspect: bool,
}

/// The stored form of a generated secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StoredHash {
    /// `$hearth-hmac-sha256$`, as the registry stores new secrets.
    Fast,
    /// Light argon2id (4 MiB, 1 pass), which the hub rehashes at the next login.
    Argon2id,
}

#[derive(Debug, Args)]
pub struct LoginsArgs {
    /// Broker host; only loopback addresses are accepted.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Broker MQTT port.
    #[arg(long)]
    pub port: u16,
    /// `user:password` lines; each user logs in once, with its name as client id.
    #[arg(long)]
    pub credentials: PathBuf,
    /// Process id of the broker, for its CPU time.
    #[arg(long)]
    pub broker_pid: Option<u32>,
    /// Handshakes in flight at once.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// Time limit of the run, in seconds.
    #[arg(long, default_value_t = 120)]
    pub duration_secs: u64,
    /// A name for this run, copied into the output.
    #[arg(long, default_value = "")]
    pub label: String,
    /// Print one JSON object instead of a line of text.
    #[arg(long)]
    pub json: bool,
}

pub fn fleet(args: LoginFleetArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new().context("starting a runtime")?;
    runtime.block_on(async {
        let url = hearth_store::sqlite_url(&args.data_dir);
        if args.inspect {
            return inspect(&url).await;
        }
        let credentials_path = args.credentials.context("--credentials is required")?;
        std::fs::create_dir_all(&args.data_dir)
            .with_context(|| format!("creating {}", args.data_dir.display()))?;
        let store = hearth_store::open(&url).await?;
        anyhow::ensure!(
            store.user_count().await? == 0,
            "{} already holds a registry",
            args.data_dir.display()
        );
        let registry = Registry::new(store.clone());
        registry.ensure_owner(Some("bench-password".into())).await?;
        let app: hearth_model::AppId = "default".parse()?;
        let specs = (0..args.devices)
            .map(|index| {
                Ok(DeviceSpec {
                    app: Some(app.clone()),
                    ..DeviceSpec::new(format!("login-{index:06}").parse()?)
                })
            })
            .collect::<Result<Vec<_>, hearth_model::IdError>>()?;
        let devices = registry.add_devices("bench", specs, &|_| {}).await?;
        if args.hash == StoredHash::Argon2id {
            let stored = store.credentials().await?.devices;
            let rehashes: Vec<SecretRehash> = devices
                .iter()
                .zip(&stored)
                .map(|((id, device_secret), credential)| {
                    assert_eq!(*id, credential.id, "both are sorted by id");
                    SecretRehash {
                        owner: SecretOwner::Device(id.clone()),
                        old_hash: credential.secret_hash.clone(),
                        new_hash: secret::hash_secret_argon2id(device_secret),
                    }
                })
                .collect();
            let replaced = store.rehash_secrets(&rehashes).await?;
            anyhow::ensure!(replaced.iter().all(|done| *done), "argon2id hashes written");
        }
        let mut out = std::io::BufWriter::new(
            std::fs::File::create(&credentials_path)
                .with_context(|| format!("creating {}", credentials_path.display()))?,
        );
        for (id, device_secret) in &devices {
            writeln!(out, "{id}:{device_secret}")?;
        }
        out.flush()?;
        store.close().await;
        eprintln!(
            "{} devices ({:?} hashes) in {}",
            devices.len(),
            args.hash,
            args.data_dir.display()
        );
        Ok(())
    })
}

async fn inspect(url: &str) -> anyhow::Result<()> {
    let store = hearth_store::open(url).await?;
    let devices = store.credentials().await?.devices;
    let fast = devices
        .iter()
        .filter(|device| secret::is_fast_hash(&device.secret_hash))
        .count();
    println!(
        "{{\"devices\": {}, \"fast\": {fast}, \"other\": {}}}",
        devices.len(),
        devices.len() - fast
    );
    store.close().await;
    Ok(())
}

pub fn logins(args: LoginsArgs) -> anyhow::Result<()> {
    let addr = super::resolve(&args.host, args.port)?;
    let text = std::fs::read_to_string(&args.credentials)
        .with_context(|| format!("reading {}", args.credentials.display()))?;
    let credentials: Vec<(String, String)> = text
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            line.split_once(':')
                .map(|(user, password)| (user.to_owned(), password.to_owned()))
                .with_context(|| format!("not a user:password line: {line}"))
        })
        .collect::<anyhow::Result<_>>()?;
    let options = LoginOptions {
        addr,
        concurrency: args.concurrency,
        broker_pid: args.broker_pid,
        duration: Duration::from_secs(args.duration_secs),
    };
    let runtime = tokio::runtime::Runtime::new().context("starting a runtime")?;
    let result = runtime.block_on(run_logins(&options, Arc::new(credentials)))?;
    if args.json {
        let mut value = serde_json::to_value(&result)?;
        value["label"] = args.label.into();
        println!("{value}");
    } else {
        println!(
            "{} {}/{} logins in {:.2} s: {:.0} logins/s, broker CPU {} s per 1,000{}",
            args.label,
            result.succeeded,
            result.attempted,
            result.secs,
            result.logins_per_sec,
            result
                .broker_cpu_secs_per_1000
                .map_or("?".to_owned(), |secs| format!("{secs:.3}")),
            result
                .first_error
                .map(|error| format!(" (first error: {error})"))
                .unwrap_or_default()
        );
    }
    anyhow::ensure!(
        result.failed == 0,
        "{} of {} logins failed",
        result.failed,
        result.attempted
    );
    Ok(())
}
