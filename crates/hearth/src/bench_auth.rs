//! `hearth bench auth`: what the registry's MQTT authorization costs per PUBLISH and
//! SUBSCRIBE check, beside a check that does nothing (`AllowAll`), in one run.
//!
//! The broker calls `Authorizer::authorize` on every inbound PUBLISH, so its cost adds
//! to every message. The registry is real (a fresh SQLite store with the requested
//! number of devices); the checks run on as many threads as asked, because connection
//! tasks call them concurrently and the application rules read a shared snapshot.
//!
//! The router calls `Authorizer::may_receive` on every delivery of a filtered
//! subscription (an application's or a browser's); its cost per check is measured the
//! same way, and then in a broker: `--fanout-subscribers` clients subscribed to
//! `devices/+/data` receive one device's messages, once as the application holding the
//! device (filtered: one check per delivery) and once as the administrator (unfiltered),
//! alternating in one run, on an in-process broker on 127.0.0.1. Broker and clients share
//! the process, so the CPU per delivery counts both.

use anyhow::Context;
use clap::Args;
use hearth_bus::{Action, AllowAll, Authorizer, Principal, PrincipalKind};
use hearth_services::registry::DeviceSpec;
use hearth_services::{Registry, RegistryAuthorizer};
use std::sync::Arc;
use std::time::Instant;

#[derive(Debug, Args)]
pub struct AuthBenchArgs {
    /// Devices registered (all in one application, whose rules look them up).
    #[arg(long, default_value_t = 2_000)]
    pub devices: usize,
    /// Checks per case and thread.
    #[arg(long, default_value_t = 2_000_000)]
    pub iterations: u64,
    /// Threads checking at the same time.
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
    /// Subscribers of the fan-out comparison (filtered against unfiltered); 0 skips it.
    #[arg(long, default_value_t = 50)]
    pub fanout_subscribers: usize,
    /// Messages each fan-out run publishes (each goes to every subscriber).
    #[arg(long, default_value_t = 20_000)]
    pub fanout_messages: u64,
    /// Fan-out runs of each kind, alternated.
    #[arg(long, default_value_t = 3)]
    pub fanout_rounds: usize,
}

struct Case {
    name: &'static str,
    principal: Principal,
    client_id: String,
    action: Action,
    topic: String,
    expected: bool,
}

pub fn run(args: AuthBenchArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.devices >= 2, "--devices must be at least 2");
    anyhow::ensure!(args.threads >= 1, "--threads must be at least 1");
    let runtime = tokio::runtime::Runtime::new().context("starting a runtime")?;
    let directory = tempfile::tempdir().context("creating a temporary data directory")?;
    let (authorizer, app_login) = runtime.block_on(async {
        let store = hearth_store::open(&hearth_store::sqlite_url(directory.path())).await?;
        let registry = Registry::new(store.clone());
        registry.ensure_owner(Some(ADMIN_PASSWORD.into())).await?;
        let app: hearth_model::AppId = "default".parse()?;
        let app_secret = registry.rotate_app_secret("bench", &app).await?;
        let app_key = store.app(&app).await?.mqtt_key;
        eprintln!("registering {} devices...", args.devices);
        let specs = (0..args.devices)
            .map(|index| {
                Ok(DeviceSpec {
                    app: Some(app.clone()),
                    ..DeviceSpec::new(device_id(index).parse()?)
                })
            })
            .collect::<Result<Vec<_>, hearth_model::IdError>>()?;
        registry.add_devices("bench", specs, &|_| {}).await?;
        let authorizer = RegistryAuthorizer::load(store, false, None).await?;
        anyhow::Ok((authorizer, (app_key, app_secret)))
    })?;

    let middle = device_id(args.devices / 2);
    let other = device_id(args.devices / 2 + 1);
    let device = Principal::new(PrincipalKind::Device, middle.as_str());
    let app = Principal::new(PrincipalKind::Application, "default");
    let case = |name, principal: &Principal, action, topic: String, expected| Case {
        name,
        principal: principal.clone(),
        client_id: principal.name.to_string(),
        action,
        topic,
        expected,
    };
    let cases = [
        case(
            "device publishes its data",
            &device,
            Action::Publish,
            format!("devices/{middle}/data"),
            true,
        ),
        case(
            "device subscribes to its commands",
            &device,
            Action::Subscribe,
            format!("devices/{middle}/commands/#"),
            true,
        ),
        case(
            "device publishes as another (denied)",
            &device,
            Action::Publish,
            format!("devices/{other}/data"),
            false,
        ),
        case(
            "application sends a command",
            &app,
            Action::Publish,
            format!("devices/{middle}/commands/relay"),
            true,
        ),
        case(
            "application subscribes to a device",
            &app,
            Action::Subscribe,
            format!("devices/{middle}/#"),
            true,
        ),
        case(
            "application, unknown device (denied)",
            &app,
            Action::Publish,
            "devices/nobody/commands/relay".to_owned(),
            false,
        ),
    ];

    let allow_all: Arc<dyn Authorizer> = Arc::new(AllowAll);
    let registry_auth: Arc<dyn Authorizer> = authorizer.clone();
    println!(
        "| check ({} devices, {} threads) | registry ns/check | AllowAll ns/check | extra ns |",
        args.devices, args.threads
    );
    println!("|---|---:|---:|---:|");
    for case in &cases {
        let registry_ns = time_case(&registry_auth, case, &args)?;
        let baseline_ns = time_case(&allow_all, case, &args)?;
        println!(
            "| {} | {registry_ns:.1} | {baseline_ns:.1} | {:.1} |",
            case.name,
            registry_ns - baseline_ns
        );
    }

    let receive_cases = [
        ReceiveCase {
            name: "application, a device it holds",
            principal: app.clone(),
            topic: format!("devices/{middle}/data"),
            expected: true,
        },
        ReceiveCase {
            name: "application, another's device (dropped)",
            principal: app.clone(),
            topic: "devices/nobody/data".to_owned(),
            expected: false,
        },
    ];
    println!();
    println!(
        "| per-delivery check `may_receive` ({} devices, {} threads) | registry ns/check | AllowAll ns/check | extra ns |",
        args.devices, args.threads
    );
    println!("|---|---:|---:|---:|");
    for case in &receive_cases {
        let registry_ns = time_receive(&registry_auth, case, &args)?;
        let baseline_ns = time_receive(&allow_all, case, &args)?;
        println!(
            "| {} | {registry_ns:.1} | {baseline_ns:.1} | {:.1} |",
            case.name,
            registry_ns - baseline_ns
        );
    }

    if args.fanout_subscribers > 0 {
        runtime.block_on(fanout(authorizer, app_login, &middle, &args))?;
    }
    Ok(())
}

const ADMIN_PASSWORD: &str = "bench-password";

struct ReceiveCase {
    name: &'static str,
    principal: Principal,
    topic: String,
    expected: bool,
}

/// Nanoseconds per `may_receive`, as [`time_case`] measures `authorize`.
fn time_receive(
    authorizer: &Arc<dyn Authorizer>,
    case: &ReceiveCase,
    args: &AuthBenchArgs,
) -> anyhow::Result<f64> {
    let verdict = authorizer.may_receive(&case.principal, &case.topic);
    anyhow::ensure!(
        verdict == case.expected || verdict,
        "{}: expected {} but the authorizer said {verdict}",
        case.name,
        case.expected
    );
    let started = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..args.threads {
            scope.spawn(|| {
                let mut allowed = 0u64;
                for _ in 0..args.iterations {
                    let topic = std::hint::black_box(case.topic.as_str());
                    allowed += u64::from(authorizer.may_receive(&case.principal, topic));
                }
                std::hint::black_box(allowed);
            });
        }
    });
    let total_checks = args.iterations * args.threads as u64;
    Ok(started.elapsed().as_nanos() as f64 * args.threads as f64 / total_checks as f64)
}

/// The fan-out comparison (see the module docs): filtered and unfiltered runs
/// alternated, a row per run and the ratio of the medians.
async fn fanout(
    authorizer: Arc<RegistryAuthorizer>,
    (app_key, app_secret): (String, String),
    device: &str,
    args: &AuthBenchArgs,
) -> anyhow::Result<()> {
    use hearth_bench::login_fanout::{self, Login};
    let broker = hearth_broker::Broker::start(hearth_broker::BrokerConfig::ephemeral(), authorizer)
        .await
        .context("starting the broker")?;
    let addr = broker
        .local_addrs()
        .mqtt
        .context("the broker's TCP address")?;
    let publisher = Login {
        client_id: "bench-publisher".into(),
        username: "admin".into(),
        password: ADMIN_PASSWORD.into(),
    };
    let filtered: Vec<Login> = (0..args.fanout_subscribers)
        .map(|index| Login {
            client_id: format!("{app_key}:bench-{index}"),
            username: app_key.clone(),
            password: app_secret.clone(),
        })
        .collect();
    let unfiltered: Vec<Login> = (0..args.fanout_subscribers)
        .map(|index| Login {
            client_id: format!("bench-admin-{index}"),
            username: "admin".into(),
            password: ADMIN_PASSWORD.into(),
        })
        .collect();
    let topic = format!("devices/{device}/data");
    println!();
    println!(
        "| fan-out run (1 → {} subscribers of `devices/+/data`, {} QoS 0 messages) | deliveries/s | process CPU µs per delivery | delivered |",
        args.fanout_subscribers, args.fanout_messages
    );
    println!("|---|---:|---:|---:|");
    let mut rates: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
    let mut cpu: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
    for round in 0..args.fanout_rounds {
        for (kind, (name, subscribers)) in [
            ("unfiltered (administrator)", &unfiltered),
            ("filtered (application)", &filtered),
        ]
        .into_iter()
        .enumerate()
        {
            let cpu_before = process_cpu_secs();
            let run = login_fanout::run(
                addr,
                &publisher,
                &topic,
                subscribers,
                "devices/+/data",
                args.fanout_messages,
            )
            .await
            .with_context(|| format!("fan-out run {name}"))?;
            let cpu_secs = process_cpu_secs() - cpu_before;
            let rate = run.deliveries as f64 / run.secs.max(1e-9);
            let cpu_us = cpu_secs * 1e6 / run.deliveries.max(1) as f64;
            let expected = args.fanout_messages * args.fanout_subscribers as u64;
            println!(
                "| {name}, round {} | {rate:.0} | {cpu_us:.3} | {} of {expected} |",
                round + 1,
                run.deliveries
            );
            rates[kind].push(rate);
            cpu[kind].push(cpu_us);
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        }
    }
    let (rate_unfiltered, rate_filtered) = (median(&mut rates[0]), median(&mut rates[1]));
    let (cpu_unfiltered, cpu_filtered) = (median(&mut cpu[0]), median(&mut cpu[1]));
    println!(
        "| median ratio filtered ÷ unfiltered | {:.3} | {:.3} | |",
        rate_filtered / rate_unfiltered,
        cpu_filtered / cpu_unfiltered
    );
    broker.shutdown().await;
    Ok(())
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

/// User plus system CPU seconds of this process (broker and clients), from
/// `/proc/self/stat` (clock ticks of 1/100 s).
fn process_cpu_secs() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    let Some(end) = stat.rfind(')') else {
        return 0.0;
    };
    let mut fields = stat[end + 1..].split_whitespace().skip(11);
    let mut ticks = || fields.next().and_then(|field| field.parse::<u64>().ok());
    match (ticks(), ticks()) {
        (Some(user), Some(system)) => (user + system) as f64 / 100.0,
        _ => 0.0,
    }
}

fn device_id(index: usize) -> String {
    format!("bench-{index:06}")
}

/// Nanoseconds per check, wall clock, with `threads` threads checking at once.
fn time_case(
    authorizer: &Arc<dyn Authorizer>,
    case: &Case,
    args: &AuthBenchArgs,
) -> anyhow::Result<f64> {
    let verdict = authorizer.authorize(&case.principal, &case.client_id, case.action, &case.topic);
    let is_allow_all = verdict && !case.expected;
    anyhow::ensure!(
        verdict == case.expected || is_allow_all,
        "{}: expected {} but the authorizer said {verdict}",
        case.name,
        case.expected
    );
    let started = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..args.threads {
            scope.spawn(|| {
                let mut allowed = 0u64;
                for _ in 0..args.iterations {
                    let topic = std::hint::black_box(case.topic.as_str());
                    allowed += u64::from(authorizer.authorize(
                        &case.principal,
                        &case.client_id,
                        case.action,
                        topic,
                    ));
                }
                std::hint::black_box(allowed);
            });
        }
    });
    let total_checks = args.iterations * args.threads as u64;
    // Per check as one connection task sees it: threads run side by side.
    Ok(started.elapsed().as_nanos() as f64 * args.threads as f64 / total_checks as f64)
}
