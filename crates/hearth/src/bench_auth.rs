//! `hearth bench auth`: what the registry's MQTT authorization costs per PUBLISH and
//! SUBSCRIBE check, beside a check that does nothing (`AllowAll`), in one run.
//!
//! The broker calls `Authorizer::authorize` on every inbound PUBLISH, so its cost adds
//! to every message. The registry is real (a fresh SQLite store with the requested
//! number of devices); the checks run on as many threads as asked, because connection
//! tasks call them concurrently and the application rules read a shared snapshot.

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
    let authorizer = runtime.block_on(async {
        let store = hearth_store::open(&hearth_store::sqlite_url(directory.path())).await?;
        let registry = Registry::new(store.clone());
        registry.ensure_owner(Some("bench-password".into())).await?;
        eprintln!("registering {} devices...", args.devices);
        let specs = (0..args.devices)
            .map(|index| DeviceSpec {
                id: device_id(index),
                app: Some("default".into()),
                ..DeviceSpec::default()
            })
            .collect();
        registry.add_devices("bench", specs, &|_| {}).await?;
        let authorizer = RegistryAuthorizer::load(store, false, None).await?;
        anyhow::Ok(authorizer)
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
    let registry_auth: Arc<dyn Authorizer> = authorizer;
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
    Ok(())
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
