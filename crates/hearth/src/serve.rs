//! `hearth serve`: a [`Hub`] until Ctrl-C or SIGTERM (SIGHUP: reload, see [`Signals`]).

use anyhow::Context;

use crate::cli::ServeArgs;
use crate::config::HearthConfig;
use crate::hub::Hub;

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    // Before the hub's connection, sqlx and blocking threads exist (the runtime's own
    // few may already have their arenas).
    crate::memory::configure_allocator();
    let config = HearthConfig::load(&args)?;
    let sqlite = config
        .database_url()
        .is_ok_and(|url| url.starts_with("sqlite:"));
    tracing::info!("{}", crate::memory::bound(&config.ingest, sqlite));
    let admin_password = match &args.admin_password_file {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .with_context(|| format!("reading the admin password file {}", path.display()))?
                .trim_end_matches(['\r', '\n'])
                .to_owned(),
        ),
        None => None,
    };
    // Before the hub starts: a SIGTERM or SIGHUP that comes while it starts (or just
    // after `ready`) must find its handler, not the default action that ends the process
    // without writing what was acknowledged.
    let mut signals = Signals::install()?;
    let hub = Hub::start(config, admin_password).await?;
    if args.print_addrs {
        print_addrs(&hub);
    }
    tracing::info!("hearth is running; Ctrl-C stops it");
    signals.stop_requested().await;
    tracing::info!("shutting down");
    hub.shutdown().await;
    Ok(())
}

/// `name=address` per listener, then `ready`: what scripts and tests wait for.
fn print_addrs(hub: &Hub) {
    let addrs = hub.addrs();
    for (name, addr) in [
        ("mqtt", addrs.mqtt),
        ("ws", addrs.ws),
        ("mqtts", addrs.mqtts),
        ("wss", addrs.wss),
        ("http", addrs.http),
        ("https", addrs.https),
        ("http_redirect", addrs.http_redirect),
    ] {
        if let Some(addr) = addr {
            println!("{name}={addr}");
        }
    }
    println!("ready");
}

/// The signals `serve` answers: Ctrl-C and SIGTERM stop the hub; SIGHUP asks for a reload
/// (`systemctl reload hearth`), which whoever has something to reload (the TLS
/// certificate watcher) hears too. Without a handler, SIGHUP's default action would end a
/// hub that has nothing to reload.
struct Signals {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
    #[cfg(unix)]
    hangup: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> anyhow::Result<Signals> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Signals {
                interrupt: signal(SignalKind::interrupt()).context("handling SIGINT")?,
                terminate: signal(SignalKind::terminate()).context("handling SIGTERM")?,
                hangup: signal(SignalKind::hangup()).context("handling SIGHUP")?,
            })
        }
        #[cfg(not(unix))]
        Ok(Signals {})
    }

    /// Returns at Ctrl-C or SIGTERM.
    async fn stop_requested(&mut self) {
        #[cfg(unix)]
        loop {
            tokio::select! {
                _ = self.interrupt.recv() => break,
                _ = self.terminate.recv() => break,
                _ = self.hangup.recv() => tracing::debug!("SIGHUP received"),
            }
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
    }
}
