//! `hearth`: the hub in one binary. The binary (`src/main.rs`) only calls [`main`]; the
//! rest is a library so that tests start a whole hub in-process ([`hub::Hub`], used by
//! `hearth_testkit::start_hub`).
//!
//! # Layout
//! - `cli`: the command line (clap).
//! - `config`: `hearth.toml` + `HEARTH_*` + flags into one [`config::HearthConfig`].
//! - `hub`: [`hub::Hub`], every service started in order and stopped in reverse.
//! - `serve`: `hearth serve`: a hub until Ctrl-C or SIGTERM.
//! - `adapters`: the API's seams over the services, and the `/metrics` feed.
//! - `passwd`: password-file maintenance for the broker's file authorizer.
//! - `doctor`: `hearth doctor`, checks of a deployment with remedies.
//! - `logging`: the logger (text or JSON lines) and its reloadable filter.
//! - `admin`: `hearth group|user|app|device ...`, changing the registry in the store.
//! - `backup`: `hearth backup` and `hearth restore`, and the hub's control socket.
//! - `bench*`: `hearth bench ...`.
//! - `simulate`: `hearth simulate`, virtual devices on `hearth-device`'s runtime.
//! - `agent`: `hearth agent`, a device on a Linux board (GPIO, system readings, `exec`
//!   programs, an on-disk queue) on `hearth-device`'s connection.
//! - `tls_cmd`, `certs`: `hearth tls dev-cert`, the device CA and certificates it issues;
//!   `https`: the web listeners (HTTP, HTTPS, redirect) and certificate reloading.

mod adapters;
mod admin;
pub mod agent;
pub mod backup;
mod bench;
mod bench_auth;
mod bench_automations;
mod bench_history;
mod bench_ingest;
mod bridge_metrics;
mod broker_auth;
mod browser_mqtt;
mod certs;
pub mod cli;
pub mod config;
mod coordinator;
pub mod doctor;
mod dynsec_metrics;
mod engine_adapters;
mod engine_relay;
pub mod external_bus;
mod history_metrics;
mod https;
pub mod hub;
mod hub_broker;
mod hub_links;
mod hub_ota;
mod lease_metrics;
pub mod logging;
mod memory;
mod passwd;
mod serve;
pub mod simulate;
mod site_metrics;
mod startup;
pub mod tls_cmd;

use clap::Parser;
use std::process::ExitCode;

/// The whole program: parses the command line and runs the command.
pub fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    // The hub logs at info; a one-shot command only says what went wrong.
    let quiet = matches!(
        cli.command,
        cli::Command::Group(_)
            | cli::Command::User(_)
            | cli::Command::App(_)
            | cli::Command::Device(_)
            | cli::Command::Automation(_)
            | cli::Command::Scene(_)
            | cli::Command::History(_)
            | cli::Command::Doctor(_)
            | cli::Command::Backup(_)
            | cli::Command::Restore(_)
    );
    logging::init(
        cli.log.as_deref(),
        if quiet { "warn" } else { "info" },
        cli.log_format,
    );
    let admin = |command| admin::run(command, &cli.store);
    let result = match cli.command {
        cli::Command::Group(args) => return admin(admin::AdminCommand::Group(args)),
        cli::Command::User(args) => return admin(admin::AdminCommand::User(args)),
        cli::Command::App(args) => return admin(admin::AdminCommand::App(args)),
        cli::Command::Device(args) => return admin(admin::AdminCommand::Device(args)),
        cli::Command::Automation(args) => {
            return admin(admin::AdminCommand::Automation(args));
        }
        cli::Command::Scene(args) => return admin(admin::AdminCommand::Scene(args)),
        cli::Command::Firmware(args) => return admin(admin::AdminCommand::Firmware(args)),
        cli::Command::Rollout(args) => return admin(admin::AdminCommand::Rollout(args)),
        cli::Command::History(args) => return admin(admin::AdminCommand::History(args)),
        cli::Command::Site(args) => return admin(admin::AdminCommand::Site(args)),
        cli::Command::Serve(args) => run_async(serve::run(*args)),
        cli::Command::Doctor(args) => return doctor::run(*args),
        cli::Command::Passwd(args) => passwd::run(args),
        cli::Command::Bench(args) => bench::run(args),
        cli::Command::Tls(args) => tls_cmd::run(args),
        cli::Command::Backup(args) => backup::backup(&args, &cli.store),
        cli::Command::Restore(args) => backup::restore(&args, &cli.store),
        cli::Command::Simulate(args) => run_async(simulate::run(*args, &cli.store)),
        cli::Command::Agent => match &cli.store.config {
            Some(path) => run_async(agent::run(path)),
            None => Err(anyhow::anyhow!(
                "hearth agent needs --config FILE (see docs/agent.md)"
            )),
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // `{:#}` prints the whole context chain on one line: "reading hearth.toml: ...".
            eprintln!("error: {error:#}");
            ExitCode::from(1)
        }
    }
}

fn run_async(future: impl std::future::Future<Output = anyhow::Result<()>>) -> anyhow::Result<()> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(future)
}
